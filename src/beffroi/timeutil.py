"""Time conventions: UTC epoch milliseconds inside, ISO 8601 at the edges."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


class TimestampError(ValueError):
    pass


def parse_ts(value: object) -> int:
    """ISO 8601 with a zone offset, or integer epoch milliseconds, to epoch milliseconds."""
    if isinstance(value, bool):
        raise TimestampError("a timestamp is an ISO 8601 string or epoch milliseconds")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise TimestampError("timestamp is not a finite number")
        return int(value)
    if not isinstance(value, str):
        raise TimestampError("a timestamp is an ISO 8601 string or epoch milliseconds")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise TimestampError(f"{value!r} is not an ISO 8601 timestamp") from exc
    if dt.tzinfo is None:
        raise TimestampError(f"{value!r} has no time zone (add Z or an offset such as +01:00)")
    return int(dt.timestamp() * 1000)


class Clock:
    """The time services read (``clock()`` → epoch ms). Tests freeze it to check SLA timing."""

    def __call__(self) -> int:
        return now_ms()


class FrozenClock(Clock):
    """A clock that moves only when told to."""

    def __init__(self, start_ms: int) -> None:
        self.ms = start_ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, *, seconds: float = 0, minutes: float = 0, hours: float = 0) -> int:
        self.ms += int((seconds + 60 * minutes + 3600 * hours) * 1000)
        return self.ms
