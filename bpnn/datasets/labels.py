"""Labels are data: checks of the class indices a file holds.

A label is a value read from a file, so it is checked like any other value
before it means anything: the number of classes of a data set comes from its
catalog entry (MNIST and Fashion-MNIST: 10) or, for a user's files, from the
*distinct* label values, which must be exactly ``0..k-1``.  No label value
ever sizes an allocation (no ``max() + 1``, ``bincount`` or ``eye``): one
corrupt byte of 255 or an int32 of 50,000,000 is reported, with the file and
the number of rows carrying it, instead of becoming 256 or 50,000,001
classes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bpnn.exceptions import DataError

__all__ = ["check_label_range", "count_classes", "describe_values"]

_MAX_LISTED = 5  # odd values named in a message; the rest are counted


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def describe_values(values: np.ndarray) -> str:
    """Sorted distinct integers as runs: ``"0..9, 255"``, ``"0, 1, 3"``.

    Parameters
    ----------
    values : numpy.ndarray of int
        Sorted distinct values.

    Returns
    -------
    str
        At most eight runs, then ``", ... (n values)"``.
    """
    runs: list[str] = []
    if values.size:
        breaks = np.flatnonzero(np.diff(values) != 1) + 1
        starts = np.concatenate(([0], breaks))
        ends = np.concatenate((breaks, [values.size])) - 1
        for first, last in zip(starts[:8], ends[:8]):
            lo, hi = int(values[first]), int(values[last])
            runs.append(str(lo) if lo == hi else f"{lo}, {hi}" if hi == lo + 1 else f"{lo}..{hi}")
        if starts.size > 8:
            runs.append(f"... ({values.size} values)")
    return ", ".join(runs) or "none"


def _odd_rows(labels: Sequence[tuple[np.ndarray, str]], odd: np.ndarray) -> str:
    """For each listed odd value, the files and row counts carrying it."""
    parts = []
    for value in odd[:_MAX_LISTED]:
        places = []
        for y, source in labels:
            count = int(np.count_nonzero(y == value))
            if count:
                places.append(f"{_rows(count)} of {source}")
        parts.append(f"label {int(value)} in {' and '.join(places)}")
    text = "; ".join(parts)
    if odd.size > _MAX_LISTED:
        rest = odd[_MAX_LISTED:]
        carrying = sum(int(np.count_nonzero(np.isin(y, rest, kind="sort"))) for y, _ in labels)
        text += f"; and {rest.size} more odd values in {_rows(carrying)}"
    return text


def _distinct(y: np.ndarray) -> np.ndarray:
    return np.unique(np.asarray(y))


def check_label_range(
    labels: Sequence[tuple[np.ndarray, str]], n_classes: int, dataset: str
) -> None:
    """Refuse labels outside ``0..n_classes-1`` for a data set of known classes.

    Parameters
    ----------
    labels : sequence of (numpy.ndarray of int, str)
        Each label array with the file (or part of a file) it comes from.
    n_classes : int
        The data set's number of classes (from its catalog entry).
    dataset : str
        The data set's name, for the message.

    Raises
    ------
    bpnn.exceptions.DataError
        Naming each file, each odd value (up to five) and the rows carrying it.
    """
    bad_sources = []
    odd_values = []
    for y, source in labels:
        if y.size == 0:
            continue
        values = _distinct(y)
        odd = values[(values < 0) | (values >= n_classes)]
        if odd.size:
            bad_sources.append(source)
            odd_values.append(odd)
    if not odd_values:
        return
    odd = np.unique(np.concatenate(odd_values))
    total = sum(int(np.count_nonzero((y < 0) | (y >= n_classes))) for y, _ in labels)
    in_all = f" ({_rows(total)} in all)" if odd.size > 1 else ""
    raise DataError(
        f"{', '.join(bad_sources)}: {_odd_rows(labels, odd)}{in_all}: outside the "
        f"classes 0..{n_classes - 1} of {dataset}; the label file is corrupt: "
        f"download or copy it again"
    )


def count_classes(labels: Sequence[tuple[np.ndarray, str]]) -> int:
    """Number of classes of a user's data: its distinct labels, which must be 0..k-1.

    Parameters
    ----------
    labels : sequence of (numpy.ndarray of int, str)
        Every label array of the data set (training and test) with the file
        (or part of a file) it comes from.

    Returns
    -------
    int
        ``k``, the number of distinct label values (0 if there are no labels).

    Raises
    ------
    bpnn.exceptions.DataError
        If the distinct values are not exactly ``0..k-1`` (a value is negative,
        or a class number is skipped, as with a corrupt byte of 255 among
        0..9, labels counted from 1, or labels 0, 1, 3).  The message names the
        files, the odd values, the rows carrying them and the missing classes.
    """
    present = [_distinct(y) for y, _ in labels if y.size]
    if not present:
        return 0
    values = np.unique(np.concatenate(present))
    k = int(values.size)
    if int(values[0]) == 0 and int(values[-1]) == k - 1:
        return k
    odd = values[(values < 0) | (values >= k)]
    inside = values[(values >= 0) & (values < k)]
    missing = np.setdiff1d(np.arange(k, dtype=values.dtype), inside, assume_unique=True)
    bad_sources = [s for y, s in labels if y.size and np.isin(_distinct(y), odd, kind="sort").any()]
    never = describe_values(missing)
    raise DataError(
        f"{', '.join(bad_sources)}: labels must be the class indices 0..k-1 "
        f"without gaps, but the {k} distinct labels are {describe_values(values)} "
        f"(class{'es' if missing.size > 1 else ''} {never} never occur"
        f"{'' if missing.size > 1 else 's'}). Out of sequence: "
        f"{_odd_rows(labels, odd)}. Either a label file is corrupt (download or "
        f"copy it again), or the labels are numbered from 1 or skip a class "
        f"(renumber them 0..k-1, k being the number of classes)"
    )
