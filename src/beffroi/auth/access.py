"""Route access: every route declares who may call it with ``allow(...)``.

``principal: Annotated[Principal, allow(Role.OPERATOR, Role.SUPERVISOR)]`` (or
``dependencies=[allow(...)]`` when the route does not need the principal) resolves the caller
(``Authorization: Bearer`` token first, else the session cookie), checks that its role in the
route's territory (the ``code`` path parameter) is one of the given roles, and gives the
principal to the route:

- no or invalid credentials → 401 ``unauthorized``;
- valid credentials, role not allowed in that territory (or no role there) → 403 ``forbidden``
  (also for a territory that does not exist: no probing of other tenants' codes);
- administrators of the territory always pass; superusers pass everywhere;
- routes without ``code`` check the role in any territory the principal has a grant in.

The dependency callable keeps its declaration in ``allowed_roles`` (administrator included),
``superuser_only`` and ``any_principal``, so that the access matrix test reads every route.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from beffroi.auth.models import Principal, Role
from beffroi.auth.service import SESSION_COOKIE
from beffroi.errors import Forbidden

ALL_ROLES = frozenset(Role)
# Declared for the OpenAPI document only (the "Authorize" button of /docs): the credentials
# are read by ``current_principal``.
BearerDoc = Annotated[HTTPAuthorizationCredentials | None, Depends(
    HTTPBearer(auto_error=False, description="An API token (`beffroi token create`)."))]
CookieDoc = Annotated[str | None, Depends(APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="The UI session (POST /auth/login)."))]
READERS = (Role.VIEWER, Role.FIELD_AGENT, Role.OPERATOR, Role.SUPERVISOR, Role.ADMINISTRATOR)


def current_principal(request: Request) -> Principal:
    """Authenticate the request (401 on failure), without any role check."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    auth = request.app.state.services.auth
    principal: Principal = auth.authenticate(request.headers.get("authorization"),
                                             request.cookies.get(SESSION_COOKIE))
    request.state.principal = principal
    return principal


def check(principal: Principal, roles: frozenset[Role], territory: str | None, *,
          superuser_only: bool = False, any_principal: bool = False) -> None:
    """Raise :class:`Forbidden` unless ``principal`` may call a route so declared."""
    if principal.superuser:
        return
    if superuser_only:
        raise Forbidden("only a superuser (an administrator of the installation) may do this")
    if territory is not None:
        role = principal.role_in(territory)
        if role is None:
            raise Forbidden(f"no role in territory {territory!r}")
        if role not in roles:
            raise Forbidden(f"role {role.value} may not do this in {territory!r}")
        return
    if any_principal:
        return
    if not any(g.role in roles for g in principal.grants.values()):
        raise Forbidden("no territory where your role may do this")


def allow(*roles: Role, superuser_only: bool = False, any_principal: bool = False) -> Any:
    """A FastAPI dependency that admits the given roles (administrators always).

    ``superuser_only``: installation-wide operations (creating a territory): superusers only.
    ``any_principal``: any authenticated caller, whatever its grants (``/auth/me``)."""
    allowed = frozenset() if superuser_only else (
        ALL_ROLES if any_principal else frozenset(roles) | {Role.ADMINISTRATOR})

    def dependency(request: Request, _bearer: BearerDoc, _cookie: CookieDoc) -> Principal:
        principal = current_principal(request)
        code = request.path_params.get("code")
        check(principal, allowed, code, superuser_only=superuser_only,
              any_principal=any_principal)
        return principal

    dependency.allowed_roles = allowed  # type: ignore[attr-defined]
    dependency.superuser_only = superuser_only  # type: ignore[attr-defined]
    dependency.any_principal = any_principal  # type: ignore[attr-defined]
    return Depends(dependency)


def declared_access(call: Any) -> tuple[frozenset[Role], bool, bool] | None:
    """(allowed roles, superuser_only, any_principal) if ``call`` is an ``allow`` dependency."""
    roles = getattr(call, "allowed_roles", None)
    if roles is None:
        return None
    return (frozenset(roles), bool(getattr(call, "superuser_only", False)),
            bool(getattr(call, "any_principal", False)))


def api_routes(app: Any) -> Iterator[tuple[str, str, Any]]:
    """(method, full path, dependant) of every API route of ``app``, included routers too.

    FastAPI ≥ 0.16x keeps included routers as nodes instead of copying their routes into the
    application; both shapes are walked."""
    for route in app.routes:
        if isinstance(route, APIRoute):
            for method in sorted(route.methods or ()):
                yield method, route.path, route.dependant
        elif hasattr(route, "effective_route_contexts"):
            for ctx in route.effective_route_contexts():
                original = getattr(ctx, "original_route", None)
                if not isinstance(original, APIRoute):
                    continue
                dependant = getattr(ctx, "dependant", None) or original.dependant
                for method in sorted(ctx.methods or original.methods or ()):
                    yield method, ctx.path, dependant


def route_access(dependant: Any) -> tuple[frozenset[Role], bool, bool] | None:
    """The ``allow(...)`` declaration found among a route's dependencies (searched deeply)."""
    for dep in getattr(dependant, "dependencies", []):
        found = declared_access(dep.call) or route_access(dep)
        if found:
            return found
    return None
