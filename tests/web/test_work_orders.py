"""Work-order screens: the work-orders page (no browser: sessions, roles, languages), and end
to end in headless Chromium: a work order created in the incident dialog, moved through a step,
refused without its closure note, seen on the work-orders page (filters, live refresh, link
back to its incident); axe-core on both screens, screenshots in test-artifacts/web/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from beffroi.api.deps import Services
from beffroi.auth.models import SYSTEM
from tests.web.browser import TIMEOUT, audit, login, shot, watched_page
from tests.web.conftest import PASSWORD, City, LiveServer

PAGE = "/t/testville/work-orders"


def sign_in(c: TestClient, username: str) -> None:
    r = c.post("/login", data={"username": username, "password": PASSWORD},
               follow_redirects=False)
    assert r.status_code == 303, r.text


def test_work_orders_page(app: FastAPI, anonymous: TestClient, city: City) -> None:
    r = anonymous.get(PAGE, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next={PAGE}"
    for role in ("viewer", "field_agent", "operator"):
        with TestClient(app) as c:
            sign_in(c, city.users[role])
            r = c.get(PAGE)
            assert r.status_code == 200, role
            assert '<html lang="fr">' in r.text
            assert "<h1" in r.text and "Bons de travaux" in r.text
            assert '<label for="w-post">' in r.text and '<label for="w-state">' in r.text
            assert "/static/js/work_orders.js" in r.text
            assert f'href="{PAGE}" aria-current="page"' in r.text
            # The navigation of the other pages leads here too.
            assert f'href="{PAGE}"' in c.get("/t/testville/incidents").text
    with TestClient(app) as c:
        sign_in(c, city.users["viewer"])
        r = c.get(PAGE + "?lang=en")
        assert r.status_code == 200
        assert '<html lang="en">' in r.text
        assert "Work orders" in r.text and "Bons de travaux" not in r.text
        assert "Unfinished" in r.text
        assert c.get("/t/elsewhere/work-orders").status_code == 403


@pytest.mark.long
def test_work_order_journey(chromium: Any, live: LiveServer, city: City, services: Services,
                            artifacts: Path) -> None:
    context, page, errors = watched_page(chromium)
    serious: dict[str, list[dict[str, Any]]] = {}
    try:
        login(page, live, city.users["operator"], f"/t/{city.code}/incidents")
        card = page.locator("li.card[data-state='reported']")
        card.first.wait_for(timeout=TIMEOUT)
        incident_id = int(card.first.get_attribute("data-incident") or 0)
        card.first.get_by_role("button").click()
        dialog = page.locator("#incident-dialog")
        dialog.wait_for(state="visible")
        section = dialog.locator("#work-orders")
        assert "Aucun bon de travaux" in section.inner_text()

        # Create a work order for a contractor: it dispatches the incident.
        section.get_by_label("Intitulé du bon").fill("Remplacer la lanterne")
        section.get_by_label("Travaux à effectuer").fill("Nacelle nécessaire")
        section.get_by_label("Confié à (type)").select_option("contractor")
        section.get_by_label("Équipe ou prestataire").fill("Citelum")
        section.get_by_role("button", name="Créer le bon").click()
        item = section.locator("li[data-work-order]")
        item.first.wait_for(timeout=TIMEOUT)
        page.wait_for_selector("#detail-state[data-state='dispatched']", timeout=TIMEOUT)
        wo_id = int(item.first.get_attribute("data-work-order") or 0)
        assert item.first.get_attribute("data-state") == "open"
        assert "Émis" in item.first.inner_text() and "Citelum" in item.first.inner_text()
        # The keyboard is on the new work order; the form starts afresh.
        page.wait_for_function(f"document.activeElement.id === 'wo-{wo_id}-title'",
                               timeout=TIMEOUT)
        assert section.get_by_label("Intitulé du bon").input_value() == ""
        # Only the next steps are offered.
        steps = item.first.locator("button[data-wo-step]")
        assert [steps.nth(i).get_attribute("data-wo-step") for i in range(steps.count())] == [
            "accepted", "on_site", "done", "cancelled"]

        # Accepted.
        item.first.locator("button[data-wo-step='accepted']").click()
        page.wait_for_selector(f"li[data-work-order='{wo_id}'][data-state='accepted']",
                               timeout=TIMEOUT)
        assert item.first.locator("button[data-wo-step='accepted']").count() == 0
        page.wait_for_function("document.activeElement.dataset.woStep === 'on_site'",
                               timeout=TIMEOUT)

        # Done without a closure note: refused before asking the API (which would refuse it
        # too), the note field says why, in French.
        sent: list[str] = []
        page.on("request", lambda r: sent.append(r.url) if "/steps" in r.url else None)
        item.first.locator("button[data-wo-step='done']").click()
        note = page.locator(f"#wo-note-{wo_id}")
        page.wait_for_selector(f"#wo-note-{wo_id}-error", timeout=TIMEOUT)
        assert note.get_attribute("aria-invalid") == "true"
        assert f"wo-note-{wo_id}-error" in (note.get_attribute("aria-describedby") or "")
        said = page.locator(f"#wo-note-{wo_id}-error").inner_text()
        assert "compte rendu est obligatoire" in said
        assert "compte rendu est obligatoire" in page.locator("#toasts").inner_text()
        assert sent == []
        shot(page, "1-incident-work-order", artifacts)
        serious["incident-work-order"] = audit(page, "incident-work-order", artifacts)
        dialog.get_by_role("button", name="Fermer").click()
        # The keyboard is back on the incident's card (redrawn in its new column).
        page.wait_for_function("document.activeElement.closest('li.card')?.dataset.incident"
                               f" === '{incident_id}'", timeout=TIMEOUT)

        # The work-orders page, from the navigation.
        page.get_by_role("link", name="Bons de travaux").click()
        page.wait_for_url(re.compile(r"/work-orders$"), timeout=TIMEOUT)
        row = page.locator(f"#wo-rows tr[data-work-order='{wo_id}']")
        row.wait_for(timeout=TIMEOUT)
        assert row.get_attribute("data-state") == "accepted"
        assert "Accepté" in row.inner_text() and "Remplacer la lanterne" in row.inner_text()
        link = row.get_by_role("link")
        assert link.get_attribute("href") == (
            f"/t/{city.code}/incidents?incident={incident_id}")
        assert link.inner_text().startswith(f"#{incident_id} ")
        shot(page, "2-work-orders", artifacts)
        serious["work-orders"] = audit(page, "work-orders", artifacts)
        # Filters: another post hides it, its state shows it.
        page.get_by_label("Poste").select_option("traffic")
        page.wait_for_selector("#wo-rows tr:not([data-work-order])", timeout=TIMEOUT)
        page.get_by_label("Poste").select_option("lighting")
        page.get_by_label("État").select_option("accepted")
        row.wait_for(timeout=TIMEOUT)
        page.get_by_label("État").select_option("done")
        page.wait_for_selector("#wo-rows tr:not([data-work-order])", timeout=TIMEOUT)
        page.get_by_label("État").select_option("")
        row.wait_for(timeout=TIMEOUT)

        # Live: the contractor arrives on site (the incident moves, the stream tells).
        services.operations.work_order_step(city.code, wo_id, "on_site", SYSTEM)
        page.wait_for_selector(f"#wo-rows tr[data-work-order='{wo_id}'][data-state='on_site']",
                               timeout=TIMEOUT)
        shot(page, "3-work-orders-live", artifacts)

        # Back to its incident: the board opens it.
        row.get_by_role("link").click()
        page.wait_for_url(re.compile(r"/incidents\?incident=\d+$"), timeout=TIMEOUT)
        dialog.wait_for(state="visible", timeout=TIMEOUT)
        page.wait_for_selector(f"#incident-detail li[data-work-order='{wo_id}']"
                               "[data-state='on_site']", timeout=TIMEOUT)
        assert page.locator("#detail-state").get_attribute("data-state") == "on_site"
        page.get_by_label("Note (compte rendu, obligatoire pour terminer)").fill(
            "Lanterne remplacée")
        page.locator(f"#wo-{wo_id} button[data-wo-step='done']").click()
        page.wait_for_selector(f"li[data-work-order='{wo_id}'][data-state='done']",
                               timeout=TIMEOUT)
        assert "Lanterne remplacée" in page.locator(f"#wo-{wo_id}").inner_text()
        assert page.locator(f"#wo-{wo_id} button").count() == 0
        shot(page, "4-incident-from-link", artifacts)
        page.keyboard.press("Escape")
        dialog.wait_for(state="hidden", timeout=TIMEOUT)
        page.wait_for_function("!location.search.includes('incident=')", timeout=TIMEOUT)
    finally:
        context.close()
    wo = services.operations.get_work_order(city.code, wo_id, SYSTEM)
    assert (wo.state, wo.assignee, wo.closure_note) == ("done", "Citelum", "Lanterne remplacée")
    assert {k: v for k, v in serious.items() if v} == {}
    assert errors == []
