"""Rule changes reach the evaluator, are audited, and alarms handled by another process (an
API server beside the ingest worker) are respected."""

from __future__ import annotations

from fastapi.testclient import TestClient

from beffroi.api.deps import Services
from beffroi.auth.models import SYSTEM
from beffroi.rules.service import Rules
from beffroi.timeutil import FrozenClock
from tests.rules.conftest import T0, H, Rig

RULE = {
    "id": "bin-full", "name": {"fr": "Plein", "en": "Full"}, "severity": "warning",
    "scope": {"types": ["WasteContainer"]},
    "when": {"kind": "threshold", "metric": "fillingLevel", "op": ">=", "value": 0.9},
}
BASE = "/api/v1/territories/testville"


def test_a_changed_rule_is_evaluated_at_once_and_audited(
        rig: Rig, client: TestClient, services: Services) -> None:
    bin_ = rig.asset("WasteContainer", "b1")
    assert client.post(f"{BASE}/rules", json=RULE).status_code == 201
    rig.feed((bin_, "fillingLevel", T0, 0.8))
    assert rig.alarms() == []
    r = client.put(f"{BASE}/rules/bin-full",
                   json={**RULE, "when": {**RULE["when"], "value": 0.75}})
    assert r.status_code == 200
    rig.feed((bin_, "fillingLevel", T0 + H, 0.8))
    [alarm] = rig.alarms()
    assert alarm["rule_version"] == 2
    tid = services.registry.territory_id("testville")
    entries, _ = services.audit.list(territory_id=tid, action="rule.")
    assert [e["action"] for e in entries] == ["rule.create", "rule.update"]
    client.post(f"{BASE}/alarms/{alarm['id']}/acknowledge", json={"note": "ok"})
    entries, _ = services.audit.list(territory_id=tid, action="alarm.")
    assert [e["action"] for e in entries] == ["alarm.acknowledge"]


def test_alarm_cleared_by_another_process_is_not_revived(
        rig: Rig, services: Services, clock: FrozenClock) -> None:
    bin_ = rig.asset("WasteContainer", "b1")
    rig.rules("rules:\n  - id: bin-full\n    name: Full\n    severity: warning\n"
              "    scope: {types: [WasteContainer]}\n"
              "    when: {kind: threshold, metric: fillingLevel, op: '>=', value: 0.9}\n")
    rig.feed((bin_, "fillingLevel", T0, 0.95))
    [alarm] = rig.alarms()
    api = Rules(services.store, services.registry, services.telemetry, services.audit, clock)
    api.clear(rig.code, alarm["id"], SYSTEM, "emptied by hand")
    rig.feed((bin_, "fillingLevel", T0 + H, 0.97))  # the worker still thought it open
    [alarm] = rig.alarms()
    assert alarm["state"] == "cleared" and alarm["updates"] == 0
    rig.feed((bin_, "fillingLevel", T0 + 2 * H, 0.97))
    assert len(rig.alarms()) == 1  # still holding: not raised again
    rig.feed((bin_, "fillingLevel", T0 + 3 * H, 0.2), (bin_, "fillingLevel", T0 + 4 * H, 0.93))
    assert [a["state"] for a in rig.alarms()] == ["cleared", "raised"]


def test_group_with_a_threshold_member_condition(rig: Rig) -> None:
    cabinet = rig.asset("StreetlightControlCabinet", "c")
    lamps = [rig.asset("Streetlight", f"l{i}", parent=cabinet) for i in range(4)]
    rig.rules("""
rules:
  - id: cabinet-dark
    name: Lamps drawing nothing
    severity: major
    when:
      kind: group
      member: {types: [Streetlight]}
      condition: {kind: threshold, metric: activePower, op: "<", value: 5}
      count: ">= 2"
""")
    rig.feed(*[(u, "activePower", T0, 60) for u in lamps])
    rig.feed((lamps[0], "activePower", T0 + H, 0), (lamps[1], "activePower", T0 + H, 1))
    [alarm] = rig.alarms()
    assert alarm["asset"] == cabinet and alarm["value"] == 0.5


def test_bad_bodies(rig: Rig, client: TestClient) -> None:
    assert client.post(f"{BASE}/rules", json=[RULE]).status_code == 422
    r = client.post(f"{BASE}/rules/activation", json={"rules": ["nope"], "active": True})
    assert r.status_code == 404 and r.json()["details"][0]["field"] == "rules"
    r = client.post(f"{BASE}/alarms/1/acknowledge", json={"note": 3, "x": 1})
    assert r.status_code == 422
    assert client.get("/api/v1/territories/nowhere/alarms").status_code in (403, 404)


def test_tick_without_rules_does_nothing(rig: Rig, services: Services) -> None:
    services.rules.tick()
    assert rig.alarms() == []
