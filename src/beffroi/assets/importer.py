"""Inventory imports from CSV and GeoJSON through a declared mapping (TOML).

A mapping says how each row becomes one or more assets (a lamp and its cabinet from the same
row), and optionally readings (a counter's hourly flow). Every row is checked on its own: a bad
row is reported with its line number (CSV) or feature number (GeoJSON) and the reason, and the
other rows are imported. Assets are upserted by URN and readings are idempotent, so running the
same import twice changes nothing. The mapping format is documented in ``docs/imports.md``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from beffroi.assets import geometry
from beffroi.assets import repository as repo
from beffroi.assets.models import NUMERIC_PROPERTIES, urn_type
from beffroi.assets.service import Registry, footprint_columns
from beffroi.assets.types import ASSET_TYPES, DOMAINS
from beffroi.errors import ConfigError
from beffroi.timeutil import now_ms

CHUNK_ROWS = 2000
MAX_PROBLEMS_KEPT = 1000
TYPES = {"str", "float", "int", "bool"}

# Called with the readings of a chunk; returns, per rejected reading, (index, field, reason).
ReadingSink = Callable[[list[dict[str, Any]]], tuple[int, int, list[tuple[int, str, str]]]]


class MappingError(ConfigError):
    """The mapping file itself is wrong (raised before any row is read)."""


# --- mapping -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    column: str | None = None
    template: str | None = None
    type: str = "str"
    map: dict[str, Any] | None = None
    scale: float = 1.0
    required: bool = False


@dataclass(frozen=True)
class AssetSpec:
    type: str
    id: str
    name: str | None = None
    lon: str | None = None
    lat: str | None = None
    geometry: str | None = None  # "@feature" (GeoJSON) or a column holding GeoJSON text
    parent: str | None = None
    domain: str | None = None
    control_post: str | None = None
    operator: str | None = None
    properties: dict[str, FieldSpec] = field(default_factory=dict)
    match_location_m: float | None = None


@dataclass(frozen=True)
class ObservationSpec:
    asset: str
    ts: str
    metrics: dict[str, FieldSpec]
    skip_empty: bool = True


@dataclass(frozen=True)
class Mapping:
    name: str
    description: str
    format: str
    delimiter: str
    encoding: str
    source: str
    assets: tuple[AssetSpec, ...]
    observations: tuple[ObservationSpec, ...]


def _field(name: str, raw: Any) -> FieldSpec:
    if isinstance(raw, str):
        return FieldSpec(column=raw)
    if not isinstance(raw, dict):
        raise MappingError(f"field {name!r}: a column name or a table expected")
    unknown = set(raw) - {"column", "template", "type", "map", "scale", "required"}
    if unknown:
        raise MappingError(f"field {name!r}: unknown key {sorted(unknown)[0]!r}")
    if ("column" in raw) == ("template" in raw):
        raise MappingError(f"field {name!r}: give exactly one of 'column' or 'template'")
    kind = raw.get("type", "str")
    if kind not in TYPES:
        raise MappingError(f"field {name!r}: type {kind!r} not in {sorted(TYPES)}")
    return FieldSpec(
        column=raw.get("column"), template=raw.get("template"), type=kind, map=raw.get("map"),
        scale=float(raw.get("scale", 1.0)), required=bool(raw.get("required", False)),
    )


def parse_mapping(text: str, name: str) -> Mapping:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"mapping {name}: {exc}") from exc
    fmt = doc.get("format")
    if fmt not in ("csv", "geojson"):
        raise MappingError(f"mapping {name}: format must be 'csv' or 'geojson', got {fmt!r}")
    top = set(doc) - {"name", "description", "source", "format", "delimiter", "encoding",
                      "assets", "observations"}
    if top:
        raise MappingError(f"mapping {name}: unknown key {sorted(top)[0]!r}")
    specs: list[AssetSpec] = []
    allowed = {"type", "id", "name", "lon", "lat", "geometry", "parent", "domain",
               "control_post", "operator", "properties", "match_location_m"}
    for i, raw in enumerate(doc.get("assets", [])):
        where = f"mapping {name}: assets[{i}]"
        unknown = set(raw) - allowed
        if unknown:
            raise MappingError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        if raw.get("type") not in ASSET_TYPES:
            raise MappingError(f"{where}: unknown asset type {raw.get('type')!r}")
        if "id" not in raw:
            raise MappingError(f"{where}: 'id' template required")
        if not raw.get("geometry") and not (raw.get("lon") and raw.get("lat")):
            raise MappingError(f"{where}: give 'geometry' or both 'lon' and 'lat'")
        if raw.get("domain") and raw["domain"] not in DOMAINS:
            raise MappingError(f"{where}: unknown domain {raw['domain']!r}")
        props = {k: _field(k, v) for k, v in raw.get("properties", {}).items()}
        specs.append(AssetSpec(
            type=raw["type"], id=raw["id"], name=raw.get("name"), lon=raw.get("lon"),
            lat=raw.get("lat"), geometry=raw.get("geometry"), parent=raw.get("parent"),
            domain=raw.get("domain"), control_post=raw.get("control_post"),
            operator=raw.get("operator"), properties=props,
            match_location_m=raw.get("match_location_m"),
        ))
    obs: list[ObservationSpec] = []
    for i, raw in enumerate(doc.get("observations", [])):
        where = f"mapping {name}: observations[{i}]"
        unknown = set(raw) - {"asset", "ts", "metrics", "skip_empty"}
        if unknown:
            raise MappingError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        if "asset" not in raw or "ts" not in raw or not raw.get("metrics"):
            raise MappingError(f"{where}: 'asset', 'ts' and 'metrics' required")
        obs.append(ObservationSpec(
            asset=raw["asset"], ts=raw["ts"],
            metrics={k: _field(k, v) for k, v in raw["metrics"].items()},
            skip_empty=bool(raw.get("skip_empty", True)),
        ))
    if not specs and not obs:
        raise MappingError(f"mapping {name}: nothing to import (no [[assets]] or [[observations]])")
    return Mapping(
        name=doc.get("name", name), description=doc.get("description", ""), format=fmt,
        delimiter=doc.get("delimiter", ","), encoding=doc.get("encoding", "utf-8-sig"),
        source=doc.get("source", ""), assets=tuple(specs), observations=tuple(obs),
    )


def shipped_mappings() -> dict[str, str]:
    """Name → description of the mappings that ship with Beffroi."""
    out: dict[str, str] = {}
    for item in sorted(resources.files("beffroi.assets.mappings").iterdir(), key=str):
        if item.name.endswith(".toml"):
            mapping = parse_mapping(item.read_text(encoding="utf-8"), item.name)
            out[item.name.removesuffix(".toml")] = mapping.description
    return out


def load_mapping(name_or_path: str) -> Mapping:
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return parse_mapping(path.read_text(encoding="utf-8"), path.name)
    item = resources.files("beffroi.assets.mappings").joinpath(f"{name_or_path}.toml")
    if not item.is_file():
        names = ", ".join(shipped_mappings())
        raise MappingError(f"no mapping {name_or_path!r} (shipped: {names}; or a .toml path)")
    return parse_mapping(item.read_text(encoding="utf-8"), name_or_path)


# --- rows --------------------------------------------------------------------------------------


@dataclass
class Problem:
    line: int
    field: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


class RowError(ValueError):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


class _Formatter(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        if "@feature" in self:  # GeoJSON: a property absent from this feature is empty
            return ""
        raise RowError(key, f"column {key!r} not in the file")


def _template(tpl: str, row: dict[str, Any]) -> str:
    try:
        return tpl.format_map(row)
    except (ValueError, IndexError) as exc:
        raise RowError(tpl, f"template {tpl!r}: {exc}") from exc


def _cell(row: dict[str, Any], column: str) -> Any:
    if column not in row:
        if "@feature" in row:
            # GeoJSON features carry their own property sets: a missing one is an empty value.
            return None
        raise RowError(column, f"column {column!r} not in the file")
    value = row[column]
    return value.strip() if isinstance(value, str) else value


def _convert(spec: FieldSpec, row: dict[str, Any], name: str) -> Any:
    raw = _template(spec.template, row) if spec.template else _cell(row, spec.column or name)
    if raw is None or raw == "":
        if spec.required:
            raise RowError(spec.column or name, "empty value")
        return None
    if spec.map is not None:
        key = str(raw)
        if key not in spec.map:
            raise RowError(spec.column or name, f"value {key!r} not in the mapping's table")
        return spec.map[key]
    try:
        if spec.type == "float":
            number = float(str(raw).replace(",", ".")) if isinstance(raw, str) else float(raw)
            if not math.isfinite(number):
                raise ValueError
            return number * spec.scale
        if spec.type == "int":
            return int(float(raw)) if isinstance(raw, str) else int(raw)
        if spec.type == "bool":
            return str(raw).lower() in ("1", "true", "yes", "oui", "y")
    except (TypeError, ValueError) as exc:
        raise RowError(spec.column or name, f"{raw!r} is not a valid {spec.type}") from exc
    return raw


def _read_rows(mapping: Mapping, data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line or feature number, row) pairs; a GeoJSON feature's geometry is under '@feature'."""
    if mapping.format == "csv":
        try:
            text = data.decode(mapping.encoding)
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise MappingError(
                f"line {line}: the file is not {mapping.encoding} text (byte {exc.start}); "
                "set 'encoding' in the mapping (for example 'latin-1' or 'cp1252')"
            ) from exc
        except LookupError as exc:
            raise MappingError(f"unknown encoding {mapping.encoding!r} in the mapping") from exc
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter)
        header = next(reader, None)
        if header is None:
            return
        header = [h.strip() for h in header]
        line = reader.line_num
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                yield start, {"@error": f"{len(cells)} cells where the header has {len(header)}"}
                continue
            yield start, dict(zip(header, cells, strict=True))
        return
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MappingError(f"the file is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise MappingError("a GeoJSON FeatureCollection expected")
    for i, feature in enumerate(doc.get("features") or [], start=1):
        if not isinstance(feature, dict):
            yield i, {"@error": "a feature is a JSON object"}
            continue
        row = dict(feature.get("properties") or {})
        row["@feature"] = feature.get("geometry")
        yield i, row


def count_rows(mapping: Mapping, data: bytes) -> int:
    if mapping.format == "csv":
        return max(0, data.count(b"\n") - 1 + (0 if data.endswith(b"\n") else 1))
    return data.count(b'"Feature"')


# --- the import --------------------------------------------------------------------------------


@dataclass
class ImportReport:
    mapping: str
    rows: int = 0
    bad_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    matched_by_location: int = 0
    readings: int = 0
    readings_stored: int = 0
    readings_duplicate: int = 0
    empty_values: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0

    def problem(self, line: int, field_name: str, reason: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(Problem(line, field_name, reason))

    def counts(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "bad_rows": self.bad_rows, "created": self.created,
            "updated": self.updated, "unchanged": self.unchanged,
            "matched_by_location": self.matched_by_location, "readings": self.readings,
            "readings_stored": self.readings_stored,
            "readings_duplicate": self.readings_duplicate, "empty_values": self.empty_values,
            "problems": self.problem_count,
        }


class _PointKeys:
    """Stable local ids from coordinates: a short hash of the point rounded to ~1 cm, with a
    counter for points repeated in the file (two lamps on one pole)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def key(self, lon: float, lat: float, scope: str) -> str:
        base = hashlib.sha1(f"{lon:.7f},{lat:.7f}".encode()).hexdigest()[:10]
        n = self.seen.get(scope + base, 0) + 1
        self.seen[scope + base] = n
        return base if n == 1 else f"{base}-{n}"


class _LocationIndex:
    """Existing assets of one type on a grid, to match imported rows by position."""

    CELL = 0.0005  # degrees (~50 m)

    def __init__(self, points: list[tuple[int, str, float, float]]) -> None:
        self.grid: dict[tuple[int, int], list[tuple[int, str, float, float]]] = {}
        for p in points:
            self.grid.setdefault(self._cell(p[2], p[3]), []).append(p)

    def _cell(self, lon: float, lat: float) -> tuple[int, int]:
        return math.floor(lon / self.CELL), math.floor(lat / self.CELL)

    def nearest(self, lon: float, lat: float, within_m: float) -> str | None:
        cx, cy = self._cell(lon, lat)
        best: tuple[float, str] | None = None
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for _id, urn, plon, plat in self.grid.get((cx + dx, cy + dy), ()):
                    d = geometry.distance_m(lon, lat, plon, plat)
                    if d <= within_m and (best is None or d < best[0]):
                        best = (d, urn)
        return None if best is None else best[1]


class Importer:
    def __init__(self, registry: Registry, territory: str, mapping: Mapping,
                 sink: ReadingSink | None = None) -> None:
        self.registry = registry
        self.store = registry.store
        self.territory = territory
        self.territory_id = registry.territory_id(territory)
        self.mapping = mapping
        self.sink = sink
        self.points = _PointKeys()
        self.parent_ids: dict[str, int] = {}
        self.matchers: dict[int, _LocationIndex] = {}
        self.matched: set[str] = set()
        self.done: set[str] = set()  # URNs already upserted by this run (first row wins)

    def _matcher(self, i: int, spec: AssetSpec) -> _LocationIndex:
        if i not in self.matchers:
            with self.store.read() as conn:
                rows = repo.assets_in_box(conn, self.territory_id, repo.AssetFilter(type=spec.type))
            self.matchers[i] = _LocationIndex([(int(r.id), r.urn, r.lon, r.lat) for r in rows])
        return self.matchers[i]

    def _asset(self, i: int, spec: AssetSpec, row: dict[str, Any], line: int,
               report: ImportReport) -> dict[str, Any] | None:
        ctx = _Formatter(row)
        ctx["territory"] = self.territory
        if spec.geometry == "@feature":
            geom = row.get("@feature")
        elif spec.geometry:
            text = _cell(row, spec.geometry)
            try:
                geom = orjson.loads(text) if text else None
            except orjson.JSONDecodeError as exc:
                raise RowError(spec.geometry, f"not GeoJSON text: {exc.msg}") from exc
        else:
            lon = _convert(FieldSpec(column=spec.lon, type="float", required=True), row, "lon")
            lat = _convert(FieldSpec(column=spec.lat, type="float", required=True), row, "lat")
            geom = {"type": "Point", "coordinates": [lon, lat]}
        where = ("geometry" if spec.geometry == "@feature"
                 else spec.geometry or f"{spec.lon}/{spec.lat}")
        if geom is None:
            raise RowError(where, "no geometry")
        try:
            foot = footprint_columns(geom)
        except geometry.GeometryError as exc:
            raise RowError(where, str(exc)) from exc
        if "{@point}" in spec.id:
            ctx["@point"] = self.points.key(foot["lon"], foot["lat"], spec.type)
        urn = _template(spec.id, ctx)
        if spec.match_location_m:
            found = self._matcher(i, spec).nearest(foot["lon"], foot["lat"], spec.match_location_m)
            if found is not None and found not in self.matched:
                urn = found
                self.matched.add(found)
                report.matched_by_location += 1
        problem = None if urn_type(urn) == spec.type else f"id {urn!r} is not a {spec.type} URN"
        if problem:
            raise RowError("id", problem)
        props: dict[str, Any] = {}
        for key, fspec in spec.properties.items():
            value = _convert(fspec, row, key)
            if value is not None:
                props[key] = value
        for key in NUMERIC_PROPERTIES:
            if key in props and (not isinstance(props[key], int | float) or props[key] < 0):
                raise RowError(spec.properties[key].column or key, "must be a number >= 0")
        kind = ASSET_TYPES[spec.type]
        values = {
            "urn": urn, "type": spec.type, "domain": spec.domain or kind.domain,
            "name": (_template(spec.name, ctx) or None) if spec.name else None, "geometry": geom,
            "properties": props, "control_post": spec.control_post or kind.control_post,
            "operator": spec.operator, **foot,
        }
        if spec.parent:
            values["@parent"] = _template(spec.parent, ctx)
        return values

    def _flush_assets(self, i: int, items: list[tuple[int, dict[str, Any]]],
                      report: ImportReport) -> None:
        if not items:
            return
        merged: dict[str, dict[str, Any]] = {}
        lines: dict[str, int] = {}
        for line, values in items:
            if values["urn"] in self.done:
                continue
            if values["urn"] not in merged:  # rows repeating an asset: the first one wins
                merged[values["urn"]] = values
                lines[values["urn"]] = line
        spec_rows = list(merged.values())
        parents = {v["@parent"] for v in spec_rows if "@parent" in v} - set(self.parent_ids)
        if parents:
            with self.store.read() as conn:
                self.parent_ids.update(repo.asset_ids(conn, self.territory_id, parents))
        rows: list[dict[str, Any]] = []
        for v in spec_rows:
            parent = v.pop("@parent", None)
            if parent is not None:
                if parent not in self.parent_ids:
                    report.problem(lines[v["urn"]], "parent", f"parent {parent!r} not found")
                    report.bad_rows += 1
                    continue
                v["parent_id"] = self.parent_ids[parent]
            rows.append(v)
        self.done.update(r["urn"] for r in rows)
        with self.store.write() as conn:
            created, updated, unchanged = repo.upsert_assets(
                conn, self.territory_id, rows, now_ms()
            )
            self.store.note_growth(conn, "assets", created)
            # Children in later specs of the mapping may point at these assets.
            self.parent_ids.update(repo.asset_ids(conn, self.territory_id,
                                                  [r["urn"] for r in rows]))
        report.created += created
        report.updated += updated
        report.unchanged += unchanged

    def _readings(self, spec: ObservationSpec, row: dict[str, Any], line: int,
                  report: ImportReport) -> list[tuple[int, dict[str, Any]]]:
        ctx = _Formatter(row)
        ctx["territory"] = self.territory
        asset = _template(spec.asset, ctx)
        ts = _cell(row, spec.ts)
        out: list[tuple[int, dict[str, Any]]] = []
        for metric, fspec in spec.metrics.items():
            try:
                value = _convert(fspec, row, metric)
            except RowError as exc:
                report.problem(line, exc.field, exc.reason)
                continue
            if value is None:
                column = fspec.column or metric
                if spec.skip_empty:
                    report.empty_values[column] = report.empty_values.get(column, 0) + 1
                else:
                    report.problem(line, column, "empty value")
                continue
            out.append((line, {"asset": asset, "metric": metric, "ts": ts, "value": value}))
        return out

    def _flush_readings(self, items: list[tuple[int, dict[str, Any]]],
                        report: ImportReport) -> None:
        if not items or self.sink is None:
            return
        received, stored, rejected = self.sink([r for _l, r in items])
        report.readings += received
        report.readings_stored += stored
        report.readings_duplicate += received - stored - len(rejected)
        for index, field_name, reason in rejected:
            report.problem(items[index][0], field_name, reason)

    def run(self, data: bytes, progress: Callable[[int], None] | None = None) -> ImportReport:
        report = ImportReport(self.mapping.name)
        pending: list[tuple[int, dict[str, Any]]] = []

        def flush() -> None:
            bad_lines: set[int] = set()
            per_spec: list[list[tuple[int, dict[str, Any]]]] = [[] for _ in self.mapping.assets]
            readings: list[tuple[int, dict[str, Any]]] = []
            for line, row in pending:
                if "@error" in row:
                    report.problem(line, "row", row["@error"])
                    bad_lines.add(line)
                    continue
                for i, spec in enumerate(self.mapping.assets):
                    try:
                        values = self._asset(i, spec, row, line, report)
                    except RowError as exc:
                        report.problem(line, exc.field, exc.reason)
                        bad_lines.add(line)
                        continue
                    if values is not None:
                        per_spec[i].append((line, values))
                for ospec in self.mapping.observations:
                    try:
                        readings.extend(self._readings(ospec, row, line, report))
                    except RowError as exc:
                        report.problem(line, exc.field, exc.reason)
                        bad_lines.add(line)
            for i, items in enumerate(per_spec):
                self._flush_assets(i, items, report)
            self._flush_readings(readings, report)
            report.bad_rows += len(bad_lines)
            if progress:
                progress(len(pending))
            pending.clear()

        for line, row in _read_rows(self.mapping, data):
            report.rows += 1
            pending.append((line, row))
            if len(pending) >= CHUNK_ROWS:
                flush()
        flush()
        return report
