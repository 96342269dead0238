"""Activation functions σ and their derivatives, side by side.

Every activation works on a batch-first matrix ``z`` of shape ``(m, n)``
(``m`` samples, ``n`` units) and provides

``forward(z, out=None)``
    ``a = σ(z)``, shape ``(m, n)``; with ``out`` it writes in place.
``backward(z, a, grad_a, out=None)``
    the error ``δ = ∂C/∂z`` from ``∂C/∂a``.  For the element-wise
    activations this is ``grad_a ⊙ σ'(z)``, the ``⊙ σ'(z^l)`` factor of
    BP1 and BP2.  Softmax couples the units of a row, so its backward is the
    Jacobian-vector product ``a ⊙ (grad_a - Σ_j grad_a_j a_j)``.
    ``out`` may be ``grad_a`` itself (the error is then formed in place).

Derivatives are computed from ``a`` where the textbook does so
(σ' = σ(1 - σ), tanh' = 1 - tanh²), which saves recomputing ``σ(z)``.
Only NumPy is used, and the dtype of ``z`` is preserved.
"""

from __future__ import annotations

import numpy as np

from ._params import Configurable

__all__ = [
    "Activation",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "Identity",
    "Softmax",
    "Step",
    "ACTIVATIONS",
    "get_activation",
]


class Activation(Configurable):
    """Base class: a named, stateless activation function.

    Hyper-parameters (leaky ReLU's ``alpha``) are constructor keyword arguments.
    """

    name: str = ""
    #: the compiled twin in :mod:`bpnn.nn.kernels`, declared by a class for itself: a subclass
    #: that does not declare one (it may change the formulas) runs on the NumPy code above
    kernel: str | None = None

    def forward(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """σ'(z) element-wise, shape ``(m, n)``; ``a = σ(z)`` is given too."""
        raise NotImplementedError

    def backward(
        self,
        z: np.ndarray,
        a: np.ndarray,
        grad_a: np.ndarray,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """δ = ∂C/∂z = grad_a ⊙ σ'(z), shape ``(m, n)``."""
        return np.multiply(grad_a, self.derivative(z, a), out=out)

    def __repr__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash(self.name)


class Sigmoid(Activation):
    """Logistic sigmoid σ(z) = 1 / (1 + e^(-z)), σ' = σ(1 - σ).

    Evaluated as σ(z) = ½ (1 + tanh(z/2)), which is the same function but
    never overflows: |z| up to 1e4 (and beyond) gives 0 or 1 without a
    warning, in float32 and float64.
    """

    name = "sigmoid"
    kernel = "sigmoid"

    def forward(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        out = np.multiply(z, 0.5, out=out)
        np.tanh(out, out=out)
        out += 1.0
        out *= 0.5
        return out

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return a * (1.0 - a)

    def backward(self, z, a, grad_a, out=None):
        # δ = grad_a ⊙ a(1 - a)
        sigma_prime = np.subtract(1.0, a)
        sigma_prime *= a
        return np.multiply(grad_a, sigma_prime, out=out)


class Tanh(Activation):
    """Hyperbolic tangent, tanh' = 1 - tanh²."""

    name = "tanh"
    kernel = "tanh"

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def derivative(self, z, a):
        return 1.0 - a * a

    def backward(self, z, a, grad_a, out=None):
        # δ = grad_a ⊙ (1 - a²)
        tanh_prime = np.multiply(a, a)
        np.subtract(1.0, tanh_prime, out=tanh_prime)
        return np.multiply(grad_a, tanh_prime, out=out)


class ReLU(Activation):
    """Rectified linear unit max(0, z); its derivative is 1 for z > 0, else 0."""

    name = "relu"
    kernel = "relu"

    def forward(self, z, out=None):
        return np.maximum(z, 0.0, out=out)

    def derivative(self, z, a):
        return (z > 0).astype(z.dtype)

    def backward(self, z, a, grad_a, out=None):
        # δ = grad_a where z > 0, else 0; ``a > 0`` is the same test as ``z > 0``.
        out = np.multiply(grad_a, a > 0, out=out)
        return out


class LeakyReLU(Activation):
    """Leaky ReLU: z for z > 0, ``alpha * z`` otherwise; derivative 1 or ``alpha``."""

    name = "leaky_relu"
    kernel = "leaky_relu"
    param_help = {"alpha": "slope of leaky_relu for z < 0"}

    def __init__(self, alpha: float = 0.01) -> None:
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"leaky_relu alpha must be in [0, 1), got {alpha!r}")
        self.alpha = float(alpha)

    def forward(self, z, out=None):
        # max(z, alpha z) equals z for z > 0 and alpha z otherwise (0 <= alpha < 1).
        scaled = np.multiply(z, self.alpha)
        return np.maximum(z, scaled, out=out)

    def derivative(self, z, a):
        return np.where(z > 0, 1.0, self.alpha).astype(z.dtype)

    def backward(self, z, a, grad_a, out=None):
        return np.multiply(grad_a, self.derivative(z, a), out=out)


class Identity(Activation):
    """Identity (linear) activation, derivative 1."""

    name = "identity"
    kernel = "identity"

    def forward(self, z, out=None):
        if out is None:
            return z.copy()
        np.copyto(out, z)
        return out

    def derivative(self, z, a):
        return np.ones_like(z)

    def backward(self, z, a, grad_a, out=None):
        if out is None:
            return grad_a.copy()
        np.copyto(out, grad_a)
        return out


class Softmax(Activation):
    """Softmax over each row, a_j = e^(z_j) / Σ_k e^(z_k), computed stably.

    Its Jacobian is ∂a_i/∂z_j = a_i (1[i=j] - a_j), so the backward pass is
    δ = a ⊙ (grad_a - Σ_j grad_a_j a_j).  With the cross-entropy cost the
    cost module fuses this to δ = a - y.
    """

    name = "softmax"
    kernel = "softmax"

    def forward(self, z, out=None):
        out = np.subtract(z, z.max(axis=1, keepdims=True), out=out)
        np.exp(out, out=out)
        out /= out.sum(axis=1, keepdims=True)
        return out

    def derivative(self, z, a):
        raise ValueError(
            "softmax has no element-wise derivative (its Jacobian is full); "
            "use Softmax.backward for the Jacobian-vector product"
        )

    def backward(self, z, a, grad_a, out=None):
        dot = np.einsum("ij,ij->i", grad_a, a)[:, None]
        out = np.subtract(grad_a, dot, out=out)
        out *= a
        return out


class Step(Activation):
    """The perceptron's step function: 1 for z > 0, else 0.

    Kept for teaching only.  Its derivative is zero almost everywhere, so it
    cannot be trained by backpropagation and a Network refuses it.
    """

    name = "step"

    def forward(self, z, out=None):
        a = (z > 0).astype(z.dtype)
        if out is None:
            return a
        np.copyto(out, a)
        return out

    def derivative(self, z, a):
        raise ValueError(
            "the step activation has zero derivative almost everywhere and cannot be "
            "trained by backpropagation; use 'sigmoid' (its smooth version) instead"
        )

    backward = Activation.backward


#: The activations by their string names.
ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Sigmoid, Tanh, ReLU, LeakyReLU, Identity, Softmax, Step)
}

#: Names that can be used on the gradient path.
TRAINABLE = tuple(name for name in ACTIVATIONS if name != "step")


def get_activation(activation: str | Activation, **params) -> Activation:
    """Return an :class:`Activation` for a name such as ``"sigmoid"`` or an instance.

    ``params`` are the activation's hyper-parameters (``alpha`` for
    ``leaky_relu``); those it does not declare are ignored, so one set of
    settings can describe any activation.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str) and activation.lower() in ACTIVATIONS:
        cls = ACTIVATIONS[activation.lower()]
        declared = cls.param_defaults()
        return cls(**{k: v for k, v in params.items() if k in declared and v is not None})
    raise ValueError(
        f"unknown activation {activation!r}; choose one of: {', '.join(TRAINABLE)}"
    )
