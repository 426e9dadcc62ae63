"""Roles and the principal a request acts as (no storage here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


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


# --- what the API accepts and returns ------------------------------------------------------

USERNAME_RE = r"^[a-z0-9][a-z0-9._-]{1,63}$"
MIN_PASSWORD = 10
USER_ROLES = (Role.ADMINISTRATOR, Role.SUPERVISOR, Role.OPERATOR, Role.FIELD_AGENT, Role.VIEWER)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class PasswordChange(_Strict):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=MIN_PASSWORD, max_length=1024)


class GrantOut(BaseModel):
    territory: str
    role: Role
    posts: list[str] = Field(default_factory=list)


class Me(BaseModel):
    kind: str
    name: str
    actor: str
    superuser: bool
    grants: list[GrantOut]


class UserIn(_Strict):
    username: str = Field(pattern=USERNAME_RE,
                          description="2 to 64 characters: a-z, 0-9, '.', '_' and '-'.")
    password: str = Field(min_length=MIN_PASSWORD, max_length=1024)
    display_name: str | None = Field(None, min_length=1, max_length=200)
    superuser: bool = False


class UserPatch(_Strict):
    display_name: str | None = Field(None, min_length=1, max_length=200)
    password: str | None = Field(None, min_length=MIN_PASSWORD, max_length=1024)
    disabled: bool | None = None
    superuser: bool | None = None


class User(BaseModel):
    username: str
    display_name: str
    superuser: bool
    disabled: bool
    created_ms: int
    updated_ms: int
    grants: list[GrantOut]


class GrantIn(_Strict):
    role: Role
    posts: list[str] = Field(default_factory=list, description="Control posts of an operator.")


class TokenIn(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    role: Role
    posts: list[str] = Field(default_factory=list)
    expires_ms: int | None = Field(None, description="Expiry (epoch ms); none: never expires.")


class Token(BaseModel):
    id: int
    name: str
    territory: str | None
    role: Role | None
    posts: list[str]
    superuser: bool
    created_by: str
    created_ms: int
    expires_ms: int | None
    revoked_ms: int | None
    last_used_ms: int | None


class TokenCreated(Token):
    secret: str = Field(description="Shown once: only its SHA-256 is stored.")
