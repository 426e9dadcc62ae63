"""Routes of telemetry: batch ingest, latest state of many assets, history of a series."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from beffroi.api.deps import Cursor, TelemetryDep, parse_time_param
from beffroi.api.responses import JSONBody
from beffroi.assets.api import asset_filter
from beffroi.auth.access import READERS, allow
from beffroi.errors import ValidationFailed, field_error
from beffroi.timeutil import now_ms

router = APIRouter()

@router.get("/territories/{code}/latest", tags=["telemetry"],
            summary="Latest value of every series of many assets", dependencies=[allow(*READERS)])
def latest(
    code: str,
    telemetry: TelemetryDep,
    asset: Annotated[list[str] | None, Query(description="Asset URNs (repeatable)")] = None,
    type: str | None = None,
    domain: str | None = None,
    control_post: str | None = None,
    bbox: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    cursor: Cursor = None,
) -> JSONBody:
    flt = asset_filter(type, domain, control_post, bbox)
    return JSONBody(telemetry.latest(code, asset, flt, cursor, limit))


@router.post("/territories/{code}/latest/query", tags=["telemetry"],
             summary="Latest values for a list of assets given in the body",
             dependencies=[allow(*READERS)])
def latest_query(code: str, body: dict[str, list[str]], telemetry: TelemetryDep
                 ) -> JSONBody:
    urns = body.get("assets")
    if not urns or set(body) != {"assets"}:
        field = sorted(set(body) - {"assets"})[0] if set(body) - {"assets"} else "assets"
        raise ValidationFailed("a list of asset URNs expected", [field_error(
            field, "unknown field" if field != "assets" else "1 to 5000 asset URNs required")])
    if len(urns) > 5000:
        raise ValidationFailed("too many assets", [field_error("assets", "at most 5000")])
    flt = asset_filter(None, None, None, None)
    return JSONBody(telemetry.latest(code, urns, flt, None, 5000))


@router.get("/territories/{code}/assets/{urn}/series/{metric}/history", tags=["telemetry"],
            summary="History of a series at raw, hour or day resolution",
            dependencies=[allow(*READERS)])
def history(
    code: str,
    urn: str,
    metric: str,
    telemetry: TelemetryDep,
    from_: Annotated[str | None, Query(alias="from", description="ISO 8601 or epoch ms")] = None,
    to: Annotated[str | None, Query(description="ISO 8601 or epoch ms (exclusive)")] = None,
    resolution: Annotated[str, Query(description="raw | hour | day")] = "raw",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> JSONBody:
    end = parse_time_param("to", to) if to else now_ms()
    start = parse_time_param("from", from_) if from_ else end - 86_400_000
    body: dict[str, Any] = telemetry.history(code, urn, metric, resolution, start, end, limit)
    return JSONBody(body)
