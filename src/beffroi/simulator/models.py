"""The simulated city's types and calibration, declared as data (no storage, no behaviour).

Every number a generator uses lives here, in one table per domain, with where it comes from:
either a table derived from a real open-data file (``calibration/*.json``, written by
``calibration/derive.py``), or a cited reference value. Where no public figure was found the
value is marked as an assumption, to be tuned per territory. ``docs/simulator.md`` lists the
same sources for readers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from beffroi.errors import ConfigError

TICK_S = 600  # the simulator's base step: every periodic reading is aligned on it
TICK_MS = TICK_S * 1000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


# --- simulated assets and faults ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimAsset:
    """An asset as the simulator sees it: what it needs to generate readings."""

    urn: str
    type: str
    lon: float
    lat: float
    properties: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Faults injected on purpose, so that rules have something to catch.

    ``silent`` and ``stuck`` are shares of the assets (a device that stops reporting, a sensor
    that repeats its last value); ``out_of_range`` is a share of the numeric readings, replaced
    by a physically impossible value (see ``VALID_RANGES``). A faulty device stays faulty from
    its onset, drawn uniformly within the first ``onset_window_s`` of the run.
    """

    silent: float = 0.0
    stuck: float = 0.0
    out_of_range: float = 0.0
    onset_window_s: int = 24 * 3600

    @classmethod
    def parse(cls, text: str | None) -> FaultSpec:
        """``silent=0.01,stuck=0.01,out_of_range=0.001`` (shares between 0 and 1)."""
        if not text:
            return cls()
        values: dict[str, float] = {}
        for part in text.split(","):
            name, sep, raw = part.partition("=")
            name = name.strip()
            if not sep or name not in ("silent", "stuck", "out_of_range"):
                raise ConfigError(
                    f"fault {part.strip()!r}: expected silent=, stuck= or out_of_range= "
                    "followed by a share between 0 and 1"
                )
            try:
                share = float(raw)
            except ValueError as exc:
                raise ConfigError(f"fault {name}: {raw!r} is not a number") from exc
            if not 0.0 <= share <= 1.0:
                raise ConfigError(f"fault {name}: {share} is not between 0 and 1")
            values[name] = share
        return cls(silent=values.get("silent", 0.0), stuck=values.get("stuck", 0.0),
                   out_of_range=values.get("out_of_range", 0.0))

    @property
    def any(self) -> bool:
        return self.silent > 0 or self.stuck > 0 or self.out_of_range > 0


# Physically possible values per (asset type, metric). An out-of-range fault writes a value
# outside these bounds; the rules engine can use the same table to flag such readings.
VALID_RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("Streetlight", "activePower"): (0.0, 1000.0),
    ("Streetlight", "illuminanceLevel"): (0.0, 1.0),
    ("StreetlightControlCabinet", "energyConsumed"): (0.0, 100.0),
    ("StreetlightControlCabinet", "activePower"): (0.0, 100.0),
    ("StreetlightControlCabinet", "voltage"): (180.0, 260.0),
    ("WasteContainer", "fillingLevel"): (0.0, 1.0),
    ("OffStreetParking", "occupancy"): (0.0, 1.0),
    ("OffStreetParking", "occupiedSpotNumber"): (0.0, 5000.0),
    ("OffStreetParking", "availableSpotNumber"): (0.0, 5000.0),
    ("TrafficFlowObserved", "intensity"): (0.0, 10000.0),
    ("TrafficFlowObserved", "occupancy"): (0.0, 100.0),
    ("AirQualityObserved", "no2"): (0.0, 1000.0),
    ("AirQualityObserved", "pm10"): (0.0, 1500.0),
    ("AirQualityObserved", "pm25"): (0.0, 1000.0),
    ("WeatherObserved", "temperature"): (-40.0, 50.0),
    ("WeatherObserved", "precipitation"): (0.0, 60.0),
    ("WeatherObserved", "windSpeed"): (0.0, 60.0),
    ("WeatherObserved", "snowHeight"): (0.0, 300.0),
    ("WaterQualityObserved", "pH"): (0.0, 14.0),
    ("WaterQualityObserved", "turbidity"): (0.0, 1000.0),
    ("WaterQualityObserved", "freeChlorine"): (0.0, 10.0),
    ("WaterQualityObserved", "conductivity"): (0.0, 5000.0),
    ("Building", "activePower"): (0.0, 5000.0),
    ("Building", "energyConsumed"): (0.0, 1000.0),
    ("Building", "temperature"): (-10.0, 45.0),
    ("Building", "occupancy"): (0.0, 10000.0),
    ("EVChargingStation", "availableCapacity"): (0.0, 100.0),
    ("EVChargingStation", "activePower"): (0.0, 1000.0),
    ("EVChargingStation", "energyConsumed"): (0.0, 200.0),
}


# --- tables derived from real files ------------------------------------------------------------


@cache
def table(name: str) -> dict[str, Any]:
    """A calibration table shipped in ``beffroi/simulator/calibration`` (see derive.py)."""
    item = resources.files("beffroi.simulator.calibration").joinpath(name)
    try:
        data: dict[str, Any] = json.loads(item.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            f"calibration table {name} missing from the package (package data not installed?)"
        ) from exc
    return data


@dataclass(frozen=True, slots=True)
class Reference:
    """A cited value: what it is, and where it comes from."""

    value: float
    source: str


# --- lighting ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LampTechnology:
    """Lifetime and electrical behaviour of one lamp technology (codes of the Nantes file).

    Lifetimes are Weibull laws in *burning* hours, fitted to published mortality points;
    ``relamping_h`` is the group-replacement cycle (a lamp's age at the start of a run is drawn
    uniformly within it). ``telemanaged`` lamps carry a node that reports power and dimming.
    """

    code: str
    label: str
    weibull_shape: float
    weibull_scale_h: float
    relamping_h: float
    control_gear_loss: float
    telemanaged: bool
    source: str


LAMP_TECHNOLOGIES: dict[str, LampTechnology] = {
    t.code: t
    for t in (
        LampTechnology(
            "SHP", "high-pressure sodium", 3.37, 31_200, 16_400, 0.12, False,
            "Weibull through 10 % failed at 16,000 h and 50 % at 28,000 h (published SON-T "
            "mortality curves); relamping every 4 years of 4,100 h; magnetic ballast losses "
            "10-15 % for 70-150 W HID lamps",
        ),
        LampTechnology(
            "LED", "LED luminaire", 1.5, 224_000, 100_000, 0.0, True,
            "10 % abrupt failures at 50,000 h (C10 declarations under IEC 62717, "
            "LightingEurope guidance 2018), shape 1.5 for early electronic failures; driver "
            "losses are included in the luminaire's rated power",
        ),
        LampTechnology(
            "IM", "metal halide", 3.0, 16_950, 12_300, 0.12, False,
            "50 % failed at 15,000 h (published ceramic metal-halide ratings), shape 3",
        ),
        LampTechnology(
            "IMC", "ceramic metal halide", 3.0, 16_950, 12_300, 0.12, False,
            "50 % failed at 15,000 h (published ceramic metal-halide ratings), shape 3",
        ),
        LampTechnology(
            "MBF", "high-pressure mercury", 3.0, 18_080, 16_400, 0.12, False,
            "50 % failed at 16,000 h (published HPL ratings), shape 3",
        ),
        LampTechnology(
            "TF", "fluorescent", 3.0, 13_560, 12_300, 0.10, False,
            "50 % failed at 12,000 h (published compact-fluorescent ratings), shape 3",
        ),
    )
}
DEFAULT_TECHNOLOGY = "SHP"


@dataclass(frozen=True, slots=True)
class LightingCalibration:
    annual_burning_h: Reference = Reference(
        4_100, "ADEME / AFE: a French public-lighting point burns about 4,100 hours a year"
    )
    # Photocells switch the cabinet when the sun is this far below the horizon; each cabinet
    # gets one level of the range (steps of 0.5 degree), so cabinets do not all switch at once.
    switch_elevation_deg: tuple[float, float] = (-4.0, -1.0)
    switch_elevation_step_deg: float = 0.5
    lamp_switch_jitter_s: int = 30  # relay and node reporting delay, per lamp and night
    dimming_start_local_h: float = 23.0
    dimming_end_local_h: float = 5.0
    dimming_level: Reference = Reference(
        0.5, "typical 'abaissement de puissance' programme of French energy syndicates: "
        "LED lamps at 50 % from 23:00 to 05:00"
    )
    repair_median_h: Reference = Reference(
        72.0, "typical contractual delay to replace an isolated lamp in French maintenance "
        "contracts (48-72 h)"
    )
    repair_log_sd: float = 0.5
    cabinet_trips_per_year: Reference = Reference(
        1.0, "assumption (no public statistic found): about one residual-current trip per "
        "cabinet and year, three times as likely while it rains; tune per territory"
    )
    trip_rain_factor: float = 3.0
    cabinet_reset_median_h: Reference = Reference(24.0, "assumption: reset within a day")
    cabinet_reset_log_sd: float = 0.6
    energy_every_s: int = 600  # cabinets meter energy every tick
    electrical_every_s: int = 3600  # and report power and voltage every hour
    nominal_voltage_v: Reference = Reference(230.0, "EN 50160: 230 V, +/- 10 %")
    voltage_sd_v: float = 2.0
    voltage_drop_at_full_load_v: float = 4.0


LIGHTING = LightingCalibration()


def lamp_power_distribution() -> list[tuple[str, float, int]]:
    """(technology, nominal power W, count) of the Nantes luminaire sample."""
    return [(str(t), float(p), int(n)) for t, p, n in table("nantes_lamps.json")["lamps"]]


# --- waste -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WasteCalibration:
    """Fill rates, their daily and weekly shape and collection rounds: Edinburgh's sensors."""

    missed_collection: Reference = Reference(
        0.05, "assumption: one scheduled collection in twenty is missed (so bins overflow)"
    )
    fill_noise_log_sd: float = 0.3  # tick-to-tick variation of deposits (assumption)
    collection_residual: float = 0.02  # what stays in a bin after emptying (sensor noise)
    start_fill_max: float = 0.6  # warm start: fill levels drawn uniformly below this

    @property
    def data(self) -> dict[str, Any]:
        return table("edinburgh_waste.json")


WASTE = WasteCalibration()


# --- parking -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParkingCalibration:
    """Occupancy curves of city-centre car parks and on-street spots (share occupied)."""

    source: str = (
        "shape typical of French city-centre public car parks (morning rise, midday plateau, "
        "evening decline; Saturday afternoon peak; quiet Sunday), as seen in the real-time "
        "availability feeds cities publish (e.g. Nantes Métropole's 'parkings publics' feed); "
        "not fitted to a file shipped here"
    )
    weekday: tuple[float, ...] = (
        0.12, 0.10, 0.09, 0.09, 0.09, 0.11, 0.18, 0.35, 0.58, 0.74, 0.82, 0.85,
        0.84, 0.83, 0.85, 0.84, 0.80, 0.74, 0.62, 0.48, 0.36, 0.27, 0.20, 0.15,
    )
    saturday: tuple[float, ...] = (
        0.18, 0.15, 0.12, 0.10, 0.09, 0.09, 0.10, 0.14, 0.25, 0.45, 0.66, 0.80,
        0.84, 0.86, 0.92, 0.95, 0.93, 0.86, 0.72, 0.55, 0.42, 0.33, 0.26, 0.21,
    )
    sunday: tuple[float, ...] = (
        0.18, 0.15, 0.12, 0.10, 0.09, 0.08, 0.08, 0.09, 0.11, 0.16, 0.24, 0.32,
        0.36, 0.38, 0.42, 0.45, 0.44, 0.40, 0.34, 0.28, 0.22, 0.18, 0.15, 0.13,
    )
    peak_factor_range: tuple[float, float] = (0.7, 1.05)  # car parks differ in popularity
    noise_sd: float = 0.03  # share of capacity, AR(1) from tick to tick
    noise_persistence: float = 0.9
    full_margin_spots: int = 3  # status "full" when fewer spots than this are left
    spot_mean_stay_h: Reference = Reference(
        1.5, "on-street paid parking: average stays of 1-2 h in French city centres (Cerema)"
    )


PARKING = ParkingCalibration()


# --- traffic -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrafficCalibration:
    """Hourly flow and occupancy of counters: the Paris permanent counter's profiles."""

    report_every_s: int = 3600  # counts are hourly, as in the Paris file
    counter_scale_range: tuple[float, float] = (0.3, 1.3)  # flow relative to the Champs-Élysées
    incident_per_day: Reference = Reference(
        0.02, "assumption: one congestion incident per counter every fifty days"
    )
    incident_occupancy_factor: float = 2.5
    incident_flow_factor: float = 0.6
    incident_hours: tuple[int, int] = (1, 3)

    @property
    def data(self) -> dict[str, Any]:
        return table("paris_traffic.json")


TRAFFIC = TrafficCalibration()
TRAFFIC_STATES = ("free", "pre-saturated", "saturated", "blocked")


# --- weather -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WeatherCalibration:
    """Daily weather from Paris-Montsouris statistics, spread over the day."""

    warmest_local_h: float = 15.0  # diurnal cycle: a cosine between the minimum and maximum
    coldest_local_h: float = 6.0
    wind_mean_ms: Reference = Reference(
        4.0, "Météo-France normals, Nantes-Bouguenais: mean 10-minute wind about 4 m/s"
    )
    wind_weibull_shape: Reference = Reference(
        2.0, "Weibull shape 2 (Rayleigh), usual for surface wind (Justus et al., 1978)"
    )
    wind_lag1: float = 0.6  # day-to-day persistence of the daily mean wind (assumption)
    wind_gust_sd: float = 0.25  # relative 10-minute variation around the daily mean
    rain_hours_range: tuple[int, int] = (2, 10)  # a wet day's rain falls in one spell
    snow_below_c: Reference = Reference(
        1.0, "precipitation falls as snow below about 1 °C (common rain/snow partition)"
    )
    snow_cm_per_mm: Reference = Reference(1.0, "fresh snow: 10:1 ratio, 1 mm water = 1 cm")
    melt_cm_per_degree_day: Reference = Reference(
        4.0, "degree-day melt factors of 3-8 mm water per °C per day (Hock, 2003), times 10"
    )
    station_offset_sd_c: float = 0.7  # urban heat island and siting, per station

    @property
    def data(self) -> dict[str, Any]:
        return table("paris_weather.json")


WEATHER = WeatherCalibration()


# --- air quality -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AirCalibration:
    """Concentrations (µg/m³) at urban-background stations, and how they vary."""

    report_every_s: int = 3600  # hourly, as regulatory monitoring networks publish
    no2_mean: Reference = Reference(
        18.0, "Air Pays de la Loire annual reports: Nantes urban background NO2 about "
        "15-20 µg/m³ (2019-2023)"
    )
    pm10_mean: Reference = Reference(
        16.0, "Air Pays de la Loire annual reports: Nantes PM10 about 15-17 µg/m³"
    )
    pm25_ratio: Reference = Reference(
        0.6, "PM2.5/PM10 ratio of 0.6-0.7 at French urban background stations (LCSQA)"
    )
    traffic_station_factor: tuple[float, float] = (1.8, 1.2)  # NO2, PM10 at roadside stations
    no2_season: tuple[float, ...] = (  # Jan..Dec, typical of French urban stations (LCSQA)
        1.30, 1.25, 1.10, 0.95, 0.85, 0.78, 0.72, 0.72, 0.90, 1.05, 1.20, 1.30,
    )
    pm_season: tuple[float, ...] = (
        1.25, 1.25, 1.30, 1.10, 0.90, 0.85, 0.80, 0.80, 0.85, 0.95, 1.10, 1.25,
    )
    pm_traffic_share: float = 0.3  # share of PM10 that follows the traffic's daily cycle
    rain_washout: float = 0.8  # PM while it rains
    noise_log_sd: float = 0.15
    noise_persistence: float = 0.8
    episode_start_per_day_winter: Reference = Reference(
        0.025, "PM10 episodes (daily mean > 50 µg/m³) a few days a year in Nantes, mostly "
        "December-March (Air Pays de la Loire); start rate per day in those months"
    )
    episode_start_per_day_other: float = 0.004
    episode_days: tuple[int, int] = (1, 3)
    episode_pm_factor: float = 3.2
    episode_no2_factor: float = 1.5
    wind_dilution_exponent: float = 0.5  # concentration x (mean wind / wind) ** exponent

    @property
    def no2_shape(self) -> dict[str, list[float]]:
        data = table("paris_air.json")
        return {"weekday": data["no2_shape_weekday"], "weekend": data["no2_shape_weekend"]}


AIR = AirCalibration()
WINTER_MONTHS = (12, 1, 2, 3)


# --- water quality -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WaterCalibration:
    """Drinking-water quality in the network, within the French regulatory references."""

    source: str = (
        "Arrêté du 11 janvier 2007 (limits and references of quality: pH 6.5-9, turbidity "
        "<= 1 NTU at the tap, conductivity 200-1100 µS/cm); plan Vigipirate: free chlorine "
        ">= 0.3 mg/L at reservoir outlets, >= 0.1 mg/L at the tap"
    )
    ph_mean: float = 7.8
    ph_sd: float = 0.08
    turbidity_median_ntu: float = 0.15
    turbidity_log_sd: float = 0.35
    chlorine_mean_mg_l: tuple[float, float] = (0.2, 0.45)  # per station (distance to plant)
    chlorine_sd_mg_l: float = 0.03
    conductivity_mean_us_cm: tuple[float, float] = (380.0, 480.0)
    conductivity_sd_us_cm: float = 8.0
    noise_persistence: float = 0.9
    contamination_per_year: Reference = Reference(
        0.5, "assumption: a contamination or intrusion event every two years per station"
    )
    contamination_median_h: float = 6.0
    contamination_log_sd: float = 0.5
    contamination_turbidity_factor: float = 15.0
    contamination_chlorine_factor: float = 0.3
    contamination_conductivity_factor: float = 1.25
    contamination_ph_shift: float = -0.4


WATER = WaterCalibration()


# --- buildings and EV charging -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuildingKind:
    name: str
    area_m2: tuple[float, float]
    kwh_per_m2_year: float  # metered electricity
    open_weekday: tuple[float, float]  # local hours
    open_saturday: tuple[float, float] | None
    open_sunday: tuple[float, float] | None
    people_per_100m2: float
    base_load_share: float  # share of the mean power drawn when closed


BUILDING_SOURCE = (
    "electricity intensities of French tertiary buildings, order of magnitude (ADEME / CEREN "
    "'chiffres clés du bâtiment'): offices ~90, schools ~35, sports halls ~40, libraries ~70, "
    "swimming pools ~250 kWh/m²/year; opening hours typical of municipal buildings"
)
BUILDING_KINDS: tuple[BuildingKind, ...] = (
    BuildingKind("school", (2000, 6000), 35, (8, 17), None, None, 8.0, 0.25),
    BuildingKind("office", (1500, 8000), 90, (8, 18.5), None, None, 4.0, 0.35),
    BuildingKind("gymnasium", (1200, 3000), 40, (9, 22), (9, 19), (9, 13), 3.0, 0.2),
    BuildingKind("library", (800, 3000), 70, (10, 19), (10, 18), None, 5.0, 0.3),
    BuildingKind("swimming_pool", (2000, 4000), 250, (7, 21), (9, 19), (9, 13), 6.0, 0.7),
)


@dataclass(frozen=True, slots=True)
class BuildingCalibration:
    heating_share: float = 0.3  # share of electricity that heats, following degree-hours
    heating_base_c: float = 15.0  # degree-hours below this outdoor temperature
    indoor_occupied_c: float = 20.5
    indoor_setback_c: float = 17.0
    indoor_sd_c: float = 0.4
    noise_sd: float = 0.05  # relative, per tick


BUILDINGS = BuildingCalibration()


@dataclass(frozen=True, slots=True)
class EVCalibration:
    """Sessions at public AC chargers."""

    source: str = (
        "ElaadNL open charging-transaction data (public chargers, the Netherlands): arrivals "
        "peak in the morning and early evening; sessions of about 10 kWh over 2-4 hours; "
        "order of magnitude, not fitted to a file shipped here"
    )
    arrivals_per_point_day: float = 2.0
    arrival_weights: tuple[float, ...] = (
        0.5, 0.3, 0.2, 0.2, 0.2, 0.4, 1.2, 2.6, 3.6, 3.2, 2.6, 2.4,
        2.4, 2.3, 2.3, 2.4, 2.8, 3.2, 3.0, 2.4, 1.8, 1.3, 0.9, 0.6,
    )
    weekend_factor: float = 0.7
    duration_median_h: float = 2.5
    duration_log_sd: float = 0.7
    energy_median_kwh: float = 10.0
    energy_log_sd: float = 0.6
    point_power_kw: float = 22.0
    vehicle_power_kw: tuple[float, ...] = (7.4, 11.0, 22.0)  # on-board chargers
    out_of_service_per_year: float = 1.0
    repair_median_h: float = 48.0


EV = EVCalibration()


# --- synthetic placement (demo) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlacementPlan:
    """How many synthetic assets the demo places, and their static properties."""

    waste_containers: int = 400
    car_parks: int = 20
    parking_spots: int = 200
    traffic_counters: int = 40
    air_stations: int = 6
    weather_stations: int = 3
    water_stations: int = 10
    buildings: int = 60
    ev_stations: int = 80
    car_park_spots: tuple[int, int] = (150, 900)
    ev_points: tuple[int, int] = (2, 4)
    jitter_m: float = 25.0  # synthetic assets are placed near a real lamp (so on a street)


DEMO_PLAN = PlacementPlan()
