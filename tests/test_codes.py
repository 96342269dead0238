"""Output codes (E1): a 4-bit binary code of the digit instead of 10 one-hot outputs."""

from __future__ import annotations

import numpy as np
import pytest

import bpnn
from bpnn.cli import main
from bpnn.experiment import run
from bpnn.nn.codes import OutputCode
from bpnn.predictor import Predictor
from bpnn.settings import Settings


def test_the_binary_code_and_nearest_code_word_decoding():
    code = OutputCode.binary(10)
    assert code.matrix.shape == (10, 4)
    assert [int("".join(str(int(b)) for b in row), 2) for row in code.matrix] == list(range(10))
    assert (code.decode(code.matrix) == np.arange(10)).all()
    noisy = code.matrix + np.random.default_rng(0).uniform(-0.3, 0.3, code.matrix.shape)
    assert (code.decode(noisy.astype(np.float32)) == np.arange(10)).all()
    # nearest in squared distance, by brute force
    a = np.random.default_rng(1).random((50, 4))
    brute = ((a[:, None, :] - code.matrix[None]) ** 2).sum(axis=2).argmin(axis=1)
    assert (code.decode(a) == brute).all()
    p = code.probabilities(a)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="distinct"):
        OutputCode([[0, 1], [0, 1]])


def test_the_binary_target_path_is_gradient_checked():
    rng = np.random.default_rng(0)
    X, y = rng.random((12, 6)), rng.integers(0, 10, 12)
    for cost in ("quadratic", "cross_entropy"):
        net = bpnn.Network([6, 5, 4], activation="tanh", output_activation="sigmoid", cost=cost, seed=0,
                           dtype="float64", code=OutputCode.binary(10))
        result = bpnn.gradient_check(net, X, y)
        assert result.passed and result.worst < 1e-6, (cost, list(result))
        # the gradient is the one of the code words as targets
        by_targets = net.gradients(X, OutputCode.binary(10).encode(y, np.float64))
        by_labels = net.gradients(X, y)
        for a, b in zip(by_targets[0], by_labels[0]):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="label 10"):
        net.evaluate(X, np.full(12, 10))


def test_a_binary_code_network_learns_the_digits_and_round_trips(tmp_path):
    result = run(Settings(targets="binary", epochs=40, hidden=[64], out=str(tmp_path / "b.safetensors")))
    net = result.network
    assert net.sizes == [64, 64, 4] and net.n_classes == 10 and net.code == OutputCode.binary(10)
    assert result.test.accuracy > 0.85
    model = bpnn.load(tmp_path / "b.safetensors")
    assert model.network.code == net.code and len(model.classes) == 10
    data = bpnn.datasets.load("digits")
    np.testing.assert_array_equal(model.predict(data.test.X), net.predict(data.test.X))
    assert model.evaluate(data.test.X, data.test.y).accuracy == result.test.accuracy
    predictions = Predictor(model).predict_images([x.reshape(8, 8) for x in data.test.X[:20]])
    assert [p.index for p in predictions] == list(net.predict(data.test.X[:20]))
    assert all(len(p.probabilities) == 10 and abs(p.probabilities.sum() - 1) < 1e-9 for p in predictions)


def test_binary_targets_on_the_command_line(tmp_path, capsys):
    model = tmp_path / "b.safetensors"
    assert main(["train", "--targets", "binary", "--epochs", "5", "--quiet", "--out", str(model)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    np.save(tmp_path / "x.npy", bpnn.datasets.load("digits").test.X[:3].reshape(3, 8, 8))
    assert main(["predict", str(model), str(tmp_path / "x.npy"), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(len(__import__("json").loads(x)["probabilities"]) == 10 for x in lines)
    assert main(["train", "--targets", "binary", "--output", "softmax", "--epochs", "1", "--quiet"]) == 1
    assert "sigmoid outputs" in capsys.readouterr().err


def test_the_e1_sweep_file_describes_onehot_and_binary_at_30_and_100_units():
    from bpnn import sweep as sw

    spec = sw.load_spec("experiments/e1-output-codes.toml")
    sizes = {(t.values["targets"], t.values["hidden"]) for t in spec.trials()}
    assert sizes == {("onehot", 30), ("binary", 30), ("onehot", 100), ("binary", 100)}
    net = sw.SweepSpec(name="x", recipe="s1").trial_settings(sw.Trial({"targets": "binary"}, 0))
    assert net.layers == [784, 30, 10] and net.targets == "binary"


def test_the_web_api_answers_for_a_binary_code_model(tmp_path):
    from fastapi.testclient import TestClient

    from bpnn.web.app import create_app

    result = run(Settings(targets="binary", epochs=10, hidden=[32], out=str(tmp_path / "b.safetensors")))
    client = TestClient(create_app(Predictor(bpnn.load(tmp_path / "b.safetensors"))))
    X = bpnn.datasets.load("digits").test.X
    body = client.post("/api/predict", json={"pixels": X[0].reshape(8, 8).tolist()}).json()
    assert len(body["probabilities"]) == 10 and len(body["output"]) == 4
    assert body["index"] == int(result.network.predict(X[:1])[0]) and body["label"] == body["classes"][body["index"]]
    onnx = pytest.importorskip("onnx")   # noqa: F841  (the export refuses a code model rather than write a wrong graph)
    with pytest.raises(ValueError, match="output code"):
        bpnn.export_onnx(bpnn.load(tmp_path / "b.safetensors"), tmp_path / "b.onnx")
