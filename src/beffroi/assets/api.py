"""Routes of the registry: territories, assets, series. No SQL here: the service does it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from beffroi.api.deps import Cursor, Limit, RegistryDep, parse_bbox
from beffroi.assets.models import (
    Asset,
    AssetIn,
    AssetPatch,
    Page,
    Series,
    SeriesIn,
    Territory,
    TerritoryIn,
    TerritoryPatch,
)
from beffroi.assets.repository import AssetFilter
from beffroi.assets.service import decode_cursor, encode_cursor
from beffroi.assets.types import ASSET_TYPES, UNITS
from beffroi.auth.access import READERS, allow
from beffroi.auth.models import Principal, Role
from beffroi.errors import NotFound, ValidationFailed, field_error

# Who may change the registry: supervisors and administrators of the territory.
Editor = Annotated[Principal, allow(Role.SUPERVISOR, Role.ADMINISTRATOR)]

router = APIRouter()


@router.get("/types", tags=["registry"], summary="Asset types, their domains and metrics",
            dependencies=[allow(*READERS)])
def list_types() -> list[dict[str, object]]:
    return [
        {
            "type": t.name, "domain": t.domain, "control_post": t.control_post,
            "description": t.description,
            "metrics": [
                {"metric": m.name, "unit": m.unit, "unit_label": UNITS[m.unit], "kind": m.kind,
                 "description": m.description}
                for m in t.metrics
            ],
        }
        for t in ASSET_TYPES.values()
    ]


@router.get("/territories", tags=["territories"])
def list_territories(registry: RegistryDep,
                     principal: Annotated[Principal, allow(*READERS)],
                     limit: Limit = 100, cursor: Cursor = None) -> Page[Territory]:
    if principal.superuser:
        return registry.list_territories(cursor, limit)
    # Only the territories the caller holds a role in (a few: paged in memory, by code).
    granted = []
    for code in sorted(principal.grants):
        try:
            granted.append(registry.get_territory(code))
        except NotFound:
            continue
    start = decode_cursor(cursor)
    more = len(granted) > start + limit
    return Page[Territory](items=granted[start:start + limit],
                           next_cursor=encode_cursor(start + limit) if more else None)


@router.post("/territories", status_code=status.HTTP_201_CREATED, tags=["territories"],
             )
def create_territory(data: TerritoryIn, registry: RegistryDep,
                     principal: Annotated[Principal, allow(superuser_only=True)]) -> Territory:
    return registry.create_territory(data, principal.actor)


@router.get("/territories/{code}", tags=["territories"], dependencies=[allow(*READERS)])
def get_territory(code: str, registry: RegistryDep) -> Territory:
    return registry.get_territory(code)


@router.patch("/territories/{code}", tags=["territories"])
def update_territory(code: str, patch: TerritoryPatch, registry: RegistryDep,
                     principal: Annotated[Principal, allow(Role.ADMINISTRATOR)]) -> Territory:
    return registry.update_territory(code, patch, principal.actor)


@router.delete("/territories/{code}", status_code=204, tags=["territories"])
def delete_territory(code: str, registry: RegistryDep,
                     principal: Annotated[Principal, allow(Role.ADMINISTRATOR)]) -> Response:
    registry.delete_territory(code, principal.actor)
    return Response(status_code=204)


def asset_filter(
    type: str | None, domain: str | None, control_post: str | None, bbox: str | None
) -> AssetFilter:
    if type is not None and type not in ASSET_TYPES:
        raise ValidationFailed("unknown type", [field_error("type", f"no asset type {type!r}")])
    return AssetFilter(type=type, domain=domain, control_post=control_post, bbox=parse_bbox(bbox))


@router.get("/territories/{code}/assets", tags=["assets"], dependencies=[allow(*READERS)])
def list_assets(
    code: str,
    registry: RegistryDep,
    type: str | None = None,
    domain: str | None = None,
    control_post: str | None = None,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat")] = None,
    near: Annotated[str | None, Query(description="lon,lat: nearest first")] = None,
    radius_m: Annotated[float, Query(gt=0, le=100_000)] = 500,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[Asset]:
    flt = asset_filter(type, domain, control_post, bbox)
    if near is not None:
        try:
            lon, lat = (float(p) for p in near.split(","))
        except ValueError as exc:
            raise ValidationFailed(
                "invalid near", [field_error("near", "lon,lat expected")]
            ) from exc
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValidationFailed("invalid near", [field_error("near", "outside WGS84 range")])
        return registry.near_assets(code, flt, lon, lat, radius_m, cursor, limit)
    return registry.list_assets(code, flt, cursor, limit)


@router.post("/territories/{code}/assets", status_code=201, tags=["assets"])
def create_asset(code: str, data: AssetIn, registry: RegistryDep, principal: Editor) -> Asset:
    return registry.create_asset(code, data, principal.actor)


@router.get("/territories/{code}/assets/{urn}", tags=["assets"], dependencies=[allow(*READERS)])
def get_asset(code: str, urn: str, registry: RegistryDep) -> Asset:
    return registry.get_asset(code, urn)


@router.patch("/territories/{code}/assets/{urn}", tags=["assets"])
def update_asset(code: str, urn: str, patch: AssetPatch, registry: RegistryDep,
                 principal: Editor) -> Asset:
    return registry.update_asset(code, urn, patch, principal.actor)


@router.delete("/territories/{code}/assets/{urn}", status_code=204, tags=["assets"])
def delete_asset(code: str, urn: str, registry: RegistryDep, principal: Editor) -> Response:
    registry.delete_asset(code, urn, principal.actor)
    return Response(status_code=204)


@router.get("/territories/{code}/assets/{urn}/series", tags=["assets"],
            dependencies=[allow(*READERS)])
def list_series(code: str, urn: str, registry: RegistryDep) -> list[Series]:
    return registry.list_series(code, urn)


@router.post("/territories/{code}/assets/{urn}/series", status_code=201, tags=["assets"])
def declare_series(code: str, urn: str, data: SeriesIn, registry: RegistryDep,
                   principal: Editor) -> Series:
    return registry.declare_series(code, urn, data, principal.actor)
