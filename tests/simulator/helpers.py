"""Helpers of the simulator tests: small cities around Nantes, runs over a few days."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from beffroi.simulator.engine import Reading, Simulator, Territory
from beffroi.simulator.models import FaultSpec, SimAsset

NANTES = Territory("nantes", "Europe/Paris", -1.5536, 47.2184)
PARIS = ZoneInfo("Europe/Paris")
CITY_TYPES = (
    "WasteContainer", "OffStreetParking", "ParkingSpot", "TrafficFlowObserved",
    "AirQualityObserved", "WeatherObserved", "WaterQualityObserved", "Building",
    "EVChargingStation",
)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=PARIS).timestamp() * 1000)


def asset(type_name: str, local: str, lon: float = -1.5536, lat: float = 47.2184,
          parent: str | None = None, **props: Any) -> SimAsset:
    return SimAsset(f"urn:ngsi-ld:{type_name}:nantes:{local}", type_name, lon, lat, props,
                    parent)


def lighting(cabinets: int = 6, lamps_per_cabinet: int = 5) -> list[SimAsset]:
    """Cabinets spread over the metropolis (west to east), lamps around each; every third
    lamp an LED with its power given, the others drawn from the Nantes sample."""
    out: list[SimAsset] = []
    for c in range(cabinets):
        lon = -1.80 + 0.4 * c / max(1, cabinets - 1)
        lat = 47.12 + 0.2 * ((c * 7) % cabinets) / max(1, cabinets)
        cab = asset("StreetlightControlCabinet", f"C{c}", lon, lat)
        out.append(cab)
        for k in range(lamps_per_cabinet):
            props: dict[str, Any] = {"lamp_type": "LED", "power_w": 40} if k % 3 == 0 else {}
            out.append(asset("Streetlight", f"C{c}-L{k}", lon + 0.001 * k, lat, cab.urn,
                             **props))
    return out


def city(per_type: int = 3) -> list[SimAsset]:
    out = lighting(2, 3)
    for t in CITY_TYPES:
        out.extend(asset(t, f"{t[:3].lower()}{i}") for i in range(per_type))
    return out


def simulate(assets: Iterable[SimAsset], start: str, days: float, seed: int = 7,
             faults: FaultSpec | None = None) -> tuple[Simulator, list[Reading]]:
    sim = Simulator(NANTES, list(assets), seed=seed, start_ms=ms(start), faults=faults)
    readings = sim.run(sim.now_ms + int(days * 86_400_000))
    return sim, readings


def of(readings: Iterable[Reading], metric: str, type_name: str | None = None
       ) -> list[Reading]:
    return [r for r in readings if r["metric"] == metric
            and (type_name is None or f":{type_name}:" in r["asset"])]
