// digitrec drawing page: Pointer Events drawing, live prediction via POST /api/predict.
"use strict";

const $ = (id) => document.getElementById(id);
const pad = $("pad"), ctx = pad.getContext("2d");
const result = $("result"), labelOut = $("label"), confidence = $("confidence"), statusLine = $("status");
const seen = $("seen").getContext("2d");

const INK = "#16181d";
const STROKE = 0.07;    // stroke width, as a fraction of the canvas side
const DEBOUNCE = 150;   // ms of pause before a prediction while drawing
const MAX_WAIT = 500;   // ms: while drawing steadily, predict at least this often

const strokes = [];     // each a list of [x, y] in [0, 1] canvas coordinates
let stroke = null;      // the stroke being drawn
let upload = null;      // {file, bitmap}: an uploaded image, shown under the strokes
let timer = null, waitingSince = 0;
let sent = 0, shown = 0; // request counters: newest sent, newest shown

// ---- drawing ---------------------------------------------------------------

function fitCanvas() {
  const side = Math.round(pad.clientWidth * (window.devicePixelRatio || 1));
  if (side > 0 && pad.width !== side) {
    pad.width = pad.height = side;
    redraw();
  }
}

function redraw() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  if (upload && upload.bitmap) {
    const b = upload.bitmap, s = Math.min(pad.width / b.width, pad.height / b.height);
    ctx.drawImage(b, (pad.width - b.width * s) / 2, (pad.height - b.height * s) / 2, b.width * s, b.height * s);
  }
  ctx.strokeStyle = INK;
  ctx.lineWidth = STROKE * pad.width;
  ctx.lineCap = ctx.lineJoin = "round";
  for (const points of strokes) {  // each stroke one path, so overlapping segments do not darken
    ctx.beginPath();
    ctx.moveTo(points[0][0] * pad.width, points[0][1] * pad.height);
    for (const [x, y] of points) ctx.lineTo(x * pad.width + (points.length === 1 ? 0.01 : 0), y * pad.height);
    ctx.stroke();
  }
}

function point(event) {
  const r = pad.getBoundingClientRect();
  return [(event.clientX - r.left) / r.width, (event.clientY - r.top) / r.height];
}

pad.addEventListener("pointerdown", (event) => {
  if (event.pointerType === "mouse" && event.button !== 0) return;
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  stroke = [point(event)];
  strokes.push(stroke);
  redraw();
  updateButtons();
});

pad.addEventListener("pointermove", (event) => {
  if (!stroke) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of events.length ? events : [event]) stroke.push(point(e));
  redraw();
  schedule();
});

function endStroke() {
  if (!stroke) return;
  stroke = null;
  predictNow();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

function undo() {
  if (!strokes.length) return;
  strokes.pop();
  redraw();
  updateButtons();
  strokes.length || upload ? predictNow() : reset();
}

function clear() {
  strokes.length = 0;
  upload = null;
  redraw();
  updateButtons();
  reset();
}

function updateButtons() {
  $("undo").disabled = !strokes.length;
  $("clear").disabled = !strokes.length && !upload;
}

$("undo").addEventListener("click", undo);
$("clear").addEventListener("click", clear);
pad.addEventListener("keydown", (event) => {
  if (event.key === "Backspace") { event.preventDefault(); undo(); }
  if (event.key === "Escape" || event.key === "Delete") { event.preventDefault(); clear(); }
});
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "z") { event.preventDefault(); undo(); }
});

$("file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = "";  // choosing the same file again fires `change` again
  if (!file) return;
  let bitmap = null;
  try {
    bitmap = await createImageBitmap(file);
  } catch { /* a format the browser cannot show (TIFF): the server still reads it */ }
  strokes.length = 0;
  upload = { file, bitmap };
  redraw();
  updateButtons();
  predictNow();
});

// ---- prediction --------------------------------------------------------------

function schedule() {
  const now = performance.now();
  if (timer === null) waitingSince = now;
  clearTimeout(timer);
  timer = now - waitingSince >= MAX_WAIT ? (predictNow(), null) : setTimeout(predictNow, DEBOUNCE);
}

async function predictNow() {
  clearTimeout(timer);
  timer = null;
  if (!strokes.length && !upload) return;
  const id = ++sent;
  result.setAttribute("aria-busy", "true");
  let body;  // an uploaded file as it is; a drawing as a PNG data URL (toDataURL: synchronous, unlike toBlob)
  if (upload && !strokes.length) {
    body = new FormData();
    body.append("file", upload.file, upload.file.name);
  } else {
    body = JSON.stringify({ image: pad.toDataURL("image/png") });
  }
  let answer, error;
  try {
    const headers = typeof body === "string" ? { "Content-Type": "application/json" } : {};
    const response = await fetch("/api/predict", { method: "POST", headers, body });
    answer = await response.json();
    if (!response.ok) error = answer.detail || `error ${response.status}`;
  } catch (e) {
    error = `no answer from the server (${e.message})`;
  }
  if (id <= shown || id < sent && error) return;  // a newer answer is already on screen
  shown = id;
  error ? showError(error) : show(answer);
  if (id === sent) result.setAttribute("aria-busy", "false");
}

function show(answer) {
  labelOut.textContent = answer.label;
  confidence.textContent = `Confidence ${percent(answer.confidence, 2)}`;
  statusLine.textContent = "";
  setBars(answer.probabilities, answer.label);
  const image = seen.createImageData(28, 28);
  answer.input.flat().forEach((v, i) => {
    image.data.set([v * 255, v * 255, v * 255, 255], 4 * i);
  });
  seen.putImageData(image, 0, 0);
}

function showError(message) {
  labelOut.textContent = "?";
  confidence.textContent = "No prediction.";
  statusLine.textContent = message;
  setBars(null);
  seen.clearRect(0, 0, 28, 28);
}

function reset() {
  sent++;
  shown = sent;  // drop answers still on their way
  result.setAttribute("aria-busy", "false");
  labelOut.textContent = "?";
  confidence.textContent = "Draw a digit to start.";
  statusLine.textContent = "";
  setBars(null);
  seen.clearRect(0, 0, 28, 28);
}

// ---- bar chart ---------------------------------------------------------------

const rows = Array.from({ length: 10 }, (_, digit) => {
  const li = document.createElement("li");
  li.innerHTML = `<span class="digit">${digit}</span><span class="track"><span class="bar"></span></span>` +
                 `<span class="pct"></span>`;
  $("bars").append(li);
  return li;
});

function setBars(probabilities, top) {
  rows.forEach((li, digit) => {
    const p = probabilities ? probabilities[digit] : 0;
    li.querySelector(".bar").style.width = `${(100 * p).toFixed(1)}%`;
    li.querySelector(".pct").textContent = probabilities ? percent(p) : "";
    li.classList.toggle("top", digit === top);
    li.setAttribute("aria-label", `${digit}: ${probabilities ? percent(p) : "no prediction"}`);
  });
}

function percent(p, digits = 1) {
  return `${(100 * p).toFixed(digits)} %`;
}

// ---- start -------------------------------------------------------------------

new ResizeObserver(fitCanvas).observe(pad);
fitCanvas();
setBars(null);
fetch("/api/model").then((r) => r.json()).then((m) => {
  const accuracy = m.metrics && m.metrics.accuracy;
  $("model").textContent = `Model: ${m.name} (${m.architecture} CNN, ${m.parameters.toLocaleString("en")} parameters` +
    (accuracy ? `, ${percent(accuracy, 2)} on the MNIST test set)` : ")");
}).catch(() => { $("model").textContent = "Model details unavailable."; });
