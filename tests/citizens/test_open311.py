"""The Open311 GeoReport v2 endpoints, in both formats, as a client application sees them."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from beffroi.api.deps import Services
from beffroi.assets.models import TerritoryIn
from beffroi.auth.models import SYSTEM
from beffroi.auth.tables import audit_log
from beffroi.operations.models import CommentIn
from beffroi.timeutil import FrozenClock
from tests.citizens.conftest import BASE, PERSONAL, TOWN, report


def xml(response: Any) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml")
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.content)


def errors(response: Any, fmt: str = "json") -> list[str]:
    if fmt == "xml":
        root = xml(response)
        assert root.tag == "errors"
        codes = {e.findtext("code") for e in root.findall("error")}
        assert codes == {str(response.status_code)}
        return [e.findtext("description") or "" for e in root.findall("error")]
    body = response.json()
    assert all(e["code"] == response.status_code for e in body)
    return [e["description"] for e in body]


def post(public: TestClient, form: dict[str, Any], fmt: str = "json") -> Any:
    return public.post(f"{BASE}/requests.{fmt}", data=form)


def created_id(public: TestClient, api_key: str, **extra: Any) -> str:
    r = post(public, report(api_key, **extra))
    assert r.status_code == 200, r.text
    return str(r.json()[0]["service_request_id"])


# --- discovery and services ----------------------------------------------------------------------


def test_discovery_in_both_formats(public: TestClient, territory: str) -> None:
    body = public.get(f"{BASE}/discovery.json").json()
    [endpoint] = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "https://beffroi.example.org/open311/v2/"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    assert body["changeset"] and endpoint["changeset"]
    root = xml(public.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    ep = root.find("endpoints/endpoint")
    assert ep is not None and ep.findtext("url") == endpoint["url"]
    assert [f.text for f in ep.findall("formats/format")] == ["text/xml", "application/json"]


def test_service_list_is_the_categories_with_their_posts(public: TestClient,
                                                         territory: str) -> None:
    services = public.get(f"{BASE}/services.json").json()
    lamp = next(s for s in services if s["service_code"] == "lamp-out")
    assert lamp == {"service_code": "lamp-out", "service_name": "Point lumineux éteint",
                    "description": lamp["description"], "metadata": False,
                    "type": "realtime", "keywords": "lamp, out, lighting",
                    "group": "Éclairage et énergie"}
    english = public.get(f"{BASE}/services.json", params={"lang": "en"}).json()
    assert next(s for s in english if s["service_code"] == "lamp-out")["service_name"] == \
        "Lamp out"
    accept = public.get(f"{BASE}/services.json", headers={"Accept-Language": "en-GB,en"})
    assert "Lamp out" in accept.text
    root = xml(public.get(f"{BASE}/services.xml"))
    assert root.tag == "services"
    items = root.findall("service")
    assert len(items) == len(services)
    first = next(s for s in items if s.findtext("service_code") == "lamp-out")
    assert first.findtext("metadata") == "false"
    assert first.findtext("group") == "Éclairage et énergie"


def test_service_definition_and_unknown_service(public: TestClient, territory: str) -> None:
    assert public.get(f"{BASE}/services/lamp-out.json").json() == {
        "service_code": "lamp-out", "attributes": []}
    root = xml(public.get(f"{BASE}/services/lamp-out.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == "lamp-out"
    for fmt in ("json", "xml"):
        r = public.get(f"{BASE}/services/pothole.{fmt}")
        assert r.status_code == 400
        assert "service_code 'pothole' not found" in errors(r, fmt)[0]


def test_unknown_format_is_404(public: TestClient, territory: str) -> None:
    r = public.get(f"{BASE}/services.csv")
    assert r.status_code == 404 and "use .json or .xml" in errors(r)[0]


# --- posting -------------------------------------------------------------------------------------


def test_post_needs_a_valid_api_key(public: TestClient, services: Services,
                                    api_key: str) -> None:
    form = report(api_key)
    del form["api_key"]
    for fmt in ("json", "xml"):
        r = post(public, form, fmt)
        assert r.status_code == 403
        assert "api_key is required" in errors(r, fmt)[0]
    r = post(public, {**form, "api_key": "o311_wrong"})
    assert r.status_code == 403 and "invalid or revoked api_key" in errors(r)[0]
    revoked = services.citizens.create_client("Old app")
    services.citizens.revoke_client(revoked.id)
    assert post(public, {**form, "api_key": revoked.api_key}).status_code == 403
    services.registry.create_territory(TerritoryIn(code="otherville", name="Other"))
    other = services.citizens.create_client("Other app", territory="otherville")
    r = post(public, {**form, "api_key": other.api_key, "jurisdiction_id": TOWN})
    assert r.status_code == 403 and "not valid in jurisdiction 'testville'" in errors(r)[0]
    # the api_key may also come in the query string (as some clients send it)
    r = public.post(f"{BASE}/requests.json",
                    params={"api_key": api_key, "jurisdiction_id": TOWN}, data=form)
    assert r.status_code == 200, r.text


def test_a_report_becomes_an_incident_on_the_category_post(public: TestClient,
                                                            services: Services,
                                                            api_key: str) -> None:
    r = post(public, report(api_key))
    assert r.status_code == 200, r.text
    [answer] = r.json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    assert answer["service_request_id"].startswith("2026-")
    assert answer["account_id"] == PERSONAL["account_id"]  # the caller's own, echoed
    assert "5 j" in answer["service_notice"]
    admin = services.citizens.get_request_admin(TOWN, answer["service_request_id"])
    assert admin.incident_id is not None and admin.source == "open311"
    incident = services.operations.get_incident(TOWN, admin.incident_id, SYSTEM)
    assert (incident.category, incident.post, incident.source, incident.state) == (
        "lamp-out", "lighting", "resident", "reported")
    assert answer["service_request_id"] in incident.title
    for value in PERSONAL.values():
        assert value not in incident.model_dump_json()
    # a water leak goes to the water post
    rid = created_id(public, api_key, service_code="water-leak",
                     description="De l'eau jaillit du trottoir.")
    admin = services.citizens.get_request_admin(TOWN, rid)
    assert admin.incident_id is not None
    assert services.operations.get_incident(TOWN, admin.incident_id, SYSTEM).post == "water"


def test_post_in_xml_and_address_only(public: TestClient, api_key: str) -> None:
    form = report(api_key, address_string="12 rue de Rivoli, Paris")
    del form["lat"], form["long"]
    root = xml(post(public, form, "xml"))
    assert root.tag == "service_requests"
    rid = root.findtext("request/service_request_id")
    assert rid
    got = public.get(f"{BASE}/requests/{rid}.json").json()[0]
    assert got["address"] == "12 rue de Rivoli, Paris" and got["lat"] is None


@pytest.mark.parametrize(("extra", "message"), [
    ({"lat": "abc"}, "lat: 'abc' is not a number"),
    ({"lat": "95"}, "lat: must be a WGS84 coordinate"),
    ({"long": ""}, "lat and long go together"),
    ({"lat": "43.30", "long": "5.37"}, "outside this jurisdiction"),
    ({"lat": "", "long": ""}, "a location is required"),
    ({"description": "bof"}, "description: required, 5 to 4000 characters"),
    ({"description": "x" * 4001}, "description: at most 4000 characters"),
    ({"email": "not-an-email"}, "email: not an e-mail address"),
    ({"phone": "call me"}, "phone: digits"),
    ({"media_url": "javascript:alert(1)"}, "media_url: an http(s) URL"),
    ({"service_code": ""}, "service_code is required"),
    ({"service_code": "pothole"}, "service_code 'pothole' not found"),
    ({"description": "Cheap viagra here, lamp is out"}, "spam: the blocked word 'viagra'"),
    ({"description": "Lampe éteinte !!!!!!!!!!!!!!!!!!!!"}, "spam: a character repeated"),
    ({"description": "see http://a.example http://b.example www.c.example "
                     "https://d.example now"}, "spam: 4 links"),
])
def test_bad_reports_get_a_precise_400(public: TestClient, api_key: str,
                                       extra: dict[str, str], message: str) -> None:
    for fmt in ("json", "xml"):
        r = post(public, report(api_key, **extra), fmt)
        assert r.status_code == 400, r.text
        assert any(message in d for d in errors(r, fmt)), errors(r, fmt)


def test_unsupported_bodies_are_400(public: TestClient, api_key: str) -> None:
    r = public.post(f"{BASE}/requests.json", params={"email": PERSONAL["email"]},
                    data=report(api_key))
    assert r.status_code == 400 and "email: send personal data in the form body" in \
        errors(r)[0]
    r = public.post(f"{BASE}/requests.json", json=report(api_key))
    assert r.status_code == 400 and "application/x-www-form-urlencoded" in errors(r)[0]
    r = public.post(f"{BASE}/requests.json", content=b"api_key=%ff%fe",
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code in (400, 403)


def test_rate_limit_per_address_then_the_hour_passes(public: TestClient, services: Services,
                                                      api_key: str, clock: FrozenClock) -> None:
    services.settings.report_rate_per_hour = 3
    for _ in range(3):
        created_id(public, api_key)
    for fmt in ("json", "xml"):
        r = post(public, report(api_key), fmt)
        assert r.status_code == 429
        assert "at most 3 per hour" in errors(r, fmt)[0]
        assert int(r.headers["Retry-After"]) == 3600
    clock.advance(minutes=61)
    created_id(public, api_key)


def test_rate_limit_per_api_key(public: TestClient, services: Services) -> None:
    key = services.citizens.create_client("Small app", rate_per_hour=2).api_key
    created_id(public, key)
    created_id(public, key)
    r = post(public, report(key))
    assert r.status_code == 429 and "api_key" in errors(r)[0]


# --- reading -------------------------------------------------------------------------------------


FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code",
          "description", "agency_responsible", "service_notice", "requested_datetime",
          "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat",
          "long", "media_url"}


def test_get_requests_with_the_spec_filters(public: TestClient, services: Services,
                                            api_key: str, clock: FrozenClock) -> None:
    a = created_id(public, api_key)
    clock.advance(hours=2)
    b = created_id(public, api_key, service_code="water-leak",
                   description="Fuite d'eau rue Haute.")
    items = public.get(f"{BASE}/requests.json").json()
    assert [i["service_request_id"] for i in items] == [b, a]  # newest first
    assert set(items[0]) == FIELDS
    assert items[1]["service_name"] == "Point lumineux éteint"
    assert items[1]["agency_responsible"] == "Éclairage et énergie"
    assert items[1]["requested_datetime"].endswith("Z")
    assert items[1]["expected_datetime"] is not None

    def ids(**params: str) -> list[str]:
        r = public.get(f"{BASE}/requests.json", params=params)
        assert r.status_code == 200, r.text
        return [i["service_request_id"] for i in r.json()]

    assert ids(service_code="water-leak") == [b]
    assert ids(service_code="water-leak,lamp-out") == [b, a]
    assert ids(service_request_id=f"{a},nope") == [a]
    assert ids(service_request_id=a, service_code="water-leak") == [a]  # ids override
    assert ids(status="open") == [b, a] and ids(status="closed") == []
    assert ids(start_date="2026-03-02T09:30:00+01:00") == [b]
    assert ids(end_date="2026-03-02T08:30:00Z") == [a]
    assert ids(start_date="2025-01-01T00:00:00Z", end_date="2025-02-01T00:00:00Z") == []
    assert ids(start_date="2026-03-02") == [b, a]
    root = xml(public.get(f"{BASE}/requests.xml"))
    assert root.tag == "service_requests"
    assert [r.findtext("service_request_id") for r in root.findall("request")] == [b, a]
    assert {c.tag for c in root.find("request")} == FIELDS  # type: ignore[union-attr]


@pytest.mark.parametrize(("params", "message"), [
    ({"start_date": "yesterday"}, "start_date: 'yesterday' is not a W3C date-time"),
    ({"end_date": "2026-03-02T10:00:00"}, "end_date: '2026-03-02T10:00:00' has no time zone"),
    ({"start_date": "2026-03-01T00:00:00Z", "end_date": "2026-02-01T00:00:00Z"},
     "end_date is before start_date"),
    ({"status": "pending"}, "status 'pending' is not open or closed"),
])
def test_bad_filters_are_400(public: TestClient, territory: str, params: dict[str, str],
                             message: str) -> None:
    for fmt in ("json", "xml"):
        r = public.get(f"{BASE}/requests.{fmt}", params=params)
        assert r.status_code == 400
        assert message in errors(r, fmt)[0]


def test_get_one_request_and_unknown_ids(public: TestClient, api_key: str) -> None:
    rid = created_id(public, api_key)
    [got] = public.get(f"{BASE}/requests/{rid}.json").json()
    assert got["service_request_id"] == rid and got["status"] == "open"
    root = xml(public.get(f"{BASE}/requests/{rid}.xml"))
    assert root.findtext("request/service_request_id") == rid
    assert root.findtext("request/status_notes") == ""
    for fmt in ("json", "xml"):
        r = public.get(f"{BASE}/requests/2026-999999.{fmt}")
        assert r.status_code == 404 and "not found" in errors(r, fmt)[0]
    r = public.get(f"{BASE}/tokens/abc.json")
    assert r.status_code == 404 and "realtime" in errors(r)[0]


def test_jurisdiction_selects_the_territory(public: TestClient, services: Services,
                                            api_key: str) -> None:
    rid = created_id(public, api_key)
    services.registry.create_territory(TerritoryIn(code="otherville", name="Other"))
    r = public.get(f"{BASE}/services.json")
    assert r.status_code == 400
    assert "jurisdiction_id is required: one of otherville, testville" in errors(r)[0]
    assert public.get(f"{BASE}/requests/{rid}.json",
                      params={"jurisdiction_id": TOWN}).status_code == 200
    assert public.get(f"{BASE}/requests/{rid}.json",
                      params={"jurisdiction_id": "otherville"}).status_code == 404
    r = public.get(f"{BASE}/services.xml", params={"jurisdiction_id": "atlantis"})
    assert r.status_code == 404 and "jurisdiction_id 'atlantis' not found" in errors(r, "xml")[0]
    # a form post names its jurisdiction in the body
    r = post(public, report(api_key, jurisdiction_id=TOWN))
    assert r.status_code == 200, r.text


# --- status and public notes flow back ------------------------------------------------------------


def test_resolving_the_incident_closes_the_request_with_the_public_note(
        public: TestClient, client: TestClient, services: Services, api_key: str,
        clock: FrozenClock) -> None:
    rid = created_id(public, api_key)
    incident_id = services.citizens.get_request_admin(TOWN, rid).incident_id
    assert incident_id is not None
    services.operations.comment(TOWN, incident_id, CommentIn(text="internal: cabinet 4 fuse"),
                                SYSTEM)
    clock.advance(hours=5)
    r = client.put(f"/api/v1/territories/{TOWN}/service-requests/{rid}/public-note",
                   json={"text": "Intervention prévue demain matin."})
    assert r.status_code == 200, r.text
    [got] = public.get(f"{BASE}/requests/{rid}.json").json()
    assert got["status"] == "open"
    assert got["status_notes"] == "Intervention prévue demain matin."
    assert got["updated_datetime"] > got["requested_datetime"]
    clock.advance(hours=20)
    services.operations.step(TOWN, incident_id, "resolved", SYSTEM, note="fuse replaced")
    [got] = public.get(f"{BASE}/requests/{rid}.json").json()
    assert got["status"] == "closed" and got["expected_datetime"] is None
    assert "internal" not in str(got) and "fuse" not in str(got)
    assert [i["service_request_id"] for i in public.get(
        f"{BASE}/requests.json", params={"status": "closed"}).json()] == [rid]
    root = xml(public.get(f"{BASE}/requests/{rid}.xml"))
    assert root.findtext("request/status") == "closed"
    assert root.findtext("request/status_notes") == "Intervention prévue demain matin."


def test_public_notes_need_an_operator_of_the_post(as_role: Any, public: TestClient,
                                                   api_key: str) -> None:
    rid = created_id(public, api_key)
    url = f"/api/v1/territories/{TOWN}/service-requests/{rid}/public-note"
    note = {"text": "Merci, c'est noté."}
    assert as_role("viewer").put(url, json=note).status_code == 403
    assert as_role("operator", posts=["water"]).put(url, json=note).status_code == 403
    assert as_role("operator", posts=["lighting"]).put(url, json=note).status_code == 200
    assert as_role("supervisor").put(url, json={"text": ""}).status_code == 422
    r = as_role("supervisor").put(
        f"/api/v1/territories/{TOWN}/service-requests/2026-999999/public-note", json=note)
    assert r.status_code == 404


# --- privacy -------------------------------------------------------------------------------------


def test_personal_data_never_comes_out(public: TestClient, client: TestClient,
                                       services: Services, api_key: str,
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rid = created_id(public, api_key)
    outputs = [
        public.get(f"{BASE}/requests.json").text, public.get(f"{BASE}/requests.xml").text,
        public.get(f"{BASE}/requests/{rid}.json").text,
        public.get(f"{BASE}/requests/{rid}.xml").text,
        client.get(f"/api/v1/territories/{TOWN}/service-requests").text,
        client.get(f"/api/v1/territories/{TOWN}/service-requests/{rid}").text,
    ]
    with services.store.read() as conn:
        audit = [str(r._mapping) for r in conn.execute(select(audit_log))]
    logs = [f"{r.getMessage()} {r.__dict__}" for r in caplog.records]
    for text in [*outputs, *audit, *logs]:
        for key, value in PERSONAL.items():
            assert value not in text, (key, text[:300])
    for text in outputs:
        assert "first_name" not in text and "email" not in text and "phone" not in text
    assert any("service_request.create" in a for a in audit)
    admin = client.get(f"/api/v1/territories/{TOWN}/service-requests/{rid}").json()
    assert admin["has_contact"] is True and admin["client"] == "Test app"


def test_retention_purge_after_closure_plus_n_days(public: TestClient, services: Services,
                                                   api_key: str, clock: FrozenClock) -> None:
    closed = created_id(public, api_key)
    still_open = created_id(public, api_key)
    no_contact = report(api_key)
    for key in PERSONAL:
        del no_contact[key]
    assert post(public, no_contact).status_code == 200
    assert services.citizens.contact_count(TOWN) == 2
    incident = services.citizens.get_request_admin(TOWN, closed).incident_id
    assert incident is not None
    clock.advance(hours=24)
    services.operations.step(TOWN, incident, "resolved", SYSTEM)
    clock.advance(hours=24 * 29)
    assert services.citizens.tick() == {"contacts_deleted": 0}  # 29 days after closure
    clock.advance(hours=24 + 1)
    assert services.citizens.tick() == {"contacts_deleted": 1}  # 30 days and an hour
    assert services.citizens.contact_count(TOWN) == 1
    assert services.citizens.get_request_admin(TOWN, still_open).has_contact
    assert services.citizens.get_request(TOWN, closed).status == "closed"  # the report stays
    assert services.citizens.purge_contacts() == {"contacts_deleted": 0}
    with services.store.read() as conn:
        actions = [r.action for r in conn.execute(select(audit_log.c.action))]
    assert actions.count("service_request.contacts_purged") == 1
