"""Test fixtures. One suite, two engines: SQLite by default, PostgreSQL with

    pytest --dburl postgresql://postgres@127.0.0.1:5432/postgres

(a scratch database ``beffroi_test_<pid>`` is created beside the given one and dropped at the
end). Every test gets an empty, migrated store.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from beffroi.api.deps import Services
from beffroi.app import build_services, create_app
from beffroi.assets.models import TerritoryIn
from beffroi.settings import Settings, load_settings
from beffroi.store import migrate, open_store
from beffroi.store.engine import normalise_url

REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--dburl",
        default=os.environ.get("BEFFROI_TEST_DATABASE_URL"),
        help="Run the suite on this database (postgresql://...); default: SQLite files.",
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real open data of ../shared/data (next to the repository)."""
    path = Path(os.environ.get("BEFFROI_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.fail(f"real data folder {path} not found (set BEFFROI_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def engine_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[str]:
    """A migrated template database for the session."""
    given: str | None = request.config.getoption("--dburl")
    if not given or given.startswith("sqlite"):
        template = tmp_path_factory.mktemp("db") / "template.db"
        store = open_store(f"sqlite:///{template}")
        migrate.upgrade(store)
        store.dispose()
        yield f"sqlite:///{template}"
        return
    with _scratch_database(given, f"beffroi_test_{os.getpid()}") as url:
        store = open_store(url)
        migrate.upgrade(store)
        store.dispose()
        yield url


@contextmanager
def _scratch_database(given: str, name: str) -> Iterator[str]:
    """A PostgreSQL database created beside the given one, dropped at the end."""
    import psycopg

    base = make_url(normalise_url(given))
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def db_url(engine_url: str, tmp_path: Path) -> str:
    """An empty migrated database for one test."""
    if engine_url.startswith("sqlite"):
        target = tmp_path / "beffroi.db"
        shutil.copy(engine_url.removeprefix("sqlite:///"), target)
        return f"sqlite:///{target}"
    store = open_store(engine_url)
    with store.engine.begin() as conn:
        tables = conn.execute(text(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            " AND relname NOT IN ('alembic_version', 'rollup_state')")).scalars().all()
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        conn.execute(text("UPDATE rollup_state SET hour_until_ms = NULL, pending_min_ms = NULL"))
    store.dispose()
    return engine_url


@pytest.fixture
def settings(db_url: str) -> Settings:
    return load_settings(database_url=db_url)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    services = build_services(settings)
    yield services
    services.store.dispose()


@pytest.fixture
def client(settings: Settings, services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(settings, services=services, background=False)) as c:
        yield c


@pytest.fixture
def territory(services: Services) -> str:
    services.registry.create_territory(
        TerritoryIn(code="testville", name="Testville", timezone="Europe/Paris")
    )
    return "testville"


def lamp(urn_id: str, lon: float = -1.55, lat: float = 47.21, territory: str = "testville",
         **extra: object) -> dict[str, object]:
    """The JSON of a Streetlight asset for the API."""
    return {
        "id": f"urn:ngsi-ld:Streetlight:{territory}:{urn_id}",
        "type": "Streetlight",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        **extra,
    }


@pytest.fixture
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, on the suite's engine (for migration tests)."""
    given: str | None = request.config.getoption("--dburl")
    if not given or given.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    with _scratch_database(given, f"beffroi_fresh_{os.getpid()}") as url:
        yield url
