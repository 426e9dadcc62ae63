"""Computation of one indicator over one window, with its lineage.

Series aggregations read the rollups (day rollups for whole local days, hour rollups for the
rest), never raw observations, so the cost follows the number of series and periods asked.
Incident aggregations read the incidents' step times. Every function returns the value, the
intermediate figures, the inputs (counts) and the canonical input rows whose SHA-256 is the
value's ``inputs_hash``: recomputing with the same definition and data gives the same hash and
the same value (sums use ``math.fsum`` over series sorted by id, so the order of rows does not
matter). Formulas: docs/indicators.md.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import shapely
from shapely.geometry import shape
from sqlalchemy import Connection, bindparam, select, text

from beffroi import __version__
from beffroi.indicators.models import Indicator, Lineage, SeriesSelection, Value, Window
from beffroi.indicators.periods import local_iso
from beffroi.store import schema

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
CHUNK = 5000
_UNIT_MS = {"min": 60_000, "h": HOUR_MS, "d": DAY_MS}


@dataclass
class Context:
    """What a computation needs to know about the territory and the data."""

    conn: Connection
    territory_id: int
    territory_code: str
    zone: ZoneInfo
    lon: float | None
    lat: float | None
    now_ms: int
    rollups_until_ms: int  # hours before this are materialised in the rollups
    is_sqlite: bool
    # value of another indicator over the same window (difference / ratio)
    value_of: Callable[[str, Window], Value] | None = None
    # results shared by the indicators of one computation (e.g. one footprint estimate per
    # window for every footprint indicator)
    shared: dict[Any, Any] = field(default_factory=dict)


@dataclass
class Result:
    value: float | None
    inputs: dict[str, Any]
    figures: dict[str, Any]
    sources: dict[str, str]
    canonical: list[Any] = field(default_factory=list)  # what the inputs hash covers


@dataclass(frozen=True)
class _Series:
    id: int
    asset_id: int
    urn: str
    type: str


def compute(ind: Indicator, window: Window, ctx: Context) -> Value:
    fn = _AGGREGATIONS[ind.aggregate]
    res = fn(ind, window, ctx)
    value = res.value
    if value is not None and not math.isfinite(value):
        value = None
    if value is not None:
        value = round(value, 9)  # no noise digits: the stored value is what explain shows
    end = min(window.end_ms, ctx.now_ms)
    provisional = window.end_ms > ctx.now_ms or (
        ind.aggregate not in ("count", "percentile_of_durations", "share_within",
                              "platform_availability", "footprint", "difference", "ratio")
        and window.end_ms > ctx.rollups_until_ms)
    window_info = {"period": window.period, "label": window.label, "start_ms": window.start_ms,
                   "end_ms": window.end_ms, "start_local": local_iso(window.start_ms, ctx.zone),
                   "end_local": local_iso(window.end_ms, ctx.zone), "time_zone": str(ctx.zone),
                   "provisional": provisional, "data_until_ms": end}
    canonical = {"indicator": ind.code, "version": ind.version, "window": [
        window.period, window.start_ms, window.end_ms], "rows": res.canonical}
    inputs_hash = hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SERIALIZE_NUMPY)
                                 ).hexdigest()
    lineage = Lineage(indicator=ind.code, version=ind.version, aggregate=ind.aggregate,
                      window=window_info, inputs=res.inputs, figures=res.figures,
                      sources=res.sources, software_version=__version__,
                      inputs_hash=inputs_hash)
    target = ind.target
    return Value(code=ind.code, version=ind.version, window=window, value=value,
                 unit=ind.unit, target=target.value if target else None,
                 comparator=target.comparator if target else None,
                 met=target.met(value) if target else None, lineage=lineage,
                 computed_ms=ctx.now_ms)


# --- selection --------------------------------------------------------------------------------


def select_series(ctx: Context, sel: SeriesSelection) -> list[_Series]:
    """The series of the territory that the selection names, sorted by id."""
    s, a = schema.series, schema.assets
    q = (select(s.c.id, a.c.id, a.c.urn, a.c.type, a.c.lon, a.c.lat)
         .join(a, a.c.id == s.c.asset_id)
         .where(s.c.territory_id == ctx.territory_id, s.c.metric == sel.metric))
    if sel.types:
        q = q.where(a.c.type.in_(sorted(sel.types)))
    if sel.domains:
        q = q.where(a.c.domain.in_(sorted(sel.domains)))
    rows = ctx.conn.execute(q.order_by(s.c.id)).all()
    return [_Series(r[0], r[1], r[2], r[3]) for r in _filter_assets(rows, sel, 2, 4)]


def _filter_assets(rows: Sequence[Any], sel: SeriesSelection, urn_col: int, lon_col: int
                   ) -> list[Any]:
    out = list(rows)
    if sel.assets:
        out = [r for r in out if r[urn_col] in sel.assets]
    if sel.area is not None and out:
        area = shape(sel.area)
        inside = shapely.intersects_xy(area, np.array([r[lon_col] for r in out]),
                                       np.array([r[lon_col + 1] for r in out]))
        out = [r for r, ok in zip(out, inside.tolist(), strict=True) if ok]
    return out


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i:i + CHUNK])


def _ids_hash(ids: Sequence[int]) -> str:
    return hashlib.sha256(orjson.dumps(list(ids))).hexdigest()


def _day_starts(zone: ZoneInfo, a: int, b: int) -> list[int]:
    d = datetime.fromtimestamp(a / 1000, zone).date()
    out = []
    while True:
        ms = int(datetime.combine(d, datetime.min.time(), tzinfo=zone).timestamp() * 1000)
        out.append(ms)
        if ms >= b:
            return out
        d += timedelta(days=1)


def _split(ctx: Context, w: Window) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """[start, end) as whole local days already rolled up (day rollups) and the rest up to the
    materialised limit (hour rollups)."""
    end = min(w.end_ms, ctx.rollups_until_ms)
    if end <= w.start_ms:
        return None, None
    starts = _day_starts(ctx.zone, w.start_ms, end)
    full_end = w.start_ms
    for s in starts:
        if s <= end:
            full_end = s
    days = (w.start_ms, full_end) if full_end > w.start_ms else None
    hours = (full_end, end) if end > full_end else None
    return days, hours


_AGG_SQL = ("SELECT series_id, SUM(n), SUM(vsum), MIN(vmin), MAX(vmax) FROM {table} "
            "WHERE series_id IN :ids AND bucket_ms >= :a AND bucket_ms < :b GROUP BY series_id")


def _sums(ctx: Context, ids: Sequence[int], w: Window) -> dict[int, list[Any]]:
    """Per series: [readings, Σ value, min, max] over the window's materialised part."""
    out: dict[int, list[Any]] = {}
    days, hours = _split(ctx, w)
    for table, span in (("rollup_day", days), ("rollup_hour", hours)):
        if span is None:
            continue
        stmt = text(_AGG_SQL.format(table=table)).bindparams(bindparam("ids", expanding=True))
        for chunk in _chunks(ids):
            for sid, n, vsum, vmin, vmax in ctx.conn.execute(
                    stmt, {"ids": chunk, "a": span[0], "b": span[1]}):
                if not n:
                    continue
                cur = out.get(sid)
                if cur is None:
                    out[sid] = [int(n), float(vsum or 0.0), vmin, vmax]
                    continue
                cur[0] += int(n)
                cur[1] += float(vsum or 0.0)
                cur[2] = _opt(min, cur[2], vmin)
                cur[3] = _opt(max, cur[3], vmax)
    return out


def _opt(fn: Callable[[float, float], float], a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return fn(a, b)


_HOUR_SQL = ("SELECT series_id, bucket_ms, n, vsum, vmin, vmax, last_value, last_text, "
             "last_ts_ms FROM {table} WHERE series_id IN :ids AND bucket_ms >= :a "
             "AND bucket_ms < :b ORDER BY series_id, bucket_ms")


def _buckets(ctx: Context, ids: Sequence[int], table: str, a: int, b: int
             ) -> Iterable[tuple[Any, ...]]:
    stmt = text(_HOUR_SQL.format(table=table)).bindparams(bindparam("ids", expanding=True))
    for chunk in _chunks(ids):
        yield from ctx.conn.execute(stmt, {"ids": chunk, "a": a, "b": b})


def covered_end(ctx: Context, w: Window) -> int:
    """The end of the part of the window the data cover so far (the rolled-up hours): what a
    baseline or a schedule is prorated to, so that a month in progress compares like with
    like."""
    return max(w.start_ms, min(w.end_ms, ctx.rollups_until_ms, ctx.now_ms))


def _hour_span(ctx: Context, w: Window) -> tuple[int, int]:
    return w.start_ms, max(w.start_ms, min(w.end_ms, ctx.rollups_until_ms))


def _base_inputs(sel: SeriesSelection, series: list[_Series], data: dict[int, Any]
                 ) -> dict[str, Any]:
    return {"metric": sel.metric, "types": sorted(sel.types), "domains": sorted(sel.domains),
            "series_selected": len(series), "series_with_data": len(data),
            "readings": int(sum(v[0] for v in data.values())),
            "series_ids_sha256": _ids_hash([s.id for s in series])}


def _top(values: dict[int, float], series: list[_Series], k: int = 5, reverse: bool = True
         ) -> list[dict[str, Any]]:
    by_id = {s.id: s.urn for s in series}
    best = sorted(values.items(), key=lambda kv: (-kv[1] if reverse else kv[1], kv[0]))[:k]
    return [{"asset": by_id.get(sid, str(sid)), "value": round(v, 6)} for sid, v in best]


# --- series aggregations ----------------------------------------------------------------------


def _sum(ind: Indicator, w: Window, ctx: Context) -> Result:
    assert ind.series is not None
    series = select_series(ctx, ind.series)
    data = _sums(ctx, [s.id for s in series], w)
    scale = ind.params.get("scale", 1.0)
    total = math.fsum(data[k][1] for k in sorted(data))
    value = total * scale if data else None
    figures = {"sum_of_values": total, "scale": scale,
               "largest": _top({k: v[1] for k, v in data.items()}, series)}
    return Result(value, _base_inputs(ind.series, series, data), figures,
                  {"rollups": "rollup_day, rollup_hour"},
                  [[k, data[k][0], data[k][1]] for k in sorted(data)])


def _mean(ind: Indicator, w: Window, ctx: Context) -> Result:
    assert ind.series is not None
    series = select_series(ctx, ind.series)
    data = _sums(ctx, [s.id for s in series], w)
    scale = ind.params.get("scale", 1.0)
    n = sum(v[0] for v in data.values())
    total = math.fsum(data[k][1] for k in sorted(data))
    figures: dict[str, Any] = {"sum_of_values": total, "readings": n, "scale": scale}
    per = ind.params.get("per_series")
    value: float | None
    if per:
        means = {k: v[1] / v[0] for k, v in data.items() if v[0]}
        figures["per_series"] = per
        figures["series_means"] = _top(means, series, k=10, reverse=per != "min")
        if not means:
            value = None
        elif per == "max":
            value = max(means.values()) * scale
        elif per == "min":
            value = min(means.values()) * scale
        else:
            value = math.fsum(means[k] for k in sorted(means)) / len(means) * scale
    else:
        value = total / n * scale if n else None
    return Result(value, _base_inputs(ind.series, series, data), figures,
                  {"rollups": "rollup_day, rollup_hour"},
                  [[k, data[k][0], data[k][1]] for k in sorted(data)])


def _ratio_of_sums(ind: Indicator, w: Window, ctx: Context) -> Result:
    assert ind.series is not None and ind.denominator is not None
    num_s = select_series(ctx, ind.series)
    den_s = select_series(ctx, ind.denominator)
    num = _sums(ctx, [s.id for s in num_s], w)
    den = _sums(ctx, [s.id for s in den_s], w)
    a = math.fsum(num[k][1] for k in sorted(num))
    b = math.fsum(den[k][1] for k in sorted(den))
    scale = ind.params.get("scale", 1.0)
    value = a / b * scale if b else None
    inputs = {"numerator": _base_inputs(ind.series, num_s, num),
              "denominator": _base_inputs(ind.denominator, den_s, den)}
    return Result(value, inputs, {"numerator": a, "denominator": b, "scale": scale},
                  {"rollups": "rollup_day, rollup_hour"},
                  [[[k, num[k][0], num[k][1]] for k in sorted(num)],
                   [[k, den[k][0], den[k][1]] for k in sorted(den)]])


def _state_before(ctx: Context, ids: Sequence[int], a: int) -> dict[int, tuple[int, str]]:
    """The last state of each series before ``a`` (from the hour rollups of the 90 days
    before)."""
    # The last hour row of each series. A join of the MAX() back to rollup_hour made
    # PostgreSQL hash-join a sequential scan of the whole table for every chunk of ids; there,
    # one descending probe of the primary key (series_id, bucket_ms) per series. SQLite takes a
    # bare column's values from the row holding the MAX().
    if ctx.is_sqlite:
        sql = text("SELECT series_id, last_ts_ms, last_text, MAX(bucket_ms) FROM rollup_hour "
                   "WHERE series_id IN :ids AND bucket_ms < :a AND bucket_ms >= :lo "
                   "GROUP BY series_id").bindparams(bindparam("ids", expanding=True))
    else:
        sql = text("SELECT x.id, r.last_ts_ms, r.last_text, r.bucket_ms "
                   "FROM unnest(CAST(:ids AS integer[])) AS x(id) CROSS JOIN LATERAL "
                   "(SELECT last_ts_ms, last_text, bucket_ms FROM rollup_hour "
                   "WHERE series_id = x.id AND bucket_ms < :a AND bucket_ms >= :lo "
                   "ORDER BY bucket_ms DESC LIMIT 1) r")
    out: dict[int, tuple[int, str]] = {}
    for chunk in _chunks(ids):
        for sid, ts, txt, _b in ctx.conn.execute(sql, {"ids": chunk, "a": a,
                                                       "lo": a - 90 * DAY_MS}):
            if txt is not None:
                out[sid] = (ts, txt)
    return out


def _share_of_time_in_state(ind: Indicator, w: Window, ctx: Context) -> Result:
    """Time-weighted, hour resolution: a series is in the state of its last reading; within an
    hour only the last reading is known, so the state changes at that reading's time."""
    assert ind.series is not None
    series = select_series(ctx, ind.series)
    ids = [s.id for s in series]
    a, b = _hour_span(ctx, w)
    states = set(ind.params["states"])
    before = _state_before(ctx, ids, a)
    in_state: dict[int, int] = defaultdict(int)
    known: dict[int, int] = defaultdict(int)
    readings: dict[int, int] = defaultdict(int)
    current: dict[int, tuple[int, str | None]] = {
        sid: (a, txt) for sid, (_ts, txt) in before.items()}

    def close(sid: int, until: int) -> None:
        since, state = current.get(sid, (a, None))
        if state is not None and until > since:
            known[sid] += until - since
            if state in states:
                in_state[sid] += until - since

    for sid, _bucket, n, *_rest, last_text, last_ts in _buckets(ctx, ids, "rollup_hour", a, b):
        readings[sid] += int(n)
        if last_text is None:
            continue
        ts = max(min(int(last_ts), b), a)
        close(sid, ts)
        current[sid] = (ts, last_text)
    for sid in list(current):
        close(sid, b)
    total_known = sum(known.values())
    total_in = sum(in_state.values())
    scale = ind.params.get("scale", 1.0)
    result = ind.params.get("result", "share")
    if result == "hours":
        value: float | None = total_in / HOUR_MS if known else None
    else:
        value = total_in / total_known * scale if total_known else None
    inputs = {"metric": ind.series.metric, "types": sorted(ind.series.types),
              "series_selected": len(series), "series_with_known_state": len(known),
              "readings": sum(readings.values()), "states": sorted(states),
              "series_ids_sha256": _ids_hash(ids)}
    figures = {"hours_in_states": round(total_in / HOUR_MS, 6),
               "hours_with_known_state": round(total_known / HOUR_MS, 6),
               "hours_unknown": round((len(series) * (b - a) - total_known) / HOUR_MS, 6),
               "result": result, "scale": scale,
               "most_in_states": _top({k: v / HOUR_MS for k, v in in_state.items()}, series)}
    return Result(value, inputs, figures, {"rollups": "rollup_hour"},
                  [[k, known[k], in_state.get(k, 0)] for k in sorted(known)])


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda x, y: x > y, ">=": lambda x, y: x >= y,
    "<": lambda x, y: x < y, "<=": lambda x, y: x <= y,
}


def _statistic(stat: str, n: int, vsum: float | None, vmin: float | None, vmax: float | None
               ) -> float | None:
    if stat == "mean":
        return vsum / n if n and vsum is not None else None
    if stat == "max":
        return vmax
    if stat == "min":
        return vmin
    return vsum


def _count_buckets_above(ind: Indicator, w: Window, ctx: Context) -> Result:
    assert ind.series is not None
    series = select_series(ctx, ind.series)
    ids = [s.id for s in series]
    p = ind.params
    bucket, stat = p["bucket"], p.get("statistic", "mean")
    op, limit, reduce = p.get("op", ">"), p["limit"], p.get("reduce", "any")
    if bucket == "day":
        days, _hours = _split(ctx, w)
        table, (a, b) = "rollup_day", days or (w.start_ms, w.start_ms)
    else:
        table, (a, b) = "rollup_hour", _hour_span(ctx, w)
    passing: dict[int, list[int]] = defaultdict(list)
    buckets_with_data: set[int] = set()
    readings = 0
    for sid, bucket_ms, n, vsum, vmin, vmax, *_ in _buckets(ctx, ids, table, a, b):
        readings += int(n)
        buckets_with_data.add(bucket_ms)
        v = _statistic(stat, int(n), vsum, vmin, vmax)
        if v is not None and _OPS[op](v, limit):
            passing[sid].append(int(bucket_ms))
    per_series = {sid: len(bs) for sid, bs in passing.items()}
    if reduce == "any":
        value = float(len({b for bs in passing.values() for b in bs}))
    elif reduce == "max":
        value = float(max(per_series.values(), default=0))
    else:
        value = float(sum(per_series.values()))
    if not buckets_with_data:
        value_or_none: float | None = None
    else:
        value_or_none = value
    inputs = {"metric": ind.series.metric, "types": sorted(ind.series.types),
              "series_selected": len(series), "readings": readings,
              "buckets_with_data": len(buckets_with_data), "bucket": bucket,
              "series_ids_sha256": _ids_hash(ids)}
    figures = {"statistic": stat, "op": op, "limit": limit, "reduce": reduce,
               "buckets_passing_any_series": len({b for bs in passing.values() for b in bs}),
               "series_counts": _top({k: float(v) for k, v in per_series.items()}, series),
               "first_buckets": [local_iso(b, ctx.zone) for b in sorted(
                   {b for bs in passing.values() for b in bs})[:10]]}
    return Result(value_or_none, inputs, figures, {"rollups": table},
                  [[k, passing[k]] for k in sorted(passing)] + [len(buckets_with_data)])


def _share_of_buckets_within(ind: Indicator, w: Window, ctx: Context) -> Result:
    assert ind.series is not None
    series = select_series(ctx, ind.series)
    ids = [s.id for s in series]
    low, high = ind.params.get("low"), ind.params.get("high")
    a, b = _hour_span(ctx, w)
    total = within = readings = 0
    outside: dict[int, float] = defaultdict(float)
    for sid, _bucket, n, _vsum, vmin, vmax, *_ in _buckets(ctx, ids, "rollup_hour", a, b):
        if vmin is None or vmax is None:
            continue
        total += 1
        readings += int(n)
        if (low is None or vmin >= low) and (high is None or vmax <= high):
            within += 1
        else:
            outside[sid] += 1
    scale = ind.params.get("scale", 1.0)
    value = within / total * scale if total else None
    inputs = {"metric": ind.series.metric, "types": sorted(ind.series.types),
              "series_selected": len(series), "readings": readings, "hours_with_data": total,
              "series_ids_sha256": _ids_hash(ids)}
    figures = {"low": low, "high": high, "hours_within": within,
               "hours_outside": total - within, "scale": scale,
               "most_outside": _top(dict(outside), series)}
    return Result(value, inputs, figures, {"rollups": "rollup_hour"}, [total, within])


_WITH_DATA_SQL = ("SELECT series_id, COUNT(*), SUM(n) FROM rollup_hour WHERE series_id IN :ids "
                  "AND bucket_ms >= :a AND bucket_ms < :b AND n > 0 GROUP BY series_id")


def _share_of_buckets_with_data(ind: Indicator, w: Window, ctx: Context) -> Result:
    assert ind.series is not None
    series = select_series(ctx, ind.series)
    ids = [s.id for s in series]
    a, b = _hour_span(ctx, w)
    hours = len(range(a, b, HOUR_MS))
    with_data: dict[int, int] = defaultdict(int)
    readings = 0
    # Counted in SQL: the hour rows themselves are not needed (a month of cabinets is 600,000).
    stmt = text(_WITH_DATA_SQL).bindparams(bindparam("ids", expanding=True))
    for chunk in _chunks(ids):
        for sid, hours_with_data, n in ctx.conn.execute(stmt, {"ids": chunk, "a": a, "b": b}):
            with_data[sid] += int(hours_with_data)
            readings += int(n)
    expected = len(series) * hours
    got = sum(with_data.values())
    scale = ind.params.get("scale", 1.0)
    value = got / expected * scale if expected else None
    inputs = {"metric": ind.series.metric, "types": sorted(ind.series.types),
              "series_selected": len(series), "readings": readings, "hours": hours,
              "series_ids_sha256": _ids_hash(ids)}
    silent = {s.id: float(hours - with_data.get(s.id, 0)) for s in series}
    figures = {"series_hours_expected": expected, "series_hours_with_data": got,
               "scale": scale, "most_silent": _top(silent, series)}
    return Result(value, inputs, figures, {"rollups": "rollup_hour"},
                  [[k, with_data[k]] for k in sorted(with_data)] + [expected])


def _sum_of_drops(ind: Indicator, w: Window, ctx: Context) -> Result:
    """A drop (a container emptied): within an hour, ``max − last ≥ min_drop``; across hours,
    ``previous hour's last − min ≥ min_drop``. The level before it is the larger of the
    previous hour's last value and the hour's maximum."""
    assert ind.series is not None
    series = select_series(ctx, ind.series)
    ids = [s.id for s in series]
    a, b = _hour_span(ctx, w)
    min_drop = ind.params["min_drop"]
    events: list[tuple[int, int, float]] = []
    prev: dict[int, float] = {}
    readings = 0
    for sid, bucket, n, _vsum, vmin, vmax, last, *_ in _buckets(ctx, ids, "rollup_hour", a, b):
        readings += int(n)
        if vmin is None or vmax is None or last is None:
            continue
        before = prev.get(sid)
        if (vmax - last >= min_drop) or (before is not None and before - vmin >= min_drop):
            events.append((sid, int(bucket), max(before if before is not None else vmax, vmax)))
        prev[sid] = last
    result = ind.params.get("result", "count")
    inputs = {"metric": ind.series.metric, "types": sorted(ind.series.types),
              "series_selected": len(series), "readings": readings,
              "series_ids_sha256": _ids_hash(ids)}
    figures: dict[str, Any] = {"min_drop": min_drop, "drops": len(events), "result": result}
    value: float | None
    scale = ind.params.get("scale", 1.0)
    figures["scale"] = scale
    if result == "mean_level_before":
        value = math.fsum(e[2] for e in events) / len(events) * scale if events else None
    elif result == "avoided":
        weeks = (covered_end(ctx, w) - w.start_ms) / (7 * DAY_MS)
        scheduled = len(series) * ind.params["scheduled_per_week"] * weeks
        figures.update({"containers": len(series), "weeks": round(weeks, 6),
                        "scheduled_per_week": ind.params["scheduled_per_week"],
                        "scheduled_collections": round(scheduled, 6)})
        value = scheduled - len(events) if series else None
    else:
        value = float(len(events)) if readings else None
    return Result(value, inputs, figures, {"rollups": "rollup_hour"},
                  [list(e) for e in sorted(events)])


def night_hours(zone: ZoneInfo, lon: float, lat: float, a: int, b: int, elevation: float
                ) -> float:
    """Hours between dusk and dawn (the sun ``elevation`` degrees below the horizon, at the
    given place) within [a, b)."""
    from beffroi.simulator.sun import SunTable

    sun = SunTable(lon, lat, zone, (elevation,))
    first = datetime.fromtimestamp(a / 1000, zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(b / 1000, zone).date()
    total = 0
    d: date = first
    while d <= last:
        start, end = sun.night(d.toordinal())
        lo, hi = max(int(start[0]), a), min(int(end[0]), b)
        if hi > lo:
            total += hi - lo
        d += timedelta(days=1)
    return total / HOUR_MS


def _baseline_lighting(ind: Indicator, w: Window, ctx: Context) -> Result:
    """Σ nominal power of the lamps × (1 + control-gear losses) × dusk-to-dawn hours of the
    part of the window the data cover (kWh), or a declared reference year pro rata temporis.
    Lamps without a nominal power are left out, or given the mean of those with one, or a
    declared power (``missing_power``)."""
    assert ind.series is not None
    p = ind.params
    end = covered_end(ctx, w)
    if "reference_kwh_per_year" in p:
        days = (end - w.start_ms) / DAY_MS
        value = p["reference_kwh_per_year"] * days / 365.25
        return Result(value, {"reference_kwh_per_year": p["reference_kwh_per_year"]},
                      {"days": round(days, 6), "formula": "reference × days / 365.25"},
                      {"definition": "declared reference year"},
                      [p["reference_kwh_per_year"], days])
    a_t = schema.assets
    # The inventory as it stands (the registry keeps no history of lamps' installation).
    q = select(a_t.c.id, a_t.c.urn, a_t.c.lon, a_t.c.lat, a_t.c.properties).where(
        a_t.c.territory_id == ctx.territory_id)
    if ind.series.types:
        q = q.where(a_t.c.type.in_(sorted(ind.series.types)))
    if ind.series.domains:
        q = q.where(a_t.c.domain.in_(sorted(ind.series.domains)))
    rows = _filter_assets(ctx.conn.execute(q.order_by(a_t.c.id)).all(), ind.series, 1, 2)
    prop = p.get("power_property", "power_w")
    watts: list[float] = []
    missing = 0
    for r in rows:
        props = r[4] if isinstance(r[4], dict) else orjson.loads(r[4] or "{}")
        v = props.get(prop)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) \
                and v >= 0:
            watts.append(float(v))
        else:
            missing += 1
    known_w = math.fsum(watts)
    policy = p.get("missing_power", "ignore")
    if policy == "mean_of_known":
        imputed = known_w / len(watts) if watts else 0.0
    elif policy == "ignore":
        imputed = 0.0
    else:
        imputed = float(policy)
    total_w = known_w + imputed * missing
    losses = p.get("losses", 0.0)
    elevation = p.get("sun_elevation", -2.0)
    if ctx.lon is None or ctx.lat is None:
        lon = float(np.mean([r[2] for r in rows])) if rows else 0.0
        lat = float(np.mean([r[3] for r in rows])) if rows else 0.0
    else:
        lon, lat = ctx.lon, ctx.lat
    hours = night_hours(ctx.zone, lon, lat, w.start_ms, end, elevation)
    value = total_w * (1 + losses) * hours / 1000 if total_w > 0 else None
    inputs = {"lamps": len(rows), "lamps_without_power": missing, "power_property": prop,
              "missing_power": policy, "place": [round(lon, 5), round(lat, 5)],
              "sun_elevation_deg": elevation, "covered_until": local_iso(end, ctx.zone)}
    figures = {"known_power_w": known_w, "imputed_power_w_per_lamp": round(imputed, 6),
               "nominal_power_w": total_w, "losses": losses,
               "dusk_to_dawn_hours": round(hours, 6),
               "formula": "nominal power (W) × (1 + losses) × dusk-to-dawn hours / 1000"}
    return Result(value, inputs, figures, {"assets": "inventory (properties)"},
                  [known_w, missing, round(imputed, 9), losses, round(hours, 9), len(rows)])


# --- incident aggregations --------------------------------------------------------------------


def _incidents(ind: Indicator, ctx: Context, where: str, params: dict[str, Any]
               ) -> list[Any]:
    from beffroi.operations.repository import incidents as inc

    q = select(inc).where(inc.c.territory_id == ctx.territory_id)
    sel = ind.incidents
    if sel is not None:
        if sel.categories:
            q = q.where(inc.c.category.in_(sorted(sel.categories)))
        if sel.posts:
            q = q.where(inc.c.post.in_(sorted(sel.posts)))
        if sel.sources:
            q = q.where(inc.c.source.in_(sorted(sel.sources)))
    q = q.where(text(where).bindparams(**params))
    return list(ctx.conn.execute(q.order_by(inc.c.id)).all())


def _incident_inputs(ind: Indicator, rows: Sequence[Any]) -> dict[str, Any]:
    sel = ind.incidents
    return {"categories": sorted(sel.categories) if sel else [],
            "posts": sorted(sel.posts) if sel else [],
            "sources": sorted(sel.sources) if sel else [],
            "incidents": len(rows), "incident_ids": [r.id for r in rows][:200]}


def _count(ind: Indicator, w: Window, ctx: Context) -> Result:
    rows = _incidents(ind, ctx, "reported_ms >= :a AND reported_ms < :b",
                      {"a": w.start_ms, "b": w.end_ms})
    by_cat: dict[str, int] = defaultdict(int)
    for r in rows:
        by_cat[r.category] += 1
    return Result(float(len(rows)), _incident_inputs(ind, rows),
                  {"by_category": dict(sorted(by_cat.items()))}, {"incidents": "incidents"},
                  [r.id for r in rows])


def _durations(ind: Indicator, w: Window, ctx: Context) -> tuple[list[Any], list[int]]:
    a_step = ind.params.get("from", "reported")
    b_step = ind.params["to"]
    rows = _incidents(ind, ctx, f"{b_step}_ms >= :a AND {b_step}_ms < :b "
                                f"AND {a_step}_ms IS NOT NULL",
                      {"a": w.start_ms, "b": w.end_ms})
    durations = [getattr(r, f"{b_step}_ms") - getattr(r, f"{a_step}_ms") for r in rows]
    return rows, durations


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, Hyndman & Fan type 7)."""
    xs = sorted(values)
    if len(xs) == 1:
        return float(xs[0])
    rank = p / 100 * (len(xs) - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (rank - lo))


def _percentile_of_durations(ind: Indicator, w: Window, ctx: Context) -> Result:
    rows, durations = _durations(ind, w, ctx)
    unit = ind.params.get("in", "min")
    div = _UNIT_MS[unit]
    p = ind.params["p"]
    value = percentile(durations, p) / div if durations else None
    figures = {"from": ind.params.get("from", "reported"), "to": ind.params["to"], "p": p,
               "unit": unit, "method": "linear interpolation between closest ranks",
               "durations": [round(d / div, 6) for d in sorted(durations)][:200]}
    return Result(value, _incident_inputs(ind, rows), figures, {"incidents": "incidents"},
                  [[r.id, d] for r, d in zip(rows, durations, strict=True)])


def _share_within(ind: Indicator, w: Window, ctx: Context) -> Result:
    """Among incidents that reached ``to`` in the window, the share whose delay from ``from`` is
    within the limit; incidents still short of ``to`` at the end of the window and already past
    the limit count as late (a late arrival cannot improve the share by waiting)."""
    from beffroi.operations.repository import incident_categories as cats

    a_step = ind.params.get("from", "reported")
    b_step = ind.params["to"]
    limit = ind.params["limit"]
    end = min(w.end_ms, ctx.now_ms)
    sla: dict[str, int] = {}
    if limit == "sla":
        for code, minutes in ctx.conn.execute(select(cats.c.code, cats.c.sla_minutes).where(
                cats.c.territory_id == ctx.territory_id)):
            m = minutes if isinstance(minutes, dict) else orjson.loads(minutes or "{}")
            if b_step in m and a_step == "reported":
                sla[code] = int(m[b_step]) * 60_000

    def limit_of(category: str) -> int | None:
        return sla.get(category) if limit == "sla" else int(limit)

    rows, durations = _durations(ind, w, ctx)
    within = late = no_limit = 0
    detail: list[list[Any]] = []
    for r, d in zip(rows, durations, strict=True):
        lim = limit_of(r.category)
        if lim is None:
            no_limit += 1
            continue
        ok = d <= lim
        within += ok
        late += not ok
        detail.append([r.id, d, lim, ok])
    pending = _incidents(ind, ctx, f"{b_step}_ms IS NULL AND {a_step}_ms IS NOT NULL "
                                   "AND closed_ms IS NULL AND reported_ms < :b",
                         {"b": end})
    overdue = 0
    for r in pending:
        lim = limit_of(r.category)
        if lim is not None and getattr(r, f"{a_step}_ms") + lim < end \
                and getattr(r, f"{a_step}_ms") + lim >= w.start_ms:
            overdue += 1
            detail.append([r.id, None, lim, False])
    counted = within + late + overdue
    scale = ind.params.get("scale", 1.0)
    value = within / counted * scale if counted else None
    inputs = _incident_inputs(ind, rows)
    inputs["pending_overdue"] = overdue
    figures = {"from": a_step, "to": b_step,
               "limit": "SLA of each category" if limit == "sla" else f"{limit / 60_000:g} min",
               "within": within, "late": late, "overdue_without_step": overdue,
               "without_limit": no_limit, "scale": scale}
    return Result(value, inputs, figures, {"incidents": "incidents, incident_categories"},
                  sorted(detail, key=lambda x: x[0]))


# --- platform, footprint, combinations --------------------------------------------------------


def _platform_availability(ind: Indicator, w: Window, ctx: Context) -> Result:
    from beffroi.indicators import platform

    end = min(w.end_ms, ctx.now_ms)
    minutes = max(0, (end - w.start_ms) // 60_000)
    up = platform.heartbeat_minutes(ctx.conn, w.start_ms, end)
    scale = ind.params.get("scale", 1.0)
    value = min(up, minutes) / minutes * scale if minutes else None
    return Result(value, {"minutes": minutes, "minutes_with_heartbeat": up},
                  {"scale": scale, "formula": "minutes with a heartbeat / minutes"},
                  {"platform": "platform_samples"}, [minutes, up])


def _footprint(ind: Indicator, w: Window, ctx: Context) -> Result:
    from beffroi.indicators import footprint

    key = ("footprint", w.start_ms, w.end_ms)
    if key not in ctx.shared:
        factors = footprint.load_factors(footprint.get_overrides(ctx.conn, ctx.territory_id))
        ctx.shared[key] = footprint.estimate(ctx.conn, ctx.is_sqlite, ctx.territory_id,
                                             w.start_ms, min(w.end_ms, ctx.now_ms), factors)
    est = ctx.shared[key]
    component = ind.params.get("component", "all")
    domain = ind.params.get("domain")
    quantity = ind.params["quantity"]
    lines = [ln for ln in est.lines
             if (component == "all" or ln.component == component)
             and (domain is None or ln.domain == domain)]
    value = math.fsum(getattr(ln, quantity) for ln in lines)
    detail = [{"domain": ln.domain, "component": ln.component, "kwh": ln.kwh,
               "kgco2e": ln.kgco2e, "inputs": ln.inputs, "factors": ln.factors}
              for ln in lines]
    return Result(value, {"component": component, "domain": domain, "lines": len(lines)},
                  {"lines": detail, "quantity": quantity}, {"footprint": "footprint model"},
                  [[d["domain"], d["component"], d["kwh"], d["kgco2e"]] for d in detail])


def _combined(ind: Indicator, w: Window, ctx: Context) -> Result:
    assert ctx.value_of is not None
    va, vb = (ctx.value_of(code, w) for code in ind.inputs)
    scale = ind.params.get("scale", 1.0)
    value: float | None = None
    if va.value is not None and vb.value is not None:
        if ind.aggregate == "difference":
            value = (va.value - vb.value) * scale
        elif vb.value:
            value = va.value / vb.value * scale
    inputs = {"indicators": [
        {"indicator": v.code, "version": v.version, "value": v.value, "unit": v.unit,
         "inputs_hash": v.lineage.inputs_hash} for v in (va, vb)]}
    return Result(value, inputs, {"a": va.value, "b": vb.value, "scale": scale},
                  {"indicators": ", ".join(ind.inputs)},
                  [[v.code, v.version, v.value, v.lineage.inputs_hash] for v in (va, vb)])


_AGGREGATIONS: dict[str, Callable[[Indicator, Window, Context], Result]] = {
    "sum": _sum,
    "mean": _mean,
    "ratio_of_sums": _ratio_of_sums,
    "share_of_time_in_state": _share_of_time_in_state,
    "count_buckets_above": _count_buckets_above,
    "share_of_buckets_within": _share_of_buckets_within,
    "share_of_buckets_with_data": _share_of_buckets_with_data,
    "sum_of_drops": _sum_of_drops,
    "baseline_lighting": _baseline_lighting,
    "count": _count,
    "percentile_of_durations": _percentile_of_durations,
    "share_within": _share_within,
    "platform_availability": _platform_availability,
    "footprint": _footprint,
    "difference": _combined,
    "ratio": _combined,
}
