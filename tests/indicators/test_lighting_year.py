"""Lighting savings over a simulated year in which the cabinets start dimming half-way: the
savings against the dusk-to-dawn baseline are nil before and match, month by month, the share
of the night the lamps spend dimmed after (computed here independently, with astral)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from astral import Observer
from astral.sun import SunDirection, time_at_elevation

from beffroi.auth.models import SYSTEM
from tests.indicators.conftest import PARIS, Rig

LAMPS_W = 20 * 100.0  # 20 lamps of 100 W on each of the two cabinets
LOAD_W = LAMPS_W * 1.1  # with their ballasts' 10 % losses (the built-in baseline's assumption)
DIM_FROM = date(2025, 7, 1)  # the night starting that day is the first dimmed one
DIM_LEVEL = 0.5
OBS = Observer(latitude=48.85, longitude=2.35)


def _at(d: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(d, time(hour, minute), tzinfo=PARIS)


def _night(d: date) -> tuple[datetime, datetime]:
    return (time_at_elevation(OBS, -2, d, SunDirection.SETTING, tzinfo=PARIS),
            time_at_elevation(OBS, -2, d + timedelta(days=1), SunDirection.RISING, tzinfo=PARIS))


def _hours(a: datetime, b: datetime) -> float:
    return max(0.0, (b.timestamp() - a.timestamp()) / 3600)  # not b - a: wall-clock hours


def _dimmed(d: date, a: datetime, b: datetime) -> float:
    """Hours of [a, b) inside the dimming programme (23:00 to 05:00) of the night of d."""
    if d < DIM_FROM:
        return 0.0
    lo, hi = max(a, _at(d, 23)), min(b, _at(d + timedelta(days=1), 5))
    return _hours(lo, hi)


def test_savings_appear_when_dimming_starts(rig: Rig) -> None:
    for i in range(20):
        rig.asset("Streetlight", f"A{i}", properties={"power_w": 100})
        rig.asset("Streetlight", f"B{i}", properties={"power_w": 100})
    cabinets = [rig.asset("StreetlightControlCabinet", c) for c in ("A", "B")]
    readings = []
    expected: dict[str, list[float]] = {}  # month → [night hours, dimmed hours]
    d = date(2024, 12, 31)
    while d <= date(2025, 12, 31):
        dusk, dawn = _night(d)
        midnight = _at(d + timedelta(days=1), 0)
        # Two meter readings a night: the energy before midnight (read at 23:59) and after
        # (read at dawn), so each month holds exactly the energy of its own hours.
        for a, b, read_at in ((dusk, midnight, _at(d, 23, 59)), (midnight, dawn, dawn)):
            lit, dim = _hours(a, b), _dimmed(d, a, b)
            kwh = LOAD_W * (lit - dim * (1 - DIM_LEVEL)) / 1000
            ts = int(read_at.timestamp() * 1000)
            if read_at.year == 2025:
                key = f"{read_at.year}-{read_at.month:02d}"
                acc = expected.setdefault(key, [0.0, 0.0])
                acc[0] += lit
                acc[1] += dim
                readings += [(c, "energyConsumed", ts, round(kwh, 9)) for c in cabinets]
        d += timedelta(days=1)
    for i in range(0, len(readings), 500):
        rig.feed(*readings[i:i + 500])
    rig.services.indicators.install_defaults(rig.code, SYSTEM.actor)
    windows = rig.services.indicators.windows(rig.code, "month", first=date(2025, 1, 1),
                                              last=date(2025, 12, 31))
    values = rig.services.indicators.compute(
        rig.code, windows, ["lighting-energy", "lighting-baseline", "lighting-savings-share"])
    share = {v.window.label: v.value for v in values if v.code == "lighting-savings-share"}
    energy = {v.window.label: v.value for v in values if v.code == "lighting-energy"}
    assert len(share) == 12
    for month, (lit, dim) in sorted(expected.items()):
        assert energy[month] == pytest.approx(
            2 * LOAD_W * (lit - dim * (1 - DIM_LEVEL)) / 1000, rel=1e-9)
        want = dim * (1 - DIM_LEVEL) / lit * 100
        assert share[month] == pytest.approx(want, abs=0.05), month
    assert all(abs(share[f"2025-{m:02d}"] or 0) < 0.05 for m in range(1, 7))
    assert all((share[f"2025-{m:02d}"] or 0) > 15 for m in range(7, 13))
