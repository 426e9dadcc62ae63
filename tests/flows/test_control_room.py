"""The whole chain as a city runs it, through the HTTP API with the tokens of each party: a
device posts readings → the rule engine raises alarms → the group rule opens one incident on
the lighting post → the operator of that post moves it through its steps, the supervisor reads
the audit log → the readings return to normal and the alarms clear by themselves."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from beffroi.api.deps import Services
from tests.conftest import lamp

API = "/api/v1/territories/testville"
CABINET = "urn:ngsi-ld:StreetlightControlCabinet:testville:C1"
T0 = 1_767_222_000_000  # 2025-12-31T23:00:00Z


def _readings(statuses: dict[int, str], ts: int) -> dict[str, Any]:
    return {"readings": [
        {"asset": f"urn:ngsi-ld:Streetlight:testville:L{i}", "metric": "status", "ts": ts,
         "value": status} for i, status in statuses.items()]}


def test_readings_raise_alarms_that_open_one_incident_worked_by_its_post(
        client: TestClient, services: Services, territory: str, as_role: Any) -> None:
    cabinet = {"id": CABINET, "type": "StreetlightControlCabinet",
               "geometry": {"type": "Point", "coordinates": [-1.55, 47.21]}}
    assert client.post(f"{API}/assets", json=cabinet).status_code == 201
    for i in range(6):
        assert client.post(f"{API}/assets", json=lamp(f"L{i}", parent=CABINET)).status_code == 201
    services.rules.install_defaults("testville", domains=["lighting"])

    device, operator = as_role("device"), as_role("operator", posts=["lighting"])
    traffic_operator = as_role("operator", posts=["traffic"])
    supervisor = as_role("supervisor")
    ok = dict.fromkeys(range(6), "ok")
    assert device.post(f"{API}/observations", json=_readings(ok, T0)).status_code == 200
    assert operator.get(f"{API}/alarms", params={"state": "open"}).json()["items"] == []

    # Two lamps of six fail (33 % > 20 %): two lamp alarms and one on the cabinet.
    failing = ok | {1: "defectiveLamp", 4: "brokenLantern"}
    r = device.post(f"{API}/observations", json=_readings(failing, T0 + 60_000))
    assert r.status_code == 200 and r.json()["stored"] == 6
    alarms = operator.get(f"{API}/alarms", params={"state": "open"}).json()["items"]
    by_rule = sorted((a["rule"], a["asset"]) for a in alarms)
    assert by_rule == [
        ("lighting-cabinet-lamps-failed", CABINET),
        ("lighting-lamp-failure", "urn:ngsi-ld:Streetlight:testville:L1"),
        ("lighting-lamp-failure", "urn:ngsi-ld:Streetlight:testville:L4"),
    ]
    assert {a["post"] for a in alarms} == {"lighting"}

    # Only the cabinet's rule opens incidents: one, on the lighting post.
    incidents = operator.get(f"{API}/incidents").json()["items"]
    assert len(incidents) == 1
    incident = incidents[0]
    assert (incident["post"], incident["category"], incident["state"]) == (
        "lighting", "lamp-out", "reported")
    # its title, written by the platform, is in both languages (the rule's name, then why)
    assert incident["titles"]["en"] == incident["title"]
    assert incident["titles"]["en"].endswith("2 of 6 members (33%) fail")
    assert incident["titles"]["fr"].endswith("\u00a0: 2 membres sur 6 (33\u00a0%) en défaut")
    # the cabinet's page lists it; a failed lamp's alarm opened none (its rule's policy)
    mine = operator.get(f"{API}/incidents", params={"asset": CABINET}).json()["items"]
    assert [i["id"] for i in mine] == [incident["id"]]
    assert operator.get(f"{API}/incidents", params={
        "asset": "urn:ngsi-ld:Streetlight:testville:L4"}).json()["items"] == []
    url = f"{API}/incidents/{incident['id']}"
    assert traffic_operator.post(f"{url}/steps", json={"step": "acknowledged"}
                                 ).status_code == 403
    for step in ("acknowledged", "dispatched", "on_site", "resolved"):
        r = operator.post(f"{url}/steps", json={"step": step, "note": f"{step} by Léa"})
        assert r.status_code == 200, r.text
    detail = operator.get(url).json()
    assert [s["step"] for s in detail["steps"]][-4:] == [
        "acknowledged", "dispatched", "on_site", "resolved"]

    # The lamps are repaired: every alarm clears by itself.
    assert device.post(f"{API}/observations", json=_readings(ok, T0 + 120_000)
                       ).status_code == 200
    assert operator.get(f"{API}/alarms", params={"state": "open"}).json()["items"] == []
    cleared = operator.get(f"{API}/alarms", params={"state": "cleared"}).json()["items"]
    assert len(cleared) == 3

    # The supervisor sees who did what; the chain holds.
    actions = [e["action"] for e in supervisor.get(f"{API}/audit", params={
        "action": "incident.", "limit": 100}).json()["items"]]
    assert actions.count("incident.step") == 4
    assert services.audit.verify().ok
