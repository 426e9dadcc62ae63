"""The rule engine: definitions per territory, incremental evaluation, alarms."""

from __future__ import annotations

from collections.abc import Callable

from beffroi.assets.service import Registry
from beffroi.auth.audit import AuditLog
from beffroi.rules.models import AlarmEvent
from beffroi.store import Store
from beffroi.telemetry.service import Telemetry
from beffroi.timeutil import Clock

AlarmListener = Callable[[list[AlarmEvent]], None]
# (territory code, rule id, asset type or None, the rule's declared post) → the post
PostRouter = Callable[[str, str, str | None, str | None], str | None]


class Rules:
    def __init__(self, store: Store, registry: Registry, telemetry: Telemetry, audit: AuditLog,
                 clock: Clock) -> None:
        self.store = store
        self.registry = registry
        self.telemetry = telemetry
        self.audit = audit
        self.clock = clock
        self.listeners: list[AlarmListener] = []
        self.post_router: PostRouter | None = None

    def on_rows(self, territory: str, rows: list[tuple[int, int, float | None, str | None]]
                ) -> None:
        """Pipeline hand-off: evaluate the rules on the rows just stored (series id, epoch ms,
        number, state), after their commit. STUB."""

    def tick(self) -> None:
        """Periodic pass for time-based conditions (silence, durations elapsing). STUB."""

    def set_active(self, territory: str, rule_ids: list[str], active: bool, actor: str) -> None:
        """Switch rules on or off (crisis plans use this); audited. STUB."""
        raise NotImplementedError
