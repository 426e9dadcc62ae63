"""The platform's own samples: a heartbeat per process and minute, with the CPU time it used.

Each process of the installation (API, ingest worker…) calls :meth:`PlatformSampler.sample`
about once a minute from its periodic worker. A sample row says: during the ``interval_s``
wall seconds that ended at ``ts_ms``, this process was alive, used ``cpu_s`` CPU seconds (all
its threads, user + system) and stored ``readings`` readings. The first call of a process
only starts the clocks (there is no previous sample to measure from).

- the footprint's compute component sums ``cpu_s`` (:func:`cpu_seconds`);
- the platform availability indicator counts the minutes covered by samples
  (:func:`heartbeat_minutes`): a sample covers the wall interval ``[ts_ms - interval_s, ts_ms)``,
  and every minute of the clock that this interval touches counts (a partial minute counts);
  minutes covered by several processes count once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, text

from beffroi.indicators.tables import platform_samples
from beffroi.store.engine import Store

MINUTE_MS = 60_000
# Samples ending up to this long after a window may still cover its last minutes.
MAX_LOOKAHEAD_MS = 3_600_000


class PlatformSampler:
    """Measures one process between two calls of :meth:`sample`."""

    def __init__(self, process: str, *, cpu_clock: Callable[[], float] = time.process_time,
                 wall_clock: Callable[[], float] = time.monotonic) -> None:
        self.process = process[:64]
        self._cpu_clock = cpu_clock  # CPU seconds of the process, every thread
        self._wall_clock = wall_clock  # monotonic seconds
        self._last: tuple[float, float] | None = None

    def sample(self, conn_or_store: Connection | Store, now_ms: int,
               readings_since_last: int) -> None:
        """Insert one row for the time since the previous call (the first call only starts
        the clocks). With a :class:`Store`, in a write transaction of its own."""
        cpu, wall = self._cpu_clock(), self._wall_clock()
        last, self._last = self._last, (cpu, wall)
        if last is None:
            return
        row = {"ts_ms": int(now_ms), "process": self.process,
               "cpu_s": max(0.0, cpu - last[0]), "interval_s": max(0.0, wall - last[1]),
               "readings": max(0, int(readings_since_last))}
        if isinstance(conn_or_store, Store):
            with conn_or_store.write() as conn:
                conn.execute(platform_samples.insert().values(**row))
        else:
            conn_or_store.execute(platform_samples.insert().values(**row))


def cpu_seconds(conn: Connection, start_ms: int, end_ms: int) -> float:
    """CPU seconds of every process in samples taken in ``[start_ms, end_ms)``."""
    value = conn.execute(text(
        "SELECT coalesce(sum(cpu_s), 0) FROM platform_samples WHERE ts_ms >= :a AND ts_ms < :b"),
        {"a": start_ms, "b": end_ms}).scalar_one()
    return float(value)


def readings(conn: Connection, start_ms: int, end_ms: int) -> int:
    """Readings stored by every process in samples taken in ``[start_ms, end_ms)``."""
    value = conn.execute(text(
        "SELECT coalesce(sum(readings), 0) FROM platform_samples "
        "WHERE ts_ms >= :a AND ts_ms < :b"), {"a": start_ms, "b": end_ms}).scalar_one()
    return int(value)


def heartbeat_minutes(conn: Connection, start_ms: int, end_ms: int) -> int:
    """Distinct clock minutes of ``[start_ms, end_ms)`` touched by a sample's interval (see
    the module's text). Samples are read in time order; only their (time, interval) pairs."""
    if end_ms <= start_ms:
        return 0
    rows = conn.execute(text(
        "SELECT ts_ms, interval_s FROM platform_samples WHERE ts_ms > :a AND ts_ms < :b "
        "ORDER BY ts_ms"), {"a": start_ms, "b": end_ms + MAX_LOOKAHEAD_MS})
    ranges: list[tuple[int, int]] = []
    for ts_ms, interval_s in rows:
        a = max(int(ts_ms) - round(float(interval_s) * 1000), start_ms)
        b = min(int(ts_ms), end_ms)
        if a < b:
            ranges.append((a // MINUTE_MS, (b - 1) // MINUTE_MS))
    ranges.sort()
    count, reach = 0, None
    for first, last in ranges:
        if reach is not None and first <= reach:
            first = reach + 1
        if last >= first:
            count += last - first + 1
        reach = last if reach is None else max(reach, last)
    return count
