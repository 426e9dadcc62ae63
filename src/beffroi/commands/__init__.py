"""Typed commands to equipment, sent over MQTT with a correlation id and acknowledged."""
