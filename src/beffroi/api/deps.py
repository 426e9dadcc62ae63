"""Dependencies shared by the routers: the services built once in ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from beffroi.assets.service import Registry
from beffroi.auth.audit import AuditLog
from beffroi.auth.service import Auth
from beffroi.citizens.service import Citizens
from beffroi.commands.service import Commands
from beffroi.errors import ValidationFailed, field_error
from beffroi.indicators.footprint_service import Footprint
from beffroi.indicators.service import Indicators
from beffroi.ingest.service import Pipeline
from beffroi.opendata.service import OpenData
from beffroi.operations.service import Operations
from beffroi.rules.service import Rules
from beffroi.settings import Settings
from beffroi.store import Store
from beffroi.telemetry.service import Telemetry
from beffroi.timeutil import Clock, TimestampError, parse_ts


@dataclass
class Services:
    settings: Settings
    store: Store
    registry: Registry
    telemetry: Telemetry
    pipeline: Pipeline
    clock: Clock
    audit: AuditLog
    auth: Auth
    rules: Rules
    commands: Commands
    operations: Operations
    indicators: Indicators
    footprint: Footprint
    citizens: Citizens
    opendata: OpenData


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_registry(request: Request) -> Registry:
    return get_services(request).registry


def get_telemetry(request: Request) -> Telemetry:
    return get_services(request).telemetry


def get_pipeline(request: Request) -> Pipeline:
    return get_services(request).pipeline


def get_auth(request: Request) -> Auth:
    return get_services(request).auth


def get_rules(request: Request) -> Rules:
    return get_services(request).rules


def get_operations(request: Request) -> Operations:
    return get_services(request).operations


def get_commands(request: Request) -> Commands:
    return get_services(request).commands


RegistryDep = Annotated[Registry, Depends(get_registry)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
TelemetryDep = Annotated[Telemetry, Depends(get_telemetry)]
AuthDep = Annotated[Auth, Depends(get_auth)]
RulesDep = Annotated[Rules, Depends(get_rules)]
OperationsDep = Annotated[Operations, Depends(get_operations)]
CommandsDep = Annotated[Commands, Depends(get_commands)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size (1 to 1000).")]
Cursor = Annotated[str | None, Query(description="Cursor from the previous page.")]


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    parts = value.split(",")
    try:
        box = tuple(float(p) for p in parts)
    except ValueError:
        box = ()
    if len(box) != 4:
        raise ValidationFailed(
            "invalid bbox", [field_error("bbox", "min_lon,min_lat,max_lon,max_lat expected")]
        )
    min_lon, min_lat, max_lon, max_lat = box
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ValidationFailed(
            "invalid bbox",
            [field_error("bbox", "WGS84 bounds with min <= max (lon in ±180, lat in ±90)")],
        )
    return min_lon, min_lat, max_lon, max_lat


def parse_time_param(name: str, value: str) -> int:
    try:
        return parse_ts(int(value) if value.lstrip("-").isdigit() else value)
    except TimestampError as exc:
        raise ValidationFailed(f"invalid {name!r}", [field_error(name, str(exc))]) from exc
