"""The rows of each dataset, read from SQL in chunks, and the writers that turn them into file
chunks (CSV, GeoJSON, JSON, Parquet) without ever holding a whole download in memory."""

from __future__ import annotations

import csv
import importlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection, MetaData, Table, inspect, text

from beffroi.privacy import scrub
from beffroi.timeutil import to_iso

FETCH = 5_000  # rows per fetch from the database
CHUNK_ROWS = 5_000  # rows per yielded chunk of a text format
PARQUET_GROUP = 50_000  # rows per Parquet row group (one yielded chunk each)

# Reports: never read (the residents' contact data); the published table.
CONTACTS_TABLE = "request_contacts"
REQUESTS_TABLE = "service_requests"
# Coordinates of reports are rounded to this many decimals (~110 m of latitude).
PLACE_DECIMALS = 3


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # string | int | float | bool | timestamp


OBSERVATION_COLUMNS: tuple[Column, ...] = (
    Column("series", "string"), Column("asset", "string"), Column("asset_type", "string"),
    Column("metric", "string"), Column("unit", "string"),
    Column("bucket_start_local", "string"), Column("bucket_start_utc", "timestamp"),
    Column("n", "int"), Column("mean", "float"), Column("min", "float"),
    Column("max", "float"), Column("suppressed", "bool"),
)
INVENTORY_COLUMNS: tuple[Column, ...] = (
    Column("id", "string"), Column("type", "string"), Column("domain", "string"),
    Column("name", "string"), Column("lon", "float"), Column("lat", "float"),
    Column("parent", "string"), Column("simulated", "bool"), Column("properties", "string"),
)
INDICATOR_COLUMNS: tuple[Column, ...] = (
    Column("indicator", "string"), Column("label_fr", "string"), Column("label_en", "string"),
    Column("period", "string"), Column("window", "string"),
    Column("start_utc", "timestamp"), Column("end_utc", "timestamp"),
    Column("value", "float"), Column("unit", "string"), Column("target", "float"),
    Column("comparator", "string"), Column("met", "bool"),
    Column("definition_version", "string"), Column("inputs_hash", "string"),
    Column("computed_utc", "timestamp"), Column("explanation_fr", "string"),
    Column("explanation_en", "string"),
)
REQUEST_COLUMNS: tuple[Column, ...] = (
    Column("id", "string"), Column("category", "string"), Column("category_name", "string"),
    Column("status", "string"), Column("requested_utc", "timestamp"),
    Column("updated_utc", "timestamp"), Column("closed_utc", "timestamp"),
    Column("lon", "float"), Column("lat", "float"), Column("description", "string"),
    Column("status_notes", "string"),
)


def _streamed(conn: Connection, sql: str, params: dict[str, Any]) -> Iterator[Any]:
    """Rows of a query fetched a few thousand at a time (a server-side cursor on PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        result = conn.execution_options(stream_results=True, max_row_buffer=FETCH).execute(
            text(sql), params)
    else:
        result = conn.execute(text(sql), params)
    while True:
        rows = result.fetchmany(FETCH)
        if not rows:
            return
        yield from rows


# --- rows ----------------------------------------------------------------------------------------


def observation_rows(conn: Connection, territory_id: int, domain: str, resolution: str,
                     zone: ZoneInfo, from_ms: int | None, to_ms: int | None, k: int,
                     counts: dict[str, frozenset[str]]) -> Iterator[tuple[Any, ...]]:
    """Materialised rollups of the domain's number series, in (series, bucket) order; the
    statistics of counts of people or vehicles with a reading below ``k`` are suppressed."""
    table = "rollup_hour" if resolution == "hour" else "rollup_day"
    sql = (
        f"SELECT a.urn, a.type, s.metric, s.unit, r.bucket_ms, r.n, r.vmin, r.vmax, r.vsum "
        f"FROM {table} r JOIN series s ON s.id = r.series_id JOIN assets a ON a.id = s.asset_id "
        "WHERE s.territory_id = :tid AND a.domain = :domain AND s.kind = 'number' "
        "AND r.bucket_ms >= :a AND r.bucket_ms < :b ORDER BY r.series_id, r.bucket_ms")
    params = {"tid": territory_id, "domain": domain,
              "a": -(2**62) if from_ms is None else from_ms,
              "b": 2**62 if to_ms is None else to_ms}
    for urn, type_name, metric, unit, bucket, n, vmin, vmax, vsum in _streamed(conn, sql, params):
        start = int(bucket)
        local = datetime.fromtimestamp(start / 1000, zone).isoformat()
        mean = vsum / n if vsum is not None and n else None
        suppressed = metric in counts.get(type_name, frozenset()) and (vmin is None or vmin < k)
        if suppressed:
            mean = vmin = vmax = None
        yield (f"{urn}#{metric}", urn, type_name, metric, unit, local, start, int(n), mean,
               vmin, vmax, suppressed)


def _public_properties(props: dict[str, Any], private_keys: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    banned = tuple(k.lower() for k in private_keys)
    for key, value in props.items():
        low = key.lower()
        if any(b == low or (len(b) > 3 and b in low) for b in banned) or key == "simulated":
            continue
        if isinstance(value, str):
            value = scrub(value)
        elif isinstance(value, dict | list):
            continue  # nested structures may hide anything: not published
        out[key] = value
    return out


def inventory_rows(conn: Connection, territory_id: int, domain: str,
                   private_keys: Iterable[str]) -> Iterator[tuple[dict[str, Any], tuple[Any, ...]]]:
    """(GeoJSON geometry, CSV row) of each asset of the domain, in id order."""
    keys = list(private_keys)
    sql = ("SELECT a.urn, a.type, a.domain, a.name, a.lon, a.lat, a.geometry, a.properties, "
           "p.urn AS parent FROM assets a LEFT JOIN assets p ON p.id = a.parent_id "
           "WHERE a.territory_id = :tid AND a.domain = :domain ORDER BY a.id")
    for row in _streamed(conn, sql, {"tid": territory_id, "domain": domain}):
        geometry = row.geometry if isinstance(row.geometry, dict) else orjson.loads(row.geometry)
        raw = row.properties if isinstance(row.properties, dict) else orjson.loads(
            row.properties or "{}")
        props = _public_properties(raw, keys)
        simulated = bool(raw.get("simulated", False))
        yield geometry, (row.urn, row.type, row.domain, scrub(row.name), row.lon, row.lat,
                         row.parent, simulated, orjson.dumps(props, option=orjson.OPT_SORT_KEYS)
                         .decode())


def request_table(conn: Connection) -> Table | None:
    """The reports table when the residents' reports are installed (reflected: only its own
    columns; the contacts table is never reflected nor read)."""
    if not inspect(conn).has_table(REQUESTS_TABLE):
        return None
    table = Table(REQUESTS_TABLE, MetaData(), autoload_with=conn)
    assert table.name != CONTACTS_TABLE
    return table


def _pick(names: set[str], *candidates: str) -> str | None:
    return next((c for c in candidates if c in names), None)


def request_columns(table: Table) -> dict[str, str | None]:
    """Which column of the reports table holds each published field (None: absent)."""
    names = {c.name for c in table.columns}
    return {
        "id": _pick(names, "public_id", "service_request_id", "id"),
        "category": _pick(names, "service_code", "category"),
        "status": _pick(names, "status"),
        "requested": _pick(names, "requested_ms", "created_ms"),
        "updated": _pick(names, "updated_ms"),
        "closed": _pick(names, "closed_ms"),
        "lon": _pick(names, "lon", "long"),
        "lat": _pick(names, "lat"),
        "description": _pick(names, "description"),
        "notes": _pick(names, "status_notes"),
        "territory": _pick(names, "territory_id"),
        "incident": _pick(names, "incident_id"),
    }


def _ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, datetime):
        zoned = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(zoned.timestamp() * 1000)
    try:
        return int(datetime.fromisoformat(str(value)).timestamp() * 1000)
    except ValueError:
        return None


def request_rows(conn: Connection, table: Table, territory_id: int,
                 names: dict[str, str]) -> Iterator[tuple[Any, ...]]:
    """The published fields of the territory's reports, never a personal one: the author's
    contact data (another table), the typed address and the photo are not read. The status is
    the Open311 one: the incident's when the report became one."""
    c = {k: (f'r."{v}"' if v else "NULL") for k, v in request_columns(table).items()}
    if c["territory"] == "NULL":
        return
    if c["incident"] != "NULL" and inspect(conn).has_table("incidents"):
        joined = f'LEFT JOIN incidents i ON i.id = {c["incident"]}'
        status = (f"CASE WHEN {c['incident']} IS NULL THEN {c['status']} "
                  "WHEN i.state IN ('resolved', 'closed') THEN 'closed' ELSE 'open' END")
        closed = (f"CASE WHEN {c['incident']} IS NULL THEN {c['closed']} "
                  "ELSE COALESCE(i.resolved_ms, i.closed_ms) END")
        updated = (f"CASE WHEN i.updated_ms IS NOT NULL AND i.updated_ms > {c['updated']} "
                   f"THEN i.updated_ms ELSE {c['updated']} END")
    else:
        joined, status, closed, updated = "", c["status"], c["closed"], c["updated"]
    sql = (f"SELECT {c['id']}, {c['category']}, {status}, {c['requested']}, {updated}, "
           f"{closed}, {c['lon']}, {c['lat']}, {c['description']}, {c['notes']} "
           f'FROM "{REQUESTS_TABLE}" r {joined} WHERE {c["territory"]} = :tid '
           f"ORDER BY {c['requested']}, {c['id']}")
    for (rid, category, state, requested, changed, ended, lon, lat, description,
         notes) in _streamed(conn, sql, {"tid": territory_id}):
        yield (
            None if rid is None else str(rid), category, names.get(category or ""), state,
            _ms(requested), _ms(changed), _ms(ended),
            None if lon is None else round(float(lon), PLACE_DECIMALS),
            None if lat is None else round(float(lat), PLACE_DECIMALS),
            scrub(description), scrub(notes),
        )


# --- writers -------------------------------------------------------------------------------------


def _cell(value: Any, kind: str) -> Any:
    if value is None:
        return ""
    if kind == "timestamp":
        return to_iso(int(value))
    if kind == "bool":
        return "true" if value else "false"
    return value


def csv_chunks(columns: tuple[Column, ...], rows: Iterable[tuple[Any, ...]]) -> Iterator[bytes]:
    """UTF-8 CSV (comma, header row, RFC 4180 quoting), a few thousand rows per chunk."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([c.name for c in columns])
    for count, row in enumerate(rows, 1):
        writer.writerow([_cell(v, c.kind) for v, c in zip(row, columns, strict=True)])
        if count % CHUNK_ROWS == 0:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()


def _record(columns: tuple[Column, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    return {c.name: (to_iso(int(v)) if c.kind == "timestamp" and v is not None else v)
            for v, c in zip(row, columns, strict=True)}


def json_chunks(columns: tuple[Column, ...], rows: Iterable[tuple[Any, ...]],
                head: dict[str, Any]) -> Iterator[bytes]:
    """``{...head, "items": [records]}``, streamed."""
    opening = orjson.dumps(head)[:-1]
    yield opening + (b',"items":[' if head else b'"items":[')
    parts: list[bytes] = []
    first = True
    for row in rows:
        parts.append((b"" if first else b",") + orjson.dumps(_record(columns, row)))
        first = False
        if len(parts) >= CHUNK_ROWS:
            yield b"".join(parts)
            parts = []
    parts.append(b"]}")
    yield b"".join(parts)


def geojson_chunks(features: Iterable[tuple[dict[str, Any] | None, dict[str, Any]]],
                   head: dict[str, Any]) -> Iterator[bytes]:
    """A GeoJSON FeatureCollection (RFC 7946), streamed: (geometry, properties) pairs."""
    yield orjson.dumps({"type": "FeatureCollection", **head})[:-1] + b',"features":['
    parts: list[bytes] = []
    first = True
    for geometry, props in features:
        feature = {"type": "Feature", "id": props.get("id"), "geometry": geometry,
                   "properties": props}
        parts.append((b"" if first else b",") + orjson.dumps(feature))
        first = False
        if len(parts) >= CHUNK_ROWS:
            yield b"".join(parts)
            parts = []
    parts.append(b"]}")
    yield b"".join(parts)


class _Sink:
    """A write-only file for pyarrow whose bytes are taken out after each row group."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts = []
        return out


def parquet_chunks(columns: tuple[Column, ...], rows: Iterable[tuple[Any, ...]],
                   metadata: dict[str, str]) -> Iterator[bytes]:
    """Parquet (zstd), one row group of up to 50,000 rows per chunk."""
    pa: Any = importlib.import_module("pyarrow")
    pq: Any = importlib.import_module("pyarrow.parquet")

    types = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(),
             "bool": pa.bool_(), "timestamp": pa.timestamp("ms", tz="UTC")}
    schema = pa.schema([pa.field(c.name, types[c.kind]) for c in columns],
                       metadata={k.encode(): v.encode() for k, v in metadata.items()})
    sink = _Sink()
    writer = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema, compression="zstd")
    batch: list[tuple[Any, ...]] = []

    def flush() -> bytes:
        arrays = [pa.array([r[i] for r in batch], type=types[c.kind])
                  for i, c in enumerate(columns)]
        writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        batch.clear()
        return sink.take()

    for row in rows:
        batch.append(row)
        if len(batch) >= PARQUET_GROUP:
            yield flush()
    if batch:
        yield flush()
    writer.close()
    yield sink.take()
