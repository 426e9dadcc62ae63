"""Calibration tables derived from real open data (JSON, shipped in the package; see
derive.py and README.md)."""
