"""HTTP routes of the commands package (no SQL here: they call the service)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
