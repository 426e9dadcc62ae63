"""Every aggregation recomputed by hand on small fixtures (exact values), through the real
pipeline and rollups, on the territory's local calendar."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from astral import Observer
from astral.sun import SunDirection, time_at_elevation

from beffroi.auth.models import Principal
from beffroi.operations.models import IncidentIn
from beffroi.timeutil import FrozenClock
from tests.indicators.conftest import MIN, PARIS, H, Rig, local

ROOT = Principal(kind="user", name="root", superuser=True)


def test_sum_over_a_local_month_and_its_bounds(rig: Rig) -> None:
    a = rig.asset("StreetlightControlCabinet", "A")
    b = rig.asset("StreetlightControlCabinet", "B")
    start = local("2026-01-01 00:00")
    rig.feed(*[(a, "energyConsumed", start + i * H + 30 * MIN, 1.5) for i in range(10)],
             *[(b, "energyConsumed", local("2026-01-20 10:00") + i * H, 2.0) for i in range(5)],
             # 23:59 on 31 December (local) is outside January, 00:00 on 1 February too
             (a, "energyConsumed", local("2025-12-31 23:59"), 100.0),
             (a, "energyConsumed", local("2026-02-01 00:00"), 100.0))
    rig.define("""
indicators:
  - id: energy
    name: Energy
    unit: kWh
    series: {types: [StreetlightControlCabinet], metric: energyConsumed}
    aggregate: sum
    target: "<= 20"
""")
    v = rig.value("energy", "2026-01")
    assert v.value == 25.0
    assert (v.window.start_ms, v.window.end_ms) == (local("2026-01-01 00:00"),
                                                    local("2026-02-01 00:00"))
    assert v.met is False and v.target == 20.0
    lin = v.lineage
    assert lin.inputs["readings"] == 15 and lin.inputs["series_selected"] == 2
    assert lin.figures["largest"][0] == {"asset": a, "value": 15.0}
    assert lin.window["provisional"] is False
    assert rig.value("energy", "2026-02").value == 100.0
    assert rig.value("energy", "2026-W04").value == 10.0  # 19-25 January: B's five readings


def test_mean_pooled_and_worst_series(rig: Rig) -> None:
    s1 = rig.asset("AirQualityObserved", "S1")
    s2 = rig.asset("AirQualityObserved", "S2")
    t = local("2026-01-10 08:00")
    rig.feed((s1, "no2", t, 10), (s1, "no2", t + H, 20), (s1, "no2", t + 2 * H, 30),
             (s2, "no2", t, 50))
    rig.define("""
indicators:
  - {id: no2-mean, name: NO2, unit: "µg/m³", aggregate: mean,
     series: {types: [AirQualityObserved], metric: no2}}
  - {id: no2-worst, name: NO2 worst, unit: "µg/m³", aggregate: mean, params: {per_series: max},
     series: {types: [AirQualityObserved], metric: no2}}
  - {id: no2-best, name: NO2 best, unit: "µg/m³", aggregate: mean, params: {per_series: min},
     series: {types: [AirQualityObserved], metric: no2}}
""")
    assert rig.value("no2-mean", "2026-01").value == 27.5
    assert rig.value("no2-worst", "2026-01").value == 50.0
    assert rig.value("no2-best", "2026-01").value == 20.0


def test_days_above_a_daily_limit_with_each_reduction(rig: Rig) -> None:
    s1 = rig.asset("AirQualityObserved", "S1")
    s2 = rig.asset("AirQualityObserved", "S2")
    readings = []
    # S1: 5 Jan mean 60 (above), 6 Jan mean 40, 7 Jan mean 55 (above); S2: 5 Jan mean 70
    for day, values in (("05", [50, 70]), ("06", [40, 40]), ("07", [55, 55])):
        readings += [(s1, "pm10", local(f"2026-01-{day} 0{i + 1}:00"), v)
                     for i, v in enumerate(values)]
    readings += [(s2, "pm10", local("2026-01-05 09:00"), 70.0),
                 (s2, "pm10", local("2026-01-06 09:00"), 50.0)]  # not above: > 50 is strict
    rig.feed(*readings)
    for reduce, expected in (("max", 2.0), ("any", 2.0), ("sum", 3.0)):
        rig.define(f"""
indicators:
  - {{id: pm10-{reduce}, name: PM10, unit: days, aggregate: count_buckets_above,
     series: {{types: [AirQualityObserved], metric: pm10}},
     params: {{bucket: day, statistic: mean, op: ">", limit: 50, reduce: {reduce}}}}}
""")
        v = rig.value(f"pm10-{reduce}", "2026-01")
        assert v.value == expected, reduce
    rig.define("""
indicators:
  - {id: pm10-hours, name: PM10 hours, unit: h, aggregate: count_buckets_above,
     series: {types: [AirQualityObserved], metric: pm10},
     params: {bucket: hour, statistic: max, op: ">=", limit: 55, reduce: sum}}
""")
    assert rig.value("pm10-hours", "2026-01").value == 4.0  # 70, 55, 55 (S1) and 70 (S2)


def test_share_of_time_in_a_state_is_time_weighted(rig: Rig) -> None:
    lamp = rig.asset("Streetlight", "L1")
    other = rig.asset("Streetlight", "L2")
    rig.feed((lamp, "status", local("2026-01-04 12:00"), "ok"),
             (lamp, "status", local("2026-01-05 10:00"), "defectiveLamp"),
             (lamp, "status", local("2026-01-05 16:00"), "ok"),
             # L2 is first heard of at 18:00: its 18 hours before are unknown, not counted
             (other, "status", local("2026-01-05 18:00"), "ok"))
    rig.define("""
indicators:
  - {id: lamps-ok, name: Lamps ok, unit: "%", aggregate: share_of_time_in_state,
     series: {types: [Streetlight], metric: status}, params: {states: [ok], scale: 100}}
  - {id: lamps-out-hours, name: Lamps out, unit: h, aggregate: share_of_time_in_state,
     series: {types: [Streetlight], metric: status},
     params: {states: [defectiveLamp], result: hours}}
""")
    v = rig.value("lamps-ok", "2026-01-05")
    assert v.value == pytest.approx((18 + 6) / (24 + 6) * 100)
    assert v.lineage.figures["hours_unknown"] == 18.0
    assert rig.value("lamps-out-hours", "2026-01-05").value == 6.0


def test_share_of_hours_within_limits_and_with_data(rig: Rig) -> None:
    w = rig.asset("WaterQualityObserved", "W1")
    w2 = rig.asset("WaterQualityObserved", "W2")
    t = local("2026-01-05 00:00")
    readings = [(w, "pH", t + i * H, 7.2) for i in range(24)]
    readings += [(w, "pH", t + 3 * H + 20 * MIN, 9.5),  # hour 3 now holds 7.2 and 9.5
                 (w, "pH", t + 5 * H + 20 * MIN, 6.0)]
    readings += [(w2, "pH", t + i * 2 * H, 7.0) for i in range(12)]
    rig.feed(*readings)
    rig.define("""
indicators:
  - {id: ph-ok, name: pH, unit: "%", aggregate: share_of_buckets_within,
     series: {types: [WaterQualityObserved], metric: pH},
     params: {low: 6.5, high: 9, scale: 100}}
  - {id: ph-fresh, name: pH data, unit: "%", aggregate: share_of_buckets_with_data,
     series: {types: [WaterQualityObserved], metric: pH}, params: {scale: 100}}
""")
    assert rig.value("ph-ok", "2026-01-05").value == pytest.approx(34 / 36 * 100)
    assert rig.value("ph-fresh", "2026-01-05").value == pytest.approx(36 / 48 * 100)


def test_drops_of_a_fill_level(rig: Rig) -> None:
    c = rig.asset("WasteContainer", "C1")
    t = local("2026-01-05 06:00")
    levels = [0.2, 0.4, 0.6, 0.8, 0.05, 0.3, 0.5, 0.9, 0.1]
    rig.feed(*[(c, "fillingLevel", t + i * H, v) for i, v in enumerate(levels)])
    base = """
indicators:
  - {{id: {id}, name: Drops, unit: x, aggregate: sum_of_drops,
     series: {{types: [WasteContainer], metric: fillingLevel}}, params: {params}}}
"""
    rig.define(base.format(id="drops", params="{min_drop: 0.3}"))
    rig.define(base.format(id="level", params="{min_drop: 0.3, result: mean_level_before}"))
    rig.define(base.format(id="avoided", params="{min_drop: 0.3, result: avoided, "
                                                "scheduled_per_week: 14}"))
    assert rig.value("drops", "2026-01-05").value == 2.0
    assert rig.value("level", "2026-01-05").value == pytest.approx((0.8 + 0.9) / 2)
    assert rig.value("avoided", "2026-01-05").value == pytest.approx(14 / 7 - 2)


def _night_hours(day: date, elevation: float) -> float:
    """Dusk-to-dawn hours within the local day, computed here directly with astral."""
    obs = Observer(latitude=48.85, longitude=2.35)
    start = datetime.combine(day, datetime.min.time(), tzinfo=PARIS)
    end = start + timedelta(days=1)
    total = 0.0
    for d in (day - timedelta(days=1), day):
        dusk = time_at_elevation(obs, elevation, d, SunDirection.SETTING, tzinfo=PARIS)
        dawn = time_at_elevation(obs, elevation, d + timedelta(days=1), SunDirection.RISING,
                                 tzinfo=PARIS)
        lo, hi = max(dusk, start), min(dawn, end)
        if hi > lo:
            total += (hi - lo).total_seconds() / 3600
    return total


def test_lighting_baseline_savings_and_share(rig: Rig) -> None:
    rig.asset("Streetlight", "L1", properties={"power_w": 100})
    rig.asset("Streetlight", "L2", properties={"power_w": 50})
    rig.asset("Streetlight", "L3")  # no nominal power: reported, not counted
    cab = rig.asset("StreetlightControlCabinet", "C1")
    rig.feed((cab, "energyConsumed", local("2026-01-05 20:00"), 1.0))
    rig.define("""
indicators:
  - {id: energy, name: E, unit: kWh, aggregate: sum,
     series: {types: [StreetlightControlCabinet], metric: energyConsumed}}
  - {id: baseline, name: B, unit: kWh, aggregate: baseline_lighting,
     series: {types: [Streetlight]}, params: {sun_elevation: -2}}
  - {id: savings, name: S, unit: kWh, aggregate: difference, inputs: [baseline, energy]}
  - {id: share, name: Share, unit: "%", aggregate: ratio, inputs: [savings, baseline],
     params: {scale: 100}}
""")
    expected = 150 * _night_hours(date(2026, 1, 5), -2) / 1000
    [base, energy, savings, share] = rig.services.indicators.compute(
        rig.code, [rig.window("2026-01-05")], ["baseline", "energy", "savings", "share"])
    assert base.value == pytest.approx(expected, abs=1e-3)
    assert base.lineage.inputs["lamps_without_power"] == 1
    assert energy.value == 1.0
    assert savings.value == pytest.approx(expected - 1.0, abs=1e-3)
    assert share.value == pytest.approx((expected - 1.0) / expected * 100, abs=1e-3)
    assert savings.lineage.inputs["indicators"][0]["inputs_hash"] == base.lineage.inputs_hash


def test_intervention_delays_percentiles_and_sla(rig: Rig, clock: FrozenClock) -> None:
    ops = rig.services.operations
    ops.ensure_defaults(rig.code, ROOT)
    t0 = local("2026-01-05 08:00")
    for i, minutes in enumerate((10, 20, 30, 40)):
        clock.ms = t0 + i * H
        inc = ops.open_incident(rig.code, IncidentIn(category="container-fire",
                                                     title=f"fire {i}"), ROOT)
        clock.ms += minutes * MIN
        ops.step(rig.code, inc.id, "on_site", ROOT)
    clock.ms = t0 + 10 * H
    late = ops.open_incident(rig.code, IncidentIn(category="container-fire", title="late"),
                             ROOT)
    clock.ms = local("2026-01-05 23:00")  # 'late' has waited 3 h: past its 30 min SLA
    rig.define("""
indicators:
  - {id: p50, name: median, unit: min, aggregate: percentile_of_durations,
     params: {to: on_site, p: 50}}
  - {id: p90, name: p90, unit: min, aggregate: percentile_of_durations,
     params: {to: on_site, p: 90}}
  - {id: sla, name: within SLA, unit: "%", aggregate: share_within,
     params: {to: on_site, limit: sla, scale: 100}}
  - {id: within-25, name: within 25 min, unit: "%", aggregate: share_within,
     incidents: {categories: [container-fire]}, params: {to: on_site, limit: 25min}}
  - {id: count, name: reported, unit: incidents, aggregate: count}
  - {id: residents, name: residents, unit: reports, aggregate: count,
     incidents: {sources: [resident]}}
""")
    values = {v.code: v for v in rig.services.indicators.compute(
        rig.code, [rig.window("2026-01-05")])}
    assert values["p50"].value == 25.0
    assert values["p90"].value == pytest.approx(37.0)  # 30 + 0.7 × (40 − 30)
    assert values["sla"].value == pytest.approx(3 / 5 * 100)  # 10, 20, 30 ≤ 30; 40 and 'late'
    assert values["sla"].lineage.figures["overdue_without_step"] == 1
    assert values["within-25"].value == pytest.approx(2 / 5)
    assert values["count"].value == 5.0
    assert values["residents"].value == 0.0
    assert late.id in values["count"].lineage.inputs["incident_ids"]


def test_provisional_until_the_period_is_over(rig: Rig, clock: FrozenClock) -> None:
    cab = rig.asset("StreetlightControlCabinet", "C1")
    rig.feed((cab, "energyConsumed", local("2026-02-10 10:00"), 3.0))
    rig.define("""
indicators:
  - {id: energy, name: E, unit: kWh, aggregate: sum,
     series: {types: [StreetlightControlCabinet], metric: energyConsumed}}
""")
    assert rig.value("energy", "2026-02").lineage.window["provisional"] is False
    v = rig.value("energy", "2026-03")  # the clock is on 1 March
    assert v.value is None and v.lineage.window["provisional"] is True
