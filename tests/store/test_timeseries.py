"""Observations: idempotent writes, latest values, and rollups that always agree with raw data."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from beffroi.api.deps import Services
from beffroi.store import timeseries as ts
from beffroi.store.rollups import materialise
from beffroi.store.timeseries import HOUR_MS, local_day_starts
from tests.conftest import lamp

PARIS = ZoneInfo("Europe/Paris")
T0 = int(datetime(2024, 3, 29, tzinfo=PARIS).timestamp() * 1000)  # spans the DST change
_counter = itertools.count()


def _series(services: Services, territory: str, metric: str = "activePower") -> int:
    from beffroi.assets.models import AssetIn

    urn_id = f"L{next(_counter)}"
    services.registry.create_asset(territory, AssetIn.model_validate(lamp(urn_id)))
    report = services.telemetry.ingest_readings(
        territory,
        [{"asset": f"urn:ngsi-ld:Streetlight:testville:{urn_id}", "metric": metric,
          "ts": T0 - 400 * 24 * HOUR_MS, "value": 0.0 if metric == "activePower" else "on"}],
    )
    assert report.stored == 1
    with services.store.read() as conn:
        return int(conn.execute(text("SELECT max(id) FROM series")).scalar_one())


def _expected(rows: list[tuple[int, float]], bucket_of: Any) -> dict[int, dict[str, Any]]:
    first: dict[int, float] = {}
    for t, v in rows:  # first write wins: a replayed reading never changes the stored one
        first.setdefault(t, v)
    out: dict[int, dict[str, Any]] = defaultdict(lambda: {"n": 0, "vals": []})
    for t, v in sorted(first.items()):
        b = out[bucket_of(t)]
        b["n"] += 1
        b["vals"].append(v)
        b["last"] = v
    return out


def _check(services: Services, sid: int, rows: list[tuple[int, float]], a: int, b: int) -> None:
    hours = _expected([r for r in rows if a <= r[0]], lambda t: t - t % HOUR_MS)
    starts = local_day_starts(PARIS, a, b + 5 * 24 * HOUR_MS)

    def day_of(t: int) -> int:
        return max(s for s in starts if s <= t)

    with services.store.read() as conn:
        got_h = ts.hour_history(services.store, conn, sid, a, b)
        got_d = ts.day_history(services.store, conn, sid, PARIS, a, b)
    exp_h = {k: v for k, v in hours.items() if a <= k < b}
    assert [g.start_ms for g in got_h] == sorted(exp_h)
    for g in got_h:
        e = exp_h[g.start_ms]
        assert (g.n, g.last) == (e["n"], e["last"])
        assert g.vmin == min(e["vals"]) and g.vmax == max(e["vals"])
        assert abs((g.vsum or 0) - sum(e["vals"])) < 1e-6
    days = _expected([r for r in rows if a <= r[0]], day_of)
    exp_d = {k: v for k, v in days.items() if a <= k < b}
    assert [g.start_ms for g in got_d] == sorted(exp_d)
    for g in got_d:
        e = exp_d[g.start_ms]
        assert (g.n, g.last, g.vmax) == (e["n"], e["last"], max(e["vals"]))


def test_replayed_reading_is_not_a_duplicate(services: Services, territory: str) -> None:
    sid = _series(services, territory)
    rows = [(sid, T0 + i * 600_000, float(i), None) for i in range(10)]
    first = ts.write_observations(services.store, rows)
    again = ts.write_observations(services.store, [*rows, (sid, T0, 99.0, None)])
    assert (first.stored, first.duplicates) == (10, 0)
    assert (again.stored, again.duplicates) == (0, 11)
    with services.store.read() as conn:
        n = conn.execute(text("SELECT count(*) FROM observations WHERE series_id = :s"),
                         {"s": sid}).scalar_one()
        stored = conn.execute(text("SELECT value FROM observations WHERE series_id = :s AND "
                                   "ts_ms = :t"), {"s": sid, "t": T0}).scalar_one()
    assert n == 11  # 10 + the seed reading
    assert stored == 0.0


def test_latest_moves_forward_only(services: Services, territory: str) -> None:
    sid = _series(services, territory)
    ts.write_observations(services.store, [(sid, T0 + 2000, 2.0, None)])
    ts.write_observations(services.store, [(sid, T0 + 1000, 1.0, None)])  # older, arrives late
    with services.store.read() as conn:
        assert ts.latest_values(conn, [sid])[sid] == (T0 + 2000, 2.0)
    late = [(sid, T0 + 3000, 3.0, None), (sid, T0 + 2500, 9.0, None)]
    ts.write_observations(services.store, late)
    with services.store.read() as conn:
        assert ts.latest_values(conn, [sid])[sid] == (T0 + 3000, 3.0)


def test_state_series_rollups_count_and_last(services: Services, territory: str) -> None:
    sid = _series(services, territory, "powerState")
    rows = [(sid, T0 + i * 600_000, None, "on" if i % 2 else "off") for i in range(12)]
    ts.write_observations(services.store, rows)
    materialise(services.store, T0 + 48 * HOUR_MS)
    with services.store.read() as conn:
        hours = ts.hour_history(services.store, conn, sid, T0, T0 + 2 * HOUR_MS)
    assert [(h.n, h.last, h.vmin) for h in hours] == [(6, "on", None), (6, "on", None)]


readings = st.lists(
    st.tuples(st.integers(0, 72 * 60), st.floats(-1e6, 1e6, allow_nan=False)), max_size=60
)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=readings, late=readings, now_min=st.integers(0, 96 * 60),
       step_min=st.integers(0, 96 * 60))
def test_rollups_agree_with_raw_data(services: Services, territory: str, first: list[Any],
                                     late: list[Any], now_min: int, step_min: int) -> None:
    """Write, materialise at some point in time, write late and replayed readings, materialise
    again: hour and day histories equal a brute-force aggregation of the raw readings at every
    step (whether buckets are materialised, dirty or still open)."""
    sid = _series(services, territory)
    rows = [(T0 + m * 60_000, v) for m, v in first]
    ts.write_observations(services.store, [(sid, t, v, None) for t, v in rows])
    a, b = T0 - 24 * HOUR_MS, T0 + 5 * 24 * HOUR_MS
    _check(services, sid, rows, a, b)
    materialise(services.store, T0 + now_min * 60_000, grace_ms=0)
    _check(services, sid, rows, a, b)
    more = [(T0 + m * 60_000, v) for m, v in late] + rows[:3]
    ts.write_observations(services.store, [(sid, t, v, None) for t, v in more])
    rows += more
    _check(services, sid, rows, a, b)
    materialise(services.store, T0 + (now_min + step_min) * 60_000, grace_ms=0)
    _check(services, sid, rows, a, b)


def test_whole_hour_marks_when_many_series_arrive_late(services: Services, territory: str
                                                       ) -> None:
    sids = [_series(services, territory) for _ in range(3)]
    materialise(services.store, T0 + 10 * HOUR_MS, grace_ms=0)
    old = ts.WHOLE_HOUR_THRESHOLD
    ts.WHOLE_HOUR_THRESHOLD = 2
    try:
        ts.write_observations(services.store, [(s, T0 + 60_000, 1.0, None) for s in sids])
    finally:
        ts.WHOLE_HOUR_THRESHOLD = old
    with services.store.read() as conn:
        marks = conn.execute(text("SELECT bucket_ms, series_id FROM rollup_dirty")).all()
    assert [tuple(m) for m in marks] == [(T0, 0)]
    report = materialise(services.store, T0 + 10 * HOUR_MS, grace_ms=0)
    assert report.dirty_buckets == 1
    with services.store.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM rollup_dirty")).scalar_one() == 0
        for s in sids:
            (hour,) = ts.hour_history(services.store, conn, s, T0, T0 + HOUR_MS)
            assert hour.n == 1


def test_materialise_reads_rollup_tables(services: Services, territory: str) -> None:
    """After materialisation, closed hours come from rollup_hour (not recomputed live)."""
    sid = _series(services, territory)
    ts.write_observations(services.store, [(sid, T0 + m * 60_000, 1.0, None) for m in range(120)])
    materialise(services.store, T0 + 3 * HOUR_MS, grace_ms=0)
    with services.store.write() as conn:  # tamper with the raw rows: rollups must not change
        conn.execute(text("UPDATE observations SET value = 5 WHERE series_id = :s"), {"s": sid})
    with services.store.read() as conn:
        hours = ts.hour_history(services.store, conn, sid, T0, T0 + 2 * HOUR_MS)
        n = conn.execute(text("SELECT count(*) FROM rollup_hour WHERE series_id = :s"),
                         {"s": sid}).scalar_one()
    assert n >= 2
    assert [h.vmax for h in hours] == [1.0, 1.0]


def test_local_day_starts_follow_daylight_saving() -> None:
    starts = local_day_starts(PARIS, T0, T0 + 3 * 24 * HOUR_MS)
    lengths = [(b - a) // HOUR_MS for a, b in itertools.pairwise(starts)]
    assert lengths[:3] == [24, 24, 23]  # 31 March 2024 has 23 hours in Paris


def test_another_process_sees_a_deleted_asset_after_the_cache_ttl(
        services: Services, territory: str, settings: Any) -> None:
    """A worker's series cache learns of changes made by the API server's process."""
    import time

    from beffroi.app import build_services

    _series(services, territory)  # creates L<n> with its activePower series
    from beffroi.assets.repository import AssetFilter

    urn = services.registry.list_assets(territory, AssetFilter(), None, 100).items[0].id
    other = build_services(settings)
    other.telemetry.cache.ttl_s = 0.2
    try:
        reading = {"asset": urn, "metric": "activePower", "ts": T0, "value": 1.0}
        assert other.telemetry.ingest_readings(territory, [reading]).stored == 1
        tid = services.registry.territory_id(territory)
        cached = other.telemetry.cache.get(tid)
        time.sleep(0.3)
        assert other.telemetry.cache.get(tid) is cached  # nothing changed: kept
        services.registry.delete_asset(territory, urn)
        time.sleep(0.3)
        report = other.telemetry.ingest_readings(territory, [reading | {"ts": T0 + 1}])
        assert report.stored == 0 and report.rejections[0].code == "unknown_asset"
    finally:
        other.store.dispose()
