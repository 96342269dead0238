"""The switch between the NumPy reference path and the compiled kernels.

bpnn computes every pass in NumPy (the reference: readable, what the docs
show) or, when numba is installed, with the fused compiled twins in
:mod:`bpnn.nn.kernels`.  This module chooses, per call:

* the mode, from :func:`set_kernels` or the ``BPNN_KERNELS`` environment
  variable: ``"auto"`` (the default: kernels when numba imports, for
  networks of :data:`AUTO_MIN_PARAMS` parameters or more, see
  :func:`engage`), ``"numba"`` (kernels for every network) or ``"numpy"``
  (the reference only);
* whether a kernel pays for these arrays: float32 or float64, contiguous,
  and for the activations that need ``exp`` or ``tanh`` (which NumPy
  evaluates with SIMD loops, the kernels with the C library) only up to
  :data:`TRANSCENDENTAL_MAX` elements per call;

When numba is absent or fails to import, or a kernel fails to compile, bpnn
says so in one line on standard error (once per process) and goes on with
the reference: never an error.  Each ``try_*`` function returns True when a
kernel did the work, False when the caller's reference code must.

This module imports only NumPy; numba is imported on the first call that
could use it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading

import numpy as np

__all__ = ["set_kernels", "kernels_in_use", "use_kernels", "engage", "active", "MODES", "AUTO_MIN_PARAMS", "TRANSCENDENTAL_MAX"]

#: the values of ``BPNN_KERNELS`` and :func:`set_kernels`
MODES = ("auto", "numba", "numpy")
#: in the "auto" mode, networks with fewer parameters stay on the reference path
#: unless the kernels are loaded already: a step of such a network takes a few µs
#: either way, while loading numba costs about 0.5 s and 150 MB once per process
#: (and compiling, once per machine, about 1.5 s); see docs/performance.md
AUTO_MIN_PARAMS = 20_000
#: largest Z (elements) for which the sigmoid, tanh and softmax kernels pay
TRANSCENDENTAL_MAX = {"sigmoid": 4096, "softmax": 4096, "tanh": 512}
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

_lock = threading.Lock()
_mode: str | None = None          # None: read BPNN_KERNELS on first use
_module = None                    # bpnn.nn.kernels once imported
_failed: str | None = None        # why the kernels are unavailable, once known


def _check_mode(mode: str, source: str) -> str:
    mode = str(mode).strip().lower()
    if mode not in MODES:
        raise ValueError(f"{source} must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def set_kernels(mode: str) -> str:
    """Select the compiled kernels or the NumPy reference for this process.

    Parameters
    ----------
    mode : {"auto", "numba", "numpy"}
        ``"numpy"`` runs the reference path only; ``"auto"`` and ``"numba"``
        use the kernels when numba is installed (otherwise one line says so
        and the reference runs).

    Returns
    -------
    str
        The previous mode.
    """
    global _mode
    new = _check_mode(mode, "the kernels mode")
    with _lock:
        old, _mode = _current_mode(), new
    return old


def _current_mode() -> str:
    """The mode: set by :func:`set_kernels`, else read from ``BPNN_KERNELS`` once."""
    global _mode
    if _mode is None:
        _mode = _check_mode(os.environ.get("BPNN_KERNELS", "auto") or "auto", "BPNN_KERNELS")
    return _mode


@contextlib.contextmanager
def use_kernels(mode: str):
    """``with use_kernels("numpy"): ...`` runs the block in the given mode, then restores the previous one."""
    old = set_kernels(mode)
    try:
        yield
    finally:
        set_kernels(old)


def kernels_in_use() -> str:
    """``"numba"`` when the compiled kernels are available and switched on (loading them if need be),
    ``"numpy"`` for the reference path."""
    return "numba" if _load() is not None else "numpy"


def active() -> bool:
    """True when the next pass runs on the compiled kernels (see :func:`engage` for the "auto" mode)."""
    return _kernels() is not None


def engage(n_params: int) -> None:
    """Load the kernels for a network of ``n_params`` parameters about to train or predict, if the mode
    asks for them at that size (the "auto" mode from :data:`AUTO_MIN_PARAMS`)."""
    if _module is None and _current_mode() != "numpy" and n_params >= AUTO_MIN_PARAMS:
        _load()


def _say_once(why: str) -> None:
    global _failed
    if _failed is None:
        _failed = why
        print(f"bpnn: {why}; using the NumPy reference path (same results, slower). "
              f"Set BPNN_KERNELS=numpy to silence this.", file=sys.stderr, flush=True)


def _kernels():
    """The kernels module for this call, or None for the reference path (in the "auto" mode only once
    :func:`engage` has loaded them)."""
    mode = _mode or _current_mode()
    if mode == "numpy" or _failed is not None:
        return None
    if _module is None and mode == "numba":
        return _load()
    return _module


def _load():
    """Import the kernels module (once), or say in one line why not; None in the "numpy" mode."""
    global _module
    if _current_mode() == "numpy" or _failed is not None:
        return None
    if _module is None:
        with _lock:
            if _module is None and _failed is None:
                try:
                    _module = importlib.import_module(".kernels", __package__)
                except ImportError as err:
                    missing = (getattr(err, "name", None) or "").split(".")[0]
                    _say_once("numba is not installed (pip install numba)"
                              if missing in ("numba", "llvmlite")
                              else f"the compiled kernels could not be imported ({err})")
                except Exception as err:  # numba present but broken (LLVM, NumPy version)
                    _say_once(f"the compiled kernels could not be imported ({type(err).__name__}: {err})")
    return _module


def _run(kernel, *args) -> bool:
    """Call a kernel; a compilation failure switches the kernels off (with the one line) instead of raising."""
    try:
        kernel(*args)
        return True
    except Exception as err:
        if type(err).__module__.startswith("numba"):
            _say_once(f"a compiled kernel failed to build ({type(err).__name__}: {str(err).splitlines()[0]})")
            return False
        raise


def _ok(*arrays: np.ndarray) -> bool:
    """One float dtype (float32 or float64) for all the arrays.  Any strides will do: numba compiles
    a version for each layout it is given (bpnn's own buffers are all C-contiguous)."""
    dtype = arrays[0].dtype
    if dtype not in _FLOATS:
        return False
    for a in arrays:
        if a.dtype != dtype:
            return False
    return True


def _code(k, activation, size: int) -> int | None:
    code = k.ACTIVATION_CODES.get(activation.name)
    if code is None or size > TRANSCENDENTAL_MAX.get(activation.name, size):
        return None
    return code


def _alpha(activation, dtype) -> np.floating:
    return dtype.type(getattr(activation, "alpha", 0.0))


# -- the forward pass --------------------------------------------------------
def try_bias_activation(Z: np.ndarray, b: np.ndarray, A: np.ndarray, activation) -> bool:
    """Z ← Z + b, A ← σ(Z) in one pass."""
    k = _kernels()
    if k is None or not _ok(Z, b, A):
        return False
    code = _code(k, activation, Z.size)
    return code is not None and _run(k.bias_activation, Z, b, A, code, _alpha(activation, Z.dtype))


def try_bias_argmax(Z: np.ndarray, b: np.ndarray, activation) -> np.ndarray | None:
    """The class of every row of σ(Z + b) (argmax), without forming σ; None if no kernel applies."""
    k = _kernels()
    if k is None or not _ok(Z, b):
        return None
    code = k.ACTIVATION_CODES.get(activation.name)   # per row only k outputs: exp and tanh always pay
    labels = np.empty(Z.shape[0], np.int64)
    if code is None or not _run(k.bias_argmax, Z, b, labels, code, _alpha(activation, Z.dtype)):
        return None
    return labels


# -- backpropagation ---------------------------------------------------------
def try_backward_factor(G: np.ndarray, A: np.ndarray, delta: np.ndarray, nabla_b: np.ndarray, activation) -> bool:
    """δ = G ⊙ σ'(Z) (from A = σ(Z)) and BP3's ∂C/∂b = Σ_rows δ in one pass."""
    k = _kernels()
    if k is None or not _ok(G, A, delta, nabla_b):
        return False
    code = k.ACTIVATION_CODES.get(activation.name)
    if code is None or code == k.SOFTMAX:
        return False
    return _run(k.backward_factor, G, A, delta, nabla_b, code, _alpha(activation, A.dtype))


def try_output_delta(A: np.ndarray, Y: np.ndarray, delta: np.ndarray, nabla_b: np.ndarray, cost, activation,
                     scale: float) -> bool:
    """BP1 times ``scale``, and BP3, in one pass."""
    k = _kernels()
    if k is None or not _ok(A, Y, delta, nabla_b):
        return False
    code = k.ACTIVATION_CODES.get(activation.name)
    kind = {"quadratic": k.QUADRATIC}.get(cost.name)
    if cost.name == "cross_entropy":
        kind = k.SOFTMAX_CROSS_ENTROPY if activation.name == "softmax" else k.SIGMOID_CROSS_ENTROPY
    if code is None or kind is None or (kind == k.QUADRATIC and code == k.SOFTMAX):
        return False
    dtype = A.dtype
    return _run(k.output_delta, A, Y, delta, nabla_b, kind, code, _alpha(activation, dtype), dtype.type(scale))


# -- the optimizer step ------------------------------------------------------
def try_optimizer_step(name: str, p: np.ndarray, g: np.ndarray, state: list[np.ndarray], n_decay: int,
                       decay: float, *hyper: float) -> bool:
    """One fused step of the rule ``name`` over the flat vector ``p``, L2 on its first ``n_decay``
    entries (``g + decay · p``); ``hyper`` are the rule's scalars after those, in the kernel's order."""
    k = _kernels()
    if k is None or p.ndim != 1 or not _ok(p, g, *state):
        return False
    kernel = k.OPTIMIZER_KERNELS.get(name)          # a rule without a twin runs on the reference
    if kernel is None:
        return False
    t = p.dtype.type
    return _run(kernel, p, g, *state, n_decay, t(decay), *(t(h) for h in hyper))


def try_max_norm(matrices, c: float) -> bool:
    """Every matrix's columns rescaled to norm <= c."""
    k = _kernels()
    if k is None or not all(_ok(W) and W.ndim == 2 for W in matrices):
        return False
    for W in matrices:
        if not _run(k.max_norm, W, W.dtype.type(c)):
            return False
    return True
