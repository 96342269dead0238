"""Optimizers: the update rules of gradient descent, separate from the layers.

An optimizer is given a list of parameter arrays and the list of their
gradients (the gradient of the *mean* cost over the mini-batch, so the
sources' "η/m times the summed gradient" is ``eta * grad``) and updates the
parameters in place.  Its state (velocities, moments) lives in lists aligned
with the parameters, as in scikit-learn.  ``state_dict()`` and
``load_state_dict()`` capture and restore everything, so a checkpointed run
resumes exactly.

``step`` uses the gradient arrays as scratch space: their contents are
undefined afterwards.

Speed.  The element-wise rules are memory-bound: Adam is twelve passes over
the parameters (NumPy has no fused multiply-add).  They run block by block
(:data:`CHUNK` elements, so that every pass after the first finds its
operands in the core's cache), in place, with one block-sized scratch
array.  The result does not depend on the blocking: every element sees the
same operations in the same order.  (Sharing the blocks among threads was
measured too: NumPy's GIL hand-offs and the BLAS threads' spinning ate the
gain, so it was not kept.)

Compiled kernels.  When numba is installed, :meth:`Optimizer.update` (the
training step) runs each rule, with the L2 term and the subnormal flush, as
one fused pass of :mod:`bpnn.nn.kernels` over the flat parameter vector
instead of the NumPy passes below, which stay the reference: same operations
in the same order, so the same numbers (see :mod:`bpnn.nn.accel`).

Update rules (g = ∂C/∂p):

* SGD:       p ← p - η g
* Momentum:  v ← μ v - η g;  p ← p + v
* Nesterov:  v ← μ v - η g;  p ← p + μ v - η g
* RMSprop:   s ← ρ s + (1 - ρ) g²;  p ← p - η g / (√s + ε)
* Adam:      t ← t + 1;  m ← β₁ m + (1 - β₁) g;  v ← β₂ v + (1 - β₂) g²;
             m̂ = m / (1 - β₁ᵗ);  v̂ = v / (1 - β₂ᵗ);  p ← p - η m̂ / (√v̂ + ε)
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from . import accel
from ._params import Configurable

__all__ = [
    "Optimizer",
    "SGD",
    "Momentum",
    "Nesterov",
    "RMSprop",
    "Adam",
    "OPTIMIZERS",
    "get_optimizer",
    "apply_max_norm",
]

#: elements per block of the element-wise updates (a block of each operand
#: stays in a core's L2 cache between the passes)
CHUNK = 1 << 17
#: steps between flushes of tiny optimizer-state entries to zero (see Optimizer._flush_subnormal_state)
FLUSH_EVERY = 16


def _blockwise(update: Callable[..., None], arrays: list[np.ndarray], *args) -> None:
    """Call ``update(*blocks, scratch, *args)`` on consecutive blocks of the
    same-shaped ``arrays`` (at most :data:`CHUNK` elements each); ``scratch``
    is a block-sized work array."""
    if not all(a.flags.c_contiguous for a in arrays):
        update(*arrays, np.empty_like(arrays[0]), *args)
        return
    flat = [a.reshape(-1) for a in arrays]
    n = flat[0].size
    scratch = np.empty(min(CHUNK, n), flat[0].dtype)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        update(*(a[start:stop] for a in flat), scratch[:stop - start], *args)


class Optimizer(Configurable):
    """Base class.  Subclasses name their state lists in ``state_names``.

    Hyper-parameters are the constructor's keyword arguments (see
    :meth:`param_defaults`); ``eta=None`` means the rule's own
    :attr:`default_eta`.  The optimizer also owns the regularisation of a
    training step (:meth:`regularize`): the L2 term and the max-norm
    constraint, applied by :meth:`update`.
    """

    name: str = ""
    #: the fused step in :mod:`bpnn.nn.kernels`, declared by a class for itself: a subclass that
    #: does not declare one (it may change the rule) runs on the NumPy passes
    kernel: str | None = None
    #: η when none is given
    default_eta: float = 0.1
    state_names: tuple[str, ...] = ()
    #: True when the rule uses the gradient only as η g (it is linear in g):
    #: then the training loop may fold η into backpropagation's 1/m, which
    #: scales δ^L and hence every gradient (BP1-BP4 are linear in δ^L), and
    #: call :meth:`step_scaled`, saving a pass over the parameters.
    linear_in_gradient: bool = False
    param_help = {"eta": "learning rate η"}

    def __init__(self, eta: float | None = None) -> None:
        self.eta = _positive("eta", self.default_eta if eta is None else eta)
        #: the learning rate a schedule scales (eta = initial_eta * factor(epoch))
        self.initial_eta = self.eta
        self.t = 0
        self.state: dict[str, list[np.ndarray]] = {}
        self.weight_decay = 0.0
        self.max_norm: float | None = None
        self._decay_buf: np.ndarray | None = None

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        return {**super().param_defaults(), "eta": cls.default_eta}

    # -- one training step --------------------------------------------------
    def regularize(self, lmbda: float = 0.0, n: int = 1, max_norm: float | None = None) -> None:
        """Set the regularisation that :meth:`update` applies.

        Parameters
        ----------
        lmbda : float
            L2 λ: the cost gains (λ/2n) Σ W², so the gradient of every weight
            gains (λ/n) W (biases are not decayed).
        n : int
            Number of training rows.
        max_norm : float, optional
            After every step, rescale each unit's incoming weight vector (a
            column of W) whose Euclidean norm exceeds ``max_norm``.
        """
        if not (math.isfinite(float(lmbda)) and lmbda >= 0):
            raise ValueError(f"lmbda (L2 regularisation) must be >= 0, got {lmbda!r}")
        if max_norm is not None and not (math.isfinite(float(max_norm)) and max_norm > 0):
            raise ValueError(f"max_norm must be a positive number, got {max_norm!r}")
        self.weight_decay = float(lmbda) / n
        self.max_norm = None if max_norm is None else float(max_norm)

    def gradient_scale(self, m: int) -> float:
        """The factor backpropagation applies to δ^L for a batch of ``m`` rows:
        1/m (the mean cost), times η when the rule is :attr:`linear_in_gradient`."""
        return (self.eta if self.linear_in_gradient else 1.0) / m

    def update(self, params: list[np.ndarray], grads: list[np.ndarray], W: np.ndarray, nabla_W: np.ndarray,
               matrices: Sequence[np.ndarray]) -> None:
        """One step after backpropagation: L2 term, the update rule, max-norm.

        Parameters
        ----------
        params, grads : list of ndarray
            What :meth:`step` updates; ``grads`` scaled by :meth:`gradient_scale`.
        W, nabla_W : ndarray
            All weights (not biases) and their gradients: views into
            ``params`` and ``grads``, for the L2 term.
        matrices : sequence of ndarray
            Each layer's weight matrix (views), for the max-norm constraint.
        """
        if not self._fused_update(params, grads, W, nabla_W):
            if self.weight_decay:                  # ∂/∂W of (λ/2n) Σ W², times η when folded
                if self._decay_buf is None or self._decay_buf.shape != W.shape or self._decay_buf.dtype != W.dtype:
                    self._decay_buf = np.empty_like(W)
                np.multiply(W, self._decay_factor(), out=self._decay_buf)
                nabla_W += self._decay_buf
            if self.linear_in_gradient:
                self.step_scaled(params, grads)
            else:
                self.step(params, grads)
        if self.max_norm is not None and not accel.try_max_norm(matrices, self.max_norm):
            apply_max_norm(matrices, self.max_norm)

    def _decay_factor(self) -> float:
        """The L2 term's factor on W in the gradient: λ/n, times η when η is folded into it."""
        return self.weight_decay * self.eta if self.linear_in_gradient else self.weight_decay

    def _fused_update(self, params: list[np.ndarray], grads: list[np.ndarray], W: np.ndarray,
                      nabla_W: np.ndarray) -> bool:
        """L2 term and update rule as one compiled pass (:mod:`bpnn.nn.kernels`), when the
        parameters are one flat vector whose first entries are ``W`` (and the gradients one whose
        first entries are ``nabla_W``); False: not done, the reference runs."""
        if len(params) != 1 or not (self._is_prefix(W, params[0]) and self._is_prefix(nabla_W, grads[0])):
            return False
        p, g = params[0], grads[0]
        self._ensure_state(params)
        t = self.t + 1
        n_decay = W.size if self.weight_decay else 0
        flush = self._flush_threshold(p.dtype, t)
        state = [self.state[k][0] for k in self.state_names]
        if not accel.try_optimizer_step(accel.declared_kernel(self), p, g, state, n_decay, self._decay_factor(),
                                        *self._kernel_hyper(t, flush)):
            return False
        self.t = t
        return True

    def _is_prefix(self, W: np.ndarray, p: np.ndarray) -> bool:
        """Whether ``W`` is the first ``W.size`` entries of the flat vector ``p`` (the pairs found
        so are remembered, so that each step checks them by identity)."""
        known = self.__dict__.setdefault("_prefix", [])
        if any(a is W and b is p for a, b in known):
            return True
        ok = (W.ndim == 1 and p.ndim == 1 and W.dtype == p.dtype and W.size <= p.size
              and W.strides == p.strides == (p.itemsize,)
              and W.__array_interface__["data"][0] == p.__array_interface__["data"][0])
        if ok:
            known[:] = [*known[-3:], (W, p)]
        return ok

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_prefix", None)           # a cache of views into the network's buffers
        return state

    def _kernel_hyper(self, t: int, flush: float) -> tuple[float, ...]:
        """The rule's scalars for step ``t``, in its kernel's order (after the L2 term's)."""
        return ()

    def _flush_threshold(self, dtype: np.dtype, t: int) -> float:
        """The magnitude below which state entries are set to 0 after step ``t`` (0: no flush this step)."""
        if not self.state_names or t % FLUSH_EVERY or np.dtype(dtype).kind != "f":
            return 0.0
        return float(np.ldexp(1.0, np.finfo(dtype).minexp + 26))

    def _ensure_state(self, params: list[np.ndarray]) -> None:
        for key in self.state_names:
            existing = self.state.get(key)
            if existing is None or len(existing) != len(params):
                self.state[key] = [np.zeros_like(p) for p in params]

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Update every ``params[i]`` in place from ``grads[i]``."""
        self._ensure_state(params)
        self.t += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            self._update(i, p, g)
        self._flush_subnormal_state()

    def _flush_subnormal_state(self) -> None:
        """Every :data:`FLUSH_EVERY` steps, set state entries below
        2^(min exponent + 26) in magnitude (2^-100 ≈ 8e-31 in float32) to zero.

        A moment or velocity whose gradient stays zero (a dead unit, a pixel
        that is always blank) decays geometrically and would become subnormal,
        and arithmetic on subnormal numbers is about a hundred times slower on
        x86 CPUs: training slowed from epoch to epoch.  Zeroing such entries
        while they are still normal (they need 26 more halvings to become
        subnormal, more steps than :data:`FLUSH_EVERY`) keeps every pass at
        full speed.  It changes no parameter: an entry that small moves a
        weight by far less than the weight's own rounding unit.
        """
        for key in self.state_names:
            for a in self.state.get(key, ()):
                threshold = self._flush_threshold(a.dtype, self.t)
                if threshold:
                    _blockwise(_flush_block, [a], threshold)

    def step_scaled(self, params: list[np.ndarray], scaled_grads: list[np.ndarray]) -> None:
        """:meth:`step` given ``η g`` instead of ``g``, for the rules in which
        g appears only as η g (SGD, momentum, Nesterov): the training loop
        folds η into backpropagation and saves a pass over the parameters."""
        raise NotImplementedError(f"{type(self).__name__} needs the plain gradient; use step()")

    def _update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, float]:
        """:meth:`get_params` (kept for the checkpoint format)."""
        return self.get_params()

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue: name, hyper-parameters, step count, state arrays (copies)."""
        return {
            "name": self.name,
            "hyperparameters": self.hyperparameters(),
            "initial_eta": self.initial_eta,
            "t": self.t,
            "state": {k: [a.copy() for a in v] for k, v in self.state.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`; the arrays must match in count, shape and dtype."""
        if state.get("name") != self.name:
            raise ValueError(
                f"optimizer state is for {state.get('name')!r}, not {self.name!r}; "
                f"resume with the optimizer the run was started with"
            )
        for key, value in state.get("hyperparameters", {}).items():
            setattr(self, key, float(value))
        self.initial_eta = float(state.get("initial_eta", self.eta))
        self.t = int(state.get("t", 0))
        arrays = state.get("state", {})
        missing = set(self.state_names) - set(arrays)
        if self.t and missing:
            raise ValueError(f"optimizer state lacks {sorted(missing)}; the checkpoint is incomplete")
        current = self.state
        new_state = {k: [np.array(a, copy=True) for a in arrays[k]] for k in self.state_names if k in arrays}
        for k, arrs in new_state.items():
            if k in current and len(current[k]) == len(arrs):
                for old, new in zip(current[k], arrs):
                    if old.shape != new.shape or old.dtype != new.dtype:
                        raise ValueError(
                            f"optimizer state {k!r} has an array of shape {new.shape} {new.dtype}, "
                            f"expected {old.shape} {old.dtype}; the checkpoint is for another network"
                        )
        self.state = new_state

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v:g}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({hp})"


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def _fraction(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


class SGD(Optimizer):
    """Plain (stochastic, mini-batch or full-batch) gradient descent: p ← p - η g."""

    name = "sgd"
    kernel = "sgd"
    default_eta = 0.5
    linear_in_gradient = True

    def _update(self, i, p, g):
        g *= self.eta
        p -= g

    def step_scaled(self, params: list[np.ndarray], scaled_grads: list[np.ndarray]) -> None:
        """:meth:`step` given ``η g`` instead of ``g``: p ← p - (η g), one pass."""
        self.t += 1
        for p, g in zip(params, scaled_grads):
            p -= g


class Momentum(Optimizer):
    """Momentum: v ← μ v - η g;  p ← p + v."""

    name = "momentum"
    kernel = "momentum"
    default_eta = 0.05
    state_names = ("velocity",)
    linear_in_gradient = True
    param_help = {"mu": "momentum coefficient μ"}

    def __init__(self, eta: float | None = None, mu: float = 0.9) -> None:
        super().__init__(eta)
        self.mu = _fraction("mu", mu)

    @staticmethod
    def _block(p, g, v, scratch, mu, eta):
        """v ← μ v - η g;  p ← p + v, on one block (``eta`` None: g is η g already)."""
        v *= mu
        if eta is not None:
            g *= eta
        v -= g                      # v = μ v_old - η g
        p += v

    def _update(self, i, p, g):
        _blockwise(self._block, [p, g, self.state["velocity"][i]], self.mu, self.eta)

    def _kernel_hyper(self, t, flush):
        return self.mu, flush

    def step_scaled(self, params, scaled_grads):
        self._ensure_state(params)
        self.t += 1
        for i, (p, g) in enumerate(zip(params, scaled_grads)):
            _blockwise(self._block, [p, g, self.state["velocity"][i]], self.mu, None)
        self._flush_subnormal_state()


class Nesterov(Momentum):
    """Nesterov momentum: v ← μ v - η g;  p ← p + μ v - η g."""

    name = "nesterov"
    kernel = "nesterov"

    @staticmethod
    def _block(p, g, v, scratch, mu, eta):
        """v ← μ v - η g;  p ← p + μ v - η g, on one block (``eta`` None: g is η g already)."""
        v *= mu
        if eta is not None:
            g *= eta
        v -= g                      # v = μ v_old - η g
        p -= g                      # p - η g
        np.multiply(v, mu, out=g)
        p += g                      # + μ v


class RMSprop(Optimizer):
    """RMSprop: s ← ρ s + (1 - ρ) g²;  p ← p - η g / (√s + ε)."""

    name = "rmsprop"
    kernel = "rmsprop"
    default_eta = 0.001
    state_names = ("square_avg",)
    param_help = {"rho": "decay of the squared-gradient average ρ", "epsilon": "ε added to the denominator"}

    def __init__(self, eta: float | None = None, rho: float = 0.9, epsilon: float = 1e-8) -> None:
        super().__init__(eta)
        self.rho = _fraction("rho", rho)
        self.epsilon = _positive("epsilon", epsilon)


    def _kernel_hyper(self, t, flush):
        return self.rho, 1.0 - self.rho, self.epsilon, self.eta, flush

    def _update(self, i, p, g):
        _blockwise(_rmsprop_block, [p, g, self.state["square_avg"][i]], self.rho, self.epsilon, self.eta)


def _rmsprop_block(p, g, s, scratch, rho, epsilon, eta):
    s *= rho
    np.multiply(g, g, out=scratch)
    scratch *= 1.0 - rho
    s += scratch                # s = ρ s + (1 - ρ) g²
    denom = np.sqrt(s, out=scratch)
    denom += epsilon
    g /= denom
    g *= eta
    p -= g


class Adam(Optimizer):
    """Adam (Kingma & Ba, Algorithm 1) with bias correction.

    m ← β₁ m + (1 - β₁) g;  v ← β₂ v + (1 - β₂) g²;
    p ← p - η m̂ / (√v̂ + ε), m̂ = m / (1 - β₁ᵗ), v̂ = v / (1 - β₂ᵗ).

    Computed as p ← p - [η √(1-β₂ᵗ) / (1-β₁ᵗ)] · m / (√v + ε √(1-β₂ᵗ)),
    which is the same number with fewer passes over memory.
    """

    name = "adam"
    kernel = "adam"
    default_eta = 0.001
    state_names = ("m", "v")
    param_help = {"beta1": "decay of the first moment β₁", "beta2": "decay of the second moment β₂",
                  "epsilon": "ε added to the denominator"}

    def __init__(
        self,
        eta: float | None = None,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> None:
        super().__init__(eta)
        self.beta1 = _fraction("beta1", beta1)
        self.beta2 = _fraction("beta2", beta2)
        self.epsilon = _positive("epsilon", epsilon)


    def _corrected(self, t: int) -> tuple[float, float]:
        """ε̂ = ε √(1-β₂ᵗ) and the step η √(1-β₂ᵗ) / (1-β₁ᵗ) of step ``t``."""
        bc1 = 1.0 - self.beta1 ** t
        sqrt_bc2 = (1.0 - self.beta2 ** t) ** 0.5
        return self.epsilon * sqrt_bc2, self.eta * sqrt_bc2 / bc1

    def _update(self, i, p, g):
        _blockwise(_adam_block, [p, g, self.state["m"][i], self.state["v"][i]],
                   self.beta1, self.beta2, *self._corrected(self.t))

    def _kernel_hyper(self, t, flush):
        return (self.beta1, 1.0 - self.beta1, self.beta2, 1.0 - self.beta2, *self._corrected(t), flush)


def apply_max_norm(matrices: Sequence[np.ndarray], c: float) -> None:
    """Rescale every column of each W (a unit's incoming weights) to norm <= c, in place."""
    for W in matrices:
        norms = np.sqrt(np.einsum("ij,ij->j", W, W))
        scale = np.minimum(1.0, c / np.maximum(norms, 1e-12)).astype(W.dtype)
        W *= scale


def _flush_block(a, scratch, threshold):
    np.copyto(a, 0.0, where=np.abs(a, out=scratch) < threshold)


def _adam_block(p, g, m, v, scratch, beta1, beta2, eps_hat, step):
    """One block of Adam: twelve in-place passes, no allocation."""
    # m ← β₁ m + (1 - β₁) g
    m *= beta1
    np.multiply(g, 1.0 - beta1, out=scratch)
    m += scratch
    # v ← β₂ v + (1 - β₂) g², using g as scratch from here on
    v *= beta2
    np.multiply(g, g, out=g)
    g *= 1.0 - beta2
    v += g
    # p ← p - [η √(1-β₂ᵗ) / (1-β₁ᵗ)] · m / (√v + ε √(1-β₂ᵗ))
    denom = np.sqrt(v, out=g)
    denom += eps_hat
    np.divide(m, denom, out=denom)
    denom *= step
    p -= denom


#: The optimizers by their string names.
OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, Momentum, Nesterov, Adam, RMSprop)
}


def get_optimizer(optimizer: str | Optimizer, eta: float | None = None, **kwargs: float) -> Optimizer:
    """An optimizer from a name (with ``eta`` and hyper-parameters) or an instance.

    For an instance, a given ``eta`` replaces its learning rate.
    """
    if isinstance(optimizer, Optimizer):
        if eta is not None:
            optimizer.eta = optimizer.initial_eta = _positive("eta", eta)
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()](eta, **kwargs)
    raise ValueError(
        f"unknown optimizer {optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}"
    )
