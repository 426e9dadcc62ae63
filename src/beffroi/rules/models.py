"""Rule definitions and alarm events (no storage here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AlarmChange = Literal["raised", "updated", "acknowledged", "cleared"]


@dataclass(frozen=True)
class AlarmEvent:
    """What listeners (operations: incidents; later the UI's live stream) hear after commit."""

    territory: str  # territory code
    alarm_id: int
    rule_id: str
    change: AlarmChange
    severity: str  # "critical" | "major" | "minor" | "warning"
    asset_urn: str | None
    post: str | None  # the control post the alarm is routed to
    incident: str  # the rule's incident policy: "none" | "open"
    category: str | None  # the incident category the rule declares
    at_ms: int
    message: str = ""
