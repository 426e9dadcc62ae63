/* Work orders of the territory (a field agent's own): filter by post and state, each linked
   to its incident on the board; live (the stream's "incidents" events, which work orders'
   changes move too). */
(function () {
  "use strict";
  const B = window.Beffroi, cfg = B.cfg, el = B.el;
  const WO_STATES = ["open", "accepted", "on_site", "done", "cancelled"];
  const form = document.getElementById("wo-filters");
  const postSelect = document.getElementById("w-post");
  const stateSelect = document.getElementById("w-state");
  const tbody = document.getElementById("wo-rows");
  const postNames = cfg.post_names || {};
  if (cfg.posts && cfg.posts.length === 1) postSelect.value = cfg.posts[0];

  // Filters kept in the address, so that a link or a reload shows the same list.
  const params = new URLSearchParams(location.search);
  if (params.has("post")) postSelect.value = params.get("post");
  if (params.has("state")) stateSelect.value = params.get("state");

  const incidentUrl = (id) => "/t/" + encodeURIComponent(cfg.territory) + "/incidents?incident=" + encodeURIComponent(id);
  const dateItem = (wo, key) => wo.timestamps[key]
    ? el("li", null, [B.t("wo.at." + key) + " ", el("time", {datetime: wo.timestamps[key], text: B.fmtDate(wo.timestamps[key])})])
    : null;

  function row(wo, incidents) {
    const inc = wo.incident_id !== null ? incidents[wo.incident_id] : null;
    const incident = wo.incident_id === null ? "—" : el("a", {href: incidentUrl(wo.incident_id),
      text: "#" + wo.incident_id + (inc ? " " + B.local(inc, "title") : "")});
    return el("tr", {"data-work-order": wo.id, "data-state": wo.state}, [
      el("td", {text: String(wo.id)}),
      el("td", null, [el("strong", {text: wo.title}), wo.description ? el("br") : null,
        wo.description ? el("span", {class: "muted", text: wo.description}) : null]),
      el("td", null, incident),
      el("td", {text: postNames[wo.post] || wo.post}),
      el("td", null, el("span", {class: "wo-state", "data-state": wo.state, text: B.t("wo.state." + wo.state)})),
      el("td", {text: B.t(wo.assignee_kind === "contractor" ? "incidents.contractor" : "incidents.team") + " : " + wo.assignee}),
      el("td", null, el("ul", {class: "plain"}, ["created", "accepted", "on_site", "done", "cancelled"].map((k) => dateItem(wo, k)))),
      el("td", {text: wo.closure_note || ""})]);
  }

  let loading = 0;  // the latest call: an older answer arriving late is dropped
  async function load() {
    const call = ++loading;
    const state = stateSelect.value, post = postSelect.value;
    const q = new URLSearchParams({limit: "1000"});
    // The API's "open" means unfinished: the state "open" itself is filtered here.
    if (state === "unfinished" || state === "open") q.set("state", "open");
    else if (state) q.set("state", state);
    if (post) q.set("post", post);
    try {
      const [orders, incs] = await Promise.all([
        B.api("work-orders?" + q.toString()),
        B.api("incidents?limit=1000").catch(() => ({items: []}))]);
      if (call !== loading) return;
      const incidents = Object.fromEntries(incs.items.map((i) => [i.id, i]));
      const items = orders.items.filter((w) => (state !== "open" || w.state === "open")
        && WO_STATES.includes(w.state));
      const active = document.activeElement;
      const keep = active && tbody.contains(active) && active.closest("tr")
        ? active.closest("tr").dataset.workOrder : null;
      tbody.replaceChildren(...(items.length ? items.map((w) => row(w, incidents))
        : [el("tr", null, el("td", {colspan: "8", text: B.t("wo.none")}))]));
      document.getElementById("wo-count").textContent = B.t("wo.count", {n: items.length});
      document.getElementById("wo-table").dataset.loaded = "true";
      if (keep) {
        const again = tbody.querySelector('tr[data-work-order="' + keep + '"] a');
        if (again) again.focus();
      }
    } catch (err) { B.showError(err); }
  }
  function filtersChanged() {
    const q = new URLSearchParams();
    if (postSelect.value) q.set("post", postSelect.value);
    if (stateSelect.value !== "unfinished") q.set("state", stateSelect.value);
    history.replaceState(null, "", location.pathname + (q.toString() ? "?" + q.toString() : ""));
    load();
  }
  form.addEventListener("change", filtersChanged);
  form.addEventListener("submit", (e) => { e.preventDefault(); filtersChanged(); });
  // the live stream's "incidents" events also tell the work orders' changes
  document.addEventListener("beffroi:incidents", load);
  load();
})();
