"""The open-data catalog and its downloads: declared datasets per territory, their DCAT-AP
metadata, and anonymised downloads generated in chunks from SQL."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from beffroi import __version__
from beffroi.errors import NotFound, ValidationFailed, field_error
from beffroi.opendata import dcat, exports
from beffroi.opendata.datasets import FORMATS, LICENCES, Dataset, count_metrics, declaration, expand
from beffroi.timeutil import to_iso

COVERAGE_TTL_S = 300.0  # the catalog's coverage figures (scans of rollups) are cached this long
FORMAT_VERSION = "1"  # bumped when the layout of a download changes (part of every ETag)


@dataclass
class Download:
    """A download ready to stream: its chunks are produced when iterated."""

    chunks: Iterator[bytes]
    media_type: str
    filename: str
    etag: str


@dataclass
class _Territory:
    id: int
    code: str
    name: str
    zone: ZoneInfo
    created_ms: int
    lon: float | None
    lat: float | None


def _etag(*parts: Any) -> str:
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    return f'"{digest}"'


class OpenData:
    def __init__(self, store: Any, registry: Any, telemetry: Any, indicators: Any,
                 citizens: Any, clock: Any, settings: Any) -> None:
        self.store = store
        self.registry = registry
        self.telemetry = telemetry
        self.indicators = indicators
        self.citizens = citizens
        self.clock = clock
        self.settings = settings
        self._coverage: dict[str, tuple[float, Any, dict[str, dcat.Coverage]]] = {}
        self._lock = threading.Lock()

    # --- territories and datasets -------------------------------------------------------------

    def _territory(self, code: str) -> _Territory:
        row = self.registry.territory_row(code)
        return _Territory(int(row.id), row.code, row.name, ZoneInfo(row.timezone),
                          int(row.created_ms), row.center_lon, row.center_lat)

    def base_url(self, code: str) -> str:
        return f"{str(self.settings.public_url).rstrip('/')}/open-data/{code}"

    @property
    def k(self) -> int:
        return int(self.settings.opendata_k_threshold)

    def _domains(self, tid: int) -> list[str]:
        with self.store.read() as conn:
            rows = conn.execute(text(
                "SELECT DISTINCT domain FROM assets WHERE territory_id = :tid ORDER BY domain"),
                {"tid": tid}).scalars().all()
        return [str(r) for r in rows]

    def _has_requests(self) -> bool:
        with self.store.read() as conn:
            return exports.request_table(conn) is not None

    def datasets(self, code: str) -> list[Dataset]:
        t = self._territory(code)
        return expand(t.name, self._domains(t.id), self._has_requests())

    def dataset(self, code: str, dataset_id: str) -> Dataset:
        for ds in self.datasets(code):
            if ds.id == dataset_id:
                return ds
        raise NotFound(f"dataset {dataset_id!r} not found in the open-data catalog of {code!r}")

    def licence_of(self, ds: Dataset) -> str:
        return ds.licence or str(self.settings.opendata_licence)

    # --- coverage (spatial and temporal extent, modification) ----------------------------------

    def _state_key(self, t: _Territory) -> Any:
        with self.store.read() as conn:
            until = conn.execute(text("SELECT hour_until_ms FROM rollup_state WHERE id = 1")
                                 ).scalar()
            assets = conn.execute(text(
                "SELECT count(*), max(updated_ms) FROM assets WHERE territory_id = :tid"),
                {"tid": t.id}).one()
        return (until, tuple(assets), self.registry.registry_version(t.id))

    def coverage(self, code: str) -> dict[str, dcat.Coverage]:
        t = self._territory(code)
        key = self._state_key(t)
        now = time.monotonic()
        with self._lock:
            cached = self._coverage.get(code)
            if cached and cached[1] == key and now - cached[0] < COVERAGE_TTL_S:
                return cached[2]
        out = self._compute_coverage(t)
        with self._lock:
            self._coverage[code] = (now, key, out)
        return out

    def _compute_coverage(self, t: _Territory) -> dict[str, dcat.Coverage]:
        out: dict[str, dcat.Coverage] = {}
        with self.store.read() as conn:
            until = conn.execute(text("SELECT hour_until_ms FROM rollup_state WHERE id = 1")
                                 ).scalar()
            for row in conn.execute(text(
                    "SELECT domain, min(created_ms), max(updated_ms), min(min_lon), "
                    "min(min_lat), max(max_lon), max(max_lat) FROM assets "
                    "WHERE territory_id = :tid GROUP BY domain"), {"tid": t.id}):
                domain, first, last, x0, y0, x1, y1 = row
                bbox = (float(x0), float(y0), float(x1), float(y1))
                out[f"inventory-{domain}"] = dcat.Coverage(int(first), int(last), int(last),
                                                           bbox)
                out[f"_bbox-{domain}"] = dcat.Coverage(bbox=bbox)
            for domain, first, last in conn.execute(text(
                    "SELECT a.domain, min(r.bucket_ms), max(r.last_ts_ms) FROM rollup_day r "
                    "JOIN series s ON s.id = r.series_id JOIN assets a ON a.id = s.asset_id "
                    "WHERE s.territory_id = :tid AND s.kind = 'number' GROUP BY a.domain"),
                    {"tid": t.id}):
                out[f"observations-{domain}-daily"] = dcat.Coverage(
                    int(first), int(last), int(last), out[f"_bbox-{domain}"].bbox)
            # Hourly: the days' extent (rollups are kept for ever) and the recent hours not
            # in a closed day yet; only the last week of rollup_hour is scanned.
            for domain in {k.split("-")[1] for k in out if k.startswith("observations-")}:
                day = out[f"observations-{domain}-daily"]
                out[f"observations-{domain}-hourly"] = dcat.Coverage(
                    day.start_ms, day.end_ms, day.modified_ms, day.bbox)
            for domain, first, last in conn.execute(text(
                    "SELECT a.domain, min(r.bucket_ms), max(r.last_ts_ms) FROM rollup_hour r "
                    "JOIN series s ON s.id = r.series_id JOIN assets a ON a.id = s.asset_id "
                    "WHERE s.territory_id = :tid AND s.kind = 'number' AND r.bucket_ms >= "
                    ":recent GROUP BY a.domain"),
                    {"tid": t.id, "recent": (until or 0) - 7 * 86_400_000}):
                hour = out.get(f"observations-{domain}-hourly")
                start = int(first) if hour is None or hour.start_ms is None else min(
                    hour.start_ms, int(first))
                end = int(last) if hour is None or hour.end_ms is None else max(
                    hour.end_ms, int(last))
                out[f"observations-{domain}-hourly"] = dcat.Coverage(
                    start, end, end, out[f"_bbox-{domain}"].bbox)
            ind = conn.execute(text(
                "SELECT min(start_ms), max(end_ms), max(computed_ms) FROM indicator_values "
                "WHERE territory_id = :tid"), {"tid": t.id}).one()
            if ind[0] is not None:
                out["indicators"] = dcat.Coverage(int(ind[0]), int(ind[1]), int(ind[2]))
            table = exports.request_table(conn)
            if table is not None:
                cols = exports.request_columns(table)
                if cols["territory"] and cols["requested"]:
                    first, last = conn.execute(text(
                        f'SELECT min("{cols["requested"]}"), max("{cols["requested"]}") '
                        f'FROM "{exports.REQUESTS_TABLE}" WHERE "{cols["territory"]}" = :tid'),
                        {"tid": t.id}).one()
                    a, b = exports._ms(first), exports._ms(last)
                    if a is not None and b is not None:
                        out["service-requests"] = dcat.Coverage(a, b, b)
        return out

    # --- catalog -------------------------------------------------------------------------------

    def catalog_input(self, code: str) -> dcat.CatalogInput:
        t = self._territory(code)
        datasets = expand(t.name, self._domains(t.id), self._has_requests())
        coverage = self.coverage(code)
        boxes = [c.bbox for k, c in coverage.items() if k.startswith("_bbox-") and c.bbox]
        bbox = None
        if boxes:
            bbox = (min(b[0] for b in boxes), min(b[1] for b in boxes),
                    max(b[2] for b in boxes), max(b[3] for b in boxes))
        elif t.lon is not None and t.lat is not None:
            bbox = (t.lon, t.lat, t.lon, t.lat)
        return dcat.CatalogInput(
            code=t.code, name=t.name, base=self.base_url(t.code), issued_ms=t.created_ms,
            licence=str(self.settings.opendata_licence), k=self.k, datasets=datasets,
            coverage=coverage, bbox=bbox)

    def catalog_graph(self, code: str, only: str | None = None) -> Any:
        if only is not None:
            self.dataset(code, only)
        return dcat.build_graph(self.catalog_input(code), only)

    def catalog(self, code: str, fmt: str = "jsonld", only: str | None = None) -> bytes:
        g = self.catalog_graph(code, only)
        return dcat.to_turtle(g) if fmt == "ttl" else dcat.to_jsonld(g)

    def page(self, code: str) -> dict[str, Any]:
        """What the HTML catalog page shows."""
        c = self.catalog_input(code)
        items = []
        for ds in c.datasets:
            cov = c.coverage.get(ds.id, dcat.Coverage())
            lic = LICENCES[ds.licence or c.licence]
            items.append({
                "id": ds.id, "title": ds.title, "description": ds.description,
                "licence": lic, "frequency": ds.frequency,
                "start": to_iso(cov.start_ms) if cov.start_ms is not None else None,
                "end": to_iso(cov.end_ms) if cov.end_ms is not None else None,
                "downloads": [{"format": FORMATS[e].label, "ext": e,
                               "media_type": FORMATS[e].media_type,
                               "url": dcat.download_url(c.base, ds.id, e)} for e in ds.formats],
                "metadata": str(dcat.dataset_uri(c.base, ds.id)),
            })
        return {"code": c.code, "name": c.name, "base": c.base, "datasets": items,
                "k": c.k, "licence": LICENCES[c.licence],
                "counts": {t: sorted(m) for t, m in count_metrics().items()}}

    # --- downloads -----------------------------------------------------------------------------

    def parse_bound(self, value: str | None, name: str, zone: ZoneInfo) -> int | None:
        """A ``from``/``to`` bound: a local date (YYYY-MM-DD) or an ISO 8601 time with offset."""
        if value is None or value == "":
            return None
        try:
            if len(value) == 10:
                day = date.fromisoformat(value)
                return int(datetime.combine(day, dtime(0), zone).timestamp() * 1000)
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationFailed(f"invalid {name!r}", [field_error(
                name, "a date (YYYY-MM-DD, local day) or an ISO 8601 time with offset")]) from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return int(moment.timestamp() * 1000)

    def _etag_state(self, t: _Territory, ds: Dataset) -> Any:
        with self.store.read() as conn:
            if ds.kind == "inventory":
                return tuple(conn.execute(text(
                    "SELECT count(*), max(updated_ms), max(id) FROM assets "
                    "WHERE territory_id = :tid AND domain = :d"),
                    {"tid": t.id, "d": ds.domain}).one())
            if ds.kind.startswith("observations"):
                state = tuple(conn.execute(text(
                    "SELECT hour_until_ms, pending_min_ms FROM rollup_state WHERE id = 1")).one())
                dirty = conn.execute(text("SELECT count(*) FROM rollup_dirty")).scalar()
                series = tuple(conn.execute(text(
                    "SELECT count(*), max(s.id) FROM series s JOIN assets a ON a.id = s.asset_id "
                    "WHERE s.territory_id = :tid AND a.domain = :d"),
                    {"tid": t.id, "d": ds.domain}).one())
                return (state, dirty, series)
            if ds.kind == "indicators":
                return tuple(conn.execute(text(
                    "SELECT count(*), max(id), max(computed_ms) FROM indicator_values "
                    "WHERE territory_id = :tid"), {"tid": t.id}).one())
            table = exports.request_table(conn)
            if table is None:
                return None
            cols = exports.request_columns(table)
            stamp = cols["updated"] or cols["requested"] or cols["id"]
            own = tuple(conn.execute(text(
                f'SELECT count(*), max("{stamp}") FROM "{exports.REQUESTS_TABLE}" '
                f'WHERE "{cols["territory"]}" = :tid'), {"tid": t.id}).one())
            incidents = None
            if cols["incident"]:  # statuses follow the incidents the reports became
                incidents = conn.execute(text(
                    f'SELECT max(i.updated_ms) FROM "{exports.REQUESTS_TABLE}" r JOIN incidents '
                    f'i ON i.id = r."{cols["incident"]}" WHERE r."{cols["territory"]}" = :tid'),
                    {"tid": t.id}).scalar()
            return (own, incidents)

    def download(self, code: str, dataset_id: str, distribution: str, ext: str,
                 from_: str | None = None, to: str | None = None) -> Download:
        t = self._territory(code)
        ds = self.dataset(code, dataset_id)
        if distribution != "data":
            raise NotFound(f"distribution {distribution!r} not found (use data.<format>)")
        if ext not in ds.formats:
            raise NotFound(f"format {ext!r} not available for {dataset_id!r} "
                           f"(available: {', '.join(ds.formats)})")
        observations = ds.kind.startswith("observations")
        if (from_ or to) and not observations:
            raise ValidationFailed("date filters apply to observations only", [
                field_error("from" if from_ else "to", "only for observations datasets")])
        a = self.parse_bound(from_, "from", t.zone)
        b = self.parse_bound(to, "to", t.zone)
        if a is not None and b is not None and b <= a:
            raise ValidationFailed("empty range", [field_error("to", "must be after 'from'")])
        etag = _etag(FORMAT_VERSION, __version__, t.id, ds.id, ext, a, b, self.k,
                     self.licence_of(ds), self._etag_state(t, ds))
        suffix = "".join(f"-{p}" for p in (from_, to) if p)
        filename = f"{t.code}-{ds.id}{suffix}.{ext}".replace(":", "")
        return Download(self._chunks(t, ds, ext, a, b), FORMATS[ext].media_type, filename, etag)

    def _chunks(self, t: _Territory, ds: Dataset, ext: str, a: int | None, b: int | None
                ) -> Iterator[bytes]:
        licence = LICENCES[self.licence_of(ds)]
        meta = {"dataset": ds.id, "territory": t.code, "licence": licence.uri,
                "source": str(dcat.dataset_uri(self.base_url(t.code), ds.id))}
        with self.store.read() as conn:
            if ds.kind == "inventory":
                rows = exports.inventory_rows(conn, t.id, str(ds.domain),
                                              declaration()["private_property_keys"])
                cols = exports.INVENTORY_COLUMNS
                if ext == "csv":
                    yield from exports.csv_chunks(cols, (r for _g, r in rows))
                else:
                    feats = ((g, _props(cols, r)) for g, r in rows)
                    yield from exports.geojson_chunks(feats, {"name": ds.id, **meta})
            elif ds.kind.startswith("observations"):
                rows2 = exports.observation_rows(conn, t.id, str(ds.domain),
                                                 str(ds.resolution), t.zone, a, b, self.k,
                                                 count_metrics())
                cols = exports.OBSERVATION_COLUMNS
                if ext == "csv":
                    yield from exports.csv_chunks(cols, rows2)
                else:
                    meta["k_threshold"] = str(self.k)
                    yield from exports.parquet_chunks(cols, rows2, meta)
            elif ds.kind == "indicators":
                cols = exports.INDICATOR_COLUMNS
                rows3 = self._indicator_rows(conn, t)
                if ext == "csv":
                    yield from exports.csv_chunks(cols, rows3)
                else:
                    yield from exports.json_chunks(cols, rows3, meta)
            else:
                table = exports.request_table(conn)
                cols = exports.REQUEST_COLUMNS
                rows4 = iter(()) if table is None else exports.request_rows(
                    conn, table, t.id, self._category_names(t.code))
                if ext == "csv":
                    yield from exports.csv_chunks(cols, rows4)
                else:
                    feats2 = ((_point(r), _props(cols, r)) for r in rows4)
                    yield from exports.geojson_chunks(feats2, {"name": ds.id, **meta})

    def _category_names(self, code: str) -> dict[str, str]:
        try:
            return {s.service_code: s.service_name for s in self.citizens.services(code, "fr")}
        except Exception:  # the categories are a nicety: the codes are published anyway
            return {}

    def _indicator_rows(self, conn: Any, t: _Territory) -> Iterator[tuple[Any, ...]]:
        from beffroi.indicators.explain import explain
        from beffroi.indicators.service import _value_from_row

        definitions: dict[tuple[str, str], Any] = {}
        last: tuple[str, str, int] | None = None
        from sqlalchemy import select

        from beffroi.indicators.tables import indicator_values as iv

        result = conn.execute(select(iv).where(iv.c.territory_id == t.id).order_by(
            iv.c.code, iv.c.period, iv.c.start_ms, iv.c.computed_ms.desc(), iv.c.id.desc()))
        for row in result:
            key = (row.code, row.period, int(row.start_ms))
            if key == last:
                continue  # one value per window: the most recently computed
            last = key
            value = _value_from_row(row)
            dkey = (value.code, value.version)
            if dkey not in definitions:
                try:
                    definitions[dkey] = self.indicators.definition(t.code, value.code,
                                                                   value.version)
                except NotFound:
                    definitions[dkey] = None
            ind = definitions[dkey]
            yield (value.code, ind.label("fr") if ind else value.code,
                   ind.label("en") if ind else value.code, value.window.period,
                   value.window.label, value.window.start_ms, value.window.end_ms,
                   value.value, value.unit, value.target, value.comparator, value.met,
                   value.version, value.lineage.inputs_hash, value.computed_ms,
                   explain(value, ind, "fr"), explain(value, ind, "en"))


def _props(cols: tuple[exports.Column, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c, v in zip(cols, row, strict=True):
        if c.kind == "timestamp" and v is not None:
            out[c.name] = to_iso(int(v))
        elif c.name == "properties" and isinstance(v, str):
            import orjson

            out[c.name] = orjson.loads(v)
        else:
            out[c.name] = v
    return out


def _point(row: tuple[Any, ...]) -> dict[str, Any] | None:
    lon, lat = row[7], row[8]
    if lon is None or lat is None:
        return None
    return {"type": "Point", "coordinates": [lon, lat]}
