"""Tables of the citizens package (created by migration 0010), on the shared
``beffroi.store.schema.metadata`` so that foreign keys to ``territories`` and ``incidents``
resolve.

A report (``service_requests``) holds nothing that names its author; the author's contact
data live in ``request_contacts`` (one row per report, deleted by the retention purge, never
published). ``open311_clients`` holds the API keys of client applications, hashed.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from beffroi.operations import repository as _operations  # noqa: F401  (incidents table)
from beffroi.store.schema import metadata

open311_clients = Table(
    "open311_clients",
    metadata,
    Column("id", Integer, primary_key=True),
    # None: an installation-wide key (every territory)
    Column("territory_id", Integer, ForeignKey("territories.id", ondelete="CASCADE")),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),  # SHA-256 hex of the key
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger),
    Column("rate_per_hour", Integer),  # None: the installation's report_rate_per_hour
)

service_requests = Table(
    "service_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("territory_id", Integer, ForeignKey("territories.id", ondelete="CASCADE"),
           nullable=False),
    Column("public_id", String(32), nullable=False),  # Open311 service_request_id
    Column("service_code", String(64), nullable=False),
    Column("description", Text, nullable=False),
    Column("lat", Float),
    Column("lon", Float),
    Column("address_string", String(500)),
    Column("address_id", String(200)),
    # Stored status: authoritative only without an incident (imports); otherwise the
    # incident's state decides at read time.
    Column("status", String(8), nullable=False),
    Column("requested_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("closed_ms", BigInteger),
    Column("agency_responsible", String(200)),
    Column("service_notice", String(500)),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="SET NULL")),
    Column("status_notes", Text),  # the operator's public note
    Column("source", String(16), nullable=False),  # open311 | web | import
    Column("source_id", String(128)),  # the source's own id (idempotent imports)
    Column("client_id", Integer, ForeignKey("open311_clients.id", ondelete="SET NULL")),
    Column("media_url", String(1000)),
    UniqueConstraint("territory_id", "public_id", name="uq_service_requests_public_id"),
    UniqueConstraint("territory_id", "source_id", name="uq_service_requests_source_id"),
)
Index("ix_service_requests_requested", service_requests.c.territory_id,
      service_requests.c.requested_ms)
Index("ix_service_requests_incident", service_requests.c.incident_id)

request_contacts = Table(
    "request_contacts",
    metadata,
    Column("request_id", Integer, ForeignKey("service_requests.id", ondelete="CASCADE"),
           primary_key=True),
    Column("first_name", String(100)),
    Column("last_name", String(100)),
    Column("email", String(254)),
    Column("phone", String(40)),
    Column("device_id", String(200)),
    Column("account_id", String(200)),
    Column("created_ms", BigInteger, nullable=False),
)
