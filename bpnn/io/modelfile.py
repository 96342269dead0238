"""Model files: a :class:`~bpnn.model.TrainedModel` in a bpnn container.

The container (:mod:`bpnn.io.container`) is tagged ``"bpnn-model"``.  Its
tensors are the network's :meth:`~bpnn.nn.network.Network.state_dict`
(``dense.{l}.weight`` of shape ``(n_l, n_{l+1})`` and ``dense.{l}.bias`` of
shape ``(n_{l+1},)``, in the network's dtype) plus ``preprocessing.mean`` and
``preprocessing.std`` when the inputs were standardised.  Its JSON document
holds the architecture (:meth:`~bpnn.nn.network.Network.config`), dtype, class
names, preprocessing, training history, the run's metadata and the bpnn
version.

Loading checks the architecture against the tensor table before it builds
anything, so a file cannot make bpnn allocate more than the file holds.

Examples
--------
>>> import bpnn
>>> net = bpnn.Network([64, 16, 10], seed=0)
>>> net.save("model.safetensors")                       # doctest: +SKIP
>>> model = bpnn.load("model.safetensors")              # doctest: +SKIP
>>> model.network, model.classes, model.preprocessing   # doctest: +SKIP
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .._version import __version__
from ..exceptions import ModelFileError
from ..model import TrainedModel
from ..nn.network import Network
from ..preprocessing import Preprocessing
from ..nn.training import History
from .container import read_container, write_container

__all__ = ["MODEL_FORMAT", "save", "load", "network_from_config"]

MODEL_FORMAT = "bpnn-model"
_PRE = "preprocessing."


def save(model: TrainedModel | Network, path: str | os.PathLike, **metadata: Any) -> None:
    """Save a trained model (or a bare network) to a safetensors model file.

    Parameters
    ----------
    model : TrainedModel or Network
        A bare network is wrapped in a :class:`TrainedModel`; ``metadata``
        may then give its ``classes``, ``preprocessing`` (a
        :class:`Preprocessing`) and ``history``.
    path : str or os.PathLike
        Destination (written atomically; ``.safetensors`` is a good suffix).
    **metadata
        For a bare network: ``classes``, ``preprocessing``, ``history``; any
        other key is kept in the file's metadata (JSON-serialisable).

    Raises
    ------
    ValueError
        For NaN weights or class names that do not fit the outputs.
    OSError
        When the file cannot be written (the message says if the disk is
        full; a previous file at ``path`` is then unchanged).
    """
    if isinstance(model, Network):
        parts = {k: metadata.pop(k) for k in ("classes", "preprocessing", "history") if k in metadata}
        model = TrainedModel(model, metadata=metadata, **parts)
    elif not isinstance(model, TrainedModel):
        raise TypeError(f"save() needs a bpnn TrainedModel or Network, got {type(model).__name__}")
    elif metadata:
        model = TrainedModel(model.network, model.classes, model.preprocessing, model.history,
                             {**model.metadata, **metadata})
    net = model.network
    if not np.isfinite(net.flat_params).all():
        raise ValueError("the network's weights contain NaN or infinity; refusing to save them")
    pre = model.preprocessing
    doc = {
        **model.metadata,
        "architecture": net.config(),
        "dtype": net.dtype.name,
        "classes": list(model.classes),
        "preprocessing": pre.to_json(),
        "history": model.history.to_dict() if model.history is not None else None,
        "bpnn_version": __version__,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tensors = {**net.state_dict(), **{_PRE + k: a for k, a in pre.arrays().items()}}
    write_container(path, MODEL_FORMAT, doc, tensors)


def _layer_shapes(path: Path, arch: Any) -> list[tuple[tuple[int, int], tuple[int]]]:
    """The (W, b) shapes an architecture document declares, checked for type only."""
    if not isinstance(arch, dict) or not isinstance(arch.get("layers"), list):
        raise ModelFileError(f"{path}: the architecture is missing from the metadata")
    shapes = []
    for cfg in arch["layers"]:
        if not isinstance(cfg, dict):
            raise ModelFileError(f"{path}: the architecture's layers are malformed")
        if cfg.get("type") not in ("Dense", "Dropout"):
            raise ModelFileError(f"{path}: the architecture it describes is invalid: unknown layer type "
                                 f"{cfg.get('type')!r}")
        if cfg.get("type") == "Dense":
            n_in, n_out = cfg.get("n_in"), cfg.get("n_out")
            if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (n_in, n_out)):
                raise ModelFileError(f"{path}: a Dense layer of the architecture has invalid sizes")
            shapes.append(((n_in, n_out), (n_out,)))
    return shapes


def check_tensor_table(path: Path, arch: Any, entries: Mapping[str, dict], dtype: Any,
                       extra_prefix: str | tuple[str, ...]) -> None:
    """Refuse an architecture that the tensor table does not hold exactly, before anything is built.

    Each declared ``dense.{l}.weight``/``bias`` must be in the file with the
    declared shape, and the file may hold nothing else but names starting
    with ``extra_prefix``.  The network then costs no more memory than the
    file itself.
    """
    shapes = _layer_shapes(path, arch)
    expected = {}
    for l, (w, b) in enumerate(shapes):
        expected[f"dense.{l}.weight"], expected[f"dense.{l}.bias"] = w, b
    missing = sorted(set(expected) - set(entries))
    if missing:
        raise ModelFileError(f"{path} is incomplete: the tensors {', '.join(missing)} are missing")
    unexpected = sorted(n for n in set(entries) - set(expected) if not n.startswith(extra_prefix))
    if unexpected:
        raise ModelFileError(f"{path} holds tensors the architecture does not use: {', '.join(unexpected)}")
    names = {"F32": "float32", "F64": "float64", "I64": "int64"}
    stored = {v: k for k, v in names.items() if k != "I64"}.get(dtype)
    if stored is None:
        raise ModelFileError(f"{path}: unsupported dtype {dtype!r} in the metadata")
    for name, shape in expected.items():
        if tuple(entries[name]["shape"]) != shape:
            raise ModelFileError(f"{path}: tensor {name} has shape {tuple(entries[name]['shape'])} but the "
                                 f"architecture needs {shape}")
        if entries[name]["dtype"] != stored:
            raise ModelFileError(f"{path}: tensor {name} is {names.get(entries[name]['dtype'])}, the model says "
                                 f"{dtype}")


def network_from_config(path: Path, arch: dict) -> Network:
    """Build the (untrained) network an architecture document describes; ModelFileError if invalid."""
    try:
        return Network.from_config(copy.deepcopy(arch), seed=0)
    except (ValueError, KeyError, TypeError) as err:
        raise ModelFileError(f"{path}: the architecture it describes is invalid: {err}") from None


def load(path: str | os.PathLike) -> TrainedModel:
    """Load a model saved by :func:`save`, checking the whole file.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    TrainedModel
        ``network``, ``classes``, ``preprocessing``, ``history`` and
        ``metadata`` (the file's whole metadata document).

    Raises
    ------
    ModelFileError
        For a missing, oversized, truncated, tampered, non-bpnn or
        newer-format file, an architecture the tensors do not hold, or NaN
        weights.
    """
    path = Path(path)
    fmt, doc, entries, read_tensors = read_container(path)
    if fmt != MODEL_FORMAT:
        if fmt == "bpnn-checkpoint":
            raise ModelFileError(f"{path} is a training checkpoint, not a model; continue it with "
                                 f"'bpnn train --resume {path}' (its final model is written with --out)")
        raise ModelFileError(f"{path} is a {fmt} file, not a bpnn model")
    arch = doc.get("architecture")
    dtype = arch.get("dtype") if isinstance(arch, dict) else None
    check_tensor_table(path, arch, entries, dtype, _PRE)
    tensors = read_tensors()
    net = network_from_config(path, arch)
    try:
        net.load_state_dict({k: v for k, v in tensors.items() if not k.startswith(_PRE)})
    except ValueError as err:
        raise ModelFileError(f"{path}: {err}") from None
    classes = doc.get("classes")
    if not (isinstance(classes, list) and len(classes) == net.n_classes and all(isinstance(c, str) for c in classes)):
        raise ModelFileError(f"{path}: the class names do not match the network's {net.n_classes} classes")
    try:
        pre_doc = doc.get("preprocessing")
        pre = None if pre_doc is None else Preprocessing.from_json(
            pre_doc, {k[len(_PRE):]: v for k, v in tensors.items() if k.startswith(_PRE)})
        history = History.from_dict(doc["history"]) if doc.get("history") else History()
        model = TrainedModel(net, classes, pre, history, metadata=doc)
    except ValueError as err:
        raise ModelFileError(f"{path}: the preprocessing metadata is malformed: {err}") from None
    except (TypeError, KeyError, IndexError, AttributeError):
        raise ModelFileError(f"{path}: the training history in the metadata is malformed") from None
    net.history_ = model.history
    return model
