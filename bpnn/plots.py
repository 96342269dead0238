"""Figures of a training run and a trained model, written as PNG files.

matplotlib is used through its object interface with the Agg canvas, so
nothing here opens a window or changes the global backend (safe in scripts,
on servers and in notebooks alike).

* :func:`learning_curves`: loss and accuracy per epoch, training and validation;
* :func:`confusion_matrix`: a heat map of true vs predicted classes;
* :func:`misclassified`: a gallery of wrongly classified images with their
  predicted and true labels;
* :func:`augmented_samples`: training images beside versions of them as a
  training-time augmentation makes them;
* :func:`first_layer_weights`: every first-layer unit's incoming weights drawn
  as an image of the input's shape (28x28 or 8x8).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["learning_curves", "confusion_matrix", "misclassified", "first_layer_weights", "augmented_samples"]


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    fig.savefig(path, format="png", bbox_inches="tight", dpi=100)
    return path


def _column(history: dict, name: str) -> np.ndarray:
    values = history.get(name) or []
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def learning_curves(history, path: str | os.PathLike, title: str | None = None,
                    best_epoch: int | None = None) -> Path:
    """Plot loss and accuracy per epoch for training and validation data.

    Parameters
    ----------
    history : History or dict
        A :class:`bpnn.nn.training.History` or its ``to_dict()``.
    path : str or os.PathLike
        The PNG to write.
    title : str, optional
    best_epoch : int, optional
        Marked with a vertical line (e.g. the epoch early stopping kept).

    Returns
    -------
    Path
    """
    from matplotlib.ticker import MaxNLocator

    if hasattr(history, "to_dict"):
        history = history.to_dict()
    epochs = _column(history, "epoch")
    if epochs.size == 0:
        raise ValueError("the history is empty: nothing to plot")
    fig = _figure(11, 4.2)
    ax_loss, ax_acc = fig.subplots(1, 2)
    marker = "o" if epochs.size <= 40 else None
    for ax, train, val, label in (
        (ax_loss, _column(history, "loss"), _column(history, "val_loss"), "loss (cost)"),
        (ax_acc, 100 * _column(history, "accuracy"), 100 * _column(history, "val_accuracy"), "accuracy (%)"),
    ):
        ax.plot(epochs, train, marker=marker, ms=3, label="training (running mean during the epoch)")
        if np.isfinite(val).any():
            ax.plot(epochs, val, marker=marker, ms=3, label="validation (after the epoch)")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", ls="--", lw=1, label=f"best epoch ({best_epoch})")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    ax_loss.set_title("loss")
    ax_acc.set_title("accuracy")
    if np.nanmax(_column(history, "loss")) / max(np.nanmin(_column(history, "loss")), 1e-12) > 50:
        ax_loss.set_yscale("log")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def confusion_matrix(matrix: np.ndarray, classes: Sequence[str], path: str | os.PathLike,
                     title: str | None = None) -> Path:
    """Draw a confusion matrix as a heat map with the counts written in.

    The colour of a cell is its share of the true class's row (so the
    diagonal shows each class's recall), the number is the count.

    Parameters
    ----------
    matrix : ndarray of int, shape (k, k)
        ``matrix[i, j]``: samples of true class ``i`` predicted as ``j``.
    classes : sequence of str
    path : str or os.PathLike
    title : str, optional
    """
    matrix = np.asarray(matrix)
    k = matrix.shape[0]
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    side = max(5.0, 0.6 * k + 2.0)
    fig = _figure(side + 1.2, side)
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    long_names = max(len(str(c)) for c in classes) > 3
    ax.set_xticklabels(classes, rotation=45 if long_names else 0, ha="right" if long_names else "center")
    ax.set_yticklabels(classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    size = 9 if k <= 12 else 6
    for i in range(k):
        for j in range(k):
            if matrix[i, j]:
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=size,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_title(title or f"confusion matrix ({int(matrix.sum())} samples)")
    return _save(fig, path)


def misclassified(images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str],
                  path: str | os.PathLike, probabilities: np.ndarray | None = None,
                  max_images: int = 36, title: str | None = None) -> Path:
    """A gallery of wrongly classified images, labelled "predicted / true".

    Parameters
    ----------
    images : ndarray, shape (n, rows, cols)
        The images as they look (values in [0, 1], white ink on black).
    y_true, y_pred : ndarray of int, shape (n,)
    classes : sequence of str
    path : str or os.PathLike
    probabilities : ndarray, shape (n, k), optional
        The network's outputs; the predicted class's share is shown.
    max_images : int
        At most this many (the first ones, in data order).
    """
    wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))[:max_images]
    n = len(wrong)
    cols = 6 if n > 4 else max(n, 1)
    rows = max(1, int(np.ceil(n / cols)))
    fig = _figure(1.6 * cols, 1.85 * rows + 0.4)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    if n == 0:
        axes[0].text(0.5, 0.5, "no misclassified images", ha="center", va="center")
    for ax, i in zip(axes, wrong):
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        label = f"{classes[y_pred[i]]}"
        if probabilities is not None:
            p = probabilities[i] / max(float(probabilities[i].sum()), 1e-12)
            label += f" ({p[y_pred[i]]:.0%})"
        ax.set_title(f"pred {label}\ntrue {classes[y_true[i]]}", fontsize=8, color="firebrick")
    total = int(np.count_nonzero(np.asarray(y_true) != np.asarray(y_pred)))
    fig.suptitle(title or f"misclassified: {n} of {total} shown (predicted / true)", fontsize=10)
    return _save(fig, path)


def augmented_samples(grid: np.ndarray, labels: Sequence[str], path: str | os.PathLike,
                      title: str | None = None) -> Path:
    """One row per training image: the image, then the versions the network trains on.

    Parameters
    ----------
    grid : ndarray, shape (n, 1 + variants, rows, cols)
        :func:`bpnn.augment.sample_grid`'s result (values in [0, 1]).
    labels : sequence of str, length n
        Each row's class name.
    """
    n, v = grid.shape[:2]
    fig = _figure(0.9 * v + 0.4, 0.95 * n + 0.5)
    axes = np.asarray(fig.subplots(n, v, squeeze=False))
    for i in range(n):
        for j in range(v):
            ax = axes[i, j]
            ax.imshow(grid[i, j], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(str(labels[i]), rotation=0, ha="right", va="center", fontsize=9)
                for side in ax.spines.values():
                    side.set_edgecolor("tab:blue")
                    side.set_linewidth(2)
    axes[0, 0].set_title("original", fontsize=8)
    if v > 1:
        axes[0, 1].set_title("augmented", fontsize=8, loc="left")
    fig.suptitle(title or "training images and augmented versions", fontsize=10)
    return _save(fig, path)


def first_layer_weights(W: np.ndarray, image_shape: Sequence[int], path: str | os.PathLike,
                        max_units: int = 64, title: str | None = None) -> Path:
    """Draw each first-layer unit's incoming weights as an image.

    Parameters
    ----------
    W : ndarray, shape (n_inputs, n_units)
        The first weight matrix (batch-first layout, one column per unit).
    image_shape : sequence of int
        The input images' shape, e.g. (28, 28); ``prod(image_shape) == n_inputs``.
    path : str or os.PathLike
    max_units : int
        Draw at most this many units (the first ones).

    Notes
    -----
    Every tile uses its own symmetric colour scale (red positive, blue
    negative, white zero), so patterns show even where weights are small.
    """
    W = np.asarray(W, dtype=np.float64)
    shape = tuple(int(s) for s in image_shape)
    if int(np.prod(shape)) != W.shape[0]:
        raise ValueError(f"image shape {shape} does not match {W.shape[0]} inputs")
    n = min(W.shape[1], max_units)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig = _figure(1.3 * cols, 1.3 * rows + 0.5)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for unit, ax in zip(range(n), axes):
        tile = W[:, unit].reshape(shape)
        limit = max(float(np.abs(tile).max()), 1e-12)
        ax.imshow(tile, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(str(unit), fontsize=6, pad=1)
    fig.suptitle(title or f"first-layer weights ({n} of {W.shape[1]} units; red +, blue -)", fontsize=10)
    return _save(fig, path)
