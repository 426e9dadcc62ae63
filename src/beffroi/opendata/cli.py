"""Command-line commands of the opendata package: ``beffroi opendata catalog`` (the DCAT-AP
catalog of a territory) and ``beffroi opendata export`` (one dataset to a file)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import DownloadColumn, Progress, SpinnerColumn, TimeElapsedColumn

from beffroi import cli_common
from beffroi.errors import BeffroiError

app = typer.Typer(help="Open data: the DCAT-AP catalog and exports.", no_args_is_help=True)

TerritoryOpt = Annotated[str, typer.Option("--territory", "-t", help="Territory code.")]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="opendata")


def _fail(exc: BeffroiError) -> typer.Exit:
    cli_common.err.print(f"[red]error:[/] {exc.message}", markup=True, soft_wrap=True)
    for d in exc.details:
        cli_common.err.print(f"  {d.get('field')}: {d.get('reason')}", markup=False,
                             highlight=False, soft_wrap=True)
    return typer.Exit(1)


@app.command("catalog")
def catalog(territory: TerritoryOpt,
            fmt: Annotated[str, typer.Option("--format", help="jsonld or ttl.")] = "jsonld",
            ) -> None:
    """Print the territory's DCAT-AP catalog (JSON-LD or Turtle)."""
    if fmt not in ("jsonld", "ttl"):
        cli_common.err.print("error: --format is jsonld or ttl")
        raise typer.Exit(2)
    with cli_common.services() as services:
        try:
            body = services.opendata.catalog(territory, fmt)
        except BeffroiError as exc:
            raise _fail(exc) from exc
    sys.stdout.buffer.write(body)
    sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()


@app.command("list")
def list_datasets(territory: TerritoryOpt) -> None:
    """List the territory's datasets and their formats."""
    with cli_common.services() as services:
        try:
            datasets = services.opendata.datasets(territory)
        except BeffroiError as exc:
            raise _fail(exc) from exc
    for ds in datasets:
        cli_common.console.print(f"{ds.id}\t{', '.join(ds.formats)}\t{ds.title['en']}",
                                 markup=False, highlight=False, soft_wrap=True)


@app.command("export")
def export(territory: TerritoryOpt,
           dataset: Annotated[str, typer.Argument(help="Dataset id, e.g. inventory-lighting.")],
           output: Annotated[Path, typer.Option("--output", "-o", help="File to write; its "
                                                "extension is the format (.csv, .parquet…).",
                                                dir_okay=False)],
           from_: Annotated[str | None, typer.Option("--from", help="Observations: from "
                                                     "this local date or time.")] = None,
           to: Annotated[str | None, typer.Option("--to", help="Observations: before this "
                                                  "local date or time.")] = None,
           ) -> None:
    """Write one dataset (anonymised exactly as the public download) to a file."""
    ext = output.suffix.lstrip(".").lower()
    with cli_common.services() as services:
        try:
            d = services.opendata.download(territory, dataset, "data", ext, from_, to)
        except BeffroiError as exc:
            raise _fail(exc) from exc
        tmp = output.with_name(output.name + ".part")
        written = 0
        with Progress(SpinnerColumn(), "[progress.description]{task.description}",
                      DownloadColumn(), TimeElapsedColumn(), console=cli_common.err) as bar:
            task = bar.add_task(f"{dataset}.{ext}", total=None)
            with tmp.open("wb") as f:
                for chunk in d.chunks:
                    f.write(chunk)
                    written += len(chunk)
                    bar.update(task, completed=written)
        tmp.replace(output)
    cli_common.err.print(f"wrote {output} ({written:,} bytes)", markup=False, highlight=False)
