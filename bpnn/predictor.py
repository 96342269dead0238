"""A trained model ready to read a user's own digits.

:class:`Predictor` wraps a loaded :class:`~bpnn.network.Network` with what
its model file records about the inputs (image shape, pixel scale,
standardisation, class names) and answers the question every front end asks:
*given this picture, what does the network see, think and answer?*  The
command line's ``bpnn predict`` and the web page's API (``bpnn serve``) both
go through it, so a PNG gives the same answer in both.

For one prepared image ``x`` (the 28x28 field after MNIST's preparation,
flattened to ``a^0``) it runs the feedforward equation layer by layer,

    a^l = σ(a^{l-1} W^l + b^l),

keeps every hidden ``a^l`` (what the page draws as strips of cells), and
turns the output ``a^L`` into class probabilities: a softmax output already
sums to one; sigmoid outputs are divided by their sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .imageprep import (
    MAX_PIXELS,
    ImageError,
    inputs_from_array,
    prepare,
    read_image_bytes,
    standardize_inputs,
)
from .layers import Dense
from .network import Network

__all__ = ["Prediction", "Predictor", "class_probabilities"]


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """Rows of network outputs ``(n, k)`` as probabilities that sum to one (float64).

    A softmax output is unchanged (up to rounding); sigmoid outputs, which
    need not sum to one, are divided by their row sum.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    return outputs / np.maximum(outputs.sum(axis=1, keepdims=True), 1e-300)


@dataclass
class Prediction:
    """What the network made of one image.

    Attributes
    ----------
    image : ndarray of float32, shape ``image_shape``
        The prepared input, in [0, 1], white ink on black: what the network sees.
    probabilities : ndarray of float64, shape (k,)
    index : int
        ``probabilities.argmax()``.
    label : str
        ``classes[index]``.
    hidden : list of ndarray of float32, shapes (n_l,)
        The activations ``a^l`` of every hidden layer.
    """

    image: np.ndarray
    probabilities: np.ndarray
    index: int
    label: str
    hidden: list[np.ndarray]

    def to_dict(self, classes: Sequence[str], digits: int = 4) -> dict:
        """JSON-ready form: label, index, probabilities, classes, input image, hidden activations."""
        return {
            "label": self.label,
            "index": self.index,
            "probabilities": [round(float(p), 6) for p in self.probabilities],
            "classes": list(classes),
            "input": np.round(self.image.astype(np.float64), digits).tolist(),
            "hidden": [np.round(a.astype(np.float64), digits).tolist() for a in self.hidden],
        }


def _dataset_label(name: str | None) -> str | None:
    """A data set's name; for one read from a folder, the folder's name (no local path is shown)."""
    if not name:
        return None
    return Path(name).name if ("/" in name or "\\" in name) else name


class Predictor:
    """A model plus the preparation its inputs need.

    Parameters
    ----------
    net : Network
        A trained network, typically from :func:`bpnn.load`, whose
        ``preprocessing`` records ``image_shape``, ``scale`` and the
        standardisation (absent for a bare network: square images of
        ``sqrt(n_inputs)`` pixels and raw values divided by 255 are assumed).
    max_pixels : int
        Uploaded images larger than this are refused before decoding.

    Attributes
    ----------
    image_shape : tuple of int
        The shape of one prepared input, e.g. (28, 28) or (8, 8).
    classes : list of str
        Class names, one per output.
    """

    def __init__(self, net: Network, max_pixels: int = MAX_PIXELS) -> None:
        self.net = net
        self.max_pixels = int(max_pixels)
        pre = net.preprocessing or {}
        side = int(round(net.n_inputs ** 0.5))
        default_shape = (side, side) if side * side == net.n_inputs else (net.n_inputs,)
        self.image_shape: tuple[int, ...] = tuple(int(s) for s in (pre.get("image_shape") or default_shape))
        self.scale = float(pre.get("scale") or 255.0)
        self.layout = pre.get("layout")
        self.classes: list[str] = [str(c) for c in net.classes]

    # -- inputs -------------------------------------------------------------
    def images_from_array(self, array: np.ndarray, name: str = "the array",
                          force_prepare: bool = False) -> list[tuple[str, np.ndarray]]:
        """Prepared images from an array (see :func:`bpnn.imageprep.load_inputs`).

        ``force_prepare`` treats any 2-d array, even one of the model's image
        shape, as a grey picture to prepare MNIST-style.
        """
        array = np.asarray(array)
        if force_prepare:
            if array.ndim != 2:
                raise ImageError(f"{name}: a picture to prepare must be 2-d (rows, cols), got shape {array.shape}")
            if array.dtype.kind not in "biuf":
                raise ImageError(f"{name}: the array holds {array.dtype}, not numbers")
            grey = np.asarray(array, dtype=np.float64)
            if not np.isfinite(grey).all():
                raise ImageError(f"{name}: the array contains NaN or infinite values")
            if grey.max(initial=0.0) <= 1.0:
                grey = grey * 255.0
            return [(name, prepare(np.clip(grey, 0, 255), self.image_shape, self.layout))]
        return inputs_from_array(name, array, self.image_shape, self.scale, self.layout)

    def image_from_bytes(self, data: bytes, name: str = "the upload") -> np.ndarray:
        """The prepared input for an encoded image (PNG, JPEG, ...) held in memory."""
        grey = read_image_bytes(data, name, self.max_pixels)
        return prepare(grey, self.image_shape, self.layout)

    # -- the network --------------------------------------------------------
    def predict_images(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """Run prepared images (each of ``image_shape``, values in [0, 1]) through the network."""
        if len(images) == 0:
            return []
        X = np.stack([np.asarray(img, dtype=np.float32).reshape(-1) for img in images]).astype(self.net.dtype)
        if X.shape[1] != self.net.n_inputs:
            raise ImageError(f"a prepared image has {X.shape[1]} values; the model takes {self.net.n_inputs}")
        A = standardize_inputs(X, self.net.preprocessing)
        hidden: list[np.ndarray] = []
        for layer in self.net.layers[:-1]:              # a^l = σ(a^{l-1} W^l + b^l)
            A = layer.forward(A, training=False)
            if isinstance(layer, Dense):
                hidden.append(A)
        _, output = self.net.output_layer.forward_logits(A)
        probabilities = class_probabilities(output)
        results = []
        for i, image in enumerate(images):
            index = int(probabilities[i].argmax())
            results.append(Prediction(np.asarray(image, dtype=np.float32), probabilities[i], index,
                                      self.classes[index], [a[i] for a in hidden]))
        return results

    def predict_image(self, image: np.ndarray) -> Prediction:
        """:meth:`predict_images` for one prepared image."""
        return self.predict_images([image])[0]

    # -- description --------------------------------------------------------
    def info(self) -> dict:
        """A JSON-ready summary of the model: architecture, data set, test accuracy, inputs."""
        meta = self.net.metadata or {}
        summary = ((meta.get("training") or {}).get("summary") or {})
        dataset = meta.get("dataset") or {}
        layers = [{"size": layer.n_out, "activation": layer.activation.name} for layer in self.net.dense_layers]
        return {
            "network": repr(self.net),
            "sizes": list(self.net.sizes),
            "layers": layers,
            "cost": self.net.cost.name,
            "dtype": self.net.dtype.name,
            "n_params": int(self.net.n_params),
            "classes": self.classes,
            "image_shape": list(self.image_shape),
            "dataset": _dataset_label(dataset.get("name") or summary.get("dataset")),
            "test_accuracy": summary.get("test_accuracy"),
            "test_total": summary.get("test_total"),
            "epochs_run": summary.get("epochs_run"),
            "bpnn_version": meta.get("bpnn_version"),
        }
