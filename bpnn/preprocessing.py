"""How raw inputs become a network's inputs: :class:`Preprocessing`.

A trained model records it, each data set supplies it (its catalog entry
says how its images are laid out), and everything that feeds a model new
inputs applies it: ``bpnn predict``, ``bpnn serve``, ``bpnn evaluate``.

For an image: grey levels are divided by :attr:`~Preprocessing.scale` to
reach [0, 1] with light ink on a dark background (:attr:`~Preprocessing.ink`),
laid out in :attr:`~Preprocessing.image_shape` as :attr:`~Preprocessing.layout`
says, flattened, then standardised as ``(x - mean) / std`` when the model was
trained on standardised inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

__all__ = ["Preprocessing", "INK_LIGHT_ON_DARK"]

#: Ink polarity of MNIST-style inputs: white (1) strokes on black (0), values in [0, 1].
INK_LIGHT_ON_DARK = "white on black, [0, 1]"


@dataclass(frozen=True)
class Preprocessing:
    """How raw inputs become the network's inputs.

    Parameters
    ----------
    image_shape : tuple of int, optional
        ``(rows, cols)`` of one image, e.g. ``(28, 28)``; None for inputs that
        are not images.
    scale : float
        Raw values are divided by this to reach [0, 1] (255 for 8-bit images,
        16 for scikit-learn's 8x8 digits).
    ink : str
        Polarity of the prepared inputs (:data:`INK_LIGHT_ON_DARK`).
    layout : mapping, optional
        How a user's picture is fitted into the field: None for MNIST's
        (20x20 box, centre of mass), ``{"box": 28, "centre": "box"}`` for
        objects that fill it.
    standardize : {None, "global", "feature"}
        Whether inputs in [0, 1] are standardised with ``mean`` and ``std``
        (one number, or one per feature).
    mean, std : float or ndarray of shape (n_features,), optional
    """

    image_shape: tuple[int, ...] | None = None
    scale: float = 255.0
    ink: str = INK_LIGHT_ON_DARK
    layout: Mapping[str, Any] | None = None
    standardize: str | None = None
    mean: float | np.ndarray | None = field(default=None, compare=False)
    std: float | np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.image_shape is not None:
            shape = tuple(int(s) for s in self.image_shape)
            if not shape or any(s < 1 for s in shape):
                raise ValueError(f"image_shape must be positive sizes such as (28, 28), got {self.image_shape!r}")
            object.__setattr__(self, "image_shape", shape)
        if not (isinstance(self.scale, (int, float)) and not isinstance(self.scale, bool)
                and np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"scale must be a positive number, got {self.scale!r}")
        object.__setattr__(self, "scale", float(self.scale))
        if self.layout is not None:
            object.__setattr__(self, "layout", dict(self.layout))
        if (self.mean is None) != (self.std is None):
            raise ValueError("standardisation needs both mean and std")
        if self.mean is None:
            object.__setattr__(self, "standardize", None)
            return
        mean, std = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (self.mean, self.std))
        if mean.ndim != 1 or std.shape != mean.shape or not (np.isfinite(mean).all() and np.isfinite(std).all()):
            raise ValueError("the standardisation mean and std must be finite numbers or equal-length vectors")
        if (std <= 0).any():
            raise ValueError("the standardisation std must be positive")
        kind = "global" if mean.size == 1 else "feature"
        object.__setattr__(self, "standardize", kind)
        object.__setattr__(self, "mean", float(mean[0]) if kind == "global" else mean)
        object.__setattr__(self, "std", float(std[0]) if kind == "global" else std)

    @property
    def n_features(self) -> int | None:
        """Inputs per sample implied by :attr:`image_shape` (None when not an image)."""
        return None if self.image_shape is None else int(np.prod(self.image_shape))

    def standardize_inputs(self, X: np.ndarray) -> np.ndarray:
        """``(X - mean) / std`` for inputs in [0, 1] (``X`` itself when not standardised), dtype kept."""
        if self.mean is None:
            return X
        return (X - np.asarray(self.mean, dtype=X.dtype)) / np.asarray(self.std, dtype=X.dtype)

    def unstandardize_inputs(self, X: np.ndarray) -> np.ndarray:
        """Undo :meth:`standardize_inputs` (to show inputs as images)."""
        if self.mean is None:
            return X
        return X * np.asarray(self.std, dtype=X.dtype) + np.asarray(self.mean, dtype=X.dtype)

    # -- file form ----------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The JSON part of a model file (the mean and std go to :meth:`arrays`)."""
        return {"image_shape": None if self.image_shape is None else list(self.image_shape),
                "scale": self.scale, "ink": self.ink, "layout": self.layout, "standardize": self.standardize}

    def arrays(self) -> dict[str, np.ndarray]:
        """The standardisation as float64 vectors, ``{"mean", "std"}`` (empty when none)."""
        if self.mean is None:
            return {}
        return {"mean": np.atleast_1d(np.asarray(self.mean, np.float64)),
                "std": np.atleast_1d(np.asarray(self.std, np.float64))}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> "Preprocessing":
        """Rebuild from :meth:`to_json` and :meth:`arrays`; ``ValueError`` for anything malformed."""
        if not isinstance(doc, Mapping):
            raise ValueError("the preprocessing is not a JSON object")
        arrays = arrays or {}
        shape = doc.get("image_shape")
        if shape is not None and not (isinstance(shape, list) and shape
                                      and all(isinstance(s, int) and not isinstance(s, bool) for s in shape)):
            raise ValueError(f"the image shape {shape!r} is not a list of sizes")
        layout = doc.get("layout")
        if layout is not None and not isinstance(layout, Mapping):
            raise ValueError(f"the layout {layout!r} is not a JSON object")
        ink = doc.get("ink", INK_LIGHT_ON_DARK)
        if not isinstance(ink, str):
            raise ValueError(f"the ink {ink!r} is not a text")
        if doc.get("standardize") and ("mean" not in arrays or "std" not in arrays):
            raise ValueError("the standardisation mean or std is missing")
        return cls(image_shape=None if shape is None else tuple(shape), scale=doc.get("scale", 255.0) or 255.0,
                   ink=ink, layout=layout, mean=arrays.get("mean"), std=arrays.get("std"))

    @classmethod
    def for_inputs(cls, n_inputs: int) -> "Preprocessing":
        """The guess for a bare network: square 8-bit images when ``n_inputs`` is a square, else flat."""
        side = int(round(n_inputs ** 0.5))
        return cls(image_shape=(side, side) if side * side == n_inputs else (n_inputs,))
