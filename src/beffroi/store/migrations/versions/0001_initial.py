"""Initial schema: territories, assets, series, observations, latest values, rollups, imports.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _rollup(name: str) -> None:
    op.create_table(
        name,
        sa.Column("series_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("bucket_ms", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("vmin", sa.Float),
        sa.Column("vmax", sa.Float),
        sa.Column("vsum", sa.Float),
        sa.Column("last_value", sa.Float),
        sa.Column("last_text", sa.String(64)),
        sa.Column("last_ts_ms", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "territories",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("locale", sa.String(16), nullable=False),
        sa.Column("center_lon", sa.Float),
        sa.Column("center_lat", sa.Float),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "assets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "territory_id",
            sa.Integer,
            sa.ForeignKey("territories.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("urn", sa.String(256), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("domain", sa.String(32), nullable=False),
        sa.Column("name", sa.String(256)),
        sa.Column("geometry", sa.JSON, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("min_lon", sa.Float, nullable=False),
        sa.Column("min_lat", sa.Float, nullable=False),
        sa.Column("max_lon", sa.Float, nullable=False),
        sa.Column("max_lat", sa.Float, nullable=False),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("control_post", sa.String(64)),
        sa.Column("operator", sa.String(128)),
        sa.Column("contract", sa.String(128)),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("assets.id", ondelete="SET NULL")),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("territory_id", "urn", name="uq_assets_territory_urn"),
    )
    op.create_index("ix_assets_territory_type", "assets", ["territory_id", "type"])
    op.create_index("ix_assets_territory_domain", "assets", ["territory_id", "domain"])
    op.create_index("ix_assets_territory_lat", "assets", ["territory_id", "lat"])
    op.create_index("ix_assets_parent", "assets", ["parent_id"])
    op.create_table(
        "series",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "territory_id",
            sa.Integer,
            sa.ForeignKey("territories.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "asset_id", sa.Integer, sa.ForeignKey("assets.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("asset_id", "metric", name="uq_series_asset_metric"),
    )
    op.create_index("ix_series_territory", "series", ["territory_id"])

    if sqlite:
        op.create_table(
            "observations",
            sa.Column("series_id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("ts_ms", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("value", sa.Float),
            sa.Column("text", sa.String(64)),
            sqlite_with_rowid=False,
        )
    else:
        # Range-partitioned by month; partitions are created ahead (and on demand) by
        # beffroi.store.partitions. The primary key includes the partition key, as required.
        op.execute(
            "CREATE TABLE observations ("
            " series_id integer NOT NULL,"
            " ts_ms bigint NOT NULL,"
            " value double precision,"
            " text varchar(64),"
            " PRIMARY KEY (series_id, ts_ms)"
            ") PARTITION BY RANGE (ts_ms)"
        )
        op.execute("CREATE INDEX ix_observations_ts_brin ON observations USING brin (ts_ms)")
    op.create_table(
        "latest",
        sa.Column("series_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("text", sa.String(64)),
    )
    _rollup("rollup_hour")
    _rollup("rollup_day")
    op.create_table(
        "rollup_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("hour_until_ms", sa.BigInteger),
        sa.Column("pending_min_ms", sa.BigInteger),
    )
    op.execute(
        "INSERT INTO rollup_state (id, hour_until_ms, pending_min_ms) VALUES (1, NULL, NULL)"
    )
    op.create_table(
        "rollup_dirty",
        sa.Column("bucket_ms", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("series_id", sa.Integer, primary_key=True, autoincrement=False),
    )
    op.create_table(
        "import_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "territory_id",
            sa.Integer,
            sa.ForeignKey("territories.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("mapping", sa.String(128), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("started_ms", sa.BigInteger, nullable=False),
        sa.Column("finished_ms", sa.BigInteger),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("problems", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "import_runs",
        "rollup_dirty",
        "rollup_state",
        "rollup_day",
        "rollup_hour",
        "latest",
        "observations",
        "series",
        "assets",
        "territories",
    ):
        op.drop_table(table)
