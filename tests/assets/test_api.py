"""Registry API: territories and assets, filters, pagination, and precise errors."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import lamp

API = "/api/v1"


@pytest.fixture
def town(client: TestClient) -> str:
    r = client.post(f"{API}/territories", json={"code": "testville", "name": "Testville",
                                                "center": [-1.55, 47.21]})
    assert r.status_code == 201, r.text
    return f"{API}/territories/testville"


def test_territory_lifecycle(client: TestClient, town: str) -> None:
    assert client.get(town).json()["center"] == [-1.55, 47.21]
    r = client.post(f"{API}/territories", json={"code": "testville", "name": "Again"})
    assert r.status_code == 409
    assert r.json()["details"][0]["field"] == "code"
    r = client.patch(town, json={"name": "Testville Métropole", "locale": "en"})
    assert r.json()["name"] == "Testville Métropole" and r.json()["locale"] == "en"
    assert client.delete(town).status_code == 204
    assert client.get(town).status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"code": "Bad Code", "name": "x"}, "code", "lower-case"),
        ({"code": "ok", "name": "x", "timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"code": "ok", "name": "x", "center": [1, 95]}, "center", "latitude"),
        ({"code": "ok"}, "name", "required"),
    ],
)
def test_territory_bad_input(client: TestClient, body: dict[str, Any], field: str, words: str
                             ) -> None:
    r = client.post(f"{API}/territories", json=body)
    assert r.status_code == 422
    detail = r.json()["details"][0]
    assert detail["field"] == field and words in detail["reason"].lower()


def test_asset_crud(client: TestClient, town: str) -> None:
    cab = {"id": "urn:ngsi-ld:StreetlightControlCabinet:testville:C1",
           "type": "StreetlightControlCabinet",
           "geometry": {"type": "Point", "coordinates": [-1.55, 47.21]}}
    assert client.post(f"{town}/assets", json=cab).status_code == 201
    body = lamp("L1", properties={"power_w": 70, "lamp_type": "SHP"},
                parent=cab["id"], operator="Citeos", contract="EP-2024")
    r = client.post(f"{town}/assets", json=body)
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["domain"], got["control_post"]) == ("lighting", "lighting")
    assert got["parent"] == cab["id"]
    assert got["properties"] == {"power_w": 70, "lamp_type": "SHP"}
    urn = body["id"]
    r = client.patch(f"{town}/assets/{urn}", json={"properties": {"power_w": 35, "lamp_type": None},
                                                   "name": "Rue X"})
    assert r.json()["properties"] == {"power_w": 35} and r.json()["name"] == "Rue X"
    r = client.patch(f"{town}/assets/{urn}", json={"parent": urn})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "parent"
    assert client.post(f"{town}/assets", json=body).status_code == 409
    assert client.delete(f"{town}/assets/{cab['id']}").status_code == 204
    assert client.get(f"{town}/assets/{urn}").json()["parent"] is None
    assert client.delete(f"{town}/assets/{urn}").status_code == 204
    assert client.get(f"{town}/assets/{urn}").status_code == 404


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"geometry": {"type": "Point", "coordinates": [-200, 47]}}, "geometry", "longitude"),
        ({"geometry": {"type": "Point", "coordinates": ["a", 47]}}, "geometry", "finite number"),
        ({"geometry": {"type": "LineString", "coordinates": [[1, 2]]}}, "geometry", "at least 2"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}},
         "geometry", "end where it starts"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1],
                                                           [0, 0]]]}}, "geometry", "self"),
        ({"geometry": {"type": "Circle", "coordinates": [0, 0]}}, "geometry", "not supported"),
        ({"type": "Lamp"}, "type", "unknown asset type"),
        ({"id": "lamp-1"}, "body", "not a urn"),
        ({"id": "urn:ngsi-ld:Streetlight:testville:a/b"}, "body", "not a urn"),
        ({"id": "urn:ngsi-ld:WasteContainer:testville:1"}, "body", "names type"),
        ({"properties": {"power_w": -5}}, "properties", "non-negative"),
        ({"domain": "weather"}, "domain", "unknown domain"),
        ({"parent": "cabinet 3"}, "parent", "urn"),
    ],
)
def test_asset_bad_input(client: TestClient, town: str, change: dict[str, Any], field: str,
                         words: str) -> None:
    r = client.post(f"{town}/assets", json={**lamp("L9"), **change})
    assert r.status_code == 422, r.text
    detail = r.json()["details"][0]
    assert detail["field"] == field, detail
    assert words in detail["reason"].lower(), detail


def test_malformed_json_names_the_problem(client: TestClient, town: str) -> None:
    r = client.post(f"{town}/assets", content=b'{"id": ', headers={"content-type":
                                                                     "application/json"})
    assert r.status_code == 422
    assert "json" in r.json()["details"][0]["reason"].lower()


def test_unknown_parent_is_reported(client: TestClient, town: str) -> None:
    orphan = lamp("L2", parent="urn:ngsi-ld:StreetlightControlCabinet:testville:none")
    r = client.post(f"{town}/assets", json=orphan)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "parent"


def _seed(client: TestClient, town: str) -> None:
    for i in range(12):
        r = client.post(f"{town}/assets", json=lamp(f"L{i}", lon=-1.55 + i * 0.001))
        assert r.status_code == 201
    bin_ = {"id": "urn:ngsi-ld:WasteContainer:testville:B1", "type": "WasteContainer",
            "geometry": {"type": "Point", "coordinates": [-1.5, 47.3]}}
    counter = {"id": "urn:ngsi-ld:TrafficFlowObserved:testville:A1",
               "type": "TrafficFlowObserved",
               "geometry": {"type": "LineString", "coordinates": [[-1.60, 47.20], [-1.58, 47.22]]}}
    assert client.post(f"{town}/assets", json=bin_).status_code == 201
    assert client.post(f"{town}/assets", json=counter).status_code == 201


def test_filters_and_pagination(client: TestClient, town: str) -> None:
    _seed(client, town)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"type": "Streetlight", "limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = client.get(f"{town}/assets", params=params).json()
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 12
    waste = client.get(f"{town}/assets", params={"domain": "waste"}).json()["items"]
    assert [a["id"] for a in waste] == ["urn:ngsi-ld:WasteContainer:testville:B1"]
    box = client.get(f"{town}/assets", params={"bbox": "-1.5505,47.20,-1.5475,47.22"}).json()
    assert {a["id"].rsplit(":", 1)[1] for a in box["items"]} == {"L0", "L1", "L2"}
    # A line is found by a box that crosses it, even if neither end is inside.
    line = client.get(f"{town}/assets", params={"bbox": "-1.595,47.20,-1.59,47.22",
                                                "type": "TrafficFlowObserved"}).json()["items"]
    assert len(line) == 1 and line[0]["geometry"]["type"] == "LineString"


def test_near_point_sorted_by_distance(client: TestClient, town: str) -> None:
    _seed(client, town)
    r = client.get(f"{town}/assets", params={"near": "-1.5452,47.21", "radius_m": 200,
                                             "limit": 3})
    items = r.json()["items"]
    assert [a["id"].rsplit(":", 1)[1] for a in items] == ["L5", "L4", "L6"]
    distances = [a["properties"]["distance_m"] for a in items]
    assert distances == sorted(distances) and distances[-1] <= 200
    more = client.get(f"{town}/assets", params={"near": "-1.5452,47.21", "radius_m": 200,
                                                "limit": 3, "cursor": r.json()["next_cursor"]})
    assert more.json()["items"][0]["id"].endswith("L3")


@pytest.mark.parametrize(
    ("params", "field"),
    [({"bbox": "1,2,3"}, "bbox"), ({"bbox": "3,2,1,4"}, "bbox"), ({"near": "x"}, "near"),
     ({"type": "Lamp"}, "type"), ({"cursor": "%%%"}, "cursor"), ({"limit": 0}, "limit")],
)
def test_bad_filters(client: TestClient, town: str, params: dict[str, Any], field: str) -> None:
    r = client.get(f"{town}/assets", params=params)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == field


def test_territories_are_isolated(client: TestClient, town: str) -> None:
    assert client.post(f"{town}/assets", json=lamp("L1")).status_code == 201
    client.post(f"{API}/territories", json={"code": "other", "name": "Other"})
    assert client.get(f"{API}/territories/other/assets").json()["items"] == []
    urn = lamp("L1")["id"]
    assert client.get(f"{API}/territories/other/assets/{urn}").status_code == 404
    r = client.post(f"{API}/territories/other/observations", json={"readings": [
        {"asset": urn, "metric": "activePower", "ts": "2024-01-01T00:00:00Z", "value": 1}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "asset"


def test_types_catalogue(client: TestClient) -> None:
    types = {t["type"]: t for t in client.get(f"{API}/types").json()}
    required = {"Streetlight", "StreetlightControlCabinet", "WasteContainer", "ParkingSpot",
                "OffStreetParking", "AirQualityObserved", "WeatherObserved",
                "WaterQualityObserved", "TrafficFlowObserved", "TrafficSignal",
                "EVChargingStation", "Building", "Camera"}
    assert required <= set(types)
    assert {"metric": "pm10", "unit": "GQ"}.items() <= next(
        m for m in types["AirQualityObserved"]["metrics"] if m["metric"] == "pm10").items()


def test_a_deleted_territory_is_gone_for_ingest_and_latest(client: TestClient, town: str) -> None:
    """Even when the store reuses its id for the next territory (SQLite does)."""
    assert client.post(f"{town}/assets", json=lamp("L1")).status_code == 201
    reading = {"asset": "urn:ngsi-ld:Streetlight:testville:L1", "metric": "activePower",
               "ts": 1_704_402_000_000, "value": 5}
    assert client.post(f"{town}/observations", json=[reading]).status_code == 200
    assert client.delete(town).status_code == 204
    assert client.post(f"{API}/territories", json={"code": "other", "name": "O"}
                       ).status_code == 201
    assert client.post(f"{API}/territories/other/assets",
                       json=lamp("L1") | {"id": "urn:ngsi-ld:Streetlight:other:L1"}
                       ).status_code == 201
    assert client.post(f"{town}/observations", json=[reading]).status_code == 404
    assert client.get(f"{town}/latest").status_code == 404


@pytest.mark.parametrize("field", ["name", "timezone", "locale"])
def test_territory_fields_cannot_be_nulled(client: TestClient, town: str, field: str) -> None:
    r = client.patch(town, json={field: None})
    assert r.status_code == 422
    assert r.json()["details"][0]["field"] == field


@pytest.mark.parametrize("field", ["domain", "geometry"])
def test_asset_required_fields_cannot_be_nulled(client: TestClient, town: str,
                                                field: str) -> None:
    assert client.post(f"{town}/assets", json=lamp("L1")).status_code == 201
    r = client.patch(f"{town}/assets/urn:ngsi-ld:Streetlight:testville:L1", json={field: None})
    assert r.status_code == 422
    assert r.json()["details"][0]["field"] == field


@pytest.mark.parametrize("body", [{}, {"assets": []}, {"assets": ["x"], "extra": 1}])
def test_latest_query_needs_a_list_of_assets(client: TestClient, town: str,
                                             body: dict[str, Any]) -> None:
    r = client.post(f"{town}/latest/query", json=body)
    assert r.status_code == 422
    assert r.json()["details"][0]["field"] in ("assets", "extra")


def test_every_registry_change_is_audited_with_its_author(
        client: TestClient, territory: str, as_role: Any) -> None:
    supervisor = as_role("supervisor")
    base = f"{API}/territories/testville"
    urn = "urn:ngsi-ld:Streetlight:testville:AUD1"
    assert supervisor.post(f"{base}/assets", json=lamp("AUD1")).status_code == 201
    assert supervisor.patch(f"{base}/assets/{urn}", json={"name": "Quai"}).status_code == 200
    assert supervisor.post(f"{base}/assets/{urn}/series", json={
        "metric": "flicker", "unit": "C62", "kind": "number"}).status_code == 201
    assert supervisor.delete(f"{base}/assets/{urn}").status_code == 204
    assert client.patch(base, json={"name": "Testville-sur-Mer"}).status_code == 200
    entries = client.get(f"{base}/audit").json()["items"]
    changes = [(e["action"], e["target"], e["actor"].split(":")[0]) for e in entries
               if e["action"].split(".")[0] in ("asset", "series", "territory")]
    assert changes == [
        ("territory.create", "territory:testville", "system"),  # by the fixture
        ("asset.create", urn, "token"), ("asset.update", urn, "token"),
        ("series.declare", f"{urn}#flicker", "token"), ("asset.delete", urn, "token"),
        ("territory.update", "territory:testville", "token")]
    update = next(e for e in entries if e["action"] == "asset.update")
    assert update["before"]["name"] is None and update["after"]["name"] == "Quai"
    assert supervisor.get(f"{base}/audit").status_code == 200
    assert as_role("operator").get(f"{base}/audit").status_code == 403
