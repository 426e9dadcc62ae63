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
import numpy as np

from beffroi.simulator.emit import Emission
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

    def __init__(self, base_url: str, code: str, timeout_s: float = 60.0,
                 token: str | None = None) -> None:
        self.url = f"{base_url.rstrip('/')}/api/v1/territories/{code}/observations"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(timeout=timeout_s, headers=headers)

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


class StoreSink:
    """Backfill straight into the store, for history "as fast as the store takes it".

    The simulator's emissions are columns (asset index, time, value) whose types are right by
    construction, so this skips building a JSON-like dict per reading and validating it. It
    keeps what matters of the ingest path: series resolved (and created) through the
    registry's declared metrics, timestamps within the accepted range, finite numbers and
    states of 1 to 64 characters, then the same idempotent write (observations, latest values,
    rollup marks). Live streams still go through the API, as a real sensor does.
    """

    def __init__(self, telemetry: Any, code: str, urns: list[str]) -> None:
        self.telemetry = telemetry
        self.code = code
        self.urns = urns
        self._ids: dict[str, np.ndarray] = {}  # metric -> series id per asset index (-1: none)
        self._tried: dict[str, np.ndarray] = {}  # metric -> asset indexes already resolved
        self.rejected: dict[str, int] = {}

    def _series(self, emission: Emission) -> np.ndarray:
        metric = emission.metric
        ids = self._ids.get(metric)
        if ids is None:
            ids = self._ids[metric] = np.full(len(self.urns), -1, dtype=np.int64)
            self._tried[metric] = np.zeros(len(self.urns), dtype=bool)
        tried = self._tried[metric]
        new = np.unique(emission.gids[~tried[emission.gids]])
        if len(new):
            pairs = [(self.urns[g], metric) for g in new.tolist()]
            found, _unknown = self.telemetry.resolve_series(self.code, pairs)
            for g, pair in zip(new.tolist(), pairs, strict=True):
                ref = found.get(pair)
                if ref is not None and ref.kind == emission.kind:
                    ids[g] = ref.id
            tried[new] = True
        found_ids: np.ndarray = ids[emission.gids]
        return found_ids

    def _reject(self, reason: str, n: int) -> None:
        if n:
            self.rejected[reason] = self.rejected.get(reason, 0) + n

    def _columns(self, emission: Emission, lo: int, hi: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(series ids, times, values) of the storable readings of an emission."""
        sids = self._series(emission)
        keep = sids >= 0
        self._reject("unknown_metric", int((~keep).sum()))
        in_range = (emission.ts >= lo) & (emission.ts <= hi)
        self._reject("ts_out_of_range", int((keep & ~in_range).sum()))
        keep &= in_range
        if emission.kind == "number":
            values = np.round(emission.values.astype(np.float64), emission.decimals)
            finite = np.isfinite(values)
            self._reject("bad_value", int((keep & ~finite).sum()))
            keep &= finite
        else:
            values = emission.values
            ok = np.fromiter((type(v) is str and 0 < len(v) <= 64 for v in values.tolist()),
                             dtype=bool, count=len(values))
            self._reject("wrong_kind", int((keep & ~ok).sum()))
            keep &= ok
        if not keep.any():
            return None
        return sids[keep], emission.ts[keep], values[keep]

    def rows(self, emissions: list[Emission], lo: int, hi: int) -> list[tuple[Any, ...]]:
        """Rows of the emissions, each series' rows in ascending time (one reading per
        series and tick), numbers then states."""
        rows: list[tuple[Any, ...]] = []
        for kind in ("number", "state"):
            parts = [c for e in emissions if e.kind == kind
                     if (c := self._columns(e, lo, hi)) is not None]
            if not parts:
                continue
            sids = np.concatenate([p[0] for p in parts])
            ts = np.concatenate([p[1] for p in parts])
            values = np.concatenate([p[2] for p in parts])
            order = np.lexsort((ts, sids))
            # A batch then covers few series over a long time: index writes stay local.
            sid_list, ts_list = sids[order].tolist(), ts[order].tolist()
            value_list = values[order].tolist()
            none = [None] * len(sid_list)
            if kind == "number":
                rows.extend(zip(sid_list, ts_list, value_list, none, strict=True))
            else:
                rows.extend(zip(sid_list, ts_list, none, value_list, strict=True))
        return rows

    def write(self, emissions: list[Emission], batch: int) -> SinkResult:
        before = sum(self.rejected.values())
        lo, hi = self.telemetry.timestamp_bounds()
        rows = self.rows(emissions, lo, hi)
        stored = 0
        for i in range(0, len(rows), batch):
            stored += self.telemetry.write_rows(rows[i : i + batch], grouped=True)
        received = sum(len(e) for e in emissions)
        rejected = sum(self.rejected.values()) - before
        return SinkResult(received, stored, rejected, {})


def backfill_store(sim: Simulator, sink: StoreSink, until_ms: int, *,
                   batch: int = BATCH_READINGS, ticks_per_flush: int = 144,
                   progress: Callable[[int], None] | None = None) -> RunReport:
    """:func:`backfill` through a :class:`StoreSink`: same ticks, same readings."""
    report = RunReport()
    started = time.perf_counter()
    pending: list[Emission] = []
    size = ticks = 0

    def flush() -> None:
        nonlocal pending, size, ticks
        t0 = time.perf_counter()
        report.readings += size
        report.add(sink.write(pending, batch))
        report.ingest_s += time.perf_counter() - t0
        if progress:
            progress(ticks)
        pending, size, ticks = [], 0, 0

    while sim.now_ms + TICK_MS <= until_ms:
        t0 = time.perf_counter()
        for emission in sim.step_emissions():
            pending.append(emission)
            size += len(emission)
            sim.counts[emission.type] += len(emission)
        report.generate_s += time.perf_counter() - t0
        ticks += 1
        report.ticks += 1
        if ticks == ticks_per_flush or size >= 10 * batch:
            flush()
    if pending or ticks:
        flush()
    report.reasons = dict(sink.rejected)
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
