"""Observations: the idempotent write path, the latest value per series, and history queries.

Write path (one transaction per batch): insert the readings keyed by ``(series_id, ts_ms)``
ignoring replays, move each series' latest value forward, and note which already-materialised
hours the batch touched (see ``rollups``). Rollups are *not* updated row by row: measured on
SQLite, per-row upserts of two rollup tables cut the write rate by more than half, while
materialising a closed hour from the raw rows costs well under a second for 100,000 series.

History at hour and day resolution reads the rollup tables where they are materialised and
aggregates the raw rows (or hour rollups) live where they are not yet, so a query always
agrees with the raw data, and its cost follows the size of the answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection, bindparam, text

from beffroi.store import partitions
from beffroi.store.engine import Store

HOUR_MS = 3_600_000
# When a batch touches at least this many series in one already-materialised hour, the whole
# hour is marked for recomputation instead of each (hour, series) pair.
WHOLE_HOUR_THRESHOLD = 256

Row = tuple[int, int, float | None, str | None]  # series_id, ts_ms, value, text


@dataclass(frozen=True, slots=True)
class WriteResult:
    received: int
    stored: int
    # rows older than their series' retention horizon (``series.raw_from_ms``): not stored
    refused: tuple[Row, ...] = ()

    @property
    def duplicates(self) -> int:
        return self.received - self.stored - len(self.refused)


def floor_hour(ts_ms: int) -> int:
    return ts_ms - ts_ms % HOUR_MS


def ceil_hour(ts_ms: int) -> int:
    return -(-ts_ms // HOUR_MS) * HOUR_MS


# ---------------------------------------------------------------------------------------------
# Write path


_SERIES_TIME = itemgetter(0, 1)


def write_observations(store: Store, rows: Sequence[Row], *, grouped: bool = False
                       ) -> WriteResult:
    """Store readings; a reading whose (series, time) is already stored is ignored.

    ``grouped=True`` is a bulk writer's promise that each series' rows come in strictly
    ascending time (no two at the same time), which saves sorting them here.
    """
    if not rows:
        return WriteResult(0, 0)
    ordered = rows if grouped else sorted(rows, key=_SERIES_TIME)
    times = [r[1] for r in ordered]
    min_ts, max_ts = min(times), max(times)
    partitions.ensure_range(store, min_ts, max_ts)
    if grouped:
        newest = {r[0]: r for r in ordered}  # ascending time: the last one is the newest
    else:
        newest = {}
        for row in ordered:
            seen = newest.get(row[0])
            if seen is None or row[1] > seen[1]:  # equal times: the first is stored, so kept
                newest[row[0]] = row
    with store.write() as conn:
        until, pending, purged = _write_state(store, conn)
        refused: list[Row] = []
        if purged is not None and min_ts < purged:
            ordered, refused = _refuse_purged(conn, ordered)
            if refused:
                newest = {r[0]: r for r in sorted(ordered, key=_SERIES_TIME)}
                if not ordered:
                    return WriteResult(len(rows), 0, tuple(refused))
                min_ts = min(r[1] for r in ordered)
        if store.is_sqlite:
            stored = _insert(conn, ordered)
            _upsert_latest(conn, list(newest.values()))
        else:
            stored = _pg_write(conn, ordered, newest)
        _note_rollup_work(conn, ordered, min_ts, until, pending)
    return WriteResult(len(rows), stored, tuple(refused))


def _write_state(store: Store, conn: Connection) -> tuple[int | None, int | None, int | None]:
    """As :func:`read_rollup_state` (in share mode), with the newest retention horizon."""
    row = conn.execute(text(
        "SELECT hour_until_ms, pending_min_ms, raw_purged_max_ms FROM rollup_state WHERE id = 1"
        + ("" if store.is_sqlite else " FOR SHARE"))).one()
    until, pending, purged = (None if v is None else int(v) for v in row)
    return until, pending, purged


_HORIZONS = text("SELECT id, raw_from_ms FROM series WHERE id IN :ids AND raw_from_ms IS NOT "
                 "NULL").bindparams(bindparam("ids", expanding=True))


def _refuse_purged(conn: Connection, rows: Sequence[Row]) -> tuple[list[Row], list[Row]]:
    """Split rows into those to store and those older than their series' horizon."""
    horizons = {int(i): int(t) for i, t in conn.execute(
        _HORIZONS, {"ids": sorted({r[0] for r in rows})})}
    if not horizons:
        return list(rows), []
    kept: list[Row] = []
    refused: list[Row] = []
    for r in rows:
        (refused if r[1] < horizons.get(r[0], r[1]) else kept).append(r)
    return kept, refused


def read_rollup_state(
    store: Store, conn: Connection, lock: str | None = None
) -> tuple[int | None, int | None]:
    """(hour_until_ms, pending_min_ms). On PostgreSQL, writers take the state row in share
    mode and the materialiser in update mode, so a recomputation never misses a batch that
    was being written while it ran (SQLite's single writer gives the same guarantee)."""
    suffix = ""
    if not store.is_sqlite and lock == "share":
        suffix = " FOR SHARE"
    elif not store.is_sqlite and lock == "update":
        suffix = " FOR UPDATE"
    until, pending = conn.execute(
        text("SELECT hour_until_ms, pending_min_ms FROM rollup_state WHERE id = 1" + suffix)
    ).one()
    return (None if until is None else int(until), None if pending is None else int(pending))


# SQLite: the rows of a batch as one JSON array parameter. "WHERE true" lets the parser tell
# the upsert's ON CONFLICT from a join constraint.
_SQLITE_ROWS = (
    "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
    "json_extract(value, '$[2]'), json_extract(value, '$[3]') FROM json_each(?) WHERE true"
)


def _json_rows(rows: Sequence[Row]) -> str:
    return orjson.dumps(rows).decode()


def _insert(conn: Connection, rows: Sequence[Row]) -> int:
    """SQLite: one statement over a JSON array of rows (about twice as fast as executemany,
    which steps the statement, and re-takes the GIL, once per row)."""
    result = conn.exec_driver_sql(
        "INSERT INTO observations (series_id, ts_ms, value, text) " + _SQLITE_ROWS
        + " ON CONFLICT DO NOTHING",
        (_json_rows(rows),),
    )
    return int(result.rowcount)


_PG_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS beffroi_stage (series_id int, ts_ms bigint, value float8, "
    "text varchar(64), newest bool) ON COMMIT DELETE ROWS"
)
_LATEST_TAIL = (
    "ON CONFLICT (series_id) DO UPDATE SET ts_ms = excluded.ts_ms, value = excluded.value, "
    "text = excluded.text WHERE excluded.ts_ms > latest.ts_ms"
)


def _pg_write(conn: Connection, rows: Sequence[Row], newest: dict[int, Row]) -> int:
    """PostgreSQL: the batch goes into a session's temporary table by binary COPY (cheap for
    the client), then into observations (replays ignored) and latest with two statements."""
    fairy = conn.connection
    cursor = fairy.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if not fairy.info.get("beffroi_stage"):
            cursor.execute(_PG_STAGE)
            fairy.info["beffroi_stage"] = True
        newest_ids = {id(r) for r in newest.values()}
        with cursor.copy("COPY beffroi_stage (series_id, ts_ms, value, text, newest) "
                         "FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "int8", "float8", "varchar", "bool"])
            for r in rows:
                copy.write_row((r[0], r[1], r[2], r[3], id(r) in newest_ids))
        cursor.execute("INSERT INTO observations (series_id, ts_ms, value, text) "
                       "SELECT series_id, ts_ms, value, text FROM beffroi_stage "
                       "ON CONFLICT DO NOTHING")
        stored = int(cursor.rowcount)
        cursor.execute("INSERT INTO latest (series_id, ts_ms, value, text) "
                       "SELECT series_id, ts_ms, value, text FROM beffroi_stage WHERE newest "
                       + _LATEST_TAIL)
    finally:
        cursor.close()
    return stored


def _upsert_latest(conn: Connection, rows: Sequence[Row]) -> None:
    """SQLite: the newest row of each series into ``latest``, unless it holds a newer one."""
    conn.exec_driver_sql(
        "INSERT INTO latest (series_id, ts_ms, value, text) " + _SQLITE_ROWS + " "
        + _LATEST_TAIL,
        (_json_rows(rows),),
    )


def _note_rollup_work(
    conn: Connection, rows: Sequence[Row], min_ts: int, until: int | None, pending: int | None
) -> None:
    if until is None:
        if pending is None or min_ts < pending:
            conn.execute(
                text("UPDATE rollup_state SET pending_min_ms = :p WHERE id = 1"), {"p": min_ts}
            )
        return
    if min_ts >= until:
        return
    touched: dict[int, set[int]] = defaultdict(set)
    for series_id, ts_ms, _v, _t in rows:
        if ts_ms < until:
            touched[ts_ms - ts_ms % HOUR_MS].add(series_id)
    marks: list[dict[str, int]] = []
    for bucket, series_ids in touched.items():
        if len(series_ids) >= WHOLE_HOUR_THRESHOLD:
            marks.append({"b": bucket, "s": 0})
        else:
            marks.extend({"b": bucket, "s": s} for s in series_ids)
    conn.execute(
        text(
            "INSERT INTO rollup_dirty (bucket_ms, series_id) VALUES (:b, :s) "
            "ON CONFLICT DO NOTHING"
        ),
        marks,
    )


def delete_series_data(conn: Connection, series_ids: Sequence[int]) -> None:
    """Remove every reading, latest value and rollup of these series (asset deletion)."""
    for i in range(0, len(series_ids), 500):
        chunk = {"ids": list(series_ids[i : i + 500])}
        for table in ("observations", "latest", "rollup_hour", "rollup_day", "rollup_dirty"):
            conn.execute(
                text(f"DELETE FROM {table} WHERE series_id IN :ids").bindparams(
                    _expanding("ids")
                ),
                chunk,
            )


def _expanding(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name, expanding=True)


# ---------------------------------------------------------------------------------------------
# Aggregation SQL shared by the materialiser (INSERT) and live queries (SELECT)


def hour_aggregate_sql(store: Store, *, one_series: bool) -> str:
    """SELECT of hour buckets from raw readings in [:a, :b), one series or all of them."""
    if one_series:
        source = "FROM observations o WHERE o.series_id = :sid AND o.ts_ms >= :a AND o.ts_ms < :b"
    elif store.is_sqlite:
        # Drive the scan by series so that SQLite seeks the (series_id, ts_ms) key per series
        # instead of reading the whole table.
        source = (
            "FROM series s CROSS JOIN observations o ON o.series_id = s.id "
            "WHERE o.ts_ms >= :a AND o.ts_ms < :b"
        )
    else:
        source = "FROM observations o WHERE o.ts_ms >= :a AND o.ts_ms < :b"
    return (
        "SELECT a.series_id, a.bucket_ms, a.n, a.vmin, a.vmax, a.vsum, "
        "l.value AS last_value, l.text AS last_text, a.last_ts_ms "
        "FROM (SELECT o.series_id AS series_id, "
        f"(o.ts_ms / {HOUR_MS}) * {HOUR_MS} AS bucket_ms, count(*) AS n, "
        "min(o.value) AS vmin, max(o.value) AS vmax, sum(o.value) AS vsum, "
        f"max(o.ts_ms) AS last_ts_ms {source} "
        f"GROUP BY o.series_id, (o.ts_ms / {HOUR_MS}) * {HOUR_MS}) a "
        "JOIN observations l ON l.series_id = a.series_id AND l.ts_ms = a.last_ts_ms"
    )


def day_aggregate_sql(*, one_series: bool) -> str:
    """SELECT of one day bucket (:day, hours in [:a, :b)) from hour rollups."""
    where = "s.id = :sid" if one_series else "s.territory_id = :tid"
    return (
        "SELECT a.series_id, :day AS bucket_ms, a.n, a.vmin, a.vmax, a.vsum, "
        "h.last_value, h.last_text, a.last_ts_ms "
        "FROM (SELECT r.series_id AS series_id, sum(r.n) AS n, min(r.vmin) AS vmin, "
        "max(r.vmax) AS vmax, sum(r.vsum) AS vsum, max(r.last_ts_ms) AS last_ts_ms "
        "FROM series s JOIN rollup_hour r ON r.series_id = s.id "
        f"WHERE {where} AND r.bucket_ms >= :a AND r.bucket_ms < :b GROUP BY r.series_id) a "
        "JOIN rollup_hour h ON h.series_id = a.series_id "
        f"AND h.bucket_ms = (a.last_ts_ms / {HOUR_MS}) * {HOUR_MS}"
    )


UPSERT_TAIL = (
    " WHERE true ON CONFLICT (series_id, bucket_ms) DO UPDATE SET n = excluded.n, "
    "vmin = excluded.vmin, vmax = excluded.vmax, vsum = excluded.vsum, "
    "last_value = excluded.last_value, last_text = excluded.last_text, "
    "last_ts_ms = excluded.last_ts_ms"
)


def local_day_starts(zone: ZoneInfo, a_ms: int, b_ms: int) -> list[int]:
    """UTC ms of the local midnights of every day overlapping [a_ms, b_ms), plus the next one.

    The returned list has one more element than there are days, so that day i spans
    ``[starts[i], starts[i + 1])`` (23 or 25 hours long on daylight-saving changes).
    """
    day = datetime.fromtimestamp(a_ms / 1000, zone).date()
    starts: list[int] = []
    while True:
        start = int(datetime.combine(day, dtime(), tzinfo=zone).timestamp() * 1000)
        starts.append(start)
        if start >= b_ms:
            return starts
        day += timedelta(days=1)


# ---------------------------------------------------------------------------------------------
# Reads


def latest_values(conn: Connection, series_ids: Sequence[int]) -> dict[int, tuple[int, Any]]:
    out: dict[int, tuple[int, Any]] = {}
    for i in range(0, len(series_ids), 900):
        rows = conn.execute(
            text(
                "SELECT series_id, ts_ms, value, text FROM latest WHERE series_id IN :ids"
            ).bindparams(_expanding("ids")),
            {"ids": list(series_ids[i : i + 900])},
        )
        for sid, ts_ms, value, txt in rows:
            out[sid] = (ts_ms, value if txt is None else txt)
    return out


def raw_history(
    conn: Connection, series_id: int, from_ms: int, to_ms: int, limit: int
) -> list[tuple[int, Any]]:
    rows = conn.execute(
        text(
            "SELECT ts_ms, value, text FROM observations WHERE series_id = :sid "
            "AND ts_ms >= :a AND ts_ms < :b ORDER BY ts_ms LIMIT :lim"
        ),
        {"sid": series_id, "a": from_ms, "b": to_ms, "lim": limit},
    )
    return [(ts, value if txt is None else txt) for ts, value, txt in rows]


@dataclass(frozen=True, slots=True)
class Bucket:
    start_ms: int
    n: int
    vmin: float | None
    vmax: float | None
    vsum: float | None
    last: Any
    last_ts_ms: int

    @property
    def mean(self) -> float | None:
        return None if self.vsum is None or self.n == 0 else self.vsum / self.n

    def merge(self, other: Bucket, start_ms: int) -> Bucket:
        newer = other if other.last_ts_ms > self.last_ts_ms else self
        return Bucket(
            start_ms,
            self.n + other.n,
            _opt(min, self.vmin, other.vmin),
            _opt(max, self.vmax, other.vmax),
            _opt(lambda x, y: x + y, self.vsum, other.vsum),
            newer.last,
            newer.last_ts_ms,
        )


def _opt(fn: Any, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return float(fn(a, b))


def _bucket(row: Any) -> Bucket:
    last = row.last_text if row.last_text is not None else row.last_value
    return Bucket(
        int(row.bucket_ms), int(row.n), row.vmin, row.vmax, row.vsum, last, int(row.last_ts_ms)
    )


def _state(conn: Connection) -> int | None:
    until = conn.execute(text("SELECT hour_until_ms FROM rollup_state WHERE id = 1")).scalar()
    return None if until is None else int(until)


def _dirty_hours(conn: Connection, series_id: int, a_ms: int, b_ms: int) -> set[int]:
    rows = conn.execute(
        text(
            "SELECT bucket_ms FROM rollup_dirty WHERE bucket_ms >= :a AND bucket_ms < :b "
            "AND series_id IN (0, :sid)"
        ),
        {"a": a_ms, "b": b_ms, "sid": series_id},
    )
    return {int(r[0]) for r in rows}


def hour_history(
    store: Store, conn: Connection, series_id: int, from_ms: int, to_ms: int
) -> list[Bucket]:
    """Hour buckets starting in [from_ms, to_ms), materialised or computed live."""
    a, b = ceil_hour(from_ms), ceil_hour(to_ms)
    if a >= b:
        return []
    until = _state(conn)
    mat_end = a if until is None else max(a, min(b, until))
    dirty = _dirty_hours(conn, series_id, a, mat_end)
    out: dict[int, Bucket] = {}
    if mat_end > a:
        rows = conn.execute(
            text(
                "SELECT bucket_ms, n, vmin, vmax, vsum, last_value, last_text, last_ts_ms "
                "FROM rollup_hour WHERE series_id = :sid AND bucket_ms >= :a AND bucket_ms < :b"
            ),
            {"sid": series_id, "a": a, "b": mat_end},
        )
        for row in rows:
            if int(row.bucket_ms) not in dirty:
                out[int(row.bucket_ms)] = _bucket(row)
    live = [(h, h + HOUR_MS) for h in sorted(dirty)]
    if mat_end < b:
        live.append((mat_end, b))
    sql = text(hour_aggregate_sql(store, one_series=True))
    for la, lb in live:
        for row in conn.execute(sql, {"sid": series_id, "a": la, "b": lb}):
            out[int(row.bucket_ms)] = _bucket(row)
    return [out[k] for k in sorted(out)]


def day_history(
    store: Store, conn: Connection, series_id: int, zone: ZoneInfo, from_ms: int, to_ms: int
) -> list[Bucket]:
    """Local-day buckets (in ``zone``) starting in [from_ms, to_ms)."""
    starts = [s for s in local_day_starts(zone, from_ms, to_ms) if s >= from_ms]
    if len(starts) < 2:
        return []
    days = [(starts[i], starts[i + 1]) for i in range(len(starts) - 1) if starts[i] < to_ms]
    if not days:
        return []
    until = _state(conn)
    first, last_end = days[0][0], days[-1][1]
    dirty = _dirty_hours(conn, series_id, first, last_end)
    materialised: dict[int, Bucket] = {}
    rows = conn.execute(
        text(
            "SELECT bucket_ms, n, vmin, vmax, vsum, last_value, last_text, last_ts_ms "
            "FROM rollup_day WHERE series_id = :sid AND bucket_ms >= :a AND bucket_ms < :b"
        ),
        {"sid": series_id, "a": first, "b": last_end},
    )
    for row in rows:
        materialised[int(row.bucket_ms)] = _bucket(row)
    out: list[Bucket] = []
    for start, end in days:
        clean = (
            until is not None
            and end <= until
            and not any(start <= h < end for h in dirty)
        )
        if clean:
            if start in materialised:
                out.append(materialised[start])
            continue
        hours = hour_history(store, conn, series_id, start, end)
        if hours:
            merged = hours[0]
            for h in hours[1:]:
                merged = merged.merge(h, start)
            out.append(Bucket(start, merged.n, merged.vmin, merged.vmax, merged.vsum,
                              merged.last, merged.last_ts_ms))
    return out
