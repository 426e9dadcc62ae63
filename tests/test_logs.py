"""Structured logs: JSON lines with territory and correlation id, and the id over HTTP."""

from __future__ import annotations

import logging

import orjson
import pytest
from fastapi.testclient import TestClient

from beffroi.logs import JsonFormatter, correlation_id


def test_json_lines_carry_territory_and_correlation_id() -> None:
    record = logging.makeLogRecord({"name": "beffroi.ingest", "levelname": "INFO",
                                    "msg": "readings rejected", "territory": "nantes",
                                    "rejected": 3})
    token = correlation_id.set("abc123")
    try:
        line = orjson.loads(JsonFormatter().format(record))
    finally:
        correlation_id.reset(token)
    assert line["message"] == "readings rejected" and line["level"] == "INFO"
    assert (line["territory"], line["rejected"], line["correlation_id"]) == ("nantes", 3, "abc123")
    assert line["ts"].endswith("Z")


def test_http_requests_get_a_correlation_id(client: TestClient, territory: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    r = client.get("/health")
    assert len(r.headers["x-correlation-id"]) == 16
    r = client.get("/health", headers={"X-Correlation-ID": "gateway-42.7"})
    assert r.headers["x-correlation-id"] == "gateway-42.7"
    r = client.get("/health", headers={"X-Correlation-ID": "bad id\n" * 20})
    assert r.headers["x-correlation-id"] != "bad id\n" * 20
    caplog.set_level(logging.INFO, logger="beffroi.ingest")
    client.post("/api/v1/territories/testville/ngsi-ld/entities",
                json={"id": "urn:ngsi-ld:Streetlight:testville:none", "type": "Streetlight",
                      "dateObserved": "2024-01-04T21:00:00Z", "powerState": "on"},
                headers={"X-Correlation-ID": "req-1"})
    (record,) = [r for r in caplog.records if r.getMessage() == "readings rejected"]
    assert record.territory == "testville"  # type: ignore[attr-defined]
    assert orjson.loads(JsonFormatter().format(record))["reasons"] == {"unknown_asset": 1}
