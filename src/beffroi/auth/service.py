"""Users (argon2 passwords), sessions, API tokens and their grants."""

from __future__ import annotations

from beffroi.auth.audit import AuditLog
from beffroi.settings import Settings
from beffroi.store import Store
from beffroi.timeutil import Clock


class Auth:
    def __init__(self, store: Store, settings: Settings, audit: AuditLog, clock: Clock) -> None:
        self.store = store
        self.settings = settings
        self.audit = audit
        self.clock = clock
