// The changeover dashboard: polls the agent's JSON (the same documents `changeover status`,
// `history`, `events` and `flags list` print), long-polls its event feed, and draws the
// charts with uPlot (the global `uPlot`, vendored in static/vendor/uplot/ and loaded
// before this module). The ops token lives in this page's memory only: never in a URL, a
// cookie or storage; it is sent as `Authorization: Bearer` with actions and nothing else.

const POLL_MS = 1500;       // the Now page's refresh: charts update every second or two
const EVENT_WAIT_S = 20;    // the event feed's long-poll, under common proxies' idle timeouts
const BACKOFF_MS = [1000, 2000, 5000, 10000];
const WINDOW_S = 15 * 60;   // the charts' span
const COLORS = ["#2f7ed8", "#e4572e", "#17a673", "#a35fd0", "#d4a017", "#5b6b7f"];

const state = {
  token: null,       // typed by the user; memory only
  actions: false,    // the agent accepts actions ([ops] token_file is set)
  series: {},        // revision -> [[t, rate, success, p50, p95, p99], ...]
  seriesAfter: 0,
  now: null,         // the agent's clock at the last answer: the charts' right edge
  span: 60,          // the charts' width in seconds
  lastEvent: null,   // the newest event id seen; null before the first answer
  events: [],
  status: null,
  page: "now",
  failures: 0,
  diffs: new Map(),   // "from>to" -> the diff the operator opened on History, kept across refreshes
};

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function getJSON(path) {
  const response = await fetch(path, { cache: "no-store", credentials: "omit" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

// --- formatting ---------------------------------------------------------------------
const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(v >= 0.999 || v === 0 ? 1 : 2)}%`);
const num = (v, d = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
function ms(v) {
  if (v === null || v === undefined) return "–";
  const m = v * 1000;
  return m >= 100 ? `${m.toFixed(0)} ms` : m >= 10 ? `${m.toFixed(1)} ms` : `${m.toFixed(2)} ms`;
}
function when(ts) {
  if (!ts) return "–";
  return new Date(ts * 1000).toLocaleString(undefined, { hour12: false });
}
function took(a, b) {
  if (!a || !b) return "–";
  const s = b - a;
  return s >= 120 ? `${(s / 60).toFixed(1)}m` : `${s.toFixed(1)}s`;
}
const color = (rev) => COLORS[(Number(rev) - 1) % COLORS.length];
function swatch(c) {
  const node = el("span", { class: "swatch", "aria-hidden": "true" });
  node.style.background = c; // CSSOM, which the Content-Security-Policy allows
  return node;
}

// --- rows kept across refreshes -------------------------------------------------------
// A refresh (an event, a poll) draws a table's rows by a stable key: a row whose data did
// not change is left as it is, so what the operator opened, selected or focused in it
// stays, and the page does not jump; a changed row is drawn again (with the focus put back
// on its counterpart); rows are inserted and removed around the kept ones, never moved.
const keptRows = new WeakMap(); // tbody -> Map(key -> { node, sig })
const FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]";

function keyedRows(body, items, key, make) {
  const before = keptRows.get(body) || new Map();
  const after = new Map();
  const active = document.activeElement;
  for (const item of items) {
    const k = String(key(item));
    const sig = JSON.stringify(item);
    const old = before.get(k);
    if (old && old.sig === sig && old.node.parentNode === body) {
      after.set(k, old);
      continue;
    }
    const node = make(item);
    node.dataset.key = k;
    if (old && active && old.node.contains(active)) {
      const at = [...old.node.querySelectorAll(FOCUSABLE)].indexOf(active);
      const again = node.querySelectorAll(FOCUSABLE)[at];
      if (again) queueMicrotask(() => again.focus({ preventScroll: true }));
    }
    after.set(k, { node, sig });
  }
  const wanted = new Set([...after.values()].map((e) => e.node));
  for (const node of [...body.children]) if (!wanted.has(node)) node.remove();
  let at = body.firstChild;
  for (const { node } of after.values()) {
    if (node === at) at = at.nextSibling;
    else body.insertBefore(node, at);
  }
  keptRows.set(body, after);
}

// A box drawn from the same data as last time is left alone (a selection in it stays).
const drawnFrom = new WeakMap(); // box -> the JSON it was last drawn from
function unchanged(box, data) {
  const sig = JSON.stringify(data);
  if (drawnFrom.get(box) === sig) return true;
  drawnFrom.set(box, sig);
  return false;
}

// Rows come newest first: a refresh that adds some above what the operator reads would
// push it down. The row at the top of the window stays where it was, unless the window is
// at the page's top (there the new rows come into view).
function keepInView(draw) {
  if (window.scrollY <= 0) return draw();
  const rows = document.querySelectorAll("main section:not([hidden]) tbody tr");
  const anchor = [...rows].find((row) => row.getBoundingClientRect().bottom > 1);
  const top = anchor ? anchor.getBoundingClientRect().top : 0;
  const drawn = draw();
  if (anchor && anchor.isConnected) {
    const moved = anchor.getBoundingClientRect().top - top;
    if (moved) window.scrollBy(0, moved);
  }
  return drawn;
}

// --- the connection line ------------------------------------------------------------
function connected(ok, why) {
  state.failures = ok ? 0 : state.failures + 1;
  const line = $("#connection");
  line.textContent = ok ? "" : `agent unreachable (${why}); retrying`;
  line.classList.toggle("bad", !ok);
}
const backoff = () => BACKOFF_MS[Math.min(Math.max(state.failures - 1, 0), BACKOFF_MS.length - 1)];

// --- Now ----------------------------------------------------------------------------
async function pollNow() {
  try {
    const doc = await getJSON(`/api/now?after=${state.seriesAfter}`);
    connected(true);
    state.actions = doc.actions;
    state.status = doc.status;
    mergeSeries(doc.series, doc.now);
    renderNow(doc.status);
  } catch (err) {
    connected(false, err.message);
  }
  setTimeout(pollNow, state.failures ? backoff() : POLL_MS);
}

function mergeSeries(series, now) {
  let newest = state.seriesAfter;
  for (const [rev, points] of Object.entries(series.revisions)) {
    const mine = (state.series[rev] ||= []);
    for (const p of points) {
      if (!mine.length || p[0] > mine[mine.length - 1][0]) mine.push(p);
      newest = Math.max(newest, p[0]);
    }
  }
  for (const [rev, points] of Object.entries(state.series)) {
    while (points.length && points[0][0] < now - WINDOW_S) points.shift();
    if (!points.length) delete state.series[rev];
  }
  state.seriesAfter = newest;
  state.now = now;
}

function renderHeader(status) {
  $("#service").textContent = status.service;
  const a = status.agent;
  const env = a.environment ? ` · environment ${a.environment}` : "";
  $("#agent").textContent = `agent ${a.version} (pid ${a.pid}) · proxy ${a.listen}${env} · stable revision ${status.stable_revision ?? "none"}`;
  document.title = `changeover · ${status.service}`;
  renderTokenState();
}

function renderRollout(status) {
  const box = $("#rollout");
  const r = status.rollout;
  if (unchanged(box, [r, status.weights])) return;
  if (!r) {
    box.replaceChildren(el("p", {}, "No rollout yet."));
    return;
  }
  const active = !r.finished_at;
  const parts = [
    el("h3", {}, `Rollout ${r.id} `, el("span", { class: `phase phase-${r.phase}`, id: "phase" }, r.phase)),
    el("p", {}, `${r.kind} · ${r.strategy} · revision ${r.from_revision ?? "–"} → ${r.to_revision}`,
      active ? ` · started ${when(r.started_at)}` : ` · ${when(r.started_at)}, took ${took(r.started_at, r.finished_at)}`),
  ];
  if (r.reason) parts.push(el("p", { class: "muted" }, r.reason));
  if (r.paused) {
    parts.push(el("p", { class: "paused" }, `Paused (${r.paused.by}): ${r.paused.message}`,
      r.paused.continue.length ? ` — continue with ${r.paused.continue.join(" or ")}` : ""));
  }
  if (r.guard) {
    const g = r.guard;
    parts.push(el("p", { class: "guard" }, `Guard window ${num(g.window, 0)}s (${g.remaining ?? "–"}s left), analysis ${g.analysis}: ${g.state}`,
      g.message ? ` — ${g.message}` : ""));
  }
  const weights = status.weights;
  if (weights) {
    const bar = el("div", { class: "weights", role: "img", "aria-label": "traffic weights" });
    for (const [rev, w] of Object.entries(weights)) {
      if (!w) continue;
      const seg = el("span", { class: "weight" }, `r${rev} ${w}%`);
      seg.style.width = `${w}%`;
      seg.style.background = color(rev);
      bar.append(seg);
    }
    parts.push(bar);
  }
  box.replaceChildren(...parts);
}

function renderSteps(status) {
  const list = $("#steps");
  const progress = status.progress;
  const steps = progress ? progress.steps : [];
  const rollout = status.rollout;
  if (unchanged(list, [steps, progress && progress.step, rollout && [rollout.strategy, rollout.phase, rollout.finished_at]])) return;
  if (!steps.length) {
    list.replaceChildren(el("li", { class: "muted" }, rollout ? `${rollout.strategy}: no canary steps` : "–"));
    return;
  }
  const finished = rollout && rollout.finished_at;
  const current = progress.step;
  list.replaceChildren(...steps.map((text, i) => {
    let kind = "next";
    if (finished) kind = rollout.phase === "succeeded" ? "done" : "ended"; // where it stopped: History
    else if (current !== null && i < current) kind = "done";
    else if (current === i) kind = "current";
    return el("li", { class: `step ${kind}`, "data-state": kind, "data-step": text, "aria-current": kind === "current" ? "step" : null },
      el("span", { class: "mark", "aria-hidden": "true" }, { done: "✓", current: "▶", ended: "–" }[kind] || "·"),
      ` ${text}`, el("span", { class: "sr" }, ` (${kind})`));
  }));
}

function renderRevisions(status) {
  const weights = status.weights || {};
  const rows = status.revisions.map((rev) => ({ rev, live: status.live[String(rev.revision)] || {}, w: weights[String(rev.revision)] }));
  keyedRows($("#revisions tbody"), rows, (row) => row.rev.revision, ({ rev, live, w }) =>
    el("tr", { "data-revision": rev.revision },
      el("td", {}, swatch(color(rev.revision)), ` ${rev.revision}`),
      el("td", {}, rev.version),
      el("td", {}, rev.status),
      el("td", { class: "weight-cell" }, w === undefined ? "–" : `${w}%`),
      el("td", {}, `${rev.ready}/${rev.replicas}`),
      el("td", {}, num(live.request_rate)),
      el("td", {}, pct(live.success_rate)),
      el("td", {}, ms(live.latency_p95))));
}

function renderAnalysis(status) {
  const box = $("#analysis");
  const runs = status.progress ? status.progress.analysis : [];
  if (unchanged(box, runs)) return;
  if (!runs.length) {
    box.replaceChildren(el("p", { class: "muted" }, "No analysis runs in this rollout."));
    return;
  }
  box.replaceChildren(...runs.map((run) => el("div", { class: "run" },
    el("p", {}, el("strong", {}, `${run.key} · ${run.template}`), ` ${run.status}`, run.summary ? ` — ${run.summary}` : ""),
    el("ul", {}, run.measurements.slice(-4).map((m) =>
      el("li", { class: `outcome-${m.outcome}` }, `${m.metric}: ${m.value === null ? "no data" : num(m.value, 4)} (${m.outcome})`, m.message ? ` — ${m.message}` : ""))))));
}

function renderActions(status) {
  const box = $("#actions");
  box.hidden = !state.actions;
  const usable = state.actions && state.token !== null;
  const r = status.rollout;
  const running = r && !r.finished_at;
  for (const button of box.querySelectorAll("button[data-action]")) {
    const a = button.dataset.action;
    const fits = ["retry", "undo"].includes(a) ? !running : running;
    button.disabled = !usable || !fits;
    button.title = usable ? "" : "type the ops token above first";
  }
}

function renderNow(status) {
  renderHeader(status);
  if (state.page !== "now") return;
  renderRollout(status);
  renderActions(status);
  renderSteps(status);
  renderRevisions(status);
  renderAnalysis(status);
  drawCharts();
}

// --- charts: uPlot (vendored, static/vendor/uplot/) -----------------------------------
// One uPlot per chart, made again only when the revisions shown or the theme change; each
// refresh hands it the new points (setData). Stable hooks for the browser test: the
// container's `data-points` (values drawn in the window), `data-revisions` (the revisions
// with at least one) and `data-theme`; uPlot's legend names each series ("r2", "r2 p95").
const CHART_H = 180;
const charts = {}; // container id -> { plot, key }
const dark = window.matchMedia("(prefers-color-scheme: dark)");
const theme = () => (dark.matches ? "dark" : "light");
const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

const FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const ruler = document.createElement("canvas").getContext("2d");

// a value axis as wide as its widest label (uPlot asks again once the labels are known)
function labelsWidth(u, values) {
  if (!values) return 40;
  ruler.font = FONT;
  return Math.ceil(Math.max(0, ...values.map((v) => ruler.measureText(v).width))) + 20;
}

function axis(format) {
  // uPlot paints on a canvas: the theme's colours are read from the CSS variables
  const line = { stroke: cssVar("--line"), width: 1 };
  const made = { font: FONT, stroke: cssVar("--muted"), grid: line, ticks: line };
  if (format) Object.assign(made, { size: labelsWidth, values: (u, splits) => splits.map(format) });
  return made;
}

// the legend shows the value under the cursor, or each series' latest when there is none
function latest(format) {
  return (u, v, sidx, idx) => {
    if (idx === null || idx === undefined) {
      const values = u.data[sidx];
      for (let i = values.length - 1; i >= 0; i -= 1) if (values[i] !== null) return format(values[i]);
      return "–";
    }
    return v === null ? "–" : format(v);
  };
}
const clock = (t) => new Date(t * 1000).toLocaleTimeString(undefined, { hour12: false });
const two = (n) => String(n).padStart(2, "0");

// the time axis on one line, 24-hour like the rest of the page: "08:46:40 :50 08:47 :10"
function timeTicks(u, splits) {
  return splits.map((t, i) => {
    const d = new Date(t * 1000);
    const hm = `${two(d.getHours())}:${two(d.getMinutes())}`;
    if (d.getSeconds() === 0) return hm;
    return i === 0 ? `${hm}:${two(d.getSeconds())}` : `:${two(d.getSeconds())}`;
  });
}

function plotChart(target, lines, { span, range, format, label }) {
  const now = state.now || Date.now() / 1000;
  const t0 = now - span;
  // uPlot takes one x array for all series: every revision is sampled in the same tick,
  // and a second a revision has no point for is a gap (null), never a zero
  const times = [...new Set(lines.flatMap((l) => l.points.map((p) => p[0])))].filter((t) => t >= t0).sort((a, b) => a - b);
  const at = new Map(times.map((t, i) => [t, i]));
  const data = [times];
  let drawn = 0;
  const shown = new Set();
  for (const line of lines) {
    const ys = new Array(times.length).fill(null);
    for (const [t, v] of line.points) {
      const i = at.get(t);
      if (i === undefined || v === null) continue;
      ys[i] = v;
      drawn += 1;
      shown.add(line.revision);
    }
    data.push(ys);
  }
  const key = `${theme()}|${lines.map((l) => l.label).join(",")}`;
  const width = target.clientWidth;
  let entry = charts[target.id];
  if (entry && entry.key !== key) {
    entry.plot.destroy();
    entry = null;
  }
  if (!entry && width > 0) {
    const plot = new uPlot({
      width,
      height: CHART_H,
      series: [
        { label: "Time", value: latest(clock) },
        ...lines.map((l) => ({ label: l.label, stroke: l.color, width: l.width || 1.6, dash: l.dash, value: latest(format), points: { show: false } })),
      ],
      scales: {
        x: { time: true, range: () => [state.now - state.span, state.now] },
        y: { range },
      },
      axes: [{ ...axis(), size: 30, space: 60, values: timeTicks }, axis(format)],
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
    }, data, target);
    plot.root.setAttribute("role", "img");
    plot.root.setAttribute("aria-label", label);
    entry = charts[target.id] = { plot, key };
  } else if (entry) {
    entry.plot.setData(data);
  }
  target.dataset.points = String(drawn);
  target.dataset.revisions = [...shown].join(" ");
  target.dataset.theme = theme();
}

function resizeCharts() {
  for (const [id, { plot }] of Object.entries(charts)) {
    const width = document.getElementById(id).clientWidth;
    if (width > 0 && width !== plot.width) plot.setSize({ width, height: CHART_H });
  }
}

function drawCharts() {
  const revs = Object.keys(state.series).sort((a, b) => a - b);
  const pick = (rev, i) => state.series[rev].map((p) => [p[0], p[i]]);
  // the span grows with the history held, from a minute up to the 15 minutes kept
  const oldest = Math.min(...revs.map((rev) => state.series[rev][0][0]));
  state.span = Math.min(WINDOW_S, Math.max(60, Math.ceil(((state.now || 0) - oldest) / 60) * 60 || 60));
  const span = state.span;
  const upward = (u, lo, hi) => [0, hi > 0 ? hi * 1.1 : 1];
  plotChart($("#chart-rate"), revs.map((rev) => ({ revision: rev, label: `r${rev}`, color: color(rev), points: pick(rev, 1) })),
    { span, range: upward, format: (v) => num(v, v < 10 ? 1 : 0), label: "requests per second per revision" });
  // success rates live near 100%: the axis starts at 90% unless something fell lower
  let low = 0.9;
  for (const rev of revs) for (const [, v] of pick(rev, 2)) if (v !== null && v < low) low = Math.floor(v * 10) / 10;
  plotChart($("#chart-success"), revs.map((rev) => ({ revision: rev, label: `r${rev}`, color: color(rev), points: pick(rev, 2) })),
    { span, range: () => [low, 1.005], format: (v) => `${(Math.min(v, 1) * 100).toFixed(v < 0.995 && v > low ? 1 : 0)}%`, label: "success rate per revision" });
  const latency = [];
  for (const rev of revs) {
    latency.push({ revision: rev, label: `r${rev} p50`, color: color(rev), points: pick(rev, 3), dash: [4, 3], width: 1.1 });
    latency.push({ revision: rev, label: `r${rev} p95`, color: color(rev), points: pick(rev, 4) });
    latency.push({ revision: rev, label: `r${rev} p99`, color: color(rev), points: pick(rev, 5), dash: [1, 3], width: 1.4 });
  }
  plotChart($("#chart-latency"), latency, { span, range: upward, format: (v) => (v === 0 ? "0" : ms(v)), label: "latency percentiles per revision" });
}

// --- actions ------------------------------------------------------------------------
async function act(path, body, result, question) {
  if (state.token === null) {
    result.textContent = "Type the ops token first.";
    return;
  }
  if (question && !window.confirm(question)) return;
  result.textContent = "…";
  try {
    const response = await fetch(path, {
      method: "POST",
      credentials: "omit",
      cache: "no-store",
      headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    const doc = await response.json().catch(() => ({}));
    result.textContent = response.ok ? doc.message : `Refused (${response.status}): ${doc.error || response.statusText}`;
    result.className = response.ok ? "ok" : "bad";
  } catch (err) {
    result.className = "bad";
    result.textContent = `Failed: ${err.message}`;
  }
}

const QUESTIONS = {
  "promote-full": "Promote to 100% now, skipping the remaining steps?",
  abort: "Abort the rollout and send all traffic back to the stable revision?",
  undo: "Roll back to the previous revision?",
  retry: "Retry the last failed rollout?",
};

function setupActions() {
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", () => {
      const a = button.dataset.action;
      act(`/api/actions/${a}`, {}, $("#action-result"), QUESTIONS[a] || `${a}?`);
    });
  }
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("#token");
    state.token = input.value.trim() || null;
    input.value = "";
    renderTokenState();
    if (state.status) renderNow(state.status);
    if (state.page === "flags") loadFlags();
  });
  $("#token-forget").addEventListener("click", () => {
    state.token = null;
    renderTokenState();
    if (state.status) renderNow(state.status);
    if (state.page === "flags") loadFlags();
  });
}

function renderTokenState() {
  const form = $("#token-form");
  form.hidden = !state.actions;
  $("#token-state").textContent = !state.actions
    ? "read-only"
    : state.token === null ? "read-only until a token is typed" : "token in use (this tab only)";
}

// --- history, events, flags, pipeline ----------------------------------------------
let historyAsked = 0; // answers to an older request than the newest are dropped

async function loadHistory() {
  const asked = (historyAsked += 1);
  const doc = await getJSON("/api/history");
  if (asked !== historyAsked) return;
  keepInView(() => drawHistory(doc));
}

function drawHistory(doc) {
  keyedRows($("#rollouts tbody"), doc.rollouts, (r) => r.id, (r) => el("tr", { "data-rollout": r.id },
    el("td", {}, r.id), el("td", {}, r.kind), el("td", {}, r.strategy),
    el("td", {}, `${r.from_revision ?? "–"} → ${r.to_revision}`),
    el("td", { class: `phase-${r.phase}` }, r.phase), el("td", {}, when(r.started_at)),
    el("td", {}, took(r.started_at, r.finished_at)), el("td", {}, r.reason || "")));
  // revisions come newest first: the one before each is the next in the list
  const rows = doc.revisions.map((r, i) => ({ ...r, before: doc.revisions[i + 1]?.revision ?? null }));
  keyedRows($("#history-revisions tbody"), rows, (r) => r.revision, (r) => {
    const cell = el("td", { class: "diff-cell" },
      r.changes.length ? el("ul", { class: "changes" }, r.changes.map((c) => el("li", {}, c))) : "–");
    const opened = state.diffs.get(`${r.before}>${r.revision}`);
    if (opened) cell.append(fullDiff(opened));
    else if (r.before !== null) {
      const button = el("button", { type: "button", "data-diff": r.revision }, `Every difference from ${r.before}`);
      button.addEventListener("click", () => showDiff(r.before, r.revision, button));
      cell.append(button);
    }
    return el("tr", { "data-revision": r.revision },
      el("td", {}, r.revision), el("td", {}, r.version), el("td", {}, r.status), el("td", {}, when(r.created_at)), cell);
  });
}

function fullDiff(doc) {
  return el("ul", { class: "changes full-diff" },
    doc.changes.length ? doc.changes.map((c) => el("li", {}, c.text)) : [el("li", {}, "no difference")]);
}

async function showDiff(from, to, button) {
  // what `changeover history --diff` prints: every path of release and spec that differs;
  // remembered by revision, so a refresh of the page draws it open again
  button.disabled = true;
  let doc;
  try {
    doc = await getJSON(`/api/diff?from=${from}&to=${to}`);
  } finally {
    button.disabled = false;
  }
  state.diffs.set(`${from}>${to}`, doc);
  // the row may have been drawn again meanwhile: open the diff in the one on the page
  const shown = document.querySelector(`#history-revisions button[data-diff="${to}"]`);
  if (shown) shown.replaceWith(fullDiff(doc));
}

function renderEvents() {
  const filter = $("#event-filter").value.trim().toLowerCase();
  const shown = state.events.filter((e) => !filter || e.kind.toLowerCase().includes(filter) || e.message.toLowerCase().includes(filter));
  keepInView(() => keyedRows($("#events tbody"), shown.slice(-300).reverse(), (e) => e.id, (e) => el("tr", { class: `kind-${e.kind}` },
    el("td", {}, e.id), el("td", {}, when(e.ts)), el("td", {}, e.kind), el("td", {}, e.message))));
}

async function followEvents() {
  // the agent's change feed, long-polled: resumes from the last event seen after a hiccup
  const first = state.lastEvent === null;
  const query = first ? "last=200&wait=0" : `after=${state.lastEvent}&wait=${EVENT_WAIT_S}`;
  try {
    const doc = await getJSON(`/api/events?${query}`);
    if (first) state.lastEvent = doc.last;
    for (const e of doc.events) state.lastEvent = Math.max(state.lastEvent, e.id);
    state.events.push(...doc.events);
    if (state.events.length > 2000) state.events.splice(0, state.events.length - 2000);
    if (doc.events.length && state.page === "events") renderEvents();
    if (doc.events.length && state.page === "history") loadHistory().catch(() => {});
    setTimeout(followEvents, 0);
  } catch (err) {
    connected(false, err.message);
    setTimeout(followEvents, backoff());
  }
}

async function loadFlags() {
  const doc = await getJSON("/api/flags");
  const usable = state.actions && state.token !== null;
  const result = $("#flag-result");
  const body = $("#flags tbody");
  if (!doc.flags.length) {
    body.replaceChildren(el("tr", {}, el("td", { colSpan: 5, class: "muted" }, "No flags.")));
    return;
  }
  // by name: an action redraws its own row only, so a percent typed into another flag's
  // field (not sent yet) stays
  keyedRows(body, doc.flags.map((f) => ({ f, usable })), (row) => row.f.name, ({ f }) => {
    const toggle = el("button", { type: "button", disabled: !usable, "data-flag": f.name },
      f.enabled ? "Disable" : "Enable");
    toggle.addEventListener("click", async () => {
      const verb = f.enabled ? "disable" : "enable";
      await act(`/api/flags/${encodeURIComponent(f.name)}/${verb}`, {}, result, `${verb} flag ${f.name}?`);
      loadFlags();
    });
    const percent = el("input", { type: "number", min: "0", max: "100", step: "1", disabled: !usable, "aria-label": `rollout percent of ${f.name}`, size: 4 });
    const set = el("button", { type: "button", disabled: !usable }, "Set %");
    set.addEventListener("click", async () => {
      const value = Number(percent.value);
      if (!Number.isInteger(value) || value < 0 || value > 100) { result.textContent = "a percent is 0 to 100"; return; }
      await act(`/api/flags/${encodeURIComponent(f.name)}/rollout`, { percent: value }, result, `roll ${f.name} out to ${value}%?`);
      loadFlags();
    });
    return el("tr", { "data-flag": f.name },
      el("td", {}, f.name), el("td", { class: "flag-enabled" }, f.enabled ? "yes" : "no"), el("td", {}, f.rollout),
      el("td", {}, f.stale.length ? f.stale.join("; ") : "–"),
      el("td", { class: "buttons" }, state.actions ? [toggle, percent, set] : "read-only"));
  });
}

async function loadPipeline() {
  const doc = await getJSON("/api/pipeline");
  const box = $("#pipeline");
  if (!doc.environment) {
    box.replaceChildren(el("p", { class: "muted" }, "This agent serves no environment: no release pipeline here."));
    return;
  }
  const freezes = doc.freezes.filter((f) => f.active);
  box.replaceChildren(
    el("p", {}, `Environment ${doc.environment} · stable revision ${doc.stable_revision ?? "none"}`,
      freezes.length ? ` · FROZEN until ${freezes[0].until_text}: ${freezes[0].reason}` : ""),
    ...doc.promotions.map((p) => el("div", { class: `card promotion state-${p.state}` },
      el("h3", {}, `${p.version} `, el("span", { class: "phase" }, p.state), p.current ? " (serving)" : ""),
      el("p", { class: "muted" }, `${p.kind} from ${p.from_environment || "a build"} · asked by ${p.requested_by} at ${when(p.requested_at)}${p.outcome ? ` · ${p.outcome}` : ""}`),
      el("ul", {}, (p.gates || []).map((g) => el("li", { class: `gate-${g.state}` }, `${g.gate}${g.item ? ` ${g.item}` : ""}: ${g.state} — ${g.summary}${g.needs ? ` (needs ${g.needs})` : ""}`))),
      p.approvals.length ? el("p", {}, `approvals: ${p.approvals.map((a) => `${a.verdict} by ${a.by}`).join(", ")}`) : null)));
}

// --- pages --------------------------------------------------------------------------
const LOADERS = { history: loadHistory, flags: loadFlags, pipeline: loadPipeline, events: async () => renderEvents() };

function show() {
  const page = (location.hash || "#now").slice(1);
  state.page = ["now", "history", "events", "flags", "pipeline"].includes(page) ? page : "now";
  for (const section of document.querySelectorAll("main section")) section.hidden = section.dataset.page !== state.page;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.page === state.page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (state.page === "now" && state.status) renderNow(state.status);
  const loader = LOADERS[state.page];
  if (loader) loader().then(() => connected(true), (err) => connected(false, err.message));
}

function start() {
  setupActions();
  // phone rotation, a narrower window: the charts follow their cards' width
  new ResizeObserver(resizeCharts).observe($(".charts"));
  dark.addEventListener("change", () => { if (state.status && state.page === "now") drawCharts(); });
  $("#event-filter").addEventListener("input", renderEvents);
  window.addEventListener("hashchange", show);
  show();
  pollNow();
  followEvents();
}

start();
