"""Every command and every outcome goes through ``AuditLog.record`` inside the write
transaction. The audit log's own storage is tested with the auth package; here a subclass
keeps what it is given (the database and broker are real)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from beffroi.api.deps import Services
from beffroi.auth.audit import AuditLog
from beffroi.auth.models import Grant, Principal, Role
from beffroi.commands.device_sim import DeviceSimulator
from beffroi.timeutil import FrozenClock
from tests.commands.conftest import needs_broker, wait_final, wait_until


class KeptAudit(AuditLog):
    def __init__(self, base: AuditLog) -> None:
        super().__init__(base.store, base.clock)
        self.entries: list[dict[str, Any]] = []

    def record(self, conn: Connection, *, territory_id: int | None, actor: str, action: str,
               target: str, before: Any = None, after: Any = None) -> None:
        assert conn.in_transaction()
        super().record(conn, territory_id=territory_id, actor=actor, action=action,
                       target=target, before=before, after=after)
        self.entries.append({"territory_id": territory_id, "actor": actor, "action": action,
                             "target": target, "before": before, "after": after})


@needs_broker
def test_send_and_outcomes_are_audited(services: Services, code: str, fleet: dict[str, Any],
                                       device: Callable[..., DeviceSimulator],
                                       clock: FrozenClock) -> None:
    audit = KeptAudit(services.commands.audit)
    services.commands.audit = audit
    device(fleet["cabinet"])
    device(fleet["lone"], silent_urns=frozenset({fleet["lone"]}))
    lea = Principal("user", "lea", {code: Grant(Role.OPERATOR, frozenset({"lighting"}))})
    batch = services.commands.send(code, lea, command="dim", params={"level": 70},
                                   urns=[fleet["cabinet"], fleet["lone"]], timeout_s=10)
    by_urn = {c.asset: c for c in batch.commands}
    tid = services.registry.territory_id(code)
    assert audit.entries[:2] == [
        {"territory_id": tid, "actor": "user:lea", "action": "command.send", "target": u,
         "before": None, "after": {"command": "dim", "params": {"level": 70},
                                   "batch_id": batch.batch_id,
                                   "correlation_id": by_urn[u].correlation_id,
                                   "deadline": by_urn[u].deadline}}
        for u in (fleet["cabinet"], fleet["lone"])]
    wait_until(lambda: any(e["action"] == "command.acknowledged" for e in audit.entries))
    clock.advance(seconds=11)
    services.commands.tick()
    wait_final(services, code, batch)
    outcomes = {(e["action"], e["target"], e["actor"]) for e in audit.entries[2:]}
    assert outcomes == {
        ("command.acknowledged", fleet["cabinet"], f"device:{fleet['cabinet']}"),
        ("command.timed_out", fleet["lone"], "system:beffroi"),
    }
