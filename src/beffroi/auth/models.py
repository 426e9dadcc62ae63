"""Roles and the principal a request acts as (no storage here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    ADMINISTRATOR = "administrator"  # everything, every territory it is granted
    SUPERVISOR = "supervisor"  # every control post of a territory; rules, posts, crisis plans
    OPERATOR = "operator"  # the control posts it is granted: alarms, incidents, commands
    FIELD_AGENT = "field_agent"  # its work orders: arrival, closure notes
    VIEWER = "viewer"  # reads
    DEVICE = "device"  # machines that push data (ingest routes only)


@dataclass(frozen=True)
class Grant:
    """A role in one territory; an operator's grant names its control posts."""

    role: Role
    posts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Principal:
    """Who acts: a user (session or password), an API token, or the platform itself."""

    kind: str  # "user" | "token" | "system"
    name: str
    grants: dict[str, Grant] = field(default_factory=dict)  # territory code → grant
    superuser: bool = False  # an administrator of the installation (every territory)

    @property
    def actor(self) -> str:
        """How the audit log names this principal, e.g. ``user:alice``."""
        return f"{self.kind}:{self.name}"

    def role_in(self, territory: str) -> Role | None:
        if self.superuser:
            return Role.ADMINISTRATOR
        grant = self.grants.get(territory)
        return grant.role if grant else None

    def posts_in(self, territory: str) -> frozenset[str] | None:
        """The control posts this principal may act for; ``None`` means all of them."""
        role = self.role_in(territory)
        if role is None:
            return frozenset()
        if role is Role.OPERATOR:
            return self.grants[territory].posts
        return None


SYSTEM = Principal(kind="system", name="beffroi", superuser=True)
