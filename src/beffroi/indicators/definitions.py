"""Indicator definitions: parsing and validation of the declarative format (YAML or JSON).

Every problem is reported at once with the path of the offending field
(``indicators[2].params.limit``) and, for YAML, its file and line. The format and each
aggregation's formula are in docs/indicators.md.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from beffroi.assets.selection import area_polygon, asset_filters
from beffroi.assets.types import ASSET_TYPES, DOMAINS
from beffroi.declarative import (
    BOOLEAN_HINT,
    Errors,
    Path,
    Reader,
    load_yaml,
    parse_duration,
    parse_list,
    raise_errors,
)
from beffroi.errors import ValidationFailed
from beffroi.indicators.models import (
    AGGREGATIONS,
    COMBINED_AGGREGATIONS,
    COMPARATORS,
    INCIDENT_AGGREGATIONS,
    PERIODS,
    STEPS,
    IncidentSelection,
    Indicator,
    SeriesSelection,
    Target,
)

CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
FIELDS = {"id", "name", "description", "source", "unit", "period", "series", "denominator",
          "incidents", "inputs", "aggregate", "params", "target", "active"}
FOOTPRINT_COMPONENTS = ("devices_operating", "devices_embodied", "network", "storage",
                        "compute", "all")
_OPS = (">", ">=", "<", "<=")

# The parameters each aggregation accepts: name → (kind, required)
_PARAMS: dict[str, dict[str, tuple[str, bool]]] = {
    "sum": {"scale": ("number", False)},
    "mean": {"scale": ("number", False), "per_series": ("per_series", False)},
    "ratio_of_sums": {"scale": ("number", False)},
    "share_of_time_in_state": {"states": ("strings", True), "result": ("share_hours", False),
                               "scale": ("number", False)},
    "count_buckets_above": {"bucket": ("bucket", True), "statistic": ("statistic", False),
                            "op": ("op", False), "limit": ("number", True),
                            "reduce": ("reduce", False)},
    "share_of_buckets_within": {"low": ("number", False), "high": ("number", False),
                                "scale": ("number", False)},
    "share_of_buckets_with_data": {"scale": ("number", False)},
    "sum_of_drops": {"min_drop": ("number", True), "result": ("drops_result", False),
                     "scheduled_per_week": ("number", False), "scale": ("number", False)},
    "baseline_lighting": {"power_property": ("text", False), "sun_elevation": ("number", False),
                          "reference_kwh_per_year": ("number", False),
                          "missing_power": ("missing_power", False),
                          "losses": ("number", False)},
    "count": {},
    "percentile_of_durations": {"from": ("step", False), "to": ("step", True),
                                "p": ("number", True), "in": ("time_unit", False)},
    "share_within": {"from": ("step", False), "to": ("step", True), "limit": ("limit", True),
                     "scale": ("number", False)},
    "platform_availability": {"scale": ("number", False)},
    "footprint": {"component": ("component", False), "domain": ("domain", False),
                  "quantity": ("quantity", True)},
    "difference": {"scale": ("number", False)},
    "ratio": {"scale": ("number", False)},
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "per_series": ("max", "min", "mean"),
    "share_hours": ("share", "hours"),
    "bucket": ("hour", "day"),
    "statistic": ("mean", "max", "min", "sum"),
    "op": _OPS,
    "reduce": ("any", "max", "sum"),
    "drops_result": ("count", "mean_level_before", "avoided"),
    "step": STEPS,
    "time_unit": ("min", "h", "d"),
    "component": FOOTPRINT_COMPONENTS,
    "domain": (*DOMAINS, "platform"),
    "quantity": ("kwh", "kgco2e"),
}


def content_hash(definition: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a definition, without its ``active`` switch."""
    content = {k: v for k, v in definition.items() if k != "active"}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _selection(errors: Errors, path: Path, data: Any, *, metric_required: bool = True
               ) -> SeriesSelection | None:
    r = Reader(errors, path, data, {"metric", "types", "domains", "assets", "area"})
    if not r.ok:
        return None
    metric = r.text("metric", required=metric_required) or ""
    types, domains, assets = asset_filters(r)
    if not (types or domains or assets):
        errors.add(path, "select assets by types, domains or assets")
    area = r.raw("area")
    if area is not None:
        area_polygon(errors, (*path, "area"), area)
    known_types = [t for t in types if t in ASSET_TYPES] or [
        n for n, t in ASSET_TYPES.items() if t.domain in domains]
    if metric and known_types and metric != "*" and not any(
            ASSET_TYPES[t].metric(metric) for t in known_types):
        declared = sorted({m.name for t in known_types for m in ASSET_TYPES[t].metrics})
        errors.add((*path, "metric"), f"metric {metric!r} is not reported by "
                                      f"{', '.join(known_types)} (declared: {', '.join(declared)})")
    return SeriesSelection(metric, frozenset(types), frozenset(domains), frozenset(assets),
                           area if isinstance(area, dict) else None)


def _incidents(errors: Errors, path: Path, data: Any) -> IncidentSelection:
    r = Reader(errors, path, data, {"categories", "posts", "sources"})
    sources = r.strings("sources")
    for i, s in enumerate(sources):
        if s not in ("alarm", "operator", "resident"):
            errors.add((*path, "sources", i), f"{s!r} is not one of alarm, operator, resident")
    return IncidentSelection(frozenset(r.strings("categories")), frozenset(r.strings("posts")),
                             frozenset(sources))


def _params(errors: Errors, path: Path, aggregate: str, data: Any) -> dict[str, Any]:
    spec = _PARAMS[aggregate]
    r = Reader(errors, path, data if data is not None else {}, set(spec))
    out: dict[str, Any] = {}
    for name, (kind, required) in spec.items():
        if kind == "number":
            v = r.number(name, required=required)
            if v is not None:
                out[name] = v
        elif kind == "strings":
            values = r.strings(name)
            if required and not values:
                errors.add(r.at(name), "required: a list of values")
            out[name] = values
        elif kind == "text":
            t = r.text(name, required=required)
            if t is not None:
                out[name] = t
        elif kind == "missing_power":
            v = r.raw(name)
            if v is None:
                pass
            elif v in ("ignore", "mean_of_known") or (
                    isinstance(v, int | float) and not isinstance(v, bool) and v >= 0):
                out[name] = v
            else:
                errors.add(r.at(name), "'ignore', 'mean_of_known' or a power in W (>= 0)")
        elif kind == "limit":
            v = r.raw(name)
            if v is None:
                errors.add(r.at(name), "required: 'sla' or a duration such as 4h")
            elif v == "sla":
                out[name] = "sla"
            else:
                try:
                    out[name] = parse_duration(v)
                except ValueError as exc:
                    errors.add(r.at(name), str(exc))
        else:
            t = r.text(name, required=required, choices=_CHOICES[kind])
            if t is not None:
                out[name] = t
    if "losses" in out and not 0 <= out["losses"] < 1:
        errors.add(r.at("losses"), "a share between 0 and 1 (0.1 for 10 %)")
    if aggregate == "percentile_of_durations" and "p" in out and not 0 <= out["p"] <= 100:
        errors.add(r.at("p"), "a percentile between 0 and 100")
    if aggregate == "share_of_buckets_within" and "low" not in out and "high" not in out:
        errors.add(path, "give low, high or both")
    for a, b in (("from", "to"),):
        if a in out and b in out and STEPS.index(out[a]) >= STEPS.index(out[b]):
            errors.add(r.at(b), f"must be a step after {out[a]!r}")
    if aggregate == "sum_of_drops" and out.get("result") == "avoided" \
            and "scheduled_per_week" not in out:
        errors.add(r.at("scheduled_per_week"), "required when result is 'avoided'")
    return out


def _target(errors: Errors, path: Path, data: Any) -> Target | None:
    if data is None:
        return None
    if isinstance(data, str):
        m = re.fullmatch(r"\s*(<=|>=|<|>|==)\s*(-?[0-9]+(?:\.[0-9]+)?)\s*", data)
        if not m:
            errors.add(path, f"{data!r}: a comparator and a number expected, e.g. '<= 1200'")
            return None
        return Target(float(m.group(2)), m.group(1))
    r = Reader(errors, path, data, {"value", "comparator"})
    value = r.number("value", required=True)
    comparator = r.text("comparator", required=True, choices=COMPARATORS)
    if value is None or comparator is None:
        return None
    return Target(value, comparator)


def _indicator(errors: Errors, path: Path, data: Any) -> Indicator | None:
    before = len(errors.items)
    r = Reader(errors, path, data, FIELDS)
    if not r.ok:
        return None
    code = r.text("id", required=True, pattern=CODE) or ""
    raw_name = r.raw("name")
    name: dict[str, str] = {}
    if isinstance(raw_name, str) and raw_name:
        name = {"en": raw_name}
    elif isinstance(raw_name, dict) and raw_name and all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in raw_name.items()):
        name = dict(raw_name)
    elif isinstance(raw_name, bool):
        errors.add(r.at("name"), BOOLEAN_HINT)
    else:
        errors.add(r.at("name"), "required: a name, or {fr: ..., en: ...}")
    unit = r.text("unit", required=True) or ""
    period = r.text("period", choices=PERIODS, default="month") or "month"
    aggregate = r.text("aggregate", required=True, choices=AGGREGATIONS) or ""
    params: dict[str, Any] = {}
    series = denominator = None
    incidents = None
    inputs: list[str] = []
    if aggregate:
        params = _params(errors, r.at("params"), aggregate, r.raw("params"))
        wants_series = aggregate not in (*INCIDENT_AGGREGATIONS, *COMBINED_AGGREGATIONS,
                                         "platform_availability", "footprint")
        if wants_series:
            if r.raw("series") is None:
                errors.add(r.at("series"), f"required by {aggregate}: "
                                           "{metric: ..., types: [...]}")
            else:
                series = _selection(errors, r.at("series"), r.raw("series"),
                                    metric_required=aggregate != "baseline_lighting")
        elif r.has("series"):
            errors.add(r.at("series"), f"not used by {aggregate}")
        if aggregate == "ratio_of_sums":
            if r.raw("denominator") is None:
                errors.add(r.at("denominator"), "required by ratio_of_sums")
            else:
                denominator = _selection(errors, r.at("denominator"), r.raw("denominator"))
        elif r.has("denominator"):
            errors.add(r.at("denominator"), "only used by ratio_of_sums")
        if aggregate in INCIDENT_AGGREGATIONS:
            incidents = _incidents(errors, r.at("incidents"), r.raw("incidents") or {})
        elif r.has("incidents"):
            errors.add(r.at("incidents"), f"not used by {aggregate}")
        if aggregate in COMBINED_AGGREGATIONS:
            inputs = r.strings("inputs")
            if len(inputs) != 2:
                errors.add(r.at("inputs"), f"{aggregate} combines exactly two indicators "
                                           "(their ids)")
            elif code in inputs:
                errors.add(r.at("inputs"), "an indicator cannot use itself")
        elif r.has("inputs"):
            errors.add(r.at("inputs"), f"not used by {aggregate}")
    target = _target(errors, r.at("target"), r.raw("target"))
    active = r.raw("active")
    if active is None:
        active = True
    elif not isinstance(active, bool):
        errors.add(r.at("active"), "true or false expected")
    if len(errors.items) > before:
        return None
    definition = orjson.loads(orjson.dumps(data))
    return Indicator(code=code, name=name, description=r.text("description", default="") or "",
                     source=r.text("source", default="") or "", unit=unit, period=period,
                     aggregate=aggregate, params=params, series=series,
                     denominator=denominator, incidents=incidents, inputs=tuple(inputs),
                     target=target, active=bool(active), definition=definition,
                     version=content_hash(definition))


def parse_indicators(docs: Any, *, lines: dict[Path, int] | None = None,
                     file: str | None = None, known: set[str] | None = None) -> list[Indicator]:
    """Validate a list of indicator mappings (or ``{indicators: [...]}``). ``known``: ids of
    indicators already defined, which ``inputs`` may name. Raises :class:`ValidationFailed`
    with every error found."""
    errors = Errors(lines, file)
    out, path, seen = parse_list(errors, docs, "indicators", "indicator", _indicator)
    names = {i.code for i in out} | (known or set())
    for i, ind in enumerate(out):
        for j, ref in enumerate(ind.inputs):
            if ref not in names:
                errors.add((*path, seen.get(ind.code, i), "inputs", j),
                           f"unknown indicator {ref!r}")
    _check_cycles(errors, path, out, seen)
    raise_errors(errors, file)
    return out


def _check_cycles(errors: Errors, path: Path, items: list[Indicator], seen: dict[str, int]
                  ) -> None:
    graph: dict[str, tuple[str, ...]] = {}
    for i in items:
        graph.setdefault(i.code, i.inputs)
    state: dict[str, int] = {}

    def visit(code: str, trail: list[str]) -> None:
        if state.get(code) == 2 or code not in graph:
            return
        if state.get(code) == 1:
            cycle = [*trail[trail.index(code):], code]
            errors.add((*path, seen.get(code, 0), "inputs"),
                       f"circular inputs: {' → '.join(cycle)}")
            return
        state[code] = 1
        for ref in graph[code]:
            visit(ref, [*trail, code])
        state[code] = 2

    for code in graph:
        visit(code, [])


def parse_indicator(data: Any, known: set[str] | None = None) -> Indicator:
    """One indicator (the API's body); error fields are relative to the body."""
    try:
        return parse_indicators([data], known=known)[0]
    except ValidationFailed as exc:
        for item in exc.details:
            item["field"] = str(item.get("field", "")).removeprefix("[0]").lstrip(".") or "body"
        raise


def parse_yaml(text: str, file: str = "<indicators>", known: set[str] | None = None
               ) -> list[Indicator]:
    data, lines = load_yaml(text, file)
    return parse_indicators(data, lines=lines, file=file, known=known)
