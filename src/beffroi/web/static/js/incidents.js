/* Incident board per control post: columns by step, SLA countdowns, detail dialog with step
   changes, assignment and comments; live. */
(function () {
  "use strict";
  const B = window.Beffroi, cfg = B.cfg, el = B.el;
  const STEPS = ["reported", "acknowledged", "dispatched", "on_site", "resolved", "closed"];
  const SLA_STEPS = ["acknowledged", "dispatched", "on_site", "resolved"];
  const categories = Object.fromEntries((cfg.categories || []).map((c) => [c.code, c]));
  const form = document.getElementById("incident-filters");
  const postSelect = document.getElementById("i-post");
  const dialog = document.getElementById("incident-dialog");
  let incidents = [], opener = null, current = null;
  if (cfg.posts && cfg.posts.length === 1) postSelect.value = cfg.posts[0];

  const canAct = (inc) => cfg.can_handle && (cfg.posts === null || cfg.posts.includes(inc.post));
  const ms = (iso) => (iso ? Date.parse(iso) : null);

  function nextDue(inc) {
    const cat = categories[inc.category];
    if (!cat || !cat.sla) return null;
    const reported = ms(inc.timestamps.reported);
    const reachedIdx = STEPS.indexOf(inc.state);
    for (const step of SLA_STEPS) {
      if (STEPS.indexOf(step) <= reachedIdx) continue;
      if (cat.sla[step]) return {step, due: reported + cat.sla[step] * 60000};
    }
    return null;
  }
  function slaText(due) {
    const left = (due.due - Date.now()) / 1000;
    return {late: left < 0, text: B.t("step." + due.step) + " : " +
      B.t(left < 0 ? "incidents.overdue" : "incidents.due_in", {d: B.fmtDuration(left)})};
  }
  function card(inc) {
    const due = nextDue(inc);
    const sla = due ? slaText(due) : null;
    return el("li", {class: "card", "data-incident": inc.id, "data-state": inc.state}, [
      el("h3", null, el("button", {type: "button", class: "link", "aria-label": B.t("incidents.open_detail", {id: inc.id}) + " : " + inc.title, onclick: (e) => open(inc.id, e.currentTarget), text: "#" + inc.id + " " + inc.title})),
      el("p", {class: "muted", text: (categories[inc.category] ? categories[inc.category].title : inc.category) + " · " + inc.post}),
      inc.assignee ? el("p", {text: B.t("incidents.assignee") + " : " + inc.assignee}) : null,
      sla ? el("p", {class: "sla" + (sla.late ? " late" : ""), "data-due": String(due.due), "data-step": due.step, text: sla.text}) : null]);
  }
  function render() {
    for (const list of document.querySelectorAll("[data-column]")) {
      const step = list.dataset.column;
      const items = incidents.filter((i) => i.state === step);
      list.replaceChildren(...items.map(card));
      document.querySelector('[data-col-count="' + step + '"]').textContent = String(items.length);
    }
  }
  async function load() {
    const q = new URLSearchParams({limit: "500"});
    const post = postSelect.value;
    if (post) q.set("post", post);
    try {
      const body = await B.api("incidents?" + q.toString());
      incidents = body.items.filter((i) => i.state !== "closed");
      render();
      document.getElementById("board").dataset.loaded = "true";
    } catch (err) { B.showError(err); }
  }
  async function refresh() {
    await load();
    // The open incident is redrawn unless the user is filling one of its forms.
    const active = document.activeElement;
    const typing = active && active.closest && active.closest("#incident-detail form");
    if (current !== null && dialog.open && !typing) await showDetail(current, true);
  }
  function tick() {
    for (const p of document.querySelectorAll(".sla[data-due]")) {
      const s = slaText({step: p.dataset.step, due: Number(p.dataset.due)});
      p.textContent = s.text;
      p.classList.toggle("late", s.late);
    }
  }

  async function post(path, json, message, formId) {
    try {
      await B.api("incidents/" + current + "/" + path, {method: "POST", json});
      if (message) B.announce(message);
      // The dialog first, then the board: what the user typed in the dialog's other forms
      // meanwhile is kept; only the form just submitted starts afresh.
      await showDetail(current, true, formId || null);
      await load();
    } catch (err) { B.showError(err); }
  }
  let drawn = 0;  // the latest call of showDetail: an older answer arriving late is dropped
  async function showDetail(id, keepInput, resetForm) {
    const call = ++drawn;
    const inc = await B.api("incidents/" + id);
    // A live refresh started before a step was posted may answer after the step's own
    // redraw: drawing it would show the incident as it was before the step.
    if (call !== drawn) return;
    document.getElementById("incident-dialog-title").textContent = "#" + inc.id + " " + inc.title;
    const box = document.getElementById("incident-detail");
    const idx = STEPS.indexOf(inc.state);
    const stepButtons = canAct(inc) ? STEPS.slice(idx + 1).map((s) =>
      el("button", {type: "button", "data-step": s, class: s === STEPS[idx + 1] ? "primary" : null,
        text: B.t("incidents.to", {step: B.t("step." + s)}),
        onclick: () => post("steps", {step: s}, B.t("incidents.moved", {id: inc.id, step: B.t("step." + s)}))})) : [];
    const assign = canAct(inc) ? el("form", {id: "assign-form", onsubmit: (e) => {
      e.preventDefault();
      const f = new FormData(e.target);
      post("assign", {kind: f.get("kind"), name: f.get("name")}, B.t("incidents.assignee") + " : " + f.get("name"), "assign-form");
    }}, [
      el("label", {for: "as-kind", text: B.t("incidents.assignee_kind")}),
      el("select", {id: "as-kind", name: "kind"}, [el("option", {value: "team", text: B.t("incidents.team")}), el("option", {value: "contractor", text: B.t("incidents.contractor")})]),
      el("label", {for: "as-name", text: B.t("incidents.name")}),
      el("input", {id: "as-name", name: "name", required: true, maxlength: "200", value: inc.assignee || ""}),
      el("button", {type: "submit", text: B.t("incidents.assign")})]) : null;
    const comment = canAct(inc) ? el("form", {id: "comment-form", onsubmit: (e) => {
      e.preventDefault();
      const f = new FormData(e.target);
      post("comments", {text: f.get("text")}, B.t("incidents.add_comment"), "comment-form");
    }}, [
      el("label", {for: "c-text", text: B.t("incidents.comment")}),
      el("textarea", {id: "c-text", name: "text", required: true, rows: "2", maxlength: "10000"}),
      el("button", {type: "submit", text: B.t("incidents.add_comment")})]) : null;
    // A live refresh keeps what the user is typing (and where), a submit starts afresh.
    const typed = {};
    const focused = document.activeElement && box.contains(document.activeElement) ? document.activeElement.id : null;
    if (keepInput) for (const input of box.querySelectorAll("input, textarea, select")) {
      if (!(resetForm && input.closest("#" + resetForm))) typed[input.id] = input.value;
    }
    box.replaceChildren(
      el("p", {text: inc.description || ""}),
      el("p", null, [B.t("common.state") + " : ", el("strong", {id: "detail-state", "data-state": inc.state, text: B.t("step." + inc.state)}),
        inc.asset ? [" · ", el("a", {href: "/t/" + encodeURIComponent(cfg.territory) + "/assets/" + inc.asset, text: inc.asset})] : null]),
      el("div", {class: "step-buttons"}, stepButtons),
      assign,
      el("h3", {text: B.t("incidents.sla")}),
      el("ul", {class: "plain"}, inc.sla.map((s) => el("li", {class: s.late ? "late" : null, text:
        B.t("step." + s.step) + " — " + B.fmtDate(s.due) + (s.remaining_s !== null ? " (" + B.t(s.remaining_s < 0 ? "incidents.overdue" : "incidents.due_in", {d: B.fmtDuration(s.remaining_s)}) + ")" : s.met ? " ✓" : " ✗")}))),
      el("h3", {text: B.t("incidents.steps")}),
      el("ol", {class: "plain"}, inc.steps.map((s) => el("li", {text: B.fmtDate(s.at) + " — " + B.t("step." + s.step) + " — " + s.actor + (s.note ? " — " + s.note : "")}))),
      el("h3", {text: B.t("incidents.comments")}),
      el("ul", {class: "plain", id: "comment-list"}, inc.comments.map((c) => el("li", {text: B.fmtDate(c.at) + " — " + c.actor + " : " + c.text}))),
      comment);
    for (const [key, value] of Object.entries(typed)) {
      const input = document.getElementById(key);
      if (input && box.contains(input)) input.value = value;
    }
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
  }
  async function open(id, button) {
    opener = button; current = id;
    try {
      await showDetail(id, false);
      dialog.showModal();
      const first = dialog.querySelector("button.primary, button");
      if (first) first.focus();
    } catch (err) { B.showError(err); }
  }
  dialog.addEventListener("close", () => { current = null; if (opener && document.body.contains(opener)) opener.focus(); });
  document.getElementById("incident-dialog-close").addEventListener("click", () => dialog.close());

  const create = document.getElementById("new-incident");
  if (create) create.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(create);
    try {
      const inc = await B.api("incidents", {method: "POST", json: {category: f.get("category"), title: f.get("title"), description: f.get("description") || ""}});
      create.reset();
      B.announce("#" + inc.id + " " + inc.title);
      await load();
    } catch (err) { B.showError(err); }
  });
  form.addEventListener("change", load);
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  document.addEventListener("beffroi:incidents", refresh);
  setInterval(tick, 1000);
  load();
})();
