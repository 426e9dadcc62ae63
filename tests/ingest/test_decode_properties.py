"""Property-based tests of the adapters' decoders: any payload gives readings or a
PayloadError naming a field, never another exception."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from beffroi.ingest import decode

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)
keys = st.sampled_from(["id", "type", "no2", "dateObserved", "observedAt", "value", "deviceInfo",
                        "devEui", "object", "time", "end_device_ids", "dev_eui",
                        "uplink_message", "decoded_payload", "received_at", "readings"])
shaped = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=6)), max_leaves=20)
payloads = st.one_of(
    st.binary(max_size=200),
    values.map(lambda v: json.dumps(v).encode()),
    shaped.map(lambda v: json.dumps(v).encode()),
)


def _check(fn: Any, payload: bytes) -> None:
    try:
        out = fn(payload)
    except decode.PayloadError as exc:
        assert exc.field and exc.reason and exc.code
        return
    assert isinstance(out, decode.Decoded)
    assert isinstance(out.readings, list) and all(isinstance(n, str) for n in out.ignored)


@settings(max_examples=300, deadline=None)
@given(payloads)
def test_readings_and_ngsi_ld_decoders_never_crash(payload: bytes) -> None:
    _check(decode.readings_message, payload)
    _check(decode.ngsi_ld_message, payload)
    _check(lambda p: decode.metric_message(p, "urn:ngsi-ld:Streetlight:t:1", "activePower",
                                           1_704_402_000_000), payload)


@settings(max_examples=300, deadline=None)
@given(payloads)
def test_lorawan_decoders_never_crash(payload: bytes) -> None:
    for fn in (decode.chirpstack_up, decode.tts_uplink):
        try:
            uplink = fn(payload)
        except decode.PayloadError as exc:
            assert exc.field and exc.reason
            continue
        assert len(uplink.dev_eui) == 16
        out = decode.uplink_readings(uplink, "urn:ngsi-ld:AirQualityObserved:t:1", {"no2"})
        assert all(r["metric"] == "no2" for r in out.readings)
