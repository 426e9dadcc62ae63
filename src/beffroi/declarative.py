"""Shared toolkit of the declarative formats (rules, indicators, contracts, footprint factors).

Every problem of a definition is collected, each with the path of the offending field
(``rules[3].when.for``) and, for YAML, its file and line, so that validation tells the author
exactly what to fix. :class:`Reader` gives typed access to one mapping and reports unknown keys.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, TypeVar

import yaml

from beffroi.errors import ValidationFailed

T = TypeVar("T")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
MAX_DURATION_MS = 90 * 86_400_000
BOOLEAN_HINT = ("a string expected, got a boolean (YAML reads yes, no, on, off, true, false "
                "as booleans: quote the value)")


# --- durations --------------------------------------------------------------------------------


def parse_duration(value: Any) -> int:
    """``90s``, ``15min``/``15m``, ``1h``, ``1h30m``, ``2d``, or a number of seconds → ms."""
    if isinstance(value, bool):
        raise ValueError("a duration such as 90s, 15min, 1h or 2d expected")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError("a duration must be a finite number of seconds >= 0")
        return int(value * 1000)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a duration such as 90s, 15min, 1h or 2d expected")
    text = value.strip().replace(" ", "")
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_MS[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"{value!r} is not a duration (examples: 90s, 15min, 1h, 1h30m, 2d)")
    return int(total)


def format_duration(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


# --- validation -------------------------------------------------------------------------------

Path = tuple[str | int, ...]


def path_text(path: Path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


class Errors:
    def __init__(self, lines: dict[Path, int] | None, file: str | None) -> None:
        self.items: list[dict[str, Any]] = []
        self.lines = lines or {}
        self.file = file

    def add(self, path: Path, reason: str) -> None:
        item: dict[str, Any] = {"field": path_text(path), "reason": reason}
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        if probe in self.lines:
            item["line"] = self.lines[probe]
        if self.file:
            item["file"] = self.file
        self.items.append(item)


class Reader:
    """Typed access to one mapping with error collection; unknown keys are errors."""

    def __init__(self, errors: Errors, path: Path, data: Any, allowed: set[str]) -> None:
        self.errors = errors
        self.path = path
        self.ok = isinstance(data, dict)
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        if not self.ok:
            errors.add(path, "a mapping (key: value) expected")
            return
        for key in self.data:
            if key not in allowed:
                errors.add((*path, str(key)),
                           f"unknown field (allowed: {', '.join(sorted(allowed))})")

    def at(self, key: str) -> Path:
        return (*self.path, key)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def text(self, key: str, *, required: bool = False, pattern: re.Pattern[str] | None = None,
             choices: tuple[str, ...] | None = None, default: str | None = None) -> str | None:
        if key not in self.data or self.data[key] is None:
            if required:
                self.errors.add(self.at(key), "required")
            return default
        v = self.data[key]
        if not isinstance(v, str) or not v:
            self.errors.add(self.at(key), BOOLEAN_HINT if isinstance(v, bool)
                            else "a non-empty string expected")
            return default
        if choices is not None and v not in choices:
            self.errors.add(self.at(key), f"{v!r} is not one of {', '.join(choices)}")
            return default
        if pattern is not None and not pattern.match(v):
            self.errors.add(self.at(key), f"{v!r} does not match {pattern.pattern}")
            return default
        return v

    def number(self, key: str, *, required: bool = False, minimum: float | None = None
               ) -> float | None:
        if key not in self.data or self.data[key] is None:
            if required:
                self.errors.add(self.at(key), "required")
            return None
        v = self.data[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            self.errors.add(self.at(key), f"a finite number expected, got {v!r}")
            return None
        if minimum is not None and v < minimum:
            self.errors.add(self.at(key), f"must be >= {minimum:g}")
            return None
        return float(v)

    def duration(self, key: str, *, required: bool = False, default: int | None = 0,
                 positive: bool = False) -> int | None:
        if key not in self.data or self.data[key] is None:
            if required:
                self.errors.add(self.at(key), "required (a duration such as 15min, 1h, 2d)")
            return default
        try:
            ms = parse_duration(self.data[key])
        except ValueError as exc:
            self.errors.add(self.at(key), str(exc))
            return default
        if ms > MAX_DURATION_MS:
            self.errors.add(self.at(key), "at most 90 days")
            return default
        if positive and ms <= 0:
            self.errors.add(self.at(key), "must be longer than 0")
            return default
        return ms

    def strings(self, key: str) -> list[str]:
        v = self.data.get(key)
        if v is None:
            return []
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            self.errors.add(self.at(key), "a list of strings expected")
            return []
        return list(v)




def node_lines(node: yaml.Node, path: Path, out: dict[Path, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k.start_mark.line)
            out[(*path, key)] = k.start_mark.line + 1
            node_lines(v, (*path, key), out)
            out[(*path, key)] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            node_lines(v, (*path, i), out)


class _Loader(yaml.SafeLoader):
    """YAML's safe loader without implicit timestamps: ``2026-13-01`` stays a string that the
    field's own check reports with its line, instead of an exception in the parser."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str, file: str) -> tuple[Any, dict[Path, int]]:
    """Parse YAML text; return the data and the line of every field path. A syntax error
    raises :class:`ValidationFailed` naming the file and line."""
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        item: dict[str, Any] = {"field": "file", "reason": f"not valid YAML: "
                                f"{getattr(exc, 'problem', None) or exc}", "file": file}
        if mark is not None:
            item["line"] = mark.line + 1
        raise ValidationFailed(f"{file}: not valid YAML", [item]) from exc
    lines: dict[Path, int] = {}
    if node is not None:
        node_lines(node, (), lines)
    return data, lines


def parse_list(errors: Errors, docs: Any, key: str, what: str,
               parse_one: Callable[[Errors, Path, Any], T | None], *, prefix: Path = ()
               ) -> tuple[list[T], Path, dict[str, int]]:
    """The items of a list of definitions (or of ``{key: [...]}``), each parsed by
    ``parse_one``; duplicate ``id`` values are errors. Returns the parsed items, the list's
    path and the position of each id."""
    items: Any = docs
    path: Path = prefix
    if isinstance(docs, dict) and set(docs) == {key}:
        items, path = docs[key], (*prefix, key)
    out: list[T] = []
    seen: dict[str, int] = {}
    if not isinstance(items, list):
        errors.add(path, f"a list of {key} expected ({key}: [...])")
        return out, path, seen
    for i, item in enumerate(items):
        parsed = parse_one(errors, (*path, i), item)
        ident = item.get("id") if isinstance(item, dict) else None
        if isinstance(ident, str):
            if ident in seen:
                errors.add((*path, i, "id"), f"duplicate {what} id {ident!r} (also "
                                             f"{path_text((*path, seen[ident]))})")
            seen.setdefault(ident, i)
        if parsed is not None:
            out.append(parsed)
    return out, path, seen


def raise_errors(errors: Errors, file: str | None) -> None:
    """Raise :class:`ValidationFailed` with every error collected, if any."""
    if errors.items:
        where = f" in {file}" if file else ""
        raise ValidationFailed(f"{len(errors.items)} error(s){where}", errors.items)
