"""Schema migrations (Alembic), run programmatically by ``beffroi db upgrade``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from beffroi.store.engine import Store

_HERE = Path(__file__).parent


def _config() -> Config:
    cfg = Config(str(_HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(_HERE / "migrations"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(store: Store) -> str | None:
    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(store: Store, revision: str = "head", ahead_months: int = 3
            ) -> tuple[str | None, str]:
    """Migrate the schema to ``revision`` (on PostgreSQL, with the observation partitions of
    the current month and ``ahead_months`` after it); returns (before, after)."""
    before = current_revision(store)
    cfg = _config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    after = current_revision(store)
    assert after is not None
    if not store.is_sqlite:
        from beffroi.store.partitions import ensure_ahead

        ensure_ahead(store, ahead_months)
    return before, after


def downgrade(store: Store, revision: str) -> None:
    cfg = _config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
