"""``bpnn serve``'s JSON API, in-process, and the server as a process.

The page itself is driven in a real browser in ``test_web_browser.py``.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

import bpnn  # noqa: E402
from bpnn.cli import main  # noqa: E402
from bpnn.predictor import Predictor  # noqa: E402
from bpnn.web import create_app  # noqa: E402
from bpnn.web import server as web_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MNIST = Path(os.environ.get("BPNN_TEST_MNIST", ROOT.parent / "shared" / "data" / "mnist"))
needs_mnist = pytest.mark.skipif(not (MNIST / "t10k-images-idx3-ubyte.gz").exists(),
                                 reason=f"the MNIST files are not in {MNIST}")


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("BPNN_DEBUG", None)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("web") / "digits.safetensors"
    status = main(["train", "--hidden", "32", "--activation", "relu", "--epochs", "40", "--optimizer", "adam",
                   "--eta", "0.003", "--batch-size", "32", "--quiet", "--out", str(path)])
    assert status == 0
    return path


@pytest.fixture(scope="module")
def client(digits_model):
    net = bpnn.load(digits_model)
    app = create_app(Predictor(net), source=digits_model.name, max_body=256 * 1024)
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def digits_test():
    ds = bpnn.datasets.load("digits", validation=0)
    return ds.test.X, ds.test.y


def _png(array01: np.ndarray, scale: int = 1, invert: bool = True) -> bytes:
    """An 8-bit grey PNG of an image in [0, 1] (white ink on black), by default as dark ink on white paper."""
    a = np.asarray(array01, dtype=np.float64)
    grey = np.round((1 - a if invert else a) * 255).astype(np.uint8)
    img = Image.fromarray(grey).resize((grey.shape[1] * scale, grey.shape[0] * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _upload(client, data: bytes, name="digit.png", ctype="image/png"):
    return client.post("/api/predict/image", files={"file": (name, data, ctype)})


# --------------------------------------------------------------------------
# what the API answers
# --------------------------------------------------------------------------
def test_model_info_describes_the_served_file(client, digits_model):
    info = client.get("/api/model").json()
    model = bpnn.load(digits_model)
    summary = model.metadata["training"]["summary"]
    assert info["sizes"] == [64, 32, 10]
    assert [layer["activation"] for layer in info["layers"]] == ["relu", "softmax"]
    assert info["image_shape"] == [8, 8]
    assert info["dataset"] == "digits"
    assert info["test_accuracy"] == pytest.approx(summary["test_accuracy"])
    assert info["n_params"] == model.network.n_params
    assert info["classes"] == [str(i) for i in range(10)]
    assert info["source"] == "digits.safetensors"


def test_predict_from_pixels_equals_the_library(client, digits_model, digits_test):
    """The API's answer, probabilities and hidden activations equal the network's own computation."""
    X, y = digits_test
    model = bpnn.load(digits_model)
    net = model.network
    for i in range(0, 60, 6):
        image = X[i].reshape(8, 8)
        response = client.post("/api/predict", json={"pixels": image.tolist()})
        assert response.status_code == 200, response.text
        body = response.json()
        expected = net.predict_proba(X[i:i + 1].astype(np.float32))[0]
        assert body["index"] == int(expected.argmax())
        assert body["label"] == model.classes[body["index"]]
        np.testing.assert_allclose(body["probabilities"], expected, atol=1e-5)
        assert sum(body["probabilities"]) == pytest.approx(1.0, abs=1e-4)
        # hidden layer: a^1 = relu(x W^1 + b^1), computed here independently in float64
        W, b = net.weights[0].astype(np.float64), net.biases[0].astype(np.float64)
        a1 = np.maximum(X[i].astype(np.float64) @ W + b, 0)
        np.testing.assert_allclose(body["hidden"][0], a1, atol=2e-4)
        np.testing.assert_allclose(body["input"], image, atol=1e-4)
    # flattened input and the data set's own units (0..16) give the same answer
    flat = client.post("/api/predict", json={"pixels": (X[3] * 16).tolist()}).json()
    assert flat["index"] == client.post("/api/predict", json={"pixels": X[3].reshape(8, 8).tolist()}).json()["index"]


def test_uploaded_image_matches_bpnn_predict(client, digits_model, digits_test, tmp_path, capsys):
    """A PNG upload goes through the same preparation as 'bpnn predict' on the same file."""
    X, y = digits_test
    agree = correct = 0
    for i in range(20):
        data = _png(X[i].reshape(8, 8), scale=12)
        path = tmp_path / f"d{i}.png"
        path.write_bytes(data)
        response = _upload(client, data)
        assert response.status_code == 200, response.text
        assert main(["predict", str(digits_model), str(path), "--json"]) == 0
        cli = json.loads(capsys.readouterr().out)
        agree += response.json()["label"] == cli["label"]
        correct += response.json()["label"] == str(y[i])
        np.testing.assert_allclose(response.json()["probabilities"], cli["probabilities"], atol=1e-5)
    assert agree == 20
    assert correct >= 15, f"only {correct}/20 enlarged test digits read correctly"


def test_page_and_static_files_are_served_with_security_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<canvas id="pad"' in page.text and "/static/app.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    for name, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
    # no file outside the page's own folder can be reached
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fserver.py", "/static//etc/passwd"):
        assert client.get(path).status_code == 404, path


def test_openapi_documents_the_api(client):
    spec = client.get("/openapi.json").json()
    assert {"/api/model", "/api/predict", "/api/predict/image"} <= set(spec["paths"])
    assert "413" in spec["paths"]["/api/predict/image"]["post"]["responses"]


# --------------------------------------------------------------------------
# bad requests: a 4xx with a message, never a 500, and the server stays up
# --------------------------------------------------------------------------
def _huge_png() -> bytes:
    img = Image.new("1", (20000, 20000))           # 400 megapixels, a few kB compressed
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


BAD_JSON = [
    ({"pixels": [[0.1, 0.2], [0.3]]}, 422, "different lengths"),
    ({"pixels": "seven"}, 422, "2-d array of numbers"),
    ({"pixels": [[[0.0] * 8] * 8]}, 422, "2-d array of numbers"),
    ({}, 422, "2-d array of numbers"),
    ({"pixels": []}, 422, "empty"),
    ({"pixels": [0.5] * 63}, 422, "neither a picture"),
    ({"pixels": [[0.5] * 8] * 7 + [[float("nan")] * 8]}, 422, "NaN"),
    ({"pixels": [[0.0] * 40] * 40, "prepare": True}, 422, "no digit found"),
    ({"pixels": [[0.5] * 8] * 7}, 422, "the expected shape is 8x8"),
    ({"pixels": [[0.0] * 8] * 8, "prepare": True}, 422, "no digit found"),
]


@pytest.mark.parametrize("body,status,fragment", BAD_JSON)
def test_bad_arrays_are_refused_clearly(client, body, status, fragment):
    text = json.dumps(body).replace("NaN", "NaN")
    response = client.post("/api/predict", content=text, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]
    assert client.get("/api/model").status_code == 200


@pytest.mark.parametrize("data,status,fragment", [
    (b"", 422, "empty"),
    (b"this is not a picture", 415, "is not a PNG, JPEG"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 50, 415, "is not a PNG, JPEG"),
    ("truncated", 422, "damaged or truncated"),
    ("blank", 422, "no digit found"),
    ("bomb", 413, "decompression bomb"),
])
def test_bad_uploads_are_refused_clearly(client, data, status, fragment):
    if data == "truncated":
        data = _png(np.eye(8), scale=30)[:300]
    elif data == "blank":
        data = _png(np.zeros((50, 50)))
    elif data == "bomb":
        data = _huge_png()
    response = _upload(client, data)
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]
    assert client.get("/api/model").status_code == 200


def test_malformed_requests_say_what_to_send(client):
    response = client.post("/api/predict/image", data={"other": "x"})
    assert response.status_code == 422 and "file part named 'file'" in response.json()["detail"]
    response = client.post("/api/predict/image", data={"file": "not a file"})
    assert response.status_code == 422 and "file part named 'file'" in response.json()["detail"]
    assert client.get("/api/predict").status_code == 405
    response = client.post("/api/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "not valid JSON" in response.json()["detail"]
    response = client.post("/api/predict", content=b"0,0,1", headers={"content-type": "text/plain"})
    assert response.status_code == 422 and "Content-Type: application/json" in response.json()["detail"]
    response = client.post("/api/predict", json={"pixels": [[0.0] * 8] * 8, "prepare": "yes"})
    assert response.status_code == 422 and "true or false" in response.json()["detail"]
    assert client.head("/").status_code == 200


def test_formats_pillow_would_hand_to_other_programs_are_refused(client):
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\n"
    response = _upload(client, eps, "digit.eps", "application/postscript")
    assert response.status_code == 415 and "is not a PNG, JPEG" in response.json()["detail"]


def test_a_large_photo_is_read_at_a_working_size(digits_model, digits_test):
    """A 14-megapixel photo-sized upload is shrunk while decoding and still read right; 18 MP is refused."""
    from bpnn.web.app import DEFAULT_MAX_PIXELS

    X, y = digits_test
    app = create_app(Predictor(bpnn.load(digits_model), max_pixels=DEFAULT_MAX_PIXELS))
    big = np.kron(X[5].reshape(8, 8), np.ones((400, 400)))            # 3200x3200 (dark ink on white in the PNG)
    with TestClient(app) as c:
        response = _upload(c, _png(np.pad(big, ((400, 400), (600, 600)))))     # 4000x4400 = 17.6 MP
        assert response.status_code == 413 and "16,000,000 pixels" in response.json()["detail"]
        data = _png(np.pad(big, ((200, 200), (300, 300))))                     # 3600x3800 = 13.7 MP
        response = _upload(c, data)
        assert response.status_code == 200, response.text
        assert response.json()["label"] == str(y[5])
    from bpnn.imageprep import WORK_SIZE, read_image_bytes

    assert max(read_image_bytes(data).shape) == WORK_SIZE


def test_models_with_other_outputs_and_flat_inputs(tmp_path):
    """A bare network (no model file), flat 10-value inputs and a tanh output: probabilities stay a distribution."""
    net = bpnn.Network([10, 8, 3], activation="tanh", cost="quadratic", seed=1)
    with TestClient(create_app(Predictor(net))) as c:
        info = c.get("/api/model").json()
        assert info["image_shape"] == [10] and info["classes"] == ["0", "1", "2"]
        response = c.post("/api/predict", json={"pixels": [0.1 * i for i in range(10)]})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["input"] == [[pytest.approx(0.1 * i, abs=1e-4) for i in range(10)]]
        assert min(body["probabilities"]) >= 0 and sum(body["probabilities"]) == pytest.approx(1, abs=1e-5)
        outputs = net.feedforward(np.arange(10, dtype=np.float32)[None] * 0.1)[0]
        assert body["index"] == int(np.argmax(outputs))


def test_body_over_the_limit_is_refused_before_it_is_read(client):
    big = b"\0" * (300 * 1024)                       # the fixture's limit is 256 KiB
    response = _upload(client, big)
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    # also when the body comes in chunks without a Content-Length
    response = client.post("/api/predict", content=(b"x" * 65536 for _ in range(5)),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    # a client asking first (Expect: 100-continue) is answered without sending anything
    response = client.post("/api/predict/image", content=big, headers={
        "content-type": "multipart/form-data; boundary=x", "expect": "100-continue"})
    assert response.status_code == 413
    assert client.get("/api/model").status_code == 200


def test_pixel_limit_is_checked_before_decoding(digits_model):
    app = create_app(Predictor(bpnn.load(digits_model), max_pixels=10_000))
    with TestClient(app) as c:
        response = _upload(c, _png(np.zeros((120, 120))))
        assert response.status_code == 413
        assert "pixels are refused" in response.json()["detail"]
        response = c.post("/api/predict", json={"pixels": [[0.0] * 120] * 120})
        assert response.status_code == 413


# --------------------------------------------------------------------------
# the server as a process
# --------------------------------------------------------------------------
def _start(args, **env):
    process = subprocess.Popen([sys.executable, "-m", "bpnn", "serve", *map(str, args)], env=_env(**env),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process


def _address(process) -> str:
    for _ in range(50):
        line = process.stdout.readline()
        if not line:
            break
        if " at http://" in line:
            return line.split(" at ", 1)[1].split(" ", 1)[0]
    process.kill()
    raise AssertionError(f"the server printed no address: {process.stderr.read()}")


def _stop(process) -> tuple[int, str, str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    return process.returncode, out, err


def test_serve_prints_its_address_answers_and_stops_cleanly_on_ctrl_c(digits_model):
    import httpx

    process = _start([digits_model, "--port", "0"])
    url = _address(process)
    assert url.startswith("http://127.0.0.1:")
    assert httpx.get(url + "api/model", timeout=10).json()["sizes"] == [64, 32, 10]
    assert "<canvas" in httpx.get(url, timeout=10).text
    status, out, err = _stop(process)
    assert status == 0, err
    assert "server stopped" in out
    assert "Traceback" not in err


def test_serve_warns_when_listening_beyond_loopback(digits_model):
    process = _start([digits_model, "--host", "0.0.0.0", "--port", "0"])
    _address(process)
    status, _, err = _stop(process)
    assert status == 0
    assert "warning: listening on 0.0.0.0" in err and "--host 127.0.0.1" in err


def test_serve_errors_are_one_line(digits_model, tmp_path, capsys):
    assert main(["serve", str(tmp_path / "missing.safetensors")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such model file" in err and "bpnn train --out" in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", str(digits_model), "--port", str(port)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"port {port}" in err and "--port" in err
    tampered = tmp_path / "tampered.safetensors"
    data = bytearray(digits_model.read_bytes())
    data[-10] ^= 0xFF
    tampered.write_bytes(bytes(data))
    assert main(["serve", str(tampered), "--port", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and ("damaged" in err or "tampered" in err), err


def test_without_a_model_a_quick_digits_model_is_trained_once(tmp_path, monkeypatch):
    """No MNIST on the machine: the quick model reads 8x8 digits; the second call reuses the file."""
    monkeypatch.setenv("BPNN_MODEL_DIR", str(tmp_path / "models"))
    said: list[str] = []
    empty = tmp_path / "no-data"
    empty.mkdir()
    path = web_server.default_model(data_dir=str(empty), say=said.append)
    assert path.parent == tmp_path / "models" and "digits" in path.name
    model = bpnn.load(path)
    assert model.network.sizes[0] == 64
    assert model.metadata["training"]["summary"]["test_accuracy"] >= 0.93
    assert any("MNIST is not on this machine" in s for s in said)
    stamp = path.stat().st_mtime_ns
    said.clear()
    assert web_server.default_model(data_dir=str(empty), say=said.append) == path
    assert path.stat().st_mtime_ns == stamp and "serving the quick digits model" in said[0]


@needs_mnist
def test_without_a_model_mnist_is_preferred_when_present(tmp_path, monkeypatch):
    monkeypatch.setenv("BPNN_MODEL_DIR", str(tmp_path / "models"))
    path = web_server.default_model(data_dir=str(MNIST.parent), say=lambda s: None)
    model = bpnn.load(path)
    assert model.network.sizes == [784, 100, 10]
    assert model.metadata["training"]["summary"]["test_accuracy"] >= 0.96


# --------------------------------------------------------------------------
# a written number, read digit by digit (a model of 28x28 digits)
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def number_client(number_model):
    app = create_app(Predictor(bpnn.load(number_model)), source="mnist.safetensors", training=False)
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def year(composer, mnist_test, sure_digits):
    """2026 written with MNIST test digits: the picture and the digits' boxes."""
    X, _ = mnist_test
    rng = np.random.default_rng(41)
    index = [int(rng.choice(sure_digits[d])) for d in (2, 0, 2, 6)]
    return composer.compose([X[i] for i in index], rng, "separate", rotate=False, boxes=True)


def _png_grey(grey: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(grey, dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_both_routes_read_a_number_digit_by_digit(number_client, year):
    grey, boxes = year
    answers = [_upload(number_client, _png_grey(grey)),
               number_client.post("/api/predict", json={"pixels": grey.tolist(), "prepare": True})]
    for response in answers:
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["label"] == "2026" and body["segmented"]
        assert body["size"] == {"width": grey.shape[1], "height": grey.shape[0]}
        assert [d["label"] for d in body["digits"]] == ["2", "0", "2", "6"]
        for digit, (top, left, bottom, right) in zip(body["digits"], boxes):
            b = digit["box"]
            assert abs(b["x"] - left) <= 4 and abs(b["y"] - top) <= 4, (b, (top, left, bottom, right))
            assert abs(b["x"] + b["width"] - right) <= 4 and abs(b["y"] + b["height"] - bottom) <= 4
            assert digit["line"] == 0 and digit["classes"] == [str(d) for d in range(10)]
            assert np.array(digit["input"]).shape == (28, 28) and len(digit["hidden"]) == 1
            assert len(digit["hidden"][0]) == 128 and len(digit["output"]) == 10
            assert digit["index"] == int(digit["label"]) and abs(sum(digit["probabilities"]) - 1) < 1e-4
        # the top-level fields of one digit are the first digit's: clients of a single digit are unchanged
        first = body["digits"][0]
        assert all(body[key] == first[key] for key in ("index", "probabilities", "input", "hidden", "output"))
    assert answers[0].json()["digits"] == answers[1].json()["digits"]


def test_single_mode_and_prepared_inputs_are_one_item(number_client, year, mnist_test):
    grey, _ = year
    body = number_client.post("/api/predict/image?single=true",
                              files={"file": ("year.png", _png_grey(grey), "image/png")}).json()
    assert not body["segmented"] and len(body["digits"]) == 1 and len(body["label"]) == 1
    X, y = mnist_test
    body = number_client.post("/api/predict", json={"pixels": X[0].tolist()}).json()
    assert not body["segmented"] and body["label"] == body["digits"][0]["label"]
    assert body["digits"][0]["box"] == {"x": 0, "y": 0, "width": 28, "height": 28}
    assert body["size"] == {"width": 28, "height": 28}


def test_a_picture_with_too_many_digits_gets_422(number_client, composer, mnist_test):
    X, y = mnist_test
    rng = np.random.default_rng(43)
    digits, _ = composer.draw(X, y, rng, 36)
    grey = composer.compose(digits, rng, "separate", rotate=False)
    scale = min(1.0, 1024 / max(grey.shape))
    small = Image.fromarray(grey).resize((round(grey.shape[1] * scale), round(grey.shape[0] * scale)))
    buf = io.BytesIO()
    small.save(buf, "PNG")
    response = _upload(number_client, buf.getvalue(), name="long.png")
    assert response.status_code == 422
    assert "more than 32 digits" in response.json()["detail"] and "crop the image" in response.json()["detail"]
    blank = _upload(number_client, _png_grey(np.full((50, 120), 240)))
    assert blank.status_code == 422 and blank.json()["detail"].startswith("the uploaded file: no digit found")


def test_openapi_documents_the_digits(number_client):
    spec = number_client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"digits", "size", "segmented", "label"} <= set(schemas["PredictionOut"]["properties"])
    assert {"box", "line", "label", "probabilities", "input", "hidden"} <= set(schemas["DigitOut"]["properties"])
    assert set(schemas["BoxOut"]["properties"]) == {"x", "y", "width", "height"}
    assert "2026" in schemas["PredictionOut"]["properties"]["label"]["description"]
    for path in ("/api/predict", "/api/predict/image"):
        params = {p["name"] for p in spec["paths"][path]["post"]["parameters"]}
        assert {"single", "model"} <= params
