"""Indicators: definitions (versioned), computation on demand and on schedule, stored values
with their lineage, explanations, recomputation checks, contracts and their reports."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from beffroi import __version__
from beffroi.assets.service import Registry
from beffroi.auth.audit import AuditLog
from beffroi.errors import NotFound, ValidationFailed, field_error
from beffroi.indicators import contracts as contract_rules
from beffroi.indicators import repository as repo
from beffroi.indicators.compute import Context, compute
from beffroi.indicators.definitions import parse_indicator, parse_indicators, parse_yaml
from beffroi.indicators.explain import explain, explain_dict
from beffroi.indicators.models import (
    PERIODS,
    Contract,
    ContractReport,
    Indicator,
    Lineage,
    ReportLine,
    Value,
    Window,
)
from beffroi.indicators.periods import local_iso, parse_label, window_of, windows_between
from beffroi.store import Store
from beffroi.store.timeseries import read_rollup_state
from beffroi.telemetry.service import Telemetry
from beffroi.timeutil import Clock

log = logging.getLogger("beffroi.indicators")
DEFAULTS_DIR = Path(__file__).parent / "defaults"
SCHEDULE_EVERY_S = 900.0


@dataclass
class _Territory:
    id: int
    code: str
    name: str
    zone: ZoneInfo
    lon: float | None
    lat: float | None


def _value_from_row(row: Any) -> Value:
    lin = dict(row.lineage)
    window = Window(row.period, row.label, int(row.start_ms), int(row.end_ms))
    lineage = Lineage(indicator=lin["indicator"], version=lin["version"],
                      aggregate=lin["aggregate"], window=lin["window"], inputs=lin["inputs"],
                      figures=lin["figures"], sources=lin["sources"],
                      software_version=lin["software_version"], inputs_hash=lin["inputs_hash"])
    return Value(code=row.code, version=row.version, window=window, value=row.value,
                 unit=row.unit, target=row.target, comparator=row.comparator, met=row.met,
                 lineage=lineage, computed_ms=int(row.computed_ms))


def default_files() -> list[Path]:
    return sorted(p for p in DEFAULTS_DIR.glob("*.yaml") if p.name != "footprint.yaml")


class Indicators:
    def __init__(self, store: Store, registry: Registry, telemetry: Telemetry, audit: AuditLog,
                 clock: Clock) -> None:
        self.store = store
        self.registry = registry
        self.telemetry = telemetry
        self.audit = audit
        self.clock = clock
        self._lock = threading.Lock()
        self._last_schedule = 0.0

    # --- territories --------------------------------------------------------------------------

    def _territory(self, code: str) -> _Territory:
        row = self.registry.territory_row(code)
        return _Territory(int(row.id), row.code, row.name, ZoneInfo(row.timezone),
                          row.center_lon, row.center_lat)

    # --- definitions --------------------------------------------------------------------------

    def definitions(self, code: str) -> list[Indicator]:
        t = self._territory(code)
        with self.store.read() as conn:
            rows = repo.current(conn, t.id)
        return [self._parse_stored(r.definition, r.active) for r in rows]

    @staticmethod
    def _parse_stored(definition: dict[str, Any], active: bool = True) -> Indicator:
        ind = parse_indicators([definition], known=None if definition.get("inputs") is None
                               else set(definition.get("inputs") or []))[0]
        if ind.active != active:
            from dataclasses import replace

            ind = replace(ind, active=active)
        return ind

    def definition(self, code: str, indicator: str, version: str | None = None) -> Indicator:
        t = self._territory(code)
        with self.store.read() as conn:
            if version is None:
                rows = repo.current(conn, t.id, indicator)
                if not rows:
                    raise NotFound(f"indicator {indicator!r} not found in {code!r}")
                return self._parse_stored(rows[0].definition, rows[0].active)
            definition = repo.version_definition(conn, t.id, indicator, version)
        if definition is None:
            raise NotFound(f"version {version[:12]} of indicator {indicator!r} not found")
        return self._parse_stored(definition)

    def versions(self, code: str, indicator: str) -> list[dict[str, Any]]:
        t = self._territory(code)
        with self.store.read() as conn:
            rows = repo.versions(conn, t.id, indicator)
        if not rows:
            raise NotFound(f"indicator {indicator!r} not found in {code!r}")
        return [{"version": r.version, "created_ms": int(r.created_ms),
                 "created_by": r.created_by} for r in rows]

    def load(self, code: str, items: Sequence[Indicator], *, origin: str, actor: str
             ) -> dict[str, list[str]]:
        """Store definitions (a new version when the content changed) and make them current."""
        t = self._territory(code)
        now = self.clock()
        report: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
        with self.store.write() as conn:
            known = {r.code for r in repo.current(conn, t.id)} | {i.code for i in items}
            for ind in items:
                missing = [ref for ref in ind.inputs if ref not in known]
                if missing:
                    raise ValidationFailed(f"indicator {ind.code!r} uses unknown indicators",
                                           [field_error("inputs", f"unknown: {missing}")])
            for ind in items:
                repo.save_version(conn, t.id, ind, actor, now)
                before = repo.set_current(conn, t.id, ind.code, ind.version, ind.active,
                                          origin, now)
                if before is None:
                    report["created"].append(ind.code)
                elif before.version != ind.version or bool(before.active) != ind.active:
                    report["updated"].append(ind.code)
                else:
                    report["unchanged"].append(ind.code)
                    continue
                self.audit.record(conn, territory_id=t.id, actor=actor,
                                  action="indicator.define", target=ind.code,
                                  before=None if before is None else {
                                      "version": before.version, "active": bool(before.active)},
                                  after={"version": ind.version, "active": ind.active,
                                         "origin": origin})
        return report

    def load_text(self, code: str, text: str, file: str, *, actor: str, origin: str = "file"
                  ) -> dict[str, list[str]]:
        known = {i.code for i in self.definitions(code)}
        return self.load(code, parse_yaml(text, file, known=known), origin=origin, actor=actor)

    def define(self, code: str, data: Any, actor: str) -> Indicator:
        known = {i.code for i in self.definitions(code)}
        ind = parse_indicator(data, known=known)
        self.load(code, [ind], origin="api", actor=actor)
        return ind

    def install_defaults(self, code: str, actor: str) -> dict[str, list[str]]:
        items: list[Indicator] = []
        for path in default_files():
            items.extend(parse_yaml(path.read_text(encoding="utf-8"), path.name,
                                    known={i.code for i in items}))
        return self.load(code, items, origin="builtin", actor=actor)

    def set_active(self, code: str, indicator: str, active: bool, actor: str) -> None:
        t = self._territory(code)
        with self.store.write() as conn:
            if not repo.set_active(conn, t.id, indicator, active, self.clock()):
                raise NotFound(f"indicator {indicator!r} not found in {code!r}")
            self.audit.record(conn, territory_id=t.id, actor=actor,
                              action="indicator.activate" if active else "indicator.deactivate",
                              target=indicator)

    # --- computation --------------------------------------------------------------------------

    def windows(self, code: str, period: str, *, label: str | None = None,
                first: date | None = None, last: date | None = None,
                contract: str | None = None) -> list[Window]:
        t = self._territory(code)
        start = date.fromisoformat(self.contract(code, contract).start) if contract else None
        if label:
            w = parse_label(label, t.zone, start)
            return [w]
        if period not in PERIODS:
            raise ValidationFailed(f"unknown period {period!r}",
                                   [field_error("period", f"one of {', '.join(PERIODS)}")])
        today = datetime.fromtimestamp(self.clock() / 1000, t.zone).date()
        first = first or today
        last = last or first
        return windows_between(period, first, last, t.zone, start)

    def _context(self, conn: Any, t: _Territory,
                 value_of: Callable[[str, Window], Value] | None) -> Context:
        until, _pending = read_rollup_state(self.store, conn)
        return Context(conn=conn, territory_id=t.id, territory_code=t.code, zone=t.zone,
                       lon=t.lon, lat=t.lat, now_ms=self.clock(),
                       rollups_until_ms=until or 0, is_sqlite=self.store.is_sqlite,
                       value_of=value_of)

    def compute(self, code: str, windows: Sequence[Window], indicators: Sequence[str] | None = None,
                *, save: bool = True, progress: Callable[[int, int], None] | None = None,
                materialise: bool = True) -> list[Value]:
        """Compute the indicators (default: every active one) over the windows; store the
        values (replacing those of the same version, period and start)."""
        t = self._territory(code)
        defs = {i.code: i for i in self.definitions(code)}
        if indicators:
            unknown = [c for c in indicators if c not in defs]
            if unknown:
                raise NotFound(f"unknown indicator(s) {', '.join(unknown)} in {code!r}")
            chosen = [defs[c] for c in indicators]
        else:
            chosen = [i for i in defs.values() if i.active]
        if materialise:
            self.telemetry.materialise()
        out: list[Value] = []
        total = len(chosen) * len(windows)
        with self.store.read() as conn:
            memo: dict[tuple[str, str, int], Value] = {}

            def value_of(ind_code: str, w: Window) -> Value:
                key = (ind_code, w.period, w.start_ms)
                if key not in memo:
                    memo[key] = compute(defs[ind_code], w, ctx)
                return memo[key]

            ctx = self._context(conn, t, value_of)
            done = 0
            for w in windows:
                for ind in chosen:
                    out.append(value_of(ind.code, w))
                    done += 1
                    if progress:
                        progress(done, total)
        if save and out:
            with self.store.write() as conn:
                repo.save_values(conn, t.id, out)
        return out

    def compute_one(self, code: str, ind: Indicator, window: Window) -> Value:
        """Compute a given definition (e.g. an old version) without storing it."""
        t = self._territory(code)
        defs = {i.code: i for i in self.definitions(code)}
        with self.store.read() as conn:
            def value_of(ind_code: str, w: Window) -> Value:
                return compute(defs[ind_code], w, ctx)

            ctx = self._context(conn, t, value_of)
            return compute(ind, window, ctx)

    def values(self, code: str, indicator: str | None = None, period: str | None = None,
               start_ms: int | None = None, end_ms: int | None = None,
               limit: int = 1000) -> list[Value]:
        t = self._territory(code)
        with self.store.read() as conn:
            rows = repo.stored_values(conn, t.id, indicator, period, start_ms, end_ms,
                                      limit=limit)
        # One value per (indicator, period, start): the most recently computed.
        seen: set[tuple[str, str, int]] = set()
        out: list[Value] = []
        for r in rows:
            key = (r.code, r.period, int(r.start_ms))
            if key not in seen:
                seen.add(key)
                out.append(_value_from_row(r))
        return out

    def stored(self, code: str, indicator: str, window: Window) -> Value | None:
        """The stored value of this window: the one of the current definition version if
        there is one, else the most recently computed."""
        t = self._territory(code)
        with self.store.read() as conn:
            rows = repo.stored_values(conn, t.id, indicator, window.period, window.start_ms,
                                      window.start_ms + 1)
            current = repo.current(conn, t.id, indicator)
        if not rows:
            return None
        version = current[0].version if current else None
        chosen = next((r for r in rows if r.version == version), rows[0])
        return _value_from_row(chosen)

    def explain(self, code: str, indicator: str, window: Window, locale: str = "fr",
                *, compute_if_missing: bool = True) -> dict[str, Any]:
        value = self.stored(code, indicator, window)
        if value is None:
            if not compute_if_missing:
                raise NotFound(f"no value of {indicator!r} for {window.label}")
            value = self.compute(code, [window], [indicator])[0]
        ind = self.definition(code, indicator, value.version)
        return explain_dict(value, ind, locale)

    def verify(self, code: str, indicator: str, window: Window) -> dict[str, Any]:
        """Recompute a stored value with the definition version it names; same data must give
        the same value and the same inputs fingerprint."""
        value = self.stored(code, indicator, window)
        if value is None:
            raise NotFound(f"no stored value of {indicator!r} for {window.label}")
        ind = self.definition(code, indicator, value.version)
        again = self.compute_one(code, ind, window)
        same = again.value == value.value and \
            again.lineage.inputs_hash == value.lineage.inputs_hash
        return {"indicator": indicator, "label": window.label, "version": value.version,
                "stored": value.value, "recomputed": again.value,
                "stored_inputs_hash": value.lineage.inputs_hash,
                "recomputed_inputs_hash": again.lineage.inputs_hash, "identical": same}

    # --- schedule -----------------------------------------------------------------------------

    def tick(self) -> None:
        """Periodic pass: every 15 minutes, compute each active indicator of each territory for
        its current period and, after a period ends, once more for the one just ended."""
        now_s = self.clock() / 1000
        if now_s - self._last_schedule < SCHEDULE_EVERY_S or not self._lock.acquire(False):
            return
        try:
            self._last_schedule = now_s
            for territory in self.registry.list_territories(None, 1000).items:
                try:
                    self._scheduled(territory.code)
                except Exception:  # the edge of a periodic pass: next territory
                    log.exception("scheduled indicators failed", extra={
                        "territory": territory.code})
        finally:
            self._lock.release()

    def _scheduled(self, code: str) -> None:
        defs = [i for i in self.definitions(code) if i.active]
        if not defs:
            return
        t = self._territory(code)
        now = self.clock()
        today = datetime.fromtimestamp(now / 1000, t.zone).date()
        yesterday = today - timedelta(days=1)
        by_period: dict[str, list[str]] = {}
        for ind in defs:
            if ind.period != "contract_year":
                by_period.setdefault(ind.period, []).append(ind.code)
        for period, codes in by_period.items():
            current = window_of(period, today, t.zone)
            windows = [current]
            previous = window_of(period, yesterday, t.zone)
            if previous.start_ms != current.start_ms:
                stored = self.stored(code, codes[0], previous)
                if stored is None or stored.lineage.window.get("provisional"):
                    windows.insert(0, previous)
            # The rollup thread keeps the rollups fresh; no materialisation from here.
            self.compute(code, windows, codes, materialise=False)

    # --- contracts ----------------------------------------------------------------------------

    def define_contract(self, code: str, data: Any, actor: str, *, text: str | None = None,
                        file: str = "<contract>") -> Contract:
        t = self._territory(code)
        known = {i.code for i in self.definitions(code)}
        contract = (contract_rules.parse_contract_yaml(text, file, known) if text is not None
                    else contract_rules.parse_contract(data, known=known))
        with self.store.write() as conn:
            before = repo.save_contract(conn, t.id, contract.code, contract.version,
                                        contract.definition, actor, self.clock())
            if before is None or before.version != contract.version:
                self.audit.record(conn, territory_id=t.id, actor=actor,
                                  action="contract.define", target=contract.code,
                                  before=None if before is None else {"version": before.version},
                                  after={"version": contract.version})
        return contract

    def contracts(self, code: str) -> list[Contract]:
        t = self._territory(code)
        with self.store.read() as conn:
            rows = repo.contract_rows(conn, t.id)
        return [contract_rules.parse_contract(r.definition) for r in rows]

    def contract(self, code: str, contract: str) -> Contract:
        t = self._territory(code)
        with self.store.read() as conn:
            rows = repo.contract_rows(conn, t.id, contract)
        if not rows:
            raise NotFound(f"contract {contract!r} not found in {code!r}")
        return contract_rules.parse_contract(rows[0].definition)

    def contract_report(self, code: str, contract_code: str, *, year: int | None = None,
                        label: str | None = None, locale: str = "fr",
                        recompute: bool = True) -> ContractReport:
        """The report of one contract year (``year``, 1-based) or any period ``label``."""
        t = self._territory(code)
        contract = self.contract(code, contract_code)
        start = date.fromisoformat(contract.start)
        if label:
            window = parse_label(label, t.zone, start)
            year_index = None
        else:
            if year is None:
                today = datetime.fromtimestamp(self.clock() / 1000, t.zone).date()
                year = max(1, min(contract.years, today.year - start.year + (
                    1 if (today.month, today.day) >= (start.month, start.day) else 0)))
            if not 1 <= year <= contract.years:
                raise ValidationFailed("no such contract year", [field_error(
                    "year", f"between 1 and {contract.years}")])
            window = window_of("contract_year", date(start.year + year - 1, start.month,
                                                     min(start.day, 28)), t.zone, start)
            year_index = year
        codes = sorted({c.indicator for c in contract.clauses})
        defs = {i.code: i for i in self.definitions(code)}
        missing = [c for c in codes if c not in defs]
        if missing:
            raise ValidationFailed("the contract names indicators that are not defined",
                                   [field_error("clauses", f"unknown indicators: {missing}")])
        if "lighting-savings" in defs and "lighting-savings" not in codes:
            codes.append("lighting-savings")  # for the net balance beside the footprint
        if recompute:
            computed = self.compute(code, [window], codes)
        else:
            computed = [v for c in codes if (v := self.stored(code, c, window)) is not None]
        values = {v.code: v for v in computed}
        lines: list[ReportLine] = []
        total = 0.0
        for clause in contract.clauses:
            ind = defs[clause.indicator]
            v = values.get(clause.indicator)
            target = clause.targets.get(year_index) if year_index else (
                ind.target.value if ind.target else None)
            achieved = v.value if v else None
            met = None
            if target is not None and achieved is not None:
                met = contract_rules.shortfall(clause.comparator, target, achieved) == 0 and (
                    clause.comparator not in (">", "<") or achieved != target)
            due = contract_rules.penalty(clause.penalty, clause.comparator, target, achieved)
            total += due
            history = self._history(code, ind, window, start if year_index else None)
            lines.append(ReportLine(
                clause=clause.ref, indicator=ind.code, name=ind.label(locale), unit=ind.unit,
                comparator=clause.comparator, target=target, achieved=achieved,
                gap=None if target is None or achieved is None else achieved - target,
                met=met, penalty_eur=due,
                explanation=explain(v, ind, locale) if v else "",
                history=history, version=ind.version,
                inputs_hash=v.lineage.inputs_hash if v else ""))
        return ContractReport(
            footprint=self._net_balance(t, window, values.get("lighting-savings")),
            territory=t.name, territory_code=t.code, contract=contract.code,
            title=contract.title, parties=list(contract.parties), period_label=window.label,
            year_index=year_index, start_local=local_iso(window.start_ms, t.zone),
            end_local=local_iso(window.end_ms, t.zone), lines=lines,
            total_penalty_eur=round(total, 2), generated_ms=self.clock(),
            software_version=__version__, locale=locale,
            time_zone=str(t.zone))

    def _net_balance(self, t: _Territory, window: Window, savings: Value | None
                     ) -> list[dict[str, Any]]:
        """Per domain: the savings the platform claims beside its own footprint."""
        from beffroi.indicators import footprint

        end = min(window.end_ms, self.clock())
        if end <= window.start_ms:
            return []
        with self.store.read() as conn:
            factors = footprint.load_factors(footprint.get_overrides(conn, t.id))
            est = footprint.estimate(conn, self.store.is_sqlite, t.id, window.start_ms, end,
                                     factors)
        intensity = factors.get("electricity.kgco2e_per_kwh")
        out: list[dict[str, Any]] = []
        for domain, (kwh, kg) in sorted(est.by_domain().items()):
            saved = savings.value if savings is not None and domain == "lighting" else None
            out.append({
                "domain": domain, "savings_kwh": saved, "footprint_kwh": kwh,
                "net_kwh": None if saved is None else saved - kwh,
                "savings_kgco2e": None if saved is None else saved * intensity,
                "footprint_kgco2e": kg,
                "net_kgco2e": None if saved is None else saved * intensity - kg})
        return out

    def _history(self, code: str, ind: Indicator, window: Window, contract_start: date | None
                 ) -> list[tuple[str, float | None]]:
        """The stored values of the previous periods (up to 12), oldest first, then this one."""
        period = window.period
        t = self._territory(code)
        labels: list[Window] = [window]
        cursor = window
        for _ in range(11):
            prev_day = datetime.fromtimestamp((cursor.start_ms - 1) / 1000, t.zone).date()
            if contract_start and prev_day < contract_start:
                break
            cursor = window_of(period, prev_day, t.zone, contract_start)
            labels.append(cursor)
        out: list[tuple[str, float | None]] = []
        for w in reversed(labels):
            v = self.stored(code, ind.code, w)
            out.append((w.label, v.value if v else None))
        return out
