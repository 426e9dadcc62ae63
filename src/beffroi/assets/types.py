"""The catalogue of asset types, declared as data: FIWARE Smart Data Models type names, their
domain and default control post, and the metrics each type reports (attribute names from the
models, units as UN/CEFACT codes, as the models use them).

A reading for a metric that the asset's type declares creates its series on first use; other
metrics must be declared explicitly for the asset (``POST .../series``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["number", "state"]

# UN/CEFACT Common Codes used by the catalogue, with a human label.
UNITS: dict[str, str] = {
    "WTT": "W",
    "KWT": "kW",
    "KWH": "kWh",
    "VLT": "V",
    "AMP": "A",
    "CEL": "°C",
    "P1": "%",
    "C62": "1",
    "GQ": "µg/m³",
    "MMT": "mm",
    "CMT": "cm",
    "MTS": "m/s",
    "KMH": "km/h",
    "A97": "hPa",
    "M1": "mg/L",
    "G42": "µS/cm",
    "Q30": "pH",
    "NTU": "NTU",  # nephelometric turbidity unit (no UN/CEFACT code exists)
    "KGM": "kg",
    "LTR": "L",
    "": "",  # state series carry no unit
}


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: str
    kind: Kind = "number"
    description: str = ""


@dataclass(frozen=True, slots=True)
class AssetType:
    name: str
    domain: str
    control_post: str
    description: str
    metrics: tuple[Metric, ...] = field(default_factory=tuple)

    def metric(self, name: str) -> Metric | None:
        for m in self.metrics:
            if m.name == name:
                return m
        return None


def _state(name: str, description: str) -> Metric:
    return Metric(name, "", "state", description)


DOMAINS = ("lighting", "mobility", "environment", "water", "waste", "energy", "security")
CONTROL_POSTS = (
    "security",
    "police",
    "supervision",
    "traffic",
    "citizen",
    "snow",
    "lighting",
    "waste",
    "water",
)

_TYPES = (
    AssetType(
        "Streetlight", "lighting", "lighting", "A public-lighting lamp (luminaire).",
        (
            _state("powerState", "on | off"),
            Metric("illuminanceLevel", "C62", description="dimming level, 0 to 1"),
            Metric("activePower", "WTT", description="electric power drawn"),
            _state("status", "ok | defectiveLamp | columnIssue | brokenLantern"),
        ),
    ),
    AssetType(
        "StreetlightControlCabinet", "lighting", "lighting",
        "A lighting control cabinet (armoire) feeding a group of lamps.",
        (
            Metric("energyConsumed", "KWH", description="energy metered since the last reading"),
            Metric("activePower", "KWT"),
            Metric("voltage", "VLT"),
            Metric("intensity", "AMP", description="current"),
            _state("powerState", "on | off | tripped"),
            _state("status", "ok | fault"),
        ),
    ),
    AssetType(
        "WasteContainer", "waste", "waste", "A waste container or litter bin.",
        (
            Metric("fillingLevel", "C62", description="fill level, 0 (empty) to 1 (full)"),
            Metric("temperature", "CEL"),
            Metric("weight", "KGM"),
            _state("status", "ok | lidOpen | dropped | burning | overflowing"),
        ),
    ),
    AssetType(
        "ParkingSpot", "mobility", "traffic", "A single on-street parking spot.",
        (_state("status", "free | occupied | closed | unknown"),),
    ),
    AssetType(
        "OffStreetParking", "mobility", "traffic", "A car park.",
        (
            Metric("availableSpotNumber", "C62"),
            Metric("occupiedSpotNumber", "C62"),
            Metric("occupancy", "C62", description="occupied share, 0 to 1"),
            _state("status", "open | closed | full"),
        ),
    ),
    AssetType(
        "AirQualityObserved", "environment", "supervision", "An air-quality monitoring station.",
        (
            Metric("no2", "GQ"),
            Metric("pm10", "GQ"),
            Metric("pm25", "GQ"),
            Metric("o3", "GQ"),
            Metric("no", "GQ"),
            Metric("co2", "C62", description="ppm"),
            Metric("temperature", "CEL"),
            Metric("relativeHumidity", "P1"),
        ),
    ),
    AssetType(
        "WeatherObserved", "environment", "supervision", "A weather station.",
        (
            Metric("temperature", "CEL"),
            Metric("precipitation", "MMT"),
            Metric("windSpeed", "MTS"),
            Metric("relativeHumidity", "P1"),
            Metric("atmosphericPressure", "A97"),
            Metric("snowHeight", "CMT"),
        ),
    ),
    AssetType(
        "WaterQualityObserved", "water", "water", "A water-quality monitoring station.",
        (
            Metric("pH", "Q30"),
            Metric("turbidity", "NTU"),
            Metric("freeChlorine", "M1"),
            Metric("conductivity", "G42"),
            Metric("temperature", "CEL"),
        ),
    ),
    AssetType(
        "TrafficFlowObserved", "mobility", "traffic",
        "A traffic counter (a counted road section).",
        (
            Metric("intensity", "C62", description="vehicles counted in the hour"),
            Metric("occupancy", "P1", description="share of time the loop is occupied"),
            Metric("averageVehicleSpeed", "KMH"),
            _state("trafficState", "free | pre-saturated | saturated | blocked | unknown"),
        ),
    ),
    AssetType(
        "TrafficSignal", "mobility", "traffic", "A traffic-light controller.",
        (
            _state("status", "operational | fault | flashing | off"),
            _state("plan", "name of the active signal plan"),
        ),
    ),
    AssetType(
        "EVChargingStation", "energy", "lighting", "An electric-vehicle charging station.",
        (
            Metric("availableCapacity", "C62", description="free charging points"),
            Metric("activePower", "KWT"),
            Metric("energyConsumed", "KWH"),
            _state("status", "available | charging | outOfService"),
        ),
    ),
    AssetType(
        "Building", "energy", "lighting", "A public building with energy meters.",
        (
            Metric("activePower", "KWT"),
            Metric("energyConsumed", "KWH"),
            Metric("temperature", "CEL"),
            Metric("occupancy", "C62", description="people present"),
        ),
    ),
    AssetType(
        "Camera", "security", "security",
        "A video camera, supervised as equipment only (no images are processed).",
        (_state("status", "online | offline | tampered"),),
    ),
)

ASSET_TYPES: dict[str, AssetType] = {t.name: t for t in _TYPES}


def get_type(name: str) -> AssetType | None:
    return ASSET_TYPES.get(name)
