"""Gradient checking: backpropagation against central differences.

For a parameter w the numerical derivative of the mean cost E is

    ∂E/∂w ≈ (E(w + ε) - E(w - ε)) / 2ε,      ε = 1e-4,

whose error is O(ε²).  :func:`gradient_check` compares it with the
backpropagated derivative for every parameter (or a random sample of each
large layer), in float64, and reports the worst relative error per layer,

    |g_bp - g_num| / max(|g_bp|, |g_num|, floor).

Four significant digits of agreement means a relative error below 1e-4;
a correct implementation in float64 typically gives 1e-7 or better.

Example
-------
>>> import numpy as np, bpnn
>>> rng = np.random.default_rng(0)
>>> net = bpnn.Network([4, 5, 3], seed=0)
>>> X, y = rng.random((8, 4)), rng.integers(0, 3, 8)
>>> result = bpnn.gradient_check(net, X, y)
>>> result.passed, max(result) < 1e-6
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validation

__all__ = ["gradient_check", "GradientCheck"]


@dataclass(frozen=True)
class GradientCheck:
    """The verdict of :func:`gradient_check`.

    Iterating gives the worst relative error of each Dense layer, so
    ``max(result)`` is the worst of all.

    Attributes
    ----------
    errors : tuple of float
        Worst relative error per Dense layer (max over its W and b).
    tolerance : float
        The largest acceptable relative error.
    """

    errors: tuple[float, ...]
    tolerance: float

    @property
    def worst(self) -> float:
        return max(self.errors)

    @property
    def passed(self) -> bool:
        """Whether every layer agrees with central differences within :attr:`tolerance`."""
        return self.worst <= self.tolerance

    def __iter__(self):
        return iter(self.errors)

    def __len__(self) -> int:
        return len(self.errors)

    def __getitem__(self, i: int) -> float:
        return self.errors[i]

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (f"gradient check {verdict}: worst relative error per layer "
                f"{', '.join(f'{e:.2e}' for e in self.errors)} (tolerance {self.tolerance:g})")


def gradient_check(
    net,
    X: np.ndarray,
    y: np.ndarray,
    eps: float = 1e-4,
    max_checks: int = 200,
    seed: int = 0,
    floor: float = 1e-7,
    tolerance: float = 1e-4,
    sample_weight: np.ndarray | None = None,
) -> GradientCheck:
    """Worst relative error between backprop and central differences, per layer.

    Parameters
    ----------
    net : Network
        Checked on a float64 copy (the network itself is not changed);
        dropout is off, as in :meth:`Network.gradients`.
    X : ndarray of shape (n, n_inputs)
    y : ndarray of shape (n,) or (n, n_outputs)
    eps : float
        The finite-difference step ε.
    max_checks : int
        Check at most this many entries of each weight matrix and each bias
        vector, chosen at random with ``seed`` (all of them when smaller).
    floor : float
        Lower bound of the denominator, so gradients that are zero in both
        methods do not divide by zero.
    tolerance : float
        The verdict's threshold: 1e-4 is agreement to four significant digits.
    sample_weight : ndarray of shape (n,), optional
        Check the gradient of the weighted mean cost Σ w_x C_x / Σ w_x instead.

    Returns
    -------
    GradientCheck
        The worst relative error per Dense layer (iterable) and ``passed``.
    """
    net64 = net.astype("float64")
    X = _validation.check_X(X, net64.n_inputs, net64.dtype)
    labels, targets = net64._check_y(y, X.shape[0])
    weights = None if sample_weight is None else _validation.check_sample_weight(
        sample_weight, X.shape[0], net64.dtype)
    nabla_w, nabla_b = net64.gradients(X, targets, weights)
    rng = np.random.default_rng(seed)

    def cost() -> float:
        Z, A = net64._output(X)
        return net64.cost.value(Z, A, targets, weights)

    worst = []
    for layer, gw, gb in zip(net64.dense_layers, nabla_w, nabla_b):
        layer_worst = 0.0
        for param, analytic in ((layer.W, gw), (layer.b, gb)):
            flat_p, flat_g = param.reshape(-1), analytic.reshape(-1)
            if flat_p.size > max_checks:
                indices = rng.choice(flat_p.size, size=max_checks, replace=False)
            else:
                indices = np.arange(flat_p.size)
            for i in indices:
                saved = flat_p[i]
                flat_p[i] = saved + eps
                e_plus = cost()
                flat_p[i] = saved - eps
                e_minus = cost()
                flat_p[i] = saved
                numeric = (e_plus - e_minus) / (2.0 * eps)
                bp = flat_g[i]
                rel = abs(bp - numeric) / max(abs(bp), abs(numeric), floor)
                layer_worst = max(layer_worst, float(rel))
        worst.append(layer_worst)
    return GradientCheck(tuple(worst), float(tolerance))
