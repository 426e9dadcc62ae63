"""Commands: validated per asset type, published over MQTT, acknowledged or timed out.

A send resolves its targets (URNs, or a selector over the registry), checks the parameters
against the catalogue and the principal's right to command each asset (role allowed for the
command; operators only on assets of their control posts), writes one row per asset (state
``pending``, audited) and commits; then it publishes each command with QoS 1 and marks the rows
``sent`` once the broker acknowledged them (PUBACK). Devices answer on the ``/ack`` topic:
``acknowledged`` or ``failed``; :meth:`Commands.tick` turns rows past their deadline into
``timed_out``. Every transition after the send is audited too.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy import Row
from sqlalchemy.engine import Connection

from beffroi.assets import repository as assets_repo
from beffroi.assets.service import Registry, decode_cursor, encode_cursor
from beffroi.assets.types import ASSET_TYPES
from beffroi.auth.audit import AuditEntry, AuditLog
from beffroi.auth.models import SYSTEM, Principal
from beffroi.commands import catalogue
from beffroi.commands import repository as repo
from beffroi.commands.models import (
    MAX_TARGETS,
    OPEN_STATES,
    BatchOut,
    CatalogueEntry,
    CommandIn,
    CommandOut,
    Selector,
    StandingSpec,
    State,
)
from beffroi.commands.mqtt import Ack, CommandLink, LinkOptions, command_topic, topic_safe
from beffroi.errors import Conflict, Forbidden, NotFound, ValidationFailed, field_error
from beffroi.settings import Settings
from beffroi.store import Store
from beffroi.timeutil import Clock, to_iso

log = logging.getLogger("beffroi.commands")

M = TypeVar("M", bound=BaseModel)
MAX_DETAILS = 20
OPEN = [s.value for s in OPEN_STATES]


def checked(model: type[M], data: Any, prefix: str = "") -> M:
    """``model.model_validate(data)`` with pydantic's errors as a ``ValidationFailed``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e["loc"])
            where = ".".join(p for p in (prefix, loc or "urns") if p)
            details.append(field_error(where, str(e["msg"]).removeprefix("Value error, ")))
        raise ValidationFailed("invalid command request", details) from exc


def command_out(row: Row[Any]) -> CommandOut:
    def iso(ms: int | None) -> str | None:
        return None if ms is None else to_iso(ms)

    return CommandOut(
        id=row.id, batch_id=row.batch_id, asset=row.urn, asset_type=row.asset_type,
        command=row.command, params=row.params, correlation_id=row.correlation_id,
        state=State(row.state), actor=row.actor, created=to_iso(row.created_ms),
        sent=iso(row.sent_ms), acked=iso(row.acked_ms), finished=iso(row.finished_ms),
        deadline=to_iso(row.deadline_ms), message=row.message,
    )


@dataclass
class Prepared:
    """A send checked and resolved, ready to be written."""

    territory: str
    territory_id: int
    command: str
    params: dict[str, Any]
    targets: list[Row[Any]]  # (id, urn, type, control_post)
    timeout_s: int
    actor: str


class Commands:
    def __init__(self, store: Store, registry: Registry, settings: Settings, audit: AuditLog,
                 clock: Clock) -> None:
        self.store = store
        self.registry = registry
        self.settings = settings
        self.audit = audit
        self.clock = clock
        # The control post of assets without one: (territory code, asset type) -> post or None
        # (wired by the lead to the operations' routing); else the type's default post.
        self.post_of: Callable[[str, str], str | None] | None = None
        self.publish_wait_s = 5.0  # how long a send waits for the broker's PUBACKs
        self.link_options: LinkOptions | None = None  # default: from the settings
        self.counters: Counter[str] = Counter()  # published, ack_invalid, ack_unknown, ...
        self._link: CommandLink | None = None
        self._link_lock = threading.Lock()

    # --- MQTT link ------------------------------------------------------------------------------

    def start(self, options: LinkOptions | None = None) -> None:
        """Connect to the broker and listen to acknowledgements (app lifespan, worker).

        Sending without ``start`` starts the link on first use."""
        with self._link_lock:
            if self._link is not None:
                return
            opts = options or self.link_options or LinkOptions(
                host=self.settings.mqtt_host, port=self.settings.mqtt_port,
                username=self.settings.mqtt_username, password=self.settings.mqtt_password)
            self._link = CommandLink(opts, self._on_acks)
            self._link.start()

    def stop(self) -> None:
        """Disconnect cleanly (pending PUBACKs are forgotten; their rows time out or get
        their device's answer through another process)."""
        with self._link_lock:
            link, self._link = self._link, None
        if link is not None:
            link.stop()

    @property
    def link(self) -> CommandLink:
        if self._link is None:
            self.start()
        assert self._link is not None
        return self._link

    # --- sending --------------------------------------------------------------------------------

    def send(self, code: str, principal: Principal, *, command: str,
             params: dict[str, Any] | None = None, urns: Sequence[str] | None = None,
             selector: Selector | dict[str, Any] | None = None, timeout_s: int = 60
             ) -> BatchOut:
        """Send a command to assets (``urns``) or a group (``selector``); one row per asset,
        sharing the returned batch id."""
        request = checked(CommandIn, {
            "command": command, "params": params if params is not None else {},
            "urns": list(urns) if urns is not None else None,
            "selector": selector.model_dump(exclude_none=True)
            if isinstance(selector, Selector) else selector,
            "timeout_s": timeout_s})
        prepared = self._prepare(code, principal, request)
        return self._commit(prepared)

    def send_standing(self, code: str, principal: Principal,
                      specs: Sequence[StandingSpec | dict[str, Any]]) -> list[str]:
        """The commands of a crisis plan: every line checked first (nothing is sent if one is
        wrong, matches no asset or is not allowed), then each sent as a batch; returns the
        batch ids in order."""
        if not specs:
            raise ValidationFailed("no command given", [field_error("specs", "empty list")])
        prepared: list[Prepared] = []
        for i, spec in enumerate(specs):
            line = spec if isinstance(spec, StandingSpec) else checked(
                StandingSpec, spec, f"specs.{i}")
            try:
                request = checked(CommandIn, {
                    "command": line.command, "params": line.params,
                    "selector": line.selector.model_dump(exclude_none=True),
                    "timeout_s": line.timeout_s})
                prepared.append(self._prepare(code, principal, request))
            except (ValidationFailed, Forbidden) as exc:
                for d in exc.details:
                    d["field"] = f"specs.{i}.{d.get('field', '')}".rstrip(".")
                raise
        return [self._commit(p).batch_id for p in prepared]

    def _prepare(self, code: str, principal: Principal, request: CommandIn) -> Prepared:
        spec = catalogue.any_spec(request.command)
        params = catalogue.validate_params(spec, request.params)
        territory = self.registry.territory_row(code)
        tid = int(territory.id)
        with self.store.read() as conn:
            if request.urns is not None:
                targets, fields = self._by_urns(conn, tid, request.urns, request.command)
            else:
                assert request.selector is not None
                targets = self._by_selector(conn, tid, request.selector, request.command)
                fields = ["selector"] * len(targets)
        refused = []
        posts: dict[str, str | None] = {}  # of the types, for assets without a post
        for row, where in zip(targets, fields, strict=True):
            spec = catalogue.spec_for(row.type, request.command, where)
            if row.control_post:
                post: str | None = str(row.control_post)
            else:
                if row.type not in posts:
                    posts[row.type] = self._post(code, row)
                post = posts[row.type]
            reason = catalogue.refusal(principal, code, spec, post)
            if reason is not None:
                refused.append(field_error(where, reason, asset=row.urn))
        if refused:
            more = len(refused) - MAX_DETAILS
            raise Forbidden(
                f"{principal.actor} may not send {request.command!r} to {len(refused)} of "
                f"{len(targets)} assets" + (f" ({more} more not listed)" if more > 0 else ""),
                refused[:MAX_DETAILS])
        if request.command == "schedule":
            params["timezone"] = territory.timezone  # entries are local times of the territory
        return Prepared(code, tid, request.command, params, targets, request.timeout_s,
                        principal.actor)

    def _post(self, code: str, row: Row[Any]) -> str | None:
        if row.control_post:
            return str(row.control_post)
        if self.post_of is not None:
            return self.post_of(code, row.type)
        kind = ASSET_TYPES.get(row.type)
        return kind.control_post if kind else None

    def _by_urns(self, conn: Connection, tid: int, urns: list[str], command: str
                 ) -> tuple[list[Row[Any]], list[str]]:
        unique = list(dict.fromkeys(urns))
        found = repo.target_rows(conn, tid, unique)
        problems = []
        for i, urn in enumerate(urns):
            if urn not in found:
                problems.append(field_error(f"urns.{i}", f"no asset {urn!r} in this territory"))
            elif not topic_safe(urn):
                problems.append(field_error(
                    f"urns.{i}", "this URN cannot be an MQTT topic level (+, #, / or NUL)"))
        if problems:
            raise ValidationFailed("unknown or unreachable assets", problems[:MAX_DETAILS])
        index = {u: i for i, u in reversed(list(enumerate(urns)))}
        targets = [found[u] for u in unique]
        return targets, [f"urns.{index[r.urn]}" for r in targets]

    def _by_selector(self, conn: Connection, tid: int, selector: Selector, command: str
                     ) -> list[Row[Any]]:
        accepting = catalogue.types_accepting(command)
        if selector.type is not None:
            catalogue.spec_for(selector.type, command, "selector.type")
        parent_id = None
        if selector.parent is not None:
            ids = assets_repo.asset_ids(conn, tid, [selector.parent])
            if selector.parent not in ids:
                raise ValidationFailed("unknown parent", [field_error(
                    "selector.parent", f"no asset {selector.parent!r} in this territory")])
            parent_id = ids[selector.parent]
        box = selector.bbox
        shape = None
        if selector.area is not None:
            from shapely.geometry import Point
            from shapely.geometry import shape as to_shape
            from shapely.prepared import prep

            geom = to_shape(selector.area)
            area_box = geom.bounds
            box = area_box if box is None else (
                max(box[0], area_box[0]), max(box[1], area_box[1]),
                min(box[2], area_box[2]), min(box[3], area_box[3]))
            shape = prep(geom)
        if box is not None and (box[0] > box[2] or box[1] > box[3]):
            rows: list[Row[Any]] = []
        else:
            flt = assets_repo.AssetFilter(type=selector.type, domain=selector.domain,
                                          parent_id=parent_id, bbox=box)
            rows = assets_repo.assets_in_box(conn, tid, flt)
        if shape is not None:
            rows = [r for r in rows if shape.covers(Point(r.lon, r.lat))]
        rows = sorted((r for r in rows if r.type in accepting), key=lambda r: int(r.id))
        if not rows:
            raise ValidationFailed("no asset matches the selector", [field_error(
                "selector", f"no asset of a type accepting {command!r} "
                            f"({', '.join(accepting)}) matches")])
        if len(rows) > MAX_TARGETS:
            raise ValidationFailed("too many assets", [field_error(
                "selector", f"{len(rows)} assets match; narrow the selector")])
        return rows

    def _commit(self, p: Prepared) -> BatchOut:
        now = self.clock()
        batch_id = uuid.uuid4().hex
        deadline = now + p.timeout_s * 1000
        rows = [{
            "territory_id": p.territory_id, "batch_id": batch_id, "asset_id": int(t.id),
            "urn": t.urn, "asset_type": t.type, "command": p.command, "params": p.params,
            "correlation_id": uuid.uuid4().hex, "state": State.PENDING.value, "actor": p.actor,
            "created_ms": now, "deadline_ms": deadline,
        } for t in p.targets]
        with self.store.write() as conn:
            repo.insert_commands(conn, rows)
            self.audit.record_many(conn, [AuditEntry(
                p.territory_id, p.actor, "command.send", r["urn"], None,
                {"command": p.command, "params": p.params, "batch_id": batch_id,
                 "correlation_id": r["correlation_id"], "deadline": to_iso(deadline)})
                for r in rows])
        self._publish(p.territory, rows)
        return self.batch(p.territory, batch_id)

    def _publish(self, code: str, rows: list[dict[str, Any]]) -> None:
        items = [(r["correlation_id"], command_topic(code, r["urn"]), orjson.dumps({
            "id": r["correlation_id"], "command": r["command"], "params": r["params"],
            "issued_at": to_iso(r["created_ms"]), "expires_at": to_iso(r["deadline_ms"]),
        })) for r in rows]
        link = self.link
        # Publish once the answers' subscription is in place (else a quick device could
        # answer before it, and its answer would be lost); a broker that is away costs
        # ``publish_wait_s`` in all and the commands wait in the client's queue.
        started = time.monotonic()
        link.ready.wait(self.publish_wait_s)
        link.publish(items)
        self.counters["published"] += len(items)
        left = max(0.0, self.publish_wait_s - (time.monotonic() - started))
        done = link.wait_published([key for key, _t, _p in items], left)
        self._record_published(done)

    def _record_published(self, done: dict[str, bool]) -> None:
        if not done:
            return
        now = self.clock()
        accepted = [k for k, ok in done.items() if ok]
        refused = [k for k, ok in done.items() if not ok]
        with self.store.write() as conn:
            if accepted:
                repo.mark_sent(conn, accepted, now)
            for cid, row in repo.by_correlation(conn, refused).items():
                self._finish(conn, row, State.FAILED, now, SYSTEM.actor,
                             "the broker refused the publication", acked=False)
                log.warning("publication refused by the broker", extra={"correlation": cid})

    def _finish(self, conn: Connection, row: Row[Any], state: State, now: int, actor: str,
                message: str | None, *, acked: bool) -> bool:
        values: dict[str, Any] = {"state": state.value, "finished_ms": now, "message": message}
        if acked:
            values["acked_ms"] = now
        if not repo.transition(conn, int(row.id), OPEN, values):
            return False
        self.audit.record(conn, territory_id=int(row.territory_id), actor=actor,
                          action=f"command.{state.value}", target=row.urn,
                          before={"state": row.state},
                          after={"state": state.value, "message": message,
                                 "correlation_id": row.correlation_id})
        self.counters[state.value] += 1
        return True

    # --- acknowledgements -----------------------------------------------------------------------

    def _on_acks(self, acks: list[Ack]) -> None:
        """A batch of device answers (the link's handler thread). Bad or unknown ones are
        logged and counted, never raised."""
        parsed: list[tuple[Ack, str, str, str | None]] = []
        for ack in acks:
            answer = _parse_ack(ack.payload)
            if isinstance(answer, str):
                self.counters["ack_invalid"] += 1
                log.warning("invalid command acknowledgement: %s", answer,
                            extra={"territory": ack.territory, "asset": ack.urn})
                continue
            parsed.append((ack, *answer))
        if not parsed:
            return
        now = self.clock()
        with self.store.write() as conn:
            rows = repo.by_correlation(conn, [cid for _a, cid, _s, _m in parsed])
            territories: dict[str, int | None] = {}
            for ack, cid, status, message in parsed:
                if ack.territory not in territories:
                    t = assets_repo.territory_by_code(conn, ack.territory)
                    territories[ack.territory] = None if t is None else int(t.id)
                row = rows.get(cid)
                if (row is None or row.urn != ack.urn
                        or row.territory_id != territories[ack.territory]):
                    self.counters["ack_unknown"] += 1
                    log.warning("acknowledgement of an unknown command", extra={
                        "territory": ack.territory, "asset": ack.urn, "correlation": cid})
                    continue
                if row.state not in OPEN:
                    self.counters["ack_late"] += 1
                    log.warning("acknowledgement of a command already %s", row.state, extra={
                        "territory": ack.territory, "asset": ack.urn, "correlation": cid})
                    continue
                if now > row.deadline_ms:
                    self.counters["ack_late"] += 1
                    self._finish(conn, row, State.TIMED_OUT, now, SYSTEM.actor,
                                 f"late acknowledgement ({status}) after the deadline",
                                 acked=False)
                    continue
                actor = f"device:{ack.urn}"
                if status == "ok":
                    self._finish(conn, row, State.ACKNOWLEDGED, now, actor, message, acked=True)
                else:
                    self._finish(conn, row, State.FAILED, now, actor,
                                 message or "the device reported an error", acked=True)

    # --- periodic pass --------------------------------------------------------------------------

    def tick(self) -> int:
        """Periodic pass: late PUBACKs recorded; commands past their deadline become
        ``timed_out`` (audited). Returns how many timed out."""
        if self._link is not None:
            self._record_published(self._link.take_published())
        now = self.clock()
        total = 0
        while True:
            with self.store.write() as conn:
                rows = repo.overdue(conn, now, 500)
                for row in rows:
                    total += self._finish(conn, row, State.TIMED_OUT, now, SYSTEM.actor,
                                          "no acknowledgement before the deadline", acked=False)
            if len(rows) < 500:
                return total

    # --- reading and cancelling -----------------------------------------------------------------

    def batch(self, code: str, batch_id: str) -> BatchOut:
        tid = self.registry.territory_id(code)
        with self.store.read() as conn:
            rows = repo.of_batch(conn, tid, batch_id)
        if not rows:
            raise NotFound(f"command batch {batch_id!r} not found")
        states = Counter(r.state for r in rows)
        return BatchOut(batch_id=batch_id, command=rows[0].command, count=len(rows),
                        states=dict(states), commands=[command_out(r) for r in rows])

    def get(self, code: str, command_id: int) -> CommandOut:
        tid = self.registry.territory_id(code)
        with self.store.read() as conn:
            row = repo.get(conn, tid, command_id)
        if row is None:
            raise NotFound(f"command {command_id} not found")
        return command_out(row)

    def list_commands(self, code: str, *, state: str | None = None, urn: str | None = None,
             batch_id: str | None = None, cursor: str | None = None, limit: int = 100
             ) -> tuple[list[CommandOut], str | None]:
        """Newest first, with the cursor of the next page (or None)."""
        if state is not None and state not in {s.value for s in State}:
            raise ValidationFailed("unknown state", [field_error(
                "state", f"one of {', '.join(s.value for s in State)}")])
        tid = self.registry.territory_id(code)
        before = decode_cursor(cursor) or None
        with self.store.read() as conn:
            rows = repo.list_commands(conn, tid, state=state, urn=urn, batch_id=batch_id,
                                      before_id=before, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return [command_out(r) for r in rows], (
            encode_cursor(int(rows[-1].id)) if more else None)

    def cancel(self, code: str, principal: Principal, command_id: int) -> CommandOut:
        """Cancel a command still pending or sent (the same right as sending it). A device
        that already received it may still apply it; its answer is then ignored (counted)."""
        tid = self.registry.territory_id(code)
        with self.store.read() as conn:
            row = repo.get(conn, tid, command_id)
            if row is None:
                raise NotFound(f"command {command_id} not found")
            asset = repo.target_rows(conn, tid, [row.urn]).get(row.urn)
        spec = catalogue.spec_for(row.asset_type, row.command)
        post = self._post(code, asset) if asset is not None else (
            ASSET_TYPES[row.asset_type].control_post if row.asset_type in ASSET_TYPES else None)
        reason = catalogue.refusal(principal, code, spec, post)
        if reason is not None:
            raise Forbidden(f"{principal.actor} may not cancel this command",
                            [field_error("id", reason, asset=row.urn)])
        with self.store.write() as conn:
            fresh = repo.get(conn, tid, command_id)
            assert fresh is not None
            if not self._finish(conn, fresh, State.CANCELLED, self.clock(), principal.actor,
                                f"cancelled by {principal.actor}", acked=False):
                raise Conflict(f"command {command_id} is {fresh.state}; only pending or sent "
                               "commands can be cancelled",
                               [field_error("state", f"is {fresh.state}")])
        return self.get(code, command_id)

    def catalogue(self, code: str, principal: Principal, urn: str) -> list[CatalogueEntry]:
        """The commands this principal may send to this asset, with their parameters."""
        tid = self.registry.territory_id(code)
        with self.store.read() as conn:
            asset = repo.target_rows(conn, tid, [urn]).get(urn)
        if asset is None:
            raise NotFound(f"asset {urn!r} not found")
        post = self._post(code, asset)
        return [
            CatalogueEntry(command=spec.name, description=spec.description,
                           params=catalogue.schema_of(spec),
                           roles=sorted(r.value for r in spec.roles))
            for spec in catalogue.commands_of(asset.type).values()
            if catalogue.refusal(principal, code, spec, post) is None
        ]


def _parse_ack(payload: bytes) -> tuple[str, str, str | None] | str:
    """(correlation id, status, message) of an acknowledgement, or why it is invalid."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return "not JSON"
    if not isinstance(body, dict):
        return "not a JSON object"
    cid, status, message = body.get("id"), body.get("status"), body.get("message")
    if not isinstance(cid, str) or not cid:
        return "id: a correlation id string expected"
    if status not in ("ok", "error"):
        return "status: ok or error expected"
    if message is not None and not isinstance(message, str):
        return "message: a string expected"
    return cid, status, None if message is None else message[:500]
