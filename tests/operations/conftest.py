"""Fixtures of the operations tests: services on a frozen clock, a territory, principals
(every service call names who acts: no silent superuser)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from beffroi.api.deps import Services
from beffroi.app import build_services
from beffroi.assets.models import AssetIn, TerritoryIn
from beffroi.auth.models import Grant, Principal, Role
from beffroi.operations.service import Operations
from beffroi.rules.models import AlarmEvent
from beffroi.settings import Settings
from beffroi.timeutil import FrozenClock

T0 = 1_765_000_000_000  # 2025-12-06T05:46:40Z
TOWN = "testville"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def frozen(settings: Settings, clock: FrozenClock) -> Iterator[Services]:
    services = build_services(settings, clock=clock)
    services.registry.create_territory(TerritoryIn(code=TOWN, name="Testville"))
    yield services
    services.commands.stop()  # the MQTT link a crisis plan's commands opened
    services.store.dispose()


@pytest.fixture
def ops(frozen: Services) -> Operations:
    return frozen.operations


def user(name: str, role: Role, *posts: str, territory: str = TOWN) -> Principal:
    return Principal(kind="user", name=name,
                     grants={territory: Grant(role=role, posts=frozenset(posts))})


SUE = user("sue", Role.SUPERVISOR)  # the usual actor: every control post of the town
ROOT = Principal(kind="user", name="root", superuser=True)  # every territory, existing or not


def point(type_name: str, local: str, parent: str | None = None) -> AssetIn:
    return AssetIn(id=f"urn:ngsi-ld:{type_name}:{TOWN}:{local}", type=type_name,
                   geometry={"type": "Point", "coordinates": [5.04, 47.32]}, parent=parent)


def alarm(alarm_id: int, at_ms: int, *, change: str = "raised", rule: str = "lamp-out",
          asset: str | None = None, category: str | None = "lamp-out",
          post: str | None = "lighting", incident: str = "open",
          territory: str = TOWN) -> AlarmEvent:
    return AlarmEvent(territory=territory, alarm_id=alarm_id, rule_id=rule,
                      change=change,  # type: ignore[arg-type]
                      severity="major", asset_urn=asset, post=post, incident=incident,
                      category=category, at_ms=at_ms, message=f"alarm {alarm_id}")
