"""Command-line commands of the auth package (registered in beffroi.cli)."""

from __future__ import annotations

import typer

app = typer.Typer(help="auth", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Add this package's command groups to the ``beffroi`` command."""
