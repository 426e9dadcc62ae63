"""What every command-line module shares: the consoles, the global options and the services
of one command (built once from the settings, disposed at the end)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from beffroi.auth.models import Principal
from beffroi.settings import Settings, load_settings

console = Console()
err = Console(stderr=True)


class State:
    config: Path | None = None
    database_url: str | None = None

    def settings(self) -> Settings:
        return load_settings(self.config, database_url=self.database_url)


state = State()


def cli_actor() -> Principal:
    """Who a command acts as: it has the database in hand, so a superuser, named
    ``cli:<system user>`` in the audit log."""
    import getpass

    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no user name in some containers
        name = "unknown"
    return Principal(kind="cli", name=name, superuser=True)


@contextmanager
def services(upgrade: bool = True) -> Iterator[Any]:
    """The services of one command, on a migrated store that is closed at the end."""
    from beffroi.app import build_services
    from beffroi.store import migrate

    services = build_services(state.settings())
    try:
        if upgrade:
            migrate.upgrade(services.store, ahead_months=services.settings.partitions_ahead_months)
        yield services
    finally:
        services.store.dispose()


@contextmanager
def store() -> Iterator[Any]:
    from beffroi.store import open_store

    store = open_store(state.settings().database_url)
    try:
        yield store
    finally:
        store.dispose()
