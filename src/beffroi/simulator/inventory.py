"""The assets of a territory as the simulator sees them, read through the registry's
repository (one query per simulated type: a metropolis has ~100,000 lamps)."""

from __future__ import annotations

from typing import Any

from beffroi.assets import repository as repo
from beffroi.simulator.domains import DOMAINS
from beffroi.simulator.engine import Territory
from beffroi.simulator.models import SimAsset


def load(services: Any, code: str) -> tuple[Territory, list[SimAsset]]:
    """The territory (zone, centre) and its assets of every type the simulator knows."""
    row = services.registry.territory_row(code)
    tid = int(row.id)
    assets: list[SimAsset] = []
    with services.store.read() as conn:
        for type_name in sorted({t for d in DOMAINS for t in d.types}):
            for r in repo.assets_in_box(conn, tid, repo.AssetFilter(type=type_name)):
                assets.append(SimAsset(
                    urn=r.urn, type=r.type, lon=float(r.lon), lat=float(r.lat),
                    properties=dict(r.properties or {}), parent=r.parent_urn,
                ))
    if row.center_lon is not None:
        lon, lat = float(row.center_lon), float(row.center_lat)
    elif assets:
        lon = sum(a.lon for a in assets) / len(assets)
        lat = sum(a.lat for a in assets) / len(assets)
    else:
        lon, lat = 0.0, 0.0
    return Territory(code=code, timezone=row.timezone, lon=lon, lat=lat), assets
