"""Fixtures of the indicators tests: services on a frozen clock, a territory in Europe/Paris,
and a rig that creates assets, feeds readings through the real pipeline and rolls them up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from beffroi.api.deps import Services
from beffroi.app import build_services
from beffroi.assets.models import AssetIn, TerritoryIn
from beffroi.auth.models import SYSTEM
from beffroi.indicators.definitions import parse_yaml
from beffroi.indicators.models import Value, Window
from beffroi.ingest.service import Message
from beffroi.settings import Settings
from beffroi.timeutil import FrozenClock

PARIS = ZoneInfo("Europe/Paris")
TOWN = "testville"
H = 3_600_000
MIN = 60_000


def local(text: str) -> int:
    """Epoch ms of a local Paris time such as '2026-01-05 10:00'."""
    return int(datetime.fromisoformat(text).replace(tzinfo=PARIS).timestamp() * 1000)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(local("2026-03-01 12:00"))


@pytest.fixture
def services(settings: Settings, clock: FrozenClock) -> Iterator[Services]:
    services = build_services(settings, clock=clock)
    services.registry.create_territory(TerritoryIn(
        code=TOWN, name="Testville", timezone="Europe/Paris", center=[2.35, 48.85]))
    yield services
    services.store.dispose()


class Rig:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.code = TOWN

    def asset(self, type_name: str, local_id: str, lon: float = 2.35, lat: float = 48.85,
              **extra: Any) -> str:
        urn = f"urn:ngsi-ld:{type_name}:{self.code}:{local_id}"
        self.services.registry.create_asset(self.code, AssetIn(
            id=urn, type=type_name, geometry={"type": "Point", "coordinates": [lon, lat]},
            **extra))
        return urn

    def feed(self, *readings: tuple[str, str, int, float | str]) -> None:
        body = orjson.dumps({"readings": [
            {"asset": a, "metric": m, "ts": ts, "value": v} for a, m, ts, v in readings]})
        [outcome] = self.services.pipeline.process([Message(self.code, "readings", body)])
        assert outcome.error is None and not outcome.rejected, outcome.to_dict()
        self.services.telemetry.materialise(self.services.clock())

    def define(self, text: str) -> None:
        known = {i.code for i in self.services.indicators.definitions(self.code)}
        self.services.indicators.load(self.code, parse_yaml(text, "test.yaml", known=known),
                                      origin="file", actor=SYSTEM.actor)

    def window(self, label: str) -> Window:
        return self.services.indicators.windows(self.code, "month", label=label)[0]

    def value(self, indicator: str, label: str) -> Value:
        [v] = self.services.indicators.compute(self.code, [self.window(label)], [indicator])
        return v


@pytest.fixture
def rig(services: Services) -> Rig:
    return Rig(services)
