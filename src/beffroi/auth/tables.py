"""Tables of the auth package (created by migration 0005). They live on the shared
``beffroi.store.schema.metadata`` so that foreign keys to ``territories`` resolve."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from beffroi.store.schema import metadata

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("password_hash", Text, nullable=False),  # argon2id, PHC string
    Column("superuser", Boolean, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("failed_logins", Integer, nullable=False),  # wrong passwords in a row
    Column("locked_until_ms", BigInteger),  # set after too many of them
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

# A user's role in one territory (at most one grant per user and territory).
user_grants = Table(
    "user_grants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("territory_id", Integer, ForeignKey("territories.id", ondelete="CASCADE"),
           nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("posts", JSON, nullable=False),  # control posts of an operator, else []
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    UniqueConstraint("user_id", "territory_id", name="uq_user_grants_user_territory"),
)
Index("ix_user_grants_territory", user_grants.c.territory_id)

# UI sessions: only the SHA-256 of the cookie value is stored.
sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
)
Index("ix_sessions_user", sessions.c.user_id)

# API tokens of machines and scripts: one role in one territory, or an installation-wide
# superuser token (territory_id NULL). Only the SHA-256 of the secret is stored.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("territory_id", Integer, ForeignKey("territories.id", ondelete="CASCADE")),
    Column("name", String(64), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("role", String(16)),
    Column("posts", JSON, nullable=False),
    Column("superuser", Boolean, nullable=False),
    Column("created_by", String(140), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger),
    Column("revoked_ms", BigInteger),
    Column("last_used_ms", BigInteger),
)
Index("ix_api_tokens_territory", api_tokens.c.territory_id)

# The audit log. No foreign key on territory_id: entries must outlive a deleted territory
# (a cascade would break the chain). Ids are assigned by the writer (head.last_id + 1) and
# are part of the hashed content, so a renumbered or reordered entry is detected.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("territory_id", Integer),
    Column("ts_ms", BigInteger, nullable=False),
    Column("actor", String(140), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(512), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_audit_log_territory_id", audit_log.c.territory_id, audit_log.c.id)
Index("ix_audit_log_ts", audit_log.c.ts_ms)

# The head of the chain, updated in the same transaction as every append: the number of
# entries, the last id and its hash. It is what detects the deletion of the last entries.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("entries", BigInteger, nullable=False),
    Column("last_id", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)
