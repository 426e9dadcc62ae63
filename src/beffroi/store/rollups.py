"""Materialisation of hourly and daily rollups (count, min, max, sum, last).

State: hours before the watermark ``rollup_state.hour_until_ms`` are materialised in
``rollup_hour``, except the buckets listed in ``rollup_dirty`` (late readings; series 0 means
the whole hour). A local day (in its territory's zone) is materialised in ``rollup_day`` when it
ends before the watermark and holds no dirty hour. ``materialise`` first recomputes dirty
buckets, then advances the watermark to the last closed hour, in bounded transactions so that
ingestion interleaves. Readings are never updated in place, so a recomputation is an upsert.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from beffroi.store.engine import Store
from beffroi.store.timeseries import (
    HOUR_MS,
    UPSERT_TAIL,
    day_aggregate_sql,
    floor_hour,
    hour_aggregate_sql,
    local_day_starts,
    read_rollup_state,
)

CHUNK_MS = 7 * 24 * HOUR_MS
DIRTY_PER_TRANSACTION = 5_000

_COLUMNS = (
    "(series_id, bucket_ms, n, vmin, vmax, vsum, last_value, last_text, last_ts_ms) "
)


@dataclass
class MaterialiseReport:
    hours_advanced: int = 0
    dirty_buckets: int = 0
    days: int = 0
    until_ms: int | None = None
    chunks: list[tuple[int, int]] = field(default_factory=list)


def _zones(conn: Connection) -> dict[int, ZoneInfo]:
    rows = conn.execute(text("SELECT id, timezone FROM territories"))
    return {int(tid): ZoneInfo(tz) for tid, tz in rows}


def _upsert_hours(
    store: Store, conn: Connection, a: int, b: int, series_id: int | None = None
) -> None:
    sql = hour_aggregate_sql(store, one_series=series_id is not None)
    conn.execute(
        text(f"INSERT INTO rollup_hour {_COLUMNS}" + sql + UPSERT_TAIL),
        {"a": a, "b": b, "sid": series_id},
    )


def _upsert_day(
    conn: Connection, day: int, end: int, *, territory_id: int | None = None,
    series_id: int | None = None,
) -> None:
    sql = day_aggregate_sql(one_series=series_id is not None)
    conn.execute(
        text(f"INSERT INTO rollup_day {_COLUMNS}" + sql + UPSERT_TAIL),
        {"day": day, "a": day, "b": end, "tid": territory_id, "sid": series_id},
    )


def _days_within(zone: ZoneInfo, a: int, b: int, until: int) -> list[tuple[int, int]]:
    """Local days overlapping [a, b) that end at or before ``until``."""
    starts = local_day_starts(zone, a, b)
    days: list[tuple[int, int]] = []
    for i in range(len(starts) - 1):
        start, end = starts[i], starts[i + 1]
        if end > a and start < b and end <= until:
            days.append((start, end))
    return days


def _days_all(store: Store, conn: Connection, a: int, b: int, until: int) -> int:
    count = 0
    for tid, zone in _zones(conn).items():
        for day, end in _days_within(zone, a, b, until):
            _upsert_day(conn, day, end, territory_id=tid)
            count += 1
    return count


def _coalesce(hours: list[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for h in sorted(hours):
        if ranges and ranges[-1][1] == h:
            ranges[-1] = (ranges[-1][0], h + HOUR_MS)
        else:
            ranges.append((h, h + HOUR_MS))
    return ranges


def _process_dirty(store: Store, conn: Connection, report: MaterialiseReport) -> int:
    until, _pending = read_rollup_state(store, conn, lock="update")
    if until is None:
        return 0
    marks = conn.execute(
        text(
            "SELECT bucket_ms, series_id FROM rollup_dirty WHERE bucket_ms < :u "
            "ORDER BY bucket_ms, series_id LIMIT :lim"
        ),
        {"u": until, "lim": DIRTY_PER_TRANSACTION},
    ).all()
    if not marks:
        return 0
    whole = {int(b) for b, s in marks if s == 0}
    for a, b in _coalesce(list(whole)):
        _upsert_hours(store, conn, a, b)
        report.days += _days_all(store, conn, a, b, until)
    pairs: dict[int, list[int]] = defaultdict(list)
    for b, s in marks:
        if s != 0 and int(b) not in whole:
            pairs[int(s)].append(int(b))
    if pairs:
        zone_of = {
            int(sid): ZoneInfo(tz)
            for sid, tz in conn.execute(
                text(
                    "SELECT s.id, t.timezone FROM series s JOIN territories t "
                    "ON t.id = s.territory_id WHERE s.id IN :ids"
                ).bindparams(_expanding("ids")),
                {"ids": list(pairs)},
            )
        }
        for sid, hours in pairs.items():
            zone = zone_of.get(sid)
            for a, b in _coalesce(hours):
                _upsert_hours(store, conn, a, b, series_id=sid)
                if zone is None:  # series deleted since the mark was written
                    continue
                for day, end in _days_within(zone, a, b, until):
                    _upsert_day(conn, day, end, series_id=sid)
                    report.days += 1
    conn.execute(
        text("DELETE FROM rollup_dirty WHERE bucket_ms = :b AND series_id = :s"),
        [{"b": int(b), "s": int(s)} for b, s in marks],
    )
    report.dirty_buckets += len(marks)
    return len(marks)


def _expanding(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name, expanding=True)


def _advance_one_chunk(
    store: Store, conn: Connection, target: int, report: MaterialiseReport
) -> bool:
    until, pending = read_rollup_state(store, conn, lock="update")
    start = until if until is not None else (None if pending is None else floor_hour(pending))
    if start is None or start >= target:
        return False
    end = min(start + CHUNK_MS, target)
    _upsert_hours(store, conn, start, end)
    conn.execute(
        text("UPDATE rollup_state SET hour_until_ms = :u, pending_min_ms = NULL WHERE id = 1"),
        {"u": end},
    )
    report.days += _days_all(store, conn, start, end, end)
    report.hours_advanced += (end - start) // HOUR_MS
    report.chunks.append((start, end))
    report.until_ms = end
    return True


def materialise(store: Store, now_ms: int, grace_ms: int = 300_000) -> MaterialiseReport:
    """Bring the rollups up to date with every hour closed before ``now_ms - grace_ms``."""
    report = MaterialiseReport()
    while True:
        with store.write() as conn:
            if _process_dirty(store, conn, report) == 0:
                break
    target = floor_hour(now_ms - grace_ms)
    while True:
        with store.write() as conn:
            if not _advance_one_chunk(store, conn, target, report):
                break
    # Marks written while the watermark moved (late readings racing the advance).
    while True:
        with store.write() as conn:
            if _process_dirty(store, conn, report) == 0:
                break
    with store.read() as conn:
        report.until_ms = read_rollup_state(store, conn)[0]
    return report
