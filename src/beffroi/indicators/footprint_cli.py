"""Command-line commands of the footprint model and retention (registered in beffroi.cli):
``beffroi footprint`` (factors, set-factor, reset-factor, estimate) and ``beffroi retention``
(show, set, unset, apply)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from beffroi import cli_common
from beffroi.errors import BeffroiError, ValidationFailed, field_error
from beffroi.timeutil import TimestampError, parse_ts, to_iso

app = typer.Typer(help="The platform's own footprint: factors and estimates (kWh, kgCO2e).",
                  no_args_is_help=True)
retention_app = typer.Typer(help="Raw-data retention per domain (rollups are always kept).",
                            no_args_is_help=True)

TerritoryOpt = Annotated[str, typer.Option("--territory", "-t", help="Territory code.")]


def register(root: typer.Typer) -> None:
    """Add this module's command groups to the ``beffroi`` command."""
    root.add_typer(app, name="footprint")
    root.add_typer(retention_app, name="retention")


def _actor() -> str:
    return cli_common.cli_actor().actor


def _fail(exc: BeffroiError) -> typer.Exit:
    cli_common.err.print(f"[red]error:[/] {exc.message}", soft_wrap=True)
    for d in exc.details:
        where = ":".join(str(x) for x in (d.get("file"), d.get("line")) if x is not None)
        cli_common.err.print(f"  {where + ': ' if where else ''}{d.get('field')}: "
                             f"{d.get('reason')}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _num(x: float) -> str:
    return f"{x:,.6g}" if abs(x) < 1000 else f"{x:,.1f}"


@app.command("factors")
def factors(territory: Annotated[str | None, typer.Option(
        "--territory", "-t", help="Territory code (default: the shipped defaults).")] = None
            ) -> None:
    """List the footprint factors: value, unit, source, and whether the territory overrides
    them."""
    from beffroi.indicators.footprint import load_factors

    table = Table("key", "value", "unit", "overridden", "source")
    try:
        if territory is None:
            rows = [f.to_dict() for f in load_factors()]
        else:
            with cli_common.services() as services:
                rows = services.footprint.factors(territory)
    except BeffroiError as exc:
        raise _fail(exc) from exc
    for f in rows:
        table.add_row(f["key"], _num(f["value"]), f["unit"], "yes" if f["overridden"] else "",
                      f["source"])
    cli_common.console.print(table)


@app.command("set-factor")
def set_factor(
    key: Annotated[str, typer.Argument(help="Factor key, e.g. device.Streetlight.operating_w")],
    value: Annotated[float, typer.Argument(help="New value, in the factor's unit.")],
    source: Annotated[str, typer.Option(help="Where the value comes from.")],
    territory: TerritoryOpt,
) -> None:
    """Override a factor for a territory (audited)."""
    try:
        with cli_common.services() as services:
            f = services.footprint.set_factor(territory, key, value, source, _actor())
    except BeffroiError as exc:
        raise _fail(exc) from exc
    cli_common.console.print(f"{f['key']} = {_num(f['value'])} {f['unit']} in {territory}.",
                             markup=False)


@app.command("reset-factor")
def reset_factor(key: Annotated[str, typer.Argument(help="Factor key.")],
                 territory: TerritoryOpt) -> None:
    """Remove a territory's override of a factor (the shipped default applies again)."""
    try:
        with cli_common.services() as services:
            f = services.footprint.reset_factor(territory, key, _actor())
    except BeffroiError as exc:
        raise _fail(exc) from exc
    cli_common.console.print(f"{f['key']} = {_num(f['value'])} {f['unit']} (default).",
                             markup=False)


def _parse(name: str, value: str) -> int:
    try:
        return parse_ts(int(value) if value.lstrip("-").isdigit() else value)
    except TimestampError as exc:
        raise ValidationFailed(f"invalid --{name}", [field_error(name, str(exc))]) from exc


@app.command("estimate")
def estimate(
    territory: TerritoryOpt,
    month: Annotated[str | None, typer.Option(help="A calendar month, e.g. 2026-11.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Start (ISO 8601).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="End, excluded (ISO 8601).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The platform's footprint over a month or a window: kWh and kgCO2e by domain and
    component."""
    try:
        with cli_common.services() as services:
            service = services.footprint
            if month is not None:
                start, end = service.month_window(territory, month)
            elif from_ is not None and to is not None:
                start, end = _parse("from", from_), _parse("to", to)
            else:
                raise ValidationFailed("no window", [field_error(
                    "month", "give --month, or --from and --to")])
            result = service.estimate(territory, start, end)
    except BeffroiError as exc:
        raise _fail(exc) from exc
    if as_json:
        cli_common.console.print_json(json.dumps(result.to_dict()))
        return
    table = Table("domain", "component", "kWh", "kgCO2e", "inputs",
                  title=f"{territory}: {to_iso(start)} → {to_iso(end)}")
    for ln in result.lines:
        table.add_row(ln.domain, ln.component, _num(ln.kwh), _num(ln.kgco2e),
                      _inputs(ln.inputs))
    for domain, (kwh, kg) in result.by_domain().items():
        table.add_row(f"[bold]{domain}[/]", "total", _num(kwh), _num(kg), "")
    kwh, kg = result.total()
    table.add_row("[bold]all[/]", "[bold]total[/]", _num(kwh), _num(kg), "")
    cli_common.console.print(table)


def _inputs(inputs: dict[str, Any]) -> str:
    parts: list[str] = []
    for key in ("devices", "messages", "cpu_seconds", "gb_months", "share"):
        if key in inputs:
            value = inputs[key]
            if isinstance(value, dict):
                value = ", ".join(f"{k} {_num(v)}" for k, v in value.items())
            elif isinstance(value, float):
                value = _num(value)
            parts.append(f"{key}: {value}")
    return "; ".join(parts)


@retention_app.command("show")
def show(territory: TerritoryOpt) -> None:
    """The policies and what applying them now would delete and save per year."""
    try:
        with cli_common.services() as services:
            view = services.footprint.retention(territory)
    except BeffroiError as exc:
        raise _fail(exc) from exc
    plan = view["plan"]
    if not view["policies"]:
        cli_common.console.print(f"No retention policy in {territory}: raw readings are kept.")
        return
    table = Table("domain", "raw days", "purge before", "rows to delete", "rows kept",
                  "MB freed", "kWh/year", "kgCO2e/year")
    for d in plan["domains"]:
        boundary = to_iso(d["boundary_ms"]) if d["boundary_ms"] is not None else "(no rollups)"
        table.add_row(d["domain"], str(d["raw_days"]), boundary, f"{d['rows_to_delete']:,}",
                      f"{d['rows_kept']:,}", _num(d["bytes_freed"] / 1e6),
                      _num(d["kwh_per_year"]), _num(d["kgco2e_per_year"]))
    cli_common.console.print(table)
    cli_common.console.print(f"Measured: {plan['observations_rows']:,} raw rows in "
                             f"{plan['observations_bytes'] / 1e6:,.1f} MB "
                             f"({plan['bytes_per_row']:.1f} bytes per row).")


@retention_app.command("set")
def set_policy(domain: Annotated[str, typer.Argument(help="Domain (lighting, mobility…).")],
               days: Annotated[int, typer.Argument(help="Days of raw readings kept.")],
               territory: TerritoryOpt) -> None:
    """Keep a domain's raw readings for DAYS days (rollups are always kept)."""
    try:
        with cli_common.services() as services:
            services.footprint.set_retention(territory, domain, days, _actor())
    except BeffroiError as exc:
        raise _fail(exc) from exc
    cli_common.console.print(f"{territory}: raw {domain} readings kept {days} days.")


@retention_app.command("unset")
def unset_policy(domain: Annotated[str, typer.Argument(help="Domain.")],
                 territory: TerritoryOpt) -> None:
    """Remove a domain's policy (its raw readings are kept forever)."""
    try:
        with cli_common.services() as services:
            services.footprint.delete_retention(territory, domain, _actor())
    except BeffroiError as exc:
        raise _fail(exc) from exc
    cli_common.console.print(f"{territory}: no retention policy for {domain}.")


@retention_app.command("apply")
def apply(territory: TerritoryOpt) -> None:
    """Delete the raw readings older than the policies allow, for hours already in the
    rollups; in short transactions, with a progress bar."""
    try:
        with cli_common.services() as services, Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeRemainingColumn(), console=cli_common.err) as bar:
            task = bar.add_task("purging (series)", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            deleted = services.footprint.apply_retention(territory, _actor(), progress)
    except BeffroiError as exc:
        raise _fail(exc) from exc
    if not deleted:
        cli_common.console.print(f"No retention policy in {territory}.")
    for domain, n in deleted.items():
        cli_common.console.print(f"{domain}: {n:,} raw readings deleted.")
