"""Types of the operations package (no storage here): control posts, routings, incident
categories and their SLAs, incidents, work orders, crisis plans, and the events listeners hear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from beffroi.errors import Forbidden

POST_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")

# The lifecycle of an incident, in order. Steps move forward only; intermediate steps may be
# skipped (a lamp fixed remotely is resolved without anyone on site), except ``closed``,
# which requires ``resolved``.
STEPS: tuple[str, ...] = ("reported", "acknowledged", "dispatched", "on_site", "resolved",
                          "closed")
IncidentStep = Literal["acknowledged", "dispatched", "on_site", "resolved", "closed"]
OPEN_STATES: tuple[str, ...] = ("reported", "acknowledged", "dispatched", "on_site")
# Steps an SLA may target (a duration from ``reported``).
SLA_STEPS: tuple[str, ...] = ("acknowledged", "dispatched", "on_site", "resolved")

# Work orders: open → accepted → on_site → done; cancelled from any state but done.
WO_STEPS: tuple[str, ...] = ("open", "accepted", "on_site", "done")
WorkOrderStep = Literal["accepted", "on_site", "done", "cancelled"]

Source = Literal["alarm", "operator", "resident"]
AssigneeKind = Literal["team", "contractor"]
RoutingKind = Literal["rule", "asset_type"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _post_code(value: str) -> str:
    if not POST_RE.match(value):
        raise ValueError("lower-case letters, digits, '_' and '-', 1 to 32 characters, "
                         "starting with a letter")
    return value


# --- control posts ----------------------------------------------------------------------------


class PostIn(Strict):
    code: str = Field(description="Short identifier, e.g. 'lighting'.")
    name_fr: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)

    _code = field_validator("code")(_post_code)


class PostPatch(Strict):
    name_fr: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, min_length=1, max_length=200)


class Post(BaseModel):
    code: str
    name_fr: str
    name_en: str
    created: str
    updated: str


# --- routings ---------------------------------------------------------------------------------


class RoutingIn(Strict):
    kind: RoutingKind = Field(description="'rule' (a rule id) or 'asset_type' (a type name).")
    key: str = Field(min_length=1, max_length=128)
    post: str | None = Field(description="The post; null removes the routing.")


class Routing(BaseModel):
    kind: str
    key: str
    post: str


# --- incident categories and SLAs -------------------------------------------------------------


def _check_sla(value: dict[str, int]) -> dict[str, int]:
    for step, minutes in value.items():
        if step not in SLA_STEPS:
            raise ValueError(f"unknown step {step!r} (one of {', '.join(SLA_STEPS)})")
        if minutes <= 0:
            raise ValueError(f"the target of {step!r} must be a positive number of minutes")
    targets = [value[s] for s in SLA_STEPS if s in value]
    if targets != sorted(targets):
        raise ValueError("targets must not decrease along the lifecycle "
                         f"({', '.join(SLA_STEPS)})")
    return value


class CategoryIn(Strict):
    title_fr: str = Field(min_length=1, max_length=200)
    title_en: str = Field(min_length=1, max_length=200)
    post: str
    sla_minutes: dict[str, int] = Field(
        default_factory=dict,
        description="Target per step, in minutes from 'reported', e.g. "
                    "{'acknowledged': 15, 'on_site': 120, 'resolved': 1440}.")
    auto_resolve: bool = Field(
        False, description="Resolve the incident when all its alarms have cleared.")

    _sla = field_validator("sla_minutes")(_check_sla)


class Category(BaseModel):
    code: str
    title_fr: str
    title_en: str
    post: str
    sla_minutes: dict[str, int]
    auto_resolve: bool


# --- incidents --------------------------------------------------------------------------------


class IncidentIn(Strict):
    category: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=10_000)
    post: str | None = Field(None, description="Default: the category's post.")
    asset: str | None = Field(None, max_length=256, description="URN of the asset concerned.")


class StepIn(Strict):
    step: IncidentStep
    note: str = Field("", max_length=10_000)


class AssignIn(Strict):
    kind: AssigneeKind
    name: str = Field(min_length=1, max_length=200)


class CommentIn(Strict):
    text: str = Field(min_length=1, max_length=10_000)


class StepRecord(BaseModel):
    step: str
    at: str
    at_ms: int
    actor: str
    note: str
    notes: dict[str, str] | None = Field(
        default=None, description="The note in each language (fr, en) when the platform "
                                  "wrote it; else null (as typed).")


class AlarmLink(BaseModel):
    alarm_id: int
    rule_id: str
    asset: str | None
    severity: str
    raised: str
    cleared: str | None


class Comment(BaseModel):
    id: int
    at: str
    actor: str
    text: str
    texts: dict[str, str] | None = Field(
        default=None, description="The comment in each language (fr, en) when the platform "
                                  "wrote it; else null (as typed).")


class Escalation(BaseModel):
    step: str
    level: int
    due: str
    at: str


class SlaStatus(BaseModel):
    step: str
    target_minutes: int
    due: str
    due_ms: int
    met: bool  # the step was reached (or passed) in time
    late: bool  # reached late, or not reached and past due
    remaining_s: int | None  # seconds left before due (negative: overdue); None when reached


class Incident(BaseModel):
    id: int
    territory: str
    category: str
    post: str
    state: str
    title: str
    titles: dict[str, str] | None = Field(
        default=None, description="The title in each language (fr, en) when the platform "
                                  "wrote it (incidents opened by alarms); else null.")
    description: str
    source: str
    asset: str | None
    assignee_kind: str | None
    assignee: str | None
    level: int = Field(description="Escalation level: the number of late steps so far.")
    timestamps: dict[str, str | None]
    created_by: str
    updated: str


class IncidentDetail(Incident):
    steps: list[StepRecord]
    alarms: list[AlarmLink]
    comments: list[Comment]
    escalations: list[Escalation]
    sla: list[SlaStatus]
    work_orders: list[WorkOrder]


# --- work orders ------------------------------------------------------------------------------


class WorkOrderIn(Strict):
    title: str = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=10_000)
    assignee_kind: AssigneeKind
    assignee: str = Field(min_length=1, max_length=200,
                          description="The team or contractor (a field agent's user name "
                                      "lets that agent update it).")


class WorkOrderStepIn(Strict):
    step: WorkOrderStep
    note: str = Field("", max_length=10_000,
                      description="The closure note (required for 'done').")


class WorkOrder(BaseModel):
    id: int
    territory: str
    incident_id: int | None
    post: str
    title: str
    description: str
    assignee_kind: str
    assignee: str
    state: str
    timestamps: dict[str, str | None]
    closure_note: str | None
    created_by: str


# --- crisis plans -----------------------------------------------------------------------------


class StandingCommand(Strict):
    selector: dict[str, Any] = Field(description="Which assets, e.g. {'type': 'TrafficSignal'}.")
    command: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


class CrisisPlanIn(Strict):
    title: str = Field(min_length=1, max_length=200)
    post: str
    rules: list[str] = Field(default_factory=list, description="Rule ids switched on.")
    routings: dict[str, str] = Field(
        default_factory=dict,
        description="Overrides while active: 'rule:<id>', 'type:<AssetType>', "
                    "'category:<code>' (or a bare type or category) → post.")
    commands: list[StandingCommand] = Field(
        default_factory=list, description="Sent on activation.")
    release_commands: list[StandingCommand] = Field(
        default_factory=list, description="Sent on deactivation (e.g. back to the normal "
                                          "signal plan).")
    description: str = Field("", max_length=5000)


class CrisisPlan(BaseModel):
    name: str
    title: str
    post: str
    description: str
    rules: list[str]
    routings: dict[str, str]
    commands: list[StandingCommand]
    release_commands: list[StandingCommand]
    active: bool
    activated: str | None
    activated_by: str | None


class CrisisActivation(BaseModel):
    id: int
    plan: str
    action: str  # "activate" | "deactivate"
    at: str
    actor: str
    outcome: dict[str, Any]


# --- events -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EscalationEvent:
    """What escalation listeners (the UI's live stream, notifications) hear after commit."""

    territory: str
    incident_id: int
    post: str
    category: str
    step: str
    level: int
    due_ms: int
    at_ms: int


IncidentDetail.model_rebuild()

__all__ = ["Forbidden"]
