"""The containers returned by :func:`bpnn.datasets.load`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np

from bpnn.datasets.catalog import REMOTE_DATASETS
from bpnn.preprocessing import Preprocessing

__all__ = ["Dataset", "Split"]


def _describe(array: np.ndarray) -> str:
    return f"{array.dtype}[{', '.join(str(s) for s in array.shape)}]"


@dataclass(repr=False)
class Split:
    """One part of a data set: inputs and their class indices.

    Attributes
    ----------
    X : numpy.ndarray, shape (n, n_features) or (n, rows, cols)
        Inputs, float32 (or the requested float dtype), in [0, 1] unless
        standardised.
    y : numpy.ndarray of int64, shape (n,)
        Class indices 0..k-1.
    """

    X: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        if len(self.X) != len(self.y):
            raise ValueError(f"Split: {len(self.X)} inputs but {len(self.y)} labels")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __repr__(self) -> str:
        return f"Split(X={_describe(self.X)}, y={_describe(self.y)})"


@dataclass(repr=False)
class Dataset:
    """A prepared data set.

    Attributes
    ----------
    name : str
        ``"mnist"``, ``"fashion-mnist"``, ``"digits"`` or the path loaded.
    train : Split
        Training inputs and labels.
    validation : Split or None
        Held-out part of the training file, or None when no split was asked.
    test : Split
        The official test set.
    classes : list of str
        Class names, ``classes[label]``.  After ``classes=[3, 8]`` filtering
        this is ``["3", "8"]``: the original names of the relabelled classes.
    image_shape : tuple of int
        ``(rows, cols)`` of one image: ``(28, 28)`` or ``(8, 8)`` for digits.
    mean, std : float or numpy.ndarray or None
        The training statistics subtracted and divided by when standardised
        (a float for ``standardize=True``, arrays of shape (n_features,) for
        ``standardize="feature"``), None otherwise.  Apply them to new inputs
        after scaling to [0, 1]: ``(x - mean) / std``.
    scale : float
        What raw values were divided by to reach [0, 1] (255 for IDX images,
        16 for digits, 1 for data already in [0, 1]).
    source : str
        Where the data came from (paths or ``sklearn.datasets.load_digits``).
    original_labels : list of int
        The label each class had in the source, ``original_labels[label]``
        (``[3, 8]`` after ``classes=[3, 8]``; ``[0, 1, ..., k-1]`` otherwise).
    """

    name: str
    train: Split
    validation: Optional[Split]
    test: Split
    classes: list[str]
    image_shape: tuple[int, ...]
    mean: Union[float, np.ndarray, None] = None
    std: Union[float, np.ndarray, None] = None
    scale: float = 1.0
    source: str = ""
    original_labels: list[int] = field(default_factory=list)

    @property
    def n_features(self) -> int:
        """Number of input features, e.g. 784 for 28x28 images."""
        return int(np.prod(self.image_shape))

    @property
    def n_classes(self) -> int:
        """Number of classes (``len(classes)``)."""
        return len(self.classes)

    @property
    def preprocessing(self):
        """How raw inputs become this data set's inputs (:class:`bpnn.preprocessing.Preprocessing`):
        its scale, image shape, standardisation, and the layout its catalog entry declares."""
        entry = REMOTE_DATASETS.get(self.name)
        return Preprocessing(image_shape=tuple(self.image_shape), scale=float(self.scale),
                             layout=entry.layout if entry is not None else None, mean=self.mean, std=self.std)

    @property
    def standardized(self) -> bool:
        """Whether the inputs were standardised with :attr:`mean` and :attr:`std`."""
        return self.mean is not None

    def __repr__(self) -> str:
        validation = "None" if self.validation is None else repr(self.validation)
        return (
            f"Dataset(name={self.name!r}, train={self.train!r}, "
            f"validation={validation}, test={self.test!r}, "
            f"n_classes={self.n_classes}, image_shape={self.image_shape})"
        )
