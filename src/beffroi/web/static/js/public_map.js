/* Public pages: a small MapLibre map on the territory's offline base map
   (GET /public/{code}/basemap, no session), plus the optional tile URL of the installation. */
(function () {
  "use strict";
  const B = window.Beffroi, cfg = B.cfg;

  function create(container, options) {
    if (!window.maplibregl || !container) return null;
    const sources = {}, layers = [{id: "background", type: "background", paint: {"background-color": "#eef1f4"}}];
    if (cfg.tile_url) {
      sources.tiles = {type: "raster", tiles: [cfg.tile_url], tileSize: 256};
      layers.push({id: "tiles", type: "raster", source: "tiles"});
    }
    sources.districts = {type: "geojson", data: {type: "FeatureCollection", features: []}};
    layers.push(
      {id: "districts-fill", type: "fill", source: "districts", paint: {"fill-color": "#fbfcfd"}},
      {id: "districts-line", type: "line", source: "districts", paint: {"line-color": "#8a94a3", "line-width": 1.2}});
    let map;
    try {
      map = new maplibregl.Map({
        container, style: {version: 8, sources, layers}, attributionControl: false,
        center: cfg.center || [2.35, 48.85], zoom: 12, maxZoom: 19, dragRotate: false,
        pitchWithRotate: false, fadeDuration: 0, cooperativeGestures: false});
    } catch (err) {
      container.hidden = true;  // no WebGL: the tables and the address field remain
      return null;
    }
    map.addControl(new maplibregl.NavigationControl({showCompass: false}), "top-right");
    if (cfg.extent) {
      const [x0, y0, x1, y1] = cfg.extent;
      map.fitBounds([[x0, y0], [x1, y1]], {padding: 20, animate: false, maxZoom: 16});
    }
    map.getCanvas().setAttribute("aria-label", options.label);
    const loaded = new Promise((resolve) => map.once("load", resolve));
    fetch("/public/" + encodeURIComponent(cfg.public_code) + "/basemap")
      .then((r) => r.ok ? r.json() : null)
      .then(async (body) => {
        await loaded;
        if (body) map.getSource("districts").setData(body);
        map.once("idle", () => { container.dataset.ready = "true"; });
        map.triggerRepaint();
      })
      .catch(() => { container.dataset.ready = "true"; });
    return {map, loaded};
  }

  window.BeffroiPublicMap = {create};
})();
