// relgraph dashboard: a small hash-routed single page over the REST API (/api/v1).
// Plain DOM, no build step. Every value from the server goes in via textContent
// (never innerHTML): table cells are user data.
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "relgraph.token";
const SNAP_KEY = "relgraph.snapshot";
const main = () => document.getElementById("main");
let pollTimer = null;
let ROLE = null; // the logged-in token's role: what the pages offer depends on it
const RANK = { viewer: 0, editor: 1, admin: 2 };
const can = (role) => ROLE !== null && RANK[ROLE] >= RANK[role];
const snapId = () => sessionStorage.getItem(SNAP_KEY) || "latest";

// -- helpers ---------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) el[k] = v;
    else if (k === "text") el.textContent = v;
    else if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// replaceChildren that skips absent parts (null, undefined, false): DOM's own would
// print them as the text "null".
function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

// A button only an editor (or admin) may use: for others it stays visible but disabled,
// with the reason beside it, so a viewer sees what exists without being offered it.
function guarded(role, btn) {
  if (can(role)) return btn;
  btn.disabled = true;
  btn.title = `needs the ${role} role (you are ${ROLE})`;
  btn.classList.add("guarded");
  return h("span", { class: "guard" }, btn, h("span", { class: "muted reason", text: ` needs the ${role} role` }));
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
  if (typeof v === "object") return JSON.stringify(v, (_, x) => (x === null ? undefined : x));
  return String(v);
}

// Pretty JSON without its empty (null) fields: they say nothing and would read "null".
function pretty(v) { return JSON.stringify(v, (_, x) => (x === null ? undefined : x), 2) ?? ""; }

function duration(s) {
  if (s === null || s === undefined || !isFinite(s)) return "";
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

let toastTimer = null;
function toast(msg) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 6000);
}
function clearToast() { clearTimeout(toastTimer); document.getElementById("toast").hidden = true; }

function token() { return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY); }

class ApiError extends Error {
  constructor(msg, status, body) { super(msg); this.status = status; this.body = body || {}; }
}

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
    throw new ApiError((body && body.detail) || "please log in", 401, body);
  }
  if (opts.raw) {
    if (!r.ok) throw new ApiError(r.statusText, r.status);
    return r;
  }
  const body = r.status === 204 ? null : await r.json().catch(() => ({}));
  if (!r.ok) {
    let msg = body && (body.message || body.detail);
    if (Array.isArray(msg)) msg = msg.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    else if (typeof msg !== "string") msg = JSON.stringify(msg);
    throw new ApiError(msg || r.statusText, r.status, body);
  }
  return body;
}

// Downloads need the token header, so they are fetched and handed over as a blob.
async function download(path, filename) {
  const r = await api(path, { raw: true });
  const url = URL.createObjectURL(await r.blob());
  const a = h("a", { href: url, download: filename });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

const hidden = (c) => c.startsWith("_rg_"); // the store's bookkeeping columns

function dataTable(rows, columns, { onSort = null, sort = null, desc = false } = {}) {
  columns = (columns || (rows.length ? Object.keys(rows[0]) : [])).filter((c) => !hidden(c));
  const head = columns.map((c) => {
    const mark = sort === c ? (desc ? " ▼" : " ▲") : "";
    return onSort ? h("th", { class: "sortable", "data-col": c, onclick: () => onSort(c), text: c + mark }) : h("th", { text: c });
  });
  return h("div", { class: "scroll" },
    h("table", { class: "data" },
      h("thead", {}, h("tr", {}, head)),
      h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c) => h("td", { text: fmt(r[c]), title: fmt(r[c]) })))))));
}

// A paged table: fetches `path?limit&offset` (plus search/sort when `browse`) and re-renders itself.
function pagedTable(path, { limit = 25, columns = null, id = null, browse = false, search = "" } = {}) {
  const box = h("div", { id });
  const body = h("div", {});
  let offset = 0, sort = "", desc = false, q = search;
  const input = h("input", { class: "search", type: "search", placeholder: "Search…", value: q });
  let debounce = null;
  input.oninput = () => { clearTimeout(debounce); debounce = setTimeout(() => { q = input.value; offset = 0; load(); }, 250); };
  async function load() {
    const sep = path.includes("?") ? "&" : "?";
    let url = `${path}${sep}limit=${limit}&offset=${offset}`;
    if (browse) url += `&q=${encodeURIComponent(q)}&sort=${encodeURIComponent(sort)}&desc=${desc}`;
    const page = await api(url);
    const end = Math.min(offset + page.items.length, page.total);
    const onSort = browse ? (c) => { desc = sort === c ? !desc : false; sort = c; offset = 0; load(); } : null;
    fill(body, 
      dataTable(page.items, columns || page.columns, { onSort, sort, desc }),
      h("div", { class: "row pager" },
        h("button", { class: "secondary", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - limit); load(); } }, "‹ Prev"),
        h("span", { class: "muted" }, `${page.total ? offset + 1 : 0}–${end} of ${page.total.toLocaleString()}`),
        h("button", { class: "secondary", disabled: end >= page.total, onclick: () => { offset += limit; load(); } }, "Next ›")));
  }
  box.append(browse ? h("div", { class: "row" }, input, h("span", { class: "muted" }, "click a column to sort")) : "", body);
  load().catch((e) => toast(e.message));
  return box;
}

function plot(el, traces, layout, config) {
  if (!window.Plotly) { fill(el, h("p", { class: "muted" }, "Charts need /vendor/plotly.min.js.")); return; }
  Plotly.newPlot(el, traces, Object.assign({ margin: { t: 30, l: 50, r: 10, b: 40 }, font: { size: 11 } }, layout),
    Object.assign({ displaylogo: false, responsive: true }, config || {}));
}

// -- auth -------------------------------------------------------------------------------
function logout() {
  sessionStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(TOKEN_KEY);
  ROLE = null;
  document.getElementById("whoami").textContent = "";
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
      try { await api("/me"); clearToast(); location.hash = "#/"; } catch (e) { toast("Login failed: " + e.message); }
    },
  },
  h("h1", {}, "Log in"),
  h("p", { class: "muted" }, "Paste an API token (create one with ", h("code", {}, "relgraph token create --role viewer"), ")."),
  input, h("label", { class: "row" }, remember, "Remember on this device"),
  h("button", { id: "login-btn", type: "submit" }, "Log in"));
  fill(main(), h("div", { class: "card login" }, form));
  input.focus();
}

// -- tables: snapshot, schema graph, diff, entity dashboards -------------------------------
function linkCounts(snap) {
  // Links both ways: a table's own foreign keys, and the keys of others pointing at it.
  const n = {};
  Object.keys(snap.tables).forEach((t) => { n[t] = { out: 0, in: 0 }; });
  Object.entries(snap.tables).forEach(([name, t]) => Object.values(t.foreign_keys).forEach((target) => {
    n[name].out += 1;
    const to = String(target).split(".")[0];
    if (n[to]) n[to].in += 1;
  }));
  return n;
}

function schemaGraph(el, snap) {
  // Tables on a circle, the most linked in the middle ring; edges from foreign key to key.
  const names = Object.keys(snap.tables);
  const links = linkCounts(snap);
  const order = names.slice().sort((a, b) => (links[b].in + links[b].out) - (links[a].in + links[a].out));
  const pos = {};
  const inner = order.slice(0, Math.min(4, Math.ceil(order.length / 4)));
  const outer = order.slice(inner.length);
  inner.forEach((t, i) => { const a = 2 * Math.PI * i / inner.length; pos[t] = [0.35 * Math.cos(a), 0.35 * Math.sin(a)]; });
  outer.forEach((t, i) => { const a = 2 * Math.PI * i / outer.length + 0.3; pos[t] = [Math.cos(a), Math.sin(a)]; });
  if (inner.length === 1) pos[inner[0]] = [0, 0];
  const ex = [], ey = [], ann = [];
  Object.entries(snap.tables).forEach(([name, t]) => Object.entries(t.foreign_keys).forEach(([col, target]) => {
    const to = String(target).split(".")[0];
    if (!pos[to]) return;
    ex.push(pos[name][0], pos[to][0], null); ey.push(pos[name][1], pos[to][1], null);
    ann.push({ x: pos[to][0], y: pos[to][1], ax: pos[name][0], ay: pos[name][1], xref: "x", yref: "y", axref: "x", ayref: "y",
      showarrow: true, arrowhead: 2, arrowsize: 1, arrowwidth: 1, arrowcolor: "#98a2b3", standoff: 14, text: "" });
  }));
  const rows = names.map((t) => snap.tables[t].rows);
  plot(el, [
    { type: "scatter", mode: "lines", x: ex, y: ey, line: { color: "#d0d5dd", width: 1 }, hoverinfo: "skip", showlegend: false },
    { type: "scatter", mode: "markers+text", x: names.map((t) => pos[t][0]), y: names.map((t) => pos[t][1]),
      text: names.map((t) => plotlyText(t)), textposition: "top center", showlegend: false,
      customdata: names.map((t) => [snap.tables[t].rows.toLocaleString(), links[t].out, links[t].in]),
      hovertemplate: "<b>%{text}</b><br>%{customdata[0]} rows<br>%{customdata[1]} links out · %{customdata[2]} in<extra></extra>",
      marker: { size: rows.map((r) => 10 + 4 * Math.log10(r + 1)), color: names.map((t) => (snap.tables[t].time_column ? "#2f6fde" : "#12805c")), line: { color: "#fff", width: 1 } } },
  ], { annotations: ann, xaxis: { visible: false, range: [-1.35, 1.35] }, yaxis: { visible: false, range: [-1.25, 1.25], scaleanchor: "x" },
       margin: { t: 10, l: 10, r: 10, b: 10 }, hovermode: "closest" }, { displayModeBar: false });
}

async function viewHome() {
  const snaps = await api("/snapshots?limit=100").catch(() => ({ items: [] }));
  if (!snaps.items.length) {
    fill(main(), h("h1", {}, "No data yet"), ingestForm());
    return;
  }
  let snap = snaps.items.find((s) => s.snapshot_id === snapId()) || snaps.items[0];
  const label = (s) => `${s.snapshot_id} · ${String(s.created).slice(0, 19).replace("T", " ")}`;
  const sel = h("select", { id: "snapshot-select" }, snaps.items.map((s, i) => h("option", { value: s.snapshot_id, selected: s.snapshot_id === snap.snapshot_id, text: label(s) + (i === 0 ? " (latest)" : "") })));
  sel.onchange = () => { sessionStorage.setItem(SNAP_KEY, sel.value === snaps.items[0].snapshot_id ? "latest" : sel.value); viewHome(); };
  const links = linkCounts(snap);
  const tiles = Object.entries(snap.tables).map(([name, t]) =>
    h("a", { class: "tile", href: `#/table/${encodeURIComponent(name)}`, "data-table": name },
      h("div", { text: name, class: "tile-name" }),
      h("div", { class: "n", text: t.rows.toLocaleString() }),
      h("div", { class: "muted", text: `${Object.keys(t.columns).filter((c) => !hidden(c)).length} columns · links ${links[name].out} out, ${links[name].in} in` })));
  const graph = h("div", { id: "schema-graph" });
  const diffBox = h("div", { id: "diff-box" });
  const other = h("select", { id: "diff-other" }, snaps.items.filter((s) => s.snapshot_id !== snap.snapshot_id).map((s) => h("option", { value: s.snapshot_id, text: label(s) })));
  const diffCard = snaps.items.length > 1
    ? h("div", { class: "card" }, h("h2", {}, "Compare snapshots"),
        h("div", { class: "row" }, "What changed from ", other, ` to ${snap.snapshot_id}`,
          h("button", { id: "diff-btn", class: "secondary", onclick: async () => {
            fill(diffBox, h("p", { class: "muted" }, "Comparing…"));
            try {
              const d = await api(`/views/snapshots/${other.value}/diff/${snap.snapshot_id}`);
              const rows = d.tables.map((t) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : v])));
              fill(diffBox, d.changed ? dataTable(rows.filter((r) => r.status !== "unchanged")) : h("p", { class: "muted" }, "No change."));
            } catch (e) { fill(diffBox, h("p", { class: "error", text: e.message })); }
          } }, "Compare")), diffBox)
    : null;
  fill(main(), 
    h("h1", {}, "Tables"),
    h("div", { class: "row" }, "Snapshot ", sel, h("span", { class: "muted", text: `source ${snap.source}` })),
    h("div", { class: "grid", id: "table-list" }, tiles),
    h("div", { class: "card" }, h("h2", {}, "Schema graph"), h("p", { class: "muted" }, "Tables (blue: with a time column) and their links, from foreign key to key; hover for counts."), graph),
    diffCard,
    ingestForm());
  schemaGraph(graph, snap);
}

function ingestForm() {
  const src = h("input", { id: "ingest-source", placeholder: "examples/f1, sqlite:///file.db, …", size: 40 });
  if (!can("editor")) return h("div", { class: "card muted", id: "ingest-unavailable" }, "Ingesting a source needs the editor role.");
  return h("div", { class: "card" }, h("h2", {}, "Ingest a source"),
    h("div", { class: "row" }, src,
      h("button", { id: "ingest-btn", onclick: async () => {
        try { await api("/sources", { method: "POST", body: { source: src.value } }); location.hash = "#/jobs"; }
        catch (e) { toast(e.message); }
      } }, "Start ingest job")));
}

async function viewTable(name) {
  const sid = snapId();
  const base = `/snapshots/${sid}/tables/${encodeURIComponent(name)}`;
  const stats = await api(`${base}/stats`);
  const cols = stats.columns.filter((c) => !hidden(c.column));
  const schemaRows = cols.map((c) => ({
    column: c.column, stype: c.stype, type: c.type,
    key: c.column === stats.primary_key ? "primary key" : (stats.foreign_keys[c.column] ? "→ " + stats.foreign_keys[c.column] : (c.column === stats.time_column ? "time" : "")),
    nulls: (100 * c.null_fraction).toFixed(1) + "%", distinct: c.distinct, min: c.min, max: c.max, mean: c.mean,
  }));
  const chart = h("div", { id: "histogram", class: "chart" });
  const colSel = h("select", { id: "hist-column" }, cols.map((c) => h("option", { value: c.column, text: c.column })));
  const firstUseful = cols.find((c) => c.column !== stats.primary_key && c.stype !== "id" && c.stype !== "text") || cols[0];
  if (firstUseful) colSel.value = firstUseful.column;
  async function drawHist() {
    const c = colSel.value;
    const hgm = await api(`/views/snapshots/${sid}/tables/${encodeURIComponent(name)}/histogram/${encodeURIComponent(c)}`);
    const note = hgm.nulls ? ` (${hgm.nulls.toLocaleString()} empty)` : "";
    if (hgm.kind === "numeric") {
      const mids = hgm.counts.map((_, i) => (hgm.edges[i] + hgm.edges[i + 1]) / 2);
      plot(chart, [{ type: "bar", x: mids, y: hgm.counts, width: hgm.edges.length > 1 ? hgm.edges[1] - hgm.edges[0] : 1, marker: { color: "#2f6fde" } }],
        { title: { text: plotlyText(c + note), font: { size: 13 } }, bargap: 0.02, yaxis: { title: { text: "rows" } } }, { displayModeBar: false });
    } else if (hgm.kind === "temporal") {
      const mids = hgm.counts.map((_, i) => new Date((Date.parse(hgm.edges[i] + "Z") + Date.parse(hgm.edges[i + 1] + "Z")) / 2).toISOString());
      plot(chart, [{ type: "bar", x: mids, y: hgm.counts, marker: { color: "#7c3aed" } }],
        { title: { text: plotlyText(c + note), font: { size: 13 } }, bargap: 0.05, yaxis: { title: { text: "rows" } } }, { displayModeBar: false });
    } else {
      plot(chart, [{ type: "bar", x: hgm.values.map(plotlyText), y: hgm.counts, marker: { color: "#12805c" } }],
        { title: { text: plotlyText(`${c}: top ${hgm.values.length} of ${hgm.distinct} values${note}`), font: { size: 13 } }, yaxis: { title: { text: "rows" } }, margin: { b: 90, t: 30 } }, { displayModeBar: false });
    }
  }
  colSel.onchange = () => drawHist().catch((e) => toast(e.message));
  fill(main(), 
    h("h1", { id: "table-title" }, name),
    h("p", { class: "muted" }, `${stats.rows.toLocaleString()} rows · primary key ${stats.primary_key || "none"} · time column ${stats.time_column || "none"} · snapshot ${stats.snapshot_id}`),
    h("h2", {}, "Schema and statistics"), h("div", { class: "card", id: "schema-card" }, dataTable(schemaRows)),
    h("div", { class: "card" }, h("div", { class: "row" }, "Histogram of ", colSel), chart),
    h("h2", {}, "Rows"),
    h("div", { class: "card" }, pagedTable(`/views/snapshots/${sid}/tables/${encodeURIComponent(name)}/rows`, { id: "preview", browse: true })));
  if (cols.length) await drawHist().catch((e) => toast(e.message));
}

// -- jobs -------------------------------------------------------------------------------------
const ACTIVE = ["pending", "queued", "running"];
const DONE = ["succeeded", "skipped", "failed", "blocked", "cancelled"];
const when = (t) => (t ? String(t).slice(0, 19).replace("T", " ") : "");

function progressBar(j, wide) {
  const pct = Math.round(100 * (j.progress || 0));
  const eta = j.status === "running" && j.eta_s !== null && j.eta_s !== undefined ? ` · ${duration(j.eta_s)} left` : "";
  return h("span", { class: "progress" + (wide ? " wide" : ""), title: j.message || "" },
    h("span", { class: "bar", role: "progressbar", "aria-valuenow": pct, "aria-valuemin": 0, "aria-valuemax": 100 },
      h("span", { class: j.status, style: `width:${pct}%` })),
    h("span", { class: "pct", text: `${pct}%${eta}` }));
}

function jobActions(j, refresh) {
  const act = (what) => api(`/jobs/${j.id}/${what}`, { method: "POST" }).then(refresh, (e) => toast(e.message));
  if (ACTIVE.includes(j.status)) return guarded("editor", h("button", { class: "secondary", "data-action": "cancel", onclick: () => act("cancel") }, "Cancel"));
  if (["failed", "cancelled", "blocked"].includes(j.status)) return guarded("editor", h("button", { class: "secondary", "data-action": "retry", onclick: () => act("retry") }, "Retry"));
  return null;
}

async function viewJobs() {
  const list = h("div", { id: "jobs-list" });
  const kinds = (await api("/jobs/kinds")).kinds;
  const kindSel = h("select", { id: "job-kind" }, kinds.map((k) => h("option", { value: k, text: k })));
  const params = h("input", { id: "job-params", size: 40, value: '{"table": "drivers"}' });
  const start = can("editor")
    ? h("div", { class: "card" }, h("div", { class: "row" }, kindSel, params,
        h("button", { id: "job-start", onclick: async () => {
          try { await api("/jobs", { method: "POST", body: { kind: kindSel.value, params: JSON.parse(params.value || "{}") } }); refresh(); }
          catch (e) { toast(e.message); }
        } }, "Start job")))
    : h("p", { class: "muted", id: "job-start-unavailable" }, "Starting, cancelling and retrying jobs needs the editor role.");
  fill(main(), h("h1", {}, "Jobs"), start, list);
  async function refresh() {
    const page = await api("/jobs?limit=50");
    if (!page.items.length) { fill(list, h("p", { class: "card muted" }, "No jobs yet: ingest a source, train from the Query page, or start one above.")); return; }
    fill(list, h("div", { class: "card scroll-x" }, h("table", { class: "data jobs" },
      h("thead", {}, h("tr", {}, ["job", "from", "status", "progress", "message", "created", "finished", ""].map((c) => h("th", { text: c })))),
      h("tbody", {}, page.items.map((j) => h("tr", { "data-job": j.id, "data-kind": j.kind, "data-status": j.status, "data-origin": j.origin },
        h("td", {}, h("a", { href: `#/jobs/${j.id}`, text: j.kind }), h("div", { class: "muted small", text: j.id })),
        h("td", { text: j.origin === "pipeline" ? `run ${j.run_id}: ${j.name}` : (j.created_by ? `API (token ${j.created_by})` : "API") }),
        h("td", {}, h("span", { class: `badge ${j.status}`, text: j.status })),
        h("td", {}, progressBar(j)),
        h("td", { class: "wrap", text: j.error || j.message || "" }), h("td", { text: when(j.created) }), h("td", { text: when(j.finished) }),
        h("td", {}, jobActions(j, refresh))))))));
  }
  await refresh();
  pollTimer = setInterval(() => refresh().catch(() => {}), 1000);
}

async function viewJob(id) {
  const head = h("div", {});
  const logBox = h("pre", { class: "logs", id: "job-logs" });
  const follow = h("input", { type: "checkbox", id: "follow-logs", checked: true });
  fill(main(), h("h1", {}, `Job ${id}`), head,
    h("h2", {}, "Logs ", h("label", { class: "muted small" }, follow, " follow")), logBox);
  let shown = 0;
  async function refresh() {
    const j = await api(`/jobs/${id}`);
    // Live log: only the lines after those already shown are fetched.
    for (;;) {
      const logs = await api(`/jobs/${id}/logs?limit=500&offset=${shown}`);
      if (logs.items.length) { logBox.append(logs.items.join("\n") + "\n"); shown += logs.items.length; }
      if (logs.items.length < 500) break;
    }
    if (!shown) logBox.textContent = ACTIVE.includes(j.status) ? "(no log lines yet)\n" : "(no log lines)\n";
    if (follow.checked) logBox.scrollTop = logBox.scrollHeight;
    const kv = ["kind", "name", "origin", "run_id", "status", "message", "error", "attempts", "created", "started", "finished", "created_by"]
      .filter((k) => j[k] !== null && j[k] !== undefined && j[k] !== "");
    fill(head, 
      h("div", { class: "card" },
        h("div", { class: "row" }, h("span", { class: `badge ${j.status}`, id: "job-status", text: j.status }), progressBar(j, true), jobActions(j, refresh)),
        h("dl", { class: "kv" }, kv.flatMap((k) => [h("dt", { text: k }), h("dd", { id: `job-${k}`, text: ["created", "started", "finished"].includes(k) ? when(j[k]) : fmt(j[k]) })]))),
      resultLink(j),
      h("details", { class: "card" }, h("summary", {}, "Parameters"), h("pre", { text: pretty(j.params || {}) })),
      j.result ? h("details", { class: "card", open: true }, h("summary", {}, "Result"), h("pre", { id: "job-result", text: pretty(j.result) })) : null);
    if (DONE.includes(j.status)) { clearInterval(pollTimer); pollTimer = null; }
  }
  await refresh();
  if (!DONE.includes(document.getElementById("job-status").textContent)) pollTimer = setInterval(() => refresh().catch(() => {}), 1000);
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
const PQL_AGGS = ["COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX", "FIRST", "LAST", "LIST_DISTINCT", "EXISTS"];
const PQL_WORDS = ["PREDICT", "FOR EACH", "WHERE", "ASSUMING", "AND", "OR", "NOT", "IN", "IS NULL", "IS NOT NULL", "days", "hours", "weeks", "months"];

// Suggestions for the word before the cursor: "table." lists its columns, anything else
// tables, aggregations and keywords. Tab or a click takes the first/clicked one.
function autocomplete(text, box, schema) {
  const wordAt = () => {
    const before = text.value.slice(0, text.selectionStart);
    const m = before.match(/[A-Za-z_][\w]*(\.[\w*]*)?$/);
    return m ? m[0] : "";
  };
  let options = [];
  function suggest() {
    const w = wordAt();
    if (!w) { fill(box, ); options = []; return; }
    if (w.includes(".")) {
      const [t, c] = w.split(".");
      const cols = schema[t] ? ["*", ...schema[t]] : [];
      options = cols.filter((x) => x.toLowerCase().startsWith(c.toLowerCase())).map((x) => ({ text: `${t}.${x}`, kind: "column" }));
    } else {
      const lw = w.toLowerCase();
      options = [
        ...Object.keys(schema).filter((x) => x.toLowerCase().startsWith(lw)).map((x) => ({ text: x, kind: "table" })),
        ...PQL_AGGS.filter((x) => x.toLowerCase().startsWith(lw)).map((x) => ({ text: x + "(", kind: "aggregation" })),
        ...PQL_WORDS.filter((x) => x.toLowerCase().startsWith(lw)).map((x) => ({ text: x, kind: "keyword" })),
      ].filter((o) => o.text.toLowerCase() !== lw);
    }
    options = options.slice(0, 12);
    fill(box, ...options.map((o, i) => h("button", { type: "button", class: "chip" + (i === 0 ? " first" : ""), "data-kind": o.kind, title: o.kind, onclick: () => take(o) }, o.text)));
  }
  function take(o) {
    const w = wordAt();
    const at = text.selectionStart;
    text.value = text.value.slice(0, at - w.length) + o.text + text.value.slice(at);
    const pos = at - w.length + o.text.length;
    text.focus(); text.setSelectionRange(pos, pos);
    suggest();
  }
  text.addEventListener("input", suggest);
  text.addEventListener("click", suggest);
  text.addEventListener("keydown", (ev) => {
    if (ev.key === "Tab" && options.length) { ev.preventDefault(); take(options[0]); }
    if (ev.key === "Escape") { fill(box, ); options = []; }
  });
}

// The error under the line it is on, with a caret at its column (1-based, from QueryError).
function queryErrorView(text, err) {
  const line = err.body && err.body.line, col = err.body && err.body.col;
  const parts = [h("div", { class: "error", id: "query-error", text: err.message })];
  if (line) {
    const src = text.value.split("\n")[line - 1] ?? "";
    const c = Math.max(1, col || 1);
    parts.push(h("pre", { class: "error-at", id: "query-error-at" },
      h("span", { class: "muted", text: `${line} │ ` }), src.slice(0, c - 1),
      h("mark", { text: src.slice(c - 1, c + Math.max(0, (src.slice(c - 1).match(/^[\w.*]+/) || [""])[0].length - 1)) || " " }),
      src.slice(c + Math.max(0, (src.slice(c - 1).match(/^[\w.*]+/) || [""])[0].length - 1)),
      "\n", " ".repeat(String(line).length + 3 + c - 1) + "^ " + `line ${line}, column ${c}`));
    // Put the cursor on the error too.
    let offset = 0;
    text.value.split("\n").slice(0, line - 1).forEach((l) => { offset += l.length + 1; });
    text.setSelectionRange(offset + c - 1, offset + c - 1);
  }
  return parts;
}

async function viewQuery() {
  const kinds = (await api("/jobs/kinds")).kinds;
  const snap = await api(`/snapshots/${snapId()}`).catch(() => null);
  const schema = snap ? Object.fromEntries(Object.entries(snap.tables).map(([t, v]) => [t, Object.keys(v.columns).filter((c) => !hidden(c))])) : {};
  const text = h("textarea", { id: "query-text", spellcheck: "false", rows: 4 });
  text.value = sessionStorage.getItem("relgraph.query") || "PREDICT COUNT(results.*, 0, 30, days) > 0 FOR EACH drivers.driverId";
  const hints = h("div", { id: "query-hints", class: "chips" });
  autocomplete(text, hints, schema);
  const taskBox = h("div", { id: "task-box", class: "card" }, h("span", { class: "muted" }, "Compile the query to see its task."));
  const statsBox = h("div", { id: "label-stats" });
  const valCut = h("input", { id: "train-val-cutoff", placeholder: "val cut-off, e.g. 2005-01-01", size: 24 });
  const testCut = h("input", { id: "train-test-cutoff", placeholder: "test cut-off, e.g. 2010-01-01", size: 24 });
  const compile = async () => {
    sessionStorage.setItem("relgraph.query", text.value);
    try {
      const r = await api("/queries/compile", { method: "POST", body: { query: text.value } });
      text.classList.remove("has-error");
      fill(taskBox, h("h2", {}, "Inferred task"), h("dl", { class: "kv", id: "task-kv" },
        Object.entries(r.task).filter(([k, v]) => k !== "query" && v !== null && v !== undefined).flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { "data-field": k, text: fmt(v && v.text ? v.text : v) })])));
      return true;
    } catch (e) {
      text.classList.add("has-error");
      fill(taskBox, ...queryErrorView(text, e));
      return false;
    }
  };
  const labelStats = async () => {
    if (!(await compile())) return;
    try {
      const body = { query: text.value };
      if (snap) body.snapshot = snap.snapshot_id;
      const cut = { val: valCut.value.trim(), test: testCut.value.trim() };
      const show = (res) => {
        const rows = Object.entries(res.splits).map(([split, s]) => ({ split, rows: s.rows, anchors: s.anchors, mean: s.mean, min: s.min, max: s.max, distribution: s.distribution }));
        fill(statsBox, h("div", { class: "card" }, h("h2", {}, "Label statistics"),
          h("p", { class: "muted", id: "stats-cutoffs" }, `cut-offs used: val ${String(res.val_cutoff).slice(0, 10)}, test ${String(res.test_cutoff).slice(0, 10)}` + (cut.val || cut.test ? " (as typed; the rest from the data)" : " (from the data: type cut-offs to change them)")),
          dataTable(rows)));
      };
      if (cut.val || cut.test) {
        // At the typed cut-offs, as a train job would split: counted by the server now.
        fill(statsBox, h("p", { class: "muted" }, "Counting labels…"));
        if (cut.val) body.val_cutoff = cut.val;
        if (cut.test) body.test_cutoff = cut.test;
        show(await api("/views/label-stats", { method: "POST", body }));
        return;
      }
      const r = await api("/queries/explain", { method: "POST", body });
      if (!r.job) { fill(statsBox, h("p", { class: "muted" }, "This server cannot count labels.")); return; }
      fill(statsBox, h("p", { class: "muted" }, "Counting labels…"));
      const poll = async () => {
        const j = await api(`/jobs/${r.job.id}`);
        if (j.status === "succeeded") show(j.result);
        else if (["failed", "cancelled"].includes(j.status)) fill(statsBox, h("p", { class: "error", text: j.error || j.status }));
        else setTimeout(poll, 700);
      };
      poll();
    } catch (e) { fill(statsBox); toast(e.message); }
  };
  const budget = h("select", { id: "train-budget" }, ["fast", "normal", "best"].map((b) => h("option", { value: b, text: `budget: ${b}` })));
  const minutes = h("input", { id: "train-minutes", type: "number", min: "0.1", step: "0.1", placeholder: "minutes (optional)", style: "width:150px" });
  const trainBtn = kinds.includes("train")
    ? h("span", { class: "row" }, budget, minutes, guarded("editor", h("button", { id: "train-btn", onclick: async () => {
        if (!(await compile())) return;
        const params = { query: text.value, budget: budget.value };
        if (snap && snapId() !== "latest") params.snapshot = snap.snapshot_id;
        if (minutes.value) params.minutes = parseFloat(minutes.value);
        if (valCut.value) params.val_cutoff = valCut.value;
        if (testCut.value) params.test_cutoff = testCut.value;
        try { const j = await api("/jobs", { method: "POST", body: { kind: "train", params } }); location.hash = `#/jobs/${j.id}`; }
        catch (e) { toast(e.message); }
      } }, "Train")))
    : h("span", { class: "muted", id: "train-unavailable" }, "Training is not available on this server.");
  fill(main(), h("h1", {}, "Predictive query"),
    h("div", { class: "card" }, text, hints,
      h("p", { class: "muted small" }, "Tab completes tables, columns (after 'table.') and aggregations."),
      h("div", { class: "row" }, valCut, testCut),
      h("div", { class: "row" },
        h("button", { id: "compile-btn", class: "secondary", onclick: compile }, "Compile"),
        guarded("editor", h("button", { id: "stats-btn", class: "secondary", onclick: labelStats }, "Label statistics")), trainBtn)),
    taskBox, statsBox);
}

// -- models -------------------------------------------------------------------------------
async function viewModels() {
  const page = await api("/models?limit=100");
  const testOf = (m, which) => { const s = (m.metrics || {})[which]; return s && s.test ? s.test[m.metric] : null; };
  fill(main(), h("h1", {}, "Models"), h("div", { class: "card scroll-x", id: "models-list" }, page.items.length
    ? h("table", { class: "data" },
        h("thead", {}, h("tr", {}, ["model", "query", "metric", "GNN (test)", "LightGBM (test)", "created"].map((c) => h("th", { text: c })))),
        h("tbody", {}, page.items.map((m) => h("tr", {},
          h("td", {}, h("a", { href: `#/models/${encodeURIComponent(m.id)}`, text: m.id })),
          h("td", { class: "wrap", text: m.query || "", title: m.query || "" }), h("td", { text: m.metric || "" }),
          h("td", { text: fmt(testOf(m, "gnn")) }), h("td", { text: fmt(testOf(m, "lightgbm")) }), h("td", { text: when(m.created) })))))
    : h("p", { class: "muted" }, "No models yet: write a query and press Train.")));
}

function candidatesTable(ev) {
  // One row per candidate, val and test of the model's metric under each protocol.
  const metric = ev.metric;
  const protocols = [...new Set(ev.candidates.flatMap((c) => Object.keys(c).filter((k) => k.includes(".")).map((k) => k.split(".")[0])))];
  const cols = protocols.flatMap((p) => [`${p}.val.${metric}`, `${p}.test.${metric}`]);
  const head = ["model", ...protocols.flatMap((p) => [`${p} val`, `${p} test`]), "train s"];
  const prior = ev.candidates.find((c) => c.model === "trivial:prior");
  return h("div", { class: "scroll-x" }, h("table", { class: "data", id: "candidates" },
    h("thead", {}, h("tr", {}, head.map((c) => h("th", { text: c })))),
    h("tbody", {}, ev.candidates.map((c) => h("tr", { class: c.model === ev.selected ? "selected" : (c.model.startsWith("trivial") ? "baseline" : ""), "data-model": c.model },
      h("td", { text: c.model + (c.model === ev.selected ? " ★" : "") }),
      cols.map((k) => h("td", { class: "num" + (prior && c[k] !== undefined && c[k] <= prior[k] ? " weak" : ""), text: fmt(c[k]) })),
      h("td", { class: "num", text: c.seconds ? c.seconds.toFixed(1) : "" }))))),
    h("p", { class: "muted small" }, `★ the model predict uses (best on validation ${metric}, ${ev.protocol} protocol). Trivial baselines stand on the same split; grey: not above the prior.`));
}

async function viewModel(id) {
  const [m, ev] = await Promise.all([api(`/models/${encodeURIComponent(id)}`), api(`/views/models/${encodeURIComponent(id)}/evaluation`)]);
  const preds = (await api("/predictions?limit=100")).items.filter((p) => p.model_id === id);
  const charts = {};
  const chart = (name, title) => { charts[name] = h("div", { id: name, class: "chart" }); return h("div", { class: "card" }, h("h2", {}, title), charts[name]); };
  const t = ev.test;
  fill(main(), h("h1", {}, `Model ${id}`),
    h("div", { class: "card" }, h("dl", { class: "kv" }, [["query", m.query], ["task", `${ev.task_type} · metric ${ev.metric}`], ["rows", ev.rows ? `train ${ev.rows.train} · val ${ev.rows.val} · test ${ev.rows.test}` : ""], ["snapshot", m.snapshot_id], ["created", when(m.created)]]
      .filter(([, v]) => v).flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { class: k === "query" ? "code" : "", text: v })]))),
    h("div", { class: "card", id: "model-metrics" }, h("h2", {}, "Candidates side by side"), candidatesTable(ev)),
    h("div", { class: "card" }, h("h2", {}, "Predictions"), preds.length
      ? preds.map((p) => h("div", {}, h("a", { href: `#/predictions/${encodeURIComponent(p.id)}`, text: p.id }), h("span", { class: "muted", text: ` ${p.rows} rows` })))
      : h("p", { class: "muted" }, "None yet: start a 'predict' job.")),
    t ? h("p", { class: "muted", id: "test-note" }, `Curves: the selected model (${ev.selected}) on the test split, ${t.n} predictions joined to their labels` + (t.kind === "binary" ? ` (${t.positives} positive; AUROC ${fmt(t.auroc)}, AP ${fmt(t.ap)})` : ` (MAE ${fmt(t.mae)})`)) 
      : h("p", { class: "muted", id: "test-note" }, "No test-split curves: this model has no stored test predictions of a binary or regression task."),
    h("div", { class: "charts" },
      t && t.kind === "binary" ? [chart("roc", "ROC curve"), chart("pr", "Precision–recall"), chart("calibration", "Calibration"), chart("confusion", "Confusion matrix (threshold 0.5)")] : null,
      t && t.kind === "regression" ? chart("residuals", "Predicted vs actual") : null,
      chart("learning-curves", "GNN learning curves"), chart("importance", "LightGBM importance: top features"), chart("table-importance", "Importance per table")),
    h("details", { class: "card" }, h("summary", {}, "Everything stored"), h("pre", { text: pretty(m) })));
  const ax = (x, y) => ({ xaxis: { title: { text: x } }, yaxis: { title: { text: y } } });
  if (t && t.kind === "binary") {
    plot(charts.roc, [{ type: "scatter", mode: "lines", x: t.roc.fpr, y: t.roc.tpr, name: "model" }, { type: "scatter", mode: "lines", x: [0, 1], y: [0, 1], line: { dash: "dot", color: "#98a2b3" }, name: "chance" }],
      Object.assign(ax("false positive rate", "true positive rate"), { showlegend: false }));
    plot(charts.pr, [{ type: "scatter", mode: "lines", x: t.pr.recall, y: t.pr.precision }, { type: "scatter", mode: "lines", x: [0, 1], y: [t.positives / t.n, t.positives / t.n], line: { dash: "dot", color: "#98a2b3" } }],
      Object.assign(ax("recall", "precision"), { showlegend: false }));
    plot(charts.calibration, [{ type: "scatter", mode: "lines+markers", x: t.calibration.predicted, y: t.calibration.observed }, { type: "scatter", mode: "lines", x: [0, 1], y: [0, 1], line: { dash: "dot", color: "#98a2b3" } }],
      Object.assign(ax("mean predicted probability", "observed frequency"), { showlegend: false }));
    const mx = t.confusion.matrix;
    plot(charts.confusion, [{ type: "heatmap", z: mx, x: ["predicted false", "predicted true"], y: ["actual false", "actual true"], colorscale: [[0, "#f5f8ff"], [1, "#2f6fde"]], showscale: false, text: mx.map((r) => r.map(String)), texttemplate: "%{text}", hoverinfo: "skip" }],
      { yaxis: { autorange: "reversed" }, margin: { l: 90, t: 10 } }, { displayModeBar: false });
  }
  if (t && t.kind === "regression") {
    const lo = Math.min(...t.actual, ...t.predicted), hi = Math.max(...t.actual, ...t.predicted);
    plot(charts.residuals, [{ type: "scattergl", mode: "markers", x: t.actual, y: t.predicted, marker: { size: 4, opacity: 0.5 } }, { type: "scatter", mode: "lines", x: [lo, hi], y: [lo, hi], line: { dash: "dot", color: "#98a2b3" } }],
      Object.assign(ax("actual", "predicted"), { showlegend: false }));
  }
  const hist = ev.history || [];
  if (hist.length) {
    const keys = Object.keys(hist[0]).filter((k) => k !== "epoch" && typeof hist[0][k] === "number");
    plot(charts["learning-curves"], keys.map((k) => ({ type: "scatter", mode: "lines+markers", name: plotlyText(k === "loss" ? "train loss" : `val ${k}`), x: hist.map((r, i) => r.epoch ?? i + 1), y: hist.map((r) => r[k]) })),
      { xaxis: { title: { text: "epoch" }, dtick: 1, tickformat: "d" }, legend: { orientation: "h", y: -0.25 } });
  } else fill(charts["learning-curves"], h("p", { class: "muted" }, "No learning curve stored (no GNN in this model)."));
  const imp = (ev.importance || []).slice(0, 20).reverse();
  if (imp.length) {
    plot(charts.importance, [{ type: "bar", orientation: "h", x: imp.map((r) => r.gain), y: imp.map((r) => plotlyText(r.feature)), marker: { color: "#2f6fde" } }],
      { margin: { l: Math.min(230, 0.45 * charts.importance.clientWidth), t: 10 }, xaxis: { title: { text: "gain" } }, yaxis: { tickfont: { size: 9 } } }, { displayModeBar: false });
    const per = {};
    ev.importance.forEach((r) => { per[r.table] = (per[r.table] || 0) + r.gain; });
    const tables = Object.entries(per).sort((a, b) => a[1] - b[1]);
    plot(charts["table-importance"], [{ type: "bar", orientation: "h", x: tables.map((x) => x[1]), y: tables.map((x) => plotlyText(x[0])), marker: { color: "#12805c" } }],
      { margin: { l: 150, t: 10 }, xaxis: { title: { text: "gain (sum over the table's features)" } } }, { displayModeBar: false });
  } else {
    fill(charts.importance, h("p", { class: "muted" }, "No LightGBM model stored."));
    charts["table-importance"].closest(".card").remove();
  }
}

// -- predictions: joined to the entity's names, searchable, downloadable ----------------------
function viewPredictions(id) {
  const path = `/views/predictions/${encodeURIComponent(id)}/rows`;
  const dl = (fmt_) => h("button", { class: "secondary", id: `download-${fmt_}`, onclick: () => download(`/views/predictions/${encodeURIComponent(id)}/download?format=${fmt_}`, `${id}.${fmt_}`).catch((e) => toast(e.message)) }, `Download ${fmt_.toUpperCase()}`);
  fill(main(), h("h1", {}, `Predictions ${id}`),
    h("div", { class: "row" }, dl("csv"), dl("parquet"), h("span", { class: "muted" }, "Search by entity id or name.")),
    h("div", { class: "card" }, predictionTable(path)));
}

function predictionTable(path) {
  const box = h("div", { id: "predictions" });
  const input = h("input", { type: "search", id: "entity-search", placeholder: "entity id or name…" });
  const body = h("div", {});
  let offset = 0, q = "", timer = null;
  const limit = 50;
  input.oninput = () => { clearTimeout(timer); timer = setTimeout(() => { q = input.value; offset = 0; load(); }, 250); };
  async function load() {
    const page = await api(`${path}?limit=${limit}&offset=${offset}&q=${encodeURIComponent(q)}`);
    const names = page.name_columns || [];
    const cols = ["ENTITY", ...names, ...page.columns.filter((c) => c !== "ENTITY" && !names.includes(c) && c !== "MODEL_ID" && c !== "SNAPSHOT_ID")];
    const end = Math.min(offset + page.items.length, page.total);
    fill(body, dataTable(page.items, cols),
      h("div", { class: "row pager" },
        h("button", { class: "secondary", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - limit); load(); } }, "‹ Prev"),
        h("span", { class: "muted", id: "predictions-count" }, `${page.total ? offset + 1 : 0}–${end} of ${page.total}`),
        h("button", { class: "secondary", disabled: end >= page.total, onclick: () => { offset += limit; load(); } }, "Next ›")));
  }
  box.append(h("div", { class: "row" }, input), body);
  load().catch((e) => toast(e.message));
  return box;
}

// -- embeddings and the 3-D projection ------------------------------------------------------------
async function viewEmbeddings() {
  const page = await api("/embeddings?limit=100");
  fill(main(), h("h1", {}, "Embeddings"),
    h("div", { class: "card", id: "embeddings-list" }, page.items.length
      ? page.items.map((e) => h("div", {}, h("a", { href: `#/embeddings/${e.id}`, "data-output": e.id, text: e.id }), h("span", { class: "muted", text: " " + [e.table, e.source, when(e.created)].filter(Boolean).join(" · ") })))
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
  fill(main(), h("h1", {}, `3-D projection ${id}`),
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
    Plotly.react(plot, traces, { margin: { l: 0, r: 0, t: 0, b: 0 }, legend: { title: { text: by }, x: 0, xanchor: "left", y: 1, bgcolor: "rgba(255,255,255,0.8)" } }, { responsive: true });
  }
  function hover(p) {
    let row = {};
    try { row = JSON.parse(p.row || "{}"); } catch (_) { /* not JSON: show nothing extra */ }
    return [`ENTITY ${plotlyText(p.ENTITY)}`, ...Object.entries(row).map(([k, v]) => `${plotlyText(k)}: ${plotlyText(v)}`)].join("<br>");
  }
  sel.onchange = draw;
  if (window.Plotly) draw();
}

// -- tokens (admins) ----------------------------------------------------------------------------
async function viewTokens() {
  if (!can("admin")) { fill(main(), h("h1", {}, "Tokens"), h("p", { class: "muted", id: "tokens-denied" }, "Managing tokens needs the admin role.")); return; }
  const list = h("div", { id: "tokens-list" });
  const role = h("select", { id: "token-role" }, ["viewer", "editor", "admin"].map((r) => h("option", { value: r, text: r })));
  const name = h("input", { id: "token-name", placeholder: "who or what uses it", size: 28 });
  const issued = h("div", { id: "token-issued" });
  async function refresh() {
    const page = await api("/tokens?limit=500");
    fill(list, dataTable(page.items.map((t) => ({ id: t.id, role: t.role, name: t.name, created: when(t.created) })), ["id", "role", "name", "created", "revoke"]));
    list.querySelectorAll("tbody tr").forEach((tr, i) => {
      const t = page.items[i];
      fill(tr.lastChild, h("button", { class: "secondary danger", "data-revoke": t.id, onclick: async () => {
        if (!confirm(`Revoke token ${t.id} (${t.role})? Whoever uses it is locked out.`)) return;
        try { await api(`/tokens/${t.id}`, { method: "DELETE" }); refresh(); } catch (e) { toast(e.message); }
      } }, "Revoke"));
    });
  }
  fill(main(), h("h1", {}, "Tokens"),
    h("div", { class: "card" }, h("h2", {}, "Create a token"), h("div", { class: "row" }, role, name,
      h("button", { id: "token-create", onclick: async () => {
        try {
          const t = await api("/tokens", { method: "POST", body: { role: role.value, name: name.value } });
          fill(issued, h("div", { class: "card notice" }, h("p", {}, `Token ${t.id} (${t.role}) — copy it now, it is not shown again:`), h("code", { id: "token-secret", text: t.token })));
          refresh();
        } catch (e) { toast(e.message); }
      } }, "Create")), issued),
    h("div", { class: "card" }, h("h2", {}, "Tokens"), list));
  await refresh();
}

// -- router ---------------------------------------------------------------------------------
async function route() {
  if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (!token() && parts[0] !== "login") { location.hash = "#/login"; return; }
  if (parts[0] === "login") return viewLogin();
  if (ROLE === null) document.getElementById("whoami").textContent = "";
  document.getElementById("nav").hidden = false;
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === (parts[0] || "home")));
  try {
    if (!document.getElementById("whoami").textContent) {
      const me = await api("/me");
      ROLE = me.role;
      document.getElementById("whoami").textContent = `${me.role} · ${me.id}`;
      document.getElementById("nav-tokens").hidden = !can("admin");
    }
    fill(main(), h("p", { class: "muted" }, "Loading…"));
    switch (parts[0]) {
      case "": return await viewHome();
      case "table": return await viewTable(parts[1]);
      case "jobs": return parts[1] ? await viewJob(parts[1]) : await viewJobs();
      case "query": return await viewQuery();
      case "models": return parts[1] ? await viewModel(parts[1]) : await viewModels();
      case "predictions": return viewPredictions(parts[1]);
      case "embeddings": return parts[1] ? await viewProjection(parts[1]) : await viewEmbeddings();
      case "tokens": return await viewTokens();
      default: fill(main(), h("h1", {}, "Not found"));
    }
  } catch (e) {
    fill(main(), h("div", { class: "card error", id: "page-error", text: e.message }));
  }
}

document.getElementById("logout-btn").onclick = () => logout();
window.addEventListener("hashchange", route);
route();
