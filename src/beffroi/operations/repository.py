"""Tables of the operations package and their SQL (through ``store``; no behaviour here).

Every row carries ``territory_id``; incident and work-order children carry it too, so that a
query filters by territory without a join. Migration 0007 creates these tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from beffroi.store import schema
from beffroi.store.schema import metadata, territory_column


def _incident() -> Column[int]:
    return Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"),
                  nullable=False)


# A territory whose defaults (posts, routings, categories, plans) were created.
operations_setup = Table(
    "operations_setup", metadata,
    Column("territory_id", Integer, ForeignKey("territories.id", ondelete="CASCADE"),
           primary_key=True, autoincrement=False),
    Column("defaults_ms", BigInteger, nullable=False),
)

control_posts = Table(
    "control_posts", metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("code", String(32), nullable=False),
    Column("name_fr", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    UniqueConstraint("territory_id", "code", name="uq_control_posts_territory_code"),
)

# kind "rule" (key: a rule id) or "asset_type" (key: a type name) → post.
post_routings = Table(
    "post_routings", metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("kind", String(16), nullable=False),
    Column("key", String(128), nullable=False),
    Column("post", String(32), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    UniqueConstraint("territory_id", "kind", "key", name="uq_post_routings_key"),
)

incident_categories = Table(
    "incident_categories", metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("code", String(64), nullable=False),
    Column("title_fr", String(200), nullable=False),
    Column("title_en", String(200), nullable=False),
    Column("post", String(32), nullable=False),
    Column("sla_minutes", JSON, nullable=False),
    Column("auto_resolve", Boolean, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    UniqueConstraint("territory_id", "code", name="uq_incident_categories_code"),
)

incidents = Table(
    "incidents", metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("category", String(64), nullable=False),
    Column("post", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("title", String(300), nullable=False),
    # The title per language when the platform wrote it (incidents opened by alarms):
    # {"fr": …, "en": …}; ``title`` holds the English one.
    Column("titles", JSON),
    Column("description", Text, nullable=False),
    Column("source", String(16), nullable=False),
    Column("asset_urn", String(256)),
    # Alarms of the same category and the same group key gather into one open incident.
    Column("group_key", String(300)),
    Column("assignee_kind", String(16)),
    Column("assignee", String(200)),
    Column("level", Integer, nullable=False),
    Column("reported_ms", BigInteger, nullable=False),
    Column("acknowledged_ms", BigInteger),
    Column("dispatched_ms", BigInteger),
    Column("on_site_ms", BigInteger),
    Column("resolved_ms", BigInteger),
    Column("closed_ms", BigInteger),
    # The earliest due time of a step neither reached nor escalated yet (the SLA pass reads
    # only incidents whose next_due_ms has passed).
    Column("next_due_ms", BigInteger),
    Column("created_by", String(200), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)
Index("ix_incidents_territory_state", incidents.c.territory_id, incidents.c.state)
Index("ix_incidents_territory_group", incidents.c.territory_id, incidents.c.category,
      incidents.c.group_key)
Index("ix_incidents_next_due", incidents.c.next_due_ms)
Index("ix_incidents_territory_asset", incidents.c.territory_id, incidents.c.asset_urn)

incident_steps = Table(
    "incident_steps", metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    _incident(),
    Column("step", String(16), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("note", Text, nullable=False),
    Column("notes", JSON),  # {"fr": …, "en": …} when the platform wrote it
)
Index("ix_incident_steps_incident", incident_steps.c.incident_id)

# No foreign key to the rules package's alarms: an incident keeps the link (and what it knew
# of the alarm) even when alarms are purged.
incident_alarms = Table(
    "incident_alarms", metadata,
    territory_column(),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"),
           primary_key=True, autoincrement=False),
    Column("alarm_id", BigInteger, primary_key=True, autoincrement=False),
    Column("rule_id", String(128), nullable=False),
    Column("asset_urn", String(256)),
    Column("severity", String(16), nullable=False),
    Column("raised_ms", BigInteger, nullable=False),
    Column("cleared_ms", BigInteger),
)
Index("ix_incident_alarms_alarm", incident_alarms.c.territory_id, incident_alarms.c.alarm_id)
Index("ix_incident_alarms_asset", incident_alarms.c.territory_id, incident_alarms.c.asset_urn)

incident_comments = Table(
    "incident_comments", metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    _incident(),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("texts", JSON),  # {"fr": …, "en": …} when the platform wrote it
)
Index("ix_incident_comments_incident", incident_comments.c.incident_id)

incident_escalations = Table(
    "incident_escalations", metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    _incident(),
    Column("step", String(16), nullable=False),
    Column("level", Integer, nullable=False),
    Column("due_ms", BigInteger, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    UniqueConstraint("incident_id", "step", name="uq_incident_escalations_step"),
)

work_orders = Table(
    "work_orders", metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE")),
    Column("post", String(32), nullable=False),
    Column("title", String(300), nullable=False),
    Column("description", Text, nullable=False),
    Column("assignee_kind", String(16), nullable=False),
    Column("assignee", String(200), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("accepted_ms", BigInteger),
    Column("on_site_ms", BigInteger),
    Column("done_ms", BigInteger),
    Column("cancelled_ms", BigInteger),
    Column("closure_note", Text),
    Column("created_by", String(200), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)
Index("ix_work_orders_territory_assignee", work_orders.c.territory_id, work_orders.c.assignee)
Index("ix_work_orders_incident", work_orders.c.incident_id)

crisis_plans = Table(
    "crisis_plans", metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("name", String(64), nullable=False),
    Column("title", String(200), nullable=False),
    Column("post", String(32), nullable=False),
    Column("definition", JSON, nullable=False),  # description, rules, routings, commands
    Column("active", Boolean, nullable=False),
    Column("activated_ms", BigInteger),
    Column("activated_by", String(200)),
    Column("updated_ms", BigInteger, nullable=False),
    UniqueConstraint("territory_id", "name", name="uq_crisis_plans_name"),
)

crisis_activations = Table(
    "crisis_activations", metadata,
    Column("id", Integer, primary_key=True),
    territory_column(),
    Column("plan", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("outcome", JSON, nullable=False),
)
Index("ix_crisis_activations_territory", crisis_activations.c.territory_id,
      crisis_activations.c.plan)

INC, WO = incidents, work_orders


def _pk(result: Any) -> int:
    return int(result.inserted_primary_key[0])


# --- other packages' tables (read only) -------------------------------------------------------


def territory_code(conn: Connection, territory_id: int) -> str:
    T = schema.territories
    return str(conn.execute(select(T.c.code).where(T.c.id == territory_id)).scalar_one())


def asset_info(conn: Connection, territory_id: int, urn: str) -> tuple[str, str | None] | None:
    """(type, parent URN) of an asset, or None."""
    A = schema.assets
    parent = A.alias("parent")
    query = (select(A.c.type, parent.c.urn)
             .select_from(A.outerjoin(parent, parent.c.id == A.c.parent_id))
             .where(A.c.territory_id == territory_id, A.c.urn == urn))
    row = conn.execute(query).first()
    return None if row is None else (str(row[0]), row[1])


# --- setup ------------------------------------------------------------------------------------


def is_set_up(conn: Connection, territory_id: int) -> bool:
    query = select(operations_setup.c.territory_id).where(
        operations_setup.c.territory_id == territory_id)
    return conn.execute(query).first() is not None


def mark_set_up(conn: Connection, territory_id: int, now: int) -> None:
    conn.execute(insert(operations_setup).values(territory_id=territory_id, defaults_ms=now))


# --- posts ------------------------------------------------------------------------------------


def list_posts(conn: Connection, territory_id: int) -> list[Row[Any]]:
    query = select(control_posts).where(control_posts.c.territory_id == territory_id)
    return list(conn.execute(query.order_by(control_posts.c.id)))


def get_post(conn: Connection, territory_id: int, code: str) -> Row[Any] | None:
    query = select(control_posts).where(control_posts.c.territory_id == territory_id,
                                        control_posts.c.code == code)
    return conn.execute(query).first()


def insert_post(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(control_posts).values(**values))


def update_post(conn: Connection, territory_id: int, code: str, values: dict[str, Any]) -> None:
    conn.execute(update(control_posts).where(control_posts.c.territory_id == territory_id,
                                             control_posts.c.code == code).values(**values))


def delete_post(conn: Connection, territory_id: int, code: str) -> None:
    conn.execute(delete(control_posts).where(control_posts.c.territory_id == territory_id,
                                             control_posts.c.code == code))


def post_references(conn: Connection, territory_id: int, code: str) -> dict[str, int]:
    """How many open incidents, routings, categories and plans name this post."""
    counts = {}
    for name, table, extra in (
        ("open incidents", INC, INC.c.state.notin_(("resolved", "closed"))),
        ("routings", post_routings, None),
        ("categories", incident_categories, None),
        ("crisis plans", crisis_plans, None),
    ):
        query = select(func.count()).select_from(table).where(
            table.c.territory_id == territory_id, table.c.post == code)
        if extra is not None:
            query = query.where(extra)
        counts[name] = int(conn.execute(query).scalar_one())
    return {k: v for k, v in counts.items() if v}


# --- routings ---------------------------------------------------------------------------------


def list_routings(conn: Connection, territory_id: int) -> list[Row[Any]]:
    query = select(post_routings).where(post_routings.c.territory_id == territory_id)
    return list(conn.execute(query.order_by(post_routings.c.kind, post_routings.c.key)))


def routing(conn: Connection, territory_id: int, kind: str, key: str) -> str | None:
    query = select(post_routings.c.post).where(
        post_routings.c.territory_id == territory_id, post_routings.c.kind == kind,
        post_routings.c.key == key)
    value = conn.execute(query).scalar_one_or_none()
    return None if value is None else str(value)


def set_routing(conn: Connection, territory_id: int, kind: str, key: str, post: str | None,
                now: int) -> None:
    conn.execute(delete(post_routings).where(
        post_routings.c.territory_id == territory_id, post_routings.c.kind == kind,
        post_routings.c.key == key))
    if post is not None:
        conn.execute(insert(post_routings).values(territory_id=territory_id, kind=kind, key=key,
                                                  post=post, updated_ms=now))


# --- categories -------------------------------------------------------------------------------


def list_categories(conn: Connection, territory_id: int) -> list[Row[Any]]:
    query = select(incident_categories).where(incident_categories.c.territory_id == territory_id)
    return list(conn.execute(query.order_by(incident_categories.c.code)))


def get_category(conn: Connection, territory_id: int, code: str) -> Row[Any] | None:
    query = select(incident_categories).where(
        incident_categories.c.territory_id == territory_id, incident_categories.c.code == code)
    return conn.execute(query).first()


def upsert_category(conn: Connection, territory_id: int, code: str, values: dict[str, Any]
                    ) -> None:
    c = incident_categories
    done = conn.execute(update(c).where(c.c.territory_id == territory_id, c.c.code == code)
                        .values(**values))
    if done.rowcount == 0:
        conn.execute(insert(c).values(territory_id=territory_id, code=code, **values))


# --- incidents --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    post: str | None = None
    posts: frozenset[str] | None = None  # the caller's posts (None: all)
    state: str | None = None  # a state, or "open" for every state before resolved
    category: str | None = None
    assignee: str | None = None
    asset: str | None = None  # the incident's asset, or the asset of one of its alarms


def insert_incident(conn: Connection, values: dict[str, Any]) -> int:
    return _pk(conn.execute(insert(INC).values(**values)))


def get_incident(conn: Connection, incident_id: int) -> Row[Any] | None:
    return conn.execute(select(INC).where(INC.c.id == incident_id)).first()


def lock_incident(conn: Connection, incident_id: int) -> Row[Any] | None:
    """The incident, locked for the rest of the write transaction (PostgreSQL)."""
    return conn.execute(select(INC).where(INC.c.id == incident_id).with_for_update()).first()


def update_incident(conn: Connection, incident_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(INC).where(INC.c.id == incident_id).values(**values))


def list_incidents(conn: Connection, territory_id: int, flt: IncidentFilter, before_id: int,
                   limit: int) -> list[Row[Any]]:
    query = select(INC).where(INC.c.territory_id == territory_id)
    if before_id:
        query = query.where(INC.c.id < before_id)
    if flt.post:
        query = query.where(INC.c.post == flt.post)
    if flt.posts is not None:
        query = query.where(INC.c.post.in_(sorted(flt.posts)))
    if flt.state == "open":
        query = query.where(INC.c.state.notin_(("resolved", "closed")))
    elif flt.state:
        query = query.where(INC.c.state == flt.state)
    if flt.category:
        query = query.where(INC.c.category == flt.category)
    if flt.assignee:
        query = query.where(INC.c.assignee == flt.assignee)
    if flt.asset:
        linked = select(incident_alarms.c.incident_id).where(
            incident_alarms.c.territory_id == territory_id,
            incident_alarms.c.asset_urn == flt.asset)
        query = query.where(or_(INC.c.asset_urn == flt.asset, INC.c.id.in_(linked)))
    return list(conn.execute(query.order_by(INC.c.id.desc()).limit(limit)))


def open_incident_of_group(conn: Connection, territory_id: int, category: str,
                           group_keys: Sequence[str]) -> Row[Any] | None:
    query = (select(INC).where(INC.c.territory_id == territory_id, INC.c.category == category,
                             INC.c.group_key.in_(list(group_keys)),
                             INC.c.state.notin_(("resolved", "closed")))
             .order_by(INC.c.id).limit(1))
    return conn.execute(query).first()


def incidents_due(conn: Connection, now: int, limit: int, lock: bool = False
                  ) -> list[Row[Any]]:
    """Incidents with a step past due and not escalated yet. ``lock``: for the rest of the
    write transaction, skipping those another process is escalating (PostgreSQL)."""
    query = (select(INC).where(INC.c.next_due_ms.is_not(None), INC.c.next_due_ms < now)
             .order_by(INC.c.next_due_ms).limit(limit))
    if lock:
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query))


def open_incidents_of_category(conn: Connection, territory_id: int, category: str
                               ) -> list[Row[Any]]:
    query = select(INC).where(INC.c.territory_id == territory_id, INC.c.category == category,
                            INC.c.state.notin_(("resolved", "closed")))
    return list(conn.execute(query))


def insert_step(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(incident_steps).values(**values))


def steps_of(conn: Connection, incident_id: int) -> list[Row[Any]]:
    query = select(incident_steps).where(incident_steps.c.incident_id == incident_id)
    return list(conn.execute(query.order_by(incident_steps.c.id)))


def link_alarm(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(incident_alarms).values(**values))


def incident_of_alarm(conn: Connection, territory_id: int, alarm_id: int) -> Row[Any] | None:
    a = incident_alarms
    query = select(a).where(a.c.territory_id == territory_id, a.c.alarm_id == alarm_id)
    return conn.execute(query.order_by(a.c.incident_id.desc()).limit(1)).first()


def clear_alarm(conn: Connection, incident_id: int, alarm_id: int, at: int) -> None:
    a = incident_alarms
    conn.execute(update(a).where(a.c.incident_id == incident_id, a.c.alarm_id == alarm_id,
                                 a.c.cleared_ms.is_(None)).values(cleared_ms=at))


def alarms_of(conn: Connection, incident_id: int) -> list[Row[Any]]:
    a = incident_alarms
    return list(conn.execute(select(a).where(a.c.incident_id == incident_id)
                             .order_by(a.c.raised_ms, a.c.alarm_id)))


def insert_comment(conn: Connection, values: dict[str, Any]) -> int:
    return _pk(conn.execute(insert(incident_comments).values(**values)))


def comments_of(conn: Connection, incident_id: int) -> list[Row[Any]]:
    c = incident_comments
    return list(conn.execute(select(c).where(c.c.incident_id == incident_id).order_by(c.c.id)))


def insert_escalation(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(incident_escalations).values(**values))


def escalations_of(conn: Connection, incident_id: int) -> list[Row[Any]]:
    e = incident_escalations
    return list(conn.execute(select(e).where(e.c.incident_id == incident_id).order_by(e.c.id)))


# --- work orders ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkOrderFilter:
    assignee: str | None = None
    state: str | None = None
    posts: frozenset[str] | None = None
    incident_id: int | None = None
    post: str | None = None


def insert_work_order(conn: Connection, values: dict[str, Any]) -> int:
    return _pk(conn.execute(insert(WO).values(**values)))


def get_work_order(conn: Connection, wo_id: int) -> Row[Any] | None:
    return conn.execute(select(WO).where(WO.c.id == wo_id)).first()


def update_work_order(conn: Connection, wo_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(WO).where(WO.c.id == wo_id).values(**values))


def list_work_orders(conn: Connection, territory_id: int, flt: WorkOrderFilter, before_id: int,
                     limit: int) -> list[Row[Any]]:
    query = select(WO).where(WO.c.territory_id == territory_id)
    if before_id:
        query = query.where(WO.c.id < before_id)
    if flt.assignee:
        query = query.where(WO.c.assignee == flt.assignee)
    if flt.state == "open":
        query = query.where(WO.c.state.notin_(("done", "cancelled")))
    elif flt.state:
        query = query.where(WO.c.state == flt.state)
    if flt.posts is not None:
        query = query.where(WO.c.post.in_(sorted(flt.posts)))
    if flt.incident_id is not None:
        query = query.where(WO.c.incident_id == flt.incident_id)
    if flt.post:
        query = query.where(WO.c.post == flt.post)
    return list(conn.execute(query.order_by(WO.c.id.desc()).limit(limit)))


# --- crisis plans -----------------------------------------------------------------------------


def list_plans(conn: Connection, territory_id: int) -> list[Row[Any]]:
    query = select(crisis_plans).where(crisis_plans.c.territory_id == territory_id)
    return list(conn.execute(query.order_by(crisis_plans.c.name)))


def get_plan(conn: Connection, territory_id: int, name: str) -> Row[Any] | None:
    query = select(crisis_plans).where(crisis_plans.c.territory_id == territory_id,
                                       crisis_plans.c.name == name)
    return conn.execute(query).first()


def upsert_plan(conn: Connection, territory_id: int, name: str, values: dict[str, Any]) -> None:
    p = crisis_plans
    done = conn.execute(update(p).where(p.c.territory_id == territory_id, p.c.name == name)
                        .values(**values))
    if done.rowcount == 0:
        conn.execute(insert(p).values(territory_id=territory_id, name=name, active=False,
                                      **values))


def set_plan_active(conn: Connection, territory_id: int, name: str, active: bool, at: int | None,
                    actor: str | None) -> None:
    p = crisis_plans
    conn.execute(update(p).where(p.c.territory_id == territory_id, p.c.name == name).values(
        active=active, activated_ms=at, activated_by=actor))


def active_plans(conn: Connection, territory_id: int) -> list[Row[Any]]:
    p = crisis_plans
    query = select(p).where(p.c.territory_id == territory_id, p.c.active.is_(True))
    return list(conn.execute(query.order_by(p.c.activated_ms, p.c.id)))


def insert_activation(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(crisis_activations).values(**values))


def activations(conn: Connection, territory_id: int, plan: str | None, limit: int,
                action: str | None = None) -> list[Row[Any]]:
    a = crisis_activations
    query = select(a).where(a.c.territory_id == territory_id)
    if plan:
        query = query.where(a.c.plan == plan)
    if action:
        query = query.where(a.c.action == action)
    return list(conn.execute(query.order_by(a.c.id.desc()).limit(limit)))

