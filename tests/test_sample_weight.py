"""Per-row weights in the core: the weighted mean cost Σ w C / Σ w and its gradient.

The estimator's ``sample_weight`` and ``class_weight`` (bpnn/sklearn.py) go
through these: Cost.value(weights=), Network.backprop/gradients/evaluate
(sample_weight=), gradient_check(sample_weight=) and fit(sample_weight=).
"""

import zlib

import numpy as np
import pytest

import bpnn
from bpnn.nn.activations import TRAINABLE

HIDDEN = [a for a in TRAINABLE if a != "softmax"]
OUTPUT_COSTS = [("sigmoid", "quadratic"), ("sigmoid", "cross_entropy"), ("softmax", "quadratic"),
                ("softmax", "cross_entropy"), ("tanh", "quadratic"), ("identity", "quadratic"),
                ("relu", "quadratic")]


def _data(n_in, n_out, n=9, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, n_in)), rng.integers(0, n_out, n), rng.uniform(0, 3, n)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
def test_gradient_check_of_the_weighted_cost(hidden, output, cost):
    seed = zlib.crc32(f"{hidden}/{output}/{cost}".encode()) % 1000
    net = bpnn.Network([5, 4, 3], activation=hidden, output_activation=output, cost=cost, init="glorot_normal",
                       seed=seed)
    for attempt in range(2000):      # keep ReLU pre-activations away from the kink (as test_gradients does)
        X, y, w = _data(5, 3, seed=seed + 1000 * attempt)
        A, clear = X, True
        for layer in net.dense_layers:
            Z = A @ layer.W.astype(np.float64) + layer.b
            clear &= layer.activation.name not in ("relu", "leaky_relu") or np.abs(Z).min() > 2e-4
            A = layer.activation.forward(Z)
        if clear:
            break
    w[0] = 0.0                       # a zero weight leaves its row out of cost and gradient
    result = bpnn.gradient_check(net, X, y, sample_weight=w)
    assert result.passed, result                     # four significant digits, as test_gradients asks


def test_the_weighted_gradient_is_the_weighted_mean_of_per_row_gradients():
    net = bpnn.Network([4, 6, 3], activation="tanh", output_activation="softmax", cost="cross_entropy",
                       dtype="float64", seed=1)
    X, y, w = _data(4, 3, n=7, seed=3)
    weighted = net.gradients(X, y, sample_weight=w)
    per_row = [net.gradients(X[i:i + 1], y[i:i + 1]) for i in range(7)]
    for part in (0, 1):
        for layer in range(2):
            expected = sum(w[i] * per_row[i][part][layer] for i in range(7)) / w.sum()
            np.testing.assert_allclose(weighted[part][layer], expected, rtol=1e-10, atol=1e-14)


def test_integer_weights_equal_repeated_rows_in_full_batch_training():
    rng = np.random.default_rng(0)
    X, y = rng.random((30, 6)), rng.integers(0, 3, 30)
    w = rng.integers(0, 4, 30)
    w[0] = 2
    kwargs = dict(activation="relu", output_activation="softmax", cost="cross_entropy", dtype="float64", seed=4)
    weighted, repeated = bpnn.Network([6, 8, 3], **kwargs), bpnn.Network([6, 8, 3], **kwargs)
    h1 = weighted.fit(X, y, epochs=20, batch_size=None, optimizer="adam", eta=0.01, lmbda=0.5, sample_weight=w)
    h2 = repeated.fit(np.repeat(X, w, axis=0), np.repeat(y, w), epochs=20, batch_size=None, optimizer="adam",
                      eta=0.01, lmbda=0.5)
    np.testing.assert_allclose(weighted.flat_params, repeated.flat_params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h1.loss, h2.loss, rtol=1e-10)
    np.testing.assert_allclose(h1.accuracy, h2.accuracy, rtol=1e-12)
    ev_w = weighted.evaluate(X, y, sample_weight=w)
    ev_r = repeated.evaluate(np.repeat(X, w, axis=0), np.repeat(y, w))
    assert ev_w.accuracy == pytest.approx(ev_r.accuracy) and ev_w.loss == pytest.approx(ev_r.loss, rel=1e-10)


def test_unit_weights_train_bit_identically_to_no_weights():
    """All-one weights take the weighted path, and give the same bits: w_x/Σw·η is η/m."""
    rng = np.random.default_rng(1)
    X, y = rng.random((95, 8), dtype=np.float32), rng.integers(0, 4, 95)
    for optimizer in ("sgd", "adam"):
        a = bpnn.Network([8, 16, 4], activation="sigmoid", cost="quadratic", seed=7)
        b = bpnn.Network([8, 16, 4], activation="sigmoid", cost="quadratic", seed=7)
        a.fit(X, y, epochs=3, batch_size=10, optimizer=optimizer, eta=0.5 if optimizer == "sgd" else 0.01)
        b.fit(X, y, epochs=3, batch_size=10, optimizer=optimizer, eta=0.5 if optimizer == "sgd" else 0.01,
              sample_weight=np.ones(95))
        assert np.array_equal(a.flat_params, b.flat_params), optimizer


def test_float32_stays_float32_with_float64_weights():
    rng = np.random.default_rng(2)
    X, y = rng.random((40, 5), dtype=np.float32), rng.integers(0, 2, 40)
    net = bpnn.Network([5, 4, 2], seed=0)
    w = rng.random(40)                                  # float64
    net.fit(X, y, epochs=2, batch_size=8, sample_weight=w)
    assert net.flat_params.dtype == np.float32
    nabla_w, nabla_b = net.gradients(X, y, sample_weight=w)
    assert {a.dtype for a in nabla_w + nabla_b} == {np.dtype(np.float32)}
    ev = net.evaluate(X, y, sample_weight=w)
    assert isinstance(ev.loss, float) and 0 <= ev.accuracy <= 1


def test_zero_weights_leave_rows_out_and_validation_rows_carry_their_own_weights():
    rng = np.random.default_rng(3)
    X, y = rng.random((20, 4)), rng.integers(0, 2, 20)
    kwargs = dict(activation="tanh", output_activation="softmax", cost="cross_entropy", dtype="float64", seed=2)
    w = np.r_[np.ones(12), np.zeros(8)]
    a, b = bpnn.Network([4, 5, 2], **kwargs), bpnn.Network([4, 5, 2], **kwargs)
    a.fit(X, y, epochs=5, batch_size=None, sample_weight=w, validation_data=(X, y, w))
    b.fit(X[:12], y[:12], epochs=5, batch_size=None, validation_data=(X[:12], y[:12]))
    np.testing.assert_allclose(a.flat_params, b.flat_params, rtol=1e-12)
    assert a.history_.val_loss == pytest.approx(b.history_.val_loss, rel=1e-12)


@pytest.mark.parametrize("weights,message", [
    (np.zeros(6), "sums to zero"), (-np.ones(6), "negative"), (np.ones(5), r"expected one weight per row"),
    (np.array([1, 1, np.nan, 1, 1, 1.0]), "NaN"), (np.ones((6, 1)), "expected one weight per row")])
def test_bad_weights_are_refused_with_the_reason(weights, message):
    net = bpnn.Network([3, 2], seed=0)
    X, y = np.random.default_rng(0).random((6, 3)), np.array([0, 1] * 3)
    with pytest.raises(ValueError, match=message):
        net.fit(X, y, epochs=1, sample_weight=weights)


def test_a_network_pickles_with_its_flat_buffer_intact():
    import copy
    import pickle

    rng = np.random.default_rng(0)
    X, y = rng.random((50, 6), dtype=np.float32), rng.integers(0, 3, 50)
    net = bpnn.Network([6, 8, 3], activation="relu", output_activation="softmax", cost="cross_entropy",
                       dropout=0.3, seed=5)
    net.fit(X, y, epochs=2, batch_size=10, optimizer="adam")
    for twin in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        assert twin.dense_layers[0].W.base is twin.flat_params          # views again, not copies
        np.testing.assert_array_equal(twin.predict_proba(X), net.predict_proba(X))
    twin = pickle.loads(pickle.dumps(net))
    opt_a, opt_b = net.optimizer_, twin.optimizer_
    net.fit(X, y, epochs=4, initial_epoch=2, batch_size=10, optimizer=opt_a)
    twin.fit(X, y, epochs=4, initial_epoch=2, batch_size=10, optimizer=opt_b)
    assert np.array_equal(net.flat_params, twin.flat_params)          # the same RNG, dropout masks, Adam state
