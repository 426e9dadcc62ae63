"""Fixtures of the command tests: services on a frozen clock, a territory of their own (unique
code: other tests share the broker), its lighting, traffic and parking assets, and a simulated
device fleet on the real Mosquitto (127.0.0.1:1883)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from beffroi.api.deps import Services
from beffroi.app import build_services
from beffroi.assets.models import AssetIn, TerritoryIn
from beffroi.commands.device_sim import DeviceOptions, DeviceSimulator
from beffroi.commands.models import BatchOut, State
from beffroi.commands.mqtt import LinkOptions
from beffroi.settings import Settings
from beffroi.timeutil import FrozenClock, now_ms

BROKER = ("127.0.0.1", 1883)


def _broker_up() -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(BROKER) == 0


BROKER_UP = _broker_up()
# Skipped on a developer's machine without a broker; in CI (CI set) they run, and fail.
needs_broker = pytest.mark.skipif(not BROKER_UP and not os.environ.get("CI"),
                                  reason="no MQTT broker on 127.0.0.1:1883 (start mosquitto)")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(now_ms())


@pytest.fixture
def services(settings: Settings, clock: FrozenClock) -> Iterator[Services]:
    """The suite's services on a frozen clock; the command link is stopped at the end."""
    services = build_services(settings, clock=clock)
    yield services
    services.commands.stop()
    services.store.dispose()


@pytest.fixture
def code(services: Services) -> str:
    """A territory of this test only; the command link listens to its acknowledgements."""
    code = f"cmd-{uuid.uuid4().hex[:10]}"
    services.registry.create_territory(TerritoryIn(code=code, name="Commandville",
                                                   timezone="Europe/Paris"))
    services.commands.link_options = LinkOptions(host=BROKER[0], port=BROKER[1],
                                                 territories=(code,))
    return code


def urn(code: str, kind: str, local: str) -> str:
    return f"urn:ngsi-ld:{kind}:{code}:{local}"


def add(services: Services, code: str, kind: str, local: str, lon: float = -1.55,
        lat: float = 47.21, **extra: Any) -> str:
    u = urn(code, kind, local)
    services.registry.create_asset(code, AssetIn.model_validate({
        "id": u, "type": kind, "geometry": {"type": "Point", "coordinates": [lon, lat]},
        **extra}))
    return u


@pytest.fixture
def fleet(services: Services, code: str) -> dict[str, Any]:
    """A cabinet with three lamps (two west, one east of -1.55), a lone lamp, a traffic signal
    and a car park."""
    cabinet = add(services, code, "StreetlightControlCabinet", "C1")
    lamps = [add(services, code, "Streetlight", f"L{i}", lon, 47.21, parent=cabinet)
             for i, lon in enumerate((-1.560, -1.559, -1.540), start=1)]
    lone = add(services, code, "Streetlight", "L9", -1.561, 47.211)
    signal = add(services, code, "TrafficSignal", "S1")
    park = add(services, code, "OffStreetParking", "P1")
    return {"cabinet": cabinet, "lamps": lamps, "lone": lone, "signal": signal, "park": park}


@pytest.fixture
def device(code: str, clock: FrozenClock) -> Iterator[Callable[..., DeviceSimulator]]:
    """Start a simulated device fleet of the territory (every asset unless ``urns``)."""
    started: list[DeviceSimulator] = []

    def start(*urns: str, **options: Any) -> DeviceSimulator:
        sim = DeviceSimulator(code, urns, DeviceOptions(host=BROKER[0], port=BROKER[1],
                                                        **options), clock=clock)
        sim.start()
        started.append(sim)
        assert sim.subscribed.wait(10), "the simulated device did not subscribe"
        return sim

    yield start
    for sim in started:
        sim.stop()


def wait_final(services: Services, code: str, batch: BatchOut, timeout: float = 30.0
               ) -> BatchOut:
    """The batch once none of its commands is pending or sent any more."""
    deadline = time.monotonic() + timeout
    while True:
        current = services.commands.batch(code, batch.batch_id)
        if not {State.PENDING.value, State.SENT.value} & current.states.keys():
            return current
        assert time.monotonic() < deadline, f"still open: {current.states}"
        time.sleep(0.05)


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
