"""Determinism, fault injection, calibration tables and the drivers."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from beffroi.errors import ConfigError
from beffroi.simulator import drivers
from beffroi.simulator.calibration import derive
from beffroi.simulator.engine import Simulator
from beffroi.simulator.models import TICK_MS, VALID_RANGES, FaultSpec, table
from tests.simulator.helpers import NANTES, city, ms, simulate


def test_same_seed_same_city_other_seed_other_city() -> None:
    a = simulate(city(), "2024-02-01T00:00", days=2, seed=1)[1]
    b = simulate(city(), "2024-02-01T00:00", days=2, seed=1)[1]
    c = simulate(city(), "2024-02-01T00:00", days=2, seed=2)[1]
    assert a == b
    assert a != c


def test_a_tick_is_the_same_whatever_the_driver() -> None:
    sim_a = Simulator(NANTES, city(), seed=9, start_ms=ms("2024-02-01T00:00"))
    whole = sim_a.run(sim_a.now_ms + 86_400_000)
    sim_b = Simulator(NANTES, city(), seed=9, start_ms=ms("2024-02-01T00:00"))
    pieces: list[dict[str, object]] = []
    sink = pieces.extend
    report = drivers.backfill(sim_b, lambda r: (sink(r), drivers.SinkResult(len(r), len(r), 0))[1],
                              sim_b.now_ms + 86_400_000, ticks_per_flush=7, batch=1000)
    assert report.ticks == 144 and report.readings == len(whole) == report.stored
    key = lambda r: (r["asset"], r["metric"], r["ts"])  # noqa: E731
    assert sorted(pieces, key=key) == sorted(whole, key=key)


def test_fault_spec_parsing() -> None:
    spec = FaultSpec.parse("silent=0.01, stuck=0.02,out_of_range=0.001")
    assert (spec.silent, spec.stuck, spec.out_of_range) == (0.01, 0.02, 0.001)
    for bad in ("silent", "noisy=0.1", "silent=2", "stuck=x"):
        with pytest.raises(ConfigError):
            FaultSpec.parse(bad)


def test_faults_do_what_they_say() -> None:
    assets = city(per_type=12)
    spec = FaultSpec(silent=0.1, stuck=0.1, out_of_range=0.01, onset_window_s=6 * 3600)
    sim, readings = simulate(assets, "2024-03-04T00:00", days=2, seed=21, faults=spec)
    _clean, reference = simulate(assets, "2024-03-04T00:00", days=2, seed=21)
    silent = {f.asset: f.onset_ms for f in sim.faults.injected if f.kind == "silent"}
    stuck = {f.asset: f.onset_ms for f in sim.faults.injected if f.kind == "stuck"}
    n = len(sim.assets)
    assert 0.03 * n < len(silent) < 0.2 * n and 0.03 * n < len(stuck) < 0.2 * n
    for r in readings:
        assert r["ts"] < silent.get(r["asset"], 2**62), "a silent device says nothing"
    # A stuck sensor repeats the first value it sent after the onset.
    series: dict[tuple[str, str], list[tuple[int, object]]] = {}
    for r in readings:
        if r["asset"] in stuck and r["ts"] >= stuck[r["asset"]]:
            series.setdefault((r["asset"], r["metric"]), []).append((r["ts"], r["value"]))
    assert series
    for values in series.values():
        assert len({v for _t, v in values}) == 1
    # Out-of-range values: about the requested share of numeric readings, all impossible.
    outside = [r for r in readings if (key := (r["asset"].split(":")[2], r["metric"]))
               in VALID_RANGES and not VALID_RANGES[key][0] <= r["value"] <= VALID_RANGES[key][1]]
    numeric = [r for r in reference if (r["asset"].split(":")[2], r["metric"]) in VALID_RANGES]
    assert outside and len(outside) == sim.faults.out_of_range_count
    assert 0.003 < len(outside) / len(numeric) < 0.03


def test_shipped_calibration_matches_the_real_files(shared_data: Path) -> None:
    derived = derive.derive_all(shared_data)
    for name, data in derived.items():
        assert json.loads(json.dumps(data)) == table(name), name


def test_live_streams_complete_ticks_at_the_requested_speed() -> None:
    sim = Simulator(NANTES, city(), seed=3, start_ms=ms("2024-02-01T00:00"))
    start = sim.now_ms
    wall = [start / 1000]
    batches: list[int] = []

    def sink(readings: list[dict[str, object]]) -> drivers.SinkResult:
        assert all(int(str(r["ts"])) < sim.now_ms + 1 for r in readings)
        batches.append(len(readings))
        return drivers.SinkResult(len(readings), len(readings), 0)

    def clock() -> float:  # each poll advances the wall clock by one second
        wall[0] += 1.0
        return wall[0]

    stop = threading.Event()
    report = drivers.live(sim, sink, stop, speed=600, until_ms=start + 6 * TICK_MS, clock=clock)
    assert report.ticks == 6 and sim.now_ms == start + 6 * TICK_MS
    assert len(batches) == 6 and report.readings == sum(batches)


def test_durations() -> None:
    assert drivers.parse_duration("365d") == 365 * 86_400_000
    assert drivers.parse_duration("90s") == 90_000
    for bad in ("", "12", "-1d", "xd", "3w"):
        with pytest.raises(ValueError):
            drivers.parse_duration(bad)


def test_readings_use_only_declared_metrics() -> None:
    from beffroi.assets.types import ASSET_TYPES

    readings = simulate(city(), "2024-02-01T00:00", days=1)[1]
    for r in readings:
        type_name = r["asset"].split(":")[2]
        metric = ASSET_TYPES[type_name].metric(r["metric"])
        assert metric is not None, r
        assert isinstance(r["value"], str) == (metric.kind == "state"), r
        assert not isinstance(r["value"], float) or np.isfinite(r["value"])
