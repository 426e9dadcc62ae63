"""MQTT accounts and the Mosquitto files that enforce them.

Devices and gateways get an account bound to one territory: the broker lets them publish only
under ``beffroi/{territory}/``. Workers get an account that reads every territory. Beffroi
stores the accounts (passwords hashed in Mosquitto's own PBKDF2-SHA512 format) and writes
Mosquitto's ``password_file`` and ``acl_file``; reload Mosquitto (SIGHUP) after a change.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Any

from beffroi.errors import Conflict, NotFound, ValidationFailed, field_error
from beffroi.ingest import repository as repo
from beffroi.store import Store
from beffroi.timeutil import now_ms, to_iso

ROLES = ("device", "gateway", "worker")
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ITERATIONS = 20_000


def mosquitto_hash(password: str, salt: bytes | None = None, iterations: int = ITERATIONS
                   ) -> str:
    """Mosquitto 2's password hash: ``$7$<iterations>$<base64 salt>$<base64 PBKDF2-SHA512>``."""
    salt = salt or os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


class MqttAccounts:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, username: str, role: str, territory: str | None) -> str:
        """Create an account; returns its password (shown once, stored hashed)."""
        if not USERNAME_RE.match(username):
            raise ValidationFailed("bad user name", [field_error(
                "username", "letters, digits, '.', '_' and '-', 1 to 64 characters")])
        if role not in ROLES:
            raise ValidationFailed("bad role", [field_error("role", f"one of {ROLES}")])
        if (role == "worker") != (territory is None):
            raise ValidationFailed("bad territory", [field_error(
                "territory", "required for devices and gateways, not for workers")])
        password = secrets.token_urlsafe(24)
        with self.store.write() as conn:
            if any(u.username == username for u in repo.mqtt_users(conn, None, False)):
                raise Conflict(f"MQTT user {username!r} exists",
                               [field_error("username", "already used")])
            repo.insert_mqtt_user(conn, {
                "username": username, "territory": territory, "role": role,
                "password_hash": mosquitto_hash(password), "created_ms": now_ms(),
            })
        return password

    def list(self, territory: str | None = None) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rows = repo.mqtt_users(conn, territory, False)
        return [{"username": r.username, "territory": r.territory, "role": r.role,
                 "created": to_iso(int(r.created_ms)),
                 "revoked": to_iso(int(r.revoked_ms)) if r.revoked_ms else None} for r in rows]

    def revoke(self, username: str) -> None:
        with self.store.write() as conn:
            if not repo.revoke_mqtt_user(conn, username, now_ms()):
                raise NotFound(f"no active MQTT user {username!r}")

    def export(self, password_file: Path, acl_file: Path) -> int:
        """Write Mosquitto's password and ACL files for the active accounts; returns how many."""
        with self.store.read() as conn:
            users = repo.mqtt_users(conn, None, True)
        passwords = [f"{u.username}:{u.password_hash}" for u in users]
        acl = ["# Written by `beffroi mqtt-user export`: do not edit by hand.", ""]
        for u in users:
            acl.append(f"user {u.username}")
            if u.role == "worker":
                # reads every territory's data; publishes commands to equipment
                acl += ["topic read beffroi/#", "topic read $share/+/beffroi/#",
                        "topic write beffroi/+/commands/+"]
            else:  # publishes its readings and command acks; hears its territory's commands
                acl += [f"topic write beffroi/{u.territory}/#",
                        f"topic read beffroi/{u.territory}/commands/#"]
            acl.append("")
        _write_private(password_file, "\n".join(passwords) + "\n")
        _write_private(acl_file, "\n".join(acl))
        return len(users)


def _write_private(path: Path, content: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content, encoding="utf-8")
    tmp.chmod(0o640)
    tmp.replace(path)  # atomic: Mosquitto never reads half a file
