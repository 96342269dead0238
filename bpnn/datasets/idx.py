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
It is also safe against hostile files: the size a header declares is checked
against the file and the memory budget of :mod:`bpnn.limits` before anything
is allocated, and decompression stops at the declared size.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import stat
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Union

import numpy as np

from bpnn.exceptions import DataError
from bpnn.limits import (
    ENV_VAR,
    MAX_DEFLATE_RATIO,
    check_allocation,
    check_shape,
    format_bytes,
    nbytes_of,
    read_capped,
)

__all__ = [
    "IDX_FILE_ROLES",
    "IDX_TYPES",
    "find_idx_files",
    "read_idx",
    "read_idx_header",
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
#: Up to this expansion a gzip file's own size claim (its trailer) is
#: believed enough to allocate the payload at once (MNIST's images: 4.7).
_TRUSTED_RATIO = 32


def _type_code(dtype: np.dtype) -> int:
    for code, idx_dtype in IDX_TYPES.items():
        if idx_dtype.kind == dtype.kind and idx_dtype.itemsize == dtype.itemsize:
            return code
    supported = ", ".join(str(t.newbyteorder("=")) for t in IDX_TYPES.values())
    raise DataError(
        f"write_idx: dtype {dtype} has no IDX type code; "
        f"convert the array to one of {supported} first"
    )


class _Source:
    """An opened IDX file: a stream of its (decompressed) content and facts about it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.raw = open(path, "rb")
        except FileNotFoundError:
            raise DataError(f"{path}: file not found; check the path") from None
        except OSError as exc:
            raise DataError(f"{path}: cannot be read ({exc}); check its permissions") from None
        self.stream = self.raw
        self.gzip = False
        self.size: int | None = None  # bytes on disk, for regular files
        self.isize: int | None = None  # gzip trailer: uncompressed size mod 2**32
        try:
            st = os.fstat(self.raw.fileno())
            if stat.S_ISREG(st.st_mode):
                self.size = st.st_size
            magic = self.raw.read(2)
            if magic == _GZIP_MAGIC:
                self.gzip = True
                if self.size is not None and self.size >= 20:
                    self.raw.seek(-4, os.SEEK_END)
                    self.isize = int.from_bytes(self.raw.read(4), "little")
                self.raw.seek(0)
                self.stream = gzip.GzipFile(filename="", mode="rb", fileobj=self.raw)
            elif path.suffix == ".gz" and len(magic) == 2 and magic != b"\x00\x00":
                raise DataError(
                    f"{path}: named .gz but is neither gzip-compressed (no 1f 8b magic) "
                    f"nor a raw IDX file; {_REDOWNLOAD}"
                )
            elif self.size is not None:
                self.raw.seek(0)
            else:  # a pipe or device cannot seek back: serve the two bytes first
                self.stream = io.BufferedReader(_Prefixed(magic, self.raw))
        except BaseException:
            self.raw.close()
            raise

    def close(self) -> None:
        try:
            if self.stream is not self.raw:
                self.stream.close()
        finally:
            self.raw.close()

    def __enter__(self) -> "_Source":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def read_exact(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end of the stream)."""
        chunks = []
        while n > 0:
            chunk = self.stream.read(n)
            if not chunk:
                break
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)


class _Prefixed(io.RawIOBase):
    """A non-seekable stream with bytes already read put back in front."""

    def __init__(self, prefix: bytes, rest) -> None:
        self.prefix = prefix
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.prefix:
            n = min(len(buffer), len(self.prefix))
            buffer[:n] = self.prefix[:n]
            self.prefix = self.prefix[n:]
            return n
        return self.rest.readinto(buffer)


class _StreamErrors:
    """Turns the errors of reading a (gzip) stream into DataError naming the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None or isinstance(exc, DataError):
            return False
        path = self.path
        if isinstance(exc, EOFError):
            raise DataError(
                f"{path}: truncated gzip stream ({exc}); the file was cut short "
                f"while downloading or copying: {_REDOWNLOAD}"
            ) from None
        if isinstance(exc, (zlib.error, gzip.BadGzipFile)):
            raise DataError(f"{path}: corrupt gzip stream ({exc}); {_REDOWNLOAD}") from None
        if isinstance(exc, OSError):
            raise DataError(f"{path}: cannot be read ({exc}); {_REDOWNLOAD}") from None
        if isinstance(exc, MemoryError):
            raise DataError(
                f"{path}: ran out of memory while reading ({type(exc).__name__}); "
                f"free memory or lower {ENV_VAR} so that the check before reading "
                f"refuses what does not fit"
            ) from None
        return False


def _read_header(source: _Source, ndim: int | None) -> tuple[tuple[int, ...], np.dtype, int]:
    """Read and check the header; return ``(shape, dtype, header_len)``."""
    path = source.path
    head = source.read_exact(4)
    if len(head) < 4:
        raise DataError(
            f"{path}: only {len(head)} bytes, too short for an IDX header "
            f"(at least 4 bytes); the file is truncated: {_REDOWNLOAD}"
        )
    if head[0] != 0 or head[1] != 0:
        raise DataError(
            f"{path}: wrong magic number 0x{head.hex()} (an IDX file starts "
            f"with two zero bytes, a type code and a dimension count); this is "
            f"not an IDX file, or a damaged one: {_REDOWNLOAD}"
        )
    code, file_ndim = head[2], head[3]
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
    sizes = source.read_exact(4 * file_ndim)
    if len(sizes) < 4 * file_ndim:
        raise DataError(
            f"{path}: header declares {file_ndim} dimensions but the file ends "
            f"after {4 + len(sizes)} bytes, inside the header; the file is truncated: "
            f"{_REDOWNLOAD}"
        )
    shape = struct.unpack(f">{file_ndim}I", sizes)
    return shape, IDX_TYPES[code], header_len


def _check_declared_size(
    source: _Source, shape: tuple[int, ...], dtype: np.dtype, header_len: int
) -> int:
    """Check the size the header declares before anything is allocated; return it."""
    path = source.path
    check_shape(shape, dtype, "its IDX header", str(path), error=DataError)
    expected = nbytes_of(shape, dtype)
    if not source.gzip and source.size is not None:
        actual = source.size - header_len
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
    if source.gzip and source.size is not None:
        most = MAX_DEFLATE_RATIO * source.size
        if header_len + expected > most:
            raise DataError(
                f"{path}: truncated payload or false header: the header promises "
                f"shape {shape} ({expected} bytes of data, {format_bytes(expected)}) "
                f"but a gzip file of {source.size} bytes cannot expand to more than "
                f"{format_bytes(most)}; {_REDOWNLOAD}"
            )
    check_allocation(
        expected,
        f"the payload its IDX header declares (shape {shape} of {dtype.name})",
        str(path),
        error=DataError,
    )
    return expected


def read_idx_header(
    path: PathLike, *, ndim: int | None = None
) -> tuple[tuple[int, ...], np.dtype]:
    """Read and check only the header of an IDX file (raw or gzip).

    Only the first bytes are read (and decompressed).  The size the header
    declares is checked against the file's size and the memory budget (see
    :mod:`bpnn.limits`), so a file that cannot hold what it declares, or
    would not fit in memory, is refused before any payload is read.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    ndim : int, optional
        As in :func:`read_idx`.

    Returns
    -------
    shape : tuple of int
        The dimensions the header declares.
    dtype : numpy.dtype
        The native-byte-order dtype of the elements.

    Raises
    ------
    bpnn.exceptions.DataError
        As :func:`read_idx`, for every problem visible from the header.
    """
    path = Path(path)
    with _StreamErrors(path), _Source(path) as source:
        shape, dtype, header_len = _read_header(source, ndim)
        _check_declared_size(source, shape, dtype, header_len)
    return shape, dtype.newbyteorder("=")


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
        length disagrees with the sizes in the header, or if the header
        declares more data than the memory budget allows (see
        :mod:`bpnn.limits`; ``BPNN_MEMORY_BUDGET`` changes it).  The message
        names the file, the problem and a fix.

    Notes
    -----
    Nothing the header declares is trusted before it is checked: the declared
    size is compared with the file's size (raw files), with the most a gzip
    file of this size can expand to, and with the memory budget before any
    buffer is allocated; a gzip stream is then decompressed with a hard cap at
    the declared size, so a file holding more data than declared stops there,
    and memory grows with the data actually present, never with the header.

    Examples
    --------
    >>> images = read_idx("train-images-idx3-ubyte.gz", ndim=3)  # doctest: +SKIP
    >>> images.shape, images.dtype                               # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'))
    """
    path = Path(path)
    with _StreamErrors(path), _Source(path) as source:
        shape, dtype, header_len = _read_header(source, ndim)
        expected = _check_declared_size(source, shape, dtype, header_len)
        if source.gzip:
            # One allocation when the gzip trailer agrees with the header and
            # the ratio is an ordinary one (a forged trailer then costs at most
            # _TRUSTED_RATIO times the file); otherwise the buffer grows with
            # the data actually there.
            agrees = (
                source.isize == (header_len + expected) % 2**32
                and source.size is not None
                and expected <= _TRUSTED_RATIO * source.size
            )
        else:
            agrees = source.size is not None  # the file size matched the header
        payload = read_capped(
            source.stream,
            expected,
            str(path),
            error=DataError,
            what=f"the payload of shape {shape} of {dtype.name} that its IDX header declares",
            size_hint=expected if agrees else None,
        )
        if len(payload) < expected:
            raise DataError(
                f"{path}: truncated payload: the header promises shape {shape} "
                f"({expected} bytes of data) but only {len(payload)} bytes follow the "
                f"header; {_REDOWNLOAD}"
            )
    array = np.frombuffer(payload, dtype=dtype)  # writable: the buffer is a bytearray
    if not dtype.isnative:
        array = array.byteswap(inplace=True).view(dtype.newbyteorder("="))
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
    # Headers first: mismatched or oversized files are refused before any
    # payload is decompressed.
    image_shape, image_dtype = read_idx_header(images_path, ndim=3)
    label_shape, label_dtype = read_idx_header(labels_path, ndim=1)
    if image_shape[0] != label_shape[0]:
        raise DataError(
            f"{images_path} holds {image_shape[0]} images but {labels_path} "
            f"holds {label_shape[0]} labels; the two files must come from the "
            f"same release (train-* with train-*, t10k-* with t10k-*): "
            f"{_REDOWNLOAD}s"
        )
    if label_dtype.kind not in "iu":
        raise DataError(
            f"{labels_path}: labels must be integers, the file stores "
            f"{label_dtype}; pass a label file of type 0x08 (uint8)"
        )
    check_allocation(
        nbytes_of(image_shape, image_dtype) + label_shape[0] * (label_dtype.itemsize + 8),
        f"{image_shape[0]} images of {image_shape[1:]} and their labels",
        f"{images_path}, {labels_path}",
        error=DataError,
    )
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1).astype(np.int64)
    if labels.size and labels.min() < 0:
        negative = labels < 0
        raise DataError(
            f"{labels_path}: negative label {labels.min()} "
            f"({int(np.count_nonzero(negative))} negative label(s) in all); labels "
            f"must be class indices 0..k-1: the file is damaged"
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
