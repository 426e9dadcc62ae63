"""Each kind of condition through the real pipeline: raise, hold (update), clear with
hysteresis, deduplication, acknowledgement and manual clear."""

from __future__ import annotations

from beffroi.api.deps import Services
from beffroi.auth.models import SYSTEM
from beffroi.rules.models import AlarmEvent
from beffroi.timeutil import FrozenClock
from tests.rules.conftest import MIN, T0, H, Rig

PM10 = """
rules:
  - id: air-pm10
    name: {fr: "PM10 élevées", en: "High PM10"}
    severity: major
    post: supervision
    incident: open
    category: air-quality
    scope: {types: [AirQualityObserved]}
    when: {kind: threshold, metric: pm10, op: ">", value: 50, for: 1h, clear_below: 45}
"""


def test_threshold_raise_hold_hysteresis_clear(rig: Rig, events: list[AlarmEvent]) -> None:
    station = rig.asset("AirQualityObserved", "s1")
    rig.rules(PM10)
    rig.feed((station, "pm10", T0, 60))
    assert rig.alarms() == []  # pending, not for 1 h yet
    rig.feed((station, "pm10", T0 + 30 * MIN, 70))
    assert rig.alarms() == []
    rig.feed((station, "pm10", T0 + H, 55))
    [alarm] = rig.alarms()
    assert alarm["state"] == "raised" and alarm["severity"] == "major"
    assert alarm["asset"] == station and alarm["post"] == "supervision"
    assert alarm["value"] == 55 and alarm["raised"] == "2026-01-01T01:00:00Z"
    # 48 is below the threshold but above the hysteresis bound: the alarm holds (updated)
    rig.feed((station, "pm10", T0 + 2 * H, 48))
    [alarm] = rig.alarms()
    assert alarm["state"] == "raised" and alarm["updates"] == 1 and alarm["value"] == 48
    rig.feed((station, "pm10", T0 + 3 * H, 44))
    [alarm] = rig.alarms()
    assert alarm["state"] == "cleared" and alarm["cleared_by"] == "auto"
    assert alarm["cleared"] == "2026-01-01T03:00:00Z"
    assert [e.change for e in events] == ["raised", "updated", "cleared"]
    assert events[0].incident == "open" and events[0].category == "air-quality"
    assert {e.post for e in events} == {"supervision"} and events[-1].asset_urn == station
    history = rig.services.rules.get_alarm(rig.code, alarm["id"])["history"]
    assert [h["change"] for h in history] == ["raised", "cleared"]


def test_a_dip_resets_the_duration(rig: Rig) -> None:
    station = rig.asset("AirQualityObserved", "s1")
    rig.rules(PM10)
    rig.feed((station, "pm10", T0, 60), (station, "pm10", T0 + 40 * MIN, 40),
             (station, "pm10", T0 + 50 * MIN, 60), (station, "pm10", T0 + 100 * MIN, 60))
    assert rig.alarms() == []
    rig.feed((station, "pm10", T0 + 110 * MIN, 60))
    assert len(rig.alarms()) == 1


def test_dedupe_replays_and_one_open_alarm_per_rule_and_asset(rig: Rig) -> None:
    station = rig.asset("AirQualityObserved", "s1")
    other = rig.asset("AirQualityObserved", "s2")
    rig.rules(PM10.replace("for: 1h", "for: 0"))
    rig.feed((station, "pm10", T0, 60), (other, "pm10", T0, 80))
    rig.feed((station, "pm10", T0, 60))  # the same message again: nothing new
    rig.feed((station, "pm10", T0 + H, 61), (station, "pm10", T0 + 2 * H, 62))
    alarms = rig.alarms(state="open")
    assert sorted(a["asset"] for a in alarms) == sorted([station, other])
    mine = next(a for a in alarms if a["asset"] == station)
    assert mine["updates"] == 2 and mine["value"] == 62


def test_acknowledge_then_auto_clear(rig: Rig, clock: FrozenClock,
                                     events: list[AlarmEvent]) -> None:
    station = rig.asset("AirQualityObserved", "s1")
    rig.rules(PM10.replace("for: 1h", "for: 0"))
    rig.feed((station, "pm10", T0, 60))
    [alarm] = rig.alarms()
    clock.advance(minutes=5)
    acked = rig.services.rules.acknowledge(rig.code, alarm["id"], SYSTEM, "on it")
    assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == SYSTEM.actor
    assert acked["acknowledged"] == "2026-01-01T00:05:00Z"
    rig.feed((station, "pm10", T0 + H, 58))  # still above: updated, stays acknowledged
    assert rig.alarms()[0]["state"] == "acknowledged"
    rig.feed((station, "pm10", T0 + 2 * H, 30))
    [alarm] = rig.alarms()
    assert alarm["state"] == "cleared" and alarm["cleared_by"] == "auto"
    assert [h["change"] for h in rig.services.rules.get_alarm(rig.code, alarm["id"])[
        "history"]] == ["raised", "acknowledged", "cleared"]
    assert [e.change for e in events] == ["raised", "acknowledged", "updated", "cleared"]


def test_manual_clear_waits_for_the_condition_to_end(rig: Rig) -> None:
    station = rig.asset("AirQualityObserved", "s1")
    rig.rules(PM10.replace("for: 1h", "for: 0"))
    rig.feed((station, "pm10", T0, 60))
    [alarm] = rig.alarms()
    cleared = rig.services.rules.clear(rig.code, alarm["id"], SYSTEM, "sensor in maintenance")
    assert cleared["state"] == "cleared" and cleared["cleared_by"] == SYSTEM.actor
    rig.feed((station, "pm10", T0 + H, 65))  # still high: no new alarm
    assert len(rig.alarms()) == 1
    rig.feed((station, "pm10", T0 + 2 * H, 20), (station, "pm10", T0 + 3 * H, 70))
    alarms = rig.alarms()
    assert len(alarms) == 2 and alarms[1]["state"] == "raised"


def test_state_rule(rig: Rig) -> None:
    lamp = rig.asset("Streetlight", "l1")
    rig.rules("""
rules:
  - id: lamp-failure
    name: Lamp failure
    severity: minor
    scope: {types: [Streetlight]}
    when: {kind: state, metric: status, in: [defectiveLamp, brokenLantern]}
""")
    rig.feed((lamp, "status", T0, "ok"))
    assert rig.alarms() == []
    rig.feed((lamp, "status", T0 + H, "defectiveLamp"))
    [alarm] = rig.alarms()
    assert alarm["value"] == "defectiveLamp" and alarm["post"] == "lighting"  # asset's post
    rig.feed((lamp, "status", T0 + 2 * H, "ok"))
    assert rig.alarms()[0]["state"] == "cleared"


def test_stuck_value(rig: Rig) -> None:
    station = rig.asset("WeatherObserved", "w1")
    rig.rules("""
rules:
  - id: weather-stuck
    name: Stuck thermometer
    severity: warning
    scope: {types: [WeatherObserved]}
    when: {kind: stuck, metric: temperature, for: 3h}
""")
    rig.feed(*[(station, "temperature", T0 + i * H, 4.2) for i in range(3)])
    assert rig.alarms() == []
    rig.feed((station, "temperature", T0 + 3 * H, 4.2))
    [alarm] = rig.alarms()
    assert alarm["state"] == "raised" and "stuck at 4.2" in alarm["message"]
    rig.feed((station, "temperature", T0 + 4 * H, 4.5))
    assert rig.alarms()[0]["state"] == "cleared"


def test_rate_of_change(rig: Rig) -> None:
    bin_ = rig.asset("WasteContainer", "b1")
    rig.rules("""
rules:
  - id: waste-fire
    name: Temperature rising fast in a bin
    severity: critical
    scope: {types: [WasteContainer]}
    when: {kind: rate, metric: temperature, change: 10, per: 1h, direction: up}
""")
    rig.feed((bin_, "temperature", T0, 12), (bin_, "temperature", T0 + H, 18))
    assert rig.alarms() == []
    rig.feed((bin_, "temperature", T0 + H + 30 * MIN, 30))  # +12 in 30 min = +24/h
    [alarm] = rig.alarms()
    assert alarm["severity"] == "critical"
    rig.feed((bin_, "temperature", T0 + 2 * H, 31))
    assert rig.alarms()[0]["state"] == "cleared"


def test_silence_via_tick(rig: Rig, clock: FrozenClock, services: Services) -> None:
    counter = rig.asset("TrafficFlowObserved", "c1")
    quiet = rig.asset("TrafficFlowObserved", "c2", properties={"reporting_period_s": 600})
    rig.rules("""
rules:
  - id: traffic-silent
    name: Counter silent
    severity: minor
    scope: {types: [TrafficFlowObserved]}
    when: {kind: silent, factor: 3, period: 1h}
""")
    rig.feed((counter, "intensity", T0, 120), (quiet, "intensity", T0, 30))
    clock.advance(minutes=31)
    services.rules.tick()  # c2 reports every 10 min: 3 × 10 min exceeded
    [alarm] = rig.alarms()
    assert alarm["asset"] == quiet and "no reading for 31 min (limit 30 min)" in alarm["message"]
    # the same message in French, for the control room (and for the incident it may open)
    assert alarm["messages"]["en"] == alarm["message"]
    assert alarm["messages"]["fr"].endswith("\u00a0: aucune mesure depuis 31 min (limite 30 min)")
    clock.advance(hours=3)
    services.rules.tick()
    services.rules.tick()  # idempotent
    assert sorted(a["asset"] for a in rig.alarms(state="open")) == sorted([counter, quiet])
    rig.feed((counter, "intensity", clock.ms, 90))
    open_ = rig.alarms(state="open")
    assert [a["asset"] for a in open_] == [quiet]


def test_duration_elapsing_without_new_reading_raises_on_tick(
        rig: Rig, clock: FrozenClock, services: Services) -> None:
    station = rig.asset("AirQualityObserved", "s1")
    rig.rules(PM10)
    clock.ms = T0
    rig.feed((station, "pm10", T0, 90))
    clock.advance(minutes=59)
    services.rules.tick()
    assert rig.alarms() == []
    clock.advance(minutes=2)
    services.rules.tick()
    [alarm] = rig.alarms()
    assert alarm["state"] == "raised" and alarm["value"] == 90


def test_restart_keeps_a_condition_pending(rig: Rig, services: Services,
                                           clock: FrozenClock) -> None:
    """A new process (fresh Rules) rebuilds the pending state from recent observations."""
    from beffroi.rules.service import Rules

    station = rig.asset("AirQualityObserved", "s1")
    rig.rules(PM10)
    rig.feed((station, "pm10", T0, 60), (station, "pm10", T0 + 40 * MIN, 60))
    fresh = Rules(services.store, services.registry, services.telemetry, services.audit, clock)
    services.pipeline.handlers[:] = [fresh.on_rows]
    rig.services.rules = fresh
    rig.feed((station, "pm10", T0 + 60 * MIN, 60))
    [alarm] = rig.alarms()
    assert alarm["raised"] == "2026-01-01T01:00:00Z"


def test_set_active_switches_rules_and_clears_their_alarms(rig: Rig) -> None:
    station = rig.asset("AirQualityObserved", "s1")
    rig.rules(PM10.replace("for: 1h", "for: 0") + "    active: false\n")
    rig.feed((station, "pm10", T0, 60))
    assert rig.alarms() == []
    rig.services.rules.set_active(rig.code, ["air-pm10"], True, "user:crisis")
    rig.feed((station, "pm10", T0 + H, 60))
    assert rig.alarms()[0]["state"] == "raised"
    rig.services.rules.set_active(rig.code, ["air-pm10"], False, "user:crisis")
    [alarm] = rig.alarms()
    assert alarm["state"] == "cleared" and alarm["cleared_by"] == "user:crisis"
    assert rig.services.rules.get_rule(rig.code, "air-pm10")["active"] is False


def test_tick_does_not_raise_durations_on_old_data(
        rig: Rig, clock: FrozenClock, services: Services) -> None:
    station = rig.asset("AirQualityObserved", "s1")
    rig.rules(PM10)
    clock.advance(hours=24 * 30)
    rig.feed((station, "pm10", T0, 90))  # a backfill, a month old
    services.rules.tick()
    assert rig.alarms() == []


def test_post_router_decides_the_post(rig: Rig, services: Services,
                                      events: list[AlarmEvent]) -> None:
    station = rig.asset("AirQualityObserved", "s1")
    asked: list[tuple[str, str, str | None, str | None]] = []

    def router(code: str, rule: str, kind: str | None, post: str | None) -> str | None:
        asked.append((code, rule, kind, post))
        return "police"

    services.rules.post_router = router
    rig.rules(PM10.replace("for: 1h", "for: 0"))
    rig.feed((station, "pm10", T0, 60))
    assert rig.alarms()[0]["post"] == "police" and events[0].post == "police"
    assert asked == [("testville", "air-pm10", "AirQualityObserved", "supervision")]


def test_silence_of_one_metric_and_never_reported_assets(
        rig: Rig, clock: FrozenClock, services: Services) -> None:
    cabinet = rig.asset("StreetlightControlCabinet", "c1")
    rig.asset("StreetlightControlCabinet", "never")  # never reported: not watched
    rig.rules("""
rules:
  - id: cabinet-meter-silent
    name: Meter silent
    severity: minor
    scope: {types: [StreetlightControlCabinet]}
    when: {kind: silent, after: 1h, metric: energyConsumed}
""")
    rig.feed((cabinet, "energyConsumed", T0, 1.5))
    clock.advance(minutes=50)
    rig.feed((cabinet, "voltage", clock.ms, 230))  # another metric does not count
    clock.advance(minutes=20)
    services.rules.tick()
    [alarm] = rig.alarms()
    assert alarm["asset"] == cabinet
    rig.feed((cabinet, "energyConsumed", clock.ms, 1.2))
    assert rig.alarms()[0]["state"] == "cleared"
