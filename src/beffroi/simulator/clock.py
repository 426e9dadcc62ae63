"""Simulated time: ticks of ``TICK_S`` seconds aligned on the epoch, seen in local time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from beffroi.simulator.models import TICK_MS


@dataclass(frozen=True, slots=True)
class Tick:
    """The interval [start_ms, end_ms) and its local calendar (taken at its start)."""

    index: int
    start_ms: int
    end_ms: int
    local_date: date
    hour: float  # local hour of the start, 0 <= hour < 24 (fractional)
    weekday: int  # Monday = 0
    month: int

    @property
    def weekend(self) -> bool:
        return self.weekday >= 5

    @property
    def day(self) -> int:
        """The local date as an ordinal (a key for daily draws)."""
        return self.local_date.toordinal()


def tick_at(index: int, zone: ZoneInfo) -> Tick:
    start = index * TICK_MS
    local = datetime.fromtimestamp(start / 1000, zone)
    return Tick(
        index=index, start_ms=start, end_ms=start + TICK_MS, local_date=local.date(),
        hour=local.hour + local.minute / 60 + local.second / 3600, weekday=local.weekday(),
        month=local.month,
    )


def first_tick(ms: int) -> int:
    """Index of the first tick starting at or after ``ms``."""
    return -(-ms // TICK_MS)


def local_ms(zone: ZoneInfo, day: date, hour: float) -> int:
    """Epoch ms of a local wall-clock time (``hour`` may exceed 24: the next day)."""
    whole = int(hour)
    wall = datetime.combine(day, time(), tzinfo=zone) + timedelta(
        hours=whole, seconds=round((hour - whole) * 3600)
    )
    # Normalise through UTC so that a time after a DST change gets the right offset.
    naive = wall.replace(tzinfo=None)
    return int(naive.replace(tzinfo=zone).timestamp() * 1000)


def interpolate_hourly(profile: list[float] | tuple[float, ...], hour: float) -> float:
    """Value of a 24-hour profile (one value per hour, taken mid-hour) at a fractional hour."""
    x = hour - 0.5
    i = int(x // 1) % 24
    frac = x - (x // 1)
    return profile[i] * (1 - frac) + profile[(i + 1) % 24] * frac
