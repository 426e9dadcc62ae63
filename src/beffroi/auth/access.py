"""Route access: every route declares who may call it with ``allow(...)``.

``principal: Annotated[Principal, allow(Role.OPERATOR, Role.SUPERVISOR)]`` resolves the caller
(session cookie or ``Authorization: Bearer`` token), checks that its role in the route's
territory (the ``code`` path parameter) is one of the given roles (administrators always pass),
and gives the principal to the route. Routes without a territory check the role in any.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends

from beffroi.auth.models import SYSTEM, Principal, Role


def allow(*roles: Role) -> Any:
    """A FastAPI dependency that admits the given roles (STUB: admits everyone)."""

    def dependency() -> Principal:
        return SYSTEM

    dependency.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
    return Depends(dependency)
