"""Command-line commands of the rules package (registered in beffroi.cli)."""

from __future__ import annotations

import typer

app = typer.Typer(help="rules", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Add this package's command groups to the ``beffroi`` command."""
