"""Types of the registry (no storage here): what the API accepts and returns."""

from __future__ import annotations

import re
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from beffroi.assets import geometry
from beffroi.assets.types import ASSET_TYPES, CONTROL_POSTS, DOMAINS, UNITS

T = TypeVar("T")

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# The local part may not hold "/" (it is a path segment of the API) nor whitespace.
URN_RE = re.compile(r"^urn:ngsi-ld:([A-Za-z][A-Za-z0-9]*):([^\s/]+)$")
METRIC_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")

# Static properties with a known meaning are checked; others are kept as given.
NUMERIC_PROPERTIES = ("power_w", "capacity", "capacity_l", "height_m", "total_spots")


def urn_type(urn: str) -> str | None:
    match = URN_RE.match(urn)
    return match.group(1) if match else None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TerritoryIn(Strict):
    code: str = Field(description="Short identifier used in URLs, e.g. 'nantes'.")
    name: str = Field(min_length=1, max_length=200)
    timezone: str = "Europe/Paris"
    locale: str = Field("fr", pattern=r"^(fr|en)$")
    center: tuple[float, float] | None = Field(None, description="[longitude, latitude]")

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not CODE_RE.match(value):
            raise ValueError("lower-case letters, digits and '-', 1 to 63 characters")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("center")
    @classmethod
    def _center(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None:
            try:
                geometry.check({"type": "Point", "coordinates": list(value)})
            except geometry.GeometryError as exc:
                raise ValueError(str(exc)) from exc
        return value


class TerritoryPatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    timezone: str | None = None
    locale: str | None = Field(None, pattern=r"^(fr|en)$")
    center: tuple[float, float] | None = None

    _zone = field_validator("timezone")(TerritoryIn._zone.__func__)  # type: ignore[attr-defined]

    @field_validator("name", "timezone", "locale", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null (leave the field out to keep it)")
        return value


class Territory(BaseModel):
    code: str
    name: str
    timezone: str
    locale: str
    center: tuple[float, float] | None
    created: str
    updated: str


def _check_properties(value: dict[str, Any]) -> dict[str, Any]:
    for key in NUMERIC_PROPERTIES:
        if key in value and value[key] is not None:
            v = value[key]
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise ValueError(f"properties.{key} must be a non-negative number, got {v!r}")
    return value


class AssetFields(Strict):
    name: str | None = Field(None, max_length=256)
    geometry: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None
    domain: str | None = None
    control_post: str | None = None
    operator: str | None = Field(None, max_length=128)
    contract: str | None = Field(None, max_length=128)
    parent: str | None = Field(None, description="URN of the parent asset (a lamp's cabinet).")

    @field_validator("geometry")
    @classmethod
    def _geometry(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                geometry.check(value)
            except geometry.GeometryError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("properties")
    @classmethod
    def _properties(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else _check_properties(value)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is not None and value not in DOMAINS:
            raise ValueError(f"unknown domain {value!r} (one of {', '.join(DOMAINS)})")
        return value

    @field_validator("control_post")
    @classmethod
    def _post(cls, value: str | None) -> str | None:
        if value is not None and not CODE_RE.match(value):
            raise ValueError("a control post code: lower-case letters, digits and '-'")
        return value

    @field_validator("parent")
    @classmethod
    def _parent(cls, value: str | None) -> str | None:
        if value is not None and not URN_RE.match(value):
            raise ValueError("parent must be an asset URN (urn:ngsi-ld:<Type>:<id>)")
        return value


class AssetIn(AssetFields):
    id: str = Field(description="URN, urn:ngsi-ld:<Type>:<territory>:<local id>")
    type: str
    geometry: dict[str, Any]

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value not in ASSET_TYPES:
            raise ValueError(f"unknown asset type {value!r} (one of {', '.join(ASSET_TYPES)})")
        return value

    @model_validator(mode="after")
    def _urn_matches_type(self) -> AssetIn:
        kind = urn_type(self.id)
        if kind is None:
            raise ValueError(f"id {self.id!r} is not a URN of the form urn:ngsi-ld:<Type>:<id>")
        if kind != self.type:
            raise ValueError(f"id names type {kind!r} but type is {self.type!r}")
        return self


class AssetPatch(AssetFields):
    """Fields to change; absent fields are kept. ``properties`` are merged, null deletes one."""


class Asset(BaseModel):
    id: str
    type: str
    domain: str
    name: str | None
    geometry: dict[str, Any]
    properties: dict[str, Any]
    control_post: str | None
    operator: str | None
    contract: str | None
    parent: str | None
    created: str
    updated: str


class SeriesIn(Strict):
    metric: str
    unit: str
    kind: str = Field("number", pattern=r"^(number|state)$")

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if not METRIC_RE.match(value):
            raise ValueError("a metric name: a letter, then letters, digits or '_'")
        return value

    @field_validator("unit")
    @classmethod
    def _unit(cls, value: str) -> str:
        if value not in UNITS:
            raise ValueError(f"unknown unit code {value!r} (UN/CEFACT: {', '.join(UNITS)})")
        return value


class Series(BaseModel):
    asset: str
    metric: str
    unit: str
    kind: str
    latest: dict[str, Any] | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= to get the next page.")


__all__ = [
    "CONTROL_POSTS",
    "Asset",
    "AssetIn",
    "AssetPatch",
    "Page",
    "Series",
    "SeriesIn",
    "Territory",
    "TerritoryIn",
    "TerritoryPatch",
]
