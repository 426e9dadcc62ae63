"""The MQTT side of commands: a paho client that publishes commands (QoS 1) and listens to the
devices' acknowledgements.

Topics (``{t}`` a territory code, ``{urn}`` an asset URN):

* ``beffroi/{t}/commands/{urn}``: a command, ``{"id", "command", "params", "issued_at",
  "expires_at"}`` (published by Beffroi, QoS 1);
* ``beffroi/{t}/commands/{urn}/ack``: the device's answer, ``{"id", "status": "ok"|"error",
  "message"?}`` (published by the device, QoS 1).

The client reconnects by itself (paho's network thread). Publications made while the broker is
unreachable wait in paho's queue and go out on reconnection; the broker's PUBACK of each is
reported through :meth:`CommandLink.wait_published` or, later, :meth:`take_published`.
Acknowledgements are handed in batches to a callback on a handler thread of their own, so that
a slow database never stalls the network thread, and an exception there is logged, never fatal.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger("beffroi.commands.mqtt")

ACK_BATCH = 500


def command_topic(territory: str, urn: str) -> str:
    return f"beffroi/{territory}/commands/{urn}"


def ack_topic(territory: str, urn: str) -> str:
    return f"beffroi/{territory}/commands/{urn}/ack"


def parse_ack_topic(topic: str) -> tuple[str, str] | None:
    """(territory, urn) of an acknowledgement topic, or None."""
    parts = topic.split("/")
    if (len(parts) == 5 and parts[0] == "beffroi" and parts[2] == "commands"
            and parts[4] == "ack" and parts[1] and parts[3]):
        return parts[1], parts[3]
    return None


def topic_safe(urn: str) -> bool:
    """A URN can be one topic level: no wildcard, separator or NUL characters."""
    return bool(urn) and not any(c in urn for c in "+#/\x00")


@dataclass(frozen=True, slots=True)
class Ack:
    territory: str
    urn: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class LinkOptions:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str = field(default_factory=lambda: f"beffroi-commands-{uuid.uuid4().hex[:12]}")
    # Territories whose acknowledgements this process listens to (empty: all of them).
    territories: tuple[str, ...] = ()
    # Shared-subscription group of the ack listeners ("" = every process gets every ack;
    # the state transitions are idempotent, so that is correct, only redundant).
    group: str = ""
    keepalive_s: int = 30


class CommandLink:
    def __init__(self, options: LinkOptions, on_acks: Callable[[list[Ack]], None]) -> None:
        self.options = options
        self.on_acks = on_acks
        self.connected = threading.Event()
        self.ready = threading.Event()  # connected and the ack subscription granted
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._by_mid: dict[int, str] = {}  # message id -> key (a correlation id)
        self._early: dict[int, bool] = {}  # PUBACKs seen before their mid was registered
        self._published: dict[str, bool] = {}  # key -> accepted by the broker (False: refused)
        self._awaited: Counter[str] = Counter()  # keys a wait_published is waiting for
        self._acks: queue.Queue[Ack | None] = queue.Queue()
        self._handler = threading.Thread(target=self._handle, name="command-acks", daemon=True)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=options.client_id,
                                  protocol=mqtt.MQTTv5)
        if options.username:
            self.client.username_pw_set(options.username, options.password)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self._started = False

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._handler.start()
        self.client.connect_async(self.options.host, self.options.port,
                                  keepalive=self.options.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()
            self._acks.put(None)
            self._handler.join(10)
            self.connected.clear()
            self.ready.clear()

    # --- paho callbacks (network thread) --------------------------------------------------------

    def _filters(self) -> list[str]:
        prefix = f"$share/{self.options.group}/" if self.options.group else ""
        codes = self.options.territories or ("+",)
        return [f"{prefix}beffroi/{code}/commands/+/ack" for code in codes]

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object,
                    reason_code: ReasonCode, _properties: Properties | None) -> None:
        if reason_code.is_failure:
            log.warning("command link refused by the broker: %s", reason_code)
            return
        client.subscribe([(f, 1) for f in self._filters()])
        self.connected.set()
        log.info("command link connected", extra={"broker": f"{self.options.host}:"
                                                            f"{self.options.port}"})

    def _on_disconnect(self, _client: mqtt.Client, _userdata: object, _flags: object,
                       reason_code: ReasonCode, _properties: Properties | None) -> None:
        self.connected.clear()
        self.ready.clear()
        if self._started:
            log.warning("command link disconnected (%s); reconnecting", reason_code)

    def _on_subscribe(self, _client: mqtt.Client, _userdata: object, _mid: int,
                      reason_codes: list[ReasonCode], _properties: Properties | None) -> None:
        if any(rc.is_failure for rc in reason_codes):
            log.warning("the broker refused the acknowledgement subscription: %s",
                        [str(rc) for rc in reason_codes])
            return
        self.ready.set()

    def _on_message(self, _client: mqtt.Client, _userdata: object,
                    message: mqtt.MQTTMessage) -> None:
        where = parse_ack_topic(message.topic)
        if where is None:
            log.warning("message on an unexpected topic", extra={"topic": message.topic})
            return
        self._acks.put(Ack(where[0], where[1], bytes(message.payload)))

    def _on_publish(self, _client: mqtt.Client, _userdata: object, mid: int,
                    reason_code: ReasonCode, _properties: Properties | None) -> None:
        accepted = not reason_code.is_failure
        with self._cond:
            key = self._by_mid.pop(mid, None)
            if key is None:
                self._early[mid] = accepted
            else:
                self._published[key] = accepted
                self._cond.notify_all()

    # --- acknowledgements (handler thread) ------------------------------------------------------

    def _handle(self) -> None:
        while True:
            first = self._acks.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < ACK_BATCH:
                try:
                    item = self._acks.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                self.on_acks(batch)
            except Exception:  # the edge of the listener: never let one batch kill it
                log.exception("command acknowledgements could not be processed",
                              extra={"count": len(batch)})
            if stop:
                return

    # --- publishing -----------------------------------------------------------------------------

    def publish(self, items: Sequence[tuple[str, str, bytes]]) -> None:
        """Publish (key, topic, payload) with QoS 1; the broker's PUBACK is reported by key."""
        for key, topic, payload in items:
            info = self.client.publish(topic, payload, qos=1)
            with self._cond:
                early = self._early.pop(info.mid, None)
                if early is None:
                    self._by_mid[info.mid] = key
                else:
                    self._published[key] = early
                    self._cond.notify_all()

    def wait_published(self, keys: Sequence[str], timeout_s: float) -> dict[str, bool]:
        """The keys whose PUBACK came within ``timeout_s`` → accepted (True) or refused."""
        wanted = set(keys)
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._awaited.update(wanted)
            try:
                while True:
                    if wanted <= self._published.keys():
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                return {k: self._published.pop(k) for k in wanted if k in self._published}
            finally:
                self._awaited.subtract(wanted)
                self._awaited += Counter()  # drop the zero counts

    def take_published(self) -> dict[str, bool]:
        """PUBACKs that came after :meth:`wait_published` gave up on them."""
        with self._cond:
            out = {k: v for k, v in self._published.items() if k not in self._awaited}
            for k in out:
                del self._published[k]
            return out
