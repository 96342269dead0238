"""Find the digits in a picture of a written number.

Reading a number is two problems: cutting the written string into single
digits, then recognising each.  The network solves the second; this module
solves the first, with NumPy, SciPy and nothing of the network but an
optional *scoring callback*.  :func:`segment` takes a grey picture and
returns one :class:`Piece` per digit, in reading order, each as a small
picture of that digit alone, ready for :func:`bpnn.imageprep.prepare`:

1. **Ink.** The picture becomes ink in [0, 1] on a 0 background
   (:func:`bpnn.imageprep.ink_image`: either polarity, contrast stretched), is
   smoothed a little against noise, and binarised by Otsu's threshold (the
   level that best separates paper from ink in the histogram).
2. **Marks.** Connected components (8-connected) of the binary image;
   specks smaller than a few percent of the largest mark are noise.
3. **Lines.** The rows holding ink form bands; bands closer than a quarter
   of the taller one's height are one line (a 5's bar above its body), so
   lines are told apart by the paper between them and read top to bottom.
4. **Parts of a digit.** In a line, a short mark (a broken 5's bar, a piece
   of a 4, a serif) joins the tall mark it overlaps most in the horizontal
   projection, or the nearest within a third of the line's height (farther
   away, a speck is dropped).  Two tall marks that overlap by half the
   narrower one's width, or nearly touch, are one digit when stacked, and
   otherwise only when the callback reads them better together: a "1" and a
   "7" drawn apart stay two digits.
5. **Touching digits.** A mark wide for a digit is cut along straight lines,
   upright or slanted as handwriting leans, where its projection along them
   (ink per line) is lowest.  With a callback, every way of cutting it at a
   few such lines is tried, a small dynamic programme over the cuts keeps the
   reading with the best sum of log-confidences plus a prior (a piece costs
   :data:`PIECE_COST`, a piece wider than :data:`WIDE_OK` heights is less
   likely one digit, and the uncut mark's own confidence counts
   :data:`WHOLE_WEIGHT` times, since the network reads fragments of digits
   about as confidently as digits); without one, a mark wider than
   :data:`WIDE` heights is cut into as many pieces as its width holds.
6. **Order.** Digits left to right (by their centres) within a line; each is
   given as a picture of its own ink only, a neighbour's strokes removed.

Everything is bounded: at most :data:`MAX_MARKS` marks are examined and at
most ``max_pieces`` (:data:`MAX_PIECES`) digits returned; past either, the
picture is refused with :class:`TooManyPiecesError`, whose message says how
to fix it.  No per-pixel Python loop: labelling, bounding boxes and
projections are SciPy and NumPy calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .imageprep import ImageError, ink_image as ink_of

__all__ = [
    "MAX_PIECES",
    "MAX_MARKS",
    "Piece",
    "Segmentation",
    "TooManyPiecesError",
    "otsu_threshold",
    "segment",
]

#: Most digits read in one picture (a number of up to 32 digits, all lines together).
MAX_PIECES = 32
#: Most marks (connected components above the speck size) examined in one picture.
MAX_MARKS = 256
#: A mark smaller than this fraction of the largest one is a speck of noise.
SPECK = 0.015
#: Marks shorter than this fraction of their line's height are parts of a digit, never digits of their own,
#: unless nothing is near them and they hold enough ink.
SHORT = 0.5
#: A small mark joins a digit at most this many line heights away (horizontal gap between their boxes).
NEAR = 0.35
#: A mark wider than this many line heights is cut without asking (it is never one MNIST digit).
WIDE = 1.3
#: Marks narrower than this many line heights are never cut.
NARROW = 0.7
#: Tall marks this close (in line heights, between their boxes) may be parts of one digit (an open 4, a 0
#: broken in two); farther apart they are two digits.
CLOSE = 0.06
#: Two tall marks side by side are read as one digit only when the network's log-confidence in the joined
#: reading beats the sum of theirs apart by this much.
MERGE_MARGIN = 0.1
#: Two bands of inked rows are one line when the gap between them is less than this fraction of the taller.
LINE_GAP = 0.25
#: Most candidate cuts tried in one mark (the programme scores at most (n+2)(n+1)/2 pieces).
MAX_CUTS = 6
#: White margin (pixels) around each piece's picture.
MARGIN = 2

#: A scoring callback: pictures (grey levels 0..255, dark ink on white) -> the probability of the class the
#: network reads in each, shape (n,).
Scorer = Callable[[Sequence[np.ndarray]], np.ndarray]


class TooManyPiecesError(ImageError):
    """The picture holds more marks or digits than are read at once."""


@dataclass(frozen=True)
class Piece:
    """One digit found in a picture.

    Attributes
    ----------
    box : tuple of int
        ``(top, left, bottom, right)``: the digit's ink spans rows
        ``top..bottom-1`` and columns ``left..right-1`` of the picture
        (after :func:`bpnn.imageprep.read_image` shrank a large one).
    line : int
        The line it was written on, 0 for the top one.
    picture : ndarray of float64, shape (rows, cols)
        That digit alone as grey levels 0..255, dark ink on white paper, with
        a white margin of at least :data:`MARGIN` pixels around its ink: what
        :func:`bpnn.imageprep.prepare` turns into the network's input.
    """

    box: tuple[int, int, int, int]
    line: int
    picture: np.ndarray

    @property
    def width(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def height(self) -> int:
        return self.box[2] - self.box[0]


@dataclass
class Segmentation:
    """The digits found in a picture, in reading order.

    Attributes
    ----------
    pieces : list of Piece
        Line by line, top to bottom; left to right in a line.
    shape : tuple of int
        ``(rows, cols)`` of the picture the boxes refer to.
    threshold : float
        The ink level (of the stretched 0..1 range) that binarised it.
    """

    pieces: list[Piece]
    shape: tuple[int, int]
    threshold: float

    @property
    def lines(self) -> int:
        return 1 + max((p.line for p in self.pieces), default=0)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of values in [0, 1]: the level maximising the between-class variance.

    Parameters
    ----------
    values : ndarray, any shape, values in [0, 1]
    bins : int
        Histogram bins.

    Returns
    -------
    float
        The threshold, in [0, 1]: values above it are ink.
    """
    hist = np.bincount(np.minimum((np.ravel(values) * bins).astype(np.int64), bins - 1), minlength=bins)
    p = hist / max(hist.sum(), 1)
    levels = (np.arange(bins) + 0.5) / bins
    w0 = np.cumsum(p)                       # weight of the class at or below each level
    m0 = np.cumsum(p * levels)
    total = m0[-1]
    w1 = 1.0 - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total * w0 - m0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1.0
    # empty bins between paper and ink make a plateau of equal variances: take its middle
    top = np.flatnonzero(between >= between.max() * (1 - 1e-9))
    plateau = top[top <= top[0] + np.flatnonzero(np.diff(np.r_[top, top[-1] + 2]) > 1)[0]]
    return float((plateau.mean() + 1) / bins)


# --------------------------------------------------------------------------
# the marks
# --------------------------------------------------------------------------
@dataclass
class _Marks:
    """The connected components kept, as parallel arrays (index k is label k + 1)."""

    labels: np.ndarray          # int32 (rows, cols): 0 paper, k + 1 the mark k
    top: np.ndarray
    left: np.ndarray
    bottom: np.ndarray
    right: np.ndarray
    area: np.ndarray

    @property
    def height(self) -> np.ndarray:
        return self.bottom - self.top

    @property
    def width(self) -> np.ndarray:
        return self.right - self.left


def _marks(mask: np.ndarray, name: str) -> _Marks:
    from scipy import ndimage

    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        raise ImageError(f"{name}: no digit found: the image is blank or has almost no contrast")
    area = np.bincount(labels.ravel(), minlength=n + 1)
    area[0] = 0
    keep = area >= max(3, SPECK * area.max())
    kept = int(keep.sum())
    if kept > MAX_MARKS:
        raise TooManyPiecesError(
            f"{name}: {kept} separate marks found (at most {MAX_MARKS} are examined): the image is too noisy or "
            f"holds far more than a number; crop it to the number, on plain paper")
    relabel = np.zeros(n + 1, dtype=np.int32)
    relabel[keep] = np.arange(1, kept + 1, dtype=np.int32)
    labels = relabel[labels]
    boxes = ndimage.find_objects(labels, max_label=kept)
    top = np.array([b[0].start for b in boxes])
    bottom = np.array([b[0].stop for b in boxes])
    left = np.array([b[1].start for b in boxes])
    right = np.array([b[1].stop for b in boxes])
    return _Marks(labels, top, left, bottom, right, area[keep])


def _lines(marks: _Marks) -> list[np.ndarray]:
    """The marks of each line (arrays of mark indices), top to bottom.

    The rows holding ink form bands (the vertical projection's runs); two
    bands are one line when the gap between them is less than
    :data:`LINE_GAP` of the taller one's height (a broken 5's bar above its
    body, a 7's crossbar), so lines of different sizes are still told apart.
    """
    order = np.argsort(marks.top, kind="stable")
    bands: list[list[int]] = []                 # [top, bottom] of each run of inked rows
    for k in order:
        t, b = int(marks.top[k]), int(marks.bottom[k])
        if bands and t <= bands[-1][1]:
            bands[-1][1] = max(bands[-1][1], b)
        else:
            bands.append([t, b])
    lines = [bands[0]]
    for t, b in bands[1:]:
        last = lines[-1]
        if t - last[1] < LINE_GAP * max(last[1] - last[0], b - t):
            last[1] = b
        else:
            lines.append([t, b])
    edges = np.array([t for t, _ in lines[1:]])
    line = np.searchsorted(edges, marks.top, side="right")
    return [np.flatnonzero(line == i) for i in range(len(lines))]


# --------------------------------------------------------------------------
# a line's digits
# --------------------------------------------------------------------------
class _Union:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        self.parent[self.find(j)] = self.find(i)

    def groups(self) -> list[list[int]]:
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return list(out.values())


@dataclass
class _Group:
    """Marks read as one unit: their labels, box and area."""

    labels: list[int]
    top: int
    left: int
    bottom: int
    right: int
    area: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @staticmethod
    def of(marks: _Marks, members: Sequence[int]) -> "_Group":
        m = np.asarray(members)
        return _Group([int(k) + 1 for k in m], int(marks.top[m].min()), int(marks.left[m].min()),
                      int(marks.bottom[m].max()), int(marks.right[m].max()), int(marks.area[m].sum()))


def _overlap(a0: np.ndarray, a1: np.ndarray, b0: np.ndarray, b1: np.ndarray) -> np.ndarray:
    return np.minimum(a1, b1) - np.maximum(a0, b0)


class _Cutter:
    """Cuts marks into pieces and makes their pictures (one per picture: the ink and the labels)."""

    def __init__(self, ink: np.ndarray, labels: np.ndarray, threshold: float, score: Scorer | None) -> None:
        self.ink = ink
        self.labels = labels
        self.threshold = threshold
        self.score = score

    def region(self, group: _Group, left: _Cut | None = None, right: _Cut | None = None
               ) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """The ink of ``group`` between two cuts (None: its own edge): (ink array, box of the piece's ink).

        Each cut is a straight line, possibly slanted (see :class:`_Cut`); the
        piece is the group's ink right of ``left`` and left of ``right``.
        """
        from scipy import ndimage

        pad = MARGIN
        r0, r1 = max(group.top - pad, 0), min(group.bottom + pad, self.ink.shape[0])
        lo = group.left if left is None else max(group.left, left.leftmost(group))
        hi = group.right if right is None else min(group.right, right.rightmost(group))
        c0, c1 = max(lo - pad, 0), min(hi + pad, self.ink.shape[1])
        if c1 <= c0:
            return None
        lab = self.labels[r0:r1, c0:c1]
        own = np.isin(lab, group.labels)
        inside = np.ones(own.shape, dtype=bool)
        if left is not None:
            inside &= left.right_of(group, r0, r1, c0, c1)
        if right is not None:
            inside &= ~right.right_of(group, r0, r1, c0, c1)
        own &= inside
        if not own.any():
            return None
        if left is not None or right is not None:
            # a cut leaves slivers of the neighbour's strokes along it: keep the parts that matter
            parts, n = ndimage.label(own, structure=np.ones((3, 3), dtype=bool))
            if n > 1:
                sizes = np.bincount(parts.ravel(), minlength=n + 1)
                sizes[0] = 0
                own = sizes[parts] >= 0.15 * sizes.max()
        # the grey fringe of the strokes (anti-aliasing, blur) below the threshold belongs to them too,
        # unless it is another mark's
        near = ndimage.binary_dilation(own, iterations=2) & ((lab == 0) | own) & inside
        piece = np.where(near, self.ink[r0:r1, c0:c1], 0.0)
        rows = np.flatnonzero(own.any(axis=1))
        cols = np.flatnonzero(own.any(axis=0))
        box = (r0 + int(rows[0]), c0 + int(cols[0]), r0 + int(rows[-1]) + 1, c0 + int(cols[-1]) + 1)
        return piece, box

    @staticmethod
    def picture(piece: np.ndarray) -> np.ndarray:
        """Ink -> grey picture, dark on white, with a white margin (what prepare() expects)."""
        out = np.full((piece.shape[0] + 2 * MARGIN, piece.shape[1] + 2 * MARGIN), 255.0)
        out[MARGIN:-MARGIN, MARGIN:-MARGIN] = 255.0 * (1.0 - piece)
        return out

    def scores(self, pieces: Sequence[np.ndarray | None]) -> np.ndarray:
        """log-confidence of each piece (-inf for none)."""
        out = np.full(len(pieces), -np.inf)
        real = [i for i, p in enumerate(pieces) if p is not None]
        if real and self.score is not None:
            conf = np.asarray(self.score([self.picture(pieces[i]) for i in real]), dtype=np.float64)
            out[real] = np.log(np.clip(conf, 1e-12, 1.0))
        return out

    # -- merging ----------------------------------------------------------
    def merges(self, groups: list[_Group], height: float) -> list[_Group]:
        """Join neighbouring tall groups that are parts of one digit.

        Candidates are neighbours (by centre) that overlap by half the narrower
        one's width in the horizontal projection, or nearly touch (a gap of at
        most :data:`CLOSE` line heights).  Stacked ones (overlapping little in
        rows, a broken 5) are joined; others only when the network reads them
        better together than apart (by :data:`MERGE_MARGIN`): two tall marks
        side by side are two digits unless the evidence says otherwise (a "1"
        and a "7" drawn apart stay "17").  Without a callback, only marks whose
        columns nearly coincide are joined.
        """
        decided: dict[tuple[tuple[int, ...], tuple[int, ...]], bool] = {}
        changed = True
        while changed and len(groups) > 1:
            changed = False
            groups.sort(key=lambda g: (g.left + g.right) / 2)
            for i in range(len(groups) - 1):
                a, b = groups[i], groups[i + 1]
                ov = min(a.right, b.right) - max(a.left, b.left)
                if ov < 0.5 * min(a.width, b.width) and -ov > CLOSE * height:
                    continue
                key = (tuple(a.labels), tuple(b.labels))
                if key in decided:
                    continue
                vov = min(a.bottom, b.bottom) - max(a.top, b.top)
                joined = _Group(a.labels + b.labels, min(a.top, b.top), min(a.left, b.left),
                                max(a.bottom, b.bottom), max(a.right, b.right), a.area + b.area)
                stacked = ov >= 0.5 * min(a.width, b.width) and vov < 0.5 * min(a.height, b.height)
                if stacked and joined.width <= WIDE * height:
                    merge = True
                elif self.score is None:
                    merge = ov >= 0.9 * min(a.width, b.width)
                else:
                    regions = [self.region(g) for g in (joined, a, b)]
                    s = self.scores([r[0] if r else None for r in regions])
                    merge = s[0] + _width_prior(joined.width / height) >= (
                        s[1] + s[2] + _width_prior(a.width / height) + _width_prior(b.width / height) + MERGE_MARGIN)
                decided[key] = merge
                if merge:
                    groups[i:i + 2] = [joined]
                    changed = True
                    break
        return groups

    # -- cutting ----------------------------------------------------------
    def cuts(self, group: _Group) -> list[_Cut]:
        """Candidate cuts of a group, left to right: low points of its projection along a few slants.

        For each slant in :data:`SLANTS` the group's ink is projected along
        lines of that slant; the lowest local minima of the (lightly smoothed)
        projection away from the group's ends, at least a twentieth of its
        width apart, are kept, at most :data:`MAX_CUTS` in all.
        """
        lab = self.labels[group.top:group.bottom, group.left:group.right]
        rows, cols = np.nonzero(np.isin(lab, group.labels))
        middle = (group.height - 1) / 2.0
        w = group.width
        found: list[tuple[float, float, float]] = []          # (projection, position at the middle row, slant)
        for slant in SLANTS:
            x = np.floor(cols - slant * (rows - middle)).astype(np.int64)
            start = int(x.min())
            projection = np.bincount(x - start).astype(np.float64)
            k = max(1, w // 40)                 # a little smoothing: a 1-pixel dip between strokes is not a cut
            smooth = np.convolve(projection, np.ones(2 * k + 1) / (2 * k + 1), mode="same")
            lo, hi = max(1, int(0.15 * w)) - start, int(np.ceil(0.85 * w)) - start
            lo, hi = max(lo, 1), min(hi, smooth.size - 1)
            if hi <= lo:
                continue
            inner = smooth[lo:hi]
            minima = np.flatnonzero(np.r_[True, inner[1:] <= inner[:-1]] & np.r_[inner[:-1] <= inner[1:], True]) + lo
            found += [(float(smooth[m]), float(m + start), float(slant)) for m in minima]
        found.sort()
        chosen: list[tuple[float, float]] = []
        gap = max(2.0, w / 20)
        for _, x, slant in found:
            if all(abs(x - c) >= gap for c, _ in chosen):
                chosen.append((x, slant))
            if len(chosen) == MAX_CUTS:
                break
        return [_Cut(group.left + x, slant) for x, slant in sorted(chosen)]

    def split(self, group: _Group, height: float) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
        """The pieces of one group: itself, or its parts after the best cuts."""
        whole = self.region(group)
        if whole is None:
            return []
        height = max(float(group.height), height)
        ratio = group.width / height
        if ratio < NARROW:
            return [whole]
        cuts = self.cuts(group)
        if not cuts:
            return [whole]
        if self.score is None:
            if ratio <= WIDE:
                return [whole]
            n = max(2, int(round(group.width / (0.8 * height))))
            targets = group.left + group.width * np.arange(1, n) / n
            at = np.array([c.x for c in cuts])
            picked = sorted({int(np.argmin(np.abs(at - t))) for t in targets})
            edges: list[_Cut | None] = [None, *(cuts[i] for i in picked), None]
            parts = [self.region(group, a, b) for a, b in zip(edges[:-1], edges[1:])]
            return [part for part in parts if part is not None]
        # dynamic programme over the cuts: the best reading of the group as consecutive pieces
        edges = [None, *cuts, None]
        m = len(edges)
        spans = [(i, j) for i in range(m - 1) for j in range(i + 1, m)]
        regions = {span: self.region(group, edges[span[0]], edges[span[1]]) for span in spans}
        logp = self.scores([regions[span][0] if regions[span] else None for span in spans])
        value = {}
        for span, lp in zip(spans, logp):
            region = regions[span]
            if region is None:
                value[span] = -np.inf
                continue
            b = region[1]
            weight = WHOLE_WEIGHT if span == (0, m - 1) else 1.0
            value[span] = weight * lp + _width_prior((b[3] - b[1]) / height) - PIECE_COST
        best = np.full(m, -np.inf)
        best[0] = 0.0
        back = np.zeros(m, dtype=np.int64)
        for j in range(1, m):
            for i in range(j):
                v = best[i] + value[(i, j)]
                if v > best[j]:
                    best[j], back[j] = v, i
        if not np.isfinite(best[-1]):
            return [whole]
        chain, j = [], m - 1
        while j > 0:
            chain.append((int(back[j]), j))
            j = int(back[j])
        return [regions[span] for span in reversed(chain)]


@dataclass(frozen=True)
class _Cut:
    """A cut through a group: the line through column ``x`` at the group's middle row, leaning ``slant``
    columns to the right per row up (MNIST's digits lean right, and so do the joins between them)."""

    x: float
    slant: float

    def _at(self, group: _Group, row: np.ndarray) -> np.ndarray:
        return self.x - self.slant * (row - (group.top + (group.height - 1) / 2.0))

    def leftmost(self, group: _Group) -> int:
        return int(np.floor(min(self._at(group, np.array([group.top, group.bottom - 1])))))

    def rightmost(self, group: _Group) -> int:
        return int(np.ceil(max(self._at(group, np.array([group.top, group.bottom - 1]))))) + 1

    def right_of(self, group: _Group, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Which pixels of rows r0..r1-1, columns c0..c1-1 lie on the right of the cut, shape (r1-r0, c1-c0)."""
        line = np.floor(self._at(group, np.arange(r0, r1, dtype=np.float64)))
        return np.arange(c0, c1)[None, :] >= line[:, None]


#: The slants tried for cuts (columns per row): upright, and leaning right or left.
SLANTS = (0.0, 0.25, -0.25)

#: The log-confidence a piece costs: a reading in more pieces must be that much more confident.
PIECE_COST = 1.5
#: The weight of a whole mark's log-confidence against its pieces': the network reads fragments of a digit
#: about as confidently as digits, so a mark is cut when its whole reading is unsure more than when its
#: pieces' readings are sure (measured on numbers composed from MNIST test digits).
WHOLE_WEIGHT = 2.0


#: Pieces up to this many heights wide are as likely digits as narrower ones; wider ones less and less.
WIDE_OK = 0.8
#: How fast (log-prior per height of width) a wider piece becomes unlikely to be one digit.
WIDE_SLOPE = 3.0


def _width_prior(ratio: float) -> float:
    """log-prior of a piece ``ratio`` heights wide being one digit."""
    if ratio < 0.12:
        return -8.0
    if ratio <= WIDE_OK:
        return 0.0
    return -WIDE_SLOPE * (ratio - WIDE_OK)


def _line_groups(marks: _Marks, members: np.ndarray) -> tuple[list[_Group], float]:
    """A line's marks as groups (small marks joined to the digit they belong to), and its height."""
    h = marks.height[members]
    area = marks.area[members]
    height = float(np.median(h[h >= SHORT * h.max()]))
    tall = h >= SHORT * height
    big = tall & (area >= 0.1 * area[tall].max())
    majors = members[big]
    minors = members[~big]
    joined = _Union(len(members))
    index = {int(k): i for i, k in enumerate(members)}
    drop = set()
    if majors.size:
        for k in minors:
            ov = _overlap(marks.left[k], marks.right[k], marks.left[majors], marks.right[majors])
            vgap = -_overlap(marks.top[k], marks.bottom[k], marks.top[majors], marks.bottom[majors])
            # the best partner: the most horizontal overlap, then the smallest gap in both directions
            key = np.where(ov > 0, ov.astype(np.float64), ov - np.maximum(vgap, 0))
            best = int(np.argmax(key))
            if -key[best] <= NEAR * height:
                joined.join(index[int(majors[best])], index[int(k)])
            elif marks.height[k] < 0.3 * height or marks.area[k] < 0.2 * np.median(marks.area[majors]):
                drop.add(index[int(k)])          # a speck far from any digit
    groups = [_Group.of(marks, members[g]) for g in joined.groups() if not (len(g) == 1 and g[0] in drop)]
    return groups, height


def segment(grey: np.ndarray, *, score: Scorer | None = None, max_pieces: int = MAX_PIECES,
            name: str = "the image") -> Segmentation:
    """Find the digits in a grey picture of a written number.

    Parameters
    ----------
    grey : ndarray, shape (rows, cols)
        Grey levels 0..255, either polarity (what
        :func:`bpnn.imageprep.read_image` gives).
    score : callable, optional
        ``score(pictures) -> ndarray of shape (n,)``: for each picture (grey
        levels, dark ink on white, as :attr:`Piece.picture`), the probability
        of the class the network reads in it.  Used to choose how to cut
        touching digits and whether two overlapping marks are one digit;
        without it, width alone decides.
    max_pieces : int
        Refuse a picture holding more digits than this.
    name : str
        Names the picture in error messages.

    Returns
    -------
    Segmentation

    Raises
    ------
    ImageError
        A blank picture (the message names it).
    TooManyPiecesError
        More than :data:`MAX_MARKS` marks or ``max_pieces`` digits.
    """
    from scipy import ndimage

    try:
        ink = ink_of(grey)
    except ImageError as err:
        raise ImageError(f"{name}: {err}") from None
    smooth = ndimage.gaussian_filter(ink, 1.0) if min(ink.shape) >= 48 else ink
    threshold = float(np.clip(otsu_threshold(smooth), 0.15, 0.6))
    marks = _marks(smooth > threshold, name)
    cutter = _Cutter(ink, marks.labels, threshold, score)
    pieces: list[Piece] = []
    too_many = TooManyPiecesError(f"{name}: more than {max_pieces} digits found (at most {max_pieces} are read at "
                                  f"once): crop the image to the number, or read it in parts")
    lines = [_line_groups(marks, members) for members in _lines(marks)]
    if sum(len(groups) for groups, _ in lines) > 2 * max_pieces:      # even if every digit were in two parts
        raise too_many
    for line, (groups, height) in enumerate(lines):
        groups = cutter.merges(groups, height)
        found = []
        for group in groups:
            found.extend(cutter.split(group, height))
            if len(pieces) + len(found) > max_pieces:
                raise too_many
        found.sort(key=lambda r: (r[1][1] + r[1][3]) / 2)
        pieces.extend(Piece(box, line, cutter.picture(region)) for region, box in found)
    if not pieces:
        raise ImageError(f"{name}: no digit found: the image is blank or has almost no contrast")
    return Segmentation(pieces, (int(ink.shape[0]), int(ink.shape[1])), threshold)
