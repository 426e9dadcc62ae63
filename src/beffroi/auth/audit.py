"""The audit log: every change and command (who, what, when, before/after), append-only and
hash-chained so that ``beffroi audit verify`` finds an edited or deleted entry."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from beffroi.store import Store
from beffroi.timeutil import Clock


class AuditLog:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def record(self, conn: Connection, *, territory_id: int | None, actor: str, action: str,
               target: str, before: Any = None, after: Any = None) -> None:
        """Append one entry inside the caller's write transaction (STUB: does nothing yet)."""
