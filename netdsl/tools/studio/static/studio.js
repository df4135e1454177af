// netdsl studio: the page. The editor is CodeMirror 6 (editor.js, the global `CM`); every
// language feature is asked of the server, which answers with the language server's analysis.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { name: "example.net", checked: -1, version: 0, selected: new Set(), shown: null, errors: 0, diagramKey: null,
  timings: [], fixes: [], runs: [] };
window.studio = state;  // the tests and the bench read timings from here

const SERVER_TIMING = /(\w+);dur=([0-9.]+)/g;
async function api(path, body) {
  const init = body === undefined ? {} : { method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json" } };
  const r = await fetch(path, init);
  const data = await r.json();
  const timing = r.headers.get("Server-Timing");
  if (timing && data && typeof data === "object") {
    data.serverTiming = Object.fromEntries([...timing.matchAll(SERVER_TIMING)].map((m) => [m[1], +m[2]]));
  }
  if (!r.ok) throw new Error(data.error + (data.help ? ` (${data.help})` : ""));
  return data;
}

function escapeHtml(s) {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

// --- highlighting: the Pygments lexer's states (netdsl/tools/highlight.py) as a stream parser --
const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
function values(stream) {
  if (stream.match(/^(true|false)\b/)) return "bool";
  if (stream.match(/^"([^"\\\n]|\\.)*"/)) return "string";
  if (stream.match(/^[0-9]+(x[0-9]+)+(?![A-Za-z0-9_])/)) return "number";
  if (stream.match(/^-?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?|^-?[0-9]+[eE][-+]?[0-9]+/)) return "number";
  if (stream.match(/^-?[0-9]+/)) return "number";
  if (stream.match(/^[A-Za-z_][A-Za-z0-9_]*(?=\s*=(?!=))/)) return "attributeName";
  if (stream.match(/^=/)) return "operator";
  if (stream.match(/^[A-Za-z_][A-Za-z0-9_]*(?=\()/)) return "macroName";
  if (stream.match(NAME)) return "atom";
  stream.next();
  return "punctuation";
}
const netdsl = CM.StreamLanguage.define({
  name: "netdsl",
  startState: () => ({ ctx: "root" }),
  token(stream, s) {
    if (stream.eatSpace()) return null;
    if (stream.match(/^#.*/)) return "comment";
    if (stream.sol() && s.ctx !== "args-cont") s.ctx = "root";
    if (s.ctx === "args-cont") s.ctx = "args";
    if (s.ctx === "root") {
      if (stream.match(/^block\b/)) { s.ctx = "blockhead"; return "keyword"; }
      if (stream.match(/^(shared|output)\b(?=\s+[A-Za-z_])/)) { s.ctx = "named"; return "keyword"; }
      if (stream.match(/^[A-Za-z_][A-Za-z0-9_]*(?=\s*:)/)) { s.ctx = "setting"; return "propertyName"; }
      if (stream.match(/^[A-Za-z_][A-Za-z0-9_]*(?=\s*=[^=])/)) { s.ctx = "named"; return "variableName"; }
      s.ctx = "step";
    }
    if (s.ctx === "named") {
      if (stream.match(/^=/)) { s.ctx = "step"; return "operator"; }
      if (stream.match(NAME)) return "variableName";
    }
    if (s.ctx === "setting") {
      if (stream.match(/^:/)) return "punctuation";
      return values(stream);
    }
    if (s.ctx === "blockhead") {
      if (stream.match(/^=/)) { s.ctx = "step"; return "operator"; }
      if (stream.match(NAME)) return "macroName";
      stream.next(); return "punctuation";
    }
    if (s.ctx === "step") {
      if (stream.match(/^->/)) return "operator";
      if (stream.match(/^[(\[|\])]/)) return "punctuation";
      if (stream.match(/^[A-Za-z_][A-Za-z0-9_]*(?=\()/)) return "className";
      if (stream.match(NAME)) { s.ctx = "args"; return "className"; }
      s.ctx = "args";
    }
    // args: after a layer's name, until `->`, `|` or a bracket
    if (stream.match(/^->/)) { s.ctx = "step"; return "operator"; }
    if (stream.match(/^[|\[]/)) { s.ctx = "step"; return "punctuation"; }
    if (stream.match(/^[\])]/)) return "punctuation";
    if (stream.match(/^\*/)) return "operator";
    return values(stream);
  },
  blankLine(s) { s.ctx = "root"; },
  languageData: { commentTokens: { line: "#" } },
});
const t = CM.tags;
const colours = CM.HighlightStyle.define([
  { tag: t.comment, color: "#6a737d", fontStyle: "italic" },
  { tag: t.keyword, color: "#8a3ffc", fontWeight: "bold" },
  { tag: t.propertyName, color: "#005cc5" },
  { tag: t.className, color: "#b31d28", fontWeight: "600" },
  { tag: t.macroName, color: "#6f42c1" },
  { tag: t.atom, color: "#22863a" },
  { tag: t.bool, color: "#d73a49" },
  { tag: t.string, color: "#032f62" },
  { tag: t.number, color: "#e36209" },
  { tag: t.attributeName, color: "#735c0f" },
  { tag: t.operator, color: "#d73a49", fontWeight: "bold" },
  { tag: t.variableName, color: "#0b6e4f", fontWeight: "600" },
]);

// --- positions: LSP (line, UTF-16 column) <-> CodeMirror offsets -----------------------------
function toLsp(doc, pos) {
  const line = doc.lineAt(pos);
  return { line: line.number - 1, character: pos - line.from };
}
function fromLsp(doc, p) {
  if (p.line >= doc.lines) return doc.length;
  const line = doc.line(p.line + 1);
  return Math.min(line.from + p.character, line.to);
}

// --- checking as you type -------------------------------------------------------------------
// under CodeMirror's 100 ms before it asks for completions, so a check is not queued behind the
// completion request (which then reuses the check's analysis of the same text)
const DEBOUNCE_MS = 90;
let timer = null;
function scheduleCheck() {
  clearTimeout(timer);
  $("check-state").textContent = "editing…";
  timer = setTimeout(check, DEBOUNCE_MS);
}

async function check() {
  const version = ++state.version;
  const text = view.state.doc.toString();
  const sent = performance.now();
  let result;
  try {
    result = await api("/api/check", { name: state.name, text });
  } catch (e) {
    $("check-state").textContent = String(e.message);
    return;
  }
  if (version !== state.version) return;  // a newer check is on its way
  const answered = performance.now();
  showDiagnostics(result, text);
  state.checked = version;
  // request -> answer, -> diagnostics in the DOM, -> the next frame painted (the bench reads these)
  const timing = { version, answered: answered - sent, rendered: performance.now() - sent,
    server: (result.serverTiming || {}).app, serverCpu: (result.serverTiming || {}).cpu,
    problems: result.diagnostics.length };
  requestAnimationFrame(() => { timing.frame = performance.now() - sent; state.timings.push(timing); });
  scheduleOutline(text, result.summary);
}

function showDiagnostics(result, text) {
  const doc = view.state.doc;
  state.fixes = result.fixes.map((f) => ({ ...f, from: fromLsp(doc, f.from), to: fromLsp(doc, f.to) }));
  const diagnostics = result.diagnostics.map((d) => {
    const from = fromLsp(doc, d.from);
    let to = fromLsp(doc, d.to);
    if (to <= from) to = Math.min(from + 1, doc.length);
    const fixes = state.fixes.filter((f) => f.from === from);
    return { from, to, severity: d.severity, message: d.message, source: d.code || "netdsl",
      actions: fixes.map((f) => ({ name: f.title, apply: () => applyFix(f) })) };
  });
  view.dispatch(CM.setDiagnostics(view.state, diagnostics));
  renderProblems(diagnostics);
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  $("check-state").textContent = errors ? `${errors} error${errors > 1 ? "s" : ""}` : "✓ checks";
  state.errors = errors;
  updateButtons();
}

function applyFix(f) {
  view.dispatch({ changes: { from: f.from, to: f.to, insert: f.insert } });
  view.focus();
}

function renderProblems(diagnostics) {
  const list = $("problems");
  list.textContent = "";
  $("problem-count").textContent = diagnostics.length ? String(diagnostics.length) : "";
  if (!diagnostics.length) {
    const li = document.createElement("li");
    li.className = "ok";
    li.textContent = "No problems: the program checks.";
    list.append(li);
    return;
  }
  for (const d of diagnostics) {
    const li = document.createElement("li");
    li.className = `sev-${d.severity}`;
    const where = toLsp(view.state.doc, d.from);
    li.innerHTML = `<span class="where">${where.line + 1}:${where.character + 1}</span>`;
    li.append(document.createTextNode(`${d.source}: ${d.message}`));
    for (const a of d.actions) {
      const b = document.createElement("button");
      b.className = "fix";
      b.textContent = a.name;
      b.addEventListener("click", (e) => { e.stopPropagation(); a.apply(); });
      li.append(b);
    }
    li.addEventListener("click", () => {
      view.dispatch({ selection: { anchor: d.from, head: d.to }, scrollIntoView: true });
      view.focus();
    });
    list.append(li);
  }
}

// --- the diagram and the summary --------------------------------------------------------------
let outlineTimer = null;
function scheduleOutline(text, summary) {
  const pre = $("summary");
  if (summary) {
    pre.innerHTML = summary.split("\n").map((line) => line.includes("(implicit)")
      ? `<span class="implicit" title="inserted by the checker">${escapeHtml(line)}</span>`
      : escapeHtml(line)).join("\n");
  } else if (!pre.textContent) {
    pre.textContent = "(the summary appears when the program checks)";
  } else {
    pre.style.opacity = "0.45";  // the last good one, faded while the program has errors
    return;
  }
  pre.style.opacity = "1";
  clearTimeout(outlineTimer);
  outlineTimer = setTimeout(async () => {
    const d = await api("/api/diagram", { name: state.name, text, have: state.diagramKey });
    const box = $("diagram");
    if (d.key && d.key === state.diagramKey) return;  // the same graph: nothing to draw again
    state.diagramKey = d.key;
    if (d.svg) box.innerHTML = d.svg.slice(d.svg.indexOf("<svg"));
    else box.innerHTML = `<div class="message">${escapeHtml(d.message)}</div>`;
  }, 250);
}

// --- hover and completion ---------------------------------------------------------------------
function markdown(md) {
  const html = escapeHtml(md)
    .replace(/```[a-z]*\n([\s\S]*?)```/g, (m, code) => `<pre>${code}</pre>`)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<b>$1</b>")
    .replace(/(^|[\s(])_((?:[^_\\]|\\.)+)_(?=[\s).,:]|$)/gm, "$1<i>$2</i>")
    .replace(/\\([\\_*])/g, "$1");
  return html.split(/\n\n+/).map((p) => `<p>${p.replace(/\n/g, "<br>")}</p>`).join("");
}

const hover = CM.hoverTooltip(async (v, pos) => {
  const at = toLsp(v.state.doc, pos);
  const r = await api("/api/hover", { name: state.name, text: v.state.doc.toString(), ...at });
  if (!r.markdown) return null;
  return { pos, create() {
    const dom = document.createElement("div");
    dom.className = "md";
    dom.innerHTML = markdown(r.markdown);
    return { dom };
  } };
}, { hoverTime: 250 });

async function complete(ctx) {
  const word = ctx.matchBefore(/[A-Za-z_][A-Za-z0-9_]*/);
  if (!word && !ctx.explicit) {
    const before = ctx.state.sliceDoc(Math.max(0, ctx.pos - 3), ctx.pos);
    if (!/(->\s?|[:|\[(]\s?|\s)$/.test(before)) return null;
  }
  const at = toLsp(ctx.state.doc, ctx.pos);
  const r = await api("/api/complete", { name: state.name, text: ctx.state.doc.toString(), ...at });
  if (!r.items.length) return null;
  return { from: word ? word.from : ctx.pos, validFor: /^[A-Za-z0-9_]*$/,
    options: r.items.map((i) => ({ label: i.label, detail: i.detail.split(" — ")[0],
      info: i.info || undefined, boost: i.sort.startsWith("0") ? 1 : 0 })) };
}

// --- training: runs, curves, confusion ---------------------------------------------------------
const PALETTE = ["#2f6fdf", "#e0662f", "#2a9d5b", "#9b59b6", "#c0392b", "#16a2b8", "#7f8c8d"];

function lineChart(title, series, epochs) {
  const W = 300, H = 180, L = 46, R = 10, T = 26, B = 30;
  const all = series.flatMap((s) => s.values.filter((v) => Number.isFinite(v)));
  if (!all.length) return null;
  let lo = Math.min(...all), hi = Math.max(...all);
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const n = Math.max(epochs, 2);
  const x = (i) => L + (W - L - R) * (i / (n - 1));
  const y = (v) => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("width", W); svg.setAttribute("height", H);
  svg.dataset.title = title;
  let inner = `<text x="${L}" y="12" font-weight="bold">${escapeHtml(title)}</text>`;
  for (const v of [lo, (lo + hi) / 2, hi]) {
    inner += `<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#eef0f4"/>`;
    inner += `<text x="${L - 4}" y="${y(v) + 4}" text-anchor="end">${v.toPrecision(3)}</text>`;
  }
  inner += `<text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle">epoch</text>`;
  const step = Math.max(1, Math.ceil(n / 8));
  for (let i = 0; i < n; i += step) {
    inner += `<text x="${x(i)}" y="${H - B + 13}" text-anchor="middle">${i + 1}</text>`;
  }
  for (const s of series) {
    const pts = s.values.map((v, i) => [x(i), y(v)]).filter((p) => Number.isFinite(p[1]));
    const d = pts.map((p, i) => `${i ? "L" : "M"}${p[0].toFixed(1)},${p[1].toFixed(1)}`).join("");
    inner += `<path d="${d}" fill="none" stroke="${s.colour}" stroke-width="2"` +
      (s.dashed ? ' stroke-dasharray="5 4"' : "") + "/>";
    for (const p of pts) inner += `<circle cx="${p[0]}" cy="${p[1]}" r="2.5" fill="${s.colour}"/>`;
  }
  svg.innerHTML = inner;
  return svg;
}

async function drawCurves() {
  const names = state.selected.size ? [...state.selected] : (state.shown ? [state.shown] : []);
  const box = $("charts");
  if (!names.length) {
    box.innerHTML = '<span class="empty">Press ▶ Run: the loss and metric curves grow here as epochs finish.</span>';
    return;
  }
  const histories = await Promise.all(names.map((n) => api(`/api/runs/${encodeURIComponent(n)}/history`)));
  const quantities = [];
  for (const h of histories) for (const row of h.epochs) for (const k of Object.keys(row)) {
    const base = k.startsWith("val_") ? k.slice(4) : k;
    if (base !== "learning_rate" && !quantities.includes(base)) quantities.push(base);
  }
  quantities.sort((a, b) => (a === "loss" ? -1 : b === "loss" ? 1 : 0));
  const epochs = Math.max(...histories.map((h) => Math.max(h.epochs.length, h.planned || 0)));
  box.textContent = "";
  for (const q of quantities) {
    const series = [];
    histories.forEach((h, i) => {
      const colour = PALETTE[i % PALETTE.length];
      series.push({ values: h.epochs.map((r) => r[q]), colour, dashed: false });
      if (h.epochs.some((r) => `val_${q}` in r)) {
        series.push({ values: h.epochs.map((r) => r[`val_${q}`]), colour, dashed: true });
      }
    });
    const chart = lineChart(q, series, epochs);
    if (chart) box.append(chart);
  }
  const legend = document.createElement("div");
  legend.className = "legend";
  legend.innerHTML = histories.map((h, i) => `<span><i style="background:${PALETTE[i % PALETTE.length]}"></i>` +
    `${escapeHtml(h.name)} · ${h.epochs.length}${h.planned ? "/" + h.planned : ""} epochs · ${h.status || "?"}</span>`).join("") +
    "<span>solid: training · dashed: validation</span>";
  box.append(legend);
}

async function drawConfusion(name) {
  const { confusion } = await api(`/api/runs/${encodeURIComponent(name)}/confusion`);
  const panel = $("confusion-panel");
  panel.hidden = !confusion;
  if (!confusion) return;
  $("confusion-name").textContent = `${name} · rows: true class, columns: predicted`;
  const peak = Math.max(1, ...confusion.matrix.flat());
  let html = "<table><tr><th></th>" + confusion.classes.map((c) => `<th>${escapeHtml(c)}</th>`).join("") + "</tr>";
  confusion.matrix.forEach((row, i) => {
    html += `<tr><th>${escapeHtml(confusion.classes[i])}</th>` + row.map((v) => {
      const a = v / peak;
      return `<td style="background:rgba(47,95,179,${a.toFixed(2)});color:${a > 0.5 ? "#fff" : "#1d2330"}">${v}</td>`;
    }).join("") + "</tr>";
  });
  $("confusion").innerHTML = html + "</table>";
}

function fmt(v, digits = 4) { return typeof v === "number" ? v.toFixed(digits) : ""; }

async function refreshRuns() {
  const { runs } = await api("/api/runs");
  state.runs = runs;
  const body = $("runs").tBodies[0];
  body.textContent = "";
  for (const r of runs) {
    const tr = document.createElement("tr");
    if (r.name === state.shown) tr.className = "selected";
    const metric = r.metric ? `${r.metric.name} ${r.metric.name === "accuracy" ? (100 * r.metric.value).toFixed(2) + "%" : fmt(r.metric.value)}` : "";
    tr.innerHTML = `<td><input type="checkbox" aria-label="compare ${escapeHtml(r.name)}"${state.selected.has(r.name) ? " checked" : ""}></td>` +
      `<td>${escapeHtml(r.name)}</td><td class="status-${escapeHtml(r.status)}">${escapeHtml(r.status)}</td>` +
      `<td>${r.epochs}${r.epochs_planned ? "/" + r.epochs_planned : ""}</td><td>${fmt(r.test.loss)}</td>` +
      `<td>${metric}</td><td>${r.wall_seconds ? r.wall_seconds.toFixed(1) + " s" : ""}</td>`;
    tr.querySelector("input").addEventListener("click", (e) => {
      e.stopPropagation();
      if (e.target.checked) state.selected.add(r.name); else state.selected.delete(r.name);
      drawCurves();
    });
    tr.addEventListener("click", () => show(r.name));
    body.append(tr);
  }
  updateButtons();
}

function show(name) {
  state.shown = name;
  for (const tr of $("runs").tBodies[0].rows) tr.classList.toggle("selected", tr.cells[1].textContent === name);
  drawCurves();
  drawConfusion(name);
  updateButtons();
}

let running = false;
function updateButtons() {
  $("run").disabled = running || state.errors > 0;
  $("run").title = state.errors > 0 ? "Fix the problems first" : running ? "A run is in progress"
    : "Train the program as it is in the editor";
  $("stop").disabled = !running;
  const row = state.runs.find((r) => r.name === state.shown);
  $("resume").disabled = running || !row || !["stopped", "crashed"].includes(row.status);
}

async function poll() {
  const s = await api("/api/status");
  const was = running;
  running = s.running;
  if (s.active) {
    $("log").textContent = s.log.join("\n");
    $("run-state").textContent = s.running ? `running · ${s.seconds} s`
      : s.exit === 0 ? "done"
      : [130, 143, -2, -15].includes(s.exit) ? "stopped: select it in the runs table to resume it"
      : `ended (exit ${s.exit}; see the output)`;
    if (s.run && s.run !== state.shown) show(s.run);
    else if (s.run && (s.running || was)) drawCurves();
    if (!s.running && was) {
      await refreshRuns();
      if (s.run) drawConfusion(s.run);
      if (![0, 130, 143, -2, -15].includes(s.exit)) $("log-box").open = true;  // say why
    }
    else if (s.running) refreshRuns();
  }
  updateButtons();
  setTimeout(poll, running ? 700 : 2000);
}

async function startRun() {
  const epochs = $("epochs").value;
  try {
    await api("/api/run", { name: state.name, text: view.state.doc.toString(), epochs: epochs || null });
    running = true;
    $("run-state").textContent = "starting…";
    $("log-box").open = false;
    updateButtons();
  } catch (e) { $("run-state").textContent = String(e.message); }
}

// --- the editor ---------------------------------------------------------------------------------
const view = new CM.EditorView({
  parent: $("editor"),
  state: CM.EditorState.create({
    doc: "",
    extensions: [
      CM.keymap.of([{ key: "Mod-s", preventDefault: true, run: () => { save(); return true; } }]),
      CM.basicSetup,
      netdsl,
      CM.syntaxHighlighting(colours),
      CM.lintGutter(),
      hover,
      CM.autocompletion({ override: [complete], activateOnTyping: true }),
      CM.EditorView.updateListener.of((u) => { if (u.docChanged) scheduleCheck(); }),
    ],
  }),
});
state.view = view;

async function open(doc) {
  state.name = doc.name;
  $("file-name").value = doc.name;
  if (doc.text === null) {  // a new file: keep the text; Save creates it
    $("check-state").textContent = `${doc.name} is new: Save creates it`;
    return;
  }
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: doc.text } });
}

$("file-name").addEventListener("change", async () => {
  const name = $("file-name").value.trim();
  try { await open(await api("/api/open", { name })); }
  catch (e) { state.name = name; $("check-state").textContent = String(e.message); }
});
async function save() {
  try {
    const r = await api("/api/save", { name: $("file-name").value.trim(), text: view.state.doc.toString() });
    state.name = r.name;
    $("check-state").textContent = `saved ${r.name}`;
    listFiles();
  } catch (e) { $("check-state").textContent = String(e.message); }
}
$("save").addEventListener("click", save);
$("run").addEventListener("click", startRun);
$("stop").addEventListener("click", () => api("/api/stop", {}).catch((e) => { $("run-state").textContent = e.message; }));
$("resume").addEventListener("click", async () => {
  try { await api("/api/resume", { run: state.shown }); running = true; updateButtons(); }
  catch (e) { $("run-state").textContent = String(e.message); }
});

async function listFiles() {
  const { files } = await api("/api/files");
  $("files").innerHTML = files.map((f) => `<option value="${escapeHtml(f)}">`).join("");
}

(async () => {
  await open(await api("/api/open", {}));
  listFiles();
  await refreshRuns();
  drawCurves();
  poll();
})();
