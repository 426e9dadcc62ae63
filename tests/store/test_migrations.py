"""Alembic migrations up and down, and PostgreSQL's time partitions of observations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, text

from beffroi.app import build_services
from beffroi.assets.models import AssetIn, TerritoryIn
from beffroi.settings import load_settings
from beffroi.store import migrate, open_store
from beffroi.store.engine import Store
from beffroi.store.partitions import month_start, next_month, partition_name
from beffroi.timeutil import now_ms
from tests.conftest import lamp

TABLES = {"territories", "assets", "series", "observations", "latest", "rollup_hour",
          "rollup_day", "rollup_dirty", "rollup_state", "import_runs", "dead_letters",
          "mqtt_users",
          # auth (0005)
          "users", "user_grants", "sessions", "api_tokens", "audit_log", "audit_head",
          # rules (0006)
          "rule_defs", "rule_versions", "rule_sets", "alarms", "alarm_events",
          # operations (0007)
          "operations_setup", "control_posts", "post_routings", "incident_categories",
          "incidents", "incident_steps", "incident_alarms", "incident_comments",
          "incident_escalations", "work_orders", "crisis_plans", "crisis_activations",
          # commands (0008)
          "commands",
          # indicators (0009)
          "indicator_versions", "indicators", "indicator_values", "contracts",
          "footprint_factors", "retention_policies", "platform_samples",
          # citizens (0010)
          "service_requests", "request_contacts", "open311_clients"}


@pytest.fixture
def store(fresh_db_url: str) -> Iterator[Store]:
    store = open_store(fresh_db_url)
    yield store
    store.dispose()


def _tables(store: Store) -> set[str]:
    names = set(inspect(store.engine).get_table_names())
    return {n for n in names if not n.startswith("observations_p")} - {"alembic_version"}


def test_upgrade_downgrade_upgrade(store: Store) -> None:
    assert migrate.current_revision(store) is None
    before, after = migrate.upgrade(store)
    assert (before, after) == (None, migrate.head_revision())
    assert _tables(store) >= TABLES
    assert migrate.upgrade(store) == (after, after)  # a second run changes nothing
    migrate.downgrade(store, "base")
    assert migrate.current_revision(store) is None
    assert not _tables(store) & TABLES
    migrate.upgrade(store)
    assert _tables(store) >= TABLES


def _partitions(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return {r[0] for r in conn.execute(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'observations'"))}


def test_postgresql_partitions_ahead_and_on_demand(store: Store) -> None:
    if store.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite keeps observations in one table")
    migrate.upgrade(store)
    month = month_start(now_ms())
    ahead = [month]
    for _ in range(3):
        ahead.append(next_month(ahead[-1]))
    assert {partition_name(m) for m in ahead} <= _partitions(store)

    # A reading from 2019 creates its month's partition before it is written.
    services = build_services(load_settings(database_url=str(store.engine.url.render_as_string(
        hide_password=False))))
    try:
        services.registry.create_territory(TerritoryIn(code="t", name="t"))
        services.registry.create_asset("t", AssetIn.model_validate(lamp("1", territory="t")))
        old = int(datetime(2019, 5, 17, 12, tzinfo=UTC).timestamp() * 1000)
        report = services.telemetry.ingest_readings("t", [{
            "asset": "urn:ngsi-ld:Streetlight:t:1", "metric": "activePower", "value": 1.5,
            "ts": old}])
    finally:
        services.store.dispose()
    assert report.stored == 1
    assert "observations_p2019_05" in _partitions(store)
    with store.engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM observations_p2019_05")).scalar_one()
    assert n == 1


def test_migrations_build_the_schema_the_code_declares(store: Store) -> None:
    """Every table, column and named index the packages declare exists after the migrations
    (a column added to a table without its migration fails here)."""
    import beffroi.app  # noqa: F401  (every package's tables are declared on import)
    from beffroi.store.schema import metadata

    migrate.upgrade(store)
    found = inspect(store.engine)
    names = set(found.get_table_names())
    for table in metadata.sorted_tables:
        assert table.name in names, f"table {table.name} has no migration"
        columns = {c["name"] for c in found.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name
        indexes = {i["name"] for i in found.get_indexes(table.name)}
        declared = {i.name for i in table.indexes if i.name}
        assert declared <= indexes, f"{table.name}: indexes {declared - indexes} missing"
