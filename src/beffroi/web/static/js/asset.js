/* Asset page: live values, history charts (hour/day rollups), alarms, incidents and the
   commands the user's role may send. */
(function () {
  "use strict";
  const B = window.Beffroi, cfg = B.cfg, el = B.el;
  const urn = cfg.asset;
  const enc = encodeURIComponent;
  const assetPath = "assets/" + urn;
  let charts = [];

  async function live() {
    try {
      const body = await B.api("latest?asset=" + enc(urn));
      const item = body.items[0];
      const values = item ? item.values : {};
      const rows = Object.keys(values).sort().map((m) => {
        const v = values[m];
        const unit = (cfg.series.find((s) => s.metric === m) || {}).unit || "";
        return el("tr", {"data-metric": m}, [el("th", {scope: "row", text: m}),
          el("td", {text: (typeof v.value === "number" ? B.fmtNumber(v.value) : v.value) + (unit ? " " + unit : "")}),
          el("td", null, el("time", {datetime: v.ts, text: B.fmtDate(v.ts)}))]);
      });
      document.getElementById("live-rows").replaceChildren(...(rows.length ? rows :
        [el("tr", null, el("td", {colspan: "3", text: B.t("asset.no_data")}))]));
    } catch (err) { B.showError(err); }
  }

  function chartWidth() { return Math.max(280, Math.min(900, document.getElementById("charts").clientWidth - 10)); }

  async function history() {
    const chosen = document.querySelector('input[name="resolution"]:checked');
    const resolution = chosen.value;
    const span = resolution === "hour" ? 48 * 3600e3 : Number(chosen.dataset.days || 30) * 86400e3;
    const to = Date.now(), from = to - span;
    const box = document.getElementById("charts");
    box.dataset.loaded = "false";
    for (const c of charts) c.destroy();
    charts = [];
    box.replaceChildren();
    const tick = new Intl.DateTimeFormat(cfg.locale, resolution === "hour"
      ? {timeZone: cfg.timezone, hour: "2-digit", minute: "2-digit"}
      : {timeZone: cfg.timezone, day: "2-digit", month: "2-digit"});
    for (const s of cfg.series.filter((x) => x.kind === "number")) {
      const fig = el("figure", {class: "chart", "data-metric": s.metric});
      const caption = el("figcaption", {text: s.metric + (s.unit ? " (" + s.unit + ")" : "")});
      fig.append(caption);
      box.append(fig);
      if (!s.stored) { fig.append(el("p", {text: B.t("asset.no_data")})); continue; }
      try {
        const body = await B.api(assetPath + "/series/" + enc(s.metric) + "/history?resolution=" + resolution + "&from=" + Math.floor(from) + "&to=" + Math.floor(to) + "&limit=2000");
        if (!body.points.length) { fig.append(el("p", {text: B.t("asset.no_data")})); continue; }
        const xs = body.points.map((p) => Date.parse(p.ts) / 1000);
        const mean = body.points.map((p) => p.mean);
        const min = body.points.map((p) => p.min);
        const max = body.points.map((p) => p.max);
        const summary = el("p", {class: "visually-hidden", text: s.metric + ": " + body.points.length + " × " + resolution + ", min " + B.fmtNumber(Math.min(...min)) + ", max " + B.fmtNumber(Math.max(...max))});
        fig.append(summary);
        const opts = {
          width: chartWidth(), height: 220, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), cfg.timezone),
          series: [{}, {label: "min", stroke: "#8aa4c8", value: (u, v) => B.fmtNumber(v)},
                   {label: "moy.".replace("moy.", cfg.lang === "fr" ? "moy." : "mean"), stroke: "#0b4f9c", width: 2, value: (u, v) => B.fmtNumber(v)},
                   {label: "max", stroke: "#c0504d", value: (u, v) => B.fmtNumber(v)}],
          axes: [{values: (u, splits) => splits.map((ts) => tick.format(new Date(ts * 1000)))},
                 {values: (u, vals) => vals.map((v) => B.fmtNumber(v))}],
        };
        charts.push(new uPlot(opts, [xs, min, mean, max], fig));
        fig.dataset.points = String(body.points.length);
      } catch (err) { fig.append(el("p", {text: B.t("common.error", {m: err.message})})); }
    }
    box.dataset.loaded = "true";
  }

  async function alarms() {
    const list = document.getElementById("asset-alarms");
    try {
      const body = await B.api("alarms?asset=" + enc(urn) + "&limit=20");
      list.replaceChildren(...(body.items.length ? body.items.map((a) => el("li", {"data-alarm": a.id}, [
        el("span", {class: "sev sev-" + a.severity, text: B.t("severity." + a.severity)}), " ",
        B.fmtDate(a.raised) + " — " + B.local(a, "message") + " — " + B.t("alarmstate." + a.state)]))
        : [el("li", {text: B.t("alarms.none")})]));
    } catch (err) { B.showError(err); }
  }

  async function incidents() {
    const list = document.getElementById("asset-incidents");
    try {
      const body = await B.api("incidents?asset=" + enc(urn) + "&limit=20");
      const mine = body.items;
      list.replaceChildren(...(mine.length ? mine.map((i) => el("li", null, [
        el("a", {href: "/t/" + enc(cfg.territory) + "/incidents?incident=" + i.id, text: "#" + i.id + " " + B.local(i, "title")}),
        " — " + B.t("step." + i.state)])) : [el("li", {text: B.t("incidents.none")})]));
    } catch (err) { B.showError(err); }
  }

  // A name of the UI's catalogue (in the page's language), else what the API says.
  function named(key, fallback) {
    const text = B.t(key);
    return text === key ? fallback : text;
  }
  function field(cmd, name, schema, required) {
    const id = "p-" + cmd + "-" + name;
    const label = el("label", {for: id, text: named("cmd." + cmd + "." + name, schema.title || name) + (required ? " *" : "")});
    const about = named("cmd." + cmd + "." + name + ".help", schema.description || "");
    const help = about ? el("small", {id: id + "-help", text: about}) : null;
    let input;
    const type = schema.type || (schema.anyOf ? schema.anyOf[0].type : "string");
    if (type === "boolean") {
      input = el("select", {id, name, "data-type": "boolean", "aria-describedby": help ? id + "-help" : null},
        [el("option", {value: "true", text: B.t("common.yes")}), el("option", {value: "false", text: B.t("common.no")})]);
    } else if (type === "integer" || type === "number") {
      input = el("input", {id, name, type: "number", "data-type": type, required, step: type === "integer" ? "1" : "any", "aria-describedby": help ? id + "-help" : null});
    } else if (type === "string") {
      input = el("input", {id, name, type: "text", "data-type": "string", required, value: schema.default || null, "aria-describedby": help ? id + "-help" : null});
    } else {
      input = el("textarea", {id, name, rows: "3", "data-type": "json", required, "aria-describedby": help ? id + "-help" : null});
    }
    return el("p", null, [label, input, help]);
  }

  async function commands() {
    const box = document.getElementById("commands");
    if (!cfg.role || cfg.role === "field_agent") { box.replaceChildren(el("p", {text: B.t("asset.no_commands")})); return; }
    try {
      const entries = await B.api(assetPath + "/commands/catalogue");
      if (!entries.length) { box.replaceChildren(el("p", {text: B.t("asset.no_commands")})); return; }
      box.replaceChildren(...entries.map((c) => {
        const props = c.params.properties || {};
        const required = c.params.required || [];
        const title = named("cmd." + c.command, c.command);
        const form = el("form", {class: "command", "data-command": c.command, "aria-labelledby": "cmd-" + c.command}, [
          el("h3", {id: "cmd-" + c.command, text: title}),
          el("p", {class: "muted", text: named("cmd." + c.command + ".about", c.description)}),
          ...Object.keys(props).map((n) => field(c.command, n, props[n], required.includes(n))),
          el("button", {type: "submit", class: "primary", text: B.t("asset.send") + " « " + title + " »"})]);
        form.addEventListener("submit", async (e) => {
          e.preventDefault();
          const params = {};
          for (const input of form.querySelectorAll("[data-type]")) {
            if (input.value === "" ) continue;
            const t = input.dataset.type;
            params[input.name] = t === "boolean" ? input.value === "true" : (t === "integer" || t === "number") ? Number(input.value)
              : t === "json" ? JSON.parse(input.value) : input.value;
          }
          try {
            const batch = await B.api("commands", {method: "POST", json: {command: c.command, params, urns: [urn]}});
            const st = batch.commands && batch.commands[0] ? batch.commands[0].state : "";
            const said = B.t("asset.sent", {c: title, s: named("cmdstate." + st, st)});
            B.announce(said);
            B.toast(said);
            recent();
          } catch (err) { B.showError(err); }
        });
        return form;
      }));
    } catch (err) {
      if (err.status === 403) box.replaceChildren(el("p", {text: B.t("asset.no_commands")}));
      else B.showError(err);
    }
  }

  async function recent() {
    const list = document.getElementById("recent-commands");
    if (!cfg.role || cfg.role === "field_agent") return;
    try {
      const body = await B.api("commands?asset=" + enc(urn) + "&limit=10");
      list.replaceChildren(...body.items.map((c) => el("li", {"data-command-id": c.id, "data-state": c.state},
        B.fmtDate(c.created) + " — " + named("cmd." + c.command, c.command) + " " + JSON.stringify(c.params) + " — " + named("cmdstate." + c.state, c.state))));
    } catch (err) { /* viewers without access */ }
  }

  document.querySelectorAll('input[name="resolution"]').forEach((r) => r.addEventListener("change", history));
  document.addEventListener("beffroi:states", live);
  document.addEventListener("beffroi:alarms", alarms);
  document.addEventListener("beffroi:incidents", incidents);
  document.addEventListener("beffroi:commands", recent);
  live(); history(); alarms(); incidents(); commands(); recent();
})();
