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

from beffroi.errors import StoreUnavailable
from beffroi.ingest.mqtt_wire import Delivery, WireSubscriber
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
        # Unbounded on purpose: the broker never has more than ``receive_maximum`` messages
        # unacknowledged with us, which bounds what can be in here.
        self.intake: queue.Queue[list[Delivery]] = queue.Queue()
        self.stop_event = threading.Event()
        self.processed = 0
        prefix = f"$share/{options.group}/" if options.group else ""
        self.client = WireSubscriber(
            options.host, options.port, options.client_id, [prefix + t for t in TOPICS],
            on_batch=self._on_batch, username=options.username, password=options.password,
            session_expiry_s=options.session_expiry_s, receive_maximum=options.receive_maximum,
        )

    @property
    def connected(self) -> threading.Event:
        return self.client.connected

    def _on_batch(self, deliveries: list[Delivery]) -> None:  # the reader thread
        self.intake.put(deliveries)

    # --- writer thread ---------------------------------------------------------------------

    def _batch(self) -> list[Delivery]:
        try:
            batch = list(self.intake.get(timeout=0.2))
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.options.batch_wait_s
        while len(batch) < self.options.batch_messages:
            left = deadline - time.monotonic()
            try:
                batch.extend(self.intake.get(timeout=left) if left > 0
                             else self.intake.get_nowait())
            except queue.Empty:
                break
        self.pipeline.metrics.queue_depth.set(self.intake.qsize())
        return batch

    def _write(self, batch: list[Delivery]) -> None:
        messages: list[Message] = []
        now = int(time.time() * 1000)
        for d in batch:
            m = message_of(d.topic, d.payload, now)
            if m is None:  # outside the scheme: kept as a dead letter of no territory
                m = Message("", "readings", d.payload, source="mqtt", topic=d.topic,
                            received_ms=now)
            messages.append(m)
        token = correlation_id.set(new_correlation_id())
        try:
            if self._write_batch(messages):
                self.client.ack(batch)
                self.processed += len(batch)
        finally:
            correlation_id.reset(token)

    def _write_batch(self, messages: list[Message]) -> bool:
        """Process until committed (True), or until the worker stops (False)."""
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
                return True
            except StoreUnavailable as exc:  # keep the batch unacknowledged; try again
                if self.stop_event.is_set():
                    return False
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
                return True

    def run(self) -> None:
        """Connect and process until :meth:`stop` (reconnects by itself)."""
        reader = threading.Thread(target=self.client.run, name="mqtt-reader", daemon=True)
        reader.start()
        try:
            while not self.stop_event.is_set():
                batch = self._batch()
                if batch:
                    self._write(batch)
        finally:
            self.client.stop()
            reader.join(5)

    def stop(self) -> None:
        self.stop_event.set()
