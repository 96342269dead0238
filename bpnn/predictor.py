"""A trained model ready to read a user's own digits.

:class:`Predictor` wraps a :class:`~bpnn.model.TrainedModel` (what
:func:`bpnn.load` returns: the network, its class names and the
:class:`~bpnn.preprocessing.Preprocessing` of its inputs) and answers the question every front end asks:
*given this picture, what does the network see, think and answer?*  The
command line's ``bpnn predict`` and the web page's API (``bpnn serve``) both
go through it, so a PNG gives the same answer in both.

:meth:`Predictor.read` reads a whole picture: for a model of 28x28 digits, a
written number cut into digits by :mod:`bpnn.segmentation` (the network's
confidence choosing where touching digits are cut), each digit with its box.

For one prepared image ``x`` (the 28x28 field after MNIST's preparation,
flattened to ``a^0``) it runs the feedforward equation layer by layer,

    a^l = σ(a^{l-1} W^l + b^l),

keeps every hidden ``a^l`` (what the page draws as strips of cells), and
turns the output ``a^L`` into class probabilities (:func:`class_probabilities`):
a softmax output already sums to one; sigmoid outputs are divided by their
sum; other outputs go through a softmax.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .imageprep import MAX_PIXELS, ImageError, ink_box, inputs_from_array, prepare, read_image_bytes
from .model import TrainedModel
from .nn.network import Network
from .segmentation import MAX_PIECES, segment

__all__ = ["Digit", "Prediction", "Predictor", "Reading", "class_probabilities"]


def class_probabilities(outputs: np.ndarray, output_activation: str = "softmax", code=None) -> np.ndarray:
    """Network outputs as class probabilities that sum to one.

    Parameters
    ----------
    outputs : ndarray, shape (n, k)
        The output layer's activations a^L.
    output_activation : str
        Its activation's name.  A softmax output is already a distribution;
        sigmoid outputs (each in (0, 1), not summing to one) are divided by
        their row sum; any other output (tanh, identity, ReLU, ...) is turned
        into a distribution by a softmax.
    code : OutputCode, optional
        The network's output code: its classes' probabilities read the
        outputs as independent bits (:meth:`~bpnn.nn.codes.OutputCode.probabilities`).

    Returns
    -------
    ndarray of float64, shape (n, k)
        ``k`` the number of classes.
    """
    if code is not None:
        return code.probabilities(outputs)
    outputs = np.asarray(outputs, dtype=np.float64)
    if output_activation == "softmax":
        return outputs
    if output_activation == "sigmoid":
        return outputs / np.maximum(outputs.sum(axis=1, keepdims=True), 1e-300)
    e = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


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
    hidden : list of ndarray, shapes (n_l,)
        The activations ``a^l`` of every hidden layer, in the network's dtype.
    output : ndarray, shape (k,), optional
        The output layer's activations ``a^L`` as the network gave them (before
        :func:`class_probabilities`).
    """

    image: np.ndarray
    probabilities: np.ndarray
    index: int
    label: str
    hidden: list[np.ndarray]
    output: np.ndarray | None = None

    def to_dict(self, classes: Sequence[str], digits: int = 4) -> dict:
        """JSON-ready form: label, index, probabilities, classes, input image, hidden and output activations.

        ``input`` is always a list of rows (a model with flat, non-image
        inputs gives one row).
        """
        image = self.image if self.image.ndim == 2 else self.image.reshape(1, -1)
        return {
            "label": self.label,
            "index": self.index,
            "probabilities": [round(float(p), 6) for p in self.probabilities],
            "classes": list(classes),
            "input": np.round(image.astype(np.float64), digits).tolist(),
            "hidden": [np.round(a.astype(np.float64), digits).tolist() for a in self.hidden],
            "output": ([] if self.output is None else
                       [round(float(v), 6) for v in np.asarray(self.output, dtype=np.float64)]),
        }


@dataclass
class Digit:
    """One digit of a reading: where it is and what the network made of it.

    Attributes
    ----------
    box : tuple of int
        ``(top, left, bottom, right)`` of its ink in the picture (bottom, right exclusive).
    line : int
        The line it was written on, 0 for the top one.
    prediction : Prediction
    """

    box: tuple[int, int, int, int]
    line: int
    prediction: Prediction

    def box_dict(self) -> dict:
        """The box as ``{"x", "y", "width", "height"}`` in picture pixels (what the JSON outputs carry)."""
        top, left, bottom, right = self.box
        return {"x": left, "y": top, "width": right - left, "height": bottom - top}

    def to_dict(self, classes: Sequence[str], digits: int = 4) -> dict:
        """:meth:`Prediction.to_dict` plus ``box`` (:meth:`box_dict`) and ``line``."""
        return {**self.prediction.to_dict(classes, digits), "line": self.line, "box": self.box_dict()}


@dataclass
class Reading:
    """What the network read in one picture: a number of one or more digits (or one item).

    Attributes
    ----------
    label : str
        The digits' labels in reading order, lines separated by a space
        (``"2026"``); for one digit or item, its label.
    digits : list of Digit
        In reading order (left to right, lines top to bottom).
    size : tuple of int
        ``(rows, cols)`` of the picture the boxes refer to.
    segmented : bool
        True when the picture was cut into digits; False when it was read as
        one item (``single=True``, or a model whose inputs are not MNIST digits).
    """

    label: str
    digits: list[Digit]
    size: tuple[int, int]
    segmented: bool

    def to_dict(self, classes: Sequence[str], digits: int = 4) -> dict:
        """JSON-ready: the number read, the first digit's :meth:`Prediction.to_dict` fields, and every digit."""
        first = self.digits[0].prediction.to_dict(classes, digits)
        return {**first, "label": self.label, "segmented": self.segmented, "size": self.size_dict(),
                "digits": [d.to_dict(classes, digits) for d in self.digits]}

    def size_dict(self) -> dict:
        """The picture's size as ``{"width", "height"}``."""
        return {"width": self.size[1], "height": self.size[0]}


def _dataset_label(name: str | None) -> str | None:
    """A data set's name; for one read from a folder, the folder's name (no local path is shown)."""
    if not name:
        return None
    return Path(name).name if ("/" in name or "\\" in name) else name


class Predictor:
    """A trained model plus the preparation its inputs need.

    Parameters
    ----------
    model : TrainedModel or Network
        Typically from :func:`bpnn.load`.  A bare network is wrapped in a
        :class:`TrainedModel`, whose default preprocessing assumes square
        8-bit images of ``sqrt(n_inputs)`` pixels.
    max_pixels : int
        Uploaded images larger than this are refused before decoding.

    Attributes
    ----------
    model : TrainedModel
    net : Network
    image_shape : tuple of int
        The shape of one prepared input, e.g. (28, 28) or (8, 8).
    scale : float
        What raw pixel values are divided by.
    layout : dict or None
        How a picture is fitted into the field.
    classes : list of str
        Class names, one per output.
    """

    def __init__(self, model: TrainedModel | Network, max_pixels: int = MAX_PIXELS) -> None:
        self.model = model if isinstance(model, TrainedModel) else TrainedModel(model)
        self.net = self.model.network
        self.max_pixels = int(max_pixels)
        pre = self.preprocessing = self.model.preprocessing
        self.image_shape: tuple[int, ...] = pre.image_shape or (self.net.n_inputs,)
        self.scale = pre.scale
        self.layout = pre.layout
        self.classes: list[str] = list(self.model.classes)

    # -- inputs -------------------------------------------------------------
    def images_from_array(self, array: np.ndarray, name: str = "the array",
                          picture: bool = False) -> list[tuple[str, np.ndarray]]:
        """Prepared images from an array (see :func:`bpnn.imageprep.inputs_from_array`).

        Parameters
        ----------
        array : ndarray
            Prepared input(s) of the model's image shape (or flattened), or a
            2-d grey picture of another shape.
        name : str
            Labels error messages.
        picture : bool
            Prepare a 2-d array MNIST-style even when it has the model's image shape.

        Returns
        -------
        list of (str, ndarray of float32 of shape ``image_shape``)
        """
        return inputs_from_array(name, np.asarray(array), self.image_shape, self.scale, self.layout,
                                 picture=picture)

    def image_from_bytes(self, data: bytes, name: str = "the upload") -> np.ndarray:
        """The prepared input, shape ``image_shape``, for an encoded image (PNG, JPEG, ...) in memory.

        Raises
        ------
        ImageError
            Not an image (:class:`~bpnn.imageprep.NotAnImageError`), more than
            ``max_pixels`` pixels (:class:`~bpnn.imageprep.ImageTooLargeError`),
            damaged, or holding no digit.
        """
        grey = read_image_bytes(data, name, self.max_pixels)
        return prepare(grey, self.image_shape, self.layout)

    # -- numbers --------------------------------------------------------------
    @property
    def reads_numbers(self) -> bool:
        """True for a model of 28x28 digits (MNIST's layout, classes ``0``..``9`` or some of them): a
        picture is then cut into digits; any other model (Fashion-MNIST, the 8x8 digits) reads it whole."""
        return self.image_shape == (28, 28) and len(self.classes) > 0 and all(
            len(c) == 1 and c in "0123456789" for c in self.classes)

    def confidences(self, pictures: Sequence[np.ndarray]) -> np.ndarray:
        """The probability of the most likely class for each grey picture, prepared MNIST-style.

        The scoring callback of :func:`bpnn.segmentation.segment`.

        Returns
        -------
        ndarray of float64, shape (len(pictures),)
        """
        out = np.zeros(len(pictures))
        images, kept = [], []
        for i, picture in enumerate(pictures):
            try:
                images.append(prepare(picture, self.image_shape, self.layout))
                kept.append(i)
            except ImageError:              # a sliver too faint to prepare: no digit at all
                pass
        if images:
            X = np.stack([img.reshape(-1) for img in images]).astype(self.net.dtype)
            output = self.net.feedforward(self.preprocessing.standardize_inputs(X))
            p = class_probabilities(output, self.net.output_layer.activation.name, self.net.code)
            out[kept] = p.max(axis=1)
        return out

    def read(self, grey: np.ndarray, name: str = "the image", single: bool = False,
             max_pieces: int = MAX_PIECES) -> Reading:
        """Read a grey picture: the number written in it, digit by digit.

        A model of 28x28 digits (:attr:`reads_numbers`) gets the picture cut
        into digits by :func:`bpnn.segmentation.segment` (the network's
        confidence choosing how to cut touching digits), each prepared
        MNIST-style and read; ``single=True``, or any other model, reads the
        whole picture as one item (the ink's box as its box).

        Parameters
        ----------
        grey : ndarray, shape (rows, cols)
            Grey levels 0..255, either polarity.
        name : str
            Names the picture in error messages.
        single : bool
            Read it as one digit even when it holds several.
        max_pieces : int
            Refuse a picture with more digits than this.

        Raises
        ------
        ImageError
            Blank (the message names the picture), or more than ``max_pieces``
            digits (:class:`~bpnn.segmentation.TooManyPiecesError`).
        """
        grey = np.asarray(grey, dtype=np.float64)
        if single or not self.reads_numbers:
            try:
                image = prepare(grey, self.image_shape, self.layout)
                box = ink_box(grey)
            except ImageError as err:
                if str(err).startswith(name):
                    raise
                raise type(err)(f"{name}: {err}") from None
            prediction = self.predict_image(image)
            return Reading(prediction.label, [Digit(box, 0, prediction)], (grey.shape[0], grey.shape[1]), False)
        found = segment(grey, score=self.confidences, max_pieces=max_pieces, name=name)
        pieces, images = [], []
        for piece in found.pieces:
            try:
                images.append(prepare(piece.picture, self.image_shape, self.layout))
                pieces.append(piece)
            except ImageError:              # a sliver too faint to prepare is no digit
                pass
        if not pieces:
            raise ImageError(f"{name}: no digit found: the strokes are too faint or thin")
        digits = [Digit(p.box, p.line, pred) for p, pred in zip(pieces, self.predict_images(images))]
        lines: dict[int, str] = {}
        for d in digits:
            lines[d.line] = lines.get(d.line, "") + d.prediction.label
        return Reading(" ".join(lines[k] for k in sorted(lines)), digits, found.shape, True)

    def picture_from_bytes(self, data: bytes, name: str = "the upload") -> np.ndarray:
        """The grey picture (0..255, shape (rows, cols)) of an encoded image in memory, for :meth:`read`.

        Raises
        ------
        ImageError
            As :meth:`image_from_bytes`, except for a blank picture.
        """
        return read_image_bytes(data, name, self.max_pixels)

    def read_bytes(self, data: bytes, name: str = "the upload", single: bool = False) -> Reading:
        """:meth:`read` for an encoded image (PNG, JPEG, ...) in memory.

        Raises
        ------
        ImageError
            As :meth:`image_from_bytes`, and as :meth:`read`.
        """
        return self.read(self.picture_from_bytes(data, name), name, single)

    def read_prepared_images(self, images: Sequence[np.ndarray]) -> list[Reading]:
        """One :class:`Reading` per prepared input, run through the network together (each box is
        the whole field)."""
        readings = []
        for prediction in self.predict_images(images):
            rows, cols = prediction.image.shape if prediction.image.ndim == 2 else (1, prediction.image.size)
            readings.append(Reading(prediction.label, [Digit((0, 0, int(rows), int(cols)), 0, prediction)],
                                    (int(rows), int(cols)), False))
        return readings

    def read_prepared(self, image: np.ndarray) -> Reading:
        """:meth:`read_prepared_images` for one prepared input."""
        return self.read_prepared_images([image])[0]

    # -- the network --------------------------------------------------------
    def predict_images(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """Run prepared images through the network.

        Parameters
        ----------
        images : sequence of ndarray, each of shape ``image_shape``, values in [0, 1]

        Returns
        -------
        list of Prediction
            One per image, with the class probabilities and every hidden layer's activations.
        """
        if len(images) == 0:
            return []
        X = np.stack([np.asarray(img, dtype=self.net.dtype).reshape(-1) for img in images])
        if X.shape[1] != self.net.n_inputs:
            raise ImageError(f"a prepared image has {X.shape[1]} values; the model takes {self.net.n_inputs}")
        *hidden, output = self.net.layer_outputs(self.preprocessing.standardize_inputs(X))
        probabilities = class_probabilities(output, self.net.output_layer.activation.name, self.net.code)
        labels = self.net.decode(output)         # the largest output, or the nearest code word
        results = []
        for i, image in enumerate(images):
            index = int(labels[i])
            results.append(Prediction(np.asarray(image, dtype=np.float32), probabilities[i], index,
                                      self.classes[index], [a[i] for a in hidden], output[i]))
        return results

    def predict_image(self, image: np.ndarray) -> Prediction:
        """:meth:`predict_images` for one prepared image of shape ``image_shape``."""
        return self.predict_images([image])[0]

    # -- description --------------------------------------------------------
    def info(self) -> dict:
        """A JSON-ready summary of the model: architecture, data set, test accuracy, inputs."""
        meta = self.model.metadata
        summary = self.model.summary
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
