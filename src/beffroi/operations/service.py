"""Control posts, routing, incidents (from alarms, operators, residents), work orders, SLA
escalations and crisis plans.

Policies (see docs/operations.md):

* **Defaults** are created lazily: the first call that needs a territory's posts, routings,
  categories or plans (any method taking a territory code, and ``on_alarms``) creates the nine
  default posts, routings by asset type, categories with SLAs and the three crisis plans, once
  (``operations_setup`` remembers it, so deleting a default later does not bring it back).
  ``route()`` never writes (it may run inside the rule engine's transaction): before the
  defaults exist it answers from the built-in routings.
* **Routing** (``route``): an active crisis plan's override for the rule, then for the asset
  type > the territory's explicit rule routing > the rule's declared post > the territory's
  asset-type routing > None. An incident's post: the post an operator chose > an active crisis
  plan's override of the category > the alarm's post > the category's post.
* **Gathering**: a raised alarm whose rule opens incidents joins the oldest unresolved incident
  of the same territory and category whose group is the same: the asset's parent (the lamps of
  one cabinet gather with the cabinet) or the asset itself, or the rule when there is no asset.
  Otherwise it opens an incident reported at the alarm's time.
* **Clearing**: a cleared alarm is noted on its incident; the incident is resolved only when
  its category has ``auto_resolve`` and all its alarms have cleared.
* **Lifecycle**: reported → acknowledged → dispatched → on_site → resolved → closed, forward
  only; intermediate steps may be skipped, but ``closed`` needs ``resolved``.
* **SLA**: targets per step from ``reported``; ``tick()`` records one escalation per late step
  (level + 1) and tells ``escalation_listeners`` after commit.
* **Who and where**: every method a person calls takes the territory code and the acting
  principal (required, no superuser default: the platform's own callers pass ``SYSTEM``). The
  principal's role in that territory is checked first; an incident or work order id of another
  territory is ``NotFound``, like an id that does not exist.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from beffroi.assets.models import Page
from beffroi.assets.service import Registry, decode_cursor, encode_cursor
from beffroi.assets.types import ASSET_TYPES
from beffroi.auth.audit import AuditLog
from beffroi.auth.models import SYSTEM, Principal, Role
from beffroi.commands.service import Commands
from beffroi.errors import BeffroiError, Conflict, NotFound, ValidationFailed, field_error
from beffroi.operations import defaults, notes, sla
from beffroi.operations import repository as repo
from beffroi.operations.models import (
    SLUG_RE,
    STEPS,
    AlarmLink,
    AssignIn,
    Category,
    CategoryIn,
    Comment,
    CommentIn,
    CrisisActivation,
    CrisisPlan,
    CrisisPlanIn,
    Escalation,
    EscalationEvent,
    Forbidden,
    Incident,
    IncidentDetail,
    IncidentIn,
    Post,
    PostIn,
    PostPatch,
    Routing,
    RoutingIn,
    SlaStatus,
    StandingCommand,
    StepRecord,
    WorkOrder,
    WorkOrderIn,
)
from beffroi.rules.models import AlarmEvent
from beffroi.rules.service import Rules
from beffroi.store import Store
from beffroi.texts import Text
from beffroi.timeutil import Clock, to_iso

log = logging.getLogger("beffroi.operations")

EscalationListener = Callable[[list[EscalationEvent]], None]
FALLBACK_POST = "supervision"
FALLBACK_CATEGORY = "other"
TICK_BATCH = 500
SOURCES = ("alarm", "operator", "resident")


def _iso(ms: int | None) -> str | None:
    return None if ms is None else to_iso(ms)


def _summary(row: Row[Any]) -> dict[str, Any]:
    """What the audit log keeps of an incident before and after a change."""
    return {"state": row.state, "post": row.post, "assignee": row.assignee,
            "assignee_kind": row.assignee_kind, "level": row.level}


# How long a process trusts its routing table: routings and crisis plans changed by another
# process (the API, while a worker evaluates rules) apply within this delay.
ROUTING_TTL_S = 5.0


@dataclass
class _RoutingTable:
    overrides: dict[str, str]  # of the active crisis plans: "rule:<id>" / "type:<type>" → post
    rules: dict[str, str]  # explicit rule routings
    types: dict[str, str]  # asset type → post
    loaded: float  # time.monotonic() of the load


class Operations:
    def __init__(self, store: Store, registry: Registry, rules: Rules, commands: Commands,
                 audit: AuditLog, clock: Clock) -> None:
        self.store = store
        self.registry = registry
        self.rules = rules
        self.commands = commands
        self.audit = audit
        self.clock = clock
        self.escalation_listeners: list[EscalationListener] = []
        self._set_up: set[int] = set()  # territory ids known to have their defaults
        self._routings: dict[str, _RoutingTable] = {}  # territory code → routing table
        rules.listeners.append(self.on_alarms)
        rules.post_router = self.route
        registry.listeners.append(self._forget)

    def _forget(self, territory_id: int) -> None:
        """A territory's assets went away (or the territory itself): check its setup again
        next time (SQLite may give a new territory the id of a deleted one)."""
        self._set_up.discard(territory_id)
        self._routings.clear()

    # --- access -------------------------------------------------------------------------------

    @staticmethod
    def _role(principal: Principal, code: str) -> Role:
        role = principal.role_in(code)
        if role is None or role is Role.DEVICE:
            raise Forbidden(f"{principal.actor} has no role in territory {code!r}")
        return role

    def _check_read(self, principal: Principal, code: str) -> Role:
        return self._role(principal, code)

    def _check_configure(self, principal: Principal, code: str) -> None:
        if self._role(principal, code) not in (Role.ADMINISTRATOR, Role.SUPERVISOR):
            raise Forbidden(f"{principal.actor} may not configure operations of {code!r} "
                            "(supervisor or administrator only)")

    def _check_post(self, principal: Principal, code: str, post: str) -> None:
        """Operators of ``post``, supervisors and administrators may act."""
        role = self._role(principal, code)
        if role in (Role.ADMINISTRATOR, Role.SUPERVISOR):
            return
        posts = principal.posts_in(code)
        if role is Role.OPERATOR and (posts is None or post in posts):
            return
        raise Forbidden(f"{principal.actor} may not act for control post {post!r}",
                        [field_error("post", f"not one of {sorted(posts or ())}")])

    # --- territories and defaults -------------------------------------------------------------

    def _tid(self, code: str) -> int:
        tid = self.registry.territory_id(code)
        if tid not in self._set_up:
            self.ensure_defaults(code, SYSTEM)  # lazily, by the platform, whoever asked
        return tid

    def ensure_defaults(self, code: str, principal: Principal) -> bool:
        """Create the territory's default posts, routings, categories and crisis plans unless
        it got them already; True when created now (supervisors and administrators; the
        platform itself when a first use creates them lazily)."""
        self._check_configure(principal, code)
        tid = self.registry.territory_id(code)
        now = self.clock()
        try:
            with self.store.write() as conn:
                if repo.is_set_up(conn, tid):
                    self._set_up.add(tid)
                    return False
                self._create_defaults(conn, tid, code, now, principal.actor)
        except IntegrityError:  # another process did it at the same time
            self._set_up.add(tid)
            return False
        self._set_up.add(tid)
        self._routings.pop(code, None)
        log.info("operations defaults created", extra={"territory": code})
        return True

    def _create_defaults(self, conn: Connection, tid: int, code: str, now: int, actor: str
                         ) -> None:
        repo.mark_set_up(conn, tid, now)
        existing = {r.code for r in repo.list_posts(conn, tid)}
        for post, (name_fr, name_en) in defaults.POSTS.items():
            if post not in existing:
                repo.insert_post(conn, {"territory_id": tid, "code": post, "name_fr": name_fr,
                                        "name_en": name_en, "created_ms": now,
                                        "updated_ms": now})
        for type_name, post in defaults.TYPE_ROUTINGS.items():
            if repo.routing(conn, tid, "asset_type", type_name) is None:
                repo.set_routing(conn, tid, "asset_type", type_name, post, now)
        for cat, (title_fr, title_en, post, targets) in defaults.CATEGORIES.items():
            if repo.get_category(conn, tid, cat) is None:
                repo.upsert_category(conn, tid, cat, {
                    "title_fr": title_fr, "title_en": title_en, "post": post,
                    "sla_minutes": targets, "auto_resolve": False, "updated_ms": now})
        for name, plan in defaults.PLANS.items():
            if repo.get_plan(conn, tid, name) is None:
                repo.upsert_plan(conn, tid, name, self._plan_values(CrisisPlanIn(**plan), now))
        self.audit.record(conn, territory_id=tid, actor=actor,
                          action="operations.defaults", target=f"territory:{code}",
                          after={"posts": sorted(defaults.POSTS)})

    def _check_post_exists(self, conn: Connection, tid: int, post: str, field: str) -> None:
        if repo.get_post(conn, tid, post) is None:
            known = sorted(r.code for r in repo.list_posts(conn, tid))
            raise ValidationFailed(f"unknown control post {post!r}",
                                   [field_error(field, f"no post {post!r}; known: {known}")])

    # --- control posts ------------------------------------------------------------------------

    @staticmethod
    def _post(row: Row[Any]) -> Post:
        return Post(code=row.code, name_fr=row.name_fr, name_en=row.name_en,
                    created=to_iso(row.created_ms), updated=to_iso(row.updated_ms))

    def list_posts(self, code: str, principal: Principal) -> list[Post]:
        self._check_read(principal, code)
        tid = self._tid(code)
        with self.store.read() as conn:
            return [self._post(r) for r in repo.list_posts(conn, tid)]

    def add_post(self, code: str, data: PostIn, principal: Principal) -> Post:
        self._check_configure(principal, code)
        tid = self._tid(code)
        now = self.clock()
        with self.store.write() as conn:
            if repo.get_post(conn, tid, data.code) is not None:
                raise Conflict(f"control post {data.code!r} already exists",
                               [field_error("code", "already used in this territory")])
            values = {"territory_id": tid, **data.model_dump(), "created_ms": now,
                      "updated_ms": now}
            repo.insert_post(conn, values)
            self.audit.record(conn, territory_id=tid, actor=principal.actor, action="post.add",
                              target=f"post:{data.code}", after=data.model_dump())
            row = repo.get_post(conn, tid, data.code)
        assert row is not None
        return self._post(row)

    def update_post(self, code: str, post: str, patch: PostPatch,
                    principal: Principal) -> Post:
        self._check_configure(principal, code)
        tid = self._tid(code)
        values = patch.model_dump(exclude_unset=True, exclude_none=True)
        with self.store.write() as conn:
            before = repo.get_post(conn, tid, post)
            if before is None:
                raise NotFound(f"control post {post!r} not found")
            repo.update_post(conn, tid, post, {**values, "updated_ms": self.clock()})
            self.audit.record(conn, territory_id=tid, actor=principal.actor,
                              action="post.update", target=f"post:{post}",
                              before={"name_fr": before.name_fr, "name_en": before.name_en},
                              after=values)
            row = repo.get_post(conn, tid, post)
        assert row is not None
        return self._post(row)

    def delete_post(self, code: str, post: str, principal: Principal) -> None:
        self._check_configure(principal, code)
        tid = self._tid(code)
        with self.store.write() as conn:
            if repo.get_post(conn, tid, post) is None:
                raise NotFound(f"control post {post!r} not found")
            refs = repo.post_references(conn, tid, post)
            if refs:
                raise Conflict(f"control post {post!r} is still in use",
                               [field_error("post", f"named by {n} {what}")
                                for what, n in refs.items()])
            repo.delete_post(conn, tid, post)
            self.audit.record(conn, territory_id=tid, actor=principal.actor,
                              action="post.delete", target=f"post:{post}")

    # --- routings -----------------------------------------------------------------------------

    def list_routings(self, code: str, principal: Principal) -> list[Routing]:
        self._check_read(principal, code)
        tid = self._tid(code)
        with self.store.read() as conn:
            return [Routing(kind=r.kind, key=r.key, post=r.post)
                    for r in repo.list_routings(conn, tid)]

    def set_routings(self, code: str, items: list[RoutingIn], principal: Principal
                     ) -> list[Routing]:
        """Create, change (or with ``post: null`` remove) routings, all or none."""
        self._check_configure(principal, code)
        tid = self._tid(code)
        now = self.clock()
        with self.store.write() as conn:
            problems = []
            for i, item in enumerate(items):
                if item.kind == "asset_type" and item.key not in ASSET_TYPES:
                    problems.append(field_error(f"{i}.key", f"no asset type {item.key!r}"))
                if item.post is not None and repo.get_post(conn, tid, item.post) is None:
                    problems.append(field_error(f"{i}.post", f"no control post {item.post!r}"))
            if problems:
                raise ValidationFailed("invalid routings", problems)
            for item in items:
                before = repo.routing(conn, tid, item.kind, item.key)
                repo.set_routing(conn, tid, item.kind, item.key, item.post, now)
                self.audit.record(conn, territory_id=tid, actor=principal.actor,
                                  action="routing.set", target=f"{item.kind}:{item.key}",
                                  before=before, after=item.post)
        self._routings.pop(code, None)
        return self.list_routings(code, principal)

    def route(self, code: str, rule_id: str, asset_type: str | None,
              declared_post: str | None) -> str | None:
        """The post of a rule's alarm (read only; see the module's precedence). Called for
        every alarm the rule engine raises, so it reads a per-territory routing table kept
        ``ROUTING_TTL_S`` seconds (changes made in this process apply at once)."""
        table = self._routing_table(code)
        if table is None:
            return declared_post
        for key in (f"rule:{rule_id}", f"type:{asset_type}" if asset_type else None):
            if key and key in table.overrides:
                return table.overrides[key]
        explicit = table.rules.get(rule_id)
        if explicit:
            return explicit
        if declared_post:
            return declared_post
        if asset_type is None:
            return None
        return table.types.get(asset_type)

    def _routing_table(self, code: str) -> _RoutingTable | None:
        cached = self._routings.get(code)
        if cached is not None and time.monotonic() - cached.loaded < ROUTING_TTL_S:
            return cached
        with self.store.read() as conn:
            tid = self._territory_by_code(conn, code)
            if tid is None:
                return None
            rows = repo.list_routings(conn, tid)
            types = ({r.key: r.post for r in rows if r.kind == "asset_type"}
                     if repo.is_set_up(conn, tid) else dict(defaults.TYPE_ROUTINGS))
            table = _RoutingTable(
                overrides=self._overrides(conn, tid),
                rules={r.key: r.post for r in rows if r.kind == "rule"},
                types=types, loaded=time.monotonic())
        self._routings[code] = table
        return table

    @staticmethod
    def _territory_by_code(conn: Connection, code: str) -> int | None:
        from beffroi.assets import repository as assets_repo

        row = assets_repo.territory_by_code(conn, code)
        return None if row is None else int(row.id)

    @staticmethod
    def _overrides(conn: Connection, tid: int) -> dict[str, str]:
        """Routing overrides of the active crisis plans (the latest activated wins)."""
        merged: dict[str, str] = {}
        for plan in repo.active_plans(conn, tid):
            merged.update(plan.definition.get("routings", {}))
        return merged

    # --- categories ---------------------------------------------------------------------------

    @staticmethod
    def _category(row: Row[Any]) -> Category:
        return Category(code=row.code, title_fr=row.title_fr, title_en=row.title_en,
                        post=row.post, sla_minutes=dict(row.sla_minutes),
                        auto_resolve=bool(row.auto_resolve))

    def list_categories(self, code: str, principal: Principal) -> list[Category]:
        self._check_read(principal, code)
        tid = self._tid(code)
        with self.store.read() as conn:
            return [self._category(r) for r in repo.list_categories(conn, tid)]

    def set_category(self, code: str, category: str, data: CategoryIn,
                     principal: Principal) -> Category:
        """Create or replace a category; open incidents of it follow the new targets (steps
        already escalated stay escalated)."""
        self._check_configure(principal, code)
        if not repo_code_ok(category):
            raise ValidationFailed("invalid category code", [field_error(
                "category", "lower-case letters, digits and '-', 1 to 64 characters")])
        tid = self._tid(code)
        with self.store.write() as conn:
            self._check_post_exists(conn, tid, data.post, "post")
            before = repo.get_category(conn, tid, category)
            repo.upsert_category(conn, tid, category,
                                 {**data.model_dump(), "updated_ms": self.clock()})
            for inc in repo.open_incidents_of_category(conn, tid, category):
                escalated = {e.step for e in repo.escalations_of(conn, inc.id)}
                repo.update_incident(conn, inc.id, {"next_due_ms": sla.next_due(
                    sla.timestamps(inc), data.sla_minutes, escalated)})
            self.audit.record(conn, territory_id=tid, actor=principal.actor,
                              action="category.set", target=f"category:{category}",
                              before=None if before is None else self._category(before)
                              .model_dump(), after=data.model_dump())
            row = repo.get_category(conn, tid, category)
        assert row is not None
        return self._category(row)

    # --- incidents ----------------------------------------------------------------------------

    def _incident_post(self, conn: Connection, tid: int, category: Row[Any] | None,
                       category_code: str, *, chosen: str | None = None,
                       suggested: str | None = None) -> str:
        """The post an operator ``chose``; else an active crisis plan's override of the
        category; else the ``suggested`` one (the alarm's); else the category's."""
        if chosen:
            return chosen
        overrides = self._overrides(conn, tid)
        if f"category:{category_code}" in overrides:
            return overrides[f"category:{category_code}"]
        if suggested:
            return suggested
        return str(category.post) if category is not None else FALLBACK_POST

    def open_incident(self, code: str, data: IncidentIn, principal: Principal,
                      source: str = "operator") -> IncidentDetail:
        """Open an incident (operators; later residents' reports with source="resident")."""
        if source not in SOURCES:
            raise ValidationFailed(f"unknown source {source!r}",
                                   [field_error("source", f"one of {SOURCES}")])
        self._check_read(principal, code)
        tid = self._tid(code)
        now = self.clock()
        with self.store.write() as conn:
            category = repo.get_category(conn, tid, data.category)
            if category is None:
                known = [r.code for r in repo.list_categories(conn, tid)]
                raise ValidationFailed(f"unknown incident category {data.category!r}",
                                       [field_error("category", f"one of {known}")])
            if data.post is not None:
                self._check_post_exists(conn, tid, data.post, "post")
            post = self._incident_post(conn, tid, category, data.category, chosen=data.post)
            self._check_post(principal, code, post)
            group = None
            if data.asset is not None:
                info = repo.asset_info(conn, tid, data.asset)
                if info is None:
                    raise ValidationFailed(f"asset {data.asset!r} not found",
                                           [field_error("asset", "no such asset here")])
                group = info[1] or data.asset
            incident_id = self._insert_incident(conn, tid, {
                "category": data.category, "post": post, "title": data.title,
                "description": data.description, "source": source, "asset_urn": data.asset,
                "group_key": group}, category, now, principal.actor, data.description)
        return self.get_incident(code, incident_id, principal)

    def _insert_incident(self, conn: Connection, tid: int, values: dict[str, Any],
                         category: Row[Any] | None, reported: int, actor: str,
                         note: str | Text) -> int:
        targets = dict(category.sla_minutes) if category is not None else {}
        stamps: dict[str, int | None] = {s: None for s in STEPS}
        stamps["reported"] = reported
        incident_id = repo.insert_incident(conn, {
            "territory_id": tid, "state": "reported", "level": 0, "reported_ms": reported,
            "next_due_ms": sla.next_due(stamps, targets, set()), "created_by": actor,
            "updated_ms": reported, **values})
        repo.insert_step(conn, {"territory_id": tid, "incident_id": incident_id,
                                "step": "reported", "at_ms": reported, "actor": actor,
                                **_note(note)})
        self.audit.record(conn, territory_id=tid, actor=actor, action="incident.open",
                          target=f"incident:{incident_id}",
                          after={"category": values["category"], "post": values["post"],
                                 "source": values["source"]})
        return incident_id

    @staticmethod
    def _in_territory(conn: Connection, code: str, row: Row[Any] | None, what: str
                      ) -> Row[Any]:
        """``row`` if it exists and belongs to territory ``code``; else NotFound, the same
        answer for an id of another territory as for an id that does not exist."""
        if row is None or repo.territory_code(conn, row.territory_id) != code:
            raise NotFound(f"{what} not found in territory {code!r}")
        return row

    def _incident_row(self, conn: Connection, code: str, incident_id: int, *,
                      lock: bool = False) -> Row[Any]:
        row = (repo.lock_incident if lock else repo.get_incident)(conn, incident_id)
        return self._in_territory(conn, code, row, f"incident {incident_id}")

    def _work_order_row(self, conn: Connection, code: str, wo_id: int) -> Row[Any]:
        return self._in_territory(conn, code, repo.get_work_order(conn, wo_id),
                                  f"work order {wo_id}")

    def step(self, code: str, incident_id: int, step: str, principal: Principal,
             note: str = "") -> IncidentDetail:
        """Move an incident to its next step (see ``sla.check_step`` for the legal moves)."""
        self._role(principal, code)
        with self.store.write() as conn:
            row = self._incident_row(conn, code, incident_id, lock=True)
            self._check_post(principal, code, row.post)
            self._step(conn, row, step, principal.actor, note, self.clock())
        return self.get_incident(code, incident_id, principal)

    def _step(self, conn: Connection, row: Row[Any], step: str, actor: str, note: str | Text,
              now: int) -> None:
        sla.check_step(row.state, step)
        stamps = sla.timestamps(row)
        stamps[step] = now
        category = repo.get_category(conn, row.territory_id, row.category)
        targets = dict(category.sla_minutes) if category is not None else {}
        escalated = {e.step for e in repo.escalations_of(conn, row.id)}
        repo.update_incident(conn, row.id, {
            "state": step, f"{step}_ms": now, "updated_ms": now,
            "next_due_ms": sla.next_due(stamps, targets, escalated)})
        repo.insert_step(conn, {"territory_id": row.territory_id, "incident_id": row.id,
                                "step": step, "at_ms": now, "actor": actor, **_note(note)})
        self.audit.record(conn, territory_id=row.territory_id, actor=actor,
                          action="incident.step", target=f"incident:{row.id}",
                          before=_summary(row), after={**_summary(row), "state": step})

    def assign(self, code: str, incident_id: int, data: AssignIn, principal: Principal
               ) -> IncidentDetail:
        self._role(principal, code)
        now = self.clock()
        with self.store.write() as conn:
            row = self._incident_row(conn, code, incident_id, lock=True)
            self._check_post(principal, code, row.post)
            if row.state == "closed":
                raise Conflict("the incident is closed", [field_error("name", "closed")])
            repo.update_incident(conn, row.id, {"assignee_kind": data.kind,
                                                "assignee": data.name, "updated_ms": now})
            repo.insert_comment(conn, {
                "territory_id": row.territory_id, "incident_id": row.id, "at_ms": now,
                "actor": principal.actor,
                **_text(notes.note("assigned", kind=data.kind, name=data.name))})
            self.audit.record(conn, territory_id=row.territory_id, actor=principal.actor,
                              action="incident.assign", target=f"incident:{row.id}",
                              before=_summary(row), after={**_summary(row),
                                                           "assignee": data.name,
                                                           "assignee_kind": data.kind})
        return self.get_incident(code, incident_id, principal)

    def comment(self, code: str, incident_id: int, data: CommentIn, principal: Principal
                ) -> Comment:
        self._role(principal, code)
        now = self.clock()
        with self.store.write() as conn:
            row = self._incident_row(conn, code, incident_id, lock=True)
            self._check_post(principal, code, row.post)
            comment_id = repo.insert_comment(conn, {
                "territory_id": row.territory_id, "incident_id": row.id, "at_ms": now,
                "actor": principal.actor, "text": data.text})
            repo.update_incident(conn, row.id, {"updated_ms": now})
            self.audit.record(conn, territory_id=row.territory_id, actor=principal.actor,
                              action="incident.comment", target=f"incident:{row.id}",
                              after={"comment": comment_id})
        return Comment(id=comment_id, at=to_iso(now), actor=principal.actor, text=data.text)

    @staticmethod
    def _incident(row: Row[Any], code: str) -> Incident:
        return Incident(
            id=row.id, territory=code, category=row.category, post=row.post, state=row.state,
            title=row.title, titles=row.titles, description=row.description,
            source=row.source,
            asset=row.asset_urn, assignee_kind=row.assignee_kind, assignee=row.assignee,
            level=row.level, timestamps={s: _iso(getattr(row, f"{s}_ms")) for s in STEPS},
            created_by=row.created_by, updated=to_iso(row.updated_ms))

    def get_incident(self, code: str, incident_id: int, principal: Principal
                     ) -> IncidentDetail:
        """Everything about one incident; a field agent sees only its own work orders."""
        role = self._check_read(principal, code)
        now = self.clock()
        with self.store.read() as conn:
            row = self._incident_row(conn, code, incident_id)
            category = repo.get_category(conn, row.territory_id, row.category)
            targets = dict(category.sla_minutes) if category is not None else {}
            steps = repo.steps_of(conn, row.id)
            alarms = repo.alarms_of(conn, row.id)
            comments = repo.comments_of(conn, row.id)
            escalations = repo.escalations_of(conn, row.id)
            orders = repo.list_work_orders(conn, row.territory_id, repo.WorkOrderFilter(
                incident_id=row.id,
                assignee=principal.name if role is Role.FIELD_AGENT else None), 0, 1000)
        base = self._incident(row, code)
        status = sla.status(sla.timestamps(row), targets, now)
        return IncidentDetail(
            **base.model_dump(),
            steps=[StepRecord(step=s.step, at=to_iso(s.at_ms), at_ms=s.at_ms, actor=s.actor,
                              note=s.note, notes=s.notes) for s in steps],
            alarms=[AlarmLink(alarm_id=a.alarm_id, rule_id=a.rule_id, asset=a.asset_urn,
                              severity=a.severity, raised=to_iso(a.raised_ms),
                              cleared=_iso(a.cleared_ms)) for a in alarms],
            comments=[Comment(id=c.id, at=to_iso(c.at_ms), actor=c.actor, text=c.text,
                              texts=c.texts) for c in comments],
            escalations=[Escalation(step=e.step, level=e.level, due=to_iso(e.due_ms),
                                    at=to_iso(e.at_ms)) for e in escalations],
            sla=[SlaStatus(due=to_iso(s["due_ms"]), **s) for s in status],
            work_orders=[self._work_order(w, code) for w in reversed(orders)],
        )

    def list_incidents(self, code: str, principal: Principal, *,
                       post: str | None = None, state: str | None = None,
                       category: str | None = None, assignee: str | None = None,
                       asset: str | None = None, cursor: str | None = None,
                       limit: int = 100) -> Page[Incident]:
        """Newest first. ``state`` is a step name or "open" (not yet resolved); ``asset``:
        incidents about that asset, or gathering one of its alarms."""
        self._check_read(principal, code)
        if state is not None and state not in (*STEPS, "open"):
            raise ValidationFailed("invalid state", [field_error(
                "state", f"one of {[*STEPS, 'open']}")])
        tid = self._tid(code)
        flt = repo.IncidentFilter(post=post, state=state, category=category, assignee=assignee,
                                  asset=asset)
        with self.store.read() as conn:
            rows = repo.list_incidents(conn, tid, flt, decode_cursor(cursor), limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page[Incident](items=[self._incident(r, code) for r in rows],
                              next_cursor=encode_cursor(rows[-1].id) if more else None)

    # --- alarms → incidents -------------------------------------------------------------------

    def on_alarms(self, events: list[AlarmEvent]) -> None:
        """Rule-engine listener (after commit): open or gather incidents from raised alarms
        of rules whose policy is "open"; note cleared alarms on their incident."""
        by_territory: dict[str, list[AlarmEvent]] = {}
        for event in events:
            by_territory.setdefault(event.territory, []).append(event)
        for code, group in by_territory.items():
            try:
                tid = self._tid(code)
                with self.store.write() as conn:
                    for event in group:
                        if event.change == "raised" and event.incident == "open":
                            self._alarm_raised(conn, tid, event)
                        elif event.change == "cleared":
                            self._alarm_cleared(conn, tid, event)
            except Exception:  # the edge of a listener: the rule engine must go on
                log.exception("alarms not turned into incidents", extra={"territory": code})

    def _alarm_raised(self, conn: Connection, tid: int, event: AlarmEvent) -> None:
        if repo.incident_of_alarm(conn, tid, event.alarm_id) is not None:
            return  # already linked (a replayed event)
        code = event.category or FALLBACK_CATEGORY
        parent = None
        if event.asset_urn is not None:
            info = repo.asset_info(conn, tid, event.asset_urn)
            parent = info[1] if info else None
        group = parent or event.asset_urn or f"rule:{event.rule_id}"
        existing = repo.open_incident_of_group(conn, tid, code, [group])
        if existing is not None:
            incident_id = int(existing.id)
            repo.insert_comment(conn, {
                "territory_id": tid, "incident_id": incident_id, "at_ms": event.at_ms,
                "actor": SYSTEM.actor, **_text(notes.note(
                    "gathered", alarm=event.alarm_id, rule=event.rule_id,
                    severity=event.severity, asset=event.asset_urn or "-",
                    message=event.messages or event.message))})
            repo.update_incident(conn, incident_id, {"updated_ms": self.clock()})
            self.audit.record(conn, territory_id=tid, actor=SYSTEM.actor,
                              action="incident.gather", target=f"incident:{incident_id}",
                              after={"alarm": event.alarm_id})
        else:
            category = repo.get_category(conn, tid, code)
            post = self._incident_post(conn, tid, category, code, suggested=event.post)
            title = event.message or f"{code}: {event.rule_id} on {event.asset_urn or '-'}"
            titles = ({lang: text[:300] for lang, text in event.messages.items()}
                      if event.messages else None)
            incident_id = self._insert_incident(conn, tid, {
                "category": code, "post": post, "title": title[:300], "titles": titles,
                "description": "",
                "source": "alarm", "asset_urn": event.asset_urn, "group_key": group},
                category, event.at_ms, SYSTEM.actor,
                notes.note("alarm", alarm=event.alarm_id, rule=event.rule_id,
                           severity=event.severity))
        repo.link_alarm(conn, {"territory_id": tid, "incident_id": incident_id,
                               "alarm_id": event.alarm_id, "rule_id": event.rule_id,
                               "asset_urn": event.asset_urn, "severity": event.severity,
                               "raised_ms": event.at_ms, "cleared_ms": None})

    def _alarm_cleared(self, conn: Connection, tid: int, event: AlarmEvent) -> None:
        link = repo.incident_of_alarm(conn, tid, event.alarm_id)
        if link is None or link.cleared_ms is not None:
            return
        repo.clear_alarm(conn, link.incident_id, event.alarm_id, event.at_ms)
        repo.insert_comment(conn, {
            "territory_id": tid, "incident_id": link.incident_id, "at_ms": event.at_ms,
            "actor": SYSTEM.actor,
            **_text(notes.note("cleared", alarm=event.alarm_id, rule=event.rule_id))})
        row = repo.lock_incident(conn, link.incident_id)
        assert row is not None
        if row.state in ("resolved", "closed"):
            return
        category = repo.get_category(conn, tid, row.category)
        if category is None or not category.auto_resolve:
            return
        if all(a.cleared_ms is not None for a in repo.alarms_of(conn, row.id)):
            self._step(conn, row, "resolved", SYSTEM.actor, notes.note("all_cleared"),
                       max(event.at_ms, row.reported_ms))

    # --- SLA ----------------------------------------------------------------------------------

    def tick(self) -> list[EscalationEvent]:
        """Periodic pass: one escalation per late step of open incidents; listeners hear them
        after commit."""
        now = self.clock()
        with self.store.read() as conn:
            if not repo.incidents_due(conn, now, 1):
                return []
        events: list[EscalationEvent] = []
        with self.store.write() as conn:
            codes: dict[int, str] = {}
            for row in repo.incidents_due(conn, now, TICK_BATCH, lock=True):
                events.extend(self._escalate(conn, row, now, codes))
        if not events:
            return events
        for listener in self.escalation_listeners:
            try:
                listener(events)
            except Exception:  # the edge of a listener
                log.exception("escalation listener failed")
        return events

    def _escalate(self, conn: Connection, row: Row[Any], now: int, codes: dict[int, str]
                  ) -> list[EscalationEvent]:
        tid = int(row.territory_id)
        code = codes.setdefault(tid, repo.territory_code(conn, tid))
        category = repo.get_category(conn, tid, row.category)
        targets = dict(category.sla_minutes) if category is not None else {}
        escalated = {e.step for e in repo.escalations_of(conn, row.id)}
        stamps = sla.timestamps(row)
        level = int(row.level)
        events = []
        for step, due in sla.late_steps(stamps, targets, escalated, now):
            level += 1
            escalated.add(step)
            repo.insert_escalation(conn, {"territory_id": tid, "incident_id": row.id,
                                          "step": step, "level": level, "due_ms": due,
                                          "at_ms": now})
            self.audit.record(conn, territory_id=tid, actor=SYSTEM.actor,
                              action="incident.escalate", target=f"incident:{row.id}",
                              before={"level": level - 1}, after={"level": level,
                                                                  "step": step})
            events.append(EscalationEvent(territory=code, incident_id=row.id, post=row.post,
                                          category=row.category, step=step, level=level,
                                          due_ms=due, at_ms=now))
        repo.update_incident(conn, row.id, {
            "level": level, "next_due_ms": sla.next_due(stamps, targets, escalated)})
        return events

    # --- work orders --------------------------------------------------------------------------

    @staticmethod
    def _work_order(row: Row[Any], code: str) -> WorkOrder:
        return WorkOrder(
            id=row.id, territory=code, incident_id=row.incident_id, post=row.post,
            title=row.title, description=row.description, assignee_kind=row.assignee_kind,
            assignee=row.assignee, state=row.state,
            timestamps={"created": _iso(row.created_ms), "accepted": _iso(row.accepted_ms),
                        "on_site": _iso(row.on_site_ms), "done": _iso(row.done_ms),
                        "cancelled": _iso(row.cancelled_ms)},
            closure_note=row.closure_note, created_by=row.created_by)

    def create_work_order(self, code: str, incident_id: int, data: WorkOrderIn,
                          principal: Principal) -> WorkOrder:
        """A work order for a field team or contractor; it dispatches the incident (and
        assigns it, if unassigned)."""
        self._role(principal, code)
        now = self.clock()
        with self.store.write() as conn:
            row = self._incident_row(conn, code, incident_id, lock=True)
            self._check_post(principal, code, row.post)
            if row.state in ("resolved", "closed"):
                raise Conflict(f"the incident is {row.state}",
                               [field_error("incident", "work orders are for open incidents")])
            wo_id = repo.insert_work_order(conn, {
                "territory_id": row.territory_id, "incident_id": row.id, "post": row.post,
                **data.model_dump(), "state": "open", "created_ms": now,
                "created_by": principal.actor, "updated_ms": now})
            self.audit.record(conn, territory_id=row.territory_id, actor=principal.actor,
                              action="work_order.create", target=f"work_order:{wo_id}",
                              after={"incident": row.id, "assignee": data.assignee})
            if row.assignee is None:
                repo.update_incident(conn, row.id, {"assignee_kind": data.assignee_kind,
                                                    "assignee": data.assignee})
            if STEPS.index(row.state) < STEPS.index("dispatched"):
                self._step(conn, row, "dispatched", principal.actor,
                           notes.note("work_order", id=wo_id), now)
            wo = repo.get_work_order(conn, wo_id)
        assert wo is not None
        return self._work_order(wo, code)

    def _check_work_order(self, principal: Principal, code: str, wo: Row[Any]) -> None:
        role = self._role(principal, code)
        if role is Role.FIELD_AGENT:
            if wo.assignee != principal.name:
                raise Forbidden(f"work order {wo.id} is not assigned to {principal.name!r}")
            return
        self._check_post(principal, code, wo.post)

    def work_order_step(self, code: str, wo_id: int, step: str, principal: Principal,
                        note: str = "") -> WorkOrder:
        """accepted, on_site, done (with its closure note), or cancelled. Arrival on site
        puts the incident on site, if it was not yet."""
        self._role(principal, code)
        now = self.clock()
        with self.store.write() as conn:
            wo = self._work_order_row(conn, code, wo_id)
            self._check_work_order(principal, code, wo)
            sla.check_work_order_step(wo.state, step)
            if step == "done" and not note.strip():
                raise ValidationFailed("a closure note is required", [field_error(
                    "note", "say what was done (closure note)")])
            values: dict[str, Any] = {"state": step, f"{step}_ms": now, "updated_ms": now}
            if step in ("done", "cancelled") and note.strip():
                values["closure_note"] = note
            repo.update_work_order(conn, wo_id, values)
            self.audit.record(conn, territory_id=wo.territory_id, actor=principal.actor,
                              action="work_order.step", target=f"work_order:{wo_id}",
                              before={"state": wo.state}, after={"state": step})
            if step == "on_site" and wo.incident_id is not None:
                row = repo.lock_incident(conn, wo.incident_id)
                if row is not None and STEPS.index(row.state) < STEPS.index("on_site"):
                    self._step(conn, row, "on_site", principal.actor,
                               notes.note("work_order_on_site", id=wo_id), now)
            done = repo.get_work_order(conn, wo_id)
        assert done is not None
        return self._work_order(done, code)

    def get_work_order(self, code: str, wo_id: int, principal: Principal) -> WorkOrder:
        role = self._check_read(principal, code)
        with self.store.read() as conn:
            wo = self._work_order_row(conn, code, wo_id)
        if role is Role.FIELD_AGENT and wo.assignee != principal.name:
            raise Forbidden(f"work order {wo_id} is not assigned to {principal.name!r}")
        return self._work_order(wo, code)

    def list_work_orders(self, code: str, principal: Principal, *,
                         assignee: str | None = None, state: str | None = None,
                         incident_id: int | None = None, post: str | None = None,
                         cursor: str | None = None, limit: int = 100) -> Page[WorkOrder]:
        """Newest first; a field agent sees only its own. ``state``: a state or "open"."""
        role = self._check_read(principal, code)
        states = ("open", "accepted", "on_site", "done", "cancelled")
        if state is not None and state not in states:
            raise ValidationFailed("invalid state", [field_error("state", f"one of {states}")])
        if role is Role.FIELD_AGENT:
            if assignee not in (None, principal.name):
                raise Forbidden("a field agent lists its own work orders only")
            assignee = principal.name
        tid = self._tid(code)
        flt = repo.WorkOrderFilter(assignee=assignee, state=state, incident_id=incident_id,
                                   post=post)
        with self.store.read() as conn:
            rows = repo.list_work_orders(conn, tid, flt, decode_cursor(cursor), limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page[WorkOrder](items=[self._work_order(r, code) for r in rows],
                               next_cursor=encode_cursor(rows[-1].id) if more else None)

    # --- crisis plans -------------------------------------------------------------------------

    @staticmethod
    def _plan_values(data: CrisisPlanIn, now: int) -> dict[str, Any]:
        routings = {}
        for key, post in data.routings.items():
            if ":" not in key:
                key = f"type:{key}" if key in ASSET_TYPES else f"category:{key}"
            routings[key] = post
        return {"title": data.title, "post": data.post, "updated_ms": now,
                "definition": {"description": data.description, "rules": data.rules,
                               "routings": routings,
                               "commands": [c.model_dump() for c in data.commands],
                               "release_commands": [c.model_dump()
                                                    for c in data.release_commands]}}

    @staticmethod
    def _plan(row: Row[Any]) -> CrisisPlan:
        d = row.definition
        return CrisisPlan(
            name=row.name, title=row.title, post=row.post, description=d.get("description", ""),
            rules=d.get("rules", []), routings=d.get("routings", {}),
            commands=[StandingCommand(**c) for c in d.get("commands", [])],
            release_commands=[StandingCommand(**c) for c in d.get("release_commands", [])],
            active=bool(row.active), activated=_iso(row.activated_ms),
            activated_by=row.activated_by)

    def list_plans(self, code: str, principal: Principal) -> list[CrisisPlan]:
        self._check_read(principal, code)
        tid = self._tid(code)
        with self.store.read() as conn:
            return [self._plan(r) for r in repo.list_plans(conn, tid)]

    def get_plan(self, code: str, name: str, principal: Principal) -> CrisisPlan:
        self._check_read(principal, code)
        tid = self._tid(code)
        with self.store.read() as conn:
            row = repo.get_plan(conn, tid, name)
        if row is None:
            raise NotFound(f"crisis plan {name!r} not found")
        return self._plan(row)

    def put_plan(self, code: str, name: str, data: CrisisPlanIn, principal: Principal
                 ) -> CrisisPlan:
        """Create or replace a plan. Routing changes of an active plan apply at once; its
        rules and commands at the next activation."""
        self._check_configure(principal, code)
        if not repo_code_ok(name):
            raise ValidationFailed("invalid plan name", [field_error(
                "name", "lower-case letters, digits and '-', 1 to 64 characters")])
        tid = self._tid(code)
        with self.store.write() as conn:
            problems = []
            posts = {r.code for r in repo.list_posts(conn, tid)}
            if data.post not in posts:
                problems.append(field_error("post", f"no control post {data.post!r}"))
            for key, post in data.routings.items():
                kind, _, value = key.rpartition(":")
                if kind not in ("", "rule", "type", "category") or not value:
                    problems.append(field_error(f"routings.{key}", "a key is 'rule:<id>', "
                                                "'type:<AssetType>' or 'category:<code>'"))
                elif kind == "type" and value not in ASSET_TYPES:
                    problems.append(field_error(f"routings.{key}", f"no asset type {value!r}"))
                if post not in posts:
                    problems.append(field_error(f"routings.{key}", f"no control post {post!r}"))
            problems.extend(_command_problems("commands", data.commands))
            problems.extend(_command_problems("release_commands", data.release_commands))
            if problems:
                raise ValidationFailed("invalid crisis plan", problems)
            before = repo.get_plan(conn, tid, name)
            repo.upsert_plan(conn, tid, name, self._plan_values(data, self.clock()))
            self.audit.record(conn, territory_id=tid, actor=principal.actor,
                              action="crisis_plan.put", target=f"crisis_plan:{name}",
                              before=None if before is None else before.definition,
                              after=data.model_dump())
            row = repo.get_plan(conn, tid, name)
        assert row is not None
        return self._plan(row)

    def activate(self, code: str, name: str, principal: Principal) -> CrisisActivation:
        return self._switch(code, name, True, principal)

    def deactivate(self, code: str, name: str, principal: Principal
                   ) -> CrisisActivation:
        return self._switch(code, name, False, principal)

    def _switch(self, code: str, name: str, active: bool, principal: Principal
                ) -> CrisisActivation:
        """Switch the plan's rules (``Rules.set_active``) and standing commands
        (``Commands.send_standing``: ``commands`` on activation, ``release_commands`` on
        deactivation), then its routing overrides and the activation log, audited.

        An error of the rule engine (an unknown rule) stops the activation before anything
        changed; refused commands are noted in the outcome, not fatal (the routings and the
        rules matter more in a crisis than a sign's message)."""
        plan = self.get_plan(code, name, principal)
        role = self._role(principal, code)
        if role is not Role.SUPERVISOR and role is not Role.ADMINISTRATOR:
            self._check_post(principal, code, plan.post)
        if plan.active == active:
            raise Conflict(f"crisis plan {name!r} is already "
                           f"{'active' if active else 'inactive'}",
                           [field_error("name", "nothing to switch")])
        outcome: dict[str, Any] = {"rules": plan.rules, "routings": plan.routings}
        switching = self._switch_rules(code, plan, active)
        if switching:
            self.rules.set_active(code, switching, active, principal.actor)
        outcome["rules_switched"] = switching
        outcome["commands"] = self._switch_commands(
            code, plan.commands if active else plan.release_commands, principal)
        now = self.clock()
        tid = self._tid(code)
        action = "activate" if active else "deactivate"
        with self.store.write() as conn:
            repo.set_plan_active(conn, tid, name, active, now if active else None,
                                 principal.actor if active else None)
            repo.insert_activation(conn, {"territory_id": tid, "plan": name, "action": action,
                                          "at_ms": now, "actor": principal.actor,
                                          "outcome": outcome})
            self.audit.record(conn, territory_id=tid, actor=principal.actor,
                              action=f"crisis_plan.{action}", target=f"crisis_plan:{name}",
                              before={"active": not active}, after={"active": active})
            row = repo.activations(conn, tid, name, 1)[0]
        self._routings.pop(code, None)  # its routing overrides apply now
        log.info("crisis plan %s", action, extra={"territory": code, "plan": name})
        return self._activation(row)

    def _switch_rules(self, code: str, plan: CrisisPlan, active: bool) -> list[str]:
        """The rules this switch changes: on activation, the plan's rules that were off (an
        unknown rule raises NotFound before anything changed); on deactivation, those its last
        activation switched on, unless another active plan still needs them or they are gone.
        """
        if active:
            return [r for r in plan.rules if not self.rules.get_rule(code, r)["active"]]
        tid = self._tid(code)
        with self.store.read() as conn:
            last = repo.activations(conn, tid, plan.name, 1, action="activate")
            needed = {r for p in repo.active_plans(conn, tid) if p.name != plan.name
                      for r in p.definition.get("rules", [])}
        switched: list[str] = last[0].outcome.get("rules_switched", []) if last else []
        out = []
        for rule_id in switched:
            if rule_id in needed:
                continue
            try:
                if self.rules.get_rule(code, rule_id)["active"]:
                    out.append(rule_id)
            except NotFound:
                continue
        return out

    def _switch_commands(self, code: str, commands: list[StandingCommand],
                         principal: Principal) -> list[dict[str, Any]]:
        """Send a plan's standing commands with ``Commands.send_standing`` (all or none: the
        command service checks every line and the principal's right first); a refusal is
        noted in the outcome, not fatal."""
        if not commands:
            return []
        names = [c.command for c in commands]
        send = getattr(self.commands, "send_standing", None)
        if send is None:
            return [{"commands": names, "status": "not sent: the command service has no "
                                                  "standing commands"}]
        try:
            batches = send(code, principal, [c.model_dump() for c in commands])
        except NotImplementedError:
            return [{"commands": names, "status": "not sent: not supported yet"}]
        except BeffroiError as exc:
            return [{"commands": names, "status": "refused", "error": exc.code,
                     "message": exc.message, "details": exc.details}]
        return [{"commands": names, "status": "sent", "batches": list(batches)}]

    @staticmethod
    def _activation(row: Row[Any]) -> CrisisActivation:
        return CrisisActivation(id=row.id, plan=row.plan, action=row.action,
                                at=to_iso(row.at_ms), actor=row.actor, outcome=row.outcome)

    def activations(self, code: str, principal: Principal, plan: str | None = None,
                    limit: int = 100) -> list[CrisisActivation]:
        """The activation log, newest first."""
        self._check_read(principal, code)
        tid = self._tid(code)
        with self.store.read() as conn:
            return [self._activation(r) for r in repo.activations(conn, tid, plan, limit)]


def _command_problems(field: str, commands: list[StandingCommand]) -> list[dict[str, Any]]:
    """What the command catalogue finds wrong with a plan's standing commands (selector,
    command name for the selected type, parameters), checked when the plan is defined."""
    from pydantic import ValidationError

    from beffroi.commands import catalogue
    from beffroi.commands.models import StandingSpec

    problems: list[dict[str, Any]] = []
    for i, c in enumerate(commands):
        where = f"{field}.{i}"
        try:
            spec = StandingSpec.model_validate(c.model_dump())
            catalogue.validate_params(catalogue.any_spec(c.command), c.params)
            if spec.selector.type is not None:
                catalogue.spec_for(spec.selector.type, c.command)
        except ValidationError as exc:
            problems.extend(field_error(".".join([where, *(str(p) for p in e["loc"])]),
                                        str(e["msg"]).removeprefix("Value error, "))
                            for e in exc.errors())
        except BeffroiError as exc:
            problems.extend(field_error(f"{where}.{d.get('field', '')}".rstrip("."),
                                        str(d.get("reason", exc.message)))
                            for d in exc.details or [{}])
    return problems


def repo_code_ok(value: str) -> bool:
    """A category or plan code: lower-case letters, digits and '-', 1 to 64 characters."""
    return bool(SLUG_RE.match(value))


def _note(note: str | Text) -> dict[str, Any]:
    """A step's note: as typed, or written by the platform in each language."""
    if isinstance(note, dict):
        return {"note": note["en"], "notes": note}
    return {"note": note, "notes": None}


def _text(text: Text) -> dict[str, Any]:
    """A comment the platform writes, in each language."""
    return {"text": text["en"], "texts": text}
