"""Checks at the boundary of the public API: precise ``ValueError``s that say
what is wrong with an input and how to fix it."""

from __future__ import annotations

import numpy as np

DTYPES = ("float32", "float64")


def check_dtype(dtype) -> np.dtype:
    """``"float32"`` or ``"float64"`` (or the NumPy dtypes) → ``np.dtype``."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; choose 'float32' (fast) or 'float64' (exact)")
    return dt


def _numbers(value, name: str, shape: str) -> np.ndarray:
    """``value`` as a NumPy array of numbers (a list or tuple is converted); ValueError naming ``name`` otherwise."""
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name} must be a NumPy array of shape {shape}, got {type(value).__name__}")
    if value.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {value.dtype}")
    return value


def check_X(X, n_features: int, dtype: np.dtype, name: str = "X") -> np.ndarray:
    """Return ``X`` as a C-contiguous ``(n, n_features)`` array of ``dtype``.

    A float64 ``X`` given to a float32 network is converted (a copy); the
    network's own dtype never changes.
    """
    X = _numbers(X, name, f"(n_samples, {n_features})")
    if X.ndim == 1 and X.shape[0] == n_features:
        raise ValueError(
            f"{name} is a single sample of shape ({n_features},); pass a batch of shape "
            f"(1, {n_features}) with {name}.reshape(1, -1)"
        )
    if X.ndim > 2 and int(np.prod(X.shape[1:])) == n_features:
        raise ValueError(
            f"{name} has shape {X.shape}; flatten each sample to {n_features} values "
            f"with {name}.reshape(len({name}), -1)"
        )
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(
            f"{name} has shape {X.shape}, but the network's input layer has {n_features} "
            f"units: expected (n_samples, {n_features})"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 samples)")
    X = np.ascontiguousarray(X, dtype=dtype)
    _check_finite(X, name)
    return X


def _check_finite(A: np.ndarray, name: str) -> None:
    # Finite row sums prove every element finite, without a boolean temporary
    # the size of the data (for a matrix the sums are one BLAS product with a
    # ones vector); only if one is not (NaN, infinity, or an overflow of the
    # sum) are the elements examined one by one.
    if A.dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            sums = A @ np.ones(A.shape[1], A.dtype) if A.ndim == 2 else np.add.reduce(A, axis=None)
            if np.isfinite(sums).all():
                return
    if not np.isfinite(A).all():
        bad = np.argwhere(~np.isfinite(A))
        row = int(bad[0][0])
        raise ValueError(
            f"{name} contains {len(bad)} NaN or infinite value(s) (first in row {row}); "
            f"remove or impute them before training"
        )


def encode_labels(labels: np.ndarray, n_classes: int, dtype, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Target rows for valid class indices: ``high`` at each row's label, ``low`` elsewhere.

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
        Class indices, already checked to lie in ``0..n_classes-1``.
    n_classes : int
    dtype : dtype of the result
    low, high : float
        0 and 1 give one-hot rows; 0.1 and 0.9 the "soft" targets.

    Returns
    -------
    ndarray of ``dtype``, shape (n, n_classes)
    """
    targets = np.full((labels.shape[0], int(n_classes)), low, dtype=np.dtype(dtype))
    targets[np.arange(labels.shape[0]), labels] = high
    return targets


def check_y(y, n_samples: int, n_classes: int, dtype: np.dtype, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Validate targets; return ``(labels, targets)``.

    ``y`` is either class indices of shape ``(n,)`` with values in
    ``0..n_classes-1``, or one-hot/soft targets of shape ``(n, n_classes)``.
    ``labels`` is ``(n,)`` int64 (the argmax of soft targets) and
    ``targets`` is ``(n, n_classes)`` of ``dtype``.
    """
    if isinstance(y, (list, tuple)):
        y = np.asarray(y)
    if not isinstance(y, np.ndarray):
        raise ValueError(f"{name} must be a NumPy array, got {type(y).__name__}")
    if y.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must hold numbers (class indices 0..{n_classes - 1} or targets), got dtype {y.dtype}"
        )
    if y.shape[0] != n_samples:
        raise ValueError(f"{name} has {y.shape[0]} rows but X has {n_samples}; they must match")
    if y.ndim == 2 and y.shape[1] == 1 and n_classes != 1:
        y = y[:, 0]                    # a column of class indices (one output: a column of targets)
    if y.ndim == 1:
        if y.dtype.kind == "f":
            _check_finite(y, name)
            if not np.all(y == np.round(y)):
                raise ValueError(f"{name} holds non-integer class labels; pass class indices 0..{n_classes - 1}")
        labels = y.astype(np.int64)
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= n_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"{name} contains label {bad}, but the network has {n_classes} outputs "
                f"(classes 0..{n_classes - 1}); check the labels or the output layer size"
            )
        return labels, encode_labels(labels, n_classes, dtype)
    if y.ndim == 2:
        if y.shape[1] != n_classes:
            raise ValueError(
                f"{name} has shape {y.shape}, but the network has {n_classes} outputs: "
                f"expected class indices (n,) or targets (n, {n_classes})"
            )
        targets = np.ascontiguousarray(y, dtype=dtype)
        _check_finite(targets, name)
        return targets.argmax(axis=1).astype(np.int64), targets
    raise ValueError(f"{name} has shape {y.shape}; expected (n,) class indices or (n, {n_classes}) targets")


def check_sample_weight(sample_weight, n_samples: int, dtype: np.dtype, name: str = "sample_weight") -> np.ndarray:
    """Validate per-row weights; return them as a C-contiguous ``(n,)`` array of ``dtype``.

    Weights must be finite and non-negative with a positive sum (a weight of
    2 counts a row twice, 0 leaves it out).
    """
    sample_weight = _numbers(sample_weight, name, f"({n_samples},)")
    if sample_weight.shape != (n_samples,):
        raise ValueError(f"{name} has shape {sample_weight.shape}; expected one weight per row, ({n_samples},)")
    w = np.ascontiguousarray(sample_weight, dtype=dtype)
    _check_finite(w, name)
    if (w < 0).any():
        raise ValueError(f"{name} contains negative weights (the smallest is {w.min():g}); weights must be >= 0")
    if not w.sum(dtype=np.float64) > 0:
        raise ValueError(f"{name} sums to zero: at least one row needs a positive weight")
    return w
