/* The territory map: a local base map (district polygons, optional tile URL) and the assets,
   clustered by the server (GET /api/v1/territories/{code}/map/clusters) for the current view. */
(function () {
  "use strict";
  const B = window.Beffroi, cfg = B.cfg;
  const COLORS = {alarm: "#c62828", fault: "#e65100", silent: "#6b7280", off: "#334155", ok: "#1b7f3b"};
  const container = document.getElementById("map");
  const form = document.getElementById("map-filters");
  // firstRenderMs: from the navigation's start to the first map drawn with its assets.
  const stats = {firstRenderMs: null, requests: 0, lastFeatures: 0, lastKind: null};
  window.__beffroiMap = stats;

  const sources = {};
  const layers = [{id: "background", type: "background", paint: {"background-color": "#eef1f4"}}];
  if (cfg.tile_url) {
    sources.tiles = {type: "raster", tiles: [cfg.tile_url], tileSize: 256};
    layers.push({id: "tiles", type: "raster", source: "tiles"});
  }
  sources.districts = {type: "geojson", data: {type: "FeatureCollection", features: []}};
  sources.assets = {type: "geojson", data: {type: "FeatureCollection", features: []}};
  layers.push(
    {id: "districts-fill", type: "fill", source: "districts", paint: {"fill-color": "#fbfcfd"}},
    {id: "districts-line", type: "line", source: "districts", paint: {"line-color": "#8a94a3", "line-width": 1.2}},
    {id: "clusters", type: "circle", source: "assets", filter: ["has", "count"], paint: {
      "circle-color": ["match", ["get", "state"], "alarm", COLORS.alarm, "fault", COLORS.fault,
                       "silent", COLORS.silent, "off", COLORS.off, COLORS.ok],
      "circle-opacity": 0.8,
      "circle-radius": ["interpolate", ["linear"], ["ln", ["get", "count"]], 0, 5, 4, 11, 9, 24],
      "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5}},
    {id: "points", type: "circle", source: "assets", filter: ["!", ["has", "count"]], paint: {
      "circle-color": ["match", ["get", "state"], "alarm", COLORS.alarm, "fault", COLORS.fault,
                       "silent", COLORS.silent, "off", COLORS.off, COLORS.ok],
      "circle-radius": 6, "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5}});

  const map = new maplibregl.Map({
    container, style: {version: 8, sources, layers}, attributionControl: false,
    center: cfg.center || [2.35, 48.85], zoom: 12, maxZoom: 20, dragRotate: false,
    pitchWithRotate: false, fadeDuration: 0});
  map.addControl(new maplibregl.NavigationControl({showCompass: false}), "top-right");
  map.addControl(new maplibregl.ScaleControl({}), "bottom-left");
  if (cfg.extent) {
    const [x0, y0, x1, y1] = cfg.extent;
    map.fitBounds([[x0, y0], [x1, y1]], {padding: 30, animate: false, maxZoom: 16});
  }
  const canvas = map.getCanvas();
  canvas.setAttribute("aria-label", B.t("map.region"));

  let controller = null, timer = null, rendered = false;
  function params() {
    const b = map.getBounds();
    const q = new URLSearchParams();
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    q.set("bbox", [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90),
                   clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)].map((v) => v.toFixed(5)).join(","));
    q.set("zoom", map.getZoom().toFixed(1));
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    return q;
  }
  let styleReady = false;
  const styleLoaded = new Promise((resolve) => map.once("load", () => { styleReady = true; resolve(); }));
  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    stats.requests += 1;
    try {
      // The first request leaves before the style has loaded (the view is known already).
      const body = await B.api("map/clusters?" + params().toString(), {signal: controller.signal});
      if (!styleReady) await styleLoaded;
      map.getSource("assets").setData(body);
      stats.lastFeatures = body.features.length;
      stats.lastKind = body.kind;
      showCounts(body);
      if (!rendered) {
        rendered = true;
        map.once("idle", () => {
          stats.firstRenderMs = performance.now();
          container.dataset.ready = "true";
        });
      }
      container.dataset.kind = body.kind;
      container.dataset.total = String(body.total);
    } catch (err) {
      if (err.name !== "AbortError") B.showError(err);
    }
  }
  function schedule() { clearTimeout(timer); timer = setTimeout(load, 120); }

  function showCounts(body) {
    document.getElementById("total-in-view").textContent = B.fmtNumber(body.total, 0);
    for (const [state, n] of Object.entries(body.states)) {
      const node = document.querySelector('[data-count="' + state + '"]');
      if (node) node.textContent = B.fmtNumber(n, 0);
    }
    const list = document.getElementById("asset-list");
    const hint = document.getElementById("asset-list-hint");
    list.replaceChildren();
    if (body.kind !== "points") { hint.hidden = false; return; }
    hint.hidden = true;
    for (const f of body.features.slice(0, 100)) {
      const p = f.properties;
      list.append(B.el("li", null, [
        B.el("span", {class: "swatch state-" + p.state, "aria-hidden": "true"}),
        B.el("a", {href: "/t/" + encodeURIComponent(cfg.territory) + "/assets/" + p.urn, text: p.name || p.urn}),
        " ", B.el("span", {class: "muted", text: p.type + " · " + B.t("state." + p.state)})]));
    }
  }

  async function loadBasemap() {
    try {
      const body = await B.api("map/basemap");
      if (!styleReady) await styleLoaded;
      map.getSource("districts").setData(body);
      const select = document.getElementById("f-area");
      for (const f of body.features) {
        if (body.source === "footprint") break;
        select.append(B.el("option", {value: f.properties.id, text: f.properties.name}));
      }
    } catch (err) { B.showError(err); }
  }

  loadBasemap();
  load();
  styleLoaded.then(() => map.on("moveend", schedule));
  form.addEventListener("change", load);
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  document.addEventListener("beffroi:states", schedule);

  const popup = new maplibregl.Popup({closeButton: false, closeOnClick: false});
  map.on("mouseenter", "clusters", (e) => {
    map.getCanvas().style.cursor = "pointer";
    const p = e.features[0].properties;
    const lines = ["alarm", "fault", "silent", "off", "ok"].filter((s) => p[s]).map((s) => B.t("state." + s) + " : " + B.fmtNumber(p[s], 0));
    popup.setLngLat(e.features[0].geometry.coordinates).setHTML("").addTo(map);
    popup.getElement().querySelector(".maplibregl-popup-content").replaceChildren(
      B.el("strong", {text: B.t("map.cluster", {n: B.fmtNumber(p.count, 0)})}),
      B.el("br"), lines.join(" · "));
  });
  map.on("mouseleave", "clusters", () => { map.getCanvas().style.cursor = ""; popup.remove(); });
  map.on("mouseenter", "points", (e) => {
    map.getCanvas().style.cursor = "pointer";
    const p = e.features[0].properties;
    popup.setLngLat(e.features[0].geometry.coordinates).setHTML("").addTo(map);
    popup.getElement().querySelector(".maplibregl-popup-content").replaceChildren(
      B.el("strong", {text: p.name || p.urn}), B.el("br"), p.type + " · " + B.t("state." + p.state));
  });
  map.on("mouseleave", "points", () => { map.getCanvas().style.cursor = ""; popup.remove(); });
  map.on("click", "clusters", (e) => {
    map.easeTo({center: e.features[0].geometry.coordinates, zoom: Math.min(map.getZoom() + 2, 20)});
  });
  map.on("click", "points", (e) => {
    location.href = "/t/" + encodeURIComponent(cfg.territory) + "/assets/" + e.features[0].properties.urn;
  });
  window.__beffroiMapInstance = map;
})();
