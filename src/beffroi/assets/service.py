"""Registry behaviour: territories, assets and series, with their rules and errors."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import Row
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from beffroi.assets import geometry
from beffroi.assets import repository as repo
from beffroi.assets.models import (
    Asset,
    AssetIn,
    AssetPatch,
    Page,
    Series,
    SeriesIn,
    Territory,
    TerritoryIn,
    TerritoryPatch,
    urn_type,
)
from beffroi.assets.types import ASSET_TYPES
from beffroi.auth.audit import AuditLog
from beffroi.auth.models import SYSTEM
from beffroi.errors import Conflict, NotFound, ValidationFailed, field_error
from beffroi.store import Store
from beffroi.store.timeseries import latest_values
from beffroi.timeutil import now_ms, to_iso

MAX_PAGE = 1000


def encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "invalid cursor", [field_error("cursor", "not a cursor returned by this API")]
        ) from exc


def _territory(row: Row[Any]) -> Territory:
    center = None if row.center_lon is None else (row.center_lon, row.center_lat)
    return Territory(
        code=row.code, name=row.name, timezone=row.timezone, locale=row.locale, center=center,
        created=to_iso(row.created_ms), updated=to_iso(row.updated_ms),
    )


def asset_model(row: Row[Any]) -> Asset:
    return Asset(
        id=row.urn, type=row.type, domain=row.domain, name=row.name, geometry=row.geometry,
        properties=row.properties, control_post=row.control_post, operator=row.operator,
        contract=row.contract, parent=row.parent_urn, created=to_iso(row.created_ms),
        updated=to_iso(row.updated_ms),
    )


def footprint_columns(geom: dict[str, Any]) -> dict[str, float]:
    fp = geometry.check(geom)
    return {
        "lon": fp.lon, "lat": fp.lat, "min_lon": fp.min_lon, "min_lat": fp.min_lat,
        "max_lon": fp.max_lon, "max_lat": fp.max_lat,
    }


def point_asset_row(urn: str, type_name: str, lon: float, lat: float, *,
                    name: str | None = None, properties: dict[str, Any] | None = None,
                    parent_id: int | None = None) -> dict[str, Any]:
    """A row for ``repository.upsert_assets`` of an asset at a point, with its type's domain
    and control post (bulk writers: the simulator's placement, the benchmarks)."""
    kind = ASSET_TYPES[type_name]
    geom = {"type": "Point", "coordinates": [lon, lat]}
    row: dict[str, Any] = {
        "urn": urn, "type": type_name, "domain": kind.domain, "name": name, "geometry": geom,
        "properties": properties or {}, "control_post": kind.control_post, "operator": None,
        **footprint_columns(geom),
    }
    if parent_id is not None:
        row["parent_id"] = parent_id
    return row


SYSTEM_ACTOR = SYSTEM.actor  # the platform itself (imports, the demo, the simulator)


class Registry:
    """Territories, assets and series of one installation."""

    def __init__(self, store: Store, default_timezone: str = "Europe/Paris",
                 audit: AuditLog | None = None) -> None:
        self.store = store
        self.default_timezone = default_timezone  # of territories created without one
        self.audit = audit  # every change of a territory, an asset or a series is logged
        # Called with a territory id when assets or series go away, so that caches built on
        # them (the ingest path's series cache) can forget that territory.
        self.listeners: list[Any] = []

    def _audit(self, conn: Connection, territory_id: int, actor: str, action: str, target: str,
               before: Any = None, after: Any = None) -> None:
        if self.audit is not None:
            self.audit.record(conn, territory_id=territory_id, actor=actor, action=action,
                              target=target, before=before, after=after)

    def _changed(self, territory_id: int) -> None:
        """Assets or series of the territory went away: caches built on them must forget it.
        (New ones need no notice: a cache miss looks them up.)"""
        for listener in self.listeners:
            listener(territory_id)

    def registry_version(self, territory_id: int) -> int | None:
        """The territory's registry version (None if it no longer exists)."""
        with self.store.read() as conn:
            return repo.registry_version(conn, territory_id)

    # --- territories ---------------------------------------------------------------------------

    def territory_id(self, code: str) -> int:
        with self.store.read() as conn:
            row = repo.territory_by_code(conn, code)
        if row is None:
            raise NotFound(f"territory {code!r} not found")
        return int(row.id)

    def territory_row(self, code: str) -> Row[Any]:
        with self.store.read() as conn:
            row = repo.territory_by_code(conn, code)
        if row is None:
            raise NotFound(f"territory {code!r} not found")
        return row

    def get_territory(self, code: str) -> Territory:
        return _territory(self.territory_row(code))

    def create_territory(self, data: TerritoryIn, actor: str = SYSTEM_ACTOR) -> Territory:
        now = now_ms()
        zone = data.timezone if "timezone" in data.model_fields_set else self.default_timezone
        values = {
            "code": data.code, "name": data.name, "timezone": zone,
            "locale": data.locale, "created_ms": now, "updated_ms": now,
            "center_lon": data.center[0] if data.center else None,
            "center_lat": data.center[1] if data.center else None,
        }
        try:
            with self.store.write() as conn:
                tid = repo.insert_territory(conn, values)
                self._audit(conn, tid, actor, "territory.create", f"territory:{data.code}",
                            after=values)
        except IntegrityError as exc:
            raise Conflict(
                f"territory {data.code!r} already exists",
                [field_error("code", "already used by another territory")],
            ) from exc
        return self.get_territory(data.code)

    def ensure_territory(self, data: TerritoryIn) -> tuple[Territory, bool]:
        """Create the territory unless it exists; returns it and whether it was created."""
        with self.store.read() as conn:
            row = repo.territory_by_code(conn, data.code)
        if row is not None:
            return _territory(row), False
        return self.create_territory(data), True

    def list_territories(self, cursor: str | None, limit: int) -> Page[Territory]:
        after = decode_cursor(cursor)
        with self.store.read() as conn:
            rows = repo.list_territories(conn, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page[Territory](
            items=[_territory(r) for r in rows],
            next_cursor=encode_cursor(rows[-1].id) if more else None,
        )

    def update_territory(self, code: str, patch: TerritoryPatch,
                         actor: str = SYSTEM_ACTOR) -> Territory:
        row = self.territory_row(code)
        values: dict[str, Any] = patch.model_dump(exclude_unset=True)
        if "center" in values:
            center = values.pop("center")
            values["center_lon"] = center[0] if center else None
            values["center_lat"] = center[1] if center else None
        values["updated_ms"] = now_ms()
        with self.store.write() as conn:
            repo.update_territory(conn, int(row.id), values)
            self._audit(conn, int(row.id), actor, "territory.update", f"territory:{code}",
                        before={k: getattr(row, k) for k in values}, after=values)
        return self.get_territory(code)

    def delete_territory(self, code: str, actor: str = SYSTEM_ACTOR) -> None:
        row = self.territory_row(code)
        with self.store.write() as conn:
            repo.delete_territory(conn, int(row.id))
            self._audit(conn, int(row.id), actor, "territory.delete", f"territory:{code}",
                        before=_territory(row))
        self._changed(int(row.id))

    # --- assets --------------------------------------------------------------------------------

    def _parent_id(self, territory_id: int, parent: str | None) -> int | None:
        if parent is None:
            return None
        with self.store.read() as conn:
            ids = repo.asset_ids(conn, territory_id, [parent])
        if parent not in ids:
            raise ValidationFailed(
                f"parent {parent!r} not found",
                [field_error("parent", f"no asset {parent!r} in this territory")],
            )
        return ids[parent]

    def create_asset(self, code: str, data: AssetIn, actor: str = SYSTEM_ACTOR) -> Asset:
        tid = self.territory_id(code)
        kind = ASSET_TYPES[data.type]
        now = now_ms()
        values = {
            "territory_id": tid, "urn": data.id, "type": data.type,
            "domain": data.domain or kind.domain, "name": data.name,
            "geometry": data.geometry, "properties": data.properties or {},
            "control_post": data.control_post or kind.control_post,
            "operator": data.operator, "contract": data.contract,
            "parent_id": self._parent_id(tid, data.parent),
            "created_ms": now, "updated_ms": now, **footprint_columns(data.geometry),
        }
        try:
            with self.store.write() as conn:
                repo.insert_asset(conn, values)
                self._audit(conn, tid, actor, "asset.create", data.id,
                            after=data.model_dump(mode="json", exclude_none=True))
        except IntegrityError as exc:
            raise Conflict(
                f"asset {data.id!r} already exists",
                [field_error("id", "already used in this territory")],
            ) from exc
        return self.get_asset(code, data.id)

    def _asset_row(self, tid: int, urn: str) -> Row[Any]:
        with self.store.read() as conn:
            row = repo.asset_by_urn(conn, tid, urn)
        if row is None:
            raise NotFound(f"asset {urn!r} not found")
        return row

    def asset_by_dev_eui(self, code: str, dev_eui: str) -> tuple[str, set[str]] | None:
        """(URN, metrics it may report: its type's and its declared series') of the asset of
        this LoRaWAN device, or None."""
        tid = self.territory_id(code)
        with self.store.read() as conn:
            row = repo.asset_by_dev_eui(conn, tid, dev_eui)
            if row is None:
                return None
            metrics = {m.name for m in ASSET_TYPES[row.type].metrics}
            metrics.update(s.metric for s in repo.series_of_assets(conn, [int(row.id)]))
        return str(row.urn), metrics

    def get_asset(self, code: str, urn: str) -> Asset:
        return asset_model(self._asset_row(self.territory_id(code), urn))

    def update_asset(self, code: str, urn: str, patch: AssetPatch,
                     actor: str = SYSTEM_ACTOR) -> Asset:
        tid = self.territory_id(code)
        row = self._asset_row(tid, urn)
        given = patch.model_dump(exclude_unset=True)
        values: dict[str, Any] = {}
        for key in ("name", "domain", "control_post", "operator", "contract"):
            if key in given:
                values[key] = given[key]
        for key in ("domain", "geometry"):
            if key in given and given[key] is None:
                raise ValidationFailed(
                    f"{key} cannot be removed", [field_error(key, "required, cannot be null")]
                )
        if "geometry" in given:
            if given["geometry"] is None:
                raise ValidationFailed(
                    "geometry cannot be removed", [field_error("geometry", "required")]
                )
            values["geometry"] = given["geometry"]
            values.update(footprint_columns(given["geometry"]))
        if "properties" in given and given["properties"] is not None:
            merged = dict(row.properties)
            for k, v in given["properties"].items():
                if v is None:
                    merged.pop(k, None)
                else:
                    merged[k] = v
            values["properties"] = merged
        if "parent" in given:
            if given["parent"] == urn:
                raise ValidationFailed(
                    "an asset cannot be its own parent", [field_error("parent", "self reference")]
                )
            values["parent_id"] = self._parent_id(tid, given["parent"])
        if values:
            values["updated_ms"] = now_ms()
            with self.store.write() as conn:
                repo.update_asset(conn, int(row.id), values)
                self._audit(conn, tid, actor, "asset.update", urn,
                            before={k: getattr(row, k) for k in values}, after=values)
        return self.get_asset(code, urn)

    def delete_asset(self, code: str, urn: str, actor: str = SYSTEM_ACTOR) -> None:
        tid = self.territory_id(code)
        row = self._asset_row(tid, urn)
        with self.store.write() as conn:
            repo.delete_asset(conn, int(row.id))
            self._audit(conn, tid, actor, "asset.delete", urn, before=asset_model(row))
            repo.bump_registry_version(conn, tid)  # for the caches of other processes
        self._changed(tid)

    def list_assets(
        self, code: str, flt: repo.AssetFilter, cursor: str | None, limit: int
    ) -> Page[Asset]:
        tid = self.territory_id(code)
        after = decode_cursor(cursor)
        with self.store.read() as conn:
            rows = repo.list_assets(conn, tid, flt, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page[Asset](
            items=[asset_model(r) for r in rows],
            next_cursor=encode_cursor(int(rows[-1].id)) if more else None,
        )

    def near_assets(
        self, code: str, flt: repo.AssetFilter, lon: float, lat: float, radius_m: float,
        cursor: str | None, limit: int,
    ) -> Page[Asset]:
        """Assets within ``radius_m`` of a point, nearest first (``distance_m`` property)."""
        tid = self.territory_id(code)
        box = geometry.bbox_around(lon, lat, radius_m)
        offset = decode_cursor(cursor)
        with self.store.read() as conn:
            rows = repo.assets_in_box(
                conn, tid,
                repo.AssetFilter(flt.type, flt.domain, flt.control_post, flt.parent_id, box),
            )
        scored = sorted(
            ((geometry.distance_m(lon, lat, r.lon, r.lat), int(r.id), r) for r in rows),
            key=lambda x: (x[0], x[1]),
        )
        scored = [s for s in scored if s[0] <= radius_m]
        page = scored[offset : offset + limit]
        items = []
        for dist, _id, r in page:
            model = asset_model(r)
            model.properties = {**model.properties, "distance_m": round(dist, 1)}
            items.append(model)
        more = offset + limit < len(scored)
        return Page[Asset](items=items, next_cursor=encode_cursor(offset + limit) if more else None)

    # --- series --------------------------------------------------------------------------------

    def declare_series(self, code: str, urn: str, data: SeriesIn,
                       actor: str = SYSTEM_ACTOR) -> Series:
        tid = self.territory_id(code)
        row = self._asset_row(tid, urn)
        known = ASSET_TYPES[row.type].metric(data.metric)
        if known is not None and (known.unit != data.unit or known.kind != data.kind):
            raise ValidationFailed(
                f"metric {data.metric!r} of {row.type} is declared as {known.kind} in "
                f"{known.unit!r}",
                [field_error("unit", f"expected {known.unit!r} ({known.kind})")],
            )
        with self.store.write() as conn:
            existing = {
                s.metric: s for s in repo.series_of_assets(conn, [int(row.id)])
            }
            old = existing.get(data.metric)
            if old is not None and (old.unit != data.unit or old.kind != data.kind):
                raise Conflict(
                    f"series {data.metric!r} exists with unit {old.unit!r} ({old.kind})",
                    [field_error("unit", "differs from the existing series")],
                )
            repo.insert_series(
                conn, tid, [(int(row.id), data.metric, data.unit, data.kind)], now_ms()
            )
            if old is None:
                self._audit(conn, tid, actor, "series.declare", f"{urn}#{data.metric}",
                            after=data)
        return Series(asset=urn, metric=data.metric, unit=data.unit, kind=data.kind)

    def list_series(self, code: str, urn: str) -> list[Series]:
        """The asset's series: those with data, plus the metrics its type declares."""
        tid = self.territory_id(code)
        row = self._asset_row(tid, urn)
        with self.store.read() as conn:
            stored = repo.series_of_assets(conn, [int(row.id)])
            latest = latest_values(conn, [s.id for s in stored])
        out: dict[str, Series] = {}
        for s in stored:
            value = latest.get(s.id)
            out[s.metric] = Series(
                asset=urn, metric=s.metric, unit=s.unit, kind=s.kind,
                latest=None if value is None else {"ts": to_iso(value[0]), "value": value[1]},
            )
        for m in ASSET_TYPES[row.type].metrics:
            out.setdefault(m.name, Series(asset=urn, metric=m.name, unit=m.unit, kind=m.kind))
        return sorted(out.values(), key=lambda s: s.metric)


def check_urn_type(urn: str, type_name: str) -> str | None:
    """Why a URN does not fit an asset type, or None."""
    kind = urn_type(urn)
    if kind is None:
        return f"{urn!r} is not a URN of the form urn:ngsi-ld:<Type>:<id>"
    if kind != type_name:
        return f"URN names type {kind!r} but the asset type is {type_name!r}"
    return None
