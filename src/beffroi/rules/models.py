"""Rule definitions and alarm events (no storage here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
    value: float | None = None  # the reading that caused the change, if any
    actor: str = "auto"  # who: "auto" (the evaluator) or the principal's actor name
    messages: dict[str, str] | None = None  # the message per language (texts.LANGS)


class AlarmNote(BaseModel):
    """The body of acknowledge and clear: an optional note kept in the alarm's history."""

    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000)


class RuleSwitch(BaseModel):
    """Switch rules on or off (crisis plans)."""

    model_config = ConfigDict(extra="forbid")
    rules: list[str] = Field(min_length=1, max_length=1000)
    active: bool
