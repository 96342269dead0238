"""Cost functions C and the output error δ^L they give (BP1).

Each cost works on batch-first matrices: the output layer's weighted input
``z`` and activation ``a = σ(z)``, and the targets ``y``, all of shape
``(m, k)``.  It provides

``value(z, a, y, weights=None)``
    the mean cost over the ``m`` rows, C = (1/m) Σ_x C_x (a Python float);
    with per-row ``weights`` w_x the weighted mean C = Σ_x w_x C_x / Σ_x w_x
    (scikit-learn's normalisation: a weight of 2 counts a row twice).
``per_row(z, a, y)``
    every row's C_x, shape ``(m,)``.
``delta(z, a, y, activation)``
    BP1, the output error of every row, δ^L = ∇_a C_x ⊙ σ'(z^L), shape
    ``(m, k)``.  Where the textbook cancels σ' (sigmoid with cross-entropy,
    softmax with cross-entropy) the fused, exact form ``a - y`` is used.

Costs:

* ``quadratic``: C_x = ½ ||y - a||², ∇_a C_x = a - y.
* ``cross_entropy`` for sigmoid outputs (per unit):
  C_x = -Σ_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)], δ = a - y.
* ``cross_entropy`` for a softmax output (categorical):
  C_x = -Σ_j y_j ln a_j = (Σ_j y_j) logsumexp(z) - y·z, δ = a Σ_j y_j - y
  (``a - y`` for targets that sum to one).

Both cross-entropies are evaluated from the logits ``z`` with the stable
log-sum-exp / softplus forms, so they never take ``log(0)``.
"""

from __future__ import annotations

import numpy as np

from .activations import Activation, Sigmoid, Softmax

__all__ = [
    "Cost",
    "Quadratic",
    "SigmoidCrossEntropy",
    "SoftmaxCrossEntropy",
    "COSTS",
    "get_cost",
]


class Cost:
    """Base class of the costs."""

    name: str = ""
    #: the compiled twin of :meth:`delta` in :mod:`bpnn.nn.kernels`, declared by a class for itself
    kernel: str | None = None

    def value(self, z: np.ndarray, a: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
        """Mean cost over the rows, C = (1/m) Σ_x C_x, or with ``weights`` (shape ``(m,)``)
        the weighted mean Σ_x w_x C_x / Σ_x w_x (0 when the weights sum to 0)."""
        if weights is None:
            return self._mean(z, a, y)
        total = float(weights.sum(dtype=np.float64))
        return float(self.per_row(z, a, y) @ weights) / total if total > 0 else 0.0

    def _mean(self, z: np.ndarray, a: np.ndarray, y: np.ndarray) -> float:
        return float(self.per_row(z, a, y).sum()) / z.shape[0]

    def per_row(self, z: np.ndarray, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Every row's cost C_x, shape ``(m,)``, in the dtype of ``z``."""
        raise NotImplementedError

    def delta(
        self,
        z: np.ndarray,
        a: np.ndarray,
        y: np.ndarray,
        activation: Activation,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """BP1: δ^L = ∇_a C_x ⊙ σ'(z^L) for every row, shape ``(m, k)``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class Quadratic(Cost):
    """Quadratic cost C = 1/(2n) Σ_x ||y(x) - a||², ∇_a C_x = a - y."""

    name = "quadratic"
    kernel = "quadratic"

    def _mean(self, z, a, y):
        diff = a - y
        return 0.5 * float(np.einsum("ij,ij->", diff, diff)) / a.shape[0]

    def per_row(self, z, a, y):
        diff = a - y
        out = np.einsum("ij,ij->i", diff, diff)
        out *= 0.5
        return out

    def delta(self, z, a, y, activation, out=None):
        # BP1: δ^L = (a - y) ⊙ σ'(z^L); for a sigmoid output (a - y) ⊙ a(1 - a).
        grad_a = np.subtract(a, y, out=out)
        return activation.backward(z, a, grad_a, out=grad_a)


class SigmoidCrossEntropy(Cost):
    """Per-unit cross-entropy for sigmoid outputs.

    C_x = -Σ_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)], evaluated from the
    logits as Σ_j [max(z_j, 0) - z_j y_j + ln(1 + e^(-|z_j|))].
    BP1 with σ' = a(1 - a) cancels to δ^L = a - y.
    """

    name = "cross_entropy"
    kernel = "sigmoid_cross_entropy"

    def _mean(self, z, a, y):
        softplus = np.log1p(np.exp(-np.abs(z)))
        total = np.maximum(z, 0.0) - z * y + softplus
        return float(total.sum()) / z.shape[0]

    def per_row(self, z, a, y):
        softplus = np.log1p(np.exp(-np.abs(z)))
        total = np.maximum(z, 0.0) - z * y + softplus
        return total.sum(axis=1)

    def delta(self, z, a, y, activation, out=None):
        return np.subtract(a, y, out=out)


class SoftmaxCrossEntropy(Cost):
    """Categorical cross-entropy fused with the softmax output.

    C_x = -Σ_j y_j ln a_j = (Σ_j y_j) logsumexp(z) - y·z, with
    logsumexp(z) = max(z) + ln Σ_j e^(z_j - max(z)).
    BP1 through the softmax Jacobian gives δ^L = a Σ_j y_j - y, which is
    ``a - y`` for one-hot targets.
    """

    name = "cross_entropy"
    kernel = "softmax_cross_entropy"

    def _mean(self, z, a, y):
        return float(self.per_row(z, a, y).sum()) / z.shape[0]

    def per_row(self, z, a, y):
        z_max = z.max(axis=1, keepdims=True)
        lse = z_max[:, 0] + np.log(np.exp(z - z_max).sum(axis=1))
        return y.sum(axis=1) * lse - np.einsum("ij,ij->i", y, z)

    def delta(self, z, a, y, activation, out=None):
        out = np.multiply(a, y.sum(axis=1, keepdims=True), out=out)
        out -= y
        return out


#: Cost names accepted by :func:`get_cost`.
COSTS = ("quadratic", "cross_entropy")


def get_cost(cost: str | Cost, output_activation: Activation) -> Cost:
    """Return the :class:`Cost` for a name and the output layer's activation.

    ``"cross_entropy"`` is per-unit for a sigmoid output and categorical for
    a softmax output; other outputs cannot use it (their activations are not
    probabilities), and the error says what to use instead.
    """
    if isinstance(cost, Cost):
        name = cost.name
    elif isinstance(cost, str) and cost.lower() in COSTS:
        name = cost.lower()
    else:
        raise ValueError(f"unknown cost {cost!r}; choose one of: {', '.join(COSTS)}")
    if name == "quadratic":
        return cost if isinstance(cost, Quadratic) else Quadratic()
    if isinstance(output_activation, Sigmoid):
        return SigmoidCrossEntropy()
    if isinstance(output_activation, Softmax):
        return SoftmaxCrossEntropy()
    raise ValueError(
        f"the cross_entropy cost needs a 'sigmoid' or 'softmax' output activation "
        f"(outputs in (0, 1)), got {output_activation.name!r}; set "
        f"output_activation='softmax' or use cost='quadratic'"
    )
