"""Backpropagation is right: against central differences, against the
per-neuron reference model, and against PyTorch's autograd when installed."""

import zlib

import numpy as np
import pytest

import bpnn
from bpnn.nn.activations import TRAINABLE
from bpnn.nn.initializers import INITIALIZERS
from bpnn.nn.reference import ReferenceNetwork

HIDDEN = [a for a in TRAINABLE if a != "softmax"]
OUTPUT_COSTS = [("sigmoid", "quadratic"), ("sigmoid", "cross_entropy"),
                ("softmax", "quadratic"), ("softmax", "cross_entropy"),
                ("tanh", "quadratic"), ("identity", "quadratic"), ("relu", "quadratic")]


def _data_away_from_kinks(net, n=7, seed=0):
    """Random data whose ReLU pre-activations all keep |z| > 2e-4 (> 2ε).

    Central differences are meaningless where ε moves z across ReLU's kink
    at 0 (the function is not differentiable there), so such points are
    redrawn.
    """
    for attempt in range(2000):
        X, y = _data(net.n_inputs, net.n_outputs, n=n, seed=seed + 1000 * attempt)
        X *= 1 + attempt / 100  # tiny initial weights need larger inputs to leave the kink
        A, ok = X, True
        for layer in net.dense_layers:
            Z = A @ layer.W.astype(np.float64) + layer.b
            if layer.activation.name in ("relu", "leaky_relu") and np.abs(Z).min() < 2e-4:
                ok = False
            A = layer.activation.forward(Z)
        if ok:
            return X, y
    raise AssertionError("no kink-free data found")


def _data(n_in, n_out, n=7, seed=0, soft=False):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, n_in))
    if soft:
        return X, rng.uniform(0.05, 0.95, (n, n_out))
    return X, rng.integers(0, n_out, n)


@pytest.mark.parametrize("init", list(INITIALIZERS))
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
def test_gradient_check_every_activation_cost_and_initialiser(hidden, output, cost, init):
    seed = zlib.crc32(f"{hidden}/{output}/{cost}/{init}".encode()) % 1000
    net = bpnn.Network([5, 4, 3, 3], activation=hidden, output_activation=output,
                       cost=cost, init=init, seed=seed)
    X, y = _data_away_from_kinks(net, seed=seed)
    errors = bpnn.gradient_check(net, X, y, eps=1e-4)
    assert len(errors) == 3
    # SPEC: agree to at least four significant digits
    assert max(errors) < 1e-4, errors


def test_gradient_check_with_soft_targets_and_large_layer_sampling():
    net = bpnn.Network([40, 30, 4], activation="tanh", output_activation="sigmoid",
                       cost="cross_entropy", init="glorot_normal", seed=3)
    X, T = _data(40, 4, n=5, soft=True)
    errors = bpnn.gradient_check(net, X, T, max_checks=50)
    assert max(errors) < 1e-5


def test_gradient_check_detects_a_wrong_gradient(monkeypatch):
    """The check must be able to fail: break the reference σ' and it reports a large error."""
    from bpnn.nn import accel, activations

    net = bpnn.Network([4, 5, 3], seed=0)
    X, y = _data(4, 3)
    monkeypatch.setattr(activations.Sigmoid, "backward",
                        lambda self, z, a, g, out=None: np.multiply(g, a, out=out))
    with accel.use_kernels("numpy"):          # the broken σ' is the reference's
        assert max(bpnn.gradient_check(net, X, y)) > 1e-2


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
def test_vectorised_network_matches_per_neuron_reference(hidden, output, cost):
    net = bpnn.Network([4, 5, 3, 3], activation=hidden, output_activation=output, cost=cost,
                       init="normal", dtype="float64", seed=7)
    X, y = _data(4, 3, n=6, seed=1)
    ref = ReferenceNetwork.from_network(net)
    outputs = np.array([ref.feedforward(x) for x in X.tolist()])
    np.testing.assert_allclose(net.predict_proba(X), outputs, rtol=0, atol=1e-12)

    targets = np.eye(3)[y]
    ref_w, ref_b = ref.gradients(X.tolist(), targets.tolist())
    nabla_w, nabla_b = net.gradients(X, y)
    for l in range(3):
        np.testing.assert_allclose(nabla_w[l], np.array(ref_w[l]), rtol=0, atol=1e-9)
        np.testing.assert_allclose(nabla_b[l], np.array(ref_b[l]), rtol=0, atol=1e-9)
        assert nabla_w[l].shape == net.weights[l].shape
        assert nabla_b[l].shape == net.biases[l].shape


def test_per_sample_sgd_matches_reference_training():
    """batch_size=1 without shuffling is the source's train-one-sample loop."""
    net = bpnn.Network([3, 4, 2], dtype="float64", seed=2)
    ref = ReferenceNetwork.from_network(net)
    X, y = _data(3, 2, n=12, seed=5)
    net.fit(X, y, epochs=2, batch_size=1, eta=0.5, shuffle=False)
    T = np.eye(2)[y]
    for _ in range(2):
        for x, t in zip(X.tolist(), T.tolist()):
            ref.sgd_step(x, t, eta=0.5)
    for l in range(2):
        np.testing.assert_allclose(net.weights[l], np.array(ref.weights[l]), atol=1e-9)


def test_full_batch_epoch_is_one_step_of_the_mean_gradient():
    net = bpnn.Network([3, 4, 2], dtype="float64", seed=2)
    X, y = _data(3, 2, n=9)
    nabla_w, nabla_b = net.gradients(X, y)
    expected_w = [W - 0.7 * g for W, g in zip(net.weights, nabla_w)]
    expected_b = [b - 0.7 * g for b, g in zip(net.biases, nabla_b)]
    net.fit(X, y, epochs=1, batch_size=None, eta=0.7)
    for W, b, eW, eb in zip(net.weights, net.biases, expected_w, expected_b):
        np.testing.assert_allclose(W, eW, atol=1e-12)
        np.testing.assert_allclose(b, eb, atol=1e-12)


def _torch_gradients(net, X, targets):
    torch = pytest.importorskip("torch")
    Ws = [torch.tensor(W, requires_grad=True) for W in net.weights]
    bs = [torch.tensor(b, requires_grad=True) for b in net.biases]
    fns = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
           "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
           "identity": lambda z: z, "softmax": lambda z: torch.softmax(z, dim=1)}
    a = torch.tensor(X)
    for layer, W, b in zip(net.dense_layers, Ws, bs):
        a = fns[layer.activation.name](a @ W + b)
    t = torch.tensor(targets)
    if net.cost.name == "quadratic":
        cost = 0.5 * ((a - t) ** 2).sum() / len(X)
    elif net.output_layer.activation.name == "softmax":
        cost = -(t * torch.log(a)).sum() / len(X)
    else:
        cost = -(t * torch.log(a) + (1 - t) * torch.log(1 - a)).sum() / len(X)
    cost.backward()
    return [W.grad.numpy() for W in Ws], [b.grad.numpy() for b in bs]


@pytest.mark.parametrize("hidden,output,cost", [
    ("sigmoid", "sigmoid", "quadratic"), ("relu", "softmax", "cross_entropy"),
    ("tanh", "sigmoid", "cross_entropy"), ("leaky_relu", "softmax", "quadratic")])
def test_gradients_match_torch_autograd_on_random_architectures(hidden, output, cost):
    rng = np.random.default_rng(11)
    for trial in range(3):
        sizes = [int(s) for s in rng.integers(2, 9, size=rng.integers(3, 6))]
        net = bpnn.Network(sizes, activation=hidden, output_activation=output, cost=cost,
                           init="glorot_normal", dtype="float64", seed=trial)
        X = rng.normal(size=(10, sizes[0]))
        targets = np.eye(sizes[-1])[rng.integers(0, sizes[-1], 10)]
        tw, tb = _torch_gradients(net, X, targets)
        nabla_w, nabla_b = net.gradients(X, targets)
        for l in range(len(tw)):
            np.testing.assert_allclose(nabla_w[l], tw[l], rtol=1e-7, atol=1e-10)
            np.testing.assert_allclose(nabla_b[l], tb[l], rtol=1e-7, atol=1e-10)


def test_float32_gradients_agree_with_float64():
    net32 = bpnn.Network([20, 15, 10], activation="relu", output_activation="softmax",
                         cost="cross_entropy", init="he_normal", seed=0)
    net64 = net32.astype("float64")
    X, y = _data(20, 10, n=32)
    g32, _ = net32.gradients(X.astype(np.float32), y)
    g64, _ = net64.gradients(X, y)
    for a, b in zip(g32, g64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
