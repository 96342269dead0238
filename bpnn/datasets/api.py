"""``load()``: one call from a name or a path to prepared arrays."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal, Optional, Sequence, Union

import numpy as np

from bpnn.datasets.catalog import REMOTE_DATASETS
from bpnn.datasets.dataset import Dataset, Split
from bpnn.datasets.download import fetch
from bpnn.datasets.prepare import (
    apply_standardizer,
    check_validation,
    filter_classes,
    fit_standardizer,
    resolve_dtype,
    select_classes,
    split_validation,
    to_unit_range,
)
from bpnn.datasets.sources import (
    RawData,
    read_digits,
    read_idx_files,
    read_idx_folder,
    read_npz,
    read_pickle,
)
from bpnn.exceptions import DataError
from bpnn.limits import check_allocation

__all__ = ["available", "load"]

PathLike = Union[str, "os.PathLike[str]"]

#: Every name load() accepts, from the catalog (each data set's name and aliases) and the bundled digits.
_ALIASES = {
    **{alias: d.name for d in REMOTE_DATASETS.values() for alias in (d.name, *d.aliases)},
    "digits": "digits",
    "sklearn-digits": "digits",
}


def available() -> list[str]:
    """Return the names :func:`load` accepts (besides paths).

    Returns
    -------
    list of str
        ``["mnist", "fashion-mnist", "digits"]``: the catalog's data sets and the bundled digits.
    """
    return [*REMOTE_DATASETS, "digits"]


def _canonical_name(name: str) -> Optional[str]:
    key = re.sub(r"[\s_]+", "-", name.strip().lower())
    return _ALIASES.get(key)


def _read_source(
    name_or_folder: Union[str, PathLike],
    *,
    download: bool,
    data_dir: Optional[PathLike],
    mirrors: Union[str, Sequence[str], None],
    progress: bool,
    test_only: bool = False,
) -> RawData:
    looks_like_name = (
        isinstance(name_or_folder, str)
        and "/" not in name_or_folder
        and os.sep not in name_or_folder
    )
    if looks_like_name:
        canonical = _canonical_name(name_or_folder)
        if canonical == "digits":
            return read_digits()
        if canonical in REMOTE_DATASETS:
            files = fetch(
                canonical, data_dir=data_dir, mirrors=mirrors, progress=progress, download=download,
                roles=("test_images", "test_labels") if test_only else None,
            )
            return read_idx_files(
                files, name=canonical, classes=REMOTE_DATASETS[canonical].classes
            )
    path = Path(name_or_folder).expanduser()
    if path.is_dir():
        return read_idx_folder(path, test_only=test_only)
    if path.is_file():
        lowered = path.name.lower()
        if lowered.endswith(".npz"):
            return read_npz(path)
        if lowered.endswith((".pkl.gz", ".pkl", ".pickle", ".pickle.gz")):
            return read_pickle(path)
        raise DataError(
            f"{path}: unrecognised data file; give a folder holding the four IDX "
            f"files, a Keras-style .npz (x_train, y_train, x_test, y_test), or the "
            f"classic mnist.pkl.gz"
        )
    raise DataError(
        f"{str(name_or_folder)!r} is neither a known data set ({', '.join(available())}) "
        f"nor an existing file or folder; check the spelling or the path"
    )


def load(
    name_or_folder: Union[str, PathLike] = "digits",
    validation: Union[int, float, None, Literal["auto"]] = "auto",
    classes: Optional[Sequence[Union[int, str]]] = None,
    dtype: Union[str, np.dtype] = "float32",
    standardize: Union[bool, Literal["global", "feature"]] = False,
    flatten: bool = True,
    download: bool = True,
    data_dir: Optional[PathLike] = None,
    mirrors: Union[str, Sequence[str], None] = None,
    progress: bool = True,
    seed: int = 0,
    test_only: bool = False,
) -> Dataset:
    """Load a data set by name or path and prepare it for training.

    Parameters
    ----------
    name_or_folder : str or os.PathLike, default "digits"
        ``"mnist"``, ``"fashion-mnist"`` (downloaded and cached on first use,
        see :func:`bpnn.datasets.fetch`), ``"digits"`` (scikit-learn's bundled
        8x8 digits, no download), or a path: a folder holding the four IDX
        files, a Keras-style ``mnist.npz``, or the classic ``mnist.pkl.gz``.
        A string containing a path separator is always taken as a path
        (write ``"./mnist"`` for a local folder named like a data set).
    validation : int, float, None or "auto", default "auto"
        Held-out part of the training set.  An int ``N`` takes the last ``N``
        training images; a float in (0, 1) takes that stratified fraction,
        drawn with ``seed``; ``None`` or ``0`` makes no validation set.
        ``"auto"`` means ``10000`` (the usual MNIST split: train 50,000 /
        validation 10,000 / test 10,000) for every source except ``digits``,
        where it means a stratified fraction ``0.2`` (1,077 / 270 / 450);
        an explicit ``10000`` for digits is an error because it is not
        smaller than its 1,347 training images.  The split is made on the
        full training set before ``classes`` filters it, so the validation
        images are the same ones with or without a filter.
    classes : sequence of int or str, optional
        Keep only these classes (labels such as ``[3, 8]``, or class names),
        relabelled ``0..k-1`` in the order given; ``Dataset.classes`` keeps
        their original names (``["3", "8"]``).
    dtype : {"float32", "float64"}, default "float32"
        Dtype of every ``X``.
    standardize : bool, "global" or "feature", default False
        ``True``/``"global"``: subtract the training set's mean pixel and
        divide by its standard deviation (scalars); ``"feature"``: per-pixel
        mean and std.  Statistics come from the training split only and are
        kept in ``Dataset.mean`` / ``Dataset.std``.  Without it, ``X`` is in
        [0, 1] (pixels divided by 255; digits by 16).
    flatten : bool, default True
        ``X`` of shape (n, n_features), e.g. (n, 784); False gives
        (n, rows, cols), e.g. (n, 28, 28).
    download : bool, default True
        Allow downloading MNIST / Fashion-MNIST when no valid local copy exists.
    data_dir : str or os.PathLike, optional
        Cache root (files in ``data_dir/<name>/``); default ``$BPNN_DATA_DIR``
        or the user cache folder.
    mirrors : str or sequence of str, optional
        Download base URLs tried in order; default ``$BPNN_MIRRORS`` or the
        built-in mirrors.
    progress : bool, default True
        Show a download progress bar.
    seed : int, default 0
        Random state of a fractional validation split.
    test_only : bool, default False
        Read only the test split (for evaluating a model): the training
        images are neither downloaded nor read, ``train`` is empty and there
        is no validation split; ``standardize`` is not available.

    Returns
    -------
    Dataset
        ``.train``, ``.validation`` (or None), ``.test`` splits with ``X`` of
        ``dtype`` and ``y`` int64 of shape (n,), plus ``.classes``, ``.name``,
        ``.n_features``, ``.n_classes``, ``.image_shape``, ``.mean``, ``.std``.

    Raises
    ------
    bpnn.exceptions.DataError
        For an unknown name or path, a damaged or malicious file, a failed
        download, invalid options, labels that are not classes (see
        :mod:`bpnn.datasets.labels`), or data larger than the memory budget
        (see :mod:`bpnn.limits`; ``BPNN_MEMORY_BUDGET`` changes it).

    Examples
    --------
    >>> ds = load("digits")
    >>> ds.train.X.shape, ds.validation.X.shape, ds.test.X.shape
    ((1077, 64), (270, 64), (450, 64))
    >>> ds = load("mnist", classes=[3, 8])                     # doctest: +SKIP
    >>> ds.classes, ds.n_classes                                # doctest: +SKIP
    (['3', '8'], 2)
    """
    # Check the options before anything is read or downloaded.
    float_dtype = resolve_dtype(dtype)
    if standardize not in (False, None, True, "global", "feature"):
        raise DataError(f"standardize={standardize!r}: use False, True ('global') or 'feature'")
    if isinstance(validation, str) and validation != "auto":
        raise DataError(
            f"validation={validation!r}: use 'auto', an int count, a float "
            f"fraction in (0, 1), or None"
        )
    if not isinstance(validation, str):
        check_validation(validation)
    if test_only and standardize:
        raise DataError("standardize needs the training set; it cannot be combined with test_only=True")
    raw = _read_source(
        name_or_folder, download=download, data_dir=data_dir, mirrors=mirrors, progress=progress,
        test_only=test_only,
    )
    if test_only:      # single-file sources (digits, npz, pkl) hold both splits: drop the training part
        raw.X_train, raw.y_train = raw.X_train[:0], raw.y_train[:0]
        validation = None

    # The float inputs are a new allocation, sized by data already checked
    # against the budget as stored (uint8 becomes 4 or 8 times larger).
    n_features = int(np.prod(raw.image_shape))
    check_allocation(
        (raw.X_train.shape[0] + raw.X_test.shape[0]) * n_features * float_dtype.itemsize,
        f"the {raw.X_train.shape[0] + raw.X_test.shape[0]} inputs as {float_dtype} "
        f"(choose float32, or fewer classes=, to need less)",
        raw.name,
        error=DataError,
    )

    if isinstance(validation, str):
        validation = raw.auto_validation
    train_index, val_index = split_validation(
        raw.y_train, validation, seed=seed, what=raw.name
    )
    parts: dict[str, Optional[tuple[np.ndarray, np.ndarray]]] = {
        "train": None,
        "validation": None,
    }
    if val_index is None:
        parts["train"] = (raw.X_train, raw.y_train)
    elif isinstance(validation, (int, np.integer)):
        # The last N rows: contiguous slices, no copy of the raw arrays.
        cut = int(train_index.shape[0])
        parts["train"] = (raw.X_train[:cut], raw.y_train[:cut])
        parts["validation"] = (raw.X_train[cut:], raw.y_train[cut:])
    else:
        parts["train"] = (raw.X_train[train_index], raw.y_train[train_index])
        parts["validation"] = (raw.X_train[val_index], raw.y_train[val_index])
    parts["test"] = (raw.X_test, raw.y_test)

    class_names = list(raw.classes)
    original_labels = list(range(len(class_names)))
    if classes is not None:
        original_labels, class_names = filter_classes(classes, raw.classes)
        for key, part in parts.items():
            if part is not None:
                parts[key] = select_classes(part[0], part[1], original_labels)

    splits: dict[str, Optional[Split]] = {}
    for key, part in parts.items():
        splits[key] = None if part is None else Split(
            to_unit_range(part[0], raw.scale, float_dtype), part[1].astype(np.int64, copy=False)
        )

    mean = std = None
    if standardize:
        mean, std = fit_standardizer(splits["train"].X, standardize)
        for split in splits.values():
            if split is not None:
                apply_standardizer(split.X, mean, std)

    shape = (n_features,) if flatten else tuple(raw.image_shape)
    for split in splits.values():
        if split is not None:
            split.X = split.X.reshape((split.X.shape[0],) + shape)

    return Dataset(
        name=raw.name,
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        classes=class_names,
        image_shape=tuple(raw.image_shape),
        mean=mean,
        std=std,
        scale=raw.scale,
        source=raw.source,
        original_labels=original_labels,
    )
