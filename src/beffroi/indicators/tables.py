"""Tables of the indicators package (created by migration 0009). They live on the shared
``beffroi.store.schema.metadata`` so that foreign keys to ``territories`` resolve.

Definitions are versioned by content hash: ``indicator_versions`` keeps every version ever
loaded (a stored value names the exact version it was computed with); ``indicators`` says
which version is current. Values are stored per period with their lineage.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from beffroi.store.schema import metadata, territory_column

indicator_versions = Table(
    "indicator_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("code", String(64), nullable=False),
    Column("version", String(64), nullable=False),  # SHA-256 of the canonical definition
    Column("definition", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(200), nullable=False),
    UniqueConstraint("territory_id", "code", "version", name="uq_indicator_versions"),
)

indicators = Table(
    "indicators",
    metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("code", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("origin", String(16), nullable=False),  # builtin | file | api
    Column("updated_ms", BigInteger, nullable=False),
    UniqueConstraint("territory_id", "code", name="uq_indicators_code"),
)

indicator_values = Table(
    "indicator_values",
    metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("code", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("period", String(16), nullable=False),  # day | week | month | year | contract_year
    Column("label", String(32), nullable=False),  # 2026-11-22, 2026-W47, 2026-11, 2026, C2026
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("value", Float),  # None: no data in the window
    Column("unit", String(32), nullable=False),
    Column("target", Float),
    Column("comparator", String(4)),
    Column("met", Boolean),
    Column("lineage", JSON, nullable=False),
    Column("inputs_hash", String(64), nullable=False),
    Column("software_version", String(32), nullable=False),
    Column("computed_ms", BigInteger, nullable=False),
    UniqueConstraint("territory_id", "code", "period", "start_ms", "version",
                     name="uq_indicator_values"),
)
Index("ix_indicator_values_code", indicator_values.c.territory_id, indicator_values.c.code,
      indicator_values.c.period, indicator_values.c.start_ms)

contracts = Table(
    "contracts",
    metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("code", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("definition", JSON, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("updated_by", String(200), nullable=False),
    UniqueConstraint("territory_id", "code", name="uq_contracts_code"),
)

# Overrides of the footprint model's factors for one territory (the defaults ship in
# indicators/defaults/footprint.yaml, each with its source).
footprint_factors = Table(
    "footprint_factors",
    metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("key", String(128), nullable=False),
    Column("value", Float, nullable=False),
    Column("source", Text, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("updated_by", String(200), nullable=False),
    UniqueConstraint("territory_id", "key", name="uq_footprint_factors"),
)

# Raw-data retention per domain (rollups are always kept).
retention_policies = Table(
    "retention_policies",
    metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("domain", String(32), nullable=False),
    Column("raw_days", Integer, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("updated_by", String(200), nullable=False),
    UniqueConstraint("territory_id", "domain", name="uq_retention_policies"),
)

# One row per minute and process of the platform: a heartbeat (platform availability) and the
# CPU time it used (the compute part of the footprint). Not per territory: the installation's.
platform_samples = Table(
    "platform_samples",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("process", String(64), nullable=False),  # role@host:pid
    Column("cpu_s", Float, nullable=False),  # CPU seconds used since the previous sample
    Column("interval_s", Float, nullable=False),  # wall seconds since the previous sample
    Column("readings", BigInteger, nullable=False),  # readings stored since the previous sample
)
Index("ix_platform_samples_ts", platform_samples.c.ts_ms)
