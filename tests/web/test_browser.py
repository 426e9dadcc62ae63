"""End to end, in headless Chromium against a real server: log in, the map with its
territory, filters, an asset with its chart, a command, an alarm acknowledged, an incident
moved through its steps, live updates; an axe-core audit of every main screen (no serious or
critical violation) and a screenshot of each (test-artifacts/web/)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from beffroi.api.deps import Services
from beffroi.auth.models import SYSTEM
from beffroi.commands.device_sim import DeviceOptions, DeviceSimulator
from tests.web.browser import (
    TIMEOUT,
    audit,
    login,
    scatter_lamps,
    shot,
    user,
    watched_page,
)
from tests.web.conftest import PASSWORD, City, LiveServer, feed


@pytest.mark.long
def test_control_room_journey(chromium: Any, live: LiveServer, city: City, services: Services,
                              artifacts: Path) -> None:
    context, page, errors = watched_page(chromium)
    serious: dict[str, list[dict[str, Any]]] = {}
    try:
        # Log-in page, then the map of the territory.
        page.goto(live.url + "/login")
        shot(page, "1-login", artifacts)
        serious["login"] = audit(page, "login", artifacts)
        login(page, live, city.users["operator"], f"/t/{city.code}/map")
        page.wait_for_selector("#map[data-ready='true']", timeout=TIMEOUT)
        assert page.locator("#map").get_attribute("data-total") == str(len(city.lamps) + 2)
        assert page.locator("[data-count='alarm']").inner_text() == "1"
        assert page.locator("[data-count='fault']").inner_text() == "5"
        # The districts arrive with the base map, on their own request.
        page.wait_for_function("document.querySelectorAll('#f-area option').length > 1",
                               timeout=TIMEOUT)
        assert page.locator("#f-area option").count() == 21  # "all" + 20 arrondissements
        shot(page, "2-map", artifacts)
        serious["map"] = audit(page, "map", artifacts)

        # Filters: the traffic signal only, then the state "alarm".
        with page.expect_response(lambda r: "map/clusters" in r.url and "type=" in r.url):
            page.get_by_label("Type d'équipement").select_option("TrafficSignal")
        page.wait_for_function("document.querySelector('#map').dataset.total === '1'")
        page.get_by_label("Type d'équipement").select_option("")
        with page.expect_response(lambda r: "state=alarm" in r.url):
            page.get_by_label("État", exact=True).select_option("alarm")
        page.wait_for_function("document.querySelector('#map').dataset.total === '1'")
        shot(page, "3-map-filtered", artifacts)

        # Open the asset in alarm from the list of assets in view.
        page.locator("#asset-list a").first.click()
        page.wait_for_url(re.compile(r"/assets/"), timeout=TIMEOUT)
        assert city.hot_lamp in page.url
        page.wait_for_selector("figure[data-metric='activePower'][data-points]",
                               timeout=TIMEOUT)
        page.wait_for_selector("#live-rows tr[data-metric='activePower']", timeout=TIMEOUT)
        page.wait_for_selector("#asset-alarms li[data-alarm]", timeout=TIMEOUT)
        assert page.locator("#asset-alarms li[data-alarm]").count() == 1
        assert page.locator("#asset-state").inner_text() == "En alarme"
        assert page.locator("figure[data-metric='activePower'] canvas").count() == 1
        # A year of daily rollups.
        with page.expect_request(lambda r: "/series/activePower/history?resolution=day" in r.url
                                 ) as asked:
            page.get_by_label("1 an (par jour)").check()
        query = dict(p.split("=") for p in asked.value.url.split("?")[1].split("&"))
        assert int(query["to"]) - int(query["from"]) == 366 * 86_400_000
        page.wait_for_selector("#charts[data-loaded='true'] figure[data-metric='activePower']"
                               "[data-points] canvas", timeout=TIMEOUT)

        # Send a command (dim to 40 %): the operator of the lighting post may. A simulated
        # lamp on the real broker applies it; its acknowledgement shows without a reload.
        device = DeviceSimulator(city.code, [city.hot_lamp], DeviceOptions())
        device.start()
        try:
            assert device.subscribed.wait(10), "the simulated lamp did not subscribe"
            form = page.locator("form[data-command='dim']")
            assert form.locator("h3").inner_text() == "Gradation"
            form.get_by_label("Niveau").fill("40")
            form.get_by_role("button").click()
            page.wait_for_selector("#recent-commands li[data-command-id]", timeout=TIMEOUT)
            sent = services.commands.list_commands(city.code, urn=city.hot_lamp)[0]
            assert [(c.command, c.params) for c in sent] == [("dim", {"level": 40})]
            done = page.locator("#recent-commands li[data-state='acknowledged']")
            done.wait_for(timeout=TIMEOUT)
            assert "appliquée par l'équipement" in done.inner_text()
        finally:
            device.stop()
        shot(page, "4-asset", artifacts)
        serious["asset"] = audit(page, "asset", artifacts)

        # Alarms: acknowledge it.
        page.get_by_role("link", name=re.compile("^Alarmes")).click()
        row = page.locator("#alarm-rows tr[data-alarm]")
        row.first.wait_for(timeout=TIMEOUT)
        assert row.count() == 1
        shot(page, "5-alarms", artifacts)
        serious["alarms"] = audit(page, "alarms", artifacts)
        page.get_by_role("button", name=re.compile("^Acquitter")).click()
        page.wait_for_selector("#alarm-rows tr[data-state='acknowledged']", timeout=TIMEOUT)
        [alarm] = services.rules.list_alarms(city.code)["items"]
        assert alarm["state"] == "acknowledged"
        assert alarm["acknowledged_by"] == f"user:{city.users['operator']}"

        # Live: a new alarm appears without reloading the page.
        feed(services, [(city.lamps[5], "activePower", services.clock() - 1000, 150.0)])
        page.wait_for_selector("#alarm-rows tr[data-state='raised']", timeout=TIMEOUT)

        # Incident board: open the incident, assign, comment, move it through its steps.
        page.get_by_role("link", name="Incidents").click()
        card = page.locator("li.card[data-state='reported']")
        card.first.wait_for(timeout=TIMEOUT)
        assert page.locator("li.card .sla").first.inner_text().startswith("Pris en compte")
        shot(page, "6-incidents", artifacts)
        serious["incidents"] = audit(page, "incidents", artifacts)
        card.first.get_by_role("button").click()
        dialog = page.locator("#incident-dialog")
        dialog.wait_for(state="visible")
        assert dialog.locator(f"a[href$='{city.hot_lamp}']").count() == 1
        dialog.get_by_label("Nom").fill("Équipe Nord")
        dialog.get_by_role("button", name="Affecter").click()
        page.wait_for_selector("li.card:has-text('Équipe Nord')", timeout=TIMEOUT)
        dialog.get_by_label("Commentaire").fill("Lanterne à remplacer")
        dialog.get_by_role("button", name="Commenter").click()
        page.wait_for_selector("#comment-list li:has-text('Lanterne à remplacer')",
                               timeout=TIMEOUT)
        for step in ("acknowledged", "dispatched", "on_site", "resolved"):
            dialog.locator(f"button[data-step='{step}']").click()
            page.wait_for_selector(f"#detail-state[data-state='{step}']", timeout=TIMEOUT)
            if step == "on_site":
                shot(page, "7-incident-detail", artifacts)
                serious["incident-detail"] = audit(page, "incident-detail", artifacts)
        dialog.get_by_role("button", name="Fermer").click()
        page.wait_for_selector("ul[data-column='resolved'] li.card", timeout=TIMEOUT)
        incidents = services.operations.list_incidents(city.code, SYSTEM).items
        resolved = [i for i in incidents if i.state == "resolved"]
        assert len(resolved) == 1 and resolved[0].assignee == "Équipe Nord"
    finally:
        context.close()
    assert {k: v for k, v in serious.items() if v} == {}
    assert errors == []


def test_english_viewer_sees_no_actions(chromium: Any, live: LiveServer, city: City,
                                        artifacts: Path) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    page = context.new_page()
    try:
        page.goto(live.url + "/login?lang=en")
        page.get_by_label("Username").fill(city.users["viewer"])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/map$"), timeout=TIMEOUT)
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.get_by_role("link", name="Alarms").is_visible()
        page.get_by_role("link", name=re.compile("^Alarms")).click()
        page.locator("#alarm-rows tr[data-alarm]").first.wait_for(timeout=TIMEOUT)
        assert page.locator("#alarm-rows button").count() == 0  # a viewer reads only
        page.goto(f"{live.url}/t/{city.code}/assets/{city.hot_lamp}")
        page.wait_for_selector("#commands p", timeout=TIMEOUT)
        assert "No command" in page.locator("#commands").inner_text()
        shot(page, "asset-viewer-en", artifacts)
        assert audit(page, "asset-viewer-en", artifacts) == []
    finally:
        context.close()


def test_map_clusters_many_assets(chromium: Any, app: Any, services: Services, territory: str,
                                  artifacts: Path) -> None:
    """5,000 lamps: the map shows clusters (never every asset), a click on a cluster zooms in
    and the keyboard zooms too."""
    from beffroi.auth.models import Role

    scatter_lamps(services, territory, 5000, "M", seed=3)
    user(services, territory, "chief", Role.SUPERVISOR)
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="fr-FR")
    page = context.new_page()
    try:
        with LiveServer(app) as live:
            login(page, live, "chief", f"/t/{territory}/map")
            page.wait_for_selector("#map[data-ready='true']", timeout=TIMEOUT)
            assert page.locator("#map").get_attribute("data-kind") == "clusters"
            clusters = page.evaluate("window.__beffroiMap.lastFeatures")
            assert 5 < clusters < 400
            assert page.locator("#asset-list li").count() == 0  # "zoom in to list"
            shot(page, "map-clusters", artifacts)
            assert audit(page, "map-clusters", artifacts) == []
            zoom = page.evaluate("window.__beffroiMapInstance.getZoom()")
            # A click on a cluster zooms in on it.
            x, y = page.evaluate("""() => {
                const m = window.__beffroiMapInstance;
                const f = m.queryRenderedFeatures({layers: ['clusters']})[0];
                const p = m.project(f.geometry.coordinates);
                const r = m.getCanvas().getBoundingClientRect();
                return [r.left + p.x, r.top + p.y];
            }""")
            page.mouse.click(x, y)
            page.wait_for_function(f"window.__beffroiMapInstance.getZoom() > {zoom + 1.5}",
                                   timeout=TIMEOUT)
            # The keyboard: focus the map, '-' zooms out.
            page.locator("canvas.maplibregl-canvas").focus()
            before = page.evaluate("window.__beffroiMapInstance.getZoom()")
            page.keyboard.press("-")
            page.wait_for_function(f"window.__beffroiMapInstance.getZoom() < {before - 0.5}",
                                   timeout=TIMEOUT)
    finally:
        context.close()
