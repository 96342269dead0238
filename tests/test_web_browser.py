"""The drawing page in a real browser: Debian's Chromium, headless, driven by Playwright.

``bpnn serve`` runs as a process on a free loopback port with a small model
trained on the real MNIST files.  Digits from the MNIST *test* set are
replayed on the canvas as pen strokes (each row's run of dark pixels becomes
one stroke), with the mouse on a laptop-sized window and with touch events on
a phone-sized one; the page must show the digit that was drawn.  The Train
tab trains a network on the 8x8 digits live (curves grow, Stop stops it) and
the pad then reads with it.  Screenshots go to ``$BPNN_SCREENSHOT_DIR``
(default ``build/screenshots``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
playwright_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[1]
MNIST = Path(os.environ.get("BPNN_TEST_MNIST", ROOT.parent / "shared" / "data" / "mnist"))
CHROMIUM = os.environ.get("BPNN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(os.environ.get("BPNN_SCREENSHOT_DIR", ROOT / "build" / "screenshots"))

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"),
    pytest.mark.skipif(not (MNIST / "t10k-images-idx3-ubyte.gz").exists(),
                       reason=f"the MNIST files are not in {MNIST}"),
]

#: Flags for a root, offline, headless Chromium.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAD_W, PAD_H = 700, 280          # the canvas' drawing resolution (wide enough for a number)
READY = """() => { const r = document.getElementById('result');
                   return r.dataset.state === 'idle' && r.dataset.drawVersion === r.dataset.resultVersion; }"""


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("browser") / "mnist.safetensors"
    subprocess.run([sys.executable, "-m", "bpnn", "train", "--dataset", str(MNIST), "--hidden", "100",
                    "--activation", "relu", "--output", "softmax", "--cost", "cross_entropy", "--init",
                    "he_normal", "--optimizer", "adam", "--eta", "0.001", "--batch-size", "64", "--epochs", "4",
                    "--quiet", "--out", str(path)], env=_env(), check=True, capture_output=True, timeout=300)
    return path


@pytest.fixture(scope="module")
def server(model):
    process = subprocess.Popen([sys.executable, "-m", "bpnn", "serve", str(model), "--port", "0"], env=_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if " at http://" not in line:
        process.kill()
        pytest.fail(f"bpnn serve did not start: {line}{process.stderr.read()}")
    yield line.split(" at ", 1)[1].split(" ", 1)[0]
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0 and "Traceback" not in err, err


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def digits(model):
    """For each class 0..9, the first MNIST test image the model reads confidently: (image, label)."""
    import bpnn

    net = bpnn.load(model)
    ds = bpnn.datasets.load(str(MNIST), validation=0)
    p = net.predict_proba(ds.test.X[:500])
    chosen = {}
    for i in range(500):
        label = int(ds.test.y[i])
        if label not in chosen and p[i].argmax() == label and p[i, label] > 0.95:
            chosen[label] = ds.test.X[i].reshape(28, 28)
    assert len(chosen) == 10
    return chosen


def strokes_from_image(image: np.ndarray, threshold: float = 0.5, scale: float | None = None,
                       origin: tuple[float, float] | None = None) -> list[list[tuple[float, float]]]:
    """Each row's runs of dark pixels as horizontal strokes, in pad coordinates.

    By default the image fills the pad's height (10 pad pixels a pixel for 28x28), centred across it;
    ``scale`` (pad pixels a pixel) and ``origin`` (the image's top-left corner on the pad) place it elsewhere.
    """
    scale = PAD_H / image.shape[0] if scale is None else scale
    x0, y0 = origin if origin is not None else ((PAD_W - scale * image.shape[1]) / 2, 0.0)
    strokes = []
    for r, row in enumerate(image >= threshold):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c + 1 < len(row) and row[c + 1]:
                    c += 1
                y = y0 + (r + 0.5) * scale
                strokes.append([(x0 + (start + 0.5) * scale, y), (x0 + (c + 0.5) * scale, y)])
            c += 1
    return strokes


def _pad_frame(page) -> tuple[float, float, float]:
    """The pad's drawing area on the page: its left, top and page pixels per pad pixel (inside the border)."""
    x, y, width = page.evaluate("""() => { const pad = document.getElementById('pad');
        const box = pad.getBoundingClientRect();
        return [box.left + pad.clientLeft, box.top + pad.clientTop, pad.clientWidth]; }""")
    return x, y, width / PAD_W


def _to_page(page, strokes):
    page.locator("#pad").scroll_into_view_if_needed()     # a hover further down may have scrolled it away
    x0, y0, k = _pad_frame(page)
    return [[(x0 + x * k, y0 + y * k) for x, y in stroke] for stroke in strokes]


def number_strokes(images: list[np.ndarray], scale: float = 7.0, gap: float = 26.0
                   ) -> tuple[list[list[tuple[float, float]]], list[tuple[float, float, float, float]]]:
    """A number written with MNIST digits side by side across the pad: the strokes, and each digit's ink box
    ``(left, top, right, bottom)`` in pad pixels."""
    widths = []
    for image in images:
        cols = np.flatnonzero((image >= 0.5).any(axis=0))
        widths.append((cols[0], cols[-1] + 1))
    total = sum(b - a for a, b in widths) * scale + gap * (len(images) - 1)
    assert total < PAD_W - 20, "the number does not fit on the pad"
    x = (PAD_W - total) / 2
    y0 = (PAD_H - scale * 28) / 2
    strokes, boxes = [], []
    for image, (a, b) in zip(images, widths):
        origin = (x - a * scale, y0)
        strokes += strokes_from_image(image, scale=scale, origin=origin)
        rows = np.flatnonzero((image >= 0.5).any(axis=1))
        boxes.append((x, y0 + rows[0] * scale, x + (b - a) * scale, y0 + (rows[-1] + 1) * scale))
        x += (b - a) * scale + gap
    return strokes, boxes


def draw_with_mouse(page, strokes) -> None:
    for stroke in _to_page(page, strokes):
        page.mouse.move(*stroke[0])
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*point, steps=3)
        page.mouse.up()


def draw_with_touch(page, cdp, strokes) -> None:
    """Real touch events through the DevTools protocol (what a finger on a phone sends)."""
    for stroke in _to_page(page, strokes):
        x, y = stroke[0]
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
        for x2, y2 in stroke[1:]:
            for t in np.linspace(0, 1, 4)[1:]:
                cdp.send("Input.dispatchTouchEvent", {"type": "touchMove",
                                                      "touchPoints": [{"x": x + t * (x2 - x), "y": y + t * (y2 - y)}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def assert_inked(page, strokes) -> None:
    """Every point the pen went through is painted on the pad (a dot too, not only lines)."""
    points = [list(point) for stroke in strokes for point in stroke]
    blank = page.evaluate("""(points) => { const pad = document.getElementById('pad');
        const d = pad.getContext('2d').getImageData(0, 0, pad.width, pad.height).data;
        return points.filter(([x, y]) => d[4 * (Math.round(y) * pad.width + Math.round(x))] > 128); }""", points)
    assert blank == [], f"{len(blank)} of {len(points)} pen positions left unpainted, e.g. {blank[:3]}"


def read_answer(page) -> str:
    """The answer shown once the page has caught up with the drawing."""
    try:
        page.wait_for_function(READY, timeout=15000)
    except playwright_api.TimeoutError:
        state = page.evaluate("() => ({...document.getElementById('result').dataset})")
        raise AssertionError(f"the page never caught up with the drawing: {state}, "
                             f"status {page.inner_text('#status')!r}") from None
    return page.inner_text("#prediction").strip()


def _open(browser, url, **context_options):
    context = browser.new_context(**context_options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # the browser logs every 4xx answer as a failed resource; those are the API's answers, not errors
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "the server responded with a status of 4" not in msg.text else None)
    page.goto(url)
    page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=15000)
    return context, page, errors


def test_drawn_mnist_digits_are_read_with_the_mouse(server, browser, digits):
    context, page, errors = _open(browser, server, viewport={"width": 1280, "height": 900})
    assert "784-100-10" in page.inner_text("#model-line")
    assert page.locator("#bars li").count() == 10
    assert page.locator("#layers .layer:not(.output) .cells span").count() == 100
    # the output layer as cells too, one per class, and a colour legend
    assert page.locator("#layers .layer.output .cells span").all_inner_texts() == [str(d) for d in range(10)]
    assert page.is_visible("#legend .legend-bar") and "relu" in page.inner_text("#legend")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label in (0, 1, 2, 3, 7):
        page.click("#clear") if page.is_enabled("#clear") else None
        assert read_answer(page) == "–"
        strokes = strokes_from_image(digits[label])
        draw_with_mouse(page, strokes)
        assert_inked(page, strokes)
        assert read_answer(page) == str(label), f"drew a {label}"
        # the bar of the answer is the longest, and the prepared image is not blank
        assert page.locator("#bars li.top .name").inner_text() == str(label)
        # every bar's painted width is its probability of the track's width (measured, not a class name)
        assert_bars_filled(page)
        lit = page.evaluate("""() => { const c = document.getElementById('seen');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 128) n++; return n; }""")
        assert lit > 30
        # hidden units light up: cells take different colours, from idle to bright
        shades = page.evaluate("""() => new Set([...document.querySelectorAll('#layers .cells span')]
            .map(s => getComputedStyle(s).backgroundColor)).size""")
        assert shades > 5
        # the output cell of the answer is marked, and hovering a hidden unit shows its 28x28 incoming weights
        assert page.locator("#layers .layer.output .cells span.top").inner_text() == str(label)
        page.hover("#layers .layer:not(.output) .cells span >> nth=17")
        page.wait_for_function("() => document.getElementById('inspector').dataset.key === 'served/1/17'")
        assert page.evaluate("() => [document.getElementById('inspector-canvas').width, "
                             "document.getElementById('inspector-canvas').height]") == [28, 28]
        caption = page.inner_text("#inspector-caption")
        assert "hidden layer 1, unit 17: its 784 weights from the 28x28 input pixels" in caption and "a = " in caption
        colours = page.evaluate("""() => { const c = document.getElementById('inspector-canvas');
            const d = c.getContext('2d').getImageData(0, 0, 28, 28).data; const s = new Set();
            for (let i = 0; i < d.length; i += 4) s.add(d[i] + ',' + d[i + 2]); return s.size; }""")
        assert colours > 50
        if label == 3:
            page.screenshot(path=str(SHOTS / "serve-laptop.png"), full_page=True)
    # Undo removes the last stroke; undoing everything leaves the page blank
    while page.is_enabled("#undo"):
        page.click("#undo")
    assert read_answer(page) == "–"
    assert errors == []
    context.close()


MEASURE_BARS = """() => [...document.querySelectorAll('#bars li')].map(li => [
    li.querySelector('.fill').getBoundingClientRect().width,
    li.querySelector('.track').getBoundingClientRect().width,
    parseFloat(li.querySelector('.pct').textContent)])"""


def assert_bars_filled(page) -> None:
    """Every bar's painted width is its probability of the track's width (they animate for 0.12 s)."""
    try:
        page.wait_for_function(f"() => ({MEASURE_BARS})().every(([f, t, p]) => Math.abs(f - t * p / 100) <= 2)",
                               timeout=5000)
    finally:
        widths = page.evaluate(MEASURE_BARS)
    for fill, track, pct in widths:
        assert abs(fill - track * pct / 100) <= 2, widths
    assert max(widths, key=lambda w: w[0])[2] == max(w[2] for w in widths) > 50


def page_boxes(page) -> list[tuple[float, float, float, float]]:
    """The boxes drawn over the pad, in pad pixels: (left, top, right, bottom)."""
    x0, y0, k = _pad_frame(page)
    rects = page.evaluate("""() => [...document.querySelectorAll('#boxes span')].map(b => {
        const r = b.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")
    return [((l - x0) / k, (t - y0) / k, (r - x0) / k, (b - y0) / k) for l, t, r, b in rects]


def test_a_number_written_with_the_mouse_is_read_digit_by_digit(server, browser, digits):
    context, page, errors = _open(browser, server, viewport={"width": 1280, "height": 900})
    strokes, drawn = number_strokes([digits[2], digits[0], digits[2], digits[6]])
    draw_with_mouse(page, strokes)
    assert_inked(page, strokes)
    assert read_answer(page) == "2026"
    assert page.inner_text("#confidence") == "4 digits"
    # every digit with its confidence and its own 28x28 input
    chips = page.locator("#digits button")
    assert chips.count() == 4
    assert [chips.nth(i).locator(".label").inner_text() for i in range(4)] == ["2", "0", "2", "6"]
    for i in range(4):
        assert float(chips.nth(i).locator(".pct").inner_text().rstrip("%")) > 50
    sizes = page.evaluate("""() => [...document.querySelectorAll('#digits canvas')].map(c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let lit = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 128) lit++; return [c.width, c.height, lit]; })""")
    assert all(w == 28 and h == 28 and lit > 30 for w, h, lit in sizes), sizes
    # a box over each digit, where it was drawn (the boxes hold the ink, which is a stroke wider than the pixels)
    boxes = page_boxes(page)
    assert len(boxes) == 4
    for (l, t, r, b), (dl, dt, dr, db) in zip(boxes, drawn):
        assert abs(l - dl) < 22 and abs(r - dr) < 22 and abs(t - dt) < 22 and abs(b - db) < 22, (boxes, drawn)
    assert page.locator("#boxes span b").all_inner_texts()[1].startswith("0 ")
    # the first digit is on show; pointing at the fourth one on the pad shows the 6 inside the network
    assert page.get_attribute("#result", "data-selected") == "0"
    assert page.locator("#bars li.top .name").inner_text() == "2"
    first_seen = page.evaluate("() => document.getElementById('seen').toDataURL()")
    x0, y0, k = _pad_frame(page)
    l, t, r, b = drawn[3]
    page.mouse.move(x0 + (l + r) / 2 * k, y0 + (t + b) / 2 * k)
    page.wait_for_function("() => document.getElementById('result').dataset.selected === '3'")
    assert page.locator("#bars li.top .name").inner_text() == "6"
    assert page.locator("#layers .layer.output .cells span.top").inner_text() == "6"
    assert page.evaluate("() => document.getElementById('seen').toDataURL()") != first_seen
    assert page.get_attribute("#digits button[data-digit='3']", "aria-pressed") == "true"
    assert "digit 4 of 4" in page.inner_text("#seen-note")
    assert_bars_filled(page)
    # and in the list: the second digit
    page.hover("#digits button[data-digit='1']")
    page.wait_for_function("() => document.getElementById('result').dataset.selected === '1'")
    assert page.locator("#bars li.top .name").inner_text() == "0"
    assert_bars_filled(page)             # the bars follow the new digit (and the screenshot shows them settled)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "number-laptop.png"), full_page=True)
    assert errors == []
    context.close()


def test_drawn_digits_are_read_with_touch_on_a_phone(server, browser, digits):
    context, page, errors = _open(browser, server, viewport={"width": 390, "height": 844}, has_touch=True,
                                  is_mobile=True, device_scale_factor=2)
    cdp = context.new_cdp_session(page)
    # the page fits the phone's width: nothing scrolls sideways, the pad fits on screen
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    box = page.locator("#pad").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["width"] >= 250
    for label in (4, 5, 9):
        if page.is_enabled("#clear"):
            page.tap("#clear")
        strokes = strokes_from_image(digits[label])
        draw_with_touch(page, cdp, strokes)
        assert_inked(page, strokes)
        assert read_answer(page) == str(label), f"drew a {label} by touch"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "serve-phone.png"), full_page=True)
    # a number by touch: the digits' list wraps within the phone's width, the boxes lie over the pad
    page.tap("#clear")
    strokes, drawn = number_strokes([digits[2], digits[0], digits[2], digits[6]])
    draw_with_touch(page, cdp, strokes)
    assert read_answer(page) == "2026"
    assert len(page_boxes(page)) == 4
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    for selector in ("#digits", "#bars", "#seen"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
    assert_bars_filled(page)
    page.screenshot(path=str(SHOTS / "number-phone.png"), full_page=True)
    assert errors == []
    context.close()


def test_uploading_an_image_runs_the_same_path(server, browser, digits, tmp_path):
    from PIL import Image

    # a photo-like upload: dark ink on light paper, larger and off-centre
    ink = np.kron(digits[8], np.ones((9, 9)))
    paper = np.full((400, 330), 235.0)
    paper[60:60 + ink.shape[0], 40:40 + ink.shape[1]] -= 200 * ink
    path = tmp_path / "my eight.png"
    Image.fromarray(paper.clip(0, 255).astype(np.uint8)).save(path)
    context, page, errors = _open(browser, server, viewport={"width": 390, "height": 844}, is_mobile=True)
    page.set_input_files("#upload", str(path))
    assert read_answer(page) == "8"
    status = page.inner_text("#status")
    # the prepared image is below the pad on a phone: the message names the card, not a side
    assert "my eight.png" in status and "What it sees" in status and "right" not in status
    assert page.inner_text("#seen-note").startswith("Your image")
    # the upload is shown on the pad with the box of what was read over it
    page.wait_for_function("() => document.querySelectorAll('#boxes span').length === 1")
    painted = page.evaluate("""() => { const c = document.getElementById('pad');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] < 128) n++; return n; }""")
    assert painted > 500
    # a file that is not an image gets the server's message, and the page keeps working
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not a picture")
    page.set_input_files("#upload", str(bad))
    page.wait_for_function(READY)
    assert "is not a PNG, JPEG" in page.inner_text("#status")
    assert page.inner_text("#prediction").strip() == "–"
    assert errors == []
    context.close()


def _finished(page) -> str:
    page.wait_for_function("() => ['done', 'stopped', 'failed'].includes("
                           "document.getElementById('train-status').dataset.state)", timeout=60000)
    return page.get_attribute("#train-status", "data-state")


def test_training_live_on_the_8x8_digits_stop_and_draw_with_the_new_model(server, browser, digits):
    context, page, errors = _open(browser, server + "#train", viewport={"width": 1280, "height": 900})
    page.wait_for_function("() => document.body.dataset.trainReady === 'true'")
    assert page.is_visible("#train-view") and not page.is_visible("#draw-view")
    assert page.input_value("#f-dataset") == "digits"
    # a run long enough to watch: 64 sigmoid units, per-sample steps, 400 epochs
    page.fill("#f-hidden", "64")
    page.fill("#f-batch", "1")
    page.fill("#f-eta", "0.1")
    page.fill("#f-epochs", "400")
    page.click("#train-button")
    points = "() => Number(document.getElementById('loss-chart').dataset.points || 0)"
    at_least = "(n) => Number(document.getElementById('loss-chart').dataset.points || 0) >= n"
    page.wait_for_function(at_least, arg=3, timeout=30000)
    first = page.evaluate(points)
    page.wait_for_function(at_least, arg=first + 3, timeout=30000)                 # the curves grow
    assert page.is_disabled("#train-button") and page.is_enabled("#stop-button")
    assert page.locator("#weights-grid canvas").count() == 36
    assert page.locator("#samples li").count() == 10
    assert page.locator("#samples li.right").count() + page.locator("#samples li.wrong").count() == 10
    ink = page.evaluate("""() => { const c = document.getElementById('loss-chart');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 150 && d[i] < 100) n++; return n; }""")
    assert ink > 50                                                               # the blue training curve
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "train-laptop-running.png"), full_page=True)
    # a second run is refused while this one trains
    refused = page.evaluate("""async () => { const r = await fetch('/api/train', {method: 'POST',
        headers: {'content-type': 'application/json'}, body: '{}'}); return [r.status, (await r.json()).detail]; }""")
    assert refused[0] == 409 and "one run at a time" in refused[1]
    page.click("#stop-button")
    assert _finished(page) == "stopped"
    stopped_at = page.evaluate(points)
    assert stopped_at < 400 and "stopped after" in page.inner_text("#train-status")
    assert "test accuracy" in page.inner_text("#outcome")
    assert page.is_enabled("#use-button")
    page.wait_for_timeout(500)
    assert page.evaluate(points) == stopped_at                                    # it really stopped
    page.screenshot(path=str(SHOTS / "train-laptop-stopped.png"), full_page=True)
    # the model file downloads
    with page.expect_download() as download:
        page.click("#download-link")
    path = download.value.path()
    import bpnn
    assert bpnn.load(path).network.sizes == [64, 64, 10]
    # use it on the pad at once
    page.click("#use-button")
    page.wait_for_function("() => document.body.dataset.model === 'trained' && !document.getElementById("
                           "'draw-view').hidden")
    assert "64-64-10" in page.inner_text("#model-line")
    assert page.get_attribute("#model-switch button[data-model=trained]", "aria-pressed") == "true"
    assert page.locator("#layers .layer:not(.output) .cells span").count() == 64
    # the pad's answers are the downloaded model's answers on the very inputs the page prepared (8x8)
    answers = []
    page.on("response", lambda r: answers.append(r) if "/api/predict/image?model=trained" in r.url else None)
    trained = bpnn.load(path)
    for label in (0, 1, 3, 7):
        if page.is_enabled("#clear"):
            page.click("#clear")
        strokes = strokes_from_image(digits[label])
        draw_with_mouse(page, strokes)
        assert_inked(page, strokes)
        shown = read_answer(page)
        assert page.evaluate("() => [document.getElementById('seen').width, document.getElementById('seen').height]") \
            == [8, 8]
        body = answers[-1].json()
        assert shown == body["label"]
        assert trained.classes[int(trained.predict(np.array(body["input"]).reshape(1, 64))[0])] == shown
    page.screenshot(path=str(SHOTS / "train-laptop-pad.png"), full_page=True)
    # and back to the served model
    page.click("#model-switch button[data-model=served]")
    page.wait_for_function("() => document.body.dataset.model === 'served'")
    assert read_answer(page) == "7" and "784-100-10" in page.inner_text("#model-line")
    assert errors == []
    context.close()

    # on a phone: the finished run is shown whole, nothing scrolls sideways
    context, page, errors = _open(browser, server + "#train", viewport={"width": 390, "height": 844}, has_touch=True,
                                  is_mobile=True, device_scale_factor=2)
    page.wait_for_function("() => document.body.dataset.trainReady === 'true'")
    page.wait_for_function("(n) => Number(document.getElementById('loss-chart').dataset.points || 0) === n",
                           arg=stopped_at)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    for selector in ("#train-form", "#loss-chart", "#accuracy-chart", "#weights-grid", "#samples"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
    page.screenshot(path=str(SHOTS / "train-phone.png"), full_page=True)
    assert errors == []
    context.close()
