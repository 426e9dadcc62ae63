"""Downloads: content of every dataset, anonymisation (k threshold, scrubbing, what is never
published), date filters, errors, ETag / 304, streaming of a large download."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from beffroi.api.deps import Services
from beffroi.privacy import EMAIL_MARK, PHONE_MARK

from .conftest import TOWN, H, Rig, local, urn

URL = f"/open-data/{TOWN}/datasets"


def rows_of(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))


# --- inventories ---------------------------------------------------------------------------------


def test_inventory_geojson_and_csv_keep_only_public_properties(client: TestClient,
                                                               rig: Rig) -> None:
    cabinet = rig.asset("StreetlightControlCabinet", "A1", name="Armoire A1", lon=2.30, lat=48.80,
                        properties={"cabinet_ref": "A1", "owner_email": "x@y.fr",
                                    "serial": "SN-1", "contact": "M. Dupont",
                                    "note": "clé chez le gardien 0612345678",
                                    "power_kw": 12.5, "nested": {"a": 1}},
                        operator="Citelum", contract="Marché 2024-17")
    rig.asset("Streetlight", "L1", lon=2.31, lat=48.81, parent=cabinet,
              properties={"simulated": True, "height_m": 8})
    rig.asset("Camera", "CAM1", lon=2.35, lat=48.85)
    r = client.get(f"{URL}/inventory-lighting/data.geojson")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    assert r.headers["content-disposition"] == (
        f'attachment; filename="{TOWN}-inventory-lighting.geojson"')
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert fc["licence"] == "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
    by_id = {f["id"]: f for f in fc["features"]}
    assert list(by_id) == [cabinet, urn("Streetlight", "L1")]
    cab = by_id[cabinet]
    assert cab["geometry"] == {"type": "Point", "coordinates": [2.30, 48.80]}
    assert cab["properties"]["properties"] == {"cabinet_ref": "A1", "power_kw": 12.5}
    assert cab["properties"]["simulated"] is False
    lamp = by_id[urn("Streetlight", "L1")]["properties"]
    assert lamp["parent"] == cabinet and lamp["simulated"] is True
    assert lamp["properties"] == {"height_m": 8}
    for leak in (b"Citelum", b"2024-17", b"x@y.fr", b"SN-1", b"Dupont", b"0612345678"):
        assert leak not in r.content
    body = client.get(f"{URL}/inventory-lighting/data.csv")
    assert body.headers["content-type"] == "text/csv; charset=utf-8"
    rows = rows_of(body.content)
    assert [(x["id"], x["type"], x["lon"], x["lat"], x["parent"], x["simulated"])
            for x in rows] == [
        (cabinet, "StreetlightControlCabinet", "2.3", "48.8", "", "false"),
        (urn("Streetlight", "L1"), "Streetlight", "2.31", "48.81", cabinet, "true")]
    assert orjson.loads(rows[0]["properties"]) == {"cabinet_ref": "A1", "power_kw": 12.5}
    # cameras (security) are never published
    assert client.get(f"{URL}/inventory-security/data.csv").status_code == 404


# --- observations --------------------------------------------------------------------------------


def _counter_and_park(rig: Rig) -> tuple[int, int, int]:
    counter = rig.asset("TrafficFlowObserved", "C1")
    park = rig.asset("OffStreetParking", "P1")
    intensity = rig.series(counter, "intensity")
    speed = rig.series(counter, "averageVehicleSpeed")
    occupied = rig.series(park, "occupiedSpotNumber")
    return intensity, speed, occupied


def test_observations_suppress_counts_below_k(client: TestClient, rig: Rig) -> None:
    intensity, speed, occupied = _counter_and_park(rig)
    h0 = local("2026-02-10 08:00")
    rig.rollups("rollup_hour", [
        (intensity, h0, 4, 5.0, 40.0, 80.0),  # every reading >= 5: published
        (intensity, h0 + H, 4, 2.0, 30.0, 60.0),  # one reading of 2 vehicles: suppressed
        (intensity, h0 + 2 * H, 1, 0.0, 0.0, 0.0),  # zero is below k too
        (speed, h0, 4, 3.0, 4.0, 14.0),  # a speed, not a count: never suppressed
        (occupied, h0, 2, 4.0, 4.0, 8.0),  # 4 cars: suppressed
        (occupied, h0 + H, 2, 5.0, 7.0, 12.0),
    ])
    r = client.get(f"{URL}/observations-mobility-hourly/data.csv")
    assert r.status_code == 200, r.text
    got = [(x["series"], x["bucket_start_local"], x["bucket_start_utc"], x["n"], x["mean"],
            x["min"], x["max"], x["suppressed"]) for x in rows_of(r.content)]
    c1, p1 = urn("TrafficFlowObserved", "C1"), urn("OffStreetParking", "P1")
    assert got == [
        (f"{c1}#intensity", "2026-02-10T08:00:00+01:00", "2026-02-10T07:00:00Z", "4", "20.0",
         "5.0", "40.0", "false"),
        (f"{c1}#intensity", "2026-02-10T09:00:00+01:00", "2026-02-10T08:00:00Z", "4", "", "",
         "", "true"),
        (f"{c1}#intensity", "2026-02-10T10:00:00+01:00", "2026-02-10T09:00:00Z", "1", "", "",
         "", "true"),
        (f"{c1}#averageVehicleSpeed", "2026-02-10T08:00:00+01:00", "2026-02-10T07:00:00Z", "4",
         "3.5", "3.0", "4.0", "false"),
        (f"{p1}#occupiedSpotNumber", "2026-02-10T08:00:00+01:00", "2026-02-10T07:00:00Z", "2",
         "", "", "", "true"),
        (f"{p1}#occupiedSpotNumber", "2026-02-10T09:00:00+01:00", "2026-02-10T08:00:00Z", "2",
         "6.0", "5.0", "7.0", "false"),
    ]
    first = rows_of(r.content)[0]
    assert (first["asset"], first["asset_type"], first["metric"], first["unit"]) == (
        c1, "TrafficFlowObserved", "intensity", "C62")


def test_k_threshold_is_a_setting(client: TestClient, rig: Rig, services: Services) -> None:
    intensity, _speed, _occ = _counter_and_park(rig)
    rig.rollups("rollup_day", [(intensity, local("2026-02-10 00:00"), 24, 2.0, 40.0, 400.0)])
    services.opendata.settings = services.settings.model_copy(
        update={"opendata_k_threshold": 2})
    [row] = rows_of(client.get(f"{URL}/observations-mobility-daily/data.csv").content)
    assert (row["bucket_start_local"], row["min"], row["suppressed"]) == (
        "2026-02-10T00:00:00+01:00", "2.0", "false")


def test_observations_parquet_and_date_filters(client: TestClient, rig: Rig) -> None:
    intensity, speed, _occ = _counter_and_park(rig)
    days = [local(f"2026-02-{d:02d} 00:00") for d in (9, 10, 11)]
    rig.rollups("rollup_day", [(intensity, d, 24, 3.0, 90.0, 1000.0) for d in days]
                + [(speed, d, 24, 20.0, 40.0, 720.0) for d in days])
    r = client.get(f"{URL}/observations-mobility-daily/data.parquet",
                   params={"from": "2026-02-10", "to": "2026-02-11"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.apache.parquet"
    assert r.headers["content-disposition"] == (
        f'attachment; filename="{TOWN}-observations-mobility-daily-2026-02-10-2026-02-11'
        '.parquet"')
    table = pq.read_table(io.BytesIO(r.content))
    assert table.schema.metadata[b"k_threshold"] == b"5"
    rows = table.to_pylist()
    assert [(x["metric"], x["bucket_start_local"], x["mean"], x["suppressed"]) for x in rows] == [
        ("intensity", "2026-02-10T00:00:00+01:00", None, True),
        ("averageVehicleSpeed", "2026-02-10T00:00:00+01:00", 30.0, False)]
    assert rows[0]["bucket_start_utc"].isoformat() == "2026-02-09T23:00:00+00:00"
    since = client.get(f"{URL}/observations-mobility-daily/data.csv",
                       params={"from": "2026-02-10T23:00:00Z"})
    assert {x["bucket_start_local"] for x in rows_of(since.content)} == {
        "2026-02-11T00:00:00+01:00"}


@pytest.mark.parametrize(("path", "params", "status", "field"), [
    ("observations-mobility-daily/data.csv", {"from": "10/02/2026"}, 422, "from"),
    ("observations-mobility-daily/data.csv", {"to": "2026-13-01"}, 422, "to"),
    ("observations-mobility-daily/data.csv", {"from": "2026-02-10", "to": "2026-02-01"}, 422,
     "to"),
    ("inventory-mobility/data.csv", {"from": "2026-02-10"}, 422, "from"),
    ("observations-mobility-daily/data.geojson", {}, 404, None),
    ("observations-mobility-daily/other.csv", {}, 404, None),
    ("observations-mobility-daily/data", {}, 404, None),
    ("observations-nowhere-daily/data.csv", {}, 404, None),
])
def test_bad_requests_are_precise_4xx(client: TestClient, rig: Rig, path: str,
                                      params: dict[str, str], status: int,
                                      field: str | None) -> None:
    _counter_and_park(rig)
    r = client.get(f"{URL}/{path}", params=params)
    assert r.status_code == status, r.text
    if field:
        assert r.json()["details"][0]["field"] == field
    assert client.get("/open-data/nowhere/datasets/indicators/data.csv").status_code == 404


# --- ETag ----------------------------------------------------------------------------------------


def test_etag_and_304(client: TestClient, rig: Rig) -> None:
    intensity, _speed, _occ = _counter_and_park(rig)
    rig.rollups("rollup_hour", [(intensity, local("2026-02-10 08:00"), 1, 9.0, 9.0, 9.0)])
    url = f"{URL}/observations-mobility-hourly/data.csv"
    first = client.get(url)
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public")
    not_modified = client.get(url, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert client.get(url, headers={"If-None-Match": '"other", ' + etag}).status_code == 304
    # another filter, another format: another ETag
    assert client.get(url, params={"from": "2026-02-01"}).headers["etag"] != etag
    parquet = client.get(f"{URL}/observations-mobility-hourly/data.parquet")
    assert parquet.headers["etag"] != etag
    # the watermark moved (new hours materialised): a new ETag
    with rig.services.store.write() as conn:
        conn.execute(text("UPDATE rollup_state SET hour_until_ms = hour_until_ms + :h"),
                     {"h": H})
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.headers["etag"] != etag
    # inventories: a changed asset changes the ETag
    inv = client.get(f"{URL}/inventory-mobility/data.csv").headers["etag"]
    rig.asset("TrafficFlowObserved", "C2")
    assert client.get(f"{URL}/inventory-mobility/data.csv",
                      headers={"If-None-Match": inv}).status_code == 200


# --- streaming -----------------------------------------------------------------------------------


@pytest.mark.long
def test_large_download_is_streamed_complete(client: TestClient, rig: Rig,
                                             services: Services) -> None:
    """200,000 hourly rollup rows: a StreamingResponse of many chunks, complete."""
    from beffroi.opendata import api

    counters = [rig.asset("TrafficFlowObserved", f"C{i}") for i in range(25)]
    sids = [rig.series(c, "intensity") for c in counters]
    h0 = local("2025-01-01 00:00")
    hours = 8_000
    with services.store.write() as conn:
        for sid in sids:
            conn.execute(text(
                "INSERT INTO rollup_hour (series_id, bucket_ms, n, vmin, vmax, vsum, "
                "last_value, last_text, last_ts_ms) VALUES (:s, :b, 1, :v, :v, :v, :v, NULL, :b)"),
                [{"s": sid, "b": h0 + i * H, "v": float(i % 50)} for i in range(hours)])
    seen: list[Any] = []
    original = api.StreamingResponse

    class Spy(original):  # type: ignore[misc, valid-type]
        def __init__(self, content: Any, *args: Any, **kwargs: Any) -> None:
            seen.append(content)
            super().__init__(content, *args, **kwargs)

    api.StreamingResponse = Spy  # type: ignore[misc]
    try:
        with client.stream("GET", f"{URL}/observations-mobility-hourly/data.csv") as r:
            assert r.status_code == 200
            assert "content-length" not in r.headers
            chunks = [c for c in r.iter_raw()]
    finally:
        api.StreamingResponse = original  # type: ignore[misc]
    assert len(seen) == 1
    body = b"".join(chunks)
    lines = body.count(b"\r\n")
    assert lines == 1 + 25 * hours
    assert len(chunks) > 10  # produced and sent in pieces, not as one body
    suppressed = body.count(b",true\r\n")
    assert suppressed == 25 * sum(1 for i in range(hours) if i % 50 < 5)
    parquet = client.get(f"{URL}/observations-mobility-hourly/data.parquet")
    meta = pq.ParquetFile(io.BytesIO(parquet.content)).metadata
    assert meta.num_rows == 25 * hours and meta.num_row_groups == 4


# --- indicators ----------------------------------------------------------------------------------

INDICATOR = """
indicators:
  - id: mean-speed
    name: {fr: Vitesse moyenne, en: Mean speed}
    description: Mean speed of the counted vehicles.
    source: test
    unit: km/h
    period: month
    aggregate: mean
    series: {metric: averageVehicleSpeed, types: [TrafficFlowObserved]}
    target: "<= 30"
"""


def test_indicators_with_their_explanations(client: TestClient, rig: Rig,
                                            services: Services) -> None:
    from beffroi.auth.models import SYSTEM
    from beffroi.indicators.definitions import parse_yaml
    from beffroi.ingest.service import Message

    counter = rig.asset("TrafficFlowObserved", "C1")
    body = orjson.dumps({"readings": [
        {"asset": counter, "metric": "averageVehicleSpeed", "ts": local(f"2026-02-10 0{h}:30"),
         "value": v} for h, v in ((1, 20.0), (2, 40.0))]})
    [outcome] = services.pipeline.process([Message(TOWN, "readings", body)])
    assert outcome.error is None and not outcome.rejected
    services.telemetry.materialise(services.clock())
    services.indicators.load(TOWN, parse_yaml(INDICATOR, "t.yaml"), origin="file",
                             actor=SYSTEM.actor)
    window = services.indicators.windows(TOWN, "month", label="2026-02")[0]
    [value] = services.indicators.compute(TOWN, [window], ["mean-speed"])
    services.indicators.compute(TOWN, [window], ["mean-speed"])  # again: one row published
    r = client.get(f"{URL}/indicators/data.csv")
    assert r.status_code == 200, r.text
    [row] = rows_of(r.content)
    assert (row["indicator"], row["label_fr"], row["label_en"], row["period"], row["window"],
            row["value"], row["unit"], row["target"], row["comparator"], row["met"]) == (
        "mean-speed", "Vitesse moyenne", "Mean speed", "month", "2026-02", "30.0", "km/h",
        "30.0", "<=", "true")
    assert row["definition_version"] == value.version
    assert row["inputs_hash"] == value.lineage.inputs_hash
    assert row["explanation_fr"].startswith("Vitesse moyenne")
    assert "Mean speed" in row["explanation_en"]
    doc = client.get(f"{URL}/indicators/data.json").json()
    assert doc["dataset"] == "indicators" and len(doc["items"]) == 1
    assert doc["items"][0]["start_utc"] == "2026-01-31T23:00:00Z"


# --- residents' reports --------------------------------------------------------------------------


def test_service_requests_without_personal_data(client: TestClient, rig: Rig,
                                                services: Services) -> None:
    from beffroi.citizens.tables import request_contacts, service_requests

    tid = services.registry.territory_id(TOWN)
    base = {"territory_id": tid, "service_code": "lighting", "status": "open",
            "source": "web", "updated_ms": local("2026-02-11 09:00")}
    with services.store.write() as conn:
        ids = []
        for i, (desc, lat, lon) in enumerate([
            ("Lampe éteinte, rappelez-moi au 06 12 34 56 78 ou jean.dupont@example.org",
             48.856614, 2.352222),
            ("Poubelle renversée devant le 12 rue de la Paix", None, None),
        ]):
            res = conn.execute(insert(service_requests).values(
                **base, public_id=f"2026-{i + 1:05d}", description=desc, lat=lat, lon=lon,
                address_string="12 rue de la Paix, chez Mme Martin",
                media_url="https://example.org/photo.jpg",
                requested_ms=local(f"2026-02-1{i} 08:00"),
                status_notes="Contact: +33 1 23 45 67 89"))
            ids.append(res.inserted_primary_key[0])
        conn.execute(insert(request_contacts).values(
            request_id=ids[0], first_name="Jean", last_name="Dupont",
            email="jean.dupont@example.org", phone="0612345678",
            created_ms=local("2026-02-10 08:00")))
    r = client.get(f"{URL}/service-requests/data.csv")
    assert r.status_code == 200, r.text
    rows = rows_of(r.content)
    assert [(x["id"], x["category"], x["status"], x["requested_utc"], x["lat"], x["lon"])
            for x in rows] == [
        ("2026-00001", "lighting", "open", "2026-02-10T07:00:00Z", "48.857", "2.352"),
        ("2026-00002", "lighting", "open", "2026-02-11T07:00:00Z", "", "")]
    assert rows[0]["description"] == (
        f"Lampe éteinte, rappelez-moi au {PHONE_MARK} ou {EMAIL_MARK}")
    assert rows[0]["status_notes"] == f"Contact: {PHONE_MARK}"
    assert rows[1]["description"] == "Poubelle renversée devant le 12 rue de la Paix"
    geo = client.get(f"{URL}/service-requests/data.geojson")
    fc = geo.json()
    assert fc["features"][0]["geometry"] == {"type": "Point", "coordinates": [2.352, 48.857]}
    assert fc["features"][1]["geometry"] is None
    for body in (r.content, geo.content):
        for leak in (b"Dupont", b"Jean", b"Martin", b"photo.jpg", b"example.org",
                     b"0612345678", b"48.856614"):
            assert leak not in body


def test_the_contacts_table_is_never_read(client: TestClient, rig: Rig,
                                          services: Services) -> None:
    """Every statement of the open-data downloads and catalog, checked: none names
    request_contacts."""
    from sqlalchemy import event

    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    rig.asset("TrafficFlowObserved", "C1")
    event.listen(services.store.engine, "before_cursor_execute", record)
    try:
        for path in ("catalog.jsonld", "", "datasets/service-requests/data.csv",
                     "datasets/service-requests/data.geojson"):
            assert client.get(f"/open-data/{TOWN}/{path}".rstrip("/")).status_code == 200
    finally:
        event.remove(services.store.engine, "before_cursor_execute", record)
    assert statements
    assert not [s for s in statements if "request_contacts" in s]
