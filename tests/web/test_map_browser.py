"""The map's labels in headless Chromium: district names and cluster counts drawn with the
glyphs shipped in static/vendor/glyphs (no network), readable, and the page still passes the
axe-core audit."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageChops

from beffroi.api.deps import Services
from beffroi.auth.models import Role
from tests.web.browser import TIMEOUT, audit, login, scatter_lamps, shot, user
from tests.web.conftest import LiveServer

LABEL_LAYERS = ("district-labels", "cluster-counts")


def _map_image(page: Any) -> Image.Image:
    return Image.open(io.BytesIO(page.locator("#map canvas").screenshot())).convert("RGB")


def _labels_visible(page: Any, visible: bool) -> None:
    page.evaluate("""([layers, visible]) => new Promise((resolve) => {
        const m = window.__beffroiMapInstance;
        for (const id of layers)
            m.setLayoutProperty(id, 'visibility', visible ? 'visible' : 'none');
        m.once('idle', resolve);
        m.triggerRepaint();
    })""", [list(LABEL_LAYERS), visible])


def test_map_labels(chromium: Any, app: Any, services: Services, territory: str,
                    artifacts: Path) -> None:
    scatter_lamps(services, territory, 3000, "N", seed=5)
    user(services, territory, "watch", Role.VIEWER)
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="fr-FR")
    page = context.new_page()
    glyphs: list[tuple[int, str]] = []
    page.on("response", lambda r: glyphs.append((r.status, r.url)) if ".pbf" in r.url else None)
    try:
        with LiveServer(app) as live:
            login(page, live, "watch", f"/t/{territory}/map")
            page.wait_for_selector("#map[data-ready='true']", timeout=TIMEOUT)
            assert page.locator("#map").get_attribute("data-kind") == "clusters"
            # The labels come just after the first drawing of the map.
            page.wait_for_selector("#map[data-labels='true']", state="attached",
                                   timeout=TIMEOUT)
            assert glyphs and all(status == 200 for status, _url in glyphs), glyphs
            assert all("/static/vendor/glyphs/" in url for _status, url in glyphs)
            placed = page.evaluate("""(layers) => {
                const m = window.__beffroiMapInstance;
                const out = {};
                for (const id of layers)
                    out[id] = m.queryRenderedFeatures({layers: [id]}).map(
                        (f) => f.properties.name || f.properties.count);
                out.clusters = m.queryRenderedFeatures({layers: ['clusters']}).length;
                return out;
            }""", list(LABEL_LAYERS))
            # Symbols are placed only once their glyphs are loaded: names and counts are
            # there.
            names = [n for n in placed["district-labels"] if str(n).startswith("Paris ")]
            assert len(names) >= 5, placed
            assert placed["cluster-counts"], placed
            assert len(placed["cluster-counts"]) == placed["clusters"]
            shot(page, "map-labels", artifacts)
            # And they are drawn: the map differs, in many pixels, without them.
            with_labels = _map_image(page)
            _labels_visible(page, False)
            without = _map_image(page)
            _labels_visible(page, True)
            diff = ImageChops.difference(with_labels, without).convert("L")
            changed = int((np.asarray(diff) > 40).sum())
            assert changed > 2000, changed
            assert audit(page, "map-labels", artifacts) == []
    finally:
        context.close()
