"""Drivers: backfill history as fast as the store takes it, or stream live readings in real
time (or ``speed`` times faster) through the HTTP API, the path a real sensor uses.

Both hand readings to a *sink*: in-process ``Telemetry.ingest_readings`` (the ingest pipeline
minus HTTP) or :class:`HttpSink` (``POST /api/v1/territories/{code}/observations``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from beffroi.simulator.engine import Reading, Simulator
from beffroi.simulator.models import DAY_MS, TICK_MS

log = logging.getLogger("beffroi.simulator")

BATCH_READINGS = 50_000  # the API's default largest batch
LIVE_POLL_S = 1.0
MAX_AHEAD_MS = DAY_MS - 3_600_000  # the ingest path rejects readings more than a day ahead


@dataclass(frozen=True, slots=True)
class SinkResult:
    received: int
    stored: int
    rejected: int
    reasons: dict[str, int] = field(default_factory=dict)


Sink = Callable[[list[Reading]], SinkResult]


def telemetry_sink(telemetry: Any, code: str) -> Sink:
    """The in-process ingest pipeline (validation, observations, latest value)."""

    def sink(readings: list[Reading]) -> SinkResult:
        report = telemetry.ingest_readings(code, readings)
        reasons: dict[str, int] = {}
        for r in report.rejections:
            reasons[r.code] = reasons.get(r.code, 0) + 1
        return SinkResult(report.received, report.stored, len(report.rejections), reasons)

    return sink


class HttpSink:
    """Posts batches to a running Beffroi API."""

    def __init__(self, base_url: str, code: str, timeout_s: float = 60.0) -> None:
        self.url = f"{base_url.rstrip('/')}/api/v1/territories/{code}/observations"
        self.client = httpx.Client(timeout=timeout_s)

    def __call__(self, readings: list[Reading]) -> SinkResult:
        response = self.client.post(self.url, json={"readings": readings})
        if response.status_code not in (200, 422):
            response.raise_for_status()
        body = response.json()
        if "received" not in body:  # a request-level error (not a per-reading report)
            raise httpx.HTTPStatusError(
                f"{response.status_code}: {body}", request=response.request, response=response
            )
        return SinkResult(body["received"], body["stored"], body["rejected"],
                          body.get("rejected_by_reason", {}))

    def close(self) -> None:
        self.client.close()


@dataclass
class RunReport:
    """What a driver did, and where its time went."""

    ticks: int = 0
    readings: int = 0
    stored: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    generate_s: float = 0.0
    ingest_s: float = 0.0
    seconds: float = 0.0
    failed_batches: int = 0

    def add(self, result: SinkResult) -> None:
        self.stored += result.stored
        self.rejected += result.rejected
        for k, v in result.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v

    @property
    def rate(self) -> float:
        return self.readings / self.seconds if self.seconds else 0.0


def _send(sink: Sink, readings: list[Reading], report: RunReport, batch: int) -> None:
    started = time.perf_counter()
    for i in range(0, len(readings), batch):
        report.add(sink(readings[i : i + batch]))
    report.ingest_s += time.perf_counter() - started


def backfill(sim: Simulator, sink: Sink, until_ms: int, *, batch: int = BATCH_READINGS,
             ticks_per_flush: int = 144, progress: Callable[[int], None] | None = None,
             ) -> RunReport:
    """Generate and store every tick from the simulator's clock up to ``until_ms``.

    Readings are gathered over ``ticks_per_flush`` ticks (a day) and sorted by asset before
    they are cut into batches: each batch then touches fewer series over a longer time, which
    keeps the store's index writes local.
    """
    report = RunReport()
    started = time.perf_counter()
    pending: list[Reading] = []
    ticks = 0
    while sim.now_ms + TICK_MS <= until_ms:
        t0 = time.perf_counter()
        pending.extend(sim.step())
        report.generate_s += time.perf_counter() - t0
        ticks += 1
        report.ticks += 1
        if ticks == ticks_per_flush or len(pending) >= 10 * batch:
            report.readings += len(pending)
            t0 = time.perf_counter()
            pending.sort(key=_by_asset)
            report.generate_s += time.perf_counter() - t0
            _send(sink, pending, report, batch)
            pending = []
            if progress:
                progress(ticks)
            ticks = 0
    if pending or ticks:
        report.readings += len(pending)
        pending.sort(key=_by_asset)
        _send(sink, pending, report, batch)
        if progress:
            progress(ticks)
    report.seconds = time.perf_counter() - started
    return report


def _by_asset(r: Reading) -> str:
    return str(r["asset"])


def live(sim: Simulator, sink: Sink, stop: threading.Event, *, speed: float = 1.0,
         until_ms: int | None = None, batch: int = BATCH_READINGS,
         clock: Callable[[], float] = time.time,
         on_batch: Callable[[RunReport], None] | None = None) -> RunReport:
    """Stream ticks as simulated time passes: ``speed`` simulated seconds per real second.

    Simulated time starts at the simulator's clock. A tick is sent once it is complete. The
    simulated clock never runs more than ``MAX_AHEAD_MS`` ahead of the wall clock (the API
    rejects readings more than a day in the future): an accelerated stream that gets there
    goes on at real-time pace. A failing batch is logged and dropped; the stream goes on.
    """
    report = RunReport()
    started = time.perf_counter()
    sim_origin = sim.now_ms
    wall_origin = clock()
    while not stop.is_set():
        wall = clock()
        target = sim_origin + int((wall - wall_origin) * 1000 * speed)
        target = min(target, int(wall * 1000) + MAX_AHEAD_MS)
        if until_ms is not None:
            target = min(target, until_ms)
        readings: list[Reading] = []
        t0 = time.perf_counter()
        while sim.now_ms + TICK_MS <= target:
            readings.extend(sim.step())
            report.ticks += 1
        report.generate_s += time.perf_counter() - t0
        if readings:
            report.readings += len(readings)
            try:
                _send(sink, readings, report, batch)
            except (httpx.HTTPError, OSError) as exc:  # the edge of the streaming loop
                report.failed_batches += 1
                log.warning("live batch of %d readings not delivered: %s", len(readings), exc)
            if on_batch:
                on_batch(report)
        if until_ms is not None and sim.now_ms + TICK_MS > until_ms:
            break
        # Poll at least twice per simulated tick, and at least every LIVE_POLL_S.
        stop.wait(min(LIVE_POLL_S, TICK_MS / 1000 / speed / 2))
    report.seconds = time.perf_counter() - started
    return report


def parse_duration(text: str) -> int:
    """``365d``, ``12h``, ``30m`` or ``90s`` to milliseconds."""
    units = {"d": DAY_MS, "h": 3_600_000, "m": 60_000, "s": 1000}
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in units:
        raise ValueError(f"{text!r}: a duration such as 365d, 12h, 30m or 90s expected")
    try:
        amount = float(text[:-1])
    except ValueError as exc:
        raise ValueError(f"{text!r}: a duration such as 365d, 12h, 30m or 90s expected") from exc
    if amount <= 0:
        raise ValueError(f"{text!r}: a positive duration expected")
    return int(amount * units[text[-1]])
