"""Scope by area polygon, group share rules raising on the parent, cross-domain combinations."""

from __future__ import annotations

from beffroi.api.deps import Services
from beffroi.rules.models import AlarmEvent
from beffroi.timeutil import FrozenClock
from tests.rules.conftest import MIN, T0, H, Rig

# A square around Paris' centre (2.30–2.40 E, 48.83–48.88 N).
CENTRE = ("{type: Polygon, coordinates: [[[2.30, 48.83], [2.40, 48.83], [2.40, 48.88], "
          "[2.30, 48.88], [2.30, 48.83]]]}")


def test_scope_by_area_polygon(rig: Rig) -> None:
    inside = rig.asset("AirQualityObserved", "in", lon=2.35, lat=48.85)
    outside = rig.asset("AirQualityObserved", "out", lon=2.45, lat=48.85)
    rig.rules(f"""
rules:
  - id: centre-no2
    name: NO2 in the centre
    severity: major
    scope: {{types: [AirQualityObserved], area: {CENTRE}}}
    when: {{kind: threshold, metric: no2, op: ">", value: 200}}
""")
    rig.feed((inside, "no2", T0, 250), (outside, "no2", T0, 250))
    assert [a["asset"] for a in rig.alarms()] == [inside]


def test_scope_by_explicit_assets_and_domain(rig: Rig) -> None:
    a = rig.asset("WeatherObserved", "a")
    b = rig.asset("WeatherObserved", "b")
    rig.rules(f"""
rules:
  - id: one-station
    name: Heat at one station
    severity: warning
    scope: {{domains: [environment], assets: ["{a}"]}}
    when: {{kind: threshold, metric: temperature, op: ">=", value: 35}}
""")
    rig.feed((a, "temperature", T0, 36), (b, "temperature", T0, 36))
    assert [x["asset"] for x in rig.alarms()] == [a]


def test_group_share_raises_on_the_cabinet_not_on_each_lamp(
        rig: Rig, events: list[AlarmEvent]) -> None:
    cabinet = rig.asset("StreetlightControlCabinet", "cab1")
    other = rig.asset("StreetlightControlCabinet", "cab2")
    lamps = [rig.asset("Streetlight", f"l{i}", parent=cabinet) for i in range(10)]
    others = [rig.asset("Streetlight", f"m{i}", parent=other) for i in range(10)]
    rig.rules("""
rules:
  - id: cabinet-lamps-failed
    name: {fr: "Plus de 20 % des lampes d'une armoire en panne", en: "Over 20% lamps failed"}
    severity: major
    scope: {types: [StreetlightControlCabinet]}
    when:
      kind: group
      member: {types: [Streetlight]}
      by: parent
      condition: {kind: state, metric: status, in: [defectiveLamp, brokenLantern]}
      share: "> 20%"
""")
    rig.feed(*[(u, "status", T0, "ok") for u in lamps + others])
    rig.feed(*[(u, "status", T0 + H, "defectiveLamp") for u in lamps[:2]],
             (others[0], "status", T0 + H, "defectiveLamp"))
    assert rig.alarms() == []  # 2 of 10 is not more than 20 %
    rig.feed((lamps[2], "status", T0 + 2 * H, "defectiveLamp"))
    [alarm] = rig.alarms()
    assert alarm["asset"] == cabinet and "3 of 10" in alarm["message"]
    rig.feed((lamps[3], "status", T0 + 3 * H, "brokenLantern"))
    assert len(rig.alarms()) == 1 and rig.alarms()[0]["updates"] == 1
    rig.feed(*[(u, "status", T0 + 4 * H, "ok") for u in lamps[:3]])
    [alarm] = rig.alarms()
    assert alarm["state"] == "cleared"
    assert {e.asset_urn for e in events} == {cabinet}


def test_group_state_is_rebuilt_from_latest_when_the_rule_arrives(rig: Rig) -> None:
    cabinet = rig.asset("StreetlightControlCabinet", "cab1")
    lamps = [rig.asset("Streetlight", f"l{i}", parent=cabinet) for i in range(4)]
    rig.feed(*[(u, "status", T0, "defectiveLamp" if i < 2 else "ok")
               for i, u in enumerate(lamps)])
    rig.rules("""
rules:
  - id: cabinet-half
    name: Half the lamps failed
    severity: major
    scope: {types: [StreetlightControlCabinet]}
    when:
      kind: group
      member: {types: [Streetlight]}
      condition: {kind: state, metric: status, in: [defectiveLamp]}
      share: ">= 50%"
""")
    rig.feed((lamps[3], "status", T0 + H, "ok"))  # any batch builds the territory's state
    [alarm] = rig.alarms()
    assert alarm["asset"] == cabinet


SNOW = """
rules:
  - id: snow-ice-risk
    name: {fr: "Risque de neige ou verglas", en: "Snow or ice risk"}
    severity: major
    post: snow
    incident: open
    category: winter-service
    when:
      kind: all
      over: territory
      max_age: 2h
      conditions:
        - {kind: threshold, metric: temperature, op: "<", value: 1,
           scope: {types: [WeatherObserved]}}
        - {kind: threshold, metric: precipitation, op: ">", value: 0,
           scope: {types: [WeatherObserved]}}
"""


def test_cross_domain_combination_over_territory(rig: Rig, events: list[AlarmEvent]) -> None:
    north = rig.asset("WeatherObserved", "north")
    south = rig.asset("WeatherObserved", "south")
    air = rig.asset("AirQualityObserved", "a1")
    rig.rules(SNOW)
    rig.feed((north, "temperature", T0, 0.5), (air, "temperature", T0, -3))
    assert rig.alarms() == []  # cold, but dry; the air station is not in that part's scope
    rig.feed((south, "precipitation", T0 + 10 * MIN, 0.4))
    [alarm] = rig.alarms()
    assert alarm["asset"] is None and alarm["post"] == "snow"
    assert "temperature < 1 and precipitation > 0" in alarm["message"]
    assert events[-1].incident == "open" and events[-1].post == "snow"
    rig.feed((north, "temperature", T0 + 20 * MIN, 2.5))
    assert rig.alarms()[0]["state"] == "cleared"


def test_combination_ignores_stale_parts(rig: Rig) -> None:
    station = rig.asset("WeatherObserved", "w")
    rig.rules(SNOW)
    rig.feed((station, "temperature", T0, -2))
    rig.feed((station, "precipitation", T0 + 3 * H, 1.0))  # the cold reading is 3 h old
    assert rig.alarms() == []
    rig.feed((station, "temperature", T0 + 3 * H + MIN, -1))
    assert len(rig.alarms()) == 1


def test_combination_over_one_asset(rig: Rig, services: Services) -> None:
    a = rig.asset("WeatherObserved", "a")
    b = rig.asset("WeatherObserved", "b")
    rig.rules("""
rules:
  - id: freezing-rain
    name: Freezing rain at a station
    severity: major
    scope: {types: [WeatherObserved]}
    when:
      kind: all
      over: asset
      conditions:
        - {kind: threshold, metric: temperature, op: "<=", value: 0}
        - {kind: threshold, metric: precipitation, op: ">", value: 0}
""")
    rig.feed((a, "temperature", T0, -1), (b, "precipitation", T0, 2))
    assert rig.alarms() == []  # cold at a, rain at b: not the same place
    rig.feed((a, "precipitation", T0 + MIN, 0.2))
    assert [x["asset"] for x in rig.alarms()] == [a]


def test_combination_on_replayed_history(rig: Rig, clock: FrozenClock) -> None:
    """Freshness is judged at the readings' time, not the clock's (a backfill of last winter
    raises what it would have raised then)."""
    station = rig.asset("WeatherObserved", "w")
    rig.rules(SNOW)
    clock.advance(hours=24 * 200)
    rig.feed((station, "temperature", T0, -2), (station, "precipitation", T0 + MIN, 0.5))
    [alarm] = rig.alarms()
    assert alarm["raised"] == "2026-01-01T00:01:00Z"


def test_tick_clears_a_combination_whose_readings_grew_stale(
        rig: Rig, clock: FrozenClock, services: Services) -> None:
    station = rig.asset("WeatherObserved", "w")
    rig.rules(SNOW)
    rig.feed((station, "temperature", T0, -2), (station, "precipitation", T0 + MIN, 0.5))
    clock.ms = T0 + MIN
    services.rules.tick()
    assert rig.alarms()[0]["state"] == "raised"
    clock.advance(hours=3)  # max_age is 2 h and the station went quiet
    services.rules.tick()
    assert rig.alarms()[0]["state"] == "cleared"
