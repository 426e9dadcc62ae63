"""Statistical checks of the non-lighting generators against their calibration sources."""

from __future__ import annotations

import csv
import itertools
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from beffroi.simulator.models import PARKING, TRAFFIC_STATES, WATER
from tests.simulator.helpers import PARIS, asset, of, simulate

PARIS_COUNTERS = "paris/comptages-routiers-permanents-washington_2023-2024.csv"


def _paris_profiles(shared_data: Path) -> dict[bool, np.ndarray]:
    sums: dict[tuple[bool, int], list[float]] = defaultdict(list)
    with (shared_data / PARIS_COUNTERS).open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh, delimiter=";"):
            if row["Débit horaire"]:
                ts = datetime.fromisoformat(row["Date et heure de comptage"])
                sums[(ts.weekday() >= 5, ts.hour)].append(float(row["Débit horaire"]))
    return {we: np.array([np.mean(sums[(we, h)]) for h in range(24)]) for we in (False, True)}


def test_traffic_profile_correlates_with_the_real_paris_counter(shared_data: Path) -> None:
    counters = [asset("TrafficFlowObserved", f"c{i}") for i in range(15)]
    _sim, readings = simulate(counters, "2024-03-04T00:00", days=28)
    flows: dict[tuple[bool, int], list[float]] = defaultdict(list)
    for r in of(readings, "intensity"):
        start = datetime.fromtimestamp((r["ts"] - 3_600_000) / 1000, PARIS)  # counted hour
        flows[(start.weekday() >= 5, start.hour)].append(r["value"])
    real = _paris_profiles(shared_data)
    for weekend in (False, True):
        simulated = np.array([np.mean(flows[(weekend, h)]) for h in range(24)])
        r = np.corrcoef(simulated, real[weekend])[0, 1]
        assert r > 0.8, (weekend, r)
    occupancy = [r["value"] for r in of(readings, "occupancy")]
    assert min(occupancy) >= 0 and max(occupancy) <= 100
    states = {r["value"] for r in of(readings, "trafficState")}
    assert states <= set(TRAFFIC_STATES) and {"free", "pre-saturated"} <= states


def test_fill_levels_stay_in_0_1_fill_by_day_and_drop_when_collected() -> None:
    bins = [asset("WasteContainer", f"b{i}") for i in range(40)]
    _sim, readings = simulate(bins, "2024-05-06T00:00", days=21)
    levels = of(readings, "fillingLevel")
    values = np.array([r["value"] for r in levels])
    assert len(levels) == 40 * 21 * 144
    assert values.min() >= 0 and values.max() <= 1
    by_bin: dict[str, list[float]] = defaultdict(list)
    for r in levels:
        by_bin[r["asset"]].append(r["value"])
    drops = sum(int(np.sum(np.diff(v) < -0.05)) for v in by_bin.values())
    assert drops >= 40 * 21 / 5  # rounds every one to five days
    # Deposits follow Edinburgh's daily shape: almost nothing between midnight and 04:00 on
    # weekdays, most in the afternoon.
    rises: dict[int, list[float]] = defaultdict(list)
    for v_list, rs in ((by_bin[u], [r for r in levels if r["asset"] == u]) for u in by_bin):
        for (a, b), r in zip(itertools.pairwise(v_list), rs[1:], strict=False):
            local = datetime.fromtimestamp((r["ts"] - 600_000) / 1000, PARIS)
            if b >= a and local.weekday() < 5:
                rises[local.hour // 4].append(b - a)
    assert np.mean(rises[0]) < 0.2 * np.mean(rises[4])
    overflow = of(readings, "status", "WasteContainer")
    assert {r["value"] for r in overflow} <= {"overflowing", "ok"}
    full = {r["asset"] for r in overflow if r["value"] == "overflowing"}
    for urn in full:  # an overflowing bin reads 1 until it is collected
        assert max(by_bin[urn]) == 1.0


def test_weather_is_in_metric_units_with_paris_like_ranges() -> None:
    stations = [asset("WeatherObserved", f"w{i}") for i in range(2)]
    winter = simulate(stations, "2024-01-01T00:00", days=45, seed=5)[1]
    summer = simulate(stations, "2024-07-01T00:00", days=45, seed=5)[1]
    t_winter = np.array([r["value"] for r in of(winter, "temperature")])
    t_summer = np.array([r["value"] for r in of(summer, "temperature")])
    # Paris-Montsouris: January mean about 5 °C, July about 22 °C (°F would read 40 and 71).
    assert 0 < t_winter.mean() < 10
    assert 17 < t_summer.mean() < 27
    assert t_winter.min() > -15 and t_summer.max() < 42
    rain = np.array([r["value"] for r in of(winter + summer, "precipitation")])
    assert rain.min() >= 0 and rain.max() < 30  # mm in ten minutes
    daily_mm = rain.sum() / 2 / 90
    assert 0.8 < daily_mm < 3.5  # Paris: about 1.7 mm a day (630 mm a year)
    wind = np.array([r["value"] for r in of(winter, "windSpeed")])
    assert 2 < wind.mean() < 7 and wind.min() >= 0
    assert all(r["value"] >= 0 for r in of(winter, "snowHeight"))


def test_snow_falls_in_a_cold_winter() -> None:
    stations = [asset("WeatherObserved", "w0")]
    for seed in range(10):  # Paris has a few snow days a year: some winter has them
        readings = simulate(stations, "2024-01-01T00:00", days=60, seed=seed)[1]
        if any(r["value"] > 0 for r in of(readings, "snowHeight")):
            break
    else:
        raise AssertionError("no snow in ten simulated winters")


def test_air_quality_follows_traffic_and_stays_plausible() -> None:
    stations = [asset("AirQualityObserved", f"a{i}", station_kind="traffic" if i % 2 else "x")
                for i in range(4)]
    _sim, readings = simulate(stations, "2024-02-05T00:00", days=28, seed=2)
    no2 = of(readings, "no2")
    assert len(no2) == 4 * 28 * 24  # hourly
    by_hour: dict[int, list[float]] = defaultdict(list)
    for r in no2:
        local = datetime.fromtimestamp((r["ts"] - 3_600_000) / 1000, PARIS)
        if local.weekday() < 5:
            by_hour[local.hour].append(r["value"])
    assert np.mean(by_hour[8]) > 1.2 * np.mean(by_hour[3])  # the morning rush
    pm10 = {(r["asset"], r["ts"]): r["value"] for r in of(readings, "pm10")}
    for r in of(readings, "pm25"):
        assert 0 < r["value"] <= pm10[(r["asset"], r["ts"])]
    assert 5 < np.median([r["value"] for r in no2]) < 80


def test_water_quality_within_references_except_contamination() -> None:
    stations = [asset("WaterQualityObserved", f"q{i}") for i in range(30)]
    _sim, readings = simulate(stations, "2024-04-01T00:00", days=30, seed=4)
    ph = np.array([r["value"] for r in of(readings, "pH")])
    turbidity = np.array([r["value"] for r in of(readings, "turbidity")])
    chlorine = np.array([r["value"] for r in of(readings, "freeChlorine")])
    assert 6.5 < np.median(ph) < 9 and np.median(turbidity) < 1
    assert np.quantile(chlorine, 0.05) > 0.1
    share_bad = np.mean(turbidity > 1.0)
    assert 0 < share_bad < 0.02, "rare contamination events"
    assert WATER.contamination_per_year.value > 0


def test_car_parks_follow_weekday_and_weekend_curves() -> None:
    parks = [asset("OffStreetParking", f"p{i}", total_spots=400) for i in range(5)]
    _sim, readings = simulate(parks, "2024-09-02T00:00", days=14, seed=1)
    occ: dict[tuple[int, int], list[float]] = defaultdict(list)
    for r in of(readings, "occupancy"):
        local = datetime.fromtimestamp(r["ts"] / 1000, PARIS)
        occ[(min(local.weekday(), 5) if local.weekday() < 6 else 6, local.hour)].append(
            r["value"])
    assert np.mean(occ[(0, 11)]) > 0.6 > 0.3 > np.mean(occ[(0, 3)])
    assert np.mean(occ[(6, 11)]) < np.mean(occ[(0, 11)])
    curve = np.array(PARKING.weekday)
    simulated = np.array([np.mean(occ[(0, h)] + occ[(1, h)]) for h in range(24)])
    assert np.corrcoef(curve, simulated)[0, 1] > 0.95
    for r in of(readings, "availableSpotNumber"):
        assert 0 <= r["value"] <= 400


def test_parking_spots_and_chargers_report_states_on_change() -> None:
    assets = [asset("ParkingSpot", f"s{i}") for i in range(20)]
    assets += [asset("EVChargingStation", f"e{i}", capacity=2) for i in range(10)]
    _sim, readings = simulate(assets, "2024-09-02T00:00", days=3, seed=1)
    spot = of(readings, "status", "ParkingSpot")
    assert {r["value"] for r in spot} == {"free", "occupied"}
    per_spot: dict[str, list[str]] = defaultdict(list)
    for r in sorted(spot, key=lambda r: r["ts"]):
        per_spot[r["asset"]].append(r["value"])
    for states in per_spot.values():
        assert all(a != b for a, b in itertools.pairwise(states))
    available = [r["value"] for r in of(readings, "availableCapacity")]
    assert min(available) >= 0 and max(available) <= 2
    energy = sum(r["value"] for r in of(readings, "energyConsumed", "EVChargingStation"))
    sessions_kwh = 10 * 2 * 2.0 * 3 * 10  # points x arrivals a day x days x ~10 kWh
    assert 0.2 * sessions_kwh < energy < 2 * sessions_kwh


@pytest.mark.parametrize("kind", ["school", "office"])
def test_buildings_draw_more_when_open_and_when_cold(kind: str) -> None:
    b = [asset("Building", f"{kind}{i}", building_kind=kind, area_m2=3000) for i in range(3)]
    winter = simulate(b, "2024-01-08T00:00", days=7)[1]
    summer = simulate(b, "2024-07-08T00:00", days=7)[1]

    def mean_kw(readings: list[dict[str, object]], hour: int) -> float:
        return float(np.mean([r["value"] for r in of(readings, "activePower")
                              if datetime.fromtimestamp(int(r["ts"]) / 1000, PARIS).hour == hour
                              and datetime.fromtimestamp(int(r["ts"]) / 1000, PARIS).weekday()
                              < 5]))

    assert mean_kw(winter, 11) > 1.5 * mean_kw(winter, 3)
    assert mean_kw(winter, 11) > mean_kw(summer, 11)
    people = [r["value"] for r in of(winter, "occupancy")]
    assert min(people) == 0 and max(people) > 0
