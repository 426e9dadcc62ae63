"""The DCAT-AP (2.1 / 3) graph of a territory's catalog, built with rdflib; serialised as
JSON-LD or Turtle from the same graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD

from beffroi.opendata.datasets import EU, FORMATS, LICENCES, Dataset

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
DCATAP = Namespace("http://data.europa.eu/r5r/")

CONTEXT: dict[str, Any] = {
    "dcat": str(DCAT), "dct": str(DCTERMS), "foaf": str(FOAF), "vcard": str(VCARD),
    "locn": str(LOCN), "gsp": str(GSP), "xsd": str(XSD), "adms": str(ADMS),
    "dcatap": str(DCATAP),
}


@dataclass
class Coverage:
    """What the data of one dataset covers, from the database."""

    start_ms: int | None = None
    end_ms: int | None = None
    modified_ms: int | None = None
    bbox: tuple[float, float, float, float] | None = None  # min lon, min lat, max lon, max lat


@dataclass
class CatalogInput:
    code: str
    name: str
    base: str  # {public_url}/open-data/{code}
    issued_ms: int
    licence: str  # settings.opendata_licence
    k: int
    datasets: list[Dataset]
    coverage: dict[str, Coverage] = field(default_factory=dict)
    bbox: tuple[float, float, float, float] | None = None


def _dt(ms: int) -> Literal:
    text = datetime.fromtimestamp(ms / 1000, UTC).replace(microsecond=0).isoformat()
    return Literal(text.replace("+00:00", "Z"), datatype=XSD.dateTime)


def _wkt_bbox(b: tuple[float, float, float, float]) -> str:
    x0, y0, x1, y1 = b
    if x0 == x1:
        x0, x1 = x0 - 0.0005, x1 + 0.0005
    if y0 == y1:
        y0, y1 = y0 - 0.0005, y1 + 0.0005
    return (f"POLYGON(({x0:.6f} {y0:.6f},{x1:.6f} {y0:.6f},{x1:.6f} {y1:.6f},"
            f"{x0:.6f} {y1:.6f},{x0:.6f} {y0:.6f}))")


def _location(g: Graph, owner: URIRef, b: tuple[float, float, float, float]) -> URIRef:
    node = URIRef(f"{owner}#spatial")  # not a blank node: the same bytes every time (ETag)
    g.add((node, RDF.type, DCTERMS.Location))
    g.add((node, DCAT.bbox, Literal(_wkt_bbox(b), datatype=GSP.wktLiteral)))
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    g.add((node, DCAT.centroid, Literal(f"POINT({cx:.6f} {cy:.6f})", datatype=GSP.wktLiteral)))
    return node


def dataset_uri(base: str, dataset_id: str) -> URIRef:
    return URIRef(f"{base}/datasets/{dataset_id}")


def download_url(base: str, dataset_id: str, ext: str) -> str:
    return f"{base}/datasets/{dataset_id}/data.{ext}"


def build_graph(c: CatalogInput, only: str | None = None) -> Graph:
    """The catalog (or, with ``only``, one dataset and what it refers to)."""
    g = Graph()
    for prefix, ns in CONTEXT.items():
        g.bind(prefix, ns)
    catalog = URIRef(f"{c.base}/catalog")
    publisher = URIRef(f"{c.base}#publisher")
    g.add((publisher, RDF.type, FOAF.Agent))
    g.add((publisher, FOAF.name, Literal(c.name)))
    g.add((publisher, DCTERMS.type, URIRef("http://purl.org/adms/publishertype/LocalAuthority")))
    contact = URIRef(f"{c.base}#contact")
    g.add((contact, RDF.type, VCARD.Organization))
    g.add((contact, VCARD.fn, Literal(c.name)))
    g.add((contact, VCARD.hasURL, URIRef(c.base)))
    used_licences: set[str] = set()
    if only is None:
        g.add((catalog, RDF.type, DCAT.Catalog))
        g.add((catalog, DCTERMS.title, Literal(f"Données ouvertes — {c.name}", lang="fr")))
        g.add((catalog, DCTERMS.title, Literal(f"Open data — {c.name}", lang="en")))
        g.add((catalog, DCTERMS.description, Literal(
            f"Jeux de données ouverts et anonymisés du territoire {c.name} (plateforme "
            "d'hypervision urbaine Beffroi) : inventaires d'équipements, mesures agrégées, "
            "indicateurs expliqués, signalements sans données personnelles.", lang="fr")))
        g.add((catalog, DCTERMS.description, Literal(
            f"Open, anonymised datasets of {c.name} (Beffroi urban hypervision platform): "
            "equipment inventories, aggregated observations, explained indicators, residents' "
            "reports without personal data.", lang="en")))
        g.add((catalog, DCTERMS.publisher, publisher))
        g.add((catalog, FOAF.homepage, URIRef(c.base)))
        g.add((catalog, DCTERMS.issued, _dt(c.issued_ms)))
        modified = max((cv.modified_ms for cv in c.coverage.values() if cv.modified_ms),
                       default=c.issued_ms)
        g.add((catalog, DCTERMS.modified, _dt(modified)))
        for lang in ("FRA", "ENG"):
            g.add((catalog, DCTERMS.language, URIRef(f"{EU}language/{lang}")))
        g.add((catalog, DCTERMS.license, URIRef(LICENCES[c.licence].uri)))
        used_licences.add(c.licence)
        g.add((catalog, DCAT.themeTaxonomy, URIRef(f"{EU}data-theme")))
        if c.bbox:
            g.add((catalog, DCTERMS.spatial, _location(g, catalog, c.bbox)))
    for ds in c.datasets:
        if only is not None and ds.id != only:
            continue
        node = dataset_uri(c.base, ds.id)
        licence = ds.licence or c.licence
        used_licences.add(licence)
        if only is None:
            g.add((catalog, DCAT.dataset, node))
        g.add((node, RDF.type, DCAT.Dataset))
        g.add((node, DCTERMS.identifier, Literal(f"{c.code}/{ds.id}")))
        for lang in ("fr", "en"):
            g.add((node, DCTERMS.title, Literal(ds.title[lang], lang=lang)))
            g.add((node, DCTERMS.description, Literal(ds.description[lang], lang=lang)))
            for kw in ds.keywords.get(lang, ()):
                g.add((node, DCAT.keyword, Literal(kw, lang=lang)))
        g.add((node, DCTERMS.publisher, publisher))
        g.add((node, DCAT.contactPoint, contact))
        g.add((node, DCAT.landingPage, URIRef(f"{c.base}#{ds.id}")))
        g.add((node, DCTERMS.accrualPeriodicity, URIRef(f"{EU}frequency/{ds.frequency}")))
        for theme in ds.themes:
            g.add((node, DCAT.theme, URIRef(f"{EU}data-theme/{theme}")))
        g.add((node, DCTERMS.issued, _dt(c.issued_ms)))
        g.add((node, DCTERMS.accessRights, URIRef(f"{EU}access-right/PUBLIC")))
        cov = c.coverage.get(ds.id, Coverage())
        if cov.modified_ms:
            g.add((node, DCTERMS.modified, _dt(cov.modified_ms)))
        bbox = cov.bbox or c.bbox
        if bbox:
            g.add((node, DCTERMS.spatial, _location(g, node, bbox)))
        if cov.start_ms is not None and cov.end_ms is not None:
            period = URIRef(f"{node}#temporal")
            g.add((period, RDF.type, DCTERMS.PeriodOfTime))
            g.add((period, DCAT.startDate, _dt(cov.start_ms)))
            g.add((period, DCAT.endDate, _dt(cov.end_ms)))
            g.add((node, DCTERMS.temporal, period))
        if ds.resolution:
            g.add((node, DCAT.temporalResolution,
                   Literal("PT1H" if ds.resolution == "hour" else "P1D",
                           datatype=XSD.duration)))
        for ext in ds.formats:
            fmt = FORMATS[ext]
            dist = URIRef(f"{node}/data.{ext}#distribution")
            g.add((node, DCAT.distribution, dist))
            g.add((dist, RDF.type, DCAT.Distribution))
            g.add((dist, DCTERMS.title, Literal(f"{ds.title['fr']} ({fmt.label})", lang="fr")))
            g.add((dist, DCTERMS.title, Literal(f"{ds.title['en']} ({fmt.label})", lang="en")))
            g.add((dist, DCTERMS.description, Literal(
                f"Téléchargement {fmt.label}, généré à la demande depuis les données à jour.",
                lang="fr")))
            g.add((dist, DCTERMS.description, Literal(
                f"{fmt.label} download, generated on request from the current data.",
                lang="en")))
            g.add((dist, DCAT.downloadURL, URIRef(download_url(c.base, ds.id, ext))))
            g.add((dist, DCAT.accessURL, URIRef(download_url(c.base, ds.id, ext))))
            g.add((dist, DCTERMS.format, URIRef(fmt.file_type_uri)))
            g.add((dist, DCAT.mediaType, URIRef(fmt.media_type_uri)))
            g.add((dist, DCTERMS.license, URIRef(LICENCES[licence].uri)))
            g.add((dist, DCATAP.availability, URIRef(f"{EU}planned-availability/STABLE")))
            if cov.modified_ms:
                g.add((dist, DCTERMS.modified, _dt(cov.modified_ms)))
    for code in sorted(used_licences):
        lic = LICENCES[code]
        node = URIRef(lic.uri)
        g.add((node, RDF.type, DCTERMS.LicenseDocument))
        g.add((node, DCTERMS.title, Literal(lic.title)))
        for t in lic.types:
            g.add((node, DCTERMS.type, URIRef(t)))
    return g


def to_jsonld(g: Graph) -> bytes:
    return g.serialize(format="json-ld", context=CONTEXT, auto_compact=True).encode()


def to_turtle(g: Graph) -> bytes:
    return g.serialize(format="turtle").encode()
