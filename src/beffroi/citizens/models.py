"""Types of the citizens package (no storage)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class ImportedRequest:
    """A historical report to import (e.g. one row of Paris's DansMaRue file)."""

    source_id: str  # the source's own id (idempotent import: same id, same request)
    service_code: str  # a service (category) of the territory's Open311 service list
    description: str
    requested_ms: int
    status: str  # "open" | "closed"
    lon: float
    lat: float
    address: str | None = None
    closed_ms: int | None = None
    agency: str | None = None  # the service that handled it


@dataclass(frozen=True)
class RequestIn:
    """A report as a client sends it (Open311 POST fields, already decoded from the form).

    Everything is text, as received: :meth:`Citizens.create_request` validates it."""

    service_code: str | None = None
    description: str | None = None
    lat: str | None = None
    long: str | None = None
    address_string: str | None = None
    address_id: str | None = None
    media_url: str | None = None
    # personal data: stored apart (request_contacts), never published
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    device_id: str | None = None
    account_id: str | None = None


@dataclass(frozen=True)
class Client:
    """An Open311 client application (its key is never kept, only its SHA-256)."""

    id: int
    name: str
    territory: str | None  # None: installation-wide
    created_ms: int
    revoked_ms: int | None
    rate_per_hour: int | None


class ClientOut(BaseModel):
    id: int
    name: str
    territory: str | None = Field(description="None: the key works in every territory.")
    created: str
    revoked: str | None
    rate_per_hour: int | None


class ClientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    rate_per_hour: int | None = Field(None, ge=1, le=100_000, description=(
        "Reports per hour this application may post (it reports on behalf of many residents); "
        "default: the installation's report_rate_per_hour."))


class ClientCreated(ClientOut):
    api_key: str = Field(description="Shown once: only its hash is stored.")


class PublicNoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000, description=(
        "Shown to the resident and to everyone as the request's status_notes."))


class ServiceRequestOut(BaseModel):
    """One request as Open311 publishes it (no personal data: there is no field for it)."""

    service_request_id: str
    status: str
    status_notes: str | None
    service_name: str | None
    service_code: str
    description: str
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class ServiceRequestAdmin(ServiceRequestOut):
    """What the control room sees of a request (still no personal data)."""

    incident_id: int | None
    source: str
    source_id: str | None
    client: str | None
    has_contact: bool


class ServiceOut(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str
