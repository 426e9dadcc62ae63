"""Fixtures of the citizens tests: services on a frozen clock, the territory 'testville' with
a few lamps in Paris (its bounding box), an Open311 API key, and the application with the
control-room routes mounted (as the lead mounts them in app.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from beffroi.api.deps import Services
from beffroi.app import build_services, create_app
from beffroi.assets.models import AssetIn, TerritoryIn
from beffroi.settings import Settings, load_settings
from beffroi.timeutil import FrozenClock

PARIS = ZoneInfo("Europe/Paris")
TOWN = "testville"
DAY = 86_400_000
BASE = "/open311/v2"
# Personal data sent with the reports: none of these strings may come out again.
PERSONAL = {"first_name": "Zéphyrin", "last_name": "Quillebœuf",
            "email": "zephyrin.quilleboeuf@example.org", "phone": "+33 6 12 34 56 78",
            "device_id": "device-7f3a9c", "account_id": "acct-55821"}


def local(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=PARIS).timestamp() * 1000)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return load_settings(database_url=db_url, report_rate_per_hour=50,
                         citizen_contact_retention_days=30,
                         public_url="https://beffroi.example.org")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(local("2026-03-02 09:00"))


@pytest.fixture
def services(settings: Settings, clock: FrozenClock) -> Iterator[Services]:
    services = build_services(settings, clock=clock)
    services.registry.create_territory(TerritoryIn(
        code=TOWN, name="Testville", timezone="Europe/Paris", center=[2.35, 48.85]))
    for i, (lon, lat) in enumerate([(2.33, 48.84), (2.37, 48.87), (2.35, 48.85)]):
        services.registry.create_asset(TOWN, AssetIn(
            id=f"urn:ngsi-ld:Streetlight:{TOWN}:l{i}", type="Streetlight",
            geometry={"type": "Point", "coordinates": [lon, lat]}))
    yield services
    services.commands.stop()
    services.store.dispose()


@pytest.fixture
def territory(services: Services) -> str:
    return TOWN


@pytest.fixture
def app(settings: Settings, services: Services) -> FastAPI:
    return create_app(settings, services=services, background=False)


@pytest.fixture
def api_key(services: Services) -> str:
    return services.citizens.create_client("Test app").api_key


@pytest.fixture
def public(app: FastAPI) -> Iterator[TestClient]:
    """A client without credentials (Open311 is public)."""
    with TestClient(app) as c:
        yield c


def report(api_key: str, **extra: Any) -> dict[str, Any]:
    """The form of a lamp-out report near the lamps, with the author's personal data."""
    return {"api_key": api_key, "service_code": "lamp-out", "lat": "48.851",
            "long": "2.352", "description": "Le lampadaire devant le 12 est éteint.",
            **PERSONAL, **extra}
