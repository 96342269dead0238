// bpnn's Train tab: choose a network, press Train, watch it learn.
//
// The server runs bpnn.experiment.run() on a worker thread (one run at a time)
// and streams the run as server-sent events from /api/train/events: a "state"
// event with everything so far, then "status", "epoch", "progress" and
// "diagnosis" events.  This script draws the learning curves, the first
// layer's weights as images, a few test digits with their current answers and
// the diagnostics; when the run ends, the model can be used on the pad
// (app.js listens for "bpnn:use-model") or downloaded.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("train-form");
  const trainButton = $("train-button");
  const stopButton = $("stop-button");
  const stuckButton = $("stuck-button");
  const statusEl = $("train-status");
  const progressFill = $("progress-fill");
  const lossChart = $("loss-chart");
  const accuracyChart = $("accuracy-chart");
  const epochLine = $("epoch-line");
  const weightsGrid = $("weights-grid");
  const samplesEl = $("samples");
  const healthEl = $("health");
  const warningsEl = $("warnings");
  const outcomeEl = $("outcome");
  const useButton = $("use-button");
  const downloadLink = $("download-link");

  const ACTIVE = new Set(["loading", "running", "stopping"]);
  let options = null;
  let run = 0;                 // the run shown
  let status = "idle";
  let plannedEpochs = 0;
  let history = [];
  let samples = null;          // {shape, labels, data (base64), classes}
  let classes = [];
  let source = null;
  let announced = 0;           // the last run whose model was announced to app.js

  // -- the form ----------------------------------------------------------------------
  function fill(select, values, labels) {
    select.textContent = "";
    values.forEach((value, i) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = labels ? labels[i] : value.replace("_", " ");
      select.appendChild(option);
    });
  }

  function setForm(values) {
    for (const [name, value] of Object.entries(values)) {
      const field = form.elements[name];
      if (field) field.value = Array.isArray(value) ? value.join(",") : String(value);
    }
  }

  function buildForm(opts) {
    options = opts;
    const datasets = opts.datasets;
    fill($("f-dataset"), datasets.map((d) => d.name), datasets.map((d) => d.title + (d.available ? "" : " (not on this machine)")));
    [...$("f-dataset").options].forEach((option, i) => { option.disabled = !datasets[i].available; if (!datasets[i].available) option.title = datasets[i].why; });
    fill($("f-activation"), opts.activations);
    fill($("f-cost"), opts.costs, opts.costs.map((c) => c === "cross_entropy" ? "cross-entropy" : c));
    fill($("f-init"), opts.inits, opts.inits.map((name) => ({
      normal: "N(0, 1)", scaled_normal: "N(0, 1)/√n", uniform: "U(−0.1, 0.1)",
      glorot_uniform: "Glorot uniform", glorot_normal: "Glorot normal", he_normal: "He normal",
    })[name] || name));
    fill($("f-optimizer"), opts.optimizers.map((o) => o.name));
    setForm(opts.defaults);
    if (opts.defaults.eta == null) {       // no eta given: the chosen optimizer's own
      const chosen = opts.optimizers.find((o) => o.name === opts.defaults.optimizer);
      if (chosen) $("f-eta").value = String(chosen.eta);
    }
    $("f-epochs").max = opts.limits.max_epochs;
    $("f-batch").max = opts.limits.max_batch_size;
    $("f-eta").max = opts.limits.max_eta;
  }

  $("f-optimizer").addEventListener("change", () => {
    const chosen = options.optimizers.find((o) => o.name === $("f-optimizer").value);
    if (chosen) $("f-eta").value = String(chosen.eta);
  });
  $("f-activation").addEventListener("change", () => {
    const relu = $("f-activation").value.includes("relu");
    if (relu && $("f-init").value === "scaled_normal") $("f-init").value = "he_normal";
    if (!relu && $("f-init").value === "he_normal") $("f-init").value = "scaled_normal";
  });

  function readForm() {
    const number = (name) => Number(form.elements[name].value);
    const hidden = form.elements.hidden.value.split(/[,\s]+/).filter(Boolean).map(Number);
    return {
      dataset: form.elements.dataset.value, hidden, activation: form.elements.activation.value,
      cost: form.elements.cost.value, init: form.elements.init.value, optimizer: form.elements.optimizer.value,
      eta: number("eta"), batch_size: number("batch_size"), epochs: number("epochs"), seed: number("seed"),
    };
  }

  function setStatus(text, kind = "") {
    statusEl.textContent = text;
    statusEl.className = kind;
  }

  async function send(url, body) {
    const response = await fetch(url, {
      method: "POST", headers: { "content-type": "application/json" }, body: body === undefined ? "{}" : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (_) { /* not JSON */ }
    if (!response.ok) throw new Error(data && typeof data.detail === "string" ? data.detail : `the server answered ${response.status}`);
    return data;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    trainButton.disabled = true;
    try {
      const state = await send("/api/train", readForm());
      showState(state);
      connect();
    } catch (error) {
      setStatus(error.message, "error");
      trainButton.disabled = ACTIVE.has(status);
    }
  });

  stopButton.addEventListener("click", async () => {
    stopButton.disabled = true;
    try { await send("/api/train/stop"); }
    catch (error) { setStatus(error.message, "error"); }
  });

  // the README's lesson: the source's S2 setting, N(0,1) weights and the quadratic cost
  stuckButton.addEventListener("click", () => {
    const mnist = options.datasets.find((d) => d.name === "mnist-subset");
    setForm({ dataset: mnist && mnist.available ? "mnist-subset" : "digits", hidden: [100], activation: "sigmoid",
              cost: "quadratic", init: "normal", optimizer: "sgd", eta: 3, batch_size: 10, epochs: 30, seed: 0 });
    setStatus("The settings of a run that gets stuck (N(0,1) weights, quadratic cost): press Train and watch " +
              "the diagnostics; then try scaled normal weights or the cross-entropy cost.");
  });

  useButton.addEventListener("click", () => {
    document.dispatchEvent(new CustomEvent("bpnn:use-model", { detail: { model: "trained" } }));
  });

  // -- drawing ---------------------------------------------------------------------------
  function decode(base64) {
    const raw = atob(base64);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function sizeCanvas(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(120, canvas.clientWidth);
    const height = Math.max(100, canvas.clientHeight);
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const c = canvas.getContext("2d");
    c.setTransform(ratio, 0, 0, ratio, 0, 0);
    c.clearRect(0, 0, width, height);
    return [c, width, height];
  }

  const COLORS = { train: "#2f6fde", validation: "#e0731b", grid: "#e1e4ea", text: "#677086" };

  function drawChart(canvas, series, { max, percent }) {
    const [c, width, height] = sizeCanvas(canvas);
    const left = 44, right = 10, top = 10, bottom = 24;
    const w = width - left - right, h = height - top - bottom;
    // the axis grows with the run (up to the planned epochs), so a long run's first epochs are readable
    const epochs = Math.max(2, history.length, Math.min(plannedEpochs, Math.max(20, Math.ceil(1.5 * history.length))));
    const values = series.flatMap((s) => s.values).filter((v) => typeof v === "number" && isFinite(v));
    const yMax = max !== undefined ? max : values.length ? Math.max(1e-9, ...values) * 1.05 : 1;
    c.font = "11px system-ui, sans-serif";
    c.fillStyle = COLORS.text;
    c.strokeStyle = COLORS.grid;
    c.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = top + h - (h * i) / 4;
      c.beginPath(); c.moveTo(left, y); c.lineTo(left + w, y); c.stroke();
      const label = percent ? `${Math.round((100 * yMax * i) / 4)}%` : ((yMax * i) / 4).toPrecision(2);
      c.textAlign = "right"; c.textBaseline = "middle";
      c.fillText(label, left - 6, y);
    }
    c.textAlign = "center"; c.textBaseline = "top";
    const step = Math.max(1, Math.ceil(epochs / 6));
    for (let e = 1; e <= epochs; e += step) c.fillText(String(e), left + (w * (e - 1)) / (epochs - 1), top + h + 6);
    const x = (i) => left + (w * i) / (epochs - 1);
    const y = (v) => top + h - (h * Math.min(v, yMax)) / yMax;
    for (const s of series) {
      const points = s.values.map((v, i) => [i, v]).filter(([, v]) => typeof v === "number" && isFinite(v));
      if (!points.length) continue;
      c.strokeStyle = s.color; c.fillStyle = s.color; c.lineWidth = 2;
      c.beginPath();
      points.forEach(([i, v], k) => (k ? c.lineTo(x(i), y(v)) : c.moveTo(x(i), y(v))));
      c.stroke();
      if (points.length < 60) for (const [i, v] of points) { c.beginPath(); c.arc(x(i), y(v), 2.5, 0, 2 * Math.PI); c.fill(); }
    }
    canvas.dataset.points = String(history.length);
  }

  function drawCurves() {
    drawChart(lossChart, [
      { values: history.map((r) => r.loss), color: COLORS.train },
      { values: history.map((r) => r.val_loss), color: COLORS.validation },
    ], {});
    drawChart(accuracyChart, [
      { values: history.map((r) => r.accuracy), color: COLORS.train },
      { values: history.map((r) => r.val_accuracy), color: COLORS.validation },
    ], { max: 1, percent: true });
    const last = history[history.length - 1];
    if (last) {
      const pct = (v) => `${(100 * v).toFixed(1)}%`;
      epochLine.textContent = `epoch ${last.epoch} of ${plannedEpochs}: loss ${last.loss.toFixed(4)}, training ${pct(last.accuracy)}` +
        (typeof last.val_accuracy === "number" ? `, validation ${pct(last.val_accuracy)}` : "") + ` (${last.seconds.toFixed(2)} s)`;
    }
  }

  // red positive, blue negative, white zero (as on the Draw tab's inspector)
  function shade(byte) {
    const t = (byte - 128) / 127;
    if (t >= 0) return [255, Math.round(255 - 200 * t), Math.round(255 - 215 * t)];
    return [Math.round(255 + 215 * t), Math.round(255 + 150 * t), 255];
  }

  function drawWeights(weights) {
    const [rows, cols] = weights.shape.length === 2 ? weights.shape : [1, weights.shape[0]];
    const bytes = decode(weights.data);
    const n = weights.units;
    if (weightsGrid.children.length !== n) {
      weightsGrid.textContent = "";
      for (let u = 0; u < n; u++) {
        const canvas = document.createElement("canvas");
        canvas.width = cols; canvas.height = rows;
        canvas.title = `hidden unit ${u}`;
        weightsGrid.appendChild(canvas);
      }
    }
    [...weightsGrid.children].forEach((canvas, u) => {
      const c = canvas.getContext("2d");
      const image = c.createImageData(cols, rows);
      for (let k = 0; k < rows * cols; k++) image.data.set([...shade(bytes[u * rows * cols + k]), 255], 4 * k);
      c.putImageData(image, 0, 0);
      canvas.title = `hidden unit ${u}: largest |w| ${weights.max[u]}`;
    });
    weightsGrid.dataset.updates = String(Number(weightsGrid.dataset.updates || 0) + 1);
  }

  function buildSamples(info) {
    samples = info;
    classes = info.classes;
    samplesEl.textContent = "";
    const [rows, cols] = info.shape;
    const bytes = decode(info.data);
    info.labels.forEach((label, i) => {
      const li = document.createElement("li");
      const canvas = document.createElement("canvas");
      canvas.width = cols; canvas.height = rows;
      const c = canvas.getContext("2d");
      const image = c.createImageData(cols, rows);
      for (let k = 0; k < rows * cols; k++) { const v = bytes[i * rows * cols + k]; image.data.set([v, v, v, 255], 4 * k); }
      c.putImageData(image, 0, 0);
      const answer = document.createElement("span");
      answer.className = "answer-label";
      answer.textContent = "?";
      li.append(canvas, answer);
      li.title = `a test ${label}`;
      li.dataset.label = label;
      samplesEl.appendChild(li);
    });
  }

  function showPredictions(predictions) {
    if (!samples) return;
    [...samplesEl.children].forEach((li, i) => {
      const p = predictions[i];
      if (!p) return;
      const name = classes[p.index];
      const right = name === li.dataset.label;
      li.classList.toggle("right", right);
      li.classList.toggle("wrong", !right);
      li.querySelector(".answer-label").textContent = `${name} ${Math.round(100 * p.p)}%`;
      li.title = `a test ${li.dataset.label}, read as ${name} (${(100 * p.p).toFixed(1)}%)`;
    });
  }

  function showHealth(health) {
    if (!health || !health.layers) return;
    const parts = [];
    const n = health.layers.length;
    for (const layer of health.layers) {
      const where = layer.layer === n ? "output" : `hidden ${layer.layer}`;
      if (typeof layer.saturated === "number" && layer.layer < n) {
        const start = typeof layer.saturated_at_start === "number" ? `, ${Math.round(100 * layer.saturated_at_start)}% at the start` : "";
        parts.push(`${where} (${layer.size} ${layer.activation}): ${Math.round(100 * layer.saturated)}% of activations saturated${start}`);
      }
      if (typeof layer.dead === "number") parts.push(`${where} (${layer.size} ReLUs): ${Math.round(100 * layer.dead)}% dead`);
    }
    const counts = health.predicted || [];
    const total = counts.reduce((a, b) => a + b, 0);
    healthEl.textContent = "";
    const list = document.createElement("ul");
    list.className = "small health-list";
    for (const text of parts) { const li = document.createElement("li"); li.textContent = text; list.appendChild(li); }
    if (counts.length > 1 && total) {
      const li = document.createElement("li");
      li.textContent = `answers on ${total} training images: ` +
        counts.map((count, i) => `${classes[i] ?? i}: ${count}`).join(", ");
      list.appendChild(li);
    }
    healthEl.appendChild(list);
  }

  function addWarning(d) {
    const li = document.createElement("li");
    const what = document.createElement("p");
    what.textContent = `Epoch ${d.epoch}: ${d.message}.`;
    const help = document.createElement("p");
    help.className = "advice";
    help.textContent = `What usually helps: ${d.advice}.`;
    li.append(what, help);
    li.dataset.kind = d.kind;
    warningsEl.appendChild(li);
  }

  // -- the run ---------------------------------------------------------------------------
  function reset(newRun) {
    run = newRun;
    history = [];
    samples = null;
    weightsGrid.textContent = "";
    weightsGrid.dataset.updates = "0";
    samplesEl.textContent = "";
    warningsEl.textContent = "";
    healthEl.textContent = "";
    progressFill.style.width = "0";
    epochLine.textContent = "No epoch yet.";
    drawCurves();
  }

  function applyStatus(data) {
    if (data.status) status = data.status;
    if (data.settings) plannedEpochs = data.settings.epochs;
    if (data.samples) buildSamples(data.samples);
    const active = ACTIVE.has(status);
    trainButton.disabled = active;
    stopButton.disabled = !active || status === "stopping";
    statusEl.dataset.state = status;
    const kind = status === "failed" ? "error" : (status === "done" || status === "stopped") ? "done" : "";
    if (data.message) setStatus(data.message, kind);
    if (status === "done") progressFill.style.width = "100%";
    else if (status === "loading" || status === "idle") progressFill.style.width = "0";
    if (data.result) {
      const r = data.result;
      outcomeEl.textContent = `${r.network}: ${r.epochs_run} epochs in ${r.seconds.toFixed(1)} s, test accuracy ` +
        `${(100 * r.test_accuracy).toFixed(2)}% (${r.test_correct} of ${r.test_total} test images).`;
    }
  }

  function setModelReady(ready) {
    useButton.disabled = !ready;
    downloadLink.classList.toggle("disabled", !ready);
    downloadLink.setAttribute("aria-disabled", String(!ready));
    if (ready && announced !== run) {
      announced = run;
      document.dispatchEvent(new CustomEvent("bpnn:trained", { detail: { run } }));
    }
  }

  function showState(state) {
    if (state.run !== run) {
      reset(state.run);
      if (state.settings && state.about) {        // show the form that started the run on show
        const s = state.settings;
        setForm({ dataset: state.about.dataset, hidden: s.hidden, activation: s.activation, cost: s.cost,
                  init: s.init, optimizer: s.optimizer, eta: s.eta, batch_size: s.batch_size, epochs: s.epochs,
                  seed: s.seed });
      }
    }
    history = state.history || [];
    if (state.samples) buildSamples(state.samples);
    applyStatus(state);
    warningsEl.textContent = "";
    (state.diagnoses || []).forEach(addWarning);
    if (state.latest) {
      if (state.latest.weights) drawWeights(state.latest.weights);
      if (state.latest.predictions) showPredictions(state.latest.predictions);
      if (state.latest.health) showHealth(state.latest.health);
    }
    drawCurves();
    setModelReady(state.model_ready && !ACTIVE.has(state.status));
    if (!state.run) setStatus("Choose, then press Train.");
  }

  function handle(kind, data) {
    if (kind === "state") { showState(data); return; }
    if (data.run !== run) {
      if (kind !== "status") return;
      reset(data.run);
    }
    if (kind === "status") {
      applyStatus(data);
      if (data.status === "done" || data.status === "stopped") setModelReady(Boolean(data.result));
      else if (ACTIVE.has(data.status)) setModelReady(false);
    } else if (kind === "epoch") {
      if (data.record) history.push(data.record);
      if (data.weights) drawWeights(data.weights);
      if (data.predictions) showPredictions(data.predictions);
      if (data.health) showHealth(data.health);
      drawCurves();
    } else if (kind === "progress") {
      const done = (data.epoch - 1 + data.batch / data.n_batches) / Math.max(1, plannedEpochs);
      progressFill.style.width = `${(100 * Math.min(1, done)).toFixed(1)}%`;
    } else if (kind === "diagnosis") {
      addWarning(data);
    }
  }

  function connect() {
    if (source) return;
    source = new EventSource("/api/train/events");
    for (const kind of ["state", "status", "epoch", "progress", "diagnosis"]) {
      source.addEventListener(kind, (event) => handle(kind, JSON.parse(event.data)));
    }
    source.addEventListener("error", () => {
      if (source && source.readyState === EventSource.CLOSED) { source = null; setTimeout(connect, 2000); }
    });
  }

  async function start() {
    try {
      const response = await fetch("/api/train");
      const data = await response.json();
      if (!response.ok) {
        setStatus(data.detail || `the server answered ${response.status}`, "error");
        for (const element of form.elements) element.disabled = true;
        document.body.dataset.trainReady = "off";
        return;
      }
      buildForm(data.options);
      showState(data.state);
      connect();
      document.body.dataset.trainReady = "true";
    } catch (error) {
      setStatus(`cannot reach the server: ${error.message}`, "error");
    }
  }

  // the charts follow the card's width (and are drawn when the tab becomes visible)
  let resizing = null;
  window.addEventListener("resize", () => { clearTimeout(resizing); resizing = setTimeout(drawCurves, 100); });
  document.addEventListener("bpnn:view", (event) => { if (event.detail.view === "train") drawCurves(); });

  start();
})();
