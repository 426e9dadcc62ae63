"""The declared datasets (``datasets.yaml``) and the vocabularies the catalog uses."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

DECLARATION = Path(__file__).parent / "datasets.yaml"

EU = "http://publications.europa.eu/resource/authority/"
IANA = "https://www.iana.org/assignments/media-types/"


@dataclass(frozen=True)
class Format:
    ext: str
    media_type: str  # IANA
    eu_file_type: str  # code of the EU file-type vocabulary
    label: str

    @property
    def media_type_uri(self) -> str:
        return IANA + self.media_type

    @property
    def file_type_uri(self) -> str:
        return f"{EU}file-type/{self.eu_file_type}"


FORMATS: dict[str, Format] = {
    "csv": Format("csv", "text/csv", "CSV", "CSV"),
    "geojson": Format("geojson", "application/geo+json", "GEOJSON", "GeoJSON"),
    "parquet": Format("parquet", "application/vnd.apache.parquet", "PARQUET", "Parquet"),
    "json": Format("json", "application/json", "JSON", "JSON"),
}


@dataclass(frozen=True)
class Licence:
    code: str
    uri: str
    title: str
    types: tuple[str, ...]  # ADMS licence types


LICENCES: dict[str, Licence] = {
    "etalab-2.0": Licence(
        "etalab-2.0", "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
        "Licence Ouverte / Open Licence 2.0 (Etalab)",
        ("http://purl.org/adms/licencetype/Attribution",)),
    "odbl-1.0": Licence(
        "odbl-1.0", "https://opendatacommons.org/licenses/odbl/1-0/",
        "Open Data Commons Open Database License (ODbL) 1.0",
        ("http://purl.org/adms/licencetype/Attribution",
         "http://purl.org/adms/licencetype/ShareAlike")),
}


@dataclass(frozen=True)
class Dataset:
    """One declared dataset of one territory."""

    id: str
    kind: str  # inventory | observations-hourly | observations-daily | indicators | ...
    domain: str | None
    resolution: str | None  # hour | day (observations)
    formats: tuple[str, ...]
    frequency: str  # code of the EU frequency vocabulary
    themes: tuple[str, ...]  # codes of the EU data-theme vocabulary
    title: dict[str, str]
    description: dict[str, str]
    keywords: dict[str, tuple[str, ...]]
    licence: str | None  # per-dataset override of settings.opendata_licence


@lru_cache(maxsize=1)
def declaration() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DECLARATION.read_text(encoding="utf-8"))
    return data


def count_metrics() -> dict[str, frozenset[str]]:
    """(asset type → metrics) whose values are counts of people or vehicles."""
    return {t: frozenset(m) for t, m in declaration()["counts"].items()}


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return " ".join(text.split())


def expand(territory_name: str, domains: list[str], has_requests: bool) -> list[Dataset]:
    """The datasets of a territory whose equipment covers ``domains``."""
    decl = declaration()
    hidden = set(decl["unpublished_domains"])
    names = decl["domain_names"]
    out: list[Dataset] = []
    for kind, spec in decl["kinds"].items():
        if spec.get("requires_table") == "service_requests" and not has_requests:
            continue
        targets: list[str | None] = (
            [d for d in domains if d not in hidden and d in names]
            if spec.get("per_domain") else [None])
        for domain in targets:
            values = {"territory": territory_name}
            if domain is not None:
                values.update(domain=domain, domain_fr=names[domain]["fr"],
                              domain_en=names[domain]["en"])
            themes = spec.get("themes") or decl["themes"].get(domain or "", ["REGI"])
            out.append(Dataset(
                id=_fill(spec["id"], values), kind=kind, domain=domain,
                resolution=spec.get("resolution"), formats=tuple(spec["formats"]),
                frequency=spec["frequency"], themes=tuple(themes),
                title={lang: _fill(t, values) for lang, t in spec["title"].items()},
                description={lang: _fill(t, values) for lang, t in spec["description"].items()},
                keywords={lang: tuple(_fill(k, values) for k in ks)
                          for lang, ks in spec["keywords"].items()},
                licence=spec.get("licence")))
    return out
