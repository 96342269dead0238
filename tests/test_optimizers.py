"""Each optimizer against its formula computed by hand, and exact state round trips."""

import numpy as np
import pytest

import bpnn
from bpnn.nn import optimizers as opt_mod


def _pg(seed=0, shapes=((3, 4), (4,))):
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=s) for s in shapes]
    grads_seq = [[rng.normal(size=s) for s in shapes] for _ in range(3)]
    return params, grads_seq


def _run(opt, params, grads_seq):
    params = [p.copy() for p in params]
    for grads in grads_seq:
        opt.step(params, [g.copy() for g in grads])  # step may use grads as scratch
    return params


def test_sgd_one_step():
    params, grads = _pg()
    out = _run(opt_mod.SGD(eta=0.3), params, grads[:1])
    for p, p0, g in zip(out, params, grads[0]):
        np.testing.assert_allclose(p, p0 - 0.3 * g, rtol=1e-14)


def test_momentum_three_steps():
    params, grads = _pg()
    out = _run(opt_mod.Momentum(eta=0.2, mu=0.8), params, grads)
    for i, p0 in enumerate(params):
        v, p = np.zeros_like(p0), p0.copy()
        for g in grads:
            v = 0.8 * v - 0.2 * g[i]
            p = p + v
        np.testing.assert_allclose(out[i], p, rtol=1e-13)


def test_nesterov_three_steps():
    params, grads = _pg()
    out = _run(opt_mod.Nesterov(eta=0.2, mu=0.8), params, grads)
    for i, p0 in enumerate(params):
        v, p = np.zeros_like(p0), p0.copy()
        for g in grads:
            v = 0.8 * v - 0.2 * g[i]
            p = p + 0.8 * v - 0.2 * g[i]
        np.testing.assert_allclose(out[i], p, rtol=1e-13)


def test_rmsprop_three_steps():
    params, grads = _pg()
    out = _run(opt_mod.RMSprop(eta=0.01, rho=0.9, epsilon=1e-8), params, grads)
    for i, p0 in enumerate(params):
        s, p = np.zeros_like(p0), p0.copy()
        for g in grads:
            s = 0.9 * s + 0.1 * g[i] ** 2
            p = p - 0.01 * g[i] / (np.sqrt(s) + 1e-8)
        np.testing.assert_allclose(out[i], p, rtol=1e-12)


def test_adam_three_steps_match_kingma_ba_algorithm_1():
    params, grads = _pg()
    b1, b2, eps, eta = 0.9, 0.999, 1e-8, 0.001
    out = _run(opt_mod.Adam(eta=eta, beta1=b1, beta2=b2, epsilon=eps), params, grads)
    for i, p0 in enumerate(params):
        m, v, p = np.zeros_like(p0), np.zeros_like(p0), p0.copy()
        for t, g in enumerate(grads, start=1):
            m = b1 * m + (1 - b1) * g[i]
            v = b2 * v + (1 - b2) * g[i] ** 2
            m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
            p = p - eta * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(out[i], p, rtol=1e-12)


def test_adam_matches_torch_adam():
    torch = pytest.importorskip("torch")
    params, grads = _pg(shapes=((5, 3),))
    ours = _run(opt_mod.Adam(eta=0.01), params, grads)[0]
    tp = torch.tensor(params[0].copy(), requires_grad=True)
    topt = torch.optim.Adam([tp], lr=0.01)
    for g in grads:
        tp.grad = torch.tensor(g[0])
        topt.step()
    np.testing.assert_allclose(ours, tp.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(opt_mod.OPTIMIZERS))
def test_state_dict_round_trip_resumes_exactly(name):
    params, grads = _pg(seed=4)
    uninterrupted = _run(opt_mod.get_optimizer(name, 0.05), params, grads)

    first = opt_mod.get_optimizer(name, 0.05)
    half = _run(first, params, grads[:2])
    state = first.state_dict()
    _run(first, half, grads[2:])  # later steps must not change the saved state (a copy)
    second = opt_mod.get_optimizer(name, 0.05)
    second.load_state_dict(state)
    resumed = _run(second, half, grads[2:])
    for a, b in zip(uninterrupted, resumed):
        np.testing.assert_array_equal(a, b)


def test_load_state_dict_rejects_another_optimizer_or_shape():
    adam = opt_mod.Adam()
    adam.step([np.zeros(3)], [np.ones(3)])
    with pytest.raises(ValueError, match="for 'adam', not 'sgd'"):
        opt_mod.SGD().load_state_dict(adam.state_dict())
    other = opt_mod.Adam()
    other.step([np.zeros(4)], [np.ones(4)])
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict(adam.state_dict())


@pytest.mark.parametrize("bad", [dict(eta=0), dict(eta=-1), dict(eta=float("nan"))])
def test_bad_learning_rate_is_rejected(bad):
    with pytest.raises(ValueError, match="eta must be a positive"):
        opt_mod.SGD(**bad)


def test_unknown_optimizer_lists_the_choices():
    with pytest.raises(ValueError, match="choose one of: sgd, momentum, nesterov, adam, rmsprop"):
        opt_mod.get_optimizer("adagrad")


def test_l2_weight_decay_is_the_1_minus_eta_lambda_over_n_form():
    """One full-batch SGD epoch with L2: W ← (1 - ηλ/n) W - η ∂C/∂W; biases not decayed."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 4)), rng.integers(0, 3, 20)
    net = bpnn.Network([4, 5, 3], dtype="float64", seed=1)
    nabla_w, nabla_b = net.gradients(X, y)
    eta, lmbda, n = 0.5, 2.0, 20
    expected_w = [(1 - eta * lmbda / n) * W - eta * g for W, g in zip(net.weights, nabla_w)]
    expected_b = [b - eta * g for b, g in zip(net.biases, nabla_b)]
    net.fit(X, y, epochs=1, batch_size=None, eta=eta, lmbda=lmbda)
    for W, e in zip(net.weights, expected_w):
        np.testing.assert_allclose(W, e, rtol=1e-12)
    for b, e in zip(net.biases, expected_b):
        np.testing.assert_allclose(b, e, rtol=1e-12)


def test_max_norm_caps_every_unit_incoming_weights():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 6)), rng.integers(0, 3, 50)
    net = bpnn.Network([6, 8, 3], init="normal", seed=0)
    assert max(np.linalg.norm(W, axis=0).max() for W in net.weights) > 1.5
    net.fit(X, y, epochs=2, batch_size=10, eta=0.5, max_norm=1.5)
    for W in net.weights:
        assert np.linalg.norm(W, axis=0).max() <= 1.5 * (1 + 1e-5)


@pytest.mark.parametrize("name", list(opt_mod.OPTIMIZERS))
def test_every_optimizer_reduces_the_loss(name):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    net = bpnn.Network([5, 8, 2], activation="tanh", output_activation="softmax",
                       cost="cross_entropy", init="glorot_uniform", seed=0)
    before = net.evaluate(X, y).loss
    eta = {"sgd": 0.5, "momentum": 0.1, "nesterov": 0.1, "adam": 0.01, "rmsprop": 0.01}[name]
    net.fit(X, y, epochs=20, batch_size=20, optimizer=name, eta=eta)
    after = net.evaluate(X, y)
    assert after.loss < 0.5 * before
    assert after.accuracy > 0.9
