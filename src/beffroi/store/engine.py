"""Engine creation and the :class:`Store`: connections, the write path's lock, dialect facts.

SQLite runs in WAL mode with one writer at a time (an in-process lock, and ``BEGIN IMMEDIATE``
so that two processes never deadlock upgrading a read lock); readers never block on it.
PostgreSQL is reached through psycopg 3.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from beffroi.errors import StoreUnavailable

SQLITE_PRAGMAS = (
    "journal_mode=WAL",
    "synchronous=NORMAL",
    "foreign_keys=ON",
    "busy_timeout=30000",
    "cache_size=-131072",
    "temp_store=MEMORY",
)


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and pick the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.info.get("beffroi_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)


class Store:
    """The database of one installation. Built once by ``open_store(settings)``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name  # "sqlite" | "postgresql"
        self._write_lock = threading.Lock()
        self.known_partitions: set[str] = set()
        self._grown: dict[str, tuple[int, int]] = {}  # table -> (rows added, threshold)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads, in one transaction (a consistent snapshot)."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreUnavailable(f"database unavailable: {exc.orig}") from exc

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction. One at a time per process; committed on success."""
        with self._write_lock:
            try:
                with self.engine.connect() as conn:
                    conn.info["beffroi_write"] = True
                    try:
                        with conn.begin():
                            yield conn
                    finally:
                        conn.info.pop("beffroi_write", None)
            except OperationalError as exc:
                raise StoreUnavailable(f"database unavailable: {exc.orig}") from exc

    def note_growth(self, conn: Connection, table: str, added: int) -> None:
        """Refresh PostgreSQL's planner statistics on a table that grew a lot.

        A fresh table has no statistics until autovacuum comes by (a minute or more), and
        meanwhile the planner turns lookups by key into scans: a bulk import then slows down
        quadratically. We ANALYZE each time the rows added since the last one double.
        """
        if self.is_sqlite or added <= 0:
            return
        count, threshold = self._grown.get(table, (0, 1000))
        count += added
        if count >= threshold:
            conn.execute(text(f'ANALYZE "{table}"'))
            self._grown[table] = (count, count * 2)
        else:
            self._grown[table] = (count, threshold)

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(database_url: str) -> Store:
    return Store(make_engine(database_url))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def sqlite_single_connection_engine(url: str) -> Engine:
    """An engine without pooling (for tools that open and close the file explicitly)."""
    return create_engine(normalise_url(url), poolclass=NullPool)
