"""The ``beffroi`` command line (typer). Each command builds settings once and calls services."""

from __future__ import annotations

import logging
import sys
from contextlib import suppress
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from beffroi import __version__, cli_common
from beffroi.errors import BeffroiError

app = typer.Typer(
    help="Beffroi: the urban hypervision platform a territory owns.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold database passwords
)
db_app = typer.Typer(help="Database schema: create, migrate, inspect.", no_args_is_help=True)
territory_app = typer.Typer(help="Territories (tenants): create and list.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(territory_app, name="territory")
dead_app = typer.Typer(help="Rejected ingest input: list, count per reason, replay.",
                       no_args_is_help=True)
app.add_typer(dead_app, name="dead-letters")
mqtt_app = typer.Typer(help="MQTT accounts of devices, gateways and workers; Mosquitto files.",
                       no_args_is_help=True)
app.add_typer(mqtt_app, name="mqtt-user")
# The operations packages keep their commands beside their code.
from beffroi.auth import cli as auth_cli  # noqa: E402
from beffroi.citizens import cli as citizens_cli  # noqa: E402
from beffroi.citizens import dansmarue_cli  # noqa: E402
from beffroi.commands import cli as commands_cli  # noqa: E402
from beffroi.indicators import cli as indicators_cli  # noqa: E402
from beffroi.indicators import footprint_cli  # noqa: E402
from beffroi.opendata import cli as opendata_cli  # noqa: E402
from beffroi.operations import cli as operations_cli  # noqa: E402
from beffroi.rules import cli as rules_cli  # noqa: E402

auth_cli.register(app)
rules_cli.register(app)
operations_cli.register(app)
commands_cli.register(app)
indicators_cli.register(app)
footprint_cli.register(app)
citizens_cli.register(app)
dansmarue_cli.register(app)
opendata_cli.register(app)

console, err, state = cli_common.console, cli_common.err, cli_common.state
_services, _store = cli_common.services, cli_common.store


@app.callback()
def _root(
    config: Annotated[Path | None, typer.Option(help="TOML settings file.")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Database URL (overrides BEFFROI_DATABASE_URL).")
    ] = None,
) -> None:
    state.config = config
    state.database_url = database_url


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"beffroi {__version__}")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the schema to the latest version."""
    from beffroi.store import migrate

    ahead = state.settings().partitions_ahead_months
    with _store() as store:
        before, after = migrate.upgrade(store, revision, ahead_months=ahead)
        if before == after:
            console.print(f"Schema already at revision {after} ({store.dialect}).")
        else:
            console.print(
                f"Schema migrated from {before or 'empty'} to {after} ({store.dialect})."
            )


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and the latest one."""
    from beffroi.store import migrate

    with _store() as store:
        console.print(f"database: {migrate.current_revision(store) or 'empty'}; "
                      f"latest: {migrate.head_revision()}")


@territory_app.command("create")
def territory_create(
    code: str,
    name: Annotated[str, typer.Option(help="Display name.")],
    timezone: Annotated[str | None, typer.Option(
        help="IANA time zone (default: the timezone setting, Europe/Paris).")] = None,
    locale: Annotated[str, typer.Option(help="fr or en.")] = "fr",
) -> None:
    """Create a territory (a collectivity; the tenant every asset belongs to)."""
    from beffroi.assets.models import TerritoryIn

    zone = {"timezone": timezone} if timezone else {}
    with _services() as services:
        territory = services.registry.create_territory(
            TerritoryIn(code=code, name=name, locale=locale, **zone)
        )
    console.print(f"Territory [bold]{territory.code}[/] created ({territory.timezone}).")


@territory_app.command("list")
def territory_list() -> None:
    """List territories."""
    table = Table("code", "name", "time zone", "locale")
    cursor = None
    with _services() as services:
        while True:
            page = services.registry.list_territories(cursor, 1000)
            for t in page.items:
                table.add_row(t.code, t.name, t.timezone, t.locale)
            if not page.next_cursor:
                break
            cursor = page.next_cursor
    console.print(table)


def _import(services: Any, spec: Any, file: Path, territory: str, create: bool,
            timezone: str | None) -> Any:
    from beffroi.assets.importer import Importer, count_rows
    from beffroi.assets.models import TerritoryIn
    from beffroi.store.schema import import_runs
    from beffroi.timeutil import now_ms

    if create:
        zone = {"timezone": timezone} if timezone else {}
        services.registry.ensure_territory(
            TerritoryIn(code=territory, name=territory.title(), **zone))

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
        services.audit.record(conn, territory_id=importer.territory_id,
                              actor=cli_common.cli_actor().actor, action="asset.import",
                              target=f"import:{spec.name}",
                              after={"source": file.name, "counts": report.counts()})
    return report


@app.command("import")
def import_(
    mapping: Annotated[str, typer.Argument(help="Shipped mapping name or a .toml file.")],
    file: Annotated[Path, typer.Argument(help="CSV or GeoJSON file to import.", exists=True,
                                         dir_okay=False)],
    territory: Annotated[str, typer.Option("--territory", "-t", help="Territory code.")],
    create: Annotated[bool, typer.Option(help="Create the territory if missing.")] = True,
    timezone: Annotated[str | None, typer.Option(
        help="Time zone of a territory created by this import (default: the timezone "
             "setting).")] = None,
    problems: Annotated[int, typer.Option(help="How many problems to print.")] = 20,
) -> None:
    """Import an inventory (and its readings) from CSV or GeoJSON with a column mapping."""
    from beffroi.assets.importer import load_mapping

    spec = load_mapping(mapping)
    with _services() as services:
        report = _import(services, spec, file, territory, create, timezone)
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
def worker(
    worker_id: Annotated[str, typer.Option("--id", help="This worker's name (its MQTT "
                                           "session: keep it across restarts).")] = "1",
    group: Annotated[str, typer.Option(help="Shared-subscription group of the workers.")] = (
        "beffroi"),
    batch: Annotated[int, typer.Option(min=1, help="Messages written per transaction.")] = 1000,
    session_expiry: Annotated[int, typer.Option(
        min=0, help="Seconds the broker keeps this worker's messages while it is down.")] = (
        7 * 24 * 3600),
    metrics_port: Annotated[int | None, typer.Option(
        help="Serve Prometheus metrics on this port (127.0.0.1).")] = None,
) -> None:
    """Ingest from the MQTT broker (shared subscription; run several to scale out)."""
    import signal

    from beffroi.ingest.mqtt import MqttOptions, MqttWorker

    with _services() as services:
        settings = services.settings
        options = MqttOptions(
            host=settings.mqtt_host, port=settings.mqtt_port, username=settings.mqtt_username,
            password=settings.mqtt_password, client_id=f"beffroi-worker-{worker_id}",
            group=group, batch_messages=batch, session_expiry_s=session_expiry,
        )
        from beffroi import logs

        logs.configure(settings.log_level, settings.log_format)
        runner = MqttWorker(services.pipeline, options)
        if metrics_port:
            from prometheus_client import start_http_server

            start_http_server(metrics_port, addr="127.0.0.1",
                              registry=services.pipeline.metrics.registry)
        signal.signal(signal.SIGTERM, lambda *_: runner.stop())
        console.print(f"Worker {worker_id} on mqtt://{options.host}:{options.port} "
                      f"(group {group!r}) — Ctrl-C to stop.")
        services.commands.start()  # acks of commands are heard here too
        try:
            runner.run()
        except KeyboardInterrupt:
            runner.stop()
        finally:
            services.commands.stop()
        console.print(f"Worker {worker_id} stopped after {runner.processed:,} messages.")


@dead_app.command("counts")
def dead_letter_counts(territory: Annotated[str, typer.Option("--territory", "-t")]) -> None:
    """Dead letters per reason."""
    table = Table("reason", "count", "replayed", "last")
    with _services() as services:
        for row in services.pipeline.dead_letter_counts(territory):
            table.add_row(row["reason"], str(row["count"]), str(row["replayed"]), row["last"])
    console.print(table)


@dead_app.command("list")
def dead_letter_list(
    territory: Annotated[str, typer.Option("--territory", "-t")],
    reason: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    pending: Annotated[bool, typer.Option(help="Only those not replayed.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List dead letters, oldest first, with their reason and payload."""
    table = Table("id", "received", "source", "reason", "field", "why", "payload")
    with _services() as services:
        items, _ = services.pipeline.dead_letters(territory, reason, 0, limit, pending)
    for d in items:
        payload = d["payload"] if d["payload"] is not None else "(binary)"
        table.add_row(str(d["id"]), d["received"], d["source"], d["reason_code"], d["field"],
                      d["reason"], payload[:80])
    console.print(table)


@dead_app.command("replay")
def dead_letter_replay(
    territory: Annotated[str, typer.Option("--territory", "-t")],
    ids: Annotated[list[int] | None, typer.Argument(help="Dead letter ids.")] = None,
    reason: Annotated[str | None, typer.Option(
        help="Replay every pending dead letter of this reason.")] = None,
) -> None:
    """Run dead letters through the pipeline again, after a fix."""
    done = failed = 0
    with _services() as services:
        todo = list(ids or [])
        if reason:
            cursor = 0
            while True:
                items, nxt = services.pipeline.dead_letters(territory, reason, cursor, 1000, True)
                todo.extend(d["id"] for d in items)
                if nxt is None:
                    break
                cursor = nxt
        for letter_id in todo:
            result = services.pipeline.replay(territory, letter_id)
            if result["replayed"]:
                done += 1
            else:
                failed += 1
                console.print(f"  {letter_id}: {result['problem']['field']}: "
                              f"{result['problem']['reason']}", markup=False)
    console.print(f"{done} replayed, {failed} still rejected.")


@mqtt_app.command("add")
def mqtt_user_add(
    username: str,
    territory: Annotated[str | None, typer.Option("--territory", "-t", help=(
        "Territory a device or gateway publishes for."))] = None,
    role: Annotated[str, typer.Option(help="device, gateway or worker.")] = "device",
) -> None:
    """Create an MQTT account and print its password (shown once)."""
    from beffroi.ingest.credentials import MqttAccounts

    with _services() as services:
        if territory:
            services.registry.territory_id(territory)  # it must exist
        password = MqttAccounts(services.store).create(username, role, territory)
    console.print(f"MQTT {role} {username!r} created. Password (shown once): {password}",
                  markup=False)
    console.print("Run `beffroi mqtt-user export` and reload Mosquitto to apply.")


@mqtt_app.command("list")
def mqtt_user_list(territory: Annotated[str | None, typer.Option("--territory", "-t")] = None
                   ) -> None:
    """List MQTT accounts."""
    from beffroi.ingest.credentials import MqttAccounts

    table = Table("user", "role", "territory", "created", "revoked")
    with _services() as services:
        for u in MqttAccounts(services.store).list(territory):
            table.add_row(u["username"], u["role"], u["territory"] or "*", u["created"],
                          u["revoked"] or "")
    console.print(table)


@mqtt_app.command("revoke")
def mqtt_user_revoke(username: str) -> None:
    """Revoke an MQTT account (then export and reload Mosquitto)."""
    from beffroi.ingest.credentials import MqttAccounts

    with _services() as services:
        MqttAccounts(services.store).revoke(username)
    console.print(f"MQTT user {username!r} revoked.")


@mqtt_app.command("export")
def mqtt_user_export(
    password_file: Annotated[Path, typer.Option(help="Mosquitto password_file to write.")],
    acl_file: Annotated[Path, typer.Option(help="Mosquitto acl_file to write.")],
) -> None:
    """Write Mosquitto's password and ACL files for the active accounts."""
    from beffroi.ingest.credentials import MqttAccounts

    with _services() as services:
        n = MqttAccounts(services.store).export(password_file, acl_file)
    console.print(f"{n} accounts written to {password_file} and {acl_file}; reload Mosquitto "
                  "(kill -HUP its pid) to apply.")


@app.command()
def rollups() -> None:
    """Materialise hourly and daily rollups now (the server also does it periodically)."""
    with _services() as services:
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

    with _services() as services:
        settings = services.settings
        app_ = create_app(settings, services=services)
        host = host or settings.host
        port = port or settings.port
        console.print(f"Beffroi API on http://{host}:{port}/docs")
        from beffroi import logs

        logs.configure(settings.log_level, settings.log_format)
        # A second Ctrl-C during uvicorn's graceful shutdown must not print a traceback.
        with suppress(KeyboardInterrupt):
            uvicorn.run(app_, host=host, port=port, log_level=settings.log_level.lower(),
                        log_config=None)


@app.command()
def demo(
    reset: Annotated[bool, typer.Option(help="Start from an empty demo database.")] = False,
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 8000,
    database: Annotated[Path, typer.Option(help="SQLite file of the demo.")] = Path(
        "beffroi-demo.db"
    ),
    serve_: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the API.")] = True,
    days: Annotated[float, typer.Option(min=0, help="Days of history to backfill.")] = 3.0,
    speed: Annotated[float, typer.Option(
        min=0.01, help="Live stream: simulated seconds per real second.")] = 60.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated city.")] = 42,
) -> None:
    """The whole platform in one command: the Nantes demo territory (real lighting inventory
    and simulated equipment), recent history, the API and a live stream of readings."""
    from beffroi import demo as demo_mod

    demo_mod.run(database, reset=reset, host=host, port=port, serve=serve_, console=console,
                 err=err, options=demo_mod.DemoOptions(days=days, speed=speed, seed=seed))


@app.command()
def simulate(
    territory: Annotated[str, typer.Option("--territory", "-t", help="Territory code.")],
    backfill: Annotated[str | None, typer.Option(
        help="Write this much history (365d, 12h…) before --until, in-process, as fast as the "
             "store takes it.")] = None,
    until: Annotated[str | None, typer.Option(
        help="ISO 8601 end: of the backfill, or of the live stream (default: now, and "
             "until Ctrl-C).")] = None,
    live: Annotated[bool | None, typer.Option(
        "--live/--no-live", help="Stream live readings to --url (default: when no --backfill; "
        "after the backfill when given).")] = None,
    url: Annotated[str | None, typer.Option(
        help="Base URL of the running API the live stream posts to "
             "(default: http://HOST:PORT of the settings).")] = None,
    speed: Annotated[float, typer.Option(
        min=0.01, help="Live: simulated seconds per real second (60: an hour a minute).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same city.")] = 42,
    faults: Annotated[str | None, typer.Option(
        help="Inject faults: silent=0.01,stuck=0.01,out_of_range=0.001 (shares of assets; "
             "out_of_range: of readings).")] = None,
    token: Annotated[str | None, typer.Option(
        envvar="BEFFROI_TOKEN",
        help="Live: API token (role device) the stream authenticates with.")] = None,
) -> None:
    """Generate realistic readings for the assets of a territory (see docs/simulator.md)."""
    import threading

    from beffroi.errors import ConfigError
    from beffroi.simulator import drivers, inventory
    from beffroi.simulator.engine import Simulator
    from beffroi.simulator.models import TICK_MS, FaultSpec
    from beffroi.timeutil import TimestampError, now_ms, parse_ts, to_iso

    try:
        end = parse_ts(until) if until else None
        span = drivers.parse_duration(backfill) if backfill else None
    except (TimestampError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc
    spec = FaultSpec.parse(faults)
    with _services() as services:
        info, assets = inventory.load(services, territory)
        start = (end or now_ms()) - span if span else now_ms()
        sim = Simulator(info, assets, seed=seed, start_ms=start, faults=spec)
        if not sim.assets:
            raise ConfigError(f"territory {territory!r} has no asset of a simulated type")
        console.print(f"{len(sim.assets):,} assets of {territory} simulated from "
                      f"{to_iso(sim.now_ms)} (seed {seed}).")
        if span:
            stop_ms = end or now_ms()
            ticks = max(0, (stop_ms - sim.now_ms) // TICK_MS)
            sink = drivers.StoreSink(services.telemetry, territory, sim.urns)
            with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeRemainingColumn(), console=err) as bar:
                task = bar.add_task("backfill (ticks of 10 min)", total=ticks)
                report = drivers.backfill_store(sim, sink, stop_ms,
                                                progress=lambda n: bar.advance(task, n))
            console.print(
                f"{report.readings:,} readings ({report.stored:,} stored, {report.rejected:,} "
                f"rejected) in {report.seconds:.1f} s: {report.rate:,.0f} readings/s "
                f"(generation {report.generate_s:.1f} s, ingest {report.ingest_s:.1f} s)."
            )
            with err.status("Materialising rollups…"):
                services.telemetry.materialise()
        stream = live if live is not None else span is None
        if stream:
            base = url or f"http://{services.settings.host}:{services.settings.port}"
            http = drivers.HttpSink(base, territory, token=token)
            stop = threading.Event()
            console.print(f"Streaming to {base} at {speed:g}× real time — Ctrl-C to stop.")
            with err.status("live") as status:
                def shown(r: drivers.RunReport) -> None:
                    status.update(f"simulated time {to_iso(sim.now_ms)}: {r.readings:,} readings "
                                  f"sent, {r.stored:,} stored, {r.rejected:,} rejected")
                streamed: drivers.RunReport | None = None
                try:
                    streamed = drivers.live(sim, http, stop, speed=speed, until_ms=end,
                                            on_batch=shown)
                except KeyboardInterrupt:
                    stop.set()
                finally:
                    http.close()
            if streamed is not None:
                console.print(f"{streamed.readings:,} live readings sent, {streamed.stored:,} "
                              "stored.")
        for fault in sim.faults.injected[:20]:
            console.print(f"  fault {fault.kind} from {to_iso(fault.onset_ms)}: {fault.asset}",
                          markup=False)
        if len(sim.faults.injected) > 20:
            console.print(f"  … and {len(sim.faults.injected) - 20} more injected faults")
        if sim.faults.out_of_range_count:
            console.print(f"  {sim.faults.out_of_range_count:,} out-of-range values injected")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    try:
        app()
    except BeffroiError as exc:
        err.print(f"[red]error:[/] {exc.message}", markup=True)
        for d in exc.details:
            err.print(f"  {d}", markup=False)
        sys.exit(2)
    except ValidationError as exc:  # a value given on the command line failed validation
        err.print(f"[red]error:[/] invalid {exc.title.removesuffix('In').lower()}", markup=True)
        for e in exc.errors():
            where = ".".join(str(p) for p in e["loc"]) or "value"
            err.print(f"  {where}: {e['msg']}", markup=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
