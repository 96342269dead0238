"""Checkpoints: everything a training run needs to continue exactly where it stopped.

The container (:mod:`bpnn.io.container`) is tagged ``"bpnn-checkpoint"``.
Its tensors: the network's :meth:`~bpnn.nn.network.Network.state_dict`, the
optimizer's state arrays (``optimizer.{name}.{i}``) and those of stateful
callbacks (``callback.{key}.{name}``).  Its JSON document: the architecture,
the epochs done, the history, the network's random generator state, the
optimizer's hyper-parameters and step count, the callbacks' state and the
caller's metadata (``bpnn train`` keeps its settings there).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from .._version import __version__
from ..exceptions import ModelFileError
from ..nn.network import Network
from ..nn.optimizers import Optimizer, get_optimizer
from ..nn.training import History
from .container import read_container, write_container
from .modelfile import check_tensor_table, network_from_config

__all__ = ["CHECKPOINT_FORMAT", "Checkpoint", "save_checkpoint", "load_checkpoint"]

CHECKPOINT_FORMAT = "bpnn-checkpoint"


@dataclass
class Checkpoint:
    """A run's state at the end of an epoch.

    Attributes
    ----------
    path : Path
    architecture : dict
        :meth:`Network.config` of the network.
    state : dict of str to ndarray
        :meth:`Network.state_dict`.
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
        The caller's metadata (for ``bpnn train``: its settings).
    """

    path: Path
    architecture: dict
    state: dict[str, np.ndarray]
    rng_state: dict
    optimizer: dict
    epoch: int
    history: History
    callbacks: dict[str, tuple[dict, dict[str, np.ndarray]]] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def network(self) -> Network:
        """Rebuild the network with its weights and random state."""
        net = network_from_config(self.path, self.architecture)
        try:
            net.load_state_dict(self.state)
        except ValueError as err:
            raise ModelFileError(f"{self.path}: {err}") from None
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
    tensors = net.state_dict()
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

    The architecture is checked against the tensor table before any
    network is built.

    Raises
    ------
    ModelFileError
        For a missing, damaged or non-checkpoint file.
    """
    path = Path(path)
    fmt, doc, entries, read_tensors = read_container(path)
    if fmt != CHECKPOINT_FORMAT:
        raise ModelFileError(f"{path} is a bpnn model, not a training checkpoint"
                             if fmt == "bpnn-model" else f"{path} is a {fmt} file, not a training checkpoint")
    arch = doc.get("architecture")
    check_tensor_table(path, arch, entries, arch.get("dtype") if isinstance(arch, dict) else None,
                       extra_prefix=("optimizer.", "callback."))
    tensors = read_tensors()
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
            state={k: v for k, v in tensors.items() if k.startswith("dense.")},
            rng_state=doc["rng_state"],
            optimizer={**opt_doc, "state": state},
            epoch=int(doc["epoch"]),
            history=History.from_dict(doc["history"]),
            callbacks=callbacks,
            extra=doc.get("extra", {}),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ModelFileError(f"{path} is an incomplete checkpoint ({type(err).__name__}: {err})") from None
