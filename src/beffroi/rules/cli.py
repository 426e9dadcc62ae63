"""Command-line commands of the rules package (registered in beffroi.cli): ``beffroi rules``
(validate, load, list, defaults, switch) and ``beffroi alarms`` (list)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from beffroi import cli_common
from beffroi.errors import ValidationFailed

app = typer.Typer(help="Declarative rules: validate, load, list, install the defaults.",
                  no_args_is_help=True)
alarms_app = typer.Typer(help="Alarms raised by the rules.", no_args_is_help=True)

TerritoryOpt = Annotated[str, typer.Option("--territory", "-t", help="Territory code.")]
FileArg = Annotated[Path, typer.Argument(help="A YAML rules file (rules: [...]).",
                                         exists=True, dir_okay=False, readable=True)]


def register(root: typer.Typer) -> None:
    """Add this package's command groups to the ``beffroi`` command."""
    root.add_typer(app, name="rules")
    root.add_typer(alarms_app, name="alarms")


def _actor() -> str:
    from beffroi.auth.cli import cli_actor

    return cli_actor().actor


def _print_errors(exc: ValidationFailed) -> None:
    cli_common.err.print(f"[red]invalid:[/] {exc.message}", markup=True, soft_wrap=True)
    for d in exc.details:
        where = ":".join(str(x) for x in (d.get("file"), d.get("line")) if x is not None)
        cli_common.err.print(f"  {where + ': ' if where else ''}{d['field']}: {d['reason']}",
                             markup=False, highlight=False, soft_wrap=True)


@app.command("validate")
def validate(file: FileArg) -> None:
    """Check a rules file; print every error with its line. Exit 1 if any."""
    from beffroi.rules.definitions import parse_yaml

    try:
        rules = parse_yaml(file.read_text(encoding="utf-8"), str(file))
    except ValidationFailed as exc:
        _print_errors(exc)
        raise typer.Exit(1) from exc
    cli_common.console.print(f"{file}: {len(rules)} valid rule(s).")


@app.command("load")
def load(file: FileArg, territory: TerritoryOpt) -> None:
    """Create or update the rules of a file in a territory (others are kept)."""
    from beffroi.rules.definitions import parse_yaml

    try:
        rules = parse_yaml(file.read_text(encoding="utf-8"), str(file))
    except ValidationFailed as exc:
        _print_errors(exc)
        raise typer.Exit(1) from exc
    with cli_common.services() as services:
        result = services.rules.load(territory, rules, _actor())
    _print_result(result)


def _print_result(result: dict[str, list[str]]) -> None:
    cli_common.console.print(", ".join(f"{len(v)} {k}" for k, v in result.items()) + ".")
    for kind in ("created", "updated"):
        for rid in result[kind]:
            cli_common.console.print(f"  {kind}: {rid}", markup=False)


@app.command("defaults")
def defaults(territory: TerritoryOpt, domain: Annotated[list[str] | None, typer.Option(
        "--domain", "-d", help="Only these sets (air, water, lighting…; repeatable).")] = None
             ) -> None:
    """Install the shipped default rule set (every domain, or some)."""
    with cli_common.services() as services:
        result = services.rules.install_defaults(territory, _actor(), domain)
    _print_result(result)


@app.command("list")
def list_rules(territory: TerritoryOpt) -> None:
    """List the rules of a territory."""
    table = Table("id", "kind", "severity", "post", "active", "version", "name")
    with cli_common.services() as services:
        for r in services.rules.list_rules(territory):
            name: Any = r.get("name")
            label = name if isinstance(name, str) else (name.get("en") or next(
                iter(name.values()), ""))
            table.add_row(r["id"], r["when"]["kind"], r["severity"], r.get("post") or "",
                          "yes" if r["active"] else "no", str(r["version"]), label)
    cli_common.console.print(table)


@app.command("switch")
def switch(territory: TerritoryOpt, rule: Annotated[list[str], typer.Argument(
        help="Rule ids.")], off: Annotated[bool, typer.Option(
        "--off", help="Switch off (default: on).")] = False) -> None:
    """Switch rules on or off (what crisis plans do)."""
    with cli_common.services() as services:
        services.rules.set_active(territory, rule, not off, _actor())
    cli_common.console.print(f"{len(rule)} rule(s) switched {'off' if off else 'on'}.")


@alarms_app.command("list")
def list_alarms(
    territory: TerritoryOpt,
    open_only: Annotated[bool, typer.Option("--open", help="Only open alarms.")] = False,
    post: Annotated[str | None, typer.Option(help="Control post.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest first).")] = 100,
) -> None:
    """List the alarms of a territory, newest first."""
    table = Table("id", "state", "severity", "rule", "asset", "post", "raised", "updates",
                  "message")
    with cli_common.services() as services:
        page = services.rules.list_alarms(territory, state="open" if open_only else None,
                                          post=post, limit=limit)
    for a in page["items"]:
        table.add_row(str(a["id"]), a["state"], a["severity"], a["rule"], a["asset"] or "*",
                      a["post"] or "", a["raised"], str(a["updates"]), a["message"])
    cli_common.console.print(table)
