"""Command-line commands of the citizens package: ``beffroi citizens client-add``,
``client-list``, ``client-revoke`` (Open311 API keys), ``purge`` (contact-data retention) and
``requests`` (a territory's reports, without personal data)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from beffroi import cli_common

app = typer.Typer(help="Residents' reports (Open311): API keys, imports, privacy.",
                  no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="citizens")


def _actor() -> str:
    return cli_common.cli_actor().actor


@app.command("client-add")
def client_add(
    name: Annotated[str, typer.Argument(help="The client application, e.g. 'FixMyStreet'.")],
    territory: Annotated[str | None, typer.Option(
        "--territory", "-t", help="Valid in this territory only (default: every one).")] = None,
    rate: Annotated[int | None, typer.Option(
        min=1, help="Reports per hour (default: report_rate_per_hour).")] = None,
) -> None:
    """Create an Open311 API key; it is printed once (only its hash is stored)."""
    with cli_common.services() as services:
        created = services.citizens.create_client(name, territory, rate, actor=_actor())
    cli_common.console.print(f"Client {created.id} [bold]{created.name}[/] created. "
                             "Its API key (shown once):", highlight=False)
    typer.echo(created.api_key)


@app.command("client-list")
def client_list(
    territory: Annotated[str | None, typer.Option(
        "--territory", "-t", help="Only the keys of this territory.")] = None,
) -> None:
    """List the Open311 client applications (never their keys)."""
    table = Table("id", "name", "territory", "created", "revoked", "rate/h")
    with cli_common.services() as services:
        for c in services.citizens.list_clients(territory):
            out = services.citizens.client_out(c)
            table.add_row(str(out.id), out.name, out.territory or "(all)", out.created,
                          out.revoked or "", str(out.rate_per_hour or "default"))
    cli_common.console.print(table)


@app.command("client-revoke")
def client_revoke(client_id: Annotated[int, typer.Argument(help="The client's id.")]) -> None:
    """Revoke a client's API key (its reports stay)."""
    with cli_common.services() as services:
        client = services.citizens.revoke_client(client_id, actor=_actor())
    cli_common.console.print(f"Client {client.id} {client.name} revoked.", highlight=False)


@app.command("purge")
def purge() -> None:
    """Delete now the contact data of requests closed longer ago than
    citizen_contact_retention_days (the worker also does it periodically)."""
    with cli_common.services() as services:
        counts = services.citizens.purge_contacts()
        days = services.settings.citizen_contact_retention_days
    cli_common.console.print(f"{counts['contacts_deleted']} residents' contact record(s) "
                             f"deleted (retention: {days} days after closure).",
                             highlight=False)


@app.command("requests")
def requests_list(
    territory: Annotated[str, typer.Option("--territory", "-t", help="Territory code.")],
    status: Annotated[str | None, typer.Option(help="open or closed.")] = None,
    days: Annotated[int, typer.Option(min=1, help="Of the last DAYS days.")] = 90,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """A territory's reports, newest first (no personal data)."""
    table = Table("id", "requested", "status", "service", "incident", "source", "description")
    with cli_common.services() as services:
        now = services.clock()
        found = services.citizens.get_requests(territory, statuses=[status] if status else None,
                                               start_ms=now - days * 86_400_000, end_ms=now,
                                               limit=limit, admin=True)
    for r in found:
        table.add_row(r.service_request_id, r.requested_datetime, r.status, r.service_code,
                      str(getattr(r, "incident_id", "") or ""), getattr(r, "source", ""),
                      r.description[:60])
    cli_common.console.print(table)
