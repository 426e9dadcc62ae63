"""Passwords, sessions (login, logout, sliding expiry) and API tokens, through the service and
the HTTP routes, on a frozen clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from beffroi.api.deps import Services
from beffroi.app import build_services, create_app
from beffroi.auth.models import SYSTEM, GrantIn, Role, TokenIn, UserIn, UserPatch
from beffroi.auth.service import SESSION_COOKIE, secret_hash
from beffroi.auth.tables import api_tokens, sessions, users
from beffroi.errors import Forbidden, Unauthorized, ValidationFailed
from beffroi.settings import Settings
from beffroi.timeutil import FrozenClock

T0 = 1_780_000_000_000
PASSWORD = "correct horse battery"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def frozen(settings: Settings, clock: FrozenClock) -> Iterator[Services]:
    services = build_services(settings, clock=clock)
    yield services
    services.store.dispose()


@pytest.fixture
def web(settings: Settings, frozen: Services, territory_frozen: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings, services=frozen, background=False)) as c:
        yield c


@pytest.fixture
def territory_frozen(frozen: Services) -> str:
    from beffroi.assets.models import TerritoryIn

    frozen.registry.create_territory(TerritoryIn(code="testville", name="Testville"))
    frozen.auth.create_user(UserIn(username="alice", password=PASSWORD,
                                   display_name="Alice A."), SYSTEM)
    frozen.auth.set_grant("testville", "alice", GrantIn(role=Role.SUPERVISOR), SYSTEM)
    return "testville"


def test_password_is_stored_as_argon2_and_checked(frozen: Services,
                                                  territory_frozen: str) -> None:
    with frozen.store.read() as conn:
        stored = conn.execute(select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    secret, principal = frozen.auth.login("alice", PASSWORD)
    assert principal.actor == "user:alice" and principal.role_in("testville") is Role.SUPERVISOR
    with pytest.raises(Unauthorized):
        frozen.auth.login("alice", PASSWORD + "!")
    with pytest.raises(Unauthorized):
        frozen.auth.login("nobody", PASSWORD)
    # Only the SHA-256 of the session secret is stored.
    with frozen.store.read() as conn:
        hashes = conn.execute(select(sessions.c.secret_hash)).scalars().all()
    assert hashes == [secret_hash(secret)]


def test_bad_user_input_is_a_validation_error(web: TestClient, frozen: Services) -> None:
    token = frozen.auth.create_token(None, None, SYSTEM, superuser_name="root").secret
    h = {"Authorization": f"Bearer {token}"}
    r = web.post("/api/v1/users", json={"username": "Bad Name", "password": "short"}, headers=h)
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["details"]} == {"username", "password"}
    r = web.post("/api/v1/users", json={"username": "alice", "password": "x" * 12}, headers=h)
    assert r.status_code == 409 and r.json()["details"][0]["field"] == "username"
    r = web.put("/api/v1/territories/testville/grants/alice",
                json={"role": "operator"}, headers=h)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "posts"
    r = web.put("/api/v1/territories/testville/grants/alice",
                json={"role": "operator", "posts": ["moon"]}, headers=h)
    assert r.status_code == 422 and "moon" in r.json()["details"][0]["reason"]
    r = web.put("/api/v1/territories/testville/grants/alice",
                json={"role": "device"}, headers=h)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "role"
    r = web.put("/api/v1/territories/nowhere/grants/alice", json={"role": "viewer"}, headers=h)
    assert r.status_code == 404
    r = web.post("/api/v1/territories/testville/tokens",
                 json={"name": "gw", "role": "device", "expires_ms": T0 - 1}, headers=h)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "expires_ms"


def test_login_cookie_me_logout(web: TestClient) -> None:
    assert web.get("/api/v1/auth/me").status_code == 401
    r = web.post("/api/v1/auth/login", json={"username": "alice", "password": "wrong"})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert r.json()["message"].startswith("invalid username or password")
    r = web.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200
    assert r.json()["grants"] == [{"territory": "testville", "role": "supervisor", "posts": []}]
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and SESSION_COOKIE in cookie
    assert web.get("/api/v1/auth/me").json()["actor"] == "user:alice"
    assert web.get("/api/v1/territories/testville/audit").status_code == 200
    assert web.get("/api/v1/territories/testville/tokens").status_code == 403  # admin only
    stolen = web.cookies.get(SESSION_COOKIE)
    assert web.post("/api/v1/auth/logout").status_code == 204
    assert web.get("/api/v1/auth/me").status_code == 401
    # The old cookie value is dead on the server side too.
    assert stolen
    r = web.get("/api/v1/auth/me", headers={"Cookie": f"{SESSION_COOKIE}={stolen}"})
    assert r.status_code == 401


def test_session_expires_after_12_idle_hours_and_slides_with_use(
        web: TestClient, clock: FrozenClock) -> None:
    assert web.post("/api/v1/auth/login",
                    json={"username": "alice", "password": PASSWORD}).status_code == 200
    clock.advance(hours=11)
    assert web.get("/api/v1/auth/me").status_code == 200  # used: 12 more hours from now
    clock.advance(hours=11)
    assert web.get("/api/v1/auth/me").status_code == 200
    clock.advance(hours=12, seconds=1)
    r = web.get("/api/v1/auth/me")
    assert r.status_code == 401 and "expired" in r.json()["message"]


def test_disabling_a_user_ends_its_sessions(web: TestClient, frozen: Services) -> None:
    assert web.post("/api/v1/auth/login",
                    json={"username": "alice", "password": PASSWORD}).status_code == 200
    frozen.auth.update_user("alice", UserPatch(disabled=True), SYSTEM)
    assert web.get("/api/v1/auth/me").status_code == 401
    r = web.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 401


def test_change_own_password(web: TestClient, frozen: Services) -> None:
    web.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    r = web.post("/api/v1/auth/password", json={"current_password": "nope",
                                                "new_password": "n" * 12})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "current_password"
    assert web.post("/api/v1/auth/password", json={
        "current_password": PASSWORD, "new_password": "n" * 12}).status_code == 204
    assert web.get("/api/v1/auth/me").status_code == 401
    with pytest.raises(Unauthorized):
        frozen.auth.login("alice", PASSWORD)
    assert frozen.auth.login("alice", "n" * 12)[1].name == "alice"


def test_tokens_revoked_and_expired_are_refused(web: TestClient, frozen: Services,
                                                clock: FrozenClock) -> None:
    root = frozen.auth.create_token(None, None, SYSTEM, superuser_name="root").secret
    h = {"Authorization": f"Bearer {root}"}
    r = web.post("/api/v1/territories/testville/tokens", headers=h, json={
        "name": "gw", "role": "device", "expires_ms": T0 + 3_600_000})
    assert r.status_code == 201
    created = r.json()
    assert created["secret"].startswith("bfr_")
    listed = web.get("/api/v1/territories/testville/tokens", headers=h).json()
    assert "secret" not in listed[-1] and listed[-1]["name"] == "gw"
    with frozen.store.read() as conn:
        stored = conn.execute(select(api_tokens.c.secret_hash)
                              .where(api_tokens.c.id == created["id"])).scalar_one()
    assert stored == secret_hash(created["secret"])
    dev = {"Authorization": f"Bearer {created['secret']}"}
    body = {"readings": []}
    assert web.post("/api/v1/territories/testville/observations", json=body,
                    headers=dev).status_code != 401
    assert web.get("/api/v1/territories/testville/assets", headers=dev).status_code == 403
    listed = web.get("/api/v1/territories/testville/tokens", headers=h).json()
    assert listed[-1]["last_used_ms"] == T0
    clock.advance(hours=1)
    r = web.post("/api/v1/territories/testville/observations", json=body, headers=dev)
    assert r.status_code == 401 and "expired" in r.json()["message"]

    second = frozen.auth.create_token("testville", TokenIn(name="gw2", role=Role.DEVICE), SYSTEM)
    dev2 = {"Authorization": f"Bearer {second.secret}"}
    assert web.post("/api/v1/territories/testville/observations", json=body,
                    headers=dev2).status_code != 401
    r = web.delete(f"/api/v1/territories/testville/tokens/{second.id}", headers=h)
    assert r.status_code == 200 and r.json()["revoked_ms"] == clock()
    r = web.post("/api/v1/territories/testville/observations", json=body, headers=dev2)
    assert r.status_code == 401 and "revoked" in r.json()["message"]
    assert web.get("/api/v1/auth/me", headers={"Authorization": "Basic abc"}).status_code == 401
    assert web.get("/api/v1/auth/me",
                   headers={"Authorization": "Bearer bfr_unknown"}).status_code == 401


def test_401_without_credentials_403_with_the_wrong_role(web: TestClient,
                                                         frozen: Services) -> None:
    viewer = frozen.auth.create_token("testville", TokenIn(name="v", role=Role.VIEWER), SYSTEM)
    h = {"Authorization": f"Bearer {viewer.secret}"}
    url = "/api/v1/territories/testville/assets"
    assert web.get(url).status_code == 401
    assert web.get(url, headers=h).status_code == 200
    r = web.post(url, headers=h, json={})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    # A territory that does not exist is 403 too for a non-superuser (no probing).
    assert web.get("/api/v1/territories/ghost/assets", headers=h).status_code == 403


def test_territory_administrators_manage_only_their_users(frozen: Services,
                                                         territory_frozen: str) -> None:
    from beffroi.assets.models import TerritoryIn

    frozen.registry.create_territory(TerritoryIn(code="other", name="Other"))
    admin = frozen.auth.create_user(UserIn(username="adm", password="a" * 12), SYSTEM)
    frozen.auth.set_grant("other", admin.username, GrantIn(role=Role.ADMINISTRATOR), SYSTEM)
    _, adm = frozen.auth.login("adm", "a" * 12)
    with pytest.raises(Forbidden):  # alice is supervisor of testville, not adm's territory
        frozen.auth.update_user("alice", UserPatch(password="p" * 12), adm)
    with pytest.raises(Forbidden):
        frozen.auth.create_user(UserIn(username="boss", password="b" * 12, superuser=True),
                                adm)
    carol = frozen.auth.create_user(UserIn(username="carol", password="c" * 12), adm)
    frozen.auth.set_grant("other", carol.username, GrantIn(
        role=Role.OPERATOR, posts=["snow"]), adm)
    assert [u.username for u in frozen.auth.list_users(adm)] == ["adm", "carol"]
    assert frozen.auth.update_user("carol", UserPatch(display_name="Carol"), adm
                                   ).display_name == "Carol"
    with pytest.raises(ValidationFailed):
        frozen.auth.update_user("carol", UserPatch.model_validate({"disabled": None}), adm)


def test_five_wrong_passwords_lock_the_account_for_15_minutes(
        frozen: Services, territory_frozen: str, clock: FrozenClock) -> None:
    for _ in range(4):
        with pytest.raises(Unauthorized):
            frozen.auth.login("alice", "wrong")
    assert frozen.auth.login("alice", PASSWORD)  # a success resets the count
    for _ in range(5):
        with pytest.raises(Unauthorized):
            frozen.auth.login("alice", "wrong")
    with pytest.raises(Unauthorized):  # locked: even the right password is refused
        frozen.auth.login("alice", PASSWORD)
    items, _ = frozen.audit.list(action="user.lock")
    assert [e["target"] for e in items] == ["user:alice"]
    clock.advance(minutes=15, seconds=1)
    assert frozen.auth.login("alice", PASSWORD)[1].name == "alice"
