"""Command-line commands of the auth package (registered in beffroi.cli): ``beffroi user``,
``beffroi token`` and ``beffroi audit``. Whoever runs the CLI has the database in hand: it acts
as a superuser, named ``cli:<system user>`` in the audit log."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from beffroi import cli_common
from beffroi.auth.models import GrantOut, Role
from beffroi.cli_common import cli_actor as cli_actor  # re-exported for the other CLIs
from beffroi.timeutil import to_iso

user_app = typer.Typer(help="Users of the UI: create, list, grant roles.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens of machines and scripts: create, list, revoke.",
                        no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log: verify, list.", no_args_is_help=True)

RoleOpt = Annotated[Role, typer.Option("--role", "-r", help="Role in the territory.")]
TerritoryOpt = Annotated[str, typer.Option("--territory", "-t", help="Territory code.")]
PostsOpt = Annotated[list[str] | None, typer.Option(
    "--post", "-p", help="Control post of an operator (repeatable).")]


def register(root: typer.Typer) -> None:
    """Add this package's command groups to the ``beffroi`` command."""
    root.add_typer(user_app, name="user")
    root.add_typer(token_app, name="token")
    root.add_typer(audit_app, name="audit")


def _grants(grants: list[GrantOut]) -> str:
    return "; ".join(f"{g.territory}: {g.role.value}"
                     + (f" ({', '.join(g.posts)})" if g.posts else "") for g in grants)


@user_app.command("add")
def user_add(
    username: str,
    superuser: Annotated[bool, typer.Option(help="Administrator of the installation.")] = False,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the UI.")] = None,
    password_stdin: Annotated[bool, typer.Option(
        help="Read the password from the first line of standard input.")] = False,
) -> None:
    """Create a user (the password is prompted for, or read from stdin)."""
    from beffroi.auth.models import UserIn

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    data = UserIn(username=username, password=password, display_name=display_name,
                  superuser=superuser)
    with cli_common.services() as services:
        user = services.auth.create_user(data, cli_actor())
    kind = "superuser" if user.superuser else "user"
    cli_common.console.print(f"{kind.capitalize()} [bold]{user.username}[/] created.")


@user_app.command("list")
def user_list() -> None:
    """List users and their roles."""
    table = Table("username", "name", "superuser", "disabled", "roles")
    with cli_common.services() as services:
        for u in services.auth.list_users(cli_actor()):
            table.add_row(u.username, u.display_name, "yes" if u.superuser else "",
                          "yes" if u.disabled else "", _grants(list(u.grants)))
    cli_common.console.print(table)


@user_app.command("grant")
def user_grant(username: str, territory: TerritoryOpt, role: RoleOpt,
               post: PostsOpt = None) -> None:
    """Give a user a role in a territory (replaces the role it had there)."""
    from beffroi.auth.models import GrantIn

    with cli_common.services() as services:
        services.auth.set_grant(territory, username, GrantIn(role=role, posts=post or []),
                                cli_actor())
    cli_common.console.print(f"{username} is {role.value} of {territory}.")


@user_app.command("revoke-grant")
def user_revoke_grant(username: str, territory: TerritoryOpt) -> None:
    """Remove a user's role in a territory."""
    with cli_common.services() as services:
        services.auth.remove_grant(territory, username, cli_actor())
    cli_common.console.print(f"{username} no longer has a role in {territory}.")


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Disable a user (its sessions end; it can no longer log in)."""
    from beffroi.auth.models import UserPatch

    with cli_common.services() as services:
        services.auth.update_user(username, UserPatch(disabled=True), cli_actor())
    cli_common.console.print(f"{username} disabled.")


@token_app.command("create")
def token_create(
    name: str,
    territory: Annotated[str | None, typer.Option("--territory", "-t",
                                                  help="Territory code.")] = None,
    role: Annotated[Role | None, typer.Option("--role", "-r", help="Role in the territory.")
                    ] = None,
    post: PostsOpt = None,
    expires_days: Annotated[float | None, typer.Option(help="Expire after this many days.")
                            ] = None,
    superuser: Annotated[bool, typer.Option(
        help="An installation-wide superuser token (no territory, no role).")] = False,
) -> None:
    """Create an API token and print its secret (shown once: only its hash is kept)."""
    from beffroi.auth.models import TokenIn

    with cli_common.services() as services:
        if superuser:
            if territory or role:
                raise typer.BadParameter("--superuser takes no --territory nor --role")
            created = services.auth.create_token(None, None, cli_actor(), superuser_name=name)
        else:
            if not territory or role is None:
                raise typer.BadParameter("--territory and --role are required "
                                         "(or --superuser)")
            expires = (services.clock() + int(expires_days * 86_400_000)
                       if expires_days is not None else None)
            created = services.auth.create_token(
                territory, TokenIn(name=name, role=role, posts=post or [], expires_ms=expires),
                cli_actor())
    cli_common.err.print(f"Token {created.id} ({created.name}) created. Its secret, shown "
                         "once (send it as 'Authorization: Bearer <secret>'):")
    cli_common.console.print(created.secret, markup=False, soft_wrap=True)


@token_app.command("list")
def token_list(territory: Annotated[str | None, typer.Option(
        "--territory", "-t", help="Only this territory.")] = None) -> None:
    """List API tokens (never their secrets)."""
    table = Table("id", "name", "territory", "role", "created", "expires", "last used",
                  "revoked")
    with cli_common.services() as services:
        for t in services.auth.list_tokens(territory):
            table.add_row(
                str(t.id), t.name, t.territory or "(all)",
                "superuser" if t.superuser else (t.role.value if t.role else ""),
                to_iso(t.created_ms), to_iso(t.expires_ms) if t.expires_ms else "never",
                to_iso(t.last_used_ms) if t.last_used_ms else "",
                to_iso(t.revoked_ms) if t.revoked_ms else "")
    cli_common.console.print(table)


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke an API token by id."""
    with cli_common.services() as services:
        token = services.auth.revoke_token(token_id, cli_actor())
    cli_common.console.print(f"Token {token.id} ({token.name}) revoked.")


@audit_app.command("verify")
def audit_verify(anchor: Annotated[str | None, typer.Option(
        help="ID:HASH printed by an earlier verify and kept elsewhere: that entry must "
             "still have that hash.")] = None) -> None:
    """Walk the whole chain: exit 0 if intact, 1 naming the first bad entry."""
    expected: tuple[int, str] | None = None
    if anchor is not None:
        entry_id, _, digest = anchor.partition(":")
        if not entry_id.isdigit() or len(digest) != 64:
            raise typer.BadParameter("ID:HASH expected (the 'anchor' line of a verify)",
                                     param_hint="--anchor")
        expected = (int(entry_id), digest.lower())
    with cli_common.services() as services:
        result = services.audit.verify(expected)
    if result.ok:
        cli_common.console.print(result.summary())
        if result.entries:
            cli_common.console.print(f"anchor: {result.entries}:{result.head_hash}",
                                     markup=False)
        return
    cli_common.err.print(f"[red]{result.summary()}[/]")
    raise typer.Exit(1)


@audit_app.command("list")
def audit_list(
    territory: Annotated[str | None, typer.Option("--territory", "-t",
                                                  help="Only this territory.")] = None,
    actor: Annotated[str | None, typer.Option(help="e.g. user:alice")] = None,
    action: Annotated[str | None, typer.Option(help="Exact, or a prefix ending with '.'")
                      ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    after: Annotated[int, typer.Option(help="Entries after this id.")] = 0,
) -> None:
    """List audit entries, oldest first."""
    table = Table("id", "time", "actor", "action", "target", "territory")
    with cli_common.services() as services:
        tid = services.registry.territory_id(territory) if territory else None
        items, next_cursor = services.audit.list(territory_id=tid, actor=actor, action=action,
                                                 after_id=after, limit=limit)
    for e in items:
        table.add_row(str(e["id"]), e["time"], e["actor"], e["action"], e["target"],
                      str(e["territory_id"] or ""))
    cli_common.console.print(table)
    if next_cursor:
        cli_common.console.print(f"more: --after {next_cursor}")
