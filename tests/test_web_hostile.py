"""``bpnn serve``'s JSON API against hostile input: malformed bodies and many large bodies at once.

Property-based (Hypothesis) tests send generated bodies through FastAPI's
TestClient and accept only a 200 with a prediction or a 4xx with a JSON
``detail``, never a 500; where the rules decide the answer (shape, value
types and range) they check it exactly.  One test sends 60 maximal bodies at
once to a real ``bpnn serve`` process and reads its peak memory (VmHWM).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
hypothesis = pytest.importorskip("hypothesis")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import bpnn  # noqa: E402
from bpnn.predictor import Predictor  # noqa: E402
from bpnn.web import create_app  # noqa: E402
from bpnn.web.app import BodyLimit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024
FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def fast(max_examples: int) -> settings:
    return settings(FAST, max_examples=max_examples)


def _save(net, path: Path, side: int, scale: float) -> Path:
    bpnn.save(net, path, preprocessing={"scale": scale, "image_shape": [side, side]})
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    digits = bpnn.Network([64, 16, 10], activation="relu", output_activation="softmax", cost="cross_entropy",
                          seed=0)
    mnist = bpnn.Network([784, 16, 10], activation="relu", output_activation="softmax", cost="cross_entropy",
                         seed=0)
    return {"digits": _save(digits, folder / "digits.safetensors", 8, 16.0),
            "mnist": _save(mnist, folder / "mnist.safetensors", 28, 255.0)}


@pytest.fixture(scope="module")
def client(models):
    """A digits-shaped model (8x8 inputs, data set units 0..16) behind a 256 KiB body limit."""
    with TestClient(create_app(Predictor(bpnn.load(models["digits"])), max_body=256 * 1024)) as c:
        yield c


@pytest.fixture(scope="module")
def mnist_client(models):
    with TestClient(create_app(Predictor(bpnn.load(models["mnist"])))) as c:
        yield c


def _post(client, body: bytes | str, content_type: str | None = "application/json"):
    headers = {"content-type": content_type} if content_type is not None else {}
    return client.post("/api/predict", content=body.encode() if isinstance(body, str) else body, headers=headers)


def _answered(response) -> int:
    """A prediction, or a 4xx whose JSON body has a non-empty ``detail`` string; never a 5xx."""
    status = response.status_code
    assert status < 500, (status, response.text[:500])
    if status == 200:
        body = response.json()
        assert set(body) >= {"label", "index", "probabilities", "input", "hidden"}
        assert all(math.isfinite(p) for p in body["probabilities"])
    else:
        assert 400 <= status < 500, (status, response.text[:500])
        assert response.headers["content-type"].startswith("application/json"), response.headers
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail, response.text[:500]
    return status


# --------------------------------------------------------------------------
# generated bodies
# --------------------------------------------------------------------------
def _dumps(value) -> str:
    return json.dumps(value, allow_nan=True)         # NaN, Infinity and -Infinity as JavaScript writes them


json_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=10 ** 300, max_value=10 ** 400)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=5))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=6)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=40)

# numbers and things in place of numbers, as JSON text (some of them not JSON at all)
TOKENS = ["0", "1", "0.5", "16", "-0", "1E1", "1e-300", "-5", "17", "256", "1e308", "-1e308", "1e999", "NaN",
          "Infinity", "-Infinity", "true", "false", "null", '"0.5"', '""', "[]", "{}", "[0.5]", "9" * 5000,
          "01", ".5", "5.", "+1", "0x10", "1_0", "nan", "inf", "--1", "1e", "[", "]", ",", ""]


@st.composite
def arrays_text(draw) -> tuple[str, tuple[int, ...], list[str], bool]:
    """A flat or 2-d array of tokens (mostly numbers), its shape, the tokens and ``prepare``."""
    rows = draw(st.sampled_from([None, None, 8, 8, 1, 7, 9, 0, 2, 16]) | st.integers(0, 20))
    cols = draw(st.sampled_from([8, 8, 64, 63, 65, 1, 0, 7, 9]) | st.integers(0, 30))
    n = cols if rows is None else rows * cols
    number = st.sampled_from(["0", "0.25", "1", "0.5", "16", "3"]) | st.floats(0, 16).map(repr)
    tokens = draw(st.lists(number, min_size=n, max_size=n))
    for _ in range(draw(st.integers(0, 2))):
        if tokens:
            tokens[draw(st.integers(0, len(tokens) - 1))] = draw(st.sampled_from(TOKENS))
    if rows is None:
        text = "[" + ",".join(tokens) + "]"
        shape: tuple[int, ...] = (cols,)
    else:
        text = "[" + ",".join("[" + ",".join(tokens[r * cols:(r + 1) * cols]) + "]" for r in range(rows)) + "]"
        shape = (rows, cols)
    return text, shape, tokens, draw(st.booleans())


def _number(token: str) -> float | None:
    """The token's value if it is a JSON number, else None."""
    try:
        value = json.loads(token, parse_constant=lambda name: None)
    except ValueError:
        return None
    return float(value) if type(value) in (int, float) else None


@fast(120)
@given(arrays_text())
def test_arrays_get_exactly_the_answer_the_rules_give(client, case):
    """Right shape, JSON numbers, 0..16: a prediction. Anything else: 422, naming the shape when that is wrong."""
    text, shape, tokens, prepare = case
    response = _post(client, '{"pixels": ' + text + (', "prepare": true}' if prepare else "}"))
    status = _answered(response)
    values = [_number(t) for t in tokens]
    numbers = all(v is not None for v in values)
    if not numbers or len(shape) == 2 and shape[1] == 0 or not tokens:
        assert status == 422, response.text[:300]
        return
    top = 255 if prepare else 16
    in_range = all(0 <= v <= top for v in values) and all(math.isfinite(v) for v in values)
    if prepare:
        if len(shape) != 2:
            assert status == 422 and "2-d" in response.json()["detail"]
        elif not in_range:
            assert status == 422 and "from 0 to 255" in response.json()["detail"]
        else:
            assert status in (200, 422)          # 422 when the picture holds no digit
        return
    if shape not in ((8, 8), (64,)):
        assert status == 422, response.text[:300]
        assert "8x8" in response.json()["detail"] and "64" in response.json()["detail"]
    elif not in_range:
        assert status == 422 and "from 0 to 16" in response.json()["detail"], response.text[:300]
    else:
        assert status == 200, response.text[:300]
        expected = np.clip(np.array(values, dtype=np.float64).reshape(8, 8), 0, 16)
        expected = expected / 16 if expected.max() > 1 else expected
        np.testing.assert_allclose(response.json()["input"], expected, atol=2e-4)


@fast(150)
@given(pixels=json_values, prepare=st.none() | json_values, extra=st.dictionaries(st.text(max_size=4), json_values,
                                                                                   max_size=2))
def test_any_json_value_as_pixels_is_answered(client, pixels, prepare, extra):
    body = {**extra, "pixels": pixels}
    if prepare is not None:
        body["prepare"] = prepare
    status = _answered(_post(client, _dumps(body)))
    if not isinstance(prepare, (bool, type(None))) and status != 413:
        assert status == 422


@fast(120)
@given(top=json_values)
def test_any_json_document_is_answered(client, top):
    response = _post(client, _dumps(top))
    if _answered(response) != 200 and not isinstance(top, dict):
        assert response.status_code == 422


@fast(80)
@given(case=arrays_text(), cut=st.integers(0, 10 ** 6), junk=st.binary(max_size=8), how=st.sampled_from(
    ["truncate", "insert", "replace", "wrap"]))
def test_damaged_bodies_are_answered(client, case, cut, junk, how):
    text = ('{"pixels": ' + case[0] + "}").encode()
    at = cut % (len(text) + 1)
    if how == "truncate":
        body = text[:at]
    elif how == "insert":
        body = text[:at] + junk + text[at:]
    elif how == "replace":
        body = text[:at] + junk + text[at + len(junk):]
    else:
        body = b'{"pixels": ' + text + b"}"
    _answered(_post(client, body))


@fast(60)
@given(depth=st.integers(1, 6000), kind=st.sampled_from(["[", '{"a":', '{"pixels":', '{"pixels": [']))
def test_deep_nesting_is_refused(client, depth, kind):
    closing = {"[": "]", '{"a":': "}", '{"pixels":': "}", '{"pixels": [': "]}"}[kind]
    inner = "[0.5]" if kind != "[" else "0.5"
    status = _answered(_post(client, kind * depth + inner + closing * depth))
    assert status == 422


@fast(120)
@given(data=st.binary(max_size=3000), content_type=st.sampled_from(
    [None, "application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
     "application/xml", "image/png", "application/json; charset=utf-16", "application/problem+json", "",
     "application/octet-stream", "text/json", "application/json\x7f"]))
def test_any_bytes_with_any_content_type_are_answered(client, data, content_type):
    response = _post(client, data, content_type)
    status = _answered(response)
    if content_type and content_type.split(";")[0].strip() not in ("application/json", "application/problem+json"):
        assert status == 422 and "Content-Type: application/json" in response.json()["detail"]


@fast(40)
@given(data=st.binary(max_size=2000), name=st.text(max_size=20), content_type=st.text(max_size=30))
def test_any_bytes_as_an_upload_are_answered(client, data, name, content_type):
    _answered(client.post("/api/predict/image", files={"file": (name or "x", data, content_type or "x/y")}))


# --------------------------------------------------------------------------
# the examples, and the limits
# --------------------------------------------------------------------------
@pytest.mark.parametrize("value,fragment", [
    (-5, "from 0 to 255"), (1e308, "from 0 to 255"), ("1e999", "too large"), (256, "from 0 to 255"),
    (True, "not true and false"), ("\"0.5\"", "not strings"), (None, "not null"), ("NaN", "NaN"),
    ("Infinity", "Infinity"), ("-Infinity", "Infinity"), ("[0.5]", "2-d array of numbers"),
])
def test_one_bad_value_in_a_28x28_array_is_refused(mnist_client, value, fragment):
    rows = [[0.5] * 28 for _ in range(28)]
    text = json.dumps({"pixels": rows}).replace("0.5", "@", 1).replace("@", value if isinstance(value, str)
                                                                          else json.dumps(value))
    response = _post(mnist_client, text)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"], response.json()["detail"]


@pytest.mark.parametrize("shape", [(27, 28), (28, 27), (29, 28), (783,), (785,), (1, 784), (784, 1), (2, 784)])
def test_wrong_shapes_are_refused_naming_the_expected_one(mnist_client, shape):
    response = mnist_client.post("/api/predict", json={"pixels": np.full(shape, 0.5).tolist()})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "28x28" in detail and "784" in detail and "prepare" in detail, detail
    for good in ((28, 28), (784,)):
        assert mnist_client.post("/api/predict", json={"pixels": np.full(good, 0.5).tolist()}).status_code == 200
    # a picture of another size is prepared when asked to be
    picture = np.zeros((27, 28))
    picture[5:22, 12:16] = 200
    response = mnist_client.post("/api/predict", json={"pixels": picture.tolist(), "prepare": True})
    assert response.status_code == 200, response.text


def test_pictures_are_bounded_before_and_after_decoding(mnist_client):
    response = _post(mnist_client, '{"pixels": [' + ",".join(["[0]"] * 2000) + '], "prepare": true}')
    assert response.status_code == 422 and "more than 1024 rows" in response.json()["detail"]
    response = _post(mnist_client, '{"pixels": [[' + ",".join(["0"] * 1025) + '], [' + ",".join(["0"] * 1025)
                     + ']], "prepare": true}')
    assert response.status_code == 422 and "at most 1024x1024" in response.json()["detail"]
    response = _post(mnist_client, '{"pixels": [' + ",".join(['"ab"'] * 100) + "]}")
    assert response.status_code == 422 and "must be numbers" in response.json()["detail"]


def test_openapi_still_documents_the_body(mnist_client):
    spec = mnist_client.get("/openapi.json").json()
    post = spec["paths"]["/api/predict"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"pixels", "prepare"} and schema["required"] == ["pixels"]
    flat = next(s for s in schema["properties"]["pixels"]["anyOf"] if s["items"].get("type") == "number")
    assert flat["items"]["minimum"] == 0 and flat["items"]["maximum"] == 255
    assert {"413", "422"} <= set(post["responses"])


# --------------------------------------------------------------------------
# the body budget: requests wait unread, or get 503 / 408
# --------------------------------------------------------------------------
def _asgi_post(middleware, body: bytes, stall: bool = False):
    """Run one POST through ``middleware``; returns (status, detail) once it answers."""
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        if stall:
            await asyncio.sleep(3600)
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x",
             "headers": [(b"content-length", str(len(body)).encode())]}

    async def run():
        await middleware(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return start["status"], json.loads(text)["detail"] if text.startswith(b"{") else text
    return run()


def test_requests_beyond_the_body_budget_wait_then_get_503_and_slow_bodies_408():
    async def scenario():
        gate = asyncio.Event()

        async def app(scope, receive, send):
            message = await receive()
            if message["body"].startswith(b"x"):
                await gate.wait()                          # the first request holds its 100 bytes
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        middleware = BodyLimit(app, max_bytes=100, max_buffered=150, queue_timeout=0.3, body_timeout=0.3)
        first = asyncio.ensure_future(_asgi_post(middleware, b"x" * 100))
        await asyncio.sleep(0.05)
        assert middleware.budget.used == 100
        assert await _asgi_post(middleware, b"y" * 50) == (200, b"ok")          # fits beside it
        waited = await _asgi_post(middleware, b"z" * 100)                        # does not: waits, then 503
        assert waited[0] == 503 and "busy" in waited[1]
        late = asyncio.ensure_future(_asgi_post(middleware, b"w" * 100))
        await asyncio.sleep(0.05)
        assert not late.done()
        gate.set()                                          # the first one finishes: the waiting one goes in
        assert await first == (200, b"ok")
        assert await late == (200, b"ok")
        stalled = await _asgi_post(middleware, b"v" * 10, stall=True)
        assert stalled[0] == 408 and "did not arrive" in stalled[1]
        assert middleware.budget.used == 0 and not middleware.budget._waiters

    asyncio.run(asyncio.wait_for(scenario(), 20))


# --------------------------------------------------------------------------
# 60 maximal bodies at once against a real server
# --------------------------------------------------------------------------
def _kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _max_body(limit: int) -> bytes:
    """The costliest valid body under ``limit`` bytes: a picture to prepare of up to 1024x1024 numbers
    written as ``0.1`` (a new float object each when decoded), with a stroke of ``1``s."""
    side = min(1024, int((limit / 4) ** 0.5))
    ink = np.zeros((side, side), dtype=bool)
    ink[side // 4:side * 3 // 4, side * 3 // 8:side * 3 // 8 + side // 25] = True     # a '7'
    ink[side // 4:side // 4 + side // 25, side * 3 // 8:side * 5 // 8] = True
    rows = ["[" + ",".join("1" if v else "0.1" for v in row) + "]" for row in ink]
    text = '{"pixels": [' + ",".join(rows) + '], "prepare": true}'
    while len(text) > limit:                                       # swap "0.1" for "0" until it fits
        text = text.replace("0.1,", "0,", (len(text) - limit) // 2 + 1)
    return text.encode()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's memory from /proc")
def test_sixty_maximal_bodies_at_once_keep_the_server_memory_bounded(models):
    import httpx

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # a 2 MiB body limit (the default is 4) keeps the test short: 60 costliest bodies take ~8 s, not ~16
    process = subprocess.Popen([sys.executable, "-m", "bpnn", "serve", str(models["mnist"]), "--port", "0",
                                "--max-upload-mb", "2"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for _ in range(50):
            line = process.stdout.readline()
            if " at http://" in line:
                url = line.split(" at ", 1)[1].split(" ", 1)[0]
                break
        assert url, process.stderr.read() if process.poll() is not None else "no address printed"
        threading.Thread(target=process.stdout.read, daemon=True).start()
        body = _max_body(2 * MiB - 1024)
        assert len(body) > 2 * MiB - 64 * 1024
        warm = httpx.post(url + "api/predict", json={"pixels": [[0.0] * 28] * 28}, timeout=30)
        assert warm.status_code == 200, warm.text
        pid = process.pid
        before = _kb(pid, "VmRSS") / 1024
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")                                       # VmHWM from here on
        except OSError:
            pass

        async def burst():
            limits = httpx.Limits(max_connections=60)
            async with httpx.AsyncClient(timeout=120, limits=limits) as c:
                return await asyncio.gather(*(c.post(url + "api/predict", content=body,
                                                     headers={"content-type": "application/json"})
                                              for _ in range(60)))

        t0 = time.monotonic()
        responses = asyncio.run(burst())
        seconds = time.monotonic() - t0
        peak = _kb(pid, "VmHWM") / 1024
        after = _kb(pid, "VmRSS") / 1024
        statuses = sorted({r.status_code for r in responses})
        print(f"\n60 bodies of {len(body) / MiB:.2f} MiB in {seconds:.1f} s; server RSS before {before:.0f} MB, "
              f"peak {peak:.0f} MB, after {after:.0f} MB; statuses {statuses}")
        assert statuses == [200], [r.text[:200] for r in responses if r.status_code != 200][:3]
        assert peak - before < 250, f"peak RSS {peak:.0f} MB from {before:.0f} MB"
        assert after - before < 150, f"RSS stayed at {after:.0f} MB from {before:.0f} MB"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
