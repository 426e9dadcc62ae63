"""Ingest pipeline and reads of telemetry (latest state, history).

Every adapter (HTTP batch today; MQTT and LoRaWAN later) hands decoded readings to
:meth:`Telemetry.ingest_readings`: resolve series → validate → write (idempotent) → latest state.
Rollups are materialised behind a watermark by :meth:`Telemetry.materialise`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from beffroi.assets import repository as repo
from beffroi.assets.service import Registry, decode_cursor, encode_cursor
from beffroi.assets.types import ASSET_TYPES
from beffroi.errors import NotFound, ValidationFailed, field_error
from beffroi.settings import Settings
from beffroi.store import Store
from beffroi.store import rollups as rollup_store
from beffroi.store import timeseries as ts_store
from beffroi.telemetry.decode import Rejection, SeriesRef, parse_batch, validate
from beffroi.timeutil import now_ms, to_iso

MAX_ERRORS_LISTED = 100
RESOLUTIONS = ("raw", "hour", "day")


@dataclass
class IngestReport:
    received: int = 0
    accepted: int = 0
    stored: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    # The rows written (series id, epoch ms, number, state), for the pipeline's hand-off.
    rows: list[tuple[int, int, float | None, str | None]] = field(default_factory=list,
                                                                   repr=False)

    @property
    def duplicates(self) -> int:
        return self.accepted - self.stored

    def to_dict(self) -> dict[str, Any]:
        by_reason = Counter(r.code for r in self.rejections)
        return {
            "received": self.received,
            "accepted": self.accepted,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": len(self.rejections),
            "rejected_by_reason": dict(sorted(by_reason.items())),
            "errors": [r.to_dict() for r in self.rejections[:MAX_ERRORS_LISTED]],
        }


# Caches built from the registry are rebuilt this often, for changes made by other processes.
CACHE_TTL_S = 30.0


class SeriesCache:
    """(territory, asset URN, metric) → series. Forgotten per territory when the registry of
    this process changes it; and, every ``ttl_s`` seconds, when the territory's registry
    version shows a change made by another process (a worker beside the API server)."""

    def __init__(self, version_of: Callable[[int], int | None],
                 ttl_s: float = CACHE_TTL_S) -> None:
        self._by_territory: dict[int, list[Any]] = {}  # [checked at, version, cache]
        self._lock = threading.Lock()
        self._version_of = version_of
        self.ttl_s = ttl_s

    def get(self, territory_id: int) -> dict[tuple[str, str], SeriesRef]:
        now = time.monotonic()
        with self._lock:
            entry = self._by_territory.get(territory_id)
            if entry is not None and now - entry[0] <= self.ttl_s:
                return entry[2]  # type: ignore[no-any-return]
        version = self._version_of(territory_id)  # outside the lock: a query
        with self._lock:
            entry = self._by_territory.get(territory_id)
            if entry is None or entry[1] != version:
                entry = self._by_territory[territory_id] = [now, version, {}]
            entry[0] = now
            return entry[2]  # type: ignore[no-any-return]

    def forget(self, territory_id: int) -> None:
        with self._lock:
            self._by_territory.pop(territory_id, None)


class Telemetry:
    def __init__(self, store: Store, registry: Registry, settings: Settings) -> None:
        self.store = store
        self.registry = registry
        self.settings = settings
        self.cache = SeriesCache(registry.registry_version)
        registry.listeners.append(self._forget_territory_id)
        self._territories: dict[str, tuple[float, int]] = {}

    def _territory_id(self, code: str) -> int:
        now = time.monotonic()
        entry = self._territories.get(code)
        if entry is None or now - entry[0] > self.cache.ttl_s:
            entry = self._territories[code] = (now, self.registry.territory_id(code))
        return entry[1]

    def _forget_territory_id(self, territory_id: int) -> None:
        """The registry changed this territory (assets, series, or its deletion)."""
        self.cache.forget(territory_id)
        for code in [c for c, (_at, t) in self._territories.items() if t == territory_id]:
            del self._territories[code]

    # --- ingest --------------------------------------------------------------------------------

    def ingest_body(self, code: str, body: bytes) -> IngestReport:
        readings = parse_batch(body, self.settings.max_batch_readings)
        return self.ingest_readings(code, readings)

    def ingest_readings(self, code: str, readings: list[Any]) -> IngestReport:
        tid = self._territory_id(code)
        cache = self.cache.get(tid)
        lo, hi = self.settings.min_timestamp_ms, now_ms() + self.settings.max_future_ms
        rows, rejected, missed = validate(readings, cache, None, lo, hi)
        if missed:  # series not cached yet: look them up (or create them) and check again
            again = [readings[i] for i in missed]
            unknown = self._resolve(tid, again, cache)
            more, rejected_again, _ = validate(again, cache, unknown, lo, hi)
            rows.extend(more)
            for r in rejected_again:
                r.index = missed[r.index]
            rejected = sorted(rejected + rejected_again, key=lambda r: r.index)
        result = ts_store.write_observations(self.store, rows)
        if result.refused:
            rows, rejected = _refused(readings, rows, rejected, missed, result.refused)
        return IngestReport(len(readings), len(rows), result.stored, rejected, rows)

    def resolve_series(
        self, code: str, pairs: list[tuple[str, str]]
    ) -> tuple[dict[tuple[str, str], SeriesRef], dict[tuple[str, str], tuple[str, str]]]:
        """Series of these (asset URN, metric) pairs, creating those the asset type declares;
        and, for the others, the field to blame and why. For bulk writers (the simulator's
        backfill) that build their rows themselves and call :meth:`write_rows`."""
        tid = self._territory_id(code)
        cache = self.cache.get(tid)
        unknown = self._resolve(tid, [{"asset": a, "metric": m} for a, m in pairs], cache)
        return {p: cache[p] for p in pairs if p in cache}, unknown

    def write_rows(self, rows: list[tuple[int, int, float | None, str | None]], *,
                   grouped: bool = False) -> int:
        """Store rows already checked by the caller (series id, epoch ms, number, state):
        idempotent, latest values and rollup marks, as the ingest path. Returns rows stored.
        ``grouped``: each series' rows are in strictly ascending time."""
        return ts_store.write_observations(self.store, rows, grouped=grouped).stored

    def timestamp_bounds(self) -> tuple[int, int]:
        """The oldest and newest timestamps the ingest path accepts now."""
        return self.settings.min_timestamp_ms, now_ms() + self.settings.max_future_ms

    def _resolve(
        self, tid: int, readings: list[Any], cache: dict[tuple[str, str], SeriesRef]
    ) -> dict[tuple[str, str], tuple[str, str]]:
        """Fill ``cache`` for the batch's (asset, metric) pairs; creating the series of
        metrics declared by the asset's type. Returns why the others did not resolve."""
        missing: set[tuple[str, str]] = set()
        for r in readings:
            if type(r) is dict:
                key = (r.get("asset"), r.get("metric"))
                if type(key[0]) is str and type(key[1]) is str and key not in cache:
                    missing.add(key)  # type: ignore[arg-type]
        if not missing:
            return {}
        unknown: dict[tuple[str, str], tuple[str, str]] = {}
        with self.store.read() as conn:
            assets = repo.assets_for_resolution(conn, tid, sorted({a for a, _ in missing}))
            existing = {
                (s.asset_id, s.metric): s
                for s in repo.series_of_assets(conn, sorted({i for i, _ in assets.values()}))
            }
        to_create: list[tuple[int, str, str, str]] = []
        for urn, metric in missing:
            found = assets.get(urn)
            if found is None:
                unknown[(urn, metric)] = ("asset", f"unknown asset {urn!r} in this territory")
                continue
            asset_id, type_name = found
            if (asset_id, metric) in existing:
                continue
            declared = ASSET_TYPES[type_name].metric(metric)
            if declared is None:
                known = ", ".join(m.name for m in ASSET_TYPES[type_name].metrics)
                unknown[(urn, metric)] = (
                    "metric",
                    f"unknown metric {metric!r} for {type_name} (declared: {known}; others "
                    "must be declared with POST .../series)",
                )
                continue
            to_create.append((asset_id, metric, declared.unit, declared.kind))
        if to_create:
            with self.store.write() as conn:
                repo.insert_series(conn, tid, to_create, now_ms())
                self.store.note_growth(conn, "series", len(to_create))
        with self.store.read() as conn:
            ids = sorted({i for i, _ in assets.values()})
            for s in repo.series_of_assets(conn, ids):
                existing[(s.asset_id, s.metric)] = s
        by_id = {asset_id: urn for urn, (asset_id, _t) in assets.items()}
        for (asset_id, metric), s in existing.items():
            cache[(by_id[asset_id], metric)] = SeriesRef(s.id, s.kind, s.unit)
        return unknown

    def materialise(self, at_ms: int | None = None) -> rollup_store.MaterialiseReport:
        return rollup_store.materialise(
            self.store, now_ms() if at_ms is None else at_ms, self.settings.rollup_grace_s * 1000
        )

    # --- reads ---------------------------------------------------------------------------------

    def latest(
        self, code: str, urns: list[str] | None, flt: repo.AssetFilter, cursor: str | None,
        limit: int,
    ) -> dict[str, Any]:
        """Latest value of every series of many assets, one page of assets at a time."""
        tid = self._territory_id(code)
        after = decode_cursor(cursor)
        with self.store.read() as conn:
            if urns:
                if len(urns) > limit:
                    raise ValidationFailed(
                        "too many assets", [field_error("asset", f"at most {limit} per call")]
                    )
                ids = repo.asset_ids(conn, tid, urns)
                missing = [u for u in urns if u not in ids]
                rows = repo.asset_rows_by_ids(conn, sorted(ids.values()))
                page_ids = sorted(rows)
                more = False
            else:
                missing = []
                listed = repo.list_assets(conn, tid, flt, after, limit + 1)
                more = len(listed) > limit
                listed = listed[:limit]
                rows = {int(r.id): r for r in listed}
                page_ids = [int(r.id) for r in listed]
            series = repo.series_of_assets(conn, page_ids)
            values = ts_store.latest_values(conn, [s.id for s in series])
        per_asset: dict[int, dict[str, Any]] = {i: {} for i in page_ids}
        for s in series:
            v = values.get(s.id)
            if v is not None:
                per_asset[s.asset_id][s.metric] = {
                    "ts": to_iso(v[0]), "value": v[1], "unit": s.unit,
                }
        items = [
            {"asset": rows[i].urn, "type": rows[i].type, "values": per_asset[i]} for i in page_ids
        ]
        body: dict[str, Any] = {
            "items": items,
            "next_cursor": encode_cursor(page_ids[-1]) if more and page_ids else None,
        }
        if missing:
            body["not_found"] = missing
        return body

    def history(
        self, code: str, urn: str, metric: str, resolution: str, from_ms: int, to_ms: int,
        limit: int,
    ) -> dict[str, Any]:
        if resolution not in RESOLUTIONS:
            raise ValidationFailed(
                "unknown resolution",
                [field_error("resolution", f"one of {', '.join(RESOLUTIONS)}")],
            )
        if to_ms <= from_ms:
            raise ValidationFailed("empty range", [field_error("to", "must be after 'from'")])
        territory = self.registry.territory_row(code)
        tid = int(territory.id)
        with self.store.read() as conn:
            ids = repo.asset_ids(conn, tid, [urn])
            if urn not in ids:
                raise NotFound(f"asset {urn!r} not found")
            found = [s for s in repo.series_of_assets(conn, [ids[urn]]) if s.metric == metric]
            if not found:
                raise NotFound(f"no series {metric!r} for asset {urn!r}")
            s = found[0]
            base = {"asset": urn, "metric": metric, "unit": s.unit, "kind": s.kind,
                    "resolution": resolution}
            if resolution == "raw":
                raw = ts_store.raw_history(conn, s.id, from_ms, to_ms, limit + 1)
                more = len(raw) > limit
                raw = raw[:limit]
                return {
                    **base,
                    "points": [{"ts": to_iso(t), "value": v} for t, v in raw],
                    "next_from": to_iso(raw[-1][0] + 1) if more else None,
                }
            if resolution == "hour":
                buckets = ts_store.hour_history(self.store, conn, s.id, from_ms, to_ms)
            else:
                zone = ZoneInfo(territory.timezone)
                buckets = ts_store.day_history(self.store, conn, s.id, zone, from_ms, to_ms)
        more = len(buckets) > limit
        buckets = buckets[:limit]
        points = [
            {
                "ts": to_iso(b.start_ms), "count": b.n, "min": b.vmin, "max": b.vmax,
                "sum": b.vsum, "mean": b.mean, "last": b.last, "last_ts": to_iso(b.last_ts_ms),
            }
            for b in buckets
        ]
        return {
            **base,
            "timezone": territory.timezone if resolution == "day" else "UTC",
            "points": points,
            "next_from": to_iso(buckets[-1].start_ms + 1) if more else None,
        }


def _refused(readings: list[Any], rows: list[ts_store.Row], rejected: list[Rejection],
             missed: list[int], refused: tuple[ts_store.Row, ...]
             ) -> tuple[list[ts_store.Row], list[Rejection]]:
    """Rows the store refused (older than their series' retention horizon) as rejections of
    their readings. ``rows`` hold the valid readings in order, those first missed from the
    cache last (see ``ingest_readings``). The rare path: it pays for finding the indexes."""
    bad = {r.index for r in rejected}
    late = set(missed)
    order = [i for i in range(len(readings)) if i not in bad and i not in late]
    order += [i for i in missed if i not in bad]
    assert len(order) == len(rows)
    gone = set(refused)
    kept: list[ts_store.Row] = []
    for i, row in zip(order, rows, strict=True):
        if row in gone:
            rejected.append(Rejection(
                i, "ts", f"{to_iso(row[1])} is older than this series' retention horizon: "
                         f"its raw readings up to then were purged (retention policy) and its "
                         f"hourly figures are final", "before_retention"))
        else:
            kept.append(row)
    return kept, sorted(rejected, key=lambda r: r.index)
