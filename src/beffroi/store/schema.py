"""Table definitions (SQLAlchemy Core). Migrations in ``migrations/versions`` create them.

Conventions: integer surrogate keys for compactness (observations are keyed by
``(series_id, ts_ms)``); times are UTC epoch milliseconds in ``*_ms`` columns; every row that
belongs to a territory carries ``territory_id`` so isolation is a column filter, never a join
that could be forgotten.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


def territory_column() -> Column[int]:
    """The ``territory_id`` column every per-territory table carries (deleted with it)."""
    return Column("territory_id", Integer, ForeignKey("territories.id", ondelete="CASCADE"),
                  nullable=False)

territories = Table(
    "territories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("locale", String(16), nullable=False),
    Column("center_lon", Float),
    Column("center_lat", Float),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    # Bumped when assets of the territory are deleted, so that other processes (workers)
    # know to rebuild their caches.
    Column("registry_version", BigInteger, nullable=False, server_default="0"),
)

assets = Table(
    "assets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "territory_id",
        Integer,
        ForeignKey("territories.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("urn", String(256), nullable=False),
    Column("type", String(64), nullable=False),
    Column("domain", String(32), nullable=False),
    Column("name", String(256)),
    Column("geometry", JSON, nullable=False),
    # Representative point and bounding box of the geometry, for bbox and near-point filters.
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("min_lon", Float, nullable=False),
    Column("min_lat", Float, nullable=False),
    Column("max_lon", Float, nullable=False),
    Column("max_lat", Float, nullable=False),
    Column("properties", JSON, nullable=False),
    Column("control_post", String(64)),
    Column("operator", String(128)),
    Column("contract", String(128)),
    Column("parent_id", Integer, ForeignKey("assets.id", ondelete="SET NULL")),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    UniqueConstraint("territory_id", "urn", name="uq_assets_territory_urn"),
)
Index("ix_assets_territory_type", assets.c.territory_id, assets.c.type)
Index("ix_assets_territory_domain", assets.c.territory_id, assets.c.domain)
Index("ix_assets_territory_lat", assets.c.territory_id, assets.c.lat)
Index("ix_assets_parent", assets.c.parent_id)

series = Table(
    "series",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "territory_id",
        Integer,
        ForeignKey("territories.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("asset_id", Integer, ForeignKey("assets.id", ondelete="CASCADE"), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("unit", String(16), nullable=False),
    Column("kind", String(8), nullable=False),  # "number" | "state"
    Column("created_ms", BigInteger, nullable=False),
    # Retention purged this series' raw readings before this time: older readings are refused
    # (their hours' rollups are final; a lone late reading would rebuild them from itself).
    Column("raw_from_ms", BigInteger),
    UniqueConstraint("asset_id", "metric", name="uq_series_asset_metric"),
)
Index("ix_series_territory", series.c.territory_id)

# Raw readings. No foreign key: the hot path must not pay for one; series deletion removes
# its readings explicitly. On PostgreSQL this table is partitioned by month on ts_ms.
observations = Table(
    "observations",
    metadata,
    Column("series_id", Integer, primary_key=True, autoincrement=False),
    Column("ts_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("value", Float),
    Column("text", String(64)),
)

latest = Table(
    "latest",
    metadata,
    Column("series_id", Integer, primary_key=True, autoincrement=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("value", Float),
    Column("text", String(64)),
)


def _rollup_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("series_id", Integer, primary_key=True, autoincrement=False),
        Column("bucket_ms", BigInteger, primary_key=True, autoincrement=False),
        Column("n", Integer, nullable=False),
        Column("vmin", Float),
        Column("vmax", Float),
        Column("vsum", Float),
        Column("last_value", Float),
        Column("last_text", String(64)),
        Column("last_ts_ms", BigInteger, nullable=False),
    )


rollup_hour = _rollup_table("rollup_hour")
rollup_day = _rollup_table("rollup_day")

# Materialisation state: hours before ``hour_until_ms`` are in rollup_hour, except the buckets
# listed in rollup_dirty (series_id 0 means every series of that hour).
rollup_state = Table(
    "rollup_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("hour_until_ms", BigInteger),
    Column("pending_min_ms", BigInteger),
    # The newest raw_from_ms of any series: a batch of readings all newer than this needs no
    # look at the series' horizons (the usual case).
    Column("raw_purged_max_ms", BigInteger),
)

rollup_dirty = Table(
    "rollup_dirty",
    metadata,
    Column("bucket_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("series_id", Integer, primary_key=True, autoincrement=False),
)

# Runs of `beffroi import`, with their counts and the first problems found (for the audit).
import_runs = Table(
    "import_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "territory_id",
        Integer,
        ForeignKey("territories.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("mapping", String(128), nullable=False),
    Column("source", Text, nullable=False),
    Column("started_ms", BigInteger, nullable=False),
    Column("finished_ms", BigInteger),
    Column("counts", JSON, nullable=False),
    Column("problems", JSON, nullable=False),
)

# Rejected input of every ingest path, kept with its raw payload so that it can be inspected,
# counted and replayed after a fix. ``territory`` is the code the sender named (it may not
# exist); one row per undecodable message or per rejected reading of a batch.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("territory", String(64), nullable=False),
    Column("source", String(32), nullable=False),
    Column("format", String(16), nullable=False),
    Column("topic", Text),
    Column("received_ms", BigInteger, nullable=False),
    Column("reason_code", String(32), nullable=False),
    Column("field", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("replayed_ms", BigInteger),
)
Index("ix_dead_letters_territory_reason", dead_letters.c.territory, dead_letters.c.reason_code)
Index("ix_dead_letters_received", dead_letters.c.received_ms)

# MQTT accounts: devices and gateways publish for one territory; workers read everything.
# Beffroi keeps them and writes Mosquitto's password and ACL files (``beffroi mqtt-user``).
mqtt_users = Table(
    "mqtt_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("territory", String(64)),  # None for a worker account
    Column("role", String(16), nullable=False),  # device | gateway | worker
    Column("password_hash", Text, nullable=False),  # Mosquitto's $7$ PBKDF2-SHA512 format
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger),
)
