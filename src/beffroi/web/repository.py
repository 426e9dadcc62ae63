"""The SQL of the web UI: the state of every asset of a territory (for the map) and the change
markers of the live stream. Read-only; tables belong to their packages.

State of an asset (one of ``alarm``, ``fault``, ``off``, ``silent``, ``ok``), the first that
holds, in this order:

1. ``alarm``  — it has an open alarm (``alarms.state`` raised or acknowledged);
2. ``fault``  — the latest value of one of its state series is a fault state
   (:data:`FAULT_STATES`: ``fault``, ``defectiveLamp``, ``tripped``, ``outOfService``…);
3. ``off``    — the latest value of one of its state series is an off state
   (:data:`OFF_STATES`: ``off``, ``closed``);
4. ``silent`` — its newest reading (any series) is older than ``silent_after_ms`` (by default
   three times the expected period of its type, :data:`EXPECTED_PERIOD_S`), or it never
   reported;
5. ``ok``     — otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case, func, literal, or_, select

from beffroi.commands.repository import commands
from beffroi.operations.repository import incidents, work_orders
from beffroi.rules.repository import alarms
from beffroi.store.engine import Store
from beffroi.store.schema import assets, latest, series, territories

STATES = ("ok", "alarm", "fault", "silent", "off")
FAULT_STATES = ("fault", "defectiveLamp", "columnIssue", "brokenLantern", "tripped", "lidOpen",
                "dropped", "burning", "outOfService", "tampered", "offline", "blocked")
OFF_STATES = ("off", "closed")
# How often a type is expected to report (seconds); silent after SILENT_FACTOR periods.
DEFAULT_PERIOD_S = 3600
EXPECTED_PERIOD_S: dict[str, int] = {
    "Streetlight": 3600, "StreetlightControlCabinet": 900, "WasteContainer": 3600,
    "ParkingSpot": 900, "OffStreetParking": 300, "AirQualityObserved": 3600,
    "WeatherObserved": 600, "WaterQualityObserved": 900, "TrafficFlowObserved": 3600,
    "TrafficSignal": 300, "EVChargingStation": 900, "Building": 3600, "Camera": 300,
}
SILENT_FACTOR = 3
OPEN_ALARM = ("raised", "acknowledged")


@dataclass(frozen=True, slots=True)
class AssetState:
    id: int
    urn: str
    name: str | None
    type: str
    domain: str
    post: str | None
    lon: float
    lat: float
    state: str


def asset_marker(conn: Connection, territory_id: int) -> tuple[int, int | None, int]:
    """(count, newest id, registry version) of the territory's assets: moves when assets are
    created or deleted (index-only reads)."""
    count, newest = conn.execute(select(func.count(), func.max(assets.c.id))
                                 .where(assets.c.territory_id == territory_id)).one()
    version = conn.execute(select(territories.c.registry_version)
                           .where(territories.c.id == territory_id)).scalar()
    return int(count), newest, int(version or 0)


def asset_rows(conn: Connection, territory_id: int) -> list[tuple[Any, ...]]:
    """(id, urn, name, type, domain, control post, lon, lat) of every asset."""
    query = (select(assets.c.id, assets.c.urn, assets.c.name, assets.c.type, assets.c.domain,
                    assets.c.control_post, assets.c.lon, assets.c.lat)
             .where(assets.c.territory_id == territory_id))
    return [tuple(r) for r in conn.execute(query)]


def asset_facts(conn: Connection, territory_id: int) -> list[tuple[Any, ...]]:
    """(asset id, newest reading ms, has a fault state, has an off state) of every asset
    with at least one reading."""
    query = (
        select(
            series.c.asset_id,
            func.max(latest.c.ts_ms),
            func.max(case((latest.c.text.in_(FAULT_STATES), 1), else_=0)),
            func.max(case((latest.c.text.in_(OFF_STATES), 1), else_=0)),
        )
        .select_from(series.join(latest, latest.c.series_id == series.c.id))
        .where(series.c.territory_id == territory_id)
        .group_by(series.c.asset_id)
    )
    return [tuple(r) for r in conn.execute(query)]


def alarmed_assets(conn: Connection, territory_id: int) -> set[int]:
    """Ids of the assets with an open alarm."""
    return {int(r[0]) for r in conn.execute(
        select(alarms.c.asset_id)
        .where(alarms.c.territory_id == territory_id, alarms.c.state.in_(OPEN_ALARM),
               alarms.c.asset_id.is_not(None))
        .distinct())}


def asset_states(conn: Connection, territory_id: int, now_ms: int) -> list[AssetState]:
    """Every asset of the territory with its position and state (the rule above), from
    three plain queries (assets, :func:`asset_facts`, :func:`alarmed_assets`): each is one
    pass over an index range, where one query joining them made SQLite sort its join in a
    temporary b-tree (5 s for 100,000 assets instead of about 1 s)."""
    facts = {int(f[0]): (f[1], bool(f[2]), bool(f[3])) for f in asset_facts(conn, territory_id)}
    alarmed = alarmed_assets(conn, territory_id)
    none: tuple[int | None, bool, bool] = (None, False, False)
    out = []
    for aid, urn, name, type_name, domain, post, lon, lat in asset_rows(conn, territory_id):
        last_ms, fault, off = facts.get(aid, none)
        out.append(AssetState(aid, urn, name, type_name, domain, post, float(lon), float(lat),
                              state_of(type_name, aid in alarmed, fault, off, last_ms, now_ms)))
    return out


def state_of(type_name: str, alarm: bool, fault: bool, off: bool, last_ms: int | None,
             now_ms: int) -> str:
    if alarm:
        return "alarm"
    if fault:
        return "fault"
    if off:
        return "off"
    period_ms = EXPECTED_PERIOD_S.get(type_name, DEFAULT_PERIOD_S) * 1000
    if last_ms is None or now_ms - int(last_ms) > SILENT_FACTOR * period_ms:
        return "silent"
    return "ok"


def markers_reader(store: Store) -> Callable[[int], dict[str, Any]]:
    """``change_markers`` of a territory, each read in its own short transaction (what the
    live stream's watchers call)."""
    def read(territory_id: int) -> dict[str, Any]:
        with store.read() as conn:
            return change_markers(conn, territory_id)

    return read


def change_markers(conn: Connection, territory_id: int) -> dict[str, Any]:
    """Cheap markers that move when alarms, incidents (and their work orders) or commands of
    the territory change (the live stream compares them); the first figure of each is a count
    (alarms, incidents: all; commands: still open)."""
    a = conn.execute(select(func.count(), func.max(alarms.c.updated_ms), func.max(alarms.c.id))
                     .where(alarms.c.territory_id == territory_id)).one()
    i = conn.execute(select(func.count(), func.max(incidents.c.updated_ms),
                            func.max(incidents.c.id))
                     .where(incidents.c.territory_id == territory_id)).one()
    # a work order's steps are the incident board's news too (they need not move the incident)
    w = conn.execute(select(func.max(work_orders.c.updated_ms), func.max(work_orders.c.id))
                     .where(work_orders.c.territory_id == territory_id)).one()
    # commands: a new one (id), or one that ended (fewer open: acknowledged, failed…)
    c = conn.execute(select(func.max(commands.c.id)).where(
        commands.c.territory_id == territory_id)).scalar()
    c_open = conn.execute(select(func.count()).where(
        commands.c.state.in_(("pending", "sent")),
        commands.c.territory_id == territory_id)).scalar_one()
    return {"alarms": (int(a[0]), a[1], a[2]),
            "incidents": (int(i[0]), i[1], i[2], w[0], w[1]),
            "commands": (int(c_open), c)}


def open_alarm_count(conn: Connection, territory_id: int, posts: frozenset[str] | None) -> int:
    q = select(func.count()).where(alarms.c.territory_id == territory_id,
                                   alarms.c.state.in_(OPEN_ALARM))
    if posts is not None:
        q = q.where(or_(alarms.c.post.in_(sorted(posts)), literal(False)))
    return int(conn.execute(q).scalar_one())
