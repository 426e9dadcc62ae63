"""Payload formats of the ingest adapters, turned into the pipeline's reading dicts.

Every decoder takes the raw bytes of one message and returns the readings it carries
(``{"asset", "metric", "ts", "value"[, "unit"]}``, the HTTP batch format), plus the attributes it
deliberately left aside (``ignored``: descriptive attributes of an NGSI-LD entity, fields of a
LoRaWAN decoded payload that are not metrics of the asset). A payload that cannot be read at all
raises :class:`PayloadError` with the field to blame and why; the pipeline keeps it as a dead
letter. Checking each reading (asset, metric, kind, unit, time) is the telemetry validator's job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson

# Attributes of Smart Data Models entities that describe the entity rather than measure.
DESCRIPTIVE = frozenset((
    "id", "type", "@context", "location", "address", "name", "alternateName", "description",
    "dateObserved", "dateCreated", "dateModified", "dataProvider", "source", "seeAlso",
    "owner", "areaServed", "refDevice", "refPointOfInterest", "typeOfLocation", "annotations",
    "category", "controlledProperty", "refStreetlightControlCabinet", "refStreetlightGroup",
    "refStreetlightModel", "refParkingSite", "refWeatherObserved", "refRoadSegment",
))
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class PayloadError(ValueError):
    def __init__(self, code: str, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.field = field_name
        self.reason = reason


@dataclass
class Decoded:
    readings: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def load_json(payload: bytes) -> Any:
    if len(payload) > MAX_MESSAGE_BYTES:
        raise PayloadError("too_large", "payload",
                           f"{len(payload)} bytes; at most {MAX_MESSAGE_BYTES} per message")
    if not payload.strip():
        raise PayloadError("empty", "payload", "empty payload")
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise PayloadError("bad_json", "payload",
                           f"malformed JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
                           ) from exc


def readings_message(payload: bytes) -> Decoded:
    """A batch (``{"readings": [...]}`` or an array) or a single reading object."""
    doc = load_json(payload)
    if isinstance(doc, dict) and "readings" in doc:
        extra = sorted(set(doc) - {"readings"})
        if extra:
            raise PayloadError("unknown_field", extra[0] or '""',
                               "unknown field (expected 'readings')")
        doc = doc["readings"]
    if isinstance(doc, dict):
        return Decoded([doc])
    if not isinstance(doc, list):
        raise PayloadError("not_readings", "payload",
                           "a reading, a list of readings or {\"readings\": [...]} expected")
    return Decoded(doc)


def metric_message(payload: bytes, asset: str, metric: str, received_ms: int) -> Decoded:
    """The payload of ``.../assets/{urn}/{metric}``: a bare value (stamped with the time of
    reception) or ``{"value": v, "ts": t, "unit": u}``."""
    doc = load_json(payload)
    if isinstance(doc, dict):
        extra = sorted(set(doc) - {"value", "ts", "unit"})
        if extra:
            raise PayloadError("unknown_field", extra[0] or '""',
                               "unknown field (expected 'value', 'ts', 'unit')")
        if "value" not in doc:
            raise PayloadError("missing_value", "value", "value required")
        reading = {"asset": asset, "metric": metric, "ts": doc.get("ts", received_ms),
                   "value": doc["value"]}
        if "unit" in doc:
            reading["unit"] = doc["unit"]
        return Decoded([reading])
    return Decoded([{"asset": asset, "metric": metric, "ts": received_ms, "value": doc}])


def _ngsi_entity(entity: Any, index: int | None) -> Decoded:
    where = "entity" if index is None else f"entities[{index}]"
    if not isinstance(entity, dict):
        raise PayloadError("not_an_entity", where, "an NGSI-LD entity is a JSON object")
    urn = entity.get("id")
    if not isinstance(urn, str):
        raise PayloadError("missing_asset", f"{where}.id", "entity id (asset URN) required")
    observed = entity.get("dateObserved")
    if isinstance(observed, dict):  # normalized form of the property itself
        observed = observed.get("value")
        if isinstance(observed, dict):  # {"@type": "DateTime", "@value": "..."}
            observed = observed.get("@value")
    out = Decoded()
    for name, attr in entity.items():
        if name in DESCRIPTIVE:
            continue
        ts: Any = observed
        unit = None
        value = attr
        if isinstance(attr, dict):  # normalized: {"type": "Property", "value": ..., ...}
            if attr.get("type") not in ("Property", None) or "value" not in attr:
                out.ignored.append(name)  # Relationship, GeoProperty, LanguageProperty…
                continue
            value = attr["value"]
            ts = attr.get("observedAt", observed)
            unit = attr.get("unitCode")
        if isinstance(value, dict | list):
            out.ignored.append(name)  # structured values are not time series
            continue
        if ts is None:
            raise PayloadError("missing_ts", f"{where}.{name}",
                               "no observedAt on the attribute and no dateObserved on the entity")
        reading: dict[str, Any] = {"asset": urn, "metric": name, "ts": ts, "value": value}
        if unit is not None:
            reading["unit"] = unit
        out.readings.append(reading)
    return out


def ngsi_ld_message(payload: bytes) -> Decoded:
    """An NGSI-LD entity (normalized or keyValues) or an array of them (the body of an
    ``entityOperations/upsert``). The entity id is the asset URN; each measured attribute a
    metric; its ``observedAt`` (or the entity's ``dateObserved``) the time."""
    doc = load_json(payload)
    if isinstance(doc, dict):
        return _ngsi_entity(doc, None)
    if not isinstance(doc, list):
        raise PayloadError("not_an_entity", "payload", "an entity or a list of entities expected")
    out = Decoded()
    for i, entity in enumerate(doc):
        part = _ngsi_entity(entity, i)
        out.readings.extend(part.readings)
        out.ignored.extend(f"entities[{i}].{n}" for n in part.ignored)
    return out


@dataclass(frozen=True, slots=True)
class Uplink:
    """What a LoRaWAN network server tells of one uplink: the device and its decoded object."""

    dev_eui: str
    ts: Any
    fields: dict[str, Any]


def _eui(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) != 16:
        raise PayloadError("bad_dev_eui", where, "a 16-digit hexadecimal device EUI expected")
    try:
        int(value, 16)
    except ValueError as exc:
        raise PayloadError("bad_dev_eui", where,
                           "a 16-digit hexadecimal device EUI expected") from exc
    return value.lower()


def _decoded_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError("not_decoded", where,
                           "no decoded payload: configure a payload codec on the network server")
    return value


def chirpstack_up(payload: bytes) -> Uplink:
    """ChirpStack v4 HTTP integration, ``event=up`` (JSON marshaler)."""
    doc = load_json(payload)
    if not isinstance(doc, dict):
        raise PayloadError("not_an_event", "payload", "a ChirpStack event object expected")
    info = doc.get("deviceInfo")
    if not isinstance(info, dict):
        raise PayloadError("missing_device", "deviceInfo", "deviceInfo required")
    return Uplink(_eui(info.get("devEui"), "deviceInfo.devEui"), doc.get("time"),
                  _decoded_object(doc.get("object"), "object"))


def tts_uplink(payload: bytes) -> Uplink:
    """The Things Stack v3 webhook, uplink message."""
    doc = load_json(payload)
    if not isinstance(doc, dict):
        raise PayloadError("not_an_event", "payload", "a The Things Stack message expected")
    ids = doc.get("end_device_ids")
    if not isinstance(ids, dict):
        raise PayloadError("missing_device", "end_device_ids", "end_device_ids required")
    uplink = doc.get("uplink_message")
    if not isinstance(uplink, dict):
        raise PayloadError("not_an_uplink", "uplink_message",
                           "only uplink messages are ingested (set the webhook's uplink path)")
    ts = uplink.get("received_at", doc.get("received_at"))
    return Uplink(_eui(ids.get("dev_eui"), "end_device_ids.dev_eui"), ts,
                  _decoded_object(uplink.get("decoded_payload"), "uplink_message.decoded_payload"))


def uplink_readings(uplink: Uplink, asset: str, metrics: set[str]) -> Decoded:
    """Readings of the decoded fields that are metrics of the asset (declared by its type or
    as series); the other fields (battery, counters of the codec…) are listed as ignored."""
    out = Decoded()
    for name, value in uplink.fields.items():
        if name not in metrics or isinstance(value, dict | list):
            out.ignored.append(name)
            continue
        if isinstance(value, float) and not math.isfinite(value):
            value = None  # let the validator reject it with its own reason
        out.readings.append({"asset": asset, "metric": name, "ts": uplink.ts, "value": value})
    return out
