"""``beffroi citizens-import dansmarue FILE -t TERRITORY``: import Paris's DansMaRue reports
(registered in beffroi.cli with :func:`register`). The command line acts as a superuser
(``cli:<login>`` in the audit log)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from beffroi import cli_common

app = typer.Typer(help="Import residents' reports from other platforms' open data.",
                  no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Add ``citizens-import`` to the ``beffroi`` command."""
    root.add_typer(app, name="citizens-import")


@app.command("dansmarue")
def dansmarue(
    file: Annotated[Path, typer.Argument(help="DansMaRue CSV export (Ville de Paris).",
                                         exists=True, dir_okay=False)],
    territory: Annotated[str, typer.Option("--territory", "-t", help="Territory code.")],
    status: Annotated[str, typer.Option(
        help="Status of the imported reports: 'closed' (historical file; the closing time "
             "is unknown) or 'open'.")] = "closed",
    service_code: Annotated[str | None, typer.Option(
        help="Put every report in this service (incident category) instead of the "
             "built-in mapping.")] = None,
    timezone: Annotated[str, typer.Option(
        help="Time zone of the dates (a date becomes local noon).")] = "Europe/Paris",
    problems: Annotated[int, typer.Option(help="How many rejected rows to print.")] = 20,
) -> None:
    """Import DansMaRue reports as closed (or open) service requests; bad rows are listed
    with their line and field, the others imported. Running it twice changes nothing."""
    from beffroi.citizens import dansmarue as dmr

    if status not in dmr.STATUSES:
        raise typer.BadParameter(f"one of {', '.join(dmr.STATUSES)}", param_hint="--status")
    console, err = cli_common.console, cli_common.err
    with cli_common.services() as services, Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=err, transient=False,
    ) as bar:
        task = bar.add_task("dansmarue", total=dmr.count_rows(file))
        report = dmr.import_file(services, territory, file, status, cli_common.cli_actor(),
                                 lambda n: bar.advance(task, n), service_code=service_code,
                                 timezone=timezone)
    services_text = ", ".join(f"{code} {n}" for code, n in sorted(report.per_service.items()))
    console.print(f"{report.read} rows: {report.imported} imported, {report.unchanged} "
                  f"unchanged, {len(report.rejected)} rejected"
                  + (f" (services: {services_text})" if services_text else "") + ".",
                  markup=False)
    for line, name, reason in report.rejected[:problems]:
        console.print(f"  line {line}: {name}: {reason}", style="yellow", markup=False)
    if len(report.rejected) > problems:
        console.print(f"  … and {len(report.rejected) - problems} more rejected rows")
    if report.imported + report.unchanged == 0:
        cli_common.err.print("[red]error:[/] nothing imported")
        raise typer.Exit(1)
