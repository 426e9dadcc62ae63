"""Tables of the registry (territories, assets, series), read and written through ``store``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, func, insert, select, update

from beffroi.store import schema
from beffroi.store.timeseries import delete_series_data

T, A, S = schema.territories, schema.assets, schema.series


# --- territories -------------------------------------------------------------------------------


def insert_territory(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(T).values(**values)).inserted_primary_key[0])  # type: ignore[index]


def territory_by_code(conn: Connection, code: str) -> Row[Any] | None:
    return conn.execute(select(T).where(T.c.code == code)).first()


def list_territories(conn: Connection, after_id: int, limit: int) -> list[Row[Any]]:
    query = select(T).where(T.c.id > after_id).order_by(T.c.id).limit(limit)
    return list(conn.execute(query))


def update_territory(conn: Connection, territory_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(T).where(T.c.id == territory_id).values(**values))


def bump_registry_version(conn: Connection, territory_id: int) -> None:
    conn.execute(update(T).where(T.c.id == territory_id).values(
        registry_version=T.c.registry_version + 1))


def registry_version(conn: Connection, territory_id: int) -> int | None:
    value = conn.execute(select(T.c.registry_version).where(T.c.id == territory_id)
                         ).scalar_one_or_none()
    return None if value is None else int(value)


def delete_territory(conn: Connection, territory_id: int) -> None:
    owned = select(S.c.id).where(S.c.territory_id == territory_id)
    series_ids = [r[0] for r in conn.execute(owned)]
    delete_series_data(conn, series_ids)
    conn.execute(delete(S).where(S.c.territory_id == territory_id))
    conn.execute(update(A).where(A.c.territory_id == territory_id).values(parent_id=None))
    conn.execute(delete(A).where(A.c.territory_id == territory_id))
    runs = schema.import_runs
    conn.execute(delete(runs).where(runs.c.territory_id == territory_id))
    conn.execute(delete(T).where(T.c.id == territory_id))


# --- assets ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssetFilter:
    type: str | None = None
    domain: str | None = None
    control_post: str | None = None
    parent_id: int | None = None
    bbox: tuple[float, float, float, float] | None = None  # min lon, min lat, max lon, max lat


def _asset_query(territory_id: int, flt: AssetFilter) -> Any:
    parent = A.alias("parent")
    query = (
        select(A, parent.c.urn.label("parent_urn"))
        .select_from(A.outerjoin(parent, parent.c.id == A.c.parent_id))
        .where(A.c.territory_id == territory_id)
    )
    if flt.type:
        query = query.where(A.c.type == flt.type)
    if flt.domain:
        query = query.where(A.c.domain == flt.domain)
    if flt.control_post:
        query = query.where(A.c.control_post == flt.control_post)
    if flt.parent_id is not None:
        query = query.where(A.c.parent_id == flt.parent_id)
    if flt.bbox:
        min_lon, min_lat, max_lon, max_lat = flt.bbox
        query = query.where(
            and_(
                A.c.max_lon >= min_lon,
                A.c.min_lon <= max_lon,
                A.c.max_lat >= min_lat,
                A.c.min_lat <= max_lat,
            )
        )
    return query


def list_assets(
    conn: Connection, territory_id: int, flt: AssetFilter, after_id: int, limit: int
) -> list[Row[Any]]:
    query = _asset_query(territory_id, flt).where(A.c.id > after_id).order_by(A.c.id).limit(limit)
    return list(conn.execute(query))


def assets_in_box(conn: Connection, territory_id: int, flt: AssetFilter) -> list[Row[Any]]:
    return list(conn.execute(_asset_query(territory_id, flt)))


def count_assets(conn: Connection, territory_id: int, flt: AssetFilter) -> int:
    sub = _asset_query(territory_id, flt).subquery()
    return int(conn.execute(select(func.count()).select_from(sub)).scalar_one())


def asset_by_urn(conn: Connection, territory_id: int, urn: str) -> Row[Any] | None:
    query = _asset_query(territory_id, AssetFilter()).where(A.c.urn == urn)
    return conn.execute(query).first()


def asset_ids(conn: Connection, territory_id: int, urns: Iterable[str]) -> dict[str, int]:
    urns = list(dict.fromkeys(urns))
    out: dict[str, int] = {}
    query = select(A.c.urn, A.c.id).where(
        A.c.territory_id == territory_id, A.c.urn.in_(bindparam("urns", expanding=True))
    )
    for i in range(0, len(urns), 900):
        out.update({u: int(i_) for u, i_ in conn.execute(query, {"urns": urns[i : i + 900]})})
    return out


def insert_asset(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(A).values(**values)).inserted_primary_key[0])  # type: ignore[index]


def update_asset(conn: Connection, asset_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(A).where(A.c.id == asset_id).values(**values))


def delete_asset(conn: Connection, asset_id: int) -> None:
    series_ids = [r[0] for r in conn.execute(select(S.c.id).where(S.c.asset_id == asset_id))]
    delete_series_data(conn, series_ids)
    conn.execute(delete(S).where(S.c.asset_id == asset_id))
    conn.execute(update(A).where(A.c.parent_id == asset_id).values(parent_id=None))
    conn.execute(delete(A).where(A.c.id == asset_id))


COMPARED = (
    "type", "domain", "name", "geometry", "lon", "lat", "min_lon", "min_lat", "max_lon",
    "max_lat", "properties", "control_post", "operator", "contract", "parent_id",
)


def upsert_assets(
    conn: Connection, territory_id: int, rows: Sequence[dict[str, Any]], now_ms: int,
    merge: bool = True,
) -> tuple[int, int, int]:
    """Insert or update assets by URN; returns (created, updated, unchanged).

    With ``merge``, properties are merged into the stored ones, and a missing name or parent
    keeps the stored one, so that two sources can describe the same asset.

    An asset whose stored fields already equal the incoming ones is left untouched, so that
    re-running an import changes nothing (not even ``updated_ms``).
    """
    urns = [r["urn"] for r in rows]
    existing: dict[str, Row[Any]] = {}
    query = select(A).where(
        A.c.territory_id == territory_id, A.c.urn.in_(bindparam("urns", expanding=True))
    )
    for i in range(0, len(urns), 900):
        for row in conn.execute(query, {"urns": urns[i : i + 900]}):
            existing[row.urn] = row
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for r in rows:
        old = existing.get(r["urn"])
        if old is not None and merge:
            # Another source may have enriched this asset: keep what this one does not set.
            r = {**r, "properties": {**old.properties, **r.get("properties", {})}}
            if r.get("name") is None:
                r["name"] = old.name
            if r.get("parent_id") is None and "parent_id" not in r:
                r["parent_id"] = old.parent_id
        if old is None:
            new.append({**r, "territory_id": territory_id, "created_ms": now_ms,
                        "updated_ms": now_ms})
            continue
        if any(getattr(old, k) != r[k] for k in COMPARED if k in r):
            changed.append({**r, "b_id": old.id, "updated_ms": now_ms})
    if new:
        conn.execute(insert(A), new)
    if changed:
        keys = [k for k in COMPARED if k in changed[0]] + ["updated_ms"]
        stmt = update(A).where(A.c.id == bindparam("b_id")).values(
            {k: bindparam(k) for k in keys}
        )
        conn.execute(stmt, [{k: c[k] for k in [*keys, "b_id"]} for c in changed])
    return len(new), len(changed), len(rows) - len(new) - len(changed)


# --- series ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeriesRow:
    id: int
    asset_id: int
    metric: str
    unit: str
    kind: str


def series_of_assets(conn: Connection, asset_ids: Sequence[int]) -> list[SeriesRow]:
    out: list[SeriesRow] = []
    query = select(S.c.id, S.c.asset_id, S.c.metric, S.c.unit, S.c.kind).where(
        S.c.asset_id.in_(bindparam("ids", expanding=True))
    )
    for i in range(0, len(asset_ids), 900):
        out.extend(
            SeriesRow(int(r.id), int(r.asset_id), r.metric, r.unit, r.kind)
            for r in conn.execute(query, {"ids": list(asset_ids[i : i + 900])})
        )
    return out


def insert_series(
    conn: Connection, territory_id: int, rows: Sequence[tuple[int, str, str, str]], now_ms: int
) -> None:
    """Create series (asset_id, metric, unit, kind); ones that exist already are skipped."""
    if not rows:
        return
    existing = {(s.asset_id, s.metric) for s in series_of_assets(conn, [r[0] for r in rows])}
    fresh = [r for r in dict.fromkeys(rows) if (r[0], r[1]) not in existing]
    if fresh:
        conn.execute(
            insert(S),
            [
                {"territory_id": territory_id, "asset_id": a, "metric": m, "unit": u, "kind": k,
                 "created_ms": now_ms}
                for a, m, u, k in fresh
            ],
        )


def asset_rows_by_ids(conn: Connection, ids: Sequence[int]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    query = select(A.c.id, A.c.urn, A.c.type).where(A.c.id.in_(bindparam("ids", expanding=True)))
    for i in range(0, len(ids), 900):
        out.update({int(r.id): r for r in conn.execute(query, {"ids": list(ids[i : i + 900])})})
    return out


def assets_for_resolution(
    conn: Connection, territory_id: int, urns: Sequence[str]
) -> dict[str, tuple[int, str]]:
    """URN -> (asset id, type) for the URNs that exist in the territory."""
    out: dict[str, tuple[int, str]] = {}
    query = select(A.c.urn, A.c.id, A.c.type).where(
        A.c.territory_id == territory_id, A.c.urn.in_(bindparam("urns", expanding=True))
    )
    for i in range(0, len(urns), 900):
        for r in conn.execute(query, {"urns": list(urns[i : i + 900])}):
            out[r.urn] = (int(r.id), r.type)
    return out


def asset_by_dev_eui(conn: Connection, territory_id: int, dev_eui: str) -> Any:
    """The asset whose property ``dev_eui`` (a LoRaWAN device EUI) is this one, any case."""
    query = select(A.c.id, A.c.urn, A.c.type).where(
        A.c.territory_id == territory_id,
        func.lower(A.c.properties["dev_eui"].as_string()) == dev_eui.lower(),
    ).limit(1)
    return conn.execute(query).one_or_none()
