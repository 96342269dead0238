"""Reading and writing the IDX file format of MNIST and Fashion-MNIST.

An IDX file is a big-endian header followed by a flat C-order payload::

    byte 0-1   two zero bytes
    byte 2     type code of the elements (see :data:`IDX_TYPES`)
    byte 3     number of dimensions ``ndim``
    then       ``ndim`` big-endian uint32 sizes
    then       prod(sizes) elements of the type, big-endian

Files may be stored raw or gzip-compressed; :func:`read_idx` recognises
gzip by its magic bytes (``1f 8b``), so both ``train-images-idx3-ubyte`` and
``train-images-idx3-ubyte.gz`` are read the same way.  The reader is strict:
every inconsistency between the header and the payload raises
:class:`~bpnn.exceptions.DataError` naming the file, the problem and a fix.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Union

import numpy as np

from bpnn.exceptions import DataError

__all__ = [
    "IDX_FILE_ROLES",
    "IDX_TYPES",
    "find_idx_files",
    "read_idx",
    "read_idx_pair",
    "write_idx",
]

PathLike = Union[str, "os.PathLike[str]"]

#: IDX type code -> big-endian NumPy dtype of the payload.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: The four roles of an IDX data set and their canonical base file names.
IDX_FILE_ROLES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_GZIP_MAGIC = b"\x1f\x8b"
_REDOWNLOAD = "download or copy the file again"


def _type_code(dtype: np.dtype) -> int:
    for code, idx_dtype in IDX_TYPES.items():
        if idx_dtype.kind == dtype.kind and idx_dtype.itemsize == dtype.itemsize:
            return code
    supported = ", ".join(str(t.newbyteorder("=")) for t in IDX_TYPES.values())
    raise DataError(
        f"write_idx: dtype {dtype} has no IDX type code; "
        f"convert the array to one of {supported} first"
    )


def _read_bytes(path: Path) -> bytes:
    """Return the decompressed content of ``path`` (raw or gzip)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the path") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc}); check its permissions") from exc
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except EOFError as exc:
            raise DataError(
                f"{path}: truncated gzip stream ({exc}); the file was cut short "
                f"while downloading or copying: {_REDOWNLOAD}"
            ) from None
        except (zlib.error, gzip.BadGzipFile, OSError) as exc:
            raise DataError(
                f"{path}: corrupt gzip stream ({exc}); {_REDOWNLOAD}"
            ) from None
    if path.suffix == ".gz" and raw[:2] != b"\x00\x00":
        raise DataError(
            f"{path}: named .gz but is neither gzip-compressed (no 1f 8b magic) "
            f"nor a raw IDX file; {_REDOWNLOAD}"
        )
    return raw


def read_idx(path: PathLike, *, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a NumPy array.

    Parameters
    ----------
    path : str or os.PathLike
        The file.  Gzip compression is recognised by the file's magic bytes,
        whatever its name.
    ndim : int, optional
        The number of dimensions the caller expects (3 for an image file of
        shape ``(n, rows, cols)``, 1 for a label file of shape ``(n,)``).
        A file with another count is rejected.  ``None`` accepts any.

    Returns
    -------
    numpy.ndarray
        A writable, native-byte-order array of the header's shape, e.g.
        ``uint8`` of shape ``(60000, 28, 28)`` for MNIST's training images.

    Raises
    ------
    bpnn.exceptions.DataError
        If the file is missing, unreadable, not gzip although named ``.gz``,
        a truncated or corrupt gzip stream, has a wrong magic number, an
        unknown type code, a wrong number of dimensions, or a payload whose
        length disagrees with the sizes in the header.  The message names the
        file, the problem and a fix.

    Examples
    --------
    >>> images = read_idx("train-images-idx3-ubyte.gz", ndim=3)  # doctest: +SKIP
    >>> images.shape, images.dtype                               # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'))
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(
            f"{path}: only {len(data)} bytes, too short for an IDX header "
            f"(at least 4 bytes); the file is truncated: {_REDOWNLOAD}"
        )
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{path}: wrong magic number 0x{data[:4].hex()} (an IDX file starts "
            f"with two zero bytes, a type code and a dimension count); this is "
            f"not an IDX file, or a damaged one: {_REDOWNLOAD}"
        )
    code, file_ndim = data[2], data[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise DataError(
            f"{path}: unknown IDX type code 0x{code:02X} (known: {known}); "
            f"the file is damaged or not an IDX file: {_REDOWNLOAD}"
        )
    if file_ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions; {_REDOWNLOAD}")
    if ndim is not None and file_ndim != ndim:
        what = {3: "an image file (n, rows, cols)", 1: "a label file (n,)"}.get(
            ndim, f"a {ndim}-dimensional file"
        )
        raise DataError(
            f"{path}: has {file_ndim} dimensions where {what} with {ndim} was "
            f"expected; check that images and labels files are not swapped or "
            f"misnamed"
        )
    header_len = 4 + 4 * file_ndim
    if len(data) < header_len:
        raise DataError(
            f"{path}: header declares {file_ndim} dimensions but the file ends "
            f"after {len(data)} bytes, inside the header; the file is truncated: "
            f"{_REDOWNLOAD}"
        )
    shape = struct.unpack(f">{file_ndim}I", data[4:header_len])
    dtype = IDX_TYPES[code]
    count = 1
    for size in shape:
        count *= size
    expected = count * dtype.itemsize
    actual = len(data) - header_len
    if actual < expected:
        raise DataError(
            f"{path}: truncated payload: the header promises shape {shape} "
            f"({expected} bytes of data) but only {actual} bytes follow the "
            f"header; {_REDOWNLOAD}"
        )
    if actual > expected:
        raise DataError(
            f"{path}: {actual - expected} unexpected bytes after the payload: "
            f"the header promises shape {shape} ({expected} bytes of data) but "
            f"{actual} bytes follow the header; the file is damaged: {_REDOWNLOAD}"
        )
    if dtype.itemsize == 1:
        # A bytearray view keeps the result writable at the cost of one copy.
        buffer = bytearray(memoryview(data)[header_len:])
        array = np.frombuffer(buffer, dtype=dtype.newbyteorder("="), count=count)
    else:
        array = np.frombuffer(data, dtype=dtype, count=count, offset=header_len)
        array = array.astype(dtype.newbyteorder("="))
    return array.reshape(shape)


def read_idx_pair(
    images_path: PathLike, labels_path: PathLike
) -> tuple[np.ndarray, np.ndarray]:
    """Read a matching images file and labels file.

    Parameters
    ----------
    images_path : str or os.PathLike
        An IDX file of 3 dimensions ``(n, rows, cols)``.
    labels_path : str or os.PathLike
        An IDX file of 1 dimension ``(n,)`` holding integer labels.

    Returns
    -------
    images : numpy.ndarray, shape (n, rows, cols)
        As stored (``uint8`` for MNIST).
    labels : numpy.ndarray of int64, shape (n,)

    Raises
    ------
    bpnn.exceptions.DataError
        As :func:`read_idx`, or if the two counts differ, or the labels are
        not integers or are negative.
    """
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} "
            f"holds {labels.shape[0]} labels; the two files must come from the "
            f"same release (train-* with train-*, t10k-* with t10k-*): "
            f"{_REDOWNLOAD}s"
        )
    if labels.dtype.kind not in "iu":
        raise DataError(
            f"{labels_path}: labels must be integers, the file stores "
            f"{labels.dtype}; pass a label file of type 0x08 (uint8)"
        )
    labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise DataError(
            f"{labels_path}: negative label {labels.min()}; labels must be class "
            f"indices 0..k-1"
        )
    return images, labels


def write_idx(path: PathLike, array: np.ndarray) -> Path:
    """Write an array as an IDX file, gzip-compressed if the name ends in ``.gz``.

    The file is written to a temporary name in the same folder and renamed
    into place, so a failure never leaves a half-written file.

    Parameters
    ----------
    path : str or os.PathLike
        Destination.  A ``.gz`` suffix selects gzip compression.
    array : numpy.ndarray
        Any shape with 1 to 255 dimensions, each below 2**32, of dtype
        ``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or ``float64``
        (``int64`` or other dtypes must be converted first).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    bpnn.exceptions.DataError
        If the dtype or shape cannot be represented in IDX.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _type_code(array.dtype)
    if not 1 <= array.ndim <= 255:
        raise DataError(f"write_idx {path}: IDX needs 1 to 255 dimensions, got {array.ndim}")
    if any(size >= 2**32 for size in array.shape):
        raise DataError(f"write_idx {path}: dimension sizes must be < 2**32, got {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; give the usual file mode
        with os.fdopen(fd, "wb") as raw:
            if path.suffix == ".gz":
                with gzip.GzipFile(
                    filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0
                ) as gz:
                    gz.write(header)
                    gz.write(payload)
            else:
                raw.write(header)
                raw.write(payload)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _candidate_names(base: str) -> list[str]:
    """File names accepted for an IDX file with canonical base name ``base``."""
    dotted = re.sub(r"-(idx\d)", r".\1", base, count=1)
    return [base + ".gz", base, dotted + ".gz", dotted]


def find_idx_files(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Locate the four IDX files of a data set in ``folder``.

    For each role the names tried are, in order, ``<base>.gz``, ``<base>``,
    and the dot variants (``train-images.idx3-ubyte[.gz]``), where ``<base>``
    is the canonical name in :data:`IDX_FILE_ROLES`.

    Parameters
    ----------
    folder : pathlib.Path
        The folder to look in.

    Returns
    -------
    found : dict of str to pathlib.Path
        Role (``train_images``...) to path, for the files present.
    missing : list of str
        Canonical names of the files not found.
    """
    found: dict[str, Path] = {}
    missing: list[str] = []
    for role, base in IDX_FILE_ROLES.items():
        for name in _candidate_names(base):
            candidate = folder / name
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            missing.append(base + "[.gz]")
    return found, missing
