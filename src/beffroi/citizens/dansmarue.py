"""Reader of Paris's "DansMaRue" open-data export (residents' reports; Ville de Paris, ODbL).

The file is a CSV with one report per row (``numero, type, soustype, adresse, ..., datedecl,
..., intervenant, id_dmr, geo_shape, geo_point_2d, ..., latitude, longitude, ...``). Each row
becomes an :class:`~beffroi.citizens.models.ImportedRequest`:

- ``source_id``: ``id_dmr`` (unique in the file, e.g. ``A2024C016447``); when it is empty,
  ``numero:<numero>`` (``numero`` alone is *not* unique across years: use it only as a last
  resort). A source id seen twice in one file rejects the second row.
- ``service_code``: from ``type``/``soustype`` through :data:`SERVICE_MAP` (the territory's
  incident categories; see the table there), or the code given to override it.
- ``description``: ``soustype (type)``.
- ``requested_ms``: ``datedecl`` (a date) at local noon in the territory's time zone
  (Europe/Paris by default): the file has no time of day, and noon keeps the same calendar
  date whatever zone the value is later shown in. A full date-time is taken as is (local time
  when it has no offset).
- ``lon``/``lat``: ``longitude``/``latitude`` (``geo_point_2d`` "lat, lon" when they are empty),
  WGS84, checked to lie inside :data:`PARIS_BBOX`.
- ``address``: ``adresse``; ``agency``: ``intervenant`` (e.g. DVD, the roads department).
- ``status``: the file has none: the caller says ``closed`` (default for historical files)
  or ``open``; ``closed_ms`` is unknown, hence ``None``.

Parsing is a pure function (:func:`parse`) that yields the items and the problems of bad
rows, each with its line number and field; :func:`import_file` feeds the items to the
citizens service in batches.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from beffroi.citizens.models import ImportedRequest
from beffroi.timeutil import now_ms

BATCH = 500
STATUSES = ("closed", "open")
# (west, south, east, north): the 20 arrondissements with the Bois de Boulogne and the Bois de
# Vincennes (from Paris's arrondissements.geojson, 48.8156-48.9022 N, 2.2241-2.4698 E), padded
# by about 100 m.
PARIS_BBOX = (2.223, 48.814, 2.471, 48.903)
EARLIEST = date(2012, 1, 1)  # DansMaRue opened in 2013: earlier dates are typos
REQUIRED_COLUMNS = ("type", "datedecl")

# (type, soustype prefix or "" for any) → incident category of the territory, first match
# wins. The default categories (beffroi.operations.defaults.CATEGORIES) have no roads or
# public-space category: sidewalk and roadway defects go to "resident-report" (the citizen
# line, the closest fit) until the territory declares one (then pass it as service_code).
SERVICE_MAP: tuple[tuple[str, str, str], ...] = (
    ("voirie et espace public", "trottoirs", "resident-report"),
    ("voirie et espace public", "chaussée", "resident-report"),
    ("voirie et espace public", "signalisation lumineuse", "traffic-signal-fault"),
    ("éclairage public", "", "lamp-out"),
    ("propreté", "", "waste-overflow"),
    ("eau", "", "water-leak"),
    ("autos, motos, vélos, trottinettes", "", "parking"),
    ("voirie et espace public", "", "resident-report"),
)
DEFAULT_SERVICE = "resident-report"  # any other type: the citizen line sorts it out


@dataclass(frozen=True)
class Problem:
    """A rejected row: its line in the file (the header is line 1), the field, the reason."""

    line: int
    field: str
    reason: str

    def as_tuple(self) -> tuple[int, str, str]:
        return (self.line, self.field, self.reason)


@dataclass(frozen=True)
class Parsed:
    """A valid row and the line it starts on."""

    line: int
    item: ImportedRequest


@dataclass
class ImportReport:
    """What an import did. ``rejected`` holds (line, field, reason), in file order."""

    read: int = 0
    imported: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    per_service: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"read": self.read, "imported": self.imported, "unchanged": self.unchanged,
                "rejected": list(self.rejected), "per_service": dict(self.per_service)}


class _RowError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def service_for(type_: str, soustype: str) -> str:
    """The incident category of a DansMaRue type and subtype (see :data:`SERVICE_MAP`)."""
    t, s = type_.strip().casefold(), soustype.strip().casefold()
    for map_type, prefix, code in SERVICE_MAP:
        if t == map_type and s.startswith(prefix):
            return code
    return DEFAULT_SERVICE


def _text(row: dict[str, str | None], name: str) -> str:
    return (row.get(name) or "").strip()


def _requested_ms(raw: str, zone: ZoneInfo, latest_ms: int) -> int:
    if not raw:
        raise _RowError("datedecl", "missing date")
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime.combine(day, time(12), tzinfo=zone)
        else:
            moment = datetime.fromisoformat(raw.replace(" ", "T", 1))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
            day = moment.date()
    except ValueError:
        raise _RowError("datedecl", f"not a date (YYYY-MM-DD): {raw!r}") from None
    if day < EARLIEST:
        raise _RowError("datedecl", f"{raw} is before {EARLIEST.isoformat()}")
    ms = int(moment.timestamp() * 1000)
    if ms > latest_ms:
        raise _RowError("datedecl", f"{raw} is in the future")
    return ms


def _coordinate(raw: str, name: str, low: float, high: float, limit: float) -> float:
    try:
        value = float(raw.replace(",", ".")) if "," in raw and "." not in raw else float(raw)
    except ValueError:
        raise _RowError(name, f"not a number: {raw!r}") from None
    if not math.isfinite(value) or abs(value) > limit:
        raise _RowError(name, f"{raw} is not a WGS84 {name} (degrees, ±{limit:g})")
    if not low <= value <= high:
        raise _RowError(name, f"{value} is outside Paris ({low} to {high}); point out of "
                              "bounds")
    return value


def _point(row: dict[str, str | None], bbox: tuple[float, float, float, float]
           ) -> tuple[float, float]:
    lon_raw, lat_raw = _text(row, "longitude"), _text(row, "latitude")
    if not lon_raw and not lat_raw:
        pair = _text(row, "geo_point_2d")
        if pair.count(",") == 1:  # "lat, lon"
            lat_raw, lon_raw = (p.strip() for p in pair.split(","))
    if not lon_raw or not lat_raw:
        missing = "longitude" if not lon_raw else "latitude"
        raise _RowError(missing, "missing coordinates (longitude, latitude and geo_point_2d "
                                 "empty)" if not lon_raw and not lat_raw
                        else f"missing coordinate ({missing} empty)")
    west, south, east, north = bbox
    lon = _coordinate(lon_raw, "longitude", west, east, 180.0)
    lat = _coordinate(lat_raw, "latitude", south, north, 90.0)
    return lon, lat


def _row(row: dict[str, str | None], *, status: str, service_code: str | None, zone: ZoneInfo,
         bbox: tuple[float, float, float, float], latest_ms: int) -> ImportedRequest:
    if None in row:  # csv puts the cells beyond the header under the key None
        raise _RowError("row", "more cells than columns in the header")
    source_id = _text(row, "id_dmr")
    if not source_id:
        numero = _text(row, "numero")
        if not numero:
            raise _RowError("id_dmr", "missing id (id_dmr and numero empty)")
        source_id = f"numero:{numero}"
    type_, soustype = _text(row, "type"), _text(row, "soustype")
    if not type_ and not soustype:
        raise _RowError("type", "missing type and soustype (nothing to describe)")
    description = f"{soustype} ({type_})" if soustype and type_ else soustype or type_
    requested_ms = _requested_ms(_text(row, "datedecl"), zone, latest_ms)
    lon, lat = _point(row, bbox)
    return ImportedRequest(
        source_id=source_id,
        service_code=service_code or service_for(type_, soustype),
        description=description,
        requested_ms=requested_ms,
        status=status,
        lon=lon,
        lat=lat,
        address=_text(row, "adresse") or None,
        closed_ms=None,
        agency=_text(row, "intervenant") or None,
    )


def parse(source: TextIO, *, status: str = "closed", service_code: str | None = None,
          timezone: str = "Europe/Paris",
          bbox: tuple[float, float, float, float] = PARIS_BBOX,
          latest_ms: int | None = None) -> Iterator[Parsed | Problem]:
    """Yield, in file order, a :class:`Parsed` item for each valid row and a
    :class:`Problem` for each bad one (a missing column of the header is one problem on
    line 1, then nothing else). ``source`` is a text stream (open it with ``newline=""``).
    Dates after ``latest_ms`` (default: now) are rejected."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    zone = ZoneInfo(timezone)
    latest = now_ms() if latest_ms is None else latest_ms
    reader = csv.DictReader(source)
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if not {"latitude", "longitude"} <= set(header) and "geo_point_2d" not in header:
        missing.append("latitude/longitude")
    if "id_dmr" not in header and "numero" not in header:
        missing.append("id_dmr")
    if missing:
        yield Problem(1, missing[0], f"column missing from the header (columns: {header})")
        return
    seen: dict[str, int] = {}
    line = reader.line_num + 1  # where the next record starts
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. an unterminated quote: the rest cannot be read
            yield Problem(line, "row", f"unreadable CSV: {exc}")
            return
        try:
            item = _row(row, status=status, service_code=service_code, zone=zone, bbox=bbox,
                        latest_ms=latest)
            first = seen.setdefault(item.source_id, line)
            if first != line:
                raise _RowError("id_dmr", f"duplicate id {item.source_id!r} (first on line "
                                          f"{first})")
            yield Parsed(line, item)
        except _RowError as exc:
            yield Problem(line, exc.field, exc.reason)
        line = reader.line_num + 1


def count_rows(path: Path) -> int:
    """The number of records in the file (for a progress bar)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        return max(sum(1 for _ in csv.reader(f)) - 1, 0)


def _counts(result: Any, lines: list[int]) -> tuple[int, int, list[tuple[int, str, str]]]:
    """(imported, unchanged, rejected as (line, field, reason)) from the counts the citizens
    service returns for a batch (``created``, ``updated``: already imported, refreshed from
    the file, ``rejected``: a number, or a list of (index in batch, field, reason))."""
    data: dict[str, Any] = result if isinstance(result, dict) else {}
    imported = int(data.get("created", data.get("imported", 0)))
    unchanged = int(data.get("updated", 0)) + int(data.get("unchanged", 0))
    refused = data.get("rejected") or 0
    rejected: list[tuple[int, str, str]] = []
    if isinstance(refused, int):
        if refused:  # no index given: the batch's lines, the service's log has the reasons
            rejected.append((lines[0], "row", f"{refused} of lines {lines[0]}-{lines[-1]} "
                                              "refused by the citizens service (see its log)"))
    else:
        for index, name, reason in refused:
            line = lines[index] if 0 <= int(index) < len(lines) else lines[0]
            rejected.append((line, str(name), str(reason)))
    return imported, unchanged, rejected


def _known_services(services: Any, code: str) -> set[str] | None:
    """The territory's Open311 service codes, when the citizens service lists them."""
    lister = getattr(services.citizens, "services", None)
    if lister is None:
        return None
    return {str(getattr(s, "service_code", s)) for s in lister(code)}


def import_file(services: Any, code: str, path: Path, status: str = "closed",
                actor: Any = None, progress: Callable[[int], None] | None = None, *,
                service_code: str | None = None, timezone: str = "Europe/Paris",
                batch: int = BATCH) -> ImportReport:
    """Import a DansMaRue file into territory ``code`` through
    ``services.citizens.import_requests`` (idempotent on the source id: a second import of
    the same file counts every row as unchanged). Bad rows, and rows whose service the
    territory does not offer, are reported with their line and skipped; ``progress`` is
    called with the number of rows done since its last call. ``actor`` is a principal or
    its audit name."""
    report = ImportReport()
    pending: list[Parsed] = []
    known = _known_services(services, code)
    who = str(getattr(actor, "actor", actor or "system:beffroi"))  # a Principal or its name

    def flush() -> None:
        if not pending:
            return
        result = services.citizens.import_requests(code, [p.item for p in pending], who)
        imported, unchanged, rejected = _counts(result, [p.line for p in pending])
        report.imported += imported
        report.unchanged += unchanged
        report.rejected.extend(rejected)
        if progress:
            progress(len(pending))
        pending.clear()

    with path.open(encoding="utf-8-sig", newline="") as f:
        for entry in parse(f, status=status, service_code=service_code, timezone=timezone):
            if isinstance(entry, Problem):
                report.rejected.append(entry.as_tuple())
                if entry.line > 1:
                    report.read += 1
                    if progress:
                        progress(1)
                continue
            report.read += 1
            if known is not None and entry.item.service_code not in known:
                report.rejected.append((entry.line, "type", "no service "
                                        f"{entry.item.service_code!r} in territory {code!r}"))
                if progress:
                    progress(1)
                continue
            report.per_service[entry.item.service_code] += 1
            pending.append(entry)
            if len(pending) >= batch:
                flush()
        flush()
    report.rejected.sort(key=lambda r: r[0])
    return report

