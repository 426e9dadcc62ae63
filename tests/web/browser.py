"""Helpers of the browser tests: log in, screenshots, the axe-core audit, and a territory
filled for the map (lamps scattered over Paris, a user with a role)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from beffroi.api.deps import Services
from beffroi.assets import repository as repo
from beffroi.assets.service import point_asset_row
from beffroi.auth.models import SYSTEM, GrantIn, Role, UserIn
from tests.web.conftest import PASSWORD, LiveServer

AXE = Path(__file__).resolve().parents[2] / "src/beffroi/web/static/vendor/axe-core/axe.min.js"
TIMEOUT = 30_000


def audit(page: Any, name: str, artifacts: Path) -> list[dict[str, Any]]:
    """Run axe-core in the page; return the serious and critical violations (saved too)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")
    (artifacts / f"axe-{name}.json").write_text(json.dumps(result, indent=1))
    return [v for v in result if v["impact"] in ("serious", "critical")]


def watched_page(chromium: Any, width: int = 1400, height: int = 900, locale: str = "fr-FR"
                 ) -> tuple[Any, Any, list[str]]:
    """A browser context and its page, with the page's script errors and the HTTP answers of
    400 and above collected in the list returned (a journey ends by checking it is empty)."""
    context = chromium.new_context(viewport={"width": width, "height": height}, locale=locale)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 else None)
    return context, page, errors


def shot(page: Any, name: str, artifacts: Path) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def login(page: Any, live: LiveServer, username: str, target: str) -> None:
    page.goto(live.url + target)
    assert "/login" in page.url  # pages need a session
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(re.compile(re.escape(target) + r"$"), timeout=TIMEOUT)


def scatter_lamps(services: Services, territory: str, n: int, prefix: str, seed: int) -> None:
    """``n`` lamps at random over central Paris (the shipped base map's districts)."""
    rnd = random.Random(seed)
    tid = services.registry.territory_id(territory)
    with services.store.write() as conn:
        repo.upsert_assets(conn, tid, [point_asset_row(
            f"urn:ngsi-ld:Streetlight:{territory}:{prefix}{i}", "Streetlight",
            2.25 + rnd.random() * 0.17, 48.815 + rnd.random() * 0.085) for i in range(n)],
            services.clock())


def user(services: Services, territory: str, name: str, role: Role) -> None:
    """A user of the territory with that role (password ``PASSWORD``)."""
    services.auth.create_user(UserIn(username=name, password=PASSWORD), SYSTEM)
    services.auth.set_grant(territory, name, GrantIn(role=role), SYSTEM)
