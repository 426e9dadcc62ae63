"""Command-line commands of the indicators package (registered in beffroi.cli):
``beffroi kpi`` (validate, load, defaults, list, compute, values, explain, verify) and
``beffroi contract`` (load, list, report)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from beffroi import cli_common
from beffroi.errors import BeffroiError, ValidationFailed

app = typer.Typer(help="Indicators (KPIs): define, compute, explain, verify.",
                  no_args_is_help=True)
contract_app = typer.Typer(help="Performance contracts and their reports.", no_args_is_help=True)

TerritoryOpt = Annotated[str, typer.Option("--territory", "-t", help="Territory code.")]
FileArg = Annotated[Path, typer.Argument(help="A YAML file.", exists=True, dir_okay=False,
                                         readable=True)]
LabelArg = Annotated[str, typer.Argument(help="A period: 2026-11 (month), 2026 (year), "
                                              "2026-W47 (week), 2026-11-22 (day), "
                                              "C2026-01-01 (contract year).")]
LangOpt = Annotated[str, typer.Option("--lang", help="fr or en.")]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="kpi")
    root.add_typer(contract_app, name="contract")


def _actor() -> str:
    return cli_common.cli_actor().actor


def _fail(exc: BeffroiError) -> typer.Exit:
    cli_common.err.print(f"[red]error:[/] {exc.message}", markup=True, soft_wrap=True)
    for d in exc.details:
        where = ":".join(str(x) for x in (d.get("file"), d.get("line")) if x is not None)
        cli_common.err.print(f"  {where + ': ' if where else ''}{d.get('field')}: "
                             f"{d.get('reason')}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:,.6g}" if abs(v) < 1e6 else f"{v:,.0f}"


@app.command("validate")
def validate(file: FileArg) -> None:
    """Check an indicators file; print every error with its line. Exit 1 if any."""
    from beffroi.indicators.definitions import parse_yaml

    try:
        items = parse_yaml(file.read_text(encoding="utf-8"), str(file))
    except ValidationFailed as exc:
        raise _fail(exc) from exc
    cli_common.console.print(f"{file}: {len(items)} valid indicator(s).")


def _print_result(result: dict[str, list[str]]) -> None:
    cli_common.console.print(", ".join(f"{len(v)} {k}" for k, v in result.items()) + ".")


@app.command("load")
def load(file: FileArg, territory: TerritoryOpt) -> None:
    """Define the indicators of a file (a new version of those that changed)."""
    try:
        with cli_common.services() as services:
            result = services.indicators.load_text(
                territory, file.read_text(encoding="utf-8"), str(file), actor=_actor())
    except BeffroiError as exc:
        raise _fail(exc) from exc
    _print_result(result)


@app.command("defaults")
def defaults(territory: TerritoryOpt) -> None:
    """Install or update the built-in indicators (docs/indicators.md lists them)."""
    with cli_common.services() as services:
        _print_result(services.indicators.install_defaults(territory, _actor()))


@app.command("list")
def list_indicators(territory: TerritoryOpt, lang: LangOpt = "fr") -> None:
    """The indicators of a territory."""
    table = Table("id", "aggregate", "period", "unit", "target", "active", "version", "name")
    with cli_common.services() as services:
        for i in services.indicators.definitions(territory):
            target = f"{i.target.comparator} {i.target.value:g}" if i.target else ""
            table.add_row(i.code, i.aggregate, i.period, i.unit, target,
                          "yes" if i.active else "no", i.version[:12], i.label(lang))
    cli_common.console.print(table)


@app.command("compute")
def compute(
    territory: TerritoryOpt,
    indicator: Annotated[list[str] | None, typer.Option(
        "--indicator", "-i", help="Indicator id (repeatable; default: every active one).")
    ] = None,
    period: Annotated[str, typer.Option(help="day, week, month, year or contract_year.")
                      ] = "month",
    label: Annotated[str | None, typer.Option(help="One period, e.g. 2026-11.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First local date (YYYY-MM-DD).")
                     ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last local date (included).")
                   ] = None,
    contract: Annotated[str | None, typer.Option(help="Contract (for contract_year).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compute indicators over periods (the current one by default) and store the values."""
    try:
        first = date.fromisoformat(start) if start else None
        last = date.fromisoformat(end) if end else None
    except ValueError as exc:
        raise _fail(ValidationFailed("bad date", [{"field": "--from/--to",
                                                   "reason": str(exc)}])) from exc
    try:
        with cli_common.services() as services:
            windows = services.indicators.windows(territory, period, label=label, first=first,
                                                  last=last, contract=contract)
            with Progress("[progress.description]{task.description}", BarColumn(),
                          MofNCompleteColumn(), TimeElapsedColumn(),
                          console=cli_common.err, transient=True,
                          disable=as_json) as bar:
                task = bar.add_task("computing", total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                values = services.indicators.compute(territory, windows, indicator,
                                                     progress=progress)
    except BeffroiError as exc:
        raise _fail(exc) from exc
    if as_json:
        print(orjson.dumps([v.to_dict() for v in values]).decode())
        return
    table = Table("indicator", "period", "value", "unit", "target", "met", "inputs")
    for v in values:
        target = f"{v.comparator} {v.target:g}" if v.target is not None else ""
        met = "" if v.met is None else ("yes" if v.met else "NO")
        table.add_row(v.code, v.window.label, _fmt(v.value), v.unit, target, met,
                      v.lineage.inputs_hash[:12])
    cli_common.console.print(table)


@app.command("values")
def values(territory: TerritoryOpt,
           indicator: Annotated[str | None, typer.Option("--indicator", "-i")] = None,
           period: Annotated[str | None, typer.Option()] = None) -> None:
    """Stored values."""
    table = Table("indicator", "period", "value", "unit", "met", "version", "computed")
    with cli_common.services() as services:
        for v in services.indicators.values(territory, indicator, period):
            from beffroi.timeutil import to_iso

            table.add_row(v.code, v.window.label, _fmt(v.value), v.unit,
                          "" if v.met is None else ("yes" if v.met else "NO"), v.version[:12],
                          to_iso(v.computed_ms))
    cli_common.console.print(table)


@app.command("explain")
def explain(territory: TerritoryOpt, indicator: Annotated[str, typer.Argument()],
            label: LabelArg, lang: LangOpt = "fr",
            contract: Annotated[str | None, typer.Option()] = None,
            as_json: Annotated[bool, typer.Option("--json", help="Print the lineage as JSON.")
                               ] = False) -> None:
    """Explain a value in plain words: definition version, window, inputs, figures."""
    try:
        with cli_common.services() as services:
            window = services.indicators.windows(territory, "month", label=label,
                                                 contract=contract)[0]
            out = services.indicators.explain(territory, indicator, window, lang)
    except BeffroiError as exc:
        raise _fail(exc) from exc
    if as_json:
        print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
        return
    cli_common.console.print(out["text"], markup=False, highlight=False, soft_wrap=True)


@app.command("verify")
def verify(territory: TerritoryOpt, indicator: Annotated[str, typer.Argument()],
           label: LabelArg, contract: Annotated[str | None, typer.Option()] = None) -> None:
    """Recompute a stored value with the definition version it names; exit 1 if it differs."""
    try:
        with cli_common.services() as services:
            window = services.indicators.windows(territory, "month", label=label,
                                                 contract=contract)[0]
            out = services.indicators.verify(territory, indicator, window)
    except BeffroiError as exc:
        raise _fail(exc) from exc
    status = "identical" if out["identical"] else "DIFFERENT"
    cli_common.console.print(
        f"{indicator} {out['label']}: stored {_fmt(out['stored'])}, recomputed "
        f"{_fmt(out['recomputed'])}; inputs {out['stored_inputs_hash'][:12]} / "
        f"{out['recomputed_inputs_hash'][:12]}: {status}", markup=False)
    if not out["identical"]:
        raise typer.Exit(1)


@contract_app.command("load")
def contract_load(file: FileArg, territory: TerritoryOpt) -> None:
    """Define or replace a contract from a YAML file (contract: {...})."""
    try:
        with cli_common.services() as services:
            c = services.indicators.define_contract(
                territory, None, _actor(), text=file.read_text(encoding="utf-8"),
                file=str(file))
    except BeffroiError as exc:
        raise _fail(exc) from exc
    cli_common.console.print(f"contract {c.code}: {len(c.clauses)} clause(s), version "
                             f"{c.version[:12]}.", markup=False)


@contract_app.command("list")
def contract_list(territory: TerritoryOpt) -> None:
    table = Table("id", "title", "start", "years", "clauses", "version")
    with cli_common.services() as services:
        for c in services.indicators.contracts(territory):
            table.add_row(c.code, c.title, c.start, str(c.years), str(len(c.clauses)),
                          c.version[:12])
    cli_common.console.print(table)


@contract_app.command("report")
def contract_report(
    territory: TerritoryOpt,
    contract: Annotated[str, typer.Argument(help="Contract id.")],
    year: Annotated[int | None, typer.Option(help="Contract year (1-based).")] = None,
    label: Annotated[str | None, typer.Option(help="Any period instead, e.g. 2026-11.")
                     ] = None,
    lang: LangOpt = "fr",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write HTML (.html) or PDF (.pdf) here.")] = None,
) -> None:
    """The contract report: target, achieved, gap, penalty and explanation of each clause."""
    from beffroi.indicators import report as render

    try:
        with cli_common.services() as services:
            rep = services.indicators.contract_report(territory, contract, year=year,
                                                      label=label, locale=lang)
    except BeffroiError as exc:
        raise _fail(exc) from exc
    if output is not None:
        if output.suffix.lower() == ".pdf":
            output.write_bytes(render.render_pdf(rep))
        else:
            output.write_text(render.render_html(rep), encoding="utf-8")
        cli_common.console.print(f"written: {output}", markup=False)
    table = Table("clause", "indicator", "target", "achieved", "gap", "met", "penalty €",
                  title=f"{rep.title} — {rep.period_label}")
    for ln in rep.lines:
        table.add_row(ln.clause, ln.name,
                      "" if ln.target is None else f"{ln.comparator} {ln.target:g}",
                      _fmt(ln.achieved), _fmt(ln.gap),
                      "" if ln.met is None else ("yes" if ln.met else "NO"),
                      f"{ln.penalty_eur:,.2f}")
    cli_common.console.print(table)
    cli_common.console.print(f"total penalty: {rep.total_penalty_eur:,.2f} €", markup=False)
