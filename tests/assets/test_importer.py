"""Imports of the real open-data files, bad rows, idempotent re-runs, mapping errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text

from beffroi.api.deps import Services
from beffroi.assets.importer import Importer, MappingError, load_mapping, parse_mapping
from beffroi.assets.models import TerritoryIn
from beffroi.store.schema import assets


def _run(services: Services, code: str, mapping: str, file: Path) -> object:
    services.registry.ensure_territory(TerritoryIn(code=code, name=code))

    def sink(readings: list[dict[str, object]]) -> tuple[int, int, list[tuple[int, str, str]]]:
        rep = services.telemetry.ingest_readings(code, readings)
        return rep.received, rep.stored, [(r.index, r.field, r.reason) for r in rep.rejections]

    return Importer(services.registry, code, load_mapping(mapping), sink).run(file.read_bytes())


def _count(services: Services, sql: str, **params: object) -> int:
    with services.store.read() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


@pytest.mark.long
def test_nantes_lamps_and_cabinets(services: Services, shared_data: Path) -> None:
    lamps = shared_data / "nantes" / "nantes_lamps_by_cabinet.csv"
    report = _run(services, "nantes", "nantes-lamps", lamps)
    assert (report.rows, report.bad_rows, report.created) == (95_872, 0, 95_872 + 3_255)
    assert _count(services, "SELECT count(*) FROM assets WHERE type = 'Streetlight'") == 95_872
    assert _count(services, "SELECT count(*) FROM assets WHERE type = "
                            "'StreetlightControlCabinet'") == 3_255
    assert _count(services, "SELECT count(*) FROM assets a JOIN assets c ON c.id = a.parent_id "
                            "WHERE a.type = 'Streetlight' AND c.type = "
                            "'StreetlightControlCabinet'") == 95_872
    # Lamps of cabinet AR48L039017 in the file are its children in the registry.
    assert _count(services, "SELECT count(*) FROM assets a JOIN assets c ON c.id = a.parent_id "
                            "WHERE c.urn = 'urn:ngsi-ld:StreetlightControlCabinet:nantes:"
                            "AR48L039017'") == sum(
        1 for line in lamps.read_text().splitlines() if ",AR48L039017," in line)

    luminaires = _run(services, "nantes", "nantes-luminaires",
                      shared_data / "nantes" / "nantes_luminaires_sample.csv")
    assert (luminaires.matched_by_location, luminaires.updated, luminaires.created) == (134, 134, 0)
    assert _count(services, "SELECT count(*) FROM assets WHERE type = 'Streetlight'") == 95_872

    again = _run(services, "nantes", "nantes-lamps", lamps)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 95_872 + 3_255)
    # Re-importing the lamps does not wipe what the luminaires file added.
    with services.store.read() as conn:
        query = select(assets.c.properties).where(assets.c.type == "Streetlight")
        powers = [row[0] for row in conn.execute(query) if row[0]]
    assert len(powers) == 134 and all(p["power_w"] > 0 for p in powers)
    assert {p["lamp_type"] for p in powers} >= {"LED", "SHP"}


def test_luminaires_alone_are_created_with_their_number(services: Services, shared_data: Path
                                                       ) -> None:
    report = _run(services, "nantes", "nantes-luminaires",
                  shared_data / "nantes" / "nantes_luminaires_sample.csv")
    assert (report.created, report.bad_rows) == (134, 0)
    asset = services.registry.get_asset("nantes", "urn:ngsi-ld:Streetlight:nantes:EPNA342002")
    assert asset.properties["power_w"] == 70 and asset.properties["lamp_type"] == "SHP"
    assert asset.properties["height_m"] == 3.7


def test_edinburgh_litter_bins(services: Services, shared_data: Path) -> None:
    report = _run(services, "edinburgh", "edinburgh-litter-bins",
                  shared_data / "edinburgh" / "litter-bins.geojson")
    assert (report.rows, report.created, report.bad_rows) == (3_218, 3_218, 0)
    page = services.registry.list_assets("edinburgh", __import__(
        "beffroi.assets.repository", fromlist=["AssetFilter"]).AssetFilter(), None, 1)
    assert page.items[0].type == "WasteContainer" and page.items[0].domain == "waste"
    again = _run(services, "edinburgh", "edinburgh-litter-bins",
                 shared_data / "edinburgh" / "litter-bins.geojson")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3_218)


def test_paris_counters_with_their_readings(services: Services, shared_data: Path) -> None:
    file = shared_data / "paris" / "comptages-routiers-permanents-washington_2023-2024.csv"
    report = _run(services, "paris", "paris-road-counters", file)
    assert (report.rows, report.created, report.bad_rows) == (8_412, 1, 0)
    assert report.empty_values == {"Débit horaire": 319, "Taux d'occupation": 379}
    assert report.readings == report.readings_stored == 3 * 8_412 - 319 - 379
    urn = "urn:ngsi-ld:TrafficFlowObserved:paris:4264"
    asset = services.registry.get_asset("paris", urn)
    assert asset.geometry["type"] == "LineString" and asset.name == "AV_Champs_Elysees"
    body = services.telemetry.history("paris", urn, "intensity", "raw",
                                      1_704_402_000_000, 1_704_402_000_001, 10)
    assert body["points"] == [{"ts": "2024-01-04T21:00:00Z", "value": 1034.0}]
    state = services.telemetry.history("paris", urn, "trafficState", "raw",
                                       1_704_402_000_000, 1_704_402_000_001, 10)
    assert state["points"][0]["value"] == "pre-saturated"
    again = _run(services, "paris", "paris-road-counters", file)
    assert (again.readings_stored, again.readings_duplicate) == (0, report.readings)


def test_bad_rows_are_reported_and_others_kept(services: Services, tmp_path: Path) -> None:
    file = tmp_path / "lum.csv"
    file.write_text(
        "numero,type_lampe,type_foyer,designation,puissance_w,nom_voie,lib_com,lib_pole,"
        "ltype_support,hauteur_support,nb_lampes,lat,lon\n"
        "A1,LED,X,LED 30,30,Rue A,Nantes,P,MAT,7,1,47.2,-1.5\n"
        "A2,LED,X,LED 30,trente,Rue B,Nantes,P,MAT,7,1,47.2,-1.51\n"
        "A3,LED,X,LED 30,30,Rue C,Nantes,P,MAT,7,1,147.2,-1.52\n"
        "A4,LED,X,LED 30,30,Rue D\n"
        "A5,SHP,X,SHP 70,,Rue E,Nantes,P,MAT,7,1,47.2,-1.53\n"
        "A6,SHP,X,SHP 70,-70,Rue F,Nantes,P,MAT,7,1,47.2,-1.54\n"
        "A7,SHP,X,SHP 70,70,Rue G,Nantes,P,MAT,7,1,47.2,-1.55\n",
        encoding="utf-8",
    )
    report = _run(services, "t", "nantes-luminaires", file)
    assert (report.rows, report.created, report.bad_rows) == (7, 2, 5)
    problems = {p.line: (p.field, p.reason) for p in report.problems}
    assert problems[3] == ("puissance_w", "'trente' is not a valid float")
    assert problems[4][0] == "lon/lat" and "latitude 147.2" in problems[4][1]
    assert problems[5] == ("row", "6 cells where the header has 13")
    assert problems[6] == ("puissance_w", "empty value")
    assert problems[7] == ("puissance_w", "must be a number >= 0")


def test_bad_geojson_features(services: Services, tmp_path: Path) -> None:
    file = tmp_path / "bins.geojson"
    file.write_text(
        '{"type": "FeatureCollection", "features": ['
        '{"type": "Feature", "properties": {"name": "a"}, "geometry": {"type": "Point", '
        '"coordinates": [-3.2, 55.9]}},'
        '{"type": "Feature", "properties": {"name": "b"}, "geometry": null},'
        '{"type": "Feature", "properties": {"name": "c"}, "geometry": {"type": "Point", '
        '"coordinates": [-3.2, 95]}}, 7]}'
    )
    report = _run(services, "e", "edinburgh-litter-bins", file)
    assert (report.created, report.bad_rows) == (1, 3)
    assert [(p.line, p.field) for p in report.problems] == [
        (2, "geometry"), (3, "geometry"), (4, "row")]


@pytest.mark.parametrize(
    ("text_", "words"),
    [
        ('format = "xls"', "format must be"),
        ('format = "csv"\n[[assets]]\ntype = "Lamp"\nid = "x"\nlon = "a"\nlat = "b"',
         "unknown asset type"),
        ('format = "csv"\n[[assets]]\ntype = "Streetlight"\nlon = "a"\nlat = "b"', "'id'"),
        ('format = "csv"\n[[assets]]\ntype = "Streetlight"\nid = "x"', "geometry"),
        ('format = "csv"\n[[assets]]\ntype = "Streetlight"\nid = "x"\nlon = "a"\nlat = "b"\n'
         'colour = "red"', "unknown key 'colour'"),
        ('format = "csv"', "nothing to import"),
        ('format = "csv"\nencodng = "latin-1"\n[[assets]]\ntype = "Streetlight"\nid = "x"\n'
         'lon = "a"\nlat = "b"', "unknown key 'encodng'"),
        ('format = "csv"\n[[observations]]\nasset = "a"\nts = "t"\nskip_emty = false\n'
         '[observations.metrics]\nx = "x"', "observations[0]: unknown key 'skip_emty'"),
        ("format = ", "mapping m"),
    ],
)
def test_mapping_errors(text_: str, words: str) -> None:
    with pytest.raises(MappingError) as info:
        parse_mapping(text_, "m")
    assert words in str(info.value)


def test_unknown_mapping_lists_the_shipped_ones() -> None:
    with pytest.raises(MappingError) as info:
        load_mapping("nantes-lampadaires")
    assert "nantes-lamps" in str(info.value) and "paris-road-counters" in str(info.value)
