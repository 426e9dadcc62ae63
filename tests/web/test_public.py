"""The public pages (no account), in headless Chromium against a real server: the real-time
information of a seeded city (car parks, air quality, traffic, public incidents) and its JSON
API; the report form (map click, description, email) down to its follow-up page, open then
closed with the operator's note; the spam checks and the rate limit; French and English;
an axe-core audit of each page and screenshots (test-artifacts/web/<test>/)."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from beffroi.api.deps import Services
from beffroi.assets.models import AssetIn
from beffroi.auth.models import SYSTEM
from beffroi.citizens.models import ServiceRequestAdmin
from beffroi.operations.models import IncidentIn
from beffroi.web import public
from tests.web.conftest import City, LiveServer, feed, urn
from tests.web.test_browser import audit, shot

TIMEOUT = 30_000
MIN = 60_000


def seed_public(services: Services, city: City) -> dict[str, Any]:
    """Two car parks, two air stations, four traffic counters and an open public incident
    (a traffic-signal fault whose operator title holds a name, which must not be shown)."""
    code, registry = city.code, services.registry

    def asset(kind: str, local: str, name: str, lon: float, lat: float,
              **props: object) -> str:
        u = urn(kind, local)
        registry.create_asset(code, AssetIn.model_validate({
            "id": u, "type": kind, "name": name, "properties": props,
            "geometry": {"type": "Point", "coordinates": [lon, lat]}}))
        return u

    p1 = asset("OffStreetParking", "P1", "Parking Hôtel de Ville", 2.3522, 48.8566,
               total_spots=400)
    p2 = asset("OffStreetParking", "P2", "Parking Gare de Lyon", 2.3730, 48.8443)
    a1 = asset("AirQualityObserved", "A1", "Station Châtelet", 2.3470, 48.8590)
    a2 = asset("AirQualityObserved", "A2", "Station Bastille", 2.3690, 48.8530)
    counters = [asset("TrafficFlowObserved", f"T{i}", f"Comptage {i}", 2.33 + i * 0.01, 48.85)
                for i in range(4)]
    now = services.clock()
    feed(services, [
        (p1, "availableSpotNumber", now - 2 * MIN, 1234.0),
        (p1, "occupancy", now - 2 * MIN, 0.25),
        (p1, "status", now - 2 * MIN, "open"),
        (p2, "availableSpotNumber", now - 2 * MIN, 0.0),
        (p2, "occupiedSpotNumber", now - 2 * MIN, 300.0),
        (a1, "pm10", now - 4 * MIN, 45.0),   # today's max: "dégradé" (moderate)
        (a1, "pm10", now - 1 * MIN, 18.0),   # now: "bon" (good)
        (a1, "no2", now - 1 * MIN, 50.0),    # now: "moyen" (fair)
        (a2, "o3", now - 1 * MIN, 135.0),    # now: "mauvais" (poor)
        *[(c, "trafficState", now - MIN, s)
          for c, s in zip(counters, ("free", "free", "saturated", "blocked"), strict=True)],
    ])
    incident = services.operations.open_incident(code, IncidentIn(
        category="traffic-signal-fault", title="Feux en panne — vu par M. Dupont",
        description="Appel de M. Dupont, 06 12 34 56 78", asset=city.signal), SYSTEM)
    return {"incident": incident.id, "parks": (p1, p2), "stations": (a1, a2)}


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def new_page(chromium: Any, locale: str = "fr-FR", **kw: Any) -> tuple[Any, Any, list[str]]:
    context = chromium.new_context(locale=locale, **kw)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return context, page, errors


def test_public_now_page_and_api(chromium: Any, live: LiveServer, city: City,
                                 services: Services, artifacts: Path) -> None:
    seeded = seed_public(services, city)
    context, page, errors = new_page(chromium, viewport={"width": 1200, "height": 900})
    serious: dict[str, list[dict[str, Any]]] = {}
    try:
        page.goto(f"{live.url}/public/{city.code}")
        assert page.locator("html").get_attribute("lang") == "fr"
        assert page.get_by_role("heading", level=1).inner_text() == "En ce moment — Testville"
        # Car parks: free spaces in the territory's locale (narrow no-break space, French).
        p1 = page.locator(f"tr[data-parking='{seeded['parks'][0]}']")
        assert p1.locator("td").nth(0).inner_text() == "1\u202f234 / 400"
        assert "25 %" in p1.inner_text().replace("\u00a0", " ")
        assert "ouvert" in p1.inner_text()
        p2 = page.locator(f"tr[data-parking='{seeded['parks'][1]}']")
        assert p2.locator("td").nth(0).inner_text() == "0 / 300"
        assert "complet" in p2.inner_text()
        # Air: worst level now (o3 135 → poor), worst today (the same), per pollutant.
        assert page.locator("#air-level").inner_text() == "mauvais"
        assert page.locator("#air-today").inner_text() == "mauvais"
        a1 = seeded["stations"][0]
        pm10 = page.locator(f"tr[data-station='{a1}'][data-pollutant='pm10']")
        assert pm10.locator("td[data-value]").inner_text() == "18 µg/m³ — bon"
        assert pm10.locator("td[data-max]").inner_text() == "45 µg/m³ — dégradé"
        no2 = page.locator(f"tr[data-station='{a1}'][data-pollutant='no2']")
        assert no2.locator("td[data-value]").inner_text() == "50 µg/m³ — moyen"
        # Traffic: shares of the four counters.
        assert page.locator("tr[data-traffic='free'] td").nth(1).inner_text() == "50\u00a0%"
        assert page.locator("tr[data-traffic='saturated'] td").nth(0).inner_text() == "1"
        assert page.locator("tr[data-traffic='blocked'] td").nth(1).inner_text() == "25\u00a0%"
        # Incidents: the public one with its place, not the lamp-out one; no personal data.
        items = page.locator("#incident-list li")
        assert items.count() == 1
        text = items.first.inner_text()
        assert "Feux tricolores en panne" in text and "Carrefour S1" in text
        body = page.content()
        assert "Dupont" not in body and "06 12" not in body
        page.wait_for_selector("#pub-map[data-ready='true']", timeout=TIMEOUT)
        shot(page, "now-fr", artifacts)
        serious["now-fr"] = audit(page, "now-fr", artifacts)

        # English.
        page.goto(f"{live.url}/public/{city.code}?lang=en")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("#air-level").inner_text() == "poor"
        assert "Traffic signal fault" in page.locator("#incident-list").inner_text()
        assert page.locator("tr[data-traffic='free'] th").inner_text() == "free-flowing"
        shot(page, "now-en", artifacts)
        serious["now-en"] = audit(page, "now-en", artifacts)

        # Mobile.
        mobile = context.new_page()
        mobile.set_viewport_size({"width": 390, "height": 844})
        mobile.goto(f"{live.url}/public/{city.code}")
        shot(mobile, "now-mobile", artifacts)

        # Unknown territory: a 404 page in the right language.
        r = page.goto(f"{live.url}/public/nowhere?lang=fr")
        assert r is not None and r.status == 404
        assert page.get_by_role("heading", level=1).inner_text() == "Page introuvable"
        r = page.goto(f"{live.url}/public/nowhere?lang=en")
        assert r is not None and r.status == 404
        assert page.get_by_role("heading", level=1).inner_text() == "Page not found"
        serious["404"] = audit(page, "404", artifacts)
    finally:
        context.close()
    assert errors == []
    assert {k: v for k, v in serious.items() if v} == {}

    # The JSON API: public cache for a minute, an ETag, 304 when unchanged.
    status, headers, raw = get(f"{live.url}/public/{city.code}/api/now")
    assert status == 200 and headers["cache-control"] == "public, max-age=60"
    etag = headers["etag"]
    data = orjson.loads(raw)
    assert data["territory"]["code"] == city.code
    park = {p["id"]: p for p in data["parking"]}[seeded["parks"][0]]
    assert (park["available"], park["total"], park["occupancy"]) == (1234, 400, 0.25)
    assert data["air"]["level"] == "poor"
    station = {s["id"]: s for s in data["air"]["stations"]}[seeded["stations"][0]]
    assert station["pollutants"]["pm10"] == {"value": 18.0, "unit": "µg/m³", "level": "good",
                                             "today_max": 45.0, "today_level": "moderate"}
    assert data["traffic"]["states"] == {"free": 2, "pre-saturated": 0, "saturated": 1,
                                         "blocked": 1, "unknown": 0}
    assert data["traffic"]["shares"]["free"] == 0.5
    [incident] = data["incidents"]
    assert incident["id"] == seeded["incident"] and incident["place"] == "Carrefour S1"
    assert "Dupont" not in raw.decode()
    status, _, _ = get(f"{live.url}/public/{city.code}/api/now", {"If-None-Match": etag})
    assert status == 304
    status, _, _ = get(f"{live.url}/public/nowhere/api/now")
    assert status == 404
    # The base map without a session.
    status, _, raw = get(f"{live.url}/public/{city.code}/basemap")
    assert status == 200 and orjson.loads(raw)["type"] == "FeatureCollection"


@pytest.mark.long
def test_public_report_journey(chromium: Any, live: LiveServer, city: City,
                               services: Services, artifacts: Path) -> None:
    context, page, errors = new_page(chromium, viewport={"width": 390, "height": 844},
                                     is_mobile=True, has_touch=True)
    serious: dict[str, list[dict[str, Any]]] = {}
    try:
        page.goto(f"{live.url}/public/{city.code}/report")
        assert page.get_by_role("heading", level=1).inner_text() == "Signaler un problème"
        page.wait_for_selector("#report-map[data-ready='true']", timeout=TIMEOUT)
        shot(page, "report-mobile-390x844", artifacts)
        serious["report"] = audit(page, "report", artifacts)
        # The privacy notice gives the retention and says the email is never published.
        notice = page.locator("#email-help").inner_text()
        assert "365 jours" in notice and "jamais publié" in notice
        # Residents' categories only (no camera or energy categories).
        options = page.locator("#f-category option").all_inner_texts()
        assert "Point lumineux éteint" in options and "Caméra hors service" not in options

        # Sent empty: specific messages, the summary focused.
        page.get_by_role("button", name="Envoyer le signalement").click()
        page.wait_for_selector("#form-alert")
        alert = page.locator("#form-alert").inner_text()
        assert "Choisissez le type de problème." in alert
        assert "Indiquez l'endroit" in alert and "10 caractères" in alert
        assert page.evaluate("document.activeElement.id") == "form-alert"
        serious["report-errors"] = audit(page, "report-errors", artifacts)
        shot(page, "report-errors", artifacts)

        # Fill it: category, a tap on the map, description, email.
        page.get_by_label("Type de problème").select_option("lamp-out")
        page.wait_for_selector("#report-map[data-ready='true']", timeout=TIMEOUT)
        canvas = page.locator("#report-map canvas")
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        canvas.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
        page.wait_for_function("document.getElementById('f-lat').value !== ''")
        assert "Endroit choisi" in page.locator("#location-text").inner_text()
        assert page.locator("#map-keys").is_visible()
        page.evaluate("document.getElementById('f-lat').value = ''")
        canvas.focus()
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("Enter")
        page.wait_for_function("document.getElementById('f-lat').value !== ''")
        page.get_by_label("Description").fill("Le lampadaire devant le numéro 12 est éteint.")
        page.get_by_label(re.compile("^Votre courriel")).fill("habitant@example.org")
        page.wait_for_timeout(public.MIN_FILL_S * 1000 + 200)
        shot(page, "report-filled", artifacts)
        page.get_by_role("button", name="Envoyer le signalement").click()
        page.wait_for_url(re.compile(r"/requests/"), timeout=TIMEOUT)
        request_id = page.locator("#request-id").inner_text()
        assert request_id and request_id in page.url
        assert page.locator("#request-status").inner_text() == "ouvert"
        assert page.locator("#request-category").inner_text() == "Point lumineux éteint"
        assert "habitant@example.org" not in page.content()
        shot(page, "followup-open", artifacts)
        serious["followup"] = audit(page, "followup", artifacts)

        # The operator resolves the incident and publishes a note: closed, with the note.
        admin = services.citizens.get_request(city.code, request_id, admin=True)
        assert isinstance(admin, ServiceRequestAdmin) and admin.incident_id is not None
        incident = services.operations.get_incident(city.code, admin.incident_id, SYSTEM)
        assert (incident.category, incident.source) == ("lamp-out", "resident")
        assert services.citizens.contact_count(city.code) == 1  # the email, kept apart
        services.operations.step(city.code, incident.id, "resolved", SYSTEM)
        services.citizens.publish_note(city.code, request_id, "Lampe remplacée le jour même.",
                                       SYSTEM)
        page.goto(f"{live.url}/public/{city.code}/requests/{request_id}")
        assert page.locator("#request-status").inner_text() == "clos"
        assert page.locator("#request-note").inner_text() == "Lampe remplacée le jour même."
        page.goto(f"{live.url}/public/{city.code}/requests/{request_id}?lang=en")
        assert page.locator("#request-status").inner_text() == "closed"
        assert page.locator("#request-category").inner_text() == "Lamp out"
        shot(page, "followup-closed-en", artifacts)
        serious["followup-en"] = audit(page, "followup-en", artifacts)
        r = page.goto(f"{live.url}/public/{city.code}/requests/999999")
        assert r is not None and r.status == 404
        assert page.get_by_role("heading", level=1).inner_text() == "Page not found"
    finally:
        context.close()
    assert errors == []
    assert {k: v for k, v in serious.items() if v} == {}


def _fill(page: Any, description: str = "Un conteneur déborde sur le trottoir.") -> None:
    page.get_by_label(re.compile("^(Type de problème|Kind of problem)")).select_option(
        "waste-overflow")
    page.get_by_label(re.compile("^(Adresse ou repère|Address or landmark)")).fill(
        "12 rue de Rivoli")
    page.get_by_label("Description").fill(description)


def test_public_report_spam_and_rate_limit(chromium: Any, live: LiveServer, city: City,
                                           services: Services, app: Any,
                                           artifacts: Path) -> None:
    context, page, errors = new_page(chromium, viewport={"width": 1000, "height": 900})
    url = f"{live.url}/public/{city.code}/report"
    send = re.compile("^(Envoyer le signalement|Send the report)$")
    try:
        # Too fast to be a person.
        page.goto(url)
        _fill(page)
        page.get_by_role("button", name=send).click()
        page.wait_for_selector("#form-alert")
        assert "trop vite" in page.locator("#form-alert").inner_text()
        # The honeypot (hidden from people and assistive technologies) filled in by a robot.
        page.goto(url)
        assert page.locator(".pub-hp").get_attribute("aria-hidden") == "true"
        assert not page.locator("#f-website").is_visible() or page.evaluate(
            "document.getElementById('f-website').getBoundingClientRect().right < 0")
        _fill(page)
        page.locator("#f-website").fill("http://spam.example")
        page.wait_for_timeout(public.MIN_FILL_S * 1000 + 200)
        page.get_by_role("button", name=send).click()
        page.wait_for_selector("#form-alert")
        assert "champ caché" in page.locator("#form-alert").inner_text()
        shot(page, "spam-honeypot", artifacts)
        # Too many links, in English.
        page.goto(url + "?lang=en")
        _fill(page, "Buy now http://a.example http://b.example www.c.example")
        page.wait_for_timeout(public.MIN_FILL_S * 1000 + 200)
        page.get_by_role("button", name=send).click()
        page.wait_for_selector("#form-alert")
        assert "too many links" in page.locator("#form-alert").inner_text()
        # The rate limit: this address has used its reports of the hour.
        limit = services.settings.report_rate_per_hour
        for _ in range(limit):
            app.state.public_pages.limiter.hit("127.0.0.1")
        page.goto(url + "?lang=fr")
        _fill(page)
        page.wait_for_timeout(public.MIN_FILL_S * 1000 + 200)
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.get_by_role("button", name=send).click()
        assert answer.value.status == 429
        alert = page.locator("#form-alert").inner_text()
        assert f"Trop de signalements envoyés depuis votre connexion ({limit} par heure" in alert
        # The values typed are kept.
        assert page.locator("#f-address").input_value() == "12 rue de Rivoli"
        shot(page, "rate-limited", artifacts)
        serious = audit(page, "rate-limited", artifacts)
    finally:
        context.close()
    assert errors == []
    assert serious == []
    assert services.citizens.get_requests(city.code) == []


def test_sliding_window_and_air_levels() -> None:
    window = public.SlidingWindow(window_s=10)
    for t in (0.0, 1.0, 2.0):
        assert window.allowed("a", 3, now=t)
        window.hit("a", now=t)
    assert not window.allowed("a", 3, now=5.0)
    assert window.allowed("b", 3, now=5.0)
    assert window.allowed("a", 3, now=10.5)  # the first hit has left the window
    assert [public.air_level("pm10", v) for v in (20, 20.1, 45, 75, 120, 151)] == [
        "good", "fair", "moderate", "poor", "very_poor", "extremely_poor"]
    assert public.air_level("co2", 400) is None
    assert public.fmt_number(1234.5, "fr-FR", 1) == "1\u202f234,5"
    assert public.fmt_number(1234.5, "en-GB", 1) == "1,234.5"


def test_public_pages_without_data_and_refusals(app: Any, territory: str,
                                                services: Services) -> None:
    """A territory with no asset still has its pages; a cross-site post and a form without
    its signed timestamp are refused; unknown territories are 404 pages."""
    from fastapi.testclient import TestClient

    services.operations.ensure_defaults(territory, SYSTEM)
    with TestClient(app) as client:
        r = client.get(f"/public/{territory}?lang=en")
        assert r.status_code == 200
        assert "No car park monitored." in r.text and "No traffic counter." in r.text
        assert "No incident in progress affecting the public." in r.text
        data = client.get(f"/public/{territory}/api/now").json()
        assert (data["parking"], data["air"]["stations"], data["incidents"]) == ([], [], [])
        r = client.get(f"/public/{territory}/report")
        assert r.status_code == 200 and 'name="started"' in r.text
        form = {"category": "lamp-out", "address": "1 place de la Mairie",
                "description": "Le lampadaire est éteint depuis hier soir."}
        r = client.post(f"/public/{territory}/report", data=form,
                        headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
        r = client.post(f"/public/{territory}/report", data=form)
        assert r.status_code == 400 and "This form has expired" in r.text  # lang kept
        r = client.post("/public/nowhere/report", data=form)
        assert r.status_code == 404
        r = client.get("/public/nowhere/requests/2026-000001")
        assert r.status_code == 404 and "Page not found" in r.text
    assert services.citizens.get_requests(territory) == []
