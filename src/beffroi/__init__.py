"""Beffroi: an open-source urban hypervision platform."""

__version__ = "0.1.0"
