"""``beffroi demo`` on a fresh database: starts, serves, ingests live data, stops on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

STARTUP_TIMEOUT_S = 180
PROBE = "urn:ngsi-ld:WeatherObserved:nantes:sim-0001"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _probe_ts(client: httpx.Client, base: str) -> str:
    body: dict[str, Any] = client.get(
        f"{base}/api/v1/territories/nantes/latest", params={"asset": PROBE}).json()
    return str(body["items"][0]["values"]["temperature"]["ts"])


@pytest.mark.long
def test_demo_starts_serves_streams_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    out = (tmp_path / "out.txt").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "beffroi.cli", "demo", "--reset", "--database",
         str(tmp_path / "demo.db"), "--port", str(port), "--days", "0.05", "--speed", "3600"],
        stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        with httpx.Client(timeout=10) as probe:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while True:
                assert proc.poll() is None, (tmp_path / "out.txt").read_text()
                try:
                    if probe.get(f"{base}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the demo did not start in time"
                time.sleep(0.5)
            assert probe.get(f"{base}/api/v1/territories/nantes/assets").status_code == 401
        printed = (tmp_path / "out.txt").read_text()
        token = re.search(r"API token of this demo \(superuser\): (\S+)", printed)
        password = re.search(r"with the password (\S+)", printed)
        assert token and password, printed
        with httpx.Client(timeout=10) as people:  # a person logs in with the printed password
            me = people.post(f"{base}/api/v1/auth/login",
                             json={"username": "operateur", "password": password.group(1)})
            assert me.status_code == 200, me.text
            posts = people.get(f"{base}/api/v1/territories/nantes/posts").json()
            assert {p["code"] for p in posts} >= {"lighting", "traffic", "snow"}
            rules = people.get(f"{base}/api/v1/territories/nantes/rules").json()["items"]
            assert len(rules) >= 10
        headers = {"Authorization": f"Bearer {token.group(1)}"}
        with httpx.Client(timeout=10, headers=headers) as client:
            lamps = client.get(f"{base}/api/v1/territories/nantes/assets",
                               params={"type": "Streetlight", "limit": 5}).json()
            bins = client.get(f"{base}/api/v1/territories/nantes/assets",
                              params={"type": "WasteContainer", "limit": 1000}).json()
            assert len(lamps["items"]) == 5 and len(bins["items"]) == 400
            first = _probe_ts(client, base)
            deadline = time.monotonic() + 30
            while _probe_ts(client, base) == first:
                assert time.monotonic() < deadline, "no live reading arrived"
                time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
    text = (tmp_path / "out.txt").read_text()
    assert f"Open http://127.0.0.1:{port}/ " in text and "Demo stopped." in text
