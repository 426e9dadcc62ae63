"""The indicators screen in headless Chromium: values with their targets and trends, the
explanation of a value, the contract's report; French by default, English on request; an
axe-core audit of each (no serious or critical violation) and screenshots."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from beffroi.api.deps import Services
from beffroi.auth.models import SYSTEM
from beffroi.indicators.definitions import parse_yaml
from tests.web.conftest import City, LiveServer
from tests.web.test_browser import TIMEOUT, audit, login, shot

KPIS = """
indicators:
  - id: lamp-power
    name: {fr: "Puissance moyenne des lampes", en: "Mean lamp power"}
    source: "Lamp nodes"
    unit: W
    period: day
    series: {types: [Streetlight], metric: activePower}
    aggregate: mean
    target: "<= 45"
  - id: lamps-out
    name: {fr: "Lampes en panne", en: "Lamps out"}
    unit: lamps
    period: day
    series: {types: [Streetlight], metric: status}
    aggregate: share_of_time_in_state
    params: {states: [defectiveLamp], result: hours}
"""
CONTRACT = """contract:
  id: perf
  title: "Marché de performance"
  parties: [Ville, Titulaire]
  start: "2026-01-01"
  years: 12
  clauses:
    - {ref: "art. 1", indicator: lamp-power, comparator: "<=", targets: {"1-12": 45},
       penalty: {per_unit: 100, step: 1}}
"""


@pytest.mark.long
def test_indicators_screen(chromium: Any, live: LiveServer, city: City, services: Services,
                           artifacts: Path) -> None:
    ind = services.indicators
    ind.load(city.code, parse_yaml(KPIS, "kpis.yaml"), origin="file", actor=SYSTEM.actor)
    ind.define_contract(city.code, None, SYSTEM.actor, text=CONTRACT)
    today = ind.windows(city.code, "day")[0]
    local = datetime.fromtimestamp(today.start_ms / 1000, ZoneInfo("Europe/Paris")).date()
    windows = ind.windows(city.code, "day", first=local - timedelta(days=3), last=local)
    values = ind.compute(city.code, windows)
    power = [v for v in values if v.code == "lamp-power" and v.value is not None]
    assert power, "the city's lamps reported power in the last days"

    context = chromium.new_context(viewport={"width": 1300, "height": 900}, locale="fr-FR")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        login(page, live, city.users["viewer"], f"/t/{city.code}/indicators")
        page.wait_for_selector("#kpi-table", timeout=TIMEOUT)
        row = page.locator("tr[data-indicator='lamp-power']")
        assert "Puissance moyenne des lampes" in row.inner_text()
        last = power[-1]
        assert last.window.label in row.inner_text()
        assert ("non atteint" if last.met is False else "atteint") in row.inner_text()
        assert row.locator("svg.spark").count() == 1  # 4 days: a trend line
        assert page.get_by_role("link", name="Rapport de l'année 1 (HTML)").count() == 1
        shot(page, "indicators", artifacts)
        assert audit(page, "indicators", artifacts) == []

        row.get_by_role("link").click()
        page.wait_for_selector("#explanation", timeout=TIMEOUT)
        text = page.locator("#explanation").inner_text()
        assert "Puissance moyenne des lampes (jour" in text and "Moyenne des" in text
        assert last.version[:12] in text
        shot(page, "indicator-explained", artifacts)
        assert audit(page, "indicator-explained", artifacts) == []

        page.goto(live.url + f"/t/{city.code}/indicators?lang=en")
        page.wait_for_selector("#kpi-table", timeout=TIMEOUT)
        assert "Mean lamp power" in page.locator("#kpi-table").inner_text()
        page.get_by_role("link", name="Year 1 report (HTML)").click()
        page.wait_for_selector("table", timeout=TIMEOUT)
        assert "Marché de performance" in page.content()
        shot(page, "contract-report", artifacts)
        assert audit(page, "contract-report", artifacts) == []
    finally:
        context.close()
    assert errors == []
