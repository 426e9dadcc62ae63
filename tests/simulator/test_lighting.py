"""Lighting: lamps on only at night for Nantes, dimming, energy, failures and trips."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from beffroi.simulator.domains.lighting import Lighting
from beffroi.simulator.models import LIGHTING
from beffroi.simulator.sun import solar_elevation
from tests.simulator.helpers import lighting, ms, of, simulate


@pytest.mark.parametrize("start", ["2024-06-18T12:00", "2024-12-18T12:00", "2024-03-29T12:00"])
def test_lamps_are_on_only_when_the_sun_is_below_the_horizon(start: str) -> None:
    assets = lighting(cabinets=5, lamps_per_cabinet=3)
    where = {a.urn: (a.lon, a.lat) for a in assets}
    sim, readings = simulate(assets, start, days=3)
    events: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for r in of(readings, "powerState", "Streetlight"):
        events[r["asset"]].append((r["ts"], r["value"]))
    tripped = {r["asset"] for r in of(readings, "powerState", "StreetlightControlCabinet")
               if r["value"] == "tripped"}
    lamps = [a.urn for a in assets if a.type == "Streetlight" and a.parent not in tripped]
    assert len(lamps) >= 12  # a cabinet may trip (its lamps then fall silent): skip those
    assert set(lamps) <= set(events)
    for urn in lamps:
        lon, lat = where[urn]
        switches = sorted(events[urn])
        assert len(switches) == 6  # three dusks, three dawns
        assert [v for _t, v in switches] == ["on", "off"] * 3
        for ts, _v in switches:  # a photocell switches with the sun below the horizon
            assert solar_elevation(lon, lat, ts) < 0
        # Between the switches, the lamp is on exactly when it is night: check every 10 min
        # against the sun's position at the lamp.
        times = [t for t, _v in switches]
        for t in range(sim.start_ms + 600_000, sim.now_ms, 600_000):
            on = sum(1 for s in times if s <= t) % 2 == 1
            elevation = solar_elevation(lon, lat, t)
            if on:
                assert elevation < 0, (urn, t, elevation)
            elif elevation < LIGHTING.switch_elevation_deg[0] - 1:
                raise AssertionError(f"{urn} off at night (elevation {elevation:.1f})")


def test_led_lamps_dim_and_draw_nominal_power_times_level() -> None:
    sim, readings = simulate(lighting(2, 3), "2024-01-10T12:00", days=1)
    power = of(readings, "activePower", "Streetlight")
    level = {(r["asset"], r["ts"]): r["value"] for r in of(readings, "illuminanceLevel")}
    assert power, "telemanaged LED lamps report their power"
    domain = next(d for d in sim.domains if isinstance(d, Lighting))
    lamp_urns = [a.urn for a in domain.assets if a.type == "Streetlight"]
    nominal = dict(zip(lamp_urns, domain.power_w.tolist(), strict=True))
    led = {u for u, t in zip(lamp_urns, domain.telemanaged.tolist(), strict=True) if t}
    assert {r["asset"] for r in power} == led
    assert {u for u in lamp_urns if u.endswith("-L0")} <= led  # the given LED lamps
    for r in power:
        assert r["value"] == pytest.approx(nominal[r["asset"]] * level[(r["asset"], r["ts"])],
                                           abs=0.05)
    given = sorted({r["value"] for r in power if r["asset"].endswith("-L0")})
    assert given == [0.0, 20.0, 40.0]
    dimmed = [r for r in of(readings, "illuminanceLevel") if r["value"] == 0.5]
    for r in dimmed:
        local = (r["ts"] - ms("2024-01-10T00:00")) / 3_600_000 % 24
        assert local == pytest.approx(LIGHTING.dimming_start_local_h, abs=0.01)


def test_cabinets_meter_energy_at_night_only() -> None:
    _sim, readings = simulate(lighting(3, 4), "2024-01-10T00:00", days=2)
    energy = of(readings, "energyConsumed", "StreetlightControlCabinet")
    assert len(energy) == 3 * 2 * 144
    assert all(r["value"] >= 0 for r in energy)
    for r in energy:
        urn = r["asset"]
        if r["value"] > 0:  # some of the tick [ts - 10 min, ts) was dark
            assert solar_elevation(-1.6, 47.2, r["ts"] - 600_000) < 1 or solar_elevation(
                -1.6, 47.2, r["ts"]) < 1, urn
    midnight = [r for r in energy if (r["ts"] - ms("2024-01-10T01:00")) % 86_400_000 == 0]
    assert midnight and all(r["value"] > 0 for r in midnight)
    volts = [r["value"] for r in of(readings, "voltage")]
    assert 220 < np.mean(volts) < 235 and len(volts) == 3 * 48


def test_lamps_fail_with_their_technology_and_come_back_repaired() -> None:
    # 600 sodium lamps for 60 nights: about 4-5 % fail a year, repaired within days.
    assets = lighting(cabinets=20, lamps_per_cabinet=30)
    assets = [a if a.type != "Streetlight" else type(a)(a.urn, a.type, a.lon, a.lat,
              {"lamp_type": "SHP", "power_w": 100}, a.parent) for a in assets]
    _sim, readings = simulate(assets, "2024-01-01T12:00", days=60, seed=3)
    status = of(readings, "status", "Streetlight")
    # At the start every lamp reports its status once (all working here).
    start = min(r["ts"] for r in status)
    initial = [r for r in status if r["ts"] == start]
    assert len(initial) == 600 and {r["value"] for r in initial} == {"ok"}
    status = [r for r in status if r["ts"] != start]
    failed = [r for r in status if r["value"] == "defectiveLamp"]
    repaired = [r for r in status if r["value"] == "ok"]
    assert 1 <= len(failed) <= 30
    assert repaired, "failed lamps are repaired"
    first_fail = {r["asset"]: r["ts"] for r in sorted(failed, key=lambda r: -r["ts"])}
    for r in repaired:
        assert r["ts"] > first_fail[r["asset"]]
    ons = {(r["asset"], r["ts"]) for r in of(readings, "powerState") if r["value"] == "on"}
    assert all((r["asset"], r["ts"]) in ons for r in failed), "lamps fail at ignition"


def test_a_tripped_cabinet_silences_its_lamps_until_reset() -> None:
    assets = lighting(cabinets=40, lamps_per_cabinet=2)
    sim, readings = simulate(assets, "2024-11-01T12:00", days=90, seed=11)
    trips = [r for r in of(readings, "powerState", "StreetlightControlCabinet")
             if r["value"] == "tripped"]
    assert trips, "cabinets trip now and then"
    lighting_domain = next(d for d in sim.domains if isinstance(d, Lighting))
    assert lighting_domain is not None
    trip = trips[0]
    cabinet_id = trip["asset"].rsplit(":", 1)[1]
    after = sorted((r["ts"], r["value"]) for r in of(readings, "powerState")
                   if r["asset"] == trip["asset"] and r["ts"] > trip["ts"])
    reset_ts = after[0][0]
    lamp_readings = [r for r in readings if f":{cabinet_id}-L" in r["asset"]
                     and trip["ts"] < r["ts"] < reset_ts]
    assert lamp_readings == []
    assert any(f":{cabinet_id}-L" in r["asset"] and r["ts"] == reset_ts for r in readings)
