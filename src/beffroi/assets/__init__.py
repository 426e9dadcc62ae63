"""Asset registry: territories, urban equipment (Smart Data Models types), series, imports."""
