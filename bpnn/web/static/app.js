// bpnn's drawing page: write a digit or a number on the pad; the server cuts
// it into digits, prepares each the way MNIST was made and runs the network;
// this script shows the number read, a box over each digit, each digit's
// confidence and 28x28 input, and, for the digit chosen (pointed at on the pad
// or in the list), its bar chart, every layer's activations and, for a hidden
// neuron under the pointer, its incoming weights.  It also switches between
// the Draw and Train tabs (train.js drives the Train tab) and between the
// served model and one trained on the page.
"use strict";

(() => {
  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d");
  const seen = document.getElementById("seen");
  const result = document.getElementById("result");
  const predictionEl = document.getElementById("prediction");
  const confidenceEl = document.getElementById("confidence");
  const barsEl = document.getElementById("bars");
  const layersEl = document.getElementById("layers");
  const statusEl = document.getElementById("status");
  const undoButton = document.getElementById("undo");
  const clearButton = document.getElementById("clear");
  const upload = document.getElementById("upload");
  const inspectorCanvas = document.getElementById("inspector-canvas");
  const inspectorCaption = document.getElementById("inspector-caption");
  const modelSwitch = document.getElementById("model-switch");
  const digitsEl = document.getElementById("digits");
  const boxesEl = document.getElementById("boxes");
  const barsCaption = document.getElementById("bars-caption");

  const HINT = "Write a digit or a number, large, across the box.";
  const INK_WIDTH = 22;          // on the 280-pixel-high pad: about 2 pixels of MNIST's 20x20 box
  const strokes = [];            // each stroke: a list of [x, y] points in pad pixels
  let drawing = null;            // the stroke under the pointer
  let drawVersion = 0;           // bumps on every change of the drawing
  let inFlight = false;
  let model = null;
  let bars = [];
  let cells = [];
  let outputCells = [];
  let activeModel = "served";    // which model the pad uses: "served" or "trained"
  let lastHidden = null;         // the activations of the digit on show, for the inspector
  const weightCache = new Map();
  let reading = null;            // the last answer: {label, digits: [...], size, ...}
  let selected = 0;              // the digit on show in the bars, "What it sees" and the layers
  let source = "drawing";        // what the answer is of: "drawing" or "upload"
  let uploaded = null;           // an uploaded picture shown on the pad: {bitmap, x, y, k} (pad pixels)

  // -- the pad ---------------------------------------------------------------
  function redraw() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
    if (uploaded && strokes.length === 0) {
      const { bitmap, x, y, k } = uploaded;
      ctx.drawImage(bitmap, x, y, bitmap.width * k, bitmap.height * k);
    }
    ctx.strokeStyle = "#000";
    ctx.fillStyle = "#000";
    ctx.lineWidth = INK_WIDTH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const stroke of strokes) {
      if (stroke.length === 1) {
        ctx.beginPath();
        ctx.arc(stroke[0][0], stroke[0][1], INK_WIDTH / 2, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.beginPath();
      ctx.moveTo(stroke[0][0], stroke[0][1]);
      for (let i = 1; i < stroke.length; i++) ctx.lineTo(stroke[i][0], stroke[i][1]);
      ctx.stroke();
    }
    undoButton.disabled = strokes.length === 0;
    clearButton.disabled = strokes.length === 0 && !uploaded;
  }

  function padPoint(event) {
    // the drawing fills the canvas' content box (inside its dashed border)
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left - pad.clientLeft) * pad.width / pad.clientWidth,
            (event.clientY - box.top - pad.clientTop) * pad.height / pad.clientHeight];
  }

  function changed() {
    drawVersion += 1;
    result.dataset.drawVersion = String(drawVersion);
    redraw();
    requestPrediction();
  }

  pad.addEventListener("pointerdown", (event) => {
    if (event.button !== undefined && event.button > 0) return;
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    uploaded = null;                              // writing starts a new drawing
    uploads += 1;
    drawing = [padPoint(event)];
    strokes.push(drawing);
    changed();
  });
  pad.addEventListener("pointermove", (event) => {
    if (!drawing) {                               // pointing at a digit shows it inside the network
      if (event.pointerType === "mouse") hoverDigit(padPoint(event));
      return;
    }
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    let added = false;
    for (const e of (events.length ? events : [event])) {
      // a repeated point would turn a dot into a zero-length line, which canvas does not paint
      const point = padPoint(e);
      const last = drawing[drawing.length - 1];
      if (point[0] !== last[0] || point[1] !== last[1]) { drawing.push(point); added = true; }
    }
    if (added) changed();
  });
  const endStroke = () => { drawing = null; };   // the last move already asked for an answer
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  undoButton.addEventListener("click", () => { strokes.pop(); changed(); });
  clearButton.addEventListener("click", () => { strokes.length = 0; uploaded = null; changed(); });

  // -- talking to the server -------------------------------------------------
  function setStatus(text, isError = false) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", isError);
  }

  async function post(url, body) {
    const response = await fetch(url, { method: "POST", body });
    let data = null;
    try { data = await response.json(); } catch (_) { /* not JSON */ }
    if (!response.ok) {
      const detail = data && typeof data.detail === "string" ? data.detail : `the server answered ${response.status}`;
      throw new Error(detail);
    }
    return data;
  }

  function padBlob() {
    return new Promise((resolve) => pad.toBlob(resolve, "image/png"));
  }

  // One request at a time.  `pending` holds the next job, the newest one
  // winning: {kind: "draw"} for the pad's current drawing, or {kind: "upload",
  // file}.  While a request is under way the pad stays smooth and only the job
  // is remembered; the answer catches up when the request returns.
  let pending = null;

  function schedule(job) {
    pending = job;
    pump();
  }

  async function pump() {
    if (inFlight || !pending) return;
    const job = pending;
    pending = null;
    const version = drawVersion;
    if (job.kind === "draw" && strokes.length === 0) {   // nothing drawn: nothing to ask
      showBlank();
      setStatus(HINT);
      result.dataset.resultVersion = String(version);
      result.dataset.state = "idle";
      return;
    }
    inFlight = true;
    result.dataset.state = "busy";
    // an answer is still worth showing while more strokes are coming, not after Clear or an upload
    const current = () => !pending || (job.kind === "draw" && pending.kind === "draw" && strokes.length > 0);
    try {
      const form = new FormData();
      if (job.kind === "draw") form.append("file", await padBlob(), "drawing.png");
      else form.append("file", job.file, job.file.name);
      const data = await post(`/api/predict/image?model=${activeModel}`, form);
      if (current()) {
        source = job.kind === "upload" ? "upload" : "drawing";
        show(data);
        const many = data.digits.length > 1;
        // no "on the right": on a phone the cards are one under the other
        setStatus(job.kind === "upload"
          ? `${job.file.name}: ` + (many
            ? `read ${data.digits.length} digits, each with its prepared input in the answer; the chosen one is ` +
              "shown large under \"What it sees\"."
            : "the prepared image is shown under \"What it sees\".")
          : many ? "Point at a digit (or tap it in the list) to see it inside the network; keep writing, or Clear."
                 : "Keep writing, or Clear to start again.");
      }
    } catch (error) {
      if (current()) {
        showBlank();
        setStatus(job.kind === "upload" ? `${job.file.name}: ${error.message}` : error.message, true);
      }
    } finally {
      inFlight = false;
      result.dataset.resultVersion = String(version);
      if (pending) pump();
      else result.dataset.state = "idle";
    }
  }

  function requestPrediction() {
    schedule({ kind: "draw" });
  }

  // the uploaded picture on the pad, fitted whole, so that the boxes of its digits lie over it
  let uploads = 0;
  async function showUpload(file) {
    const mine = ++uploads;
    uploaded = null;
    let bitmap = null;
    try {
      bitmap = await createImageBitmap(file);
    } catch (_) { /* a format the browser does not show (TIFF): the answer still comes, without boxes */ }
    if (!bitmap || mine !== uploads || strokes.length) return;      // a newer upload, or writing began
    const k = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
    uploaded = { bitmap, k, x: (pad.width - bitmap.width * k) / 2, y: (pad.height - bitmap.height * k) / 2 };
    redraw();
    if (reading && source === "upload") {        // the answer came first: now its boxes can be placed
      const i = selected;
      show(reading);
      selectDigit(i);
    }
  }

  upload.addEventListener("change", () => {
    const file = upload.files && upload.files[0];
    if (!file) return;
    strokes.length = 0;
    drawVersion += 1;
    result.dataset.drawVersion = String(drawVersion);
    uploaded = null;
    redraw();
    showUpload(file);
    setStatus(`reading ${file.name}…`);
    schedule({ kind: "upload", file });
    upload.value = "";
  });

  // -- showing the answer ----------------------------------------------------
  function buildBars(classes) {
    barsEl.textContent = "";
    bars = classes.map((name) => {
      const li = document.createElement("li");
      const label = document.createElement("span");
      label.className = "name";
      label.textContent = name;
      const track = document.createElement("span");
      track.className = "track";
      const fill = document.createElement("span");
      fill.className = "fill";
      track.appendChild(fill);
      const pct = document.createElement("span");
      pct.className = "pct";
      pct.textContent = "";
      li.append(label, track, pct);
      barsEl.appendChild(li);
      return { li, fill, pct };
    });
  }

  function buildLayers(layers, classes) {
    layersEl.textContent = "";
    const hidden = layers.slice(0, -1);
    cells = hidden.map((layer, i) => {
      const box = document.createElement("div");
      box.className = "layer";
      const title = document.createElement("h3");
      title.textContent = `hidden layer ${i + 1}: ${layer.size} ${layer.activation} units`;
      const scale = document.createElement("span");
      scale.className = "scale";
      title.appendChild(scale);
      const strip = document.createElement("div");
      strip.className = "cells";
      strip.style.setProperty("--cell", layer.size > 400 ? "7px" : layer.size > 120 ? "9px" : "13px");
      const spans = [];
      for (let j = 0; j < layer.size; j++) {
        const cell = document.createElement("span");
        cell.title = `unit ${j}`;
        cell.tabIndex = 0;
        cell.dataset.layer = String(i + 1);
        cell.dataset.unit = String(j);
        strip.appendChild(cell);
        spans.push(cell);
      }
      box.append(title, strip);
      layersEl.appendChild(box);
      return { spans, activation: layer.activation, scale };
    });
    // the output layer, one labelled cell per class (or per bit of an output code)
    const out = layers[layers.length - 1];
    const perClass = out.size === classes.length;
    const box = document.createElement("div");
    box.className = "layer output";
    const title = document.createElement("h3");
    title.textContent = perClass ? `output layer: ${out.size} ${out.activation} units, one per class`
      : `output layer: ${out.size} ${out.activation} units, a binary code of the class (read as the nearest code word)`;
    const strip = document.createElement("div");
    strip.className = "cells labelled";
    const names = perClass ? classes : Array.from({ length: out.size }, (_, j) => `bit ${j + 1}`);
    outputCells = names.map((name, j) => {
      const cell = document.createElement("span");
      cell.textContent = name;
      cell.title = perClass ? `class ${name}` : name;
      cell.tabIndex = 0;
      cell.dataset.layer = String(layers.length);
      cell.dataset.unit = String(j);
      strip.appendChild(cell);
      return cell;
    });
    box.append(title, strip);
    layersEl.appendChild(box);
    outputCells.activation = out.activation;
    outputCells.perClass = perClass;
    updateLegend(hidden.length ? hidden[0].activation : out.activation);
  }

  function updateLegend(activation) {
    const high = document.getElementById("legend-high");
    const note = document.getElementById("legend-note");
    if (activation === "sigmoid") { high.textContent = "1"; note.innerHTML = "sigmoid: <i>a</i> ∈ (0, 1)"; }
    else if (activation === "tanh") { high.textContent = "1"; note.innerHTML = "tanh: |<i>a</i>|, <i>a</i> ∈ (−1, 1)"; }
    else { high.textContent = "max"; note.innerHTML = `${activation}: 0 up to the layer's largest <i>a</i> (shown beside its title)`; }
  }

  function drawSeen(image, canvas = seen) {
    const rows = image.length;
    const cols = image[0].length;
    canvas.width = cols;
    canvas.height = rows;
    const sctx = canvas.getContext("2d");
    const pixels = sctx.createImageData(cols, rows);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = Math.round(255 * Math.min(1, Math.max(0, image[r][c])));
        const k = 4 * (r * cols + c);
        pixels.data[k] = pixels.data[k + 1] = pixels.data[k + 2] = v;
        pixels.data[k + 3] = 255;
      }
    }
    sctx.putImageData(pixels, 0, 0);
  }

  const percent = (digit) => `${(100 * digit.probabilities[digit.index]).toFixed(1)}%`;

  // the number read: its digits as a list (input, label, confidence) and as boxes over the pad
  function show(data) {
    reading = data;
    predictionEl.textContent = data.label;
    const many = data.digits.length > 1;
    confidenceEl.textContent = many ? `${data.digits.length} digits` : `${percent(data.digits[0])} sure`;
    digitsEl.textContent = "";
    boxesEl.textContent = "";
    const frame = pictureFrame(data.size);
    data.digits.forEach((digit, i) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.digit = String(i);
      button.setAttribute("aria-pressed", "false");
      button.title = `digit ${i + 1}: ${digit.label}, ${percent(digit)} sure`;
      const canvas = document.createElement("canvas");
      drawSeen(digit.input, canvas);
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = digit.label;
      const pct = document.createElement("span");
      pct.className = "pct";
      pct.textContent = percent(digit);
      button.append(canvas, label, pct);
      li.appendChild(button);
      digitsEl.appendChild(li);
      if (frame) {
        const box = document.createElement("span");
        box.dataset.digit = String(i);
        const x = frame.x + digit.box.x * frame.k;
        const y = frame.y + digit.box.y * frame.k;
        box.style.left = `${(100 * x / pad.width).toFixed(2)}%`;
        box.style.top = `${(100 * y / pad.height).toFixed(2)}%`;
        box.style.width = `${(100 * digit.box.width * frame.k / pad.width).toFixed(2)}%`;
        box.style.height = `${(100 * digit.box.height * frame.k / pad.height).toFixed(2)}%`;
        if (y < 0.12 * pad.height) box.classList.add("below");       // no room above for the label
        const tag = document.createElement("b");
        tag.textContent = digit.label;
        const pct = document.createElement("small");
        pct.textContent = ` ${percent(digit)}`;
        tag.appendChild(pct);
        box.appendChild(tag);
        boxesEl.appendChild(box);
      }
    });
    digitsEl.hidden = !many;
    result.dataset.digits = String(data.digits.length);
    selectDigit(0);
  }

  // where the analysed picture lies on the pad, in pad pixels: the drawing is the pad itself;
  // an upload is shown fitted whole (null when it could not be shown)
  function pictureFrame(size) {
    if (source === "upload") {
      if (!uploaded) return null;
      const k = Math.min(pad.width / size.width, pad.height / size.height);
      return { k, x: (pad.width - size.width * k) / 2, y: (pad.height - size.height * k) / 2 };
    }
    return { k: pad.width / size.width, x: 0, y: 0 };
  }

  function hoverDigit(point) {
    if (!reading || reading.digits.length < 2) return;
    const frame = pictureFrame(reading.size);
    if (!frame) return;
    const [px, py] = point;
    const i = reading.digits.findIndex(({ box }) => {
      const x = frame.x + box.x * frame.k, y = frame.y + box.y * frame.k;
      return px >= x && px <= x + box.width * frame.k && py >= y && py <= y + box.height * frame.k;
    });
    if (i >= 0 && i !== selected) selectDigit(i);
  }

  const choose = (event) => {
    const button = event.target.closest("button[data-digit]");
    if (button) selectDigit(Number(button.dataset.digit));
  };
  digitsEl.addEventListener("pointerover", choose);
  digitsEl.addEventListener("focusin", choose);
  digitsEl.addEventListener("click", choose);

  // one digit inside the network: its bars, its 28x28 input, every layer's activations
  function selectDigit(i) {
    if (!reading) return;
    selected = i;
    const many = reading.digits.length > 1;
    digitsEl.querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.digit === String(i))));
    boxesEl.querySelectorAll("span[data-digit]").forEach((b) => b.classList.toggle("selected", many && b.dataset.digit === String(i)));
    barsCaption.hidden = !many;
    barsCaption.textContent = many ? `Digit ${i + 1} of ${reading.digits.length}, “${reading.digits[i].label}”: ` +
      "its probabilities, its input and its activations below. Point at another digit to see it." : "";
    result.dataset.selected = String(i);
    seenNote();
    showDigit({ ...reading.digits[i], classes: reading.classes });
  }

  function showDigit(data) {
    const p = data.probabilities;
    if (bars.length !== p.length) buildBars(data.classes);
    bars.forEach((bar, i) => {
      bar.fill.style.width = `${(100 * p[i]).toFixed(1)}%`;
      bar.pct.textContent = `${(100 * p[i]).toFixed(1)}%`;
      bar.li.classList.toggle("top", i === data.index);
    });
    drawSeen(data.input);
    lastHidden = data.hidden;
    data.hidden.forEach((values, i) => {
      const layer = cells[i];
      if (!layer || layer.spans.length !== values.length) return;
      const bounded = layer.activation === "sigmoid" || layer.activation === "tanh";
      let top = 1e-6;
      if (!bounded) for (const v of values) top = Math.max(top, Math.abs(v));
      layer.scale.textContent = bounded ? "" : ` · brightest = ${top.toFixed(2)}`;
      values.forEach((v, j) => {
        const level = Math.min(1, Math.abs(v) / (bounded ? 1 : top));
        const cell = layer.spans[j];
        cell.style.backgroundColor = heat(level);
        cell.title = `unit ${j}: a = ${v.toFixed(3)}`;
      });
    });
    const outputs = data.output && data.output.length === outputCells.length ? data.output : data.probabilities;
    const bounded = ["sigmoid", "softmax", "tanh"].includes(outputCells.activation);
    let top = 1e-6;
    if (!bounded) for (const v of outputs) top = Math.max(top, Math.abs(v));
    outputs.forEach((v, j) => {
      const level = Math.min(1, Math.abs(v) / (bounded ? 1 : top));
      const cell = outputCells[j];
      cell.style.backgroundColor = heat(level);
      cell.classList.toggle("bright", level > 0.55);
      cell.classList.toggle("top", outputCells.perClass && j === data.index);
      cell.title = outputCells.perClass ? `class ${data.classes[j]}: a = ${v.toFixed(3)}` : `bit ${j + 1}: a = ${v.toFixed(3)}`;
    });
  }

  // from a dark idle cell (level 0) to a bright amber one (level 1)
  const IDLE = [27, 33, 48];
  const HOT = [255, 190, 40];
  function heat(level) {
    const mix = IDLE.map((c, i) => Math.round(c + (HOT[i] - c) * level));
    return `rgb(${mix[0]}, ${mix[1]}, ${mix[2]})`;
  }

  function showBlank() {
    predictionEl.textContent = "–";
    confidenceEl.textContent = "";
    reading = null;
    digitsEl.textContent = "";
    digitsEl.hidden = true;
    boxesEl.textContent = "";
    barsCaption.hidden = true;
    result.dataset.digits = "0";
    bars.forEach((bar) => { bar.fill.style.width = "0"; bar.pct.textContent = ""; bar.li.classList.remove("top"); });
    const sctx = seen.getContext("2d");
    sctx.fillStyle = "#000";
    sctx.fillRect(0, 0, seen.width, seen.height);
    for (const layer of cells) {
      for (const cell of layer.spans) cell.style.backgroundColor = "";
      layer.scale.textContent = "";
    }
    for (const cell of outputCells) { cell.style.backgroundColor = ""; cell.classList.remove("bright", "top"); }
    lastHidden = null;
  }

  // -- a neuron's incoming weights ------------------------------------------------
  // red where a lit input pushes the neuron on (w > 0), blue where it holds it back (w < 0)
  function diverging(v) {
    const t = Math.max(-1, Math.min(1, v));
    if (t >= 0) return [255, Math.round(255 - 200 * t), Math.round(255 - 215 * t)];
    return [Math.round(255 + 215 * t), Math.round(255 + 150 * t), 255];
  }

  function drawWeights(canvas, values, shape) {
    let rows, cols;
    if (shape.length === 2) { [rows, cols] = shape; }
    else { cols = Math.ceil(Math.sqrt(values.length)); rows = Math.ceil(values.length / cols); }
    canvas.width = cols;
    canvas.height = rows;
    const c = canvas.getContext("2d");
    const image = c.createImageData(cols, rows);
    let top = 1e-12;
    for (const v of values) top = Math.max(top, Math.abs(v));
    for (let k = 0; k < rows * cols; k++) {
      const rgb = k < values.length ? diverging(values[k] / top) : [230, 232, 236];
      image.data.set([...rgb, 255], 4 * k);
    }
    c.putImageData(image, 0, 0);
    return top;
  }

  let inspecting = null;
  async function inspect(cell) {
    const layer = Number(cell.dataset.layer);
    const unit = Number(cell.dataset.unit);
    const key = `${activeModel}/${layer}/${unit}`;
    inspecting = key;
    let data = weightCache.get(key);
    if (!data) {
      try {
        const response = await fetch(`/api/model/weights?layer=${layer}&unit=${unit}&model=${activeModel}`);
        if (!response.ok) return;
        data = await response.json();
      } catch (_) { return; }
      weightCache.set(key, data);
    }
    if (inspecting !== key) return;           // the pointer has moved on
    const top = drawWeights(inspectorCanvas, data.weights, data.shape);
    const isOutput = layer === cells.length + 1;
    const name = isOutput ? (outputCells && outputCells.perClass ? `output unit ${unit} (class ${model.classes[unit]})`
      : `output unit ${unit} (bit ${unit + 1} of the code)`) : `hidden layer ${layer}, unit ${unit}`;
    const from = layer === 1 ? `the ${data.shape.join("x")} input pixels` : `the ${data.weights.length} units of ${layer === 2 ? "hidden layer 1" : `hidden layer ${layer - 1}`}`;
    const activation = !isOutput && lastHidden && lastHidden[layer - 1] ? ` · a = ${lastHidden[layer - 1][unit].toFixed(3)} now` : "";
    inspectorCaption.textContent = `${name}: its ${data.weights.length} weights from ${from} ` +
      `(red +, blue −, largest |w| = ${top.toFixed(3)}), bias ${data.bias.toFixed(3)}${activation}`;
    layersEl.querySelectorAll(".inspected").forEach((el) => el.classList.remove("inspected"));
    cell.classList.add("inspected");
    document.getElementById("inspector").dataset.key = key;
  }

  const inspectable = (event) => event.target instanceof HTMLElement && event.target.dataset.unit !== undefined;
  layersEl.addEventListener("pointerover", (event) => { if (inspectable(event)) inspect(event.target); });
  layersEl.addEventListener("focusin", (event) => { if (inspectable(event)) inspect(event.target); });
  layersEl.addEventListener("click", (event) => { if (inspectable(event)) inspect(event.target); });

  // -- the model -------------------------------------------------------------
  function describe(info) {
    const arch = info.sizes.join("-");
    const hiddenActs = [...new Set(info.layers.slice(0, -1).map((l) => l.activation))].join("/") || "no hidden";
    const accuracy = typeof info.test_accuracy === "number" ? `${(100 * info.test_accuracy).toFixed(2)}%` : "not recorded";
    document.getElementById("model-line").textContent =
      `${arch} ${hiddenActs} network` + (info.dataset ? ` trained on ${info.dataset}` : "") +
      ` · test accuracy ${accuracy}`;
    const rows = [
      ["Model", activeModel === "trained" ? "trained on this page" : "served"],
      ["Network", info.network],
      ["Data set", info.dataset || "not recorded"],
      ["Test accuracy", accuracy + (info.test_total ? ` of ${info.test_total} images` : "")],
      ["Input", `${info.image_shape.join("x")} image`],
      ["Parameters", info.n_params.toLocaleString("en")],
      ["Epochs", info.epochs_run ?? "not recorded"],
      ["File", info.source || "–"],
    ];
    const dl = document.getElementById("model-info");
    dl.textContent = "";
    for (const [name, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = String(value);
      dl.append(dt, dd);
    }
    seenNote();
  }

  // what "What it sees" shows: the drawing's or the upload's input, of which digit
  function seenNote() {
    if (!model) return;
    const yours = source === "upload" ? "Your image" : "Your drawing";
    const many = reading && reading.digits.length > 1;
    const which = many ? `, digit ${selected + 1} of ${reading.digits.length} (“${reading.digits[selected].label}”)` : "";
    document.getElementById("seen-note").textContent = model.image_shape.join("x") === "28x28"
      ? `${yours}${which} after MNIST's preparation: ${many ? "the digit cropped to its ink" : "cropped to the ink"}, ` +
        "fitted into 20x20 pixels and centred by its centre of mass in 28x28."
      : `${yours} prepared for this model's ${model.image_shape.join("x")} inputs (read as one item).`;
  }

  async function loadModel(which) {
    const response = await fetch(`/api/model?model=${which}`);
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    model = await response.json();
    activeModel = which;
    weightCache.clear();
    describe(model);
    buildBars(model.classes);
    buildLayers(model.layers, model.classes);
    inspectorCanvas.width = inspectorCanvas.height = 1;
    inspectorCaption.textContent = "Point at a neuron: its incoming weights appear here, red where a lit input " +
      "pushes it on, blue where it holds it back.";
    for (const button of modelSwitch.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.model === which));
    }
    document.body.dataset.model = which;
  }

  async function useModel(which) {
    // the answer on show belongs to the old model: a new one is due for the same drawing
    drawVersion += 1;
    result.dataset.drawVersion = String(drawVersion);
    try {
      await loadModel(which);
      showBlank();
      if (!strokes.length) {
        setStatus(which === "trained" ? `Now reading with the model you trained (${model.sizes.join("-")}): ` +
                  "draw a digit." : HINT);
      }
    } catch (error) {
      setStatus(`cannot load that model: ${error.message}`, true);
    }
    if (strokes.length) requestPrediction();
    else result.dataset.resultVersion = String(drawVersion);     // nothing drawn: nothing to ask
  }

  modelSwitch.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-model]");
    if (button && button.dataset.model !== activeModel) useModel(button.dataset.model);
  });

  // -- the tabs ----------------------------------------------------------------------
  const views = { draw: document.getElementById("draw-view"), train: document.getElementById("train-view") };
  function showView(name) {
    for (const [key, view] of Object.entries(views)) {
      view.hidden = key !== name;
      document.getElementById(`tab-${key}`).setAttribute("aria-selected", String(key === name));
    }
    document.body.dataset.view = name;
    document.dispatchEvent(new CustomEvent("bpnn:view", { detail: { view: name } }));
  }
  document.getElementById("tab-draw").addEventListener("click", () => { history.replaceState(null, "", "#draw"); showView("draw"); });
  document.getElementById("tab-train").addEventListener("click", () => { history.replaceState(null, "", "#train"); showView("train"); });
  window.addEventListener("hashchange", () => showView(location.hash === "#train" ? "train" : "draw"));

  // train.js announces a finished model, and asks for it on the pad
  document.addEventListener("bpnn:trained", () => {
    modelSwitch.hidden = false;
    if (activeModel === "trained") useModel("trained");       // a newer model replaces the one in use
  });
  document.addEventListener("bpnn:use-model", (event) => {
    modelSwitch.hidden = false;
    history.replaceState(null, "", "#draw");
    showView("draw");
    window.scrollTo(0, 0);                    // the pad is at the top; the Train tab was scrolled down
    useModel(event.detail.model);
  });

  async function start() {
    redraw();
    showView(location.hash === "#train" ? "train" : "draw");
    try {
      await loadModel("served");
      showBlank();
      document.body.dataset.ready = "true";
    } catch (error) {
      setStatus(`cannot reach the server: ${error.message}`, true);
    }
  }

  start();
})();
