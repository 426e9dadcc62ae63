"""Users (argon2 passwords), sessions, API tokens and their grants.

Secrets (session cookies, API tokens) are 256-bit random strings; only their SHA-256 is stored,
so a copy of the database lets nobody log in. Every change is audited, never with a secret or
a password hash.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from beffroi.assets.types import CONTROL_POSTS
from beffroi.auth.audit import AuditLog
from beffroi.auth.models import (
    USER_ROLES,
    Grant,
    GrantIn,
    GrantOut,
    Me,
    Principal,
    Role,
    Token,
    TokenCreated,
    TokenIn,
    User,
    UserIn,
    UserPatch,
)
from beffroi.auth.tables import api_tokens, sessions, user_grants, users
from beffroi.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
    field_error,
)
from beffroi.settings import Settings
from beffroi.store import Store
from beffroi.store.schema import territories
from beffroi.timeutil import Clock

SESSION_COOKIE = "beffroi_session"
SESSION_TTL_MS = 12 * 3600 * 1000  # sliding: every use extends it
# A session's expiry and a token's last use are written at most once a minute.
_EXTEND_AFTER_MS = 60_000
TOKEN_PREFIX = "bfr_"
MAX_FAILED_LOGINS = 5
LOCK_MS = 15 * 60 * 1000


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_posts(role: Role, posts: list[str], field: str = "posts") -> list[str]:
    """An operator names one or more control posts; other roles name none."""
    if role is Role.OPERATOR:
        if not posts:
            raise ValidationFailed("an operator needs control posts", [field_error(
                field, f"one or more of {', '.join(CONTROL_POSTS)}")])
        unknown = sorted(set(posts) - set(CONTROL_POSTS))
        if unknown:
            raise ValidationFailed("unknown control post", [field_error(
                field, f"unknown control post {unknown[0]!r}; one of {', '.join(CONTROL_POSTS)}")])
        return sorted(set(posts))
    if posts:
        raise ValidationFailed("posts are for operators", [field_error(
            field, f"a {role.value} acts for every control post; posts are for operators")])
    return []


class Auth:
    def __init__(self, store: Store, settings: Settings, audit: AuditLog, clock: Clock,
                 hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.settings = settings
        self.audit = audit
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    # --- helpers -------------------------------------------------------------------------------

    def _territory_id(self, conn: Connection, code: str) -> int:
        tid = conn.execute(select(territories.c.id).where(territories.c.code == code)
                           ).scalar_one_or_none()
        if tid is None:
            raise NotFound(f"territory {code!r} not found")
        return int(tid)

    def _user_row(self, conn: Connection, username: str) -> Row[Any]:
        row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None:
            raise NotFound(f"user {username!r} not found")
        return row

    def _grants(self, conn: Connection, user_id: int) -> dict[str, Grant]:
        rows = conn.execute(
            select(territories.c.code, user_grants.c.role, user_grants.c.posts)
            .join(territories, territories.c.id == user_grants.c.territory_id)
            .where(user_grants.c.user_id == user_id)
        ).all()
        return {r.code: Grant(Role(r.role), frozenset(r.posts or ())) for r in rows}

    def _user(self, conn: Connection, row: Row[Any], only: set[str] | None = None) -> User:
        grants = self._grants(conn, int(row.id))
        return User(
            username=row.username, display_name=row.display_name,
            superuser=bool(row.superuser), disabled=bool(row.disabled),
            created_ms=int(row.created_ms), updated_ms=int(row.updated_ms),
            grants=[GrantOut(territory=code, role=g.role, posts=sorted(g.posts))
                    for code, g in sorted(grants.items()) if only is None or code in only],
        )

    @staticmethod
    def administered(principal: Principal) -> set[str] | None:
        """Territories this principal administers; ``None`` means all (a superuser)."""
        if principal.superuser:
            return None
        return {c for c, g in principal.grants.items() if g.role is Role.ADMINISTRATOR}

    def _may_manage(self, actor: Principal, grants: dict[str, Grant], superuser: bool) -> None:
        """A territory administrator manages only users whose every grant is in territories
        it administers (otherwise a password reset would open another territory)."""
        scope = self.administered(actor)
        if scope is None:
            return
        if superuser:
            raise Forbidden("only a superuser may change a superuser")
        outside = sorted(set(grants) - scope)
        if outside:
            raise Forbidden("this user also holds roles in territories you do not administer")

    def hash_password(self, password: str) -> str:
        return self.hasher.hash(password)

    # --- users ---------------------------------------------------------------------------------

    def create_user(self, data: UserIn, actor: Principal) -> User:
        if data.superuser and not actor.superuser:
            raise Forbidden("only a superuser may create a superuser")
        now = self.clock()
        values = {
            "username": data.username, "display_name": data.display_name or data.username,
            "password_hash": self.hash_password(data.password), "superuser": data.superuser,
            "disabled": False, "failed_logins": 0, "created_ms": now, "updated_ms": now,
        }
        try:
            with self.store.write() as conn:
                conn.execute(insert(users).values(**values))
                user = self._user(conn, self._user_row(conn, data.username))
                self.audit.record(conn, territory_id=None, actor=actor.actor,
                                  action="user.create", target=f"user:{data.username}",
                                  after=user)
        except IntegrityError as exc:
            raise Conflict(f"user {data.username!r} already exists",
                           [field_error("username", "already used")]) from exc
        return user

    def get_user(self, username: str) -> User:
        with self.store.read() as conn:
            return self._user(conn, self._user_row(conn, username))

    def list_users(self, viewer: Principal) -> list[User]:
        """Every user for a superuser; for a territory administrator, the users holding a
        role in the territories it administers (with those grants only)."""
        scope = self.administered(viewer)
        with self.store.read() as conn:
            query = select(users).order_by(users.c.username)
            if scope is not None:
                query = query.where(users.c.id.in_(
                    select(user_grants.c.user_id)
                    .join(territories, territories.c.id == user_grants.c.territory_id)
                    .where(territories.c.code.in_(sorted(scope)))))
            return [self._user(conn, r, scope) for r in conn.execute(query).all()]

    def update_user(self, username: str, patch: UserPatch, actor: Principal) -> User:
        fields = patch.model_dump(exclude_unset=True)
        for name in ("display_name", "disabled", "superuser"):
            if name in fields and fields[name] is None:
                raise ValidationFailed("null value", [field_error(name, "may not be null")])
        if fields.get("password", "") is None:
            raise ValidationFailed("null value", [field_error("password", "may not be null")])
        if "superuser" in fields and not actor.superuser:
            raise Forbidden("only a superuser may change the superuser flag")
        new_hash = self.hash_password(fields.pop("password")) if "password" in fields else None
        with self.store.write() as conn:
            row = self._user_row(conn, username)
            self._may_manage(actor, self._grants(conn, int(row.id)), bool(row.superuser))
            before = self._user(conn, row)
            values: dict[str, Any] = dict(fields, updated_ms=self.clock())
            if new_hash is not None:
                values.update(password_hash=new_hash, failed_logins=0, locked_until_ms=None)
            conn.execute(update(users).where(users.c.id == row.id).values(**values))
            if new_hash is not None or fields.get("disabled"):
                conn.execute(delete(sessions).where(sessions.c.user_id == row.id))
            after = self._user(conn, self._user_row(conn, username))
            change = after.model_dump(mode="json")
            if new_hash is not None:
                change["password"] = "changed"  # the fact, never the hash
            self.audit.record(conn, territory_id=None, actor=actor.actor, action="user.update",
                              target=f"user:{username}", before=before, after=change)
        return after

    def change_password(self, principal: Principal, current: str, new: str) -> None:
        """A user changes its own password (its other sessions end)."""
        if principal.kind != "user":
            raise BadRequest("only users have a password (this is an API token)")
        with self.store.read() as conn:
            row = self._user_row(conn, principal.name)
        if not self._verify(row.password_hash, current):
            raise ValidationFailed("wrong password", [field_error(
                "current_password", "does not match")])
        new_hash = self.hash_password(new)
        with self.store.write() as conn:
            conn.execute(update(users).where(users.c.id == row.id).values(
                password_hash=new_hash, updated_ms=self.clock()))
            conn.execute(delete(sessions).where(sessions.c.user_id == row.id))
            self.audit.record(conn, territory_id=None, actor=principal.actor,
                              action="user.password", target=f"user:{principal.name}",
                              after={"password": "changed"})

    def set_grant(self, code: str, username: str, grant: GrantIn, actor: Principal) -> User:
        """Give (or change) a user's role in a territory."""
        if grant.role not in USER_ROLES:
            raise ValidationFailed("role not for users", [field_error(
                "role", f"{grant.role.value} is for API tokens; users are one of "
                        f"{', '.join(r.value for r in USER_ROLES)}")])
        posts = check_posts(grant.role, grant.posts)
        now = self.clock()
        with self.store.write() as conn:
            tid = self._territory_id(conn, code)
            row = self._user_row(conn, username)
            old = conn.execute(select(user_grants).where(
                user_grants.c.user_id == row.id, user_grants.c.territory_id == tid)).first()
            after = {"territory": code, "role": grant.role.value, "posts": posts}
            if old is None:
                conn.execute(insert(user_grants).values(
                    territory_id=tid, user_id=row.id, role=grant.role.value, posts=posts,
                    created_ms=now, updated_ms=now))
                before = None
            else:
                conn.execute(update(user_grants).where(user_grants.c.id == old.id).values(
                    role=grant.role.value, posts=posts, updated_ms=now))
                before = {"territory": code, "role": old.role, "posts": list(old.posts or [])}
            self.audit.record(conn, territory_id=tid, actor=actor.actor, action="grant.set",
                              target=f"user:{username}", before=before, after=after)
            return self._user(conn, self._user_row(conn, username))

    def remove_grant(self, code: str, username: str, actor: Principal) -> User:
        with self.store.write() as conn:
            tid = self._territory_id(conn, code)
            row = self._user_row(conn, username)
            old = conn.execute(select(user_grants).where(
                user_grants.c.user_id == row.id, user_grants.c.territory_id == tid)).first()
            if old is None:
                raise NotFound(f"user {username!r} has no role in {code!r}")
            conn.execute(delete(user_grants).where(user_grants.c.id == old.id))
            self.audit.record(conn, territory_id=tid, actor=actor.actor, action="grant.remove",
                              target=f"user:{username}",
                              before={"territory": code, "role": old.role,
                                      "posts": list(old.posts or [])})
            return self._user(conn, row)

    # --- sessions ------------------------------------------------------------------------------

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return False

    def login(self, username: str, password: str) -> tuple[str, Principal]:
        """Check a password and open a session; returns (cookie value, principal).

        After ``MAX_FAILED_LOGINS`` wrong passwords in a row the account is locked for
        ``LOCK_MS`` (audited); the answer is the same 401 as for a wrong password."""
        failure = Unauthorized("invalid username or password (accounts are locked for "
                               "15 minutes after 5 failed attempts)")
        with self.store.read() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None:
            # Spend the same time as for a wrong password (no user enumeration by timing).
            if self._dummy_hash is None:
                self._dummy_hash = self.hasher.hash(secrets.token_hex(8))
            self._verify(self._dummy_hash, password)
            raise failure
        now = self.clock()
        good = self._verify(row.password_hash, password)
        if row.locked_until_ms is not None and row.locked_until_ms > now:
            raise failure
        if not good:
            self._failed_login(int(row.id), username, now)
            raise failure
        if row.disabled:
            raise failure
        secret = secrets.token_urlsafe(32)
        with self.store.write() as conn:
            values: dict[str, Any] = {"failed_logins": 0, "locked_until_ms": None}
            if self.hasher.check_needs_rehash(row.password_hash):
                values["password_hash"] = self.hasher.hash(password)
            conn.execute(update(users).where(users.c.id == row.id).values(**values))
            conn.execute(delete(sessions).where(sessions.c.user_id == row.id,
                                                sessions.c.expires_ms <= now))
            conn.execute(insert(sessions).values(
                user_id=row.id, secret_hash=secret_hash(secret), created_ms=now,
                expires_ms=now + SESSION_TTL_MS))
            principal = self._user_principal(conn, row)
        return secret, principal

    def _failed_login(self, user_id: int, username: str, now: int) -> None:
        with self.store.write() as conn:
            failed = int(conn.execute(select(users.c.failed_logins).where(
                users.c.id == user_id)).scalar_one()) + 1
            if failed < MAX_FAILED_LOGINS:
                conn.execute(update(users).where(users.c.id == user_id)
                             .values(failed_logins=failed))
                return
            conn.execute(update(users).where(users.c.id == user_id).values(
                failed_logins=0, locked_until_ms=now + LOCK_MS))
            self.audit.record(conn, territory_id=None, actor="system:auth",
                              action="user.lock", target=f"user:{username}",
                              after={"failed_logins": failed, "locked_until_ms": now + LOCK_MS})

    def logout(self, secret: str) -> None:
        with self.store.write() as conn:
            conn.execute(delete(sessions).where(sessions.c.secret_hash == secret_hash(secret)))

    def _user_principal(self, conn: Connection, row: Row[Any]) -> Principal:
        return Principal(kind="user", name=row.username, grants=self._grants(conn, int(row.id)),
                         superuser=bool(row.superuser))

    def session_principal(self, secret: str) -> Principal | None:
        """The user of a live session (its expiry slides forward), or ``None``."""
        now = self.clock()
        with self.store.read() as conn:
            row = conn.execute(
                select(sessions.c.id.label("session_id"), sessions.c.expires_ms, users)
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.secret_hash == secret_hash(secret))).first()
            if row is None or row.disabled:
                return None
            principal = None if row.expires_ms <= now else self._user_principal(conn, row)
        if principal is None:
            with self.store.write() as conn:
                conn.execute(delete(sessions).where(sessions.c.id == row.session_id))
            return None
        if now + SESSION_TTL_MS - int(row.expires_ms) >= _EXTEND_AFTER_MS:
            with self.store.write() as conn:
                conn.execute(update(sessions).where(sessions.c.id == row.session_id)
                             .values(expires_ms=now + SESSION_TTL_MS))
        return principal

    # --- API tokens ----------------------------------------------------------------------------

    def _token(self, row: Row[Any], code: str | None) -> Token:
        return Token(
            id=int(row.id), name=row.name, territory=code,
            role=Role(row.role) if row.role else None, posts=list(row.posts or []),
            superuser=bool(row.superuser), created_by=row.created_by,
            created_ms=int(row.created_ms), expires_ms=row.expires_ms,
            revoked_ms=row.revoked_ms, last_used_ms=row.last_used_ms)

    def create_token(self, code: str | None, data: TokenIn | None, actor: Principal, *,
                     superuser_name: str | None = None) -> TokenCreated:
        """A token with one role in territory ``code``; or, with ``superuser_name`` (and no
        territory), an installation-wide superuser token (CLI and superusers only)."""
        now = self.clock()
        if superuser_name is not None:
            if not actor.superuser:
                raise Forbidden("only a superuser may create a superuser token")
            name, role, posts, expires, superuser = superuser_name, None, [], None, True
        else:
            if code is None or data is None:
                raise ValidationFailed("territory and role required", [field_error(
                    "territory", "a token has a role in one territory")])
            name, role, superuser = data.name, data.role.value, False
            posts = check_posts(data.role, data.posts)
            expires = data.expires_ms
            if expires is not None and expires <= now:
                raise ValidationFailed("expiry in the past", [field_error(
                    "expires_ms", "must be in the future")])
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.store.write() as conn:
            tid = self._territory_id(conn, code) if code is not None else None
            token_id = conn.execute(insert(api_tokens).values(
                territory_id=tid, name=name, secret_hash=secret_hash(secret), role=role,
                posts=posts, superuser=superuser, created_by=actor.actor, created_ms=now,
                expires_ms=expires).returning(api_tokens.c.id)).scalar_one()
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).one()
            token = self._token(row, code)
            self.audit.record(conn, territory_id=tid, actor=actor.actor, action="token.create",
                              target=f"token:{token_id}", after=token)
        return TokenCreated(**token.model_dump(), secret=secret)

    def list_tokens(self, code: str | None) -> list[Token]:
        """The tokens of a territory (``None``: every token, superuser tokens included)."""
        with self.store.read() as conn:
            query = select(api_tokens, territories.c.code).outerjoin(
                territories, territories.c.id == api_tokens.c.territory_id)
            if code is not None:
                query = query.where(api_tokens.c.territory_id == self._territory_id(conn, code))
            rows = conn.execute(query.order_by(api_tokens.c.id)).all()
        return [self._token(r, r.code) for r in rows]

    def revoke_token(self, token_id: int, actor: Principal, code: str | None = None) -> Token:
        """Revoke a token (of territory ``code`` when given: another's is "not found")."""
        now = self.clock()
        with self.store.write() as conn:
            query = select(api_tokens, territories.c.code).outerjoin(
                territories, territories.c.id == api_tokens.c.territory_id).where(
                api_tokens.c.id == token_id)
            if code is not None:
                query = query.where(territories.c.code == code)
            row = conn.execute(query).first()
            if row is None:
                raise NotFound(f"token {token_id} not found")
            before = self._token(row, row.code)
            if row.revoked_ms is None:
                conn.execute(update(api_tokens).where(api_tokens.c.id == token_id)
                             .values(revoked_ms=now))
            after = before.model_copy(update={"revoked_ms": row.revoked_ms or now})
            if row.revoked_ms is None:
                self.audit.record(conn, territory_id=row.territory_id, actor=actor.actor,
                                  action="token.revoke", target=f"token:{token_id}",
                                  before=before, after=after)
        return after

    def token_principal(self, secret: str) -> Principal | None:
        """The principal of a live token (not revoked, not expired), or ``None``."""
        now = self.clock()
        with self.store.read() as conn:
            row = conn.execute(
                select(api_tokens, territories.c.code).outerjoin(
                    territories, territories.c.id == api_tokens.c.territory_id)
                .where(api_tokens.c.secret_hash == secret_hash(secret))).first()
        if row is None or row.revoked_ms is not None:
            return None
        if row.expires_ms is not None and row.expires_ms <= now:
            return None
        if row.last_used_ms is None or now - int(row.last_used_ms) >= _EXTEND_AFTER_MS:
            with self.store.write() as conn:
                conn.execute(update(api_tokens).where(api_tokens.c.id == row.id)
                             .values(last_used_ms=now))
        name = f"{row.name}#{row.id}"
        if row.superuser:
            return Principal(kind="token", name=name, superuser=True)
        if row.code is None:  # its territory was deleted (the cascade removes it anyway)
            return None
        grant = Grant(Role(row.role), frozenset(row.posts or ()))
        return Principal(kind="token", name=name, grants={row.code: grant})

    def authenticate(self, authorization: str | None, cookie: str | None) -> Principal:
        """The caller of a request: ``Authorization: Bearer <token>``, else the session
        cookie. Raises :class:`Unauthorized` when neither gives a live principal."""
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise Unauthorized("expected 'Authorization: Bearer <token>'")
            principal = self.token_principal(value.strip())
            if principal is None:
                raise Unauthorized("unknown, expired or revoked token")
            return principal
        if cookie:
            principal = self.session_principal(cookie)
            if principal is None:
                raise Unauthorized("session expired; log in again")
            return principal
        raise Unauthorized("authentication required (API token or session)")


def me(principal: Principal) -> Me:
    return Me(kind=principal.kind, name=principal.name, actor=principal.actor,
              superuser=principal.superuser,
              grants=[GrantOut(territory=c, role=g.role, posts=sorted(g.posts))
                      for c, g in sorted(principal.grants.items())])
