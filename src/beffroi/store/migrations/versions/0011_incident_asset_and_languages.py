"""Alarm messages, incident titles and the platform's notes in incidents' history in each
language; incidents found by asset.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alarms") as batch:
        batch.add_column(sa.Column("messages", sa.JSON))
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("titles", sa.JSON))
    with op.batch_alter_table("incident_steps") as batch:
        batch.add_column(sa.Column("notes", sa.JSON))
    with op.batch_alter_table("incident_comments") as batch:
        batch.add_column(sa.Column("texts", sa.JSON))
    op.create_index("ix_incidents_territory_asset", "incidents", ["territory_id", "asset_urn"])
    op.create_index("ix_incident_alarms_asset", "incident_alarms",
                    ["territory_id", "asset_urn"])


def downgrade() -> None:
    op.drop_index("ix_incident_alarms_asset", table_name="incident_alarms")
    op.drop_index("ix_incidents_territory_asset", table_name="incidents")
    with op.batch_alter_table("incident_comments") as batch:
        batch.drop_column("texts")
    with op.batch_alter_table("incident_steps") as batch:
        batch.drop_column("notes")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("titles")
    with op.batch_alter_table("alarms") as batch:
        batch.drop_column("messages")
