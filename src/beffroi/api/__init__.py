"""HTTP API wiring: shared dependencies and the versioned router (routes live in each domain)."""
