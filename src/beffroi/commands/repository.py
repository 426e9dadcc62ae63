"""The ``commands`` table (migration 0008) and the queries of the commands package."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    Row,
    String,
    Table,
    Text,
    bindparam,
    case,
    func,
    insert,
    select,
    update,
)

from beffroi.store import schema

# One row per (command, asset). Rows of one send share a batch id. ``urn`` and ``asset_type``
# are copied so that the history stays readable after the asset is deleted.
commands = Table(
    "commands",
    schema.metadata,
    Column("id", Integer, primary_key=True),
    Column("territory_id", Integer, ForeignKey("territories.id", ondelete="CASCADE"),
           nullable=False),
    Column("batch_id", String(32), nullable=False),
    Column("asset_id", Integer, ForeignKey("assets.id", ondelete="SET NULL")),
    Column("urn", String(256), nullable=False),
    Column("asset_type", String(64), nullable=False),
    Column("command", String(32), nullable=False),
    Column("params", JSON, nullable=False),
    Column("correlation_id", String(32), nullable=False, unique=True),
    Column("state", String(16), nullable=False),
    Column("actor", String(160), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("sent_ms", BigInteger),
    Column("acked_ms", BigInteger),
    Column("finished_ms", BigInteger),
    Column("deadline_ms", BigInteger, nullable=False),
    Column("message", Text),
)
Index("ix_commands_territory_batch", commands.c.territory_id, commands.c.batch_id)
Index("ix_commands_territory_urn", commands.c.territory_id, commands.c.urn)
Index("ix_commands_state_deadline", commands.c.state, commands.c.deadline_ms)

C = commands
A = schema.assets


def target_rows(conn: Connection, territory_id: int, urns: Sequence[str]) -> dict[str, Any]:
    """URN → (id, urn, type, control_post) of the given assets that exist in the territory."""
    out: dict[str, Any] = {}
    query = select(A.c.id, A.c.urn, A.c.type, A.c.control_post).where(
        A.c.territory_id == territory_id, A.c.urn.in_(bindparam("urns", expanding=True)))
    for i in range(0, len(urns), 900):
        for r in conn.execute(query, {"urns": list(urns[i : i + 900])}):
            out[r.urn] = r
    return out


def insert_commands(conn: Connection, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), 1000):
        conn.execute(insert(C), rows[i : i + 1000])


def by_correlation(conn: Connection, correlation_ids: Iterable[str]) -> dict[str, Row[Any]]:
    ids = list(dict.fromkeys(correlation_ids))
    out: dict[str, Row[Any]] = {}
    query = select(C).where(C.c.correlation_id.in_(bindparam("ids", expanding=True)))
    for i in range(0, len(ids), 900):
        out.update({r.correlation_id: r for r in conn.execute(query, {"ids": ids[i : i + 900]})})
    return out


def transition(conn: Connection, command_id: int, from_states: Sequence[str],
               values: dict[str, Any]) -> bool:
    """Move one row on if it is still in one of ``from_states`` (True if it moved)."""
    result = conn.execute(update(C).where(C.c.id == command_id, C.c.state.in_(from_states))
                          .values(**values))
    return bool(result.rowcount)


def mark_sent(conn: Connection, correlation_ids: Sequence[str], sent_ms: int) -> int:
    """The broker accepted these publications: ``sent_ms`` set, and pending rows become sent
    (a row whose device answered before the PUBACK was processed keeps its answer)."""
    moved = 0
    for i in range(0, len(correlation_ids), 900):
        result = conn.execute(
            update(C).where(C.c.correlation_id.in_(list(correlation_ids[i : i + 900])),
                            C.c.sent_ms.is_(None))
            .values(sent_ms=sent_ms,
                    state=case((C.c.state == "pending", "sent"), else_=C.c.state)))
        moved += result.rowcount
    return moved


def overdue(conn: Connection, now_ms: int, limit: int) -> list[Row[Any]]:
    query = (select(C).where(C.c.state.in_(("pending", "sent")), C.c.deadline_ms <= now_ms)
             .order_by(C.c.id).limit(limit))
    return list(conn.execute(query))


def get(conn: Connection, territory_id: int, command_id: int) -> Row[Any] | None:
    return conn.execute(select(C).where(C.c.territory_id == territory_id,
                                        C.c.id == command_id)).first()


def of_batch(conn: Connection, territory_id: int, batch_id: str) -> list[Row[Any]]:
    return list(conn.execute(select(C).where(C.c.territory_id == territory_id,
                                             C.c.batch_id == batch_id).order_by(C.c.id)))


def pending_of(conn: Connection, ids: Sequence[int]) -> list[Row[Any]]:
    """Rows still pending among these (to publish again)."""
    return list(conn.execute(select(C).where(C.c.id.in_(list(ids)), C.c.state == "pending")))


def list_commands(conn: Connection, territory_id: int, *, state: str | None, urn: str | None,
                  batch_id: str | None, before_id: int | None, limit: int) -> list[Row[Any]]:
    """Newest first; ``before_id`` pages backwards."""
    query = select(C).where(C.c.territory_id == territory_id)
    if state:
        query = query.where(C.c.state == state)
    if urn:
        query = query.where(C.c.urn == urn)
    if batch_id:
        query = query.where(C.c.batch_id == batch_id)
    if before_id:
        query = query.where(C.c.id < before_id)
    return list(conn.execute(query.order_by(C.c.id.desc()).limit(limit)))


def state_counts(conn: Connection, territory_id: int, batch_id: str) -> dict[str, int]:
    query = (select(C.c.state, func.count()).where(C.c.territory_id == territory_id,
                                                   C.c.batch_id == batch_id)
             .group_by(C.c.state))
    return {str(s): int(n) for s, n in conn.execute(query)}
