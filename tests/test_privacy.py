"""No resident's personal data in anything public: every route an anonymous client can read
(found by walking the application's routes, so routes added later are covered), the open-data
catalog's downloads, the public pages, the audit log and the application's logs.

Residents with unmistakable names, e-mail addresses and phone numbers (in several formats,
some written inside the free-text description, which the open-data rule says is scrubbed)
report problems through Open311; the scan then fails on every URL that shows any of them.
It also fails when it read too little to mean anything (fewer than 5 public URLs, no Open311
answer, no open-data download, or the reports themselves nowhere to be seen)."""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from beffroi.api.deps import Services
from beffroi.assets.models import TerritoryIn
from beffroi.auth.models import SYSTEM
from beffroi.auth.tables import audit_log
from tests.conftest import lamp
from tests.privacy_scan import Hit, PublicScan, ScanResult, Secret, scan_text

CODE = "privacyville"
MIN_PUBLIC_URLS = 5


@dataclass(frozen=True)
class Resident:
    first_name: str
    last_name: str
    email: str
    phone: str  # as the resident typed it
    national: str  # its 9 significant digits
    service_code: str
    description: str
    marker: str  # a non-personal word of the description, to find the published report

    def secrets(self) -> list[Secret]:
        local = self.email.split("@")[0]
        who = f"{self.first_name} {self.last_name}"
        return [Secret.text(f"first name of {who}", self.first_name),
                Secret.text(f"last name of {who}", self.last_name),
                Secret.text(f"e-mail of {who}", self.email),
                Secret.text(f"e-mail (local part) of {who}", local),
                Secret.phone(f"phone of {who}", self.national)]


def _residents() -> list[Resident]:
    out = []
    formats = ["+33 6 {} {} {} {}", "06.{}.{}.{}.{}", "06{}{}{}{}", "+336{}{}{}{}",
               "06-{}-{}-{}-{}"]
    services = ["resident-report", "lamp-out", "waste-overflow", "resident-report",
                "lamp-out"]
    for i, fmt in enumerate(formats):
        tag = secrets.token_hex(3)
        pairs = [f"{secrets.randbelow(90) + 10}" for _ in range(4)]
        national = "6" + "".join(pairs)
        email = f"zxq.resident-{uuid.uuid4()}@example.org"
        phone = fmt.format(*pairs)
        marker = f"privacymarker{tag}"
        text = f"Trou profond dans le trottoir ({marker})."
        if i % 2 == 0:  # personal data inside the free text: must be scrubbed when published
            text += f" Rappelez-moi au {phone} ou écrivez à {email.upper() if i else email}."
        out.append(Resident(
            first_name=f"Ysolde{tag}", last_name=f"Quarrington-Élisabeth{tag}", email=email,
            phone=phone, national=national, service_code=services[i], description=text,
            marker=marker))
    return out


def _client_key(services: Services) -> str:
    """An Open311 API key of the territory."""
    return str(services.citizens.create_client("privacy-test", CODE).api_key)


def _seed(services: Services, client: TestClient, anonymous: TestClient,
          residents: list[Resident]) -> list[str]:
    """A small territory (lamps and readings) and the residents' reports; their ids."""
    services.registry.create_territory(TerritoryIn(code=CODE, name="Privacyville",
                                                   timezone="Europe/Paris"))
    services.operations.ensure_defaults(CODE, SYSTEM)
    for i in range(3):
        r = client.post(f"/api/v1/territories/{CODE}/assets",
                        json=lamp(f"L{i}", lon=2.35 + i / 1000, lat=48.86, territory=CODE))
        assert r.status_code == 201, r.text
    now = datetime.now(UTC).replace(microsecond=0)
    readings = [{"asset": f"urn:ngsi-ld:Streetlight:{CODE}:L{i}", "metric": "powerState",
                 "ts": (now - timedelta(minutes=15 * k)).isoformat(), "value": "on"}
                for i in range(3) for k in range(4)]
    report = services.telemetry.ingest_readings(CODE, readings)
    assert not report.rejections

    key = _client_key(services)
    ids = []
    for i, person in enumerate(residents):
        r = anonymous.post("/open311/v2/requests.json", data={
            "jurisdiction_id": CODE, "api_key": key, "service_code": person.service_code,
            "lat": str(48.86 + i / 1000), "long": str(2.35 + i / 1000),
            "address_string": f"{i + 1} rue de la Paix, 75002 Paris",
            "description": person.description, "first_name": person.first_name,
            "last_name": person.last_name, "email": person.email, "phone": person.phone,
            "device_id": f"device-{person.marker}", "account_id": person.email})
        assert r.status_code in (200, 201), r.text
        (answer,) = r.json()
        ids.append(str(answer.get("service_request_id") or answer["token"]))
    return ids


def _identifiers(result: ScanResult) -> set[str]:
    """Dataset identifiers named by the open-data catalog's JSON(-LD)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k.split(":")[-1] in ("identifier", "id", "@id") and isinstance(
                        v, str) and v:
                    found.add(v.rstrip("/").rsplit("/", 1)[-1].split(".")[0])
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for url, body in result.bodies.items():
        if url.startswith("/open-data"):
            try:
                walk(json.JSONDecoder().raw_decode(body.lstrip())[0])
            except ValueError:
                continue
    return {f for f in found if f and "/" not in f and len(f) < 100}


@pytest.mark.long
def test_no_personal_data_in_public_outputs(services: Services, app: FastAPI,
                                            client: TestClient, anonymous: TestClient,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    residents = _residents()
    ids = _seed(services, client, anonymous, residents)
    secret_list = [s for person in residents for s in person.secrets()]

    now = datetime.now(UTC)
    fill = {
        "code": [CODE], "territory": [CODE], "jurisdiction_id": [CODE], "jurisdiction": [CODE],
        "territory_code": [CODE],
        "service_request_id": ids, "request_id": ids, "id": ids, "token": ids,
        "format": ["json", "xml"], "fmt": ["json", "xml"], "ext": ["json", "xml"],
        "service_code": sorted({p.service_code for p in residents}),
        "category": sorted({p.service_code for p in residents}),
        "urn": [f"urn:ngsi-ld:Streetlight:{CODE}:L0"], "lang": ["fr", "en"],
    }
    query = {"jurisdiction_id": CODE, "territory": CODE, "lang": "en",
             "start_date": (now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "end_date": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    scan = PublicScan(app, secret_list, fill=fill, query=query)
    first = scan.run()
    datasets = sorted(_identifiers(first))
    for name in ("dataset", "dataset_id", "dataset_code", "slug", "name", "label"):
        scan.fill.setdefault(name, datasets)
    scan.fill.setdefault("distribution", ["csv", "geojson", "parquet", "json"])
    result = scan.run([f"/public/{CODE}", f"/public/{CODE}/requests",
                       *(f"/public/{CODE}/requests/{i}" for i in ids)])

    hits: list[Hit] = list({(h.where, h.secret): h for h in first.hits + result.hits}.values())
    with services.store.read() as conn:
        for row in conn.execute(select(audit_log)):
            hits += scan_text(f"audit log #{row.id}",
                              json.dumps(dict(row._mapping), ensure_ascii=False, default=str),
                              secret_list)
    logged = caplog.text + "\n".join(
        json.dumps(vars(r), ensure_ascii=False, default=str) for r in caplog.records)
    hits += scan_text("application logs", logged, secret_list)

    public = sorted(set(first.public) | set(result.public))
    problems = [f"personal data shown: {h}" for h in hits]
    problems += [f"public URL failing: {e}" for e in sorted(set(first.errors + result.errors))]
    if len(public) < MIN_PUBLIC_URLS:
        problems.append(f"only {len(public)} public URLs read ({public}): the scan proves "
                        f"nothing below {MIN_PUBLIC_URLS}")
    if not any(u.startswith("/open311/") for u in public):
        problems.append("no Open311 answer read")
    if len([u for u in public if u.startswith("/open-data")]) < 2:
        problems.append("no open-data catalog and download read")
    for person in residents:
        if not result.found(person.marker):
            problems.append(f"report {person.marker!r} is nowhere in the public outputs: "
                            "the scan did not see it published")
    assert not problems, (
        f"{len(problems)} problems in {len(public)} public URLs:\n" + "\n".join(problems)
        + f"\n\npublic: {public}\nrefused (4xx): {sorted(set(result.refused))}"
        f"\nunfilled routes: {sorted(set(result.unfilled))}")


def test_scan_finds_a_phone_whatever_its_format() -> None:
    phone = Secret.phone("phone", "+33 6 12 34 56 78")
    for shown in ("06 12 34 56 78", "+33612345678", "06.12.34.56.78", "(0)6-12-34-56-78",
                  "tel: 0612345678."):
        assert phone.pattern.search(shown), shown
    for other in ("0612345679", "1612345678 0", "2612345678"):
        assert not phone.pattern.search(other), other
    email = Secret.text("mail", "zxq.resident-1@example.org")
    assert scan_text("u", "write to ZXQ.Resident-1@Example.org", [email]) == [Hit("u", "mail")]
