"""The incident lifecycle and SLA arithmetic (pure functions, no storage, no clock).

An SLA target is a duration from ``reported`` to a later step. A step counts as reached when it
or any later step has a timestamp (skipped steps are reached when a later one is), at the
earliest of those timestamps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from beffroi.errors import Conflict, field_error
from beffroi.operations.models import SLA_STEPS, STEPS, WO_STEPS

MINUTE_MS = 60_000


def check_step(state: str, step: str) -> None:
    """Raise Conflict unless ``state`` → ``step`` is a legal move (forward; close after
    resolve)."""
    if step not in STEPS or step == "reported":
        raise Conflict(f"unknown step {step!r}", [field_error("step", f"one of {STEPS[1:]}")])
    if state == "closed":
        raise Conflict("the incident is closed", [field_error("step", "a closed incident "
                                                                      "takes no more steps")])
    if STEPS.index(step) <= STEPS.index(state):
        raise Conflict(f"the incident is already {state}",
                       [field_error("step", f"{step!r} is not after the current state "
                                            f"{state!r}: steps only move forward")])
    if step == "closed" and state != "resolved":
        raise Conflict("an incident is closed only once resolved",
                       [field_error("step", f"cannot close from {state!r}: resolve first")])


def check_work_order_step(state: str, step: str) -> None:
    if state in ("done", "cancelled"):
        raise Conflict(f"the work order is {state}",
                       [field_error("step", f"a {state} work order takes no more steps")])
    if step == "cancelled":
        return
    if WO_STEPS.index(step) <= WO_STEPS.index(state):
        raise Conflict(f"the work order is already {state}",
                       [field_error("step", f"{step!r} is not after {state!r}")])


def timestamps(row: Any) -> dict[str, int | None]:
    return {step: getattr(row, f"{step}_ms") for step in STEPS}


def reached_at(stamps: Mapping[str, int | None], step: str) -> int | None:
    """When ``step`` was reached: its time, or the earliest time of a later step."""
    times = [t for s in STEPS[STEPS.index(step):] if (t := stamps.get(s)) is not None]
    return min(times) if times else None


def due_times(reported_ms: int, sla_minutes: Mapping[str, int]) -> dict[str, int]:
    return {step: reported_ms + int(sla_minutes[step]) * MINUTE_MS
            for step in SLA_STEPS if step in sla_minutes}


def next_due(stamps: Mapping[str, int | None], sla_minutes: Mapping[str, int],
             escalated: set[str]) -> int | None:
    """The earliest due time of a step neither reached nor escalated (None: nothing to
    watch)."""
    reported = stamps["reported"]
    assert reported is not None
    pending = [due for step, due in due_times(reported, sla_minutes).items()
               if step not in escalated and reached_at(stamps, step) is None]
    return min(pending) if pending else None


def late_steps(stamps: Mapping[str, int | None], sla_minutes: Mapping[str, int],
               escalated: set[str], now: int) -> list[tuple[str, int]]:
    """(step, due) of the steps past due, not reached and not escalated yet, by due time."""
    reported = stamps["reported"]
    assert reported is not None
    late = [(step, due) for step, due in due_times(reported, sla_minutes).items()
            if due < now and step not in escalated and reached_at(stamps, step) is None]
    return sorted(late, key=lambda item: item[1])


def status(stamps: Mapping[str, int | None], sla_minutes: Mapping[str, int], now: int
           ) -> list[dict[str, Any]]:
    """Per SLA step: due time, met, late, seconds remaining (None once reached)."""
    reported = stamps["reported"]
    assert reported is not None
    out = []
    for step, due in due_times(reported, sla_minutes).items():
        at = reached_at(stamps, step)
        out.append({
            "step": step, "target_minutes": int(sla_minutes[step]), "due_ms": due,
            "met": at is not None and at <= due,
            "late": (at > due) if at is not None else now > due,
            "remaining_s": None if at is not None else (due - now) // 1000,
        })
    return out
