"""Map data: server-side clustering of a territory's assets, and its base map.

The state of every asset comes from one SQL query (:func:`repository.asset_states`), kept per
territory for ``ttl_s`` seconds (and dropped at once when an alarm changes in this process).
A clustering request then aggregates in memory: assets in the box and matching the filters are
counted per grid cell (``CELL_PX`` screen pixels at the requested zoom), per state. Its cost
follows the number of assets in the box (vectorised, about 10 ms for 100,000), never a table
scan; the answer follows the number of cells, not of assets. Individual assets are returned
only when the zoom is at least ``POINT_ZOOM`` or the box holds at most ``MAX_POINTS`` of them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape
from shapely.ops import polylabel
from sqlalchemy import func, select

from beffroi.store import Store
from beffroi.store.schema import assets
from beffroi.web import repository as repo

CELL_PX = 80  # side of a cluster cell, in screen pixels
POINT_ZOOM = 16  # from this zoom on, individual assets
MAX_POINTS = 1500  # …or when the box holds at most this many
STATE_CODES = {name: i for i, name in enumerate(repo.STATES)}
BASEMAP_DIR = Path(__file__).parent / "static" / "basemap"
log = logging.getLogger("beffroi.web")

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass
class Snapshot:
    at: float
    ids: I64
    lon: F64
    lat: F64
    state: I64
    urns: list[str]
    names: list[str | None]
    types: npt.NDArray[np.str_]
    domains: npt.NDArray[np.str_]
    posts: npt.NDArray[np.str_]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.urns)


def expected_periods(snap: Snapshot) -> I64:
    """The expected reporting period (ms) of every asset, by its type: computed once per
    asset rows (kept in ``extra``, which the snapshots of the same rows share)."""
    period: I64 | None = snap.extra.get("periods")
    if period is None or period.size != snap.size:
        kinds, inverse = np.unique(snap.types, return_inverse=True)
        periods = np.array([repo.EXPECTED_PERIOD_S.get(str(k), repo.DEFAULT_PERIOD_S) * 1000
                            for k in kinds], dtype=np.int64)
        period = periods[inverse] if snap.size else np.zeros(0, dtype=np.int64)
        snap.extra["periods"] = period
    return period


def facts_array(facts: list[tuple[Any, ...]]) -> I64:
    """(asset id, newest reading ms or -1, fault 0/1, off 0/1) rows as one int64 array, without
    a Python tuple per row (numpy converts the rows; ``None`` becomes -1)."""
    if not facts:
        return np.zeros((0, 4), dtype=np.int64)
    f = np.array(facts, dtype=object)
    out = np.empty((len(facts), 4), dtype=np.int64)
    out[:, 0] = f[:, 0]
    try:
        out[:, 1] = f[:, 1]
    except TypeError:  # a None: no reading
        out[:, 1] = [-1 if t is None else int(t) for t in f[:, 1].tolist()]
    out[:, 2] = f[:, 2]
    out[:, 3] = f[:, 3]
    return out


def compute_states(snap: Snapshot, facts: list[tuple[Any, ...]], alarmed: set[int],
                   now_ms: int) -> I64:
    """The state code of every asset of ``snap`` (the rule of :mod:`beffroi.web.repository`),
    vectorised."""
    n = snap.size
    last = np.full(n, -1, dtype=np.int64)
    fault = np.zeros(n, dtype=bool)
    off = np.zeros(n, dtype=bool)
    alarm = np.zeros(n, dtype=bool)
    if n:
        cached = snap.extra.get("id_order")
        if cached is None or cached[0].size != n:
            order = np.argsort(snap.ids)
            cached = (order, snap.ids[order])
            snap.extra["id_order"] = cached
        order, sorted_ids = cached

        def positions(ids: I64) -> I64:
            at = np.searchsorted(sorted_ids, ids)
            at = np.clip(at, 0, n - 1)
            found = sorted_ids[at] == ids
            result: I64 = np.where(found, order[at], -1)
            return result

        if facts:
            f = facts_array(facts)
            pos = positions(f[:, 0])
            ok = pos >= 0
            last[pos[ok]] = f[ok, 1]
            fault[pos[ok]] = f[ok, 2] > 0
            off[pos[ok]] = f[ok, 3] > 0
        if alarmed:
            pos = positions(np.array(sorted(alarmed), dtype=np.int64))
            alarm[pos[pos >= 0]] = True
    period = expected_periods(snap)
    silent = (last < 0) | (now_ms - last > repo.SILENT_FACTOR * period)
    codes = STATE_CODES
    state: I64 = np.where(alarm, codes["alarm"], np.where(fault, codes["fault"], np.where(
        off, codes["off"], np.where(silent, codes["silent"], codes["ok"])))).astype(np.int64)
    return state


def snapshot_of_rows(rows: list[tuple[Any, ...]]) -> Snapshot:
    """A snapshot of asset rows (:func:`repository.asset_rows`), states not yet computed."""
    return Snapshot(
        at=time.monotonic(),
        ids=np.array([r[0] for r in rows], dtype=np.int64),
        lon=np.array([r[6] for r in rows], dtype=np.float64),
        lat=np.array([r[7] for r in rows], dtype=np.float64),
        state=np.zeros(len(rows), dtype=np.int64),
        urns=[r[1] for r in rows], names=[r[2] for r in rows],
        types=np.array([r[3] for r in rows], dtype=np.str_),
        domains=np.array([r[4] for r in rows], dtype=np.str_),
        posts=np.array([r[5] or "" for r in rows], dtype=np.str_),
    )


def build_snapshot(rows: list[repo.AssetState]) -> Snapshot:
    return Snapshot(
        at=time.monotonic(),
        ids=np.array([r.id for r in rows], dtype=np.int64),
        lon=np.array([r.lon for r in rows], dtype=np.float64),
        lat=np.array([r.lat for r in rows], dtype=np.float64),
        state=np.array([STATE_CODES[r.state] for r in rows], dtype=np.int64),
        urns=[r.urn for r in rows], names=[r.name for r in rows],
        types=np.array([r.type for r in rows], dtype=np.str_),
        domains=np.array([r.domain for r in rows], dtype=np.str_),
        posts=np.array([r.post or "" for r in rows], dtype=np.str_),
    )


class MapCache:
    """Snapshots of asset states per territory id.

    A snapshot older than ``ttl_s`` is still served while a background thread rebuilds it
    (one at a time per territory), so that no request waits for the rebuild; only the first
    request of a territory does (territories under ``background_min_assets`` assets are
    rebuilt in the request: it takes milliseconds). :meth:`invalidate` (an alarm changed in
    this process, assets were deleted) makes the next request wait for a fresh one."""

    def __init__(self, store: Store, clock: Any, ttl_s: float = 10.0,
                 assets_ttl_s: float = 300.0) -> None:
        self.store = store
        self.clock = clock
        self.ttl_s = ttl_s
        self.assets_ttl_s = assets_ttl_s  # asset rows are re-read at least this often
        self._snaps: dict[int, Snapshot] = {}
        # Asset rows per territory: (marker, read at, snapshot without states).
        self._assets: dict[int, tuple[Any, float, Snapshot]] = {}
        self._stale: set[int] = set()
        self._building: set[int] = set()
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False
        # Smaller territories are rebuilt in the request (a few ms to 100 ms): no thread.
        self.background_min_assets = 20_000

    def close(self, timeout: float = 10.0) -> None:
        """No more background refreshes; wait for the running ones (before disposing of the
        store)."""
        self._closed = True
        for thread in list(self._threads):
            thread.join(timeout)

    def wait(self, timeout: float = 10.0) -> None:
        """Wait for the running background builds (tests)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def invalidate(self, territory_id: int | None = None) -> None:
        with self._lock:
            if territory_id is None:
                self._stale.update(self._snaps)
            else:
                self._stale.add(territory_id)

    def _build(self, territory_id: int) -> Snapshot:
        asked = time.monotonic()
        with self._build_lock:
            with self._lock:
                done = self._snaps.get(territory_id)
                if (done is not None and done.at >= asked
                        and territory_id not in self._stale):
                    return done  # built by another thread while this one waited
                self._stale.discard(territory_id)
            with self.store.read() as conn:
                marker = repo.asset_marker(conn, territory_id)
                known = self._assets.get(territory_id)
                if (known is None or known[0] != marker
                        or time.monotonic() - known[1] > self.assets_ttl_s):
                    known = (marker, time.monotonic(),
                             snapshot_of_rows(repo.asset_rows(conn, territory_id)))
                    self._assets[territory_id] = known
                facts = repo.asset_facts(conn, territory_id)
                alarmed = repo.alarmed_assets(conn, territory_id)
            base = known[2]
            snap = dataclasses.replace(base, at=time.monotonic(),
                                       state=compute_states(base, facts, alarmed,
                                                            int(self.clock())),
                                       extra=base.extra)
            with self._lock:
                self._snaps[territory_id] = snap
            return snap

    def _refresh(self, territory_id: int) -> None:
        try:
            self._build(territory_id)
        except Exception:  # the edge of a background thread: the next request retries
            log.exception("map snapshot refresh failed")
        finally:
            with self._lock:
                self._building.discard(territory_id)

    def warm(self, territory_id: int) -> None:
        """Build the territory's snapshot in the background unless there is one (a user just
        logged in: the map will be ready when the browser asks for it)."""
        with self._lock:
            if (territory_id in self._snaps or territory_id in self._building
                    or self._closed):
                return
            self._building.add(territory_id)
        thread = threading.Thread(target=self._refresh, args=(territory_id,), daemon=True,
                                  name="map-snapshot")
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def warm_large(self) -> None:
        """Build, in the background, the snapshots of the territories of at least
        ``background_min_assets`` assets (the server starts: the first map of such a territory
        would wait a second or more for it). One thread; smaller territories are left to
        their first request (milliseconds)."""
        def run() -> None:
            try:
                with self.store.read() as conn:
                    big = [int(r[0]) for r in conn.execute(
                        select(assets.c.territory_id).group_by(assets.c.territory_id)
                        .having(func.count() >= self.background_min_assets))]
            except Exception:  # no schema yet (a new database): nothing to warm
                log.debug("map snapshots not warmed", exc_info=True)
                return
            for territory_id in big:
                if self._closed:
                    return
                with self._lock:
                    if territory_id in self._snaps or territory_id in self._building:
                        continue
                    self._building.add(territory_id)
                self._refresh(territory_id)

        if self._closed:
            return
        thread = threading.Thread(target=run, daemon=True, name="map-snapshot-warm")
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def extent(self, territory_id: int) -> tuple[float, float, float, float] | None:
        """The extent of the territory's assets without waiting for its state snapshot: from
        the snapshot or the asset rows in memory, else one aggregate query (and the snapshot
        is started in the background, for the map's first clustering request)."""
        with self._lock:
            snap = self._snaps.get(territory_id)
            known = self._assets.get(territory_id)
        if snap is not None:
            return extent(snap)
        if known is not None:
            return extent(known[2])
        self.warm(territory_id)
        with self.store.read() as conn:
            row = conn.execute(select(func.min(assets.c.lon), func.min(assets.c.lat),
                                      func.max(assets.c.lon), func.max(assets.c.lat))
                               .where(assets.c.territory_id == territory_id)).one()
        if row[0] is None:
            return None
        return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))

    def current(self, territory_id: int) -> Snapshot:
        """The territory's snapshot as it is, even stale, without starting a refresh (for
        what does not depend on states: the base map); built if there is none."""
        with self._lock:
            snap = self._snaps.get(territory_id)
        return snap if snap is not None else self.get(territory_id)

    def get(self, territory_id: int) -> Snapshot:
        with self._lock:
            snap = self._snaps.get(territory_id)
            stale = territory_id in self._stale
            old = snap is not None and time.monotonic() - snap.at >= self.ttl_s
            small = snap is not None and snap.size < self.background_min_assets
            if old and small:
                stale = True
            start = (old and not stale and not self._closed
                     and territory_id not in self._building)
            if start:
                self._building.add(territory_id)
        if snap is None or stale:
            return self._build(territory_id)
        if start:
            thread = threading.Thread(target=self._refresh, args=(territory_id,),
                                      daemon=True, name="map-snapshot")
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()
        return snap


@dataclass(frozen=True)
class MapQuery:
    bbox: tuple[float, float, float, float] | None
    zoom: float
    domain: str | None = None
    type: str | None = None
    post: str | None = None
    state: str | None = None
    area: Any = None  # a shapely geometry (a district of the base map)


def select_mask(snap: Snapshot, q: MapQuery) -> npt.NDArray[np.bool_]:
    mask = np.ones(snap.size, dtype=bool)
    if q.bbox is not None:
        x0, y0, x1, y1 = q.bbox
        mask &= (snap.lon >= x0) & (snap.lon <= x1) & (snap.lat >= y0) & (snap.lat <= y1)
    if q.domain:
        mask &= snap.domains == q.domain
    if q.type:
        mask &= snap.types == q.type
    if q.post:
        mask &= snap.posts == q.post
    if q.state:
        mask &= snap.state == STATE_CODES[q.state]
    if q.area is not None and mask.any():
        idx = np.flatnonzero(mask)
        inside = shapely.contains_xy(q.area, snap.lon[idx], snap.lat[idx])
        mask[idx[~inside]] = False
    return mask


def cell_degrees(zoom: float, lat: float) -> tuple[float, float]:
    """(width, height) in degrees of a CELL_PX square at this zoom and latitude."""
    deg_per_px = 360.0 / (256.0 * 2.0 ** zoom)
    width = CELL_PX * deg_per_px
    return width, width * max(math.cos(math.radians(lat)), 0.05)


def clusters(snap: Snapshot, q: MapQuery) -> dict[str, Any]:
    """A GeoJSON FeatureCollection: clusters (``count`` and counts per state) or points."""
    mask = select_mask(snap, q)
    idx = np.flatnonzero(mask)
    total = int(idx.size)
    totals = {name: int(np.count_nonzero(snap.state[idx] == code))
              for name, code in STATE_CODES.items()}
    features: list[dict[str, Any]] = []
    if total and (q.zoom >= POINT_ZOOM or total <= MAX_POINTS):
        for i in idx[:20_000].tolist():
            features.append({
                "type": "Feature",
                "geometry": {"type": "Point",
                             "coordinates": [round(float(snap.lon[i]), 6),
                                             round(float(snap.lat[i]), 6)]},
                "properties": {"urn": snap.urns[i], "name": snap.names[i],
                               "type": str(snap.types[i]),
                               "state": repo.STATES[int(snap.state[i])]},
            })
        kind = "points"
    elif total:
        lat_mid = float(np.median(snap.lat[idx]))
        w, h = cell_degrees(q.zoom, lat_mid)
        cx = np.floor((snap.lon[idx] + 180.0) / w).astype(np.int64)
        cy = np.floor((snap.lat[idx] + 90.0) / h).astype(np.int64)
        key = cx * 10_000_000 + cy
        cells, inverse = np.unique(key, return_inverse=True)
        n = cells.size
        counts = np.bincount(inverse, minlength=n)
        sum_lon = np.bincount(inverse, weights=snap.lon[idx], minlength=n)
        sum_lat = np.bincount(inverse, weights=snap.lat[idx], minlength=n)
        per_state = {name: np.bincount(inverse, weights=(snap.state[idx] == code).astype(
            np.float64), minlength=n) for name, code in STATE_CODES.items()}
        for c in range(n):
            count = int(counts[c])
            props: dict[str, Any] = {"count": count}
            for name in repo.STATES:
                props[name] = int(per_state[name][c])
            props["state"] = worst(props)
            features.append({
                "type": "Feature",
                "geometry": {"type": "Point",
                             "coordinates": [round(float(sum_lon[c] / count), 6),
                                             round(float(sum_lat[c] / count), 6)]},
                "properties": props,
            })
        kind = "clusters"
    else:
        kind = "points"
    return {"type": "FeatureCollection", "kind": kind, "total": total, "states": totals,
            "zoom": q.zoom, "features": features}


SEVERITY = ("alarm", "fault", "silent", "off", "ok")


def worst(counts: dict[str, Any]) -> str:
    for name in SEVERITY:
        if counts.get(name):
            return name
    return "ok"


def state_of_urn(snap: Snapshot, urn: str) -> str | None:
    """The state of one asset in the snapshot (None if it is not there yet)."""
    index = snap.extra.get("by_urn")
    if index is None:
        index = {u: i for i, u in enumerate(snap.urns)}
        snap.extra["by_urn"] = index
    i = index.get(urn)
    return None if i is None else repo.STATES[int(snap.state[i])]


def extent(snap: Snapshot) -> tuple[float, float, float, float] | None:
    if not snap.size:
        return None
    return (float(snap.lon.min()), float(snap.lat.min()), float(snap.lon.max()),
            float(snap.lat.max()))


# --- base maps ----------------------------------------------------------------------------------


class BaseMaps:
    """District polygons for the base map: the shipped (or configured) GeoJSON files whose
    extent overlaps the territory's assets; else the territory's footprint (the union of the
    ~1 km cells holding assets), so that the map never needs the internet."""

    def __init__(self, directory: Path | None = None) -> None:
        self.dirs = [d for d in (directory, BASEMAP_DIR) if d is not None]
        self._files: list[tuple[str, tuple[float, float, float, float], dict[str, Any]]] = []
        self._loaded = False
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            for d in self.dirs:
                if not d.is_dir():
                    continue
                for path in sorted(d.glob("*.geojson")):
                    data = json.loads(path.read_text(encoding="utf-8"))
                    geoms = [shape(f["geometry"]) for f in data.get("features", [])]
                    if not geoms:
                        continue
                    b = shapely.total_bounds(geoms)
                    box = (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
                    self._files.append((path.stem, box, data))
            self._loaded = True

    def for_extent(self, ext: tuple[float, float, float, float] | None, snap: Snapshot
                   ) -> dict[str, Any]:
        self._load()
        if ext is not None:
            x0, y0, x1, y1 = ext
            for name, (a0, b0, a1, b1), data in self._files:
                if a0 <= x1 and x0 <= a1 and b0 <= y1 and y0 <= b1:
                    cached = snap.extra.get(f"basemap:{name}")
                    if cached is None:
                        cached = _districts(name, data)
                        snap.extra[f"basemap:{name}"] = cached
                    return dict(cached)
        cached = snap.extra.get("footprint")
        if cached is None:
            cached = footprint(snap)
            snap.extra["footprint"] = cached
        return dict(cached)


def _districts(name: str, data: dict[str, Any]) -> dict[str, Any]:
    features = []
    for i, f in enumerate(data.get("features", [])):
        props = f.get("properties") or {}
        label = (props.get("name") or props.get("l_ar") or props.get("l_qu")
                 or props.get("nom") or f"{i + 1}")
        features.append({"type": "Feature", "id": i, "geometry": f["geometry"],
                         "properties": {"id": f"{name}:{i}", "name": str(label),
                                        "label": label_point(shape(f["geometry"]))}})
    return {"type": "FeatureCollection", "source": name, "features": features}


def label_point(geom: Any) -> list[float]:
    """Where a district's name goes: the pole of inaccessibility of its largest polygon (the
    point inside it farthest from its edges), [lon, lat] to about 1 m."""
    polygons = list(getattr(geom, "geoms", [geom]))
    largest = max(polygons, key=lambda g: g.area)
    if largest.geom_type != "Polygon" or largest.is_empty:
        point = geom.representative_point()
    else:
        minx, miny, maxx, maxy = largest.bounds
        point = polylabel(largest, tolerance=max(maxx - minx, maxy - miny) / 200)
    return [round(float(point.x), 5), round(float(point.y), 5)]


def footprint(snap: Snapshot) -> dict[str, Any]:
    if not snap.size:
        return {"type": "FeatureCollection", "source": "footprint", "features": []}
    size = 0.01  # about 1 km
    cx = np.floor(snap.lon / size).astype(np.int64)
    cy = np.floor(snap.lat / size).astype(np.int64)
    cells = np.unique(np.stack([cx, cy], axis=1), axis=0)
    boxes = shapely.box(cells[:, 0] * size, cells[:, 1] * size, (cells[:, 0] + 1) * size,
                        (cells[:, 1] + 1) * size)
    union = shapely.unary_union(boxes).simplify(size / 4)
    geom = shapely.geometry.mapping(union)
    return {"type": "FeatureCollection", "source": "footprint",
            "features": [{"type": "Feature", "id": 0, "geometry": geom,
                          "properties": {"id": "footprint:0", "name": "territory"}}]}


def area_of(basemap: dict[str, Any], area_id: str) -> Any:
    for f in basemap.get("features", []):
        if f["properties"].get("id") == area_id:
            return shape(f["geometry"])
    return None
