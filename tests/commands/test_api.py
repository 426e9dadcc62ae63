"""The command routes through the ``client`` fixture, with a simulated device on the real
Mosquitto for the sends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from beffroi.api.deps import Services
from beffroi.commands.device_sim import DeviceSimulator
from tests.commands.conftest import needs_broker, wait_until

Device = Callable[..., DeviceSimulator]


@needs_broker
def test_send_follow_list_and_cancel(client: TestClient, services: Services, code: str,
                                     fleet: dict[str, Any], device: Device) -> None:
    sim = device(fleet["signal"])
    base = f"/api/v1/territories/{code}/commands"
    r = client.post(base, json={"command": "set_plan", "params": {"plan": "RUSH-AM"},
                                "urns": [fleet["signal"]], "timeout_s": 30})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["count"] == 1 and body["command"] == "set_plan"
    (row,) = body["commands"]
    assert row["asset"] == fleet["signal"] and row["params"] == {"plan": "RUSH-AM"}
    wait_until(lambda: client.get(f"{base}/{row['id']}").json()["state"] == "acknowledged")
    assert sim.state[fleet["signal"]] == {"plan": "RUSH-AM"}
    batch = client.get(f"{base}/batches/{body['batch_id']}").json()
    assert batch["states"] == {"acknowledged": 1}

    # a group send to a silent fleet, then cancelled
    device(*fleet["lamps"], silent_urns=frozenset(fleet["lamps"]))
    r = client.post(base, json={"command": "dim", "params": {"level": 30},
                                "selector": {"parent": fleet["cabinet"]}})
    assert r.status_code == 202, r.text
    group = r.json()
    assert group["count"] == 3
    first = group["commands"][0]["id"]
    r = client.post(f"{base}/{first}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    r = client.post(f"{base}/{first}/cancel")
    assert r.status_code == 409 and r.json()["error"] == "conflict"

    page = client.get(base, params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get(base, params={"limit": 2, "cursor": page["next_cursor"]}).json()
    ids = [c["id"] for c in page["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 4
    cancelled = client.get(base, params={"state": "cancelled"}).json()["items"]
    assert [c["id"] for c in cancelled] == [first]
    mine = client.get(base, params={"asset": fleet["signal"]}).json()["items"]
    assert [c["id"] for c in mine] == [row["id"]]
    assert len(client.get(base, params={"batch": group["batch_id"]}).json()["items"]) == 3


def test_errors_are_specific(client: TestClient, code: str, fleet: dict[str, Any]) -> None:
    base = f"/api/v1/territories/{code}/commands"
    r = client.post(base, json={"command": "dim", "params": {"level": 101},
                                "urns": [fleet["cabinet"]]})
    assert r.status_code == 422
    assert r.json()["details"] == [{"field": "params.level",
                                    "reason": "must be between 0 and 100"}]
    r = client.post(base, json={"command": "dim", "params": {"level": 1}})
    assert r.status_code == 422
    assert r.json()["details"] == [{"field": "body",
                                    "reason": "give either urns or selector (exactly one)"}]
    r = client.post(base, json={"command": "dim", "params": {"level": 1},
                                "urns": [fleet["cabinet"]], "timeout_s": 0})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "timeout_s"
    assert client.get(f"{base}/999").status_code == 404
    assert client.get(f"{base}/batches/nope").status_code == 404
    assert client.get(base, params={"state": "nope"}).status_code == 422
    assert client.get("/api/v1/territories/nowhere/commands").status_code == 404
    assert client.get(base, params={"cursor": "%%%"}).status_code == 422


def test_catalogue_route(client: TestClient, code: str, fleet: dict[str, Any]) -> None:
    r = client.get(f"/api/v1/territories/{code}/assets/{fleet['park']}/commands/catalogue")
    assert r.status_code == 200
    (entry,) = r.json()
    assert entry["command"] == "display"
    assert entry["params"]["required"] == ["message"]
    assert entry["roles"] == ["administrator", "operator", "supervisor"]
    r = client.get(f"/api/v1/territories/{code}/assets/urn:ngsi-ld:Camera:{code}:X"
                   "/commands/catalogue")
    assert r.status_code == 404


def test_roles_through_the_routes(as_role: Callable[..., TestClient], code: str,
                                  fleet: dict[str, Any]) -> None:
    from beffroi.auth.models import Role

    base = f"/api/v1/territories/{code}/commands"
    traffic = as_role(Role.OPERATOR, code, ["traffic"])
    r = traffic.post(base, json={"command": "dim", "params": {"level": 10},
                                 "urns": [fleet["cabinet"]]})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    (detail,) = r.json()["details"]
    assert detail["field"] == "urns.0" and detail["asset"] == fleet["cabinet"]
    assert detail["reason"].startswith("the asset belongs to the lighting control post; token:")
    assert detail["reason"].endswith(" operates traffic")
    catalogue = f"/api/v1/territories/{code}/assets/{{}}/commands/catalogue"
    assert traffic.get(catalogue.format(fleet["cabinet"])).json() == []
    assert [e["command"] for e in traffic.get(catalogue.format(fleet["signal"])).json()] == [
        "set_plan"]
    viewer = as_role(Role.VIEWER, code)
    assert viewer.get(base).status_code == 200
    assert viewer.post(base, json={"command": "set_plan", "params": {"plan": "P1"},
                                   "urns": [fleet["signal"]]}).status_code == 403
    assert viewer.get(catalogue.format(fleet["signal"])).json() == []
    assert as_role(Role.FIELD_AGENT, code).get(base).status_code == 403
