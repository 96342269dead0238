"""The container of bpnn's files: safetensors arrays plus a JSON metadata document.

A file is a `safetensors <https://huggingface.co/docs/safetensors>`_
container: an 8-byte little-endian header length, a JSON header that names
every tensor (dtype, shape, byte range) and carries a string-to-string
``__metadata__`` table, then the raw little-endian tensor bytes.  Nothing in
it is ever executed or unpickled.

The ``__metadata__`` table holds:

``format``
    what the file is (``"bpnn-model"``, ``"bpnn-checkpoint"``);
``format_version``
    an integer as text; this bpnn reads versions up to :data:`FORMAT_VERSION`;
``bpnn``
    a JSON document (the caller's metadata);
``sha256``
    SHA-256 over the document's text and every tensor (name, dtype, shape,
    bytes), so a flipped byte anywhere in the file is detected.

Reading is strict and bounded: the file's size is checked against the memory
budget (:mod:`bpnn.limits`) before it is read, the header is parsed only after
its length and nesting depth are checked, every tensor's byte range must tile
the data exactly, and every failure is a :class:`~bpnn.exceptions.ModelFileError`
naming the file.

Writes are atomic: the bytes go to a temporary file in the destination's
folder (named after the destination and the writing process), are flushed
and ``fsync``-ed, and the temporary file is renamed over the destination with
:func:`os.replace`.  A crash or a full disk leaves the previous file
untouched; the temporary files of writers that died are removed by the next
write to the same path.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import struct
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .._version import __version__
from ..exceptions import ModelFileError
from ..limits import check_allocation

__all__ = ["FORMAT_VERSION", "MAX_HEADER_BYTES", "MAX_JSON_DEPTH", "atomic_write_bytes", "write_container",
           "read_container", "jsonable", "loads_bounded"]

#: The newest file layout this bpnn writes and reads.
FORMAT_VERSION = 1
#: The largest safetensors header accepted (the JSON describing the tensors and the metadata).
MAX_HEADER_BYTES = 64 * 1024 * 1024
#: The deepest nesting of JSON arrays and objects accepted (bpnn writes at most 6).
MAX_JSON_DEPTH = 64

#: safetensors' dtype names and the NumPy dtypes bpnn stores.
_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")}
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


# --------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------
def _remove_stale_temporaries(path: Path, folder: Path) -> None:
    """Remove ``.NAME.PID.*.tmp`` files left in ``folder`` by writers of ``path`` that no longer run."""
    prefix = f".{path.name}."
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return
    for name in names:
        pid = name[len(prefix):].split(".", 1)[0]
        if not pid.isdigit() or _process_exists(int(pid)):
            continue
        try:
            os.unlink(folder / name)
        except OSError:
            pass


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename).

    Parameters
    ----------
    path : str or os.PathLike
        Destination.  Its folder must exist.
    data : bytes

    Raises
    ------
    OSError
        With a message that names the file (and says when the disk is full);
        the previous file at ``path``, if any, is left untouched.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OSError(errno.ENOENT, f"cannot save {path}: the folder {folder} does not exist")
    if path.is_dir():
        raise OSError(errno.EISDIR, f"cannot save {path}: it is a folder; give a file name")
    _remove_stale_temporaries(path, folder)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
        _chmod_like(fd, path)
        with os.fdopen(fd, "wb") as f:
            view = memoryview(data)
            while view:
                written = f.write(view)
                view = view[written:]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_folder(folder)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(
                err.errno,
                f"cannot save {path}: the disk is full (no space left on device); "
                f"the previous {path.name}, if any, is unchanged",
            ) from err
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise OSError(err.errno, f"cannot save {path}: permission denied ({err.strerror})") from err
        raise OSError(err.errno, f"cannot save {path}: {err.strerror or err}") from err
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _chmod_like(fd: int, path: Path) -> None:
    """Give the temporary file the mode of the file it replaces, or the umask's default."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    try:
        os.fchmod(fd, mode)
    except (OSError, AttributeError):
        pass


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (best effort: not every platform allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _digest(doc_text: str, tensors: Mapping[str, np.ndarray]) -> str:
    """SHA-256 of the metadata JSON text and every tensor, in name order."""
    h = hashlib.sha256()
    h.update(doc_text.encode("utf-8"))
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        h.update(f"\0{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        h.update(array.tobytes())
    return h.hexdigest()


def jsonable(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays, paths and tuples turned into plain JSON types
    (non-finite floats become None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def write_container(path: str | os.PathLike, fmt: str, doc: dict, tensors: Mapping[str, np.ndarray]) -> None:
    """Write a bpnn safetensors file with the metadata document ``doc``.

    Parameters
    ----------
    path : str or os.PathLike
    fmt : str
        What the file is, e.g. ``"bpnn-model"``.
    doc : dict
        JSON-serialisable metadata (NumPy scalars are converted).
    tensors : mapping of str to ndarray
    """
    from safetensors.numpy import save as st_save

    tensors = {name: np.ascontiguousarray(a) for name, a in tensors.items()}
    doc_text = json.dumps(jsonable(doc), sort_keys=True, allow_nan=False)
    metadata = {"format": fmt, "format_version": str(FORMAT_VERSION), "bpnn": doc_text,
                "sha256": _digest(doc_text, tensors)}
    atomic_write_bytes(path, st_save(tensors, metadata=metadata))


# --------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------
def loads_bounded(text: bytes | str, what: str, path: Path) -> Any:
    """``json.loads`` after checking that arrays and objects nest at most :data:`MAX_JSON_DEPTH` deep.

    The depth is measured with strings blanked out (a regular expression
    and a cumulative sum, both in C), so a hostile document costs time and
    memory proportional to its length, never a ``RecursionError``.
    """
    raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    skeleton = np.frombuffer(_STRING.sub(b'""', raw), dtype=np.uint8)
    steps = (np.isin(skeleton, (ord("["), ord("{"))).astype(np.int32)
             - np.isin(skeleton, (ord("]"), ord("}"))).astype(np.int32))
    depth = int(np.cumsum(steps).max(initial=0))
    if depth > MAX_JSON_DEPTH:
        raise ModelFileError(f"{path} is damaged or hostile: its {what} nests {depth} levels deep "
                             f"(bpnn accepts at most {MAX_JSON_DEPTH})")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ModelFileError(f"{path} is damaged: its {what} is not valid JSON ({err})") from None


def _parse_header(path: Path, data: bytes) -> tuple[dict, dict[str, dict], int]:
    """Check the safetensors framing; return (metadata, tensor entries, data start)."""
    not_bpnn = f"{path} is not a bpnn model or checkpoint file (safetensors format)"
    if len(data) < 8:
        raise ModelFileError(f"{not_bpnn}: it is only {len(data)} bytes long (empty or truncated)")
    (n,) = struct.unpack("<Q", data[:8])
    if n == 0 or data[8:9] != b"{":
        raise ModelFileError(f"{not_bpnn}: it does not start with a safetensors header")
    if n > MAX_HEADER_BYTES:
        raise ModelFileError(f"{path} is damaged or hostile: its header claims {n} bytes "
                             f"(bpnn accepts at most {MAX_HEADER_BYTES})")
    if 8 + n > len(data):
        raise ModelFileError(f"{path} is truncated: its header needs {8 + n} bytes but the file has {len(data)}")
    header = loads_bounded(data[8:8 + n], "header", path)
    if not isinstance(header, dict):
        raise ModelFileError(f"{path} is damaged: its header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    fmt = metadata.get("format") if isinstance(metadata, dict) else None
    if not (isinstance(fmt, str) and fmt.startswith("bpnn-")):
        raise ModelFileError(f"{path} is a safetensors file but not one written by bpnn (no bpnn format tag)")
    start = 8 + n
    size = len(data) - start
    spans = []
    for name, entry in header.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("shape"), list)
                and isinstance(entry.get("data_offsets"), list) and len(entry["data_offsets"]) == 2):
            raise ModelFileError(f"{path} is damaged: the entry of tensor {name!r} is malformed")
        dtype = _DTYPES.get(entry.get("dtype"))
        if dtype is None:
            raise ModelFileError(f"{path}: tensor {name!r} has unsupported dtype {entry.get('dtype')!r}")
        begin, end = entry["data_offsets"]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                   for v in (begin, end, *entry["shape"])):
            raise ModelFileError(f"{path} is damaged: tensor {name!r} has invalid offsets or shape")
        expected = math.prod(entry["shape"]) * dtype.itemsize
        if end - begin != expected:
            raise ModelFileError(f"{path} is damaged: tensor {name!r} of shape {tuple(entry['shape'])} needs "
                                 f"{expected} bytes but its entry spans {end - begin}")
        if end > size:
            raise ModelFileError(f"{path} is truncated: tensor {name!r} ends at byte {start + end} "
                                 f"but the file has only {len(data)} bytes")
        spans.append((begin, end))
    spans.sort()
    position = 0
    for begin, end in spans:
        if begin != position:
            raise ModelFileError(f"{path} is damaged: its tensors overlap or leave gaps")
        position = end
    if position != size:
        raise ModelFileError(f"{path} is damaged: {size - position} unexpected bytes after the last tensor")
    return metadata, header, start


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a bpnn file; give the path of a .safetensors file "
                             f"written by 'bpnn train --out' or --checkpoint")
    try:
        size = path.stat().st_size
        check_allocation(size, "the file", str(path), error=ModelFileError)
        return path.read_bytes()
    except OSError as err:
        raise ModelFileError(f"cannot read {path}: {err.strerror or err}") from None
    except MemoryError:
        raise ModelFileError(f"{path}: not enough memory to read the file") from None


def read_container(path: str | os.PathLike) -> tuple[str, dict, dict[str, dict], Any]:
    """Read a bpnn safetensors file's framing and metadata, bounded, without its tensors.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    fmt : str
        The format tag (``"bpnn-..."``): what the file holds.
    doc : dict
        The metadata document, parsed with a depth limit, *not yet verified*:
        check it against ``entries`` before allocating anything it describes,
        then call the returned ``tensors()`` to get the arrays and verify the
        digest.
    entries : dict of str to dict
        Each tensor's ``dtype``, ``shape`` and ``data_offsets``.
    tensors : callable
        ``tensors()`` reads the arrays (copies in native byte order) and
        checks the SHA-256 over everything; :class:`ModelFileError` when it
        does not match.

    Raises
    ------
    ModelFileError
        Missing, unreadable, oversized, truncated, malformed or newer-format files.
    """
    path = Path(path)
    data = _read_bytes(path)
    metadata, entries, start = _parse_header(path, data)
    fmt = metadata["format"]
    try:
        version = int(metadata.get("format_version", ""))
    except (TypeError, ValueError):
        raise ModelFileError(f"{path} is damaged: its format version is not a number") from None
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path} was written by a newer bpnn (file format version {version}); this bpnn "
                             f"{__version__} reads versions up to {FORMAT_VERSION}: upgrade bpnn")
    if version < 1:
        raise ModelFileError(f"{path}: unknown file format version {version}")
    doc_text = metadata.get("bpnn")
    if not isinstance(doc_text, str):
        raise ModelFileError(f"{path} is damaged: its bpnn metadata is missing")
    doc = loads_bounded(doc_text, "bpnn metadata", path)
    if not isinstance(doc, dict):
        raise ModelFileError(f"{path} is damaged: its bpnn metadata is not a JSON object")

    def tensors() -> dict[str, np.ndarray]:
        arrays = {}
        for name, entry in entries.items():
            begin, end = entry["data_offsets"]
            dtype = _DTYPES[entry["dtype"]]
            array = np.frombuffer(data, dtype=dtype, count=(end - begin) // dtype.itemsize, offset=start + begin)
            arrays[name] = array.reshape(entry["shape"]).astype(array.dtype.newbyteorder("="), copy=True)
        if metadata.get("sha256") != _digest(doc_text, arrays):
            raise ModelFileError(f"{path} is damaged or was modified: its SHA-256 checksum does not match "
                                 f"its contents")
        return arrays

    return fmt, doc, entries, tensors
