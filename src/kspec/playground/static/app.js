// kspec Playground: the page. Plain JavaScript, no library, nothing fetched from elsewhere.
// The spec text is the single source of truth: every control asks the server to write its change
// into the text (/api/edit), the text is checked as you type (/api/check), and a valid change
// resets this tab's training (/api/session/SID/reset). The URL's hash carries the spec and the
// view settings, so a shared URL opens the same setup.
"use strict";

const $ = (id) => document.getElementById(id);
const SID = sessionStorage.getItem("kspec-sid") || Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
sessionStorage.setItem("kspec-sid", SID);
const API = "/api/session/" + SID;
const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const REG_RATES = [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const FEATURES = [["x1", "X\u2081"], ["x2", "X\u2082"], ["x1_sq", "X\u2081\u00b2"], ["x2_sq", "X\u2082\u00b2"], ["x1_x2", "X\u2081X\u2082"], ["sin_x1", "sin(X\u2081)"], ["sin_x2", "sin(X\u2082)"]];
const NODE = 40, ROW = 52, COLW = 120, TOP = 48;

const ui = { text: "", check: null, trainedText: null, state: {}, setup: null, frame: null, history: null, initial: null, originalData: null, events: null, checkTimer: 0, resetTimer: 0, busy: 0 };

// ---------------------------------------------------------------- colours (Playground's scale)
const LUT = (() => {
  const neg = [245, 147, 34], mid = [232, 234, 235], pos = [8, 119, 189], out = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 255 * 2 - 1, a = t < 0 ? neg : pos, f = Math.abs(t);
    for (let c = 0; c < 3; c++) out[i * 3 + c] = mid[c] + (a[c] - mid[c]) * f;
  }
  return out;
})();
const colour = (v) => { const i = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5))); return `rgb(${LUT[i * 3]},${LUT[i * 3 + 1]},${LUT[i * 3 + 2]})`; };

function decode(b64) { const s = atob(b64), out = new Uint8Array(s.length); for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i); return out; }

function paint(canvas, b64, n, discretize) {
  const bytes = decode(b64);
  canvas.width = n; canvas.height = n;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(n, n);
  for (let i = 0; i < n * n; i++) {
    let q = bytes[i];
    if (discretize) q = q >= 128 ? 255 : 0;
    img.data[i * 4] = LUT[q * 3]; img.data[i * 4 + 1] = LUT[q * 3 + 1]; img.data[i * 4 + 2] = LUT[q * 3 + 2]; img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

// ---------------------------------------------------------------- server calls
async function post(url, body) {
  const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
  let data = {};
  try { data = await r.json(); } catch (e) { data = { error: "the server sent no JSON (" + r.status + ")" }; }
  if (!r.ok && data.ok !== false) throw new Error(data.error || ("HTTP " + r.status));
  return data;
}

function status(message, bad) { const s = $("status"); s.textContent = message || ""; s.classList.toggle("error", !!bad); }

// ---------------------------------------------------------------- the URL carries the setup
function b64urlEncode(text) { const bytes = new TextEncoder().encode(text); let s = ""; bytes.forEach((b) => { s += String.fromCharCode(b); }); return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""); }
function b64urlDecode(s) { s = s.replace(/-/g, "+").replace(/_/g, "/"); while (s.length % 4) s += "="; const raw = atob(s), bytes = new Uint8Array(raw.length); for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i); return new TextDecoder("utf-8", { fatal: true }).decode(bytes); }
function saveHash() {
  const h = "spec=" + b64urlEncode(ui.text) + "&test=" + ($("show-test").checked ? 1 : 0) + "&discretize=" + ($("discretize").checked ? 1 : 0);
  history.replaceState(null, "", location.pathname + location.search + "#" + h);
}
function readHash() {
  const params = new URLSearchParams(location.hash.slice(1)), out = {};
  if (params.has("spec")) { try { out.text = b64urlDecode(params.get("spec")); } catch (e) { status("the link's spec could not be read", true); } }
  out.test = params.get("test") === "1"; out.discretize = params.get("discretize") === "1";
  return out;
}

// ---------------------------------------------------------------- the editor
function setText(text, fromEditor) {
  ui.text = text;
  if (!fromEditor) $("spec").value = text;
  drawGutter();
  saveHash();
  clearTimeout(ui.checkTimer);
  ui.checkTimer = setTimeout(runCheck, fromEditor ? 150 : 0);
}
function drawGutter(errorLine) {
  const lines = $("spec").value.split("\n").length, g = $("gutter");
  let html = "";
  for (let i = 1; i <= lines; i++) html += `<div${i === errorLine ? ' class="error"' : ""}>${i}</div>`;
  g.innerHTML = html;
  g.scrollTop = $("spec").scrollTop;
  const mark = $("error-line");
  if (errorLine) { mark.style.display = "block"; mark.style.top = (6 + (errorLine - 1) * 18 - $("spec").scrollTop) + "px"; } else mark.style.display = "none";
}

async function runCheck() {
  const text = ui.text;
  let result;
  try { result = await post("/api/check", { text }); } catch (e) { status(e.message, true); return; }
  if (text !== ui.text) return; // a newer keystroke is on its way
  ui.check = result;
  const box = $("error");
  if (!result.ok) {
    const e = result.error;
    box.className = "bad";
    box.dataset.line = e.line || ""; box.dataset.col = e.col || "";
    box.textContent = (e.line ? `line ${e.line}, column ${e.col}: ` : "") + (e.path ? e.path + ": " : "") + e.message;
    drawGutter(e.line);
    return;
  }
  box.className = ""; box.dataset.line = ""; box.dataset.col = "";
  box.textContent = `\u2713 valid: ${fmt(result.report.total_params)} parameters`;
  drawGutter();
  drawTable(result.report);
  syncControls(result);
  loadDiagram(text);
  if (text !== ui.trainedText) { clearTimeout(ui.resetTimer); ui.resetTimer = setTimeout(reset, 250); }
}
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const fmt = (n) => (n === null || n === undefined ? "?" : n.toLocaleString("en-US"));

function drawTable(report) {
  const body = $("check-table").tBodies[0];
  body.innerHTML = "";
  for (const row of report.layers) {
    const tr = document.createElement("tr");
    for (const [value, cls] of [[row.name, ""], [row.type, ""], ["(" + row.output_shape.map((d) => (d === null ? "None" : d)).join(", ") + ")", ""], [fmt(row.params), "num"]]) {
      const td = document.createElement("td"); td.textContent = value; if (cls) td.className = cls; tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  $("check-table").tFoot.innerHTML = "";
  const tr = document.createElement("tr");
  tr.innerHTML = `<td colspan="3">Total (trainable ${fmt(report.trainable_params)})</td><td class="num"></td>`;
  tr.lastChild.textContent = fmt(report.total_params);
  $("check-table").tFoot.appendChild(tr);
}

async function loadDiagram(text) {
  let result;
  try { result = await post("/api/diagram", { text }); } catch (e) { return; }
  if (text !== ui.text || !result.ok) return;
  const img = $("diagram-img");
  img.src = "data:image/svg+xml;base64," + b64urlEncode(result.svg).replace(/-/g, "+").replace(/_/g, "/");
  img.dataset.spec = String(text.length);
  $("diagram").dataset.layers = String(ui.check.report.layers.length);
}

// ---------------------------------------------------------------- controls write into the spec
async function edit(change) {
  try {
    const result = await post("/api/edit", { text: ui.text, edit: change });
    if (!result.ok) { status(result.error.message, true); return; }
    status("");
    setText(result.text);
  } catch (e) { status(e.message, true); }
}

function trainCfg() { return (ui.check && ui.check.train) || {}; }
function dataCfg() { return trainCfg().data || {}; }
function denseLayers() { return ui.check ? ui.check.report.layers.filter((l) => l.type === "Dense") : []; }

function syncControls(result) {
  const d = dataCfg(), t = trainCfg();
  if (ui.originalData === null && d.type) ui.originalData = JSON.parse(JSON.stringify(d));
  document.querySelectorAll("#datasets button").forEach((b) => {
    const own = b.dataset.name === "__spec__";
    b.classList.toggle("on", own ? !["synthetic", "sklearn"].includes(d.type) : b.dataset.name === d.name);
  });
  $("ratio").value = Math.round((1 - (t.test_split === undefined ? 0.2 : t.test_split)) * 100); $("ratio-v").textContent = $("ratio").value;
  $("noise").value = Math.round((d.noise === undefined ? 0.1 : d.noise) * 100); $("noise-v").textContent = $("noise").value;
  $("batch").value = t.batch_size || 32; $("batch-v").textContent = t.batch_size || 32;
  const specText = ui.text;
  const lr = /learning_rate:\s*([0-9.eE+-]+)/.exec(specText);
  if (lr) selectNearest($("lr"), parseFloat(lr[1]));
  const hidden = denseLayers().slice(0, -1);
  const act = /activation:\s*([a-z_]+)/.exec(specText);
  if (act && [...$("activation").options].some((o) => o.value === act[1])) $("activation").value = act[1];
  const reg = /kernel_regularizer:\s*\{type:\s*(L1|L2),\s*l[12]:\s*([0-9.eE+-]+)/.exec(specText);
  $("reg").value = reg ? reg[1] : "none";
  if (reg) selectNearest($("reg-rate"), parseFloat(reg[2]));
  $("problem").value = ["plane", "multi_gaussian"].includes(d.name) ? "regression" : "classification";
  $("hidden-count").textContent = hidden.length + (hidden.length === 1 ? " hidden layer" : " hidden layers");
}
function selectNearest(select, value) {
  let best = 0;
  [...select.options].forEach((o, i) => { if (Math.abs(Math.log(+o.value || 1e-9) - Math.log(value || 1e-9)) < Math.abs(Math.log(+select.options[best].value || 1e-9) - Math.log(value || 1e-9))) best = i; });
  select.selectedIndex = best;
}

function buildControls(initial) {
  for (const v of LEARNING_RATES) $("lr").add(new Option(String(v), String(v)));
  for (const v of REG_RATES) $("reg-rate").add(new Option(String(v), String(v)));
  for (const a of initial.activations) $("activation").add(new Option(a, a));
  const box = $("datasets");
  const group = (title, names) => {
    const g = document.createElement("div"); g.className = "group"; g.textContent = title; box.appendChild(g);
    for (const n of names) { const b = document.createElement("button"); b.dataset.name = n; b.textContent = n.replace(/_/g, " "); b.onclick = () => edit(n === "__spec__" ? { op: "dataset", data: ui.originalData } : { op: "dataset", name: n }); box.appendChild(b); }
  };
  group("Classification", initial.classification);
  group("Regression", initial.regression);
  group("scikit-learn", initial.sklearn);
  group("The spec's own", ["__spec__"]);
  box.lastChild.textContent = "train.data";
  $("lr").onchange = () => edit({ op: "learning_rate", value: +$("lr").value });
  $("activation").onchange = () => edit({ op: "activation", value: $("activation").value });
  const regChange = () => edit({ op: "regularization", kind: $("reg").value, value: +$("reg-rate").value });
  $("reg").onchange = regChange; $("reg-rate").onchange = regChange;
  $("problem").onchange = () => edit({ op: "problem", value: $("problem").value });
  $("ratio").onchange = () => edit({ op: "test_split", value: 1 - $("ratio").value / 100 });
  $("noise").onchange = () => edit({ op: "noise", value: $("noise").value / 100 });
  $("batch").onchange = () => edit({ op: "batch_size", value: +$("batch").value });
  for (const id of ["ratio", "noise", "batch"]) $(id).oninput = () => { $(id + (id === "batch" ? "-v" : "-v")).textContent = $(id).value; };
  $("regenerate").onclick = () => { const d = dataCfg(); if (d.type !== "synthetic") { status("only the Playground's own sets are generated"); return; } edit({ op: "dataset", data: Object.assign({}, d, { seed: (d.seed || 0) + 1 }) }); };
  $("add-layer").onclick = () => edit({ op: "add_layer" });
  $("remove-layer").onclick = () => edit({ op: "remove_layer" });
  $("reset").onclick = reset;
  $("run").onclick = () => command(ui.state.state === "running" ? "pause" : "run");
  $("step").onclick = () => command("step");
  $("show-test").onchange = () => { saveHash(); drawBoundary(); };
  $("discretize").onchange = () => { saveHash(); drawBoundary(); };
  $("download-spec").onclick = downloadSpec;
  $("download-model").href = API + "/model.keras";
  $("write-report").onclick = writeReport;
  $("copy-link").onclick = () => { saveHash(); navigator.clipboard && navigator.clipboard.writeText(location.href).catch(() => {}); status("the link in the address bar carries this setup"); };
  const ed = $("spec");
  ed.addEventListener("input", () => setText(ed.value, true));
  ed.addEventListener("scroll", () => { $("gutter").scrollTop = ed.scrollTop; drawGutter(+($("error").dataset.line || 0) || undefined); });
  ed.addEventListener("keydown", (e) => { if (e.key === "Tab") { e.preventDefault(); document.execCommand("insertText", false, "  "); } });
}

function downloadSpec() {
  const name = ((ui.check && ui.check.ok && ui.check.report.name) || "spec") + (ui.text.trim().startsWith("{") ? ".json" : ".yaml");
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([ui.text], { type: "text/yaml" }));
  a.download = name; document.body.appendChild(a); a.click(); a.remove();
}

async function writeReport() {
  status("writing the run folder\u2026");
  try {
    const r = await post(API + "/report");
    const link = $("report-link"); link.href = r.url; link.classList.remove("hidden");
    status("the run's report is ready");
  } catch (e) { status(e.message, true); }
}

// ---------------------------------------------------------------- training
async function reset() {
  if (!ui.check || !ui.check.ok) return;
  const text = ui.text;
  try {
    const r = await post(API + "/reset", { text });
    if (r.ok === false) { status(r.error, true); return; }
    ui.trainedText = text; ui.setup = null; ui.frame = null; ui.history = null;
    status("");
    if (!ui.events) listen();
  } catch (e) { status(e.message, true); }
}
async function command(what) { try { await post(API + "/" + what); } catch (e) { status(e.message, true); } }

function listen() {
  ui.events = new EventSource(API + "/events");
  ui.events.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    ui.state = m;
    if (m.setup) { ui.setup = m.setup; }
    if (m.history) ui.history = m.history;
    if (m.frame) { ui.frame = m.frame; drawNetwork(); drawBoundary(); }
    showState();
  };
}

function showState() {
  const s = ui.state;
  $("epoch").textContent = s.epoch || 0; $("epochs").textContent = s.epochs || "-";
  $("batches").textContent = s.batches || 0;
  document.body.dataset.state = s.state || "";
  $("run").innerHTML = s.state === "running" ? "&#x275A;&#x275A;" : "&#x25B6;";
  if (s.state === "error") status(s.error, true);
  else if (s.state === "finished") status(`finished ${s.epoch} epochs`);
  const h = ui.history;
  if (!h || !h.epoch.length) { $("test-loss").textContent = "-"; $("train-loss").textContent = "-"; $("test-metric").textContent = "\u00a0"; $("test-metric").dataset.value = ""; drawCurves(); return; }
  const last = (k) => (h[k] ? h[k][h[k].length - 1] : undefined);
  const num = (v) => (v === undefined || v === null ? "-" : v.toFixed(3));
  $("test-loss").textContent = num(last("test_loss") !== undefined ? last("test_loss") : last("val_loss"));
  $("train-loss").textContent = num(last("loss"));
  const metric = Object.keys(h).find((k) => k.startsWith("test_") && k !== "test_loss");
  if (metric) { const v = last(metric); $("test-metric").textContent = `${metric.replace("_", " ")} ${num(v)}`; $("test-metric").dataset.value = String(v); $("test-metric").dataset.epoch = String(s.epoch); }
  drawCurves();
}

// ---------------------------------------------------------------- pictures
function canvasNode(b64, n, x, y, cls) {
  const div = document.createElement("div"); div.className = "node " + (cls || "");
  div.style.left = x + "px"; div.style.top = y + "px";
  const c = document.createElement("canvas"); paint(c, b64, n, false); div.appendChild(c);
  return div;
}

function drawNetwork() {
  const net = $("network"), f = ui.frame, setup = ui.setup;
  [...net.querySelectorAll(".column, .node")].forEach((e) => e.remove());
  const svg = $("edges"); svg.innerHTML = "";
  $("stats").innerHTML = "";
  if (!f || !f.kind) return;
  if (f.kind !== "plane") { net.style.minHeight = "0"; drawStats(f); return; }
  net.style.minHeight = "";
  const enabled = (setup && setup.features) || ["x1", "x2"]; // those of the model drawn
  const cols = [];
  // Column 0: the features (every Playground feature: a click turns it on or off).
  const inputs = {}; (setup && setup.inputs || []).forEach((i) => { inputs[i.name] = i.heatmap; });
  FEATURES.forEach(([name, label], r) => {
    const y = TOP + r * ROW, on = enabled.includes(name);
    const node = inputs[name] ? canvasNode(inputs[name], f.grid, 60, y, "feature") : (() => { const d = document.createElement("div"); d.className = "node feature off"; d.style.left = "60px"; d.style.top = y + "px"; return d; })();
    if (!on) node.classList.add("off");
    node.dataset.feature = name; node.title = (on ? "turn off " : "turn on ") + label;
    const l = document.createElement("span"); l.className = "label"; l.textContent = label; node.appendChild(l);
    node.onclick = () => toggleFeature(name);
    net.appendChild(node);
  });
  cols.push({ x: 60, rows: enabled.map((name) => TOP + FEATURES.findIndex((p) => p[0] === name) * ROW) });
  const head = document.createElement("div"); head.className = "column"; head.style.left = "40px"; head.innerHTML = `<div class="title">FEATURES</div>`; net.appendChild(head);
  // Hidden and output layers.
  const hiddenCount = f.layers.length - 1;
  f.layers.forEach((layer, k) => {
    const x = 60 + (k + 1) * COLW + (k === hiddenCount ? 20 : 0), rows = [];
    const title = document.createElement("div"); title.className = "column"; title.style.left = (x - 30) + "px"; title.style.width = "100px";
    const t = document.createElement("div"); t.className = "title";
    if (k < hiddenCount) {
      t.innerHTML = `<button data-layer="${k}" data-delta="1" title="add a neuron">+</button> <button data-layer="${k}" data-delta="-1" title="remove a neuron">&minus;</button><br>`;
      t.querySelectorAll("button").forEach((b) => { b.onclick = () => edit({ op: "neurons", layer: +b.dataset.layer, delta: +b.dataset.delta }); });
    } else t.innerHTML = "<br>";
    t.appendChild(document.createTextNode(`${layer.name} (${layer.units})`));
    title.appendChild(t); net.appendChild(title);
    layer.heatmaps.forEach((b64, j) => {
      const y = TOP + j * ROW; rows.push(y);
      const node = canvasNode(b64, f.grid, x, y, "unit"); node.dataset.layer = layer.name; node.dataset.unit = j;
      node.title = `${layer.name}[${j}]` + (layer.bias ? `, bias ${layer.bias[j].toFixed(4)}` : "");
      net.appendChild(node);
    });
    if (layer.units > layer.heatmaps.length) { const m = document.createElement("div"); m.className = "node more"; m.style.left = x + "px"; m.style.top = (TOP + layer.heatmaps.length * ROW) + "px"; m.style.border = "0"; m.textContent = `+${layer.units - layer.heatmaps.length} more`; net.appendChild(m); }
    cols.push({ x, rows, layer });
  });
  const width = 60 + (f.layers.length + 1) * COLW, height = TOP + Math.max(FEATURES.length, ...cols.map((c) => c.rows.length)) * ROW;
  svg.setAttribute("width", width); svg.setAttribute("height", height);
  net.style.height = height + "px";
  // Edges: colour = sign, thickness = size; hover shows the value.
  let maxAbs = 1e-9;
  f.layers.forEach((l) => (l.kernel || []).forEach((row) => row.forEach((w) => { maxAbs = Math.max(maxAbs, Math.abs(w)); })));
  for (let k = 1; k < cols.length; k++) {
    const layer = cols[k].layer, kernel = layer.kernel, from = cols[k - 1];
    if (!kernel) continue;
    const fromName = k === 1 ? null : cols[k - 1].layer.name;
    kernel.forEach((row, i) => row.forEach((w, j) => {
      if (i >= from.rows.length || j >= cols[k].rows.length) return;
      const x1 = from.x + NODE, y1 = from.rows[i] + NODE / 2, x2 = cols[k].x, y2 = cols[k].rows[j] + NODE / 2;
      const d = `M${x1},${y1} C${(x1 + x2) / 2},${y1} ${(x1 + x2) / 2},${y2} ${x2},${y2}`;
      const line = document.createElementNS("http://www.w3.org/2000/svg", "path");
      line.setAttribute("d", d); line.setAttribute("stroke", w < 0 ? "#f59322" : "#0877bd");
      line.setAttribute("stroke-width", String(0.5 + 5 * Math.abs(w) / maxAbs)); line.setAttribute("stroke-opacity", "0.75");
      svg.appendChild(line);
      const hit = document.createElementNS("http://www.w3.org/2000/svg", "path");
      hit.setAttribute("d", d); hit.setAttribute("class", "hit");
      const source = fromName === null ? enabled[i] : `${fromName}[${i}]`;
      Object.assign(hit.dataset, { layer: layer.name, i: String(i), j: String(j), w: String(w), source });
      hit.addEventListener("mousemove", (e) => showTip(e, hit));
      hit.addEventListener("mouseleave", () => $("tooltip").classList.add("hidden"));
      svg.appendChild(hit);
    }));
  }
}

function toggleFeature(name) {
  // The server toggles it in the text as it is now: clicks may come faster than checks and redraws.
  edit({ op: "toggle_feature", name });
}

function showTip(e, hit) {
  const tip = $("tooltip"), d = hit.dataset;
  tip.textContent = `${d.source} \u2192 ${d.layer}[${d.j}]: weight ${(+d.w).toFixed(4)}`;
  Object.assign(tip.dataset, { layer: d.layer, i: d.i, j: d.j, w: d.w });
  tip.style.left = (e.clientX + 12) + "px"; tip.style.top = (e.clientY + 12) + "px";
  tip.classList.remove("hidden");
}

function drawStats(f) {
  const box = $("stats");
  const p = document.createElement("p"); p.className = "hint";
  p.textContent = "This model's input is not the plane (x1, x2), so there are no neuron heatmaps: per layer, its weights as a histogram and its activations on test rows.";
  box.appendChild(p);
  for (const layer of f.layers) {
    const div = document.createElement("div"); div.className = "layer";
    const w = layer.weights, max = Math.max(1, ...w.counts), bw = 6;
    let bars = "";
    w.counts.forEach((c, i) => { const h = 50 * c / max; const mid = w.lo + (w.hi - w.lo) * (i + 0.5) / w.counts.length; bars += `<rect x="${i * bw}" y="${50 - h}" width="${bw - 1}" height="${h}" fill="${mid < 0 ? "#f59322" : "#0877bd"}"></rect>`; });
    const a = layer.activations;
    div.innerHTML = `<div><b></b></div><svg width="${w.counts.length * bw}" height="52">${bars}</svg><div class="hint">weights ${w.lo.toFixed(2)} \u2026 ${w.hi.toFixed(2)}</div>` + (a ? `<div class="hint">activations mean ${a.mean.toFixed(3)}, std ${a.std.toFixed(3)}, zero ${(100 * a.zero).toFixed(0)}%</div>` : "");
    div.querySelector("b").textContent = layer.name;
    box.appendChild(div);
  }
}

function drawBoundary() {
  const canvas = $("boundary"), ctx = canvas.getContext("2d"), f = ui.frame, setup = ui.setup;
  ctx.clearRect(0, 0, 300, 300);
  $("boundary-note").textContent = "";
  if (!f || f.kind !== "plane") { $("boundary-note").textContent = f && f.kind ? "The decision boundary is drawn for models of the plane (the 2-D sets)." : ""; return; }
  const off = document.createElement("canvas"); paint(off, f.boundary, f.grid, $("discretize").checked && !(setup && setup.regression));
  ctx.imageSmoothingEnabled = true; ctx.drawImage(off, 0, 0, 300, 300);
  if (!setup || !setup.points) return;
  const E = 1.2, px = (v) => (v + E) / (2 * E) * 300, py = (v) => (E - v) / (2 * E) * 300;
  const dot = (p, test) => {
    ctx.beginPath(); ctx.arc(px(p[0]), py(p[1]), 2.6, 0, 2 * Math.PI);
    ctx.fillStyle = setup.regression ? colour(p[2]) : (p[2] > 0.5 ? "#0877bd" : "#f59322"); ctx.fill();
    ctx.lineWidth = test ? 1.2 : 0.8; ctx.strokeStyle = test ? "#000" : "#fff"; ctx.stroke();
  };
  setup.points.train.forEach((p) => dot(p, false));
  if ($("show-test").checked) setup.points.test.forEach((p) => dot(p, true));
}

function drawCurves() {
  const box = $("curves"), h = ui.history;
  box.innerHTML = "";
  if (!h || h.epoch.length < 1) return;
  const bases = Object.keys(h).filter((k) => k !== "epoch" && !k.startsWith("val_") && !k.startsWith("test_"));
  for (const base of bases) {
    const series = [[base, "#888"], ["val_" + base, "#0877bd"], ["test_" + base, "#000"]].filter(([k]) => h[k]);
    const values = series.flatMap(([k]) => h[k].filter((v) => v !== null));
    if (!values.length) continue;
    let lo = Math.min(...values), hi = Math.max(...values); if (hi - lo < 1e-9) hi = lo + 1;
    const W = 300, H = 56, n = h.epoch.length;
    const x = (i) => (n === 1 ? W : i / (n - 1) * W), y = (v) => H - 3 - (v - lo) / (hi - lo) * (H - 17);
    let paths = "";
    for (const [k, c] of series) { const pts = h[k].map((v, i) => (v === null ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`)).filter(Boolean); paths += `<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${pts.join(" ")}"></polyline>`; }
    const svg = `<svg width="${W}" height="${H}" data-metric="${esc(base)}"><text x="2" y="10" font-size="10" fill="#6b7380">${esc(base)}: train (grey)${h["val_" + base] ? ", validation (blue)" : ""}${h["test_" + base] ? ", test (black)" : ""}</text>${paths}</svg>`;
    box.insertAdjacentHTML("beforeend", svg);
  }
}

// ---------------------------------------------------------------- start
async function start() {
  const r = await fetch("/api/initial");
  ui.initial = await r.json();
  buildControls(ui.initial);
  const fromUrl = readHash();
  $("show-test").checked = fromUrl.test; $("discretize").checked = fromUrl.discretize;
  setText(fromUrl.text !== undefined ? fromUrl.text : ui.initial.text);
  document.body.dataset.ready = "1";
}
start();
