"""The live stream's change hub: one watcher per territory whatever the number of pages, every
page hears each change, a poke reads at once, and nothing is left running once pages leave."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from beffroi.api.deps import Services
from beffroi.web import live
from beffroi.web import repository as repo
from beffroi.web.live import ChangeHub
from tests.web.conftest import City, feed


def run(scenario: Any) -> None:
    """Run a coroutine in a thread of its own (a browser test of the same worker may have left
    an event loop running in this one)."""
    failure: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(scenario())
        except BaseException as exc:  # handed to the test's thread
            failure.append(exc)

    thread = threading.Thread(target=main)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the scenario did not end"
    if failure:
        raise failure[0]


def _hub(services: Services, invalidated: list[int]) -> ChangeHub:
    return ChangeHub(repo.markers_reader(services.store), on_change=invalidated.append)


def test_one_watcher_serves_every_page_of_a_territory(
        monkeypatch: pytest.MonkeyPatch, services: Services, city: City) -> None:
    monkeypatch.setattr(live, "POLL_S", 0.05)
    tid = services.registry.territory_id("testville")
    invalidated: list[int] = []
    hub = _hub(services, invalidated)

    async def scenario() -> None:
        async with hub.listen(tid) as a, hub.listen(tid) as b, hub.listen(tid) as c:
            started = time.monotonic()
            await asyncio.sleep(0.6)
            polls = (time.monotonic() - started) / live.POLL_S
            assert hub.watching() == 1
            # one watcher: about one read per poll, not one per page (three pages: ~36)
            assert 2 <= hub.reads <= polls + 3, (hub.reads, polls)
            await asyncio.to_thread(feed, services, [
                (city.lamps[8], "activePower", services.clock() - 1000, 170.0)])
            got = [await asyncio.wait_for(q.get(), 5) for q in (a, b, c)]
            assert all("alarms" in g.kinds for g in got) and got[0] == got[1] == got[2]
            assert got[0].counts["alarms"] >= 1
            assert invalidated == [tid]  # the map's cache dropped once, not per page
        assert hub.watching() == 0
        await asyncio.sleep(0.2)
        reads = hub.reads
        await asyncio.sleep(0.3)
        assert hub.reads == reads  # nobody listens: nothing polls

    run(scenario)


def test_a_poke_reads_at_once(monkeypatch: pytest.MonkeyPatch, services: Services,
                              city: City) -> None:
    monkeypatch.setattr(live, "POLL_S", 60.0)  # without the poke, nothing for a minute
    tid = services.registry.territory_id("testville")
    hub = _hub(services, [])

    async def scenario() -> None:
        async with hub.listen(tid) as changes:
            await asyncio.sleep(0.2)  # the watcher's first read
            feed(services, [(city.lamps[9], "activePower", services.clock() - 1000, 170.0)])
            poker = threading.Thread(target=hub.poke)  # as the rule engine's listener does
            poker.start()
            change = await asyncio.wait_for(changes.get(), 5)
            poker.join()
            assert "alarms" in change.kinds

    run(scenario)


def test_a_work_order_step_moves_the_incidents_marker(services: Services, city: City) -> None:
    """The board and the work-orders page hear a work order's own steps (accepted, done…),
    which do not move its incident."""
    from beffroi.auth.models import SYSTEM
    from beffroi.operations.models import IncidentIn, WorkOrderIn

    tid = services.registry.territory_id("testville")
    ops = services.operations
    incident = ops.open_incident("testville", IncidentIn(category="lamp-out", title="x"), SYSTEM)
    order = ops.create_work_order("testville", incident.id, WorkOrderIn(
        title="Replace the lamp", assignee_kind="team", assignee="night crew"), SYSTEM)
    time.sleep(0.01)  # the real clock: the step's time differs from the creation's
    with services.store.read() as conn:
        before = repo.change_markers(conn, tid)
    ops.work_order_step("testville", order.id, "accepted", SYSTEM)
    with services.store.read() as conn:
        after = repo.change_markers(conn, tid)
    assert after["alarms"] == before["alarms"]
    assert after["incidents"] != before["incidents"]
