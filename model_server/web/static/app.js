// The creature-vis page: upload a photo, show the answer and the top 3, send feedback, show
// the status.
"use strict";

const $ = (id) => document.getElementById(id);
let labels = [];
let current = null; // the last prediction response

function show(el, visible) { el.hidden = !visible; }

function percent(p) {
  if (p > 0 && p < 0.001) return "<0.1%";
  return (p * 100).toFixed(p >= 0.1 ? 0 : 1) + "%";
}

function displayName(label) {
  const found = labels.find((l) => l.label === label);
  return found ? found.display_name : label;
}

function guessPhrase(label) {
  const found = labels.find((l) => l.label === label);
  return found ? found.phrase : label;
}

async function api(path, options) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    const message = body && body.message ? body.message : "Something went wrong (" + response.status + ").";
    throw new Error(message);
  }
  return body;
}

function showError(message) {
  $("error").textContent = message;
  show($("error"), Boolean(message));
}

async function loadLabels() {
  const body = await api("/v1/labels");
  labels = body.labels;
  const box = $("label-choices");
  box.replaceChildren();
  for (const l of labels) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = l.display_name;
    b.dataset.label = l.label;
    b.addEventListener("click", () => sendFeedback({ label: l.label }, b));
    box.append(b);
  }
}

function renderBars(top3) {
  const list = $("bars");
  list.replaceChildren();
  for (const item of top3) {
    const li = document.createElement("li");
    li.className = "bar";
    li.dataset.label = item.label;
    const row = document.createElement("div");
    row.className = "bar-label";
    const name = document.createElement("span");
    name.textContent = displayName(item.label);
    const value = document.createElement("span");
    value.textContent = percent(item.probability);
    row.append(name, value);
    const track = document.createElement("div");
    track.className = "bar-track";
    const fill = document.createElement("div");
    fill.className = "bar-fill";
    fill.style.width = Math.max(1, item.probability * 100).toFixed(1) + "%";
    track.append(fill);
    li.append(row, track);
    list.append(li);
  }
}

// "a lion or a tiger", "a lion, a tiger or a cat"
function eitherPhrase(answer) {
  const phrases = answer.map(guessPhrase);
  return phrases.slice(0, -1).join(", ") + " or " + phrases[phrases.length - 1];
}

// One label: "I think this is a dog" and Yes / No. A set the model cannot tell apart:
// "This is a lion or a tiger: we can't tell which", one button per label, and No.
function renderAnswer(prediction) {
  const answer = prediction.answer && prediction.answer.length ? prediction.answer : [prediction.top3[0].label];
  const doubt = answer.length > 1;
  $("headline-lead").textContent = doubt ? "This is" : "I think this is";
  $("top-label").textContent = doubt ? eitherPhrase(answer) : guessPhrase(answer[0]);
  show($("doubt"), doubt);
  $("question").textContent = doubt ? "Which is it?" : "Did we get it right?";
  $("btn-wrong").textContent = doubt ? (answer.length === 2 ? "Neither" : "None of these") : "No, it's something else";
  show($("btn-correct"), !doubt);
  const box = $("set-choices");
  box.replaceChildren();
  for (const label of doubt ? answer : []) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "primary";
    b.textContent = displayName(label);
    b.dataset.label = label;
    b.addEventListener("click", () => sendFeedback({ label: label }, b));
    box.append(b);
  }
  show(box, doubt);
}

function resetFeedback() {
  show($("label-picker"), false);
  show($("thanks"), false);
  for (const b of document.querySelectorAll("#feedback button")) {
    b.disabled = false;
    b.classList.remove("chosen");
  }
}

async function classify(file) {
  showError("");
  if (!file) return;
  $("preview").src = URL.createObjectURL(file);
  show($("result"), true);
  show($("prediction"), false);
  show($("busy"), true);
  resetFeedback();
  const form = new FormData();
  form.append("image", file);
  try {
    current = await api("/v1/predictions", { method: "POST", body: form });
    renderAnswer(current);
    renderBars(current.top3);
    $("model-version").textContent = current.model_version;
    $("latency").textContent = Math.round(current.latency_ms);
    show($("prediction"), true);
  } catch (err) {
    show($("result"), false);
    showError(err.message);
  } finally {
    show($("busy"), false);
  }
}

async function sendFeedback(answer, button) {
  if (!current) return;
  const buttons = document.querySelectorAll("#feedback button");
  buttons.forEach((b) => { b.disabled = true; b.classList.remove("chosen"); });
  button.classList.add("chosen");
  try {
    const body = await api("/v1/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ interaction_id: current.interaction_id, ...answer }),
    });
    $("thanks").textContent = body.message;
    show($("thanks"), true);
    loadStatus();
  } catch (err) {
    showError(err.message);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

function fmt(value) { return value === null || value === undefined ? "not measured yet" : percent(value); }

function svg(tag, attrs, text) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function renderHistory(history, feedbackByVersion) {
  const box = $("history-chart");
  box.replaceChildren();
  if (!history.length) {
    box.innerHTML = '<p class="empty">No model versions yet.</p>';
    return;
  }
  const fb = Object.fromEntries(feedbackByVersion.map((v) => [v.version, v.accuracy]));
  const width = 320, height = 170, base = 140, top = 16, slot = width / history.length;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  for (const tick of [0, 0.5, 1]) {
    const y = base - tick * (base - top);
    chart.append(svg("line", { x1: 0, x2: width, y1: y, y2: y, stroke: "#d9e2ec" }));
    chart.append(svg("text", { x: 2, y: y - 2, "font-size": 9, fill: "#616e7c" }, tick * 100 + "%"));
  }
  history.forEach((v, i) => {
    const x = i * slot + slot / 2;
    const barW = Math.min(18, slot / 3);
    const held = v.metrics && typeof v.metrics.accuracy === "number" ? v.metrics.accuracy : null;
    const values = [[held, "#2f6fde", -barW], [fb[v.version] ?? null, "#2f9e6d", 0]];
    for (const [value, colour, dx] of values) {
      if (value === null) continue;
      const h = Math.max(2, value * (base - top));
      chart.append(svg("rect", { x: x + dx, y: base - h, width: barW, height: h, fill: colour, rx: 2 }));
      chart.append(svg("text", {
        x: x + dx + barW / 2, y: base - h - 3, "text-anchor": "middle", "font-size": 8, fill: "#1f2933",
      }, Math.round(value * 100) + "%"));
    }
    chart.append(svg("text", {
      x, y: base + 14, "text-anchor": "middle", "font-size": 11,
      "font-weight": v.production ? "700" : "400", fill: v.production ? "#b07700" : "#1f2933",
    }, v.version));
    if (v.production) {
      chart.append(svg("rect", { x: x - barW, y: base + 18, width: 2 * barW, height: 4, fill: "#f0a202" }));
    }
  });
  box.append(chart);
}

// The same key figures as `creature-vis status` and the bot's /status.
function renderFigures(k) {
  const ms = (v) => (typeof v === "number" ? `${Math.round(v)} ms` : "n/a");
  $("figure-rolling").textContent = k.rolling_accuracy === null
    ? "not measured yet" : `${fmt(k.rolling_accuracy)} of the latest ${k.rolling_answers} answers`;
  $("figure-latency").textContent = `${ms(k.latency_p50_ms)} / ${ms(k.latency_p99_ms)}`;
  const photos = Object.entries(k.photos_by_source).map(([s, n]) => `${s} ${n}`).join(", ");
  $("figure-photos").textContent = photos || "none";
  const e = k.last_retrain_event;
  $("figure-retrain").textContent = e ? `${e.kind}${e.rule ? ": " + e.rule : ""}` : "none yet";
}

// Production's accuracy estimated without labels, from the calibrated confidences of its
// latest predictions (CBPE and ATC, with 95% intervals), shown beside the answered one.
function estimateText(e) {
  if (!e.predictions) return "no predictions yet";
  if (!e.cbpe) return `not yet: ${e.version} has no calibration`;
  const range = (x) => `${percent(x.value)} (${percent(x.low)}–${percent(x.high)})`;
  const atc = e.atc ? `, ATC ${range(e.atc)}` : "";
  return `CBPE ${range(e.cbpe)}${atc} over ${e.predictions} predictions`;
}

async function loadStatus() {
  try {
    const s = await api("/v1/status");
    const prod = s.model.production;
    $("status-version").textContent = prod ? `${prod.version} (${prod.kind})` : "none";
    const held = prod && typeof prod.metrics.accuracy === "number" ? prod.metrics.accuracy : null;
    $("status-accuracy").textContent = fmt(held);
    const mine = prod ? s.feedback_by_version.find((v) => v.version === prod.version) : null;
    $("status-feedback-accuracy").textContent = mine ? `${fmt(mine.accuracy)} of ${mine.total}` : fmt(null);
    $("status-estimated-accuracy").textContent = estimateText(s.estimated_accuracy);
    $("status-predictions").textContent = s.predictions;
    $("count-total").textContent = s.feedback.total;
    $("count-correct").textContent = s.feedback.correct;
    $("count-incorrect").textContent = s.feedback.incorrect;
    $("trust-trusted").textContent = s.answers_this_week.trusted;
    $("trust-down-weighted").textContent = s.answers_this_week.down_weighted;
    $("trust-refused").textContent = s.answers_this_week.refused;
    renderFigures(s.key_figures);
    renderHistory(s.model.history, s.feedback_by_version);
  } catch (err) {
    $("status-version").textContent = "unavailable: " + err.message;
  }
}

async function forgetMe() {
  showError("");
  try {
    const body = await api("/v1/forget", { method: "POST" });
    show($("result"), false);
    $("forgotten").textContent = body.message;
    show($("forgotten"), true);
  } catch (err) {
    showError(err.message);
  }
}

function switchView(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === name);
  show($("try"), name === "try");
  show($("status"), name === "status");
  if (name === "status") loadStatus();
}

function setUp() {
  $("file-input").addEventListener("change", (e) => classify(e.target.files[0]));
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    classify(e.dataTransfer.files[0]);
  });
  $("btn-correct").addEventListener("click", (e) => sendFeedback({ correct: true }, e.currentTarget));
  $("btn-wrong").addEventListener("click", () => show($("label-picker"), true));
  $("refresh-status").addEventListener("click", loadStatus);
  $("btn-forget").addEventListener("click", forgetMe);
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", (e) => { e.preventDefault(); switchView(tab.dataset.view); history.replaceState(null, "", "#" + tab.dataset.view); });
  }
  switchView(location.hash === "#status" ? "status" : "try");
  loadLabels().catch((err) => showError(err.message));
}

document.addEventListener("DOMContentLoaded", setUp);
