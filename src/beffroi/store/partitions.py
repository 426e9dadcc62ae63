"""PostgreSQL: monthly range partitions of ``observations``, created ahead and on demand.

A write whose readings fall in a month without a partition creates it first (in its own
short transaction, under an advisory lock so concurrent workers do not race). ``ensure_ahead``
creates the coming months so that the hot path normally never has to.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from beffroi.store.engine import Store, now_ms

_LOCK_KEY = 0x6265_6666  # "beff"


def month_start(ts_ms: int) -> datetime:
    dt = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return datetime(dt.year, dt.month, 1, tzinfo=UTC)


def next_month(dt: datetime) -> datetime:
    return datetime(dt.year + (dt.month == 12), dt.month % 12 + 1, 1, tzinfo=UTC)


def partition_name(start: datetime) -> str:
    return f"observations_p{start.year:04d}_{start.month:02d}"


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def load_known(store: Store) -> None:
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'observations'"
            )
        )
        store.known_partitions.update(r[0] for r in rows)


def ensure_range(store: Store, min_ts_ms: int, max_ts_ms: int) -> None:
    """Make sure every month from ``min_ts_ms`` to ``max_ts_ms`` has its partition."""
    if store.is_sqlite:
        return
    if not store.known_partitions:
        load_known(store)
    wanted: list[datetime] = []
    start = month_start(min_ts_ms)
    last = month_start(max_ts_ms)
    while start <= last:
        if partition_name(start) not in store.known_partitions:
            wanted.append(start)
        start = next_month(start)
    if not wanted:
        return
    with store.engine.connect() as conn:
        with conn.begin():
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            for start in wanted:
                name = partition_name(start)
                conn.exec_driver_sql(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF observations "
                    f"FOR VALUES FROM ({_ms(start)}) TO ({_ms(next_month(start))})"
                )
        store.known_partitions.update(partition_name(s) for s in wanted)


def ensure_ahead(store: Store, months: int = 3) -> None:
    """Create the partitions of the current month and the ``months`` after it."""
    start = month_start(now_ms())
    end = start
    for _ in range(months):
        end = next_month(end)
    ensure_range(store, _ms(start), _ms(end))
