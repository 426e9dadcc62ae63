"""Rule definitions: parsing and validation of the declarative format (YAML files or JSON).

Every problem is reported at once, each with the path of the offending field
(``rules[3].when.for``) and, for YAML, its file and line, so that ``beffroi rules validate``
and ``POST .../rules/validate`` tell the author exactly what to fix. See docs/rules.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import shapely
from shapely.geometry.base import BaseGeometry

from beffroi.assets.selection import area_polygon, asset_filters
from beffroi.assets.types import ASSET_TYPES, Kind
from beffroi.declarative import (
    MAX_DURATION_MS,
    Path,
    format_duration,
    load_yaml,
    parse_duration,
    parse_list,
    path_text,
    raise_errors,
)
from beffroi.declarative import Errors as _Errors
from beffroi.declarative import Reader as _Reader
from beffroi.errors import ValidationFailed

__all__ = ["MAX_DURATION_MS", "format_duration", "parse_duration", "path_text"]

SEVERITIES = ("critical", "major", "minor", "warning")
INCIDENT_POLICIES = ("none", "open")
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}
KINDS = ("threshold", "silent", "stuck", "rate", "state", "group", "all")
RULE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
POST = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


# --- the model --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    types: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    assets: frozenset[str] = frozenset()
    area: BaseGeometry | None = None  # prepared (shapely.prepare) for fast point tests
    bounds: tuple[float, float, float, float] | None = None

    def admits(self, urn: str, type_name: str, domain: str, lon: float, lat: float) -> bool:
        if self.types and type_name not in self.types:
            return False
        if self.domains and domain not in self.domains:
            return False
        if self.assets and urn not in self.assets:
            return False
        if self.area is not None and self.bounds is not None:
            x0, y0, x1, y1 = self.bounds
            if not (x0 <= lon <= x1 and y0 <= lat <= y1):
                return False
            return bool(shapely.intersects_xy(self.area, lon, lat))
        return True


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    value: float
    for_ms: int = 0
    clear: float | None = None  # hysteresis: the bound the value must cross back to clear
    scope: Scope | None = None  # inside ``all``: which assets this part looks at

    def holds(self, v: float) -> bool:
        return OPS[self.op](v, self.value)

    def ends(self, v: float) -> bool:
        """Whether a raised alarm clears at this value (hysteresis)."""
        if self.clear is None:
            return not self.holds(v)
        return v < self.clear if self.op in (">", ">=") else v > self.clear


@dataclass(frozen=True)
class State:
    metric: str
    values: frozenset[str]
    for_ms: int = 0
    scope: Scope | None = None


@dataclass(frozen=True)
class Silent:
    after_ms: int | None
    factor: float | None
    period_ms: int | None  # the expected period when the asset has no ``reporting_period_s``
    metric: str | None = None


@dataclass(frozen=True)
class Stuck:
    metric: str
    for_ms: int
    tolerance: float = 0.0


@dataclass(frozen=True)
class Rate:
    metric: str
    change: float
    per_ms: int
    direction: str = "any"  # up | down | any


@dataclass(frozen=True)
class Group:
    member: Scope
    condition: Threshold | State
    share_op: str | None
    share: float | None
    count_op: str | None
    count: int | None
    min_members: int = 1


@dataclass(frozen=True)
class All:
    conditions: tuple[Threshold | State, ...]
    over: str  # "territory" | "asset"
    max_age_ms: int


Condition = Threshold | State | Silent | Stuck | Rate | Group | All


@dataclass(frozen=True)
class Rule:
    id: str
    name: dict[str, str]
    description: str
    source: str
    severity: str
    scope: Scope
    post: str | None
    incident: str
    category: str | None
    active: bool
    when: Condition
    definition: dict[str, Any] = field(compare=False, repr=False)
    content_hash: str = ""

    @property
    def kind(self) -> str:
        return str(self.definition["when"]["kind"])

    def metrics(self) -> set[str]:
        """The metrics whose readings this rule evaluates (empty: any, for silence)."""
        w = self.when
        if isinstance(w, Threshold | State | Stuck | Rate):
            return {w.metric}
        if isinstance(w, Silent):
            return {w.metric} if w.metric else set()
        if isinstance(w, Group):
            return {w.condition.metric}
        return {c.metric for c in w.conditions}

    def label(self, locale: str = "en") -> str:
        return self.name.get(locale) or self.name.get("en") or next(iter(self.name.values()),
                                                                    self.id)


def content_hash(definition: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a definition, without its ``active`` switch (switching
    a rule on or off is not a new version)."""
    content = {k: v for k, v in definition.items() if k != "active"}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _scope(errors: _Errors, path: Path, data: Any, *, member: bool = False) -> Scope:
    if data is None:
        return Scope()
    r = _Reader(errors, path, data, {"types", "domains", "assets", "area"})
    types, domains, assets = asset_filters(r)
    area: BaseGeometry | None = None
    bounds: tuple[float, float, float, float] | None = None
    if r.has("area"):
        area = area_polygon(errors, (*path, "area"), r.raw("area"))
        if area is not None:
            x0, y0, x1, y1 = area.bounds
            bounds = (float(x0), float(y0), float(x1), float(y1))
    return Scope(frozenset(types), frozenset(domains), frozenset(assets), area, bounds)


def _types_in(scope: Scope) -> list[str]:
    if scope.types:
        return sorted(t for t in scope.types if t in ASSET_TYPES)
    if scope.domains:
        return sorted(n for n, t in ASSET_TYPES.items() if t.domain in scope.domains)
    return []


def _metric(r: _Reader, scope: Scope, kind: Kind) -> str:
    name = r.text("metric", required=True) or ""
    types = _types_in(scope)
    if not name or not types:
        return name
    declared = [(t, ASSET_TYPES[t].metric(name)) for t in types]
    found = [(t, m) for t, m in declared if m is not None]
    if not found:
        known = sorted({m.name for t in types for m in ASSET_TYPES[t].metrics})
        r.errors.add(r.at("metric"), f"metric {name!r} is not reported by {', '.join(types)} "
                                     f"(declared: {', '.join(known)})")
    elif all(m.kind != kind for _t, m in found if m is not None):
        r.errors.add(r.at("metric"), f"metric {name!r} is a {found[0][1].kind} series "
                                     f"and this condition needs a {kind} one")
    return name


def _share(r: _Reader, key: str, as_share: bool) -> tuple[str | None, float | None]:
    v = r.raw(key)
    if v is None:
        return None, None
    op, num = ">=", v
    if isinstance(v, str):
        m = re.fullmatch(r"\s*(>=|<=|>|<)?\s*([0-9]+(?:\.[0-9]+)?)\s*(%?)\s*", v)
        if not m:
            r.errors.add(r.at(key), f"{v!r}: an operator and a number expected, e.g. '> 20%'")
            return None, None
        op = m.group(1) or ">="
        num = float(m.group(2)) / (100 if m.group(3) else 1)
    if isinstance(num, bool) or not isinstance(num, int | float):
        r.errors.add(r.at(key), f"{v!r}: an operator and a number expected, e.g. '> 20%'")
        return None, None
    if as_share and not 0 <= num <= 1:
        r.errors.add(r.at(key), "a share between 0 and 1 (or 0 % and 100 %)")
        return None, None
    return op, float(num)


def _leaf(errors: _Errors, path: Path, data: Any, scope: Scope, *, in_all: bool
          ) -> Threshold | State | None:
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in ("threshold", "state"):
        errors.add((*path, "kind"), f"{kind!r}: here a threshold or state condition expected")
        return None
    cond = _condition(errors, path, data, scope, leaf_scope=in_all)
    assert cond is None or isinstance(cond, Threshold | State)
    return cond


def _condition(errors: _Errors, path: Path, data: Any, scope: Scope, *,
               leaf_scope: bool = False) -> Condition | None:
    if not isinstance(data, dict):
        errors.add(path, "a mapping with a 'kind' expected")
        return None
    kind = data.get("kind")
    if kind not in KINDS:
        errors.add((*path, "kind"), f"{kind!r} is not a condition kind (one of {', '.join(KINDS)})")
        return None
    extra = {"scope"} if leaf_scope else set()
    if kind == "threshold":
        r = _Reader(errors, path, data, {"kind", "metric", "op", "value", "for", "clear_below",
                                         "clear_above", *extra})
        own = _scope(errors, (*path, "scope"), r.raw("scope")) if leaf_scope else None
        metric = _metric(r, own or scope, "number")
        op = r.text("op", required=True, choices=tuple(OPS)) or ">"
        value = r.number("value", required=True)
        for_ms = r.duration("for") or 0
        clear: float | None = None
        upward = op in (">", ">=")
        good, bad = ("clear_below", "clear_above") if upward else ("clear_above", "clear_below")
        if r.has(bad):
            errors.add((*path, bad), f"with op {op!r} the hysteresis bound is {good!r}")
        if r.has(good):
            clear = r.number(good)
            if clear is not None and value is not None and (
                    (upward and clear > value) or (not upward and clear < value)):
                errors.add((*path, good), f"must be on the clearing side of value {value:g}")
        if value is None:
            return None
        return Threshold(metric, op, value, for_ms, clear, own)
    if kind == "state":
        r = _Reader(errors, path, data, {"kind", "metric", "in", "for", *extra})
        own = _scope(errors, (*path, "scope"), r.raw("scope")) if leaf_scope else None
        metric = _metric(r, own or scope, "state")
        values = r.strings("in")
        if not values:
            errors.add((*path, "in"), "required: the states that raise, e.g. [defectiveLamp]")
        return State(metric, frozenset(values), r.duration("for") or 0, own)
    if kind == "silent":
        r = _Reader(errors, path, data, {"kind", "after", "factor", "period", "metric"})
        after = r.duration("after", default=None, positive=True)
        factor = r.number("factor", minimum=1)
        period = r.duration("period", default=None, positive=True)
        if after is None and factor is None and not (r.has("after") or r.has("factor")):
            errors.add((*path, "after"), "required: 'after' (a duration) or 'factor' (times the "
                                         "expected reporting period)")
        if r.has("after") and r.has("factor"):
            errors.add((*path, "factor"), "give either 'after' or 'factor', not both")
        if factor is not None and period is None and not r.has("period"):
            errors.add((*path, "period"), "required with 'factor': the expected reporting "
                                          "period of assets without a reporting_period_s property")
        return Silent(after, factor, period, r.text("metric"))
    if kind == "stuck":
        r = _Reader(errors, path, data, {"kind", "metric", "for", "tolerance"})
        metric = _metric(r, scope, "number")
        for_ms = r.duration("for", required=True, positive=True) or 0
        return Stuck(metric, for_ms, r.number("tolerance", minimum=0) or 0.0)
    if kind == "rate":
        r = _Reader(errors, path, data, {"kind", "metric", "change", "per", "direction"})
        metric = _metric(r, scope, "number")
        change = r.number("change", required=True, minimum=0)
        per = r.duration("per", required=True, positive=True) or 3_600_000
        direction = r.text("direction", choices=("up", "down", "any"), default="any") or "any"
        if change is None:
            return None
        return Rate(metric, change, per, direction)
    if kind == "group":
        r = _Reader(errors, path, data, {"kind", "member", "by", "condition", "share", "count",
                                         "min_members"})
        member = _scope(errors, (*path, "member"), r.raw("member"))
        if r.raw("member") is None:
            errors.add((*path, "member"), "required: the members' scope, e.g. {types: "
                                          "[Streetlight]}")
        r.text("by", choices=("parent",), default="parent")
        cond = _leaf(errors, (*path, "condition"), r.raw("condition"), member, in_all=False)
        if cond is not None and cond.for_ms:
            errors.add((*path, "condition", "for"), "a member condition takes no duration")
        share_op, share = _share(r, "share", True)
        count_op, count = _share(r, "count", False)
        if share is None and count is None and not (r.has("share") or r.has("count")):
            errors.add((*path, "share"), "required: 'share' (e.g. '> 20%') or 'count' (e.g. "
                                         "'>= 5') of members")
        min_members = int(r.number("min_members", minimum=1) or 1)
        if cond is None:
            return None
        return Group(member, cond, share_op, share, count_op,
                     None if count is None else int(count), min_members)
    r = _Reader(errors, path, data, {"kind", "conditions", "over", "max_age"})
    over = r.text("over", choices=("territory", "asset"), default="territory") or "territory"
    parts = r.raw("conditions")
    leaves: list[Threshold | State] = []
    if not isinstance(parts, list) or len(parts) < 2:
        errors.add((*path, "conditions"), "a list of at least two threshold or state "
                                          "conditions expected")
    else:
        for i, part in enumerate(parts):
            leaf = _leaf(errors, (*path, "conditions", i), part, scope, in_all=True)
            if leaf is not None:
                leaves.append(leaf)
            if over == "asset" and isinstance(part, dict) and "scope" in part:
                errors.add((*path, "conditions", i, "scope"),
                           "with over: asset every part looks at the same asset (rule scope)")
    max_age = r.duration("max_age", default=3 * 3_600_000, positive=True) or 3 * 3_600_000
    return All(tuple(leaves), over, max_age)


RULE_FIELDS = {"id", "name", "description", "source", "severity", "scope", "post", "incident",
               "category", "active", "when"}


def _rule(errors: _Errors, path: Path, data: Any) -> Rule | None:
    before = len(errors.items)
    r = _Reader(errors, path, data, RULE_FIELDS)
    if not r.ok:
        return None
    rule_id = r.text("id", required=True, pattern=RULE_ID) or ""
    raw_name = r.raw("name")
    name: dict[str, str] = {}
    if isinstance(raw_name, str) and raw_name:
        name = {"en": raw_name}
    elif isinstance(raw_name, dict) and raw_name and all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in raw_name.items()):
        name = dict(raw_name)
    elif raw_name is None:
        errors.add(r.at("name"), "required: a name, or {fr: ..., en: ...}")
    else:
        errors.add(r.at("name"), "a string or a mapping of language → string expected")
    description = r.text("description", default="") or ""
    source = r.text("source", default="") or ""
    severity = r.text("severity", required=True, choices=SEVERITIES) or "warning"
    scope = _scope(errors, r.at("scope"), r.raw("scope"))
    post = r.text("post", pattern=POST)
    incident = r.text("incident", choices=INCIDENT_POLICIES, default="none") or "none"
    category = r.text("category", pattern=POST)
    active = r.raw("active")
    if active is None:
        active = True
    elif not isinstance(active, bool):
        errors.add(r.at("active"), "true or false expected")
        active = True
    if r.raw("when") is None:
        errors.add(r.at("when"), "required: the condition ({kind: threshold, ...})")
        return None
    when = _condition(errors, r.at("when"), r.raw("when"), scope)
    if isinstance(when, Group) and (scope.assets or scope.area):
        pass  # the rule's scope selects the parents (groups); member scope the members
    if when is None or len(errors.items) > before:
        return None
    definition = orjson.loads(orjson.dumps(data))
    return Rule(rule_id, name, description, source, severity, scope, post, incident, category,
                bool(active), when, definition, content_hash(definition))


def parse_rules(docs: Any, *, lines: dict[Path, int] | None = None, file: str | None = None,
                prefix: Path = ()) -> list[Rule]:
    """Validate a list of rule mappings (or ``{rules: [...]}``); raise
    :class:`ValidationFailed` with every error found."""
    errors = _Errors(lines, file)
    rules, _path, _seen = parse_list(errors, docs, "rules", "rule", _rule, prefix=prefix)
    raise_errors(errors, file)
    return rules


def parse_rule(data: Any) -> Rule:
    """One rule (the API's body)."""
    errors = _Errors(None, None)
    rule = _rule(errors, (), data)
    if errors.items or rule is None:
        raise ValidationFailed("invalid rule", errors.items or [
            {"field": "body", "reason": "invalid rule"}])
    return rule


def parse_yaml(text: str, file: str = "<rules>") -> list[Rule]:
    """Rules from YAML text; errors carry the file and line."""
    data, lines = load_yaml(text, file)
    return parse_rules(data, lines=lines, file=file)
