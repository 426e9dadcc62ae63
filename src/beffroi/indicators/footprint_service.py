"""The footprint and retention service: what the API and the CLI call (no SQL in routes).

Built once with ``Footprint(store, registry, audit, clock)``; every change is audited.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from beffroi.assets.service import Registry
from beffroi.auth.audit import AuditLog
from beffroi.errors import ValidationFailed, field_error
from beffroi.indicators import footprint as fp
from beffroi.indicators import retention as rt
from beffroi.store import Store
from beffroi.timeutil import Clock

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class Footprint:
    def __init__(self, store: Store, registry: Registry, audit: AuditLog, clock: Clock) -> None:
        self.store = store
        self.registry = registry
        self.audit = audit
        self.clock = clock
        self._last_purge_ms: int | None = None

    # --- factors -------------------------------------------------------------------------------

    def factors_of(self, territory_id: int) -> fp.Factors:
        with self.store.read() as conn:
            return fp.load_factors(fp.get_overrides(conn, territory_id))

    def factors(self, code: str) -> list[dict[str, Any]]:
        """Every factor in force in the territory (value, unit, source, overridden)."""
        return [f.to_dict() for f in self.factors_of(self.registry.territory_id(code))]

    def set_factor(self, code: str, key: str, value: Any, source: Any, actor: str
                   ) -> dict[str, Any]:
        tid = self.registry.territory_id(code)
        key, number, text_ = fp.validate_override(key, value, source)
        with self.store.write() as conn:
            before = fp.set_override(conn, tid, key, number, text_, actor, self.clock())
            self.audit.record(conn, territory_id=tid, actor=actor, action="footprint.factor.set",
                              target=f"footprint_factor:{key}",
                              before=None if before is None else
                              {"value": before[0], "source": before[1]},
                              after={"value": number, "source": text_})
        return self.factors_of(tid).factor(key).to_dict()

    def reset_factor(self, code: str, key: str, actor: str) -> dict[str, Any]:
        """Remove a territory's override: the shipped default applies again."""
        tid = self.registry.territory_id(code)
        if key not in fp.default_factors():
            raise ValidationFailed("invalid footprint factor",
                                   [field_error("key", f"unknown factor {key!r}")])
        with self.store.write() as conn:
            before = fp.delete_override(conn, tid, key)
            if before is not None:
                self.audit.record(conn, territory_id=tid, actor=actor,
                                  action="footprint.factor.reset",
                                  target=f"footprint_factor:{key}",
                                  before={"value": before[0], "source": before[1]})
        return self.factors_of(tid).factor(key).to_dict()

    # --- estimate ------------------------------------------------------------------------------

    def month_window(self, code: str, month: str) -> tuple[int, int]:
        """[start, end) of a calendar month (``2026-11``) in the territory's time zone."""
        m = _MONTH.match(month or "")
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise ValidationFailed("invalid month", [field_error(
                "month", f"{month!r} is not a month such as 2026-11")])
        zone = ZoneInfo(self.registry.territory_row(code).timezone)
        year, mon = int(m.group(1)), int(m.group(2))
        start = datetime(year, mon, 1, tzinfo=zone)
        end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=zone)
        return int(start.timestamp() * 1000), int(end.timestamp() * 1000)

    def month_so_far(self, code: str) -> tuple[int, int]:
        """[start of the current local month, now)."""
        now = self.clock()
        zone = ZoneInfo(self.registry.territory_row(code).timezone)
        label = datetime.fromtimestamp(now / 1000, zone).strftime("%Y-%m")
        return self.month_window(code, label)[0], now

    def estimate(self, code: str, start_ms: int, end_ms: int) -> fp.FootprintEstimate:
        if end_ms <= start_ms:
            raise ValidationFailed("empty window", [field_error("to", "must be after from")])
        tid = self.registry.territory_id(code)
        factors = self.factors_of(tid)
        with self.store.read() as conn:
            return fp.estimate(conn, self.store.is_sqlite, tid, start_ms, end_ms, factors)

    # --- retention -----------------------------------------------------------------------------

    def retention(self, code: str) -> dict[str, Any]:
        """The territory's policies and what applying them now would delete and save."""
        tid = self.registry.territory_id(code)
        factors = self.factors_of(tid)
        with self.store.read() as conn:
            policies = rt.get_policies(conn, tid)
            plan = rt.plan(conn, self.store.is_sqlite, tid, self.clock(), factors)
        return {"policies": policies, "plan": plan.to_dict(), "total": plan.total()}

    def set_retention(self, code: str, domain: Any, raw_days: Any, actor: str) -> dict[str, int]:
        tid = self.registry.territory_id(code)
        domain, raw_days = rt.validate_policy(domain, raw_days)
        with self.store.write() as conn:
            before = rt.set_policy(conn, tid, domain, raw_days, actor, self.clock())
            self.audit.record(conn, territory_id=tid, actor=actor, action="retention.set",
                              target=f"retention:{domain}",
                              before=None if before is None else {"raw_days": before},
                              after={"raw_days": raw_days})
            return rt.get_policies(conn, tid)

    def replace_retention(self, code: str, policies: dict[str, Any], actor: str
                          ) -> dict[str, int]:
        """Set exactly these policies (domains not named lose theirs); all or nothing."""
        tid = self.registry.territory_id(code)
        problems: list[dict[str, Any]] = []
        checked: dict[str, int] = {}
        for domain, days in policies.items():
            try:
                d, n = rt.validate_policy(domain, days)
                checked[d] = n
            except ValidationFailed as exc:
                problems.extend({**p, "field": f"{domain}.{p['field']}"} for p in exc.details)
        if problems:
            raise ValidationFailed("invalid retention policies", problems)
        with self.store.write() as conn:
            before = rt.get_policies(conn, tid)
            for domain in before:
                if domain not in checked:
                    rt.delete_policy(conn, tid, domain)
            for domain, days in checked.items():
                rt.set_policy(conn, tid, domain, days, actor, self.clock())
            after = rt.get_policies(conn, tid)
            if after != before:
                self.audit.record(conn, territory_id=tid, actor=actor,
                                  action="retention.replace", target="retention",
                                  before=before, after=after)
            return after

    def delete_retention(self, code: str, domain: str, actor: str) -> dict[str, int]:
        tid = self.registry.territory_id(code)
        with self.store.write() as conn:
            before = rt.delete_policy(conn, tid, domain)
            if before is not None:
                self.audit.record(conn, territory_id=tid, actor=actor,
                                  action="retention.delete", target=f"retention:{domain}",
                                  before={"raw_days": before})
            return rt.get_policies(conn, tid)

    def tick(self) -> dict[str, dict[str, int]]:
        """The scheduled purge (the worker calls it often; it runs every
        ``rt.PURGE_EVERY_MS``): every territory with a retention policy, audited when it
        deleted something. Returns what it deleted per territory."""
        now = self.clock()
        if self._last_purge_ms is not None and now - self._last_purge_ms < rt.PURGE_EVERY_MS:
            return {}
        self._last_purge_ms = now
        with self.store.read() as conn:
            territories = rt.territories_with_policies(conn)
        out: dict[str, dict[str, int]] = {}
        for tid in territories:
            deleted = rt.apply(self.store, tid, now)
            if any(deleted.values()):
                with self.store.write() as conn:
                    self.audit.record(conn, territory_id=tid, actor="system:retention",
                                      action="retention.apply", target="retention",
                                      after={"now_ms": now, "deleted": deleted})
            out[str(tid)] = deleted
        return out

    def apply_retention(self, code: str, actor: str,
                        progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """Purge the raw readings older than the policies allow (audited with the counts)."""
        tid = self.registry.territory_id(code)
        now = self.clock()
        deleted = rt.apply(self.store, tid, now, progress)
        with self.store.write() as conn:
            self.audit.record(conn, territory_id=tid, actor=actor, action="retention.apply",
                              target="retention", after={"now_ms": now, "deleted": deleted})
        return deleted
