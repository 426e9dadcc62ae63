"""Mounts the web UI on the application (pages, static files, live stream)."""

from __future__ import annotations

from fastapi import FastAPI


def mount(app: FastAPI) -> None:
    """Add the UI's routes and static files to ``app`` (STUB: nothing yet)."""
