"""``bpnn.trace`` and ``bpnn trace``: one sample through BP1-BP4, checked against the
per-neuron reference model and central differences computed here, independently."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import bpnn
from bpnn.cli import main
from bpnn.nn.reference import ReferenceNetwork


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _xor_net() -> bpnn.Network:
    """A 2-2-1 sigmoid network with round weights, to follow by hand."""
    net = bpnn.Network([2, 2, 1], activation="sigmoid", cost="quadratic", dtype="float64", seed=0)
    net.set_params([np.array([[0.15, 0.25], [0.20, 0.30]]), np.array([[0.40], [0.45]])],
                   [np.array([0.35, 0.35]), np.array([0.60])])
    return net


def test_xor_by_hand_every_number_of_the_four_equations():
    net = _xor_net()
    x, y = [1.0, 0.0], 1.0
    t = bpnn.trace(net, x, y, eta=0.5)
    # forward, by hand
    z1 = [1 * 0.15 + 0 * 0.20 + 0.35, 1 * 0.25 + 0 * 0.30 + 0.35]
    a1 = [_sigmoid(z) for z in z1]
    z2 = a1[0] * 0.40 + a1[1] * 0.45 + 0.60
    a2 = _sigmoid(z2)
    C = 0.5 * (a2 - y) ** 2
    # BP1 .. BP4, by hand
    d2 = (a2 - y) * a2 * (1 - a2)
    d1 = [0.40 * d2 * a1[0] * (1 - a1[0]), 0.45 * d2 * a1[1] * (1 - a1[1])]
    layer1, layer2 = t.layers
    np.testing.assert_allclose(layer1["z"].vectorised, z1, rtol=1e-12)
    np.testing.assert_allclose(layer1["a"].vectorised, a1, rtol=1e-12)
    np.testing.assert_allclose(layer2["z"].vectorised, [z2], rtol=1e-12)
    np.testing.assert_allclose(t.output, [a2], rtol=1e-12)
    assert t.cost == pytest.approx(C, rel=1e-12)
    np.testing.assert_allclose(layer2["delta"].vectorised, [d2], rtol=1e-12)                  # BP1
    np.testing.assert_allclose(layer1["delta"].vectorised, d1, rtol=1e-12)                    # BP2
    np.testing.assert_allclose(layer1["nabla_b"].vectorised, d1, rtol=1e-12)                  # BP3
    np.testing.assert_allclose(layer2["nabla_W"].vectorised, [[a1[0] * d2], [a1[1] * d2]], rtol=1e-12)   # BP4
    np.testing.assert_allclose(layer1["nabla_W"].vectorised, [[d1[0], d1[1]], [0.0, 0.0]], rtol=1e-12)
    np.testing.assert_allclose(layer2["W_new"].vectorised, [[0.40 - 0.5 * a1[0] * d2], [0.45 - 0.5 * a1[1] * d2]],
                               rtol=1e-12)
    np.testing.assert_allclose(layer2["b_new"].vectorised, [0.60 - 0.5 * d2], rtol=1e-12)
    assert t.cost_after < t.cost and t.passed
    # the text shows each of these with the arithmetic to redo it
    text = t.format()
    for line in (f"(a - y)·a(1 - a) = ({a2:.6f} - 1)·{a2:.6f}·(1 - {a2:.6f})",
                 "x[0]·δ^1[0] = 1·", "BP1: δ^2 = ∇_a C ⊙ σ'(z^2)", "BP2: δ^1 = (δ^2 (W^2)ᵀ) ⊙ σ'(z^1)",
                 "BP3: ∂C/∂b^1 = δ^1", "BP4: ∂C/∂W^2 = (a^1)ᵀ δ^2", "W^2 new = W^2 - η ∂C/∂W^2",
                 "1·0.15 + 0·0.2 + 0.35", "Verdict: bpnn, the per-neuron model and central differences agree"):
        assert line in text, line


def _independent_numeric(net, x, target, eps=1e-6):
    """∂C/∂W and ∂C/∂b of one sample by central differences, with the network's own forward pass."""
    net = net.astype("float64")
    X, Y = np.asarray(x, float).reshape(1, -1), np.asarray(target, float).reshape(1, -1)

    def cost():
        return net.evaluate(X, Y).loss

    grads = []
    for layer in net.dense_layers:
        pair = []
        for param in (layer.W, layer.b):
            g = np.zeros(param.shape)
            flat, out = param.reshape(-1), g.reshape(-1)
            for i in range(flat.size):
                keep = flat[i]
                flat[i] = keep + eps
                plus = cost()
                flat[i] = keep - eps
                minus = cost()
                flat[i] = keep
                out[i] = (plus - minus) / (2 * eps)
            pair.append(g)
        grads.append(pair)
    return grads


@pytest.mark.parametrize("activation,output,cost", [
    ("sigmoid", "sigmoid", "quadratic"), ("sigmoid", "sigmoid", "cross_entropy"), ("tanh", "softmax", "cross_entropy"),
    ("relu", "softmax", "quadratic"), ("leaky_relu", "sigmoid", "quadratic"), ("tanh", "identity", "quadratic")])
def test_the_trace_agrees_with_the_reference_model_and_central_differences(activation, output, cost):
    net = bpnn.Network([4, 5, 3, 3], activation=activation, output_activation=output, cost=cost,
                       init="glorot_uniform", dtype="float64", seed=3)
    rng = np.random.default_rng(1)
    x = rng.uniform(0.2, 1.0, 4)
    target = np.eye(3)[2]
    t = bpnn.trace(net, x, 2, eta=0.1)
    assert t.passed, t.format()
    # the per-neuron model, built here
    ref = ReferenceNetwork.from_network(net.astype("float64"))
    ref.backprop(x.tolist(), target.tolist())
    numeric = _independent_numeric(net, x, target)
    for l, (layer, nodes) in enumerate(zip(t.layers, ref.layers[1:])):
        np.testing.assert_allclose(layer["z"].vectorised, [n.z for n in nodes.nodes], atol=1e-12)
        np.testing.assert_allclose(layer["a"].vectorised, [n.output for n in nodes.nodes], atol=1e-12)
        np.testing.assert_allclose(layer["delta"].vectorised, [n.delta for n in nodes.nodes], atol=1e-12)
        np.testing.assert_allclose(layer["nabla_b"].vectorised, [n.bias_gradient for n in nodes.nodes], atol=1e-12)
        grad_w = np.array([[c.gradient for c in sorted(up.downstream, key=lambda c: c.downstream.index)]
                           for up in ref.layers[l].nodes])
        np.testing.assert_allclose(layer["nabla_W"].vectorised, grad_w, atol=1e-12)
        np.testing.assert_allclose(layer["nabla_W"].vectorised, numeric[l][0], rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(layer["nabla_b"].vectorised, numeric[l][1], rtol=1e-5, atol=1e-8)
        # and the trace's own columns say the same
        np.testing.assert_allclose(layer["nabla_W"].reference, grad_w, atol=1e-12)
        np.testing.assert_allclose(layer["nabla_W"].numeric, numeric[l][0], rtol=1e-4, atol=1e-8)
        np.testing.assert_allclose(layer["W_new"].vectorised, net.weights[l] - 0.1 * numeric[l][0], atol=1e-8)


def test_delta_by_central_differences_nudges_z_itself():
    """δ^l = ∂C/∂z^l: nudging z^l by ε changes C by about δ ε."""
    net = bpnn.Network([3, 4, 2], activation="tanh", output_activation="softmax", cost="cross_entropy",
                       dtype="float64", seed=2)
    x = np.array([0.3, -0.2, 0.9])
    t = bpnn.trace(net, x, 1)
    W1, b1, W2, b2 = net.weights[0], net.biases[0], net.weights[1], net.biases[1]
    z1 = x @ W1 + b1

    def cost(z):
        z2 = np.tanh(z) @ W2 + b2
        return float(np.log(np.exp(z2).sum()) - z2[1])

    for j in range(4):
        e = np.zeros(4)
        e[j] = 1e-6
        assert t.layers[0]["delta"].vectorised[j] == pytest.approx((cost(z1 + e) - cost(z1 - e)) / 2e-6, rel=1e-6)


def test_a_wrong_derivative_is_caught(monkeypatch):
    """Break σ' in the vectorised network: the per-neuron model and central differences disagree with it."""
    from bpnn.nn import accel, activations

    monkeypatch.setattr(activations.Sigmoid, "backward",
                        lambda self, z, a, grad_a, out=None: np.multiply(grad_a, a, out=out))   # a, not a(1 - a)
    with accel.use_kernels("numpy"):          # the broken σ' is the reference's
        t = bpnn.trace(_xor_net(), [1, 0], 1)
    assert not t.passed
    assert t.layers[0]["delta"].reference_error > 1e-3 and t.layers[0]["delta"].numeric_error > 1e-3
    assert "DISAGREE" in t.format()


def test_relu_units_on_their_kink_are_not_checked_by_central_differences():
    """At z = 0 a ReLU has no derivative: (relu(ε) - relu(-ε)) / 2ε = ½ is no check of backprop's 0."""
    net = bpnn.Network([3, 3, 2], activation="relu", output_activation="softmax", cost="cross_entropy",
                       init="he_normal", dtype="float64", seed=0)             # zero biases
    t = bpnn.trace(net, [0, 0, 0], 1)                                          # so every z^1 is exactly 0
    assert t.passed
    assert t.layers[0]["delta"].checked == 0 and t.layers[0]["nabla_W"].checked == 0
    assert t.layers[1]["delta"].checked == 2 and t.layers[0]["delta"].reference_error == 0
    assert "      [0]        0             0             –" in t.format()


def test_a_large_network_gets_a_summary_per_layer():
    net = bpnn.Network([784, 100, 10], activation="sigmoid", cost="quadratic", seed=0)
    x = np.random.default_rng(0).random(784)
    t = bpnn.trace(net, x, 7)
    assert t.passed and not t.tiny
    text = t.format()
    assert "too large to print whole" in text and "min " in text and "‖·‖" in text
    assert "(200 of 78400 checked)" in text
    assert len(text.splitlines()) < 200
    data = t.to_dict()
    first, out = data["layers"]
    assert "summary" in first["quantities"]["nabla_W"] and "bpnn" not in first["quantities"]["nabla_W"]
    assert len(out["quantities"]["delta"]["bpnn"]) == 10          # small quantities stay whole
    assert data["y"] == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    json.dumps(data)
    full = t.to_dict(full=True)
    assert np.shape(full["layers"][0]["quantities"]["nabla_W"]["bpnn"]) == (784, 100)
    # past the reference limit the per-neuron model is skipped, and the text says so
    big = bpnn.trace(bpnn.Network([784, 400, 10], seed=0), x, 1)
    assert big.cost_reference is None and "per-neuron model was not built" in big.format()


def test_bad_targets_and_inputs_are_refused():
    net = bpnn.Network([3, 2, 4], seed=0)
    with pytest.raises(ValueError, match="class index from 0 to 3"):
        bpnn.trace(net, [1, 2, 3], 4)
    with pytest.raises(ValueError, match="x"):
        bpnn.trace(net, [1, 2], 1)
    with pytest.raises(ValueError, match="4 values"):
        bpnn.trace(net, [1, 2, 3], [0, 1])
    t = bpnn.trace(net, [1, 2, 3], [0.1, 0.2, 0.3, 0.4])
    assert t.y.tolist() == [0.1, 0.2, 0.3, 0.4]


# -- the command ------------------------------------------------------------------------------
def test_bpnn_trace_follows_xor_by_default(capsys):
    assert main(["trace"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Sample: XOR\nTrace of one sample through Network(2-2-1, sigmoid, quadratic)")
    assert "x = a^0 (2,)  [1, 0]" in out and "y       (1,)  [1]" in out
    for marker in ("BP1", "BP2", "BP3", "BP4", "Update", "Cost after the update", "agree"):
        assert marker in out
    assert main(["trace", "--input", "1,1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sample"] == "XOR" and data["x"] == [1, 1] and data["y"] == [0] and data["passed"]
    q = data["layers"][0]["quantities"]["nabla_W"]
    assert np.shape(q["bpnn"]) == (2, 2) and np.shape(q["neuron"]) == (2, 2) and len(q["by_hand"]) == 4
    np.testing.assert_allclose(q["bpnn"], q["numeric"], rtol=1e-6, atol=1e-9)


def test_bpnn_trace_on_a_digit_and_on_a_model(tmp_path, capsys):
    assert main(["trace", "--dataset", "digits", "--index", "3", "--hidden", "16", "--init", "scaled_normal"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Sample: digits test image 3 (label ") and "Network(64-16-10" in out
    model = tmp_path / "m.safetensors"
    assert main(["train", "--hidden", "12", "--epochs", "3", "--quiet", "--out", str(model)]) == 0
    capsys.readouterr()
    assert main(["trace", str(model), "--index", "5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sizes"] == [64, 12, 10] and data["passed"] and data["sample"].startswith("digits test image 5")


@pytest.mark.parametrize("args,message", [
    (["--input", "1,2,3"], "give --target"),
    (["--layers", "3,2,1", "--input", "1,2", "--target", "1"], "--input has 2 numbers but the network takes 3"),
    (["--input", "1,x"], "--input takes numbers"),
    (["--layers", "5,3,2"], "give --input"),
    (["--eps", "0"], "--eps"),
])
def test_bpnn_trace_errors_are_one_line(capsys, args, message):
    status = main(["trace", *args])
    err = capsys.readouterr().err.strip()
    assert status != 0 and len(err.splitlines()) == 1 and err.startswith("bpnn: error: ") and message in err, err
