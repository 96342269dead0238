"""Layers with ``forward`` and ``backward``: :class:`Dense` and :class:`Dropout`.

Batch-first throughout: a mini-batch is a matrix with one sample per row.
For a dense layer l with weights ``W`` of shape ``(n_in, n_out)`` and bias
``b`` of shape ``(n_out,)``

    forward:   Z = A_prev W + b,   A = σ(Z)                    (m, n_out)
    BP1/BP2:   δ = ∂C/∂A ⊙ σ'(Z)                               (m, n_out)
    BP3:       ∂C/∂b = Σ_rows δ                                 (n_out,)
    BP4:       ∂C/∂W = A_prevᵀ δ                                (n_in, n_out)
    to l - 1:  ∂C/∂A_prev = δ Wᵀ    (the first half of BP2)      (m, n_in)

which is the textbook's z^l = W^l a^(l-1) + b^l with samples as rows, so
the textbook's W is our ``W.T``.  The "homogeneous" form that folds the bias
into the weights, ``[A_prev, 1] [W; b]``, is the same function; bpnn keeps
the bias separate.

On the training path a layer keeps its inputs and outputs for the backward
pass in buffers it reuses from batch to batch, so a training step allocates
almost nothing.  BP3's row sum is the product ``1ᵀ δ`` with a ones vector
(one BLAS call, several times faster than NumPy's axis reduction on small
batches), and for a single-row batch BP4's product ``A_prevᵀ δ`` is an
outer product, formed by broadcasting (a GEMM with inner dimension 1 is
slow in BLAS).

With numba installed, the element-wise passes (bias + σ; BP2's ⊙ σ'(Z) with
BP3's row sum) run as fused compiled kernels (:mod:`bpnn.nn.accel`); the
NumPy lines beside each call are the reference they reproduce.
"""

from __future__ import annotations

import numpy as np

from . import accel
from .activations import Activation, get_activation
from .initializers import Initializer, get_initializer

__all__ = ["Layer", "Dense", "Dropout"]


class Layer:
    """Base class of the layers.

    ``forward(A, training)`` maps a batch ``(m, n_in)`` to ``(m, n_out)``;
    on the training path it remembers what ``backward`` needs.
    ``backward(grad)`` maps ∂C/∂(output) of shape ``(m, n_out)`` to
    ∂C/∂(input) of shape ``(m, n_in)``, storing any parameter gradients.
    """

    n_in: int
    n_out: int

    def build(self, rng: np.random.Generator, dtype: np.dtype, default_init) -> None:
        """Create parameters (if any) with ``rng``; called by the Network."""

    def forward(self, A: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def config(self) -> dict:
        """The layer's constructor arguments (JSON-serialisable)."""
        raise NotImplementedError


class Dense(Layer):
    """A fully connected layer, A = σ(A_prev W + b).

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths.
    activation : str or Activation, default "sigmoid"
        ``sigmoid``, ``tanh``, ``relu``, ``leaky_relu``, ``identity`` or ``softmax``.
    init : str or callable, optional
        Initialiser name (see :mod:`bpnn.initializers`); ``None`` uses the
        network's ``init``.

    Attributes
    ----------
    W : ndarray of shape (n_in, n_out)
    b : ndarray of shape (n_out,)
    nabla_W, nabla_b : ndarray
        Gradients of the last backward pass, same shapes as ``W`` and ``b``.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        activation: str | Activation = "sigmoid",
        init: str | Initializer | None = None,
    ) -> None:
        for name, n in (("n_in", n_in), ("n_out", n_out)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"Dense {name} must be a positive integer, got {n!r}")
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.activation = get_activation(activation)
        if self.activation.name == "step":
            self.activation.derivative(None, None)  # raises the explanatory error
        self.init = init if init is None else (init if callable(init) else init.lower())
        if init is not None:
            get_initializer(init)  # validate the name now, not at build time
        self.W: np.ndarray | None = None
        self.b: np.ndarray | None = None
        self.nabla_W: np.ndarray | None = None
        self.nabla_b: np.ndarray | None = None
        #: when False, backward() skips ∂C/∂A_prev (nothing below needs it)
        self.propagate_input_grad = True
        self._cache: dict[int, dict[str, np.ndarray]] = {}
        self._A_prev: np.ndarray | None = None
        self._Z: np.ndarray | None = None
        self._A: np.ndarray | None = None

    # -- parameters ---------------------------------------------------------
    def build(self, rng, dtype, default_init="normal"):
        init = get_initializer(self.init if self.init is not None else default_init)
        W, b = init(self.n_in, self.n_out, rng, dtype)
        self.bind(W, b, np.zeros_like(W), np.zeros_like(b))

    def bind(self, W, b, nabla_W, nabla_b) -> None:
        """Use the given arrays (views into the network's flat buffers) as storage."""
        self.W, self.b, self.nabla_W, self.nabla_b = W, b, nabla_W, nabla_b
        self._cache.clear()

    def config(self):
        init = self.init if (self.init is None or isinstance(self.init, str)) else getattr(self.init, "__name__", None)
        # the activation's hyper-parameters (leaky ReLU's alpha) beside its name, whatever they are
        return {"type": "Dense", "n_in": self.n_in, "n_out": self.n_out, "activation": self.activation.name,
                "init": init, **self.activation.get_params()}

    # -- passes -------------------------------------------------------------
    def _buffers(self, m: int) -> dict[str, np.ndarray]:
        buf = self._cache.get(m)
        if buf is None:
            if len(self._cache) > 4:  # batch sizes seldom vary; keep the cache small
                self._cache.clear()
            dt = self.W.dtype
            buf = {
                "Z": np.empty((m, self.n_out), dt),
                "A": np.empty((m, self.n_out), dt),
                "delta": np.empty((m, self.n_out), dt),
                "grad_in": np.empty((m, self.n_in), dt),
                "ones": np.ones(m, dt),
            }
            self._cache[m] = buf
        return buf

    def forward(self, A_prev: np.ndarray, training: bool = False) -> np.ndarray:
        """A = σ(A_prev W + b) for a batch ``A_prev`` of shape ``(m, n_in)``.

        With ``training=True`` the result lives in a buffer the layer reuses
        on its next training call, and the layer remembers ``A_prev``, ``Z``
        and ``A`` for :meth:`backward`.
        """
        if not training:
            Z = A_prev @ self.W
            return self._bias_activation(Z, Z)
        buf = self._buffers(A_prev.shape[0])
        return self.forward_into(A_prev, buf["Z"], buf["A"])

    def forward_into(self, A_prev: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        """Training forward pass writing ``Z = A_prev W + b`` and ``A = σ(Z)``
        into the given ``(m, n_out)`` arrays, which the layer remembers for
        :meth:`backward` (the training loop passes slices of its per-epoch
        output record, so the output layer's results need no copy)."""
        np.matmul(A_prev, self.W, out=Z)
        self._bias_activation(Z, A)
        self._A_prev, self._Z, self._A = A_prev, Z, A
        return A

    def _bias_activation(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        """Z ← Z + b, A ← σ(Z) (``A`` may be ``Z``): a fused kernel, or the NumPy reference."""
        if not accel.try_bias_activation(Z, self.b, A, self.activation):
            Z += self.b
            self.activation.forward(Z, out=A)
        return A

    def forward_logits(self, A_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inference pass returning both ``Z`` and ``A = σ(Z)``, each ``(m, n_out)``."""
        Z = A_prev @ self.W
        return Z, self._bias_activation(Z, np.empty_like(Z))

    def forward_labels(self, A_prev: np.ndarray, decode) -> np.ndarray:
        """Inference for an output layer asked only for labels: ``decode(σ(A_prev W + b))``,
        which a kernel does as argmax_j without forming σ where it can (``decode`` is then argmax)."""
        Z = A_prev @ self.W
        labels = accel.try_bias_argmax(Z, self.b, self.activation)
        return decode(self._bias_activation(Z, Z)) if labels is None else labels

    def backward(self, grad_A: np.ndarray) -> np.ndarray:
        """From ∂C/∂A to ∂C/∂A_prev: δ = ∂C/∂A ⊙ σ'(Z) (BP2's second half), then BP3, BP4."""
        delta = self._buffers(grad_A.shape[0])["delta"]
        if accel.try_backward_factor(grad_A, self._A, delta, self.nabla_b, self.activation):
            return self.backward_weights(delta)                  # BP3 came with δ
        self.activation.backward(self._Z, self._A, grad_A, out=delta)
        return self.backward_delta(delta)

    def backward_delta(self, delta: np.ndarray) -> np.ndarray | None:
        """Given this layer's error δ = ∂C/∂Z ``(m, n_out)``, store the gradients.

        BP3: ∂C/∂b = Σ_rows δ = 1ᵀ δ;  BP4: ∂C/∂W = A_prevᵀ δ.  Returns δ Wᵀ,
        the gradient with respect to the layer's input, ``(m, n_in)`` (None
        when ``propagate_input_grad`` is False).
        """
        np.matmul(self._buffers(delta.shape[0])["ones"], delta, out=self.nabla_b)   # BP3: 1ᵀ δ
        return self.backward_weights(delta)

    def backward_weights(self, delta: np.ndarray) -> np.ndarray | None:
        """BP4 ∂C/∂W = A_prevᵀ δ, and δ Wᵀ (see :meth:`backward_delta`, which adds BP3)."""
        if delta.shape[0] == 1:                                  # BP4 for one row:
            np.multiply(self._A_prev.T, delta, out=self.nabla_W)  # the outer product a δᵀ
        else:
            np.matmul(self._A_prev.T, delta, out=self.nabla_W)   # BP4: A_prevᵀ δ
        if not self.propagate_input_grad:
            return None
        return np.matmul(delta, self.W.T, out=self._buffers(delta.shape[0])["grad_in"])    # first half of BP2

    @property
    def Z(self) -> np.ndarray | None:
        """Weighted input of the last training forward pass."""
        return self._Z

    def __repr__(self) -> str:
        return f"Dense({self.n_in}, {self.n_out}, activation={self.activation.name!r})"


class Dropout(Layer):
    """Inverted dropout: during training each unit is kept with probability
    ``1 - p`` and scaled by ``1/(1 - p)``; at inference it is the identity.

    The mask is drawn from the network's ``numpy.random.Generator``.  Placed
    first, before the first Dense layer, it is input dropout: each pixel is
    dropped with probability ``p`` (Srivastava et al. 2014 use p = 0.2).
    """

    def __init__(self, p: float) -> None:
        if not (isinstance(p, (int, float)) and 0.0 <= p < 1.0):
            raise ValueError(f"dropout probability p must be in [0, 1), got {p!r}")
        self.p = float(p)
        self.n_in = self.n_out = 0  # set by the Network from its neighbours
        self._rng: np.random.Generator | None = None
        self._mask: np.ndarray | None = None
        self._cache: dict[int, np.ndarray] = {}

    def build(self, rng, dtype, default_init=None):
        self._rng = rng
        self._dtype = np.dtype(dtype)
        self._cache.clear()

    def forward(self, A, training=False):
        if not training or self.p == 0.0:
            self._mask = None
            return A
        m = A.shape[0]
        mask = self._cache.get(m)
        if mask is None:
            self._cache = {m: np.empty(A.shape, self._dtype)}
            mask = self._cache[m]
        self._rng.random(out=mask, dtype=self._dtype)
        np.greater_equal(mask, self.p, out=mask)       # 1.0 keep, 0.0 drop
        mask *= 1.0 / (1.0 - self.p)
        self._mask = mask
        return A * mask

    def backward(self, grad):
        if self._mask is None or grad is None:   # None: nothing below needs ∂C/∂A (input dropout)
            return grad
        grad *= self._mask
        return grad

    def config(self):
        return {"type": "Dropout", "p": self.p}

    def __repr__(self) -> str:
        return f"Dropout({self.p})"
