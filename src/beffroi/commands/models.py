"""Types of the commands package (no storage here): requests, selectors, command rows, states."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from beffroi.assets import geometry
from beffroi.assets.models import URN_RE
from beffroi.assets.types import ASSET_TYPES, DOMAINS

MAX_TARGETS = 20_000  # assets one send may address (a large district of lamps)
MAX_TIMEOUT_S = 24 * 3600


class State(StrEnum):
    PENDING = "pending"  # written, not yet accepted by the broker
    SENT = "sent"  # the broker acknowledged the publication (PUBACK)
    ACKNOWLEDGED = "acknowledged"  # the device applied it
    FAILED = "failed"  # the device answered with an error (or the broker refused it)
    TIMED_OUT = "timed_out"  # no answer before the deadline
    CANCELLED = "cancelled"  # cancelled by an operator before an answer


OPEN_STATES = (State.PENDING, State.SENT)
FINAL_STATES = (State.ACKNOWLEDGED, State.FAILED, State.TIMED_OUT, State.CANCELLED)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Selector(Strict):
    """A group of assets: every given criterion must hold (at least one is required)."""

    type: str | None = Field(None, description="Asset type, e.g. Streetlight.")
    parent: str | None = Field(None, description="URN of the parent (a lamp's cabinet).")
    area: dict[str, Any] | None = Field(
        None, description="GeoJSON Polygon or MultiPolygon (WGS84) containing the assets.")
    bbox: tuple[float, float, float, float] | None = Field(
        None, description="[min_lon, min_lat, max_lon, max_lat]")
    domain: str | None = None

    @field_validator("type")
    @classmethod
    def _type(cls, value: str | None) -> str | None:
        if value is not None and value not in ASSET_TYPES:
            raise ValueError(f"unknown asset type {value!r} (one of {', '.join(ASSET_TYPES)})")
        return value

    @field_validator("parent")
    @classmethod
    def _parent(cls, value: str | None) -> str | None:
        if value is not None and not URN_RE.match(value):
            raise ValueError("an asset URN (urn:ngsi-ld:<Type>:<id>) expected")
        return value

    @field_validator("area")
    @classmethod
    def _area(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if value.get("type") not in ("Polygon", "MultiPolygon"):
            raise ValueError("a GeoJSON Polygon or MultiPolygon expected")
        try:
            geometry.check(value)
        except geometry.GeometryError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, value: tuple[float, float, float, float] | None
              ) -> tuple[float, float, float, float] | None:
        if value is None:
            return None
        min_lon, min_lat, max_lon, max_lat = value
        if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
            raise ValueError("WGS84 bounds with min <= max (lon in ±180, lat in ±90)")
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is not None and value not in DOMAINS:
            raise ValueError(f"unknown domain {value!r} (one of {', '.join(DOMAINS)})")
        return value

    @model_validator(mode="after")
    def _something(self) -> Selector:
        if all(v is None for _k, v in self):
            raise ValueError("give at least one of type, parent, area, bbox, domain")
        return self


class CommandIn(Strict):
    """A command to send to assets named by URN or to a group given by a selector."""

    command: str = Field(description="Name from the asset type's catalogue, e.g. dim.")
    params: dict[str, Any] = Field(default_factory=dict)
    urns: list[str] | None = Field(None, min_length=1, max_length=MAX_TARGETS)
    selector: Selector | None = None
    timeout_s: int = Field(60, ge=1, le=MAX_TIMEOUT_S,
                           description="Seconds the devices have to acknowledge.")

    @model_validator(mode="after")
    def _one_target(self) -> CommandIn:
        if (self.urns is None) == (self.selector is None):
            raise ValueError("give either urns or selector (exactly one)")
        return self


class StandingSpec(Strict):
    """One line of a crisis plan: a command to a group."""

    selector: Selector
    command: str
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_s: int = Field(300, ge=1, le=MAX_TIMEOUT_S)


class CommandOut(BaseModel):
    id: int
    batch_id: str
    asset: str
    asset_type: str
    command: str
    params: dict[str, Any]
    correlation_id: str
    state: State
    actor: str
    created: str
    sent: str | None
    acked: str | None
    finished: str | None
    deadline: str
    message: str | None


class BatchOut(BaseModel):
    batch_id: str
    command: str
    count: int
    states: dict[str, int]
    commands: list[CommandOut]


class CatalogueEntry(BaseModel):
    command: str
    description: str
    params: dict[str, Any] = Field(description="JSON Schema of the parameters.")
    roles: list[str]
