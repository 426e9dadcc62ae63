/* The public real-time page: the car parks, air stations and incidents on a small map (the
   tables of the page hold the same information). The page does not reload by itself (no
   unannounced change under a screen reader): its JSON API is there for live displays. */
(function () {
  "use strict";
  const B = window.Beffroi, cfg = B.cfg;
  const COLORS = {parking: "#0b4f9c", air: "#1b7f3b", incident: "#c62828"};
  const container = document.getElementById("pub-map");
  const made = window.BeffroiPublicMap.create(container, {label: B.t("public.map.label")});
  if (!made) return;
  const {map, loaded} = made;
  const points = (cfg.points || []).filter((p) => p.lon !== null && p.lat !== null);
  loaded.then(() => {
    map.addSource("points", {type: "geojson", data: {type: "FeatureCollection", features: points.map((p) => ({
      type: "Feature", geometry: {type: "Point", coordinates: [p.lon, p.lat]},
      properties: {kind: p.kind, name: p.name, label: p.label}}))}});
    map.addLayer({id: "points", type: "circle", source: "points", paint: {
      "circle-color": ["match", ["get", "kind"], "parking", COLORS.parking, "air", COLORS.air, COLORS.incident],
      "circle-radius": 7, "circle-stroke-color": "#ffffff", "circle-stroke-width": 2}});
    const popup = new maplibregl.Popup({closeButton: false, closeOnClick: false});
    map.on("mouseenter", "points", (e) => {
      const p = e.features[0].properties;
      popup.setLngLat(e.features[0].geometry.coordinates).setHTML("").addTo(map);
      popup.getElement().querySelector(".maplibregl-popup-content").replaceChildren(
        B.el("strong", {text: p.name}), B.el("br"), p.label || "");
    });
    map.on("mouseleave", "points", () => popup.remove());
  });
})();
