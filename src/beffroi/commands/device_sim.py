"""A simulated device fleet for commands: subscribes to the commands of given assets (or of a
whole territory), applies them to a small in-memory state and acknowledges them, or fails or
stays silent on purpose (to exercise ``failed`` and ``timed_out``).

Used by the tests and by ``beffroi device-sim -t T --urn ...``.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from beffroi.commands.mqtt import ack_topic, command_topic
from beffroi.timeutil import Clock, TimestampError, parse_ts

log = logging.getLogger("beffroi.commands.device_sim")


@dataclass
class Received:
    urn: str
    correlation_id: str
    command: str
    params: dict[str, Any]
    outcome: str  # ok | error | ignored | expired | invalid


@dataclass
class DeviceOptions:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    fail_rate: float = 0.0  # share of commands answered with an error
    silent_rate: float = 0.0  # share of commands never answered
    fail_urns: frozenset[str] = frozenset()  # these always answer with an error
    silent_urns: frozenset[str] = frozenset()  # these never answer
    seed: int | None = None
    client_id: str = field(default_factory=lambda: f"beffroi-device-sim-{uuid.uuid4().hex[:12]}")


class DeviceSimulator:
    """Devices of ``territory``: those of ``urns``, or every asset when ``urns`` is empty."""

    def __init__(self, territory: str, urns: Iterable[str] = (),
                 options: DeviceOptions | None = None, clock: Clock | None = None) -> None:
        self.territory = territory
        self.urns = tuple(urns)
        self.options = options or DeviceOptions()
        self.clock = clock or Clock()
        self.random = random.Random(self.options.seed)
        self.state: dict[str, dict[str, Any]] = {}  # urn -> what the device now does
        self.received: list[Received] = []
        self.answers: dict[str, dict[str, Any]] = {}  # correlation id -> answer (replays)
        self.subscribed = threading.Event()
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.options.client_id,
                                  protocol=mqtt.MQTTv5)
        if self.options.username:
            self.client.username_pw_set(self.options.username, self.options.password)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def start(self) -> None:
        self.client.connect_async(self.options.host, self.options.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> DeviceSimulator:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _filters(self) -> list[str]:
        if not self.urns:
            return [command_topic(self.territory, "+")]
        return [command_topic(self.territory, urn) for urn in self.urns]

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object,
                    reason_code: ReasonCode, _properties: Properties | None) -> None:
        if reason_code.is_failure:
            log.warning("device simulator refused by the broker: %s", reason_code)
            return
        client.subscribe([(f, 1) for f in self._filters()])

    def _on_subscribe(self, _client: mqtt.Client, _userdata: object, _mid: int,
                      _reason_codes: list[ReasonCode], _properties: Properties | None) -> None:
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, _userdata: object,
                    message: mqtt.MQTTMessage) -> None:
        urn = message.topic.split("/", 3)[-1]
        try:
            body = orjson.loads(message.payload)
            cid = str(body["id"])
            command = str(body["command"])
            params = dict(body.get("params") or {})
            expires = parse_ts(body["expires_at"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, TimestampError):
            log.warning("invalid command payload", extra={"topic": message.topic})
            with self._lock:
                self.received.append(Received(urn, "", "", {}, "invalid"))
            return
        with self._lock:
            answer = self.answers.get(cid)
            if answer is None:  # a replay (QoS 1 redelivery) gets the same answer
                outcome = self._decide(urn, expires)
                self.received.append(Received(urn, cid, command, params, outcome))
                if outcome == "ok":
                    problem = self._apply(urn, command, params)
                    if problem:
                        outcome = "error"
                        answer = {"id": cid, "status": "error", "message": problem}
                    else:
                        answer = {"id": cid, "status": "ok"}
                elif outcome == "error":
                    answer = {"id": cid, "status": "error", "message": "simulated device fault"}
                if answer is not None:
                    self.answers[cid] = answer
        if answer is not None:
            client.publish(ack_topic(self.territory, urn), orjson.dumps(answer), qos=1)

    def _decide(self, urn: str, expires_ms: int) -> str:
        if self.clock() > expires_ms:
            return "expired"
        if urn in self.options.silent_urns:
            return "ignored"
        if urn in self.options.fail_urns:
            return "error"
        draw = self.random.random()
        if draw < self.options.silent_rate:
            return "ignored"
        if draw < self.options.silent_rate + self.options.fail_rate:
            return "error"
        return "ok"

    def _apply(self, urn: str, command: str, params: dict[str, Any]) -> str | None:
        """Change the device's state; returns an error message for a command it cannot do."""
        state = self.state.setdefault(urn, {})
        if command == "switch":
            state["on"] = bool(params.get("on"))
        elif command == "dim":
            state["level"] = params.get("level")
            state["on"] = bool(params.get("level"))
        elif command == "schedule":
            state["schedule"] = params.get("entries")
            state["timezone"] = params.get("timezone")
        elif command == "set_plan":
            state["plan"] = params.get("plan")
        elif command == "set_mode":
            state["mode"] = params.get("mode")
        elif command == "display":
            state["message"] = params.get("message")
            state["lang"] = params.get("lang")
        elif command in ("enable", "disable"):
            state["enabled"] = command == "enable"
        elif command == "reboot":
            state["reboots"] = int(state.get("reboots", 0)) + 1
        else:
            return f"unsupported command {command!r}"
        return None
