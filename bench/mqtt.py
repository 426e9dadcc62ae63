"""MQTT ingest benchmark: through a real Mosquitto, end to end to the store (SQLite by default).

    python bench/mqtt.py [--readings 200000] [--assets 10000] [--dburl postgresql://...]

It starts a private Mosquitto (a free port on 127.0.0.1, a scratch config without queue
limits) and ``beffroi worker`` processes, then publishes the stream with ``mosquitto_pub -l``
(C, QoS 1, one message per line) and times it from the first publication to the last reading
committed: broker → decode → validate → write → PUBACK, end to end. Phases:

1. gateway batches of 100 readings per message, 1 worker;
2. the same with 2 workers (shared subscription): the ratio to 1 worker;
3. one reading per message, 1 worker (messages/s);
4. the engine's raw insert rate for the same rows (SQLite ``executemany`` in one transaction
   per 1,000; PostgreSQL ``COPY``), for the ratio end to end / raw.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text

from beffroi.app import build_services
from beffroi.assets import repository as repo
from beffroi.assets.models import TerritoryIn
from beffroi.assets.service import point_asset_row
from beffroi.settings import load_settings
from beffroi.store import migrate
from beffroi.timeutil import now_ms

CODE = "bench"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 0\nmax_inflight_messages 0\nmax_queued_bytes 0\n"
        )
        self.proc = subprocess.Popen(["mosquitto", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(50):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def setup(url: str, assets: int) -> Any:
    services = build_services(load_settings(database_url=url))
    migrate.upgrade(services.store)
    services.registry.create_territory(TerritoryIn(code=CODE, name="Bench"))
    tid = services.registry.territory_id(CODE)
    rows = []
    for i in range(assets):
        rows.append(point_asset_row(f"urn:ngsi-ld:Streetlight:{CODE}:L{i}", "Streetlight",
                                    -1.55 + (i % 100) * 1e-3, 47.2 + (i // 100) * 1e-3))
    for i in range(0, len(rows), 5000):
        with services.store.write() as conn:
            repo.upsert_assets(conn, tid, rows[i:i + 5000], now_ms())
            services.store.note_growth(conn, "assets", len(rows[i:i + 5000]))
    return services


def stream(readings: int, assets: int, start_ms: int) -> list[dict[str, Any]]:
    return [{"asset": f"urn:ngsi-ld:Streetlight:{CODE}:L{i % assets}", "metric": "activePower",
             "ts": start_ms + (i // assets) * 600_000 + i % assets, "value": float(i % 250)}
            for i in range(readings)]


def count(services: Any) -> int:
    with services.store.read() as conn:
        return int(conn.execute(text("SELECT count(*) FROM observations")).scalar_one())


def reset(services: Any) -> None:
    with services.store.write() as conn:
        conn.execute(text("DELETE FROM observations"))
        conn.execute(text("DELETE FROM latest"))
        conn.execute(text("DELETE FROM rollup_dirty"))


def worker(url: str, port: int, wid: str, group: str, workdir: Path, batch: int
           ) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BEFFROI_DATABASE_URL": url, "BEFFROI_MQTT_PORT": str(port),
           "BEFFROI_LOG_LEVEL": "WARNING"}
    with (workdir / f"worker-{wid}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "beffroi.cli", "worker", "--id", wid, "--group", group,
             "--batch", str(batch), "--session-expiry", "3600"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(60)


def publish(port: int, topic: str, lines: list[bytes]) -> float:
    started = time.perf_counter()
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic,
                    "-l", "-i", f"bench-pub-{time.monotonic_ns()}"],
                   input=b"\n".join(lines) + b"\n", check=True)
    return time.perf_counter() - started


def run_phase(label: str, services: Any, url: str, broker: Broker, workdir: Path,
              lines: list[bytes], readings: int, workers: int, group: str, batch: int) -> float:
    """Workers connected and idle; then the stream is published (mosquitto_pub, C) and timed
    from the first publication to the last reading committed."""
    reset(services)
    procs = [worker(url, broker.port, f"{group}-{k}", group, workdir, batch)
             for k in range(workers)]
    try:
        time.sleep(4)  # started, connected and subscribed
        started = time.perf_counter()
        pub_s = publish(broker.port, f"beffroi/{CODE}/readings", lines)
        n = count(services)
        while n < readings:
            if time.perf_counter() - started > 900:
                raise RuntimeError(f"{label}: only {n} of {readings} stored")
            time.sleep(0.02)
            n = count(services)
        seconds = time.perf_counter() - started
    finally:
        stop(procs)
    rate = readings / seconds
    print(f"{label}: {len(lines):,} messages, {readings:,} readings in {seconds:.1f} s = "
          f"{rate:,.0f} readings/s, {len(lines) / seconds:,.0f} messages/s (the publisher "
          f"alone took {pub_s:.1f} s)")
    return rate


def raw_rate(services: Any, url: str, rows: list[tuple[int, int, float]]) -> float:
    """The engine's raw insert rate for these rows, one transaction per 1,000: SQLite
    ``executemany`` on a plain sqlite3 connection with Beffroi's PRAGMAs; PostgreSQL ``COPY``."""
    store = services.store
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS raw_bench"))
        conn.execute(text("CREATE TABLE raw_bench (series_id integer, ts_ms bigint, value float, "
                          "text varchar(64), PRIMARY KEY (series_id, ts_ms))"
                          + (" WITHOUT ROWID" if store.is_sqlite else "")))
    chunks = [[(s, t, v, None) for s, t, v in rows[i:i + 1000]]
              for i in range(0, len(rows), 1000)]
    if store.is_sqlite:
        import sqlite3

        from beffroi.store.engine import SQLITE_PRAGMAS

        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        for pragma in SQLITE_PRAGMAS:
            db.execute(f"PRAGMA {pragma}")
        started = time.perf_counter()
        for chunk in chunks:
            db.executemany("INSERT INTO raw_bench VALUES (?, ?, ?, ?)", chunk)
            db.commit()
        seconds = time.perf_counter() - started
        db.close()
        return len(rows) / seconds
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as pg:
        started = time.perf_counter()
        for chunk in chunks:
            with pg.cursor() as cur, cur.copy("COPY raw_bench FROM STDIN") as copy:
                for row in chunk:
                    copy.write_row(row)
            pg.commit()
        return len(rows) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--singles", type=int, default=60_000,
                        help="messages of one reading each in phase 3")
    parser.add_argument("--dburl", help="PostgreSQL URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="beffroi-mqtt-bench-"))
    url = args.dburl or f"sqlite:///{workdir / 'bench.db'}"
    services = setup(url, args.assets)
    broker = Broker(workdir)
    start = now_ms() - 20 * 86_400_000
    try:
        data = stream(args.readings, args.assets, start)
        batches = [orjson.dumps(data[i:i + 100]) for i in range(0, len(data), 100)]
        # Warm-up: create the series (not timed).
        services.telemetry.ingest_readings(CODE, data[: args.assets])
        print(f"store: {services.store.dialect}; {args.assets:,} assets; broker port "
              f"{broker.port}; workdir {workdir}")
        one = run_phase("1. gateway batches of 100, 1 worker", services, url, broker, workdir,
                        batches, len(data), 1, "g1", 100)
        two = run_phase("2. gateway batches of 100, 2 workers", services, url, broker, workdir,
                        batches, len(data), 2, "g2", 100)
        singles = [orjson.dumps(r) for r in data[: args.singles]]
        single = run_phase("3. one reading per message, 1 worker", services, url, broker,
                           workdir, singles, len(singles), 1, "g3", 2000)
        with services.store.read() as conn:
            ids = dict(conn.execute(text(
                "SELECT a.urn, s.id FROM series s JOIN assets a ON a.id = s.asset_id")).all())
        rows = [(ids[r["asset"]], r["ts"], r["value"]) for r in data]
        raw = raw_rate(services, url, rows)
        print(f"4. raw insert of the same rows: {raw:,.0f} readings/s")
        print()
        print(f"summary: batches {one:,.0f} r/s (target 100,000 into SQLite), "
              f"{one / raw:.1%} of raw; 2 workers / 1 = {two / one:.2f}; "
              f"single-reading messages {single:,.0f} msg/s (target 15,000)")
    finally:
        broker.stop()
        services.store.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
