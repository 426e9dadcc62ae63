"""Telemetry: decoding and validating readings, the ingest pipeline, history and latest state."""
