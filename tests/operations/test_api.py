"""Operations through the HTTP API: posts, categories, an incident's lifecycle with a work
order, crisis plans, precise errors, access per role and control post, and territory isolation
of incident and work order ids (every route names its territory)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from beffroi.api.deps import Services
from beffroi.assets.models import TerritoryIn
from beffroi.auth.models import Role

API = "/api/v1"
T = f"{API}/territories/testville"


@pytest.fixture
def town(territory: str) -> str:
    return T


def test_posts_routings_and_categories(client: TestClient, town: str) -> None:
    posts = client.get(f"{town}/posts").json()
    assert len(posts) == 9 and posts[0]["code"] == "security"
    r = client.post(f"{town}/posts", json={"code": "port", "name_fr": "Capitainerie",
                                           "name_en": "Harbour"})
    assert r.status_code == 201, r.text
    r = client.post(f"{town}/posts", json={"code": "Port!", "name_fr": "x", "name_en": "x"})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "code"
    r = client.patch(f"{town}/posts/port", json={"name_en": "Harbour office"})
    assert r.json()["name_en"] == "Harbour office"
    r = client.put(f"{town}/routings", json=[{"kind": "rule", "key": "tide", "post": "port"}])
    assert {"kind": "rule", "key": "tide", "post": "port"} in r.json()
    assert client.delete(f"{town}/posts/port").status_code == 409
    client.put(f"{town}/routings", json=[{"kind": "rule", "key": "tide", "post": None}])
    assert client.delete(f"{town}/posts/port").status_code == 204
    assert client.patch(f"{town}/posts/port", json={"name_en": "x"}).status_code == 404
    r = client.put(f"{town}/incident-categories/pothole", json={
        "title_fr": "Nid-de-poule", "title_en": "Pothole", "post": "traffic",
        "sla_minutes": {"acknowledged": 60, "resolved": 30}})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "sla_minutes"
    r = client.put(f"{town}/incident-categories/pothole", json={
        "title_fr": "Nid-de-poule", "title_en": "Pothole", "post": "traffic",
        "sla_minutes": {"acknowledged": 60, "resolved": 7 * 1440}})
    assert r.status_code == 200, r.text
    codes = [c["code"] for c in client.get(f"{town}/incident-categories").json()]
    assert "pothole" in codes and "lamp-out" in codes
    assert client.get(f"{API}/territories/atlantis/posts").status_code in (403, 404)


def test_incident_lifecycle_with_work_order(client: TestClient, town: str) -> None:
    r = client.post(f"{town}/incidents", json={"category": "lamp-out", "title": "Rue X"})
    assert r.status_code == 201, r.text
    incident = r.json()
    assert incident["state"] == "reported" and incident["post"] == "lighting"
    assert [s["step"] for s in incident["sla"]] == ["acknowledged", "on_site", "resolved"]
    assert incident["sla"][0]["remaining_s"] > 0
    url = f"{town}/incidents/{incident['id']}"
    r = client.post(f"{url}/steps", json={"step": "closed"})
    assert r.status_code == 409 and r.json()["details"][0]["field"] == "step"
    r = client.post(f"{url}/steps", json={"step": "teleported"})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "step"
    assert client.post(f"{url}/steps", json={"step": "acknowledged", "note": "seen"}
                       ).status_code == 200
    r = client.post(f"{url}/assign", json={"kind": "contractor", "name": "Citelum"})
    assert r.json()["assignee"] == "Citelum"
    r = client.post(f"{url}/comments", json={"text": "Mast hit by a van"})
    assert r.status_code == 201 and r.json()["text"] == "Mast hit by a van"
    r = client.post(f"{url}/work-orders", json={"title": "Replace mast", "assignee_kind":
                                                "contractor", "assignee": "Citelum"})
    assert r.status_code == 201, r.text
    wo = r.json()
    assert client.get(url).json()["state"] == "dispatched"
    listed = client.get(f"{town}/work-orders", params={"assignee": "Citelum"}).json()
    assert [w["id"] for w in listed["items"]] == [wo["id"]]
    assert [w["id"] for w in client.get(f"{town}/work-orders", params={
        "post": wo["post"]}).json()["items"]] == [wo["id"]]
    assert client.get(f"{town}/work-orders", params={"post": "security"}).json()["items"] == []
    assert [w["id"] for w in client.get(f"{url}/work-orders").json()] == [wo["id"]]
    wurl = f"{town}/work-orders/{wo['id']}"
    r = client.post(f"{wurl}/steps", json={"step": "done"})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "note"
    for step in ("accepted", "on_site"):
        assert client.post(f"{wurl}/steps", json={"step": step}).status_code == 200
    r = client.post(f"{wurl}/steps", json={"step": "done", "note": "New mast, LED lamp"})
    assert r.json()["closure_note"] == "New mast, LED lamp"
    assert client.get(wurl).json()["state"] == "done"
    for step in ("resolved", "closed"):
        assert client.post(f"{url}/steps", json={"step": step}).status_code == 200
    detail = client.get(url).json()
    assert [s["step"] for s in detail["steps"]] == [
        "reported", "acknowledged", "dispatched", "on_site", "resolved", "closed"]
    assert all(detail["timestamps"][s] for s in detail["timestamps"])
    assert detail["comments"][-1]["text"] == "Mast hit by a van"
    assert detail["work_orders"][0]["state"] == "done"
    page = client.get(f"{town}/incidents", params={"state": "closed", "post": "lighting"})
    assert [i["id"] for i in page.json()["items"]] == [incident["id"]]
    r = client.get(f"{town}/incidents", params={"state": "nope"})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "state"
    assert client.get(f"{town}/incidents/999").status_code == 404
    r = client.post(f"{town}/incidents", json={"category": "nope", "title": "x"})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "category"


def test_paging(client: TestClient, town: str) -> None:
    for i in range(3):
        client.post(f"{town}/incidents", json={"category": "other", "title": f"#{i}"})
    first = client.get(f"{town}/incidents", params={"limit": 2}).json()
    assert [i["title"] for i in first["items"]] == ["#2", "#1"]
    rest = client.get(f"{town}/incidents", params={"limit": 2,
                                                   "cursor": first["next_cursor"]}).json()
    assert [i["title"] for i in rest["items"]] == ["#0"] and rest["next_cursor"] is None
    r = client.get(f"{town}/incidents", params={"cursor": "!!"})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "cursor"


def test_crisis_plans(client: TestClient, town: str) -> None:
    plans = {p["name"]: p for p in client.get(f"{town}/crisis-plans").json()}
    assert set(plans) == {"snow", "flood", "major-event"} and not plans["snow"]["active"]
    r = client.put(f"{town}/crisis-plans/heatwave", json={
        "title": "Canicule", "post": "supervision", "routings": {"AirQualityObserved":
                                                                  "citizen"}})
    assert r.status_code == 200 and r.json()["routings"] == {
        "type:AirQualityObserved": "citizen"}
    r = client.put(f"{town}/crisis-plans/heatwave", json={"title": "x", "post": "moon"})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "post"
    r = client.post(f"{town}/crisis-plans/heatwave/activate")
    assert r.status_code == 200 and r.json()["action"] == "activate"
    assert client.post(f"{town}/crisis-plans/heatwave/activate").status_code == 409
    assert client.post(f"{town}/crisis-plans/heatwave/deactivate").status_code == 200
    log = client.get(f"{town}/crisis-activations", params={"plan": "heatwave"}).json()
    assert [a["action"] for a in log] == ["deactivate", "activate"]
    assert client.post(f"{town}/crisis-plans/nope/activate").status_code == 404


def test_access_per_role_and_post(client: TestClient, town: str,
                                  as_role: Callable[..., TestClient]) -> None:
    incident = client.post(f"{town}/incidents", json={"category": "lamp-out",
                                                      "title": "x"}).json()
    url = f"{town}/incidents/{incident['id']}"
    viewer = as_role(Role.VIEWER)
    traffic = as_role(Role.OPERATOR, posts=["traffic"])
    lighting = as_role(Role.OPERATOR, posts=["lighting"])
    assert viewer.get(url).status_code == 200
    assert viewer.post(f"{url}/steps", json={"step": "acknowledged"}).status_code == 403
    assert traffic.post(f"{url}/steps", json={"step": "acknowledged"}).status_code == 403
    assert lighting.post(f"{url}/steps", json={"step": "acknowledged"}).status_code == 200
    assert traffic.post(f"{town}/posts", json={"code": "port", "name_fr": "x",
                                               "name_en": "x"}).status_code == 403
    assert traffic.post(f"{town}/crisis-plans/snow/activate").status_code == 403
    assert as_role(Role.OPERATOR, posts=["snow"]).post(
        f"{town}/crisis-plans/snow/activate").status_code == 200
    agent = as_role(Role.FIELD_AGENT)
    agent_name = agent.get(f"{API}/auth/me").json()["name"]  # a field agent's own orders
    wo = lighting.post(f"{url}/work-orders", json={
        "title": "Fix", "assignee_kind": "team", "assignee": agent_name}).json()
    other = lighting.post(f"{url}/work-orders", json={
        "title": "Fix", "assignee_kind": "team", "assignee": "someone"}).json()
    r = agent.post(f"{town}/work-orders/{other['id']}/steps", json={"step": "accepted"})
    assert r.status_code == 403
    r = agent.post(f"{town}/work-orders/{wo['id']}/steps", json={"step": "accepted"})
    assert r.status_code == 200, r.text
    assert [w["id"] for w in agent.get(f"{town}/work-orders").json()["items"]] == [wo["id"]]
    # … and only its own in the incident too
    assert [w["id"] for w in agent.get(f"{url}/work-orders").json()] == [wo["id"]]
    assert [w["id"] for w in agent.get(url).json()["work_orders"]] == [wo["id"]]
    assert len(lighting.get(f"{url}/work-orders").json()) == 2
    assert agent.get(f"{town}/work-orders/{other['id']}").status_code == 403
    assert agent.post(f"{url}/steps", json={"step": "resolved"}).status_code == 403


Call = tuple[str, str, dict[str, Any] | None]


def incident_calls(base: str, incident_id: int) -> list[Call]:
    """Every route on one incident, with a valid body."""
    url = f"{base}/incidents/{incident_id}"
    return [("GET", url, None),
            ("POST", f"{url}/steps", {"step": "acknowledged"}),
            ("POST", f"{url}/assign", {"kind": "team", "name": "north"}),
            ("POST", f"{url}/comments", {"text": "mine now"}),
            ("GET", f"{url}/work-orders", None),
            ("POST", f"{url}/work-orders", {"title": "x", "assignee_kind": "team",
                                            "assignee": "north"})]


def work_order_calls(base: str, wo_id: int) -> list[Call]:
    """Every route on one work order, with a valid body."""
    url = f"{base}/work-orders/{wo_id}"
    return [("GET", url, None), ("POST", f"{url}/steps", {"step": "accepted"})]


def statuses(c: TestClient, calls: list[Call]) -> dict[str, int]:
    return {f"{method} {url}": c.request(method, url, json=body).status_code
            for method, url, body in calls}


def test_ids_of_another_territory_are_refused_on_every_route(
        client: TestClient, town: str, services: Services,
        as_role: Callable[..., TestClient]) -> None:
    """Principals granted only in alpha get 403 on testville's routes and 404 on testville's
    ids under alpha's routes (the ids are not even revealed), and nothing changes."""
    services.registry.create_territory(TerritoryIn(code="alpha", name="Alpha"))
    alpha = f"{API}/territories/alpha"
    agent = as_role(Role.FIELD_AGENT, "alpha")
    agent_name = agent.get(f"{API}/auth/me").json()["name"]
    incident = client.post(f"{town}/incidents", json={"category": "lamp-out",
                                                      "title": "x"}).json()
    wo = client.post(f"{town}/incidents/{incident['id']}/work-orders", json={
        "title": "Fix", "assignee_kind": "team", "assignee": agent_name}).json()
    own = client.post(f"{alpha}/incidents", json={"category": "lamp-out", "title": "y"}).json()
    assert own["id"] != incident["id"]
    in_town = incident_calls(town, incident["id"]) + work_order_calls(town, wo["id"])
    in_alpha = incident_calls(alpha, incident["id"]) + work_order_calls(alpha, wo["id"])
    for role in (Role.ADMINISTRATOR, Role.SUPERVISOR, Role.OPERATOR):
        c = as_role(role, "alpha")
        assert set(statuses(c, in_town).values()) == {403}, role
        assert set(statuses(c, in_alpha).values()) == {404}, role
        assert c.get(f"{alpha}/incidents/{own['id']}").status_code == 200, role
    # a field agent of alpha named as testville's assignee: still nothing there
    assert set(statuses(agent, in_town).values()) == {403}
    assert set(statuses(agent, in_alpha).values()) <= {403, 404}
    assert agent.request("GET", in_alpha[-2][1]).status_code == 404  # its work order "id"
    assert agent.get(f"{alpha}/work-orders").json()["items"] == []
    after = client.get(f"{town}/incidents/{incident['id']}").json()
    assert after["state"] == "dispatched" and after["assignee"] == agent_name
    assert after["comments"] == [] and [w["id"] for w in after["work_orders"]] == [wo["id"]]
    assert client.get(f"{town}/work-orders/{wo['id']}").json()["state"] == "open"
    # even a superuser must name the right territory
    assert set(statuses(client, [c for c in in_alpha if c[0] == "GET"]).values()) == {404}


def test_operator_of_another_post_cannot_act_on_an_incident(
        client: TestClient, town: str, as_role: Callable[..., TestClient]) -> None:
    """An operator of the lighting post reads a traffic incident but cannot step, assign,
    comment it or dispatch work orders for it, nor step its work orders."""
    incident = client.post(f"{town}/incidents", json={"category": "traffic-signal-fault",
                                                      "title": "Dark crossroads"}).json()
    assert incident["post"] == "traffic"
    wo = client.post(f"{town}/incidents/{incident['id']}/work-orders", json={
        "title": "Fix", "assignee_kind": "contractor", "assignee": "SignalCo"}).json()
    lighting = as_role(Role.OPERATOR, posts=["lighting"])
    traffic = as_role(Role.OPERATOR, posts=["traffic"])
    reads: list[Call] = []
    writes: list[Call] = []
    for call in incident_calls(town, incident["id"]) + work_order_calls(town, wo["id"]):
        (reads if call[0] == "GET" else writes).append(call)
    assert set(statuses(lighting, reads).values()) == {200}
    refused = statuses(lighting, writes)
    assert set(refused.values()) == {403}, refused
    r = lighting.post(f"{town}/incidents/{incident['id']}/steps", json={"step": "resolved"})
    assert r.json()["error"] == "forbidden"
    detail = client.get(f"{town}/incidents/{incident['id']}").json()
    assert detail["state"] == "dispatched" and detail["comments"] == []
    assert len(detail["work_orders"]) == 1 and detail["work_orders"][0]["state"] == "open"
    assert detail["assignee"] == "SignalCo"
    # the traffic operator may
    r = traffic.post(f"{town}/incidents/{incident['id']}/steps", json={"step": "on_site"})
    assert r.status_code == 200 and r.json()["steps"][-1]["actor"].startswith("token:")
