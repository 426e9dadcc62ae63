"""The DansMaRue reader on Paris's real file, on hand-made bad rows, and the import through the
citizens service and Open311."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from beffroi.api.deps import Services
from beffroi.assets.models import TerritoryIn
from beffroi.auth.models import SYSTEM
from beffroi.citizens import dansmarue as dmr
from beffroi.operations import defaults

FILE = Path("paris") / "dansmarue_trottoirs_2023-2024_clustered.csv"
ROWS = 6003
# 2023-01-01 and 2025-01-01 (UTC): every date of the file lies between.
START_MS, END_MS = 1_672_531_200_000, 1_735_689_600_000


def _parse(text: str, **kwargs: Any) -> list[dmr.Parsed | dmr.Problem]:
    return list(dmr.parse(io.StringIO(text, newline=""), **kwargs))


@pytest.fixture(scope="module")
def real_rows(shared_data: Path) -> list[dmr.Parsed | dmr.Problem]:
    with (shared_data / FILE).open(encoding="utf-8-sig", newline="") as f:
        return list(dmr.parse(f))


def test_real_file_every_row_parsed_or_rejected(real_rows: list[dmr.Parsed | dmr.Problem],
                                                shared_data: Path) -> None:
    parsed = [r for r in real_rows if isinstance(r, dmr.Parsed)]
    problems = [r for r in real_rows if isinstance(r, dmr.Problem)]
    assert dmr.count_rows(shared_data / FILE) == ROWS
    assert len(parsed) + len(problems) == ROWS
    assert all(p.line > 1 and p.field and p.reason for p in problems)
    assert len(parsed) == ROWS  # the published file is clean
    lines = [r.line for r in real_rows]
    assert lines == sorted(lines) and lines[0] == 2 and len(set(lines)) == ROWS

    items = [p.item for p in parsed]
    assert len({i.source_id for i in items}) == ROWS  # id_dmr is unique
    # One type and subtype in this extract (sidewalk defects): no roads category among the
    # defaults, so the citizen line's category.
    assert Counter(i.service_code for i in items) == {"resident-report": ROWS}
    assert set(Counter(i.service_code for i in items)) <= set(defaults.CATEGORIES)
    assert Counter(i.agency for i in items) == {"DVD": 5952, "DEVE": 51}
    assert {i.description for i in items} == {
        "Trottoirs : Affaissement, trou, bosse, pavé arraché (Voirie et espace public)"}
    assert {i.status for i in items} == {"closed"} and {i.closed_ms for i in items} == {None}
    assert all(i.address and "PARIS" in i.address for i in items)

    days = [datetime.fromtimestamp(i.requested_ms / 1000, UTC) for i in items]
    assert all(d.year in (2023, 2024) for d in days)
    assert min(days).date().isoformat() == "2023-11-06"
    assert max(days).date().isoformat() == "2024-12-05"
    # local noon: 11:00 UTC in winter, 10:00 UTC in summer
    assert {d.hour for d in days} == {10, 11}
    west, south, east, north = dmr.PARIS_BBOX
    assert all(west <= i.lon <= east and south <= i.lat <= north for i in items)
    first = items[0]
    assert (first.source_id, first.lon, first.lat) == ("A2024C016447", 2.331057787576589,
                                                       48.8750648491149)
    assert first.requested_ms == int(datetime(2024, 3, 6, 11, tzinfo=UTC).timestamp() * 1000)


BAD = """\
numero,type,soustype,adresse,datedecl,intervenant,id_dmr,geo_point_2d,latitude,longitude
1,Voirie et espace public,Trottoirs : trou,"1 Rue A, 75001 PARIS",2024-03-06,DVD,A1,,48.86,2.34
2,Voirie et espace public,Trottoirs : trou,"2 Rue B, 75002 PARIS",06/03/2024,DVD,A2,,48.86,2.34
3,Voirie et espace public,Trottoirs : trou,"3 Rue C",2024-03-07,DVD,A3,,,
4,Voirie et espace public,Trottoirs : trou,"4 Rue D",2024-03-08,DVD,A4,,47.21,-1.55
5,Voirie et espace public,Trottoirs : trou,"5 Rue E",2024-03-09,DVD,A5,,48.86,abc
6,Voirie et espace public,"Trottoirs : trou
sur deux lignes","6 Rue F",2024-03-10,DEVE,A6,"48.85, 2.35",,
7,Voirie et espace public,Trottoirs : trou,"7 Rue G",2024-02-30,DVD,A7,,48.86,2.34
8,Voirie et espace public,Trottoirs : trou,"8 Rue H",2024-03-11,DVD,A1,,48.86,2.34
9,,,"9 Rue I",2024-03-12,DVD,A9,,48.86,2.34
10,Éclairage public,Lampadaire éteint,,2024-03-13,DVD,,,48.87,2.35
11,Voirie et espace public,Trottoirs : trou,"11 Rue K",2024-03-14,DVD,A11,,148.86,2.34
12,Voirie et espace public,Trottoirs : trou,"12 Rue L",,DVD,A12,,48.86,2.34
13,Voirie et espace public,Trottoirs : trou,"13 Rue M",2099-01-01,DVD,A13,,48.86,2.34
14,Voirie et espace public,Trottoirs : trou,"14 Rue N",2024-03-15,DVD,A14,,48.86,2.50
"""


def test_bad_rows_named_by_line_and_field_good_rows_still_out() -> None:
    rows = _parse(BAD)
    problems = {(p.line, p.field): p.reason for p in rows if isinstance(p, dmr.Problem)}
    assert set(problems) == {
        (3, "datedecl"), (4, "longitude"), (5, "longitude"), (6, "longitude"),
        (9, "datedecl"), (10, "id_dmr"), (11, "type"), (13, "latitude"), (14, "datedecl"),
        (15, "datedecl"), (16, "longitude")}
    assert "06/03/2024" in problems[(3, "datedecl")]
    assert "missing coordinates" in problems[(4, "longitude")]
    assert "out of bounds" in problems[(5, "longitude")]  # Nantes is not in Paris
    assert "not a number" in problems[(6, "longitude")]
    assert "2024-02-30" in problems[(9, "datedecl")]
    assert "duplicate" in problems[(10, "id_dmr")] and "line 2" in problems[(10, "id_dmr")]
    assert "WGS84" in problems[(13, "latitude")]
    assert "missing date" in problems[(14, "datedecl")]
    assert "future" in problems[(15, "datedecl")]
    assert "out of bounds" in problems[(16, "longitude")]

    good = {p.line: p.item for p in rows if isinstance(p, dmr.Parsed)}
    assert sorted(good) == [2, 7, 12]  # a quoted newline: row 6 spans lines 7 and 8
    assert good[7].description == "Trottoirs : trou\nsur deux lignes (Voirie et espace public)"
    assert (good[7].lon, good[7].lat, good[7].agency) == (2.35, 48.85, "DEVE")  # geo_point_2d
    assert good[12].source_id == "numero:10" and good[12].service_code == "lamp-out"
    assert good[12].address is None
    assert good[2].service_code == "resident-report"


def test_header_without_needed_columns_is_one_problem() -> None:
    assert _parse("numero,adresse\n1,x\n") == [
        dmr.Problem(1, "type", "column missing from the header (columns: "
                               "['numero', 'adresse'])")]


def test_status_and_service_override() -> None:
    rows = _parse(BAD, status="open", service_code="potholes")
    items = [r.item for r in rows if isinstance(r, dmr.Parsed)]
    assert {i.status for i in items} == {"open"} and {i.service_code for i in items} == {
        "potholes"}
    with pytest.raises(ValueError, match="status"):
        _parse(BAD, status="resolved")


def test_import_file_reports_batches_and_rejections(tmp_path: Path) -> None:
    """import_file on a stand-in service: batches, line numbers of the service's own
    rejections, progress (the real service is tested below)."""
    calls: list[int] = []

    class Citizens:
        def import_requests(self, code: str, items: list[Any], actor: Any) -> dict[str, Any]:
            calls.append(len(items))
            return {"created": len(items) - 1, "updated": 0,
                    "rejected": [(0, "service_code", "unknown service")]}

    class Stub:
        citizens = Citizens()

    path = tmp_path / "bad.csv"
    path.write_text(BAD, encoding="utf-8")
    seen: list[int] = []
    report = dmr.import_file(Stub(), "paris", path, "closed", SYSTEM, seen.append, batch=2)
    assert calls == [2, 1]
    assert report.read == 14 and sum(seen) == 14
    assert report.imported == 1
    assert [r[:2] for r in report.rejected][:3] == [(2, "service_code"), (3, "datedecl"),
                                                    (4, "longitude")]
    assert len(report.rejected) == 13  # 11 bad rows + one per batch refused by the service


# --- through the citizens service and Open311 -------------------------------------------------


def _open311(client: TestClient, **params: str) -> list[dict[str, Any]]:
    query = {"jurisdiction_id": "paris", "start_date": "2023-01-01T00:00:00Z",
             "end_date": "2025-01-01T00:00:00Z", **params}
    r = client.get("/open311/v2/requests.json", params=query)
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body, list)
    return body


@pytest.mark.long
def test_import_real_file_twice_then_read_through_open311(
        services: Services, anonymous: TestClient, shared_data: Path,
        real_rows: list[dmr.Parsed | dmr.Problem]) -> None:
    services.registry.create_territory(
        TerritoryIn(code="paris", name="Paris", timezone="Europe/Paris"))
    services.operations.ensure_defaults("paris", SYSTEM)
    seen: list[int] = []

    first = dmr.import_file(services, "paris", shared_data / FILE, "closed", SYSTEM,
                            seen.append)
    assert (first.read, first.imported, first.unchanged, first.rejected) == (ROWS, ROWS, 0, [])
    assert sum(seen) == ROWS
    again = dmr.import_file(services, "paris", shared_data / FILE, "closed", SYSTEM)
    assert (again.read, again.imported, again.unchanged, again.rejected) == (ROWS, 0, ROWS, [])

    items = [r.item for r in real_rows if isinstance(r, dmr.Parsed)]
    everything = _open311(anonymous, service_code="resident-report")
    assert everything and len(everything) <= ROWS  # the API may cap the count
    assert {r["service_code"] for r in everything} == {"resident-report"}
    assert {r["status"] for r in everything} == {"closed"}

    # One week: fewer than any cap, so every report of the week comes back.
    week = (datetime(2024, 6, 3, tzinfo=UTC), datetime(2024, 6, 10, tzinfo=UTC))
    lo, hi = (int(d.timestamp() * 1000) for d in week)
    expected = [i for i in items if lo <= i.requested_ms < hi]
    assert 20 < len(expected) < 200
    got = _open311(anonymous, service_code="resident-report",
                   start_date="2024-06-03T00:00:00Z", end_date="2024-06-10T00:00:00Z")
    assert len(got) == len(expected)
    points = Counter((round(float(r["long"]), 6), round(float(r["lat"]), 6)) for r in got)
    assert points == Counter((round(i.lon, 6), round(i.lat, 6)) for i in expected)
    assert Counter(r.get("address") for r in got) == Counter(i.address for i in expected)
    assert {r["description"] for r in got} == {i.description for i in expected}
    for r in got:
        when = datetime.fromisoformat(r["requested_datetime"].replace("Z", "+00:00"))
        assert lo <= when.timestamp() * 1000 < hi

    other = _open311(anonymous, service_code="lamp-out")
    assert other == []
