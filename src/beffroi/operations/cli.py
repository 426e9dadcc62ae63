"""Command-line commands of the operations package (registered in beffroi.cli):
``beffroi posts`` (list, add, defaults), ``beffroi incidents`` (list, show, sla-check) and
``beffroi crisis`` (list, load, activate, deactivate, log). The command line acts as a
superuser (``cli:<login>`` in the audit log)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from beffroi import cli_common

posts_app = typer.Typer(help="Control posts of a territory.", no_args_is_help=True)
incidents_app = typer.Typer(help="Incidents: list, show, SLA pass.", no_args_is_help=True)
crisis_app = typer.Typer(help="Crisis plans: list, load, activate, deactivate, log.",
                         no_args_is_help=True)

TerritoryOpt = Annotated[str, typer.Option("--territory", "-t", help="Territory code.")]
NameArg = Annotated[str, typer.Argument(help="Plan name, e.g. snow.")]


def register(root: typer.Typer) -> None:
    """Add this package's command groups to the ``beffroi`` command."""
    root.add_typer(posts_app, name="posts")
    root.add_typer(incidents_app, name="incidents")
    root.add_typer(crisis_app, name="crisis")


def _actor() -> Any:
    from beffroi.cli_common import cli_actor

    return cli_actor()


# --- posts --------------------------------------------------------------------------------------


@posts_app.command("list")
def posts_list(territory: TerritoryOpt) -> None:
    """List the control posts (the defaults are created on first use)."""
    table = Table("code", "name (fr)", "name (en)")
    with cli_common.services() as services:
        for p in services.operations.list_posts(territory, _actor()):
            table.add_row(p.code, p.name_fr, p.name_en)
    cli_common.console.print(table)


@posts_app.command("add")
def posts_add(
    territory: TerritoryOpt,
    code: Annotated[str, typer.Argument(help="Post code, e.g. port.")],
    name_fr: Annotated[str, typer.Option("--fr", help="French name.")],
    name_en: Annotated[str, typer.Option("--en", help="English name.")],
) -> None:
    """Add a control post."""
    from beffroi.operations.models import PostIn

    data = PostIn(code=code, name_fr=name_fr, name_en=name_en)
    with cli_common.services() as services:
        post = services.operations.add_post(territory, data, _actor())
    cli_common.console.print(f"Control post [bold]{post.code}[/] added.")


@posts_app.command("defaults")
def posts_defaults(territory: TerritoryOpt) -> None:
    """Create the default posts, routings, incident categories and crisis plans now (else
    the first use does), unless the territory has them already."""
    with cli_common.services() as services:
        created = services.operations.ensure_defaults(territory, _actor())
    cli_common.console.print("Defaults created." if created else
                             "The territory has its defaults already.")


# --- incidents ----------------------------------------------------------------------------------


@incidents_app.command("list")
def incidents_list(
    territory: TerritoryOpt,
    post: Annotated[str | None, typer.Option(help="Only this control post.")] = None,
    state: Annotated[str | None, typer.Option(
        help="A step (reported … closed) or 'open'.")] = None,
    category: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List incidents, newest first."""
    table = Table("id", "reported", "post", "category", "state", "level", "assignee", "title")
    with cli_common.services() as services:
        page = services.operations.list_incidents(territory, _actor(), post=post, state=state,
                                                  category=category, limit=limit)
    for i in page.items:
        table.add_row(str(i.id), i.timestamps["reported"] or "", i.post, i.category, i.state,
                      str(i.level), i.assignee or "", i.title[:60])
    cli_common.console.print(table)


@incidents_app.command("show")
def incidents_show(territory: TerritoryOpt, incident_id: int) -> None:
    """An incident with its steps, SLA, alarms and comments."""
    with cli_common.services() as services:
        d = services.operations.get_incident(territory, incident_id, _actor())
    out = cli_common.console
    out.print(f"[bold]#{d.id}[/] {d.title} — {d.category} / {d.post} — {d.state} "
              f"(level {d.level})", highlight=False)
    for s in d.steps:
        out.print(f"  {s.at}  {s.step:<12} {s.actor}  {s.note}", markup=False)
    for sla in d.sla:
        flag = "late" if sla.late else ("met" if sla.met else f"{sla.remaining_s}s left")
        out.print(f"  SLA {sla.step:<12} due {sla.due}  {flag}", markup=False)
    for a in d.alarms:
        out.print(f"  alarm {a.alarm_id} {a.rule_id} {a.asset or ''} raised {a.raised}"
                  + (f" cleared {a.cleared}" if a.cleared else ""), markup=False)
    for c in d.comments:
        out.print(f"  {c.at} {c.actor}: {c.text}", markup=False)


@incidents_app.command("sla-check")
def incidents_sla_check() -> None:
    """Run one SLA pass now (the server runs it periodically) and print the escalations."""
    with cli_common.services() as services:
        events = services.operations.tick()
    for e in events:
        cli_common.console.print(f"{e.territory} incident {e.incident_id}: {e.step} late "
                                 f"(level {e.level}, post {e.post})", markup=False)
    cli_common.console.print(f"{len(events)} escalation(s).")


# --- crisis plans -------------------------------------------------------------------------------


@crisis_app.command("list")
def crisis_list(territory: TerritoryOpt) -> None:
    """List crisis plans and whether they are active."""
    table = Table("name", "title", "post", "active", "since", "rules", "commands")
    with cli_common.services() as services:
        for p in services.operations.list_plans(territory, _actor()):
            table.add_row(p.name, p.title, p.post, "yes" if p.active else "",
                          p.activated or "", ", ".join(p.rules), str(len(p.commands)))
    cli_common.console.print(table)


@crisis_app.command("load")
def crisis_load(
    territory: TerritoryOpt,
    file: Annotated[Path, typer.Argument(help="YAML: plans: {name: {title, post, rules, "
                                              "routings, commands, release_commands}}",
                                         exists=True, dir_okay=False, readable=True)],
) -> None:
    """Create or replace crisis plans from a YAML file."""
    import yaml

    from beffroi.errors import ValidationFailed, field_error
    from beffroi.operations.models import CrisisPlanIn

    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"{file}: not YAML", [field_error("file", str(exc))]) from exc
    plans = doc.get("plans") if isinstance(doc, dict) else None
    if not isinstance(plans, dict) or not plans:
        raise ValidationFailed(f"{file}: no plans", [field_error(
            "plans", "a mapping of plan name → {title, post, rules, routings, commands}")])
    with cli_common.services() as services:
        for name, body in plans.items():
            plan = services.operations.put_plan(territory, str(name),
                                                CrisisPlanIn.model_validate(body), _actor())
            cli_common.console.print(f"Crisis plan [bold]{plan.name}[/] saved.")


def _print_activation(done: Any) -> None:
    out = cli_common.console
    out.print(f"Crisis plan [bold]{done.plan}[/]: {done.action}d at {done.at}.")
    switched = done.outcome.get("rules_switched") or []
    if switched:
        out.print(f"  rules switched: {', '.join(switched)}", markup=False)
    for c in done.outcome.get("commands", []):
        out.print(f"  commands {', '.join(c['commands'])}: {c['status']}"
                  + (f" ({c['message']})" if c.get("message") else ""), markup=False)


@crisis_app.command("activate")
def crisis_activate(territory: TerritoryOpt, name: NameArg) -> None:
    """Activate a crisis plan: its rules on, its routings, its standing commands."""
    with cli_common.services() as services:
        done = services.operations.activate(territory, name, _actor())
    _print_activation(done)


@crisis_app.command("deactivate")
def crisis_deactivate(territory: TerritoryOpt, name: NameArg) -> None:
    """Deactivate a crisis plan (reverses what its activation switched)."""
    with cli_common.services() as services:
        done = services.operations.deactivate(territory, name, _actor())
    _print_activation(done)


@crisis_app.command("log")
def crisis_log(territory: TerritoryOpt,
               plan: Annotated[str | None, typer.Option(help="Only this plan.")] = None) -> None:
    """The activation log, newest first."""
    table = Table("at", "plan", "action", "actor")
    with cli_common.services() as services:
        for a in services.operations.activations(territory, _actor(), plan):
            table.add_row(a.at, a.plan, a.action, a.actor)
    cli_common.console.print(table)
