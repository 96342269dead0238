"""The switch between the NumPy reference path and the compiled kernels.

bpnn computes every pass in NumPy (the reference: readable, what the docs
show) or, when numba is installed, with the fused compiled twins in
:mod:`bpnn.nn.kernels`.  This module decides, per call:

* the mode, process-wide, from :func:`set_kernels` or the ``BPNN_KERNELS``
  environment variable: ``"auto"`` (the default: kernels for networks of
  :data:`AUTO_MIN_PARAMS` parameters or more), ``"numba"`` (kernels for
  every network) or ``"numpy"`` (the reference only);
* per network: a :class:`Network` runs its passes inside :func:`scope`,
  which applies the mode to its size, so one network's choice never depends
  on what ran before it in the process;
* per call: whether a twin exists for this activation, cost or rule (a class
  declares its ``kernel`` for itself: a subclass that does not runs on the
  reference), whether the arrays are float32 or float64, and, for the
  activations that need ``tanh`` or ``exp`` (which NumPy evaluates with SIMD
  loops, the kernels with the C library), whether the layer is small enough
  (:data:`TRANSCENDENTAL_MAX`) for the kernel to pay.

When numba is absent or fails to import, or a kernel fails to build, bpnn
says so in one line on standard error (once per process) and goes on with
the reference: never an error.  Each ``try_*`` function returns True (or
the labels) when a kernel did the work, False (or None) when the caller's
reference code must.

This module imports only NumPy; numba is imported when a network that the
mode gives the kernels first runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
import sys
import threading

import numpy as np

__all__ = ["set_kernels", "use_kernels", "kernels_in_use", "scope", "active", "declared_kernel", "MODES",
           "AUTO_MIN_PARAMS", "TRANSCENDENTAL_MAX"]

#: the values of ``BPNN_KERNELS`` and :func:`set_kernels`
MODES = ("auto", "numba", "numpy")
#: in the "auto" mode, smaller networks stay on the reference path and never
#: import numba: a step of such a network takes a few µs either way, while
#: loading numba and the cached kernels costs about 0.5 s and 90 MB per process
#: (compiling them, about 1 s once per machine); see docs/performance.md
AUTO_MIN_PARAMS = 20_000
#: largest Z (elements) for which the sigmoid, tanh and softmax kernels pay
#: (measured in docs/performance.md)
TRANSCENDENTAL_MAX = {"sigmoid": 256, "tanh": 256, "softmax": 4096}
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

_lock = threading.RLock()
_mode: str | None = None          # None: read BPNN_KERNELS on first use
_module = None                    # bpnn.nn.kernels once imported
_failed: str | None = None        # why the kernels are off, once known
#: the decision of the network whose passes run in this context (None: outside any network)
_network_uses_kernels: contextvars.ContextVar[bool | None] = contextvars.ContextVar("bpnn_kernels", default=None)


def _check_mode(mode: str, source: str) -> str:
    mode = str(mode).strip().lower()
    if mode not in MODES:
        raise ValueError(f"{source} must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def _current_mode() -> str:
    """The mode: set by :func:`set_kernels`, else read from ``BPNN_KERNELS`` once."""
    global _mode
    if _mode is None:
        _mode = _check_mode(os.environ.get("BPNN_KERNELS", "auto") or "auto", "BPNN_KERNELS")
    return _mode


def set_kernels(mode: str) -> str:
    """Select the compiled kernels or the NumPy reference, for the whole process.

    Parameters
    ----------
    mode : {"auto", "numba", "numpy"}
        ``"numpy"`` runs the reference path only; ``"numba"`` uses the
        kernels for every network; ``"auto"`` for networks of
        :data:`AUTO_MIN_PARAMS` parameters or more.  Without numba, one line
        says so and the reference runs.

    Returns
    -------
    str
        The previous mode.

    Raises
    ------
    ValueError
        For another mode; the message lists the three.
    """
    global _mode
    new = _check_mode(mode, "the kernels mode")
    with _lock:
        old, _mode = _current_mode(), new
    return old


@contextlib.contextmanager
def use_kernels(mode: str):
    """Run a block in ``mode`` (see :func:`set_kernels`), then restore the previous mode.

    The mode is process-wide: threads that train at the same time see it too.

    Examples
    --------
    >>> with use_kernels("numpy"):      # doctest: +SKIP
    ...     net.fit(X, y)               # the NumPy reference path
    """
    old = set_kernels(mode)
    try:
        yield
    finally:
        set_kernels(old)


def kernels_in_use() -> str:
    """Whether the compiled kernels are on: ``"numba"`` when numba imports and the mode is not
    ``"numpy"`` (importing it to find out), else ``"numpy"``.  In the ``"auto"`` mode networks
    under :data:`AUTO_MIN_PARAMS` parameters still run on the reference."""
    return "numba" if _load() is not None else "numpy"


@contextlib.contextmanager
def scope(n_params: int):
    """Run a network's passes: with the kernels if the mode gives them to a network of
    ``n_params`` parameters (loading them the first time), else on the reference."""
    mode = _mode or _current_mode()
    wanted = mode == "numba" or (mode == "auto" and n_params >= AUTO_MIN_PARAMS)
    token = _network_uses_kernels.set(wanted and _load() is not None)
    try:
        yield
    finally:
        _network_uses_kernels.reset(token)


def active() -> bool:
    """True when the passes run now use the compiled kernels."""
    return _kernels() is not None


def _say_once(why: str) -> None:
    """The one line on standard error, the first time the kernels turn out to be unavailable."""
    global _failed
    with _lock:
        if _failed is not None:
            return
        _failed = why
    print(f"bpnn: {why}; using the NumPy reference path (equivalent results, slower). "
          f"Set BPNN_KERNELS=numpy to silence this.", file=sys.stderr, flush=True)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


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
                    _say_once("numba is not installed (pip install numba)" if missing in ("numba", "llvmlite")
                              else f"the compiled kernels could not be imported ({_first_line(err)})")
                except Exception as err:  # numba present but broken (LLVM, NumPy version, ...)
                    _say_once(f"the compiled kernels could not be imported ({_first_line(err)})")
    return _module if _failed is None else None


def _kernels():
    """The kernels module for this call, or None for the reference path."""
    if _failed is not None or not _network_uses_kernels.get():
        return None
    if (_mode or _current_mode()) == "numpy":            # switched off inside a network's scope
        return None
    return _module


def _run(kernel, *args) -> bool:
    """Call a kernel.  It cannot fail once built (no bounds checks, NumPy's error model), so an
    exception means it failed to build (numba, LLVM, writing the cache): the kernels are switched
    off, with the one line, and the caller's reference code runs instead."""
    try:
        kernel(*args)
        return True
    except Exception as err:
        _say_once(f"a compiled kernel failed to build ({_first_line(err)})")
        return False


def _ok(*arrays: np.ndarray) -> bool:
    """One float dtype (float32 or float64) for all the arrays.  Any strides will do: numba
    compiles a version for each layout it is given (bpnn's own buffers are all C-contiguous)."""
    dtype = arrays[0].dtype
    if dtype not in _FLOATS:
        return False
    for a in arrays:
        if a.dtype != dtype:
            return False
    return True


def declared_kernel(obj) -> str | None:
    """The kernel ``obj``'s class declares for itself (``kernel = "adam"``), not one it inherits: a
    subclass that changes the formulas without declaring its own runs on its NumPy code."""
    return type(obj).__dict__.get("kernel")


def _code(k, activation, size: int | None = None) -> int | None:
    """The activation's kernel code, if it has a twin that pays for ``size`` elements."""
    name = declared_kernel(activation)
    code = k.ACTIVATION_CODES.get(name)
    if code is None or (size is not None and size > TRANSCENDENTAL_MAX.get(name, size)):
        return None
    return code


def _alpha(activation, dtype) -> np.floating:
    return dtype.type(getattr(activation, "alpha", 0.0))


# -- the forward pass --------------------------------------------------------
def try_bias_activation(Z: np.ndarray, b: np.ndarray, A: np.ndarray, activation) -> bool:
    """Z ← Z + b, A ← σ(Z) in one pass (``A`` may be ``Z``)."""
    k = _kernels()
    if k is None or not _ok(Z, b, A):
        return False
    code = _code(k, activation, Z.size)
    return code is not None and _run(k.bias_activation, Z, b, A, code, _alpha(activation, Z.dtype))


def try_bias_argmax(Z: np.ndarray, b: np.ndarray, activation) -> np.ndarray | None:
    """The class of every row of σ(Z + b) (argmax), without forming a softmax; None if no kernel applies."""
    k = _kernels()
    if k is None or not _ok(Z, b):
        return None
    # sigmoid and tanh pay up to the forward pass's sizes; a softmax's order needs no exp at all
    code = _code(k, activation, None if declared_kernel(activation) == "softmax" else Z.size)
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
    code = _code(k, activation)
    if code is None or code == k.SOFTMAX:
        return False
    return _run(k.backward_factor, G, A, delta, nabla_b, code, _alpha(activation, A.dtype))


def try_output_delta(A: np.ndarray, Y: np.ndarray, delta: np.ndarray, nabla_b: np.ndarray, cost, activation,
                     scale: float, row_scale: np.ndarray | None = None) -> bool:
    """BP1 times ``scale`` (or row x times ``row_scale[x]``), and BP3, in one pass."""
    k = _kernels()
    if k is None or not _ok(A, Y, delta, nabla_b):
        return False
    code, kind = _code(k, activation), k.COST_KINDS.get(declared_kernel(cost))
    if code is None or kind is None or (kind == k.QUADRATIC and code == k.SOFTMAX):
        return False
    dtype = A.dtype
    rows = np.empty(0, dtype) if row_scale is None else row_scale.astype(dtype, copy=False)
    return _run(k.output_delta, A, Y, delta, nabla_b, kind, code, _alpha(activation, dtype), dtype.type(scale), rows)


# -- the optimizer step ------------------------------------------------------
def try_optimizer_step(kernel: str | None, p: np.ndarray, g: np.ndarray, state: list[np.ndarray], n_decay: int,
                       decay: float, *hyper: float) -> bool:
    """One fused step of the rule ``kernel`` over the flat vector ``p``, L2 on its first ``n_decay``
    entries (``g + decay · p``); ``hyper`` are the rule's scalars after those, in the kernel's order."""
    k = _kernels()
    if k is None or p.ndim != 1 or not _ok(p, g, *state):
        return False
    step = k.OPTIMIZER_KERNELS.get(kernel)           # a rule without a twin runs on the reference
    if step is None:
        return False
    t = p.dtype.type
    return _run(step, p, g, *state, n_decay, t(decay), *(t(h) for h in hyper))


def try_max_norm(matrices, c: float) -> bool:
    """Every matrix's columns rescaled to norm <= c."""
    k = _kernels()
    if k is None or not all(_ok(W) and W.ndim == 2 for W in matrices):
        return False
    for W in matrices:
        if not _run(k.max_norm, W, W.dtype.type(c)):
            return False
    return True
