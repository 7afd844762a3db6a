// relgraph dashboard: a small hash-routed single page over the REST API (/api/v1).
// Plain DOM, no build step. Every value from the server goes in via textContent
// (never innerHTML): table cells are user data.
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "relgraph.token";
const main = () => document.getElementById("main");
let pollTimer = null;

// -- helpers ---------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick" || k === "onchange" || k === "onsubmit") el[k] = v;
    else if (k === "text") el.textContent = v;
    else if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Plotly renders trace names, tick labels and hover text as its own small HTML (<a>, <b>,
// <br>, <span style>): data-made strings are entity-escaped, so they show as written.
// (Without '<' no tag is parsed, so quotes stay: Plotly would show "&quot;" as is.)
function plotlyText(v) {
  return fmt(v).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function fmt(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function toast(msg) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.hidden = false;
  setTimeout(() => { t.hidden = true; }, 6000);
}

function token() { return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY); }

async function api(path, opts = {}) {
  const headers = { Authorization: "Bearer " + token() };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(API + path, {
    method: opts.method || "GET", headers,
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });
  if (r.status === 401) {
    const body = await r.json().catch(() => ({}));
    if (!location.hash.startsWith("#/login")) logout();
    throw new Error((body && body.detail) || "please log in");
  }
  const body = r.status === 204 ? null : await r.json().catch(() => ({}));
  if (!r.ok) {
    let msg = body && (body.message || body.detail);
    if (typeof msg !== "string") msg = JSON.stringify(msg);
    throw new Error(msg || r.statusText);
  }
  return body;
}

function dataTable(rows, columns) {
  columns = columns || (rows.length ? Object.keys(rows[0]) : []);
  return h("div", { class: "scroll" },
    h("table", { class: "data" },
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { text: c })))),
      h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c) => h("td", { text: fmt(r[c]), title: fmt(r[c]) })))))));
}

// A paged table: fetches `path?limit&offset` and re-renders itself.
function pagedTable(path, { limit = 25, columns = null, id = null } = {}) {
  const box = h("div", { id });
  let offset = 0;
  async function load() {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api(`${path}${sep}limit=${limit}&offset=${offset}`);
    const end = Math.min(offset + page.items.length, page.total);
    box.replaceChildren(
      dataTable(page.items, columns || page.columns),
      h("div", { class: "row pager" },
        h("button", { class: "secondary", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - limit); load(); } }, "‹ Prev"),
        h("span", { class: "muted" }, `${page.total ? offset + 1 : 0}–${end} of ${page.total}`),
        h("button", { class: "secondary", disabled: end >= page.total, onclick: () => { offset += limit; load(); } }, "Next ›")));
  }
  load().catch((e) => toast(e.message));
  return box;
}

// -- auth -------------------------------------------------------------------------------
function logout() {
  sessionStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(TOKEN_KEY);
  document.getElementById("nav").hidden = true;
  location.hash = "#/login";
}

function viewLogin() {
  document.getElementById("nav").hidden = true;
  const input = h("input", { id: "token-input", type: "password", placeholder: "rg_…", autocomplete: "off" });
  const remember = h("input", { id: "remember", type: "checkbox" });
  const form = h("form", {
    onsubmit: async (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      if (remember.checked) localStorage.setItem(TOKEN_KEY, input.value.trim());
      try { await api("/me"); location.hash = "#/"; } catch (e) { toast("Login failed: " + e.message); }
    },
  },
  h("h1", {}, "Log in"),
  h("p", { class: "muted" }, "Paste an API token (create one with ", h("code", {}, "relgraph token create --role viewer"), ")."),
  input, h("label", { class: "row" }, remember, "Remember on this device"),
  h("button", { id: "login-btn", type: "submit" }, "Log in"));
  main().replaceChildren(h("div", { class: "card login" }, form));
  input.focus();
}

// -- tables (entity dashboards) ------------------------------------------------------------
async function viewHome() {
  const snap = await api("/snapshots/latest").catch(() => null);
  if (!snap) {
    main().replaceChildren(h("h1", {}, "No data yet"), ingestForm());
    return;
  }
  const tiles = Object.entries(snap.tables).map(([name, t]) =>
    h("a", { class: "tile", href: `#/table/${encodeURIComponent(name)}`, "data-table": name },
      h("div", { text: name, style: "font-weight:600" }),
      h("div", { class: "n", text: t.rows.toLocaleString() }),
      h("div", { class: "muted", text: `${Object.keys(t.columns).length} columns · ${Object.keys(t.foreign_keys).length} links` })));
  main().replaceChildren(
    h("h1", {}, "Tables"),
    h("p", { class: "muted" }, `Snapshot ${snap.snapshot_id} · source ${snap.source} · ${snap.created}`),
    h("div", { class: "grid", id: "table-list" }, tiles),
    h("h2", {}, "Links"), h("div", { class: "card" }, snap.links.map((l) => h("div", { text: l }))),
    ingestForm());
}

function ingestForm() {
  const src = h("input", { id: "ingest-source", placeholder: "examples/f1, sqlite:///file.db, …", size: 50 });
  return h("div", { class: "card" }, h("h2", {}, "Ingest a source"),
    h("div", { class: "row" }, src,
      h("button", { id: "ingest-btn", onclick: async () => {
        try { await api("/sources", { method: "POST", body: { source: src.value } }); location.hash = "#/jobs"; }
        catch (e) { toast(e.message); }
      } }, "Start ingest job")));
}

async function viewTable(name) {
  const stats = await api(`/snapshots/latest/tables/${encodeURIComponent(name)}/stats`);
  const schemaRows = stats.columns.map((c) => ({
    column: c.column, stype: c.stype, type: c.type,
    key: c.column === stats.primary_key ? "primary key" : (stats.foreign_keys[c.column] ? "→ " + stats.foreign_keys[c.column] : (c.column === stats.time_column ? "time" : "")),
    nulls: (100 * c.null_fraction).toFixed(1) + "%", distinct: c.distinct, min: c.min, max: c.max, mean: c.mean,
  }));
  const chart = h("div", { id: "stats-chart", style: "height:280px" });
  main().replaceChildren(
    h("h1", { id: "table-title" }, name),
    h("p", { class: "muted" }, `${stats.rows.toLocaleString()} rows · primary key ${stats.primary_key || "none"} · time column ${stats.time_column || "none"}`),
    h("h2", {}, "Schema and statistics"), h("div", { class: "card", id: "schema-card" }, dataTable(schemaRows)),
    h("div", { class: "card" }, chart),
    h("h2", {}, "Preview"),
    h("div", { class: "card" }, pagedTable(`/snapshots/latest/tables/${encodeURIComponent(name)}/rows`, { id: "preview" })));
  if (window.Plotly) {
    const cols = stats.columns;
    Plotly.newPlot(chart, [
      { type: "bar", name: "filled %", x: cols.map((c) => plotlyText(c.column)), y: cols.map((c) => 100 * (1 - c.null_fraction)) },
      { type: "bar", name: "distinct % of rows", x: cols.map((c) => plotlyText(c.column)), y: cols.map((c) => Math.min(100, 100 * c.distinct / Math.max(stats.rows, 1))) },
    ], { title: { text: "Per column: filled and distinct shares (%)" }, barmode: "group", margin: { t: 40, b: 80 }, yaxis: { range: [0, 100] } },
    { displayModeBar: false, responsive: true });
  }
}

// -- jobs -------------------------------------------------------------------------------------
async function viewJobs() {
  const list = h("div", { id: "jobs-list" });
  const kinds = (await api("/jobs/kinds")).kinds;
  const kindSel = h("select", { id: "job-kind" }, kinds.map((k) => h("option", { value: k, text: k })));
  const params = h("input", { id: "job-params", size: 60, value: '{"table": "drivers"}' });
  main().replaceChildren(h("h1", {}, "Jobs"),
    h("div", { class: "card" }, h("div", { class: "row" }, kindSel, params,
      h("button", { id: "job-start", onclick: async () => {
        try { await api("/jobs", { method: "POST", body: { kind: kindSel.value, params: JSON.parse(params.value || "{}") } }); refresh(); }
        catch (e) { toast(e.message); }
      } }, "Start job"))),
    list, h("div", { id: "job-detail" }));
  async function refresh() {
    const page = await api("/jobs?limit=50");
    list.replaceChildren(h("div", { class: "card" }, h("table", { class: "data" },
      h("thead", {}, h("tr", {}, ["id", "kind", "from", "status", "progress", "message", "created", "finished", ""].map((c) => h("th", { text: c })))),
      h("tbody", {}, page.items.map((j) => h("tr", { "data-job": j.id, "data-kind": j.kind, "data-status": j.status, "data-origin": j.origin },
        h("td", {}, h("a", { href: `#/jobs/${j.id}`, text: j.id })), h("td", { text: j.kind }),
        h("td", { text: j.origin === "pipeline" ? `run ${j.run_id}: ${j.name}` : (j.created_by ? `API (token ${j.created_by})` : "API") }),
        h("td", {}, h("span", { class: `badge ${j.status}`, text: j.status })),
        h("td", {}, h("span", { class: "bar" }, h("span", { style: `width:${Math.round(100 * j.progress)}%` })), ` ${Math.round(100 * j.progress)}%`),
        h("td", { text: j.error || j.message }), h("td", { text: j.created }), h("td", { text: j.finished || "" }),
        h("td", {}, ["pending", "queued", "running"].includes(j.status)
          ? h("button", { class: "secondary", onclick: () => api(`/jobs/${j.id}/cancel`, { method: "POST" }).then(refresh, (e) => toast(e.message)) }, "Cancel")
          : (["failed", "cancelled", "blocked"].includes(j.status)
            ? h("button", { class: "secondary", onclick: () => api(`/jobs/${j.id}/retry`, { method: "POST" }).then(refresh, (e) => toast(e.message)) }, "Retry") : null))))))));
  }
  await refresh();
  pollTimer = setInterval(() => refresh().catch(() => {}), 1000);
}

async function viewJob(id) {
  const box = h("div", {});
  main().replaceChildren(h("h1", {}, `Job ${id}`), box);
  async function refresh() {
    const j = await api(`/jobs/${id}`);
    const logs = await api(`/jobs/${id}/logs?limit=1000`);
    box.replaceChildren(
      h("div", { class: "card" }, h("dl", { class: "kv" },
        ["kind", "name", "origin", "run_id", "status", "progress", "message", "error", "attempts", "created", "started", "finished", "created_by"].flatMap((k) => [h("dt", { text: k }), h("dd", { id: `job-${k}`, text: fmt(j[k]) })]))),
      h("h2", {}, "Parameters"), h("pre", { text: JSON.stringify(j.params, null, 2) }),
      h("h2", {}, "Result"), h("pre", { id: "job-result", text: JSON.stringify(j.result, null, 2) }),
      resultLink(j),
      h("h2", {}, "Logs"), h("pre", { class: "logs", text: logs.items.join("\n") }));
    if (["succeeded", "skipped", "failed", "blocked", "cancelled"].includes(j.status)) { clearInterval(pollTimer); pollTimer = null; }
  }
  await refresh();
  pollTimer = setInterval(() => refresh().catch(() => {}), 1000);
}

function resultLink(j) {
  const r = j.result || {};
  const links = [];
  if (r.model_id) links.push(h("a", { id: "open-model", href: `#/models/${encodeURIComponent(r.model_id)}` }, "Open the model"));
  if (r.predictions) links.push(h("a", { id: "open-predictions", href: `#/predictions/${encodeURIComponent(r.predictions)}` }, "Open the predictions"));
  if (r.output_id) links.push(h("a", { id: "open-projection", href: `#/embeddings/${encodeURIComponent(r.output_id)}` }, "Open the 3-D projection"));
  if (r.snapshot_id) links.push(h("a", { href: "#/" }, "Open the tables"));
  return links.length ? h("div", { class: "row" }, links) : null;
}

// -- query editor -------------------------------------------------------------------------
async function viewQuery() {
  const kinds = (await api("/jobs/kinds")).kinds;
  const text = h("textarea", { id: "query-text", spellcheck: "false" });
  text.value = sessionStorage.getItem("relgraph.query") || "PREDICT COUNT(results.*, 0, 30, days) > 0 FOR EACH drivers.driverId";
  const taskBox = h("div", { id: "task-box", class: "card" }, h("span", { class: "muted" }, "Compile the query to see its task."));
  const statsBox = h("div", { id: "label-stats" });
  const compile = async () => {
    sessionStorage.setItem("relgraph.query", text.value);
    try {
      const r = await api("/queries/compile", { method: "POST", body: { query: text.value } });
      taskBox.replaceChildren(h("h2", {}, "Inferred task"), h("dl", { class: "kv", id: "task-kv" },
        Object.entries(r.task).filter(([k]) => k !== "query").flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { "data-field": k, text: fmt(v && v.text ? v.text : v) })])));
      return true;
    } catch (e) {
      taskBox.replaceChildren(h("div", { id: "query-error", style: "color:var(--bad)", text: e.message }));
      return false;
    }
  };
  const labelStats = async () => {
    if (!(await compile())) return;
    try {
      const r = await api("/queries/explain", { method: "POST", body: { query: text.value } });
      if (!r.job) { statsBox.replaceChildren(h("p", { class: "muted" }, "This server cannot count labels.")); return; }
      statsBox.replaceChildren(h("p", { class: "muted" }, "Counting labels…"));
      const poll = async () => {
        const j = await api(`/jobs/${r.job.id}`);
        if (j.status === "succeeded") {
          const rows = Object.entries(j.result.splits).map(([split, s]) => ({ split, rows: s.rows, anchors: s.anchors, mean: s.mean, min: s.min, max: s.max, distribution: s.distribution }));
          statsBox.replaceChildren(h("div", { class: "card" }, h("h2", {}, "Label statistics"), dataTable(rows)));
        } else if (["failed", "cancelled"].includes(j.status)) {
          statsBox.replaceChildren(h("p", { style: "color:var(--bad)", text: j.error || j.status }));
        } else setTimeout(poll, 700);
      };
      poll();
    } catch (e) { toast(e.message); }
  };
  const budget = h("select", { id: "train-budget" }, ["fast", "normal", "best"].map((b) => h("option", { value: b, text: `budget: ${b}` })));
  const minutes = h("input", { id: "train-minutes", type: "number", min: "0.1", step: "0.1", placeholder: "minutes (optional)", style: "width:150px" });
  const valCut = h("input", { id: "train-val-cutoff", placeholder: "val cut-off (optional)", size: 18 });
  const testCut = h("input", { id: "train-test-cutoff", placeholder: "test cut-off (optional)", size: 18 });
  const trainBtn = kinds.includes("train")
    ? h("span", { class: "row" }, budget, minutes, valCut, testCut, h("button", { id: "train-btn", onclick: async () => {
        if (!(await compile())) return;
        const params = { query: text.value, budget: budget.value };
        if (minutes.value) params.minutes = parseFloat(minutes.value);
        if (valCut.value) params.val_cutoff = valCut.value;
        if (testCut.value) params.test_cutoff = testCut.value;
        try { const j = await api("/jobs", { method: "POST", body: { kind: "train", params } }); location.hash = `#/jobs/${j.id}`; }
        catch (e) { toast(e.message); }
      } }, "Train"))
    : h("span", { class: "muted", id: "train-unavailable" }, "Training is not available on this server.");
  main().replaceChildren(h("h1", {}, "Predictive query"),
    h("div", { class: "card" }, text, h("div", { class: "row" },
      h("button", { id: "compile-btn", class: "secondary", onclick: compile }, "Compile"),
      h("button", { id: "stats-btn", class: "secondary", onclick: labelStats }, "Label statistics"), trainBtn)),
    taskBox, statsBox);
}

// -- models -------------------------------------------------------------------------------
async function viewModels() {
  const page = await api("/models?limit=100");
  const testOf = (m, which) => { const s = (m.metrics || {})[which]; return s && s.test ? s.test[m.metric] : null; };
  main().replaceChildren(h("h1", {}, "Models"), h("div", { class: "card", id: "models-list" }, page.items.length
    ? h("table", { class: "data" },
        h("thead", {}, h("tr", {}, ["model", "query", "metric", "GNN (test)", "LightGBM (test)", "created"].map((c) => h("th", { text: c })))),
        h("tbody", {}, page.items.map((m) => h("tr", {},
          h("td", {}, h("a", { href: `#/models/${encodeURIComponent(m.id)}`, text: m.id })),
          h("td", { text: m.query || "", title: m.query || "" }), h("td", { text: m.metric || "" }),
          h("td", { text: fmt(testOf(m, "gnn")) }), h("td", { text: fmt(testOf(m, "lightgbm")) }), h("td", { text: m.created })))))
    : h("p", { class: "muted" }, "No models yet: write a query and press Train.")));
}

function curves(history) {
  // Accepts {name: [values]} or [{epoch, name: value, ...}, ...].
  const series = {};
  if (Array.isArray(history)) {
    history.forEach((row, i) => Object.entries(row).forEach(([k, v]) => {
      if (k === "epoch" || typeof v !== "number") return;
      (series[k] = series[k] || { x: [], y: [] }).x.push(row.epoch ?? i);
      series[k].y.push(v);
    }));
  } else if (history && typeof history === "object") {
    Object.entries(history).forEach(([k, v]) => { if (Array.isArray(v)) series[k] = { x: v.map((_, i) => i), y: v }; });
  }
  return Object.entries(series).map(([name, s]) => ({ type: "scatter", mode: "lines+markers", name: plotlyText(name), x: s.x, y: s.y }));
}

async function viewModel(id) {
  const m = await api(`/models/${encodeURIComponent(id)}`);
  const metrics = m.metrics || {};
  const flat = [];
  (function walk(prefix, obj) {
    Object.entries(obj).forEach(([k, v]) => {
      if (v && typeof v === "object" && !Array.isArray(v)) walk(prefix + k + ".", v);
      else flat.push({ metric: prefix + k, value: v });
    });
  })("", metrics);
  const chart = h("div", { id: "learning-curves", style: "height:360px" });
  const preds = (await api("/predictions?limit=100")).items.filter((p) => p.model_id === id);
  main().replaceChildren(h("h1", {}, `Model ${id}`),
    h("div", { class: "card" }, h("dl", { class: "kv" }, ["query", "metric", "snapshot_id", "created"].flatMap((k) => [h("dt", { text: k }), h("dd", { text: fmt(m[k]) })]))),
    h("div", { class: "card", id: "model-metrics" }, h("h2", {}, "Metrics"), dataTable(flat, ["metric", "value"])),
    h("div", { class: "card" }, h("h2", {}, "Predictions"), preds.length
      ? preds.map((p) => h("div", {}, h("a", { href: `#/predictions/${encodeURIComponent(p.id)}`, text: p.id }), h("span", { class: "muted", text: ` ${p.rows} rows` })))
      : h("p", { class: "muted" }, "None yet: start a 'predict' job.")),
    h("div", { class: "card" }, h("h2", {}, "Learning curves"), chart),
    h("details", { class: "card" }, h("summary", {}, "Everything stored"), h("pre", { text: JSON.stringify(m, null, 2) })));
  const traces = curves(m.history);
  if (traces.length && window.Plotly) Plotly.newPlot(chart, traces, { margin: { t: 20 }, xaxis: { title: "epoch" } }, { responsive: true });
  else chart.replaceChildren(h("p", { class: "muted" }, "No learning curves stored with this model."));
}

// -- predictions ------------------------------------------------------------------------------
function viewPredictions(id) {
  main().replaceChildren(h("h1", {}, `Predictions ${id}`), h("div", { class: "card" }, pagedTable(`/predictions/${encodeURIComponent(id)}/rows`, { limit: 50 })));
}

// -- embeddings and the 3-D projection ------------------------------------------------------------
async function viewEmbeddings() {
  const page = await api("/embeddings?limit=100");
  main().replaceChildren(h("h1", {}, "Embeddings"),
    h("div", { class: "card", id: "embeddings-list" }, page.items.length
      ? page.items.map((e) => h("div", {}, h("a", { href: `#/embeddings/${e.id}`, "data-output": e.id, text: e.id }), h("span", { class: "muted", text: ` ${e.table || ""} · ${e.source || ""} · ${e.created || ""}` })))
      : h("p", { class: "muted" }, "None yet: start a 'project' job (params {\"table\": \"drivers\"}) on the Jobs page.")));
}

async function viewProjection(id) {
  const points = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await api(`/embeddings/${encodeURIComponent(id)}/projection?limit=1000&offset=${offset}`);
    points.push(...page.items);
    if (!page.items.length || points.length >= page.total) break;
  }
  const colourable = ["cluster", "label", "prediction"].filter((c) => points.length && c in points[0] && points[0][c] !== null);
  const sel = h("select", { id: "colour-by" }, colourable.map((c) => h("option", { value: c, text: c })));
  const plot = h("div", { id: "plot3d" });
  main().replaceChildren(h("h1", {}, `3-D projection ${id}`),
    h("div", { class: "row" }, "Colour by ", sel, h("span", { class: "muted", id: "point-count", text: `${points.length} points` })),
    h("div", { class: "card" }, plot));
  function draw() {
    const by = sel.value || "cluster";
    const groups = {};
    points.forEach((p) => { const g = fmt(p[by]); (groups[g] = groups[g] || []).push(p); });
    const numeric = points.length && typeof points[0][by] === "number";
    const traces = numeric
      ? [{ type: "scatter3d", mode: "markers", x: points.map((p) => p.x), y: points.map((p) => p.y), z: points.map((p) => p.z),
           marker: { size: 3, color: points.map((p) => p[by]), colorscale: "Viridis", showscale: true },
           text: points.map(hover), hoverinfo: "text" }]
      : Object.entries(groups).sort().map(([g, ps]) => ({ type: "scatter3d", mode: "markers", name: plotlyText(g),
           x: ps.map((p) => p.x), y: ps.map((p) => p.y), z: ps.map((p) => p.z), marker: { size: 3 },
           text: ps.map(hover), hoverinfo: "text" }));
    Plotly.react(plot, traces, { margin: { l: 0, r: 0, t: 0, b: 0 }, legend: { title: { text: by } } }, { responsive: true });
  }
  function hover(p) {
    let row = {};
    try { row = JSON.parse(p.row || "{}"); } catch (_) { /* not JSON: show nothing extra */ }
    return [`ENTITY ${plotlyText(p.ENTITY)}`, ...Object.entries(row).map(([k, v]) => `${plotlyText(k)}: ${plotlyText(v)}`)].join("<br>");
  }
  sel.onchange = draw;
  if (window.Plotly) draw();
}

// -- router ---------------------------------------------------------------------------------
async function route() {
  if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (!token() && parts[0] !== "login") { location.hash = "#/login"; return; }
  if (parts[0] === "login") return viewLogin();
  document.getElementById("nav").hidden = false;
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === (parts[0] || "home")));
  try {
    if (!document.getElementById("whoami").textContent) {
      const me = await api("/me");
      document.getElementById("whoami").textContent = `${me.role} · ${me.id}`;
    }
    main().replaceChildren(h("p", { class: "muted" }, "Loading…"));
    switch (parts[0]) {
      case "": return await viewHome();
      case "table": return await viewTable(parts[1]);
      case "jobs": return parts[1] ? await viewJob(parts[1]) : await viewJobs();
      case "query": return await viewQuery();
      case "models": return parts[1] ? await viewModel(parts[1]) : await viewModels();
      case "predictions": return viewPredictions(parts[1]);
      case "embeddings": return parts[1] ? await viewProjection(parts[1]) : await viewEmbeddings();
      default: main().replaceChildren(h("h1", {}, "Not found"));
    }
  } catch (e) {
    main().replaceChildren(h("div", { class: "card", style: "color:var(--bad)", id: "page-error", text: e.message }));
  }
}

document.getElementById("logout-btn").onclick = () => { document.getElementById("whoami").textContent = ""; logout(); };
window.addEventListener("hashchange", route);
route();
