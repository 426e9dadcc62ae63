"""Fixtures of the web UI tests: a small city in Paris (lamps, a cabinet, a traffic signal)
with readings, a rule that raises an alarm and opens an incident, users of each role, a real
uvicorn server on a free loopback port, and headless Chromium driven by Playwright.

Chromium is the Debian package (``/usr/bin/chromium``, or ``BEFFROI_CHROMIUM``); Playwright's
own download is never used. A missing browser fails the browser tests with a clear message:
nothing is skipped."""

from __future__ import annotations

import os
import random
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from fastapi import FastAPI

from beffroi.api.deps import Services
from beffroi.app import create_app
from beffroi.assets.models import AssetIn
from beffroi.auth.models import SYSTEM, GrantIn, Role, UserIn
from beffroi.ingest.service import Message
from beffroi.rules.definitions import parse_yaml
from beffroi.settings import Settings

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("BEFFROI_TEST_ARTIFACTS", REPO / "test-artifacts" / "web"))
CHROMIUM = os.environ.get("BEFFROI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "correct-horse-battery"
CODE = "testville"
H = 3_600_000

RULES = """
rules:
  - id: lamp-overpower
    name: {fr: "Lampe en surpuissance", en: "Lamp over power"}
    severity: major
    post: lighting
    incident: open
    category: lamp-out
    scope: {types: [Streetlight]}
    when: {kind: threshold, metric: activePower, op: ">", value: 100}
"""


def urn(kind: str, local: str) -> str:
    return f"urn:ngsi-ld:{kind}:{CODE}:{local}"


def feed(services: Services, readings: list[tuple[str, str, int, float | str]]) -> None:
    body = orjson.dumps({"readings": [
        {"asset": a, "metric": m, "ts": ts, "value": v} for a, m, ts, v in readings]})
    [outcome] = services.pipeline.process([Message(CODE, "readings", body)])
    assert outcome.error is None and not outcome.rejected, outcome.to_dict()


@dataclass
class City:
    code: str
    lamps: list[str]
    cabinet: str
    signal: str
    hot_lamp: str  # the lamp in alarm
    users: dict[str, str] = field(default_factory=dict)  # role → username


def build_city(services: Services, territory: str, n_lamps: int = 120) -> City:
    """Lamps spread over central Paris under one cabinet, a traffic signal, 48 hours of
    hourly readings, and a rule whose alarm (on one lamp) opens an incident."""
    rnd = random.Random(7)
    registry = services.registry
    cabinet = urn("StreetlightControlCabinet", "C1")
    registry.create_asset(territory, AssetIn.model_validate({
        "id": cabinet, "type": "StreetlightControlCabinet", "name": "Armoire C1",
        "geometry": {"type": "Point", "coordinates": [2.3400, 48.8600]}}))
    signal = urn("TrafficSignal", "S1")
    registry.create_asset(territory, AssetIn.model_validate({
        "id": signal, "type": "TrafficSignal", "name": "Carrefour S1",
        "geometry": {"type": "Point", "coordinates": [2.3500, 48.8530]}}))
    lamps = []
    for i in range(n_lamps):
        u = urn("Streetlight", f"L{i:03d}")
        registry.create_asset(territory, AssetIn.model_validate({
            "id": u, "type": "Streetlight", "name": f"Lampe {i:03d}", "parent": cabinet,
            "geometry": {"type": "Point", "coordinates": [2.30 + rnd.random() * 0.09,
                                                          48.84 + rnd.random() * 0.04]}}))
        lamps.append(u)
    now = services.clock()
    start = (now // H - 48) * H
    readings: list[tuple[str, str, int, float | str]] = []
    for i, lamp in enumerate(lamps[:20]):
        for h in range(48):
            readings.append((lamp, "activePower", start + h * H, 40.0 + (h % 12) * 2 + i % 3))
    for lamp in lamps[20:100]:
        readings.append((lamp, "powerState", now - 60_000, "on"))
    for lamp in lamps[100:105]:
        readings.append((lamp, "status", now - 60_000, "defectiveLamp"))
    for lamp in lamps[105:110]:
        readings.append((lamp, "powerState", now - 60_000, "off"))
    readings.append((signal, "status", now - 60_000, "operational"))
    feed(services, readings)
    services.operations.ensure_defaults(territory, SYSTEM)
    services.rules.load(territory, parse_yaml(RULES, "web-tests.yaml"), SYSTEM.actor)
    hot = lamps[3]
    feed(services, [(hot, "activePower", now - 30_000, 180.0)])
    users = {}
    for role in (Role.OPERATOR, Role.SUPERVISOR, Role.VIEWER, Role.FIELD_AGENT):
        name = role.value.replace("_", "-")
        services.auth.create_user(UserIn(username=name, password=PASSWORD), SYSTEM)
        posts = ["lighting", "traffic"] if role is Role.OPERATOR else []
        services.auth.set_grant(territory, name, GrantIn(role=role, posts=posts), SYSTEM)
        users[role.value] = name
    return City(territory, lamps, cabinet, signal, hot, users)


@pytest.fixture
def app(settings: Settings, services: Services) -> Iterator[FastAPI]:
    """The application on the test's services (no background worker); at the end, the map
    cache's background threads and the live stream's reads are waited for before the store is
    disposed of."""
    application = create_app(settings, services=services, background=False)
    yield application
    application.state.web.cache.close()
    application.state.web.hub.close()


@pytest.fixture
def city(services: Services, territory: str) -> City:
    return build_city(services, territory)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """uvicorn serving the app in a thread, on a free loopback port."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                ws="none", lifespan="on", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live(app: FastAPI, services: Services) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server
    services.commands.stop()


def launch_chromium(playwright: Any) -> Any:
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install the Debian package "
                    "(apt-get install -y chromium) or set BEFFROI_CHROMIUM")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Python Playwright is missing: pip install playwright "
                    "(the browser is the system's Chromium; never `playwright install`)")
    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    path = ARTIFACTS / request.node.name
    path.mkdir(parents=True, exist_ok=True)
    return path
