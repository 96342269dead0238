"""Compiled kernels: fused twins of the NumPy reference passes (numba).

The NumPy code in :mod:`~bpnn.nn.optimizers`, :mod:`~bpnn.nn.layers` and
:mod:`~bpnn.nn.costs` is the reference: it is what the docs show, and what
the tests compare these kernels with.  Each kernel here does in one pass over
memory what the reference does in several NumPy calls, with the same
operations in the same order, so the optimizer kernels and the element-wise
products give the reference's numbers bit for bit and the others agree to
float32 rounding (``exp`` and ``tanh`` come from the C library instead of
NumPy's SIMD loops, and BP3 sums rows in order instead of in a BLAS product).

Nothing here is called directly: :mod:`bpnn.nn.accel` decides, per call,
whether a kernel pays and falls back to the reference when numba is absent.
This module imports numba at its top, so importing it is the test of whether
the kernels are available.

Compiled lazily (the first call with a dtype compiles that signature) and
cached on disk (``cache=True``: ``__pycache__`` beside this file, or numba's
user cache directory when that is read-only), so a machine pays compilation
once.  Every kernel releases the GIL (``nogil``), so threads that train or
predict at once (the server, sweeps on threads) run them side by side.  They
are serial: a ``parallel`` build of the optimizer steps halves their time
alone, but inside training it only fought OpenBLAS's threads for the two
cores (measured in docs/performance.md).

Symbols follow the reference: ``p`` parameters, ``g`` their gradient
(``∂C/∂p``, or ``η ∂C/∂p`` where the rule folds η into backpropagation),
``Z``/``A`` a layer's weighted input and activation, ``G`` ``∂C/∂A``,
``delta`` ``∂C/∂Z``.  The first ``n_decay`` entries of the flat parameter
vector are weights, which the L2 term ``g + decay · p`` applies to.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["ACTIVATION_CODES", "COST_KINDS", "OPTIMIZER_KERNELS", "bias_activation", "backward_factor", "output_delta",
           "bias_argmax", "max_norm"]

#: activation names and the integer codes the kernels switch on
ACTIVATION_CODES = {"identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3, "leaky_relu": 4, "softmax": 5}
IDENTITY, SIGMOID, TANH, RELU, LEAKY_RELU, SOFTMAX = range(6)
#: output errors (BP1) by cost: quadratic (any element-wise σ), sigmoid or softmax cross-entropy
COST_KINDS = {"quadratic": 0, "sigmoid_cross_entropy": 1, "softmax_cross_entropy": 2}
QUADRATIC, SIGMOID_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY = range(3)


_OPTIONS = {"nogil": True, "cache": True, "error_model": "numpy", "boundscheck": False}
_jit = numba.njit(**_OPTIONS)


@_jit
def sgd(p, g, n_decay, decay):
    """p ← p - (η g + ηλ/n p): plain SGD with η already in g (and in ``decay``)."""
    for i in range(p.shape[0]):
        gi = g[i]
        if i < n_decay:
            gi = gi + p[i] * decay
        p[i] = p[i] - gi


@_jit
def momentum(p, g, v, n_decay, decay, mu, flush):
    """v ← μ v - η g;  p ← p + v  (η in g); ``|v| < flush`` is stored as 0."""
    for i in range(p.shape[0]):
        gi = g[i]
        if i < n_decay:
            gi = gi + p[i] * decay
        vi = v[i] * mu - gi
        p[i] = p[i] + vi
        v[i] = vi if abs(vi) >= flush else vi - vi


@_jit
def nesterov(p, g, v, n_decay, decay, mu, flush):
    """v ← μ v - η g;  p ← p - η g + μ v  (η in g)."""
    for i in range(p.shape[0]):
        gi = g[i]
        if i < n_decay:
            gi = gi + p[i] * decay
        vi = v[i] * mu - gi
        p[i] = (p[i] - gi) + vi * mu
        v[i] = vi if abs(vi) >= flush else vi - vi


@_jit
def rmsprop(p, g, s, n_decay, decay, rho, one_minus_rho, epsilon, eta, flush):
    """s ← ρ s + (1 - ρ) g²;  p ← p - η g / (√s + ε)."""
    for i in range(p.shape[0]):
        gi = g[i]
        if i < n_decay:
            gi = gi + p[i] * decay
        si = s[i] * rho + (gi * gi) * one_minus_rho
        p[i] = p[i] - (gi / (np.sqrt(si) + epsilon)) * eta
        s[i] = si if si >= flush else si - si


@_jit
def adam(p, g, m, v, n_decay, decay, beta1, one_minus_beta1, beta2, one_minus_beta2, eps_hat, step, flush):
    """m ← β₁ m + (1-β₁) g;  v ← β₂ v + (1-β₂) g²;  p ← p - step · m / (√v + ε̂),
    with step = η √(1-β₂ᵗ)/(1-β₁ᵗ) and ε̂ = ε √(1-β₂ᵗ) (the reference's form)."""
    for i in range(p.shape[0]):
        gi = g[i]
        if i < n_decay:
            gi = gi + p[i] * decay
        mi = m[i] * beta1 + gi * one_minus_beta1
        vi = v[i] * beta2 + (gi * gi) * one_minus_beta2
        p[i] = p[i] - (mi / (np.sqrt(vi) + eps_hat)) * step
        m[i] = mi if abs(mi) >= flush else mi - mi
        v[i] = vi if vi >= flush else vi - vi


#: the fused optimizer steps by the optimizers' names
OPTIMIZER_KERNELS = {f.__name__: f for f in (sgd, momentum, nesterov, rmsprop, adam)}


@_jit
def _sigma(z, code, alpha, one):
    """σ(z) of one element-wise activation (not softmax), by the reference's formula."""
    zero = one - one
    if code == SIGMOID:
        half = one / (one + one)
        return half * (np.tanh(z * half) + one)       # ½ (1 + tanh(z/2)): never overflows
    if code == TANH:
        return np.tanh(z)
    if code == RELU:
        return zero if z < zero else z                 # max(z, 0), NaN kept
    if code == LEAKY_RELU:
        az = z * alpha
        return z if z >= az else az                    # max(z, αz), NaN kept
    return z


@_jit
def _sigma_prime_times(g, a, code, alpha, one):
    """g · σ'(z) for one element, from a = σ(z), as the reference forms it."""
    zero = one - one
    if code == SIGMOID:
        return g * ((one - a) * a)
    if code == TANH:
        return g * (one - a * a)
    if code == RELU:
        return g * (one if a > zero else zero)
    if code == LEAKY_RELU:                              # σ' from z's sign, which a's sign matches
        return g * (one if a > zero else alpha)
    return g


@_jit
def bias_activation(Z, b, A, code, alpha):
    """Z ← Z + b;  A ← σ(Z), row by row, in one pass (``A`` may be ``Z``).

    Z, A : (m, n);  b : (n,);  softmax normalises each row stably."""
    one = Z.dtype.type(1.0)
    m, n = Z.shape
    for i in range(m):
        if code == SOFTMAX:
            top = Z[i, 0] + b[0]
            for j in range(n):
                z = Z[i, j] + b[j]
                Z[i, j] = z
                if z > top:
                    top = z
            total = one - one
            for j in range(n):
                e = np.exp(Z[i, j] - top)
                A[i, j] = e
                total += e
            for j in range(n):
                A[i, j] = A[i, j] / total
        else:
            for j in range(n):
                z = Z[i, j] + b[j]
                Z[i, j] = z
                A[i, j] = _sigma(z, code, alpha, one)


@_jit
def backward_factor(G, A, delta, nabla_b, code, alpha):
    """BP2's element-wise half and BP3 in one pass: δ = G ⊙ σ'(Z), ∂C/∂b = Σ_rows δ.

    G, A, delta : (m, n);  nabla_b : (n,)."""
    one = A.dtype.type(1.0)
    m, n = A.shape
    for j in range(n):
        nabla_b[j] = one - one
    for i in range(m):
        for j in range(n):
            d = _sigma_prime_times(G[i, j], A[i, j], code, alpha, one)
            delta[i, j] = d
            nabla_b[j] += d


@_jit
def output_delta(A, Y, delta, nabla_b, kind, code, alpha, scale, row_scale):
    """BP1 times ``scale`` (1/m, or η/m), or row x times ``row_scale[x]`` when ``row_scale`` is not
    empty (weighted rows), and BP3, in one pass.

    quadratic: δ = (a - y) ⊙ σ'(z);  sigmoid cross-entropy: δ = a - y;
    softmax cross-entropy: δ = a Σ_j y_j - y.  A, Y, delta : (m, k);  row_scale : (m,) or (0,)."""
    one = A.dtype.type(1.0)
    m, n = A.shape
    for j in range(n):
        nabla_b[j] = one - one
    for i in range(m):
        s = row_scale[i] if row_scale.shape[0] else scale
        total = one - one
        if kind == SOFTMAX_CROSS_ENTROPY:
            for j in range(n):
                total += Y[i, j]
        for j in range(n):
            if kind == QUADRATIC:
                d = _sigma_prime_times(A[i, j] - Y[i, j], A[i, j], code, alpha, one)
            elif kind == SIGMOID_CROSS_ENTROPY:
                d = A[i, j] - Y[i, j]
            else:
                d = A[i, j] * total - Y[i, j]
            d = d * s
            delta[i, j] = d
            nabla_b[j] += d


@_jit
def bias_argmax(Z, b, labels, code, alpha):
    """labels[i] = argmax_j σ(Z[i, j] + b[j]), the first on ties, as ``np.argmax`` of the
    reference's output: a NaN wins; a softmax row with a NaN or +inf is all NaN there, so 0.
    A softmax keeps the order of z, so its row is never normalised."""
    one = Z.dtype.type(1.0)
    m, n = Z.shape
    for i in range(m):
        best = 0
        top = one
        for j in range(n):
            z = Z[i, j] + b[j]
            if code == SOFTMAX:
                if z != z or z == np.inf:
                    best = 0
                    break
                a = z
            else:
                a = _sigma(z, code, alpha, one)
                if a != a:
                    best = j
                    break
            if j == 0 or a > top:
                top = a
                best = j
        labels[i] = best


@_jit
def max_norm(W, c):
    """Rescale every column of W (a unit's incoming weights) to Euclidean norm <= c."""
    one = W.dtype.type(1.0)
    rows, cols = W.shape
    squares = np.zeros(cols, W.dtype)
    for i in range(rows):
        for j in range(cols):
            squares[j] += W[i, j] * W[i, j]
    factor = np.empty(cols, W.dtype)
    for j in range(cols):
        factor[j] = min(one, c / max(np.sqrt(squares[j]), W.dtype.type(1e-12)))
    for i in range(rows):
        for j in range(cols):
            W[i, j] = W[i, j] * factor[j]
