"""The compiled kernels (bpnn.nn.kernels) against their NumPy twins, the switch, and the fallback.

Every kernel is run on the same inputs as the reference NumPy code it
replaces: the optimizer steps give the same numbers bit for bit (same
operations in the same order), the passes with exp/tanh agree to float32
rounding.  Skipped as a whole when numba is not installed; the fallback
tests run a subprocess with numba blocked either way.
"""

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import bpnn
from bpnn.nn import accel, activations, costs, optimizers

numba = pytest.importorskip("numba")
kernels = pytest.importorskip("bpnn.nn.kernels")

FLOATS = [np.float32, np.float64]
#: agreement of passes through exp / tanh (the C library's against NumPy's SIMD loops)
RTOL = {np.float32: 4e-6, np.float64: 1e-13}
ATOL = {np.float32: 1e-7, np.float64: 1e-15}


@pytest.fixture(autouse=True)
def _kernels_on():
    """The kernels for every network, and for the direct calls below (a network's scope)."""
    with accel.use_kernels("numba"), accel.scope(1):
        assert accel.kernels_in_use() == "numba" and accel.active()
        yield


@pytest.fixture
def calls(monkeypatch):
    """How often each kernel ran: a test that compares the kernels with the reference must
    not pass by comparing the reference with itself."""
    counts = {}

    def counted(name, kernel):
        def run(*args):
            counts[name] = counts.get(name, 0) + 1
            return kernel(*args)
        return run

    for name in ("bias_activation", "backward_factor", "output_delta", "bias_argmax", "max_norm"):
        monkeypatch.setattr(kernels, name, counted(name, getattr(kernels, name)))
    monkeypatch.setattr(kernels, "OPTIMIZER_KERNELS",
                        {name: counted(name, f) for name, f in kernels.OPTIMIZER_KERNELS.items()})
    return counts


def _both(fn):
    """fn() with the kernels and with the NumPy reference."""
    out = fn()
    with accel.use_kernels("numpy"):
        return out, fn()


# -- optimizers: bit for bit ---------------------------------------------------
OPTIMIZER_CASES = [
    ("sgd", {}), ("momentum", {"mu": 0.8}), ("nesterov", {"mu": 0.7}),
    ("rmsprop", {"rho": 0.85, "epsilon": 1e-7}), ("adam", {"beta1": 0.8, "beta2": 0.99}),
]


def _train_steps(name, hyper, dtype, n_w, n_b, steps=48, lmbda=0.3, max_norm=None, seed=0):
    """``steps`` calls of Optimizer.update on one flat vector (weights first), as the training loop makes them."""
    rng = np.random.default_rng(seed)
    p = rng.normal(size=n_w + n_b).astype(dtype)
    opt = optimizers.get_optimizer(name, 0.05, **hyper)
    opt.regularize(lmbda, 100, max_norm)
    W = p[:n_w]
    matrices = [W.reshape(-1, 8)] if max_norm else []
    for t in range(steps):
        g = rng.normal(size=p.shape).astype(dtype)
        # tiny bias gradients, work for the flush: one size leaves m and the velocity under the threshold,
        # the other the squares (RMSprop's s, Adam's v), which the first would underflow to 0
        minexp = np.finfo(dtype).minexp
        g[n_w:n_w + 2] = np.ldexp(1.0, minexp + 16)
        g[n_w + 2:n_w + 4] = np.ldexp(1.0, (minexp + 16) // 2)
        g *= opt.gradient_scale(1)
        opt.update([p], [g], W, g[:n_w], matrices)
    return p, opt


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,hyper", OPTIMIZER_CASES)
def test_fused_optimizer_steps_equal_the_reference_bit_for_bit(name, hyper, dtype, calls):
    (p_k, opt_k), (p_r, opt_r) = _both(lambda: _train_steps(name, hyper, dtype, 96, 8))
    assert calls[name] == 48                          # every step of the first run was the kernel's
    assert p_k.dtype == dtype
    np.testing.assert_array_equal(p_k, p_r)
    assert opt_k.t == opt_r.t == 48
    for key in opt_r.state_names:                     # the state means the same: equal arrays
        np.testing.assert_array_equal(opt_k.state[key][0], opt_r.state[key][0])
        assert opt_k.state[key][0].dtype == dtype
    for key in opt_r.state_names:                     # and the flush ran in both (after step 48 = 3 x 16)
        assert np.count_nonzero(opt_k.state[key][0][96:100] == 0) >= 2


def test_fused_adam_step_is_kingma_and_ba_algorithm_1():
    """The kernel against the formula written out (float64), not only against its twin."""
    rng = np.random.default_rng(1)
    p0 = rng.normal(size=50)
    grads = [rng.normal(size=50) for _ in range(3)]
    p = p0.copy()
    opt = optimizers.Adam(eta=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8)
    for g in grads:
        opt.update([p], [g.copy()], p[:40], g[:40].copy(), [])
    m = v = np.zeros(50)
    q = p0.copy()
    for t, g in enumerate(grads, start=1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        q = q - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(p, q, rtol=1e-12)


def test_a_subclass_that_changes_the_rule_runs_its_own_numpy_code(calls):
    """Kernels are chosen by the class that declares them, not by name."""
    class SlowAdam(optimizers.Adam):
        def _update(self, i, p, g):
            p -= 0.5 * g

    p = np.ones(10, np.float32)
    opt = SlowAdam()
    opt.update([p], [np.ones(10, np.float32)], p[:6], np.ones(6, np.float32), [])
    assert "adam" not in calls and np.allclose(p, 0.5)


@pytest.mark.parametrize("dtype", FLOATS)
def test_max_norm_kernel_matches_the_reference(dtype):
    rng = np.random.default_rng(2)
    Ws = [rng.normal(size=(30, 7)).astype(dtype) * 2, rng.normal(size=(7, 3)).astype(dtype) * 0.1]
    ref = [W.copy() for W in Ws]
    optimizers.apply_max_norm(ref, 1.5)
    assert accel.try_max_norm(Ws, 1.5)
    for W, R in zip(Ws, ref):
        np.testing.assert_allclose(W, R, rtol=RTOL[dtype], atol=ATOL[dtype])
        assert np.sqrt((W.astype(np.float64) ** 2).sum(axis=0)).max() <= 1.5 * (1 + 1e-6)
    np.testing.assert_array_equal(Ws[1], ref[1])       # columns under the cap are untouched


# -- the forward pass ----------------------------------------------------------
ELEMENTWISE = ["identity", "sigmoid", "tanh", "relu", "leaky_relu"]


def _z(dtype, shape=(9, 13), seed=3, extremes=True):
    rng = np.random.default_rng(seed)
    Z = (rng.normal(size=shape) * 4).astype(dtype)
    if extremes:                                       # saturation, overflow of exp, infinities
        Z[0, :8] = [0, -0.0, 100, -100, 1e4, -1e4, np.inf, -np.inf]
    return Z, rng.normal(size=shape[1]).astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax"])
def test_bias_activation_kernel_matches_the_reference(name, dtype):
    act = activations.get_activation(name, alpha=0.1)
    Z, b = _z(dtype)
    Zk, A = Z.copy(), np.empty_like(Z)
    assert accel.try_bias_activation(Zk, b, A, act)
    Zr = Z + b
    np.testing.assert_array_equal(Zk, Zr)             # Z + b is one rounding in both
    with np.errstate(invalid="ignore"):               # the reference's softmax of a row with inf is NaN
        ref = act.forward(Zr.copy())
    np.testing.assert_allclose(A, ref, rtol=RTOL[dtype], atol=ATOL[dtype])   # NaN where the reference has NaN
    assert A.dtype == dtype


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_bias_activation_in_place_and_nan_propagate_as_numpy(name):
    act = activations.get_activation(name, alpha=0.1)
    Z, b = _z(np.float32)
    Z[1, 1] = np.nan
    ref = act.forward(Z + b)
    assert accel.try_bias_activation(Z, b, Z, act)       # A is Z: inference's in-place form
    np.testing.assert_allclose(Z, ref, rtol=4e-6, atol=1e-7)
    assert np.isnan(Z[1, 1])


def test_transcendental_kernels_step_aside_for_large_layers():
    """Past TRANSCENDENTAL_MAX NumPy's SIMD exp/tanh are faster: the reference runs."""
    big = np.zeros((100, 100), np.float32)
    for act in (activations.Tanh(), activations.Sigmoid(), activations.Softmax()):
        assert not accel.try_bias_activation(big, np.zeros(100, np.float32), big.copy(), act)
    assert accel.try_bias_activation(big, np.zeros(100, np.float32), big.copy(), activations.ReLU())


@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax"])
def test_inference_labels_are_the_argmax_of_the_reference_output(name, monkeypatch):
    act = activations.get_activation(name, alpha=0.1)
    if name in accel.TRANSCENDENTAL_MAX and name != "softmax":   # past its size the reference runs (tested
        big = np.zeros((500, 10), np.float32)                     # here), so lift the limit for the check
        assert accel.try_bias_argmax(big, np.zeros(10, np.float32), act) is None
        monkeypatch.setitem(accel.TRANSCENDENTAL_MAX, name, 10**9)
    Z, b = _z(np.float32, shape=(500, 10), extremes=False)
    Z[:50] *= 10                                        # rows saturated at both ends
    Z[7, 4], Z[8, 2], Z[9, 5] = np.nan, np.inf, -np.inf
    with np.errstate(invalid="ignore"):
        A = act.forward(Z + b)
    labels = accel.try_bias_argmax(Z, b, act)
    expected = A.argmax(axis=1)                         # the reference's labels, NaN rows included
    top2 = np.sort(np.nan_to_num(A, nan=2e30, posinf=1e30), axis=1)[:, -2:]
    tie = top2[:, 1] - top2[:, 0] <= 1e-6               # top two equal to the last bits: either may win
    assert tie[50:].mean() < 0.1                        # (sigmoid and tanh saturate in the first 50 rows)
    np.testing.assert_array_equal(labels[~tie], expected[~tie])
    assert labels[7] == expected[7] and labels[8] == expected[8] and labels[9] == expected[9]


# -- backpropagation -----------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_bp2_factor_and_bp3_kernel_match_the_reference(name, dtype):
    act = activations.get_activation(name, alpha=0.1)
    Z, _ = _z(dtype, shape=(12, 9))
    A = act.forward(Z)
    A[1, :2] = [np.nan, np.inf]                        # the reference's factors of NaN and inf too
    G = np.random.default_rng(4).normal(size=Z.shape).astype(dtype)
    delta, nabla_b = np.empty_like(Z), np.empty(9, dtype)
    assert accel.try_backward_factor(G, A, delta, nabla_b, act)
    if name == "leaky_relu":                           # its reference reads σ' from z, whose sign a keeps
        Z[1, :2] = [np.nan, np.inf]
    with np.errstate(invalid="ignore"):
        ref = act.backward(Z, A, G)
    np.testing.assert_array_equal(delta, ref)           # products only: bit for bit, NaN where NaN
    np.testing.assert_allclose(nabla_b, ref.sum(axis=0), rtol=RTOL[dtype], atol=ATOL[dtype] * 10)


OUTPUTS = [("quadratic", n) for n in ELEMENTWISE] + [("cross_entropy", "sigmoid"), ("cross_entropy", "softmax")]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cost_name,name", OUTPUTS)
def test_bp1_kernel_matches_the_cost_delta_times_the_scale(cost_name, name, dtype):
    act = activations.get_activation(name, alpha=0.1)
    cost = costs.get_cost(cost_name, act)
    Z, _ = _z(dtype, shape=(11, 6), extremes=False)
    A = act.forward(Z)
    rng = np.random.default_rng(5)
    Y = np.eye(6, dtype=dtype)[rng.integers(0, 6, 11)] if name == "softmax" else rng.random(Z.shape).astype(dtype)
    delta, nabla_b = np.empty_like(Z), np.empty(6, dtype)
    assert accel.try_output_delta(A, Y, delta, nabla_b, cost, act, 0.3 / 11)
    ref = cost.delta(Z, A, Y, act)
    ref *= 0.3 / 11
    np.testing.assert_array_equal(delta, ref)
    np.testing.assert_allclose(nabla_b, ref.sum(axis=0), rtol=RTOL[dtype], atol=ATOL[dtype] * 10)
    w = np.random.default_rng(6).random(11).astype(dtype)   # weighted rows: row x times w_x
    assert accel.try_output_delta(A, Y, delta, nabla_b, cost, act, 0.0, w)
    np.testing.assert_array_equal(delta, cost.delta(Z, A, Y, act) * w[:, None])


def test_quadratic_cost_with_softmax_keeps_the_reference_jacobian():
    act = activations.Softmax()
    A = act.forward(np.zeros((2, 3), np.float32))
    assert not accel.try_output_delta(A, A, np.empty_like(A), np.empty(3, np.float32),
                                      costs.get_cost("quadratic", act), act, 1.0)


# -- whole networks --------------------------------------------------------------
NETS = [
    dict(layers=[20, 16, 5], activation="sigmoid", cost="quadratic", optimizer="sgd", eta=1.0, batch_size=10),
    dict(layers=[20, 16, 8, 5], activation="relu", output_activation="softmax", cost="cross_entropy",
         init="he_normal", optimizer="adam", eta=1e-3, batch_size=32, lmbda=0.5, max_norm=2.0, dropout=0.3),
    dict(layers=[20, 16, 5], activation="tanh", output_activation="sigmoid", cost="cross_entropy",
         optimizer="nesterov", eta=0.01,
         batch_size=1),
    dict(layers=[20, 12, 5], activation="leaky_relu", output_activation="identity", cost="quadratic",
         init="he_normal", optimizer="rmsprop", eta=1e-3, batch_size=None),
]


def _fit(cfg, dtype=np.float32, seed=0):
    rng = np.random.default_rng(7)
    X = rng.random((300, 20)).astype(dtype)
    y = (X[:, :5].argmax(axis=1) + (X[:, 5] > 0.9)) % 5
    cfg = dict(cfg)
    net_keys = ("layers", "activation", "output_activation", "cost", "init", "dropout")
    net = bpnn.Network(**{k: cfg.pop(k) for k in net_keys if k in cfg}, dtype=dtype, seed=seed)
    history = net.fit(X, y, epochs=3, **cfg)
    return net, history, X


@pytest.mark.parametrize("cfg", NETS, ids=["sgd-sigmoid", "adam-relu-dropout", "nesterov-tanh-1", "rmsprop-full"])
def test_training_with_kernels_follows_the_reference(cfg, calls):
    (net_k, h_k, X), (net_r, h_r, _) = _both(lambda: _fit(cfg))
    assert calls[cfg["optimizer"]] > 0 and calls["output_delta"] > 0 and calls["backward_factor"] > 0
    assert net_k.flat_params.dtype == np.float32
    np.testing.assert_allclose(net_k.flat_params, net_r.flat_params, rtol=1e-3, atol=2e-5)
    np.testing.assert_allclose(h_k.loss, h_r.loss, rtol=1e-4)
    assert (net_k.predict(X) == net_r.predict(X)).mean() > 0.99


@pytest.mark.parametrize("cfg", NETS[:2], ids=["sgd-sigmoid", "adam-relu-dropout"])
def test_same_seed_same_weights_with_kernels(cfg, calls):
    a, _, X = _fit(cfg, seed=4)
    assert calls[cfg["optimizer"]] > 0
    b, _, _ = _fit(cfg, seed=4)
    np.testing.assert_array_equal(a.flat_params, b.flat_params)


def test_float64_gradients_through_the_kernels_pass_the_gradient_check():
    net = bpnn.Network([6, 5, 4], activation="tanh", output_activation="softmax", cost="cross_entropy",
                       dtype="float64", seed=0)
    X = np.random.default_rng(0).normal(size=(8, 6))
    assert max(bpnn.gradient_check(net, X, np.arange(8) % 4)) < 1e-6


def test_predict_and_evaluate_agree_with_the_reference_on_real_digits(calls):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    X_train, y_train, X_test, y_test = X[:1400], y[:1400], X[1400:], y[1400:]
    net = bpnn.Network([64, 32, 10], activation="relu", output_activation="softmax", cost="cross_entropy",
                       init="he_normal", seed=0)
    net.fit(X_train, y_train, epochs=3, optimizer="adam", eta=3e-3, batch_size=32)
    (p_k, e_k), (p_r, e_r) = _both(lambda: (net.predict(X_test), net.evaluate(X_test, y_test)))
    assert calls["bias_argmax"] > 0
    np.testing.assert_array_equal(p_k, p_r)
    assert e_k.correct == e_r.correct and e_k.accuracy > 0.8
    assert e_k.loss == pytest.approx(e_r.loss, rel=1e-5)


def test_two_threads_train_at_once_with_the_kernels(calls):
    """Serving and sweeps train in threads: the kernels release the GIL and share nothing between calls."""
    cfg = NETS[1]
    alone, _, _ = _fit(cfg, seed=1)
    assert calls["adam"] > 0
    results = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, _fit(cfg, seed=1)[0])) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    for net in results.values():
        np.testing.assert_array_equal(net.flat_params, alone.flat_params)


# -- the switch and the fallback ------------------------------------------------
def test_the_switch_selects_the_reference_and_restores():
    assert accel.set_kernels("numpy") == "numba"
    try:
        assert accel.kernels_in_use() == "numpy"
    finally:
        accel.set_kernels("numba")
    with pytest.raises(ValueError, match="one of auto, numba, numpy"):
        accel.set_kernels("cuda")


def test_a_kernel_that_fails_to_compile_falls_back_with_one_line(monkeypatch, capsys):
    def broken(*args):
        raise numba.core.errors.TypingError("no implementation for this signature")

    monkeypatch.setattr(accel, "_failed", None)
    monkeypatch.setattr(kernels, "bias_activation", broken)
    Z, b = _z(np.float32, extremes=False)
    A = np.empty_like(Z)
    assert not accel.try_bias_activation(Z.copy(), b, A, activations.ReLU())
    assert not accel.try_bias_activation(Z.copy(), b, A, activations.ReLU())   # said once
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "failed to build" in err and "NumPy reference" in err
    assert accel.kernels_in_use() == "numpy"           # off for the rest of the process
    net = bpnn.Network([13, 4], activation="relu", seed=0)
    np.testing.assert_allclose(net.feedforward(Z), np.maximum(Z @ net.weights[0] + net.biases[0], 0), rtol=1e-5)


def _python(code: str, **env) -> subprocess.CompletedProcess:
    environ = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=environ, timeout=120)


TRAIN = """
import sys
import numpy as np, bpnn
X = np.random.default_rng(0).random((200, 20), dtype=np.float32)
net = bpnn.Network([20, 1000, 3], seed=0)          # 24,003 parameters: the "auto" mode's kernels apply
net.fit(X, np.arange(200) % 3, epochs=2, batch_size=10)
net.fit(X, np.arange(200) % 3, epochs=1, optimizer="adam")
print("numba" if "bpnn.nn.kernels" in sys.modules else "numpy", *net.flat_params[:6].tolist())
"""


def test_without_numba_one_line_says_so_and_training_runs():
    blocked = "import sys; sys.modules['numba'] = None\n" + TRAIN
    done = _python(blocked)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("numpy")
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "numba is not installed" in lines[0] and "pip install" in lines[0]
    compiled = _python(TRAIN)
    assert compiled.stdout.startswith("numba") and compiled.stderr == ""
    np.testing.assert_allclose([float(v) for v in compiled.stdout.split()[1:]],
                               [float(v) for v in done.stdout.split()[1:]], rtol=1e-4)   # the same training


def test_auto_mode_leaves_small_networks_on_the_reference_and_numba_unloaded():
    """A network under AUTO_MIN_PARAMS (the quick start's 64-64-10) never pays numba's load time and memory."""
    small = TRAIN.replace("[20, 1000, 3]", "[20, 64, 3]") + "print('numba' in sys.modules)"
    done = _python(small)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.split()[-1] == "False"
    forced = _python(small, BPNN_KERNELS="numba")
    assert forced.stdout.split()[-1] == "True" and forced.stderr == ""


def test_in_auto_mode_each_network_decides_by_its_own_size(calls):
    """A small network after a large one in the same process still runs on the reference."""
    with accel.use_kernels("auto"):
        X = np.random.default_rng(0).random((40, 20), dtype=np.float32)
        bpnn.Network([20, 1000, 3], seed=0).fit(X, np.arange(40) % 3, epochs=1)
        assert calls["sgd"] > 0
        calls.clear()
        small = bpnn.Network([20, 8, 3], seed=0)
        small.fit(X, np.arange(40) % 3, epochs=1)
        small.predict(X)
        assert calls == {}


def test_bpnn_kernels_environment_variable():
    off = _python(TRAIN, BPNN_KERNELS="numpy")
    assert off.returncode == 0 and off.stdout.startswith("numpy") and off.stderr == ""
    bad = _python(TRAIN, BPNN_KERNELS="gpu")
    assert bad.returncode != 0 and "BPNN_KERNELS must be one of auto, numba, numpy, got 'gpu'" in bad.stderr
