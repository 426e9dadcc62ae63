"""The access matrix: every API route of the application (those added later included) is
called with a token of every role, and must answer as its ``allow(...)`` declaration says;
and territory isolation: an administrator of one territory can do nothing in another."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.testclient import TestClient

from beffroi.api.deps import Services
from beffroi.assets.models import TerritoryIn
from beffroi.auth.access import api_routes, route_access
from beffroi.auth.models import SYSTEM, Grant, GrantIn, Role, TokenIn, UserIn

PUBLIC = {("POST", "/api/v1/auth/login")}  # the only public route under /api/v1
DUMMY = {"code": "testville", "urn": "urn:ngsi-ld:Streetlight:testville:nope",
         "metric": "activePower", "username": "nobody"}
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    roles: frozenset[Role] | None  # None: no allow() declaration found
    superuser_only: bool

    def url(self, code: str) -> str:
        def fill(m: re.Match[str]) -> str:
            name = m.group(1)
            if name == "code":
                return code
            if name in DUMMY:
                return DUMMY[name]
            return "999999" if name == "id" or name.endswith("_id") else "x"

        return PARAM.sub(fill, self.path)


def endpoints(app: FastAPI) -> Iterator[Endpoint]:
    for method, path, dependant in api_routes(app):
        decl = route_access(dependant)
        yield Endpoint(method, path, decl[0] if decl else None, decl[1] if decl else False)


def _api(app: FastAPI) -> list[Endpoint]:
    found = [e for e in endpoints(app)
             if e.path.startswith("/api/v1/") and (e.method, e.path) not in PUBLIC]
    # Destructive calls last, so that reads and writes run on a live territory.
    return sorted(found, key=lambda e: e.method == "DELETE")


def test_every_api_route_declares_who_may_call_it(app: FastAPI) -> None:
    routes = _api(app)
    assert len(routes) > 30
    undeclared = [f"{e.method} {e.path}" for e in routes if e.roles is None]
    assert undeclared == [], f"routes without allow(...): {undeclared}"
    public = [e for e in endpoints(app) if (e.method, e.path) in PUBLIC]
    assert public and all(e.roles is None for e in public)


_R = frozenset({Role.VIEWER, Role.FIELD_AGENT, Role.OPERATOR, Role.SUPERVISOR,
                Role.ADMINISTRATOR})
_A = frozenset({Role.ADMINISTRATOR})
_SA = frozenset({Role.SUPERVISOR, Role.ADMINISTRATOR})
_D = frozenset({Role.DEVICE, Role.ADMINISTRATOR})
_ALL = frozenset(Role)
_T = "/api/v1/territories/{code}"
# The policy decided for the routes of the registry, telemetry, ingest and auth (docs/auth.md).
# A change of any of these declarations must be deliberate: it fails here.
POLICY: dict[tuple[str, str], frozenset[Role]] = {
    ("GET", "/api/v1/types"): _R,
    ("GET", "/api/v1/territories"): _R,
    ("POST", "/api/v1/territories"): frozenset(),  # superusers only
    ("GET", _T): _R, ("PATCH", _T): _A, ("DELETE", _T): _A,
    ("GET", f"{_T}/assets"): _R, ("POST", f"{_T}/assets"): _SA,
    ("GET", f"{_T}/assets/{{urn}}"): _R, ("PATCH", f"{_T}/assets/{{urn}}"): _SA,
    ("DELETE", f"{_T}/assets/{{urn}}"): _SA,
    ("GET", f"{_T}/assets/{{urn}}/series"): _R, ("POST", f"{_T}/assets/{{urn}}/series"): _SA,
    ("GET", f"{_T}/latest"): _R, ("POST", f"{_T}/latest/query"): _R,
    ("GET", f"{_T}/assets/{{urn}}/series/{{metric}}/history"): _R,
    ("POST", f"{_T}/observations"): _D, ("POST", f"{_T}/lorawan/chirpstack"): _D,
    ("POST", f"{_T}/lorawan/tts"): _D, ("POST", f"{_T}/ngsi-ld/entities"): _D,
    ("GET", f"{_T}/dead-letters"): _SA, ("GET", f"{_T}/dead-letters/counts"): _SA,
    ("POST", f"{_T}/dead-letters/{{letter_id}}/replay"): _A,
    ("POST", "/api/v1/auth/logout"): _ALL, ("GET", "/api/v1/auth/me"): _ALL,
    ("POST", "/api/v1/auth/password"): _ALL,
    ("GET", "/api/v1/users"): _A, ("POST", "/api/v1/users"): _A,
    ("PATCH", "/api/v1/users/{username}"): _A,
    ("PUT", f"{_T}/grants/{{username}}"): _A, ("DELETE", f"{_T}/grants/{{username}}"): _A,
    ("GET", f"{_T}/tokens"): _A, ("POST", f"{_T}/tokens"): _A,
    ("DELETE", f"{_T}/tokens/{{token_id}}"): _A,
    ("GET", f"{_T}/audit"): _SA,
}


def test_declarations_follow_the_documented_policy(app: FastAPI) -> None:
    declared = {(e.method, e.path): e.roles for e in _api(app)}
    for key, roles in POLICY.items():
        assert key in declared, f"{key} is gone"
        assert declared[key] == roles, f"{key}: {declared[key]} declared, policy {roles}"


def test_health_and_metrics_stay_public(anonymous: TestClient) -> None:
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/metrics").status_code == 200


def test_every_route_refuses_anonymous_callers(app: FastAPI, anonymous: TestClient,
                                               territory: str) -> None:
    for e in _api(app):
        r = anonymous.request(e.method, e.url(territory), json={})
        assert r.status_code == 401, f"{e.method} {e.path}: {r.status_code}"
        assert r.json()["error"] == "unauthorized"


def test_the_matrix_every_route_every_role(app: FastAPI, services: Services, territory: str,
                                           token_for: Callable[..., str]) -> None:
    tokens: dict[Role, str] = {}

    def ensure_territory() -> None:
        # An administrator may delete the territory (DELETE /territories/{code}): start over.
        _, created = services.registry.ensure_territory(TerritoryIn(code=territory,
                                                                    name="Testville"))
        if created or not tokens:
            tokens.update({role: token_for(role, territory) for role in Role})

    problems = []
    checked = 0
    with TestClient(app, raise_server_exceptions=False) as c:
        for e in _api(app):
            assert e.roles is not None
            for role in Role:
                ensure_territory()
                r = c.request(e.method, e.url(territory), json={},
                              headers={"Authorization": f"Bearer {tokens[role]}"})
                allowed = role in e.roles and not e.superuser_only
                checked += 1
                if r.status_code >= 500:
                    problems.append(f"{e.method} {e.path} as {role}: {r.status_code} {r.text}")
                elif allowed and r.status_code in (401, 403):
                    problems.append(f"{e.method} {e.path} as {role}: {r.status_code} but "
                                    f"declared allowed ({r.text})")
                elif not allowed and r.status_code != 403:
                    problems.append(f"{e.method} {e.path} as {role}: {r.status_code}, "
                                    f"expected 403")
                elif not allowed:
                    assert r.json()["error"] == "forbidden"
    assert problems == []
    assert checked >= 30 * len(Role)


def test_isolation_administrator_of_one_territory_can_do_nothing_in_another(
        app: FastAPI, services: Services, territory: str, as_role: Callable[..., TestClient],
        client: TestClient) -> None:
    services.registry.create_territory(TerritoryIn(code="alpha", name="Alpha"))
    # Things of testville an admin of alpha must not see.
    assert client.post("/api/v1/territories/testville/assets", json={
        "id": "urn:ngsi-ld:Streetlight:testville:L1", "type": "Streetlight",
        "geometry": {"type": "Point", "coordinates": [-1.55, 47.21]}}).status_code == 201
    bob = services.auth.create_user(UserIn(username="bob", password="b" * 12), SYSTEM)
    services.auth.set_grant("testville", bob.username, GrantIn(role=Role.VIEWER), SYSTEM)
    tv_token = client.post("/api/v1/territories/testville/tokens",
                           json={"name": "gw", "role": "device"}).json()

    alpha_admin = as_role(Role.ADMINISTRATOR, "alpha")
    checked = 0
    for e in _api(app):
        if "{code}" not in e.path:
            continue
        checked += 1
        r = alpha_admin.request(e.method, e.url(territory), json={})
        assert r.status_code == 403, f"{e.method} {e.path}: {r.status_code} {r.text}"
    assert checked > 25

    # Lists without a territory in their path do not leak testville.
    codes = [t["code"] for t in alpha_admin.get("/api/v1/territories").json()["items"]]
    assert codes == ["alpha"]
    assert alpha_admin.get("/api/v1/users").json() == []
    # ... nor may it change testville's users or tokens by other paths.
    assert alpha_admin.patch("/api/v1/users/bob", json={"password": "x" * 12}
                             ).status_code == 403
    assert alpha_admin.delete(f"/api/v1/territories/alpha/tokens/{tv_token['id']}"
                              ).status_code == 404
    assert client.get("/api/v1/territories/testville/assets").json()["items"]
    # The superuser sees both.
    codes = {t["code"] for t in client.get("/api/v1/territories").json()["items"]}
    assert codes == {"alpha", "testville"}


def test_territory_list_pages_the_granted_territories(services: Services,
                                                      as_role: Callable[..., TestClient],
                                                      app: FastAPI) -> None:
    for code in ("t-a", "t-b", "t-c", "t-d"):
        services.registry.create_territory(TerritoryIn(code=code, name=code))
    user = services.auth.create_user(UserIn(username="multi", password="m" * 12), SYSTEM)
    for code in ("t-a", "t-c", "t-d"):
        services.auth.set_grant(code, user.username, GrantIn(role=Role.VIEWER), SYSTEM)
    with TestClient(app) as c:
        assert c.post("/api/v1/auth/login", json={"username": "multi",
                                                  "password": "m" * 12}).status_code == 200
        first = c.get("/api/v1/territories", params={"limit": 2}).json()
        assert [t["code"] for t in first["items"]] == ["t-a", "t-c"]
        second = c.get("/api/v1/territories",
                       params={"limit": 2, "cursor": first["next_cursor"]}).json()
        assert [t["code"] for t in second["items"]] == ["t-d"]
        assert second["next_cursor"] is None


def test_operator_grant_carries_its_posts(services: Services, territory: str) -> None:
    token = services.auth.create_token(territory, TokenIn(
        name="op", role=Role.OPERATOR, posts=["traffic", "snow"]), SYSTEM)
    principal = services.auth.token_principal(token.secret)
    assert principal is not None
    assert principal.grants == {territory: Grant(Role.OPERATOR, frozenset({"snow", "traffic"}))}
    assert principal.posts_in(territory) == frozenset({"snow", "traffic"})
    assert principal.posts_in("elsewhere") == frozenset()
