"""Retention: policies, the plan, and a purge limited to materialised clean hours."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from beffroi.api.deps import Services
from beffroi.errors import ValidationFailed
from beffroi.indicators import retention as rt
from tests.indicators.footprint_rig import DAY, MIN, T0, H, Rig, every


@pytest.fixture
def rig(services: Services) -> Rig:
    return Rig(services)


def _setup(rig: Rig) -> tuple[str, str]:
    lamp = rig.asset("Streetlight", "L1")
    air = rig.asset("AirQualityObserved", "A1")
    rig.feed(lamp, "activePower", every(T0, 30 * MIN, 480))  # 10 days, 48 a day
    rig.feed(air, "no2", every(T0, 30 * MIN, 480))
    return lamp, air


def _plan(rig: Rig, now: int) -> rt.DomainPlan:
    with rig.services.store.read() as conn:
        p = rt.plan(conn, rig.services.store.is_sqlite, rig.tid, now,
                    rig.footprint.factors_of(rig.tid))
    [d] = p.domains
    return d


def test_purge_older_than_policy(rig: Rig, services: Services) -> None:
    lamp, air = _setup(rig)
    services.telemetry.materialise(T0 + 8 * DAY)
    rig.footprint.set_retention(rig.code, "lighting", 3, "tests")
    now = T0 + 10 * DAY
    d = _plan(rig, now)
    assert d.boundary_ms == T0 + 7 * DAY
    assert d.rows_to_delete == 7 * 48
    assert d.rows_kept == 3 * 48
    assert d.bytes_freed > 0 and d.kwh_per_year > 0
    f = rig.footprint.factors_of(rig.tid)
    with services.store.read() as conn:
        p = rt.plan(conn, services.store.is_sqlite, rig.tid, now, f)
    per_year = (d.bytes_freed / 1e9 * f.get("storage.wh_per_gb_month") * 12
                * f.get("storage.replicas") * f.get("server.pue") / 1000)
    assert d.kwh_per_year == pytest.approx(per_year)
    assert d.kgco2e_per_year == pytest.approx(per_year * 0.052)
    assert d.bytes_freed == pytest.approx(7 * 48 * p.bytes_per_row)

    seen: list[tuple[int, int]] = []
    services.clock.ms = now  # type: ignore[attr-defined]
    deleted = rig.footprint.apply_retention(rig.code, "tests",
                                            lambda a, b: seen.append((a, b)))
    assert deleted == {"lighting": 7 * 48}
    assert seen[0] == (0, 1) and seen[-1] == (1, 1)
    assert rig.raw_count(lamp) == 3 * 48
    assert rig.raw_count(air) == 480  # another domain: untouched
    assert rig.rollup_n(lamp) == 8 * 48 - 2  # rollups kept (up to the watermark)
    assert _plan(rig, now).rows_to_delete == 0
    # A day later: one more day, but never past the watermark (T0 + 8 days - 1 hour).
    assert _plan(rig, now + DAY).rows_to_delete == 48 - 2
    assert rt.apply(services.store, rig.tid, now + DAY) == {"lighting": 48 - 2}


def test_only_materialised_clean_hours(rig: Rig, services: Services) -> None:
    lamp, _air = _setup(rig)
    services.telemetry.materialise(T0 + 5 * DAY)  # watermark: T0 + 5 days - 1 hour
    rig.footprint.set_retention(rig.code, "lighting", 3, "tests")
    now = T0 + 10 * DAY
    d = _plan(rig, now)
    assert d.boundary_ms == T0 + 5 * DAY - H
    assert d.rows_to_delete == (5 * 24 - 1) * 2
    # A late reading in a materialised hour: that hour waits for its recomputation, and so
    # does everything after it.
    rig.feed(lamp, "activePower", [T0 + 2 * DAY + 15 * MIN])
    d = _plan(rig, now)
    assert d.boundary_ms == T0 + 2 * DAY
    assert d.rows_to_delete == 2 * 48
    assert rt.apply(services.store, rig.tid, now) == {"lighting": 2 * 48}
    assert rig.raw_count(lamp) == 480 + 1 - 2 * 48
    # Once recomputed, the rest down to the watermark can go.
    services.telemetry.materialise(T0 + 5 * DAY)
    d = _plan(rig, now)
    assert d.rows_to_delete == (3 * 24 - 1) * 2 + 1
    assert rt.apply(services.store, rig.tid, now) == {"lighting": (3 * 24 - 1) * 2 + 1}


def test_nothing_materialised_nothing_deleted(rig: Rig, services: Services) -> None:
    lamp, _air = _setup(rig)
    rig.footprint.set_retention(rig.code, "lighting", 1, "tests")
    d = _plan(rig, T0 + 10 * DAY)
    assert d.boundary_ms is None and d.rows_to_delete == 0 and d.rows_kept == 480
    assert rt.apply(services.store, rig.tid, T0 + 10 * DAY) == {"lighting": 0}
    assert rig.raw_count(lamp) == 480


@pytest.mark.parametrize(("domain", "days", "field"), [
    ("lights", 3, "domain"), ("lighting", 0, "raw_days"), ("lighting", 2.5, "raw_days"),
    ("lighting", "3", "raw_days"), ("lighting", True, "raw_days"),
])
def test_invalid_policy(rig: Rig, domain: str, days: object, field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        rig.footprint.set_retention(rig.code, domain, days, "tests")
    assert [d["field"] for d in err.value.details] == [field]


def test_policies_crud(rig: Rig) -> None:
    assert rig.footprint.set_retention(rig.code, "lighting", 30, "tests") == {"lighting": 30}
    assert rig.footprint.replace_retention(rig.code, {"water": 90, "waste": 10}, "tests") == {
        "waste": 10, "water": 90}
    with pytest.raises(ValidationFailed) as err:
        rig.footprint.replace_retention(rig.code, {"water": -1, "air": 3}, "tests")
    assert {d["field"] for d in err.value.details} == {"water.raw_days", "air.domain"}
    assert rig.footprint.delete_retention(rig.code, "water", "tests") == {"waste": 10}
    view = rig.footprint.retention(rig.code)
    assert view["policies"] == {"waste": 10}
    assert view["plan"]["domains"][0]["rows_to_delete"] == 0


def test_a_late_reading_into_a_purged_hour_is_refused_and_the_rollup_kept(
        rig: Rig, services: Services) -> None:
    """Once an hour's raw readings are purged, its rollup is final: a late reading there is
    rejected with its reason (a lone reading would otherwise rebuild the hour from itself),
    while readings after the horizon, in the same batch, are stored."""
    lamp, air = _setup(rig)
    services.telemetry.materialise(T0 + 8 * DAY)
    rig.footprint.set_retention(rig.code, "lighting", 3, "tests")
    services.clock.ms = T0 + 10 * DAY  # type: ignore[attr-defined]
    assert rig.footprint.apply_retention(rig.code, "tests") == {"lighting": 7 * 48}
    before = rig.rollup_n(lamp)
    purged_hour = T0 + 2 * DAY + 15 * MIN  # raw readings gone, rollup kept
    kept_hour = T0 + 9 * DAY + 15 * MIN  # after the horizon
    report = services.telemetry.ingest_readings(rig.code, [
        {"asset": lamp, "metric": "activePower", "ts": purged_hour, "value": 9.0},
        {"asset": lamp, "metric": "activePower", "ts": kept_hour, "value": 9.0},
        {"asset": air, "metric": "no2", "ts": purged_hour, "value": 9.0},  # no policy: kept
    ])
    assert [(r.index, r.field, r.code) for r in report.rejections] == [
        (0, "ts", "before_retention")]
    assert "retention horizon" in report.rejections[0].reason
    assert report.stored == 2 and len(report.rows) == 2
    services.telemetry.materialise(T0 + 10 * DAY)
    assert rig.rollup_n(lamp) == before + 2 * 48 + 1  # later hours materialised, none rebuilt
    with services.store.read() as conn:
        hour = conn.execute(text(
            "SELECT r.n FROM rollup_hour r JOIN series s ON s.id = r.series_id JOIN assets a "
            "ON a.id = s.asset_id WHERE a.urn = :u AND r.bucket_ms = :b"),
            {"u": lamp, "b": purged_hour - 15 * MIN}).scalar_one()
    assert hour == 2  # the purged hour's two readings, as rolled up before the purge
    # Through the pipeline (HTTP and MQTT): the rejection is the reading's, with its reason.
    with pytest.raises(AssertionError, match="before_retention"):
        rig.feed(lamp, "activePower", [purged_hour + MIN])


def test_the_worker_purges_on_schedule(rig: Rig, services: Services) -> None:
    lamp, air = _setup(rig)
    services.telemetry.materialise(T0 + 8 * DAY)
    services.clock.ms = T0 + 10 * DAY  # type: ignore[attr-defined]
    assert services.footprint.tick() == {}  # no policy anywhere: nothing to do
    rig.footprint.set_retention(rig.code, "lighting", 3, "tests")
    assert services.footprint.tick() == {}  # ran a moment ago: waits its turn
    services.clock.ms = T0 + 10 * DAY + rt.PURGE_EVERY_MS  # type: ignore[attr-defined]
    assert services.footprint.tick() == {str(rig.tid): {"lighting": 7 * 48 + 12}}
    assert rig.raw_count(lamp) == 480 - (7 * 48 + 12)
    assert rig.raw_count(air) == 480
    entries, _ = services.audit.list(territory_id=rig.tid, action="retention.apply")
    assert [e["actor"] for e in entries] == ["system:retention"]
