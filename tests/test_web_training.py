"""Training from the page, through the API: one run at a time, bounded, streamed, stoppable, usable.

The page itself is driven in Chromium in ``test_web_browser.py``.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

import bpnn  # noqa: E402
from bpnn.predictor import Predictor, class_probabilities  # noqa: E402
from bpnn.web import create_app  # noqa: E402
from bpnn.web.training import Limits, TrainingManager  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MNIST = Path(os.environ.get("BPNN_TEST_MNIST", ROOT.parent / "shared" / "data" / "mnist"))

#: a run long enough to be caught under way (digits, per-sample steps: about 0.05 s an epoch)
LONG = {"hidden": [64], "batch_size": 1, "epochs": 400, "eta": 0.05}


@pytest.fixture()
def client():
    net = bpnn.Network([64, 16, 10], seed=0)
    app = create_app(Predictor(net), source="served.safetensors",
                     training=TrainingManager(mnist_available=lambda: False))
    with TestClient(app) as c:
        yield c
        trainer = app.state.training
        if trainer.busy:
            trainer.stop()


def events(client, until=("done", "stopped", "failed"), limit=60.0):
    """The event stream as (kind, data) pairs, up to the status that ends a run."""
    seen, kind, started = [], None, time.monotonic()
    with client.stream("GET", "/api/train/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                seen.append((kind, data))
                status = data.get("status") if kind in ("status", "state") else None
                if status in until and (kind == "status" or data.get("run")):
                    break
            assert time.monotonic() - started < limit, "the run did not end in time"
    return seen


def wait_for(client, condition, limit=30.0):
    started = time.monotonic()
    while time.monotonic() - started < limit:
        state = client.get("/api/train").json()["state"]
        if condition(state):
            return state
        time.sleep(0.05)
    raise AssertionError(f"timed out; state {state['status']}, epoch {state.get('epoch')}")


def test_a_run_streams_its_epochs_and_its_model_is_usable_and_downloadable(client, tmp_path):
    options = client.get("/api/train").json()["options"]
    assert [d["name"] for d in options["datasets"]] == ["digits", "mnist-subset", "mnist"]
    assert [d["available"] for d in options["datasets"]] == [True, False, False]
    assert client.get("/api/model?model=trained").status_code == 404
    response = client.post("/api/train", json={"hidden": [24], "epochs": 12, "seed": 3})
    assert response.status_code == 202 and response.json()["status"] in ("loading", "running")
    stream = events(client)
    kinds = [k for k, _ in stream]
    assert kinds[0] == "state"
    epochs = [d for k, d in stream if k == "epoch" and d["record"]]
    assert [d["record"]["epoch"] for d in epochs] == list(range(1, 13))
    assert all(0 <= d["record"]["val_accuracy"] <= 1 and d["record"]["loss"] > 0 for d in epochs)
    assert epochs[-1]["record"]["val_accuracy"] > 0.85
    weights = epochs[-1]["weights"]
    assert weights["units"] == 24 and weights["shape"] == [8, 8]
    import base64
    assert len(base64.b64decode(weights["data"])) == 24 * 64
    assert len(epochs[-1]["predictions"]) == 10 and epochs[-1]["health"]["epoch"] == 12
    running = next(d for k, d in stream if k == "status" and d["status"] == "running")
    assert running["samples"]["labels"] == [str(c) for c in range(10)]
    done = stream[-1][1]
    assert done["status"] == "done" and done["result"]["epochs_run"] == 12
    # the model: on the pad at once, as a file that bpnn.load reads back
    info = client.get("/api/model?model=trained").json()
    assert info["sizes"] == [64, 24, 10] and info["source"] == "trained on this page"
    assert client.get("/api/model").json()["sizes"] == [64, 16, 10]          # the served one is unchanged
    ds = bpnn.datasets.load("digits", validation=0)
    x = ds.test.X[7]
    answer = client.post("/api/predict?model=trained", json={"pixels": x.tolist()}).json()
    download = client.get("/api/train/model")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    path = tmp_path / "trained.safetensors"
    path.write_bytes(download.content)
    model = bpnn.load(path)
    assert model.network.sizes == [64, 24, 10]
    np.testing.assert_allclose(answer["output"], model.predict_proba(x[None])[0], atol=1e-5)
    np.testing.assert_allclose(answer["probabilities"], class_probabilities(model.predict_proba(x[None]), "sigmoid")[0],
                               atol=1e-5)
    assert model.summary["test_accuracy"] == done["result"]["test_accuracy"]
    # the same seed gives the same run
    client.post("/api/train", json={"hidden": [24], "epochs": 12, "seed": 3})
    again = events(client)
    assert [d["record"]["loss"] for k, d in again if k == "epoch" and d["record"]] == \
           [d["record"]["loss"] for d in epochs]


def test_one_run_at_a_time_and_stop_ends_it_with_a_usable_model(client):
    results = list(ThreadPoolExecutor(4).map(lambda _: client.post("/api/train", json=LONG), range(4)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [202, 409, 409, 409]
    refused = next(r for r in results if r.status_code == 409).json()["detail"]
    assert "already under way" in refused and "one run at a time" in refused
    wait_for(client, lambda s: s.get("epoch", 0) >= 2)
    # the server stays responsive while it trains
    started = time.monotonic()
    for _ in range(5):
        assert client.post("/api/predict", json={"pixels": [0.5] * 64}).status_code == 200
        assert client.get("/api/model").status_code == 200
    assert (time.monotonic() - started) / 10 < 0.5
    assert client.post("/api/train/stop").json()["status"] == "stopping"
    state = wait_for(client, lambda s: s["status"] in ("stopped", "done", "failed"))
    assert state["status"] == "stopped" and state["result"]["epochs_run"] < LONG["epochs"]
    assert state["model_ready"] and "stopped after" in state["message"]
    assert client.post("/api/predict?model=trained", json={"pixels": [0.5] * 64}).status_code == 200
    assert client.post("/api/train/stop").status_code == 409          # nothing to stop now
    # and a new run may start
    assert client.post("/api/train", json={"hidden": [8], "epochs": 2}).status_code == 202
    assert wait_for(client, lambda s: s["status"] == "done")["result"]["epochs_run"] == 2


@pytest.mark.parametrize("request_, message", [
    ({"hidden": [513]}, "at most 512 units a layer"),
    ({"hidden": [8, 8, 8, 8]}, "at most 3 hidden layers"),
    ({"epochs": 1001}, "at most 1000 epochs"),
    ({"batch_size": 5000}, "batch size of at most 4096"),
    ({"eta": 1000}, "η at most 100"),
    ({"hidden": [512, 512, 512], "batch_size": 1, "epochs": 1000}, "this run would take about"),
    ({"dataset": "mnist"}, "MNIST is not on this machine"),
    ({"dataset": "imagenet"}, "dataset must be one of digits, mnist-subset, mnist"),
    ({"activation": "softmax"}, "activation must be one of"),
    ({"optimizer": "adamw"}, "did you mean 'adam'"),
    ({"init": "zeros"}, "invalid choice 'zeros'"),
    ({"hidden": 32}, "hidden must be a list of layer sizes"),
    ({"hidden": [0]}, "hidden"),
    ({"epochs": 0}, "epochs"),
    ({"epochs": "30"}, "epochs must be a number"),
    ({"eta": -1}, "eta: must be > 0"),
    ({"seed": True}, "seed must be a number"),
    ({"lr": 0.1}, "unknown field lr"),
])
def test_bad_or_too_large_requests_get_422_naming_the_problem(client, request_, message):
    response = client.post("/api/train", json=request_)
    assert response.status_code == 422 and message in response.json()["detail"], response.json()
    assert client.get("/api/train").json()["state"]["status"] == "idle"      # nothing started


def test_malformed_bodies_and_training_turned_off():
    net = bpnn.Network([64, 16, 10], seed=0)
    with TestClient(create_app(Predictor(net))) as c:
        for body in (b"{", b"[1, 2]", "\"x\"".encode()):
            response = c.post("/api/train", content=body, headers={"content-type": "application/json"})
            assert response.status_code == 422 and "JSON" in response.json()["detail"] or \
                "send a JSON object" in response.json()["detail"]
    with TestClient(create_app(Predictor(net), training=False)) as c:
        for method, path in (("GET", "/api/train"), ("POST", "/api/train"), ("POST", "/api/train/stop"),
                             ("GET", "/api/train/events"), ("GET", "/api/train/model")):
            response = c.request(method, path, json={} if method == "POST" else None)
            assert response.status_code == 403 and "--no-training" in response.json()["detail"]
        assert c.get("/api/model?model=trained").status_code == 404
        assert c.get("/api/model?model=other").status_code == 422


def test_the_time_budget_ends_a_run_that_outlasts_it():
    limits = Limits(max_seconds=0.5, row_cost=0, batch_cost=0, step_cost=0)
    net = bpnn.Network([64, 16, 10], seed=0)
    with TestClient(create_app(Predictor(net), training=TrainingManager(limits=limits))) as c:
        assert c.post("/api/train", json=LONG).status_code == 202
        state = wait_for(c, lambda s: s["status"] in ("stopped", "done", "failed"))
        assert state["status"] == "stopped" and "time budget" in state["message"]
        assert state["result"]["epochs_run"] < LONG["epochs"] and state["model_ready"]


def test_a_late_client_gets_the_whole_state_and_shutdown_abandons_a_run():
    manager = TrainingManager(mnist_available=lambda: False)
    net = bpnn.Network([64, 16, 10], seed=0)
    with TestClient(create_app(Predictor(net), training=manager)) as c:
        c.post("/api/train", json=LONG)
        wait_for(c, lambda s: s.get("epoch", 0) >= 3)
        state = c.get("/api/train").json()["state"]
        assert len(state["history"]) >= 3 and state["latest"]["weights"]["units"] == 36
        assert state["samples"]["shape"] == [8, 8]
        latest, missing = manager.events_since(-10**9)
        assert missing is None or missing[0][0] == 1                  # too old: the caller resends the state
        thread = manager._thread
    # leaving the client shuts the app down: the run is abandoned within the shutdown's wait
    thread.join(10)
    assert not thread.is_alive() and manager.state()["status"] == "stopped"


def test_unit_weights_for_the_hover_view(client):
    first = client.get("/api/model/weights?layer=1&unit=5").json()
    assert first["shape"] == [8, 8] and len(first["weights"]) == 64 and first["activation"] == "sigmoid"
    net = bpnn.Network([64, 16, 10], seed=0)
    np.testing.assert_allclose(first["weights"], net.weights[0][:, 5], atol=1e-5)
    second = client.get("/api/model/weights?layer=2&unit=9").json()
    assert second["shape"] == [16] and len(second["weights"]) == 16
    assert client.get("/api/model/weights?layer=3&unit=0").status_code == 404
    assert "unit 16 does not exist" in client.get("/api/model/weights?layer=1&unit=16").json()["detail"]
    assert client.get("/api/model/weights?layer=0&unit=0").status_code == 422
    body = client.post("/api/predict", json={"pixels": [0.3] * 64}).json()
    assert len(body["output"]) == 10 and body["index"] == int(np.argmax(body["output"]))


def test_event_streams_are_bounded_and_serve_can_turn_training_off(client, monkeypatch):
    from bpnn.cli import build_parser
    from bpnn.web import app as web_app

    assert build_parser().parse_args(["serve", "--no-training"]).training is False
    assert build_parser().parse_args(["serve"]).training is True
    monkeypatch.setattr(web_app, "MAX_STREAMS", 1)
    with client.stream("GET", "/api/train/events") as first:
        next(first.iter_lines())                                    # the first stream is open
        refused = client.get("/api/train/events")
        assert refused.status_code == 503 and "event streams are open" in refused.json()["detail"]
    with client.stream("GET", "/api/train/events") as again:        # closed streams free their place
        assert next(again.iter_lines()).startswith("id: ")


@pytest.mark.skipif(not (MNIST / "train-images-idx3-ubyte.gz").exists(), reason=f"the MNIST files are not in {MNIST}")
def test_the_mnist_subset_when_mnist_is_on_the_machine():
    net = bpnn.Network([64, 16, 10], seed=0)
    with TestClient(create_app(Predictor(net), data_dir=str(MNIST.parent))) as c:
        assert all(d["available"] for d in c.get("/api/train").json()["options"]["datasets"])
        assert c.post("/api/train", json={"dataset": "mnist-subset", "hidden": [30], "epochs": 1}).status_code == 202
        state = wait_for(c, lambda s: s["status"] in ("done", "failed"), limit=120)
        assert state["status"] == "done", state["message"]
        assert state["data"].startswith("10000 training, 10000 validation, 10000 test images (28x28")
        assert state["samples"]["shape"] == [28, 28] and state["latest"]["weights"]["shape"] == [28, 28]
        assert state["settings"]["hidden"] == [30] and "data_dir" not in state["settings"]     # no path to the page
        assert c.get("/api/model?model=trained").json()["sizes"] == [784, 30, 10]
        assert state["result"]["test_accuracy"] > 0.8
