"""The HTTP routes of rules and alarms, with the roles that may call them."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from beffroi.auth.models import Role
from tests.rules.conftest import T0, H, Rig

RULE = {
    "id": "air-no2",
    "name": {"fr": "NO2 élevé", "en": "High NO2"},
    "source": "Directive 2008/50/EC Annex XI: NO2 hourly limit 200 µg/m³",
    "severity": "major",
    "post": "supervision",
    "scope": {"types": ["AirQualityObserved"]},
    "when": {"kind": "threshold", "metric": "no2", "op": ">", "value": 200},
}
BASE = "/api/v1/territories/testville"


def test_rule_crud_and_versions(rig: Rig, client: TestClient) -> None:
    r = client.post(f"{BASE}/rules", json=RULE)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.json()["active"] is True
    first_hash = r.json()["content_hash"]
    assert client.post(f"{BASE}/rules", json=RULE).status_code == 409
    changed = {**RULE, "when": {**RULE["when"], "value": 180}}
    r = client.put(f"{BASE}/rules/air-no2", json=changed)
    assert r.status_code == 200 and r.json()["version"] == 2
    assert r.json()["content_hash"] != first_hash
    assert client.put(f"{BASE}/rules/air-no2", json=changed).json()["version"] == 2
    assert [x["id"] for x in client.get(f"{BASE}/rules").json()["items"]] == ["air-no2"]
    assert client.get(f"{BASE}/rules/air-no2").json()["when"]["value"] == 180
    r = client.put(f"{BASE}/rules/air-no2", json={**RULE, "id": "other"})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "id"
    assert client.delete(f"{BASE}/rules/air-no2").status_code == 204
    assert client.get(f"{BASE}/rules/air-no2").status_code == 404
    assert client.delete(f"{BASE}/rules/air-no2").status_code == 404


def test_invalid_rule_gives_every_field(rig: Rig, client: TestClient) -> None:
    bad = {**RULE, "severity": "huge",
           "when": {"kind": "threshold", "metric": "no3", "op": "=>", "value": "x",
                    "for": "an hour"}}
    r = client.post(f"{BASE}/rules", json=bad)
    assert r.status_code == 422
    fields = {d["field"] for d in r.json()["details"]}
    assert fields == {"severity", "when.metric", "when.op", "when.value", "when.for"}
    r = client.post(f"{BASE}/rules/validate", json={"rules": [RULE, bad]})
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["details"]} >= {"rules[1].severity", "rules[1].when.for"}
    r = client.post(f"{BASE}/rules/validate", json=RULE)
    assert r.status_code == 200 and r.json() == {"valid": True, "rules": ["air-no2"]}


def test_alarm_routes(rig: Rig, client: TestClient) -> None:
    station = rig.asset("AirQualityObserved", "s1")
    assert client.post(f"{BASE}/rules", json=RULE).status_code == 201
    rig.feed((station, "no2", T0, 250))
    r = client.get(f"{BASE}/alarms", params={"state": "open"})
    [alarm] = r.json()["items"]
    assert alarm["asset"] == station and alarm["rule"] == "air-no2"
    assert client.get(f"{BASE}/alarms", params={"severity": "minor"}).json()["items"] == []
    assert client.get(f"{BASE}/alarms", params={"post": "supervision"}).json()["items"]
    assert client.get(f"{BASE}/alarms", params={"asset": station}).json()["items"]
    assert client.get(f"{BASE}/alarms", params={"state": "bogus"}).status_code == 422
    r = client.post(f"{BASE}/alarms/{alarm['id']}/acknowledge", json={"note": "seen"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    assert client.post(f"{BASE}/alarms/{alarm['id']}/acknowledge").status_code == 409
    r = client.post(f"{BASE}/alarms/{alarm['id']}/clear", json={"note": "false positive"})
    assert r.status_code == 200 and r.json()["state"] == "cleared"
    history = client.get(f"{BASE}/alarms/{alarm['id']}").json()["history"]
    assert [(h["change"], h["note"]) for h in history] == [
        ("raised", history[0]["note"]), ("acknowledged", "seen"), ("cleared", "false positive")]
    assert client.get(f"{BASE}/alarms/999999").status_code == 404


def test_alarm_paging(rig: Rig, client: TestClient) -> None:
    stations = [rig.asset("AirQualityObserved", f"s{i}") for i in range(5)]
    client.post(f"{BASE}/rules", json=RULE)
    rig.feed(*[(s, "no2", T0 + H, 300) for s in stations])
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = client.get(f"{BASE}/alarms", params=params).json()
        seen += [a["id"] for a in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)


def test_roles(rig: Rig, client: TestClient, as_role: Callable[..., TestClient]) -> None:
    station = rig.asset("AirQualityObserved", "s1")
    lamp = rig.asset("Streetlight", "l1")
    viewer = as_role(Role.VIEWER)
    supervisor = as_role(Role.SUPERVISOR)
    lighting_operator = as_role(Role.OPERATOR, posts=["lighting"])
    assert viewer.post(f"{BASE}/rules", json=RULE).status_code == 403
    assert lighting_operator.post(f"{BASE}/rules", json=RULE).status_code == 403
    assert supervisor.post(f"{BASE}/rules", json=RULE).status_code == 201
    assert viewer.get(f"{BASE}/rules").status_code == 200
    rig.feed((station, "no2", T0, 250))
    [alarm] = viewer.get(f"{BASE}/alarms").json()["items"]
    assert viewer.post(f"{BASE}/alarms/{alarm['id']}/acknowledge").status_code == 403
    # the alarm is routed to post "supervision": a lighting operator may not touch it
    r = lighting_operator.post(f"{BASE}/alarms/{alarm['id']}/acknowledge")
    assert r.status_code == 403
    ok = as_role(Role.OPERATOR, posts=["supervision"])
    r = ok.post(f"{BASE}/alarms/{alarm['id']}/acknowledge")
    assert r.status_code == 200 and r.json()["acknowledged_by"].startswith("token:")
    assert lamp  # unused asset keeps the territory realistic
    assert supervisor.post(f"{BASE}/rules/activation",
                           json={"rules": ["air-no2"], "active": False}).status_code == 200
    assert viewer.post(f"{BASE}/rules/activation",
                       json={"rules": ["air-no2"], "active": True}).status_code == 403
    assert client.get(f"{BASE}/alarms/{alarm['id']}").json()["state"] == "cleared"


def test_install_defaults_route(rig: Rig, client: TestClient) -> None:
    r = client.post(f"{BASE}/rules/defaults", params={"domain": ["air"]})
    assert r.status_code == 200 and r.json()["created"]
    r = client.post(f"{BASE}/rules/defaults", params={"domain": ["nowhere"]})
    assert r.status_code == 422
