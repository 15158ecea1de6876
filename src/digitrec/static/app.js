// digitrec drawing page: Pointer Events drawing, live reading of the digits via POST /api/read.
"use strict";

const $ = (id) => document.getElementById(id);
const pad = $("pad"), ctx = pad.getContext("2d");
const result = $("result"), labelOut = $("label"), confidence = $("confidence"), statusLine = $("status");
const seen = $("seen").getContext("2d");
const boxes = $("boxes"), overlay = boxes.getContext("2d");

const INK = "#16181d";
const STROKE = 0.07;    // stroke width, as a fraction of the canvas height
const DEBOUNCE = 150;   // ms of pause before a prediction while drawing
const MAX_WAIT = 500;   // ms: while drawing steadily, predict at least this often

const strokes = [];     // each a list of [x, y] in canvas heights (so a resize keeps the shapes)
let stroke = null;      // the stroke being drawn
let upload = null;      // {file, bitmap, scale, left, top}: an uploaded image, shown under the strokes
let reading = null;     // the answer on screen, for redrawing its boxes
let timer = null, waitingSince = 0;
let sent = 0, shown = 0; // request counters: newest sent, newest shown

// ---- drawing ---------------------------------------------------------------

function fitCanvas() {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.round(pad.clientWidth * ratio), height = Math.round(pad.clientHeight * ratio);
  if (width > 0 && (pad.width !== width || pad.height !== height)) {
    pad.width = boxes.width = width;
    pad.height = boxes.height = height;
    redraw();
    drawBoxes();
  }
}

function redraw() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  if (upload && upload.bitmap) {
    const b = upload.bitmap, s = Math.min(pad.width / b.width, pad.height / b.height);
    Object.assign(upload, { scale: s, left: (pad.width - b.width * s) / 2, top: (pad.height - b.height * s) / 2 });
    ctx.drawImage(b, upload.left, upload.top, b.width * s, b.height * s);
  }
  const h = pad.height;
  ctx.strokeStyle = INK;
  ctx.lineWidth = STROKE * h;
  ctx.lineCap = ctx.lineJoin = "round";
  for (const points of strokes) {  // each stroke one path, so overlapping segments do not darken
    ctx.beginPath();
    ctx.moveTo(points[0][0] * h, points[0][1] * h);
    for (const [x, y] of points) ctx.lineTo(x * h + (points.length === 1 ? 0.01 : 0), y * h);
    ctx.stroke();
  }
}

function point(event) {
  const r = pad.getBoundingClientRect();
  return [(event.clientX - r.left) / r.height, (event.clientY - r.top) / r.height];
}

pad.addEventListener("pointerdown", (event) => {
  if (event.pointerType === "mouse" && event.button !== 0) return;
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  stroke = [point(event)];
  strokes.push(stroke);
  showBoxes(null);  // the boxes belong to the previous drawing
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
  } catch { /* a format the browser cannot show (TIFF; HEIC outside Safari): the server still reads it */ }
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
    const response = await fetch("/api/read", { method: "POST", headers, body });
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
  const digits = answer.digits;
  labelOut.textContent = answer.text;
  const refused = digits.filter((d) => d.rejected).length;
  confidence.textContent = refused === digits.length ? "Not a digit."
    : answer.rejected ? "Not a number." : `Confidence ${percent(answer.confidence, 2)}`;
  if (!refused) statusLine.textContent = "";
  else if (digits.length === 1) statusLine.textContent = "Not a digit: this does not look like a handwritten digit.";
  else statusLine.textContent = `Not a number: ${refused} of the ${digits.length} marks ${refused === 1 ? "is" : "are"} not a digit.`;
  // The bars show one digit: the only one, or the one the model is least sure of.
  const shown = digits.reduce((a, b) => (b.confidence < a.confidence ? b : a));
  const index = digits.indexOf(shown);
  setBars(shown.probabilities, shown.label);
  $("bars-note").textContent = digits.length > 1 ? `Digit ${index + 1} of ${digits.length}, the least sure.` : "";
  $("seen").width = 28 * digits.length;
  $("seen").style.width = `${84 * digits.length}px`;
  digits.forEach((d, k) => {
    const image = seen.createImageData(28, 28);
    d.input.flat().forEach((v, i) => {
      image.data.set([v * 255, v * 255, v * 255, 255], 4 * i);
    });
    seen.putImageData(image, 28 * k, 0);
  });
  showBoxes(digits);
}

function showError(message) {
  labelOut.textContent = "?";
  confidence.textContent = "No prediction.";
  statusLine.textContent = message;
  setBars(null);
  clearSeen();
  showBoxes(null);
}

function reset() {
  sent++;
  shown = sent;  // drop answers still on their way
  result.setAttribute("aria-busy", "false");
  labelOut.textContent = "?";
  confidence.textContent = "Draw a digit to start.";
  statusLine.textContent = "";
  setBars(null);
  clearSeen();
  showBoxes(null);
}

function clearSeen() {
  $("seen").width = 28;
  $("seen").style.width = "84px";
  seen.clearRect(0, 0, 28, 28);
  $("bars-note").textContent = "";
}

// ---- boxes over the drawing ----------------------------------------------------

function showBoxes(digits) {
  reading = digits;
  drawBoxes();
}

function drawBoxes() {
  overlay.clearRect(0, 0, boxes.width, boxes.height);
  if (!reading) return;
  // Boxes come in the pixels of the image sent: the canvas itself, or the uploaded file drawn into it.
  const map = upload && !strokes.length && upload.scale ? upload : { scale: 1, left: 0, top: 0 };
  const size = Math.max(12, Math.round(0.12 * boxes.height));
  overlay.lineWidth = Math.max(2, Math.round(boxes.height / 150));
  overlay.font = `bold ${size}px system-ui, sans-serif`;
  overlay.textBaseline = "bottom";
  for (const d of reading) {
    const [x0, y0, x1, y1] = d.box.map((v, i) => v * map.scale + (i % 2 ? map.top : map.left));
    const color = d.rejected ? "#c62828" : "#1f5fbf";
    overlay.strokeStyle = overlay.fillStyle = color;
    overlay.strokeRect(x0, y0, x1 - x0, y1 - y0);
    const text = d.label === null ? "?" : String(d.label);
    const top = y0 - 2 >= size ? y0 - 2 : y1 + size + 2;  // above the box, or below it at the top edge
    overlay.fillText(text, x0, Math.min(top, boxes.height));
  }
}

// ---- bar chart ---------------------------------------------------------------

const rows = Array.from({ length: 10 }, (_, digit) => {
  const li = document.createElement("li");
  li.innerHTML = `<span class="digit">${digit}</span><span class="track"><span class="bar"></span></span>` +
                 `<span class="pct"></span>`;
  $("bars").append(li);
  return li;
});

function setBars(probabilities, top = null) {
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
