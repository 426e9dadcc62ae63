"""Indicators, contracts, footprint factors, retention policies, platform samples.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _territory() -> sa.Column[int]:
    return sa.Column("territory_id", sa.Integer,
                     sa.ForeignKey("territories.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "indicator_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("territory_id", "code", "version", name="uq_indicator_versions"),
    )
    op.create_table(
        "indicators",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("territory_id", "code", name="uq_indicators_code"),
    )
    op.create_table(
        "indicator_values",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("end_ms", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("target", sa.Float),
        sa.Column("comparator", sa.String(4)),
        sa.Column("met", sa.Boolean),
        sa.Column("lineage", sa.JSON, nullable=False),
        sa.Column("inputs_hash", sa.String(64), nullable=False),
        sa.Column("software_version", sa.String(32), nullable=False),
        sa.Column("computed_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("territory_id", "code", "period", "start_ms", "version",
                            name="uq_indicator_values"),
    )
    op.create_index("ix_indicator_values_code", "indicator_values",
                    ["territory_id", "code", "period", "start_ms"])
    op.create_table(
        "contracts",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("territory_id", "code", name="uq_contracts_code"),
    )
    op.create_table(
        "footprint_factors",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("territory_id", "key", name="uq_footprint_factors"),
    )
    op.create_table(
        "retention_policies",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("domain", sa.String(32), nullable=False),
        sa.Column("raw_days", sa.Integer, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("territory_id", "domain", name="uq_retention_policies"),
    )
    op.create_table(
        "platform_samples",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("process", sa.String(64), nullable=False),
        sa.Column("cpu_s", sa.Float, nullable=False),
        sa.Column("interval_s", sa.Float, nullable=False),
        sa.Column("readings", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_platform_samples_ts", "platform_samples", ["ts_ms"])


def downgrade() -> None:
    for name in ("platform_samples", "retention_policies", "footprint_factors", "contracts",
                 "indicator_values", "indicators", "indicator_versions"):
        op.drop_table(name)
