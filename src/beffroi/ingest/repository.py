"""SQL of the dead letters (no SQL elsewhere in the ingest package)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from beffroi.store.schema import dead_letters as D
from beffroi.store.schema import mqtt_users as U


def insert_dead_letters(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(D), [{k: _no_nul(v) for k, v in r.items()} for r in rows])


def _no_nul(value: Any) -> Any:
    """PostgreSQL's text cannot hold NUL: a field name or reason quoting bad input spells it."""
    return value.replace("\x00", "\\u0000") if isinstance(value, str) else value


def list_dead_letters(conn: Connection, territory: str, reason: str | None, after_id: int,
                      limit: int, pending_only: bool) -> list[Row[Any]]:
    query = select(D).where(D.c.territory == territory, D.c.id > after_id)
    if reason:
        query = query.where(D.c.reason_code == reason)
    if pending_only:
        query = query.where(D.c.replayed_ms.is_(None))
    return list(conn.execute(query.order_by(D.c.id).limit(limit)))


def counts_by_reason(conn: Connection, territory: str) -> list[Any]:
    query = (
        select(D.c.reason_code, func.count(), func.max(D.c.received_ms),
               func.count(D.c.replayed_ms))
        .where(D.c.territory == territory)
        .group_by(D.c.reason_code)
        .order_by(D.c.reason_code)
    )
    return list(conn.execute(query))


def dead_letter(conn: Connection, territory: str, letter_id: int) -> Row[Any] | None:
    return conn.execute(
        select(D).where(D.c.territory == territory, D.c.id == letter_id)
    ).one_or_none()


def mark_replayed(conn: Connection, letter_id: int, now_ms: int) -> None:
    conn.execute(update(D).where(D.c.id == letter_id).values(
        replayed_ms=now_ms, attempts=D.c.attempts + 1))


def mark_failed_again(conn: Connection, letter_id: int, code: str, field_name: str,
                      reason: str) -> None:
    conn.execute(update(D).where(D.c.id == letter_id).values(
        reason_code=code, field=field_name, reason=reason, attempts=D.c.attempts + 1))


def insert_mqtt_user(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(U).values(**values))


def mqtt_users(conn: Connection, territory: str | None, active_only: bool) -> list[Any]:
    query = select(U).order_by(U.c.username)
    if territory is not None:
        query = query.where(U.c.territory == territory)
    if active_only:
        query = query.where(U.c.revoked_ms.is_(None))
    return list(conn.execute(query))


def revoke_mqtt_user(conn: Connection, username: str, now_ms: int) -> bool:
    result = conn.execute(update(U).where(U.c.username == username, U.c.revoked_ms.is_(None))
                          .values(revoked_ms=now_ms))
    return bool(result.rowcount)
