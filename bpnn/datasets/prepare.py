"""Preparation of raw arrays: splits, class filtering, scaling, targets.

All functions are pure NumPy (scikit-learn only for the stratified split)
and never change a float dtype behind the caller's back.
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from bpnn.nn._validation import encode_labels
from bpnn.exceptions import DataError

__all__ = [
    "apply_standardizer",
    "check_validation",
    "filter_classes",
    "fit_standardizer",
    "one_hot",
    "resolve_dtype",
    "select_classes",
    "soft_targets",
    "split_validation",
    "to_unit_range",
]

ValidationSpec = Union[int, float, None]
ClassSpec = Sequence[Union[int, str]]

_CHUNK_ROWS = 1024  # 1024 x 784 float64 = 6 MB: stays in malloc's heap, fast


def resolve_dtype(dtype: Union[str, np.dtype, type]) -> np.dtype:
    """Return ``dtype`` as a NumPy float dtype (float32 or float64).

    Raises
    ------
    bpnn.exceptions.DataError
        For any other dtype: inputs are never silently converted.
    """
    try:
        resolved = np.dtype(dtype)
    except TypeError as exc:
        raise DataError(
            f"dtype={dtype!r} is not a NumPy dtype; use 'float32' or 'float64'"
        ) from exc
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise DataError(f"dtype={dtype!r} is not supported; use 'float32' (default) or 'float64'")
    return resolved


def check_validation(validation: ValidationSpec) -> Union[int, float, None]:
    """Validate a ``validation=`` argument without looking at any data.

    Parameters
    ----------
    validation : int, float or None
        See :func:`split_validation`.

    Returns
    -------
    int, float or None
        ``None`` for no split, a positive ``int`` count, or a ``float``
        fraction in (0, 1).

    Raises
    ------
    bpnn.exceptions.DataError
        If ``validation`` is a bool, not a number, a negative count, or a
        float outside [0, 1).
    """
    if validation is None:
        return None
    if isinstance(validation, (bool, np.bool_)) or not isinstance(
        validation, (int, float, np.integer, np.floating)
    ):
        raise DataError(
            f"validation={validation!r}: use an int count (the last N training "
            f"images), a float fraction in (0, 1), or None/0 for no validation set"
        )
    if isinstance(validation, (int, np.integer)):
        if validation < 0:
            raise DataError(f"validation={int(validation)}: a count must be >= 0")
        return int(validation) or None
    fraction = float(validation)
    if fraction == 0.0:
        return None
    if not 0.0 < fraction < 1.0:
        raise DataError(
            f"validation={validation!r}: a float must be a fraction in (0, 1); "
            f"pass an int for a count of images"
        )
    return fraction


def split_validation(
    y: np.ndarray, validation: ValidationSpec, *, seed: int = 0, what: str = "data set"
) -> tuple[np.ndarray, np.ndarray | None]:
    """Choose which training rows become the validation set.

    Parameters
    ----------
    y : numpy.ndarray of int, shape (n,)
        Training labels (used to stratify a fractional split).
    validation : int, float or None
        ``None`` or ``0``: no validation set.  A positive int ``N``: the last
        ``N`` rows (MNIST's usual split is ``10000``).  A float in (0, 1): that
        fraction, stratified by class, drawn with ``seed``.
    seed : int, default 0
        Random state of the fractional split.
    what : str
        Data set name for messages.

    Returns
    -------
    train_index : numpy.ndarray of int64, shape (n - m,)
        Rows kept for training, in their original order.
    validation_index : numpy.ndarray of int64, shape (m,) or None
        Rows for validation, in their original order; None if no split.

    Raises
    ------
    bpnn.exceptions.DataError
        As :func:`check_validation`, or if a count is not smaller than ``n``,
        or a fraction is too small to stratify.
    """
    n = int(y.shape[0])
    everything = np.arange(n, dtype=np.int64)
    validation = check_validation(validation)
    if validation is None:
        return everything, None
    if isinstance(validation, int):
        if validation >= n:
            raise DataError(
                f"validation={validation} but the {what} training set has only {n} "
                f"images, which would leave nothing to train on; pass a smaller "
                f"count, a fraction such as validation=0.2, or validation=None"
            )
        return everything[: n - validation], everything[n - validation :]
    from sklearn.model_selection import train_test_split

    try:
        train_index, val_index = train_test_split(
            everything, test_size=validation, stratify=y, random_state=seed
        )
    except ValueError as exc:
        raise DataError(
            f"validation={validation} cannot be stratified on the {what} training "
            f"set of {n} images ({exc}); use a larger fraction or an int count"
        ) from None
    return np.sort(train_index), np.sort(val_index)


def filter_classes(
    classes: ClassSpec, class_names: Sequence[str]
) -> tuple[list[int], list[str]]:
    """Resolve a ``classes=`` selection to original labels and names.

    Parameters
    ----------
    classes : sequence of int or str
        Labels (``[3, 8]``) or class names (``["Trouser", "Bag"]``) to keep.
        Their order defines the new labels: ``classes[i]`` becomes label ``i``.
    class_names : sequence of str
        Names of all classes, index = original label.

    Returns
    -------
    original_labels : list of int
        The original label of each kept class, in the new order.
    names : list of str
        Their names.

    Raises
    ------
    bpnn.exceptions.DataError
        If the selection is empty, repeats a class, or names an unknown one.
    """
    if isinstance(classes, (str, bytes)):
        raise DataError(f"classes={classes!r}: pass a list such as classes=[3, 8]")
    try:
        classes = list(classes)  # also accepts tuples and NumPy arrays
    except TypeError:
        raise DataError(f"classes={classes!r}: pass a list such as classes=[3, 8]") from None
    if len(classes) == 0:
        raise DataError("classes=[] keeps nothing; pass at least one class, e.g. classes=[3, 8]")
    labels: list[int] = []
    for item in classes:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            label = int(item)
            if not 0 <= label < len(class_names):
                raise DataError(
                    f"classes: label {label} does not exist; labels run from 0 to "
                    f"{len(class_names) - 1}"
                )
        elif isinstance(item, str) and item in class_names:
            label = list(class_names).index(item)
        else:
            raise DataError(
                f"classes: unknown class {item!r}; give labels 0..{len(class_names) - 1} "
                f"or names from {list(class_names)}"
            )
        if label in labels:
            raise DataError(f"classes: class {item!r} is listed twice")
        labels.append(label)
    return labels, [class_names[label] for label in labels]


def select_classes(
    X: np.ndarray, y: np.ndarray, original_labels: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the rows whose label is in ``original_labels`` and relabel them.

    Parameters
    ----------
    X : numpy.ndarray, shape (n, ...)
    y : numpy.ndarray of int64, shape (n,)
    original_labels : sequence of int
        ``original_labels[i]`` becomes label ``i``.

    Returns
    -------
    X : numpy.ndarray, shape (m, ...)
    y : numpy.ndarray of int64, shape (m,)
        Values 0..len(original_labels)-1.
    """
    # A lookup by sorting the few selected labels: no table sized by a label value.
    wanted = np.asarray(original_labels, dtype=np.int64)
    order = np.argsort(wanted, kind="stable")
    ranked = wanted[order]
    y = np.asarray(y, dtype=np.int64)
    position = np.clip(np.searchsorted(ranked, y), 0, ranked.size - 1)
    keep = ranked[position] == y
    return X[keep], order[position[keep]].astype(np.int64)


def to_unit_range(X: np.ndarray, scale: float, dtype: np.dtype) -> np.ndarray:
    """Return ``X / scale`` as a new array of ``dtype`` (values in [0, 1]).

    Parameters
    ----------
    X : numpy.ndarray, shape (n, ...)
        Raw values (e.g. uint8 pixels with ``scale=255``).
    scale : float
        Divisor; 1 leaves the values unchanged.
    dtype : numpy.dtype
        float32 or float64.

    Returns
    -------
    numpy.ndarray of dtype, shape (n, ...)
        Always a fresh, writable array.
    """
    if scale == 1.0:
        return np.array(X, dtype=dtype, copy=True)
    out = np.empty(X.shape, dtype=dtype)
    np.divide(X, dtype.type(scale), out=out, dtype=dtype, casting="same_kind")
    return out


def fit_standardizer(
    X: np.ndarray, mode: Union[bool, str] = True
) -> tuple[Union[float, np.ndarray], Union[float, np.ndarray]]:
    """Compute the mean and standard deviation used to standardise inputs.

    Computed in float64, in row chunks (no full-size float64 temporary).

    Parameters
    ----------
    X : numpy.ndarray, shape (n, n_features)
        Training inputs only (never validation or test).
    mode : True, "global" or "feature"
        ``True``/``"global"``: one scalar mean and std over all pixels (the
        usual MNIST practice; 0.1307 and 0.3081 for MNIST's 60,000 images).
        ``"feature"``: per-feature vectors of shape (n_features,); features
        with zero spread get std 1 so they map to 0 instead of dividing by 0.

    Returns
    -------
    mean, std : float or numpy.ndarray of float64
    """
    if mode not in (True, "global", "feature"):
        raise DataError(f"standardize={mode!r}: use False, True ('global') or 'feature'")
    flat = X.reshape(X.shape[0], -1)
    n = flat.shape[0]
    if n == 0:
        raise DataError("standardize: the training set is empty, no statistics to fit")
    per_feature = mode == "feature"
    total = np.zeros(flat.shape[1]) if per_feature else 0.0
    for start in range(0, n, _CHUNK_ROWS):
        chunk = flat[start : start + _CHUNK_ROWS].astype(np.float64)
        total = total + (chunk.sum(axis=0) if per_feature else chunk.sum())
    count = n if per_feature else flat.size
    mean = total / count
    squares = np.zeros(flat.shape[1]) if per_feature else 0.0
    for start in range(0, n, _CHUNK_ROWS):
        chunk = flat[start : start + _CHUNK_ROWS].astype(np.float64) - mean
        np.square(chunk, out=chunk)
        squares = squares + (chunk.sum(axis=0) if per_feature else chunk.sum())
    std = np.sqrt(squares / count)
    if per_feature:
        std = np.where(std > 0, std, 1.0)
        return mean, std
    return float(mean), float(std) if std > 0 else 1.0


def apply_standardizer(
    X: np.ndarray, mean: Union[float, np.ndarray], std: Union[float, np.ndarray]
) -> np.ndarray:
    """Standardise ``X`` in place: ``X = (X - mean) / std``; returns ``X``.

    Parameters
    ----------
    X : numpy.ndarray of float, shape (n, n_features) or (n, rows, cols)
    mean, std : float or numpy.ndarray of shape (n_features,)
    """
    flat = X.reshape(X.shape[0], -1)
    flat -= np.asarray(mean, dtype=X.dtype)
    flat /= np.asarray(std, dtype=X.dtype)
    return X


def _check_targets(y: np.ndarray, k: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"targets: y must have shape (n,), got {y.shape}")
    if y.dtype.kind not in "iu":
        raise DataError(f"targets: y must hold integer class indices, got dtype {y.dtype}")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise DataError(f"targets: k={k!r} must be a positive number of classes")
    if y.size and (y.min() < 0 or y.max() >= k):
        raise DataError(
            f"targets: labels must lie in 0..{k - 1}, found {y.min()}..{y.max()}"
        )
    return y


def one_hot(y: np.ndarray, k: int, dtype: Union[str, np.dtype] = "float32") -> np.ndarray:
    """Encode class indices as one-hot rows.

    Parameters
    ----------
    y : numpy.ndarray of int, shape (n,)
        Class indices 0..k-1.
    k : int
        Number of classes.
    dtype : str or numpy.dtype, default "float32"

    Returns
    -------
    numpy.ndarray of dtype, shape (n, k)
        ``T[i, y[i]] = 1``, all other entries 0.

    Examples
    --------
    >>> one_hot(np.array([2, 0]), 3)
    array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    """
    return encode_labels(_check_targets(y, k), k, dtype)


def soft_targets(
    y: np.ndarray,
    k: int,
    low: float = 0.1,
    high: float = 0.9,
    dtype: Union[str, np.dtype] = "float32",
) -> np.ndarray:
    """Encode class indices as "soft" one-hot rows (``low`` / ``high``).

    Useful with sigmoid outputs and a quadratic cost, whose targets of exactly
    0 and 1 are only reached asymptotically.

    Parameters
    ----------
    y : numpy.ndarray of int, shape (n,)
        Class indices 0..k-1.
    k : int
        Number of classes.
    low, high : float, default 0.1 and 0.9
        Value of the wrong classes and of the right class.
    dtype : str or numpy.dtype, default "float32"

    Returns
    -------
    numpy.ndarray of dtype, shape (n, k)

    Examples
    --------
    >>> soft_targets(np.array([1]), 3)
    array([[0.1, 0.9, 0.1]], dtype=float32)
    """
    return encode_labels(_check_targets(y, k), k, dtype, low, high)
