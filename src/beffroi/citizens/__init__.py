"""Residents' reports: Open311 GeoReport v2, their incidents, personal data kept apart."""
