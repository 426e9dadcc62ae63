"""Incidents on a frozen clock: lifecycle and timestamps, illegal steps, SLA escalation,
alarms gathered into incidents, access per control post, work orders."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from beffroi.api.deps import Services
from beffroi.assets.models import TerritoryIn
from beffroi.assets.types import CONTROL_POSTS
from beffroi.auth.models import Principal, Role
from beffroi.errors import Conflict, NotFound, ValidationFailed
from beffroi.operations.models import (
    AssignIn,
    CategoryIn,
    CommentIn,
    EscalationEvent,
    Forbidden,
    IncidentIn,
    WorkOrderIn,
)
from beffroi.operations.service import Operations
from beffroi.timeutil import FrozenClock, to_iso
from tests.operations.conftest import ROOT, SUE, T0, TOWN, alarm, point, user

MIN = 60_000


def lamp_out(ops: Operations, **extra: object) -> int:
    data = IncidentIn(category="lamp-out", title="Lamp out, rue des Forges", **extra)  # type: ignore[arg-type]
    return ops.open_incident(TOWN, data, SUE).id


def test_full_lifecycle_records_a_timestamp_per_step(ops: Operations, clock: FrozenClock
                                                      ) -> None:
    incident_id = lamp_out(ops)
    times = {"reported": T0}
    for step, minutes in (("acknowledged", 3), ("dispatched", 20), ("on_site", 90),
                          ("resolved", 30), ("closed", 5)):
        times[step] = clock.advance(minutes=minutes)
        detail = ops.step(TOWN, incident_id, step, SUE, note=f"{step} note")
        assert detail.state == step
    detail = ops.get_incident(TOWN, incident_id, SUE)
    assert detail.post == "lighting"  # the category's post
    assert detail.timestamps == {step: to_iso(ms) for step, ms in times.items()}
    assert [(s.step, s.at_ms) for s in detail.steps] == list(times.items())
    assert detail.steps[2].note == "dispatched note"
    assert detail.steps[2].notes is None  # typed by a person: kept as typed, one language
    assert detail.steps[0].actor == "user:sue"
    assert all(s.met and not s.late for s in detail.sla)
    assert detail.level == 0 and not detail.escalations


def test_illegal_transitions_are_conflicts(ops: Operations) -> None:
    incident_id = lamp_out(ops)
    with pytest.raises(Conflict, match="closed only once resolved") as exc:
        ops.step(TOWN, incident_id, "closed", SUE)
    assert exc.value.details[0]["field"] == "step"
    ops.step(TOWN, incident_id, "on_site", SUE)  # skipping acknowledged and dispatched is allowed
    with pytest.raises(Conflict, match="already on_site"):
        ops.step(TOWN, incident_id, "acknowledged", SUE)  # never backwards
    with pytest.raises(Conflict, match="already on_site"):
        ops.step(TOWN, incident_id, "on_site", SUE)
    ops.step(TOWN, incident_id, "resolved", SUE)
    ops.step(TOWN, incident_id, "closed", SUE)
    with pytest.raises(Conflict, match="closed"):
        ops.step(TOWN, incident_id, "resolved", SUE)
    detail = ops.get_incident(TOWN, incident_id, SUE)
    assert detail.timestamps["acknowledged"] is None and detail.timestamps["dispatched"] is None
    with pytest.raises(NotFound):
        ops.step(TOWN, 9999, "acknowledged", SUE)


def test_bad_input_gives_field_errors(ops: Operations) -> None:
    with pytest.raises(ValidationFailed) as exc:
        ops.open_incident(TOWN, IncidentIn(category="nope", title="x"), SUE)
    assert exc.value.details[0]["field"] == "category"
    with pytest.raises(ValidationFailed) as exc:
        ops.open_incident(TOWN, IncidentIn(category="lamp-out", title="x", post="bakery"), SUE)
    assert exc.value.details[0]["field"] == "post"
    with pytest.raises(ValidationFailed) as exc:
        ops.open_incident(TOWN, IncidentIn(category="lamp-out", title="x",
                                           asset="urn:ngsi-ld:Streetlight:testville:none"), SUE)
    assert exc.value.details[0]["field"] == "asset"
    with pytest.raises(NotFound):
        ops.open_incident("atlantis", IncidentIn(category="lamp-out", title="x"), ROOT)
    with pytest.raises(Forbidden):  # a supervisor of testville has no role in atlantis
        ops.open_incident("atlantis", IncidentIn(category="lamp-out", title="x"), SUE)


def test_sla_escalates_once_per_late_step_and_not_before(ops: Operations, clock: FrozenClock
                                                         ) -> None:
    heard: list[EscalationEvent] = []
    ops.escalation_listeners.append(heard.extend)
    # traffic-signal-fault: acknowledged 5 min, on site 60 min, resolved 4 h
    incident_id = ops.open_incident(TOWN, IncidentIn(category="traffic-signal-fault",
                                                     title="Dark crossroads"), SUE).id
    clock.advance(minutes=5)
    assert ops.tick() == []  # due exactly now: not late yet
    detail = ops.get_incident(TOWN, incident_id, SUE)
    ack = next(s for s in detail.sla if s.step == "acknowledged")
    assert ack.remaining_s == 0 and not ack.late
    clock.advance(seconds=1)
    events = ops.tick()
    assert [(e.step, e.level, e.post) for e in events] == [("acknowledged", 1, "traffic")]
    assert events[0].due_ms == T0 + 5 * MIN and events[0].at_ms == T0 + 5 * MIN + 1000
    assert heard == events
    assert ops.tick() == []  # once per step
    ops.step(TOWN, incident_id, "acknowledged", SUE)
    clock.advance(minutes=30)
    assert ops.tick() == []  # on site due at 60 min
    ops.step(TOWN, incident_id, "on_site", SUE)  # in time: never escalated
    clock.advance(hours=4)
    events = ops.tick()
    assert [(e.step, e.level) for e in events] == [("resolved", 2)]
    detail = ops.get_incident(TOWN, incident_id, SUE)
    assert detail.level == 2
    assert [(e.step, e.level) for e in detail.escalations] == [("acknowledged", 1),
                                                                ("resolved", 2)]
    by_step = {s.step: s for s in detail.sla}
    assert by_step["acknowledged"].late and not by_step["acknowledged"].met
    assert by_step["on_site"].met and by_step["on_site"].remaining_s is None
    assert by_step["resolved"].late and by_step["resolved"].remaining_s is not None
    assert by_step["resolved"].remaining_s < 0


def test_several_late_steps_escalate_in_one_pass(ops: Operations, clock: FrozenClock) -> None:
    incident_id = ops.open_incident(TOWN, IncidentIn(category="traffic-signal-fault",
                                                     title="Dark crossroads"), SUE).id
    clock.advance(hours=5)
    events = ops.tick()
    assert [(e.step, e.level) for e in events] == [("acknowledged", 1), ("on_site", 2),
                                                   ("resolved", 3)]
    assert ops.get_incident(TOWN, incident_id, SUE).level == 3
    ops.step(TOWN, incident_id, "resolved", SUE)
    clock.advance(hours=100)
    assert ops.tick() == []


def test_changed_targets_apply_to_open_incidents(ops: Operations, clock: FrozenClock) -> None:
    incident_id = lamp_out(ops)  # acknowledged within 4 h by default
    ops.set_category(TOWN, "lamp-out", CategoryIn(
        title_fr="Point lumineux éteint", title_en="Lamp out", post="lighting",
        sla_minutes={"acknowledged": 10, "resolved": 60}), SUE)
    clock.advance(minutes=11)
    assert [e.step for e in ops.tick()] == ["acknowledged"]
    assert ops.get_incident(TOWN, incident_id, SUE).level == 1


def test_alarms_gather_into_one_incident_per_group(frozen: Services, ops: Operations,
                                                   clock: FrozenClock) -> None:
    reg = frozen.registry
    cabinet = reg.create_asset(TOWN, point("StreetlightControlCabinet", "C1")).id
    lamps = [reg.create_asset(TOWN, point("Streetlight", f"L{i}", parent=cabinet)).id
             for i in range(3)]
    elsewhere = reg.create_asset(TOWN, point("Streetlight", "L9")).id
    ops.on_alarms([alarm(1, T0, asset=lamps[0]), alarm(2, T0 + MIN, asset=lamps[1])])
    ops.on_alarms([alarm(3, T0 + 2 * MIN, asset=elsewhere),
                   alarm(4, T0 + 2 * MIN, asset=lamps[2], category="energy-anomaly"),
                   alarm(5, T0 + 2 * MIN, asset=lamps[2], incident="none"),
                   alarm(1, T0, asset=lamps[0])])  # replayed: ignored
    page = ops.list_incidents(TOWN, SUE)
    assert len(page.items) == 3
    gathered = ops.get_incident(TOWN, page.items[-1].id, SUE)
    assert [a.alarm_id for a in gathered.alarms] == [1, 2]
    assert gathered.source == "alarm" and gathered.category == "lamp-out"
    assert gathered.timestamps["reported"] == to_iso(T0)  # the first alarm's time
    assert "gathered" in gathered.comments[0].text
    # what the platform writes in the history is in both languages
    assert gathered.comments[0].texts == {
        "fr": f"alarme 2 (lamp-out, major) sur {lamps[1]} rattachée : alarm 2",
        "en": f"alarm 2 (lamp-out, major) on {lamps[1]} gathered: alarm 2"}
    assert gathered.steps[0].notes == {"fr": "alarme 1 (lamp-out, major)",
                                       "en": "alarm 1 (lamp-out, major)"}
    assert gathered.steps[0].note == "alarm 1 (lamp-out, major)"
    # a resolved incident gathers no more: the next alarm opens a new one
    ops.step(TOWN, gathered.id, "resolved", SUE)
    ops.on_alarms([alarm(6, T0 + 3 * MIN, asset=lamps[1])])
    assert len(ops.list_incidents(TOWN, SUE).items) == 4


def test_incidents_of_an_asset_include_those_gathering_its_alarms(
        frozen: Services, ops: Operations) -> None:
    reg = frozen.registry
    cabinet = reg.create_asset(TOWN, point("StreetlightControlCabinet", "C1")).id
    lamps = [reg.create_asset(TOWN, point("Streetlight", f"L{i}", parent=cabinet)).id
             for i in range(3)]
    ops.on_alarms([alarm(1, T0, asset=lamps[0]), alarm(2, T0 + MIN, asset=lamps[1])])
    typed = ops.open_incident(TOWN, IncidentIn(category="lamp-out", title="Pole leaning",
                                               asset=lamps[1]), SUE).id
    gathered = ops.list_incidents(TOWN, SUE, asset=lamps[0]).items
    assert len(gathered) == 1 and gathered[0].asset == lamps[0]
    # lamp 1's alarm went into lamp 0's incident (same cabinet); lamp 1 also has its own
    of_lamp1 = ops.list_incidents(TOWN, SUE, asset=lamps[1]).items
    assert [i.id for i in of_lamp1] == [typed, gathered[0].id]
    assert ops.list_incidents(TOWN, SUE, asset=lamps[2]).items == []
    assert ops.list_incidents(TOWN, SUE, asset=lamps[1], state="resolved").items == []


def test_incidents_opened_by_alarms_keep_their_title_in_each_language(
        frozen: Services, ops: Operations) -> None:
    urn = frozen.registry.create_asset(TOWN, point("Streetlight", "L1")).id
    event = alarm(1, T0, asset=urn)
    texts = {"fr": "Lampe éteinte\u00a0: status à l'état off", "en": "Lamp out: status is off"}
    ops.on_alarms([dataclasses.replace(event, message=texts["en"], messages=texts)])
    [incident] = ops.list_incidents(TOWN, SUE).items
    assert incident.title == texts["en"] and incident.titles == texts
    typed = ops.open_incident(TOWN, IncidentIn(category="lamp-out", title="Poteau penché"), SUE)
    assert typed.titles is None  # what an operator typed is in one language


def test_cleared_alarms_resolve_only_when_the_category_says_so(
        frozen: Services, ops: Operations, clock: FrozenClock) -> None:
    urn = frozen.registry.create_asset(TOWN, point("TrafficSignal", "S1")).id
    ops.on_alarms([alarm(1, T0, asset=urn, category="traffic-signal-fault", post="traffic"),
                   alarm(2, T0, asset=urn, category="traffic-signal-fault", post="traffic")])
    incident_id = ops.list_incidents(TOWN, SUE).items[0].id
    ops.on_alarms([alarm(1, T0 + MIN, asset=urn, change="cleared")])
    detail = ops.get_incident(TOWN, incident_id, SUE)
    assert detail.state == "reported"
    assert detail.alarms[0].cleared == to_iso(T0 + MIN) and detail.alarms[1].cleared is None
    ops.on_alarms([alarm(2, T0 + 2 * MIN, asset=urn, change="cleared")])
    # no auto-resolve by default
    assert ops.get_incident(TOWN, incident_id, SUE).state == "reported"

    ops.set_category(TOWN, "camera-fault", CategoryIn(
        title_fr="Caméra", title_en="Camera", post="security", auto_resolve=True,
        sla_minutes={"acknowledged": 15}), SUE)
    cam = frozen.registry.create_asset(TOWN, point("Camera", "K1")).id
    ops.on_alarms([alarm(7, T0, asset=cam, category="camera-fault", post=None)])
    cam_incident = ops.list_incidents(TOWN, SUE, category="camera-fault").items[0]
    assert cam_incident.post == "security"  # no post on the alarm: the category's
    ops.on_alarms([alarm(7, T0 + 3 * MIN, asset=cam, change="cleared")])
    detail = ops.get_incident(TOWN, cam_incident.id, SUE)
    assert detail.state == "resolved" and detail.timestamps["resolved"] == to_iso(T0 + 3 * MIN)
    assert detail.steps[-1].notes == {"fr": "toutes les alarmes sont terminées",
                                      "en": "all alarms cleared"}
    assert detail.comments[-1].texts == {"fr": "alarme 7 (lamp-out) terminée",
                                         "en": "alarm 7 (lamp-out) cleared"}


def test_alarms_of_unknown_territories_do_not_break_the_listener(ops: Operations) -> None:
    ops.on_alarms([alarm(1, T0, territory="atlantis")])
    assert ops.list_incidents(TOWN, SUE).items == []


def test_operator_of_another_post_is_refused(ops: Operations) -> None:
    olga = user("olga", Role.OPERATOR, "lighting")
    tom = user("tom", Role.OPERATOR, "traffic")
    sue = user("sue", Role.SUPERVISOR)
    vic = user("vic", Role.VIEWER)
    incident_id = ops.open_incident(TOWN, IncidentIn(category="lamp-out", title="x"), olga).id
    with pytest.raises(Forbidden):
        ops.step(TOWN, incident_id, "acknowledged", tom)
    with pytest.raises(Forbidden):
        ops.comment(TOWN, incident_id, CommentIn(text="mine now"), tom)
    with pytest.raises(Forbidden):
        ops.assign(TOWN, incident_id, AssignIn(kind="team", name="north"), vic)
    with pytest.raises(Forbidden):
        ops.open_incident(TOWN, IncidentIn(category="lamp-out", title="x"), tom)
    with pytest.raises(Forbidden):
        ops.get_incident(TOWN, incident_id,
                         user("x", Role.OPERATOR, "lighting", territory="other"))
    assert ops.get_incident(TOWN, incident_id, vic).id == incident_id  # viewers read
    assert ops.step(TOWN, incident_id, "acknowledged", olga).state == "acknowledged"
    assert ops.step(TOWN, incident_id, "dispatched", sue).steps[-1].actor == "user:sue"


def test_ids_of_another_territory_are_not_found_and_its_routes_forbidden(
        frozen: Services, ops: Operations) -> None:
    """A principal granted only in alpha: Forbidden in testville, NotFound for testville's
    ids named under alpha (even a superuser must name the incident's own territory)."""
    frozen.registry.create_territory(TerritoryIn(code="alpha", name="Alpha"))
    incident_id = lamp_out(ops)
    wo = ops.create_work_order(TOWN, incident_id, WorkOrderIn(
        title="Fix", assignee_kind="team", assignee="ada"), SUE)
    own = ops.open_incident("alpha", IncidentIn(category="lamp-out", title="y"), ROOT).id

    def attempts(code: str, who: Principal) -> list[Callable[[], object]]:
        return [lambda: ops.get_incident(code, incident_id, who),
                lambda: ops.step(code, incident_id, "acknowledged", who),
                lambda: ops.assign(code, incident_id, AssignIn(kind="team", name="n"), who),
                lambda: ops.comment(code, incident_id, CommentIn(text="mine"), who),
                lambda: ops.create_work_order(code, incident_id, WorkOrderIn(
                    title="x", assignee_kind="team", assignee="n"), who),
                lambda: ops.get_work_order(code, wo.id, who),
                lambda: ops.work_order_step(code, wo.id, "accepted", who)]

    for role in (Role.ADMINISTRATOR, Role.SUPERVISOR, Role.OPERATOR, Role.FIELD_AGENT):
        who = user("ada", role, *CONTROL_POSTS, territory="alpha")
        for attempt in attempts(TOWN, who):
            with pytest.raises(Forbidden):
                attempt()
        for attempt in attempts("alpha", who):
            with pytest.raises((NotFound, Forbidden)):  # a field agent may not step incidents
                attempt()
        assert ops.get_incident("alpha", own, who).id == own
    for attempt in attempts("alpha", user("ada", Role.ADMINISTRATOR, territory="alpha")):
        with pytest.raises(NotFound, match="not found in territory 'alpha'"):
            attempt()
    for attempt in attempts("alpha", ROOT):
        with pytest.raises(NotFound):
            attempt()
    detail = ops.get_incident(TOWN, incident_id, SUE)
    assert detail.state == "dispatched" and detail.comments == []
    assert [(w.id, w.state) for w in detail.work_orders] == [(wo.id, "open")]
    assert ops.list_work_orders("alpha", ROOT).items == []


def test_assign_and_comment(ops: Operations, clock: FrozenClock) -> None:
    incident_id = lamp_out(ops)
    clock.advance(minutes=2)
    ops.assign(TOWN, incident_id, AssignIn(kind="contractor", name="Citelum"), SUE)
    comment = ops.comment(TOWN, incident_id, CommentIn(text="Mast damaged by a van"), SUE)
    detail = ops.get_incident(TOWN, incident_id, SUE)
    assert (detail.assignee_kind, detail.assignee) == ("contractor", "Citelum")
    assert detail.comments[-1] == comment and comment.at == to_iso(T0 + 2 * MIN)
    assert [i.id for i in ops.list_incidents(TOWN, SUE, assignee="Citelum").items] == [incident_id]


def test_work_order_with_closure_note(ops: Operations, clock: FrozenClock) -> None:
    incident_id = lamp_out(ops)
    agent = user("marc", Role.FIELD_AGENT)
    other = user("luc", Role.FIELD_AGENT)
    clock.advance(minutes=10)
    wo = ops.create_work_order(TOWN, incident_id, WorkOrderIn(
        title="Replace lamp", assignee_kind="team", assignee="marc"), SUE)
    detail = ops.get_incident(TOWN, incident_id, SUE)
    assert detail.state == "dispatched" and detail.assignee == "marc"
    assert [w.id for w in detail.work_orders] == [wo.id]
    with pytest.raises(Forbidden):
        ops.work_order_step(TOWN, wo.id, "accepted", other)
    with pytest.raises(Forbidden):
        ops.list_work_orders(TOWN, other, assignee="marc")
    assert ops.list_work_orders(TOWN, other).items == []
    assert [w.id for w in ops.list_work_orders(TOWN, agent).items] == [wo.id]
    ops.work_order_step(TOWN, wo.id, "accepted", agent)
    clock.advance(minutes=50)
    ops.work_order_step(TOWN, wo.id, "on_site", agent)
    assert ops.get_incident(TOWN, incident_id, SUE).timestamps["on_site"] == to_iso(T0 + 60 * MIN)
    with pytest.raises(ValidationFailed) as exc:
        ops.work_order_step(TOWN, wo.id, "done", agent, note="  ")
    assert exc.value.details[0]["field"] == "note"
    clock.advance(minutes=25)
    done = ops.work_order_step(TOWN, wo.id, "done", agent, note="Lamp replaced, LED 40 W")
    assert done.state == "done" and done.closure_note == "Lamp replaced, LED 40 W"
    assert done.timestamps["done"] == to_iso(T0 + 85 * MIN)
    with pytest.raises(Conflict):
        ops.work_order_step(TOWN, wo.id, "cancelled", agent)
    assert ops.list_work_orders(TOWN, SUE, state="done").items[0].id == wo.id
    assert ops.list_work_orders(TOWN, SUE, state="open").items == []
    ops.step(TOWN, incident_id, "resolved", SUE)
    with pytest.raises(Conflict):
        ops.create_work_order(TOWN, incident_id, WorkOrderIn(
            title="again", assignee_kind="team", assignee="marc"), SUE)


def test_paging_newest_first(ops: Operations) -> None:
    ids = [lamp_out(ops) for _ in range(5)]
    first = ops.list_incidents(TOWN, SUE, limit=2)
    assert [i.id for i in first.items] == ids[:-3:-1]
    second = ops.list_incidents(TOWN, SUE, limit=2, cursor=first.next_cursor)
    third = ops.list_incidents(TOWN, SUE, limit=2, cursor=second.next_cursor)
    assert [i.id for i in second.items + third.items] == ids[2::-1]
    assert third.next_cursor is None
    ops.step(TOWN, ids[0], "resolved", SUE)
    assert len(ops.list_incidents(TOWN, SUE, state="open").items) == 4
    assert [i.id for i in ops.list_incidents(TOWN, SUE, state="resolved").items] == [ids[0]]
    with pytest.raises(ValidationFailed):
        ops.list_incidents(TOWN, SUE, state="bogus")


LAMP_RULE = """
rules:
  - id: lamp-defective
    name: {fr: "Lampe défectueuse", en: "Defective lamp"}
    severity: minor
    incident: open
    category: lamp-out
    scope: {types: [Streetlight]}
    when: {kind: state, metric: status, in: [defectiveLamp]}
"""


def test_alarms_of_the_real_rule_engine_open_and_gather_incidents(
        frozen: Services, ops: Operations, clock: FrozenClock) -> None:
    """Readings → rule engine → alarms → one incident for the lamps of one cabinet."""
    import orjson

    from beffroi.auth.models import SYSTEM
    from beffroi.ingest.service import Message
    from beffroi.rules.definitions import parse_yaml

    def feed(urn: str, ts: int) -> None:
        body = orjson.dumps({"readings": [{"asset": urn, "metric": "status", "ts": ts,
                                           "value": "defectiveLamp"}]})
        [outcome] = frozen.pipeline.process([Message(TOWN, "readings", body)])
        assert outcome.error is None and not outcome.rejected

    reg = frozen.registry
    cabinet = reg.create_asset(TOWN, point("StreetlightControlCabinet", "C1")).id
    lamps = [reg.create_asset(TOWN, point("Streetlight", f"L{i}", parent=cabinet)).id
             for i in range(2)]
    frozen.rules.load(TOWN, parse_yaml(LAMP_RULE, "lamps.yaml"), SYSTEM.actor)
    feed(lamps[0], T0)
    feed(lamps[1], T0 + MIN)
    [incident] = ops.list_incidents(TOWN, SUE).items
    detail = ops.get_incident(TOWN, incident.id, SUE)
    assert detail.post == "lighting"  # routed by asset type: the rule declares no post
    assert sorted(a.asset or "" for a in detail.alarms) == sorted(lamps)
    assert detail.timestamps["reported"] == to_iso(T0)


def test_changes_are_audited(frozen: Services, ops: Operations) -> None:
    olga = user("olga", Role.OPERATOR, "lighting")
    incident_id = ops.open_incident(TOWN, IncidentIn(category="lamp-out", title="x"), olga).id
    ops.step(TOWN, incident_id, "acknowledged", olga, note="seen")
    ops.activate(TOWN, "snow", SUE)
    entries, _ = frozen.audit.list(action="incident.")
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("incident.open", "user:olga"), ("incident.step", "user:olga")]
    assert entries[1]["target"] == f"incident:{incident_id}"
    assert entries[1]["before"]["state"] == "reported"
    assert entries[1]["after"]["state"] == "acknowledged"
    activations, _ = frozen.audit.list(action="crisis_plan.activate")
    assert activations[0]["target"] == "crisis_plan:snow"
    assert frozen.audit.verify().ok
