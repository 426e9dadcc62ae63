"""Ingest benchmark: readings per second end to end (HTTP), in process, and the engine's raw limit.

For each engine (SQLite, PostgreSQL) the benchmark:

1. creates a fresh database, migrates it, creates the territory ``bench`` and ``--series``
   Streetlights (one series each, metric ``activePower`` in WTT);
2. pre-generates the stream before any timing: every series reports once per step (a step is
   10 minutes of device time, starting 2 days ago), in batches of ``--batch`` readings,
   serialised with orjson;
3. starts the real server (``beffroi serve``) as a subprocess, sends step 0 untimed (it creates
   the series and fills the server's series cache), then times steps 1..N posted over
   ``--concurrency`` keep-alive connections; every answer must be 200 with ``stored`` equal to
   the batch size;
4. runs the same stream in process through ``Telemetry.ingest_body`` on a fresh copy of the
   database (no HTTP), optionally under cProfile (``--profile``);
5. measures the engine's raw limit for the same rows into a scratch table shaped like
   ``observations`` (SQLite: executemany, one transaction per batch; PostgreSQL: binary COPY,
   one transaction per batch), and the same SQL the application runs (insert ignoring
   replays + latest upsert) without the Python layers above it;
6. checks that ``observations`` holds every reading sent and ``latest`` one row per series;
7. prints a summary table per engine.

Quick check: ``python bench/ingest.py --series 20000 --steps 5``.
Where time goes: ``python bench/ingest.py --engine sqlite --profile``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import http.client
import os
import pstats
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg
from psycopg import sql

from beffroi.app import build_services
from beffroi.assets import repository as repo
from beffroi.assets.models import TerritoryIn
from beffroi.assets.service import point_asset_row
from beffroi.settings import load_settings
from beffroi.store import migrate, open_store
from beffroi.store.engine import SQLITE_PRAGMAS
from beffroi.timeutil import now_ms

TERRITORY = "bench"
ASSET_TYPE = "Streetlight"
METRIC = "activePower"
STEP_MS = 600_000  # every series reports every 10 minutes
ASSET_CHUNK = 5_000
INGEST_PATH = f"/api/v1/territories/{TERRITORY}/observations"
RAW_TABLE = "bench_raw_observations"
RAW_LATEST = "bench_raw_latest"
TARGET_SQLITE_RATE = 150_000
TARGET_RATIO = 0.45
# Functions whose cumulative time is shown as the "stages" of the in-process path.
STAGES = (
    ("telemetry/service.py", "ingest_body", "ingest_body (all)"),
    ("telemetry/decode.py", "parse_batch", "  parse_batch (JSON decode)"),
    ("telemetry/service.py", "_resolve", "  _resolve (series lookup)"),
    ("telemetry/decode.py", "validate", "  validate"),
    ("store/timeseries.py", "write_observations", "  write_observations"),
    ("store/partitions.py", "ensure_range", "    ensure_range"),
    ("store/engine.py", "write", "    Store.write (lock, connect, begin, commit)"),
    ("store/timeseries.py", "read_rollup_state", "    read_rollup_state"),
    ("store/timeseries.py", "_insert", "    _insert (observations)"),
    ("store/timeseries.py", "_upsert_latest", "    _upsert_latest"),
    ("store/timeseries.py", "_pg_write", "    _pg_write (PostgreSQL: COPY, insert, latest)"),
    ("store/timeseries.py", "_note_rollup_work", "    _note_rollup_work"),
)

Row = tuple[int, int, float, None]


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class Rate:
    readings: int
    seconds: float
    warmup_s: float = 0.0
    note: str = ""
    step_s: list[float] = field(default_factory=list)  # seconds of each timed step
    cpu_s: float = 0.0  # CPU seconds of the process doing the work (server, or this one)

    @property
    def cpu_us(self) -> float:
        """CPU microseconds per reading: much less sensitive than wall time to other load."""
        return 1e6 * self.cpu_s / self.readings if self.readings else 0.0

    def steps_line(self) -> str:
        """Readings/s of each timed step (they fall as the tables grow)."""
        per_step = self.readings / len(self.step_s) if self.step_s else 0
        rates = [f"{per_step / s / 1000:.0f}k" if s > 0 else "-" for s in self.step_s]
        return "per step: " + " ".join(rates)

    @property
    def per_s(self) -> float:
        return self.readings / self.seconds if self.seconds > 0 else 0.0


@dataclass
class EngineResult:
    engine: str
    series: int
    setup_s: float = 0.0
    http: Rate | None = None
    inproc: Rate | None = None
    profiled: Rate | None = None
    raw: Rate | None = None
    raw_sql: Rate | None = None
    checks: list[str] = field(default_factory=list)


def step_seconds(start: float, done: Sequence[float], per_step: int) -> list[float]:
    """Durations of consecutive steps of ``per_step`` batches from batch completion times."""
    ends = [max(done[i : i + per_step]) for i in range(0, len(done), per_step)]
    return [b - a for a, b in zip([start, *ends[:-1]], ends, strict=True)]


class MachineLoad:
    """CPU use of the whole machine (all processes) between ``start()`` and ``stop()``, from
    /proc/stat: other work on the machine skews the figures, so it is printed with them."""

    def __init__(self, engine: str) -> None:
        self.others_label = (
            "by other processes (PostgreSQL included)"
            if engine == "postgresql"
            else "by other processes"
        )
        self._t0 = 0.0
        self._busy0 = 0.0
        self.cores = 0.0
        self.others = 0.0

    @staticmethod
    def _busy_s() -> float:
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        except OSError:
            return 0.0
        ticks = [int(f) for f in fields]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._busy0 = self._busy_s()

    def stop(self, own_cpu_s: float) -> str:
        """``own_cpu_s``: CPU seconds of the benchmark's own processes over the same span."""
        wall = time.perf_counter() - self._t0
        if wall <= 0:
            return ""
        self.cores = (self._busy_s() - self._busy0) / wall
        self.others = max(0.0, self.cores - own_cpu_s / wall)
        return (
            f"machine busy {self.cores:.2f} of {os.cpu_count()} cores, "
            f"{self.others:.2f} {self.others_label}"
        )


def log(message: str) -> None:
    print(message, flush=True)


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    log(f"  {label}: {time.perf_counter() - start:.2f} s")


# ---------------------------------------------------------------------------------------------
# The stream


@dataclass
class Stream:
    """Every step's batches: the HTTP bodies and the same readings as storable rows."""

    series: int
    start_ms: int
    bodies: list[list[bytes]]  # [step][batch]
    sizes: list[list[int]]
    rows: list[list[list[Row]]]  # [step][batch] rows keyed by a synthetic series id (i + 1)

    def readings(self, steps: Sequence[int]) -> int:
        return sum(sum(self.sizes[s]) for s in steps)


def urn(i: int) -> str:
    return f"urn:ngsi-ld:{ASSET_TYPE}:{TERRITORY}:L{i}"


def reading_ts(start_ms: int, step: int, i: int) -> int:
    # Devices of one step report spread over its 10 minutes (one per second, 600 phases).
    return start_ms + step * STEP_MS + (i % 600) * 1000


def reading_value(step: int, i: int) -> float:
    return 20.0 + ((i * 31 + step * 17) % 1300) / 10.0  # 20.0 .. 149.9 W


def iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def make_stream(series: int, steps: int, batch: int, iso_ts: bool) -> Stream:
    now = now_ms()
    start_ms = now - 2 * 86_400_000
    start_ms -= start_ms % STEP_MS
    urns = [urn(i) for i in range(series)]
    bodies: list[list[bytes]] = []
    sizes: list[list[int]] = []
    rows: list[list[list[Row]]] = []
    for step in range(steps + 1):  # step 0 is the untimed warm-up
        step_bodies: list[bytes] = []
        step_sizes: list[int] = []
        step_rows: list[list[Row]] = []
        for lo in range(0, series, batch):
            hi = min(series, lo + batch)
            readings: list[dict[str, Any]] = []
            batch_rows: list[Row] = []
            for i in range(lo, hi):
                ts = reading_ts(start_ms, step, i)
                value = reading_value(step, i)
                readings.append(
                    {
                        "asset": urns[i],
                        "metric": METRIC,
                        "ts": iso(ts) if iso_ts else ts,
                        "value": value,
                    }
                )
                batch_rows.append((i + 1, ts, value, None))
            step_bodies.append(orjson.dumps({"readings": readings}))
            step_sizes.append(hi - lo)
            step_rows.append(batch_rows)
        bodies.append(step_bodies)
        sizes.append(step_sizes)
        rows.append(step_rows)
    return Stream(series, start_ms, bodies, sizes, rows)


# ---------------------------------------------------------------------------------------------
# Databases


class Database:
    """One engine's benchmark database: created, set up once, then cloned fresh per phase."""

    engine: str
    base_url: str

    def create(self) -> None:
        raise NotImplementedError

    def fresh(self, phase: str) -> str:
        """A URL of a database equal to the set-up base (assets, no series, no readings)."""
        raise NotImplementedError

    def before_timing(self, url: str) -> None:
        """Flush what a previous phase left to write back (so phases start even)."""

    def drop(self) -> None:
        raise NotImplementedError


class SqliteDatabase(Database):
    engine = "sqlite"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.base_path = workdir / "base.db"
        self.base_url = f"sqlite:///{self.base_path}"

    def create(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.base_path}{suffix}").unlink(missing_ok=True)

    def fresh(self, phase: str) -> str:
        con = sqlite3.connect(self.base_path)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        path = self.workdir / f"{phase}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.base_path, path)
        return f"sqlite:///{path}"

    def drop(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


class PostgresDatabase(Database):
    """One database (``--pg-url``); a phase starts from it with the telemetry tables emptied."""

    engine = "postgresql"

    def __init__(self, url: str) -> None:
        self.base_url = url
        parts = urlsplit(url)
        self.dbname = parts.path.lstrip("/")
        if not self.dbname:
            raise SystemExit(f"--pg-url {url!r} names no database")
        self.admin_url = urlunsplit(parts._replace(path="/postgres"))
        self.libpq_url = urlunsplit(parts._replace(scheme="postgresql"))

    def create(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.dbname)
                )
            )
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.dbname)))

    def fresh(self, phase: str) -> str:
        with psycopg.connect(self.libpq_url, autocommit=True) as conn:
            conn.execute(
                "TRUNCATE observations, latest, rollup_hour, rollup_day, rollup_dirty, series "
                "RESTART IDENTITY"
            )
            conn.execute(
                "UPDATE rollup_state SET hour_until_ms = NULL, pending_min_ms = NULL WHERE id = 1"
            )
            conn.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}, {RAW_LATEST}")
            conn.execute("VACUUM ANALYZE")
        return self.base_url

    def before_timing(self, url: str) -> None:
        with psycopg.connect(self.libpq_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")

    def drop(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.dbname)
                )
            )


def asset_rows(lo: int, hi: int) -> list[dict[str, Any]]:
    return [point_asset_row(urn(i), ASSET_TYPE, round(-1.60 + (i % 1000) * 0.0001, 6),
                            round(47.18 + (i // 1000) * 0.0001, 6), name=f"Lamp L{i}")
            for i in range(lo, hi)]


def setup(db: Database, series: int) -> float:
    """Create the base database: schema, territory, assets. Returns the seconds it took."""
    start = time.perf_counter()
    db.create()
    store = open_store(db.base_url)
    migrate.upgrade(store)
    store.dispose()
    services = build_services(load_settings(database_url=db.base_url))
    services.registry.create_territory(TerritoryIn(code=TERRITORY, name="Bench"))
    tid = services.telemetry._territory_id(TERRITORY)
    created = 0
    for lo in range(0, series, ASSET_CHUNK):
        rows = asset_rows(lo, min(series, lo + ASSET_CHUNK))
        with services.store.write() as conn:
            new, _changed, _same = repo.upsert_assets(conn, tid, rows, now_ms())
            if not services.store.is_sqlite:
                # Without statistics the planner reads the whole territory for each URN lookup
                # of the next chunk (quadratic set-up); see bench/README.md.
                conn.exec_driver_sql("ANALYZE assets")
        created += new
    services.store.dispose()
    if created != series:
        raise SystemExit(f"setup: {created} assets created, {series} expected")
    return time.perf_counter() - start


def verify(url: str, expected_readings: int, series: int, last_step_start: int) -> list[str]:
    """Fail loudly unless every reading is stored and ``latest`` is right; returns a summary."""
    store = open_store(url)
    from sqlalchemy import text

    try:
        with store.read() as conn:
            n_obs = int(conn.execute(text("SELECT count(*) FROM observations")).scalar_one())
            n_latest = int(conn.execute(text("SELECT count(*) FROM latest")).scalar_one())
            n_series = int(conn.execute(text("SELECT count(*) FROM series")).scalar_one())
            n_newest = int(
                conn.execute(
                    text("SELECT count(*) FROM latest WHERE ts_ms >= :t"), {"t": last_step_start}
                ).scalar_one()
            )
    finally:
        store.dispose()
    problems = []
    if n_obs != expected_readings:
        problems.append(f"observations holds {n_obs} rows, {expected_readings} sent")
    if n_series != series or n_latest != series:
        problems.append(f"{n_series} series and {n_latest} latest rows, {series} expected")
    if n_newest != series:
        problems.append(f"only {n_newest} latest rows are from the last step")
    if problems:
        raise SystemExit("verification failed: " + "; ".join(problems))
    return [f"observations={n_obs}", f"series={n_series}", f"latest={n_latest} (all current)"]


# ---------------------------------------------------------------------------------------------
# End to end over HTTP


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(command: str | None) -> list[str]:
    if command:
        return shlex.split(command)
    exe = shutil.which("beffroi")
    return [exe] if exe else [sys.executable, "-m", "beffroi.cli"]


class Server:
    def __init__(self, url: str, workdir: Path, command: str | None, log_level: str | None) -> None:
        self.port = free_port()
        env = dict(os.environ)
        env["BEFFROI_ROLLUP_INTERVAL_S"] = "3600"
        env.pop("BEFFROI_DATABASE_URL", None)
        if log_level:
            env["BEFFROI_LOG_LEVEL"] = log_level
        self.log_path = workdir / f"server-{self.port}.log"
        self._log = self.log_path.open("wb")
        cmd = [
            *server_command(command),
            "--database-url",
            url,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_healthy(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited ({self.proc.returncode}); see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"server not healthy after {timeout_s} s; see {self.log_path}")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def device_token(url: str) -> str:
    """A device token of the bench territory (the ingest routes need one)."""
    from beffroi.auth.models import SYSTEM, Role, TokenIn

    services = build_services(load_settings(database_url=url))
    try:
        return services.auth.create_token(TERRITORY, TokenIn(name="bench", role=Role.DEVICE),
                                          SYSTEM).secret
    finally:
        services.store.dispose()


def post_batches(port: int, bodies: list[bytes], sizes: list[int], concurrency: int,
                 token: str) -> list[float]:
    """POST every body over ``concurrency`` keep-alive connections; fail on any bad answer.
    Returns when each batch's answer arrived (``time.perf_counter``)."""
    done = [0.0] * len(bodies)
    lock = threading.Lock()
    pending = iter(range(len(bodies)))
    errors: list[str] = []
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        try:
            while not errors:
                with lock:
                    i = next(pending, None)
                if i is None:
                    return
                conn.request("POST", INGEST_PATH, body=bodies[i], headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    errors.append(f"batch {i}: HTTP {resp.status}: {data[:300]!r}")
                    return
                stored = orjson.loads(data).get("stored")
                if stored != sizes[i]:
                    errors.append(f"batch {i}: stored {stored}, {sizes[i]} sent: {data[:300]!r}")
                    return
                done[i] = time.perf_counter()
        except Exception as exc:  # reported below, with the others
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("ingest over HTTP failed: " + errors[0])
    return done


def run_http(db: Database, stream: Stream, args: argparse.Namespace, workdir: Path) -> Rate:
    url = db.fresh("http")
    token = device_token(url)
    server = Server(url, workdir, args.server_cmd, args.server_log_level)
    try:
        server.wait_healthy()
        start = time.perf_counter()
        post_batches(server.port, stream.bodies[0], stream.sizes[0], args.concurrency,
                     token)
        warmup = time.perf_counter() - start
        log(f"  warm-up (step 0, creates {stream.series} series): {warmup:.2f} s")
        db.before_timing(url)
        timed_steps = range(1, len(stream.bodies))
        bodies = [b for s in timed_steps for b in stream.bodies[s]]
        sizes = [n for s in timed_steps for n in stream.sizes[s]]
        cpu0 = server.cpu_seconds()
        load = MachineLoad(db.engine)
        load.start()
        client0 = time.process_time()
        start = time.perf_counter()
        done = post_batches(server.port, bodies, sizes, args.concurrency, token)
        seconds = time.perf_counter() - start
        cpu = server.cpu_seconds() - cpu0
        busy = load.stop(cpu + time.process_time() - client0)
    finally:
        server.stop()
    readings = sum(sizes)
    rate = Rate(
        readings,
        seconds,
        warmup,
        note=f"server CPU {100 * cpu / seconds:.0f} % of one core, {busy}",
        cpu_s=cpu,
        step_s=step_seconds(start, done, len(stream.bodies[1])),
    )
    log(
        f"  HTTP: {readings} readings in {seconds:.2f} s = {rate.per_s:,.0f} readings/s, "
        f"server {rate.cpu_us:.1f} CPU µs/reading ({rate.note})"
    )
    log(f"    {rate.steps_line()}")
    return rate


# ---------------------------------------------------------------------------------------------
# In process (no HTTP), optionally profiled


def run_inproc(db: Database, stream: Stream, phase: str, profile: bool) -> Rate:
    url = db.fresh(phase)
    services = build_services(load_settings(database_url=url, rollup_interval_s=3600))
    telemetry = services.telemetry
    try:
        start = time.perf_counter()
        for body, size in zip(stream.bodies[0], stream.sizes[0], strict=True):
            check_report(telemetry.ingest_body(TERRITORY, body), size)
        warmup = time.perf_counter() - start
        db.before_timing(url)
        timed_steps = range(1, len(stream.bodies))
        work = [
            (b, n)
            for s in timed_steps
            for b, n in zip(stream.bodies[s], stream.sizes[s], strict=True)
        ]
        profiler = cProfile.Profile() if profile else None
        reports = []
        done: list[float] = []
        load = MachineLoad(db.engine)
        load.start()
        cpu0 = time.process_time()
        start = time.perf_counter()
        if profiler:
            profiler.enable()
        for body, _n in work:
            reports.append(telemetry.ingest_body(TERRITORY, body))
            done.append(time.perf_counter())
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        busy = load.stop(cpu)
    finally:
        services.store.dispose()
    for report, (_b, n) in zip(reports, work, strict=True):
        check_report(report, n)
    readings = sum(n for _b, n in work)
    rate = Rate(
        readings,
        seconds,
        warmup,
        note=("under cProfile, " if profile else "") + busy,
        cpu_s=cpu,
        step_s=step_seconds(start, done, len(stream.bodies[1])),
    )
    label = "in process, profiled" if profile else "in process"
    log(
        f"  {label}: {readings} readings in {seconds:.2f} s = {rate.per_s:,.0f} readings/s, "
        f"{rate.cpu_us:.1f} CPU µs/reading (warm-up {warmup:.2f} s; {rate.note})"
    )
    log(f"    {rate.steps_line()}")
    if profiler:
        print_profile(profiler, seconds)
    return rate


def check_report(report: Any, size: int) -> None:
    if report.rejections or report.stored != size:
        raise SystemExit(f"in-process ingest: {report.to_dict()}")


def print_profile(profiler: cProfile.Profile, wall_s: float) -> None:
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.strip_dirs()
    untyped: Any = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = untyped.stats
    log("\n  Stages (cumulative seconds, share of the profiled wall time):")
    for suffix, name, label in STAGES:
        cum = sum(
            v[3] for (path, _line, fn), v in raw.items() if fn == name and path.endswith(suffix)
        )
        calls = sum(
            v[1] for (path, _line, fn), v in raw.items() if fn == name and path.endswith(suffix)
        )
        log(f"    {label:<48} {cum:8.2f} s  {100 * cum / wall_s:5.1f} %  ({calls} calls)")
    log("\n  Top 25 by cumulative time:")
    stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(25)
    log("  Top 25 by own time (tottime):")
    stats.sort_stats(pstats.SortKey.TIME).print_stats(25)


# ---------------------------------------------------------------------------------------------
# Raw engine limits


def sqlite_connect(url: str) -> sqlite3.Connection:
    con = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        con.execute(f"PRAGMA {pragma}")
    return con


SQLITE_RAW_DDL = (
    f"CREATE TABLE {RAW_TABLE} (series_id INTEGER NOT NULL, ts_ms BIGINT NOT NULL, "
    "value FLOAT, text VARCHAR(64), PRIMARY KEY (series_id, ts_ms)) WITHOUT ROWID"
)
PG_RAW_DDL = (
    f"CREATE TABLE {RAW_TABLE} (series_id integer NOT NULL, ts_ms bigint NOT NULL, "
    "value double precision, text varchar(64), PRIMARY KEY (series_id, ts_ms))"
)
LATEST_DDL = (
    f"CREATE TABLE {RAW_LATEST} (series_id INTEGER NOT NULL PRIMARY KEY, ts_ms BIGINT NOT NULL, "
    "value FLOAT, text VARCHAR(64))"
)
LATEST_TAIL = (
    "ON CONFLICT (series_id) DO UPDATE SET ts_ms = excluded.ts_ms, value = excluded.value, "
    f"text = excluded.text WHERE excluded.ts_ms > {RAW_LATEST}.ts_ms"
)


def run_batches(stream: Stream, write: Callable[[list[Row]], None], engine: str) -> Rate:
    """Write step 0 untimed, then time steps 1..N."""
    start = time.perf_counter()
    for rows in stream.rows[0]:
        write(rows)
    warmup = time.perf_counter() - start
    batches = [rows for s in range(1, len(stream.rows)) for rows in stream.rows[s]]
    done: list[float] = []
    load = MachineLoad(engine)
    load.start()
    cpu0 = time.process_time()
    start = time.perf_counter()
    for rows in batches:
        write(rows)
        done.append(time.perf_counter())
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    busy = load.stop(cpu)
    readings = sum(len(b) for b in batches)
    step_s = step_seconds(start, done, len(stream.rows[1]))
    return Rate(readings, seconds, warmup, note=busy, step_s=step_s, cpu_s=cpu)


def raw_sqlite(url: str, stream: Stream, app_sql: bool) -> Rate:
    con = sqlite_connect(url)
    try:
        con.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        con.execute(f"DROP TABLE IF EXISTS {RAW_LATEST}")
        con.execute(SQLITE_RAW_DDL)
        con.execute(LATEST_DDL)
        insert = f"INSERT INTO {RAW_TABLE} (series_id, ts_ms, value, text) VALUES (?, ?, ?, ?)"
        upsert = f"INSERT INTO {RAW_LATEST} (series_id, ts_ms, value, text) VALUES (?, ?, ?, ?) "

        def write(rows: list[Row]) -> None:
            con.execute("BEGIN IMMEDIATE")
            con.executemany(insert, rows)
            con.execute("COMMIT")

        def write_app(rows: list[Row]) -> None:
            # What write_observations sends, minus SQLAlchemy and the Python around it.
            con.execute("BEGIN IMMEDIATE")
            con.execute("SELECT hour_until_ms, pending_min_ms FROM rollup_state WHERE id = 1")
            con.executemany(insert + " ON CONFLICT DO NOTHING", rows)
            con.executemany(upsert + LATEST_TAIL, rows)
            con.execute("COMMIT")

        rate = run_batches(stream, write_app if app_sql else write, "sqlite")
        con.execute(f"DROP TABLE {RAW_TABLE}")
        con.execute(f"DROP TABLE {RAW_LATEST}")
    finally:
        con.close()
    return rate


def raw_postgres(db: PostgresDatabase, stream: Stream, app_sql: bool) -> Rate:
    with psycopg.connect(db.libpq_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}, {RAW_LATEST}")
        conn.execute(PG_RAW_DDL)
        conn.execute(LATEST_DDL)
        conn.execute("CHECKPOINT")
    with psycopg.connect(db.libpq_url) as conn:
        cur = conn.cursor()
        copy_sql = f"COPY {RAW_TABLE} (series_id, ts_ms, value, text) FROM STDIN (FORMAT BINARY)"
        unnest = "SELECT * FROM unnest(%s::int[], %s::bigint[], %s::float8[], %s::varchar[]) "

        def write(rows: list[Row]) -> None:
            with conn.transaction(), cur.copy(copy_sql) as copy:
                copy.set_types(["int4", "int8", "float8", "varchar"])
                for row in rows:
                    copy.write_row(row)

        def write_app(rows: list[Row]) -> None:
            cols = list(zip(*rows, strict=True))
            params = (list(cols[0]), list(cols[1]), list(cols[2]), list(cols[3]))
            with conn.transaction():
                cur.execute(
                    "SELECT hour_until_ms, pending_min_ms FROM rollup_state WHERE id = 1 FOR SHARE"
                )
                cur.execute(
                    f"INSERT INTO {RAW_TABLE} (series_id, ts_ms, value, text) "
                    + unnest
                    + "ON CONFLICT DO NOTHING",
                    params,
                )
                cur.execute(
                    f"INSERT INTO {RAW_LATEST} (series_id, ts_ms, value, text) "
                    + unnest
                    + LATEST_TAIL,
                    params,
                )

        rate = run_batches(stream, write_app if app_sql else write, "postgresql")
    with psycopg.connect(db.libpq_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}, {RAW_LATEST}")
    return rate


def run_raw(db: Database, stream: Stream, app_sql: bool) -> Rate:
    if isinstance(db, PostgresDatabase):
        db.fresh("raw")
        rate = raw_postgres(db, stream, app_sql)
        how = "INSERT..unnest ON CONFLICT + latest upsert" if app_sql else "binary COPY"
    else:
        rate = raw_sqlite(db.fresh("raw"), stream, app_sql)
        how = "executemany ON CONFLICT + latest upsert" if app_sql else "executemany INSERT"
    label = "raw app SQL" if app_sql else "raw"
    where = "client " if isinstance(db, PostgresDatabase) else ""
    log(
        f"  {label} ({how}): {rate.readings} readings in {rate.seconds:.2f} s = "
        f"{rate.per_s:,.0f} readings/s, {where}{rate.cpu_us:.1f} CPU µs/reading ({rate.note})"
    )
    log(f"    {rate.steps_line()}")
    return rate


# ---------------------------------------------------------------------------------------------
# Driver


def run_engine(
    engine: str, stream: Stream, args: argparse.Namespace, workdir: Path
) -> EngineResult:
    db: Database
    if engine == "sqlite":
        db = SqliteDatabase(workdir / "sqlite")
        (workdir / "sqlite").mkdir(parents=True, exist_ok=True)
    else:
        db = PostgresDatabase(args.pg_url)
    result = EngineResult(engine, stream.series)
    log(f"\n=== {engine} ===")
    try:
        result.setup_s = setup(db, stream.series)
        log(f"  setup (schema, territory, {stream.series} assets): {result.setup_s:.2f} s")
        expected = stream.readings(range(len(stream.bodies)))
        last_step = reading_ts(stream.start_ms, len(stream.bodies) - 1, 0)
        if not args.profile and not args.no_http:
            result.http = run_http(db, stream, args, workdir)
            result.checks = verify(_url(db, "http"), expected, stream.series, last_step)
            log(f"  verified: {', '.join(result.checks)}")
        if not args.no_inproc or args.profile:
            result.inproc = run_inproc(db, stream, "inproc", profile=False)
            checks = verify(_url(db, "inproc"), expected, stream.series, last_step)
            log(f"  verified: {', '.join(checks)}")
        if args.profile:
            result.profiled = run_inproc(db, stream, "profile", profile=True)
            verify(_url(db, "profile"), expected, stream.series, last_step)
        if not args.no_raw:
            result.raw = run_raw(db, stream, app_sql=False)
            result.raw_sql = run_raw(db, stream, app_sql=True)
    finally:
        if not args.keep:
            db.drop()
    return result


def _url(db: Database, phase: str) -> str:
    """URL of the database a phase wrote into (without re-creating it)."""
    if isinstance(db, SqliteDatabase):
        return f"sqlite:///{db.workdir / f'{phase}.db'}"
    return db.base_url


def fmt_rate(rate: Rate | None) -> str:
    return f"{rate.per_s:>12,.0f}" if rate else f"{'-':>12}"


def fmt_ratio(a: Rate | None, b: Rate | None) -> str:
    return f"{100 * a.per_s / b.per_s:>8.1f} %" if a and b and b.per_s else f"{'-':>10}"


def print_summary(results: list[EngineResult], args: argparse.Namespace) -> None:
    log("\n=== summary (readings/s; timed steps only, warm-up step 0 excluded) ===")
    log(
        f"series={args.series} steps={args.steps} batch={args.batch} "
        f"concurrency={args.concurrency} ts={'iso' if args.iso else 'epoch ms'}"
    )
    head = (
        f"{'engine':<11}{'readings':>10}{'e2e s':>8}{'e2e r/s':>12}{'in-proc r/s':>12}"
        f"{'raw r/s':>12}{'app-SQL r/s':>12}{'e2e/raw':>10}{'inproc/raw':>11}"
        f"{'e2e/appSQL':>11}"
    )
    log(head)
    log("-" * len(head))
    for r in results:
        main = r.http or r.inproc
        readings = main.readings if main else 0
        seconds = f"{r.http.seconds:>8.2f}" if r.http else f"{'-':>8}"
        log(
            f"{r.engine:<11}{readings:>10}{seconds}{fmt_rate(r.http)}{fmt_rate(r.inproc)}"
            f"{fmt_rate(r.raw)}{fmt_rate(r.raw_sql)}{fmt_ratio(r.http, r.raw)}"
            f"{fmt_ratio(r.inproc, r.raw):>11}{fmt_ratio(r.http, r.raw_sql):>11}"
        )
    log("\nCPU µs per reading (HTTP: the server process; others: this process; PostgreSQL's own")
    log("backend CPU is not counted). Less sensitive to other load than the rates above.")
    head = f"{'engine':<11}{'e2e':>8}{'in-proc':>9}{'raw':>8}{'app-SQL':>9}{'raw/e2e':>9}"
    log(head)
    log("-" * len(head))
    for r in results:
        cells = [f"{x.cpu_us:>8.1f}" if x else f"{'-':>8}" for x in (r.http, r.inproc)]
        cells += [f"{x.cpu_us:>8.1f}" if x else f"{'-':>8}" for x in (r.raw, r.raw_sql)]
        by_cpu = (
            f"{100 * r.raw.cpu_us / r.http.cpu_us:>8.1f}%"
            if r.engine == "sqlite" and r.http and r.raw and r.http.cpu_us
            else f"{'-':>9}"
        )
        log(f"{r.engine:<11}{cells[0]}{cells[1]:>9}{cells[2]}{cells[3]:>9}{by_cpu}")
    for r in results:
        if r.engine == "sqlite" and r.http:
            ok_rate = r.http.per_s >= TARGET_SQLITE_RATE
            ratio = r.http.per_s / r.raw.per_s if r.raw else 0.0
            log(
                f"\nSQLite targets: e2e >= {TARGET_SQLITE_RATE:,} r/s: "
                f"{'MET' if ok_rate else 'NOT MET'} ({r.http.per_s:,.0f}); "
                f"e2e >= {TARGET_RATIO:.0%} of raw: "
                f"{'MET' if ratio >= TARGET_RATIO else 'NOT MET'} ({ratio:.1%})"
            )
        if r.profiled:
            log(
                f"{r.engine}: profiled in-process rate {r.profiled.per_s:,.0f} r/s "
                "(cProfile overhead included)"
            )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/beffroi_bench",
        help="database created and dropped by the benchmark",
    )
    p.add_argument("--series", type=int, default=100_000, help="assets, one series each")
    p.add_argument(
        "--steps",
        type=int,
        default=10,
        help="timed 10-minute steps (one reading per series each), after warm-up",
    )
    p.add_argument("--batch", type=int, default=1_000, help="readings per request")
    p.add_argument("--concurrency", type=int, default=2, help="concurrent HTTP connections")
    p.add_argument("--iso", action="store_true", help="send ISO 8601 timestamps, not epoch ms")
    p.add_argument(
        "--profile",
        action="store_true",
        help="instead of HTTP, profile the in-process path (cProfile)",
    )
    p.add_argument("--no-http", action="store_true", help="skip the HTTP phase")
    p.add_argument("--no-inproc", action="store_true", help="skip the in-process phase")
    p.add_argument("--no-raw", action="store_true", help="skip the raw engine limits")
    p.add_argument(
        "--server-cmd",
        default=None,
        help="command that starts the server instead of `beffroi`, e.g. "
        "'/venv/bin/python -m beffroi.cli' (arguments are appended)",
    )
    p.add_argument(
        "--server-log-level",
        default=None,
        help="BEFFROI_LOG_LEVEL of the server (default: the server's own, INFO)",
    )
    p.add_argument("--workdir", type=Path, default=None, help="for SQLite files and logs")
    p.add_argument("--keep", action="store_true", help="keep the databases and files")
    args = p.parse_args(argv)
    if args.series < 1 or args.steps < 1 or args.batch < 1 or args.concurrency < 1:
        p.error("--series, --steps, --batch and --concurrency must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="beffroi-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"workdir {workdir}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with timed(f"stream generated ({args.series} series x {args.steps + 1} steps)"):
        stream = make_stream(args.series, args.steps, args.batch, args.iso)
    total = stream.readings(range(len(stream.bodies)))
    size = sum(len(b) for step in stream.bodies for b in step)
    log(
        f"  {total} readings in {sum(len(s) for s in stream.bodies)} batches, "
        f"{size / 1e6:.1f} MB of JSON ({size / total:.0f} bytes per reading)"
    )
    results = [run_engine(engine, stream, args, workdir) for engine in engines]
    print_summary(results, args)
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
