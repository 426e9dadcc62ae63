"""The ``beffroi`` command line (typer). Each command builds settings once and calls services."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from beffroi import __version__
from beffroi.errors import BeffroiError
from beffroi.settings import Settings, load_settings

app = typer.Typer(
    help="Beffroi: the urban hypervision platform a territory owns.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema: create, migrate, inspect.", no_args_is_help=True)
territory_app = typer.Typer(help="Territories (tenants): create and list.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(territory_app, name="territory")

console = Console()
err = Console(stderr=True)


class State:
    config: Path | None = None
    database_url: str | None = None

    def settings(self) -> Settings:
        return load_settings(self.config, database_url=self.database_url)


state = State()


@app.callback()
def _root(
    config: Annotated[Path | None, typer.Option(help="TOML settings file.")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Database URL (overrides BEFFROI_DATABASE_URL).")
    ] = None,
) -> None:
    state.config = config
    state.database_url = database_url


def _services(upgrade: bool = True) -> Any:
    from beffroi.app import build_services
    from beffroi.store import migrate

    settings = state.settings()
    services = build_services(settings)
    if upgrade:
        migrate.upgrade(services.store)
    return services


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"beffroi {__version__}")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the schema to the latest version."""
    from beffroi.store import migrate, open_store

    settings = state.settings()
    store = open_store(settings.database_url)
    before, after = migrate.upgrade(store, revision)
    if before == after:
        console.print(f"Schema already at revision {after} ({store.dialect}).")
    else:
        console.print(f"Schema migrated from {before or 'empty'} to {after} ({store.dialect}).")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and the latest one."""
    from beffroi.store import migrate, open_store

    store = open_store(state.settings().database_url)
    console.print(f"database: {migrate.current_revision(store) or 'empty'}; "
                  f"latest: {migrate.head_revision()}")


@territory_app.command("create")
def territory_create(
    code: str,
    name: Annotated[str, typer.Option(help="Display name.")],
    timezone: Annotated[str, typer.Option(help="IANA time zone.")] = "Europe/Paris",
    locale: Annotated[str, typer.Option(help="fr or en.")] = "fr",
) -> None:
    """Create a territory (a collectivity; the tenant every asset belongs to)."""
    from beffroi.assets.models import TerritoryIn

    services = _services()
    territory = services.registry.create_territory(
        TerritoryIn(code=code, name=name, timezone=timezone, locale=locale)
    )
    console.print(f"Territory [bold]{territory.code}[/] created ({territory.timezone}).")


@territory_app.command("list")
def territory_list() -> None:
    """List territories."""
    services = _services()
    table = Table("code", "name", "time zone", "locale")
    cursor = None
    while True:
        page = services.registry.list_territories(cursor, 1000)
        for t in page.items:
            table.add_row(t.code, t.name, t.timezone, t.locale)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    console.print(table)


@app.command("import")
def import_(
    mapping: Annotated[str, typer.Argument(help="Shipped mapping name or a .toml file.")],
    file: Annotated[Path, typer.Argument(help="CSV or GeoJSON file to import.", exists=True,
                                         dir_okay=False)],
    territory: Annotated[str, typer.Option("--territory", "-t", help="Territory code.")],
    create: Annotated[bool, typer.Option(help="Create the territory if missing.")] = True,
    problems: Annotated[int, typer.Option(help="How many problems to print.")] = 20,
) -> None:
    """Import an inventory (and its readings) from CSV or GeoJSON with a column mapping."""
    from beffroi.assets.importer import Importer, count_rows, load_mapping
    from beffroi.assets.models import TerritoryIn
    from beffroi.store.schema import import_runs
    from beffroi.timeutil import now_ms

    spec = load_mapping(mapping)
    services = _services()
    if create:
        services.registry.ensure_territory(TerritoryIn(code=territory, name=territory.title()))

    def sink(readings: list[dict[str, Any]]) -> tuple[int, int, list[tuple[int, str, str]]]:
        rep = services.telemetry.ingest_readings(territory, readings)
        return rep.received, rep.stored, [(r.index, r.field, r.reason) for r in rep.rejections]

    data = file.read_bytes()
    started = now_ms()
    importer = Importer(services.registry, territory, spec, sink)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=err, transient=False,
    ) as bar:
        task = bar.add_task(f"{spec.name}", total=count_rows(spec, data))
        report = importer.run(data, progress=lambda n: bar.advance(task, n))
    if report.readings:
        services.telemetry.materialise()
    with services.store.write() as conn:
        conn.execute(import_runs.insert().values(
            territory_id=importer.territory_id, mapping=spec.name, source=str(file),
            started_ms=started, finished_ms=now_ms(), counts=report.counts(),
            problems=[p.to_dict() for p in report.problems[:100]],
        ))
    console.print(
        f"{report.rows} rows: {report.created} assets created, {report.updated} updated, "
        f"{report.unchanged} unchanged"
        + (f", {report.matched_by_location} matched by location" if report.matched_by_location
           else "")
        + (f"; {report.readings} readings ({report.readings_stored} stored, "
           f"{report.readings_duplicate} already stored)" if report.readings else "")
        + f"; {report.bad_rows} bad rows."
    )
    for column, n in report.empty_values.items():
        console.print(f"  {n} empty cells in column {column!r} (missing measurements, skipped)")
    for p in report.problems[:problems]:
        console.print(f"  line {p.line}: {p.field}: {p.reason}", style="yellow", markup=False)
    if report.problem_count > problems:
        console.print(f"  … and {report.problem_count - problems} more problems")


@app.command("mappings")
def mappings() -> None:
    """List the import mappings shipped with Beffroi."""
    from beffroi.assets.importer import shipped_mappings

    table = Table("mapping", "description")
    for name, description in shipped_mappings().items():
        table.add_row(name, description)
    console.print(table)


@app.command()
def rollups() -> None:
    """Materialise hourly and daily rollups now (the server also does it periodically)."""
    services = _services()
    report = services.telemetry.materialise()
    console.print(f"{report.hours_advanced} hours advanced, {report.dirty_buckets} late buckets "
                  f"recomputed, {report.days} day rollups written.")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
) -> None:
    """Start the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from beffroi.app import create_app

    services = _services()
    settings = services.settings
    app_ = create_app(settings, services=services)
    host = host or settings.host
    port = port or settings.port
    console.print(f"Beffroi API on http://{host}:{port}/docs")
    uvicorn.run(app_, host=host, port=port, log_level=settings.log_level.lower())


@app.command()
def demo(
    reset: Annotated[bool, typer.Option(help="Start from an empty demo database.")] = False,
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 8000,
    database: Annotated[Path, typer.Option(help="SQLite file of the demo.")] = Path(
        "beffroi-demo.db"
    ),
    serve_: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the API.")] = True,
) -> None:
    """Create the demo territory (real Nantes lighting inventory) and serve it."""
    from beffroi import demo as demo_mod

    demo_mod.run(database, reset=reset, host=host, port=port, serve=serve_, console=console,
                 err=err)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    try:
        app()
    except BeffroiError as exc:
        err.print(f"[red]error:[/] {exc.message}", markup=True)
        for d in exc.details:
            err.print(f"  {d}", markup=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
