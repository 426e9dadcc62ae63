"""Command-line commands of the commands package (registered in beffroi.cli):
``beffroi command send|list|show|cancel`` and ``beffroi device-sim``. Whoever runs the CLI has
the database in hand: it acts as a superuser, named ``cli:<system user>`` in the audit log."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table

from beffroi import cli_common
from beffroi.cli_common import cli_actor
from beffroi.errors import ValidationFailed, field_error

app = typer.Typer(help="Commands to equipment: send, list, cancel.", no_args_is_help=True)

TerritoryOpt = Annotated[str, typer.Option("--territory", "-t", help="Territory code.")]


def register(root: typer.Typer) -> None:
    """Add this package's command groups to the ``beffroi`` command."""
    root.add_typer(app, name="command")
    root.command("device-sim")(device_sim)


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; a value is read as JSON when it is JSON (50, true, [..]), else as
    text (``message=Car park full``)."""
    import orjson

    out: dict[str, Any] = {}
    for i, pair in enumerate(pairs):
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValidationFailed("invalid parameter", [field_error(
                f"params.{i}", f"{pair!r}: key=value expected (e.g. level=50)")])
        try:
            out[key] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            out[key] = raw
    return out


def _table(rows: list[Any]) -> Table:
    table = Table("id", "asset", "command", "params", "state", "created", "message")
    for c in rows:
        table.add_row(str(c.id), c.asset, c.command, str(c.params), c.state.value, c.created,
                      c.message or "")
    return table


@app.command("send")
def send(
    territory: TerritoryOpt,
    command: Annotated[str, typer.Argument(help="Command name, e.g. dim, switch, set_plan.")],
    params: Annotated[list[str] | None, typer.Argument(
        help="Parameters key=value (values read as JSON when they are: level=50 on=true).")
    ] = None,
    urn: Annotated[list[str] | None, typer.Option(help="Target asset (repeatable).")] = None,
    parent: Annotated[str | None, typer.Option(help="Group: the children of this asset.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Group: assets of a type.")] = None,
    domain: Annotated[str | None, typer.Option(help="Group: assets of a domain.")] = None,
    bbox: Annotated[str | None, typer.Option(
        help="Group: min_lon,min_lat,max_lon,max_lat.")] = None,
    timeout: Annotated[int, typer.Option(min=1, help="Seconds devices have to answer.")] = 60,
    wait: Annotated[float, typer.Option(
        min=0, help="Seconds to wait for the answers before returning (0: do not wait).")] = 10,
) -> None:
    """Send a command to assets (--urn) or a group (--parent/--type/--domain/--bbox)."""
    from beffroi.api.deps import parse_bbox

    selector: dict[str, Any] | None = None
    if parent or type_ or domain or bbox:
        selector = {"parent": parent, "type": type_, "domain": domain, "bbox": parse_bbox(bbox)}
        selector = {k: v for k, v in selector.items() if v is not None}
    values = parse_params(params or [])
    with cli_common.services() as services:
        try:
            batch = services.commands.send(territory, cli_actor(), command=command,
                                           params=values, urns=urn or None, selector=selector,
                                           timeout_s=timeout)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and {"pending", "sent"} & batch.states.keys():
                time.sleep(0.2)
                batch = services.commands.batch(territory, batch.batch_id)
        finally:
            services.commands.stop()
        cli_common.console.print(f"batch {batch.batch_id}: {batch.count} command(s) — "
                                 + ", ".join(f"{n} {s}" for s, n in sorted(batch.states.items())))
        cli_common.console.print(_table(batch.commands[:50]))


@app.command("list")
def list_(
    territory: TerritoryOpt,
    state: Annotated[str | None, typer.Option(help="Only commands in this state.")] = None,
    asset: Annotated[str | None, typer.Option(help="Only commands to this asset.")] = None,
    batch: Annotated[str | None, typer.Option(help="Only commands of this batch.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Commands of a territory, newest first."""
    with cli_common.services() as services:
        rows, _cursor = services.commands.list_commands(territory, state=state, urn=asset,
                                                        batch_id=batch, limit=limit)
    cli_common.console.print(_table(rows))


@app.command("cancel")
def cancel(territory: TerritoryOpt, command_id: int) -> None:
    """Cancel a command still pending or sent."""
    with cli_common.services() as services:
        row = services.commands.cancel(territory, cli_actor(), command_id)
    cli_common.console.print(f"command {row.id}: {row.state.value}")


def device_sim(
    territory: TerritoryOpt,
    urn: Annotated[list[str] | None, typer.Option(
        help="Asset whose commands to answer (repeatable; default: every asset).")] = None,
    fail_rate: Annotated[float, typer.Option(min=0, max=1, help="Share answered with an "
                                             "error.")] = 0.0,
    silent_rate: Annotated[float, typer.Option(min=0, max=1, help="Share never answered "
                                               "(they time out).")] = 0.0,
) -> None:
    """Simulated devices: answer the commands of a territory over MQTT (Ctrl-C to stop)."""
    from beffroi.commands.device_sim import DeviceOptions, DeviceSimulator

    settings = cli_common.state.settings()
    sim = DeviceSimulator(territory, urn or (), DeviceOptions(
        host=settings.mqtt_host, port=settings.mqtt_port, username=settings.mqtt_username,
        password=settings.mqtt_password, fail_rate=fail_rate, silent_rate=silent_rate))
    sim.start()
    cli_common.console.print(f"Devices of {territory} on mqtt://{settings.mqtt_host}:"
                             f"{settings.mqtt_port} — Ctrl-C to stop.")
    shown = 0
    try:
        while True:
            time.sleep(0.2)
            for r in sim.received[shown:]:
                cli_common.console.print(f"{r.urn} {r.command} {r.params} → {r.outcome}",
                                         markup=False)
            shown = len(sim.received)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
