"""Property: whatever a client sends to the ingest route, the answer is a 2xx or a 4xx that
names a field, never a 500; and every reading the answer counts as accepted is stored."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from beffroi.api.deps import Services
from tests.conftest import lamp

API = "/api/v1/territories/testville"
URN = "urn:ngsi-ld:Streetlight:testville:F1"

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=80),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)
plausible = st.fixed_dictionaries(
    {
        "asset": st.sampled_from([URN, "urn:ngsi-ld:Streetlight:testville:none", "", 7]),
        "metric": st.sampled_from(["activePower", "powerState", "dimmingLevel", "nope"]),
        "ts": st.one_of(
            st.integers(min_value=-(2**63), max_value=2**63),
            st.sampled_from(["2024-01-04T22:00:00+01:00", "2024-01-04T22:00:00", "x",
                             "2200-01-01T00:00:00Z"]),
            json_values,
        ),
        "value": json_values,
    },
    optional={"unit": st.sampled_from(["WTT", "KWT", 3]), "extra": json_values},
)
readings = st.lists(st.one_of(plausible, json_values), max_size=20)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=readings, wrap=st.booleans())
def test_any_batch_gets_a_4xx_or_is_stored(client: TestClient, services: Services,
                                          batch: list[Any], wrap: bool) -> None:
    if client.get(f"{API}/assets/{URN}").status_code == 404:
        client.post("/api/v1/territories", json={"code": "testville", "name": "T"})
        assert client.post(f"{API}/assets", json=lamp("F1")).status_code == 201
    with services.store.read() as conn:
        before = conn.execute(text("SELECT count(*) FROM observations")).scalar_one()
    body = json.dumps({"readings": batch} if wrap else batch).encode()  # big ints too
    r = client.post(f"{API}/observations", content=body,
                    headers={"content-type": "application/json"})
    assert r.status_code in (200, 400, 413, 422), r.text
    answer = r.json()
    if "received" in answer:  # a per-reading report
        assert answer["accepted"] + answer["rejected"] == answer["received"] == len(batch)
        assert all(e["reason"] for e in answer["errors"])
        with services.store.read() as conn:
            after = conn.execute(text("SELECT count(*) FROM observations")).scalar_one()
        assert after - before == answer["stored"]
    else:
        assert answer["details"] and answer["details"][0]["field"]
