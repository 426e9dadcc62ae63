"""Rules and alarms: rule definitions per territory (current and every version), the rule-set
version that tells other processes to reload, alarms (at most one open per rule and asset) and
their history.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _territory() -> sa.Column[int]:
    return sa.Column("territory_id", sa.Integer,
                     sa.ForeignKey("territories.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "rule_defs",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.UniqueConstraint("territory_id", "rule_id", name="uq_rule_defs_territory_rule"),
    )
    op.create_table(
        "rule_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("definition", sa.JSON),  # None: the rule was deleted at this version
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.UniqueConstraint("territory_id", "rule_id", "version",
                            name="uq_rule_versions_territory_rule_version"),
    )
    op.create_table(
        "rule_sets",
        sa.Column("territory_id", sa.Integer,
                  sa.ForeignKey("territories.id", ondelete="CASCADE"), primary_key=True,
                  autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("rule_version", sa.Integer, nullable=False),
        sa.Column("asset_id", sa.Integer, sa.ForeignKey("assets.id", ondelete="SET NULL")),
        sa.Column("asset_urn", sa.String(256)),
        sa.Column("dedupe_key", sa.String(128), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("post", sa.String(64)),
        sa.Column("incident", sa.String(8), nullable=False),
        sa.Column("category", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("raised_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("acknowledged_by", sa.String(128)),
        sa.Column("acknowledged_ms", sa.BigInteger),
        sa.Column("cleared_by", sa.String(128)),
        sa.Column("cleared_ms", sa.BigInteger),
        sa.Column("value", sa.Float),
        sa.Column("text", sa.String(64)),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("updates", sa.Integer, nullable=False),
    )
    op.create_index("ix_alarms_territory_state", "alarms", ["territory_id", "state", "id"])
    op.create_index("ix_alarms_territory_rule", "alarms", ["territory_id", "rule_id"])
    op.create_index("ix_alarms_asset", "alarms", ["asset_id"])
    op.create_index(
        "uq_alarms_open_key", "alarms", ["territory_id", "dedupe_key"], unique=True,
        sqlite_where=sa.text("state != 'cleared'"),
        postgresql_where=sa.text("state != 'cleared'"),
    )
    op.create_table(
        "alarm_events",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("alarm_id", sa.Integer, sa.ForeignKey("alarms.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("text", sa.String(64)),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_alarm_events_alarm", "alarm_events", ["alarm_id", "id"])


def downgrade() -> None:
    op.drop_table("alarm_events")
    op.drop_table("alarms")
    op.drop_table("rule_sets")
    op.drop_table("rule_versions")
    op.drop_table("rule_defs")
