"""The raw-data horizon left by retention purges: per series, and the newest of all.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("series") as batch:
        batch.add_column(sa.Column("raw_from_ms", sa.BigInteger))
    with op.batch_alter_table("rollup_state") as batch:
        batch.add_column(sa.Column("raw_purged_max_ms", sa.BigInteger))


def downgrade() -> None:
    with op.batch_alter_table("rollup_state") as batch:
        batch.drop_column("raw_purged_max_ms")
    with op.batch_alter_table("series") as batch:
        batch.drop_column("raw_from_ms")
