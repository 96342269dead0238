"""Model and checkpoint files: safetensors arrays plus JSON metadata.

A bpnn file is a `safetensors <https://huggingface.co/docs/safetensors>`_
container: an 8-byte little-endian header length, a JSON header that names
every tensor (dtype, shape, byte range) and carries a string-to-string
``__metadata__`` table, then the raw little-endian tensor bytes.  Nothing in
it is ever executed or unpickled.

bpnn writes three metadata entries:

``format``
    ``"bpnn-model"`` or ``"bpnn-checkpoint"``.
``format_version``
    An integer as text; this version of bpnn reads versions up to
    :data:`FORMAT_VERSION`.
``bpnn``
    A JSON document: the architecture (:meth:`bpnn.Network.config`), dtype,
    preprocessing, class names, training summary and history, bpnn version
    (and, in a checkpoint, everything needed to resume).
``sha256``
    SHA-256 over the ``bpnn`` JSON text and every tensor (name, dtype, shape,
    bytes), so a flipped byte anywhere in the file is detected.

Tensors of a model: ``dense.{l}.weight`` of shape ``(n_l, n_{l+1})`` and
``dense.{l}.bias`` of shape ``(n_{l+1},)``, in the network's dtype, plus
``preprocessing.mean`` / ``preprocessing.std`` when the inputs were
standardised.

Writes are atomic: the bytes go to a temporary file in the destination's
folder, are flushed and ``fsync``-ed, and the temporary file is renamed over
the destination with :func:`os.replace`.  A crash or a full disk leaves the
previous file untouched.

Examples
--------
>>> import bpnn
>>> net = bpnn.Network([64, 16, 10], seed=0)
>>> bpnn.save(net, "model.safetensors", classes=[str(i) for i in range(10)])  # doctest: +SKIP
>>> same = bpnn.load("model.safetensors")                                      # doctest: +SKIP
"""

from __future__ import annotations

import copy
import errno
import hashlib
import json
import math
import os
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ._version import __version__
from .exceptions import ModelFileError
from .network import Network
from .optimizers import Optimizer, get_optimizer
from .training import History

__all__ = [
    "FORMAT_VERSION",
    "MODEL_FORMAT",
    "CHECKPOINT_FORMAT",
    "save",
    "load",
    "save_checkpoint",
    "load_checkpoint",
    "Checkpoint",
    "atomic_write_bytes",
    "write_container",
    "read_container",
]

#: The newest file layout this bpnn writes and reads.
FORMAT_VERSION = 1
MODEL_FORMAT = "bpnn-model"
CHECKPOINT_FORMAT = "bpnn-checkpoint"

#: safetensors' dtype names and the NumPy dtypes bpnn stores.
_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")}
_MAX_HEADER = 100 * 1024 * 1024


# --------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------
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
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
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


def _jsonable(value: Any) -> Any:
    """Turn NumPy scalars and arrays in ``value`` into plain JSON types."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_container(path: str | os.PathLike, fmt: str, doc: dict, tensors: Mapping[str, np.ndarray]) -> None:
    """Write a bpnn safetensors file with the metadata document ``doc``.

    Parameters
    ----------
    path : str or os.PathLike
    fmt : {"bpnn-model", "bpnn-checkpoint"}
    doc : dict
        JSON-serialisable metadata (NumPy scalars are converted).
    tensors : mapping of str to ndarray
    """
    from safetensors.numpy import save as st_save

    tensors = {name: np.ascontiguousarray(a) for name, a in tensors.items()}
    doc_text = json.dumps(_jsonable(doc), sort_keys=True, allow_nan=False)
    metadata = {
        "format": fmt,
        "format_version": str(FORMAT_VERSION),
        "bpnn": doc_text,
        "sha256": _digest(doc_text, tensors),
    }
    atomic_write_bytes(path, st_save(tensors, metadata=metadata))


# --------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------
def _parse_header(path: Path, data: bytes) -> tuple[dict, dict[str, dict], int]:
    """Check the safetensors framing; return (metadata, tensor entries, data start)."""
    not_bpnn = f"{path} is not a bpnn model file (safetensors format)"
    if len(data) < 8:
        raise ModelFileError(f"{not_bpnn}: it is only {len(data)} bytes long (empty or truncated)")
    (n,) = struct.unpack("<Q", data[:8])
    if n == 0 or n > _MAX_HEADER or data[8:9] != b"{":
        raise ModelFileError(f"{not_bpnn}: it does not start with a safetensors header")
    if 8 + n > len(data):
        raise ModelFileError(
            f"{path} is truncated: its header needs {8 + n} bytes but the file has {len(data)}"
        )
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{path} is damaged: its header is not valid JSON ({err})") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path} is damaged: its header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if not isinstance(metadata, dict) or metadata.get("format") not in (MODEL_FORMAT, CHECKPOINT_FORMAT):
        raise ModelFileError(
            f"{path} is a safetensors file but not one written by bpnn (no bpnn format tag)"
        )
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
        if not all(isinstance(v, int) and v >= 0 for v in (begin, end, *entry["shape"])):
            raise ModelFileError(f"{path} is damaged: tensor {name!r} has invalid offsets or shape")
        expected = int(np.prod(entry["shape"], dtype=np.int64)) * dtype.itemsize
        if end - begin != expected:
            raise ModelFileError(
                f"{path} is damaged: tensor {name!r} of shape {tuple(entry['shape'])} needs "
                f"{expected} bytes but its entry spans {end - begin}"
            )
        if end > size:
            raise ModelFileError(
                f"{path} is truncated: tensor {name!r} ends at byte {start + end} "
                f"but the file has only {len(data)} bytes"
            )
        spans.append((begin, end))
    spans.sort()
    position = 0
    for begin, end in spans:
        if begin != position:
            raise ModelFileError(f"{path} is damaged: its tensors overlap or leave gaps")
        position = end
    if position != size:
        raise ModelFileError(
            f"{path} is damaged: {size - position} unexpected bytes after the last tensor"
        )
    return metadata, header, start


def read_container(
    path: str | os.PathLike, expected_format: str | None = None
) -> tuple[str, dict, dict[str, np.ndarray]]:
    """Read and verify a bpnn safetensors file.

    Parameters
    ----------
    path : str or os.PathLike
    expected_format : {"bpnn-model", "bpnn-checkpoint"}, optional
        Raise unless the file is of this kind.

    Returns
    -------
    fmt : str
    doc : dict
        The metadata document.
    tensors : dict of str to ndarray

    Raises
    ------
    ModelFileError
        Missing, unreadable, truncated, tampered or incompatible files.
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ModelFileError(f"cannot read {path}: {err.strerror or err}") from None
    metadata, entries, start = _parse_header(path, data)
    fmt = metadata["format"]
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise ModelFileError(f"{path} is damaged: its format version is not a number") from None
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer bpnn (file format version {version}); this bpnn "
            f"{__version__} reads versions up to {FORMAT_VERSION}: upgrade bpnn"
        )
    if version < 1:
        raise ModelFileError(f"{path}: unknown file format version {version}")
    if expected_format is not None and fmt != expected_format:
        if fmt == CHECKPOINT_FORMAT:
            raise ModelFileError(
                f"{path} is a training checkpoint, not a model; continue it with "
                f"'bpnn train --resume {path}' (its final model is written with --out)"
            )
        raise ModelFileError(f"{path} is a bpnn model, not a training checkpoint")
    doc_text = metadata.get("bpnn")
    if not isinstance(doc_text, str):
        raise ModelFileError(f"{path} is damaged: its bpnn metadata is missing")
    tensors = {}
    for name, entry in entries.items():
        begin, end = entry["data_offsets"]
        dtype = _DTYPES[entry["dtype"]]
        array = np.frombuffer(data, dtype=dtype, count=(end - begin) // dtype.itemsize, offset=start + begin)
        tensors[name] = array.reshape(entry["shape"]).astype(array.dtype.newbyteorder("="), copy=True)
    if metadata.get("sha256") != _digest(doc_text, tensors):
        raise ModelFileError(
            f"{path} is damaged or was modified: its SHA-256 checksum does not match its contents"
        )
    try:
        doc = json.loads(doc_text)
    except json.JSONDecodeError as err:
        raise ModelFileError(f"{path} is damaged: its bpnn metadata is not valid JSON ({err})") from None
    if not isinstance(doc, dict):
        raise ModelFileError(f"{path} is damaged: its bpnn metadata is not a JSON object")
    return fmt, doc, tensors


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------
def _tensor_names(n_layers: int) -> list[tuple[str, str]]:
    return [(f"dense.{i}.weight", f"dense.{i}.bias") for i in range(n_layers)]


def _network_tensors(net: Network) -> dict[str, np.ndarray]:
    tensors = {}
    for (w_name, b_name), W, b in zip(_tensor_names(len(net.weights)), net.weights, net.biases):
        tensors[w_name], tensors[b_name] = np.array(W), np.array(b)
    return tensors


def _history_dict(history: Any) -> dict | None:
    if history is None:
        return None
    if isinstance(history, History):
        return history.to_dict()
    if isinstance(history, dict):
        return history
    raise TypeError(f"history must be a bpnn History or its to_dict(), got {type(history).__name__}")


def _preprocessing_parts(preprocessing: Mapping | None) -> tuple[dict | None, dict[str, np.ndarray]]:
    """Split preprocessing into JSON and tensors (a standardisation's mean and std)."""
    if preprocessing is None:
        return None, {}
    pre = dict(preprocessing)
    tensors = {}
    for key in ("mean", "std"):
        value = pre.pop(key, None)
        if value is not None:
            tensors[f"preprocessing.{key}"] = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if tensors and len(tensors) != 2:
        raise ValueError("preprocessing needs both mean and std for standardisation")
    if tensors:
        pre["standardize"] = "global" if tensors["preprocessing.mean"].size == 1 else "feature"
    else:
        pre.setdefault("standardize", None)
    return _jsonable(pre), tensors


def save(
    net: Network,
    path: str | os.PathLike,
    *,
    classes: list[str] | None = None,
    preprocessing: Mapping | None = None,
    history: History | dict | None = None,
    training: Mapping | None = None,
    dataset: Mapping | None = None,
    **extra: Any,
) -> None:
    """Save a network and what is needed to use it to a safetensors file.

    Parameters
    ----------
    net : Network
    path : str or os.PathLike
        Destination (written atomically; ``.safetensors`` is a good suffix).
    classes : list of str, optional
        Class names, ``classes[i]`` for output ``i``; default ``net.classes``
        if set, else ``"0" .. "k-1"``.
    preprocessing : mapping, optional
        How raw inputs become the network's inputs, e.g.
        ``{"scale": 255.0, "image_shape": [28, 28]}`` plus ``mean`` and
        ``std`` (float or per-feature array) when standardised.  Default
        ``net.preprocessing`` if set.
    history : History or dict, optional
        Default ``net.history_``; kept for learning curves.
    training : mapping, optional
        A training summary (settings, epochs, final metrics, seconds).
    dataset : mapping, optional
        Which data the network was trained on (name, class filter).
    **extra
        More JSON-serialisable metadata, kept under ``"extra"``.

    Raises
    ------
    OSError
        When the file cannot be written (the message says if the disk is
        full; a previous file at ``path`` is then unchanged).
    """
    if not isinstance(net, Network):
        raise TypeError(f"save() needs a bpnn Network, got {type(net).__name__}")
    if not np.isfinite(net.flat_params).all():
        raise ValueError("the network's weights contain NaN or infinity; refusing to save them")
    if classes is None:
        classes = getattr(net, "classes", None) or [str(i) for i in range(net.n_outputs)]
    classes = [str(c) for c in classes]
    if len(classes) != net.n_outputs:
        raise ValueError(f"{len(classes)} class names for a network with {net.n_outputs} outputs")
    if preprocessing is None:
        preprocessing = getattr(net, "preprocessing", None)
    pre_json, pre_tensors = _preprocessing_parts(preprocessing)
    if history is None:
        history = net.history_
    previous = getattr(net, "metadata", None) or {}
    doc = {
        "architecture": net.config(),
        "dtype": net.dtype.name,
        "classes": classes,
        "preprocessing": pre_json,
        "history": _history_dict(history),
        "training": dict(training) if training is not None else previous.get("training"),
        "dataset": dict(dataset) if dataset is not None else previous.get("dataset"),
        "bpnn_version": __version__,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "extra": extra or previous.get("extra") or {},
    }
    write_container(path, MODEL_FORMAT, doc, {**_network_tensors(net), **pre_tensors})


def _build_network(path: Path, doc: dict) -> Network:
    arch = doc.get("architecture")
    if not isinstance(arch, dict) or not isinstance(arch.get("layers"), list):
        raise ModelFileError(f"{path}: the architecture is missing from the metadata")
    try:
        return Network.from_config(copy.deepcopy(arch), seed=0)
    except (ValueError, KeyError, TypeError) as err:
        raise ModelFileError(f"{path}: the architecture it describes is invalid: {err}") from None


def _set_weights(path: Path, net: Network, tensors: dict[str, np.ndarray], prefix_ok=("preprocessing.",)) -> None:
    names = _tensor_names(len(net.dense_layers))
    expected = {n for pair in names for n in pair}
    missing = sorted(expected - set(tensors))
    if missing:
        raise ModelFileError(f"{path} is incomplete: the tensors {', '.join(missing)} are missing")
    unexpected = sorted(n for n in set(tensors) - expected if not n.startswith(prefix_ok))
    if unexpected:
        raise ModelFileError(f"{path} holds tensors the architecture does not use: {', '.join(unexpected)}")
    for (w_name, b_name), layer in zip(names, net.dense_layers):
        for name, target in ((w_name, layer.W), (b_name, layer.b)):
            array = tensors[name]
            if array.shape != target.shape:
                raise ModelFileError(
                    f"{path}: tensor {name} has shape {array.shape} but the architecture "
                    f"needs {target.shape}"
                )
            if array.dtype != net.dtype:
                raise ModelFileError(f"{path}: tensor {name} is {array.dtype}, the model says {net.dtype}")
            if not np.isfinite(array).all():
                raise ModelFileError(f"{path}: tensor {name} contains NaN or infinite weights")
            target[...] = array


def _read_preprocessing(path: Path, doc: dict, tensors: dict[str, np.ndarray], n_inputs: int) -> dict | None:
    pre = doc.get("preprocessing")
    if pre is None:
        return None
    if not isinstance(pre, dict):
        raise ModelFileError(f"{path}: the preprocessing metadata is malformed")
    pre = dict(pre)
    shape = pre.get("image_shape")
    if shape is not None:
        if not (isinstance(shape, list) and all(isinstance(s, int) and s > 0 for s in shape)
                and int(np.prod(shape)) == n_inputs):
            raise ModelFileError(
                f"{path}: the image shape {shape} does not match the network's {n_inputs} inputs"
            )
    scale = pre.get("scale")
    if scale is not None and not (isinstance(scale, (int, float)) and scale > 0):
        raise ModelFileError(f"{path}: the preprocessing scale {scale!r} is not a positive number")
    if pre.get("standardize"):
        mean, std = tensors.get("preprocessing.mean"), tensors.get("preprocessing.std")
        if mean is None or std is None:
            raise ModelFileError(f"{path}: the standardisation mean or std is missing")
        for name, a in (("mean", mean), ("std", std)):
            if a.size not in (1, n_inputs) or not np.isfinite(a).all():
                raise ModelFileError(f"{path}: the standardisation {name} is malformed")
        if (std <= 0).any():
            raise ModelFileError(f"{path}: the standardisation std has non-positive entries")
        pre["mean"] = float(mean[0]) if mean.size == 1 else mean
        pre["std"] = float(std[0]) if std.size == 1 else std
    return pre


def load(path: str | os.PathLike) -> Network:
    """Load a network saved by :func:`save`, checking the whole file.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Network
        With extra attributes ``classes`` (list of str), ``preprocessing``
        (dict or None: ``scale``, ``image_shape``, ``standardize`` and its
        ``mean``/``std``), ``metadata`` (the whole metadata document) and
        ``history_`` (a :class:`~bpnn.training.History`, possibly empty).

    Raises
    ------
    ModelFileError
        For a missing, truncated, tampered, non-bpnn or newer-format file,
        missing or misshapen tensors, or NaN weights.
    """
    path = Path(path)
    _, doc, tensors = read_container(path, MODEL_FORMAT)
    net = _build_network(path, doc)
    _set_weights(path, net, tensors)
    classes = doc.get("classes")
    if not (isinstance(classes, list) and len(classes) == net.n_outputs and all(isinstance(c, str) for c in classes)):
        raise ModelFileError(
            f"{path}: the class names do not match the network's {net.n_outputs} outputs"
        )
    net.classes = classes
    net.preprocessing = _read_preprocessing(path, doc, tensors, net.n_inputs)
    net.metadata = doc
    try:
        net.history_ = History.from_dict(doc["history"]) if doc.get("history") else History()
    except (TypeError, KeyError, IndexError, AttributeError):
        raise ModelFileError(f"{path}: the training history in the metadata is malformed") from None
    return net


# --------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """Everything a run needs to continue exactly where it stopped.

    Attributes
    ----------
    path : Path
    architecture : dict
        :meth:`Network.config` of the network.
    params : ndarray
        The network's flat parameter vector.
    rng_state : dict
        ``net.rng.bit_generator.state``.
    optimizer : dict
        :meth:`Optimizer.state_dict` (arrays included).
    epoch : int
        Epochs completed.
    history : History
    callbacks : dict
        ``{key: (json_state, arrays)}`` of stateful callbacks.
    extra : dict
        The caller's metadata (for the command line: its settings).
    """

    path: Path
    architecture: dict
    params: np.ndarray
    rng_state: dict
    optimizer: dict
    epoch: int
    history: History
    callbacks: dict[str, tuple[dict, dict[str, np.ndarray]]] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def network(self) -> Network:
        """Rebuild the network with its weights and random state."""
        try:
            net = Network.from_config(copy.deepcopy(self.architecture), seed=0)
        except (ValueError, KeyError, TypeError) as err:
            raise ModelFileError(f"{self.path}: the architecture it describes is invalid: {err}") from None
        if self.params.shape != net.flat_params.shape or self.params.dtype != net.dtype:
            raise ModelFileError(
                f"{self.path}: the parameters ({self.params.shape[0]} {self.params.dtype}) do not fit the "
                f"architecture ({net.n_params} {net.dtype})"
            )
        if not np.isfinite(self.params).all():
            raise ModelFileError(f"{self.path}: the parameters contain NaN or infinity")
        net.flat_params[...] = self.params
        net.seed = self.architecture.get("seed")
        try:
            net.rng.bit_generator.state = self.rng_state
        except (ValueError, TypeError, KeyError) as err:
            raise ModelFileError(f"{self.path}: the random generator state is invalid ({err})") from None
        return net

    def make_optimizer(self) -> Optimizer:
        """A new optimizer of the run's kind with its state restored."""
        state = self.optimizer
        hp = dict(state.get("hyperparameters", {}))
        hp.pop("eta", None)
        try:
            opt = get_optimizer(state["name"], state.get("initial_eta"), **hp)
            opt.load_state_dict(state)
        except (ValueError, KeyError, TypeError) as err:
            raise ModelFileError(f"{self.path}: the optimizer state is invalid: {err}") from None
        return opt


def save_checkpoint(
    path: str | os.PathLike,
    net: Network,
    *,
    epoch: int,
    history: History,
    callbacks: Mapping[str, tuple[dict, Mapping[str, np.ndarray]]] | None = None,
    extra: Mapping | None = None,
) -> None:
    """Write a resumable checkpoint of a run at the end of ``epoch``.

    Parameters
    ----------
    path : str or os.PathLike
        Written atomically.
    net : Network
        Its weights, ``rng`` state and ``optimizer_`` (with state) are saved.
    epoch : int
        Epochs completed.
    history : History
    callbacks : mapping, optional
        ``{key: (json_state, arrays)}`` from stateful callbacks.
    extra : mapping, optional
        JSON-serialisable data of the caller (the command line's settings).
    """
    opt = net.optimizer_
    if opt is None:
        raise ValueError("the network has no optimizer yet; checkpoints are written during fit()")
    opt_state = opt.state_dict()
    tensors = {"params": np.array(net.flat_params)}
    counts = {}
    for key, arrays in opt_state.pop("state").items():
        counts[key] = len(arrays)
        for i, a in enumerate(arrays):
            tensors[f"optimizer.{key}.{i}"] = np.asarray(a)
    cb_meta = {}
    for key, (state, arrays) in (callbacks or {}).items():
        cb_meta[key] = {"state": state, "arrays": sorted(arrays)}
        for name, a in arrays.items():
            tensors[f"callback.{key}.{name}"] = np.asarray(a)
    doc = {
        "architecture": net.config(),
        "epoch": int(epoch),
        "history": history.to_dict(),
        "rng_state": net.rng.bit_generator.state,
        "optimizer": {**opt_state, "state_counts": counts},
        "callbacks": cb_meta,
        "extra": dict(extra or {}),
        "bpnn_version": __version__,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_container(path, CHECKPOINT_FORMAT, doc, tensors)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and verify a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    ModelFileError
        For a missing, damaged or non-checkpoint file.
    """
    path = Path(path)
    _, doc, tensors = read_container(path, CHECKPOINT_FORMAT)
    try:
        opt_doc = dict(doc["optimizer"])
        counts = opt_doc.pop("state_counts")
        state = {key: [tensors[f"optimizer.{key}.{i}"] for i in range(n)] for key, n in counts.items()}
        callbacks = {}
        for key, entry in doc.get("callbacks", {}).items():
            arrays = {name: tensors[f"callback.{key}.{name}"] for name in entry["arrays"]}
            callbacks[key] = (entry["state"], arrays)
        return Checkpoint(
            path=path,
            architecture=doc["architecture"],
            params=tensors["params"],
            rng_state=doc["rng_state"],
            optimizer={**opt_doc, "state": state},
            epoch=int(doc["epoch"]),
            history=History.from_dict(doc["history"]),
            callbacks=callbacks,
            extra=doc.get("extra", {}),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ModelFileError(f"{path} is an incomplete checkpoint ({type(err).__name__}: {err})") from None
