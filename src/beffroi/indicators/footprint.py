"""The platform's own footprint (digital sobriety): factors, overrides and the estimate.

Factors ship in ``defaults/footprint.yaml`` (each with its unit and source); a territory
overrides any of them (table ``footprint_factors``). :func:`estimate` turns measured inputs
into kWh and kgCO2e per domain and component over a window ``[start_ms, end_ms)``:

- ``devices_operating``: Σ over asset types of ``device.<T>.operating_w`` × device-hours / 1000,
  where an asset counts from ``max(start, created_ms)`` to ``end`` (assets created after the
  window are left out; deleted assets are gone from the registry and not counted);
- ``devices_embodied``: ``device.<T>.embodied_kgco2e`` and ``device.<T>.embodied_kwh`` ×
  device-hours / (``lifetime_years`` × 8766 h): linear amortisation, pro rata of the window.
  Its kgCO2e is the embodied carbon itself, not its kWh × carbon intensity;
- ``network``: readings in the window (one reading = one message: an upper bound, as devices
  often pack several readings in one uplink) × ``network.<n>.wh_per_message`` of the asset's
  network (its ``network`` property, else the type's default in ``networks:``) / 1000.
  Readings are counted from the rollups (day rollups for whole clean local days, hour rollups
  elsewhere, raw rows for hours not materialised or marked dirty), never loaded;
- ``storage``: measured bytes of the database (see :func:`measure_storage`) / 1e9 × months of
  the window (30.4375 days each) × ``storage.wh_per_gb_month`` × ``storage.replicas`` ×
  ``server.pue`` / 1000. Time-series tables are attributed to (territory, domain) by the share
  of the installation's readings of the window (by series count when there were none); the
  other tables to the territory by its share of the installation's series, under the domain
  ``platform``. The size is the one measured now (sizes are not historised);
- ``compute``: Σ ``cpu_s`` of ``platform_samples`` in the window × ``server.w_per_busy_core``
  / 3600 × ``server.pue`` / 1000, × the territory's share of the installation's readings of the
  window (by series count when there were none), under the domain ``platform``.

kgCO2e = kWh × ``electricity.kgco2e_per_kwh`` for every component but the embodied one.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from beffroi.assets.types import ASSET_TYPES
from beffroi.declarative import Errors, Reader, load_yaml
from beffroi.errors import ValidationFailed, field_error
from beffroi.indicators.tables import footprint_factors
from beffroi.store.timeseries import HOUR_MS, ceil_hour, floor_hour, local_day_starts

DEFAULTS_FILE = "footprint.yaml"
COMPONENTS = ("devices_operating", "devices_embodied", "network", "storage", "compute")
PLATFORM_DOMAIN = "platform"
NETWORKS = ("lorawan", "nbiot", "ltem", "4g", "fibre")
HOURS_PER_YEAR = 8766.0  # 365.25 days
MS_PER_MONTH = 30.4375 * 86_400_000  # a mean month (365.25 / 12 days)
GLOBAL_KEYS = ("electricity.kgco2e_per_kwh", "storage.wh_per_gb_month", "storage.replicas",
               "server.w_per_busy_core", "server.pue")
DEVICE_KEYS = ("operating_w", "embodied_kgco2e", "embodied_kwh", "lifetime_years")
# Tables whose size grows with the readings (attributed by readings); the others by series.
TIMESERIES_TABLES = ("observations", "latest", "rollup_hour", "rollup_day", "rollup_dirty")
_KEY = re.compile(r"^[a-z0-9]+(\.[A-Za-z0-9_]+)+$")


# --- factors -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Factor:
    key: str
    value: float
    unit: str
    source: str
    overridden: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "unit": self.unit, "source": self.source,
                "overridden": self.overridden}


class Factors:
    """The factors in force for one territory (defaults with its overrides applied)."""

    def __init__(self, factors: Mapping[str, Factor], networks: Mapping[str, str]) -> None:
        self._factors = dict(factors)
        self.networks = dict(networks)  # asset type → default network name

    def __contains__(self, key: object) -> bool:
        return key in self._factors

    def __iter__(self) -> Iterator[Factor]:
        return iter(self._factors[k] for k in sorted(self._factors))

    def __len__(self) -> int:
        return len(self._factors)

    def factor(self, key: str) -> Factor:
        try:
            return self._factors[key]
        except KeyError:
            raise KeyError(f"unknown footprint factor {key!r}") from None

    def get(self, key: str) -> float:
        """The value of a factor (KeyError for an unknown key)."""
        return self.factor(key).value

    def network_of(self, type_name: str, properties: Mapping[str, Any] | None) -> str:
        """The network of an asset: its ``network`` property when it names a network with a
        factor, else its type's default (``networks:`` of the factors file)."""
        named = (properties or {}).get("network")
        if isinstance(named, str) and f"network.{named.lower()}.wh_per_message" in self:
            return named.lower()
        return self.networks.get(type_name, "")

    def with_overrides(self, overrides: Mapping[str, tuple[float, str]] | None) -> Factors:
        """A copy with ``key → (value, source)`` applied; keys no longer in the model are
        ignored (an override of a factor a later version removed)."""
        out = dict(self._factors)
        for key, (value, source) in (overrides or {}).items():
            base = out.get(key)
            if base is not None:
                out[key] = Factor(key, float(value), base.unit, source, True)
        return Factors(out, self.networks)


def required_keys() -> list[str]:
    keys = list(GLOBAL_KEYS)
    for type_name in ASSET_TYPES:
        keys.extend(f"device.{type_name}.{k}" for k in DEVICE_KEYS)
    return keys


def parse_factors(text_: str, file: str) -> Factors:
    """Parse and validate a factors file; every problem is reported with its field and line."""
    data, lines = load_yaml(text_, file)
    errors = Errors(lines, file)
    top = Reader(errors, (), data, {"version", "factors", "networks"})
    factors: dict[str, Factor] = {}
    networks: dict[str, str] = {}
    if top.ok:
        if top.raw("version") not in (None, 1):
            errors.add(top.at("version"), "only version 1 is known")
        raw = top.raw("factors")
        if not isinstance(raw, dict):
            errors.add(top.at("factors"), "a mapping of factor key → {value, unit, source} "
                       "expected")
            raw = {}
        for key, body in raw.items():
            path = ("factors", str(key))
            if not isinstance(key, str) or not _KEY.match(key):
                errors.add(path, "a dotted key such as device.Streetlight.operating_w expected")
                continue
            r = Reader(errors, path, body, {"value", "unit", "source"})
            if not r.ok:
                continue
            value = r.number("value", required=True, minimum=0)
            unit = r.text("unit", required=True)
            source = r.text("source", required=True)
            if value is not None and key.endswith(".lifetime_years") and value <= 0:
                errors.add((*path, "value"), "a lifetime must be longer than 0")
                continue
            if value is not None and unit is not None and source is not None:
                factors[key] = Factor(key, value, unit, source.strip())
        for key in required_keys():
            if key not in factors and key not in raw:
                errors.add(("factors",), f"factor {key} is missing")
        raw_net = top.raw("networks")
        if not isinstance(raw_net, dict):
            errors.add(top.at("networks"), "a mapping of asset type → network name expected")
            raw_net = {}
        for type_name, name in raw_net.items():
            path = ("networks", str(type_name))
            if type_name not in ASSET_TYPES:
                errors.add(path, f"unknown asset type (known: {', '.join(ASSET_TYPES)})")
            elif not isinstance(name, str) or f"network.{name}.wh_per_message" not in raw:
                errors.add(path, f"{name!r} has no factor network.{name}.wh_per_message")
            else:
                networks[type_name] = name
        for type_name in ASSET_TYPES:
            if type_name not in raw_net:
                errors.add(("networks",), f"no default network for {type_name}")
    if errors.items:
        raise ValidationFailed(f"{file}: {len(errors.items)} problem(s) in the footprint "
                               "factors", errors.items)
    return Factors(factors, networks)


@lru_cache(maxsize=1)
def default_factors() -> Factors:
    path = resources.files("beffroi.indicators").joinpath("defaults").joinpath(DEFAULTS_FILE)
    return parse_factors(path.read_text(encoding="utf-8"), f"defaults/{DEFAULTS_FILE}")


def load_factors(overrides: Mapping[str, tuple[float, str]] | None = None) -> Factors:
    """The shipped factors with ``key → (value, source)`` overrides applied."""
    return default_factors().with_overrides(overrides)


# --- overrides (table footprint_factors) --------------------------------------------------------


def get_overrides(conn: Connection, territory_id: int) -> dict[str, tuple[float, str]]:
    rows = conn.execute(
        footprint_factors.select().where(footprint_factors.c.territory_id == territory_id))
    return {r.key: (float(r.value), r.source) for r in rows}


def validate_override(key: Any, value: Any, source: Any) -> tuple[str, float, str]:
    """Check an override against the shipped model; ValidationFailed names each bad field."""
    problems: list[dict[str, Any]] = []
    known = default_factors()
    if not isinstance(key, str) or key not in known:
        problems.append(field_error("key", f"unknown factor {key!r} (see `beffroi footprint "
                                           "factors` for the keys)"))
    number: float | None = None
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(field_error("value", f"a number expected, got {value!r}"))
    elif not math.isfinite(value) or value < 0:
        problems.append(field_error("value", "must be a finite number >= 0"))
    else:
        number = float(value)
        if isinstance(key, str) and key.endswith(".lifetime_years") and number <= 0:
            problems.append(field_error("value", "a lifetime must be longer than 0"))
    if not isinstance(source, str) or not source.strip():
        problems.append(field_error("source", "say where the value comes from (a non-empty "
                                              "text)"))
    elif len(source) > 2000:
        problems.append(field_error("source", "at most 2000 characters"))
    if problems or number is None:
        raise ValidationFailed("invalid footprint factor", problems)
    return str(key), number, str(source).strip()


def set_override(conn: Connection, territory_id: int, key: str, value: float, source: str,
                 actor: str, now_ms: int) -> tuple[float, str] | None:
    """Create or replace an override; returns the previous one (value, source) if any."""
    key, value, source = validate_override(key, value, source)
    t = footprint_factors
    row = conn.execute(t.select().where(t.c.territory_id == territory_id, t.c.key == key)).first()
    values = {"value": value, "source": source, "updated_ms": now_ms, "updated_by": actor}
    if row is None:
        conn.execute(t.insert().values(territory_id=territory_id, key=key, **values))
        return None
    conn.execute(t.update().where(t.c.id == row.id).values(**values))
    return float(row.value), row.source


def delete_override(conn: Connection, territory_id: int, key: str) -> tuple[float, str] | None:
    """Remove an override (back to the default); returns what it was, None if there was none."""
    t = footprint_factors
    row = conn.execute(t.select().where(t.c.territory_id == territory_id, t.c.key == key)).first()
    if row is None:
        return None
    conn.execute(t.delete().where(t.c.id == row.id))
    return float(row.value), row.source


# --- measured inputs ---------------------------------------------------------------------------


def measure_storage(conn: Connection, store_is_sqlite: bool) -> dict[str, int]:
    """Bytes used by each table, its indexes included.

    SQLite: pages of each table and index from the ``dbstat`` virtual table (indexes added to
    their table); without dbstat, the file's ``page_count × page_size`` shared by row counts.
    PostgreSQL: ``pg_total_relation_size`` (heap, indexes, TOAST) of each table of the schema,
    partitions added to their parent (``observations``)."""
    if store_is_sqlite:
        return _sqlite_storage(conn)
    rows = conn.execute(text(
        "SELECT COALESCE(p.relname, c.relname) AS name, "
        "sum(pg_total_relation_size(c.oid)) AS bytes "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid "
        "LEFT JOIN pg_class p ON p.oid = i.inhparent "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
        "GROUP BY COALESCE(p.relname, c.relname)"))
    return {str(name): int(size or 0) for name, size in rows}


def _sqlite_storage(conn: Connection) -> dict[str, int]:
    owner = {str(name): str(table) for name, table in conn.execute(text(
        "SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))}
    out: dict[str, int] = defaultdict(int)
    try:
        rows = conn.execute(text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")).all()
    except DBAPIError:  # SQLite built without SQLITE_ENABLE_DBSTAT_VTAB
        rows = []
    if rows:
        for name, size in rows:
            out[owner.get(str(name), str(name))] += int(size or 0)
        return dict(out)
    page_size = int(conn.execute(text("PRAGMA page_size")).scalar_one())
    pages = int(conn.execute(text("PRAGMA page_count")).scalar_one())
    tables = [t for t in set(owner.values()) if not t.startswith("sqlite_")]
    counts = {t: int(conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one())
              for t in tables}
    total = sum(counts.values())
    for t, n in counts.items():
        out[t] = round(pages * page_size * n / total) if total else 0
    return dict(out)


def _network_expr(store_is_sqlite: bool) -> str:
    return ("json_extract(a.properties, '$.network')" if store_is_sqlite
            else "(a.properties ->> 'network')")


Key3 = tuple[str, str, Any]  # domain, asset type, network property (None if absent)


def _add(out: dict[Key3, int], rows: Any) -> None:
    for domain, type_name, net, n in rows:
        out[(str(domain), str(type_name), net)] += int(n or 0)


def readings_in_window(conn: Connection, store_is_sqlite: bool, territory_id: int,
                       zone: ZoneInfo, start_ms: int, end_ms: int) -> dict[Key3, int]:
    """Readings of a territory with ``start_ms <= ts < end_ms``, by (domain, type, network
    property), counted from day rollups for whole local days that are materialised and hold no
    dirty hour, hour rollups for other materialised clean hours, and raw rows elsewhere (the
    window's partial hours, hours after the watermark, dirty hours)."""
    out: dict[Key3, int] = defaultdict(int)
    if end_ms <= start_ms:
        return out
    net = _network_expr(store_is_sqlite)
    head = (f"SELECT a.domain, a.type, {net} AS net, {{agg}} FROM series s "
            "JOIN assets a ON a.id = s.asset_id {join} WHERE s.territory_id = :tid AND {where} "
            f"GROUP BY a.domain, a.type, {net}")
    raw = text(head.format(agg="count(*)", join="JOIN observations o ON o.series_id = s.id",
                           where="o.ts_ms >= :a AND o.ts_ms < :b"))

    def raw_count(a: int, b: int) -> None:
        if a < b:
            _add(out, conn.execute(raw, {"tid": territory_id, "a": a, "b": b}))

    until = conn.execute(text("SELECT hour_until_ms FROM rollup_state WHERE id = 1")).scalar()
    a_h, b_h = ceil_hour(start_ms), floor_hour(end_ms)
    if until is None or a_h >= b_h:
        raw_count(start_ms, end_ms)
        return out
    raw_count(start_ms, a_h)
    mat_end = max(a_h, min(b_h, int(until)))
    raw_count(mat_end, end_ms)
    if mat_end <= a_h:
        return out
    dirty = sorted({int(b) for (b,) in conn.execute(text(
        "SELECT DISTINCT bucket_ms FROM rollup_dirty WHERE bucket_ms >= :a AND bucket_ms < :b"),
        {"a": a_h, "b": mat_end})})
    for bucket in dirty:  # stale rollups: count the raw rows of these hours
        raw_count(bucket, bucket + HOUR_MS)
    # Clean materialised hours [a_h, mat_end) minus the dirty ones: whole local days from
    # rollup_day, the rest from rollup_hour.
    starts = local_day_starts(zone, a_h, mat_end)
    days = [(starts[i], starts[i + 1]) for i in range(len(starts) - 1)
            if starts[i] >= a_h and starts[i + 1] <= mat_end
            and not any(starts[i] <= d < starts[i + 1] for d in dirty)]
    # Summed per series first, then joined: the asset's JSON properties are read once per
    # series, not once per rollup row.
    roll = head.format(
        agg="sum(r.n)",
        join="JOIN (SELECT series_id, sum(n) AS n FROM {table} WHERE bucket_ms >= :a "
             "AND bucket_ms < :b GROUP BY series_id) r ON r.series_id = s.id",
        where="1 = 1")
    day_sql = text(roll.replace("{table}", "rollup_day"))
    hour_sql = text(roll.replace("{table}", "rollup_hour"))
    covered: list[tuple[int, int]] = []
    for d0, d1 in _merge(days):
        _add(out, conn.execute(day_sql, {"tid": territory_id, "a": d0, "b": d1}))
        covered.append((d0, d1))
    for h0, h1 in _gaps(a_h, mat_end, covered + [(d, d + HOUR_MS) for d in dirty]):
        _add(out, conn.execute(hour_sql, {"tid": territory_id, "a": h0, "b": h1}))
    return out


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if merged and merged[-1][1] >= a:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _gaps(a: int, b: int, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    pos = a
    for x, y in _merge(taken):
        if x > pos:
            out.append((pos, min(x, b)))
        pos = max(pos, y)
    if pos < b:
        out.append((pos, b))
    return [(x, y) for x, y in out if x < y]


def _zones(conn: Connection) -> dict[int, ZoneInfo]:
    return {int(tid): ZoneInfo(tz) for tid, tz in conn.execute(
        text("SELECT id, timezone FROM territories"))}


def installation_readings(conn: Connection, store_is_sqlite: bool, start_ms: int, end_ms: int,
                          zones: Mapping[int, ZoneInfo] | None = None) -> dict[int, int]:
    """Readings in the window per territory (every territory of the installation)."""
    out: dict[int, int] = {}
    for tid, zone in (zones if zones is not None else _zones(conn)).items():
        counts = readings_in_window(conn, store_is_sqlite, tid, zone, start_ms, end_ms)
        out[tid] = sum(counts.values())
    return out


# --- estimate ----------------------------------------------------------------------------------


@dataclass
class FootprintLine:
    domain: str
    component: str  # one of COMPONENTS
    kwh: float
    kgco2e: float
    inputs: dict[str, Any] = field(default_factory=dict)
    factors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "component": self.component, "kwh": self.kwh,
                "kgco2e": self.kgco2e, "inputs": self.inputs, "factors": self.factors}


@dataclass
class FootprintEstimate:
    territory_id: int
    start_ms: int
    end_ms: int
    lines: list[FootprintLine] = field(default_factory=list)
    factors: dict[str, Factor] = field(default_factory=dict)  # every factor used

    def line(self, domain: str, component: str) -> FootprintLine | None:
        for ln in self.lines:
            if ln.domain == domain and ln.component == component:
                return ln
        return None

    def by_domain(self) -> dict[str, tuple[float, float]]:
        """domain → (kWh, kgCO2e)."""
        return _totals((ln.domain, ln) for ln in self.lines)

    def by_component(self) -> dict[str, tuple[float, float]]:
        """component → (kWh, kgCO2e)."""
        return _totals((ln.component, ln) for ln in self.lines)

    def total(self) -> tuple[float, float]:
        """(kWh, kgCO2e) of the whole estimate."""
        return (sum(ln.kwh for ln in self.lines), sum(ln.kgco2e for ln in self.lines))

    def to_dict(self) -> dict[str, Any]:
        kwh, kg = self.total()
        return {
            "start_ms": self.start_ms, "end_ms": self.end_ms,
            "total": {"kwh": kwh, "kgco2e": kg},
            "by_domain": {d: {"kwh": k, "kgco2e": c} for d, (k, c) in self.by_domain().items()},
            "by_component": {d: {"kwh": k, "kgco2e": c}
                             for d, (k, c) in self.by_component().items()},
            "lines": [ln.to_dict() for ln in self.lines],
            "factors": {k: f.to_dict() for k, f in sorted(self.factors.items())},
        }


def _totals(items: Any) -> dict[str, tuple[float, float]]:
    out: dict[str, list[float]] = {}
    for key, ln in items:
        acc = out.setdefault(key, [0.0, 0.0])
        acc[0] += ln.kwh
        acc[1] += ln.kgco2e
    return {k: (v[0], v[1]) for k, v in out.items()}


def _share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


def estimate(conn: Connection, store_is_sqlite: bool, territory_id: int, start_ms: int,
             end_ms: int, factors: Factors) -> FootprintEstimate:
    """The footprint of one territory over ``[start_ms, end_ms)`` (see the module's text)."""
    if end_ms <= start_ms:
        raise ValidationFailed("empty window", [field_error("to", "must be after from")])
    result = FootprintEstimate(territory_id, start_ms, end_ms)
    used: dict[str, Factor] = result.factors

    def f(key: str) -> float:
        used[key] = factors.factor(key)
        return used[key].value

    ci = f("electricity.kgco2e_per_kwh")
    zones = _zones(conn)
    zone = zones.get(territory_id, ZoneInfo("UTC"))

    # Devices: count and device-hours by (domain, type), in SQL.
    devices = conn.execute(text(
        "SELECT domain, type, count(*) AS n, "
        "sum(:b - CASE WHEN created_ms > :a THEN created_ms ELSE :a END) AS ms "
        "FROM assets WHERE territory_id = :tid AND created_ms < :b GROUP BY domain, type"),
        {"tid": territory_id, "a": start_ms, "b": end_ms}).all()
    operating: dict[str, FootprintLine] = {}
    embodied: dict[str, FootprintLine] = {}
    for domain, type_name, n, ms in devices:
        hours = int(ms or 0) / HOUR_MS
        prefix = f"device.{type_name}"
        if f"{prefix}.operating_w" not in factors:
            continue  # a type the factors do not know (kept out, visible in the inputs)
        op = operating.setdefault(domain, FootprintLine(domain, "devices_operating", 0.0, 0.0,
                                                        {"devices": {}, "device_hours": {}}))
        kwh = f(f"{prefix}.operating_w") * hours / 1000
        op.kwh += kwh
        op.inputs["devices"][type_name] = int(n)
        op.inputs["device_hours"][type_name] = hours
        op.factors.append(f"{prefix}.operating_w")
        em = embodied.setdefault(domain, FootprintLine(domain, "devices_embodied", 0.0, 0.0,
                                                       {"devices": {}, "amortised_share": {}}))
        share = hours / (f(f"{prefix}.lifetime_years") * HOURS_PER_YEAR)
        em.kwh += f(f"{prefix}.embodied_kwh") * share
        em.kgco2e += f(f"{prefix}.embodied_kgco2e") * share
        em.inputs["devices"][type_name] = int(n)
        em.inputs["amortised_share"][type_name] = share
        em.factors.extend(f"{prefix}.{k}" for k in ("embodied_kwh", "embodied_kgco2e",
                                                    "lifetime_years"))
    for ln in operating.values():
        ln.kgco2e = ln.kwh * ci
        ln.factors.append("electricity.kgco2e_per_kwh")

    # Network: readings (messages) by network.
    counts = readings_in_window(conn, store_is_sqlite, territory_id, zone, start_ms, end_ms)
    network: dict[str, FootprintLine] = {}
    readings_by_domain: dict[str, int] = defaultdict(int)
    for (domain, type_name, prop), n in counts.items():
        readings_by_domain[domain] += n
        name = factors.network_of(type_name, {"network": prop})
        key = f"network.{name}.wh_per_message"
        if not name or key not in factors:
            continue
        ln = network.setdefault(domain, FootprintLine(domain, "network", 0.0, 0.0,
                                                      {"messages": {}}))
        ln.kwh += n * f(key) / 1000
        ln.inputs["messages"][name] = ln.inputs["messages"].get(name, 0) + n
        if key not in ln.factors:
            ln.factors.append(key)
    for ln in network.values():
        ln.kgco2e = ln.kwh * ci
        ln.factors.append("electricity.kgco2e_per_kwh")

    # Shares of the installation: readings of the window, else series.
    all_readings = installation_readings(conn, store_is_sqlite, start_ms, end_ms, zones)
    total_readings = sum(all_readings.values())
    series_by_domain = {str(d): int(n) for d, n in conn.execute(text(
        "SELECT a.domain, count(*) FROM series s JOIN assets a ON a.id = s.asset_id "
        "WHERE s.territory_id = :tid GROUP BY a.domain"), {"tid": territory_id})}
    total_series = int(conn.execute(text("SELECT count(*) FROM series")).scalar_one())
    territory_series = sum(series_by_domain.values())
    if total_readings > 0:
        basis = "readings"
        domain_share = {d: _share(n, total_readings) for d, n in readings_by_domain.items()}
        territory_share = _share(sum(readings_by_domain.values()), total_readings)
    else:
        basis = "series"
        domain_share = {d: _share(n, total_series) for d, n in series_by_domain.items()}
        territory_share = _share(territory_series, total_series)
    series_share = _share(territory_series, total_series)

    # Storage.
    sizes = measure_storage(conn, store_is_sqlite)
    ts_bytes = sum(sizes.get(t, 0) for t in TIMESERIES_TABLES)
    other_bytes = sum(b for t, b in sizes.items() if t not in TIMESERIES_TABLES)
    months = (end_ms - start_ms) / MS_PER_MONTH
    per_gb = (f("storage.wh_per_gb_month") * f("storage.replicas") * f("server.pue")
              * months / 1000)
    storage_keys = ["storage.wh_per_gb_month", "storage.replicas", "server.pue",
                    "electricity.kgco2e_per_kwh"]
    storage: list[FootprintLine] = []
    for domain in sorted(domain_share):
        share = domain_share[domain]
        gb = ts_bytes * share / 1e9
        kwh = gb * per_gb
        storage.append(FootprintLine(domain, "storage", kwh, kwh * ci, {
            "bytes_measured": ts_bytes, "tables": list(TIMESERIES_TABLES), "share": share,
            "share_basis": basis, "gb": gb, "gb_months": gb * months, "months": months},
            list(storage_keys)))
    gb = other_bytes * series_share / 1e9
    kwh = gb * per_gb
    storage.append(FootprintLine(PLATFORM_DOMAIN, "storage", kwh, kwh * ci, {
        "bytes_measured": other_bytes, "tables": "all others", "share": series_share,
        "share_basis": "series", "gb": gb, "gb_months": gb * months, "months": months},
        list(storage_keys)))

    # Compute.
    cpu = float(conn.execute(text(
        "SELECT coalesce(sum(cpu_s), 0) FROM platform_samples WHERE ts_ms >= :a AND ts_ms < :b"),
        {"a": start_ms, "b": end_ms}).scalar_one())
    cpu_kwh = cpu * f("server.w_per_busy_core") / 3600 * f("server.pue") / 1000
    kwh = cpu_kwh * territory_share
    compute = FootprintLine(PLATFORM_DOMAIN, "compute", kwh, kwh * ci, {
        "cpu_seconds": cpu, "installation_kwh": cpu_kwh, "share": territory_share,
        "share_basis": basis, "readings": sum(readings_by_domain.values()),
        "installation_readings": total_readings},
        ["server.w_per_busy_core", "server.pue", "electricity.kgco2e_per_kwh"])

    order = {c: i for i, c in enumerate(COMPONENTS)}
    result.lines = sorted(
        [*operating.values(), *embodied.values(), *network.values(), *storage, compute],
        key=lambda ln: (ln.domain == PLATFORM_DOMAIN, ln.domain, order[ln.component]))
    return result
