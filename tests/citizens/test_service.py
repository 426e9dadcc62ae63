"""The citizens service beyond Open311: imports, API keys (service, control-room routes and
command line), the control room's view of reports, spam rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from beffroi.api.deps import Services
from beffroi.auth.access import api_routes, route_access
from beffroi.auth.models import SYSTEM, Role
from beffroi.auth.tables import audit_log
from beffroi.citizens.models import ImportedRequest, ServiceRequestAdmin
from beffroi.citizens.service import spam_reason
from beffroi.citizens.tables import open311_clients
from beffroi.cli import app as cli_app
from tests.citizens.conftest import BASE, DAY, TOWN, local, report

ITEMS = [
    ImportedRequest(source_id="dmr-1", service_code="waste-overflow",
                    description="Dépôt sauvage rue des Lilas",
                    requested_ms=local("2026-02-01 08:00"), status="closed", lon=2.351,
                    lat=48.852, address="3 rue des Lilas",
                    closed_ms=local("2026-02-03 10:00"), agency="Propreté Paris"),
    ImportedRequest(source_id="dmr-2", service_code="lamp-out",
                    description="Lampadaire éteint", requested_ms=local("2026-02-10 20:00"),
                    status="open", lon=2.34, lat=48.86),
]


def test_import_is_idempotent_and_opens_no_incident(services: Services,
                                                    public: TestClient) -> None:
    assert services.citizens.import_requests(TOWN, ITEMS, SYSTEM) == {
        "created": 2, "updated": 0, "unchanged": 0, "rejected": []}
    assert services.citizens.import_requests(TOWN, ITEMS, "cli:tester") == {
        "created": 0, "updated": 0, "unchanged": 2, "rejected": []}
    changed = [replace(ITEMS[1], status="closed", closed_ms=local("2026-02-12 09:00"))]
    assert services.citizens.import_requests(TOWN, changed, SYSTEM)["updated"] == 1
    bad = [replace(ITEMS[0], source_id="dmr-3", service_code="pothole"),
           replace(ITEMS[0], source_id="dmr-4", status="pending"),
           replace(ITEMS[0], source_id="dmr-5", lat=123.0),
           replace(ITEMS[0], source_id="", description="x")]
    result = services.citizens.import_requests(TOWN, bad, SYSTEM)
    assert result["created"] == 0
    assert [(r["index"], r["field"]) for r in result["rejected"]] == [
        (0, "service_code"), (1, "status"), (2, "lat"), (3, "source_id")]
    assert services.operations.list_incidents(TOWN, SYSTEM).items == []
    got = public.get(f"{BASE}/requests.json", params={
        "start_date": "2026-01-01T00:00:00Z", "end_date": "2026-03-01T00:00:00Z"}).json()
    assert [(r["service_code"], r["status"]) for r in got] == [
        ("lamp-out", "closed"), ("waste-overflow", "closed")]
    assert got[1]["agency_responsible"] == "Propreté Paris"
    assert got[1]["address"] == "3 rue des Lilas"
    assert got[1]["service_name"] == "Conteneur plein ou débordant"
    admin = services.citizens.get_requests(TOWN, start_ms=local("2026-01-01 00:00"),
                                           admin=True)
    assert {r.source_id for r in admin if isinstance(r, ServiceRequestAdmin)} == {"dmr-1", "dmr-2"}


def test_imported_contacts_do_not_exist_and_closed_imports_are_purgeable(
        services: Services) -> None:
    services.citizens.import_requests(TOWN, ITEMS, SYSTEM)
    assert services.citizens.contact_count(TOWN) == 0
    assert services.citizens.purge_contacts(local("2026-06-01 00:00")) == {
        "contacts_deleted": 0}


@pytest.mark.parametrize(("text", "spam"), [
    ("Le lampadaire est éteint depuis hier soir.", False),
    ("Voir la photo https://example.org/p.jpg", False),
    ("Casino en ligne !", True),
    ("aaaaaaaaaaaaaaaaaaaa", True),
    ("www.a.fr www.b.fr www.c.fr www.d.fr", True),
    ("Escortes et cartes : le trottoir est défoncé", False),  # a whole word only
])
def test_spam_rules(text: str, spam: bool) -> None:
    assert (spam_reason(text) is not None) == spam


def test_api_keys_are_stored_hashed_and_revocable(services: Services,
                                                  public: TestClient) -> None:
    created = services.citizens.create_client("FixMyStreet", rate_per_hour=500)
    with services.store.read() as conn:
        stored = conn.execute(select(open311_clients)).one()
    assert created.api_key not in str(stored._mapping)
    assert len(stored.key_hash) == 64
    assert created.territory is None and created.rate_per_hour == 500
    assert post_ok(public, created.api_key)
    services.citizens.revoke_client(created.id)
    assert public.post(f"{BASE}/requests.json", data=report(created.api_key)).status_code == 403
    assert [c.revoked_ms is not None for c in services.citizens.list_clients()] == [True]


def post_ok(public: TestClient, key: str) -> bool:
    return public.post(f"{BASE}/requests.json", data=report(key)).status_code == 200


def test_control_room_routes_for_api_keys_and_requests(client: TestClient,
                                                       public: TestClient,
                                                       as_role: Callable[..., TestClient]
                                                       ) -> None:
    url = f"/api/v1/territories/{TOWN}/open311-clients"
    r = client.post(url, json={"name": "Appli Ville", "rate_per_hour": 100})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["api_key"].startswith("o311_") and created["territory"] == TOWN
    assert post_ok(public, created["api_key"])
    listed = client.get(url).json()
    assert [c["name"] for c in listed] == ["Appli Ville"] and "api_key" not in listed[0]
    assert as_role(Role.OPERATOR).get(url).status_code == 403
    assert client.post(url, json={"name": ""}).status_code == 422
    assert client.delete(f"{url}/999999").status_code == 404
    r = client.delete(f"{url}/{created['id']}")
    assert r.status_code == 200 and r.json()["revoked"] is not None
    assert not post_ok(public, created["api_key"])
    items = as_role(Role.OPERATOR).get(f"/api/v1/territories/{TOWN}/service-requests").json()
    assert len(items) == 1 and items[0]["incident_id"] and items[0]["source"] == "open311"
    assert as_role(Role.VIEWER).get(
        f"/api/v1/territories/{TOWN}/service-requests").status_code == 403
    r = client.get(f"/api/v1/territories/{TOWN}/service-requests", params={"status": "x"})
    assert r.status_code == 400


def test_every_control_room_route_declares_its_roles(app: FastAPI, services: Services,
                                                      token_for: Callable[..., str]) -> None:
    """The access matrix of tests/auth, for this package's routes."""
    mine = [(m, p, route_access(d)) for m, p, d in api_routes(app)
            if "/service-requests" in p or "/open311-clients" in p]
    assert len(mine) == 6
    with TestClient(app, raise_server_exceptions=False) as c:
        for method, path, decl in mine:
            assert decl is not None, path
            url = path.replace("{code}", TOWN).replace("{request_id}", "2026-999999") \
                .replace("{client_id}", "999999")
            for role in Role:
                r = c.request(method, url, json={},
                              headers={"Authorization": f"Bearer {token_for(role)}"})
                allowed = role in decl[0]
                assert r.status_code < 500, (method, path, role, r.text)
                assert (r.status_code == 403) != allowed, (method, path, role, r.status_code)
            assert c.request(method, url, json={}).status_code == 401


runner = CliRunner()


def cli(db_url: str, *args: str) -> str:
    result = runner.invoke(cli_app, ["--database-url", db_url, *args],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_command_line(db_url: str, services: Services, public: TestClient) -> None:
    out = cli(db_url, "citizens", "client-add", "Appli mobile", "-t", TOWN, "--rate", "20")
    key = out.strip().splitlines()[-1]
    assert key.startswith("o311_")
    assert post_ok(public, key)
    listed = cli(db_url, "citizens", "client-list")
    assert "Appli mobile" in listed and key not in listed
    assert "revoked" in cli(db_url, "citizens", "client-revoke", "1")
    assert not post_ok(public, key)
    requests = cli(db_url, "citizens", "requests", "-t", TOWN, "--days", "3650")
    assert "lamp-out" in requests and "Zéphyrin" not in requests
    assert "0 residents' contact record(s) deleted" in cli(db_url, "citizens", "purge")
    with services.store.read() as conn:
        actions = [r.action for r in conn.execute(select(audit_log.c.action))]
    assert {"open311_client.create", "open311_client.revoke"} <= set(actions)


def test_purge_runs_on_the_real_clock_too(services: Services, api_key: str,
                                          public: TestClient) -> None:
    assert post_ok(public, api_key)
    # far in the future, the request is still open: its contact stays
    assert services.citizens.purge_contacts(local("2030-01-01 00:00") + DAY) == {
        "contacts_deleted": 0}


