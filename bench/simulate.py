"""Benchmark of the simulator's backfill: a 10,000-asset city, figures printed.

    python bench/simulate.py [--days 3] [--dburl postgresql://...] [--http]

Builds a territory of 10,000 assets in a realistic mix (mostly lamps that report on change,
cabinets metering every 10 minutes, containers, parking, counters, stations, buildings,
chargers), then measures:

1. generation alone (no store): readings per second and per simulated day;
2. the backfill straight into the store (what ``beffroi simulate --backfill`` and ``beffroi
   demo`` use: the simulator's columns, checked in bulk, written by the same idempotent write
   as the ingest path), split into generation and write time, extrapolated to a year; on
   SQLite, first (2a) the same through the per-reading ingest pipeline (dicts, validation)
   into another fresh store, for comparison;
3. optionally (``--http``) the same through the HTTP API (uvicorn in a thread);
4. what the issue's "dense" target (10,000 assets x one metric every 10 minutes for a year,
   525.6 million readings) would take at the measured ingest rate.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from beffroi.app import build_services, create_app
from beffroi.assets import repository as repo
from beffroi.assets.models import TerritoryIn
from beffroi.assets.service import point_asset_row
from beffroi.settings import load_settings
from beffroi.simulator import drivers, inventory, placement
from beffroi.simulator.engine import Simulator
from beffroi.simulator.models import DAY_MS, TICK_MS, PlacementPlan
from beffroi.store import migrate
from beffroi.timeutil import now_ms

CODE = "benchville"
CENTRE = (-1.5536, 47.2184)
LAMPS, LAMPS_PER_CABINET = 8_100, 30  # 270 cabinets
MIX = PlacementPlan(
    waste_containers=800,
    car_parks=15,
    parking_spots=400,
    traffic_counters=60,
    air_stations=5,
    weather_stations=5,
    water_stations=15,
    buildings=150,
    ev_stations=180,
)
YEAR_DAYS = 365
DENSE_READINGS = 10_000 * 6 * 24 * 365
TARGET_S = 600


def _lighting_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cabinets = LAMPS // LAMPS_PER_CABINET
    side = int(cabinets**0.5) + 1
    for c in range(cabinets):
        lon = CENTRE[0] - 0.1 + 0.2 * (c % side) / side
        lat = CENTRE[1] - 0.06 + 0.12 * (c // side) / side
        rows.append(point_asset_row(f"urn:ngsi-ld:StreetlightControlCabinet:{CODE}:C{c}",
                                    "StreetlightControlCabinet", lon, lat))
    return rows


def _lamp_rows(cabinet_ids: dict[str, int]) -> list[dict[str, Any]]:
    rows = []
    for i in range(LAMPS):
        c = i // LAMPS_PER_CABINET
        cab = cabinet_ids[f"urn:ngsi-ld:StreetlightControlCabinet:{CODE}:C{c}"]
        lon = CENTRE[0] - 0.1 + (i % 97) * 0.002
        lat = CENTRE[1] - 0.06 + (i // 97) * 0.0014
        rows.append(point_asset_row(f"urn:ngsi-ld:Streetlight:{CODE}:C{c}-{i}", "Streetlight",
                                    lon, lat, parent_id=cab))
    return rows


def build(url: str) -> Any:
    services = build_services(load_settings(database_url=url))
    migrate.upgrade(services.store)
    services.registry.create_territory(TerritoryIn(code=CODE, name="Bench", center=CENTRE))
    tid = services.registry.territory_id(CODE)
    cabinets = _lighting_rows()
    with services.store.write() as conn:
        repo.upsert_assets(conn, tid, cabinets, now_ms())
        ids = repo.asset_ids(conn, tid, [r["urn"] for r in cabinets])
        repo.upsert_assets(conn, tid, _lamp_rows(ids), now_ms())
    placement.place(services, CODE, 42, MIX)
    return services


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=3.0, help="days backfilled and timed")
    parser.add_argument("--dburl", help="PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument("--http", action="store_true", help="also time one day over HTTP")
    parser.add_argument("--no-compare", action="store_true",
                        help="skip 2a, the per-reading ingest path on another store")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="beffroi-bench-"))
    url = args.dburl or f"sqlite:///{tmp / 'bench.db'}"
    services = build(url)
    territory, assets = inventory.load(services, CODE)
    print(f"store: {services.store.dialect}; {len(assets):,} assets")
    start = now_ms() - int((args.days + 1.5) * DAY_MS)

    sim = Simulator(territory, assets, seed=1, start_ms=start)
    t0 = time.perf_counter()
    generated = len(sim.run(sim.now_ms + DAY_MS))
    gen_s = time.perf_counter() - t0
    print(
        f"1. generation only: {generated:,} readings per simulated day in {gen_s:.2f} s "
        f"({generated / gen_s:,.0f} readings/s)"
    )

    sim = Simulator(territory, assets, seed=1, start_ms=start)
    until = sim.now_ms + int(args.days * DAY_MS)
    # the per-reading ingest path, on its own fresh store, for comparison
    if not args.dburl and not args.no_compare:
        other = build(f"sqlite:///{tmp / 'ingest-path.db'}")
        o_territory, o_assets = inventory.load(other, CODE)
        o_sim = Simulator(o_territory, o_assets, seed=1, start_ms=start)
        o_report = drivers.backfill(o_sim, drivers.telemetry_sink(other.telemetry, CODE), until)
        other.store.dispose()
        print(
            f"2a. backfill through the per-reading ingest pipeline (dicts, validation): "
            f"{o_report.readings:,} readings in {o_report.seconds:.1f} s = "
            f"{o_report.rate:,.0f} readings/s"
        )
    sink = drivers.StoreSink(services.telemetry, CODE, sim.urns)
    report = drivers.backfill_store(sim, sink, until)
    t0 = time.perf_counter()
    services.telemetry.materialise()
    rollup_s = time.perf_counter() - t0
    per_day = report.readings / args.days
    year_readings = per_day * YEAR_DAYS
    year_s = year_readings / report.rate + rollup_s / args.days * YEAR_DAYS
    print(
        f"2. backfill straight to the store (beffroi simulate --backfill, beffroi demo): "
        f"{report.readings:,} readings in {report.seconds:.1f} s = "
        f"{report.rate:,.0f} readings/s (rejected {report.rejected})"
    )
    print(
        f"   where the time goes: generation {report.generate_s:.1f} s "
        f"({report.generate_s / report.seconds:.0%}), ingest pipeline {report.ingest_s:.1f} s "
        f"({report.ingest_s / report.seconds:.0%}); rollups afterwards {rollup_s:.1f} s"
    )
    print(
        f"   a year of this city: {year_readings / 1e6:,.1f} M readings, about "
        f"{year_s / 60:,.1f} min at this rate (target {TARGET_S / 60:.0f} min)"
    )

    if args.http:
        import uvicorn

        app = create_app(services.settings, services=services, background=False)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=8799, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        from beffroi.auth.models import SYSTEM, Role, TokenIn

        token = services.auth.create_token(CODE, TokenIn(name="bench", role=Role.DEVICE),
                                           SYSTEM).secret
        http = drivers.HttpSink("http://127.0.0.1:8799", CODE, token=token)
        http_report = drivers.backfill(sim, http, sim.now_ms + DAY_MS)
        http.close()
        server.should_exit = True
        thread.join()
        print(
            f"3. backfill over HTTP: {http_report.readings:,} readings in "
            f"{http_report.seconds:.1f} s = {http_report.rate:,.0f} readings/s "
            f"(ingest incl. HTTP {http_report.ingest_s:.1f} s)"
        )

    dense_s = DENSE_READINGS / report.rate
    print(
        f"4. dense target: {DENSE_READINGS / 1e6:,.1f} M readings would take "
        f"{dense_s / 60:,.0f} min at {report.rate:,.0f}/s; 10 minutes needs "
        f"{DENSE_READINGS / TARGET_S:,.0f} readings/s "
        f"({DENSE_READINGS / TARGET_S / report.rate:.1f}x this store's ingest rate)"
    )
    assert TICK_MS == 600_000
    services.store.dispose()


if __name__ == "__main__":
    main()
