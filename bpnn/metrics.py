"""Classification metrics: accuracy, per-class precision/recall/F1, confusion matrix.

The numbers come from :mod:`sklearn.metrics`; this module only gathers them
into one object that prints as a table or serialises to JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["ClassificationSummary", "classification_summary"]


@dataclass
class ClassificationSummary:
    """What :func:`classification_summary` measured.

    Attributes
    ----------
    classes : list of str
    accuracy : float
    correct, total : int
    precision, recall, f1 : ndarray of shape (k,)
    support : ndarray of int, shape (k,)
    confusion : ndarray of int, shape (k, k)
        ``confusion[i, j]`` counts samples of true class ``i`` predicted as ``j``.
    """

    classes: list[str]
    accuracy: float
    correct: int
    total: int
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    confusion: np.ndarray

    @property
    def error_rate(self) -> float:
        return 1.0 - self.accuracy

    def _averages(self) -> dict[str, dict[str, float]]:
        weights = self.support / max(1, self.support.sum())
        return {
            "macro avg": {"precision": float(self.precision.mean()), "recall": float(self.recall.mean()),
                          "f1": float(self.f1.mean()), "support": int(self.support.sum())},
            "weighted avg": {"precision": float(weights @ self.precision), "recall": float(weights @ self.recall),
                             "f1": float(weights @ self.f1), "support": int(self.support.sum())},
        }

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        per_class = {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(self.classes, self.precision, self.recall, self.f1, self.support)
        }
        averages = self._averages()
        return {
            "accuracy": self.accuracy,
            "error_rate": self.error_rate,
            "correct": self.correct,
            "total": self.total,
            "classes": list(self.classes),
            "per_class": per_class,
            "macro_avg": averages["macro avg"],
            "weighted_avg": averages["weighted avg"],
            "confusion_matrix": self.confusion.tolist(),
        }

    def format_table(self) -> str:
        """The accuracy line, a classification report and the confusion matrix as text."""
        lines = [
            f"accuracy    {self.accuracy:.2%}  ({self.correct}/{self.total})",
            f"error rate  {self.error_rate:.2%}  ({self.total - self.correct} wrong)",
            "",
        ]
        name_w = max([len("weighted avg")] + [len(c) for c in self.classes])
        lines.append(f"{'class':<{name_w}}  precision  recall  f1-score  support")
        for name, p, r, f, s in zip(self.classes, self.precision, self.recall, self.f1, self.support):
            lines.append(f"{name:<{name_w}}  {p:9.4f}  {r:6.4f}  {f:8.4f}  {s:7d}")
        lines.append("")
        for name, avg in self._averages().items():
            lines.append(f"{name:<{name_w}}  {avg['precision']:9.4f}  {avg['recall']:6.4f}  "
                         f"{avg['f1']:8.4f}  {avg['support']:7d}")
        lines += ["", "confusion matrix (rows: true class, columns: predicted class)"]
        labels = [c if len(c) <= 6 else c[:5] + "." for c in self.classes]
        cell = max(5, max(len(str(int(v))) for v in self.confusion.ravel()) + 1, max(len(s) for s in labels) + 1)
        row_w = max(len(c) for c in self.classes)
        lines.append(" " * row_w + "".join(f"{s:>{cell}}" for s in labels))
        for name, row in zip(self.classes, self.confusion):
            lines.append(f"{name:<{row_w}}" + "".join(f"{int(v):>{cell}d}" for v in row))
        return "\n".join(lines)


def classification_summary(
    y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str] | None = None
) -> ClassificationSummary:
    """Measure predictions against true class indices.

    Parameters
    ----------
    y_true, y_pred : ndarray of int, shape (n,)
        Class indices ``0 .. k-1``.
    classes : sequence of str, optional
        Class names; default ``"0" .. str(k-1)`` with ``k`` the largest index + 1.

    Returns
    -------
    ClassificationSummary

    Examples
    --------
    >>> s = classification_summary(np.array([0, 1, 1]), np.array([0, 1, 0]))
    >>> round(s.accuracy, 3), s.confusion.tolist()
    (0.667, [[1, 0], [1, 1]])
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true = np.asarray(y_true).astype(np.int64)
    y_pred = np.asarray(y_pred).astype(np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or y_true.size == 0:
        raise ValueError(f"y_true and y_pred must be equal-length 1-d arrays, got {y_true.shape} and {y_pred.shape}")
    if classes is None:        # the labels present, which must be 0..k-1 (a label value never sizes a table)
        present = np.union1d(y_true, y_pred)
        if present[0] < 0 or present[-1] != present.size - 1:
            raise ValueError(f"without class names the labels must be 0..k-1; found {present[:10].tolist()}"
                             f"{'...' if present.size > 10 else ''}: pass classes=")
        classes = [str(i) for i in range(present.size)]
    classes = [str(c) for c in classes]
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.min() < 0 or y.max() >= len(classes):
            raise ValueError(f"{name} holds labels outside 0..{len(classes) - 1} ({len(classes)} classes)")
    labels = np.arange(len(classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    confusion = confusion_matrix(y_true, y_pred, labels=labels)
    correct = int(np.count_nonzero(y_true == y_pred))
    return ClassificationSummary(
        classes=classes,
        accuracy=correct / y_true.size,
        correct=correct,
        total=int(y_true.size),
        precision=np.asarray(precision, dtype=float),
        recall=np.asarray(recall, dtype=float),
        f1=np.asarray(f1, dtype=float),
        support=np.asarray(support, dtype=np.int64),
        confusion=np.asarray(confusion, dtype=np.int64),
    )
