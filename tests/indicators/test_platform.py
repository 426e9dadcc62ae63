"""The platform sampler: CPU and wall deltas, heartbeat minutes."""

from __future__ import annotations

from sqlalchemy import select

from beffroi.api.deps import Services
from beffroi.indicators import platform as pf
from beffroi.indicators.tables import platform_samples
from tests.indicators.footprint_rig import MIN, T0


class Clock:
    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self) -> float:
        return self.value


def test_sampler_writes_deltas(services: Services) -> None:
    cpu, wall = Clock(10.0), Clock(1000.0)
    sampler = pf.PlatformSampler("api@host:1", cpu_clock=cpu, wall_clock=wall)
    sampler.sample(services.store, T0, 5)  # first call: clocks only
    cpu.value, wall.value = 12.5, 1060.0
    sampler.sample(services.store, T0 + MIN, 40)
    cpu.value, wall.value = 13.0, 1121.0
    with services.store.write() as conn:  # a connection works too
        sampler.sample(conn, T0 + 2 * MIN, 2)
    with services.store.read() as conn:
        rows = conn.execute(select(platform_samples).order_by(platform_samples.c.ts_ms)).all()
        assert [(r.ts_ms, r.process, r.cpu_s, r.interval_s, r.readings) for r in rows] == [
            (T0 + MIN, "api@host:1", 2.5, 60.0, 40), (T0 + 2 * MIN, "api@host:1", 0.5, 61.0, 2)]
        assert pf.cpu_seconds(conn, T0, T0 + 2 * MIN) == 2.5
        assert pf.cpu_seconds(conn, T0, T0 + 3 * MIN) == 3.0
        assert pf.readings(conn, T0, T0 + 3 * MIN) == 42


def test_real_clocks(services: Services) -> None:
    sampler = pf.PlatformSampler("worker@host:2")
    sampler.sample(services.store, T0, 0)
    sum(i * i for i in range(200_000))
    sampler.sample(services.store, T0 + MIN, 0)
    with services.store.read() as conn:
        [row] = conn.execute(select(platform_samples)).all()
    assert row.cpu_s > 0 and row.interval_s > 0


def test_heartbeat_minutes(services: Services) -> None:
    rows = [
        # api: every minute from T0+1 to T0+10 min, each covering the minute before it
        *({"ts_ms": T0 + i * MIN, "process": "api", "cpu_s": 0.0, "interval_s": 60.0,
           "readings": 0} for i in range(1, 11)),
        # worker overlaps the api's minutes (counted once), then a sample 30 s into a minute
        {"ts_ms": T0 + 5 * MIN, "process": "worker", "cpu_s": 0.0, "interval_s": 120.0,
         "readings": 0},
        {"ts_ms": T0 + 20 * MIN + 30_000, "process": "worker", "cpu_s": 0.0,
         "interval_s": 60.0, "readings": 0},
    ]
    with services.store.write() as conn:
        conn.execute(platform_samples.insert(), rows)
    with services.store.read() as conn:
        # api covers minutes 0..9; the last worker sample touches minutes 19 and 20.
        assert pf.heartbeat_minutes(conn, T0, T0 + 60 * MIN) == 12
        # clipped to the window: minutes 2..4, and the sample ending after it still counts
        assert pf.heartbeat_minutes(conn, T0 + 2 * MIN, T0 + 5 * MIN) == 3
        assert pf.heartbeat_minutes(conn, T0 + 20 * MIN, T0 + 21 * MIN) == 1
        assert pf.heartbeat_minutes(conn, T0 + 30 * MIN, T0 + 40 * MIN) == 0
        assert pf.heartbeat_minutes(conn, T0, T0) == 0
