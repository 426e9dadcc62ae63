"""Control posts, routing, incidents (from alarms, operators, residents), work orders, crisis
plans."""

from __future__ import annotations

from beffroi.assets.service import Registry
from beffroi.auth.audit import AuditLog
from beffroi.commands.service import Commands
from beffroi.rules.service import Rules
from beffroi.store import Store
from beffroi.timeutil import Clock


class Operations:
    def __init__(self, store: Store, registry: Registry, rules: Rules, commands: Commands,
                 audit: AuditLog, clock: Clock) -> None:
        self.store = store
        self.registry = registry
        self.rules = rules
        self.commands = commands
        self.audit = audit
        self.clock = clock

    def tick(self) -> None:
        """Periodic pass: SLA escalations of late incident steps. STUB."""
