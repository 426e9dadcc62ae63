"""Benchmark of the indicators: every built-in indicator over a month of 100,000 series.

    python bench/indicators.py [--dburl postgresql://postgres@127.0.0.1:5432/postgres]
                               [--series 100000]

Builds a territory around Nantes (Europe/Paris) whose assets carry at least ``--series``
series (rows of ``series``, one per asset and metric) in the proportions of a city: 800
lighting cabinets of 30 lamps each (24,000 lamps x 4 metrics are 96,000 of the 108,060 series
at the default size), 1,200 waste containers, car parks, traffic counters and signals, air and
water stations, EV chargers and cameras. It fills ONE past month (the previous full calendar
month, local time) and measures ``Indicators.compute`` over that month for every active
built-in indicator: all at once (twice: first and second run in the process), then one by one.

**The rollups are written directly, not simulated readings.** The indicators never read raw
observations: series aggregations read ``rollup_day`` (whole local days) and ``rollup_hour``
(the rest, and everything that needs hours or states), incident aggregations read
``incidents``, the platform's availability ``platform_samples``. Pushing a month of raw
readings for 100,000 series through the ingest pipeline and the materialiser would take hours
for nothing the indicators look at, so the set-up writes, with numpy and bulk inserts
(``executemany`` on SQLite, ``COPY`` on PostgreSQL), the rollup rows the materialiser
would have produced, at a realistic density:

* number series that meter continuously (cabinets' energy, power, voltage and current, air,
  water, traffic counters, car parks, chargers, containers' fill level) have a row for every
  hour (with the readings of that hour: ``n``, min, max, sum, last) and every local day;
* series that report on change or rarely have a few hour rows a day: a lamp's ``powerState``
  twice (off in the morning, on in the evening), its ``status`` once, its ``activePower`` and
  ``illuminanceLevel`` once when it switches on; containers' temperature four times, etc.
  State rows carry ``last_text``; each day row aggregates that day's hour rows;
* ``rollup_state.hour_until_ms`` is set to the end of the month, so that the month counts as
  fully materialised (no value is provisional).

It also writes 300 incidents with their step times (directly into ``incidents``, after the
operations defaults that create the categories and their SLAs) and a heartbeat a minute in
``platform_samples``. The set-up time and row counts are printed apart from the measurements.

PostgreSQL runs go into a scratch database ``beffroi_bench_<pid>`` created beside the given
one and dropped at the end; SQLite runs use a temporary file (``--keep`` keeps either).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import repeat
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from beffroi.app import build_services
from beffroi.assets import repository as repo
from beffroi.assets.models import TerritoryIn
from beffroi.assets.service import point_asset_row
from beffroi.assets.types import ASSET_TYPES
from beffroi.auth.models import Principal
from beffroi.settings import load_settings
from beffroi.store import migrate
from beffroi.store.engine import normalise_url
from beffroi.timeutil import now_ms

CODE = "bench"
CENTRE = (-1.5536, 47.2184)
ZONE = ZoneInfo("Europe/Paris")
HOUR_MS = 3_600_000
ROOT = Principal(kind="user", name="bench", superuser=True)
ACTOR = "user:bench"
LAMPS_PER_CABINET = 30
INCIDENTS = 300
CHUNK_SERIES = 2_000  # series generated (and written) together
ROLLUP_COLUMNS = ("series_id", "bucket_ms", "n", "vmin", "vmax", "vsum", "last_value",
                  "last_text", "last_ts_ms")
LAMP_POWERS_W = np.array([35, 50, 70, 100, 150])

# Assets per 100,000 series, besides the lamps (LAMPS_PER_CABINET per cabinet).
MIX = {
    "StreetlightControlCabinet": 800,
    "WasteContainer": 1_200,
    "OffStreetParking": 20,
    "TrafficFlowObserved": 100,
    "AirQualityObserved": 10,
    "WaterQualityObserved": 20,
    "TrafficSignal": 300,
    "EVChargingStation": 200,
    "Camera": 400,
}


# --- the month's calendar -------------------------------------------------------------------


@dataclass
class Month:
    label: str
    start_ms: int
    end_ms: int
    hours: np.ndarray  # UTC hour starts, int64
    local_hour: np.ndarray  # local hour of day of each hour
    night: np.ndarray  # lamps lit (roughly 17:00-08:00 local)
    day_of_hour: np.ndarray  # index of the local day of each hour
    day_starts: np.ndarray  # local midnights (UTC ms), one per day


def local_ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=ZONE).timestamp() * 1000)


def previous_month() -> Month:
    today = datetime.now(ZONE).date()
    last = today.replace(day=1) - timedelta(days=1)
    first = last.replace(day=1)
    start, end = local_ms(first), local_ms(today.replace(day=1))
    hours = np.arange(start, end, HOUR_MS, dtype=np.int64)
    days = [first + timedelta(days=i) for i in range((today.replace(day=1) - first).days)]
    day_starts = np.array([local_ms(d) for d in days], dtype=np.int64)
    local_hour = np.array([datetime.fromtimestamp(h / 1000, ZONE).hour for h in hours.tolist()])
    return Month(f"{first:%Y-%m}", start, end, hours, local_hour,
                 (local_hour >= 17) | (local_hour < 8),
                 np.searchsorted(day_starts, hours, side="right") - 1, day_starts)


# --- what each metric reports ---------------------------------------------------------------


@dataclass
class Cols:
    """Hour rows of S series at k hours: arrays S x k (None: the column is NULL)."""

    n: np.ndarray
    vmin: np.ndarray | None = None
    vmax: np.ndarray | None = None
    vsum: np.ndarray | None = None
    last: np.ndarray | None = None
    text: np.ndarray | None = None  # object array of str


def number(rng: np.random.Generator, mean: np.ndarray, n: int, spread: float) -> Cols:
    """Hours of ``n`` readings around ``mean`` (the hour's mean), spread by ``spread``."""
    if n == 1:
        return Cols(np.ones(mean.shape, np.int64), mean, mean, mean, mean)
    lo = mean - spread * rng.random(mean.shape)
    hi = mean + spread * rng.random(mean.shape)
    return Cols(np.full(mean.shape, n, np.int64), lo, hi, mean * n,
                lo + (hi - lo) * rng.random(mean.shape))


def state(values: np.ndarray) -> Cols:
    return Cols(np.ones(values.shape, np.int64), text=values)


def choice(rng: np.random.Generator, shape: tuple[int, int], states: Sequence[str],
           p: Sequence[float]) -> np.ndarray:
    return np.array(states, dtype=object)[rng.choice(len(states), size=shape, p=p)]


def lit(m: Month, hours: np.ndarray) -> np.ndarray:
    return m.night[hours][None, :]


@dataclass
class Plan:
    """A metric's hour rows: at which local hours of the day (None: every hour) and the
    values, from (rng, number of series, hour indices in the month, month, asset props)."""

    local_hours: tuple[int, ...] | None
    make: Any


def _cabinet_energy(rng, s, h, m, props):  # kWh of each 10-minute interval
    load_kw = props["load_w"][:, None] / 1000
    dim = 0.55 + 0.25 * rng.random((s, len(h)))
    kw = np.where(lit(m, h), load_kw * dim, 0.002)
    return number(rng, kw / 6, 6, 0.01)


def _cabinet_power(rng, s, h, m, props):
    load_kw = props["load_w"][:, None] / 1000
    return number(rng, np.where(lit(m, h), load_kw * (0.55 + 0.25 * rng.random((s, len(h)))),
                                0.01), 6, 0.05)


def _fill_level(rng, s, h, m, props):
    """A saw-tooth: each container fills at its own pace and is emptied near 80-100 %."""
    rate = 0.004 + 0.012 * rng.random((s, 1))
    level = (rng.random((s, 1)) + rate * np.arange(len(h))[None, :]) % 0.9
    return number(rng, 0.03 + level + 0.01 * rng.random((s, len(h))), 1, 0)


def _traffic_state(rng, s, h, m, props):
    peak = np.isin(m.local_hour[h], (8, 9, 17, 18))[None, :]
    quiet = choice(rng, (s, len(h)), ("free", "pre-saturated"), (0.85, 0.15))
    busy = choice(rng, (s, len(h)), ("free", "pre-saturated", "saturated", "blocked"),
                  (0.3, 0.35, 0.3, 0.05))
    return state(np.where(peak, busy, quiet))


def _air(base: float, spike: float):
    def make(rng, s, h, m, props):
        mean = base * (0.5 + rng.random((s, len(h))))
        mean = np.where(rng.random((s, len(h))) < 0.004, spike, mean)
        return number(rng, mean, 4, base * 0.2)
    return make


def _water(mean: float, spread: float, excursion: float):
    def make(rng, s, h, m, props):
        mu = mean + spread * (rng.random((s, len(h))) - 0.5)
        mu = np.where(rng.random((s, len(h))) < 0.003, excursion, mu)
        return number(rng, mu, 6, spread / 4)
    return make


def _uniform(lo: float, hi: float, n: int, spread: float = 0.0):
    def make(rng, s, h, m, props):
        return number(rng, lo + (hi - lo) * rng.random((s, len(h))), n, spread)
    return make


def _states(states: Sequence[str], p: Sequence[float]):
    def make(rng, s, h, m, props):
        return state(choice(rng, (s, len(h)), states, p))
    return make


def _switch(morning: str, evening: str, fault: str | None = None, p_fault: float = 0.0):
    """On in the evening (17:xx local), off in the morning (08:xx)."""
    def make(rng, s, h, m, props):
        v = np.where(m.local_hour[h][None, :] >= 12, evening, morning).astype(object)
        v = np.broadcast_to(v, (s, len(h))).copy()
        if fault:
            v[rng.random((s, len(h))) < p_fault] = fault
        return state(v)
    return make


def _lamp_power(rng, s, h, m, props):  # W, read when the lamp switches on (17:xx)
    return number(rng, props["power_w"][:, None] * (0.55 + 0.25 * rng.random((s, len(h)))),
                  1, 0)


PLANS: dict[str, dict[str, Plan]] = {
    "Streetlight": {
        "powerState": Plan((8, 17), _switch("off", "on")),
        "illuminanceLevel": Plan((17,), _uniform(0.55, 0.8, 1)),
        "activePower": Plan((17,), _lamp_power),
        "status": Plan((12,), _states(("ok", "defectiveLamp"), (0.985, 0.015))),
    },
    "StreetlightControlCabinet": {
        "energyConsumed": Plan(None, _cabinet_energy),
        "activePower": Plan(None, _cabinet_power),
        "voltage": Plan(None, _uniform(226, 234, 6, 2)),
        "intensity": Plan(None, _uniform(2, 12, 6, 1)),
        "powerState": Plan((8, 17), _switch("off", "on", "tripped", 0.002)),
        "status": Plan((12,), _states(("ok", "fault"), (0.995, 0.005))),
    },
    "WasteContainer": {
        "fillingLevel": Plan(None, _fill_level),
        "temperature": Plan((0, 6, 12, 18), _uniform(2, 14, 1)),
        "weight": Plan((12,), _uniform(5, 120, 1)),
        "status": Plan((12,), _states(("ok", "overflowing"), (0.98, 0.02))),
    },
    "OffStreetParking": {
        "availableSpotNumber": Plan(None, _uniform(0, 400, 12, 20)),
        "occupiedSpotNumber": Plan(None, _uniform(0, 400, 12, 20)),
        "occupancy": Plan(None, _uniform(0.2, 0.95, 12, 0.05)),
        "status": Plan((6,), _states(("open", "closed"), (0.99, 0.01))),
    },
    "TrafficFlowObserved": {
        "intensity": Plan(None, _uniform(50, 1200, 12, 100)),
        "occupancy": Plan(None, _uniform(0.02, 0.6, 12, 0.05)),
        "averageVehicleSpeed": Plan(None, _uniform(15, 50, 12, 5)),
        "trafficState": Plan(None, _traffic_state),
    },
    "AirQualityObserved": {
        "no2": Plan(None, _air(35, 230)),
        "pm10": Plan(None, _air(28, 90)),
        "pm25": Plan(None, _air(14, 60)),
        "o3": Plan(None, _air(50, 190)),
        "no": Plan(None, _air(15, 120)),
        "co2": Plan(None, _uniform(410, 480, 4, 10)),
        "temperature": Plan(None, _uniform(2, 15, 4, 0.5)),
        "relativeHumidity": Plan(None, _uniform(55, 95, 4, 3)),
    },
    "WaterQualityObserved": {
        "pH": Plan(None, _water(7.6, 0.8, 9.3)),
        "turbidity": Plan(None, _water(0.6, 0.6, 2.5)),
        "freeChlorine": Plan(None, _water(0.3, 0.2, 0.6)),
        "conductivity": Plan(None, _uniform(350, 650, 6, 10)),
        "temperature": Plan(None, _uniform(9, 14, 6, 0.3)),
    },
    "TrafficSignal": {
        "status": Plan((12,), _states(("operational", "fault"), (0.995, 0.005))),
        "plan": Plan((6, 9, 16, 20), _states(("P1", "P2", "P3"), (0.4, 0.3, 0.3))),
    },
    "EVChargingStation": {
        "availableCapacity": Plan(None, _uniform(0, 2, 4)),
        "activePower": Plan(None, _uniform(0, 44, 4, 4)),
        "energyConsumed": Plan(None, _uniform(0, 5, 4, 0.5)),
        "status": Plan((7, 9, 12, 15, 18, 21),
                       _states(("available", "charging", "outOfService"), (0.6, 0.39, 0.01))),
    },
    "Camera": {"status": Plan((12,), _states(("ok", "offline"), (0.997, 0.003)))},
}


# --- bulk writes ----------------------------------------------------------------------------


def bulk(conn: Connection, is_sqlite: bool, table: str, columns: Sequence[str],
         rows: list[tuple[Any, ...]]) -> None:
    """Insert rows: one ``executemany`` on SQLite, a ``COPY`` on PostgreSQL."""
    if not rows:
        return
    if is_sqlite:
        marks = ", ".join("?" * len(columns))
        conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                             rows)
        return
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)


def _col(a: np.ndarray | None) -> Any:
    return repeat(None) if a is None else a.ravel().tolist()


def rollup_rows(ids: np.ndarray, buckets: np.ndarray, c: Cols, last_ts: np.ndarray
                ) -> list[tuple[Any, ...]]:
    s, k = c.n.shape
    return list(zip(np.repeat(ids, k).tolist(), np.tile(buckets, s).tolist(), _col(c.n),
                    _col(c.vmin), _col(c.vmax), _col(c.vsum), _col(c.last), _col(c.text),
                    _col(last_ts), strict=False))


def day_cols(c: Cols, days: np.ndarray) -> tuple[Cols, np.ndarray]:
    """Aggregate hour columns into days: ``days`` gives each column's day index (sorted)."""
    starts = np.flatnonzero(np.r_[True, np.diff(days) != 0])
    ends = np.r_[starts[1:], len(days)] - 1

    def at_end(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[:, ends]

    out = Cols(np.add.reduceat(c.n, starts, axis=1),
               None if c.vmin is None else np.minimum.reduceat(c.vmin, starts, axis=1),
               None if c.vmax is None else np.maximum.reduceat(c.vmax, starts, axis=1),
               None if c.vsum is None else np.add.reduceat(c.vsum, starts, axis=1),
               at_end(c.last), at_end(c.text))
    return out, starts


def write_group(conn: Connection, is_sqlite: bool, m: Month, rng: np.random.Generator,
                ids: np.ndarray, props: dict[str, np.ndarray], plan: Plan) -> tuple[int, int]:
    """The hour and day rollups of one (type, metric) group; returns the row counts."""
    if plan.local_hours is None:
        h = np.arange(len(m.hours))
    else:
        h = np.flatnonzero(np.isin(m.local_hour, plan.local_hours))
    buckets = m.hours[h]
    hours = days = 0
    for i in range(0, len(ids), CHUNK_SERIES):
        chunk = ids[i:i + CHUNK_SERIES]
        s = len(chunk)
        c = plan.make(rng, s, h, m, {k: v[i:i + s] for k, v in props.items()})
        if c.vmin is not None:
            for name in ("vmin", "vmax", "vsum", "last"):
                setattr(c, name, np.round(getattr(c, name), 4))
        # the last reading of each hour: spread over the hour (or its last 10 minutes)
        spread = 600_000 if plan.local_hours is None else HOUR_MS - 1
        last_ts = buckets[None, :] + HOUR_MS - 1 - rng.integers(0, spread, (s, len(h)))
        rows = rollup_rows(chunk, buckets, c, last_ts)
        bulk(conn, is_sqlite, "rollup_hour", ROLLUP_COLUMNS, rows)
        hours += len(rows)
        d, starts = day_cols(c, m.day_of_hour[h])
        ends = np.r_[starts[1:], len(h)] - 1
        rows = rollup_rows(chunk, m.day_starts[m.day_of_hour[h][starts]], d, last_ts[:, ends])
        bulk(conn, is_sqlite, "rollup_day", ROLLUP_COLUMNS, rows)
        days += len(rows)
    return hours, days


# --- set-up ---------------------------------------------------------------------------------


def counts(series: int) -> dict[str, int]:
    scale = series / 100_000
    out = {t: max(1, math.ceil(n * scale)) for t, n in MIX.items()}
    out["Streetlight"] = out["StreetlightControlCabinet"] * LAMPS_PER_CABINET
    return out


def create_assets(services: Any, tid: int, n: dict[str, int], rng: np.random.Generator
                  ) -> None:
    store = services.store
    now = now_ms()

    def point() -> tuple[float, float]:
        return (CENTRE[0] + 0.2 * (rng.random() - 0.5), CENTRE[1] + 0.12 * (rng.random() - 0.5))

    def upsert(rows: list[dict[str, Any]]) -> None:
        for i in range(0, len(rows), 5_000):
            with store.write() as conn:
                repo.upsert_assets(conn, tid, rows[i:i + 5_000], now)
                if not store.is_sqlite:  # see bench/README.md (ingest.py, set-up)
                    conn.execute(text("ANALYZE assets"))

    cabinets = [(f"urn:ngsi-ld:StreetlightControlCabinet:{CODE}:C{c}", point())
                for c in range(n["StreetlightControlCabinet"])]
    upsert([point_asset_row(u, "StreetlightControlCabinet", *p) for u, p in cabinets])
    with store.read() as conn:
        cab_ids = repo.asset_ids(conn, tid, [u for u, _ in cabinets])
    lamps = []
    for c, (urn, (lon, lat)) in enumerate(cabinets):
        for j in range(LAMPS_PER_CABINET):
            power = int(LAMP_POWERS_W[rng.integers(len(LAMP_POWERS_W))])
            lamps.append(point_asset_row(
                f"urn:ngsi-ld:Streetlight:{CODE}:C{c}-{j}", "Streetlight",
                lon + 0.004 * (rng.random() - 0.5), lat + 0.003 * (rng.random() - 0.5),
                properties={"power_w": power}, parent_id=cab_ids[urn]))
    upsert(lamps)
    others = [point_asset_row(f"urn:ngsi-ld:{t}:{CODE}:{i}", t, *point())
              for t, count in n.items() if t not in ("Streetlight", "StreetlightControlCabinet")
              for i in range(count)]
    upsert(others)


def create_series(services: Any, tid: int) -> dict[tuple[str, str], np.ndarray]:
    """One series per asset and metric of its type's plan; (type, metric) -> series ids."""
    store = services.store
    with store.read() as conn:
        assets = conn.execute(text("SELECT id, type FROM assets WHERE territory_id = :t "
                                   "ORDER BY id"), {"t": tid}).all()
    now = now_ms()
    rows = []
    for type_name, plans in PLANS.items():
        kind = ASSET_TYPES[type_name]
        ids = [a for a, t in assets if t == type_name]
        for metric in plans:
            declared = kind.metric(metric)
            rows += [(tid, a, metric, declared.unit, declared.kind, now) for a in ids]
    with store.write() as conn:
        bulk(conn, store.is_sqlite, "series",
             ("territory_id", "asset_id", "metric", "unit", "kind", "created_ms"), rows)
    groups: dict[tuple[str, str], list[int]] = {}
    with store.read() as conn:
        for sid, metric, type_name in conn.execute(text(
                "SELECT s.id, s.metric, a.type FROM series s JOIN assets a ON a.id = s.asset_id "
                "WHERE s.territory_id = :t ORDER BY s.id"), {"t": tid}):
            groups.setdefault((type_name, metric), []).append(sid)
    return {k: np.array(v, dtype=np.int64) for k, v in groups.items()}


def asset_props(services: Any, tid: int, type_name: str, ids: np.ndarray
                ) -> dict[str, np.ndarray]:
    """Per series of the group (in id order): the lamps' power, the cabinets' load."""
    if type_name not in ("Streetlight", "StreetlightControlCabinet"):
        return {}
    import orjson

    with services.store.read() as conn:
        lamps = conn.execute(text(
            "SELECT id, parent_id, properties FROM assets WHERE territory_id = :t "
            "AND type = 'Streetlight'"), {"t": tid}).all()
        owner = dict(conn.execute(text(
            "SELECT s.id, s.asset_id FROM series s JOIN assets a ON a.id = s.asset_id "
            "WHERE a.territory_id = :t AND a.type = :type"), {"t": tid, "type": type_name}).all())
    power, load = {}, {}
    for lamp_id, parent, props in lamps:
        p = props if isinstance(props, dict) else orjson.loads(props)
        power[lamp_id] = p["power_w"]
        load[parent] = load.get(parent, 0) + p["power_w"]
    if type_name == "Streetlight":
        return {"power_w": np.array([power[owner[s]] for s in ids.tolist()], dtype=float)}
    return {"load_w": np.array([load.get(owner[s], 0) for s in ids.tolist()], dtype=float)}


def write_incidents(services: Any, tid: int, m: Month, rng: np.random.Generator) -> int:
    services.operations.ensure_defaults(CODE, ROOT)
    with services.store.read() as conn:
        cats = conn.execute(text("SELECT code, post FROM incident_categories "
                                 "WHERE territory_id = :t ORDER BY code"), {"t": tid}).all()
    now = now_ms()
    minute = 60_000
    columns = ("territory_id", "category", "post", "state", "title", "description", "source",
               "level", "reported_ms", "acknowledged_ms", "dispatched_ms", "on_site_ms",
               "resolved_ms", "closed_ms", "created_by", "updated_ms")
    rows = []
    for i in range(INCIDENTS):
        code, post = cats[int(rng.integers(len(cats)))]
        source = str(rng.choice(["alarm", "operator", "resident"], p=[0.6, 0.25, 0.15]))
        reported = int(m.start_ms + rng.integers(0, m.end_ms - m.start_ms))
        stamps = [reported]
        for mean in (5 * minute, 15 * minute, 45 * minute, 5 * HOUR_MS, HOUR_MS):
            stamps.append(stamps[-1] + minute + int(rng.exponential(mean)))
        reached = 6 if rng.random() > 0.1 else int(rng.integers(1, 5))  # 10 % still open
        stamps = [t if k < reached and t < now else None for k, t in enumerate(stamps)]
        reached = sum(t is not None for t in stamps)
        state_name = ("reported", "acknowledged", "dispatched", "on_site", "resolved",
                      "closed")[reached - 1]
        rows.append((tid, code, post, state_name, f"bench incident {i}", "", source, 0,
                     *stamps, ACTOR, max(t for t in stamps if t is not None)))
    with services.store.write() as conn:
        bulk(conn, services.store.is_sqlite, "incidents", columns, rows)
    return len(rows)


def write_heartbeats(services: Any, m: Month) -> int:
    rows = [(t, "api@bench:1", 0.4, 60.0, 0)
            for t in range(m.start_ms + 60_000, m.end_ms + 60_000, 60_000)]
    with services.store.write() as conn:
        bulk(conn, services.store.is_sqlite, "platform_samples",
             ("ts_ms", "process", "cpu_s", "interval_s", "readings"), rows)
    return len(rows)


def build(url: str, series: int, m: Month) -> Any:
    t0 = time.perf_counter()
    services = build_services(load_settings(database_url=url))
    migrate.upgrade(services.store)
    store = services.store
    services.registry.create_territory(TerritoryIn(code=CODE, name="Bench", center=CENTRE,
                                                   timezone=str(ZONE)))
    tid = services.registry.territory_id(CODE)
    rng = np.random.default_rng(42)
    n = counts(series)
    create_assets(services, tid, n, rng)
    groups = create_series(services, tid)
    t_assets = time.perf_counter() - t0
    print(f"set-up: {sum(n.values()):,} assets and {sum(len(v) for v in groups.values()):,} "
          f"series in {t_assets:.1f} s")
    t1 = time.perf_counter()
    total_h = total_d = 0
    for (type_name, metric), ids in groups.items():
        props = asset_props(services, tid, type_name, ids)
        with store.write() as conn:
            h, d = write_group(conn, store.is_sqlite, m, rng, ids, props,
                               PLANS[type_name][metric])
        total_h += h
        total_d += d
    with store.write() as conn:
        conn.execute(text("UPDATE rollup_state SET hour_until_ms = :u, pending_min_ms = NULL "
                          "WHERE id = 1"), {"u": m.end_ms})
    incidents = write_incidents(services, tid, m, rng)
    beats = write_heartbeats(services, m)
    t_rollups = time.perf_counter() - t1
    t2 = time.perf_counter()
    with store.engine.connect() as conn:  # what autovacuum (PostgreSQL) would have done
        if store.is_sqlite:
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE")
    t_analyze = time.perf_counter() - t2
    print(f"set-up: {total_h:,} rollup_hour rows and {total_d:,} rollup_day rows for "
          f"{m.label}, {incidents} incidents, {beats:,} heartbeats in {t_rollups:.1f} s "
          f"({(total_h + total_d) / t_rollups:,.0f} rows/s); "
          f"{'ANALYZE' if store.is_sqlite else 'VACUUM ANALYZE'} {t_analyze:.1f} s; "
          f"set-up total {time.perf_counter() - t0:.1f} s")
    return services


# --- measurement ----------------------------------------------------------------------------


@dataclass
class One:
    code: str
    aggregate: str
    seconds: float
    value: float | None = None
    selected: Any = None
    rows: Any = None
    error: str | None = None


def _selected(inputs: dict[str, Any]) -> Any:
    for key in ("series_selected", "lamps", "incidents", "minutes", "lines"):
        if key in inputs:
            return inputs[key]
    if "numerator" in inputs:
        return inputs["numerator"]["series_selected"] + inputs["denominator"]["series_selected"]
    return None


def one_by_one(services: Any, window: Any, defs: list[Any]) -> list[One]:
    out = []
    for d in defs:
        t0 = time.perf_counter()
        try:
            v = services.indicators.compute(CODE, [window], [d.code], save=False,
                                            materialise=False)[0]
        except Exception as exc:  # reported, not fatal (footprint, platform)
            out.append(One(d.code, d.aggregate, time.perf_counter() - t0,
                           error=f"{type(exc).__name__}: {exc}".splitlines()[0][:90]))
            continue
        inputs = v.lineage.inputs
        out.append(One(d.code, d.aggregate, time.perf_counter() - t0, v.value,
                       _selected(inputs), inputs.get("readings")))
    return out


def measure(services: Any, m: Month, engine: str) -> None:
    ind = services.indicators
    t0 = time.perf_counter()
    installed = ind.install_defaults(CODE, ACTOR)
    print(f"install_defaults: {len(installed['created'])} created in "
          f"{time.perf_counter() - t0:.2f} s")
    window = ind.windows(CODE, "month", label=m.label)[0]
    defs = [d for d in ind.definitions(CODE) if d.active]
    with services.store.read() as conn:
        n_series = conn.execute(text("SELECT COUNT(*) FROM series")).scalar_one()

    failed: dict[str, str] = {}
    codes: list[str] | None = None  # every active indicator
    t0 = time.perf_counter()
    try:
        values = ind.compute(CODE, [window], materialise=False)
        first = time.perf_counter() - t0
    except Exception:  # find which ones fail, then time the others
        print("all at once failed:\n" + traceback.format_exc(limit=3))
        failed = {o.code: o.error or "" for o in one_by_one(services, window, defs) if o.error}
        codes = [d.code for d in defs if d.code not in failed]
        t0 = time.perf_counter()
        values = ind.compute(CODE, [window], codes, materialise=False)
        first = time.perf_counter() - t0
    t0 = time.perf_counter()
    ind.compute(CODE, [window], codes, materialise=False)
    second = time.perf_counter() - t0
    stored = len(ind.values(CODE, period="month", start_ms=window.start_ms,
                            end_ms=window.start_ms + 1))

    singles = one_by_one(services, window, defs)
    print(f"\none by one ({m.label}, save=False; a combination includes computing its inputs):")
    print(f"{'indicator':34} {'aggregate':24} {'selected':>9} {'readings':>10} "
          f"{'value':>14} {'seconds':>8}")
    for o in sorted(singles, key=lambda o: -o.seconds):
        if o.error:
            print(f"{o.code:34} {o.aggregate:24} unavailable: {o.error}")
            continue
        value = "None" if o.value is None else f"{o.value:,.3f}"
        sel = "" if o.selected is None else f"{o.selected:,}"
        rows = "" if o.rows is None else f"{o.rows:,}"
        print(f"{o.code:34} {o.aggregate:24} {sel:>9} {rows:>10} {value:>14} "
              f"{o.seconds:8.3f}")
    ok = [o for o in singles if not o.error]
    print(f"sum of the one-by-one times: {sum(o.seconds for o in ok):.2f} s")

    # Not the month's data: December's value of a state indicator reads no hour of its own
    # (rolled up until the end of November) but the last state of every series before it.
    nxt = ind.windows(CODE, "month",
                      label=f"{datetime.fromtimestamp(m.end_ms / 1000, ZONE):%Y-%m}")
    t0 = time.perf_counter()
    ind.compute(CODE, nxt, ["availability-streetlight"], save=False, materialise=False)
    carry = time.perf_counter() - t0

    n = len(values)
    print(f"\n=== {engine}: indicators over {m.label} ===")
    print(f"all {n} built-in indicators for one month of {n_series:,} series: {first:.2f} s "
          f"({engine}, first run, values saved)")
    print(f"all {n} built-in indicators, second run (warm): {second:.2f} s")
    print(f"values stored for {m.label}: {stored}")
    if failed:
        print(f"left out ({len(failed)}): " + "; ".join(f"{c}: {e}" for c, e in failed.items()))
    print(f"availability-streetlight over {nxt[0].label} (state before the month only, reads "
          f"{m.label}'s lamp statuses): {carry:.2f} s")


@contextmanager
def scratch_database(given: str | None, keep: bool) -> Iterator[str]:
    """A temporary SQLite file, or a PostgreSQL database created beside the given one."""
    if given is None:
        tmp = Path(tempfile.mkdtemp(prefix="beffroi-bench-"))
        try:
            yield f"sqlite:///{tmp / 'indicators.db'}"
        finally:
            if keep:
                print(f"kept {tmp / 'indicators.db'}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
        return
    import psycopg

    name = f"beffroi_bench_{os.getpid()}"
    base = make_url(normalise_url(given))
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dburl", help="PostgreSQL URL beside which a scratch database is "
                                        "created (default: a temporary SQLite file)")
    parser.add_argument("--series", type=int, default=100_000, help="at least this many series")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    m = previous_month()
    with scratch_database(args.dburl, args.keep) as url:
        services = build(url, args.series, m)
        engine = "SQLite" if services.store.is_sqlite else "PostgreSQL"
        try:
            measure(services, m, engine)
        finally:
            services.store.dispose()


if __name__ == "__main__":
    main()
