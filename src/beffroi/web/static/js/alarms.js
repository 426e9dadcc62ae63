/* Alarms of the territory (per control post), with acknowledge and clear; live. */
(function () {
  "use strict";
  const B = window.Beffroi, cfg = B.cfg, el = B.el;
  const form = document.getElementById("alarm-filters");
  const tbody = document.getElementById("alarm-rows");
  const postSelect = document.getElementById("a-post");
  if (cfg.posts && cfg.posts.length === 1) postSelect.value = cfg.posts[0];

  function mayAct(alarm) {
    return cfg.can_handle && (cfg.posts === null || cfg.posts.includes(alarm.post));
  }
  async function act(alarm, action) {
    try {
      await B.api("alarms/" + alarm.id + "/" + action, {method: "POST", json: {}});
      B.announce(B.t(action === "acknowledge" ? "alarms.acked" : "alarms.cleared_msg", {id: alarm.id}));
      await load();
      const next = tbody.querySelector("button");
      if (next) next.focus(); else document.getElementById("page-title").focus();
    } catch (err) { B.showError(err); }
  }
  function row(a) {
    const actions = [];
    if (mayAct(a) && a.state === "raised")
      actions.push(el("button", {type: "button", class: "primary", "data-action": "acknowledge", "aria-label": B.t("alarms.ack") + " #" + a.id, text: B.t("alarms.ack"), onclick: () => act(a, "acknowledge")}));
    if (mayAct(a) && a.state !== "cleared")
      actions.push(el("button", {type: "button", "data-action": "clear", "aria-label": B.t("alarms.clear") + " #" + a.id, text: B.t("alarms.clear"), onclick: () => act(a, "clear")}));
    const asset = a.asset ? el("a", {href: "/t/" + encodeURIComponent(cfg.territory) + "/assets/" + a.asset, text: a.asset.split(":").slice(-1)[0]}) : "—";
    return el("tr", {"data-alarm": a.id, "data-state": a.state}, [
      el("td", {text: String(a.id)}),
      el("td", null, el("span", {class: "sev sev-" + a.severity, text: B.t("severity." + a.severity)})),
      el("td", null, el("time", {datetime: a.raised, text: B.fmtDate(a.raised)})),
      el("td", {text: a.rule}), el("td", null, asset), el("td", {text: a.post ? ((cfg.post_names || {})[a.post] || a.post) : "—"}),
      el("td", {text: B.t("alarmstate." + a.state)}), el("td", {text: B.local(a, "message")}),
      el("td", {class: "actions"}, actions)]);
  }
  async function load() {
    const q = new URLSearchParams({limit: "200"});
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    try {
      const body = await B.api("alarms?" + q.toString());
      // Keep the keyboard focus on the same button across live refreshes.
      const active = document.activeElement;
      const keep = active && tbody.contains(active) && active.dataset.action
        ? [active.closest("tr").dataset.alarm, active.dataset.action] : null;
      tbody.replaceChildren(...(body.items.length ? body.items.map(row)
        : [el("tr", null, el("td", {colspan: "9", text: B.t("alarms.none")}))]));
      document.getElementById("alarm-table").dataset.loaded = "true";
      if (keep) {
        const again = tbody.querySelector('tr[data-alarm="' + keep[0] + '"] button[data-action="' + keep[1] + '"]');
        if (again) again.focus();
      }
    } catch (err) { B.showError(err); }
  }
  form.addEventListener("change", load);
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  document.addEventListener("beffroi:alarms", load);
  load();
})();
