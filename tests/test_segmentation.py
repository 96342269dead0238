"""Cutting a picture of a written number into digits (:mod:`bpnn.segmentation`), and reading it whole.

Numbers are composed from MNIST test digits by ``scripts/read_numbers.py``
with this file's own seeds (the README's measurement uses another).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import bpnn
from bpnn.imageprep import ImageError
from bpnn.predictor import Predictor
from bpnn.segmentation import MAX_MARKS, MAX_PIECES, TooManyPiecesError, otsu_threshold, segment

SEED = 15


def _iou(a, b) -> float:
    top, left = max(a[0], b[0]), max(a[1], b[1])
    bottom, right = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, bottom - top) * max(0, right - left)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def _sure_number(rng, sure, n):
    """``n`` test digits the model reads surely: their indices and the number they write."""
    labels = rng.integers(0, 10, n)
    return [int(rng.choice(sure[int(d)])) for d in labels], "".join(map(str, labels))


def test_otsu_threshold_falls_between_paper_and_ink():
    rng = np.random.default_rng(SEED)
    values = np.r_[rng.normal(0.05, 0.03, 9000), rng.normal(0.85, 0.05, 1000)].clip(0, 1)
    assert 0.2 < otsu_threshold(values) < 0.75


def test_separate_digits_are_found_left_to_right_without_a_model(composer, mnist_test):
    X, y = mnist_test
    rng = np.random.default_rng(SEED)
    right = 0
    for _ in range(20):
        digits, truth = composer.draw(X, y, rng, int(rng.integers(2, 7)))
        grey, boxes = composer.compose(digits, rng, "separate", rotate=False, boxes=True)
        found = segment(grey)
        assert found.shape == grey.shape and found.lines == 1
        got = [p.box for p in found.pieces]
        if len(got) == len(boxes) and all(_iou(g, b) > 0.6 for g, b in zip(got, boxes)):
            right += 1
        for piece in found.pieces:          # each piece: its digit alone, dark on white, with a margin
            assert piece.picture.min() < 128 and piece.picture[0].min() == 255 and piece.picture[-1].min() == 255
    assert right >= 19, right


def test_broken_digits_are_one_piece(number_model, composer, mnist_test):
    """MNIST's test digits whose ink falls apart in two large parts (a 5's bar, a 4's strokes)."""
    X, y = mnist_test
    broken = []
    for i in range(3000):
        parts, n = ndimage.label(X[i] > 0.35, structure=np.ones((3, 3)))
        areas = np.sort(np.bincount(parts.ravel())[1:])
        if n >= 2 and areas[-2] >= 0.25 * areas[-1]:
            broken.append(i)
    assert len(broken) >= 10
    predictor = Predictor(bpnn.load(number_model))
    rng = np.random.default_rng(SEED + 1)
    whole = 0
    for i in broken[:12]:
        one = int(np.flatnonzero(y == 1)[0])
        grey, boxes = composer.compose([X[one], X[i], X[one]], rng, "separate", rotate=False, boxes=True)
        reading = predictor.read(grey)
        if len(reading.digits) == 3 and _iou(reading.digits[1].box, boxes[1]) > 0.6:
            whole += 1
    assert whole >= 10, whole


def test_touching_digits_are_cut(number_model, composer, mnist_test, sure_digits):
    X, _ = mnist_test
    predictor = Predictor(bpnn.load(number_model))
    rng = np.random.default_rng(SEED + 2)
    cut = exact = 0
    for _ in range(20):
        index, truth = _sure_number(rng, sure_digits, 2)
        grey = composer.compose([X[i] for i in index], rng, "touching", rotate=False)
        reading = predictor.read(grey)
        cut += len(reading.digits) == 2
        exact += reading.label == truth
    assert cut >= 12 and exact >= 10, (cut, exact)


def test_a_wide_mark_is_cut_without_a_model(composer, mnist_test):
    X, y = mnist_test
    zero, eight = int(np.flatnonzero(y == 0)[0]), int(np.flatnonzero(y == 8)[1])
    rng = np.random.default_rng(SEED + 3)
    grey, boxes = composer.compose([X[zero], X[zero], X[eight]], rng, "separate", rotate=False, boxes=True)
    # join the three digits with a stroke along their middle: one mark, three digits wide
    middle = (boxes[0][0] + boxes[0][2]) // 2
    joined = grey.copy()
    joined[middle - 1:middle + 2, boxes[0][1]:boxes[2][3]] = grey.min()
    parts, _ = ndimage.label(joined < np.median(grey) - 60, structure=np.ones((3, 3)))
    biggest = ndimage.find_objects(parts)[int(np.argmax(np.bincount(parts.ravel())[1:]))]
    assert biggest[1].stop - biggest[1].start >= boxes[2][3] - boxes[0][1] - 2      # one mark across all three
    found = segment(joined)
    assert len(found.pieces) == 3
    centres = [(p.box[1] + p.box[3]) / 2 for p in found.pieces]
    for centre, box in zip(centres, boxes):
        assert box[1] - 5 <= centre <= box[3] + 5


def test_numbers_are_read_whole(number_model, composer, mnist_test, sure_digits):
    X, _ = mnist_test
    predictor = Predictor(bpnn.load(number_model))
    rng = np.random.default_rng(SEED + 4)
    exact = 0
    for k in range(20):
        index, truth = _sure_number(rng, sure_digits, 4)
        grey = composer.compose([X[i] for i in index], rng, ("separate", "overlapping")[k % 2])
        reading = predictor.read(grey, "number.png")
        assert reading.segmented and reading.size == grey.shape
        exact += reading.label == truth
    assert exact >= 17, exact


def test_lines_are_read_top_to_bottom(number_model, composer, mnist_test, sure_digits):
    X, _ = mnist_test
    predictor = Predictor(bpnn.load(number_model))
    rng = np.random.default_rng(SEED + 5)
    top_index, top = _sure_number(rng, sure_digits, 3)
    bottom_index, bottom = _sure_number(rng, sure_digits, 2)
    lines = [composer.compose([X[i] for i in index], rng, "separate", rotate=False).astype(np.float64)
             for index in (top_index, bottom_index)]
    # the two lines on one sheet: the same paper and ink
    inks = [np.clip((np.median(a[0]) - a) / (np.median(a[0]) - a.min()), 0, 1) for a in lines]
    width = max(a.shape[1] for a in inks)
    grey = 240 - 200 * np.vstack([np.pad(a, ((0, 0), (0, width - a.shape[1]))) for a in inks])
    reading = predictor.read(grey)
    assert reading.label == f"{top} {bottom}"
    assert [d.line for d in reading.digits] == [0] * 3 + [1] * 2


def test_too_many_digits_or_marks_are_refused_with_a_message(composer, mnist_test):
    X, y = mnist_test
    rng = np.random.default_rng(SEED + 6)
    digits, _ = composer.draw(X, y, rng, MAX_PIECES + 3)
    grey = composer.compose(digits, rng, "separate", rotate=False)
    with pytest.raises(TooManyPiecesError, match=f"more than {MAX_PIECES} digits .*crop the image"):
        segment(grey, name="long.png")
    assert len(segment(grey, max_pieces=MAX_PIECES + 3).pieces) == MAX_PIECES + 3
    # confetti: hundreds of separate blobs
    dots = np.full((400, 400), 255.0)
    dots[5::12, 5::12] = 0
    dots = ndimage.grey_erosion(dots, size=(4, 4))
    with pytest.raises(TooManyPiecesError, match=f"at most {MAX_MARKS} are examined"):
        segment(dots, name="confetti.png")


def test_a_blank_picture_is_named_in_the_error(number_model):
    with pytest.raises(ImageError, match="blank.png: no digit found"):
        segment(np.full((60, 90), 230.0), name="blank.png")
    predictor = Predictor(bpnn.load(number_model))
    for single in (False, True):
        with pytest.raises(ImageError, match="^blank.png: no digit found"):
            predictor.read(np.full((60, 90), 230.0), "blank.png", single=single)


def test_single_mode_and_other_models_read_the_picture_whole(number_model, composer, mnist_test, tmp_path):
    from bpnn.cli import main

    X, y = mnist_test
    rng = np.random.default_rng(SEED + 7)
    digits, _ = composer.draw(X, y, rng, 3)
    grey = composer.compose(digits, rng, "separate", rotate=False)
    predictor = Predictor(bpnn.load(number_model))
    assert predictor.reads_numbers
    reading = predictor.read(grey, single=True)
    assert not reading.segmented and len(reading.digits) == 1 and len(reading.label) == 1
    # the 8x8 digits: not MNIST's layout, so a picture is one item
    path = tmp_path / "digits.safetensors"
    assert main(["train", "--epochs", "2", "--hidden", "16", "--quiet", "--out", str(path)]) == 0
    small = Predictor(bpnn.load(path))
    assert not small.reads_numbers
    reading = small.read(grey)
    assert not reading.segmented and len(reading.digits) == 1 and reading.digits[0].prediction.image.shape == (8, 8)
