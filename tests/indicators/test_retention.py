"""Retention: policies, the plan, and a purge limited to materialised clean hours."""

from __future__ import annotations

import pytest

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
