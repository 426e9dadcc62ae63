"""The DCAT-AP catalog: fields of every dataset, licences, the official DCAT-AP 2.1.1 SHACL
shapes (tests/opendata/shapes/README.md), JSON-LD and Turtle of the same graph, HTML page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SH

from beffroi.api.deps import Services

from .conftest import TOWN, Rig, local

SHAPES = Path(__file__).parent / "shapes"
BASE = f"http://127.0.0.1:8000/open-data/{TOWN}"
EU = "http://publications.europa.eu/resource/authority/"
ETALAB = URIRef("https://www.etalab.gouv.fr/licence-ouverte-open-licence/")
ODBL = URIRef("https://opendatacommons.org/licenses/odbl/1-0/")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")

# rdflib 7's own JSON-LD parser builds a (deprecated) ConjunctiveGraph: not our code.
pytestmark = pytest.mark.filterwarnings(
    "ignore:ConjunctiveGraph is deprecated:DeprecationWarning")


def official_shapes(name: str) -> Graph:
    """A vendored shapes file, with the two known defects of the published 2.1.1 files fixed
    at load time (the files themselves are kept verbatim): a missing '.' after
    :Dataset_Property_prov_qualifiedAttribution, the 'dcatap:' prefix missing its '/', and
    the empty ``sh:property [ ]`` placeholders of the recommended shapes."""
    source = (SHAPES / name).read_text(encoding="utf-8")
    source = source.replace("    sh:severity sh:Violation\n\n:Dataset_Property_prov_wasGen",
                            "    sh:severity sh:Violation .\n\n:Dataset_Property_prov_wasGen")
    source = source.replace("@prefix dcatap: <http://data.europa.eu/r5r> .",
                            "@prefix dcatap: <http://data.europa.eu/r5r/> .")
    source = re.sub(r"sh:property \[\s*\],", "sh:property", source)
    source = re.sub(r"sh:property \[\s*\] ;", "", source)
    g = Graph()
    g.parse(data=source, format="turtle")
    return g


def populate(rig: Rig) -> None:
    lamp = rig.asset("Streetlight", "L1", name="Lampe 1", lon=2.34, lat=48.84)
    counter = rig.asset("TrafficFlowObserved", "C1", lon=2.36, lat=48.86)
    rig.asset("Camera", "CAM1", lon=2.35, lat=48.85)
    sid = rig.series(lamp, "activePower")
    rig.rollups("rollup_day", [(sid, local("2026-02-01 00:00"), 24, 10.0, 90.0, 1200.0)])
    rig.rollups("rollup_hour", [(sid, local("2026-02-01 00:00"), 1, 50.0, 50.0, 50.0)])
    cid = rig.series(counter, "intensity")
    rig.rollups("rollup_day", [(cid, local("2026-02-01 00:00"), 24, 3.0, 90.0, 1200.0)])
    rig.rollups("rollup_hour", [(cid, local("2026-02-01 00:00"), 1, 50.0, 50.0, 50.0)])


def catalog(client: TestClient, fmt: str = "jsonld") -> Graph:
    r = client.get(f"/open-data/{TOWN}/catalog.{fmt}")
    assert r.status_code == 200, r.text
    g = Graph()
    g.parse(data=r.text, format="json-ld" if fmt == "jsonld" else "turtle")
    return g


def test_catalog_lists_the_declared_datasets_with_their_metadata(
        client: TestClient, rig: Rig) -> None:
    populate(rig)
    r = client.get(f"/open-data/{TOWN}/catalog.jsonld")
    assert r.headers["content-type"].startswith("application/ld+json")
    g = catalog(client)
    cat = URIRef(f"{BASE}/catalog")
    assert (cat, RDF.type, DCAT.Catalog) in g
    datasets = sorted(str(d).rsplit("/", 1)[1] for d in g.objects(cat, DCAT.dataset))
    # security equipment (cameras) is never published; service requests need their table
    expected = ["indicators", "inventory-lighting", "inventory-mobility",
                "observations-lighting-daily", "observations-lighting-hourly",
                "observations-mobility-daily", "observations-mobility-hourly"]
    assert [d for d in datasets if d != "service-requests"] == expected
    publisher = g.value(cat, DCTERMS.publisher)
    assert (publisher, RDF.type, FOAF.Agent) in g
    assert g.value(publisher, FOAF.name) == Literal("Odville")
    for name in expected:
        ds = URIRef(f"{BASE}/datasets/{name}")
        assert g.value(ds, DCTERMS.identifier) == Literal(f"{TOWN}/{name}")
        assert {t.language for t in g.objects(ds, DCTERMS.title)} == {"fr", "en"}
        assert {t.language for t in g.objects(ds, DCTERMS.description)} == {"fr", "en"}
        assert g.value(ds, DCTERMS.publisher) == publisher
        contact = g.value(ds, DCAT.contactPoint)
        assert (contact, RDF.type, VCARD.Organization) in g
        assert str(g.value(ds, DCTERMS.accrualPeriodicity)).startswith(f"{EU}frequency/")
        assert all(str(t).startswith(f"{EU}data-theme/") for t in g.objects(ds, DCAT.theme))
        assert list(g.objects(ds, DCAT.keyword))
        spatial = g.value(ds, DCTERMS.spatial)
        assert str(g.value(spatial, DCAT.bbox)).startswith("POLYGON((")
        dists = list(g.objects(ds, DCAT.distribution))
        assert dists
        for dist in dists:
            url = str(g.value(dist, DCAT.downloadURL))
            assert url.startswith(f"{BASE}/datasets/{name}/data.")
            assert g.value(dist, DCAT.accessURL) is not None
            assert str(g.value(dist, DCTERMS.format)).startswith(f"{EU}file-type/")
            assert str(g.value(dist, DCAT.mediaType)).startswith(
                "https://www.iana.org/assignments/media-types/")
            assert g.value(dist, DCTERMS.license) == ETALAB
    daily = URIRef(f"{BASE}/datasets/observations-lighting-daily")
    period = g.value(daily, DCTERMS.temporal)
    start = g.value(period, DCAT.startDate)
    assert isinstance(start, Literal)
    assert start.toPython() == datetime(2026, 1, 31, 23, tzinfo=UTC)
    assert g.value(daily, DCTERMS.accrualPeriodicity) == URIRef(f"{EU}frequency/DAILY")
    formats = {str(g.value(d, DCTERMS.format)).rsplit("/", 1)[1]
               for d in g.objects(daily, DCAT.distribution)}
    assert formats == {"CSV", "PARQUET"}
    inventory = URIRef(f"{BASE}/datasets/inventory-lighting")
    box = str(g.value(g.value(inventory, DCTERMS.spatial), DCAT.bbox))
    assert "2.339500 48.839500" in box  # one lamp: a small box around it


def test_odbl_when_selected(client: TestClient, rig: Rig, services: Services) -> None:
    populate(rig)
    services.opendata.settings = services.settings.model_copy(
        update={"opendata_licence": "odbl-1.0"})
    g = catalog(client)
    licences = set(g.objects(None, DCTERMS.license))
    assert licences == {ODBL}
    assert (ODBL, RDF.type, DCTERMS.LicenseDocument) in g


def _violations(report: Graph, severity: URIRef) -> list[str]:
    out = []
    for result in report.subjects(RDF.type, SH.ValidationResult):
        if report.value(result, SH.resultSeverity) == severity:
            out.append(f"{report.value(result, SH.focusNode)} {report.value(result, SH.resultPath)}"
                       f" {report.value(result, SH.resultMessage)}")
    return out


@pytest.mark.parametrize("fmt", ["jsonld", "ttl"])
def test_catalog_conforms_to_the_official_dcat_ap_shapes(
        client: TestClient, rig: Rig, fmt: str) -> None:
    from pyshacl import validate

    populate(rig)
    data = catalog(client, fmt)
    mandatory = official_shapes("dcat-ap_2.1.1_shacl_shapes.ttl")
    conforms, report, text_report = validate(data, shacl_graph=mandatory, inference="none",
                                             allow_warnings=False)
    assert conforms, text_report
    recommended = official_shapes("dcat-ap_2.1.1_shacl_shapes_recommended.ttl")
    _conforms, report, text_report = validate(data, shacl_graph=recommended, inference="none")
    assert _violations(report, SH.Violation) == []
    # Recommended: all there, but the period of datasets that have no data yet
    no_data = sorted(w.split()[0].rsplit("/", 1)[1] for w in _violations(report, SH.Warning)
                     if f"{DCTERMS.temporal} " in w)
    assert no_data in (["indicators"], ["indicators", "service-requests"])
    assert [w for w in _violations(report, SH.Warning) if f"{DCTERMS.temporal} " not in w] == []


def test_the_shapes_do_catch_a_broken_catalog(client: TestClient, rig: Rig) -> None:
    from pyshacl import validate

    populate(rig)
    data = catalog(client)
    for dist in list(data.subjects(RDF.type, DCAT.Distribution))[:1]:
        data.remove((dist, DCAT.accessURL, None))
    data.remove((URIRef(f"{BASE}/catalog"), DCTERMS.publisher, None))
    conforms, report, _text = validate(
        data, shacl_graph=official_shapes("dcat-ap_2.1.1_shacl_shapes.ttl"), inference="none")
    assert not conforms
    paths = {str(report.value(r, SH.resultPath))
             for r in report.subjects(RDF.type, SH.ValidationResult)}
    assert paths == {str(DCAT.accessURL), str(DCTERMS.publisher)}


def test_jsonld_and_turtle_are_the_same_graph(client: TestClient, rig: Rig) -> None:
    populate(rig)
    assert isomorphic(catalog(client, "jsonld"), catalog(client, "ttl"))
    r = client.get(f"/open-data/{TOWN}/catalog.ttl")
    assert r.headers["content-type"].startswith("text/turtle")


def test_one_dataset_and_errors(client: TestClient, rig: Rig) -> None:
    populate(rig)
    r = client.get(f"/open-data/{TOWN}/datasets/inventory-lighting")
    assert r.status_code == 200
    g = Graph()
    g.parse(data=r.text, format="json-ld")
    only = URIRef(f"{BASE}/datasets/inventory-lighting")
    assert set(g.subjects(RDF.type, DCAT.Dataset)) == {only}
    assert client.get(f"/open-data/{TOWN}/datasets/inventory-security").status_code == 404
    assert client.get(f"/open-data/{TOWN}/datasets/nope").json()["error"] == "not_found"
    assert client.get("/open-data/nowhere/catalog.jsonld").status_code == 404
    assert client.get("/open-data/nowhere").status_code == 404


def test_catalog_etag(client: TestClient, rig: Rig) -> None:
    populate(rig)
    r = client.get(f"/open-data/{TOWN}/catalog.jsonld")
    etag = r.headers["etag"]
    assert "max-age" in r.headers["cache-control"]
    again = client.get(f"/open-data/{TOWN}/catalog.jsonld", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


def test_public_url_makes_the_identifiers(client: TestClient, rig: Rig,
                                          services: Services) -> None:
    populate(rig)
    services.opendata.settings = services.settings.model_copy(
        update={"public_url": "https://data.odville.fr/"})
    g = catalog(client)
    assert (URIRef(f"https://data.odville.fr/open-data/{TOWN}/catalog"), RDF.type,
            DCAT.Catalog) in g


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_html_page(client: TestClient, rig: Rig, lang: str) -> None:
    populate(rig)
    r = client.get(f"/open-data/{TOWN}", params={"lang": lang})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert f'<html lang="{lang}">' in html
    assert f'href="{BASE}/catalog.jsonld"' in html and f'href="{BASE}/catalog.ttl"' in html
    assert f'href="{BASE}/datasets/inventory-lighting/data.geojson"' in html
    assert f'href="{BASE}/datasets/observations-mobility-hourly/data.parquet"' in html
    assert 'rel="license"' in html and "Licence Ouverte" in html
    assert ("Télécharger" if lang == "fr" else "Download") in html
    assert "security" not in html and "Camera" not in html
    assert client.get(f"/open-data/{TOWN}", params={"lang": "de"}).status_code == 422
