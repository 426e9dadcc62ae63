"""Test fixtures. One suite, two engines: SQLite by default, PostgreSQL with

    pytest --dburl postgresql://postgres@127.0.0.1:5432/postgres

(a scratch database ``beffroi_test_<pid>`` is created beside the given one and dropped at the
end). Every test gets an empty, migrated store.

The suite may run in parallel (pytest-xdist, ``-n 2``) and both engines' runs may run at the
same time: each worker process has its own scratch database (its pid) or its own SQLite files
(its own temporary folder); servers listen on free ports; the MQTT tests use territory codes,
client ids and subscription groups of their own on the shared broker. Tests marked ``long``
(tens of seconds) are run first, so that the workers finish together.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from beffroi.api.deps import Services
from beffroi.app import build_services, create_app
from beffroi.assets.models import TerritoryIn
from beffroi.assets.types import CONTROL_POSTS
from beffroi.auth.models import SYSTEM, Role, TokenIn
from beffroi.settings import Settings, load_settings
from beffroi.store import migrate, open_store
from beffroi.store.engine import normalise_url

REPO = Path(__file__).resolve().parent.parent

# The CLI's rich consoles are created at import and keep the width of COLUMNS if it is set
# then (pytest-xdist workers start with COLUMNS=80): the CLI tests give their own width to
# each command (CliRunner's env), which only works when none was fixed at import.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "long: runs for tens of seconds; run first so that parallel workers "
                   "(pytest -n) finish together")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests first (a stable sort: the order is the same in every xdist worker)."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


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
    services.commands.stop()  # a test that sent commands opened an MQTT link
    services.store.dispose()


@pytest.fixture
def app(settings: Settings, services: Services) -> FastAPI:
    """The application on the test's services (no background worker)."""
    return create_app(settings, services=services, background=False)


@pytest.fixture
def admin_token(services: Services) -> str:
    """The secret of a superuser API token (an administrator of every territory)."""
    return services.auth.create_token(None, None, SYSTEM, superuser_name="tests").secret


@pytest.fixture
def client(app: FastAPI, admin_token: str) -> Iterator[TestClient]:
    """A client authenticated as a superuser (``Authorization: Bearer`` on every request)."""
    with TestClient(app, headers={"Authorization": f"Bearer {admin_token}"}) as c:
        yield c


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    """A client without credentials (public routes; 401 elsewhere)."""
    with TestClient(app) as c:
        yield c


RoleClient = Callable[..., TestClient]


@pytest.fixture
def token_for(services: Services) -> Callable[..., str]:
    """``token_for(role, territory="testville", posts=None) -> secret``: an API token with
    that role (a :class:`beffroi.auth.models.Role` or its value) in an existing territory.
    An operator without ``posts`` gets every control post."""

    def make(role: Role | str, territory: str = "testville",
             posts: Iterable[str] | None = None) -> str:
        role = Role(role)
        if posts is None:
            posts = CONTROL_POSTS if role is Role.OPERATOR else ()
        data = TokenIn(name=f"{role.value}-{territory}", role=role, posts=list(posts))
        return services.auth.create_token(territory, data, SYSTEM).secret

    return make


@pytest.fixture
def as_role(app: FastAPI, token_for: Callable[..., str]) -> Iterator[RoleClient]:
    """``as_role(role, territory="testville", posts=None) -> TestClient``: a client that
    authenticates with a fresh API token of that role in that (existing) territory, e.g.

        def test_viewer_cannot_create(territory, as_role):
            assert as_role(Role.VIEWER).post("/api/v1/territories/testville/assets",
                                             json=lamp("1")).status_code == 403

    ``posts`` are the control posts of an operator (default: all of them)."""
    clients: list[TestClient] = []

    def make(role: Role | str, territory: str = "testville",
             posts: Iterable[str] | None = None) -> TestClient:
        secret = token_for(role, territory, posts)
        c = TestClient(app, headers={"Authorization": f"Bearer {secret}"})
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


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
