"""Tables of the rules package (created by migration 0006), read and written through ``store``.

``rule_defs`` holds the current definition of each rule of a territory, ``rule_versions`` every
version ever stored (auditors: which version of a rule raised an alarm), ``rule_sets`` one
counter per territory bumped by every change (other processes reload when it moves),
``alarms`` the alarms (at most one open per ``dedupe_key`` = rule and asset, enforced by a
partial unique index) and ``alarm_events`` their history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Integer,
    Row,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from beffroi.store import schema
from beffroi.store.schema import territory_column

metadata = schema.metadata



rule_defs = Table(
    "rule_defs", metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("rule_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("definition", JSON, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("updated_by", String(128), nullable=False),
)

rule_versions = Table(
    "rule_versions", metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("rule_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("definition", JSON),
    Column("created_ms", BigInteger, nullable=False),
    Column("actor", String(128), nullable=False),
)

rule_sets = Table(
    "rule_sets", metadata,
    Column("territory_id", Integer, ForeignKey("territories.id", ondelete="CASCADE"),
           primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)

alarms = Table(
    "alarms", metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("rule_id", String(64), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("asset_id", Integer, ForeignKey("assets.id", ondelete="SET NULL")),
    Column("asset_urn", String(256)),
    Column("dedupe_key", String(128), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("post", String(64)),
    Column("incident", String(8), nullable=False),
    Column("category", String(64)),
    Column("state", String(16), nullable=False),
    Column("raised_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("acknowledged_by", String(128)),
    Column("acknowledged_ms", BigInteger),
    Column("cleared_by", String(128)),
    Column("cleared_ms", BigInteger),
    Column("value", Float),
    Column("text", String(64)),
    Column("message", Text, nullable=False),  # in English
    Column("messages", JSON),  # {"fr": …, "en": …}
    Column("updates", Integer, nullable=False),
)

alarm_events = Table(
    "alarm_events", metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("alarm_id", Integer, ForeignKey("alarms.id", ondelete="CASCADE"), nullable=False),
    Column("change", String(16), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("value", Float),
    Column("text", String(64)),
    Column("note", Text),
)

D, V, RS, AL, EV = rule_defs, rule_versions, rule_sets, alarms, alarm_events


# --- rule definitions -----------------------------------------------------------------------


def rule_rows(conn: Connection, territory_id: int) -> list[Row[Any]]:
    query = select(D).where(D.c.territory_id == territory_id).order_by(D.c.rule_id)
    return list(conn.execute(query))


def rule_row(conn: Connection, territory_id: int, rule_id: str) -> Row[Any] | None:
    return conn.execute(select(D).where(D.c.territory_id == territory_id,
                                        D.c.rule_id == rule_id)).first()


def insert_rule(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(D).values(**values))


def update_rule(conn: Connection, row_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(D).where(D.c.id == row_id).values(**values))


def delete_rule(conn: Connection, row_id: int) -> None:
    conn.execute(delete(D).where(D.c.id == row_id))


def insert_version(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(V).values(**values))


def last_version(conn: Connection, territory_id: int, rule_id: str) -> int:
    value = conn.execute(select(func.max(V.c.version)).where(
        V.c.territory_id == territory_id, V.c.rule_id == rule_id)).scalar()
    return int(value or 0)


def bump_rule_set(conn: Connection, territory_id: int) -> None:
    done = conn.execute(update(RS).where(RS.c.territory_id == territory_id)
                        .values(version=RS.c.version + 1))
    if done.rowcount == 0:
        conn.execute(insert(RS).values(territory_id=territory_id, version=1))


def rule_set_version(conn: Connection, territory_id: int) -> int:
    value = conn.execute(select(RS.c.version).where(RS.c.territory_id == territory_id)).scalar()
    return int(value or 0)


def territories_with_rules(conn: Connection) -> list[tuple[int, str]]:
    query = (select(schema.territories.c.id, schema.territories.c.code)
             .where(schema.territories.c.id.in_(
                 select(D.c.territory_id).where(D.c.active.is_(True)).distinct()))
             .order_by(schema.territories.c.id))
    return [(int(i), str(c)) for i, c in conn.execute(query)]


# --- what the evaluator needs from the registry -----------------------------------------------

A, S = schema.assets, schema.series


def series_facts(conn: Connection, series_ids: Sequence[int]) -> list[Row[Any]]:
    """(series id, metric, asset id, urn, type, domain, lon, lat, parent id, control post,
    properties) of these series."""
    out: list[Row[Any]] = []
    query = (select(S.c.id.label("series_id"), S.c.metric, A.c.id.label("asset_id"), A.c.urn,
                    A.c.type, A.c.domain, A.c.lon, A.c.lat, A.c.parent_id, A.c.control_post,
                    A.c.properties)
             .select_from(S.join(A, A.c.id == S.c.asset_id))
             .where(S.c.id.in_(bindparam("ids", expanding=True))))
    for i in range(0, len(series_ids), 900):
        out.extend(conn.execute(query, {"ids": list(series_ids[i:i + 900])}))
    return out


def asset_facts(conn: Connection, territory_id: int, types: Sequence[str] | None,
                domains: Sequence[str] | None, urns: Sequence[str] | None) -> list[Row[Any]]:
    """Assets of a territory with their position, parent and post, narrowed by type, domain or
    URN (any of them given)."""
    query = select(A.c.id.label("asset_id"), A.c.urn, A.c.type, A.c.domain, A.c.lon, A.c.lat,
                   A.c.parent_id, A.c.control_post, A.c.properties).where(
        A.c.territory_id == territory_id)
    if types:
        query = query.where(A.c.type.in_(list(types)))
    if domains:
        query = query.where(A.c.domain.in_(list(domains)))
    if urns:
        query = query.where(A.c.urn.in_(list(urns)))
    return list(conn.execute(query))


def series_of_assets_metrics(conn: Connection, asset_ids: Sequence[int],
                             metrics: Sequence[str] | None) -> list[Row[Any]]:
    """(series id, asset id, metric) of these assets (and metrics, if given)."""
    out: list[Row[Any]] = []
    query = select(S.c.id, S.c.asset_id, S.c.metric).where(
        S.c.asset_id.in_(bindparam("ids", expanding=True)))
    if metrics is not None:
        query = query.where(S.c.metric.in_(list(metrics)))
    for i in range(0, len(asset_ids), 900):
        out.extend(conn.execute(query, {"ids": list(asset_ids[i:i + 900])}))
    return out


def recent_observations(conn: Connection, series_ids: Sequence[int], from_ms: int, to_ms: int
                        ) -> list[tuple[int, int, float | None, str | None]]:
    """Observations of these series in [from_ms, to_ms), in series and time order."""
    OB = schema.observations
    query = (select(OB.c.series_id, OB.c.ts_ms, OB.c.value, OB.c.text)
             .where(OB.c.series_id.in_(bindparam("ids", expanding=True)),
                    OB.c.ts_ms >= from_ms, OB.c.ts_ms < to_ms)
             .order_by(OB.c.series_id, OB.c.ts_ms))
    out: list[tuple[int, int, float | None, str | None]] = []
    for i in range(0, len(series_ids), 900):
        out.extend((int(s), int(t), v, x) for s, t, v, x in
                   conn.execute(query, {"ids": list(series_ids[i:i + 900])}))
    return out


def latest_rows(conn: Connection, series_ids: Sequence[int]
                ) -> list[tuple[int, int, float | None, str | None]]:
    L = schema.latest
    query = select(L.c.series_id, L.c.ts_ms, L.c.value, L.c.text).where(
        L.c.series_id.in_(bindparam("ids", expanding=True)))
    out: list[tuple[int, int, float | None, str | None]] = []
    for i in range(0, len(series_ids), 900):
        out.extend((int(s), int(t), v, x) for s, t, v, x in
                   conn.execute(query, {"ids": list(series_ids[i:i + 900])}))
    return out


# --- alarms ---------------------------------------------------------------------------------


def open_alarms(conn: Connection, territory_id: int) -> list[Row[Any]]:
    return list(conn.execute(select(AL).where(AL.c.territory_id == territory_id,
                                              AL.c.state != "cleared")))


_INSERT_ALARM = insert(AL)


def insert_alarm(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(_INSERT_ALARM, values).inserted_primary_key[0])  # type: ignore[index]


def update_alarm(conn: Connection, alarm_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(AL).where(AL.c.id == alarm_id).values(**values))


def insert_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(EV), rows)


def alarm_row(conn: Connection, territory_id: int, alarm_id: int) -> Row[Any] | None:
    return conn.execute(select(AL).where(AL.c.territory_id == territory_id,
                                         AL.c.id == alarm_id)).first()


def alarm_history(conn: Connection, alarm_id: int) -> list[Row[Any]]:
    return list(conn.execute(select(EV).where(EV.c.alarm_id == alarm_id).order_by(EV.c.id)))


def list_alarms(conn: Connection, territory_id: int, *, states: Sequence[str] | None,
                post: str | None, severity: str | None, asset: str | None,
                rule: str | None, before_id: int | None, limit: int) -> list[Row[Any]]:
    """Newest first, paged by id."""
    query = select(AL).where(AL.c.territory_id == territory_id)
    if states:
        query = query.where(AL.c.state.in_(list(states)))
    if post:
        query = query.where(AL.c.post == post)
    if severity:
        query = query.where(AL.c.severity == severity)
    if asset:
        query = query.where(AL.c.asset_urn == asset)
    if rule:
        query = query.where(AL.c.rule_id == rule)
    if before_id:
        query = query.where(AL.c.id < before_id)
    return list(conn.execute(query.order_by(AL.c.id.desc()).limit(limit)))


def assets_by_ids(conn: Connection, ids: Sequence[int]) -> list[Row[Any]]:
    out: list[Row[Any]] = []
    query = select(A.c.id.label("asset_id"), A.c.urn, A.c.type, A.c.domain, A.c.lon, A.c.lat,
                   A.c.parent_id, A.c.control_post, A.c.properties).where(
        A.c.id.in_(bindparam("ids", expanding=True)))
    for i in range(0, len(ids), 900):
        out.extend(conn.execute(query, {"ids": list(ids[i:i + 900])}))
    return out


_CLOSE = (update(AL).where(AL.c.id == bindparam("b_id"), AL.c.state != "cleared")
          .values(state="cleared", cleared_ms=bindparam("b_at"), updated_ms=bindparam("b_upd"),
                  cleared_by=bindparam("b_by")))


def close_alarm(conn: Connection, alarm_id: int, at_ms: int, by: str,
                updated_ms: int | None = None) -> bool:
    """Clear an alarm that is still open; whether it was."""
    done = conn.execute(_CLOSE, {"b_id": alarm_id, "b_at": at_ms, "b_by": by,
                                 "b_upd": at_ms if updated_ms is None else updated_ms})
    return bool(done.rowcount)


def _bump_statement(dialect: str) -> Any:
    at = bindparam("b_at", type_=BigInteger)
    newest = (func.max(AL.c.updated_ms, at) if dialect == "sqlite"
              else func.greatest(AL.c.updated_ms, at))
    return (update(AL).where(AL.c.id == bindparam("b_id"), AL.c.state != "cleared")
            .values(updated_ms=newest, value=bindparam("b_value"), text=bindparam("b_text"),
                    updates=AL.c.updates + bindparam("b_n"), message=bindparam("b_message"),
                    messages=bindparam("b_messages", type_=JSON)))


_BUMP = {d: _bump_statement(d) for d in ("sqlite", "postgresql")}


def bump_open_alarm(conn: Connection, alarm_id: int, at_ms: int, value: float | None,
                    txt: str | None, n: int, message: str,
                    messages: dict[str, str] | None = None) -> bool:
    """Record ``n`` more updates of an open alarm; whether it was still open."""
    done = conn.execute(_BUMP[conn.dialect.name], {
        "b_id": alarm_id, "b_at": at_ms, "b_value": value, "b_text": txt, "b_n": n,
        "b_message": message, "b_messages": messages})
    return bool(done.rowcount)


def open_alarm_by_key(conn: Connection, territory_id: int, key: str) -> Row[Any] | None:
    return conn.execute(select(AL).where(AL.c.territory_id == territory_id,
                                         AL.c.dedupe_key == key,
                                         AL.c.state != "cleared")).first()


def open_alarms_of_rules(conn: Connection, territory_id: int, rule_ids: Sequence[str]
                         ) -> list[Row[Any]]:
    return list(conn.execute(select(AL).where(AL.c.territory_id == territory_id,
                                              AL.c.rule_id.in_(list(rule_ids)),
                                              AL.c.state != "cleared")))


def set_rules_active(conn: Connection, territory_id: int, rule_ids: Sequence[str],
                     active: bool, now_ms: int, actor: str) -> None:
    conn.execute(update(D).where(D.c.territory_id == territory_id,
                                 D.c.rule_id.in_(list(rule_ids)))
                 .values(active=active, updated_ms=now_ms, updated_by=actor))
