"""The audit log: every change and command (who, what, when, before/after), append-only and
hash-chained so that ``beffroi audit verify`` finds an edited or deleted entry.

Each entry's ``hash`` is the SHA-256 of the canonical JSON of its fields (id, territory,
time, actor, action, target, before, after) and of ``prev_hash``, the hash of the entry
before it (64 zeros for the first). Editing an entry changes its hash; deleting or reordering
entries breaks the ``prev_hash`` links and the consecutive ids. The deletion of the *last*
entries leaves no broken link, so a one-row ``audit_head`` (count, last id, last hash) is
updated in the same transaction as every append and compared at the end of a walk.

Appends are serialised: SQLite writes already are (``BEGIN IMMEDIATE``); on PostgreSQL the
writer takes a transaction-scoped advisory lock before reading the head.

What it does not protect against: someone with write access to the database who rewrites
the whole chain from the tampered entry on, head included. Keep the head hash printed by
``beffroi audit verify`` somewhere else (a ticket, a signed e-mail) to anchor it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import Connection, Row

from beffroi.auth.tables import audit_head, audit_log
from beffroi.store import Store
from beffroi.timeutil import Clock, to_iso

GENESIS = "0" * 64
_LOCK_KEY = 0x62656666726F69  # "beffroi": the advisory lock of audit appends (PostgreSQL)
_FIELDS = ("id", "territory_id", "ts_ms", "actor", "action", "target", "before", "after")


def jsonable(value: Any) -> Any:
    """A value as plain JSON data (pydantic models dumped, sets sorted, other types as text)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")

    def default(obj: Any) -> Any:
        if isinstance(obj, (set, frozenset)):
            return sorted(obj, key=str)
        if hasattr(obj, "model_dump"):
            return obj.model_dump(mode="json")
        return str(obj)

    def finite(obj: Any) -> Any:  # NaN and infinities are not JSON: kept as text
        if isinstance(obj, float) and not math.isfinite(obj):
            return str(obj)
        if isinstance(obj, dict):
            return {k: finite(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [finite(v) for v in obj]
        return obj

    return finite(json.loads(json.dumps(value, default=default)))


def entry_hash(entry: dict[str, Any], prev_hash: str) -> str:
    content = {k: entry[k] for k in _FIELDS}
    content["prev_hash"] = prev_hash
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """One change to append (see :meth:`AuditLog.record`)."""

    territory_id: int | None
    actor: str
    action: str
    target: str
    before: Any = None
    after: Any = None


@dataclass(frozen=True)
class Verification:
    """The result of a walk of the chain: ``ok``, how many entries, and the first problem."""

    ok: bool
    entries: int
    head_hash: str
    bad_id: int | None = None
    reason: str | None = None

    def summary(self) -> str:
        if self.ok:
            return f"chain intact: {self.entries} entries"
        where = f"entry {self.bad_id}" if self.bad_id is not None else "chain head"
        return f"chain broken at {where}: {self.reason}"


def entry_dict(row: Row[Any]) -> dict[str, Any]:
    """An entry as the API shows it."""
    return {
        "id": int(row.id), "territory_id": row.territory_id, "ts_ms": int(row.ts_ms),
        "time": to_iso(int(row.ts_ms)), "actor": row.actor, "action": row.action,
        "target": row.target, "before": row.before, "after": row.after, "hash": row.hash,
    }


class AuditLog:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def record(self, conn: Connection, *, territory_id: int | None, actor: str, action: str,
               target: str, before: Any = None, after: Any = None) -> int:
        """Append one entry inside the caller's write transaction; returns its id.

        ``before``/``after`` are the state of the target around the change (any JSON-able
        value or pydantic model; never put secrets or password hashes here)."""
        return self.record_many(conn, [AuditEntry(territory_id, actor, action, target, before,
                                                  after)])[0]

    def record_many(self, conn: Connection, entries: Sequence[AuditEntry]) -> list[int]:
        """Append several entries in order (a command to 5,000 lamps): one head read, one
        bulk insert and one head update instead of three statements per entry."""
        if not entries:
            return []
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).first()
        count, last_id, prev = (int(head.entries), int(head.last_id), head.hash) if head else (
            0, 0, GENESIS)
        now = int(self.clock())
        rows: list[dict[str, Any]] = []
        for e in entries:
            last_id += 1
            entry: dict[str, Any] = {
                "id": last_id, "territory_id": e.territory_id, "ts_ms": now, "actor": e.actor,
                "action": e.action, "target": e.target, "before": jsonable(e.before),
                "after": jsonable(e.after),
            }
            digest = entry_hash(entry, prev)
            rows.append({**entry, "prev_hash": prev, "hash": digest})
            prev = digest
        conn.execute(insert(audit_log), rows)
        values = {"entries": count + len(rows), "last_id": last_id, "hash": prev}
        if head:
            conn.execute(update(audit_head).where(audit_head.c.id == 1).values(**values))
        else:
            conn.execute(insert(audit_head).values(id=1, **values))
        return [int(r["id"]) for r in rows]

    def list(self, *, territory_id: int | None = None, actor: str | None = None,
             action: str | None = None, since_ms: int | None = None,
             until_ms: int | None = None, after_id: int = 0, limit: int = 100,
             ) -> tuple[list[dict[str, Any]], int | None]:
        """Entries oldest first, filtered; returns (entries, next cursor or None).

        ``action`` ending in ``.`` or ``*`` matches a prefix (``user.`` → every user action)."""
        query = select(audit_log).where(audit_log.c.id > after_id)
        if territory_id is not None:
            query = query.where(audit_log.c.territory_id == territory_id)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        if action is not None:
            if action.endswith(("*", ".")):
                query = query.where(audit_log.c.action.startswith(action.rstrip("*"),
                                                                  autoescape=True))
            else:
                query = query.where(audit_log.c.action == action)
        if since_ms is not None:
            query = query.where(audit_log.c.ts_ms >= since_ms)
        if until_ms is not None:
            query = query.where(audit_log.c.ts_ms < until_ms)
        with self.store.read() as conn:
            rows = conn.execute(query.order_by(audit_log.c.id).limit(limit + 1)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return [entry_dict(r) for r in rows], (int(rows[-1].id) if more and rows else None)

    def _walk(self, conn: Connection, batch: int = 1000) -> Iterator[Row[Any]]:
        last = -1
        while True:
            rows = conn.execute(select(audit_log).where(audit_log.c.id > last)
                                .order_by(audit_log.c.id).limit(batch)).all()
            yield from rows
            if len(rows) < batch:
                return
            last = int(rows[-1].id)

    def verify(self, anchor: tuple[int, str] | None = None) -> Verification:
        """Walk the whole chain and report the first entry that does not hold.

        ``anchor`` = (entry id, hash) kept outside the database (from an earlier verify): that
        entry must still exist with that hash, which a rewrite of the whole chain cannot
        keep."""
        verdict = self._verify()
        if anchor is None or not verdict.ok:
            return verdict
        anchor_id, anchor_hash = anchor
        with self.store.read() as conn:
            stored = conn.execute(select(audit_log.c.hash).where(audit_log.c.id == anchor_id)
                                  ).scalar_one_or_none()
        if stored is None:
            return Verification(False, verdict.entries, verdict.head_hash, anchor_id,
                                "the anchored entry no longer exists")
        if stored != anchor_hash:
            return Verification(False, verdict.entries, verdict.head_hash, anchor_id,
                                "hash differs from the anchor (the chain was rewritten)")
        return verdict

    def _verify(self) -> Verification:
        with self.store.read() as conn:
            head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).first()
            prev, expected_id, n = GENESIS, 1, 0
            for row in self._walk(conn):
                entry = {k: getattr(row, k) for k in _FIELDS}
                rid = int(row.id)
                if rid != expected_id:
                    missing = (f"entry {expected_id} is missing" if rid > expected_id
                               else "ids out of order")
                    return Verification(False, n, prev, rid, missing)
                if row.prev_hash != prev:
                    return Verification(False, n, prev, rid,
                                        "prev_hash does not match the entry before it")
                if entry_hash(entry, prev) != row.hash:
                    return Verification(False, n, prev, rid,
                                        "content edited (its hash does not match)")
                prev, expected_id, n = row.hash, rid + 1, n + 1
        if head is None:
            if n:
                return Verification(False, n, prev, None,
                                    f"head row missing while {n} entries exist")
            return Verification(True, 0, GENESIS)
        if int(head.entries) != n or int(head.last_id) != expected_id - 1 or head.hash != prev:
            if int(head.last_id) > expected_id - 1:
                return Verification(
                    False, n, prev, expected_id,
                    f"entries {expected_id} to {int(head.last_id)} deleted (the head records "
                    f"{int(head.entries)} entries ending at id {int(head.last_id)})")
            return Verification(False, n, prev, None,
                                "head does not match the last entry (head edited)")
        return Verification(True, n, prev)

    def count(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
