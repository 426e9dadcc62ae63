"""The command catalogue: which commands each asset type accepts, their parameters (pydantic
models, validated with precise field errors) and the roles that may send them.

Operators may in addition send a command only to assets of the control posts they are granted
(checked by the service); supervisors and administrators send to every post; field agents,
viewers and devices never send commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from beffroi.auth.models import Principal, Role
from beffroi.errors import ValidationFailed, field_error

HHMM_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
PLAN_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
LANG_RE = re.compile(r"^[a-z]{2}$")
MESSAGE_MAX = 64


class Params(BaseModel):
    """Parameters of a command: strict types (no "50" for 50), unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _level(value: int) -> int:
    if not 0 <= value <= 100:
        raise ValueError("must be between 0 and 100")
    return value


class NoParams(Params):
    pass


class SwitchParams(Params):
    on: bool = Field(description="true switches the lamps on, false off.")


class DimParams(Params):
    level: int = Field(description="Dimming level in percent of full power, 0 to 100.")

    _check = field_validator("level")(_level)


class ScheduleEntry(Params):
    at: str = Field(description="Local time HH:MM (the territory's time zone).")
    level: int = Field(description="Level from that time on, 0 (off) to 100.")

    _check = field_validator("level")(_level)

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        if not HHMM_RE.match(value):
            raise ValueError("a local time HH:MM between 00:00 and 23:59")
        return value


class ScheduleParams(Params):
    entries: list[ScheduleEntry] = Field(
        min_length=1, max_length=48,
        description="Daily programme: from each time on, the given level (local time).")

    @field_validator("entries")
    @classmethod
    def _distinct(cls, value: list[ScheduleEntry]) -> list[ScheduleEntry]:
        seen: set[str] = set()
        for entry in value:
            if entry.at in seen:
                raise ValueError(f"two entries at {entry.at}")
            seen.add(entry.at)
        return sorted(value, key=lambda e: e.at)


class PlanParams(Params):
    plan: str = Field(description="Identifier of a signal plan stored in the controller.")

    @field_validator("plan")
    @classmethod
    def _plan(cls, value: str) -> str:
        if not PLAN_RE.match(value):
            raise ValueError("1 to 32 letters, digits, '_', '.' or '-'")
        return value


class ModeParams(Params):
    mode: str = Field(description="normal | flashing (amber) | off")

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value not in ("normal", "flashing", "off"):
            raise ValueError("one of normal, flashing, off")
        return value


class DisplayParams(Params):
    message: str = Field(description=f"Text shown on the sign, at most {MESSAGE_MAX} characters.")
    lang: str = Field("fr", description="ISO 639-1 language of the message.")

    @field_validator("message")
    @classmethod
    def _message(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if len(value) > MESSAGE_MAX:
            raise ValueError(f"at most {MESSAGE_MAX} characters (got {len(value)})")
        if any(ord(c) < 32 for c in value):
            raise ValueError("control characters are not allowed")
        return value

    @field_validator("lang")
    @classmethod
    def _lang(cls, value: str) -> str:
        if not LANG_RE.match(value):
            raise ValueError("a two-letter ISO 639-1 code such as fr or en")
        return value


class DisableParams(Params):
    reason: str | None = Field(None, max_length=120, description="Shown to drivers, if any.")


SENDERS = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMINISTRATOR})
SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMINISTRATOR})


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    description: str
    params: type[Params]
    roles: frozenset[Role] = SENDERS


LIGHTING_SWITCH = CommandSpec("switch", "Switch the lamps on or off.", SwitchParams)
LIGHTING_DIM = CommandSpec("dim", "Set the dimming level (percent).", DimParams)

CATALOGUE: dict[str, dict[str, CommandSpec]] = {
    "StreetlightControlCabinet": {s.name: s for s in (
        LIGHTING_SWITCH,
        LIGHTING_DIM,
        CommandSpec("schedule", "Replace the cabinet's daily programme (local times).",
                    ScheduleParams),
    )},
    "Streetlight": {s.name: s for s in (LIGHTING_DIM,)},
    "TrafficSignal": {s.name: s for s in (
        CommandSpec("set_plan", "Switch the controller to a stored signal plan.", PlanParams),
        CommandSpec("set_mode", "Normal operation, flashing amber or off (a supervisor's "
                    "decision: the junction is no longer regulated).", ModeParams, SUPERVISORS),
    )},
    "OffStreetParking": {s.name: s for s in (
        CommandSpec("display", "Show a message on the car park's sign.", DisplayParams),
    )},
    "ParkingSpot": {s.name: s for s in (
        CommandSpec("display", "Show a message on the spot's sign.", DisplayParams),
    )},
    "EVChargingStation": {s.name: s for s in (
        CommandSpec("enable", "Put the station back in service.", NoParams),
        CommandSpec("disable", "Take the station out of service.", DisableParams),
    )},
    "Camera": {s.name: s for s in (
        CommandSpec("reboot", "Restart the camera (equipment supervision only).", NoParams),
    )},
}

ALL_COMMANDS = sorted({name for specs in CATALOGUE.values() for name in specs})


def commands_of(asset_type: str) -> dict[str, CommandSpec]:
    return CATALOGUE.get(asset_type, {})


def spec_for(asset_type: str, command: str, field: str = "command") -> CommandSpec:
    """The spec of a command for a type, or a validation error naming the allowed ones."""
    specs = commands_of(asset_type)
    spec = specs.get(command)
    if spec is None:
        allowed = ", ".join(specs) if specs else "none"
        raise ValidationFailed(
            f"{asset_type} accepts no command {command!r}",
            [field_error(field, f"unknown command {command!r} for {asset_type} "
                                f"(allowed: {allowed})")],
        )
    return spec


def any_spec(command: str) -> CommandSpec:
    """A spec of that name (specs sharing a name share their parameters)."""
    for specs in CATALOGUE.values():
        if command in specs:
            return specs[command]
    raise ValidationFailed(
        f"unknown command {command!r}",
        [field_error("command", f"unknown command {command!r} (known: {', '.join(ALL_COMMANDS)})")],
    )


def types_accepting(command: str) -> list[str]:
    return [t for t, specs in CATALOGUE.items() if command in specs]


def _reason(err: Any, model: type[Params]) -> str:
    kind = err.get("type")
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return f"unknown parameter (allowed: {', '.join(model.model_fields) or 'none'})"
    return str(err.get("msg", "invalid")).removeprefix("Value error, ")


def validate_params(spec: CommandSpec, params: Any) -> dict[str, Any]:
    """The parameters checked and normalised, or ``ValidationFailed`` with one detail per
    problem (``params.level``, ``params.entries.1.at``...)."""
    if not isinstance(params, dict):
        raise ValidationFailed("invalid params", [field_error("params", "an object expected")])
    try:
        model = spec.params.model_validate(params)
    except ValidationError as exc:
        details = [field_error(".".join(["params", *(str(p) for p in e["loc"])]),
                               _reason(e, spec.params)) for e in exc.errors()]
        raise ValidationFailed(f"invalid parameters for {spec.name!r}", details) from exc
    return model.model_dump(exclude_none=True)


def refusal(principal: Principal, territory: str, spec: CommandSpec, post: str | None
            ) -> str | None:
    """Why the principal may not send this command to an asset of this post (None: it may)."""
    role = principal.role_in(territory)
    if role is None:
        return f"{principal.actor} has no role in territory {territory!r}"
    if role not in spec.roles:
        allowed = ", ".join(sorted(r.value for r in spec.roles))
        return f"role {role.value} may not send {spec.name!r} (allowed: {allowed})"
    posts = principal.posts_in(territory)
    if posts is not None and (post is None or post not in posts):
        granted = ", ".join(sorted(posts)) or "none"
        return (f"the asset belongs to the {post or 'unassigned'} control post; "
                f"{principal.actor} operates {granted}")
    return None


def schema_of(spec: CommandSpec) -> dict[str, Any]:
    return spec.params.model_json_schema()
