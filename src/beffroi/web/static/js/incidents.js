/* Incident board per control post: columns by step, SLA countdowns, detail dialog with step
   changes, assignment, comments and work orders; live. ``?incident=ID`` opens one. */
(function () {
  "use strict";
  const B = window.Beffroi, cfg = B.cfg, el = B.el;
  const STEPS = ["reported", "acknowledged", "dispatched", "on_site", "resolved", "closed"];
  const SLA_STEPS = ["acknowledged", "dispatched", "on_site", "resolved"];
  // Work orders: forward only (steps may be skipped), cancelled from any state before done.
  const WO_STEPS = ["open", "accepted", "on_site", "done"];
  const WO_STAMPS = ["created", "accepted", "on_site", "done", "cancelled"];
  const categories = Object.fromEntries((cfg.categories || []).map((c) => [c.code, c]));
  const postNames = cfg.post_names || {};
  const postName = (code) => postNames[code] || code;
  const form = document.getElementById("incident-filters");
  const postSelect = document.getElementById("i-post");
  const dialog = document.getElementById("incident-dialog");
  let incidents = [], opener = null, current = null;
  if (cfg.posts && cfg.posts.length === 1) postSelect.value = cfg.posts[0];

  const canAct = (inc) => cfg.can_handle && (cfg.posts === null || cfg.posts.includes(inc.post));
  // A work order moves on by its assignee (a field agent), or whoever may act for its post.
  const canStepWo = (wo) => !["done", "cancelled"].includes(wo.state) &&
    (canAct(wo) || (cfg.role === "field_agent" && wo.assignee === cfg.user));
  const woNextSteps = (wo) => WO_STEPS.slice(WO_STEPS.indexOf(wo.state) + 1).concat(["cancelled"]);
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
      el("h3", null, el("button", {type: "button", class: "link", "aria-label": B.t("incidents.open_detail", {id: inc.id}) + " : " + B.local(inc, "title"), onclick: (e) => open(inc.id, e.currentTarget), text: "#" + inc.id + " " + B.local(inc, "title")})),
      el("p", {class: "muted", text: (categories[inc.category] ? categories[inc.category].title : inc.category) + " · " + postName(inc.post)}),
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

  // Field errors of an API answer (422 details) next to the fields of ``formEl`` they name.
  function clearFieldErrors(formEl) {
    for (const p of formEl.querySelectorAll(".field-error")) p.remove();
    for (const input of formEl.querySelectorAll("[aria-invalid]")) {
      input.removeAttribute("aria-invalid");
      const rest = (input.getAttribute("aria-describedby") || "").split(" ").filter((d) => d && !d.endsWith("-error"));
      if (rest.length) input.setAttribute("aria-describedby", rest.join(" ")); else input.removeAttribute("aria-describedby");
    }
  }
  function markFieldErrors(formEl, err) {
    const details = (err && err.body && err.body.details) || [];
    let first = null;
    for (const d of details) {
      const input = formEl.querySelector('[name="' + String(d.field).split(".").pop() + '"]');
      if (!input || !input.id) continue;
      const id = input.id + "-error";
      if (!document.getElementById(id)) input.after(el("p", {class: "error field-error", id, text: d.reason}));
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", ((input.getAttribute("aria-describedby") || "") + " " + id).trim());
      first = first || input;
    }
    if (first) first.focus();
  }
  // POST ``json`` to ``path`` (under the territory), then redraw the dialog and the board.
  async function send(path, json, message, formId) {
    const formEl = formId ? document.getElementById(formId) : null;
    if (formEl) clearFieldErrors(formEl);
    try {
      const out = await B.api(path, {method: "POST", json});
      if (message) B.announce(typeof message === "function" ? message(out) : message);
      // The dialog first, then the board: what the user typed in the dialog's other forms
      // meanwhile is kept; only the form just submitted starts afresh.
      await showDetail(current, true, formId || null);
      await load();
      return out;
    } catch (err) {
      B.showError(err);
      const again = formId ? document.getElementById(formId) : null;
      if (again) markFieldErrors(again, err);
      return null;
    }
  }
  function post(path, json, message, formId) {
    return send("incidents/" + current + "/" + path, json, message, formId);
  }

  // --- work orders (in the dialog) ---
  function woStateLabel(wo) {
    return el("strong", {class: "wo-state", "data-state": wo.state, text: B.t("wo.state." + wo.state)});
  }
  async function stepWorkOrder(wo, step) {
    const formId = "wo-step-form-" + wo.id;
    const note = document.getElementById("wo-note-" + wo.id);
    if (step === "done" && note && !note.value.trim()) {
      // said here, in the page's language, rather than after the API's refusal
      const formEl = document.getElementById(formId);
      clearFieldErrors(formEl);
      markFieldErrors(formEl, {body: {details: [{field: "note", reason: B.t("wo.note_required")}]}});
      B.toast(B.t("wo.note_required"));
      return;
    }
    const out = await send("work-orders/" + wo.id + "/steps", {step, note: note ? note.value : ""},
      B.t("wo.moved", {id: wo.id, step: B.t("wo.state." + step)}), formId);
    if (out) {
      // The button pressed is gone: the keyboard goes to the work order's next step, or to it.
      const target = document.querySelector("#wo-" + wo.id + " button[data-wo-step]") || document.getElementById("wo-" + wo.id + "-title");
      if (target) target.focus();
    }
  }
  function workOrderItem(wo) {
    const title = "#" + wo.id + " " + wo.title;
    const dates = WO_STAMPS.filter((k) => wo.timestamps[k]).map((k) =>
      el("li", null, [B.t("wo.at." + k) + " ", el("time", {datetime: wo.timestamps[k], text: B.fmtDate(wo.timestamps[k])})]));
    let actions = null;
    if (canStepWo(wo)) {
      const noteId = "wo-note-" + wo.id;
      actions = el("form", {id: "wo-step-form-" + wo.id, class: "wo-step-form", onsubmit: (e) => e.preventDefault()}, [
        el("label", {for: noteId, text: B.t("wo.note")}),
        el("textarea", {id: noteId, name: "note", rows: "2", maxlength: "10000"}),
        el("div", {class: "step-buttons"}, woNextSteps(wo).map((s, i) => {
          const text = B.t("wo.to", {step: B.t("wo.state." + s)});
          return el("button", {type: "button", id: "wo-" + wo.id + "-to-" + s, "data-wo-step": s,
            class: i === 0 ? "primary" : null, text, "aria-label": text + " — " + B.t("wo.id", {id: wo.id}),
            onclick: () => stepWorkOrder(wo, s)});
        }))]);
    }
    return el("li", {id: "wo-" + wo.id, class: "wo-item", "data-work-order": wo.id, "data-state": wo.state}, [
      el("h4", {id: "wo-" + wo.id + "-title", tabindex: "-1", text: title}),
      el("p", null, [B.t("common.state") + " : ", woStateLabel(wo), " · " + B.t("wo.post") + " : " + postName(wo.post) + " · " +
        B.t("wo.assigned") + " : " + B.t(wo.assignee_kind === "contractor" ? "incidents.contractor" : "incidents.team") + " " + wo.assignee]),
      wo.description ? el("p", {class: "muted", text: wo.description}) : null,
      el("ul", {class: "plain wo-dates"}, dates),
      wo.closure_note ? el("p", {text: B.t("wo.closure_note") + " : " + wo.closure_note}) : null,
      actions]);
  }
  function workOrderForm(inc) {
    if (!canAct(inc)) return null;
    if (["resolved", "closed"].includes(inc.state)) return el("p", {class: "muted", text: B.t("wo.closed_incident")});
    return el("form", {id: "wo-form", "aria-labelledby": "wo-form-title", onsubmit: async (e) => {
      e.preventDefault();
      const f = new FormData(e.target);
      const wo = await send("incidents/" + current + "/work-orders", {
        title: f.get("title"), description: f.get("description") || "",
        assignee_kind: f.get("assignee_kind"), assignee: f.get("assignee")},
        (out) => B.t("wo.created_msg", {id: out.id}), "wo-form");
      if (wo) {
        const made = document.getElementById("wo-" + wo.id + "-title");
        if (made) made.focus();
      }
    }}, [
      el("h4", {id: "wo-form-title", text: B.t("wo.new")}),
      el("p", null, [el("label", {for: "wo-title", text: B.t("wo.title_field")}),
        el("input", {id: "wo-title", name: "title", required: true, maxlength: "300"})]),
      el("p", null, [el("label", {for: "wo-description", text: B.t("wo.description")}),
        el("textarea", {id: "wo-description", name: "description", rows: "2", maxlength: "10000"})]),
      el("p", null, [el("label", {for: "wo-assignee-kind", text: B.t("wo.assignee_kind")}),
        el("select", {id: "wo-assignee-kind", name: "assignee_kind"}, [
          el("option", {value: "team", text: B.t("incidents.team")}),
          el("option", {value: "contractor", text: B.t("incidents.contractor")})])]),
      el("p", null, [el("label", {for: "wo-assignee", text: B.t("wo.assignee")}),
        el("input", {id: "wo-assignee", name: "assignee", required: true, maxlength: "200", "aria-describedby": "wo-assignee-help"}),
        el("small", {id: "wo-assignee-help", text: " " + B.t("wo.assignee_help")})]),
      el("p", null, el("button", {type: "submit", class: "primary", text: B.t("wo.create")}))]);
  }
  function workOrderSection(inc) {
    const orders = inc.work_orders || [];
    return el("section", {id: "work-orders", "aria-labelledby": "wo-heading"}, [
      el("h3", {id: "wo-heading", text: B.t("wo.section") + " (" + orders.length + ")"}),
      orders.length ? el("ul", {class: "plain", id: "wo-list"}, orders.map(workOrderItem))
        : el("p", {class: "muted", id: "wo-list", text: B.t("wo.none")}),
      workOrderForm(inc)]);
  }
  let drawn = 0;  // the latest call of showDetail: an older answer arriving late is dropped
  async function showDetail(id, keepInput, resetForm) {
    const call = ++drawn;
    const inc = await B.api("incidents/" + id);
    // A live refresh started before a step was posted may answer after the step's own
    // redraw: drawing it would show the incident as it was before the step.
    if (call !== drawn) return;
    document.getElementById("incident-dialog-title").textContent = "#" + inc.id + " " + B.local(inc, "title");
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
      workOrderSection(inc),
      el("h3", {text: B.t("incidents.steps")}),
      el("ol", {class: "plain"}, inc.steps.map((s) => el("li", {text: B.fmtDate(s.at) + " — " + B.t("step." + s.step) + " — " + s.actor + (s.note ? " — " + B.local(s, "note") : "")}))),
      el("h3", {text: B.t("incidents.comments")}),
      el("ul", {class: "plain", id: "comment-list"}, inc.comments.map((c) => el("li", {text: B.fmtDate(c.at) + " — " + c.actor + " : " + B.local(c, "text")}))),
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
  dialog.addEventListener("close", () => {
    const id = current;
    current = null;
    // Back to the card that opened the dialog (redrawn meanwhile by a live refresh, perhaps).
    const card = document.querySelector('li.card[data-incident="' + id + '"] button');
    if (opener && document.body.contains(opener)) opener.focus();
    else if (card) card.focus();
    else document.getElementById("page-title").focus();
    // The address no longer names the incident once its dialog is closed.
    if (new URLSearchParams(location.search).has("incident")) history.replaceState(null, "", location.pathname);
  });
  document.getElementById("incident-dialog-close").addEventListener("click", () => dialog.close());

  const create = document.getElementById("new-incident");
  if (create) create.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(create);
    try {
      const inc = await B.api("incidents", {method: "POST", json: {category: f.get("category"), title: f.get("title"), description: f.get("description") || ""}});
      create.reset();
      B.announce("#" + inc.id + " " + B.local(inc, "title"));
      await load();
    } catch (err) { B.showError(err); }
  });
  form.addEventListener("change", load);
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  document.addEventListener("beffroi:incidents", refresh);
  setInterval(tick, 1000);
  // ``?incident=ID`` (a link from the work orders page): open that incident once loaded; the
  // focus returns to its card when it has one on the board, else to the page's title.
  const asked = Number(new URLSearchParams(location.search).get("incident"));
  load().then(() => {
    if (!Number.isInteger(asked) || asked <= 0) return;
    const button = document.querySelector('li.card[data-incident="' + asked + '"] button');
    open(asked, button || document.getElementById("page-title"));
  });
})();
