"""Batch ingest over HTTP: valid readings are kept beside bad ones; every error is precise."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from beffroi.timeutil import now_ms
from tests.conftest import lamp

API = "/api/v1/territories/testville"
URN = "urn:ngsi-ld:Streetlight:testville:L1"


@pytest.fixture
def town(client: TestClient, territory: str) -> str:
    assert client.post(f"{API}/assets", json=lamp("L1")).status_code == 201
    return API


def reading(**change: Any) -> dict[str, Any]:
    return {"asset": URN, "metric": "activePower", "ts": "2024-01-04T22:00:00+01:00",
            "value": 70, **change}


def post(client: TestClient, readings: list[Any]) -> Any:
    return client.post(f"{API}/observations", json={"readings": readings})


def test_batch_stored_and_replay_is_harmless(client: TestClient, town: str) -> None:
    batch = [reading(ts=f"2024-01-04T22:{m:02d}:00+01:00", value=m) for m in range(0, 60, 10)]
    r = post(client, batch)
    assert r.status_code == 200
    assert r.json() | {"errors": []} == {
        "received": 6, "accepted": 6, "stored": 6, "duplicates": 0, "rejected": 0,
        "rejected_by_reason": {}, "errors": []}
    again = post(client, batch).json()
    assert (again["stored"], again["duplicates"]) == (0, 6)
    raw = client.get(f"{API}/assets/{URN}/series/activePower/history",
                     params={"from": "2024-01-04T00:00:00Z", "to": "2024-01-05T00:00:00Z"}).json()
    assert [p["value"] for p in raw["points"]] == [0, 10, 20, 30, 40, 50]
    assert raw["points"][0]["ts"] == "2024-01-04T21:00:00Z"


BAD = [
    (reading(value="high"), "value", "a number expected", "wrong_kind"),
    (reading(value=None), "value", "got nothing", "wrong_kind"),
    (reading(value=[1]), "value", "got a list", "wrong_kind"),
    (reading(value=True), "value", "got a boolean", "wrong_kind"),
    (reading(metric="powerState", value=1), "value", "a state", "wrong_kind"),
    (reading(metric="powerState", value="x" * 65), "value", "a state", "wrong_kind"),
    (reading(metric="colour"), "metric", "unknown metric 'colour' for streetlight",
     "unknown_metric"),
    (reading(asset="urn:ngsi-ld:Streetlight:testville:nope"), "asset", "unknown asset",
     "unknown_asset"),
    (reading(asset=None), "asset", "required", "missing_asset"),
    (reading(metric=3), "metric", "required", "missing_metric"),
    (reading(unit="KWT"), "unit", "does not match the series unit 'wtt'", "unit_mismatch"),
    (reading(ts="yesterday"), "ts", "not an iso 8601", "bad_ts"),
    (reading(ts="2024-01-04T22:00:00"), "ts", "no time zone", "bad_ts"),
    (reading(ts=None), "ts", "required", "missing_ts"),
    (reading(ts=1_700_000_000), "ts", "epoch milliseconds expected", "ts_out_of_range"),
    (reading(ts="1970-01-01T00:00:00Z"), "ts", "before 2000", "ts_out_of_range"),
    (reading(ts="2200-01-01T00:00:00Z"), "ts", "after", "ts_out_of_range"),
    (reading(vaule=1), "vaule", "unknown field", "unknown_field"),
    ("not an object", "", "json object", "not_an_object"),
]


@pytest.mark.parametrize(("bad", "field", "words", "code"), BAD)
def test_bad_reading_is_named_and_good_ones_kept(
    client: TestClient, town: str, bad: Any, field: str, words: str, code: str
) -> None:
    good = [reading(ts=1_704_402_000_000 + i * 60_000) for i in range(3)]
    r = post(client, [good[0], bad, good[1], good[2]])
    assert r.status_code == 422
    body = r.json()
    assert (body["stored"], body["rejected"]) == (3, 1)
    assert body["rejected_by_reason"] == {code: 1}
    (error,) = body["errors"]
    assert error["index"] == 1 and error["field"] == field
    assert words in error["reason"].lower(), error


def test_nan_is_rejected(client: TestClient, town: str) -> None:
    body = b'{"readings": [{"asset": "%s", "metric": "activePower", "ts": 1704402000000, ' \
           b'"value": NaN}]}' % URN.encode()
    r = client.post(f"{API}/observations", content=body)
    assert r.status_code == 400 and r.json()["details"][0]["field"] == "body"
    huge = {"asset": URN, "metric": "activePower", "ts": 1704402000000, "value": 1e400}
    r = client.post(f"{API}/observations", content=str(huge).replace("'", '"').encode())
    assert r.status_code in (400, 422)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"", 400, "body"),
        (b'{"readings": [', 400, "body"),
        (b'{"reading": []}', 422, "reading"),
        (b'{"readings": 5}', 422, "readings"),
        (b'"hello"', 422, "readings"),
    ],
)
def test_malformed_batches(client: TestClient, town: str, body: bytes, status: int, field: str
                           ) -> None:
    r = client.post(f"{API}/observations", content=body)
    assert r.status_code == status
    assert r.json()["details"][0]["field"] == field


def test_batch_size_limit(client: TestClient, town: str, services: Any) -> None:
    services.settings.max_batch_readings = 5
    r = post(client, [reading(ts=1_704_402_000_000 + i) for i in range(6)])
    assert r.status_code == 413 and "at most 5" in r.json()["message"]


def test_unknown_territory(client: TestClient) -> None:
    r = client.post("/api/v1/territories/atlantis/observations", json={"readings": []})
    assert r.status_code == 404


def test_latest_of_many_assets(client: TestClient, town: str) -> None:
    for i in range(2, 6):
        client.post(f"{API}/assets", json=lamp(f"L{i}"))
    urns = [f"urn:ngsi-ld:Streetlight:testville:L{i}" for i in range(1, 6)]
    post(client, [reading(asset=u, ts=1_704_402_000_000 + k * 1000, value=k)
                  for k, u in enumerate(urns)] +
         [reading(asset=urns[0], metric="powerState", value="on", ts=1_704_402_000_000)])
    wanted = [*urns[:2], "urn:ngsi-ld:Streetlight:testville:zz"]
    body = client.get(f"{API}/latest", params={"asset": wanted}).json()
    assert body["not_found"] == ["urn:ngsi-ld:Streetlight:testville:zz"]
    first = body["items"][0]["values"]
    assert first["activePower"]["value"] == 0 and first["powerState"]["value"] == "on"
    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"type": "Streetlight", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get(f"{API}/latest", params=params).json()
        pages += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [p["values"]["activePower"]["value"] for p in pages] == [0, 1, 2, 3, 4]
    by_post = client.post(f"{API}/latest/query", json={"assets": urns}).json()
    assert len(by_post["items"]) == 5


def test_history_resolutions(client: TestClient, town: str) -> None:
    start = 1_704_412_800_000  # 2024-01-05T00:00:00Z
    post(client, [reading(ts=start + m * 600_000, value=m % 7) for m in range(6 * 48)])
    url = f"{API}/assets/{URN}/series/activePower/history"
    hour = client.get(url, params={"from": start, "to": start + 2 * 3_600_000,
                                   "resolution": "hour"}).json()
    assert [p["count"] for p in hour["points"]] == [6, 6]
    assert hour["points"][0] | {"last_ts": None} == {
        "ts": "2024-01-05T00:00:00Z", "count": 6, "min": 0.0, "max": 5.0, "sum": 15.0,
        "mean": 2.5, "last": 5.0, "last_ts": None}
    day = client.get(url, params={"from": "2024-01-05T00:00:00+01:00",
                                  "to": "2024-01-07T00:00:00+01:00", "resolution": "day"}).json()
    assert day["timezone"] == "Europe/Paris"
    assert [p["ts"] for p in day["points"]] == ["2024-01-04T23:00:00Z", "2024-01-05T23:00:00Z"]
    assert sum(p["count"] for p in day["points"]) == 6 * 48 - 6  # 00:00-01:00 local is 4 Jan
    paged = client.get(url, params={"from": start, "to": start + 3_600_000, "limit": 4}).json()
    assert len(paged["points"]) == 4 and paged["next_from"] == "2024-01-05T00:30:00.001000Z"


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"resolution": "minute"}, 422, "resolution"),
        ({"from": "tomorrow"}, 422, "from"),
        ({"from": "2024-01-02T00:00:00Z", "to": "2024-01-01T00:00:00Z"}, 422, "to"),
    ],
)
def test_history_bad_params(client: TestClient, town: str, params: dict[str, str], status: int,
                            field: str) -> None:
    r = client.get(f"{API}/assets/{URN}/series/activePower/history", params=params)
    assert r.status_code == status and r.json()["details"][0]["field"] == field


def test_history_unknown_series(client: TestClient, town: str) -> None:
    r = client.get(f"{API}/assets/{URN}/series/colour/history")
    assert r.status_code == 404 and "colour" in r.json()["message"]


def test_declared_series(client: TestClient, town: str) -> None:
    r = client.post(f"{API}/assets/{URN}/series", json={"metric": "lux", "unit": "C62"})
    assert r.status_code == 201
    r = post(client, [reading(metric="lux", value=12.5)])
    assert r.status_code == 200 and r.json()["stored"] == 1
    r = client.post(f"{API}/assets/{URN}/series", json={"metric": "activePower", "unit": "KWT"})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "unit"
    r = client.post(f"{API}/assets/{URN}/series", json={"metric": "lux", "unit": "Lux"})
    assert r.status_code == 422 and "unknown unit" in r.json()["details"][0]["reason"]
    series = {s["metric"]: s for s in client.get(f"{API}/assets/{URN}/series").json()}
    assert series["lux"]["latest"]["value"] == 12.5
    assert "illuminanceLevel" in series  # declared by the type, no data yet


def test_future_limit_follows_the_clock(client: TestClient, town: str) -> None:
    r = post(client, [reading(ts=now_ms() + 3_600_000)])
    assert r.status_code == 200


def test_errors_keep_their_index_when_cached_and_new_series_mix(
    client: TestClient, town: str
) -> None:
    """Readings of cached series are checked first, the others after their series are looked
    up: the errors still name each reading's place in the batch, in order."""
    assert post(client, [reading()]).status_code == 200  # activePower is now cached
    batch = [
        reading(metric="powerState", value="on"),          # 0: new series, good
        reading(ts=1_704_402_060_000, value="high"),        # 1: cached series, bad value
        reading(metric="powerState", value=7),              # 2: new series, bad value
        reading(ts=1_704_402_120_000),                      # 3: cached, good
        reading(asset="urn:ngsi-ld:Streetlight:testville:nope"),  # 4: unknown asset
    ]
    body = post(client, batch).json()
    assert (body["stored"], body["rejected"]) == (2, 3)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (1, "value"), (2, "value"), (4, "asset")]


def test_same_series_and_time_twice_in_a_batch_latest_agrees_with_history(
    client: TestClient, town: str
) -> None:
    body = post(client, [reading(ts=1_704_402_000_000, value=1),
                         reading(ts=1_704_402_000_000, value=2)]).json()
    assert (body["stored"], body["duplicates"]) == (1, 1)
    raw = client.get(f"{API}/assets/{URN}/series/activePower/history",
                     params={"from": "2024-01-04T00:00:00Z", "to": "2024-01-06T00:00:00Z"}).json()
    latest = client.get(f"{API}/latest", params={"asset": URN}).json()
    assert [p["value"] for p in raw["points"]] == [1]
    assert latest["items"][0]["values"]["activePower"]["value"] == 1
