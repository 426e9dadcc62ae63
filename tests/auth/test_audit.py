"""The hash-chained audit log: appends, tampering found by verify (API, service and CLI)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from beffroi.api.deps import Services
from beffroi.auth.audit import GENESIS, entry_hash
from beffroi.auth.models import SYSTEM, GrantIn, Role, TokenIn, UserIn
from beffroi.auth.tables import audit_head, audit_log
from beffroi.cli import app as cli

runner = CliRunner()


def _fill(services: Services, n: int = 5) -> None:
    """Five entries on an empty log (no territory fixture: creating one is audited too)."""
    for i in range(n):
        with services.store.write() as conn:
            services.audit.record(conn, territory_id=None, actor="user:alice",
                                  action="test.change", target=f"thing:{i}",
                                  before={"v": i, "é": [1.5, None]}, after={"v": i + 1})


def _verify_cli(db_url: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["--database-url", db_url, "audit", "verify"])
    return result.exit_code, result.output


def test_entries_are_chained_and_verify(services: Services,
                                        db_url: str) -> None:
    _fill(services)
    with services.store.read() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).all()
    assert [r.id for r in rows] == list(range(1, 6))
    prev = GENESIS
    for r in rows:
        assert r.prev_hash == prev
        fields = {k: getattr(r, k) for k in ("id", "territory_id", "ts_ms", "actor", "action",
                                             "target", "before", "after")}
        assert entry_hash(fields, prev) == r.hash
        prev = r.hash
    result = services.audit.verify()
    assert result.ok and result.entries == 5 and result.head_hash == prev
    code, out = _verify_cli(db_url)
    assert code == 0 and "chain intact: 5 entries" in out


def test_an_empty_log_verifies(services: Services, db_url: str) -> None:
    assert services.audit.verify().ok
    code, out = _verify_cli(db_url)
    assert code == 0 and "chain intact: 0 entries" in out


def test_edited_content_is_found(services: Services, db_url: str) -> None:
    _fill(services)
    with services.store.write() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == 3).values(actor="user:mallory"))
    result = services.audit.verify()
    assert not result.ok and result.bad_id == 3 and "edited" in (result.reason or "")
    code, out = _verify_cli(db_url)
    assert code == 1 and "entry 3" in out and "edited" in out


def test_edited_before_after_is_found(services: Services) -> None:
    _fill(services)
    with services.store.write() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == 2).values(after={"v": 99}))
    assert services.audit.verify().bad_id == 2


def test_a_deleted_middle_entry_is_found(services: Services,
                                         db_url: str) -> None:
    _fill(services)
    with services.store.write() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.id == 2))
    result = services.audit.verify()
    assert not result.ok and result.bad_id == 3 and "entry 2 is missing" in (result.reason or "")
    code, out = _verify_cli(db_url)
    assert code == 1 and "entry 2 is missing" in out


def test_a_deleted_first_entry_is_found(services: Services) -> None:
    _fill(services)
    with services.store.write() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.id == 1))
    assert services.audit.verify().reason == "entry 1 is missing"


def test_a_deleted_last_entry_is_found_by_the_head(services: Services,
                                                   db_url: str) -> None:
    _fill(services)
    with services.store.write() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.id >= 4))
    result = services.audit.verify()
    assert not result.ok and result.bad_id == 4
    assert "entries 4 to 5 deleted" in (result.reason or "")
    code, out = _verify_cli(db_url)
    assert code == 1 and "entries 4 to 5 deleted" in out


def test_renumbered_or_relinked_entries_are_found(services: Services) -> None:
    _fill(services)
    # Delete entry 5 and point the head at entry 4 (its id and hash copied): the entry
    # count kept in the head still gives it away.
    with services.store.write() as conn:
        four = conn.execute(select(audit_log).where(audit_log.c.id == 4)).one()
        conn.execute(delete(audit_log).where(audit_log.c.id == 5))
        conn.execute(update(audit_head).values(last_id=4, hash=four.hash))
    result = services.audit.verify()
    assert not result.ok and "head" in (result.reason or "")
    # A whole-chain rewrite (count included) is out of reach of the database alone: the head
    # hash printed by `audit verify` must be kept elsewhere (docs/auth.md).


def test_a_relinked_entry_is_found(services: Services) -> None:
    _fill(services)
    with services.store.write() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == 4).values(prev_hash="f" * 64))
    result = services.audit.verify()
    assert result.bad_id == 4 and "prev_hash" in (result.reason or "")


def test_every_auth_change_is_audited_without_secrets(services: Services, territory: str,
                                                      client: TestClient) -> None:
    user = services.auth.create_user(UserIn(username="zoe", password="secret-pass-1"), SYSTEM)
    services.auth.set_grant(territory, user.username,
                            GrantIn(role=Role.OPERATOR, posts=["traffic"]), SYSTEM)
    services.auth.set_grant(territory, user.username, GrantIn(role=Role.VIEWER), SYSTEM)
    r = client.patch("/api/v1/users/zoe", json={"password": "another-pass-2"})
    assert r.status_code == 200
    token = services.auth.create_token(territory, TokenIn(name="gw", role=Role.DEVICE), SYSTEM)
    services.auth.revoke_token(token.id, SYSTEM)
    services.auth.remove_grant(territory, "zoe", SYSTEM)
    items, _ = services.audit.list(limit=1000)
    actions = [e["action"] for e in items]
    assert actions[-7:] == ["user.create", "grant.set", "grant.set", "user.update",
                            "token.create", "token.revoke", "grant.remove"]
    dump = repr(items)
    assert "secret-pass-1" not in dump and "another-pass-2" not in dump
    assert token.secret not in dump and "$argon2" not in dump and "secret_hash" not in dump
    grant_change = items[-5]
    assert grant_change["before"]["role"] == "operator" and grant_change["after"]["role"] == (
        "viewer")
    assert items[-4]["actor"].startswith("token:tests#")  # the API caller, by its token
    assert services.audit.verify().ok


def test_audit_route_filters_by_territory_actor_action(
        services: Services, territory: str, client: TestClient,
        as_role: Callable[..., TestClient]) -> None:
    from beffroi.assets.models import TerritoryIn

    services.registry.create_territory(TerritoryIn(code="elsewhere", name="Elsewhere"))
    services.auth.create_token("elsewhere", TokenIn(name="other", role=Role.VIEWER), SYSTEM)
    for i in range(3):
        services.auth.create_token(territory, TokenIn(name=f"gw{i}", role=Role.DEVICE), SYSTEM)
    supervisor = as_role(Role.SUPERVISOR)
    body = supervisor.get("/api/v1/territories/testville/audit",
                          params={"action": "token.*", "limit": 2}).json()
    # token 1 is the client's superuser token, 2 is elsewhere's (not shown)
    assert [e["target"] for e in body["items"]] == ["token:3", "token:4"]
    more = supervisor.get("/api/v1/territories/testville/audit",
                          params={"action": "token.", "cursor": body["next_cursor"]}).json()
    # gw2, then the supervisor's own token (created by as_role)
    assert [e["after"]["name"] for e in more["items"]] == ["gw2", "supervisor-testville"]
    assert all(e["territory_id"] != services.registry.territory_id("elsewhere")
               for e in body["items"] + more["items"])
    r = supervisor.get("/api/v1/territories/testville/audit", params={"actor": "nobody"})
    assert r.json()["items"] == []
    r = supervisor.get("/api/v1/territories/testville/audit", params={"from": "yesterday"})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "from"
    assert as_role(Role.OPERATOR).get("/api/v1/territories/testville/audit").status_code == 403


def test_cli_users_tokens_and_audit_list(db_url: str, services: Services,
                                         territory: str) -> None:
    def run(*args: str, stdin: str | None = None) -> str:
        result = runner.invoke(cli, ["--database-url", db_url, *args], input=stdin)
        assert result.exit_code == 0, result.output
        return result.output

    run("user", "add", "dora", "--password-stdin", stdin="a-long-password\n")
    run("user", "grant", "dora", "-t", "testville", "--role", "operator", "--post", "snow")
    assert "testville: operator (snow)" in run("user", "list")
    out = run("token", "create", "gw", "-t", "testville", "--role", "device")
    secret = next(line for line in out.splitlines() if line.startswith("bfr_"))
    principal = services.auth.token_principal(secret)
    assert principal is not None and principal.role_in("testville") is Role.DEVICE
    assert "gw" in run("token", "list")
    run("token", "revoke", "1")
    assert services.auth.token_principal(secret) is None
    run("user", "revoke-grant", "dora", "-t", "testville")
    out = run("audit", "list")
    for action in ("user.create", "grant.set", "token.create", "token.revoke",
                   "grant.remove"):
        assert action in out
    assert "cli:" in out
    result = runner.invoke(cli, ["--database-url", db_url, "user", "add", "x",
                                 "--password-stdin"], input="short\n")
    assert result.exit_code != 0


def test_concurrent_appends_from_two_processes_keep_one_chain(services: Services) -> None:
    """Two stores (as two processes would have: separate engines and write locks) append at
    once; the chain stays whole (SQLite: BEGIN IMMEDIATE; PostgreSQL: the advisory lock)."""
    import threading

    from beffroi.app import build_services

    other = build_services(services.settings)
    errors: list[BaseException] = []

    def append(s: Services, who: str) -> None:
        try:
            for i in range(15):
                with s.store.write() as conn:
                    s.audit.record(conn, territory_id=None, actor=who, action="test.race",
                                   target=f"n:{i}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(s, who))
               for s, who in ((services, "a"), (other, "b"))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        other.store.dispose()
    assert errors == []
    result = services.audit.verify()
    assert result.ok and result.entries == 30


def test_an_anchor_kept_elsewhere_finds_a_rewritten_chain(services: Services,
                                                          db_url: str) -> None:
    from sqlalchemy import insert

    from beffroi.auth.audit import entry_hash as rehash

    _fill(services, 3)
    code, out = _verify_cli(db_url)
    assert code == 0
    anchor = next(line for line in out.splitlines() if line.startswith("anchor: "))
    anchor = anchor.removeprefix("anchor: ")
    assert _verify_cli_anchor(db_url, anchor) == 0
    # Rewrite the whole chain consistently (entry 2 changed), head included.
    with services.store.write() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).all()
        conn.execute(delete(audit_log))
        prev = GENESIS
        for r in rows:
            fields = {k: getattr(r, k) for k in ("id", "territory_id", "ts_ms", "actor",
                                                 "action", "target", "before", "after")}
            if r.id == 2:
                fields["actor"] = "user:mallory"
            digest = rehash(fields, prev)
            conn.execute(insert(audit_log).values(**fields, prev_hash=prev, hash=digest))
            prev = digest
        conn.execute(update(audit_head).values(hash=prev))
    assert services.audit.verify().ok  # consistent on its own...
    assert _verify_cli_anchor(db_url, anchor) == 1  # ...but not with the anchor
    result = runner.invoke(cli, ["--database-url", db_url, "audit", "verify", "--anchor", "x"])
    assert result.exit_code == 2


def _verify_cli_anchor(db_url: str, anchor: str) -> int:
    return runner.invoke(cli, ["--database-url", db_url, "audit", "verify", "--anchor",
                               anchor]).exit_code


def test_values_that_are_not_plain_json_are_recorded_as_json(services: Services) -> None:
    from beffroi.auth.models import Grant

    with services.store.write() as conn:
        services.audit.record(conn, territory_id=None, actor="system:x", action="test.odd",
                              target="t", before={"nan": float("nan"), "s": {"b", "a"}},
                              after=Grant(Role.VIEWER))
    (entry,), _ = services.audit.list(action="test.odd")
    assert entry["before"] == {"nan": "nan", "s": ["a", "b"]}
    assert isinstance(entry["after"], str)
    assert services.audit.verify().ok


def test_entries_appended_in_bulk_continue_the_chain(services: Services, territory: str
                                                     ) -> None:
    from beffroi.auth.audit import AuditEntry

    services.auth.create_user(UserIn(username="solo", password="long enough pw"), SYSTEM)
    with services.store.write() as conn:
        ids = services.audit.record_many(conn, [
            AuditEntry(None, "user:x", "command.send", f"urn:{i}", None, {"i": i})
            for i in range(3)])
    assert ids == [ids[0], ids[0] + 1, ids[0] + 2]
    assert services.audit.verify().ok
    with services.store.write() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == ids[1])
                     .values(target="urn:forged"))
    verdict = services.audit.verify()
    assert not verdict.ok and verdict.bad_id == ids[1]
