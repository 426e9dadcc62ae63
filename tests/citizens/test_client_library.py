"""A real third-party Open311 client against a real server (uvicorn on a free port).

The client is ``georeport`` 0.3.1 (PyPI, 2025), used unchanged. It reads (service list,
service definitions, requests, one request) in JSON and XML but has no method to post:
the post is made with ``requests``, form-encoded, exactly as the spec describes it. The two
other Python clients on PyPI do not run on Python 3: ``open311`` 1.1 (2011) imports
``from api import API`` (a Python 2 implicit relative import) and ``three`` 0.8.0 (2013)
imports ``itertools.ifilter`` (removed in Python 3).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests
import uvicorn
from fastapi import FastAPI
from georeport import GeoReport  # type: ignore[import-untyped]

from beffroi.api.deps import Services
from beffroi.auth.models import SYSTEM
from tests.citizens.conftest import PERSONAL, TOWN, report


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", ws="none", lifespan="on",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/open311/v2"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client_lists_posts_and_follows_a_request(
        live: str, services: Services, api_key: str, fmt: str) -> None:
    client = GeoReport(live, jurisdiction=TOWN, api_key=api_key, output_format=fmt)
    listed = client.get_service_list()
    codes = {s["service_code"] for s in listed}
    assert {"lamp-out", "water-leak", "waste-overflow"} <= codes
    definition = client.get_service_definition("lamp-out")
    assert definition["service_code"] == "lamp-out"

    # POST as the spec says: form-encoded, with the application's api_key
    posted = requests.post(f"{live}/requests.{fmt}",
                           data=report(client.api_key or "", jurisdiction_id=TOWN),
                           timeout=10)
    assert posted.status_code == 200, posted.text
    rid = (posted.json()[0]["service_request_id"] if fmt == "json" else
           posted.text.split("<service_request_id>")[1].split("<")[0])

    got = client.get_service_request(rid)
    assert got["service_request_id"] == rid
    assert got["status"] == "open" and got["service_code"] == "lamp-out"
    found = client.get_service_requests(service_request_id=rid)
    one = found if isinstance(found, dict) else found[0]  # xmltodict: a lone item is a dict
    assert one["service_request_id"] == rid
    assert client.get_service_requests(status="open", service_code="lamp-out")

    # the operator resolves the incident: the client sees the request closed
    incident = services.citizens.get_request_admin(TOWN, rid).incident_id
    assert incident is not None
    services.citizens.publish_note(TOWN, rid, "Lampe remplacée.", SYSTEM)
    services.operations.step(TOWN, incident, "resolved", SYSTEM)
    got = client.get_service_request(rid)
    assert got["status"] == "closed" and got["status_notes"] == "Lampe remplacée."
    for value in PERSONAL.values():
        assert value not in str(got)
