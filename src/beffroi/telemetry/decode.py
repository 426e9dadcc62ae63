"""Decoding of reading batches (JSON). Written for speed: no model object per reading.

A batch is ``{"readings": [...]}`` or a bare JSON array; a reading is
``{"asset": URN, "metric": name, "ts": ISO 8601 | epoch ms, "value": number | state,
"unit": optional UN/CEFACT code}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from beffroi.errors import BadRequest, PayloadTooLarge, ValidationFailed, field_error
from beffroi.timeutil import TimestampError, parse_ts, to_iso

FIELDS = frozenset(("asset", "metric", "ts", "value", "unit"))
MAX_STATE_LENGTH = 64


@dataclass(frozen=True, slots=True)
class SeriesRef:
    id: int
    kind: str
    unit: str


@dataclass(slots=True)
class Rejection:
    index: int
    field: str
    reason: str
    code: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


def parse_batch(body: bytes, max_readings: int) -> list[Any]:
    if not body.strip():
        raise BadRequest("empty body", [field_error("body", "a JSON batch of readings expected")])
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            "malformed JSON", [field_error("body", f"{exc.msg} at line {exc.lineno}, "
                                                   f"column {exc.colno}")]
        ) from exc
    if isinstance(doc, dict):
        if set(doc) - {"readings"}:
            extra = sorted(set(doc) - {"readings"})[0]
            raise ValidationFailed(
                "unexpected field", [field_error(extra, "unknown field (expected 'readings')")]
            )
        doc = doc.get("readings")
    if not isinstance(doc, list):
        raise ValidationFailed(
            "no readings", [field_error("readings", "a list of readings expected")]
        )
    if len(doc) > max_readings:
        raise PayloadTooLarge(
            f"{len(doc)} readings in one batch; at most {max_readings}",
            [field_error("readings", f"split the batch into parts of {max_readings} or fewer")],
        )
    return doc


def validate(
    readings: list[Any],
    resolve: dict[tuple[str, str], SeriesRef],
    unknown: dict[tuple[str, str], tuple[str, str]] | None,
    min_ts: int,
    max_ts: int,
) -> tuple[list[tuple[int, int, float | None, str | None]], list[Rejection], list[int]]:
    """Check every reading; return storable rows, the rejections (index, field, reason) and
    the indexes of readings whose (asset, metric) is not in ``resolve``.

    ``unknown`` gives, for (asset, metric) pairs known not to resolve, the field to blame and
    the reason; with ``unknown=None`` the readings missing from ``resolve`` are only listed, so
    that the caller resolves just those (the common batch is all in the cache) and checks them
    again.
    """
    rows: list[tuple[int, int, float | None, str | None]] = []
    rejected: list[Rejection] = []
    missed: list[int] = []
    memo: dict[Any, int] = {}
    append = rows.append
    for i, r in enumerate(readings):
        if type(r) is not dict:
            rejected.append(Rejection(i, "", "a reading is a JSON object", "not_an_object"))
            continue
        if len(r) > 5 or not FIELDS.issuperset(r):
            extra = sorted(set(r) - FIELDS)
            if extra:
                rejected.append(
                    Rejection(i, extra[0], f"unknown field {extra[0]!r}", "unknown_field")
                )
                continue
        asset = r.get("asset")
        metric = r.get("metric")
        if type(asset) is not str:
            rejected.append(Rejection(i, "asset", "asset URN (string) required", "missing_asset"))
            continue
        if type(metric) is not str:
            rejected.append(
                Rejection(i, "metric", "metric name (string) required", "missing_metric")
            )
            continue
        ref = resolve.get((asset, metric))
        if ref is None:
            if unknown is None:
                missed.append(i)
                continue
            where, why = unknown.get((asset, metric), ("asset", "unknown asset"))
            rejected.append(Rejection(i, where, why, f"unknown_{where}"))
            continue
        raw_ts = r.get("ts")
        tt = type(raw_ts)
        # epoch ms is the common case of devices (type() excludes bool); ISO text is memoised
        ts = raw_ts if tt is int else memo.get(raw_ts) if tt is str else None
        if ts is None:
            if raw_ts is None:
                rejected.append(Rejection(i, "ts", "timestamp required", "missing_ts"))
                continue
            try:
                ts = parse_ts(raw_ts)
            except TimestampError as exc:
                rejected.append(Rejection(i, "ts", str(exc), "bad_ts"))
                continue
            if type(raw_ts) is str:
                memo[raw_ts] = ts
        if ts < min_ts or ts > max_ts:
            bound = "before " + to_iso(min_ts) if ts < min_ts else "after " + to_iso(max_ts)
            hint = " (epoch milliseconds expected)" if 0 < ts < 100_000_000_000 else ""
            rejected.append(
                Rejection(i, "ts", f"timestamp {ts} is {bound}{hint}", "ts_out_of_range")
            )
            continue
        unit = r.get("unit")
        if unit is not None and unit != ref.unit:
            rejected.append(
                Rejection(
                    i, "unit", f"unit {unit!r} does not match the series unit {ref.unit!r}",
                    "unit_mismatch",
                )
            )
            continue
        value: Any = r.get("value")
        tv = type(value)
        if ref.kind == "number":
            if tv is float:
                if not math.isfinite(value):
                    rejected.append(Rejection(i, "value", "value is not finite", "bad_value"))
                    continue
                append((ref.id, ts, value, None))
            elif tv is int:
                append((ref.id, ts, float(value), None))
            else:
                rejected.append(
                    Rejection(
                        i, "value", f"a number expected for {metric!r}, got {_kind(value)}",
                        "wrong_kind",
                    )
                )
        elif tv is str and 0 < len(value) <= MAX_STATE_LENGTH:
            append((ref.id, ts, None, value))
        elif tv is bool:
            append((ref.id, ts, None, "true" if value else "false"))
        else:
            rejected.append(
                Rejection(
                    i, "value",
                    f"a state (text of 1 to {MAX_STATE_LENGTH} characters) expected for "
                    f"{metric!r}, got {_kind(value)}",
                    "wrong_kind",
                )
            )
    return rows, rejected, missed


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return f"text of {len(value)} characters" if value else "empty text"
    return "a list" if isinstance(value, list) else "an object"
