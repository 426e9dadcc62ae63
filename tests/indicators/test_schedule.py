"""The scheduled pass: every 15 minutes, the current period of each active indicator; once a
period is over, a final computation of it."""

from __future__ import annotations

from beffroi.timeutil import FrozenClock
from tests.indicators.conftest import MIN, Rig, local

KPI = """
indicators:
  - {id: energy, name: E, unit: kWh, aggregate: sum, period: day,
     series: {types: [StreetlightControlCabinet], metric: energyConsumed}}
  - {id: switched-off, name: "Off", unit: kWh, aggregate: sum, period: day, active: false,
     series: {types: [StreetlightControlCabinet], metric: energyConsumed}}
"""


def test_scheduled_pass(rig: Rig, clock: FrozenClock) -> None:
    cab = rig.asset("StreetlightControlCabinet", "C1")
    clock.ms = local("2026-02-10 18:00")
    rig.feed((cab, "energyConsumed", local("2026-02-10 10:00"), 2.0))
    rig.define(KPI)
    ind = rig.services.indicators
    ind.tick()  # the day so far, and the day before (a period never closed)
    first = {v.window.label: v for v in ind.values(rig.code)}
    assert set(first) == {"2026-02-09", "2026-02-10"}
    assert {v.code for v in first.values()} == {"energy"}  # not the inactive one
    v = first["2026-02-10"]
    assert v.value == 2.0 and v.lineage.window["provisional"] is True
    assert first["2026-02-09"].value is None

    rig.feed((cab, "energyConsumed", local("2026-02-10 20:00"), 3.0))
    clock.ms += 5 * MIN
    ind.tick()  # within 15 minutes of the last pass: nothing
    assert {v.window.label: v.value for v in ind.values(rig.code)}["2026-02-10"] == 2.0

    clock.ms = local("2026-02-11 00:30")  # the day is over: computed once more, final
    rig.services.telemetry.materialise(clock())  # what the rollup thread does meanwhile
    ind.tick()
    values = {v.window.label: v for v in ind.values(rig.code)}
    assert set(values) == {"2026-02-09", "2026-02-10", "2026-02-11"}
    assert values["2026-02-10"].value == 5.0
    assert values["2026-02-10"].lineage.window["provisional"] is False
    assert values["2026-02-11"].value is None
