"""Map benchmark: the control-room map with 100,000 assets, in headless Chromium.

1. Set-up (not timed): a fresh database with the territory ``bench`` and ``--assets`` assets
   over a 12 × 13 km square of Paris (90 % Streetlights under cabinets of 30, the rest traffic
   signals, waste containers, parking spots and cameras), one reading per asset (a state or a
   power) through the real ingest pipeline, with 0.5 % faults, 0.2 % of assets silent, and a
   rule that raises ~100 alarms; a user with a session.
2. Server timings (in process, no HTTP): the state snapshot of the territory (one SQL query),
   then a clustering request at city zoom (warm).
3. Chromium (the Debian package, ``/usr/bin/chromium``, software WebGL), a cold cache, a
   1400 × 900 window: the time from navigation to the map drawn with its clusters (the
   ``firstRenderMs`` the page records on MapLibre's first ``idle`` after the data arrived),
   the bytes transferred until then (compressed sizes, as on the wire), then the frame times
   while panning for ``--pan-s`` seconds (a pan of 150 px every 300 ms, each pan ending
   with a reload of the clusters for the new view).

Targets: first render < 2 s and < 2 MB at city zoom.

    python bench/map.py                       # SQLite, 100,000 assets
    python bench/map.py --engine postgresql   # PostgreSQL (drops and re-creates --pg-url's db)
    python bench/map.py --engine postgresql --keep   # …kept, and reused by the next run
    python bench/map.py --assets 20000        # quick check
    python bench/map.py --waterfall           # also every request of the page, in order

The "cold" run is the server's first page: the server starts building the snapshots of its
large territories when it starts (``MapCache.warm_large``), so that one may still be in
progress; the page itself never waits for it (only its clustering request may).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg
import uvicorn

from beffroi.app import build_services, create_app
from beffroi.assets import repository as repo
from beffroi.assets.models import TerritoryIn
from beffroi.assets.service import point_asset_row
from beffroi.auth.models import SYSTEM, GrantIn, Role, UserIn
from beffroi.ingest.service import Message
from beffroi.rules.definitions import parse_yaml
from beffroi.settings import load_settings
from beffroi.store import migrate, open_store
from beffroi.web import mapdata

TERRITORY = "bench"
LON0, LAT0, W, H = 2.25, 48.815, 0.17, 0.085  # Paris inside its ring road, roughly
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
OTHERS = ("TrafficSignal", "WasteContainer", "ParkingSpot", "Camera")
RULE = """
rules:
  - id: bench-overpower
    name: {fr: "Surpuissance", en: "Over power"}
    severity: major
    post: lighting
    scope: {types: [Streetlight]}
    when: {kind: threshold, metric: activePower, op: ">", value: 150}
"""


def build(url: str, n: int, seed: int) -> Any:
    store = open_store(url)
    migrate.upgrade(store)
    store.dispose()
    services = build_services(load_settings(database_url=url))
    services.registry.create_territory(TerritoryIn(code=TERRITORY, name="Bench"))
    tid = services.registry.territory_id(TERRITORY)
    rnd = random.Random(seed)
    now = services.clock()

    def point() -> tuple[float, float]:
        return LON0 + rnd.random() * W, LAT0 + rnd.random() * H

    lamps = int(n * 0.9)
    cabinets = [f"urn:ngsi-ld:StreetlightControlCabinet:{TERRITORY}:C{i}"
                for i in range(max(1, lamps // 30))]
    others = n - lamps - len(cabinets)
    urns: list[tuple[str, str]] = []
    with services.store.write() as conn:
        repo.upsert_assets(conn, tid, [point_asset_row(u, "StreetlightControlCabinet",
                                                       *point()) for u in cabinets], now)
        ids = repo.asset_ids(conn, tid, cabinets)
        rows = []
        for i in range(lamps):
            u = f"urn:ngsi-ld:Streetlight:{TERRITORY}:L{i}"
            rows.append(point_asset_row(u, "Streetlight", *point(),
                                        parent_id=ids[cabinets[i // 30 % len(cabinets)]]))
            urns.append((u, "Streetlight"))
        for i in range(others):
            kind = OTHERS[i % len(OTHERS)]
            u = f"urn:ngsi-ld:{kind}:{TERRITORY}:O{i}"
            rows.append(point_asset_row(u, kind, *point()))
            urns.append((u, kind))
        for start in range(0, len(rows), 5000):
            repo.upsert_assets(conn, tid, rows[start:start + 5000], now)
    services.rules.load(TERRITORY, parse_yaml(RULE, "bench.yaml"), SYSTEM.actor)
    readings = []
    for u, kind in urns:
        r = rnd.random()
        if r < 0.002:
            continue  # silent
        if kind == "Streetlight":
            if r < 0.007:
                readings.append({"asset": u, "metric": "status", "ts": now - 60_000,
                                 "value": "defectiveLamp"})
            else:
                value = 200.0 if r > 0.999 else 70.0
                readings.append({"asset": u, "metric": "activePower", "ts": now - 60_000,
                                 "value": value})
        elif kind == "TrafficSignal":
            readings.append({"asset": u, "metric": "status", "ts": now - 60_000,
                             "value": "operational"})
        elif kind == "Camera":
            readings.append({"asset": u, "metric": "status", "ts": now - 60_000,
                             "value": "online"})
        elif kind == "ParkingSpot":
            readings.append({"asset": u, "metric": "status", "ts": now - 60_000,
                             "value": "free"})
    for start in range(0, len(readings), 20_000):
        body = orjson.dumps({"readings": readings[start:start + 20_000]})
        [outcome] = services.pipeline.process([Message(TERRITORY, "readings", body)])
        assert outcome.error is None, outcome.to_dict()
    services.auth.create_user(UserIn(username="bench", password="bench-password"), SYSTEM)
    services.auth.set_grant(TERRITORY, "bench", GrantIn(role=Role.SUPERVISOR), SYSTEM)
    return services


def server_timings(services: Any) -> dict[str, float]:
    tid = services.registry.territory_id(TERRITORY)
    cache = mapdata.MapCache(services.store, services.clock)
    t = time.perf_counter()
    snap = cache.get(tid)
    cold_s = time.perf_counter() - t
    cache.invalidate(tid)
    t = time.perf_counter()
    snap = cache.get(tid)
    refresh_s = time.perf_counter() - t
    times = []
    for _ in range(20):
        t = time.perf_counter()
        body = mapdata.clusters(snap, mapdata.MapQuery(bbox=None, zoom=12))
        times.append(time.perf_counter() - t)
    print(f"  states: {body['states']}")
    return {"snapshot_ms": cold_s * 1000, "refresh_ms": refresh_s * 1000,
            "clusters_ms": statistics.median(times) * 1000, "clusters": len(body["features"])}


# Every request of the page until now: (name, start, server wait, end) in ms after navigation.
WATERFALL = """() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const rows = [['(page)', 0, nav.responseStart - nav.requestStart, nav.responseEnd]];
    for (const e of performance.getEntriesByType('resource'))
        rows.push([e.name.replace(location.origin, ''), e.startTime,
                   e.responseStart - e.requestStart, e.responseEnd]);
    return rows;
}"""


def print_waterfall(rows: list[list[Any]], first_render_ms: float) -> None:
    for name, start, wait, end in sorted(rows, key=lambda r: r[1]):
        print(f"    {start:7.0f} → {end:7.0f} ms (server {wait:5.0f} ms)  {name[:90]}")
    print(f"    {first_render_ms:7.0f} ms: map drawn")


def browse(services: Any, pan_s: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    app = create_app(services.settings, services=services, background=False)
    sock_port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=sock_port,
                                           log_level="warning", ws="none",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    # as `beffroi serve` does when it starts (its background worker is not wanted here)
    app.state.web.cache.warm_large()
    base = f"http://127.0.0.1:{sock_port}"
    secret, _principal = services.auth.login("bench", "bench-password")
    out: dict[str, Any] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for run in ("cold", "warm"):
                # cold: the server's first request for the territory (its state snapshot is
                # built then); warm: the server's snapshot is ready. Both in a fresh browser
                # context (an empty HTTP cache).
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                context.add_cookies([{"name": "beffroi_session", "value": secret,
                                      "url": base}])
                page = context.new_page()
                sizes: list[tuple[str, int]] = []
                ready = {"done": False}

                def finished(request: Any, sizes: list[tuple[str, int]] = sizes,
                             ready: dict[str, bool] = ready) -> None:
                    if ready["done"]:
                        return
                    s = request.sizes()
                    sizes.append((request.url,
                                  s["responseBodySize"] + s["responseHeadersSize"]))

                page.on("requestfinished", finished)
                t = time.perf_counter()
                page.goto(f"{base}/t/{TERRITORY}/map")
                page.wait_for_selector("#map[data-ready='true']", timeout=60_000)
                wall = time.perf_counter() - t
                ready["done"] = True
                stats = page.evaluate("window.__beffroiMap")
                out[f"{run}_first_render_ms"] = stats["firstRenderMs"]
                out[f"{run}_waterfall"] = page.evaluate(WATERFALL)
                out[f"{run}_wall_s"] = wall
                if run == "cold":
                    context.close()
            out["first_render_ms"] = out["warm_first_render_ms"]
            out["kind"] = stats["lastKind"]
            out["features"] = stats["lastFeatures"]
            out["zoom"] = page.evaluate("window.__beffroiMapInstance.getZoom()")
            out["bytes"] = sum(b for _u, b in sizes)
            out["requests"] = len(sizes)
            out["largest"] = sorted(sizes, key=lambda x: -x[1])[:4]
            frames = page.evaluate("""async (seconds) => {
                const map = window.__beffroiMapInstance;
                const deltas = [];
                let last = performance.now(), running = true;
                const loop = (t) => { deltas.push(t - last); last = t;
                                      if (running) requestAnimationFrame(loop); };
                requestAnimationFrame(loop);
                const end = performance.now() + seconds * 1000;
                let dx = 150;
                while (performance.now() < end) {
                    map.panBy([dx, 60], {duration: 250});
                    await new Promise((r) => setTimeout(r, 300));
                    dx = -dx;
                }
                running = false;
                return {deltas: deltas.slice(1), requests: window.__beffroiMap.requests};
            }""", pan_s)
            deltas = sorted(frames["deltas"])
            out["frames"] = len(deltas)
            out["frame_median_ms"] = statistics.median(deltas)
            out["frame_p95_ms"] = deltas[int(len(deltas) * 0.95)]
            out["frame_max_ms"] = deltas[-1]
            out["pan_requests"] = frames["requests"]
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.web.cache.close()
    return out


def _pg_holds_bench(admin: str, url: str) -> bool:
    """Whether the PostgreSQL database of ``url`` exists and holds the bench territory."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            return False
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM territories WHERE code = %s",
                               (TERRITORY,)).fetchone()
            return bool(row and row[0])
    except psycopg.Error:
        return False


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/beffroi_bench")
    parser.add_argument("--pan-s", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reuse", metavar="FILE.db",
                        help="SQLite: build this file once, then reuse it (faster reruns)")
    parser.add_argument("--waterfall", action="store_true",
                        help="print the requests of the page until the map is drawn")
    parser.add_argument("--keep", action="store_true",
                        help="PostgreSQL: keep the database at the end, and reuse it when it "
                             "already holds the territory (faster reruns)")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="beffroi-map-")
    reuse = bool(args.engine == "sqlite" and args.reuse and Path(args.reuse).exists())
    if args.engine == "sqlite":
        url = f"sqlite:///{args.reuse or workdir + '/bench.db'}"
    else:
        url = args.pg_url
        name = url.rsplit("/", 1)[1]
        admin = url.rsplit("/", 1)[0] + "/postgres"
        reuse = args.keep and _pg_holds_bench(admin, url)
        if not reuse:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE {name}")
    t = time.perf_counter()
    if reuse:
        print(f"{args.engine}: reusing {args.reuse or url}")
        services = build_services(load_settings(database_url=url))
    else:
        print(f"{args.engine}: building {args.assets:,} assets…", flush=True)
        services = build(url, args.assets, args.seed)
        print(f"  set-up {time.perf_counter() - t:.1f} s")
    s = server_timings(services)
    print(f"  server: state snapshot {s['snapshot_ms']:.0f} ms (first), refresh "
          f"{s['refresh_ms']:.0f} ms (asset rows reused; in the background every 10 s), "
          f"clustering at city zoom {s['clusters_ms']:.1f} ms → {s['clusters']} clusters")
    b = browse(services, args.pan_s)
    print(f"  chromium: first render {b['warm_first_render_ms']:.0f} ms after navigation "
          f"(server warm; {b['cold_first_render_ms']:.0f} ms on the server's first request), "
          f"zoom {b['zoom']:.1f}, "
          f"{b['features']} {b['kind']}")
    if args.waterfall:
        for run in ("cold", "warm"):
            print(f"  requests, {run} run:")
            print_waterfall(b[f"{run}_waterfall"], b[f"{run}_first_render_ms"])
    print(f"  transferred at the initial view: {b['bytes'] / 1e6:.2f} MB in {b['requests']} "
          f"requests; largest: " + ", ".join(
              f"{u.rsplit('/', 1)[-1][:40]} {n / 1e3:.0f} kB" for u, n in b["largest"]))
    print(f"  panning {args.pan_s:.0f} s: {b['frames']} frames, median "
          f"{b['frame_median_ms']:.1f} ms, p95 {b['frame_p95_ms']:.1f} ms, max "
          f"{b['frame_max_ms']:.0f} ms; {b['pan_requests']} cluster requests in all")
    ok = b["first_render_ms"] < 2000 and b["bytes"] < 2_000_000
    print(f"  targets (< 2 s, < 2 MB): {'met' if ok else 'MISSED'}")
    services.store.dispose()
    if args.engine == "postgresql" and not args.keep:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
