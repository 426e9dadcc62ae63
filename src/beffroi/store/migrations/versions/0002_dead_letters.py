"""Dead letters: rejected ingest input kept with its raw payload, for inspection and replay.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("territory", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("topic", sa.Text),
        sa.Column("received_ms", sa.BigInteger, nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("replayed_ms", sa.BigInteger),
    )
    op.create_index("ix_dead_letters_territory_reason", "dead_letters",
                    ["territory", "reason_code"])
    op.create_index("ix_dead_letters_received", "dead_letters", ["received_ms"])


def downgrade() -> None:
    op.drop_table("dead_letters")
