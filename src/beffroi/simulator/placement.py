"""Synthetic assets for a demo territory: waste containers, car parks and spots, counters,
stations, buildings and chargers placed near real lamps (so on streets, inside the city).

Every placed asset carries ``properties.simulated = true`` so that indicators and open-data
exports can leave simulated equipment out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from beffroi.assets import repository as repo
from beffroi.assets.service import point_asset_row
from beffroi.simulator import seeding
from beffroi.simulator.models import (
    BUILDING_KINDS,
    DEMO_PLAN,
    WASTE,
    PlacementPlan,
)
from beffroi.timeutil import now_ms

METRES_PER_DEGREE_LAT = 111_320.0
ROADSIDE_AIR_SHARE = 0.5  # half of the air stations are roadside ("traffic") stations

LABELS = {
    "WasteContainer": "Conteneur",
    "OffStreetParking": "Parking",
    "ParkingSpot": "Place",
    "TrafficFlowObserved": "Compteur routier",
    "AirQualityObserved": "Station air",
    "WeatherObserved": "Station météo",
    "WaterQualityObserved": "Station eau",
    "Building": "Bâtiment",
    "EVChargingStation": "Borne IRVE",
}


def _counts(plan: PlacementPlan) -> dict[str, int]:
    return {
        "WasteContainer": plan.waste_containers,
        "OffStreetParking": plan.car_parks,
        "ParkingSpot": plan.parking_spots,
        "TrafficFlowObserved": plan.traffic_counters,
        "AirQualityObserved": plan.air_stations,
        "WeatherObserved": plan.weather_stations,
        "WaterQualityObserved": plan.water_stations,
        "Building": plan.buildings,
        "EVChargingStation": plan.ev_stations,
    }


def _properties(type_name: str, u: float, plan: PlacementPlan) -> dict[str, Any]:
    props: dict[str, Any] = {"simulated": True}
    if type_name == "WasteContainer":
        q = WASTE.data["capacity_l_quantiles"]
        props["capacity_l"] = round(float(np.interp(u, (0.1, 0.5, 0.9), q)))
    elif type_name == "OffStreetParking":
        low, high = plan.car_park_spots
        props["total_spots"] = int(low + (high - low) * u)
    elif type_name == "EVChargingStation":
        low, high = plan.ev_points
        props["capacity"] = int(low + (high - low + 1) * u * 0.999)
    elif type_name == "AirQualityObserved":
        props["station_kind"] = "traffic" if u < ROADSIDE_AIR_SHARE else "background"
    elif type_name == "Building":
        kind = BUILDING_KINDS[int(u * len(BUILDING_KINDS) * 0.999)]
        props["building_kind"] = kind.name
        smallest, largest = kind.area_m2
        props["area_m2"] = round(smallest + (largest - smallest) * ((u * 7.0) % 1.0))
    return props


def synthetic_assets(code: str, anchors: Sequence[tuple[float, float]], seed: int,
                     plan: PlacementPlan = DEMO_PLAN) -> list[dict[str, Any]]:
    """Asset rows (as ``repository.upsert_assets`` takes them) placed near the anchors."""
    if not anchors:
        raise ValueError("no anchor points to place synthetic assets near")
    points = np.array(anchors, dtype=np.float64)
    rows: list[dict[str, Any]] = []
    for type_name, count in _counts(plan).items():
        if count <= 0:
            continue
        local = [f"sim-{i + 1:04d}" for i in range(count)]
        gen = seeding.rng(seed, "placement", type_name)
        picks = gen.integers(0, len(points), count)
        angle = gen.uniform(0, 2 * math.pi, count)
        dist = gen.uniform(0, plan.jitter_m, count)
        u = seeding.uniform(seed, f"placement:{type_name}", local)
        for i in range(count):
            lon0, lat0 = points[picks[i]]
            lat = lat0 + dist[i] * math.sin(angle[i]) / METRES_PER_DEGREE_LAT
            lon = lon0 + dist[i] * math.cos(angle[i]) / (
                METRES_PER_DEGREE_LAT * math.cos(math.radians(lat0))
            )
            rows.append(point_asset_row(
                f"urn:ngsi-ld:{type_name}:{code}:{local[i]}", type_name, round(lon, 7),
                round(lat, 7), name=f"{LABELS[type_name]} {local[i]} (simulé)",
                properties=_properties(type_name, float(u[i]), plan)))
    return rows


def place(services: Any, code: str, seed: int, plan: PlacementPlan = DEMO_PLAN) -> int:
    """Place the plan's synthetic assets near the territory's lamps; returns how many."""
    tid = services.registry.territory_id(code)
    with services.store.read() as conn:
        anchors = [(float(r.lon), float(r.lat)) for r in
                   repo.assets_in_box(conn, tid, repo.AssetFilter(type="Streetlight"))]
    if not anchors:
        row = services.registry.territory_row(code)
        if row.center_lon is None:
            raise ValueError(f"territory {code!r} has no lamps and no centre to place assets")
        anchors = [(float(row.center_lon), float(row.center_lat))]
    rows = synthetic_assets(code, anchors, seed, plan)
    with services.store.write() as conn:
        created, _updated, _same = repo.upsert_assets(conn, tid, rows, now_ms())
        services.store.note_growth(conn, "assets", created)
    return created
