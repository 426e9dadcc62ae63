"""The pipeline's HTTP adapters (NGSI-LD, ChirpStack, The Things Stack) and dead letters."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import lamp

API = "/api/v1/territories/testville"
STATION = "urn:ngsi-ld:AirQualityObserved:testville:S1"


def station(dev_eui: str | None = None) -> dict[str, Any]:
    props = {"dev_eui": dev_eui} if dev_eui else {}
    return {"id": STATION, "type": "AirQualityObserved", "properties": props,
            "geometry": {"type": "Point", "coordinates": [-1.55, 47.21]}}


def latest(client: TestClient, urn: str) -> dict[str, Any]:
    body = client.get(f"{API}/latest", params={"asset": urn}).json()
    return dict(body["items"][0]["values"]) if body["items"] else {}


def test_ngsi_ld_normalized_and_key_values(client: TestClient, territory: str) -> None:
    assert client.post(f"{API}/assets", json=station()).status_code == 201
    normalized = {
        "id": STATION, "type": "AirQualityObserved",
        "@context": ["https://smartdatamodels.org/context.jsonld"],
        "dateObserved": {"type": "Property", "value": "2024-01-04T21:00:00Z"},
        "no2": {"type": "Property", "value": 41.5, "unitCode": "GQ",
                "observedAt": "2024-01-04T21:00:00Z"},
        "pm10": {"type": "Property", "value": 18},
        "location": {"type": "GeoProperty", "value": {"type": "Point",
                                                      "coordinates": [-1.55, 47.21]}},
        "refDevice": {"type": "Relationship", "object": "urn:ngsi-ld:Device:1"},
        "name": {"type": "Property", "value": "Station 1"},
    }
    r = client.post(f"{API}/ngsi-ld/entities", json=normalized)
    assert r.status_code == 200, r.json()
    assert (r.json()["stored"], r.json()["rejected"]) == (2, 0)
    key_values = [{"id": STATION, "type": "AirQualityObserved",
                   "dateObserved": "2024-01-04T22:00:00Z", "no2": 39.0, "pm25": 9.5}]
    assert client.post(f"{API}/ngsi-ld/entities", json=key_values).json()["stored"] == 2
    values = latest(client, STATION)
    assert values["no2"] == {"ts": "2024-01-04T22:00:00Z", "value": 39.0, "unit": "GQ"}
    assert values["pm10"]["ts"] == "2024-01-04T21:00:00Z"


def test_ngsi_ld_bad_attributes_are_dead_letters(client: TestClient, territory: str) -> None:
    assert client.post(f"{API}/assets", json=station()).status_code == 201
    entity = {"id": STATION, "type": "AirQualityObserved", "dateObserved": "2024-01-04T21:00:00Z",
              "no2": "high", "pm10": 12, "noiseLevel": 50}
    r = client.post(f"{API}/ngsi-ld/entities", json=entity)
    assert r.status_code == 422
    body = r.json()
    assert body["stored"] == 1
    assert {e["field"] for e in body["errors"]} == {"value", "metric"}
    counts = client.get(f"{API}/dead-letters/counts").json()["reasons"]
    assert {c["reason"]: c["count"] for c in counts} == {"unknown_metric": 1, "wrong_kind": 1}
    r = client.post(f"{API}/ngsi-ld/entities", content=b'{"id": ')
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_json"


CHIRPSTACK_UP = {
    "deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
    "time": "2024-01-04T21:10:00.123456Z",
    "deviceInfo": {"tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
                   "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97",
                   "deviceProfileName": "Air sensor", "deviceName": "air-1",
                   "devEui": "0101010101010101"},
    "devAddr": "00189440", "fCnt": 10, "fPort": 1, "data": "qg==",
    "object": {"no2": 33.2, "temperature": 7.5, "battery": 91},
    "rxInfo": [{"gatewayId": "0016c001f153a14c", "rssi": -36, "snr": 10.5}],
}


def test_chirpstack_uplink_maps_dev_eui_to_the_asset(client: TestClient, territory: str
                                                     ) -> None:
    assert client.post(f"{API}/assets", json=station("0101010101010101")).status_code == 201
    r = client.post(f"{API}/lorawan/chirpstack?event=up", json=CHIRPSTACK_UP)
    assert r.status_code == 200, r.json()
    assert r.json()["stored"] == 2 and r.json()["ignored"] == ["battery"]
    assert latest(client, STATION)["temperature"]["value"] == 7.5
    assert client.post(f"{API}/lorawan/chirpstack?event=join", json={}).status_code == 200


def test_tts_uplink_and_an_unknown_device_replayed_after_the_fix(
        client: TestClient, territory: str) -> None:
    uplink = {
        "end_device_ids": {"device_id": "air-2", "dev_eui": "70B3D57ED0000001",
                           "application_ids": {"application_id": "city-air"}},
        "received_at": "2024-01-04T21:20:00.123456789Z",
        "uplink_message": {"f_port": 1, "frm_payload": "qg==",
                           "decoded_payload": {"pm10": 22, "pm25": 11.5},
                           "received_at": "2024-01-04T21:20:00.100000000Z"},
    }
    r = client.post(f"{API}/lorawan/tts", json=uplink)
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_device"
    (letter,) = client.get(f"{API}/dead-letters").json()["items"]
    assert (letter["source"], letter["reason_code"]) == ("tts", "unknown_device")
    assert "70B3D57ED0000001" in letter["payload"]
    # The fix: the station gets its device EUI; the replay stores the readings.
    assert client.post(f"{API}/assets", json=station("70b3d57ed0000001")).status_code == 201
    replay = client.post(f"{API}/dead-letters/{letter['id']}/replay").json()
    assert replay["replayed"] is True and replay["stored"] == 2
    assert latest(client, STATION)["pm10"]["ts"].startswith("2024-01-04T21:20:00.1")
    assert client.get(f"{API}/dead-letters", params={"pending": True}).json()["items"] == []
    again = client.post(f"{API}/dead-letters/{letter['id']}/replay").json()
    assert again["already"] is True


def test_a_replay_that_still_fails_updates_the_reason(client: TestClient, territory: str
                                                      ) -> None:
    assert client.post(f"{API}/assets", json=lamp("L1")).status_code == 201
    entity = {"id": "urn:ngsi-ld:Streetlight:testville:L2", "type": "Streetlight",
              "dateObserved": "2024-01-04T21:00:00Z", "activePower": 30}
    assert client.post(f"{API}/ngsi-ld/entities", json=entity).status_code == 422
    (letter,) = client.get(f"{API}/dead-letters").json()["items"]
    assert letter["reason_code"] == "unknown_asset" and letter["format"] == "readings"
    result = client.post(f"{API}/dead-letters/{letter['id']}/replay").json()
    assert result["replayed"] is False and result["problem"]["field"] == "asset"
    (letter,) = client.get(f"{API}/dead-letters").json()["items"]
    assert letter["attempts"] == 2
    assert client.post(f"{API}/dead-letters/999/replay").status_code == 404


def test_prometheus_metrics(client: TestClient, territory: str) -> None:
    assert client.post(f"{API}/assets", json=lamp("L1")).status_code == 201
    good = {"asset": "urn:ngsi-ld:Streetlight:testville:L1", "metric": "activePower",
            "ts": 1_704_402_000_000, "value": 30}
    client.post(f"{API}/observations", json=[good, good | {"value": "x", "ts": 1_704_402_060_000}])
    client.post(f"{API}/ngsi-ld/entities", content=b"not json")
    text = client.get("/metrics").text
    assert 'beffroi_readings_stored_total{source="http"} 1.0' in text
    assert 'beffroi_ingest_rejected_total{reason="wrong_kind",source="http"} 1.0' in text
    assert 'beffroi_ingest_rejected_total{reason="bad_json",source="http"} 1.0' in text
    assert "beffroi_ingest_write_seconds_bucket" in text
    assert "beffroi_ingest_lag_seconds_count" in text


def test_the_batch_route_keeps_its_rejections_as_dead_letters(client: TestClient,
                                                               territory: str) -> None:
    assert client.post(f"{API}/assets", json=lamp("L1")).status_code == 201
    good = {"asset": "urn:ngsi-ld:Streetlight:testville:L1", "metric": "activePower",
            "ts": 1_704_402_000_000, "value": 30}
    r = client.post(f"{API}/observations", json={"readings": [good, good | {"unit": "KWT"}]})
    assert r.status_code == 422
    assert client.post(f"{API}/observations", content=b"[{").status_code == 400
    assert client.post("/api/v1/territories/nowhere/observations", json=[good]).status_code == 404
    letters = client.get(f"{API}/dead-letters").json()["items"]
    assert [(d["source"], d["reason_code"], d["field"]) for d in letters] == [
        ("http", "unit_mismatch", "unit"), ("http", "bad_request", "body")]
    assert '"unit":"KWT"' in letters[0]["payload"]


def test_a_nul_character_in_bad_input_is_kept_in_its_dead_letter(client: TestClient,
                                                                 territory: str) -> None:
    """PostgreSQL's text refuses NUL: the reason quoting the bad field must still be stored."""
    assert client.post(f"{API}/assets", json=lamp("L1")).status_code == 201
    good = {"asset": "urn:ngsi-ld:Streetlight:testville:L1", "metric": "activePower",
            "ts": 1_704_402_000_000, "value": 30}
    bad = {"asset": "urn:ngsi-ld:Streetlight:testville:L1", "metric": "activePower",
           "ts": 1_704_402_000_000, "value": 30, "extra\u0000key": 1}
    r = client.post(f"{API}/observations", json={"readings": [good, bad]})
    assert r.status_code == 422, r.text
    assert r.json()["stored"] == 1
    (letter,) = client.get(f"{API}/dead-letters").json()["items"]
    assert letter["field"] == "extra\\u0000key", letter
