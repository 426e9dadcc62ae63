"""Performance contracts: parsing, validation and penalties.

A contract groups clauses; each clause names an indicator, its target for each contract year
and a penalty per unit of shortfall. Format and formulas: docs/indicators.md.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

import orjson

from beffroi.declarative import Errors, Path, Reader, load_yaml
from beffroi.errors import ValidationFailed
from beffroi.indicators.definitions import CODE, content_hash
from beffroi.indicators.models import COMPARATORS, Clause, Contract, Penalty

_YEARS = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*$")


def _targets(errors: Errors, path: Path, data: Any, years: int) -> dict[int, float]:
    out: dict[int, float] = {}
    if not isinstance(data, dict) or not data:
        errors.add(path, "a mapping of contract year (1, 2, '3-12') → target expected")
        return out
    for key, value in data.items():
        m = _YEARS.match(str(key))
        if not m:
            errors.add((*path, str(key)), "a contract year (1) or a range of years ('3-12')")
            continue
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if lo < 1 or hi < lo or hi > years:
            errors.add((*path, str(key)), f"years between 1 and {years}")
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            errors.add((*path, str(key)), f"a number expected, got {value!r}")
            continue
        for y in range(lo, hi + 1):
            if y in out:
                errors.add((*path, str(key)), f"year {y} has two targets")
            out[y] = float(value)
    return out


def _penalty(errors: Errors, path: Path, data: Any) -> Penalty | None:
    if data is None:
        return None
    r = Reader(errors, path, data, {"per_unit", "step", "cap", "rounding"})
    per_unit = r.number("per_unit", required=True, minimum=0)
    step = r.number("step", minimum=0) or 1.0
    if step <= 0:
        errors.add(r.at("step"), "must be greater than 0")
    cap = r.number("cap", minimum=0)
    rounding = r.text("rounding", choices=("exact", "up", "down"), default="exact") or "exact"
    if per_unit is None:
        return None
    return Penalty(per_unit, step, cap, rounding)


def parse_contract(data: Any, *, lines: dict[Path, int] | None = None, file: str | None = None,
                   known: set[str] | None = None) -> Contract:
    """Validate a contract mapping (or ``{contract: {...}}``); ``known``: indicator ids."""
    errors = Errors(lines, file)
    path: Path = ()
    if isinstance(data, dict) and set(data) == {"contract"}:
        data, path = data["contract"], ("contract",)
    r = Reader(errors, path, data, {"id", "title", "parties", "start", "years", "clauses",
                                    "description"})
    code = r.text("id", required=True, pattern=CODE) or ""
    title = r.text("title", required=True) or ""
    parties = r.strings("parties")
    start_raw = r.raw("start")
    start = ""
    if isinstance(start_raw, date):
        start = start_raw.isoformat()
    elif isinstance(start_raw, str):
        try:
            start = date.fromisoformat(start_raw).isoformat()
        except ValueError:
            errors.add(r.at("start"), f"{start_raw!r} is not a date (YYYY-MM-DD)")
    else:
        errors.add(r.at("start"), "required: the first day of contract year 1 (YYYY-MM-DD)")
    years_raw = r.number("years", required=True, minimum=1)
    years = int(years_raw or 1)
    if years_raw is not None and (years_raw != years or years > 50):
        errors.add(r.at("years"), "a whole number of years between 1 and 50")
    clauses: list[Clause] = []
    items = r.raw("clauses")
    if not isinstance(items, list) or not items:
        errors.add(r.at("clauses"), "required: a list of clauses")
        items = []
    refs: set[str] = set()
    for i, item in enumerate(items):
        cp: Path = (*r.at("clauses"), i)
        c = Reader(errors, cp, item, {"ref", "indicator", "comparator", "targets", "penalty"})
        if not c.ok:
            continue
        ref = c.text("ref", required=True) or ""
        if ref in refs:
            errors.add((*cp, "ref"), f"duplicate clause {ref!r}")
        refs.add(ref)
        ind = c.text("indicator", required=True) or ""
        if ind and known is not None and ind not in known:
            errors.add((*cp, "indicator"), f"unknown indicator {ind!r} (define it first)")
        comparator = c.text("comparator", required=True, choices=COMPARATORS) or ">="
        targets = _targets(errors, (*cp, "targets"), c.raw("targets"), years)
        penalty = _penalty(errors, (*cp, "penalty"), c.raw("penalty"))
        clauses.append(Clause(ref, ind, targets, comparator, penalty))
    if errors.items:
        where = f" in {file}" if file else ""
        raise ValidationFailed(f"{len(errors.items)} error(s){where}", errors.items)
    definition = orjson.loads(orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS))
    return Contract(code, title, tuple(parties), start, years, tuple(clauses), definition,
                    content_hash(definition))


def parse_contract_yaml(text: str, file: str = "<contract>", known: set[str] | None = None
                        ) -> Contract:
    data, lines = load_yaml(text, file)
    return parse_contract(data, lines=lines, file=file, known=known)


def shortfall(comparator: str, target: float, achieved: float) -> float:
    """How far the achieved value falls short of the target (0 when met)."""
    if comparator in (">=", ">"):
        gap = target - achieved
    elif comparator in ("<=", "<"):
        gap = achieved - target
    else:
        gap = abs(achieved - target)
    if comparator in (">", "<") and gap == 0:
        return 0.0  # exactly on a strict bound: short by an infinitesimal; no penalty unit
    return max(0.0, gap)


def penalty(p: Penalty | None, comparator: str, target: float | None,
            achieved: float | None) -> float:
    """Euros due for one clause: ``per_unit`` × shortfall / ``step`` (rounded as declared),
    capped. No value (no data) is not a penalty here: the report shows it as missing."""
    if p is None or target is None or achieved is None:
        return 0.0
    units = shortfall(comparator, target, achieved) / p.step
    if p.rounding == "up":
        units = math.ceil(units - 1e-9)
    elif p.rounding == "down":
        units = math.floor(units + 1e-9)
    amount = units * p.per_unit
    if p.cap is not None:
        amount = min(amount, p.cap)
    return round(amount, 2)
