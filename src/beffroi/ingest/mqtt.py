"""The MQTT adapter: ``beffroi worker`` subscribes to the broker and feeds the pipeline.

Topics (``{t}`` a territory code, ``{urn}`` an asset URN):

* ``beffroi/{t}/readings``: a reading, a list of readings or ``{"readings": [...]}``
  (gateways send batches here);
* ``beffroi/{t}/assets/{urn}/{metric}``: one value, bare or ``{"value", "ts", "unit"}``;
* ``beffroi/{t}/ngsi-ld``: an NGSI-LD entity or a list of them.

No acknowledged reading is lost: the worker subscribes with QoS 1 in a persistent MQTT v5
session (messages published while it is down wait in the broker) and acknowledges a message
(PUBACK) only once the pipeline has committed it, readings and dead letters alike. A worker
killed before that gets the message again from the broker; writes are idempotent, so nothing
is stored twice. Workers share the load through a shared subscription (``$share/{group}/...``).

Memory is bounded: the broker sends at most ``receive_maximum`` unacknowledged messages, and a
full intake queue stops the network thread from reading, so a slow store slows the intake and
the broker keeps the rest.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from beffroi.errors import StoreUnavailable
from beffroi.ingest.service import Message, Pipeline
from beffroi.logs import correlation_id, new_correlation_id

log = logging.getLogger("beffroi.ingest.mqtt")

TOPICS = ("beffroi/+/readings", "beffroi/+/assets/+/+", "beffroi/+/ngsi-ld")
SESSION_EXPIRY_S = 7 * 24 * 3600  # messages wait a week for a worker that is down


@dataclass(frozen=True, slots=True)
class MqttOptions:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str = "beffroi-worker-1"
    group: str = "beffroi"  # shared-subscription group; "" subscribes without sharing
    receive_maximum: int = 2000  # unacknowledged messages the broker may send at once
    batch_messages: int = 1000
    batch_wait_s: float = 0.05
    session_expiry_s: int = SESSION_EXPIRY_S


def message_of(topic: str, payload: bytes, received_ms: int) -> Message | None:
    """The pipeline message of a publication, or None for a topic outside the scheme."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != "beffroi" or not parts[1]:
        return None
    code = parts[1]
    if len(parts) == 3 and parts[2] in ("readings", "ngsi-ld"):
        return Message(code, parts[2], payload, source="mqtt", topic=topic,
                       received_ms=received_ms)
    if len(parts) == 5 and parts[2] == "assets" and parts[3] and parts[4]:
        return Message(code, "metric", payload, source="mqtt", topic=topic,
                       asset=parts[3], metric=parts[4], received_ms=received_ms)
    return None


class MqttWorker:
    def __init__(self, pipeline: Pipeline, options: MqttOptions) -> None:
        self.pipeline = pipeline
        self.options = options
        self.intake: queue.Queue[mqtt.MQTTMessage] = queue.Queue(options.receive_maximum)
        self.stop_event = threading.Event()
        self.connected = threading.Event()
        self.processed = 0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=options.client_id,
            protocol=mqtt.MQTTv5, manual_ack=True,
        )
        if options.username:
            self.client.username_pw_set(options.username, options.password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)

    # --- network thread --------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object,
                    reason: ReasonCode, _props: object) -> None:
        if reason.is_failure:
            log.error("MQTT connection refused: %s", reason)
            return
        prefix = f"$share/{self.options.group}/" if self.options.group else ""
        client.subscribe([(prefix + t, 1) for t in TOPICS])
        self.connected.set()
        log.info("MQTT connected to %s:%s as %s", self.options.host, self.options.port,
                 self.options.client_id)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: object, _flags: object,
                       reason: ReasonCode, _props: object) -> None:
        self.connected.clear()
        if not self.stop_event.is_set():
            log.warning("MQTT disconnected (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object,
                    msg: mqtt.MQTTMessage) -> None:
        # Blocks when the queue is full: the network thread stops reading (backpressure).
        while not self.stop_event.is_set():
            try:
                self.intake.put(msg, timeout=0.5)
                return
            except queue.Full:
                continue

    # --- writer thread ---------------------------------------------------------------------

    def _batch(self) -> list[mqtt.MQTTMessage]:
        try:
            first = self.intake.get(timeout=0.2)
        except queue.Empty:
            return []
        self.pipeline.metrics.queue_depth.set(self.intake.qsize() + 1)
        batch = [first]
        deadline = time.monotonic() + self.options.batch_wait_s
        while len(batch) < self.options.batch_messages:
            left = deadline - time.monotonic()
            try:
                batch.append(self.intake.get(timeout=max(left, 0)) if left > 0
                             else self.intake.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, batch: list[mqtt.MQTTMessage]) -> None:
        messages: list[Message] = []
        now = int(time.time() * 1000)
        for msg in batch:
            payload = bytes(msg.payload)
            m = message_of(msg.topic, payload, now)
            if m is None:  # outside the scheme: kept as a dead letter of no territory
                m = Message("", "readings", payload, source="mqtt", topic=msg.topic,
                            received_ms=now)
            messages.append(m)
        token = correlation_id.set(new_correlation_id())
        try:
            self._write_batch(batch, messages)
        finally:
            correlation_id.reset(token)

    def _write_batch(self, batch: list[mqtt.MQTTMessage], messages: list[Message]) -> None:
        delay = 0.5
        while True:
            try:
                outcomes = self.pipeline.process(messages)
                log.info("batch written", extra={
                    "messages": len(messages),
                    "territories": sorted({m.territory for m in messages}),
                    "stored": sum(o.stored for o in outcomes),
                    "rejected": sum(len(o.rejected) + (o.error is not None)
                                    for o in outcomes)})
                break
            except StoreUnavailable as exc:  # keep the batch unacknowledged; try again
                if self.stop_event.is_set():
                    return
                log.warning("store unavailable (%s); retrying in %.1f s", exc.message, delay)
                self.stop_event.wait(delay)
                delay = min(delay * 2, 10.0)
            except Exception:  # a bug met by some message: isolate it, keep the others
                log.exception("pipeline failed on a batch; processing its messages one by one")
                for m in messages:
                    try:
                        self.pipeline.process([m])
                    except StoreUnavailable:
                        raise
                    except Exception as exc:
                        self.pipeline.bury(m, "internal_error", f"{type(exc).__name__}: {exc}")
                break
        for msg in batch:
            self.client.ack(msg.mid, msg.qos)
        self.processed += len(batch)

    def run(self) -> None:
        """Connect and process until :meth:`stop` (reconnects by itself)."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.options.session_expiry_s
        props.ReceiveMaximum = self.options.receive_maximum
        self.client.connect_async(self.options.host, self.options.port, keepalive=30,
                                  clean_start=False, properties=props)
        self.client.loop_start()
        try:
            while not self.stop_event.is_set():
                batch = self._batch()
                if batch:
                    self._write(batch)
        finally:
            self.client.disconnect()
            self.client.loop_stop()

    def stop(self) -> None:
        self.stop_event.set()
