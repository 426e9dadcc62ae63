/* The public report form: choose the place by a click (or tap) on the map or with the device's
   location; the address field stays the alternative without a pointer or without location. */
(function () {
  "use strict";
  const B = window.Beffroi;
  const lat = document.getElementById("f-lat"), lon = document.getElementById("f-long");
  const text = document.getElementById("location-text");
  const button = document.getElementById("use-location");
  const alertBox = document.getElementById("form-alert");
  if (alertBox) alertBox.focus();
  let marker = null, map = null;

  function place(y, x, how) {
    lat.value = y.toFixed(6);
    lon.value = x.toFixed(6);
    text.textContent = B.t("public.report.chosen", {lat: lat.value, lon: lon.value}) + (how ? " (" + how + ")" : "");
    if (map) {
      if (!marker) marker = new maplibregl.Marker({color: "#c62828"});
      marker.setLngLat([x, y]).addTo(map);
    }
  }

  const container = document.getElementById("report-map");
  const made = window.BeffroiPublicMap.create(container, {label: B.t("public.report.map_label")});
  if (made) {
    map = made.map;
    map.on("click", (e) => place(e.lngLat.lat, e.lngLat.lng, B.t("public.report.by_map")));
    // Keyboard: the arrows move the map (MapLibre), Enter picks its centre.
    map.getCanvas().addEventListener("keydown", (e) => {
      if (e.key !== "Enter") return;
      e.preventDefault();
      const c = map.getCenter();
      place(c.lat, c.lng, B.t("public.report.by_map"));
    });
    const keys = document.getElementById("map-keys");
    if (keys) keys.hidden = false;
    if (lat.value && lon.value) {
      made.loaded.then(() => place(Number(lat.value), Number(lon.value), null));
    }
  }

  if (navigator.geolocation && button) {
    button.hidden = false;
    button.addEventListener("click", () => {
      text.textContent = B.t("public.report.locating");
      navigator.geolocation.getCurrentPosition((pos) => {
        place(pos.coords.latitude, pos.coords.longitude, B.t("public.report.by_device"));
        if (map) map.easeTo({center: [pos.coords.longitude, pos.coords.latitude], zoom: 17});
      }, () => {
        text.textContent = B.t("public.report.locate_failed");
      }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
    });
  }
})();
