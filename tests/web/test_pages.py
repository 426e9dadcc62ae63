"""Pages without a browser: sessions and redirects, roles, languages, static files, the live
stream (both engines)."""

from __future__ import annotations

import gzip

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request

from beffroi.api.deps import Services
from beffroi.web import app as web
from beffroi.web import i18n, live
from tests.web.conftest import PASSWORD, City, feed

PAGES = ("/t/testville/map", "/t/testville/alarms", "/t/testville/incidents")


def login(c: TestClient, username: str, **extra: str) -> None:
    r = c.post("/login", data={"username": username, "password": PASSWORD, **extra},
               follow_redirects=False)
    assert r.status_code == 303, r.text


def test_pages_need_a_session(anonymous: TestClient, city: City) -> None:
    for page in (*PAGES, f"/t/testville/assets/{city.hot_lamp}", "/"):
        r = anonymous.get(page, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/login")
    r = anonymous.get("/t/testville/alarms", follow_redirects=False)
    assert r.headers["location"] == "/login?next=/t/testville/alarms"
    assert anonymous.get("/t/testville/events").status_code == 401
    assert anonymous.get("/t/testville/counts").status_code == 401


def test_login_then_every_page(app: FastAPI, city: City) -> None:
    with TestClient(app) as c:
        r = c.post("/login", data={"username": "operator", "password": "wrong-password"})
        assert r.status_code == 401
        assert "Identifiant ou mot de passe incorrect" in r.text
        r = c.post("/login", data={"username": "operator", "password": PASSWORD,
                                   "next": "/t/testville/alarms"}, follow_redirects=False)
        assert r.headers["location"] == "/t/testville/alarms"
        assert "beffroi_session" in r.headers["set-cookie"]
        assert "HttpOnly" in r.headers["set-cookie"]
        for page in (*PAGES, f"/t/testville/assets/{city.hot_lamp}"):
            r = c.get(page)
            assert r.status_code == 200, page
            assert '<html lang="fr">' in r.text
            assert r.headers["x-frame-options"] == "DENY"
        # The JSON API takes the same session.
        alarms = c.get("/api/v1/territories/testville/alarms", params={"state": "open"})
        assert alarms.status_code == 200
        # the header's badge: the open alarms, counted by the server
        assert c.get("/t/testville/counts").json()["alarms"] == len(alarms.json()["items"]) > 0
        assert c.get("/t/elsewhere/counts").status_code in (403, 404)
        assert c.get("/", follow_redirects=False).headers["location"] == "/t/testville/map"
        r = c.post("/logout", follow_redirects=False)
        assert r.status_code == 303
        assert c.get(PAGES[0], follow_redirects=False).status_code == 303


def test_open_redirects_and_cross_site_posts_refused(app: FastAPI, city: City) -> None:
    with TestClient(app) as c:
        r = c.post("/login", data={"username": "operator", "password": PASSWORD,
                                   "next": "//evil.example/"}, follow_redirects=False)
        assert r.headers["location"] == "/t/testville/map"
        r = c.post("/login", data={"username": "operator", "password": PASSWORD},
                   headers={"Origin": "https://evil.example"})
        assert r.status_code == 403


def test_other_territory_and_unknown_asset(app: FastAPI, city: City, services: Services
                                           ) -> None:
    from beffroi.assets.models import TerritoryIn

    services.registry.create_territory(TerritoryIn(code="elsewhere", name="Elsewhere"))
    with TestClient(app) as c:
        login(c, "viewer")
        r = c.get("/t/elsewhere/map")
        assert r.status_code == 403
        assert "Vous n'avez pas de rôle dans ce territoire" in r.text
        assert "text/html" in r.headers["content-type"]
        r = c.get("/t/testville/assets/urn:ngsi-ld:Streetlight:testville:NOPE")
        assert r.status_code == 404 and "Introuvable" in r.text
        # The switcher lists only the territories the user holds a role in.
        page = c.get("/t/testville/map").text
        assert 'value="testville"' in page and 'value="elsewhere"' not in page


def test_role_aware_pages(app: FastAPI, city: City) -> None:
    with TestClient(app) as c:
        login(c, "viewer")
        assert '"can_handle":false' in c.get("/t/testville/alarms").text
        assert 'id="new-incident"' not in c.get("/t/testville/incidents").text
    with TestClient(app) as c:
        login(c, "operator")
        page = c.get("/t/testville/alarms").text
        assert '"can_handle":true' in page and '"posts":["lighting","traffic"]' in page
        assert 'id="new-incident"' in c.get("/t/testville/incidents").text


def test_languages(app: FastAPI, city: City) -> None:
    with TestClient(app) as c:
        login(c, "viewer")
        r = c.get("/t/testville/map", params={"lang": "en"})
        assert '<html lang="en">' in r.text and "Territory map" in r.text
        assert "beffroi_lang=en" in r.headers["set-cookie"]
        assert '<html lang="en">' in c.get("/t/testville/alarms").text  # remembered
        c.cookies.delete("beffroi_lang")
        r = c.get("/t/testville/alarms", headers={"Accept-Language": "en-GB,en;q=0.8"})
        assert '<html lang="en">' in r.text
        r = c.get("/t/testville/alarms", headers={"Accept-Language": "de, fr;q=0.5"})
        assert '<html lang="fr">' in r.text


@pytest.mark.parametrize(("query", "cookie", "header", "expected"), [
    ("", None, None, "fr"),
    ("lang=en", None, None, "en"),
    ("lang=xx", "en", None, "en"),
    ("", None, "en-US,en;q=0.9,fr;q=0.8", "en"),
    ("", None, "fr;q=0.4, en;q=0.9", "en"),
    ("", None, "de-DE", "fr"),
    ("", "fr", "en", "fr"),
])
def test_language_resolution(query: str, cookie: str | None, header: str | None,
                             expected: str) -> None:
    headers = []
    if cookie:
        headers.append((b"cookie", f"beffroi_lang={cookie}".encode()))
    if header:
        headers.append((b"accept-language", header.encode()))
    request = Request({"type": "http", "query_string": query.encode(), "headers": headers})
    assert i18n.resolve_lang(request)[0] == expected


def test_catalogue_complete() -> None:
    for key, entry in i18n.MESSAGES.items():
        assert set(entry) == set(i18n.LANGS), key
    assert i18n.t("alarms.acked", "en", id=3) == "Alarm 3 acknowledged."
    assert i18n.format_ms(1_767_225_600_000, "Europe/Paris", "fr") == "01/01/2026 01:00"


def test_every_domain_type_command_and_state_has_its_names() -> None:
    """The API speaks codes; the screens name each one in both languages (a type, command or
    parameter added later without its names fails here)."""
    from beffroi.assets.types import ASSET_TYPES, DOMAINS
    from beffroi.commands.catalogue import CATALOGUE
    from beffroi.commands.models import State

    keys = [f"domain.{d}" for d in DOMAINS]
    keys += [k for ty in ASSET_TYPES for k in (f"type.{ty}", f"type.{ty}.about")]
    keys += [f"cmdstate.{s.value}" for s in State]
    for specs in CATALOGUE.values():
        for name, spec in specs.items():
            keys += [f"cmd.{name}", f"cmd.{name}.about"]
            for param in spec.params.model_fields:
                keys += [f"cmd.{name}.{param}", f"cmd.{name}.{param}.help"]
    missing = [k for k in keys if k not in i18n.MESSAGES]
    assert missing == []


def test_static_files_compressed_and_cached(anonymous: TestClient) -> None:
    r = anonymous.get("/static/vendor/maplibre-gl/maplibre-gl.js",
                      headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["content-type"].startswith("text/javascript")
    etag = r.headers["etag"]
    again = anonymous.get("/static/vendor/maplibre-gl/maplibre-gl.js",
                          headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert anonymous.get("/static/../app.py").status_code == 404
    assert anonymous.get("/static/nope.js").status_code == 404
    raw = anonymous.get("/static/js/common.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert gzip.compress(raw.content)  # plain text served as is


def test_live_stream_tells_alarm_changes(monkeypatch: pytest.MonkeyPatch, app: FastAPI,
                                         city: City, services: Services) -> None:
    monkeypatch.setattr(live, "POLL_S", 0.05)
    monkeypatch.setattr(web, "STREAM_MAX_S", 1.5)
    with TestClient(app) as c:
        login(c, "viewer")
        feed(services, [(city.lamps[7], "activePower", services.clock() - 1000, 170.0)])
        with c.stream("GET", "/t/testville/events") as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            text, fed = "", False
            for chunk in r.iter_text():  # the stream ends after STREAM_MAX_S
                text += chunk
                if "event: hello" in text and not fed:
                    fed = True
                    feed(services, [(city.lamps[8], "activePower",
                                     services.clock() - 1000, 170.0)])
        assert "event: hello" in text
        assert "event: alarms" in text and "event: states" in text


def test_page_data_cannot_close_its_script(app: FastAPI, city: City, services: Services
                                           ) -> None:
    from beffroi.auth.models import SYSTEM
    from beffroi.operations.models import CategoryIn

    services.operations.set_category("testville", "odd", CategoryIn(
        title_fr="</script><script>alert(1)</script>", title_en="odd", post="lighting"),
        SYSTEM)
    with TestClient(app) as c:
        login(c, "supervisor")
        page = c.get("/t/testville/incidents").text
        assert "<script>alert(1)" not in page
        assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)" in page
