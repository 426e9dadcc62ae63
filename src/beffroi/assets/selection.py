"""Validation of the asset filters that rules and indicators share: asset types, domains,
URNs and an area (GeoJSON polygon), with errors on their field paths."""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from beffroi.assets import geometry as geo
from beffroi.assets.types import ASSET_TYPES, DOMAINS
from beffroi.declarative import Errors, Path, Reader


def asset_filters(r: Reader) -> tuple[list[str], list[str], list[str]]:
    """The ``types``, ``domains`` and ``assets`` lists of a mapping, each value checked."""
    types = r.strings("types")
    for i, t in enumerate(types):
        if t not in ASSET_TYPES:
            r.errors.add((*r.path, "types", i),
                         f"unknown asset type {t!r} (known: {', '.join(sorted(ASSET_TYPES))})")
    domains = r.strings("domains")
    for i, d in enumerate(domains):
        if d not in DOMAINS:
            r.errors.add((*r.path, "domains", i),
                         f"unknown domain {d!r} (one of {', '.join(DOMAINS)})")
    assets = r.strings("assets")
    for i, a in enumerate(assets):
        if not a.startswith("urn:"):
            r.errors.add((*r.path, "assets", i),
                         f"{a!r} is not an asset URN (urn:ngsi-ld:Type:id)")
    return types, domains, assets


def area_polygon(errors: Errors, path: Path, g: Any) -> BaseGeometry | None:
    """A valid GeoJSON Polygon or MultiPolygon as a prepared shape, else an error on ``path``."""
    try:
        geo.check(g)
        if not isinstance(g, dict) or g.get("type") not in ("Polygon", "MultiPolygon"):
            raise geo.GeometryError("a GeoJSON Polygon or MultiPolygon expected")
        shp: BaseGeometry = shape(g)
        if not shp.is_valid:
            raise geo.GeometryError("the polygon is not valid (self-intersecting?)")
    except geo.GeometryError as exc:
        errors.add(path, str(exc))
        return None
    shapely.prepare(shp)
    return shp
