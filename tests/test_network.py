"""The Network API as a user meets it: construction, dtype, determinism,
learning, and precise errors for bad input."""

import io
import warnings

import numpy as np
import pytest

import bpnn
from bpnn.nn.activations import Sigmoid, Softmax
from bpnn.nn.costs import SoftmaxCrossEntropy
from bpnn.nn.layers import Dense, Dropout
from bpnn.nn.training import Callback


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 8x8 digits, min-max scaled, 25% held out (stratified)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X = (d.data / 16.0).astype(np.float32)
    return train_test_split(X, d.target, test_size=0.25, random_state=0, stratify=d.target)


def _blobs(n=120, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = rng.normal(size=(n, d)) + 3 * np.eye(k, d)[y]
    return X.astype(np.float32), y


# -- construction ---------------------------------------------------------------
def test_repr_shapes_and_defaults():
    net = bpnn.Network([784, 100, 10], activation="sigmoid", cost="quadratic", seed=0)
    assert repr(net) == "Network(784-100-10, sigmoid, quadratic)"
    assert [W.shape for W in net.weights] == [(784, 100), (100, 10)]
    assert [b.shape for b in net.biases] == [(100,), (10,)]
    assert net.sizes == [784, 100, 10]
    assert all(W.dtype == np.float32 for W in net.weights + net.biases)


def test_the_framework_architecture_builds_from_layers():
    net = bpnn.Network([Dense(784, 500, "relu", "he_normal"), Dropout(0.2),
                        Dense(500, 1000, "relu", "he_normal"), Dense(1000, 300, "relu", "he_normal"),
                        Dense(300, 10, "softmax", "glorot_uniform")], cost="cross_entropy", seed=0)
    assert repr(net) == "Network(784-500-1000-300-10, relu, softmax, cross_entropy)"
    assert isinstance(net.cost, SoftmaxCrossEntropy)
    assert net.n_params == 784 * 500 + 500 + 500 * 1000 + 1000 + 1000 * 300 + 300 + 300 * 10 + 10
    X = np.random.default_rng(0).random((5, 784), dtype=np.float32)
    P = net.predict_proba(X)
    assert P.shape == (5, 10) and P.dtype == np.float32
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-5)
    assert net.biases[-1].max() == 0  # glorot: zero biases


def test_sizes_with_dropout_inserts_dropout_after_hidden_layers():
    net = bpnn.Network([6, 5, 4, 3], dropout=0.5, seed=0)
    assert [type(layer).__name__ for layer in net.layers] == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]


@pytest.mark.parametrize("init,w_check,b_zero", [
    ("normal", lambda W, n: abs(W.std() - 1) < 0.05, False),
    ("scaled_normal", lambda W, n: abs(W.std() * np.sqrt(n) - 1) < 0.05, False),
    ("uniform", lambda W, n: W.min() >= -0.1 and W.max() <= 0.1 and abs(W.std() - 0.2 / np.sqrt(12)) < 0.003, True),
    ("glorot_uniform", lambda W, n: W.max() <= np.sqrt(6 / (n + 200)), True),
    ("glorot_normal", lambda W, n: abs(W.std() - np.sqrt(2 / (n + 200))) < 0.003, True),
    ("he_normal", lambda W, n: abs(W.std() - np.sqrt(2 / n)) < 0.003, True),
])
def test_initialisers_draw_from_their_distributions(init, w_check, b_zero):
    net = bpnn.Network([400, 200, 10], init=init, seed=0)
    W, b = net.weights[0], net.biases[0]
    assert w_check(W, 400)
    assert (np.all(b == 0)) == b_zero


def test_per_layer_initialiser_overrides_the_network_default():
    net = bpnn.Network([Dense(50, 40, "tanh", "uniform"), Dense(40, 3, "sigmoid")], init="normal", seed=0)
    assert np.abs(net.weights[0]).max() <= 0.1
    assert np.abs(net.weights[1]).max() > 1.0


# -- dtype ---------------------------------------------------------------------
def test_float32_stays_float32_through_fit_and_predict():
    X, y = _blobs()
    net = bpnn.Network([6, 8, 3], seed=0)
    net.fit(X.astype(np.float64), y, epochs=2, batch_size=16, eta=1.0, optimizer="adam")
    assert net.flat_params.dtype == np.float32
    assert all(W.dtype == np.float32 for W in net.weights + net.biases)
    assert all(a.dtype == np.float32 for lst in net.optimizer_.state.values() for a in lst)
    assert net.predict_proba(X.astype(np.float64)).dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.gradients(X, y)[0])
    assert net.predict(X).dtype == np.int64


def test_float64_network_stays_float64():
    X, y = _blobs()
    net = bpnn.Network([6, 8, 3], dtype="float64", seed=0)
    net.fit(X, y, epochs=1, batch_size=16, eta=1.0)
    assert net.predict_proba(X).dtype == np.float64
    assert net.weights[0].dtype == np.float64


def test_astype_keeps_the_function():
    X, _ = _blobs()
    net = bpnn.Network([6, 8, 3], seed=0)
    net64 = net.astype("float64")
    assert net64.dtype == np.float64 and net.dtype == np.float32
    np.testing.assert_allclose(net64.predict_proba(X), net.predict_proba(X), rtol=1e-5)


# -- determinism ---------------------------------------------------------------
def test_same_seed_same_weights_and_history_different_seed_different():
    X, y = _blobs()
    runs = []
    for seed in (5, 5, 6):
        net = bpnn.Network([6, 8, 3], dropout=0.2, seed=seed)
        initial = net.flat_params.copy()
        history = net.fit(X, y, epochs=3, batch_size=10, eta=0.5, validation_data=(X, y))
        runs.append((initial, net.flat_params.copy(), history))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert [r.loss for r in runs[0][2]] == [r.loss for r in runs[1][2]]
    assert not np.array_equal(runs[0][0], runs[2][0])
    assert not np.array_equal(runs[0][1], runs[2][1])
    assert runs[0][2].loss != runs[2][2].loss


def test_no_hidden_global_random_state():
    X, y = _blobs()
    a = bpnn.Network([6, 8, 3], seed=1)
    a.fit(X, y, epochs=2, batch_size=10, eta=0.5)
    np.random.seed(123)
    np.random.random(100)
    b = bpnn.Network([6, 8, 3], seed=1)
    b.fit(X, y, epochs=2, batch_size=10, eta=0.5)
    np.testing.assert_array_equal(a.flat_params, b.flat_params)


def test_seed_none_records_a_reproducible_seed():
    net = bpnn.Network([4, 3, 2])
    again = bpnn.Network([4, 3, 2], seed=net.seed)
    np.testing.assert_array_equal(net.flat_params, again.flat_params)


def test_continuing_fit_from_an_epoch_equals_one_run():
    """The engine's side of exact resume: weights, optimizer state and RNG state."""
    X, y = _blobs()
    whole = bpnn.Network([6, 8, 3], dropout=0.1, seed=3)
    whole.fit(X, y, epochs=4, batch_size=10, optimizer="adam", eta=0.01)

    part = bpnn.Network([6, 8, 3], dropout=0.1, seed=3)
    history = part.fit(X, y, epochs=2, batch_size=10, optimizer="adam", eta=0.01)
    saved = (part.flat_params.copy(), part.optimizer_.state_dict(), part.rng.bit_generator.state)

    resumed = bpnn.Network([6, 8, 3], dropout=0.1, seed=99)
    resumed.flat_params[...] = saved[0]
    resumed.rng.bit_generator.state = saved[2]
    opt = bpnn.optimizers.Adam()
    opt.load_state_dict(saved[1])
    resumed.fit(X, y, epochs=4, batch_size=10, optimizer=opt, initial_epoch=2, history=history)
    np.testing.assert_array_equal(whole.flat_params, resumed.flat_params)
    assert [r.epoch for r in history] == [1, 2, 3, 4]


# -- learning ------------------------------------------------------------------
def test_xor_is_learned():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0])
    net = bpnn.Network([2, 4, 2], seed=0)
    net.fit(X, y, epochs=1000, batch_size=4, eta=3.0)
    np.testing.assert_array_equal(net.predict(X), y)


def test_experiment_s0_digits_reaches_95_percent(digits):
    """S0: 64-32-16-10 sigmoid, N(0,1)/√n init, quadratic cost (mini-batches to stay fast)."""
    X_train, X_test, y_train, y_test = digits
    net = bpnn.Network([64, 32, 16, 10], activation="sigmoid", cost="quadratic",
                       init="scaled_normal", seed=0)
    history = net.fit(X_train, y_train, epochs=150, batch_size=10, eta=1.0)
    result = net.evaluate(X_test, y_test)
    assert result.total == 450
    assert result.accuracy >= 0.95, result
    assert history.loss[-1] < history.loss[0] / 5


def test_history_records_every_epoch_and_validation(digits):
    X_train, X_test, y_train, y_test = digits
    net = bpnn.Network([64, 20, 10], activation="relu", output_activation="softmax",
                       cost="cross_entropy", init="he_normal", seed=0)
    h = net.fit(X_train, y_train, epochs=3, batch_size=32, optimizer="adam", eta=0.01,
                validation_data=(X_test, y_test))
    assert h.epochs == [1, 2, 3] and len(h) == 3
    assert all(0 <= a <= 1 for a in h.accuracy + h.val_accuracy)
    assert h[-1].val_total == 450 and h[-1].val_correct == round(h[-1].val_accuracy * 450)
    assert h.val_loss[-1] == pytest.approx(net.evaluate(X_test, y_test).loss, rel=1e-6)
    assert net.history_ is h
    assert bpnn.training.History.from_dict(h.to_dict()) == h


def test_soft_targets_are_accepted():
    X, y = _blobs()
    T = np.full((len(y), 3), 0.1, np.float32)
    T[np.arange(len(y)), y] = 0.9
    net = bpnn.Network([6, 8, 3], seed=0)
    net.fit(X, T, epochs=30, batch_size=10, eta=1.0)
    assert net.evaluate(X, y).accuracy > 0.9
    assert net.evaluate(X, T).correct == net.evaluate(X, y).correct


def test_callback_can_stop_training_and_verbose_prints_epochs(capsys):
    X, y = _blobs()

    class StopAt2(Callback):
        def on_epoch_end(self, net, record, history):
            return record.epoch == 2

    net = bpnn.Network([6, 8, 3], seed=0)
    h = net.fit(X, y, epochs=10, batch_size=10, eta=0.5, callbacks=[StopAt2()],
                validation_data=(X, y), verbose=True)
    assert len(h) == 2
    out = capsys.readouterr().out
    assert "Epoch  1/10  loss" in out and f"({h[1].val_correct}/120)" in out   # the CLI's epoch line


def test_schedules_set_the_learning_rate_per_epoch():
    X, y = _blobs()
    net = bpnn.Network([6, 8, 3], seed=0)
    h = net.fit(X, y, epochs=4, batch_size=30, eta=1.0, schedule=bpnn.schedules.StepDecay(2, 0.5))
    assert [r.eta for r in h] == [1.0, 1.0, 0.5, 0.5]
    h = net.fit(X, y, epochs=3, batch_size=30, eta=1.0, schedule="cosine")
    assert [round(r.eta, 6) for r in h] == [1.0, 0.75, 0.25]


def test_dropout_is_inverted_and_off_at_inference():
    layer = Dropout(0.25)
    layer.build(np.random.default_rng(0), np.float32)
    A = np.ones((200, 50), np.float32)
    out = layer.forward(A, training=True)
    assert out.dtype == np.float32
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.02
    assert abs(out.mean() - 1.0) < 0.03
    assert layer.forward(A, training=False) is A


# -- numerics --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_does_not_overflow(dtype):
    z = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = Sigmoid().forward(z)
    assert a.dtype == dtype
    np.testing.assert_allclose(a, [[0, 0, 0.5, 1, 1]], atol=1e-30 if dtype == np.float64 else 1e-38)


def test_softmax_cross_entropy_is_stable_for_large_logits():
    z = np.array([[1000.0, 0.0, -1000.0]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = Softmax().forward(z)
        value = SoftmaxCrossEntropy().value(z, a, np.array([[0, 1, 0]], np.float32))
    assert value == pytest.approx(1000.0)
    np.testing.assert_allclose(a, [[1, 0, 0]])


def test_divergence_stops_with_the_epoch_and_keeps_the_last_good_weights():
    X, y = _blobs()
    net = bpnn.Network([6, 16, 3], activation="relu", output_activation="identity", init="normal", seed=0)
    with pytest.raises(bpnn.DivergenceError, match=r"diverged in epoch \d+.*smaller learning rate"):
        net.fit(X * 100, y, epochs=5, batch_size=10, eta=100.0)
    assert np.isfinite(net.flat_params).all()


# -- bad input ---------------------------------------------------------------------
@pytest.mark.parametrize("X,message", [
    (np.zeros((5, 7)), r"shape \(5, 7\).*input layer has 6 units"),
    (np.zeros(6), r"single sample.*reshape\(1, -1\)"),
    (np.zeros((5, 2, 3)), r"flatten each sample"),
    (np.zeros((0, 6)), "empty"),
    (np.array([["a"] * 6] * 5), "must hold numbers"),
])
def test_bad_input_shapes_are_rejected(X, message):
    net = bpnn.Network([6, 4, 3], seed=0)
    with pytest.raises(ValueError, match=message):
        net.predict(X)


def test_nan_input_is_rejected_with_its_row():
    X, y = _blobs()
    X[17, 2] = np.nan
    net = bpnn.Network([6, 4, 3], seed=0)
    with pytest.raises(ValueError, match=r"X contains 1 NaN or infinite value\(s\) \(first in row 17\)"):
        net.fit(X, y, epochs=1)
    with pytest.raises(ValueError, match="X_val contains"):
        net.fit(X[:10] * 0, y[:10], epochs=1, validation_data=(X, y))


@pytest.mark.parametrize("y,message", [
    (np.full(120, 3), r"label 3, but the network has 3 outputs \(classes 0..2\)"),
    (np.full(120, -1), r"label -1"),
    (np.zeros(100, int), r"y has 100 rows but X has 120"),
    (np.zeros((120, 4)), r"targets \(n, 3\)"),
    (np.full(120, 0.5), "non-integer class labels"),
])
def test_bad_labels_are_rejected(y, message):
    X, _ = _blobs()
    net = bpnn.Network([6, 4, 3], seed=0)
    with pytest.raises(ValueError, match=message):
        net.fit(X, y, epochs=1)


@pytest.mark.parametrize("kwargs,message", [
    (dict(activation="swish"), "unknown activation 'swish'; choose one of: sigmoid, tanh"),
    (dict(cost="hinge"), "unknown cost 'hinge'"),
    (dict(init="zeros"), "unknown initialiser 'zeros'"),
    (dict(dtype="float16"), "unsupported dtype"),
    (dict(activation="relu", cost="cross_entropy"), "needs a 'sigmoid' or 'softmax' output"),
    (dict(activation="step"), "cannot be trained by backpropagation"),
    (dict(seed=-1), "seed must be"),
    (dict(dropout=1.0), r"dropout probability p must be in \[0, 1\)"),
])
def test_bad_options_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bpnn.Network([6, 4, 3], **kwargs)


def test_bad_layer_lists_are_rejected():
    with pytest.raises(ValueError, match="takes 5 inputs but the layer before it gives 4"):
        bpnn.Network([Dense(6, 4), Dense(5, 3)])
    with pytest.raises(ValueError, match="last layer must be Dense"):
        bpnn.Network([Dense(6, 4), Dropout(0.5)])
    with pytest.raises(ValueError, match="at least two positive integers"):
        bpnn.Network([784])


@pytest.mark.parametrize("kwargs,message", [
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(lmbda=-1.0), "lmbda"),
    (dict(eta=-0.1), "eta must be a positive"),
    (dict(optimizer="adagrad"), "unknown optimizer"),
    (dict(max_norm=0), "max_norm"),
    (dict(validation_data=np.zeros(3)), "validation_data must be a pair"),
])
def test_bad_training_options_are_rejected(kwargs, message):
    X, y = _blobs()
    net = bpnn.Network([6, 4, 3], seed=0)
    before = net.flat_params.copy()
    with pytest.raises(ValueError, match=message):
        net.fit(X, y, **kwargs)
    np.testing.assert_array_equal(before, net.flat_params)


def test_set_params_checks_shapes_and_values():
    net = bpnn.Network([6, 4, 3], seed=0)
    with pytest.raises(ValueError, match="do not fit"):
        net.set_params([np.zeros((6, 5)), np.zeros((4, 3))], net.biases)
    with pytest.raises(ValueError, match="NaN"):
        net.set_params([np.full((6, 4), np.nan), np.zeros((4, 3))], net.biases)
    net.set_params([np.ones((6, 4)), np.ones((4, 3))], [np.zeros(4), np.zeros(3)])
    assert net.weights[0].sum() == 24 and net.flat_params[: 24].sum() == 24


def test_on_batch_end_is_called_after_every_step():
    X, y = _blobs(n=95)
    seen = []

    class Count(Callback):
        def on_batch_end(self, net, batch, n_batches):
            seen.append((batch, n_batches))

    bpnn.Network([6, 4, 3], seed=0).fit(X, y, epochs=2, batch_size=10, eta=0.5, callbacks=[Count()])
    assert seen == [(b, 10) for b in range(1, 11)] * 2
