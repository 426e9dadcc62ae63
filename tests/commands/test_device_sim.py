"""The simulated device on the real broker, driven by hand: it applies a command once even
when QoS 1 delivers it twice, ignores expired commands and garbage, and answers on the
``/ack`` topic. And the topic helpers."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Callable, Iterator

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from beffroi.commands.device_sim import DeviceSimulator
from beffroi.commands.mqtt import ack_topic, command_topic, parse_ack_topic, topic_safe
from beffroi.timeutil import FrozenClock, to_iso
from tests.commands.conftest import BROKER, needs_broker, wait_until


def test_topics() -> None:
    urn = "urn:ngsi-ld:Streetlight:nantes:L1"
    assert command_topic("nantes", urn) == f"beffroi/nantes/commands/{urn}"
    assert parse_ack_topic(ack_topic("nantes", urn)) == ("nantes", urn)
    assert parse_ack_topic(command_topic("nantes", urn)) is None
    assert parse_ack_topic("beffroi//commands/x/ack") is None
    assert parse_ack_topic("beffroi/nantes/assets/x/ack") is None
    assert topic_safe(urn)
    assert not any(topic_safe(f"urn:ngsi-ld:Streetlight:nantes:{c}") for c in "+#/\x00")


@pytest.fixture
def wire() -> Iterator[tuple[mqtt.Client, queue.Queue[tuple[str, bytes]]]]:
    """A plain MQTT client: publishes commands, collects every ``/ack`` of cmd-* territories."""
    answers: queue.Queue[tuple[str, bytes]] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex}",
                         protocol=mqtt.MQTTv5)
    client.on_message = lambda _c, _u, m: answers.put((m.topic, bytes(m.payload)))
    client.connect(*BROKER)
    client.loop_start()
    yield client, answers
    client.disconnect()
    client.loop_stop()


@needs_broker
def test_replay_expiry_and_garbage(code: str, clock: FrozenClock,
                                   device: Callable[..., DeviceSimulator],
                                   wire: tuple[mqtt.Client, queue.Queue[tuple[str, bytes]]]
                                   ) -> None:
    client, answers = wire
    urn = f"urn:ngsi-ld:StreetlightControlCabinet:{code}:C1"
    info = client.subscribe(ack_topic(code, urn), qos=1)
    assert info[0] == mqtt.MQTT_ERR_SUCCESS
    sim = device(urn)

    def command(cid: str, level: int, expires_ms: int) -> bytes:
        return orjson.dumps({"id": cid, "command": "dim", "params": {"level": level},
                             "issued_at": to_iso(clock()), "expires_at": to_iso(expires_ms)})

    cid = uuid.uuid4().hex
    for _ in range(2):  # a QoS 1 redelivery
        client.publish(command_topic(code, urn), command(cid, 35, clock() + 60_000), qos=1)
    first = answers.get(timeout=10)
    second = answers.get(timeout=10)
    assert first == second == (ack_topic(code, urn), orjson.dumps({"id": cid, "status": "ok"}))
    assert [r.outcome for r in sim.received] == ["ok"]  # applied once
    assert sim.state[urn] == {"level": 35, "on": True}

    client.publish(command_topic(code, urn), command(uuid.uuid4().hex, 90, clock() - 1), qos=1)
    client.publish(command_topic(code, urn), b"{not json", qos=1)
    unsupported = orjson.dumps({"id": "u1", "command": "explode", "params": {},
                                "issued_at": to_iso(clock()),
                                "expires_at": to_iso(clock() + 60_000)})
    client.publish(command_topic(code, urn), unsupported, qos=1)
    _topic, payload = answers.get(timeout=10)
    assert orjson.loads(payload) == {"id": "u1", "status": "error",
                                     "message": "unsupported command 'explode'"}
    wait_until(lambda: len(sim.received) == 4)
    assert [r.outcome for r in sim.received] == ["ok", "expired", "invalid", "ok"]
    assert sim.state[urn]["level"] == 35  # the expired command changed nothing
    assert answers.empty()
