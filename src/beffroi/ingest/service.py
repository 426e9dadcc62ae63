"""The one ingest pipeline behind every adapter (HTTP, MQTT, LoRaWAN webhooks, NGSI-LD):

decode → validate → batch write (idempotent) → latest values → rollup marks → hand-off.

Adapters wrap what they receive in :class:`Message` and call :meth:`Pipeline.process` with a
batch of them; it returns one :class:`Outcome` per message once everything is committed, so an
adapter acknowledges its messages only after that (MQTT: the PUBACK). What is rejected — a
payload that cannot be read, or one reading of a batch — is kept as a dead letter with its raw
payload and reason, counted per reason, listable and replayable. Hand-off handlers (the rules
engine's extension point) receive the rows just written.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from beffroi.assets.service import Registry
from beffroi.errors import BeffroiError, NotFound
from beffroi.ingest import decode
from beffroi.ingest import repository as repo
from beffroi.ingest.metrics import IngestMetrics
from beffroi.store import Store
from beffroi.telemetry.service import IngestReport, Telemetry
from beffroi.timeutil import now_ms, to_iso

log = logging.getLogger("beffroi.ingest")

KINDS = ("readings", "metric", "ngsi-ld", "chirpstack", "tts")
Row = tuple[int, int, float | None, str | None]
Handler = Callable[[str, list[Row]], None]


@dataclass(slots=True)
class Message:
    territory: str
    kind: str  # one of KINDS
    payload: bytes
    source: str = "http"  # the adapter: http, mqtt, chirpstack, tts, replay
    topic: str | None = None
    asset: str | None = None  # kind "metric": the asset and metric named by the topic
    metric: str | None = None
    received_ms: int = field(default_factory=now_ms)


@dataclass
class Outcome:
    received: int = 0
    accepted: int = 0
    stored: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)  # index, field, reason, code
    ignored: list[str] = field(default_factory=list)
    error: dict[str, str] | None = None  # the whole payload was refused: field, reason, code

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "received": self.received, "accepted": self.accepted, "stored": self.stored,
            "duplicates": self.accepted - self.stored, "rejected": len(self.rejected),
            "rejected_by_reason": dict(sorted(Counter(r["code"] for r in self.rejected).items())),
            "errors": [{k: r[k] for k in ("index", "field", "reason")}
                       for r in self.rejected[:100]],
        }
        if self.ignored:
            body["ignored"] = self.ignored
        if self.error:
            body["error"] = self.error
        return body


class Pipeline:
    def __init__(self, store: Store, registry: Registry, telemetry: Telemetry) -> None:
        self.store = store
        self.registry = registry
        self.telemetry = telemetry
        self.handlers: list[Handler] = []
        self.metrics = IngestMetrics()
        self.rows_handed_off = 0  # readings stored by this process (the platform samples)

    # --- decoding --------------------------------------------------------------------------

    def _decode(self, m: Message) -> decode.Decoded:
        if m.kind == "readings":
            return decode.readings_message(m.payload)
        if m.kind == "metric":
            assert m.asset is not None and m.metric is not None
            return decode.metric_message(m.payload, m.asset, m.metric, m.received_ms)
        if m.kind == "ngsi-ld":
            return decode.ngsi_ld_message(m.payload)
        if m.kind in ("chirpstack", "tts"):
            uplink = (decode.chirpstack_up if m.kind == "chirpstack" else decode.tts_uplink)(
                m.payload)
            found = self.registry.asset_by_dev_eui(m.territory, uplink.dev_eui)
            if found is None:
                raise decode.PayloadError(
                    "unknown_device", "dev_eui",
                    f"no asset of territory {m.territory!r} has dev_eui {uplink.dev_eui!r} "
                    "(set the asset property 'dev_eui')")
            urn, metrics = found
            return decode.uplink_readings(uplink, urn, metrics)
        raise decode.PayloadError("unknown_kind", "kind", f"unknown message kind {m.kind!r}")

    # --- the pipeline ----------------------------------------------------------------------

    def process(self, messages: list[Message]) -> list[Outcome]:
        """Decode, validate and store a batch of messages; every rejection is a dead letter.

        Raises :class:`beffroi.errors.StoreUnavailable` if the store cannot be written: then
        nothing of the batch is acknowledged and the adapter retries it later (writes are
        idempotent, so a retry never stores a reading twice).
        """
        started = time.perf_counter()
        outcomes = [Outcome() for _ in messages]
        letters: list[dict[str, Any]] = []
        by_territory: dict[str, list[tuple[int, list[dict[str, Any]]]]] = {}
        for i, m in enumerate(messages):
            try:
                decoded = self._decode(m)
            except decode.PayloadError as exc:
                outcomes[i].error = {"field": exc.field, "reason": exc.reason, "code": exc.code}
                letters.append(_letter(m, m.kind, exc.code, exc.field, exc.reason, m.payload))
                continue
            except NotFound as exc:
                outcomes[i].error = {"field": "territory", "reason": exc.message,
                                     "code": "unknown_territory"}
                letters.append(_letter(m, m.kind, "unknown_territory", "territory", exc.message,
                                       m.payload))
                continue
            outcomes[i].received = len(decoded.readings)
            outcomes[i].ignored = decoded.ignored
            by_territory.setdefault(m.territory, []).append((i, decoded.readings))
        for code, parts in by_territory.items():
            readings = [r for _i, rs in parts for r in rs]
            try:
                report = self.telemetry.ingest_readings(code, readings)
            except NotFound as exc:
                for i, rs in parts:
                    outcomes[i].error = {"field": "territory", "reason": exc.message,
                                         "code": "unknown_territory"}
                    letters.append(_letter(messages[i], messages[i].kind, "unknown_territory",
                                           "territory", exc.message, messages[i].payload))
                    outcomes[i].received = len(rs)
                continue
            # Map each rejection back to its message and its index there.
            starts: list[tuple[int, int, int]] = []  # (first index in batch, message, count)
            offset = 0
            for i, rs in parts:
                starts.append((offset, i, len(rs)))
                offset += len(rs)
            rejected_per_message: Counter[int] = Counter()
            k = 0
            for rej in report.rejections:
                while rej.index >= starts[k][0] + starts[k][2]:
                    k += 1
                first, i, _n = starts[k]
                local = rej.index - first
                outcomes[i].rejected.append(
                    {"index": local, "field": rej.field, "reason": rej.reason, "code": rej.code})
                rejected_per_message[i] += 1
                letters.append(_letter(messages[i], "readings", rej.code, rej.field, rej.reason,
                                       _reading_bytes(readings[rej.index])))
            # Stored readings are not attributed to messages one by one: share them in order.
            stored_left = report.stored
            for _first, i, n in starts:
                accepted = n - rejected_per_message[i]
                outcomes[i].accepted = accepted
                outcomes[i].stored = min(accepted, stored_left)
                stored_left -= outcomes[i].stored
            source = messages[parts[0][0]].source
            self.metrics.accepted.labels(source).inc(report.accepted)
            self.metrics.stored.labels(source).inc(report.stored)
            self.metrics.batch_size.observe(len(readings))
            if report.rejections:
                log.info("readings rejected", extra={
                    "territory": code, "rejected": len(report.rejections),
                    "reasons": dict(Counter(r.code for r in report.rejections))})
            self._hand_off(code, report.rows)
        if letters:
            with self.store.write() as conn:
                repo.insert_dead_letters(conn, letters)
            for letter in letters:
                self.metrics.rejected.labels(letter["source"], letter["reason_code"]).inc()
        self.metrics.write_seconds.observe(time.perf_counter() - started)
        if messages:  # the batch's oldest message: how far behind the intake is
            oldest = min(m.received_ms for m in messages)
            self.metrics.lag_seconds.observe(max(0.0, time.time() - oldest / 1000))
        return outcomes

    def _hand_off(self, code: str, rows: list[tuple[int, int, float | None, str | None]]
                  ) -> None:
        """Give the rows just committed to the handlers (the rule engine), whatever the route
        they came by."""
        self.rows_handed_off += len(rows)
        for handler in self.handlers:
            try:
                handler(code, rows)
            except Exception:  # a faulty handler must not lose the readings just stored
                log.exception("ingest hand-off handler failed", extra={"territory": code})

    def ingest_batch(self, code: str, body: bytes) -> IngestReport:
        """The HTTP batch route: the client gets every error at once; the rejected readings,
        or the whole body if it cannot be read, are kept as dead letters too."""
        message = Message(code, "readings", body, source="http")
        try:
            report = self.telemetry.ingest_body(code, body)
        except NotFound:
            raise  # an unknown territory in the URL: a 404 for the client, nothing to keep
        except BeffroiError as exc:
            detail = exc.details[0] if exc.details else {"field": "body", "reason": exc.message}
            self.bury(message, exc.code, exc.message + ": " + str(detail["reason"]),
                      str(detail["field"]))
            raise
        self.metrics.accepted.labels("http").inc(report.accepted)
        self.metrics.stored.labels("http").inc(report.stored)
        self.metrics.batch_size.observe(report.received)
        self._hand_off(code, report.rows)
        if report.rejections:
            doc = orjson.loads(body)  # already parsed once: it is valid JSON
            readings = doc["readings"] if isinstance(doc, dict) else doc
            letters = [_letter(message, "readings", r.code, r.field, r.reason,
                               _reading_bytes(readings[r.index])) for r in report.rejections]
            with self.store.write() as conn:
                repo.insert_dead_letters(conn, letters)
            for r in report.rejections:
                self.metrics.rejected.labels("http", r.code).inc()
        return report

    # --- dead letters ----------------------------------------------------------------------

    def bury(self, message: Message, code: str, reason: str, field_name: str = "payload"
             ) -> None:
        """Keep a message that could not be processed at all as a dead letter."""
        with self.store.write() as conn:
            repo.insert_dead_letters(conn, [_letter(message, message.kind, code, field_name,
                                                    reason, message.payload)])
        self.metrics.rejected.labels(message.source, code).inc()

    def dead_letters(self, code: str, reason: str | None, cursor: int, limit: int,
                     pending_only: bool = False) -> tuple[list[dict[str, Any]], int | None]:
        with self.store.read() as conn:
            rows = repo.list_dead_letters(conn, code, reason, cursor, limit + 1, pending_only)
        more = len(rows) > limit
        rows = rows[:limit]
        return [_letter_dict(r) for r in rows], (int(rows[-1].id) if more else None)

    def dead_letter_counts(self, code: str) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rows = repo.counts_by_reason(conn, code)
        return [{"reason": str(r[0]), "count": int(r[1]), "last": to_iso(int(r[2])),
                 "replayed": int(r[3])} for r in rows]

    def replay(self, code: str, letter_id: int) -> dict[str, Any]:
        """Run a dead letter's payload through the pipeline again (after a fix: the asset
        created, the metric declared, the codec corrected). It is marked replayed when nothing
        of it is rejected any more; otherwise its reason is updated. Idempotent."""
        with self.store.read() as conn:
            row = repo.dead_letter(conn, code, letter_id)
        if row is None:
            raise NotFound(f"dead letter {letter_id} not found in territory {code!r}")
        if row.replayed_ms is not None:
            return {"id": letter_id, "replayed": True, "already": True}
        kind, asset, metric = _replay_kind(row.format, row.topic)
        message = Message(territory=code, kind=kind, payload=bytes(row.payload),
                          source="replay", topic=row.topic, asset=asset, metric=metric)
        outcome = self._process_quietly(message)
        problem = outcome.error or (outcome.rejected[0] if outcome.rejected else None)
        with self.store.write() as conn:
            if problem is None:
                repo.mark_replayed(conn, letter_id, now_ms())
            else:
                repo.mark_failed_again(conn, letter_id, problem["code"], problem["field"],
                                       problem["reason"])
        return {"id": letter_id, "replayed": problem is None, "stored": outcome.stored,
                **({"problem": {k: problem[k] for k in ("field", "reason")}} if problem else {})}

    def _process_quietly(self, message: Message) -> Outcome:
        """Process one message without writing new dead letters (the replayed one is updated
        instead)."""
        try:
            decoded = self._decode(message)
            report = self.telemetry.ingest_readings(message.territory, decoded.readings)
            self._hand_off(message.territory, report.rows)
        except decode.PayloadError as exc:
            return Outcome(error={"field": exc.field, "reason": exc.reason, "code": exc.code})
        except NotFound as exc:
            return Outcome(error={"field": "territory", "reason": exc.message,
                                  "code": "unknown_territory"})
        return Outcome(
            received=report.received, accepted=report.accepted, stored=report.stored,
            rejected=[{"index": r.index, "field": r.field, "reason": r.reason, "code": r.code}
                      for r in report.rejections],
        )


def _letter(m: Message, fmt: str, code: str, field_name: str, reason: str, payload: bytes
            ) -> dict[str, Any]:
    """A dead letter: ``fmt`` is the payload's format ("readings" for one rejected reading of a
    batch, whatever the message's own format)."""
    topic = m.topic
    if fmt == "metric" and not topic:  # keep what a replay needs to rebuild the reading
        topic = f"beffroi/{m.territory}/assets/{m.asset}/{m.metric}"
    return {
        "territory": m.territory[:64], "source": m.source[:32], "format": fmt, "topic": topic,
        "received_ms": m.received_ms, "reason_code": code[:32], "field": field_name[:64],
        "reason": reason, "payload": payload, "attempts": 1, "replayed_ms": None,
    }


def _reading_bytes(reading: Any) -> bytes:
    try:
        return orjson.dumps(reading)
    except TypeError:
        return repr(reading).encode()


def _replay_kind(fmt: str, topic: str | None) -> tuple[str, str | None, str | None]:
    """The message kind of a dead letter, and for a bare value the asset and metric of its
    topic (``beffroi/{territory}/assets/{urn}/{metric}``)."""
    if fmt == "metric":
        parts = (topic or "").split("/")
        return "metric", parts[3] if len(parts) > 4 else "", parts[4] if len(parts) > 4 else ""
    return fmt, None, None


def _letter_dict(r: Any) -> dict[str, Any]:
    payload = bytes(r.payload)
    try:
        text: str | None = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {
        "id": int(r.id), "source": r.source, "format": r.format, "topic": r.topic,
        "received": to_iso(int(r.received_ms)), "reason_code": r.reason_code,
        "field": r.field, "reason": r.reason,
        "payload": text if text is not None else None,
        "payload_base64": None if text is not None else base64.b64encode(payload).decode(),
        "attempts": int(r.attempts),
        "replayed": to_iso(int(r.replayed_ms)) if r.replayed_ms is not None else None,
    }

