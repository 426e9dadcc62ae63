"""Open data: a DCAT-AP catalog of declared, anonymised datasets and their downloads."""
