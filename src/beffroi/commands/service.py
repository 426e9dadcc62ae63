"""Commands: validated per asset type, published over MQTT, acknowledged or timed out."""

from __future__ import annotations

from beffroi.assets.service import Registry
from beffroi.auth.audit import AuditLog
from beffroi.settings import Settings
from beffroi.store import Store
from beffroi.timeutil import Clock


class Commands:
    def __init__(self, store: Store, registry: Registry, settings: Settings, audit: AuditLog,
                 clock: Clock) -> None:
        self.store = store
        self.registry = registry
        self.settings = settings
        self.audit = audit
        self.clock = clock

    def tick(self) -> None:
        """Periodic pass: commands past their deadline become ``timed_out``. STUB."""
