"""Types of the indicators package (no storage, no behaviour beyond small helpers).

An :class:`Indicator` is a parsed, validated definition (see ``definitions.py`` and
docs/indicators.md); a :class:`Window` is one period of one indicator; a :class:`Value` is the
result of computing an indicator over a window, with its :class:`Lineage`. Contracts group
indicators with yearly targets and penalties; a :class:`ContractReport` is what the report
renderer (``report.py``) turns into HTML and PDF.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PERIODS = ("day", "week", "month", "year", "contract_year")
COMPARATORS = ("<=", ">=", "<", ">", "==")

# The small audited set of aggregations (docs/indicators.md gives each formula).
SERIES_AGGREGATIONS = (
    "sum",  # Σ of the readings' values
    "mean",  # Σ values / Σ readings (reading-weighted), optionally per series then reduced
    "ratio_of_sums",  # Σ numerator / Σ denominator × scale
    "share_of_time_in_state",  # time-weighted share of time in given states (hour resolution)
    "count_buckets_above",  # hours or local days whose statistic passes a limit
    "share_of_buckets_within",  # share of hours whose readings all lie within [low, high]
    "share_of_buckets_with_data",  # share of hours with at least one reading
    "sum_of_drops",  # count and size of resets of a level (e.g. a container emptied)
    "baseline_lighting",  # nominal power × dusk-to-dawn hours (the savings baseline)
)
INCIDENT_AGGREGATIONS = (
    "count",  # number of incidents reported in the window
    "percentile_of_durations",  # p-th percentile of delays between two steps
    "share_within",  # share of incidents whose delay is within the SLA or a limit
)
PLATFORM_AGGREGATIONS = (
    "platform_availability",  # minutes with a heartbeat of the platform / minutes
    "footprint",  # kWh or kgCO2e of a footprint component (see footprint.py)
)
COMBINED_AGGREGATIONS = (
    "difference",  # value of indicator A − value of indicator B over the same window
    "ratio",  # A / B × scale
)
AGGREGATIONS = (SERIES_AGGREGATIONS + INCIDENT_AGGREGATIONS + PLATFORM_AGGREGATIONS
                + COMBINED_AGGREGATIONS)
STEPS = ("reported", "acknowledged", "dispatched", "on_site", "resolved", "closed")


@dataclass(frozen=True)
class SeriesSelection:
    """Which series an indicator reads: assets by type, domain, area or URN, and a metric."""

    metric: str
    types: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    assets: frozenset[str] = frozenset()
    area: dict[str, Any] | None = None  # GeoJSON Polygon / MultiPolygon


@dataclass(frozen=True)
class IncidentSelection:
    categories: frozenset[str] = frozenset()
    posts: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()  # alarm | operator | resident


@dataclass(frozen=True)
class Target:
    value: float
    comparator: str  # one of COMPARATORS: the value meets the target when `value <cmp> target`

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        t = self.value
        return {"<=": value <= t, ">=": value >= t, "<": value < t, ">": value > t,
                "==": value == t}[self.comparator]


@dataclass(frozen=True)
class Indicator:
    code: str
    name: dict[str, str]  # language → text
    description: str
    source: str  # where the formula, limit or target comes from
    unit: str
    period: str  # default period
    aggregate: str  # one of AGGREGATIONS
    params: dict[str, Any]  # the aggregation's parameters, validated
    series: SeriesSelection | None = None
    denominator: SeriesSelection | None = None  # ratio_of_sums
    incidents: IncidentSelection | None = None
    inputs: tuple[str, ...] = ()  # difference / ratio: codes of the indicators combined
    target: Target | None = None
    active: bool = True
    definition: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    version: str = ""  # SHA-256 of the canonical definition (without `active`)

    def label(self, locale: str = "fr") -> str:
        return self.name.get(locale) or self.name.get("en") or self.code


@dataclass(frozen=True)
class Window:
    """One period: [start_ms, end_ms) in UTC, aligned on the territory's local calendar."""

    period: str
    label: str  # 2026-11-22 | 2026-W47 | 2026-11 | 2026 | C2026 (contract year starting 2026)
    start_ms: int
    end_ms: int


@dataclass
class Lineage:
    """Everything a value was made from, in a form that can be stored and explained."""

    indicator: str
    version: str
    aggregate: str
    window: dict[str, Any]  # period, label, start/end (UTC ms and local ISO), time zone
    inputs: dict[str, Any]  # e.g. {"series": 3255, "readings": 412345, "hours": 720,
    #                            "series_ids_sha256": "...", "incidents": [ids]}
    figures: dict[str, Any]  # intermediate figures: numerator, denominator, per-series…
    sources: dict[str, str]  # "rollup_day", "incidents", …: what tables were read
    software_version: str
    inputs_hash: str  # SHA-256 of the canonical inputs (what recomputation must find again)

    def to_dict(self) -> dict[str, Any]:
        return {"indicator": self.indicator, "version": self.version,
                "aggregate": self.aggregate, "window": self.window, "inputs": self.inputs,
                "figures": self.figures, "sources": self.sources,
                "software_version": self.software_version, "inputs_hash": self.inputs_hash}


@dataclass
class Value:
    code: str
    version: str
    window: Window
    value: float | None
    unit: str
    target: float | None
    comparator: str | None
    met: bool | None
    lineage: Lineage
    computed_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {"indicator": self.code, "version": self.version,
                "period": self.window.period, "label": self.window.label,
                "start_ms": self.window.start_ms, "end_ms": self.window.end_ms,
                "value": self.value, "unit": self.unit, "target": self.target,
                "comparator": self.comparator, "met": self.met,
                "inputs_hash": self.lineage.inputs_hash,
                "software_version": self.lineage.software_version,
                "computed_ms": self.computed_ms}


# --- contracts and their reports --------------------------------------------------------------


@dataclass(frozen=True)
class Penalty:
    """``per_unit`` euros for each ``step`` of the value's shortfall from the target
    (``rounding``: exact, up or down to whole steps), capped at ``cap``."""

    per_unit: float
    step: float = 1.0
    cap: float | None = None
    rounding: str = "exact"


@dataclass(frozen=True)
class Clause:
    ref: str  # the clause number in the contract (e.g. "art. 12.3")
    indicator: str
    targets: dict[int, float]  # contract year (1-based) → target
    comparator: str
    penalty: Penalty | None


@dataclass(frozen=True)
class Contract:
    code: str
    title: str
    parties: tuple[str, ...]
    start: str  # ISO date of the start of contract year 1 (local calendar)
    years: int
    clauses: tuple[Clause, ...]
    definition: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    version: str = ""


@dataclass
class ReportLine:
    """One clause of a contract report: the figure and its explanation."""

    clause: str  # "art. 12.3"
    indicator: str  # code
    name: str  # in the report's language
    unit: str
    comparator: str
    target: float | None
    achieved: float | None
    gap: float | None  # achieved − target, signed (None when either is missing)
    met: bool | None
    penalty_eur: float  # 0 when met or no penalty clause
    explanation: str  # plain words, in the report's language (see explain.py)
    history: list[tuple[str, float | None]]  # (label, value) of the previous periods, for a chart
    version: str  # definition version (short hash shown, full in the appendix)
    inputs_hash: str


@dataclass
class ContractReport:
    territory: str  # display name
    territory_code: str
    contract: str  # code
    title: str
    parties: list[str]
    period_label: str  # "C2026" or "2026-11"…
    year_index: int | None  # contract year (1-based) when the period is a contract year
    start_local: str  # ISO local date-times of the window
    end_local: str
    lines: list[ReportLine]
    total_penalty_eur: float
    generated_ms: int
    software_version: str
    locale: str  # "fr" | "en"
    time_zone: str
    footprint: list[dict[str, Any]] = field(default_factory=list)
    # net balance per domain: {"domain", "savings_kwh", "footprint_kwh", "net_kwh",
    #                          "savings_kgco2e", "footprint_kgco2e", "net_kgco2e"}
