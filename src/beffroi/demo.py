"""``beffroi demo``: a territory with real data on the embedded store, served in one command.

Today: the Nantes public-lighting inventory (95,872 lamps, 3,255 cabinets, real Nantes
Métropole open data shipped in the package) in a local SQLite file, and the API. The simulated
city (live readings for every domain) arrives with the simulator.
"""

from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from beffroi.app import build_services, create_app
from beffroi.assets.importer import Importer, count_rows, load_mapping
from beffroi.assets.models import TerritoryIn
from beffroi.settings import load_settings
from beffroi.store import migrate

TERRITORY = TerritoryIn(
    code="nantes", name="Nantes Métropole (démo)", timezone="Europe/Paris", locale="fr",
    center=(-1.5536, 47.2184),
)


def _data(name: str) -> bytes:
    raw = resources.files("beffroi.data").joinpath(name).read_bytes()
    return gzip.decompress(raw) if name.endswith(".gz") else raw


def prepare(database: Path, *, reset: bool, err: Console) -> str:
    """Create (or reuse) the demo database; returns its URL."""
    if reset:
        for suffix in ("", "-wal", "-shm"):
            Path(str(database) + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{database.resolve()}"
    services = build_services(load_settings(database_url=url))
    migrate.upgrade(services.store)
    _territory, created = services.registry.ensure_territory(TERRITORY)
    if created:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      console=err) as bar:
            for mapping_name, file in (
                ("nantes-lamps", "nantes_lamps_by_cabinet.csv.gz"),
                ("nantes-luminaires", "nantes_luminaires_sample.csv"),
            ):
                mapping = load_mapping(mapping_name)
                data = _data(file)
                task = bar.add_task(mapping_name, total=count_rows(mapping, data))
                Importer(services.registry, TERRITORY.code, mapping).run(
                    data, progress=lambda n, t=task: bar.advance(t, n)
                )
    services.store.dispose()
    return url


def run(database: Path, *, reset: bool, host: str, port: int, serve: bool, console: Console,
        err: Console) -> None:
    url = prepare(database, reset=reset, err=err)
    console.print(f"Demo territory [bold]nantes[/] ready in {database}.")
    if not serve:
        return
    import uvicorn

    settings = load_settings(database_url=url, host=host, port=port)
    app = create_app(settings)
    console.print(f"Open http://{host}:{port}/docs  (API: http://{host}:{port}/api/v1/"
                  "territories/nantes/assets) — Ctrl-C to stop.")
    uvicorn.run(app, host=host, port=port, log_level="warning")
    console.print("Demo stopped.")
