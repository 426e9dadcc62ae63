"""The MQTT adapter on the real Mosquitto (127.0.0.1:1883): topics, QoS 1, persistent
sessions, dead letters, and a worker killed with SIGKILL in the middle of a stream.

The machine's broker is shared: other tests may run at the same time (pytest-xdist workers,
the other engine's run in CI), and a worker subscribes to every territory
(``beffroi/+/...``). So each test publishes for a territory of its own (a unique code), and
other tests' messages reach its worker as dead letters of territories its database does not
know: the dead-letter checks look at the test's own territories."""

from __future__ import annotations

import getpass
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import bindparam, text

from beffroi.api.deps import Services
from beffroi.assets.models import AssetIn, TerritoryIn
from beffroi.ingest.mqtt import MqttOptions, MqttWorker, message_of
from tests.conftest import lamp

BROKER = ("127.0.0.1", 1883)
T0 = 1_704_402_000_000
OUTAGE_S = 32
RECEIVE_MAXIMUM = 100


def _broker_up() -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(BROKER) == 0


# Skipped on a developer's machine without a broker; in CI (CI set) they run, and fail.
pytestmark = pytest.mark.skipif(not _broker_up() and not os.environ.get("CI"),
                                reason="no MQTT broker on 127.0.0.1:1883 (start mosquitto)")


def publisher() -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex}",
                         protocol=mqtt.MQTTv5)
    client.connect(*BROKER)
    client.loop_start()
    return client


def publish_all(client: mqtt.Client, items: list[tuple[str, bytes]]) -> None:
    infos = [client.publish(topic, payload, qos=1) for topic, payload in items]
    for info in infos:
        info.wait_for_publish(timeout=30)
        assert info.is_published()


def count(services: Services, sql: str) -> int:
    with services.store.read() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def unique_code(prefix: str) -> str:
    """A territory code no other test uses (topics carry the territory)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def add_lamp(services: Services, territory: str, local: str) -> None:
    services.registry.create_asset(territory, AssetIn.model_validate(
        lamp(local, territory=territory)))


def dead_letters(services: Services, *codes: str) -> list[str]:
    """Reason codes of the dead letters of these territories (sorted)."""
    with services.store.read() as conn:
        return sorted(str(r[0]) for r in conn.execute(text(
            "SELECT reason_code FROM dead_letters WHERE territory IN :codes").bindparams(
                bindparam("codes", expanding=True)), {"codes": list(codes)}))


def wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def territory(services: Services) -> str:
    """A territory of this test only (see the module's docstring)."""
    code = unique_code("mqtt")
    services.registry.create_territory(TerritoryIn(code=code, name="Testville",
                                                   timezone="Europe/Paris"))
    return code


@pytest.fixture
def group() -> str:
    """A shared-subscription group of this test only (the broker outlives the tests)."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def worker(services: Services, group: str) -> Iterator[MqttWorker]:
    runner = MqttWorker(services.pipeline, MqttOptions(
        host=BROKER[0], port=BROKER[1], client_id=f"{group}-w1", group=group,
        session_expiry_s=30, batch_wait_s=0.02, receive_maximum=RECEIVE_MAXIMUM))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    assert runner.connected.wait(10)
    time.sleep(0.3)  # the subscription is granted just after the connection
    yield runner
    runner.stop()
    thread.join(10)


def test_topic_scheme() -> None:
    m = message_of("beffroi/nantes/assets/urn:ngsi-ld:Streetlight:nantes:L1/activePower",
                   b"12", 5)
    assert m is not None and (m.kind, m.asset, m.metric) == (
        "metric", "urn:ngsi-ld:Streetlight:nantes:L1", "activePower")
    assert message_of("beffroi/nantes/readings", b"", 5).kind == "readings"  # type: ignore
    assert message_of("beffroi/nantes/ngsi-ld", b"", 5).kind == "ngsi-ld"  # type: ignore
    assert message_of("beffroi/nantes/other", b"", 5) is None
    assert message_of("elsewhere/nantes/readings", b"", 5) is None


def test_every_topic_and_garbage_on_the_real_broker(
        services: Services, territory: str, worker: MqttWorker) -> None:
    add_lamp(services, territory, "L1")
    urn = f"urn:ngsi-ld:Streetlight:{territory}:L1"
    nowhere = unique_code("nowhere")  # a territory that exists nowhere
    pub = publisher()
    try:
        batch = [{"asset": urn, "metric": "activePower", "ts": T0 + i * 60_000, "value": i}
                 for i in range(100)]
        publish_all(pub, [
            (f"beffroi/{territory}/readings", orjson.dumps({"readings": batch})),
            (f"beffroi/{territory}/assets/{urn}/illuminanceLevel",
             orjson.dumps({"value": 80, "ts": T0})),
            (f"beffroi/{territory}/ngsi-ld", orjson.dumps({
                "id": urn, "type": "Streetlight", "dateObserved": "2024-01-04T21:00:00Z",
                "powerState": "on"})),
            (f"beffroi/{territory}/readings", b'{"readings": [{"asset": '),  # truncated
            (f"beffroi/{territory}/readings", orjson.dumps([
                {"asset": urn, "metric": "activePower", "ts": "1970-01-01T00:00:00Z",
                 "value": 1},
                {"asset": urn, "metric": "activePower", "ts": T0 - 60_000, "value": "NaN"},
                {"asset": f"urn:ngsi-ld:Streetlight:{territory}:ghost",
                 "metric": "activePower", "ts": T0, "value": 1}])),
            (f"beffroi/{nowhere}/readings", orjson.dumps(batch[:1])),
            (f"beffroi/{territory}/readings", b"x" * (5 * 1024 * 1024)),  # too large
        ])
        wait_for(lambda: len(dead_letters(services, territory, nowhere)) >= 6
                 and count(services, "SELECT count(*) FROM observations") >= 102)
    finally:
        pub.loop_stop()
        pub.disconnect()
    assert count(services, "SELECT count(*) FROM observations") == 102
    assert dead_letters(services, territory, nowhere) == [
        "bad_json", "too_large", "ts_out_of_range", "unknown_asset", "unknown_territory",
        "wrong_kind"]
    # The NGSI-LD state also arrived.
    latest = services.telemetry.latest(territory, [urn], None, None, 10)  # type: ignore[arg-type]
    assert latest["items"][0]["values"]["powerState"]["value"] == "on"


def test_messages_sent_while_the_worker_is_down_arrive_when_it_returns(
        services: Services, territory: str, group: str) -> None:
    add_lamp(services, territory, "L1")
    urn = f"urn:ngsi-ld:Streetlight:{territory}:L1"
    options = MqttOptions(host=BROKER[0], port=BROKER[1], client_id=f"{group}-w1",
                          group=group, session_expiry_s=60)
    first = MqttWorker(services.pipeline, options)
    thread = threading.Thread(target=first.run, daemon=True)
    thread.start()
    assert first.connected.wait(10)
    time.sleep(0.3)
    first.stop()
    thread.join(10)
    pub = publisher()
    publish_all(pub, [(f"beffroi/{territory}/assets/{urn}/activePower",
                       orjson.dumps({"value": i, "ts": T0 + i * 1000})) for i in range(50)])
    pub.loop_stop()
    pub.disconnect()
    again = MqttWorker(services.pipeline, options)  # same session: the broker kept them
    thread = threading.Thread(target=again.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: count(services, "SELECT count(*) FROM observations") == 50)
    finally:
        again.stop()
        thread.join(10)


def _checksum(rows: list[tuple[str, int, float]]) -> tuple[int, str]:
    return len(rows), hashlib.sha256(repr(sorted(rows)).encode()).hexdigest()


def _stored(services: Services) -> list[tuple[str, int, float]]:
    with services.store.read() as conn:
        rows = conn.execute(text(
            "SELECT a.urn, o.ts_ms, o.value FROM observations o JOIN series s "
            "ON s.id = o.series_id JOIN assets a ON a.id = s.asset_id")).all()
    return [(str(u), int(t), float(v)) for u, t, v in rows]


@pytest.mark.long
def test_kill_9_mid_stream_loses_and_doubles_nothing(
        services: Services, settings: Any, territory: str, group: str, tmp_path: Path) -> None:
    """A `beffroi worker` process killed with SIGKILL while a stream is published: after a
    restart, every published reading is stored exactly once (count and checksum)."""
    for k in range(20):
        add_lamp(services, territory, f"L{k}")
    repo_root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "BEFFROI_DATABASE_URL": settings.database_url,
           "PYTHONUNBUFFERED": "1"}

    workers: list[subprocess.Popen[bytes]] = []

    def start_worker(log_name: str) -> subprocess.Popen[bytes]:
        log_path = tmp_path / log_name
        with log_path.open("wb") as log:  # the child keeps its own copy
            proc = subprocess.Popen(
                [sys.executable, "-m", "beffroi.cli", "worker", "--id", f"{group}-k",
                 "--group", group, "--batch", "200", "--session-expiry", "60"],
                cwd=repo_root, env=env, stdout=log, stderr=subprocess.STDOUT)
        workers.append(proc)

        def connected() -> bool:
            assert proc.poll() is None, log_path.read_text(errors="replace")
            return b"MQTT connected" in log_path.read_bytes()

        # Connected (its SUBSCRIBE goes with the connection): no fixed delay, which a busy
        # machine (parallel runs) outlasts, and the stream published before is lost.
        wait_for(connected, 60)
        time.sleep(0.3)  # the subscription is granted just after the connection
        return proc

    try:
        proc = start_worker("first.log")
        expected: list[tuple[str, int, float]] = []
        pub = publisher()
        try:
            sent = 0
            for step in range(60):  # 60 gateway batches of 100 readings
                batch = []
                for i in range(100):
                    k = (step * 100 + i) % 20
                    ts = T0 + (step * 100 + i) * 1000
                    value = float((step * 7919 + i * 104729) % 1000)
                    urn = f"urn:ngsi-ld:Streetlight:{territory}:L{k}"
                    batch.append({"asset": urn, "metric": "activePower", "ts": ts,
                                  "value": value})
                    expected.append((urn, ts, value))
                publish_all(pub, [(f"beffroi/{territory}/readings", orjson.dumps(batch))])
                sent += 100
                if step == 25:
                    wait_for(lambda: count(services, "SELECT count(*) FROM observations") > 0,
                             30)
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(10)
        finally:
            pub.loop_stop()
            pub.disconnect()
        proc = start_worker("second.log")
        try:
            wait_for(lambda: count(services, "SELECT count(*) FROM observations") >= sent, 120)
            time.sleep(1)
            stored = _stored(services)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    finally:  # a worker left running would go on writing into the next tests' database
        for running in workers:
            if running.poll() is None:
                running.kill()
                running.wait(10)
    assert _checksum(stored) == _checksum(expected)
    assert dead_letters(services, territory) == []


class PrivateBroker:
    """A Mosquitto of this test alone (a free port, persistence in a temporary folder), so
    that it can be restarted without disturbing the machine's broker."""

    def __init__(self, folder: Path, auth: str = "allow_anonymous true\n") -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n{auth}persistence true\nuser {getpass.getuser()}\n"
            f"persistence_location {folder}/\nmax_queued_messages 0\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            assert time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()  # SIGTERM: Mosquitto saves its sessions and queues
        self.proc.wait(10)


def test_broker_restart_loses_nothing(services: Services, territory: str, group: str,
                                      tmp_path: Path) -> None:
    add_lamp(services, territory, "L1")
    urn = f"urn:ngsi-ld:Streetlight:{territory}:L1"
    broker = PrivateBroker(tmp_path)
    runner = MqttWorker(services.pipeline, MqttOptions(
        host="127.0.0.1", port=broker.port, client_id=f"{group}-w1", group=group,
        session_expiry_s=300, batch_wait_s=0.02))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()

    def send(first: int, n: int) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex}",
                             protocol=mqtt.MQTTv5)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        publish_all(client, [(
            f"beffroi/{territory}/readings",
            orjson.dumps([{"asset": urn, "metric": "activePower", "ts": T0 + (first + i) * 1000,
                           "value": first + i}])) for i in range(n)])
        client.loop_stop()
        client.disconnect()

    try:
        assert runner.connected.wait(10)
        time.sleep(0.3)
        send(0, 200)
        broker.stop()
        wait_for(lambda: not runner.connected.is_set(), 10)
        broker.start()
        assert runner.connected.wait(30), "the worker did not reconnect by itself"
        send(200, 200)
        wait_for(lambda: count(services, "SELECT count(*) FROM observations") == 400, 60)
    finally:
        runner.stop()
        thread.join(10)
        broker.stop()


@pytest.mark.long
def test_store_unavailable_for_a_while_loses_nothing(
        services: Services, territory: str, worker: MqttWorker, settings: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    """For 32 s, SQLite: another connection holds the database's write lock (longer than the
    30 s busy timeout, so writes fail and are retried); PostgreSQL: the database refuses
    connections and its sessions are killed. Meanwhile the worker holds no more than its
    receive window (the broker keeps the rest); nothing is lost; intake resumes by itself."""
    add_lamp(services, territory, "L1")
    urn = f"urn:ngsi-ld:Streetlight:{territory}:L1"
    pub = publisher()

    def send(first: int, n: int) -> None:
        publish_all(pub, [(f"beffroi/{territory}/readings", orjson.dumps(
            [{"asset": urn, "metric": "activePower", "ts": T0 + (first + i) * 1000,
              "value": first + i}])) for i in range(n)])

    try:
        send(0, 50)
        wait_for(lambda: count(services, "SELECT count(*) FROM observations") == 50)
        with _outage(services, settings):  # longer than SQLite's 30 s busy timeout
            send(50, 600)
            held = 0
            deadline = time.monotonic() + OUTAGE_S
            while time.monotonic() < deadline:
                held = max(held, sum(len(b) for b in list(worker.intake.queue)))
                time.sleep(0.2)
            assert count_if_possible(services) in (None, 50)
            assert held <= RECEIVE_MAXIMUM, held  # bounded: the broker buffers the rest
        wait_for(lambda: count(services, "SELECT count(*) FROM observations") == 650, 90)
        assert "store unavailable" in caplog.text  # the worker did meet the outage
    finally:
        pub.loop_stop()
        pub.disconnect()


def count_if_possible(services: Services) -> int | None:
    try:
        return count(services, "SELECT count(*) FROM observations")
    except Exception:
        return None


class _outage:
    def __init__(self, services: Services, settings: Any) -> None:
        self.services = services
        self.url = settings.database_url

    def __enter__(self) -> None:
        if self.services.store.is_sqlite:
            import sqlite3

            self.lock = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30)
            self.lock.execute("BEGIN EXCLUSIVE")
            return
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(self.url)
        self.name = url.database
        self.admin = url.set(database="postgres", drivername="postgresql").render_as_string(
            hide_password=False)
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (self.name,))

    def __exit__(self, *_exc: object) -> None:
        if self.services.store.is_sqlite:
            self.lock.rollback()
            self.lock.close()
            return
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')


@pytest.mark.long
def test_per_territory_accounts_enforced_by_mosquitto(
        services: Services, territory: str, group: str, tmp_path: Path) -> None:
    """Accounts exported by Beffroi: a device publishes for its territory only; a wrong
    password is refused; the worker reads every territory."""
    from beffroi.assets.models import TerritoryIn
    from beffroi.ingest.credentials import MqttAccounts

    services.registry.create_territory(TerritoryIn(code="other", name="Other"))
    add_lamp(services, territory, "L1")
    services.registry.create_asset("other", AssetIn.model_validate(
        lamp("L1") | {"id": "urn:ngsi-ld:Streetlight:other:L1"}))
    accounts = MqttAccounts(services.store)
    device_pw = accounts.create("lamp-gw-1", "gateway", territory)
    worker_pw = accounts.create("worker-a", "worker", None)
    accounts.create("old-device", "device", territory)
    accounts.revoke("old-device")
    assert accounts.export(tmp_path / "passwd", tmp_path / "acl") == 2
    broker = PrivateBroker(tmp_path, f"allow_anonymous false\npassword_file {tmp_path}/passwd\n"
                                     f"acl_file {tmp_path}/acl\n")
    runner = MqttWorker(services.pipeline, MqttOptions(
        host="127.0.0.1", port=broker.port, client_id=f"{group}-w", group=group,
        username="worker-a", password=worker_pw, session_expiry_s=60, batch_wait_s=0.02))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        assert runner.connected.wait(10), "the worker account was refused"
        time.sleep(0.3)

        def device(password: str) -> mqtt.Client:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex,
                                 protocol=mqtt.MQTTv5)
            client.username_pw_set("lamp-gw-1", password)
            client.connect("127.0.0.1", broker.port)
            client.loop_start()
            return client

        def reading(code: str, value: int) -> bytes:
            return orjson.dumps([{"asset": f"urn:ngsi-ld:Streetlight:{code}:L1",
                                  "metric": "activePower", "ts": T0 + value, "value": value}])

        gw = device(device_pw)
        publish_all(gw, [(f"beffroi/{territory}/readings", reading(territory, 1)),
                         ("beffroi/other/readings", reading("other", 2)),
                         (f"beffroi/{territory}/readings", reading(territory, 3))])
        gw.loop_stop()
        gw.disconnect()
        wait_for(lambda: count(services, "SELECT count(*) FROM observations") >= 2)
        time.sleep(1)
        with services.store.read() as conn:
            stored = sorted(r[0] for r in conn.execute(text(
                "SELECT a.urn FROM observations o JOIN series s ON s.id = o.series_id "
                "JOIN assets a ON a.id = s.asset_id")))
        assert stored == [f"urn:ngsi-ld:Streetlight:{territory}:L1"] * 2
        refused = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex,
                              protocol=mqtt.MQTTv5)
        refused.username_pw_set("lamp-gw-1", "wrong")
        with pytest.raises(Exception):  # noqa: B017 - paho raises on a refused CONNACK
            refused.connect("127.0.0.1", broker.port)
            refused.loop_start()
            deadline = time.monotonic() + 5
            while not refused.is_connected() and time.monotonic() < deadline:
                time.sleep(0.05)
            refused.loop_stop()
            assert refused.is_connected(), "refused"
    finally:
        runner.stop()
        thread.join(10)
        broker.stop()
