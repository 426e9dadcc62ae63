"""Indicators (KPIs) with lineage, performance contracts and their reports, the platform's own
footprint, retention policies."""
