"""A trained model: the network and what is needed to use it.

:class:`TrainedModel` is what ``bpnn train`` produces, :func:`bpnn.save`
writes, :func:`bpnn.load` returns and :class:`~bpnn.predictor.Predictor`
takes: the :class:`~bpnn.nn.network.Network`, the class names, the
:class:`~bpnn.preprocessing.Preprocessing` of its inputs, the training
history and the metadata of the run (settings, summary, data set).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .nn.network import Evaluation, Network
from .preprocessing import Preprocessing
from .nn.training import History

__all__ = ["TrainedModel"]


@dataclass
class TrainedModel:
    """A network with its class names, input preparation, history and metadata.

    Parameters
    ----------
    network : Network
    classes : sequence of str, optional
        ``classes[i]`` names output ``i``; default ``"0" .. "k-1"``.
    preprocessing : Preprocessing or mapping, optional
        How raw inputs become the network's inputs (a mapping is passed to
        :class:`Preprocessing`); default: square 8-bit images when the input
        size is a square (:meth:`Preprocessing.for_inputs`).
    history : History, optional
        The training history (learning curves); default the network's ``history_``.
    metadata : dict, optional
        JSON-ready facts about the run: ``training`` (settings and summary),
        ``dataset``, ``bpnn_version``, ...

    Examples
    --------
    >>> import bpnn
    >>> model = bpnn.TrainedModel(bpnn.Network([64, 16, 10], seed=0))
    >>> model.classes[:3], model.preprocessing.image_shape
    (['0', '1', '2'], (8, 8))
    """

    network: Network
    classes: Sequence[str] | None = None
    preprocessing: Preprocessing | None = None
    history: History | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.network, Network):
            raise TypeError(f"a TrainedModel needs a bpnn Network, got {type(self.network).__name__}")
        k = self.network.n_classes
        classes = [str(c) for c in (self.classes if self.classes is not None else range(k))]
        if len(classes) != k:
            raise ValueError(f"{len(classes)} class names for a network that tells {k} classes apart")
        self.classes = classes
        if self.preprocessing is None:
            self.preprocessing = Preprocessing.for_inputs(self.network.n_inputs)
        elif isinstance(self.preprocessing, Mapping):
            self.preprocessing = Preprocessing(**self.preprocessing)
        n_features = self.preprocessing.n_features
        if n_features is not None and n_features != self.network.n_inputs:
            raise ValueError(f"the image shape {self.preprocessing.image_shape} does not match the network's "
                             f"{self.network.n_inputs} inputs")
        if self.history is None:
            self.history = self.network.history_ if self.network.history_ is not None else History()
        self.metadata = dict(self.metadata or {})
        self._warned = False

    # -- using it -----------------------------------------------------------
    def _inputs(self, X: np.ndarray) -> np.ndarray:
        """Standardise prepared inputs; warn once when they look like raw 0..255 pixels."""
        X = np.asarray(X)
        if not self._warned and self.preprocessing.image_shape is not None and X.size and X.dtype.kind in "uif":
            if X.dtype.kind == "u" or np.nanmax(X) > 1.5:
                warnings.warn(f"the inputs reach {np.nanmax(X):g}, but this model expects pixels in [0, 1]: "
                              f"divide raw pixels by {self.preprocessing.scale:g}", UserWarning, stacklevel=3)
                self._warned = True
        if X.dtype.kind in "ui":
            X = X.astype(self.network.dtype)
        return self.preprocessing.standardize_inputs(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """The network's outputs for prepared inputs in [0, 1], shape ``(n, k)``."""
        return self.network.predict_proba(self._inputs(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class indices for prepared inputs in [0, 1], shape ``(n,)`` (names: ``classes[i]``)."""
        return self.network.predict(self._inputs(X))

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> Evaluation:
        """:meth:`Network.evaluate` on prepared inputs in [0, 1]."""
        return self.network.evaluate(self._inputs(X), y)

    # -- files --------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the model file (see :func:`bpnn.save`)."""
        from .io.modelfile import save

        save(self, path)

    @property
    def summary(self) -> dict[str, Any]:
        """The training summary recorded by ``bpnn train`` (empty if none)."""
        return dict((self.metadata.get("training") or {}).get("summary") or {})

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.preprocessing.image_shape or ()))
        return f"TrainedModel({self.network!r}, {len(self.classes)} classes, inputs {shape})"
