"""The live stream's source of changes: one watcher per territory and process.

Each control-room page keeps a server-sent-events stream open. Rather than every stream asking
the database what changed (one query per page and second: 200 operators' pages made 200 queries
a second), a :class:`ChangeHub` runs one watcher per territory while at least one stream
listens: it reads the territory's change markers once per :data:`POLL_S` (or at once when this
process's rule engine reports alarms) and hands each change to every stream of that territory.
Changes made by other processes (another API worker, the ingest worker) are seen at the next
poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi.concurrency import run_in_threadpool

log = logging.getLogger(__name__)

POLL_S = 1.0  # how often a territory's watcher reads its markers
RETRY_S = 5.0  # after a failed read (the database restarting), wait this long
KINDS = ("alarms", "incidents", "commands")
QUEUE_SIZE = 64  # changes a slow stream may lag behind; older ones are dropped (it re-reads)

Markers = dict[str, Any]


@dataclass
class Change:
    kinds: tuple[str, ...]  # what changed: among KINDS
    counts: dict[str, int]  # rows of each kind in the territory


@dataclass
class _Watch:
    loop: asyncio.AbstractEventLoop
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # the first markers are read
    listeners: set[asyncio.Queue[Change]] = field(default_factory=set)
    task: asyncio.Task[None] | None = None


class ChangeHub:
    """``read(territory_id)`` returns the markers (a value per kind that moves when rows of
    that kind change); ``on_change(territory_id)`` runs once per change (e.g. to drop a
    cache) before the streams hear of it."""

    def __init__(self, read: Callable[[int], Markers],
                 on_change: Callable[[int], None] | None = None) -> None:
        self._read = read
        self._on_change = on_change
        self._watches: dict[tuple[int, int], _Watch] = {}  # (id of the loop, territory)
        self.reads = 0  # marker reads so far (all territories)
        self._inflight = 0  # reads running in worker threads
        self._idle = threading.Condition()

    @contextlib.asynccontextmanager
    async def listen(self, territory_id: int) -> AsyncIterator[asyncio.Queue[Change]]:
        """A queue of the territory's changes for as long as the context lasts."""
        loop = asyncio.get_running_loop()
        key = (id(loop), territory_id)
        watch = self._watches.get(key)
        if watch is None:
            watch = self._watches[key] = _Watch(loop)
        queue: asyncio.Queue[Change] = asyncio.Queue(QUEUE_SIZE)
        watch.listeners.add(queue)
        if watch.task is None or watch.task.done():
            watch.task = loop.create_task(self._run(territory_id, watch))
        try:
            # a change made once the caller holds the queue is heard (the first read is done)
            await watch.ready.wait()
            yield queue
        finally:
            watch.listeners.discard(queue)
            if not watch.listeners and self._watches.get(key) is watch:
                del self._watches[key]
                if watch.task is not None:
                    watch.task.cancel()

    def poke(self) -> None:
        """Read the markers now rather than at the next poll (thread-safe: the rule engine's
        listeners call it from worker threads)."""
        for watch in list(self._watches.values()):
            with contextlib.suppress(RuntimeError):  # a loop that has just closed
                watch.loop.call_soon_threadsafe(watch.wake.set)

    def watching(self) -> int:
        """Territories watched now (all loops)."""
        return len(self._watches)

    def close(self, timeout: float = 10.0) -> None:
        """Wait for the reads still running in worker threads (a watcher cancelled while
        reading): before the store is disposed of, so that no connection outlives it."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._inflight and time.monotonic() < deadline:
                self._idle.wait(deadline - time.monotonic())

    def _read_counted(self, territory_id: int) -> Markers:
        with self._idle:
            self._inflight += 1
        try:
            return self._read(territory_id)
        finally:
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()

    async def _markers(self, territory_id: int) -> Markers:
        self.reads += 1
        return await run_in_threadpool(self._read_counted, territory_id)

    async def _run(self, territory_id: int, watch: _Watch) -> None:
        last: Markers | None = None
        while True:
            try:
                now = await self._markers(territory_id)
            except Exception:  # the database may be restarting: streams wait, then go on
                log.warning("live stream: changes not read", exc_info=True,
                            extra={"territory_id": territory_id})
                await asyncio.sleep(RETRY_S)
                continue
            watch.ready.set()
            if last is not None:
                kinds = tuple(k for k in KINDS if now[k] != last[k])
                if kinds:
                    if self._on_change is not None:
                        self._on_change(territory_id)
                    change = Change(kinds, {k: int(now[k][0]) for k in KINDS})
                    for queue in list(watch.listeners):
                        if queue.full():
                            queue.get_nowait()
                        queue.put_nowait(change)
            last = now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.wake.wait(), POLL_S)
            watch.wake.clear()
