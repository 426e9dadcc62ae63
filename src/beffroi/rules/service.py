"""The rule engine: definitions per territory, incremental evaluation, alarms.

Evaluation state lives in memory, per process and territory (:class:`TerritoryRules`), built
lazily on the first batch or tick that needs it and rebuilt when the territory's rule set or
registry version moves (changes made by another process). Nothing of it is written on the hot
path; after a restart it is rebuilt from what the database already holds:

- open alarms from ``alarms``;
- a condition pending for a while (threshold or state ``for``, stuck value, rate's previous
  reading) by replaying, the first time a series is seen, its observations of the look-back
  window (the longest duration of the territory's rules) without producing alarms — so a
  "PM10 > 50 for 1 h" pending for 50 minutes before a restart raises 10 minutes after it;
- silence from ``latest`` (the last reading of each asset in scope);
- group shares and combinations from ``latest`` of the members and parts.

See docs/rules.md for the choice and its limits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from beffroi.assets.service import Registry, decode_cursor, encode_cursor
from beffroi.auth.audit import AuditLog
from beffroi.auth.models import SYSTEM, Principal
from beffroi.errors import Conflict, Forbidden, NotFound, ValidationFailed, field_error
from beffroi.rules import repository as repo
from beffroi.rules.definitions import (
    All,
    Group,
    Rule,
    Scope,
    Silent,
    State,
    Threshold,
    parse_rule,
    parse_yaml,
)
from beffroi.rules.evaluator import Action, AssetInfo, OpenAlarm, TerritoryRules, alarm_key
from beffroi.rules.models import AlarmChange, AlarmEvent
from beffroi.store import Store
from beffroi.telemetry.service import Telemetry
from beffroi.texts import Text, english
from beffroi.timeutil import Clock, to_iso

log = logging.getLogger("beffroi.rules")

AlarmListener = Callable[[list[AlarmEvent]], None]
# (territory code, rule id, asset type or None, the rule's declared post) → the post
PostRouter = Callable[[str, str, str | None, str | None], str | None]
Row4 = tuple[int, int, float | None, str | None]

DEFAULTS_DIR = Path(__file__).parent / "defaults"
RELOAD_CHECK_S = 5.0  # how often a process checks that another one changed rules or assets
MAX_LOOKBACK_MS = 7 * 86_400_000
ALARM_STATES = ("raised", "acknowledged", "cleared")


def _asset(row: Any) -> AssetInfo:
    return AssetInfo(int(row.asset_id), str(row.urn), str(row.type), str(row.domain),
                     float(row.lon), float(row.lat),
                     None if row.parent_id is None else int(row.parent_id), row.control_post,
                     dict(row.properties or {}))


def _rule_dict(row: Row[Any]) -> dict[str, Any]:
    return {**row.definition, "active": bool(row.active), "version": int(row.version),
            "content_hash": row.content_hash, "updated": to_iso(int(row.updated_ms)),
            "updated_by": row.updated_by}


def alarm_dict(row: Row[Any]) -> dict[str, Any]:
    def iso(v: Any) -> str | None:
        return None if v is None else to_iso(int(v))

    return {
        "id": int(row.id), "rule": row.rule_id, "rule_version": int(row.rule_version),
        "asset": row.asset_urn, "severity": row.severity, "post": row.post,
        "state": row.state, "incident": row.incident, "category": row.category,
        "raised": iso(row.raised_ms), "updated": iso(row.updated_ms),
        "acknowledged": iso(row.acknowledged_ms), "acknowledged_by": row.acknowledged_by,
        "cleared": iso(row.cleared_ms), "cleared_by": row.cleared_by,
        "value": row.value if row.text is None else row.text, "message": row.message,
        "messages": row.messages, "updates": int(row.updates),
    }


class Rules:
    def __init__(self, store: Store, registry: Registry, telemetry: Telemetry, audit: AuditLog,
                 clock: Clock) -> None:
        self.store = store
        self.registry = registry
        self.telemetry = telemetry
        self.audit = audit
        self.clock = clock
        self.listeners: list[AlarmListener] = []
        self.post_router: PostRouter | None = None
        self._lock = threading.RLock()  # one evaluation at a time per process
        self._states: dict[int, TerritoryRules | None] = {}
        self._checked: dict[int, tuple[float, int, int | None]] = {}
        registry.listeners.append(self._forget)

    # --- state per territory ------------------------------------------------------------------

    def _forget(self, territory_id: int) -> None:
        with self._lock:
            self._states.pop(territory_id, None)
            self._checked.pop(territory_id, None)

    def _versions(self, territory_id: int) -> tuple[int, int | None]:
        with self.store.read() as conn:
            return repo.rule_set_version(conn, territory_id), \
                self.registry.registry_version(territory_id)

    def _state(self, territory_id: int, code: str) -> TerritoryRules | None:
        now = time.monotonic()
        checked = self._checked.get(territory_id)
        if checked is not None and territory_id in self._states and (
                now - checked[0] <= RELOAD_CHECK_S):
            return self._states[territory_id]
        versions = self._versions(territory_id)
        if checked is None or territory_id not in self._states or checked[1:] != versions:
            self._states[territory_id] = self._build(territory_id, code)
        self._checked[territory_id] = (now, *versions)
        return self._states[territory_id]

    def _build(self, territory_id: int, code: str) -> TerritoryRules | None:
        with self.store.read() as conn:
            rows = [r for r in repo.rule_rows(conn, territory_id) if r.active]
            if not rows:
                return None
            rules: list[Rule] = []
            versions: dict[str, int] = {}
            for r in rows:
                try:
                    rules.append(parse_rule(r.definition))
                    versions[r.rule_id] = int(r.version)
                except ValidationFailed as exc:  # the catalogue changed under a stored rule
                    log.error("stored rule no longer valid, skipped",
                              extra={"rule": r.rule_id, "details": exc.details})
            tr = TerritoryRules(territory_id, code, rules, versions)
            for a in repo.open_alarms(conn, territory_id):
                tr.open[a.dedupe_key] = OpenAlarm(int(a.id), a.rule_id, a.asset_id, a.state,
                                                  a.post)
            facts: dict[tuple[Any, ...], list[AssetInfo]] = {}
            for rule in rules:
                self._load_rule_state(conn, tr, rule, facts)
        actions: list[Action] = []
        now = self.clock()
        for rule in rules:
            if isinstance(rule.when, Group):
                for parent_id in list(tr.members.get(rule.id, {})):
                    actions.extend(tr.judge_group(rule, parent_id, now))
        if actions:
            self._after_commit(self._apply(tr, actions))
        return tr

    def _load_rule_state(self, conn: Connection, tr: TerritoryRules, rule: Rule,
                         memo: dict[tuple[Any, ...], list[AssetInfo]]) -> None:
        """What silence, groups and combinations need from ``latest``."""

        def facts(scope: Scope) -> list[AssetInfo]:
            key = (tuple(sorted(scope.types)), tuple(sorted(scope.domains)),
                   tuple(sorted(scope.assets)))
            if key not in memo:
                memo[key] = [_asset(a) for a in repo.asset_facts(
                    conn, tr.territory_id, *(list(k) for k in key))]
            return memo[key]

        w = rule.when
        if isinstance(w, Silent):
            scope = rule.scope
            assets = [a for a in facts(scope)
                      if scope.admits(a.urn, a.type, a.domain, a.lon, a.lat)]
            by_id = {a.id: a for a in assets}
            series = repo.series_of_assets_metrics(conn, list(by_id),
                                                   [w.metric] if w.metric else None)
            owner = {int(s.id): int(s.asset_id) for s in series}
            seen = tr.seen.setdefault(rule.id, {})
            for sid, ts, _v, _t in repo.latest_rows(conn, list(owner)):
                aid = owner[sid]
                tr.assets.setdefault(aid, by_id[aid])
                seen[aid] = max(seen.get(aid, 0), ts)
        elif isinstance(w, Group):
            m = w.member
            members = [a for a in facts(m) if a.parent_id is not None
                       and m.admits(a.urn, a.type, a.domain, a.lon, a.lat)]
            parents = {p.id: p for p in map(_asset, repo.assets_by_ids(
                conn, sorted({a.parent_id for a in members if a.parent_id is not None})))}
            groups = tr.members.setdefault(rule.id, {})
            kept: dict[int, AssetInfo] = {}
            for a in members:
                p = parents.get(a.parent_id) if a.parent_id is not None else None
                if p is None or not rule.scope.admits(p.urn, p.type, p.domain, p.lon, p.lat):
                    continue
                tr.assets.setdefault(p.id, p)
                groups.setdefault(p.id, set()).add(a.id)
                kept[a.id] = a
            series = repo.series_of_assets_metrics(conn, list(kept), [w.condition.metric])
            owner = {int(s.id): int(s.asset_id) for s in series}
            failing = tr.failing.setdefault(rule.id, {})
            for sid, _ts, v, t in repo.latest_rows(conn, list(owner)):
                a = kept[owner[sid]]
                c = w.condition
                if holds_now(c, v, t) and a.parent_id is not None:
                    failing.setdefault(a.parent_id, set()).add(a.id)
        elif isinstance(w, All):
            for i, c in enumerate(w.conditions):
                scope = rule.scope if w.over == "asset" else (c.scope or rule.scope)
                by_id = {a.id: a for a in facts(scope)
                         if scope.admits(a.urn, a.type, a.domain, a.lon, a.lat)}
                series = repo.series_of_assets_metrics(conn, list(by_id), [c.metric])
                owner = {int(s.id): int(s.asset_id) for s in series}
                for sid, ts, v, t in repo.latest_rows(conn, list(owner)):
                    aid = owner[sid]
                    if not holds_now(c, v, t):
                        continue
                    pk = (rule.id, aid if w.over == "asset" else 0)
                    parts = tr.parts.setdefault(pk, [{} for _ in w.conditions])
                    parts[i][aid] = ts

    # --- the pipeline hand-off and the periodic pass ------------------------------------------

    def on_rows(self, territory: str, rows: list[Row4]) -> None:
        """Pipeline hand-off: evaluate the rules on the rows just stored (series id, epoch ms,
        number, state), after their commit."""
        if not rows:
            return
        territory_id = self.telemetry._territory_id(territory)
        with self._lock:
            tr = self._state(territory_id, territory)
            if tr is None:
                return
            # time order across series: groups and combinations see the city as it was
            ordered = sorted(rows, key=lambda r: (r[1], r[0]))
            fresh = sorted({r[0] for r in ordered if r[0] not in tr.series})
            if fresh:
                self._bind(tr, fresh, ordered)
            actions = tr.evaluate(ordered, self.clock())
            events = self._apply(tr, actions) if actions else []
        self._after_commit(events)

    def _bind(self, tr: TerritoryRules, series_ids: list[int], rows: list[Row4]) -> None:
        """Index newly seen series, and rebuild their pending conditions from the recent
        observations before this batch."""
        with self.store.read() as conn:
            facts = repo.series_facts(conn, series_ids)
            parent_ids = sorted({int(f.parent_id) for f in facts if f.parent_id is not None}
                                - set(tr.assets))
            parents = {p.id: p for p in map(_asset, repo.assets_by_ids(conn, parent_ids))}
            parents.update({i: tr.assets[i] for f in facts if (i := f.parent_id) in tr.assets})
            timed: list[int] = []
            for f in facts:
                bindings = tr.bind(int(f.series_id), _asset(f), str(f.metric), parents)
                if tr.history_needed and any(b.role == "direct" for b in bindings):
                    timed.append(int(f.series_id))
            known = {int(f.series_id) for f in facts}
            for sid in series_ids:
                if sid not in known:  # a series of another territory or deleted: never bound
                    tr.series[sid] = (AssetInfo(0, "", "", "", 0, 0, None, None, {}), "", [])
            if not timed:
                return
            first: dict[int, int] = {}
            for sid, ts, _v, _t in rows:
                first.setdefault(sid, ts)
            lookback = min(2 * tr.history_needed + 3_600_000, MAX_LOOKBACK_MS)
            start = min(first[s] for s in timed) - lookback
            end = max(first[s] for s in timed)
            history = [r for r in repo.recent_observations(conn, timed, start, end)
                       if r[1] < first[r[0]] and r[1] >= first[r[0]] - lookback]
        history.sort(key=lambda r: (r[1], r[0]))
        tr.evaluate(history, self.clock(), quiet=True)

    def tick(self) -> None:
        """Periodic pass for time-based conditions (silence, durations elapsing)."""
        with self.store.read() as conn:
            territories = repo.territories_with_rules(conn)
        for territory_id, code in territories:
            with self._lock:
                tr = self._state(territory_id, code)
                if tr is None:
                    continue
                actions = tr.tick(self.clock())
                events = self._apply(tr, actions) if actions else []
            self._after_commit(events)

    # --- writing alarms -----------------------------------------------------------------------

    def _post(self, tr: TerritoryRules, rule: Rule, asset: AssetInfo | None,
              cache: dict[tuple[str, str | None], str | None]) -> str | None:
        """The control post of a new alarm: the post router's (operations: routings, crisis
        plans), else the rule's, else the asset's."""
        fallback = rule.post or (asset.post if asset else None)
        if self.post_router is None:
            return fallback
        key = (rule.id, asset.type if asset else None)
        if key not in cache:
            cache[key] = self.post_router(tr.code, rule.id, key[1], rule.post)
        routed = cache[key]
        return routed if routed is not None else fallback

    def _event(self, tr: TerritoryRules, alarm_id: int, rule: Rule, change: str, severity: str,
               asset_urn: str | None, post: str | None, at_ms: int, message: Text | None,
               value: float | None, actor: str = "auto") -> AlarmEvent:
        return AlarmEvent(tr.code, alarm_id, rule.id, change, severity,  # type: ignore[arg-type]
                          asset_urn, post, rule.incident, rule.category, at_ms,
                          english(message), value, actor, message)

    def _apply(self, tr: TerritoryRules, actions: list[Action]) -> list[AlarmEvent]:
        """Write the actions in one transaction; returns the events for the listeners.

        The evaluator already moved ``tr.open``; each action carries the (shared) open alarm it
        concerns, whose id a raise fills in. Consecutive updates of an alarm are written once.
        """
        events: list[AlarmEvent] = []
        history: list[dict[str, Any]] = []
        pending_updates: dict[str, tuple[Action, int]] = {}
        routes: dict[tuple[str, str | None], str | None] = {}
        posts = {id(a): self._post(tr, a.rule, a.asset, routes) for a in actions
                 if a.change == "raise"}  # before the write transaction: the router reads

        def flush(conn: Connection, key: str) -> None:
            item = pending_updates.pop(key, None)
            if item is None:
                return
            a, n = item
            alarm = a.alarm
            if alarm is None or not alarm.id:
                return
            if repo.bump_open_alarm(conn, alarm.id, a.at_ms, a.value, a.text, n,
                                    english(a.message), a.message):
                events.append(self._event(tr, alarm.id, a.rule, "updated", a.rule.severity,
                                          a.asset.urn if a.asset else None, alarm.post, a.at_ms,
                                          a.message, a.value))
            elif tr.open.get(key) is alarm:  # cleared by hand in another process
                del tr.open[key]
                tr.suppressed.add(key)

        with self.store.write() as conn:
            for a in actions:
                key = a.key
                if a.change == "update":
                    prev = pending_updates.get(key)
                    pending_updates[key] = (a, (prev[1] if prev else 0) + 1)
                    continue
                flush(conn, key)
                alarm = a.alarm
                assert alarm is not None
                if a.change == "raise":
                    post = posts[id(a)]
                    values = {
                        "territory_id": tr.territory_id, "rule_id": a.rule.id,
                        "rule_version": tr.versions.get(a.rule.id, 0),
                        "asset_id": a.asset.id if a.asset else None,
                        "asset_urn": a.asset.urn if a.asset else None, "dedupe_key": key,
                        "severity": a.rule.severity, "post": post, "incident": a.rule.incident,
                        "category": a.rule.category, "state": "raised", "raised_ms": a.at_ms,
                        "updated_ms": a.at_ms, "value": a.value, "text": a.text,
                        "message": english(a.message), "messages": a.message,
                        "updates": 0,
                    }
                    try:
                        with conn.begin_nested():
                            alarm.id = repo.insert_alarm(conn, values)
                    except IntegrityError:  # another process opened it meanwhile
                        row = repo.open_alarm_by_key(conn, tr.territory_id, key)
                        if row is None:
                            raise
                        alarm.id, alarm.state, alarm.post = int(row.id), row.state, row.post
                        pending_updates[key] = (a, 1)
                        continue
                    alarm.post = post
                    history.append({"territory_id": tr.territory_id, "alarm_id": alarm.id,
                                    "change": "raised", "at_ms": a.at_ms, "actor": "auto",
                                    "value": a.value, "text": a.text, "note": english(a.message)})
                    events.append(self._event(tr, alarm.id, a.rule, "raised", a.rule.severity,
                                              a.asset.urn if a.asset else None, post, a.at_ms,
                                              a.message, a.value))
                elif alarm.id and repo.close_alarm(conn, alarm.id, a.at_ms, "auto"):
                    history.append({"territory_id": tr.territory_id, "alarm_id": alarm.id,
                                    "change": "cleared", "at_ms": a.at_ms, "actor": "auto",
                                    "value": a.value, "text": a.text, "note": english(a.message)})
                    events.append(self._event(
                        tr, alarm.id, a.rule, "cleared", a.rule.severity,
                        a.asset.urn if a.asset else None, alarm.post, a.at_ms, a.message,
                        a.value))
            for key in list(pending_updates):
                flush(conn, key)
            repo.insert_events(conn, history)
        return events

    def _after_commit(self, events: list[AlarmEvent]) -> None:
        if not events:
            return
        for listener in self.listeners:
            try:
                listener(events)
            except Exception:  # a faulty listener must not undo alarms already stored
                log.exception("alarm listener failed")

    # --- rule definitions ---------------------------------------------------------------------

    def _tid(self, code: str) -> int:
        return self.registry.territory_id(code)

    def _changed(self, territory_id: int) -> None:
        with self._lock:
            self._states.pop(territory_id, None)
            self._checked.pop(territory_id, None)

    def list_rules(self, code: str) -> list[dict[str, Any]]:
        tid = self._tid(code)
        with self.store.read() as conn:
            return [_rule_dict(r) for r in repo.rule_rows(conn, tid)]

    def get_rule(self, code: str, rule_id: str) -> dict[str, Any]:
        tid = self._tid(code)
        with self.store.read() as conn:
            row = repo.rule_row(conn, tid, rule_id)
        if row is None:
            raise NotFound(f"rule {rule_id!r} not found in territory {code!r}")
        return _rule_dict(row)

    @staticmethod
    def validate(data: Any) -> list[Rule]:
        """Validate one rule or a list of them (``{rules: [...]}``); raise with every error."""
        if isinstance(data, dict) and "rules" not in data:
            return [parse_rule(data)]
        from beffroi.rules.definitions import parse_rules

        return parse_rules(data)

    def _store_rule(self, conn: Connection, tid: int, rule: Rule, actor: str, now: int,
                    existing: Row[Any] | None, keep_switch: bool = False) -> str:
        """Create or update one rule in the caller's transaction: created|updated|unchanged.
        ``keep_switch``: an unchanged rule keeps its current on/off switch (loading a file
        again does not undo what a crisis plan switched)."""
        definition = {k: v for k, v in rule.definition.items() if k != "active"}
        if existing is not None and existing.content_hash == rule.content_hash and (
                keep_switch or bool(existing.active) == rule.active):
            return "unchanged"
        version = repo.last_version(conn, tid, rule.id) + 1
        if existing is not None and existing.content_hash == rule.content_hash:
            version = int(existing.version)  # only the switch moved
        else:
            repo.insert_version(conn, {"territory_id": tid, "rule_id": rule.id,
                                       "version": version, "content_hash": rule.content_hash,
                                       "definition": definition, "created_ms": now,
                                       "actor": actor})
        values = {"version": version, "content_hash": rule.content_hash,
                  "definition": definition, "active": rule.active, "updated_ms": now,
                  "updated_by": actor}
        if existing is None:
            repo.insert_rule(conn, {"territory_id": tid, "rule_id": rule.id, "created_ms": now,
                                    **values})
            self.audit.record(conn, territory_id=tid, actor=actor, action="rule.create",
                              target=f"rule:{rule.id}", after=rule.definition)
            return "created"
        repo.update_rule(conn, int(existing.id), values)
        self.audit.record(conn, territory_id=tid, actor=actor, action="rule.update",
                          target=f"rule:{rule.id}",
                          before={**existing.definition, "active": bool(existing.active)},
                          after=rule.definition)
        return "updated"

    def create_rule(self, code: str, data: Any, principal: Principal) -> dict[str, Any]:
        rule = parse_rule(data)
        tid = self._tid(code)
        with self.store.write() as conn:
            if repo.rule_row(conn, tid, rule.id) is not None:
                raise Conflict(f"rule {rule.id!r} already exists",
                               [field_error("id", "already used in this territory")])
            self._store_rule(conn, tid, rule, principal.actor, self.clock(), None)
            repo.bump_rule_set(conn, tid)
        self._changed(tid)
        return self.get_rule(code, rule.id)

    def update_rule(self, code: str, rule_id: str, data: Any, principal: Principal
                    ) -> dict[str, Any]:
        if isinstance(data, dict) and "id" not in data:
            data = {**data, "id": rule_id}
        rule = parse_rule(data)
        if rule.id != rule_id:
            raise ValidationFailed("the rule id cannot change",
                                   [field_error("id", f"must be {rule_id!r} (the URL's)")])
        tid = self._tid(code)
        with self.store.write() as conn:
            existing = repo.rule_row(conn, tid, rule_id)
            if existing is None:
                raise NotFound(f"rule {rule_id!r} not found in territory {code!r}")
            if self._store_rule(conn, tid, rule, principal.actor, self.clock(),
                                existing) != "unchanged":
                repo.bump_rule_set(conn, tid)
        self._changed(tid)
        return self.get_rule(code, rule_id)

    def delete_rule(self, code: str, rule_id: str, principal: Principal) -> None:
        """Delete a rule; its open alarms are cleared (history kept)."""
        tid = self._tid(code)
        now = self.clock()
        with self.store.write() as conn:
            existing = repo.rule_row(conn, tid, rule_id)
            if existing is None:
                raise NotFound(f"rule {rule_id!r} not found in territory {code!r}")
            repo.insert_version(conn, {"territory_id": tid, "rule_id": rule_id,
                                       "version": repo.last_version(conn, tid, rule_id) + 1,
                                       "content_hash": "", "definition": None,
                                       "created_ms": now, "actor": principal.actor})
            repo.delete_rule(conn, int(existing.id))
            events = self._close_rules(conn, tid, code, [rule_id], principal.actor, now,
                                       "rule deleted")
            self.audit.record(conn, territory_id=tid, actor=principal.actor,
                              action="rule.delete", target=f"rule:{rule_id}",
                              before={**existing.definition, "active": bool(existing.active)})
            repo.bump_rule_set(conn, tid)
        self._changed(tid)
        self._after_commit(events)

    def _close_rules(self, conn: Connection, tid: int, code: str, rule_ids: Sequence[str],
                     actor: str, now: int, note: str) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        rows = repo.open_alarms_of_rules(conn, tid, rule_ids)
        for row in rows:
            repo.close_alarm(conn, int(row.id), now, actor)
            events.append(AlarmEvent(code, int(row.id), row.rule_id, "cleared", row.severity,
                                     row.asset_urn, row.post, row.incident, row.category, now,
                                     note, None, actor))
        repo.insert_events(conn, [{"territory_id": tid, "alarm_id": int(r.id),
                                   "change": "cleared", "at_ms": now, "actor": actor,
                                   "value": None, "text": None, "note": note} for r in rows])
        return events

    def load(self, code: str, rules: list[Rule], actor: str) -> dict[str, list[str]]:
        """Create or update these rules (a file's); others of the territory are kept."""
        tid = self._tid(code)
        out: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
        now = self.clock()
        with self.store.write() as conn:
            for rule in rules:
                result = self._store_rule(conn, tid, rule, actor, now,
                                          repo.rule_row(conn, tid, rule.id), keep_switch=True)
                out[result].append(rule.id)
            if out["created"] or out["updated"]:
                repo.bump_rule_set(conn, tid)
        self._changed(tid)
        return out

    def load_file(self, code: str, path: Path, actor: str) -> dict[str, list[str]]:
        return self.load(code, parse_yaml(path.read_text(encoding="utf-8"), str(path)), actor)

    def install_defaults(self, code: str, actor: str = SYSTEM.actor,
                         domains: Sequence[str] | None = None) -> dict[str, list[str]]:
        """Install the shipped rule set (``rules/defaults/*.yaml``), or some of its files."""
        rules: list[Rule] = []
        for path in default_files(domains):
            rules.extend(parse_yaml(path.read_text(encoding="utf-8"), path.name))
        return self.load(code, rules, actor)

    def set_active(self, territory: str, rule_ids: list[str], active: bool, actor: str) -> None:
        """Switch rules on or off (crisis plans use this); audited. Switching a rule off
        clears its open alarms."""
        tid = self._tid(territory)
        now = self.clock()
        events: list[AlarmEvent] = []
        with self.store.write() as conn:
            rows = {r.rule_id: r for r in repo.rule_rows(conn, tid)}
            missing = [r for r in rule_ids if r not in rows]
            if missing:
                raise NotFound(f"rules not found in territory {territory!r}: "
                               f"{', '.join(missing)}",
                               [field_error("rules", f"unknown rule {m!r}") for m in missing])
            changing = [r for r in rule_ids if bool(rows[r].active) != active]
            if not changing:
                return
            repo.set_rules_active(conn, tid, changing, active, now, actor)
            for rid in changing:
                self.audit.record(conn, territory_id=tid, actor=actor,
                                  action="rule.activate" if active else "rule.deactivate",
                                  target=f"rule:{rid}", before={"active": not active},
                                  after={"active": active})
            if not active:
                events = self._close_rules(conn, tid, territory, changing, actor, now,
                                           "rule switched off")
            repo.bump_rule_set(conn, tid)
        self._changed(tid)
        self._after_commit(events)

    # --- alarms -------------------------------------------------------------------------------

    def list_alarms(self, code: str, *, state: str | None = None, post: str | None = None,
                    severity: str | None = None, asset: str | None = None,
                    rule: str | None = None, cursor: str | None = None, limit: int = 100
                    ) -> dict[str, Any]:
        """Newest first. ``state``: raised | acknowledged | cleared | open."""
        if state is not None and state not in (*ALARM_STATES, "open"):
            raise ValidationFailed("invalid state", [field_error(
                "state", "one of raised, acknowledged, cleared, open")])
        if severity is not None and severity not in ("critical", "major", "minor", "warning"):
            raise ValidationFailed("invalid severity", [field_error(
                "severity", "one of critical, major, minor, warning")])
        states = (["raised", "acknowledged"] if state == "open" else [state] if state else None)
        tid = self._tid(code)
        before = decode_cursor(cursor) or None
        with self.store.read() as conn:
            rows = repo.list_alarms(conn, tid, states=states, post=post, severity=severity,
                                    asset=asset, rule=rule, before_id=before, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return {"items": [alarm_dict(r) for r in rows],
                "next_cursor": encode_cursor(int(rows[-1].id)) if more else None}

    def get_alarm(self, code: str, alarm_id: int) -> dict[str, Any]:
        tid = self._tid(code)
        with self.store.read() as conn:
            row = repo.alarm_row(conn, tid, alarm_id)
            if row is None:
                raise NotFound(f"alarm {alarm_id} not found in territory {code!r}")
            history = repo.alarm_history(conn, alarm_id)
        body = alarm_dict(row)
        body["history"] = [
            {"change": h.change, "at": to_iso(int(h.at_ms)), "by": h.actor,
             "value": h.value if h.text is None else h.text, "note": h.note} for h in history]
        return body

    def _may_act(self, code: str, principal: Principal, row: Row[Any]) -> None:
        posts = principal.posts_in(code)
        if posts is not None and row.post not in posts:
            raise Forbidden(f"alarm {int(row.id)} belongs to post {row.post!r}, not one of "
                            f"yours ({', '.join(sorted(posts)) or 'none'})")

    def acknowledge(self, code: str, alarm_id: int, principal: Principal,
                    note: str | None = None) -> dict[str, Any]:
        def change(conn: Connection, row: Row[Any], now: int) -> None:
            if row.state != "raised":
                raise Conflict(f"alarm {alarm_id} is {row.state}, not raised",
                               [field_error("state", f"already {row.state}")])
            repo.update_alarm(conn, alarm_id, {"state": "acknowledged", "acknowledged_ms": now,
                                               "acknowledged_by": principal.actor})

        def follow(tr: TerritoryRules, row: Row[Any]) -> None:
            if row.dedupe_key in tr.open:
                tr.open[row.dedupe_key].state = "acknowledged"

        return self._by_hand(code, alarm_id, principal, note, "acknowledged", change, follow)

    def clear(self, code: str, alarm_id: int, principal: Principal, note: str | None = None
              ) -> dict[str, Any]:
        """Clear by hand. While its condition still holds the alarm is not raised again; it
        is once the condition has ended and comes back."""
        def change(conn: Connection, row: Row[Any], now: int) -> None:
            if row.state == "cleared":
                raise Conflict(f"alarm {alarm_id} is already cleared",
                               [field_error("state", "already cleared")])
            repo.close_alarm(conn, alarm_id, now, principal.actor, int(row.updated_ms))

        def follow(tr: TerritoryRules, row: Row[Any]) -> None:
            if tr.open.pop(row.dedupe_key, None) is not None:
                tr.suppressed.add(row.dedupe_key)

        return self._by_hand(code, alarm_id, principal, note, "cleared", change, follow)

    def _by_hand(self, code: str, alarm_id: int, principal: Principal, note: str | None,
                 state: AlarmChange, change: Callable[[Connection, Row[Any], int], None],
                 follow: Callable[[TerritoryRules, Row[Any]], None]) -> dict[str, Any]:
        """An operator's change of an alarm: checked, written with its history event and
        audit entry, followed in the evaluator's memory, then told to the listeners."""
        tid = self._tid(code)
        now = self.clock()
        with self.store.write() as conn:
            row = repo.alarm_row(conn, tid, alarm_id)
            if row is None:
                raise NotFound(f"alarm {alarm_id} not found in territory {code!r}")
            self._may_act(code, principal, row)
            change(conn, row, now)
            repo.insert_events(conn, [{"territory_id": tid, "alarm_id": alarm_id,
                                       "change": state, "at_ms": now,
                                       "actor": principal.actor, "value": None, "text": None,
                                       "note": note}])
            action = "alarm.acknowledge" if state == "acknowledged" else "alarm.clear"
            self.audit.record(conn, territory_id=tid, actor=principal.actor, action=action,
                              target=f"alarm:{alarm_id}", before={"state": row.state},
                              after={"state": state, "note": note})
        with self._lock:
            tr = self._states.get(tid)
            if tr is not None:
                follow(tr, row)
        self._after_commit([AlarmEvent(code, alarm_id, row.rule_id, state, row.severity,
                                       row.asset_urn, row.post, row.incident, row.category,
                                       now, note or "", None, principal.actor)])
        return self.get_alarm(code, alarm_id)


def holds_now(c: Threshold | State, value: float | None, txt: str | None) -> bool:
    if isinstance(c, Threshold):
        return value is not None and c.holds(value)
    return txt is not None and txt in c.values


def default_files(domains: Sequence[str] | None = None) -> list[Path]:
    files = sorted(DEFAULTS_DIR.glob("*.yaml"))
    if domains:
        wanted = set(domains)
        unknown = wanted - {f.stem for f in files}
        if unknown:
            raise ValidationFailed("unknown default rule set", [field_error(
                "domain", f"{d!r} is not one of {', '.join(f.stem for f in files)}")
                for d in sorted(unknown)])
        files = [f for f in files if f.stem in wanted]
    return files


__all__ = ["AlarmListener", "PostRouter", "Rules", "alarm_key", "default_files"]
