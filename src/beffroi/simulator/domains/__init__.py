"""Per-domain generators. Each takes the assets of its types and, tick after tick, the city's
conditions (weather, traffic, air episodes), and emits readings for the metrics its types
declare. ``DOMAINS`` lists them in the order they run."""

from __future__ import annotations

from beffroi.simulator.domains.base import Conditions, Context, Domain
from beffroi.simulator.domains.energy import Buildings, EVCharging
from beffroi.simulator.domains.environment import AirStations, WeatherStations
from beffroi.simulator.domains.lighting import Lighting
from beffroi.simulator.domains.parking import CarParks, ParkingSpots
from beffroi.simulator.domains.traffic import TrafficCounters
from beffroi.simulator.domains.waste import WasteContainers
from beffroi.simulator.domains.water import WaterStations

DOMAINS: tuple[type[Domain], ...] = (
    Lighting, WasteContainers, CarParks, ParkingSpots, TrafficCounters, AirStations,
    WeatherStations, WaterStations, Buildings, EVCharging,
)
SIMULATED_TYPES = frozenset(t for d in DOMAINS for t in d.types)

__all__ = ["DOMAINS", "SIMULATED_TYPES", "Conditions", "Context", "Domain"]
