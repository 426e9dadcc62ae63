"""HTTP routes of the auth package (no SQL here: they call the service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from beffroi.api.deps import AuthDep, get_services, parse_time_param
from beffroi.api.responses import JSONBody
from beffroi.auth.access import allow
from beffroi.auth.models import (
    GrantIn,
    LoginIn,
    Me,
    PasswordChange,
    Principal,
    Role,
    Token,
    TokenCreated,
    TokenIn,
    User,
    UserIn,
    UserPatch,
)
from beffroi.auth.service import SESSION_COOKIE, SESSION_TTL_MS, me
from beffroi.errors import ValidationFailed, field_error

router = APIRouter()

Anyone = Annotated[Principal, allow(any_principal=True)]
Admin = Annotated[Principal, allow(Role.ADMINISTRATOR)]


@router.post("/auth/login", tags=["auth"], summary="Open a UI session (sets a cookie)")
def login(data: LoginIn, request: Request, response: Response, auth: AuthDep) -> Me:
    """Public: checks the password and sets the HttpOnly, SameSite=Lax ``beffroi_session``
    cookie (Secure over HTTPS). The session lasts 12 hours after its last use."""
    secret, principal = auth.login(data.username, data.password)
    response.set_cookie(SESSION_COOKIE, secret, max_age=SESSION_TTL_MS // 1000, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/")
    return me(principal)


@router.post("/auth/logout", status_code=204, tags=["auth"], summary="End the UI session")
def logout(request: Request, principal: Anyone, auth: AuthDep) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        auth.logout(cookie)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/auth/me", tags=["auth"], summary="Who am I: kind, name, grants")
def whoami(principal: Anyone) -> Me:
    return me(principal)


@router.post("/auth/password", status_code=204, tags=["auth"],
             summary="Change my own password (ends my sessions)")
def change_password(data: PasswordChange, principal: Anyone, auth: AuthDep) -> Response:
    auth.change_password(principal, data.current_password, data.new_password)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/users", tags=["auth"],
            summary="Users (a territory administrator sees those of its territories)")
def list_users(principal: Admin, auth: AuthDep) -> list[User]:
    return auth.list_users(principal)


@router.post("/users", status_code=201, tags=["auth"], summary="Create a user")
def create_user(data: UserIn, principal: Admin, auth: AuthDep) -> User:
    return auth.create_user(data, principal)


@router.patch("/users/{username}", tags=["auth"],
              summary="Change a user's name, password, disabled or superuser flag")
def update_user(username: str, patch: UserPatch, principal: Admin, auth: AuthDep) -> User:
    return auth.update_user(username, patch, principal)


@router.put("/territories/{code}/grants/{username}", tags=["auth"],
            summary="Give a user a role in this territory (replaces its previous one)")
def put_grant(code: str, username: str, data: GrantIn, principal: Admin, auth: AuthDep
              ) -> User:
    return auth.set_grant(code, username, data, principal)


@router.delete("/territories/{code}/grants/{username}", tags=["auth"],
               summary="Remove a user's role in this territory")
def delete_grant(code: str, username: str, principal: Admin, auth: AuthDep) -> User:
    return auth.remove_grant(code, username, principal)


@router.get("/territories/{code}/tokens", tags=["auth"], summary="API tokens of the territory")
def list_tokens(code: str, principal: Admin, auth: AuthDep) -> list[Token]:
    return auth.list_tokens(code)


@router.post("/territories/{code}/tokens", status_code=201, tags=["auth"],
             summary="Create an API token (its secret is shown once)")
def create_token(code: str, data: TokenIn, principal: Admin, auth: AuthDep) -> TokenCreated:
    return auth.create_token(code, data, principal)


@router.delete("/territories/{code}/tokens/{token_id}", tags=["auth"],
               summary="Revoke an API token")
def revoke_token(code: str, token_id: int, principal: Admin, auth: AuthDep) -> Token:
    if token_id <= 0:
        raise ValidationFailed("bad id", [field_error("token_id", "a positive integer")])
    return auth.revoke_token(token_id, principal, code)


@router.get("/territories/{code}/audit", tags=["auth"],
            summary="Audit log of the territory, oldest first")
def audit(
    code: str,
    request: Request,
    principal: Annotated[Principal, allow(Role.SUPERVISOR)],
    actor: Annotated[str | None, Query(description="e.g. user:alice, token:gw#3")] = None,
    action: Annotated[str | None, Query(
        description="Exact action, or a prefix ending with '.' or '*' (grant.*)")] = None,
    from_: Annotated[str | None, Query(alias="from", description="ISO 8601 or epoch ms")] = None,
    to: Annotated[str | None, Query(description="ISO 8601 or epoch ms (exclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int, Query(ge=0, description="next_cursor of the previous page")] = 0,
) -> JSONBody:
    services = get_services(request)
    tid = services.registry.territory_id(code)
    items, next_cursor = services.audit.list(
        territory_id=tid, actor=actor, action=action,
        since_ms=parse_time_param("from", from_) if from_ else None,
        until_ms=parse_time_param("to", to) if to else None,
        after_id=cursor, limit=limit)
    return JSONBody({"items": items, "next_cursor": next_cursor})
