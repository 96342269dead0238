"""Readers that turn each supported source into raw arrays.

Every reader returns a :class:`RawData`: the training and test images as
stored (``uint8`` 0..255, or floats already in [0, 1], or the digits' 0..16),
``int64`` labels, class names and the divisor that maps the values to
[0, 1].  :mod:`bpnn.datasets.prepare` does the rest.

Supported sources:

* a folder holding the four IDX files (``train-images-idx3-ubyte[.gz]``,
  ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]``,
  ``t10k-labels-idx1-ubyte[.gz]``, or the ``train-images.idx3-ubyte`` dot
  variant);
* Keras' ``mnist.npz`` (arrays ``x_train``, ``y_train``, ``x_test``,
  ``y_test``; read with ``allow_pickle=False``);
* the classic pickled ``mnist.pkl.gz`` (a tuple of three ``(X, y)`` pairs,
  50,000/10,000/10,000, X float32 in [0, 1]) read with
  :class:`~bpnn.datasets.safe_pickle.ArrayUnpickler`;
* scikit-learn's bundled 8x8 digits.
"""

from __future__ import annotations

import gzip
import lzma
import math
import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from bpnn.datasets.catalog import FASHION_MNIST_CLASSES
from bpnn.datasets.idx import IDX_FILE_ROLES, find_idx_files, read_idx_pair
from bpnn.datasets.labels import check_label_range, count_classes
from bpnn.datasets.safe_pickle import read_pickle_stream, safe_loads
from bpnn.exceptions import DataError
from bpnn.limits import (
    ENV_VAR,
    MAX_DEFLATE_RATIO,
    check_allocation,
    check_shape,
    describe_budget,
    format_bytes,
    memory_budget,
    nbytes_of,
    read_capped,
)

__all__ = [
    "RawData",
    "read_digits",
    "read_idx_files",
    "read_idx_folder",
    "read_npz",
    "read_pickle",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Seed of the fixed 75/25 stratified train/test split of the digits.
DIGITS_SPLIT_SEED = 0

#: A pickle may take up to 1/_PICKLE_SHARE of the memory budget.
_PICKLE_SHARE = 3


@dataclass
class RawData:
    """Arrays as stored in a source, before any preparation.

    Attributes
    ----------
    name : str
        Data set name or path.
    X_train, X_test : numpy.ndarray, shape (n, *image_shape)
        Inputs as stored: ``uint8`` (divide by 255), or floats.
    y_train, y_test : numpy.ndarray of int64, shape (n,)
        Class indices.
    classes : list of str
        Class names, index = label.
    image_shape : tuple of int
        Shape of one input, e.g. ``(28, 28)``.
    scale : float
        Divisor mapping the stored values to [0, 1].
    source : str
        Human-readable origin (paths).
    auto_validation : int or float
        What ``validation="auto"`` means for this source: 10000 (the usual
        MNIST split) except 0.2 for the small digits set.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    image_shape: tuple[int, ...]
    scale: float
    source: str
    auto_validation: Union[int, float] = 10000


def _class_names(labels: Sequence[tuple[np.ndarray, str]], origin: Path | None) -> list[str]:
    """Class names of a user's data: ``"0".."k-1"`` for its ``k`` distinct labels.

    The labels must be exactly ``0..k-1`` (see
    :func:`bpnn.datasets.labels.count_classes`); Fashion-MNIST's names are
    used when there are 10 classes and the file or folder is named so.
    """
    n_classes = count_classes(labels)
    if (
        origin is not None
        and n_classes == len(FASHION_MNIST_CLASSES)
        and "fashion" in re.sub(r"[^a-z]", "", origin.name.lower())
    ):
        return list(FASHION_MNIST_CLASSES)
    return [str(i) for i in range(n_classes)]


def _image_shape(features: tuple[int, ...]) -> tuple[int, ...]:
    """Image shape for per-example array shape ``features`` (flat or not)."""
    if len(features) == 1:
        side = math.isqrt(features[0])
        if side * side == features[0]:
            return (side, side)
    return tuple(features)


def _check_pixels(X: np.ndarray, what: str) -> float:
    """Return the divisor mapping ``X`` to [0, 1], or raise if impossible."""
    if X.dtype.kind not in "biuf" or X.dtype.fields is not None:
        raise DataError(f"{what}: inputs of dtype {X.dtype} are not numbers; store uint8 or floats")
    if X.dtype == np.uint8:
        return 255.0
    if X.size == 0:
        return 1.0
    lo, hi = float(X.min()), float(X.max())
    if X.dtype.kind == "f":
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise DataError(f"{what}: inputs contain NaN or infinity; the file is damaged")
        if lo >= 0.0 and hi <= 1.0:
            return 1.0
        raise DataError(
            f"{what}: float inputs must lie in [0, 1], found [{lo:g}, {hi:g}]; "
            f"store uint8 pixels (0..255) or floats scaled to [0, 1]"
        )
    if X.dtype.kind in "iu" and lo >= 0 and hi <= 255:
        return 255.0
    raise DataError(
        f"{what}: inputs of dtype {X.dtype} with range [{lo:g}, {hi:g}] are not "
        f"pixels; store uint8 (0..255) or floats in [0, 1]"
    )


def _check_labels(y: np.ndarray, what: str) -> np.ndarray:
    """Labels as int64 class indices of shape (n,); their range is checked later."""
    if y.ndim != 1:
        raise DataError(f"{what}: labels must have shape (n,), got {y.shape}")
    if y.dtype.kind not in "iu":
        if (
            y.dtype.kind == "f"
            and y.size
            and np.all(np.mod(y, 1) == 0)
            and np.all(np.abs(y) <= 2**53)
        ):
            y = y.astype(np.int64)
        else:
            raise DataError(
                f"{what}: labels must be integer class indices, got dtype {y.dtype}"
            )
    if y.dtype == np.uint64 and y.size and int(y.max()) > np.iinfo(np.int64).max:
        raise DataError(f"{what}: label {int(y.max())} is not a class index; labels must be 0..k-1")
    y = y.astype(np.int64, copy=False)
    if y.size and y.min() < 0:
        raise DataError(
            f"{what}: negative label {y.min()} ({int(np.count_nonzero(y < 0))} "
            f"negative label(s) in all); labels must be 0..k-1"
        )
    return y


def _as_images(X: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    return X.reshape((X.shape[0],) + image_shape)


def read_idx_files(
    files: dict[str, Path], *, name: str, classes: Sequence[str] | None = None
) -> RawData:
    """Read the four IDX files given by role (or only the test pair).

    Parameters
    ----------
    files : dict of str to pathlib.Path
        Keys ``train_images``, ``train_labels``, ``test_images``, ``test_labels``;
        without the training pair, the training set is empty (for evaluating a
        model on the test set without reading the training images).
    name : str
        Name given to the data set.
    classes : sequence of str, optional
        Class names of a known data set (its catalog entry): every label must
        lie in ``0..len(classes)-1``.  Default: ``"0".."k-1"`` for the ``k``
        distinct labels, which must be exactly ``0..k-1`` (Fashion-MNIST's
        names if there are 10 and the folder's name contains "fashion").

    Returns
    -------
    RawData
        ``uint8`` images of shape (n, rows, cols), scale 255.

    Raises
    ------
    bpnn.exceptions.DataError
        If any file is invalid (see :func:`bpnn.datasets.idx.read_idx`), the
        image and label counts differ, images are not uint8, train and test
        image sizes differ, or a label is not a class (see ``classes``); the
        message names the label file, the odd values and the rows carrying them.
    """
    X_test, y_test = read_idx_pair(files["test_images"], files["test_labels"])
    if "train_images" in files:
        X_train, y_train = read_idx_pair(files["train_images"], files["train_labels"])
    else:
        X_train, y_train = X_test[:0], y_test[:0]
    for role in ("train_images", "test_images"):
        X = X_train if role == "train_images" else X_test
        if X.dtype != np.uint8:
            raise DataError(
                f"{files[role]}: images must be uint8 (IDX type 0x08), the file "
                f"stores {X.dtype}; convert it with bpnn.datasets.write_idx"
            )
    if "train_images" in files and X_train.shape[1:] != X_test.shape[1:]:
        raise DataError(
            f"{files['train_images']} holds images of {X_train.shape[1:]} but "
            f"{files['test_images']} holds {X_test.shape[1:]}; both must have the "
            f"same size"
        )
    folder = files["test_images"].parent
    labels = [(y_test, str(files["test_labels"]))]
    if "train_labels" in files:
        labels.insert(0, (y_train, str(files["train_labels"])))
    if classes is not None:
        names = list(classes)
        check_label_range(labels, len(names), name)
    else:
        names = _class_names(labels, folder)
    return RawData(
        name=name,
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        classes=names,
        image_shape=tuple(X_train.shape[1:]),
        scale=255.0,
        source=", ".join(str(files[r]) for r in IDX_FILE_ROLES if r in files),
    )


def read_idx_folder(folder: PathLike, test_only: bool = False) -> RawData:
    """Read a folder holding the four IDX files.

    Parameters
    ----------
    folder : str or os.PathLike
        Holds ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
        ``t10k-images-idx3-ubyte[.gz]`` and ``t10k-labels-idx1-ubyte[.gz]``
        (``train-images.idx3-ubyte`` style names are accepted too).
    test_only : bool
        Read (and require) only the two test files.

    Returns
    -------
    RawData

    Raises
    ------
    bpnn.exceptions.DataError
        If a file is missing or invalid.
    """
    folder = Path(folder)
    found, missing = find_idx_files(folder)
    if test_only:
        missing = [m for m in missing if m.startswith("t10k")]
        found = {r: p for r, p in found.items() if r.startswith("test")}
    if missing:
        raise DataError(
            f"{folder}: missing IDX file(s) {', '.join(missing)}; a data folder "
            f"must hold the four files train-images-idx3-ubyte, "
            f"train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
            f"t10k-labels-idx1-ubyte (each optionally .gz)"
        )
    return read_idx_files(found, name=str(folder))


_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_NPZ_FIX = "download or copy the file again"


@dataclass
class _NpyMember:
    """What the header of one ``.npy`` member of an npz archive declares."""

    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    header_len: int
    nbytes: int


def _npy_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, what: str) -> _NpyMember:
    """Read and check the header of an ``.npy`` member, nothing more."""
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise DataError(
                f"{what}: .npy format version {version[0]}.{version[1]} is not supported "
                f"(plain numeric arrays are saved as version 1.0 or 2.0); re-save it "
                f"with numpy.savez"
            )
        header_len = member.tell()
    if dtype.hasobject:
        raise DataError(
            f"{what}: holds Python objects (dtype {dtype}); bpnn loads npz files with "
            f"allow_pickle=False, so arrays must be plain numbers, not Python "
            f"objects; re-save them with numeric dtypes (uint8 images, integer labels)"
        )
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise DataError(
            f"{what}: arrays of dtype {dtype} are not supported; store uint8 or float "
            f"images and integer labels"
        )
    check_shape(tuple(shape), dtype, "the .npy header", what, error=DataError)
    nbytes = nbytes_of(shape, dtype)
    stored = info.file_size - header_len
    if stored != nbytes:
        problem = "holds only" if stored < nbytes else "holds"
        raise DataError(
            f"{what}: the header declares shape {shape} of {dtype} "
            f"({format_bytes(nbytes)}, {nbytes} bytes) but the archive member "
            f"{problem} {max(stored, 0)} bytes of data; the file is damaged or hostile: "
            f"{_NPZ_FIX}"
        )
    if info.compress_type == zipfile.ZIP_DEFLATED:
        most = MAX_DEFLATE_RATIO * info.compress_size
    elif info.compress_type == zipfile.ZIP_STORED:
        most = info.compress_size
    else:
        most = None  # bz2 and lzma: no useful bound; the capped read still holds
    if most is not None and info.file_size > most:
        raise DataError(
            f"{what}: the archive member declares {format_bytes(info.file_size)} but "
            f"its {info.compress_size} stored bytes cannot hold that much; the file "
            f"is damaged or hostile: {_NPZ_FIX}"
        )
    return _NpyMember(info, tuple(shape), fortran_order, dtype, header_len, nbytes)


def _npy_data(archive: zipfile.ZipFile, npy: _NpyMember, what: str) -> np.ndarray:
    """Read the array of a member whose header :func:`_npy_header` checked."""
    with archive.open(npy.info) as member:
        member.read(npy.header_len)
        data = read_capped(
            member,
            npy.nbytes,
            what,
            error=DataError,
            what=f"the array of shape {npy.shape} its header declares",
            size_hint=npy.nbytes,
        )
    if len(data) < npy.nbytes:
        raise DataError(
            f"{what}: truncated: the header declares {npy.nbytes} bytes of data but "
            f"the archive member holds {len(data)}; {_NPZ_FIX}"
        )
    array = np.frombuffer(data, dtype=npy.dtype)  # writable: data is a bytearray
    if not npy.dtype.isnative:
        array = array.byteswap(inplace=True).view(npy.dtype.newbyteorder("="))
    if npy.fortran_order:
        return array.reshape(npy.shape[::-1]).transpose()
    return array.reshape(npy.shape)


def _read_npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """The four arrays of an MNIST npz, every declared size checked before reading."""
    try:
        # Our own handle, closed whatever happens.
        with open(path, "rb") as handle:
            magic = handle.read(6)
            if magic == b"\x93NUMPY":
                raise DataError(
                    f"{path}: holds a single array, not an npz archive of x_train, "
                    f"y_train, x_test and y_test"
                )
            if not magic.startswith(b"PK"):
                raise DataError(
                    f"{path}: not an npz archive (no zip signature at the start); "
                    f"{_NPZ_FIX}"
                )
            handle.seek(0)
            with zipfile.ZipFile(handle) as archive:
                members: dict[str, zipfile.ZipInfo] = {}
                for info in archive.infolist():
                    key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                    members.setdefault(key, info)
                missing = [k for k in _NPZ_KEYS if k not in members]
                if missing:
                    raise DataError(
                        f"{path}: missing array(s) {', '.join(missing)} (found "
                        f"{', '.join(members) or 'none'}); an MNIST npz must hold "
                        f"x_train, y_train, x_test and y_test like Keras' mnist.npz"
                    )
                headers = {k: _npy_header(archive, members[k], f"{path} {k}") for k in _NPZ_KEYS}
                check_allocation(
                    sum(h.nbytes for h in headers.values()),
                    "the arrays x_train, y_train, x_test and y_test "
                    f"(shapes {', '.join(str(h.shape) for h in headers.values())})",
                    str(path),
                    error=DataError,
                )
                return {k: _npy_data(archive, h, f"{path} {k}") for k, h in headers.items()}
    except DataError:
        raise
    except ValueError as exc:  # read_magic / read_array_header_*: a damaged header
        raise DataError(
            f"{path}: not a valid npz archive of NumPy arrays ({exc}); {_NPZ_FIX}"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, lzma.LZMAError,
            NotImplementedError, RuntimeError, MemoryError) as exc:
        raise DataError(
            f"{path}: not a readable npz archive ({type(exc).__name__}: {exc}); "
            f"{_NPZ_FIX}"
        ) from None


def read_npz(path: PathLike) -> RawData:
    """Read Keras' ``mnist.npz`` (or any npz with the same four arrays).

    Parameters
    ----------
    path : str or os.PathLike
        An ``.npz`` archive with ``x_train`` (n, 28, 28) uint8, ``y_train``
        (n,), ``x_test``, ``y_test``.  Object arrays are refused (as with
        ``allow_pickle=False``).

    Returns
    -------
    RawData
        The number of classes is the number of distinct labels, which must
        be exactly ``0..k-1``.

    Raises
    ------
    bpnn.exceptions.DataError
        If the archive is damaged, lacks a key, holds object arrays, declares
        more data than a member holds (or than the memory budget of
        :mod:`bpnn.limits` allows), the arrays disagree in length, or the
        labels are not ``0..k-1``.

    Notes
    -----
    Each member's ``.npy`` header is read first (``numpy.lib.format``), and
    its shape times item size is checked against the member's declared
    uncompressed size and the memory budget before any data is read; the data
    are then read with a hard cap at that size.
    """
    path = Path(path)
    arrays = _read_npz_arrays(path)
    for split in ("train", "test"):
        X, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if X.ndim < 2:
            raise DataError(f"{path}: x_{split} must have shape (n, ...), got {X.shape}")
        if y.ndim != 1:
            raise DataError(f"{path}: y_{split} must have shape (n,), got {y.shape}")
        if X.shape[0] != y.shape[0]:
            raise DataError(
                f"{path}: x_{split} holds {X.shape[0]} inputs but y_{split} holds "
                f"{y.shape[0]} labels; the file is damaged or mixed up"
            )
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise DataError(
            f"{path}: x_train inputs have shape {arrays['x_train'].shape[1:]} but "
            f"x_test inputs {arrays['x_test'].shape[1:]}; both must match"
        )
    y_train = _check_labels(arrays["y_train"], f"{path} y_train")
    y_test = _check_labels(arrays["y_test"], f"{path} y_test")
    classes = _class_names([(y_train, f"{path} y_train"), (y_test, f"{path} y_test")], path)
    scales = {_check_pixels(arrays[k], f"{path} {k}") for k in ("x_train", "x_test")}
    if len(scales) != 1:
        raise DataError(f"{path}: x_train and x_test are stored in different ranges")
    image_shape = _image_shape(arrays["x_train"].shape[1:])
    return RawData(
        name=str(path),
        X_train=_as_images(arrays["x_train"], image_shape),
        y_train=y_train,
        X_test=_as_images(arrays["x_test"], image_shape),
        y_test=y_test,
        classes=classes,
        image_shape=image_shape,
        scale=scales.pop(),
        source=str(path),
    )


def _read_pickle_bytes(path: Path) -> bytearray:
    """The (decompressed) pickle, its opcodes checked as they are read.

    Reading stops at the first invalid opcode, so compressed garbage is
    refused after a few bytes, and never goes past a third of the memory
    budget: the decompressed pickle, the arrays it rebuilds and the joined
    training set each take about the size of the data.
    """
    try:
        budget = memory_budget()
    except ValueError as exc:
        raise DataError(f"{path}: cannot be read within the memory budget: {exc}") from None
    cap = budget // _PICKLE_SHARE
    limit_text = f"a third of {describe_budget(budget)}, the most bpnn reads from a pickle"
    advice = (
        f"A genuine file this large needs a larger budget ({ENV_VAR}); otherwise "
        f"the file is damaged or hostile: do not use it"
    )
    try:
        with open(path, "rb") as raw:
            st = os.fstat(raw.fileno())
            if raw.read(2) == b"\x1f\x8b":
                raw.seek(0)
                with gzip.GzipFile(filename="", mode="rb", fileobj=raw) as stream:
                    return read_pickle_stream(
                        stream, cap, source=str(path), what=limit_text, advice=advice
                    )
            if stat.S_ISREG(st.st_mode) and st.st_size > cap:
                raise DataError(
                    f"{path}: a pickle of {format_bytes(st.st_size)} is more than "
                    f"{limit_text}. {advice}"
                )
            raw.seek(0)
            return read_pickle_stream(raw, cap, source=str(path), what=limit_text, advice=advice)
    except DataError:
        raise
    except EOFError as exc:
        raise DataError(
            f"{path}: truncated gzip stream ({exc}); download or copy it again"
        ) from None
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: corrupt gzip stream ({exc}); download it again") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from None
    except MemoryError:
        raise DataError(f"{path}: ran out of memory while reading; lower {ENV_VAR}") from None


def read_pickle(path: PathLike) -> RawData:
    """Read the classic pickled ``mnist.pkl.gz`` safely.

    The file holds ``((X_train, y_train), (X_valid, y_valid), (X_test, y_test))``
    with 50,000 / 10,000 / 10,000 rows, X float32 of shape (n, 784) in [0, 1].
    Training and validation are concatenated in that order (60,000 rows, the
    same order as MNIST's training file), so ``validation=10000`` gives back
    exactly the file's own validation part.  Unpickling is restricted to NumPy
    arrays (see :mod:`bpnn.datasets.safe_pickle`); it is a Python 2 pickle, read
    with ``encoding="latin1"``.

    Parameters
    ----------
    path : str or os.PathLike
        ``.pkl.gz`` (gzip) or ``.pkl`` (raw).

    Returns
    -------
    RawData

    Raises
    ------
    bpnn.exceptions.DataError
        If the file is damaged, names anything but NumPy array builders, does
        not have the expected structure, has labels that are not ``0..k-1``,
        or holds more than a third of the memory budget (see
        :mod:`bpnn.limits`; the gzip stream is decompressed with that cap, so
        a decompression bomb stops there).
    """
    path = Path(path)
    data = _read_pickle_bytes(path)
    obj = safe_loads(data, source=str(path))
    del data
    layout = (
        "a tuple of three (X, y) pairs (train, validation, test) like the classic "
        "mnist.pkl.gz"
    )
    if not isinstance(obj, (tuple, list)) or len(obj) != 3:
        raise DataError(f"{path}: expected {layout}, found {type(obj).__name__}")
    parts = []
    for part_name, part in zip(("train", "validation", "test"), obj):
        if (
            not isinstance(part, (tuple, list))
            or len(part) != 2
            or not all(isinstance(a, np.ndarray) for a in part)
        ):
            raise DataError(
                f"{path}: the {part_name} part is not an (X, y) pair of arrays; "
                f"expected {layout}"
            )
        X, y = part
        what = f"{path} ({part_name} part)"
        if X.ndim < 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
            raise DataError(
                f"{what}: X has shape {X.shape} and y {y.shape}; X must be (n, ...) "
                f"with one label per row"
            )
        parts.append((X, _check_labels(y, what), _check_pixels(X, what), what))
    if len({p[0].shape[1:] for p in parts}) != 1 or len({p[2] for p in parts}) != 1:
        raise DataError(f"{path}: the three parts differ in input shape or range")
    classes = _class_names([(p[1], p[3]) for p in parts], path)
    image_shape = _image_shape(parts[0][0].shape[1:])
    check_allocation(
        parts[0][0].nbytes + parts[1][0].nbytes,
        "the training set (train and validation parts joined)",
        str(path),
        error=DataError,
    )
    X_train = np.concatenate([parts[0][0], parts[1][0]])
    y_train = np.concatenate([parts[0][1], parts[1][1]])
    X_test, y_test = parts[2][0], parts[2][1]
    return RawData(
        name=str(path),
        X_train=_as_images(X_train, image_shape),
        y_train=y_train,
        X_test=_as_images(X_test, image_shape),
        y_test=y_test,
        classes=classes,
        image_shape=image_shape,
        scale=parts[0][2],
        source=str(path),
    )


def read_digits() -> RawData:
    """Load scikit-learn's bundled 8x8 digits with a fixed stratified test split.

    1,797 images of 64 features valued 0..16 (scale 16), 10 classes.  The test
    set is 25 % held out, stratified, with ``random_state=0``
    (``train_test_split(test_size=0.25, stratify=y, random_state=0)``): 1,347
    training and 450 test images, the same on every call.

    Returns
    -------
    RawData
        float64 images of shape (n, 8, 8), scale 16.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    y = y.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=DIGITS_SPLIT_SEED
    )
    return RawData(
        name="digits",
        X_train=_as_images(X_train, (8, 8)),
        y_train=y_train,
        X_test=_as_images(X_test, (8, 8)),
        y_test=y_test,
        classes=[str(i) for i in range(10)],
        image_shape=(8, 8),
        scale=16.0,
        source="sklearn.datasets.load_digits",
        auto_validation=0.2,
    )
