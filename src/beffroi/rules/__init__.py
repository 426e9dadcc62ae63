"""Declarative rules evaluated on every ingested batch, and the alarms they raise and clear."""
