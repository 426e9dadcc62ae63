/* The territory map: a local base map (district polygons, optional tile URL) and the assets,
   clustered by the server (GET /api/v1/territories/{code}/map/clusters) for the current view. */
(function () {
  "use strict";
  const B = window.Beffroi, cfg = B.cfg;
  const COLORS = {alarm: "#c62828", fault: "#e65100", silent: "#6b7280", off: "#334155", ok: "#1b7f3b"};
  const container = document.getElementById("map");
  const form = document.getElementById("map-filters");
  // firstRenderMs: from the navigation's start to the first map drawn with its assets.
  const stats = {firstRenderMs: null, requests: 0, lastFeatures: 0, lastKind: null,
                 marks: {script: performance.now()}, renders: 0};
  const mark = (name) => { if (!(name in stats.marks)) stats.marks[name] = performance.now(); };
  window.__beffroiMap = stats;

  // The base map does not depend on the view: ask for it before MapLibre starts (its
  // evaluation and WebGL context take a few hundred ms on a slow machine).
  const basemapRequest = B.api("map/basemap");
  basemapRequest.catch(() => {});  // reported where it is awaited

  // Text is drawn with glyphs shipped beside MapLibre (static/vendor/glyphs, DejaVu Sans
  // Bold as signed distance fields): no font server is needed.
  const FONT = ["DejaVuSans-Bold"];
  const stateColor = ["match", ["get", "state"], "alarm", COLORS.alarm, "fault", COLORS.fault,
                      "silent", COLORS.silent, "off", COLORS.off, COLORS.ok];
  const sources = {};
  const layers = [{id: "background", type: "background", paint: {"background-color": "#eef1f4"}}];
  if (cfg.tile_url) {
    sources.tiles = {type: "raster", tiles: [cfg.tile_url], tileSize: 256};
    layers.push({id: "tiles", type: "raster", source: "tiles"});
  }
  // The data sources are added with their first data (an empty source added earlier would
  // have its empty tiles built and drawn first: a wasted round on a slow machine), each
  // source's layers at their place in this order.
  const LAYERS = [
    {id: "districts-fill", type: "fill", source: "districts", paint: {"fill-color": "#fbfcfd"}},
    {id: "districts-line", type: "line", source: "districts", paint: {"line-color": "#8a94a3", "line-width": 1.2}},
    {id: "clusters", type: "circle", source: "assets", filter: ["has", "count"], paint: {
      "circle-color": stateColor, "circle-opacity": 0.85,
      "circle-radius": ["interpolate", ["linear"], ["ln", ["get", "count"]], 0, 9, 4, 13, 9, 24],
      "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5}},
    {id: "points", type: "circle", source: "assets", filter: ["!", ["has", "count"]], paint: {
      "circle-color": stateColor,
      "circle-radius": 6, "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5}},
    // District names at their label points; hidden where a cluster count is (counts first).
    {id: "district-labels", type: "symbol", source: "district-labels", late: true, layout: {
      "text-field": ["get", "name"], "text-font": FONT, "text-size": 13,
      "text-max-width": 8, "text-padding": 4},
     paint: {"text-color": "#1f2937", "text-halo-color": "#ffffff", "text-halo-width": 1.6}},
    {id: "cluster-counts", type: "symbol", source: "assets", filter: ["has", "count"], late: true, layout: {
      "text-field": ["number-format", ["get", "count"], {"locale": cfg.locale || cfg.lang || "fr"}],
      "text-font": FONT, "text-size": 12, "text-allow-overlap": true, "text-padding": 6},
     paint: {"text-color": "#ffffff", "text-halo-color": "#111827", "text-halo-width": 1.4}},
  ];

  // No style yet: it is set with the first answers (base map and clusters) inline, so that
  // the first frames drawn are the map itself, not empty frames and empty tiles (each frame
  // costs ~100 ms with software WebGL).
  const map = new maplibregl.Map({
    container, attributionControl: false,
    center: cfg.center || [2.35, 48.85], zoom: 12, maxZoom: 20, dragRotate: false,
    pitchWithRotate: false, fadeDuration: 0});
  mark("mapCreated");
  map.on("render", () => { if (stats.firstRenderMs === null) stats.renders += 1; });
  map.addControl(new maplibregl.NavigationControl({showCompass: false}), "top-right");
  map.addControl(new maplibregl.ScaleControl({}), "bottom-left");
  if (cfg.extent) {
    const [x0, y0, x1, y1] = cfg.extent;
    map.fitBounds([[x0, y0], [x1, y1]], {padding: 30, animate: false, maxZoom: 16});
  }
  const canvas = map.getCanvas();
  canvas.setAttribute("aria-label", B.t("map.region"));

  /* Set a source's data, adding the source and its layers the first time. Until the style is
     set, the data wait in ``pending`` for it. The text layers ("late") come once the map is
     first drawn: their glyphs and symbol placement would delay it by a few hundred ms with
     software WebGL. */
  const pending = {};
  let labelsOn = false, districtLabels = null, styleSet = false, waiting = 2;
  function spec(layer) {
    const {late, ...rest} = layer;  // eslint-disable-line no-unused-vars
    return rest;
  }
  function addLayers(source) {
    LAYERS.forEach((layer, i) => {
      if (layer.source !== source || (layer.late && !labelsOn) || map.getLayer(layer.id)) return;
      const next = LAYERS.slice(i + 1).find((l) => map.getLayer(l.id));
      map.addLayer(spec(layer), next ? next.id : undefined);
    });
  }
  async function setData(source, data) {
    if (!styleSet) { pending[source] = data; return; }
    if (!styleReady) await styleLoaded;
    const existing = map.getSource(source);
    if (existing) { existing.setData(data); return; }
    map.addSource(source, {type: "geojson", data});
    addLayers(source);
  }
  /* Called once when the first clusters answer has come (or failed), once for the base map:
     the style is set after both, with their data. */
  function firstArrived() {
    if (--waiting > 0 || styleSet) return;
    styleSet = true;
    const styleSources = Object.assign({}, sources);
    for (const [name, data] of Object.entries(pending)) styleSources[name] = {type: "geojson", data};
    const styleLayers = layers.concat(LAYERS.filter((l) => !l.late && styleSources[l.source]).map(spec));
    map.setStyle({version: 8, glyphs: "/static/vendor/glyphs/{fontstack}/{range}.pbf",
                  sources: styleSources, layers: styleLayers});
  }
  function addLabels() {
    labelsOn = true;
    if (map.getSource("assets")) addLayers("assets");
    if (districtLabels) setData("district-labels", districtLabels);
    map.once("idle", () => { container.dataset.labels = "true"; });
  }

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
  const styleLoaded = new Promise((resolve) => map.once("load", () => { styleReady = true; mark("styleLoaded"); resolve(); }));
  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    stats.requests += 1;
    try {
      // The first request leaves before the style has loaded (the view is known already).
      const body = await B.api("map/clusters?" + params().toString(), {signal: controller.signal});
      mark("clustersArrived");
      setData("assets", body);
      stats.lastFeatures = body.features.length;
      stats.lastKind = body.kind;
      showCounts(body);
      if (!rendered) {
        rendered = true;
        // Registered before the style is set: MapLibre is idle only once its style and
        // sources have loaded and been drawn (a listener added after "load" could miss it).
        map.once("idle", () => {
          stats.firstRenderMs = performance.now();
          container.dataset.ready = "true";
          addLabels();
        });
        clustersDone();
      }
      container.dataset.kind = body.kind;
      container.dataset.total = String(body.total);
    } catch (err) {
      if (err.name !== "AbortError") { B.showError(err); clustersDone(); }
    }
  }
  let clustersCounted = false;
  function clustersDone() { if (!clustersCounted) { clustersCounted = true; firstArrived(); } }
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
        " ", B.el("span", {class: "muted", text: B.t("type." + p.type) + " · " + B.t("state." + p.state)})]));
    }
  }

  async function loadBasemap() {
    let body;
    try {
      body = await basemapRequest;
    } catch (err) {
      B.showError(err);
      return;
    } finally {
      if (body) { mark("basemapArrived"); setData("districts", body); }
      firstArrived();
    }
    try {
      districtLabels = {type: "FeatureCollection", features: body.features
        .filter((f) => f.properties.label)
        .map((f) => ({type: "Feature", geometry: {type: "Point", coordinates: f.properties.label},
                      properties: {name: f.properties.name}}))};
      if (labelsOn) setData("district-labels", districtLabels);
      container.dataset.districts = String(body.features.length);
      const select = document.getElementById("f-area");
      for (const f of body.features) {
        if (body.source === "footprint") break;
        select.append(B.el("option", {value: f.properties.id, text: f.properties.name}));
      }
    } catch (err) { B.showError(err); }
  }

  load();
  loadBasemap();
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
      B.el("strong", {text: p.name || p.urn}), B.el("br"), B.t("type." + p.type) + " · " + B.t("state." + p.state));
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
