"""``beffroi demo``: the whole platform in one command, on the embedded store.

1. a demo territory: the real Nantes public-lighting inventory (95,872 lamps, 3,255 cabinets,
   Nantes Métropole open data shipped in the package) plus simulated waste containers, car
   parks and spots, traffic counters, air, weather and water stations, public buildings and
   EV chargers placed around the city (``beffroi.simulator.placement``);
2. recent history backfilled by the simulator (``--days``, straight into the store through
   ``drivers.StoreSink``: the same idempotent write as the ingest path, checked in bulk);
3. the API served with uvicorn, and a live stream of simulated readings posted to it over HTTP
   (``--speed`` simulated seconds per real second), until Ctrl-C.

Running it again reuses the database and only backfills what is missing; ``--reset`` starts
from an empty one.
"""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from beffroi.app import build_services, create_app
from beffroi.assets import repository as repo
from beffroi.assets.importer import Importer, count_rows, load_mapping
from beffroi.assets.models import TerritoryIn
from beffroi.settings import load_settings
from beffroi.simulator import drivers, inventory, placement
from beffroi.simulator.engine import Simulator
from beffroi.simulator.models import DAY_MS, TICK_MS
from beffroi.store import migrate
from beffroi.timeutil import now_ms

TERRITORY = TerritoryIn(
    code="nantes", name="Nantes Métropole (démo)", timezone="Europe/Paris", locale="fr",
    center=(-1.5536, 47.2184),
)
# A synthetic station that reports every tick: its latest reading tells where history stops.
PROBE = ("urn:ngsi-ld:WeatherObserved:nantes:sim-0001", "temperature")
SERVER_START_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class DemoOptions:
    days: float = 7.0
    speed: float = 60.0
    seed: int = 42


def _data(name: str) -> bytes:
    raw = resources.files("beffroi.data").joinpath(name).read_bytes()
    return gzip.decompress(raw) if name.endswith(".gz") else raw


def _bar(err: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err)


def _advance(bar: Progress, task: TaskID, n: int) -> None:
    bar.advance(task, n)


def prepare(database: Path, *, reset: bool, err: Console, seed: int = 42) -> str:
    """Create (or reuse) the demo database with its assets; returns its URL."""
    if reset:
        for suffix in ("", "-wal", "-shm"):
            Path(str(database) + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{database.resolve()}"
    services = build_services(load_settings(database_url=url))
    try:
        migrate.upgrade(services.store)
        _territory, created = services.registry.ensure_territory(TERRITORY)
        if created:
            with _bar(err) as bar:
                for mapping_name, file in (
                    ("nantes-lamps", "nantes_lamps_by_cabinet.csv.gz"),
                    ("nantes-luminaires", "nantes_luminaires_sample.csv"),
                ):
                    mapping = load_mapping(mapping_name)
                    data = _data(file)
                    task = bar.add_task(mapping_name, total=count_rows(mapping, data))
                    Importer(services.registry, TERRITORY.code, mapping).run(
                        data, progress=partial(_advance, bar, task)
                    )
            placed = placement.place(services, TERRITORY.code, seed)
            err.print(f"{placed} simulated assets placed around the city.")
    finally:
        services.store.dispose()
    return url


def _history_end(services: Any) -> int | None:
    """Where the stored history stops (the probe station's latest reading), if anywhere."""
    body = services.telemetry.latest(TERRITORY.code, [PROBE[0]], repo.AssetFilter(), None, 10)
    for item in body["items"]:
        value = item["values"].get(PROBE[1])
        if value is not None:
            return int(datetime.fromisoformat(value["ts"].replace("Z", "+00:00")).timestamp()
                       * 1000)
    return None


def backfill(services: Any, options: DemoOptions, err: Console) -> Simulator:
    """Backfill the recent history that is missing; returns the simulator, at 'now'."""
    end = now_ms()
    start = end - int(options.days * DAY_MS)
    stored_until = _history_end(services)
    if stored_until is not None and stored_until > start:
        start = stored_until
    territory, assets = inventory.load(services, TERRITORY.code)
    sim = Simulator(territory, assets, seed=options.seed, start_ms=start)
    ticks = max(0, (end - sim.now_ms) // TICK_MS)
    if ticks == 0:
        return sim
    sink = drivers.StoreSink(services.telemetry, TERRITORY.code, sim.urns)
    with _bar(err) as bar:
        task = bar.add_task(f"history ({ticks * TICK_MS / DAY_MS:.1f} days)", total=ticks)
        report = drivers.backfill_store(sim, sink, end, progress=partial(_advance, bar, task))
    err.print(f"{report.readings:,} readings backfilled in {report.seconds:.0f} s "
              f"({report.rate:,.0f}/s).")
    with err.status("Materialising hourly and daily rollups…"):
        services.telemetry.materialise()
    return sim


@dataclass(frozen=True, slots=True)
class DemoAccess:
    """What the demo prints so that a person (and the test) can log in and call the API."""

    password: str  # of the demo accounts, new at every run
    api_token: str  # a superuser API token
    stream_token: str  # the live stream's device token


# The demo's people: an installation administrator, a supervisor of the whole centre, and an
# operator of the lighting and traffic posts (see docs/auth.md for the roles).
DEMO_USERS = (
    ("admin", "Administratrice de la démo", None, ()),
    ("superviseur", "Superviseur du centre", "supervisor", ()),
    ("operateur", "Opératrice éclairage et trafic", "operator", ("lighting", "traffic")),
)


def setup_operations(services: Any) -> DemoAccess:
    """The control centre of the demo: default control posts, routings, SLAs and crisis plans;
    the shipped rule set; the demo accounts (password renewed at every run) and tokens."""
    import secrets

    from beffroi.auth.models import SYSTEM, GrantIn, Role, TokenIn, UserIn, UserPatch
    from beffroi.errors import NotFound

    code = TERRITORY.code
    services.operations.ensure_defaults(code, SYSTEM)
    services.rules.install_defaults(code, SYSTEM.actor)
    services.indicators.install_defaults(code, SYSTEM.actor)
    example = Path(__file__).parent / "indicators" / "examples" / "lighting-contract.yaml"
    services.indicators.define_contract(code, None, SYSTEM.actor,
                                        text=example.read_text(encoding="utf-8"),
                                        file=example.name)
    password = secrets.token_urlsafe(9)
    for username, display, role, posts in DEMO_USERS:
        try:
            services.auth.get_user(username)
            services.auth.update_user(username, UserPatch(password=password), SYSTEM)
        except NotFound:
            services.auth.create_user(UserIn(username=username, password=password,
                                             display_name=display, superuser=role is None),
                                      SYSTEM)
        if role is not None:
            services.auth.set_grant(code, username, GrantIn(role=Role(role), posts=list(posts)),
                                    SYSTEM)
    for token in services.auth.list_tokens(code):  # the previous runs' stream tokens
        if token.name == "demo-stream" and not token.revoked:
            services.auth.revoke_token(token.id, SYSTEM, code)
    stream = services.auth.create_token(code, TokenIn(name="demo-stream", role=Role.DEVICE),
                                        SYSTEM).secret
    api = services.auth.create_token(None, None, SYSTEM, superuser_name="demo").secret
    return DemoAccess(password=password, api_token=api, stream_token=stream)


def _stream(sim: Simulator, server: Any, base_url: str, speed: float, stop: threading.Event,
            err: Console, token: str) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.started and not stop.is_set():
        if time.monotonic() > deadline:
            err.print("[red]The API did not start; no live stream.[/]")
            return
        stop.wait(0.05)
    if stop.is_set():
        return
    sink = drivers.HttpSink(base_url, TERRITORY.code, token=token)
    try:
        drivers.live(sim, sink, stop, speed=speed)
    finally:
        sink.close()


def run(database: Path, *, reset: bool, host: str, port: int, serve: bool, console: Console,
        err: Console, options: DemoOptions | None = None) -> None:
    options = options or DemoOptions()
    try:
        url = prepare(database, reset=reset, err=err, seed=options.seed)
        settings = load_settings(database_url=url, host=host, port=port)
        services = build_services(settings)
        sim = backfill(services, options, err)
        access = setup_operations(services)
    except KeyboardInterrupt:
        console.print("Interrupted; what was written so far is kept.")
        return
    console.print(f"Demo territory [bold]nantes[/] ready in {database}.")
    if not serve:
        services.store.dispose()
        return
    import uvicorn

    app = create_app(settings, services=services)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    stop = threading.Event()
    streamer = threading.Thread(
        target=_stream,
        args=(sim, server, f"http://{local}:{port}", options.speed, stop, err,
              access.stream_token),
        name="demo-live", daemon=True,
    )
    streamer.start()
    console.print(f"Open http://{local}:{port}/ (the control room; the API explorer is at "
                  f"/docs) — simulated time runs {options.speed:g}× real time — Ctrl-C to stop.",
                  soft_wrap=True)
    users = ", ".join(u[0] for u in DEMO_USERS)
    console.print(f"Log in as {users} with the password {access.password} (new at every run).",
                  soft_wrap=True)
    console.print(f"API token of this demo (superuser): {access.api_token}", soft_wrap=True)
    console.print(f"Indicators: `beffroi --database-url {services.settings.database_url} kpi "
                  f"list -t {TERRITORY.code}`; the example contract's "
                  f"report (once logged in): http://{local}:{port}/api/v1/territories/"
                  f"{TERRITORY.code}/contracts/performance-eclairage/report?format=html",
                  soft_wrap=True)
    console.print(f"For residents (no account): http://{local}:{port}/public/{TERRITORY.code} "
                  f"(real-time information), /public/{TERRITORY.code}/report (report a "
                  f"problem); open data: http://{local}:{port}/open-data/{TERRITORY.code}; "
                  f"Open311: http://{local}:{port}/open311/v2/discovery.json", soft_wrap=True)
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises SIGINT once it has shut down cleanly
        pass
    finally:
        stop.set()
        streamer.join(timeout=30)
        services.store.dispose()
    console.print("Demo stopped.")
