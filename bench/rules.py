"""Rules benchmark: ingest throughput through the pipeline with 0 and with 1,000 active rules.

For each engine, in one run:

1. builds a template database: the territory ``bench`` with ``--lamps`` Streetlights under
   cabinets of 30 lamps, ``--air`` air-quality stations and ``--weather`` weather stations,
   spread over a 10 km square around Paris;
2. generates the stream before any timing: per 10-minute step every lamp reports
   ``activePower``, 0.02 % of lamps a ``status`` change, every air station no2/pm10/pm25/o3 and
   every weather station temperature/precipitation (ordinary values with rare excursions);
3. runs the stream through ``Pipeline.process`` (batches of ``--batch`` readings, the hand-off
   to the rules included) on a fresh copy of the template with no rule, then on another copy
   with ``--rules`` rules installed (the mix below), and prints readings/s of both, the
   slowdown ratio, the alarms raised and the rule bindings per reading.

The rule mix (the default 1,000): 40 % thresholds on air metrics scoped to a random district
polygon (about 1/16 of the area), 20 % thresholds with duration and hysteresis on weather
temperature scoped to 5 explicit stations, 10 % lamp state rules scoped to a polygon, 10 %
stuck and 10 % rate-of-change rules on air metrics scoped to a polygon, 5 % group rules (share
of a cabinet's lamps failed) on a polygon, 3 % silence rules on a polygon and 2 % cross-domain
combinations. Each reading therefore touches the rules that concern its series, not all of
them: the evaluation cost follows the readings and the rules per series (printed).

Quick check: ``python bench/rules.py --engine sqlite --lamps 5000 --steps 6``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg

from beffroi.app import build_services
from beffroi.assets import repository as repo
from beffroi.assets.models import TerritoryIn
from beffroi.assets.service import point_asset_row
from beffroi.auth.models import SYSTEM
from beffroi.ingest.service import Message
from beffroi.rules.definitions import parse_rules
from beffroi.settings import load_settings
from beffroi.store import migrate, open_store
from beffroi.timeutil import now_ms

TERRITORY = "bench"
STEP_MS = 600_000
LON0, LAT0, SPAN = 2.28, 48.82, 0.12  # a square of about 9 × 13 km over Paris


def build_template(url: str, lamps: int, air: int, weather: int, seed: int) -> dict[str, list[str]]:
    store = open_store(url)
    migrate.upgrade(store)
    store.dispose()
    services = build_services(load_settings(database_url=url))
    services.registry.create_territory(TerritoryIn(code=TERRITORY, name="Bench"))
    tid = services.registry.territory_id(TERRITORY)
    rnd = random.Random(seed)

    def point() -> tuple[float, float]:
        return LON0 + rnd.random() * SPAN, LAT0 + rnd.random() * SPAN

    now = now_ms()
    cabinets = [f"urn:ngsi-ld:StreetlightControlCabinet:{TERRITORY}:C{i}"
                for i in range(max(1, lamps // 30))]
    with services.store.write() as conn:
        repo.upsert_assets(conn, tid, [point_asset_row(u, "StreetlightControlCabinet", *point())
                                       for u in cabinets], now)
        ids = repo.asset_ids(conn, tid, cabinets)
        out: dict[str, list[str]] = {"cabinets": cabinets, "lamps": [], "air": [], "weather": []}
        rows: list[dict[str, Any]] = []
        for i in range(lamps):
            urn = f"urn:ngsi-ld:Streetlight:{TERRITORY}:L{i}"
            out["lamps"].append(urn)
            rows.append(point_asset_row(urn, "Streetlight", *point(),
                                        parent_id=ids[cabinets[i % len(cabinets)]]))
        for i in range(0, len(rows), 5000):  # lamps (with a parent) apart from the others
            repo.upsert_assets(conn, tid, rows[i:i + 5000], now)
        rows = []
        for i in range(air):
            urn = f"urn:ngsi-ld:AirQualityObserved:{TERRITORY}:A{i}"
            out["air"].append(urn)
            rows.append(point_asset_row(urn, "AirQualityObserved", *point()))
        for i in range(weather):
            urn = f"urn:ngsi-ld:WeatherObserved:{TERRITORY}:W{i}"
            out["weather"].append(urn)
            rows.append(point_asset_row(urn, "WeatherObserved", *point()))
        for i in range(0, len(rows), 5000):
            repo.upsert_assets(conn, tid, rows[i:i + 5000], now)
    services.store.dispose()
    return out


def polygon(rnd: random.Random, size: float = SPAN / 4) -> dict[str, Any]:
    x, y = LON0 + rnd.random() * (SPAN - size), LAT0 + rnd.random() * (SPAN - size)
    return {"type": "Polygon", "coordinates": [[[x, y], [x + size, y], [x + size, y + size],
                                                 [x, y + size], [x, y]]]}


def rule_mix(n: int, assets: dict[str, list[str]], seed: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out: list[dict[str, Any]] = []
    plan = [("air", 0.40), ("weather", 0.20), ("lamp", 0.10), ("stuck", 0.10), ("rate", 0.10),
            ("group", 0.05), ("silent", 0.03), ("all", 0.02)]
    for kind, share in plan:
        for i in range(round(n * share)):
            rid = f"{kind}-{i}"
            base: dict[str, Any] = {"id": rid, "name": rid, "severity": "minor"}
            if kind == "air":
                metric, value = rnd.choice([("no2", 200), ("pm10", 50), ("pm10", 80),
                                            ("pm25", 25), ("pm25", 50), ("o3", 180)])
                base |= {"scope": {"types": ["AirQualityObserved"], "area": polygon(rnd)},
                         "when": {"kind": "threshold", "metric": metric, "op": ">",
                                  "value": value}}
            elif kind == "weather":
                base |= {"scope": {"types": ["WeatherObserved"],
                                   "assets": rnd.sample(assets["weather"],
                                                        min(5, len(assets["weather"])))},
                         "when": {"kind": "threshold", "metric": "temperature", "op": "<",
                                  "value": rnd.choice([0, 1, 2]), "for": "30min",
                                  "clear_above": 3}}
            elif kind == "lamp":
                base |= {"scope": {"types": ["Streetlight"], "area": polygon(rnd)},
                         "when": {"kind": "state", "metric": "status",
                                  "in": ["defectiveLamp"]}}
            elif kind == "stuck":
                base |= {"scope": {"types": ["AirQualityObserved"], "area": polygon(rnd)},
                         "when": {"kind": "stuck", "metric": rnd.choice(["no2", "pm10"]),
                                  "for": "2h"}}
            elif kind == "rate":
                base |= {"scope": {"types": ["AirQualityObserved"], "area": polygon(rnd)},
                         "when": {"kind": "rate", "metric": "pm10", "change": 300,
                                  "per": "1h"}}
            elif kind == "group":
                base |= {"scope": {"types": ["StreetlightControlCabinet"],
                                   "area": polygon(rnd)},
                         "when": {"kind": "group", "member": {"types": ["Streetlight"]},
                                  "condition": {"kind": "state", "metric": "status",
                                                "in": ["defectiveLamp"]},
                                  "share": "> 20%"}}
            elif kind == "silent":
                base |= {"scope": {"types": ["AirQualityObserved"], "area": polygon(rnd)},
                         "when": {"kind": "silent", "after": "1h"}}
            else:
                base |= {"when": {"kind": "all", "over": "territory", "conditions": [
                    {"kind": "threshold", "metric": "temperature", "op": "<", "value": 1,
                     "scope": {"types": ["WeatherObserved"], "area": polygon(rnd)}},
                    {"kind": "threshold", "metric": "precipitation", "op": ">", "value": 0,
                     "scope": {"types": ["WeatherObserved"], "area": polygon(rnd)}}]}}
            out.append(base)
    return out[:n]


def stream(assets: dict[str, list[str]], steps: int, batch: int, seed: int
           ) -> list[list[bytes]]:
    """The readings of each step, in batches. Values are ordinary, with rare excursions
    (0.5 % of air readings, 2 % of weather ones) so that alarms are raised and cleared at a
    plausible rate."""
    rnd = random.Random(seed)
    start = now_ms() - 2 * 86_400_000
    out: list[list[bytes]] = []
    air = (("no2", 10, 120, 260), ("pm10", 10, 45, 160), ("pm25", 5, 24, 70),
           ("o3", 20, 120, 250))
    for step in range(steps):
        ts = start + step * STEP_MS
        readings: list[dict[str, Any]] = []
        for urn in assets["lamps"]:
            readings.append({"asset": urn, "metric": "activePower", "ts": ts,
                             "value": round(rnd.uniform(40, 80), 1)})
        for urn in rnd.sample(assets["lamps"], len(assets["lamps"]) // 5000):
            readings.append({"asset": urn, "metric": "status", "ts": ts + 1,
                             "value": "defectiveLamp" if rnd.random() < 0.7 else "ok"})
        for urn in assets["air"]:
            for metric, lo, hi, spike in air:
                value = spike if rnd.random() < 0.005 else rnd.uniform(lo, hi)
                readings.append({"asset": urn, "metric": metric, "ts": ts,
                                 "value": round(value, 1)})
        for urn in assets["weather"]:
            cold = rnd.random() < 0.02
            readings.append({"asset": urn, "metric": "temperature", "ts": ts,
                             "value": round(rnd.uniform(-2, 0.5) if cold
                                            else rnd.uniform(3, 8), 1)})
            readings.append({"asset": urn, "metric": "precipitation", "ts": ts,
                             "value": 0.4 if rnd.random() < 0.1 else 0.0})
        out.append([orjson.dumps({"readings": readings[i:i + batch]})
                    for i in range(0, len(readings), batch)])
    return out


def run(url: str, steps: list[list[bytes]], rules: list[dict[str, Any]]) -> dict[str, float]:
    services = build_services(load_settings(database_url=url))
    if rules:
        services.rules.load(TERRITORY, parse_rules(rules), SYSTEM.actor)
    routed = {"seconds": 0.0, "calls": 0}
    router = services.rules.post_router
    if router is not None:  # time what operations' routing costs, apart from the rules' own

        def timed_router(code: str, rule: str, kind: str | None, post: str | None
                         ) -> str | None:
            t = time.perf_counter()
            try:
                return router(code, rule, kind, post)
            finally:
                routed["seconds"] += time.perf_counter() - t
                routed["calls"] += 1

        services.rules.post_router = timed_router
    # warm-up, not timed, the same in both runs: the first step creates the series, and (with
    # rules) builds the territory's rule index and binds every series to its rules
    for body in steps[0]:
        services.pipeline.process([Message(TERRITORY, "readings", body)])
    readings = 0
    routed["seconds"] = 0.0
    routed["calls"] = 0
    started = time.perf_counter()
    cpu = time.process_time()
    for bodies in steps[1:]:
        for body in bodies:
            [outcome] = services.pipeline.process([Message(TERRITORY, "readings", body)])
            assert outcome.error is None and not outcome.rejected, outcome.to_dict()
            readings += outcome.accepted
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    per_series = 0.0
    alarms = 0
    with services.rules._lock:
        for tr in services.rules._states.values():
            if tr is not None and tr.series:
                per_series = sum(len(b) for _a, _m, b in tr.series.values()) / len(tr.series)
    with services.store.read() as conn:
        from sqlalchemy import text

        alarms = int(conn.execute(text("SELECT count(*) FROM alarms")).scalar_one())
    services.store.dispose()
    return {"readings": readings, "seconds": seconds, "cpu": cpu, "per_s": readings / seconds,
            "bindings": per_series, "alarms": alarms, "routing_s": routed["seconds"],
            "routing_calls": routed["calls"]}


def fresh_copy(template: str, engine: str, name: str, workdir: Path, pg_url: str) -> str:
    if engine == "sqlite":
        target = workdir / f"{name}.db"
        shutil.copy(template.removeprefix("sqlite:///"), target)
        return f"sqlite:///{target}"
    admin = pg_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template.rsplit('/', 1)[1]}")
    return pg_url.rsplit("/", 1)[0] + f"/{name}"


def bench_engine(engine: str, args: argparse.Namespace, workdir: Path) -> None:
    if engine == "sqlite":
        template = f"sqlite:///{workdir / 'template.db'}"
    else:
        template = args.pg_url.rsplit("/", 1)[0] + "/beffroi_rules_template"
        admin = args.pg_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS beffroi_rules_template WITH (FORCE)")
            conn.execute("CREATE DATABASE beffroi_rules_template")
    t = time.perf_counter()
    assets = build_template(template, args.lamps, args.air, args.weather, args.seed)
    if engine == "postgresql":  # no connection may stay open on a template
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = 'beffroi_rules_template' AND pid <> pg_backend_pid()")
    steps = stream(assets, args.steps, args.batch, args.seed)
    rules = rule_mix(args.rules, assets, args.seed)
    print(f"[{engine}] set-up {time.perf_counter() - t:.1f} s: "
          f"{sum(len(v) for v in assets.values()):,} assets, {len(steps)} steps of "
          f"{len(steps[0])} batches, "
          f"{len(rules)} rules")
    base = run(fresh_copy(template, engine, "beffroi_rules_none", workdir, args.pg_url),
               steps, [])
    with_rules = run(fresh_copy(template, engine, "beffroi_rules_all", workdir, args.pg_url),
                     steps, rules)
    print(f"[{engine}] {'':>18} {'readings':>10} {'seconds':>8} {'readings/s':>11} "
          f"{'CPU µs/reading':>15}")
    for label, r in (("0 rules", base), (f"{len(rules)} rules", with_rules)):
        print(f"[{engine}] {label:>18} {int(r['readings']):>10,} {r['seconds']:>8.2f} "
              f"{r['per_s']:>11,.0f} {1e6 * r['cpu'] / r['readings']:>15.1f}")
    print(f"[{engine}] slowdown with {len(rules)} rules: "
          f"{base['per_s'] / with_rules['per_s']:.2f}× (throughput ratio); "
          f"rule bindings per series {with_rules['bindings']:.2f}; "
          f"alarms raised {int(with_rules['alarms']):,}")
    print(f"[{engine}] of the {with_rules['seconds']:.2f} s with rules, "
          f"{with_rules['routing_s']:.2f} s went to the post router (operations' routing, "
          f"{int(with_rules['routing_calls'])} calls for the alarms raised)")
    if engine == "postgresql":
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in ("beffroi_rules_none", "beffroi_rules_all", "beffroi_rules_template"):
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--lamps", type=int, default=20_000)
    parser.add_argument("--air", type=int, default=500)
    parser.add_argument("--weather", type=int, default=200)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--rules", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    engines = ("sqlite", "postgresql") if args.engine == "both" else (args.engine,)
    with tempfile.TemporaryDirectory(prefix="beffroi-rules-bench-") as tmp:
        for engine in engines:
            bench_engine(engine, args, Path(tmp))


if __name__ == "__main__":
    main()
