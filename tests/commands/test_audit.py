"""Every command and every outcome is in the audit log, written in the command's own
transaction (read back here from the real log; its chain is tested with the auth package)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from beffroi.api.deps import Services
from beffroi.auth.models import Grant, Principal, Role
from beffroi.commands.device_sim import DeviceSimulator
from beffroi.timeutil import FrozenClock
from tests.commands.conftest import needs_broker, wait_final, wait_until


def _entries(services: Services, tid: int) -> list[dict[str, Any]]:
    entries, _ = services.audit.list(territory_id=tid, action="command.", limit=1000)
    return entries


@needs_broker
def test_send_and_outcomes_are_audited(services: Services, code: str, fleet: dict[str, Any],
                                       device: Callable[..., DeviceSimulator],
                                       clock: FrozenClock) -> None:
    device(fleet["cabinet"])
    device(fleet["lone"], silent_urns=frozenset({fleet["lone"]}))
    lea = Principal("user", "lea", {code: Grant(Role.OPERATOR, frozenset({"lighting"}))})
    batch = services.commands.send(code, lea, command="dim", params={"level": 70},
                                   urns=[fleet["cabinet"], fleet["lone"]], timeout_s=10)
    by_urn = {c.asset: c for c in batch.commands}
    tid = services.registry.territory_id(code)
    sent = [{k: e[k] for k in ("territory_id", "actor", "action", "target", "before", "after")}
            for e in _entries(services, tid)[:2]]
    assert sent == [
        {"territory_id": tid, "actor": "user:lea", "action": "command.send", "target": u,
         "before": None, "after": {"command": "dim", "params": {"level": 70},
                                   "batch_id": batch.batch_id,
                                   "correlation_id": by_urn[u].correlation_id,
                                   "deadline": by_urn[u].deadline}}
        for u in (fleet["cabinet"], fleet["lone"])]
    wait_until(lambda: any(e["action"] == "command.acknowledged"
                           for e in _entries(services, tid)))
    clock.advance(seconds=11)
    services.commands.tick()
    wait_final(services, code, batch)
    outcomes = {(e["action"], e["target"], e["actor"]) for e in _entries(services, tid)[2:]}
    assert outcomes == {
        ("command.acknowledged", fleet["cabinet"], f"device:{fleet['cabinet']}"),
        ("command.timed_out", fleet["lone"], "system:beffroi"),
    }
    assert services.audit.verify().ok
