"""Fixtures of the rules tests: services on a frozen clock, and small helpers to create assets,
feed readings through the real ingest pipeline and load rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from beffroi.api.deps import Services
from beffroi.app import build_services
from beffroi.assets.models import AssetIn
from beffroi.auth.models import SYSTEM
from beffroi.ingest.service import Message
from beffroi.rules.definitions import parse_yaml
from beffroi.rules.models import AlarmEvent
from beffroi.settings import Settings
from beffroi.timeutil import FrozenClock

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN = 60_000
H = 3_600_000


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def services(settings: Settings, clock: FrozenClock) -> Iterator[Services]:
    """The suite's services, on a clock that moves only when a test says so."""
    services = build_services(settings, clock=clock)
    yield services
    services.store.dispose()


@pytest.fixture
def events(services: Services) -> list[AlarmEvent]:
    """Every alarm event the listeners hear."""
    heard: list[AlarmEvent] = []
    services.rules.listeners.append(heard.extend)
    return heard


class Rig:
    def __init__(self, services: Services, code: str) -> None:
        self.services = services
        self.code = code

    def asset(self, type_name: str, local: str, lon: float = 2.35, lat: float = 48.85,
              parent: str | None = None, **extra: Any) -> str:
        urn = f"urn:ngsi-ld:{type_name}:{self.code}:{local}"
        self.services.registry.create_asset(self.code, AssetIn(
            id=urn, type=type_name, geometry={"type": "Point", "coordinates": [lon, lat]},
            parent=parent, **extra))
        return urn

    def feed(self, *readings: tuple[str, str, int, float | str]) -> None:
        body = orjson.dumps({"readings": [
            {"asset": a, "metric": m, "ts": ts, "value": v} for a, m, ts, v in readings]})
        [outcome] = self.services.pipeline.process([Message(self.code, "readings", body)])
        assert outcome.error is None and not outcome.rejected, outcome.to_dict()

    def rules(self, text: str) -> dict[str, list[str]]:
        return self.services.rules.load(self.code, parse_yaml(text, "test.yaml"), SYSTEM.actor)

    def alarms(self, **filters: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.services.rules.list_alarms(
            self.code, limit=1000, **filters)["items"]
        return items[::-1]  # oldest first


@pytest.fixture
def rig(services: Services, territory: str) -> Rig:
    return Rig(services, territory)
