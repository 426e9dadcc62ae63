"""Commands through the real Mosquitto to a simulated device: acknowledged, failed, timed out,
cancelled, groups (a cabinet's lamps, an area), and acknowledgements that make no sense."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from beffroi.api.deps import Services
from beffroi.auth.models import SYSTEM, Grant, Principal, Role
from beffroi.commands.device_sim import DeviceSimulator
from beffroi.commands.mqtt import ack_topic
from beffroi.errors import Conflict
from beffroi.timeutil import FrozenClock
from tests.commands.conftest import BROKER, needs_broker, wait_final, wait_until

pytestmark = needs_broker

Device = Callable[..., DeviceSimulator]


def operator(code: str, *posts: str) -> Principal:
    return Principal("user", "lea", {code: Grant(Role.OPERATOR, frozenset(posts))})


def test_dim_a_cabinet_round_trip(services: Services, code: str, fleet: dict[str, Any],
                                  device: Device) -> None:
    sim = device(fleet["cabinet"])
    batch = services.commands.send(code, operator(code, "lighting"), command="dim",
                                   params={"level": 40}, urns=[fleet["cabinet"]])
    assert batch.count == 1
    row = batch.commands[0]
    assert row.state in ("sent", "acknowledged")  # the broker's PUBACK came within the send
    assert row.sent is not None and row.actor == "user:lea" and len(row.correlation_id) == 32
    done = wait_final(services, code, batch)
    assert done.states == {"acknowledged": 1}
    final = done.commands[0]
    assert final.acked is not None and final.finished is not None and final.message is None
    assert sim.state[fleet["cabinet"]] == {"level": 40, "on": True}
    assert [(r.urn, r.correlation_id, r.command, r.params) for r in sim.received] == [
        (fleet["cabinet"], row.correlation_id, "dim", {"level": 40})]
    assert services.commands.get(code, row.id).state == "acknowledged"


def test_schedule_carries_the_territory_time_zone(services: Services, code: str,
                                                  fleet: dict[str, Any], device: Device) -> None:
    sim = device(fleet["cabinet"])
    batch = services.commands.send(code, SYSTEM, command="schedule", urns=[fleet["cabinet"]],
                                   params={"entries": [{"at": "23:00", "level": 30},
                                                       {"at": "06:00", "level": 100}]})
    assert wait_final(services, code, batch).states == {"acknowledged": 1}
    state = sim.state[fleet["cabinet"]]
    assert state["timezone"] == "Europe/Paris"
    assert state["schedule"] == [{"at": "06:00", "level": 100}, {"at": "23:00", "level": 30}]


def test_device_error_is_failed(services: Services, code: str, fleet: dict[str, Any],
                                device: Device) -> None:
    device(fleet["signal"], fail_urns=frozenset({fleet["signal"]}))
    batch = services.commands.send(code, SYSTEM, command="set_plan", params={"plan": "EVENT-2"},
                                   urns=[fleet["signal"]])
    done = wait_final(services, code, batch)
    assert done.states == {"failed": 1}
    assert done.commands[0].message == "simulated device fault"
    assert done.commands[0].acked is not None


def test_silent_device_times_out_on_tick(services: Services, code: str, fleet: dict[str, Any],
                                         device: Device, clock: FrozenClock) -> None:
    sim = device(fleet["park"], silent_urns=frozenset({fleet["park"]}))
    batch = services.commands.send(code, SYSTEM, command="display", timeout_s=30,
                                   params={"message": "Complet — suivez P2", "lang": "fr"},
                                   urns=[fleet["park"]])
    wait_until(lambda: len(sim.received) == 1)
    assert services.commands.batch(code, batch.batch_id).states == {"sent": 1}
    clock.advance(seconds=29)
    assert services.commands.tick() == 0
    clock.advance(seconds=2)
    assert services.commands.tick() == 1
    done = services.commands.batch(code, batch.batch_id)
    assert done.states == {"timed_out": 1}
    assert done.commands[0].message == "no acknowledgement before the deadline"
    assert services.commands.tick() == 0  # nothing left


def test_group_command_on_a_cabinets_lamps(services: Services, code: str,
                                           fleet: dict[str, Any], device: Device) -> None:
    sim = device()  # every device of the territory
    batch = services.commands.send(code, operator(code, "lighting"), command="dim",
                                   params={"level": 20}, selector={"parent": fleet["cabinet"]})
    assert batch.count == 3
    assert len({c.batch_id for c in batch.commands}) == 1
    assert len({c.correlation_id for c in batch.commands}) == 3
    assert sorted(c.asset for c in batch.commands) == sorted(fleet["lamps"])
    assert wait_final(services, code, batch).states == {"acknowledged": 3}
    assert {u: sim.state[u]["level"] for u in fleet["lamps"]} == dict.fromkeys(fleet["lamps"], 20)
    assert fleet["lone"] not in sim.state and fleet["cabinet"] not in sim.state


def test_group_command_on_an_area(services: Services, code: str, fleet: dict[str, Any],
                                  device: Device) -> None:
    sim = device()
    west = {"type": "Polygon", "coordinates": [[[-1.565, 47.20], [-1.555, 47.20],
                                                 [-1.555, 47.22], [-1.565, 47.22],
                                                 [-1.565, 47.20]]]}
    batch = services.commands.send(code, SYSTEM, command="dim", params={"level": 0},
                                   selector={"area": west, "type": "Streetlight"})
    expected = {fleet["lamps"][0], fleet["lamps"][1], fleet["lone"]}
    assert {c.asset for c in batch.commands} == expected
    assert wait_final(services, code, batch).states == {"acknowledged": 3}
    assert set(sim.state) == expected and all(s == {"level": 0, "on": False}
                                              for s in sim.state.values())


def test_a_group_without_type_takes_the_types_that_accept_the_command(
        services: Services, code: str, fleet: dict[str, Any], device: Device) -> None:
    device()
    batch = services.commands.send(code, SYSTEM, command="switch", params={"on": True},
                                   selector={"domain": "lighting"})
    assert [c.asset for c in batch.commands] == [fleet["cabinet"]]  # lamps have no switch
    assert wait_final(services, code, batch).states == {"acknowledged": 1}


def test_cancel_then_the_late_answer_is_ignored(services: Services, code: str,
                                                fleet: dict[str, Any], device: Device) -> None:
    sim = device(fleet["cabinet"], silent_urns=frozenset({fleet["cabinet"]}))
    batch = services.commands.send(code, SYSTEM, command="switch", params={"on": False},
                                   urns=[fleet["cabinet"]])
    wait_until(lambda: len(sim.received) == 1)
    cid = batch.commands[0].correlation_id
    cancelled = services.commands.cancel(code, operator(code, "lighting"), batch.commands[0].id)
    assert cancelled.state == "cancelled" and cancelled.message == "cancelled by user:lea"
    with pytest.raises(Conflict) as caught:
        services.commands.cancel(code, SYSTEM, batch.commands[0].id)
    assert caught.value.details == [{"field": "state", "reason": "is cancelled"}]
    _publish(ack_topic(code, fleet["cabinet"]), orjson.dumps({"id": cid, "status": "ok"}))
    wait_until(lambda: services.commands.counters["ack_late"] == 1)
    assert services.commands.get(code, batch.commands[0].id).state == "cancelled"


def _publish(topic: str, payload: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex}",
                         protocol=mqtt.MQTTv5)
    client.connect(*BROKER)
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_bad_and_unknown_acknowledgements_never_stop_the_listener(
        services: Services, code: str, fleet: dict[str, Any], device: Device) -> None:
    services.commands.start()
    assert services.commands.link.connected.wait(10)
    cabinet = fleet["cabinet"]
    for payload in (b"not json", b"[1, 2]", b'{"id": 5, "status": "ok"}',
                    b'{"id": "abc", "status": "maybe"}', b'{"id": "x", "status": "ok", '
                    b'"message": 3}'):
        _publish(ack_topic(code, cabinet), payload)
    _publish(ack_topic(code, cabinet), orjson.dumps({"id": uuid.uuid4().hex, "status": "ok"}))
    wait_until(lambda: services.commands.counters["ack_invalid"] == 5
               and services.commands.counters["ack_unknown"] == 1)
    # ... and commands still go round.
    sim = device(cabinet)
    batch = services.commands.send(code, SYSTEM, command="dim", params={"level": 55},
                                   urns=[cabinet])
    assert wait_final(services, code, batch).states == {"acknowledged": 1}
    assert sim.state[cabinet]["level"] == 55


def test_an_answer_for_another_asset_is_not_taken(services: Services, code: str,
                                                  fleet: dict[str, Any], device: Device) -> None:
    sim = device(fleet["cabinet"], silent_urns=frozenset({fleet["cabinet"]}))
    batch = services.commands.send(code, SYSTEM, command="dim", params={"level": 10},
                                   urns=[fleet["cabinet"]])
    wait_until(lambda: len(sim.received) == 1)
    cid = batch.commands[0].correlation_id
    _publish(ack_topic(code, fleet["lone"]), orjson.dumps({"id": cid, "status": "ok"}))
    wait_until(lambda: services.commands.counters["ack_unknown"] == 1)
    assert services.commands.batch(code, batch.batch_id).states == {"sent": 1}


def test_crisis_plan_standing_commands(services: Services, code: str, fleet: dict[str, Any],
                                       device: Device) -> None:
    sim = device()
    ids = services.commands.send_standing(code, SYSTEM, [
        {"selector": {"type": "Streetlight"}, "command": "dim", "params": {"level": 100}},
        {"selector": {"type": "OffStreetParking"}, "command": "display",
         "params": {"message": "Flood: park closed", "lang": "en"}},
    ])
    assert len(ids) == 2
    first = wait_final(services, code, services.commands.batch(code, ids[0]))
    assert first.states == {"acknowledged": 4}
    wait_final(services, code, services.commands.batch(code, ids[1]))
    assert sim.state[fleet["park"]]["message"] == "Flood: park closed"


def test_broker_unreachable_rows_stay_pending_then_time_out(
        services: Services, code: str, fleet: dict[str, Any], clock: FrozenClock) -> None:
    from beffroi.commands.mqtt import LinkOptions

    services.commands.link_options = LinkOptions(host="127.0.0.1", port=9,  # nothing there
                                                 territories=(code,))
    services.commands.publish_wait_s = 0.3
    batch = services.commands.send(code, SYSTEM, command="switch", params={"on": True},
                                   urns=[fleet["cabinet"]], timeout_s=5)
    assert batch.states == {"pending": 1} and batch.commands[0].sent is None
    assert services.commands.tick() == 0
    clock.advance(seconds=6)
    assert services.commands.tick() == 1
    assert services.commands.batch(code, batch.batch_id).states == {"timed_out": 1}
