"""Weight initialisations: the sources' schemes and the modern ones.

Each initialiser is a function ``init(n_in, n_out, rng, dtype)`` returning
``(W, b)`` with ``W`` of shape ``(n_in, n_out)`` (batch-first: Z = A W + b)
and ``b`` of shape ``(n_out,)``.  All randomness comes from the
``numpy.random.Generator`` passed in.  Values are drawn in float64 and then
cast, so a float32 and a float64 network built from the same seed hold the
same numbers up to rounding.

========================  ==================================  =============
name                      W                                   b
========================  ==================================  =============
``normal``                N(0, 1)                             N(0, 1)
``scaled_normal``         N(0, 1) / √n_in                     N(0, 1)
``uniform``               U(-0.1, 0.1)                        0
``glorot_uniform``        U(-r, r), r = √(6 / (n_in+n_out))   0
``glorot_normal``         N(0, 2 / (n_in + n_out))            0
``he_normal``             N(0, 2 / n_in)                      0
========================  ==================================  =============
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = [
    "normal",
    "scaled_normal",
    "uniform",
    "glorot_uniform",
    "glorot_normal",
    "he_normal",
    "INITIALIZERS",
    "get_initializer",
]

Initializer = Callable[[int, int, np.random.Generator, np.dtype], "tuple[np.ndarray, np.ndarray]"]


def _cast(W: np.ndarray, b: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    return np.ascontiguousarray(W, dtype=dtype), np.ascontiguousarray(b, dtype=dtype)


def normal(n_in: int, n_out: int, rng: np.random.Generator, dtype=np.float32):
    """Weights and biases from the standard normal N(0, 1) (Nielsen's network.py)."""
    W = rng.standard_normal((n_in, n_out))
    b = rng.standard_normal(n_out)
    return _cast(W, b, dtype)


def scaled_normal(n_in: int, n_out: int, rng: np.random.Generator, dtype=np.float32):
    """Weights N(0, 1)/√n_in, biases N(0, 1) (Nielsen's network2.py default)."""
    W = rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)
    b = rng.standard_normal(n_out)
    return _cast(W, b, dtype)


def uniform(n_in: int, n_out: int, rng: np.random.Generator, dtype=np.float32):
    """Weights U(-0.1, 0.1), biases zero (the object-model source)."""
    W = rng.uniform(-0.1, 0.1, (n_in, n_out))
    return _cast(W, np.zeros(n_out), dtype)


def glorot_uniform(n_in: int, n_out: int, rng: np.random.Generator, dtype=np.float32):
    """Glorot/Xavier uniform U(-r, r), r = √(6/(n_in + n_out)); biases zero."""
    r = np.sqrt(6.0 / (n_in + n_out))
    W = rng.uniform(-r, r, (n_in, n_out))
    return _cast(W, np.zeros(n_out), dtype)


def glorot_normal(n_in: int, n_out: int, rng: np.random.Generator, dtype=np.float32):
    """Glorot/Xavier normal N(0, σ²), σ = √(2/(n_in + n_out)); biases zero."""
    W = rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / (n_in + n_out))
    return _cast(W, np.zeros(n_out), dtype)


def he_normal(n_in: int, n_out: int, rng: np.random.Generator, dtype=np.float32):
    """He normal N(0, σ²), σ = √(2/n_in), for ReLU layers; biases zero."""
    W = rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)
    return _cast(W, np.zeros(n_out), dtype)


#: The initialisers by their string names.
INITIALIZERS: dict[str, Initializer] = {
    f.__name__: f
    for f in (normal, scaled_normal, uniform, glorot_uniform, glorot_normal, he_normal)
}


def get_initializer(init: str | Initializer) -> Initializer:
    """Return the initialiser for a name such as ``"he_normal"``, or a callable as is."""
    if callable(init):
        return init
    if isinstance(init, str) and init.lower() in INITIALIZERS:
        return INITIALIZERS[init.lower()]
    raise ValueError(
        f"unknown initialiser {init!r}; choose one of: {', '.join(INITIALIZERS)}"
    )
