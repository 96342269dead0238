#!/usr/bin/env python3
"""Measure how well bpnn reads whole numbers: numbers composed from MNIST *test* digits.

Every number is 2 to 6 MNIST test digits (never trained on) placed side by
side on a picture the way a person writes on paper, then read through the
same road as ``bpnn predict`` (:meth:`bpnn.predictor.Predictor.read`:
segmentation, MNIST preparation of each piece, the network).  A seeded
:class:`numpy.random.Generator` draws everything:

* each digit's height (24 to 90 pixels for the number, each digit scaled by
  a further 0.85-1.15) and its baseline (up to 10% of the height up or down);
* the spacing, by condition:

  - ``separate``: a gap of 8-50% of the height between consecutive digits' ink;
  - ``touching``: one pair placed so that its inks touch, or cross by up to
    10% of the height (one connected mark: the reader must cut it);
  - ``overlapping``: one pair whose boxes overlap by 10-35% of the narrower
    digit's width while their inks stay apart (their columns overlap in the
    horizontal projection);

* dark ink (grey 10-90) on light paper (190-250), Gaussian blur (sigma 0-1.2
  pixels) and noise (sigma 2-12 grey levels); 30% of the numbers are turned
  by up to 5 degrees either way, like a photo taken at a slight angle.

Reports, per condition and per number of digits, the share of numbers read
exactly and the digit accuracy (1 - edit distance / digits, so a digit
missed or read twice counts as one error).  Usage::

    python scripts/read_numbers.py build/models/best.safetensors
    python scripts/read_numbers.py MODEL --numbers 300 --seed 1 --save build/numbers   # also save the PNGs
    python scripts/read_numbers.py MODEL --json results.json

The MNIST files come from ``--data DIR`` or ``$BPNN_DATA_DIR`` (as for ``bpnn train``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONDITIONS = ("separate", "touching", "overlapping")
#: the measurement's seed (the tests compose their numbers with other seeds)
SEED = 2026


# --------------------------------------------------------------------------
# composing a number
# --------------------------------------------------------------------------
def _crop(digit: np.ndarray) -> np.ndarray:
    """A 28x28 MNIST digit (white ink on black, [0, 1]) cropped to its ink."""
    rows = np.flatnonzero(digit.max(axis=1) > 0.05)
    cols = np.flatnonzero(digit.max(axis=0) > 0.05)
    return digit[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _scaled(digit: np.ndarray, height: float) -> np.ndarray:
    from PIL import Image

    crop = _crop(digit)
    scale = height / 20.0                       # MNIST digits are 20 pixels tall (their longer side)
    rows, cols = max(2, round(crop.shape[0] * scale)), max(2, round(crop.shape[1] * scale))
    img = Image.fromarray(crop.astype(np.float32)).resize((cols, rows), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(img, dtype=np.float64), 0, 1)


def _closest(left: np.ndarray, top_left: int, right: np.ndarray, top_right: int) -> int:
    """The horizontal distance (pixels) between the ink of ``left`` and of ``right`` when their left edges
    coincide, over the rows they share: how far ``right`` must sit to the right of ``left``'s start for
    their inks to just touch."""
    a = left > 0.3
    b = right > 0.3
    rows_a = np.arange(a.shape[0]) + top_left
    rows_b = np.arange(b.shape[0]) + top_right
    lo, hi = max(rows_a[0], rows_b[0]), min(rows_a[-1], rows_b[-1])
    if hi < lo:
        return a.shape[1]
    a = a[lo - top_left:hi - top_left + 1]
    b = b[lo - top_right:hi - top_right + 1]
    width = a.shape[1]
    last_a = np.where(a.any(axis=1), width - 1 - np.argmax(a[:, ::-1], axis=1), -10**6)
    first_b = np.where(b.any(axis=1), np.argmax(b, axis=1), 10**6)
    # 8-connected contact: ink in a row, or in the row above or below
    last = np.maximum.reduce([last_a, np.r_[last_a[1:], -10**6], np.r_[-10**6, last_a[:-1]]])
    both = (last > -10**6) & (first_b < 10**6)
    if not both.any():
        return a.shape[1]
    return int(np.max(last[both] - first_b[both]) + 1)


def compose(digits: list[np.ndarray], rng: np.random.Generator, condition: str = "separate",
            rotate: bool | None = None, boxes: bool = False):
    """A picture of the number written with ``digits`` (28x28 MNIST images), as grey levels.

    Parameters
    ----------
    digits : list of ndarray, shape (28, 28), values in [0, 1]
        White ink on black (MNIST).
    rng : numpy.random.Generator
    condition : {"separate", "touching", "overlapping"}
        How one randomly chosen pair of neighbours is placed (the others are separate).
    rotate : bool, optional
        Turn the picture by up to 5 degrees; default: for 30% of the numbers.
    boxes : bool
        Also return each digit's box.

    Returns
    -------
    ndarray of uint8, shape (rows, cols)
        Dark ink on light paper.
    list of (top, left, bottom, right), only with ``boxes=True``
        Where each digit's ink is (before the picture was turned; None for a turned picture).
    """
    from PIL import Image, ImageFilter

    if condition not in CONDITIONS:
        raise ValueError(f"condition must be one of {CONDITIONS}, got {condition!r}")
    height = rng.uniform(24, 90)
    inks = [_scaled(d, height * rng.uniform(0.85, 1.15)) for d in digits]
    tops = [int(round(rng.uniform(-0.1, 0.1) * height + (height - ink.shape[0]) / 2)) for ink in inks]
    special = int(rng.integers(0, len(digits) - 1))     # the pair (special, special + 1)
    lefts = [0]
    for i in range(1, len(inks)):
        prev, ink = inks[i - 1], inks[i]
        if condition == "touching" and i - 1 == special:
            touch = _closest(prev, tops[i - 1], ink, tops[i])
            left = lefts[-1] + touch - int(round(rng.uniform(0.0, 0.1) * height))
        elif condition == "overlapping" and i - 1 == special:
            want = int(round(rng.uniform(0.10, 0.35) * min(prev.shape[1], ink.shape[1])))
            touch = _closest(prev, tops[i - 1], ink, tops[i])
            # as much overlap of the boxes as asked, but the inks at least 2 pixels apart
            left = lefts[-1] + max(prev.shape[1] - want, touch + 2)
        else:
            left = lefts[-1] + prev.shape[1] + int(round(rng.uniform(0.08, 0.5) * height))
        lefts.append(left)
    margin = int(round(rng.uniform(0.3, 1.0) * height)) + 2
    top0 = -min(tops) + margin
    rows = max(t + ink.shape[0] for t, ink in zip(tops, inks)) - min(tops) + 2 * margin
    cols = lefts[-1] + inks[-1].shape[1] + 2 * margin
    canvas = np.zeros((rows, cols))
    for ink, top, left in zip(inks, tops, lefts):
        r, c = top0 + top, margin + left
        region = canvas[r:r + ink.shape[0], c:c + ink.shape[1]]
        np.maximum(region, ink, out=region)
    paper, dark = rng.uniform(190, 250), rng.uniform(10, 90)
    grey = paper - (paper - dark) * canvas
    img = Image.fromarray(grey.astype(np.float32))
    turned = rotate if rotate is not None else rng.random() < 0.3
    if turned:
        img = img.convert("L").rotate(float(rng.uniform(-5, 5)), resample=Image.Resampling.BICUBIC, expand=True,
                                      fillcolor=int(paper))
    img = img.convert("L").filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 1.2))))
    noisy = np.asarray(img, dtype=np.float64) + rng.normal(0, rng.uniform(2, 12), (img.size[1], img.size[0]))
    picture = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    if not boxes:
        return picture
    where = None if turned else [(top0 + t, margin + left, top0 + t + ink.shape[0], margin + left + ink.shape[1])
                                 for ink, t, left in zip(inks, tops, lefts)]
    return picture, where


def draw(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, n_digits: int
         ) -> tuple[list[np.ndarray], str]:
    """``n_digits`` random test digits: their images and the number they write."""
    index = rng.integers(0, len(labels), n_digits)
    return [images[i] for i in index], "".join(str(int(labels[i])) for i in index)


# --------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------
def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def measure(predictor, images: np.ndarray, labels: np.ndarray, numbers: int, seed: int,
            conditions=CONDITIONS, lengths=range(2, 7), save: Path | None = None) -> dict:
    """Compose and read ``numbers`` numbers per condition and length; the results as a dict."""
    from PIL import Image

    results: dict = {}
    for c, condition in enumerate(conditions):
        rng = np.random.default_rng([seed, c])
        for n_digits in lengths:
            exact = errors = total = counted = 0
            wrong = []
            for k in range(numbers):
                digits, truth = draw(images, labels, rng, n_digits)
                grey = compose(digits, rng, condition)
                try:
                    read = predictor.read(grey, f"{condition}-{n_digits}-{k}").label
                except Exception as err:        # noqa: BLE001 - a refused picture counts as all wrong
                    read = f"<{type(err).__name__}>"
                exact += read == truth
                counted += len(read) == len(truth)
                errors += min(len(truth), edit_distance(read, truth))
                total += len(truth)
                if read != truth and len(wrong) < 8:
                    wrong.append([truth, read])
                if save is not None and k < 5:
                    save.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(grey).save(save / f"{condition}-{n_digits}-{k}-{truth}.png")
            results.setdefault(condition, {})[n_digits] = {
                "numbers": numbers, "exact": exact / numbers, "digit_accuracy": 1 - errors / total,
                "count_right": counted / numbers,
                "examples_wrong": wrong}
    return results


def table(results: dict, key: str | None = None) -> str:
    """Markdown: exact numbers (digit accuracy) per condition and length; or one ``key`` of the results."""
    lengths = sorted({n for per in results.values() for n in per})
    head = "| condition | " + " | ".join(f"{n} digits" for n in lengths) + " | all |"
    lines = [head, "|---|" + "---|" * (len(lengths) + 1)]
    for condition, per in results.items():
        if key is not None:
            cells = [f"{per[n][key]:.1%}" for n in lengths]
            mean = np.mean([per[n][key] for n in lengths])
            lines.append(f"| {condition} | " + " | ".join(cells) + f" | {mean:.1%} |")
            continue
        cells = []
        for n in lengths:
            r = per[n]
            cells.append(f"{r['exact']:.1%} ({r['digit_accuracy']:.1%})")
        exact = np.mean([per[n]["exact"] for n in lengths])
        digit = np.mean([per[n]["digit_accuracy"] for n in lengths])
        lines.append(f"| {condition} | " + " | ".join(cells) + f" | {exact:.1%} ({digit:.1%}) |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a model file written by 'bpnn train --out' (28x28 digits)")
    parser.add_argument("--data", help="a folder with the MNIST files (default: $BPNN_DATA_DIR, as bpnn train)")
    parser.add_argument("--numbers", type=int, default=200, help="numbers per condition and length [default: 200]")
    parser.add_argument("--seed", type=int, default=SEED, help=f"[default: {SEED}]")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="[default: all]")
    parser.add_argument("--lengths", default="2,3,4,5,6", help="digits per number [default: 2,3,4,5,6]")
    parser.add_argument("--save", metavar="DIR", help="save the first 5 pictures of each kind as PNG files")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON too")
    args = parser.parse_args(argv)

    import bpnn
    from bpnn.datasets import load
    from bpnn.predictor import Predictor

    predictor = Predictor(bpnn.load(args.model))
    if not predictor.reads_numbers:
        parser.error(f"{args.model} is not a model of 28x28 digits")
    if args.data:
        ds = load(args.data, validation=0, flatten=False, progress=False, test_only=True)
    else:
        ds = load("mnist", validation=0, flatten=False, progress=False, test_only=True,
                  data_dir=os.environ.get("BPNN_DATA_DIR"))
    start = time.perf_counter()
    results = measure(predictor, ds.test.X, ds.test.y, args.numbers, args.seed,
                      args.conditions.split(","), [int(n) for n in args.lengths.split(",")],
                      Path(args.save) if args.save else None)
    seconds = time.perf_counter() - start
    print(f"{args.model}: numbers composed from MNIST test digits, {args.numbers} per cell, seed {args.seed}; "
          f"exact numbers (digit accuracy); {seconds:.0f}s")
    print(table(results))
    print("\nnumbers cut into as many digits as they hold:")
    print(table(results, "count_right"))
    for condition, per in results.items():
        for n, r in per.items():
            if r["examples_wrong"]:
                print(f"  {condition} {n}: e.g. " + ", ".join(f"{t}->{r_}" for t, r_ in r["examples_wrong"][:4]))
    if args.json:
        Path(args.json).write_text(json.dumps({"model": str(args.model), "seed": args.seed,
                                               "numbers": args.numbers, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
