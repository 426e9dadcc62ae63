"""GeoJSON geometry checks (WGS84) and the derived point and bounding box used for filters."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from shapely.geometry import shape
from shapely.validation import explain_validity

SUPPORTED = ("Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon")
EARTH_RADIUS_M = 6_371_008.8


class GeometryError(ValueError):
    """A geometry that is not valid GeoJSON in WGS84; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Footprint:
    lon: float
    lat: float
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


def _position(pos: Any, where: str) -> None:
    if not isinstance(pos, list | tuple) or len(pos) < 2:
        raise GeometryError(f"{where}: a position is [longitude, latitude]")
    lon, lat = pos[0], pos[1]
    for name, v in (("longitude", lon), ("latitude", lat)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise GeometryError(f"{where}: {name} must be a finite number, got {v!r}")
    if not -180 <= lon <= 180:
        raise GeometryError(f"{where}: longitude {lon} outside [-180, 180] (WGS84 expected)")
    if not -90 <= lat <= 90:
        raise GeometryError(f"{where}: latitude {lat} outside [-90, 90] (WGS84 expected)")


def _line(coords: Any, where: str, minimum: int = 2) -> None:
    if not isinstance(coords, list) or len(coords) < minimum:
        raise GeometryError(f"{where}: at least {minimum} positions expected")
    for i, pos in enumerate(coords):
        _position(pos, f"{where}[{i}]")


def _polygon(rings: Any, where: str) -> None:
    if not isinstance(rings, list) or not rings:
        raise GeometryError(f"{where}: a polygon is a list of linear rings")
    for i, ring in enumerate(rings):
        _line(ring, f"{where}[{i}]", minimum=4)
        if list(ring[0][:2]) != list(ring[-1][:2]):
            raise GeometryError(f"{where}[{i}]: a linear ring must end where it starts")


def check(geometry: Any) -> Footprint:
    """Validate a GeoJSON geometry; return its representative point and bounding box."""
    if not isinstance(geometry, dict):
        raise GeometryError("geometry must be a GeoJSON object")
    kind = geometry.get("type")
    if kind not in SUPPORTED:
        raise GeometryError(f"geometry type {kind!r} not supported (one of {', '.join(SUPPORTED)})")
    coords: Any = geometry.get("coordinates")
    where = "coordinates"
    if kind == "Point":
        _position(coords, where)
        lon, lat = float(coords[0]), float(coords[1])
        return Footprint(lon, lat, lon, lat, lon, lat)
    elif kind in ("LineString", "MultiPoint"):
        _line(coords, where, 2 if kind == "LineString" else 1)
    elif kind == "Polygon":
        _polygon(coords, where)
    elif kind == "MultiLineString":
        if not isinstance(coords, list) or not coords:
            raise GeometryError(f"{where}: a list of line strings expected")
        for i, line in enumerate(coords):
            _line(line, f"{where}[{i}]")
    else:
        if not isinstance(coords, list) or not coords:
            raise GeometryError(f"{where}: a list of polygons expected")
        for i, poly in enumerate(coords):
            _polygon(poly, f"{where}[{i}]")
    geom = shape(geometry)
    if kind in ("Polygon", "MultiPolygon") and not geom.is_valid:
        raise GeometryError(f"invalid polygon: {explain_validity(geom)}")
    if kind == "Point":
        point = geom
    elif kind in ("LineString", "MultiLineString"):
        point = geom.interpolate(0.5, normalized=True)
    else:
        point = geom.representative_point()
    min_lon, min_lat, max_lon, max_lat = geom.bounds
    return Footprint(point.x, point.y, min_lon, min_lat, max_lon, max_lat)


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bbox_around(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box that contains the circle of ``radius_m`` around a point."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    coslat = max(math.cos(math.radians(lat)), 1e-6)
    dlon = min(180.0, math.degrees(radius_m / (EARTH_RADIUS_M * coslat)))
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat
