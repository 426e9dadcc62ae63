"""Control posts and their defaults, routing precedence, incident categories, crisis plans
(routing overrides, activation log, access)."""

from __future__ import annotations

import pytest

from beffroi.api.deps import Services
from beffroi.assets.models import TerritoryIn
from beffroi.auth.models import SYSTEM, Role
from beffroi.errors import Conflict, NotFound, ValidationFailed
from beffroi.operations import defaults
from beffroi.operations.models import (
    CategoryIn,
    CrisisPlanIn,
    Forbidden,
    IncidentIn,
    PostIn,
    PostPatch,
    RoutingIn,
)
from beffroi.operations.service import Operations
from beffroi.rules.definitions import parse_yaml
from tests.operations.conftest import SUE, T0, TOWN, alarm, point, user


def test_defaults_created_once_on_first_use(ops: Operations) -> None:
    posts = ops.list_posts(TOWN, SUE)
    assert [p.code for p in posts] == list(defaults.POSTS)
    assert posts[1].name_fr == "Police municipale" and posts[1].name_en == "Municipal police"
    routings = {r.key: r.post for r in ops.list_routings(TOWN, SUE) if r.kind == "asset_type"}
    assert routings["WasteContainer"] == "waste" and routings["Camera"] == "security"
    assert len(routings) == 13
    categories = {c.code: c for c in ops.list_categories(TOWN, SUE)}
    assert categories["traffic-signal-fault"].sla_minutes == {
        "acknowledged": 5, "on_site": 60, "resolved": 240}
    assert {p.name for p in ops.list_plans(TOWN, SUE)} == {"snow", "flood", "major-event"}
    assert ops.ensure_defaults(TOWN, SUE) is False
    with pytest.raises(Conflict) as exc:
        ops.delete_post(TOWN, "snow", SUE)
    assert any("crisis plans" in d["reason"] for d in exc.value.details)


def test_posts_add_update_delete(ops: Operations) -> None:
    post = ops.add_post(TOWN, PostIn(code="port", name_fr="Capitainerie", name_en="Harbour"), SUE)
    assert post.code == "port"
    with pytest.raises(Conflict):
        ops.add_post(TOWN, PostIn(code="port", name_fr="x", name_en="x"), SUE)
    assert ops.update_post(TOWN, "port", PostPatch(name_en="Harbour office"), SUE).name_en == (
        "Harbour office")
    ops.set_routings(TOWN, [RoutingIn(kind="rule", key="tide-high", post="port")], SUE)
    with pytest.raises(Conflict, match="still in use"):
        ops.delete_post(TOWN, "port", SUE)
    ops.set_routings(TOWN, [RoutingIn(kind="rule", key="tide-high", post=None)], SUE)
    ops.delete_post(TOWN, "port", SUE)
    with pytest.raises(NotFound):
        ops.update_post(TOWN, "port", PostPatch(name_en="x"), SUE)
    with pytest.raises(ValidationFailed) as exc:
        ops.set_routings(TOWN, [RoutingIn(kind="asset_type", key="Teapot", post="nowhere")], SUE)
    assert [d["field"] for d in exc.value.details] == ["0.key", "0.post"]


def test_configuration_is_for_supervisors(ops: Operations) -> None:
    olga = user("olga", Role.OPERATOR, "lighting")
    with pytest.raises(Forbidden):
        ops.add_post(TOWN, PostIn(code="port", name_fr="x", name_en="x"), olga)
    with pytest.raises(Forbidden):
        ops.set_routings(TOWN, [], olga)
    sue = user("sue", Role.SUPERVISOR)
    assert ops.add_post(TOWN, PostIn(code="port", name_fr="x", name_en="x"), sue).code == "port"
    assert len(ops.list_posts(TOWN, olga)) == 10  # reading is for every role


def test_route_precedence(frozen: Services, ops: Operations) -> None:
    frozen.registry.create_territory(TerritoryIn(code="fresh", name="Fresh"))
    # before the defaults exist, route() answers from the built-in routings (it never writes)
    assert ops.route("fresh", "r1", "WasteContainer", None) == "waste"
    assert ops.route("atlantis", "r1", "WasteContainer", "police") == "police"
    assert ops.route(TOWN, "r1", "Streetlight", None) == "lighting"  # asset type
    assert ops.route(TOWN, "r1", None, None) is None
    assert ops.route(TOWN, "r1", "Streetlight", "security") == "security"  # declared post
    ops.set_routings(TOWN, [RoutingIn(kind="rule", key="r1", post="police"),
                            RoutingIn(kind="asset_type", key="Streetlight", post="citizen")], SUE)
    assert ops.route(TOWN, "r1", "Streetlight", "security") == "police"  # rule routing
    assert ops.route(TOWN, "r2", "Streetlight", None) == "citizen"
    assert frozen.rules.post_router == ops.route
    assert ops.on_alarms in frozen.rules.listeners


def test_category_validation(ops: Operations) -> None:
    with pytest.raises(ValidationFailed) as exc:
        ops.set_category(TOWN, "x", CategoryIn(title_fr="x", title_en="x", post="nowhere"), SUE)
    assert exc.value.details[0]["field"] == "post"
    with pytest.raises(ValidationFailed):
        ops.set_category(TOWN, "Bad Code", CategoryIn(title_fr="x", title_en="x", post="snow"), SUE)
    with pytest.raises(ValueError, match="must not decrease"):
        CategoryIn(title_fr="x", title_en="x", post="snow",
                   sla_minutes={"acknowledged": 60, "resolved": 30})
    with pytest.raises(ValueError, match="unknown step"):
        CategoryIn(title_fr="x", title_en="x", post="snow", sla_minutes={"closed": 60})


def test_crisis_plan_overrides_routing_while_active(ops: Operations) -> None:
    sue = user("sue", Role.SUPERVISOR)
    assert ops.route(TOWN, "wind", "WeatherObserved", None) == "supervision"
    done = ops.activate(TOWN, "snow", sue)
    assert done.action == "activate" and done.actor == "user:sue"
    assert done.outcome["routings"]["type:WeatherObserved"] == "snow"
    assert ops.route(TOWN, "wind", "WeatherObserved", "supervision") == "snow"
    ops.on_alarms([alarm(1, T0, rule="wind", category="weather", post="supervision")])
    assert ops.list_incidents(TOWN, SUE).items[0].post == "snow"  # category override
    assert ops.open_incident(TOWN, IncidentIn(category="weather", title="Ice"), SUE).post == "snow"
    chosen = ops.open_incident(TOWN, IncidentIn(category="weather", title="Ice",
                                                post="supervision"), SUE)
    assert chosen.post == "supervision"  # an operator's choice beats the plan
    plan = ops.get_plan(TOWN, "snow", SUE)
    assert plan.active and plan.activated_by == "user:sue"
    with pytest.raises(Conflict, match="already active"):
        ops.activate(TOWN, "snow", sue)
    ops.deactivate(TOWN, "snow", sue)
    assert ops.route(TOWN, "wind", "WeatherObserved", None) == "supervision"
    assert not ops.get_plan(TOWN, "snow", SUE).active
    log = ops.activations(TOWN, SUE, plan="snow")
    assert [a.action for a in log] == ["deactivate", "activate"]
    with pytest.raises(NotFound):
        ops.activate(TOWN, "tsunami", sue)


GUST = """
rules:
  - id: gust-alert
    name: {fr: "Rafales", en: "Gusts"}
    severity: major
    post: supervision
    incident: open
    category: weather
    active: false
    scope: {types: [WeatherObserved]}
    when: {kind: threshold, metric: windSpeed, op: ">", value: 25}
  - id: frost
    name: {fr: "Gel", en: "Frost"}
    severity: minor
    incident: none
    scope: {types: [WeatherObserved]}
    when: {kind: threshold, metric: temperature, op: "<", value: 0}
"""


def test_plan_switches_its_rules_on_and_back_off(frozen: Services, ops: Operations) -> None:
    frozen.rules.load(TOWN, parse_yaml(GUST, "gust.yaml"), SYSTEM.actor)
    ops.put_plan(TOWN, "storm", CrisisPlanIn(
        title="Storm", post="supervision", rules=["gust-alert", "frost"],
        routings={"Camera": "police", "rule:gust-alert": "snow"}), SUE)
    plan = ops.get_plan(TOWN, "storm", SUE)
    assert plan.routings == {"type:Camera": "police", "rule:gust-alert": "snow"}
    done = ops.activate(TOWN, "storm", SUE)
    assert done.outcome["rules_switched"] == ["gust-alert"]  # frost was on already
    assert frozen.rules.get_rule(TOWN, "gust-alert")["active"] is True
    assert ops.route(TOWN, "gust-alert", "WeatherObserved", "supervision") == "snow"
    assert ops.route(TOWN, "x", "Camera", None) == "police"
    undone = ops.deactivate(TOWN, "storm", SUE)
    assert undone.outcome["rules_switched"] == ["gust-alert"]
    assert frozen.rules.get_rule(TOWN, "gust-alert")["active"] is False
    assert frozen.rules.get_rule(TOWN, "frost")["active"] is True  # not the plan's doing
    assert ops.route(TOWN, "gust-alert", "WeatherObserved", "supervision") == "supervision"
    # an unknown rule stops the activation before anything changed
    ops.put_plan(TOWN, "storm", CrisisPlanIn(title="Storm", post="supervision",
                                             rules=["gust-alert", "typo"]), SUE)
    with pytest.raises(NotFound, match="typo"):
        ops.activate(TOWN, "storm", SUE)
    assert not ops.get_plan(TOWN, "storm", SUE).active
    assert frozen.rules.get_rule(TOWN, "gust-alert")["active"] is False


def test_plan_commands_are_sent_or_their_refusal_logged(frozen: Services, ops: Operations
                                                        ) -> None:
    # No traffic signal in the territory: the command service refuses, the plan still
    # applies its routings and the log says why.
    done = ops.activate(TOWN, "major-event", SUE)
    [sent] = done.outcome["commands"]
    assert sent["commands"] == ["set_plan"] and sent["status"] == "refused"
    assert ops.get_plan(TOWN, "major-event", SUE).active
    frozen.registry.create_asset(TOWN, point("TrafficSignal", "X1"))
    ops.deactivate(TOWN, "major-event", SUE)
    done = ops.activate(TOWN, "major-event", SUE)
    [sent] = done.outcome["commands"]
    assert sent["status"] == "sent" and len(sent["batches"]) == 1
    [released] = ops.deactivate(TOWN, "major-event", SUE).outcome["commands"]
    assert released["status"] == "sent"


def test_plan_activation_access_and_validation(ops: Operations) -> None:
    snow_op = user("nina", Role.OPERATOR, "snow")
    light_op = user("olga", Role.OPERATOR, "lighting")
    with pytest.raises(Forbidden):
        ops.activate(TOWN, "snow", light_op)
    with pytest.raises(Forbidden):
        ops.activate(TOWN, "snow", user("vic", Role.VIEWER))
    assert ops.activate(TOWN, "snow", snow_op).actor == "user:nina"
    with pytest.raises(Forbidden):
        ops.put_plan(TOWN, "snow", CrisisPlanIn(title="x", post="snow"), snow_op)
    with pytest.raises(ValidationFailed) as exc:
        ops.put_plan(TOWN, "bad", CrisisPlanIn(
            title="x", post="nowhere", routings={"type:Teapot": "snow", "odd:x": "moon"}), SUE)
    fields = [d["field"] for d in exc.value.details]
    assert fields == ["post", "routings.type:Teapot", "routings.odd:x", "routings.odd:x"]
    with pytest.raises(ValidationFailed) as exc:
        ops.put_plan(TOWN, "bad", CrisisPlanIn.model_validate({
            "title": "x", "post": "snow",
            "commands": [{"selector": {"type": "Camera"}, "command": "dim",
                          "params": {"level": 50}},
                         {"selector": {"type": "StreetlightControlCabinet"},
                          "command": "dim", "params": {"level": 500}}],
            "release_commands": [{"selector": {}, "command": "warp"}]}), SUE)
    fields = [d["field"] for d in exc.value.details]
    assert fields[0] == "commands.0.command" and "commands.1.params.level" in fields
    assert any(f.startswith("release_commands.0") for f in fields)


def test_operator_incident_follows_category_post(ops: Operations) -> None:
    detail = ops.open_incident(TOWN, IncidentIn(category="container-fire", title="Fire"), SUE)
    assert detail.post == "security" and detail.source == "operator"
    detail = ops.open_incident(TOWN, IncidentIn(category="container-fire", title="Fire",
                                                post="police"), SUE)
    assert detail.post == "police"


def test_deleting_a_territory_deletes_its_operations(frozen: Services, ops: Operations) -> None:
    ops.open_incident(TOWN, IncidentIn(category="lamp-out", title="x"), SUE)
    ops.activate(TOWN, "snow", SUE)
    frozen.registry.delete_territory(TOWN)
    frozen.registry.create_territory(TerritoryIn(code=TOWN, name="Again"))
    assert ops.list_incidents(TOWN, SUE).items == []
    assert len(ops.list_posts(TOWN, SUE)) == 9  # defaults again
    assert not ops.get_plan(TOWN, "snow", SUE).active
    with pytest.raises(ValidationFailed):
        ops.open_incident(TOWN, IncidentIn(category="lamp-out", title="x"), SUE, source="fax")
