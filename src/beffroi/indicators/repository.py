"""Queries of the indicators package (tables in ``tables.py``; no behaviour here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, insert, select, update

from beffroi.indicators.models import Indicator, Value
from beffroi.indicators.tables import contracts, indicator_values, indicator_versions, indicators


def save_version(conn: Connection, territory_id: int, ind: Indicator, actor: str, now_ms: int
                 ) -> bool:
    """Keep this version of the definition; True if it is new."""
    found = conn.execute(select(indicator_versions.c.id).where(
        indicator_versions.c.territory_id == territory_id,
        indicator_versions.c.code == ind.code,
        indicator_versions.c.version == ind.version)).first()
    if found is not None:
        return False
    conn.execute(insert(indicator_versions).values(
        territory_id=territory_id, code=ind.code, version=ind.version,
        definition=ind.definition, created_ms=now_ms, created_by=actor))
    return True


def current(conn: Connection, territory_id: int, code: str | None = None) -> list[Row[Any]]:
    """Current definitions: (code, version, active, origin, updated_ms, definition)."""
    q = (select(indicators.c.code, indicators.c.version, indicators.c.active,
                indicators.c.origin, indicators.c.updated_ms, indicator_versions.c.definition)
         .join(indicator_versions, and_(
             indicator_versions.c.territory_id == indicators.c.territory_id,
             indicator_versions.c.code == indicators.c.code,
             indicator_versions.c.version == indicators.c.version))
         .where(indicators.c.territory_id == territory_id))
    if code is not None:
        q = q.where(indicators.c.code == code)
    return list(conn.execute(q.order_by(indicators.c.code)))


def set_current(conn: Connection, territory_id: int, code: str, version: str, active: bool,
                origin: str, now_ms: int) -> Row[Any] | None:
    """Point ``code`` at ``version``; return the previous row (None if new)."""
    before = conn.execute(select(indicators).where(
        indicators.c.territory_id == territory_id, indicators.c.code == code)).first()
    if before is None:
        conn.execute(insert(indicators).values(
            territory_id=territory_id, code=code, version=version, active=active,
            origin=origin, updated_ms=now_ms))
    else:
        conn.execute(update(indicators).where(indicators.c.id == before.id).values(
            version=version, active=active, origin=origin, updated_ms=now_ms))
    return before


def set_active(conn: Connection, territory_id: int, code: str, active: bool, now_ms: int
               ) -> int:
    return conn.execute(update(indicators).where(
        indicators.c.territory_id == territory_id, indicators.c.code == code).values(
        active=active, updated_ms=now_ms)).rowcount


def version_definition(conn: Connection, territory_id: int, code: str, version: str
                       ) -> dict[str, Any] | None:
    row = conn.execute(select(indicator_versions.c.definition).where(
        indicator_versions.c.territory_id == territory_id,
        indicator_versions.c.code == code, indicator_versions.c.version == version)).first()
    return None if row is None else dict(row[0])


def versions(conn: Connection, territory_id: int, code: str) -> list[Row[Any]]:
    return list(conn.execute(select(indicator_versions.c.version,
                                    indicator_versions.c.created_ms,
                                    indicator_versions.c.created_by).where(
        indicator_versions.c.territory_id == territory_id,
        indicator_versions.c.code == code).order_by(indicator_versions.c.created_ms)))


def save_values(conn: Connection, territory_id: int, values: Sequence[Value]) -> None:
    """Insert or replace (same indicator, period, start and version) computed values."""
    for v in values:
        key = and_(indicator_values.c.territory_id == territory_id,
                   indicator_values.c.code == v.code,
                   indicator_values.c.period == v.window.period,
                   indicator_values.c.start_ms == v.window.start_ms,
                   indicator_values.c.version == v.version)
        row = {"label": v.window.label, "end_ms": v.window.end_ms, "value": v.value,
               "unit": v.unit, "target": v.target, "comparator": v.comparator, "met": v.met,
               "lineage": v.lineage.to_dict(), "inputs_hash": v.lineage.inputs_hash,
               "software_version": v.lineage.software_version, "computed_ms": v.computed_ms}
        if conn.execute(update(indicator_values).where(key).values(**row)).rowcount == 0:
            conn.execute(insert(indicator_values).values(
                territory_id=territory_id, code=v.code, version=v.version,
                period=v.window.period, start_ms=v.window.start_ms, **row))


def stored_values(conn: Connection, territory_id: int, code: str | None, period: str | None,
                  start_ms: int | None, end_ms: int | None, version: str | None = None,
                  limit: int = 1000) -> list[Row[Any]]:
    q = select(indicator_values).where(indicator_values.c.territory_id == territory_id)
    if code is not None:
        q = q.where(indicator_values.c.code == code)
    if period is not None:
        q = q.where(indicator_values.c.period == period)
    if start_ms is not None:
        q = q.where(indicator_values.c.start_ms >= start_ms)
    if end_ms is not None:
        q = q.where(indicator_values.c.start_ms < end_ms)
    if version is not None:
        q = q.where(indicator_values.c.version == version)
    q = q.order_by(indicator_values.c.code, indicator_values.c.start_ms,
                   indicator_values.c.computed_ms.desc(), indicator_values.c.id.desc()
                   ).limit(limit)
    return list(conn.execute(q).all())


def save_contract(conn: Connection, territory_id: int, code: str, version: str,
                  definition: dict[str, Any], actor: str, now_ms: int) -> Row[Any] | None:
    before = conn.execute(select(contracts).where(
        contracts.c.territory_id == territory_id, contracts.c.code == code)).first()
    values = {"version": version, "definition": definition, "updated_ms": now_ms,
              "updated_by": actor}
    if before is None:
        conn.execute(insert(contracts).values(territory_id=territory_id, code=code, **values))
    else:
        conn.execute(update(contracts).where(contracts.c.id == before.id).values(**values))
    return before


def contract_rows(conn: Connection, territory_id: int, code: str | None = None
                  ) -> list[Row[Any]]:
    q = select(contracts).where(contracts.c.territory_id == territory_id)
    if code is not None:
        q = q.where(contracts.c.code == code)
    return list(conn.execute(q.order_by(contracts.c.code)).all())


def delete_contract(conn: Connection, territory_id: int, code: str) -> int:
    return conn.execute(delete(contracts).where(
        contracts.c.territory_id == territory_id, contracts.c.code == code)).rowcount
