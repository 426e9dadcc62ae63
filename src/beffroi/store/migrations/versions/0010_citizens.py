"""Residents' reports (Open311 service requests), their authors' contact data kept apart,
Open311 client API keys.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "open311_clients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("territory_id", sa.Integer,
                  sa.ForeignKey("territories.id", ondelete="CASCADE")),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("revoked_ms", sa.BigInteger),
        sa.Column("rate_per_hour", sa.Integer),
    )
    op.create_table(
        "service_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("territory_id", sa.Integer,
                  sa.ForeignKey("territories.id", ondelete="CASCADE"), nullable=False),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column("service_code", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("address_string", sa.String(500)),
        sa.Column("address_id", sa.String(200)),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("requested_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("closed_ms", sa.BigInteger),
        sa.Column("agency_responsible", sa.String(200)),
        sa.Column("service_notice", sa.String(500)),
        sa.Column("incident_id", sa.Integer,
                  sa.ForeignKey("incidents.id", ondelete="SET NULL")),
        sa.Column("status_notes", sa.Text),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(128)),
        sa.Column("client_id", sa.Integer,
                  sa.ForeignKey("open311_clients.id", ondelete="SET NULL")),
        sa.Column("media_url", sa.String(1000)),
        sa.UniqueConstraint("territory_id", "public_id", name="uq_service_requests_public_id"),
        sa.UniqueConstraint("territory_id", "source_id", name="uq_service_requests_source_id"),
    )
    op.create_index("ix_service_requests_requested", "service_requests",
                    ["territory_id", "requested_ms"])
    op.create_index("ix_service_requests_incident", "service_requests", ["incident_id"])
    op.create_table(
        "request_contacts",
        sa.Column("request_id", sa.Integer,
                  sa.ForeignKey("service_requests.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("first_name", sa.String(100)),
        sa.Column("last_name", sa.String(100)),
        sa.Column("email", sa.String(254)),
        sa.Column("phone", sa.String(40)),
        sa.Column("device_id", sa.String(200)),
        sa.Column("account_id", sa.String(200)),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("request_contacts")
    op.drop_index("ix_service_requests_incident", table_name="service_requests")
    op.drop_index("ix_service_requests_requested", table_name="service_requests")
    op.drop_table("service_requests")
    op.drop_table("open311_clients")
