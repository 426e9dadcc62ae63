"""Fixtures of the open-data tests: services on a frozen clock, a territory with equipment of
several domains, rollups written directly (exact expected rows), and a public client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from beffroi.api.deps import Services
from beffroi.app import build_services, create_app
from beffroi.assets.models import AssetIn, TerritoryIn
from beffroi.settings import Settings
from beffroi.timeutil import FrozenClock

PARIS = ZoneInfo("Europe/Paris")
TOWN = "odville"
H = 3_600_000


def local(value: str) -> int:
    return int(datetime.fromisoformat(value).replace(tzinfo=PARIS).timestamp() * 1000)


def urn(type_name: str, local_id: str) -> str:
    return f"urn:ngsi-ld:{type_name}:{TOWN}:{local_id}"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(local("2026-03-01 12:00"))


@pytest.fixture
def services(settings: Settings, clock: FrozenClock) -> Iterator[Services]:
    services = build_services(settings, clock=clock)
    services.registry.create_territory(TerritoryIn(
        code=TOWN, name="Odville", timezone="Europe/Paris", center=[2.35, 48.85]))
    yield services
    services.store.dispose()


@pytest.fixture
def client(settings: Settings, services: Services) -> Iterator[TestClient]:
    """An anonymous client: the open-data routes are public."""
    with TestClient(create_app(settings, services=services, background=False)) as c:
        yield c


class Rig:
    def __init__(self, services: Services) -> None:
        self.services = services

    def asset(self, type_name: str, local_id: str, lon: float = 2.35, lat: float = 48.85,
              **extra: Any) -> str:
        u = urn(type_name, local_id)
        self.services.registry.create_asset(TOWN, AssetIn(
            id=u, type=type_name, geometry={"type": "Point", "coordinates": [lon, lat]},
            **extra))
        return u

    def series(self, asset: str, metric: str) -> int:
        found, unknown = self.services.telemetry.resolve_series(TOWN, [(asset, metric)])
        assert not unknown, unknown
        return found[(asset, metric)].id

    def rollups(self, table: str, rows: list[tuple[int, int, int, float, float, float]]) -> None:
        """(series id, bucket start ms, n, min, max, sum) rows written as materialised."""
        with self.services.store.write() as conn:
            conn.execute(text(
                f"INSERT INTO {table} (series_id, bucket_ms, n, vmin, vmax, vsum, last_value, "
                "last_text, last_ts_ms) VALUES (:s, :b, :n, :lo, :hi, :sum, :hi, NULL, :b)"),
                [{"s": s, "b": b, "n": n, "lo": lo, "hi": hi, "sum": sm}
                 for s, b, n, lo, hi, sm in rows])
            conn.execute(text("UPDATE rollup_state SET hour_until_ms = :u WHERE id = 1"),
                         {"u": local("2026-03-01 12:00")})


@pytest.fixture
def rig(services: Services) -> Rig:
    return Rig(services)
