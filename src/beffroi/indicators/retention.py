"""Raw-data retention per domain: policies, the plan (what a purge would free) and the purge.

A policy keeps the raw readings of a territory's domain for ``raw_days`` days; rollups (hour
and day) are always kept, so charts and indicators keep working on the whole history.

The purge boundary of a domain is the hour

    boundary = min(floor_hour(now - raw_days), rollup watermark, first dirty hour below both)

so that only hours already materialised into the rollups, and not waiting for a
recomputation, lose their raw rows. Each purge deletes *every* raw row below the boundary of
the domain's series: what is left of a series' history is always one contiguous run of whole
hours. That is what lets the plan count the rows to delete from the rollups instead of the
raw table: for each series, Σ ``rollup_hour.n`` over the hours from the hour of its oldest raw
reading (an index seek) up to the boundary — exact, and its cost follows the hours to purge,
not the rows.

Bytes freed are estimated as rows × the measured bytes per raw row (the ``observations``
table with its indexes, divided by its row count); the storage energy saved per year follows
the footprint model (``storage.*`` and ``server.pue`` factors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.exc import DBAPIError

from beffroi.assets.types import DOMAINS
from beffroi.errors import ValidationFailed, field_error
from beffroi.indicators.footprint import Factors, measure_storage
from beffroi.indicators.tables import retention_policies
from beffroi.store.engine import Store
from beffroi.store.timeseries import HOUR_MS, floor_hour, read_rollup_state

DAY_MS = 86_400_000
MAX_DAYS = 36_500
SERIES_PER_BATCH = 100
SLICE_MS = 7 * DAY_MS  # one delete statement covers at most a week of a batch of series
PURGE_EVERY_MS = 6 * 3_600_000  # the worker's scheduled purge


# --- policies ----------------------------------------------------------------------------------


def get_policies(conn: Connection, territory_id: int) -> dict[str, int]:
    t = retention_policies
    rows = conn.execute(t.select().where(t.c.territory_id == territory_id).order_by(t.c.domain))
    return {r.domain: int(r.raw_days) for r in rows}


def territories_with_policies(conn: Connection) -> list[int]:
    t = retention_policies
    return [int(r[0]) for r in conn.execute(
        t.select().with_only_columns(t.c.territory_id).distinct().order_by(t.c.territory_id))]


def validate_policy(domain: Any, raw_days: Any) -> tuple[str, int]:
    problems: list[dict[str, Any]] = []
    if not isinstance(domain, str) or domain not in DOMAINS:
        problems.append(field_error("domain", f"unknown domain {domain!r} (known: "
                                              f"{', '.join(DOMAINS)})"))
    if isinstance(raw_days, bool) or not isinstance(raw_days, int):
        problems.append(field_error("raw_days", f"a whole number of days expected, got "
                                                f"{raw_days!r}"))
    elif not 1 <= raw_days <= MAX_DAYS:
        problems.append(field_error("raw_days", f"must be between 1 and {MAX_DAYS}"))
    if problems:
        raise ValidationFailed("invalid retention policy", problems)
    return str(domain), int(raw_days)


def set_policy(conn: Connection, territory_id: int, domain: str, raw_days: int, actor: str,
               now_ms: int) -> int | None:
    """Create or change a domain's policy; returns the previous number of days, if any."""
    domain, raw_days = validate_policy(domain, raw_days)
    t = retention_policies
    row = conn.execute(t.select().where(t.c.territory_id == territory_id,
                                        t.c.domain == domain)).first()
    values = {"raw_days": raw_days, "updated_ms": now_ms, "updated_by": actor}
    if row is None:
        conn.execute(t.insert().values(territory_id=territory_id, domain=domain, **values))
        return None
    conn.execute(t.update().where(t.c.id == row.id).values(**values))
    return int(row.raw_days)


def delete_policy(conn: Connection, territory_id: int, domain: str) -> int | None:
    """Remove a domain's policy (raw data kept forever again); returns its days, if any."""
    t = retention_policies
    row = conn.execute(t.select().where(t.c.territory_id == territory_id,
                                        t.c.domain == domain)).first()
    if row is None:
        return None
    conn.execute(t.delete().where(t.c.id == row.id))
    return int(row.raw_days)


# --- boundary ----------------------------------------------------------------------------------


def purge_boundary(conn: Connection, until: int | None, cutoff_ms: int) -> int | None:
    """The hour below which raw rows may go (None: nothing is materialised yet)."""
    if until is None:
        return None
    limit = min(floor_hour(cutoff_ms), until)
    dirty = conn.execute(text("SELECT min(bucket_ms) FROM rollup_dirty WHERE bucket_ms < :b"),
                         {"b": limit}).scalar()
    return limit if dirty is None else min(limit, int(dirty))


def _domain_series(conn: Connection, territory_id: int, domain: str) -> list[int]:
    return [int(r[0]) for r in conn.execute(text(
        "SELECT s.id FROM series s JOIN assets a ON a.id = s.asset_id "
        "WHERE s.territory_id = :tid AND a.domain = :d ORDER BY s.id"),
        {"tid": territory_id, "d": domain})]


# --- plan --------------------------------------------------------------------------------------


@dataclass
class DomainPlan:
    domain: str
    raw_days: int
    cutoff_ms: int  # now - raw_days
    boundary_ms: int | None  # the hour below which rows go (None: nothing materialised)
    series: int
    rows_to_delete: int
    rows_kept: int  # raw rows at or after the boundary (up to now)
    bytes_freed: float
    kwh_per_year: float  # storage energy saved per year once purged
    kgco2e_per_year: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RetentionPlan:
    territory_id: int
    now_ms: int
    bytes_per_row: float  # measured: observations bytes / observations rows
    observations_bytes: int
    observations_rows: int
    domains: list[DomainPlan] = field(default_factory=list)
    factors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"now_ms": self.now_ms, "bytes_per_row": self.bytes_per_row,
                "observations_bytes": self.observations_bytes,
                "observations_rows": self.observations_rows,
                "domains": [d.to_dict() for d in self.domains], "factors": self.factors}

    def total(self) -> dict[str, float]:
        return {"rows_to_delete": sum(d.rows_to_delete for d in self.domains),
                "bytes_freed": sum(d.bytes_freed for d in self.domains),
                "kwh_per_year": sum(d.kwh_per_year for d in self.domains),
                "kgco2e_per_year": sum(d.kgco2e_per_year for d in self.domains)}


def observation_rows(conn: Connection, store_is_sqlite: bool) -> int:
    """Rows of ``observations``: from the B-tree leaves (dbstat) on SQLite, the planner's
    estimate on PostgreSQL once the table was analysed, else an exact count."""
    if store_is_sqlite:
        try:
            n = conn.execute(text("SELECT sum(ncell) FROM dbstat WHERE name = 'observations' "
                                  "AND pagetype = 'leaf'")).scalar()
            if n is not None:
                return int(n)
        except DBAPIError:  # no dbstat in this SQLite build: count instead
            pass
    else:
        est = conn.execute(text(
            "SELECT sum(c.reltuples), min(c.reltuples) FROM pg_class c "
            "JOIN pg_inherits i ON i.inhrelid = c.oid JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = 'observations'")).one()
        if est[0] is not None and float(est[1]) >= 0:
            return int(est[0])
    return int(conn.execute(text("SELECT count(*) FROM observations")).scalar_one())


_ROWS_BELOW = text(
    "SELECT sum(r.n) FROM rollup_hour r JOIN ("
    " SELECT s.id AS sid, (SELECT min(o.ts_ms) FROM observations o WHERE o.series_id = s.id)"
    " AS first_ms FROM series s WHERE s.id IN :ids) f ON r.series_id = f.sid "
    f"WHERE r.bucket_ms >= (f.first_ms / {HOUR_MS}) * {HOUR_MS} AND r.bucket_ms < :b"
).bindparams(bindparam("ids", expanding=True))


def rows_below(conn: Connection, series_ids: list[int], boundary: int) -> int:
    """Raw rows of these series older than ``boundary`` (an hour at or below the watermark
    with no dirty hour below it), from the hour rollups (see the module's text)."""
    total = 0
    for i in range(0, len(series_ids), 500):
        n = conn.execute(_ROWS_BELOW, {"ids": series_ids[i: i + 500], "b": boundary}).scalar()
        total += int(n or 0)
    return total


def _rows_kept(conn: Connection, series_ids: list[int], start: int, end: int,
               until: int | None) -> int:
    """Raw rows in [start, end): hour rollups where materialised and clean, raw elsewhere."""
    total = 0
    for i in range(0, len(series_ids), 500):
        ids = series_ids[i: i + 500]
        mat_end = start if until is None else max(start, min(end, until))
        if mat_end > start:
            dirty = [int(b) for (b,) in conn.execute(text(
                "SELECT DISTINCT bucket_ms FROM rollup_dirty WHERE bucket_ms >= :a "
                "AND bucket_ms < :b"), {"a": start, "b": mat_end})]
            total += int(conn.execute(text(
                "SELECT coalesce(sum(n), 0) FROM rollup_hour WHERE series_id IN :ids "
                "AND bucket_ms >= :a AND bucket_ms < :b AND bucket_ms NOT IN :dirty"
            ).bindparams(bindparam("ids", expanding=True), bindparam("dirty", expanding=True)),
                {"ids": ids, "a": start, "b": mat_end, "dirty": dirty or [-1]}).scalar_one())
            for bucket in dirty:
                total += _count_raw(conn, ids, bucket, bucket + HOUR_MS)
        total += _count_raw(conn, ids, mat_end, end)
    return total


def _count_raw(conn: Connection, ids: list[int], a: int, b: int) -> int:
    if a >= b:
        return 0
    return int(conn.execute(text(
        "SELECT count(*) FROM observations WHERE series_id IN :ids AND ts_ms >= :a "
        "AND ts_ms < :b").bindparams(bindparam("ids", expanding=True)),
        {"ids": ids, "a": a, "b": b}).scalar_one())


def plan(conn: Connection, store_is_sqlite: bool, territory_id: int, now_ms: int,
         factors: Factors) -> RetentionPlan:
    """What applying the territory's policies now would delete and save."""
    sizes = measure_storage(conn, store_is_sqlite)
    obs_bytes = int(sizes.get("observations", 0))
    obs_rows = observation_rows(conn, store_is_sqlite)
    per_row = obs_bytes / obs_rows if obs_rows else 0.0
    keys = ["storage.wh_per_gb_month", "storage.replicas", "server.pue",
            "electricity.kgco2e_per_kwh"]
    kwh_per_gb_year = (factors.get("storage.wh_per_gb_month") * 12
                       * factors.get("storage.replicas") * factors.get("server.pue") / 1000)
    ci = factors.get("electricity.kgco2e_per_kwh")
    result = RetentionPlan(territory_id, now_ms, per_row, obs_bytes, obs_rows, factors=keys)
    until = conn.execute(text("SELECT hour_until_ms FROM rollup_state WHERE id = 1")).scalar()
    until = None if until is None else int(until)
    for domain, days in get_policies(conn, territory_id).items():
        cutoff = now_ms - days * DAY_MS
        boundary = purge_boundary(conn, until, cutoff)
        ids = _domain_series(conn, territory_id, domain)
        rows = rows_below(conn, ids, boundary) if boundary is not None and ids else 0
        kept = _rows_kept(conn, ids, boundary if boundary is not None else 0, now_ms + 1,
                          until) if ids else 0
        freed = rows * per_row
        kwh = freed / 1e9 * kwh_per_gb_year
        result.domains.append(DomainPlan(domain, days, cutoff, boundary, len(ids), rows, kept,
                                         freed, kwh, kwh * ci))
    return result


# --- purge -------------------------------------------------------------------------------------


def apply(store: Store, territory_id: int, now_ms: int,
          progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Delete the raw readings older than each domain's boundary; rollups are kept.

    Batches of series and week-long slices, each in its own short write transaction that
    holds the rollup state row (PostgreSQL: FOR UPDATE) and recomputes the boundary, so that
    a late reading marked dirty meanwhile keeps its hour. ``progress(done, total)`` counts
    series."""
    with store.read() as conn:
        policies = get_policies(conn, territory_id)
        work = [(d, days, _domain_series(conn, territory_id, d))
                for d, days in policies.items()]
    total = sum(len(ids) for _d, _days, ids in work)
    done = 0
    deleted: dict[str, int] = {}
    if progress:
        progress(0, total)
    for domain, days, ids in work:
        deleted[domain] = 0
        cutoff = now_ms - days * DAY_MS
        for i in range(0, len(ids), SERIES_PER_BATCH):
            batch = ids[i: i + SERIES_PER_BATCH]
            deleted[domain] += _purge_batch(store, batch, cutoff)
            done += len(batch)
            if progress:
                progress(done, total)
    return deleted


_DELETE = text("DELETE FROM observations WHERE series_id IN :ids AND ts_ms >= :a "
               "AND ts_ms < :b").bindparams(bindparam("ids", expanding=True))
_OLDEST = text("SELECT min(ts_ms) FROM observations WHERE series_id IN :ids"
               ).bindparams(bindparam("ids", expanding=True))


_HORIZON = text("UPDATE series SET raw_from_ms = :t WHERE id IN :ids AND "
                "(raw_from_ms IS NULL OR raw_from_ms < :t)"
                ).bindparams(bindparam("ids", expanding=True))
_HORIZON_MAX = text("UPDATE rollup_state SET raw_purged_max_ms = :t WHERE id = 1 AND "
                    "(raw_purged_max_ms IS NULL OR raw_purged_max_ms < :t)")


def _purge_batch(store: Store, ids: list[int], cutoff: int) -> int:
    with store.read() as conn:
        oldest = conn.execute(_OLDEST, {"ids": ids}).scalar()
    if oldest is None:
        return 0
    deleted = 0
    start = floor_hour(int(oldest))
    while True:
        with store.write() as conn:
            until, _pending = read_rollup_state(store, conn, lock="update")
            boundary = purge_boundary(conn, until, cutoff)
            if boundary is None or start >= boundary:
                return deleted
            end = min(start + SLICE_MS, boundary)
            deleted += int(conn.execute(_DELETE, {"ids": ids, "a": start, "b": end}).rowcount)
            # From now on, readings of these series older than ``end`` are refused: their
            # hours' rollups are final (see store.timeseries.write_observations).
            conn.execute(_HORIZON, {"ids": ids, "t": end})
            conn.execute(_HORIZON_MAX, {"t": end})
        start = end
