"""Commands to equipment.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "commands",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("territory_id", sa.Integer,
                  sa.ForeignKey("territories.id", ondelete="CASCADE"), nullable=False),
        sa.Column("batch_id", sa.String(32), nullable=False),
        sa.Column("asset_id", sa.Integer, sa.ForeignKey("assets.id", ondelete="SET NULL")),
        sa.Column("urn", sa.String(256), nullable=False),
        sa.Column("asset_type", sa.String(64), nullable=False),
        sa.Column("command", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("correlation_id", sa.String(32), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("sent_ms", sa.BigInteger),
        sa.Column("acked_ms", sa.BigInteger),
        sa.Column("finished_ms", sa.BigInteger),
        sa.Column("deadline_ms", sa.BigInteger, nullable=False),
        sa.Column("message", sa.Text),
    )
    op.create_index("ix_commands_territory_batch", "commands", ["territory_id", "batch_id"])
    op.create_index("ix_commands_territory_urn", "commands", ["territory_id", "urn"])
    op.create_index("ix_commands_state_deadline", "commands", ["state", "deadline_ms"])


def downgrade() -> None:
    op.drop_table("commands")
