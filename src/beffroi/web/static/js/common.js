/* Beffroi control room: helpers shared by every page (no framework, no build). */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("beffroi-config").textContent);
  const messages = JSON.parse(document.getElementById("beffroi-messages").textContent);

  function t(key, values) {
    let text = messages[key] || key;
    if (values) for (const k of Object.keys(values)) text = text.split("{" + k + "}").join(String(values[k]));
    return text;
  }

  const locale = cfg.locale || cfg.lang || "fr";
  const dateFmt = new Intl.DateTimeFormat(locale, {
    timeZone: cfg.timezone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit"});
  const numberFmts = {};
  function fmtNumber(value, digits) {
    if (value === null || value === undefined || value === "") return "—";
    if (typeof value !== "number") return String(value);
    const d = digits === undefined ? 2 : digits;
    if (!numberFmts[d]) numberFmts[d] = new Intl.NumberFormat(locale, {maximumFractionDigits: d});
    return numberFmts[d].format(value);
  }
  function fmtDate(value) {
    if (!value) return "—";
    const d = typeof value === "number" ? new Date(value) : new Date(value);
    return isNaN(d) ? String(value) : dateFmt.format(d);
  }
  /* A text the platform wrote in both languages (``titles``, ``messages``, ``texts``,
     ``notes``: {fr, en}) in the page's language, else the text as stored (``title``…). */
  function local(item, field) {
    const both = item && item[field + "s"];
    return (both && both[cfg.lang]) || (item ? item[field] : "") || "";
  }
  function fmtDuration(seconds) {
    const s = Math.abs(Math.round(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    if (h >= 48) return Math.floor(h / 24) + (cfg.lang === "fr" ? " j" : " d");
    return (h ? h + " h " : "") + String(m).padStart(h ? 2 : 1, "0") + " min";
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && (body.message || body.error)) || ("HTTP " + status));
      this.status = status; this.body = body;
    }
  }
  async function api(path, options) {
    const opts = Object.assign({credentials: "same-origin", headers: {}}, options || {});
    if (opts.json !== undefined) {
      opts.body = JSON.stringify(opts.json);
      opts.headers["Content-Type"] = "application/json";
      delete opts.json;
    }
    const url = path.startsWith("/") ? path : "/api/v1/territories/" + encodeURIComponent(cfg.territory) + "/" + path;
    const r = await fetch(url, opts);
    if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); throw new ApiError(401, null); }
    const text = await r.text();
    const body = text ? JSON.parse(text) : null;
    if (!r.ok) {
      let msg = body && body.message ? body.message : "HTTP " + r.status;
      if (body && body.details) msg += " (" + body.details.map((d) => d.field + ": " + d.reason).join("; ") + ")";
      throw new ApiError(r.status, Object.assign({}, body, {message: msg}));
    }
    return body;
  }

  function announce(text) {
    const el = document.getElementById("announcer");
    if (!el) return;
    el.textContent = "";
    setTimeout(() => { el.textContent = text; }, 30);
  }
  function toast(text) {
    const box = document.getElementById("toasts");
    const p = document.createElement("p");
    p.className = "toast";
    p.textContent = text;
    box.appendChild(p);
    setTimeout(() => p.remove(), 8000);
  }
  function showError(err) { toast(t("common.error", {m: err.message || String(err)})); }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of [].concat(children || []).flat(Infinity)) if (c !== null && c !== undefined && c !== false) node.append(c);
    return node;
  }

  // Live stream: one EventSource per page; pages listen to "beffroi:<event>" on document.
  let source = null;
  function connect() {
    if (!cfg.territory || source) return;
    const status = document.getElementById("live-status");
    source = new EventSource("/t/" + encodeURIComponent(cfg.territory) + "/events");
    const setLive = (on) => {
      if (!status) return;
      status.dataset.state = on ? "on" : "off";
      status.textContent = on ? t("common.live") : t("common.offline");
    };
    source.addEventListener("hello", () => setLive(true));
    source.onerror = () => setLive(false);
    for (const name of ["alarms", "incidents", "commands", "states"]) {
      source.addEventListener(name, (e) => {
        setLive(true);
        document.dispatchEvent(new CustomEvent("beffroi:" + name, {detail: JSON.parse(e.data || "{}")}));
      });
    }
  }

  async function refreshBadge() {
    const badge = document.getElementById("alarm-badge");
    if (!badge || !cfg.territory) return;
    try {
      const response = await fetch("/t/" + encodeURIComponent(cfg.territory) + "/counts", {credentials: "same-origin"});
      if (!response.ok) return;
      const n = (await response.json()).alarms;
      badge.hidden = n === 0;
      badge.textContent = n > 99 ? "99+" : String(n);
      badge.setAttribute("aria-label", n + " " + t("alarms.open"));
    } catch (e) { /* the badge is a hint only */ }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const sw = document.getElementById("territory-select");
    if (sw) sw.addEventListener("change", () => { location.href = "/t/" + encodeURIComponent(sw.value) + "/map"; });
    for (const n of document.querySelectorAll("[data-num]")) n.textContent = fmtNumber(Number(n.dataset.num), Number(n.dataset.digits || 2));
    connect();
    refreshBadge();
    document.addEventListener("beffroi:alarms", refreshBadge);
  });

  window.Beffroi = {cfg, t, local, api, fmtNumber, fmtDate, fmtDuration, announce, toast, showError, el, ApiError};
})();
