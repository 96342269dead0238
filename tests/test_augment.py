"""Training-time augmentation (bpnn.augment) and input dropout: what the network trains on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

import bpnn
from bpnn.augment import PRESETS, Augmentation, parse_augment, sample_grid, shift_images, warp
from bpnn.experiment import run
from bpnn.nn.layers import Dropout
from bpnn.nn.training import BatchIterator
from bpnn.settings import Settings, SettingError

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BPNN_TEST_MNIST", ROOT.parent / "shared" / "data" / "mnist")).parent
needs_mnist = pytest.mark.skipif(not (DATA / "mnist" / "t10k-images-idx3-ubyte.gz").exists(),
                                 reason=f"the MNIST files are not in {DATA / 'mnist'}")


@pytest.fixture(scope="module")
def digits28():
    """Real MNIST test digits when the files are here, else the bundled 8x8 digits scaled to 28x28."""
    if (DATA / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        ds = bpnn.datasets.load("mnist", data_dir=str(DATA), test_only=True)
        return ds.test.X[:300], ds.test.y[:300]
    ds = bpnn.datasets.load("digits", validation=None)
    X = ndimage.zoom(ds.train.X[:300].reshape(-1, 8, 8), (1, 2.5, 2.5), order=1)
    X = np.pad(X, ((0, 0), (4, 4), (4, 4))).reshape(-1, 784)
    return np.clip(X, 0, 1).astype(np.float32), ds.train.y[:300]


def _identity(k):
    return np.broadcast_to(np.eye(2), (k, 2, 2))


# -- the geometry, against independent references ------------------------------------------------------
def test_zero_strength_is_the_identity(digits28):
    X, _ = digits28
    rng = np.random.default_rng(0)
    assert Augmentation()(X, rng) is X
    assert parse_augment("none") is None and parse_augment("shift=0,rotation=0") is None
    # the resampler itself at the identity map: every pixel read exactly where it is
    out = warp(X, (28, 28), _identity(len(X)), np.zeros((len(X), 2)))
    assert out.dtype == np.float32 and np.array_equal(out, X)


@pytest.mark.parametrize("rows, cols", [(2, -3), (-5, 1), (0, 4)])
def test_a_shifted_image_shifted_back_equals_the_original_inside_the_frame(digits28, rows, cols):
    X, _ = digits28
    moved = shift_images(X, (28, 28), rows, cols)
    # against NumPy's own shift: content moves down by `rows` and right by `cols`, zeros come in
    expected = np.roll(X.reshape(-1, 28, 28), (rows, cols), axis=(1, 2))
    inside = (slice(None), slice(max(rows, 0), 28 + min(rows, 0)), slice(max(cols, 0), 28 + min(cols, 0)))
    assert np.array_equal(moved.reshape(-1, 28, 28)[inside], expected[inside])
    back = shift_images(moved, (28, 28), -rows, -cols).reshape(-1, 28, 28)
    keep = (slice(None), slice(abs(rows), 28 - abs(rows)), slice(abs(cols), 28 - abs(cols)))
    assert np.array_equal(back[keep], X.reshape(-1, 28, 28)[keep])


def test_quarter_turns_and_mirrors_match_numpy(digits28):
    X, _ = digits28
    k = len(X)
    images = X.reshape(-1, 28, 28)
    # q = c + A (p - c): A = [[0, 1], [-1, 0]] reads (r, c) from (c, 27 - r): a quarter turn anticlockwise
    quarter = warp(X, (28, 28), np.broadcast_to(np.array([[0.0, 1.0], [-1.0, 0.0]]), (k, 2, 2)), np.zeros((k, 2)))
    assert np.allclose(quarter.reshape(-1, 28, 28), np.rot90(images, k=1, axes=(1, 2)), atol=1e-6)
    mirror = Augmentation(flip=True)
    out = mirror(X.copy(), np.random.default_rng(3)).reshape(-1, 28, 28)
    flipped = np.array([np.array_equal(o, np.fliplr(i)) for o, i in zip(out, images)])
    same = np.array([np.array_equal(o, i) for o, i in zip(out, images)])
    assert (flipped | same).all() and 0.3 < flipped.mean() < 0.7


def test_bilinear_resampling_matches_scipy_affine_transform(digits28):
    X, _ = digits28
    rng = np.random.default_rng(1)
    k = 20
    angle = rng.uniform(-0.4, 0.4, k)
    A = np.stack([np.stack([np.cos(angle), -np.sin(angle)], -1), np.stack([np.sin(angle), np.cos(angle)], -1)], -2)
    A = A * rng.uniform(0.8, 1.2, (k, 1, 1))
    offset = rng.uniform(-2, 2, (k, 2))
    ours = warp(X[:k].astype(np.float64), (28, 28), A, offset).reshape(k, 28, 28)
    c = np.array([13.5, 13.5])
    for i in range(k):
        theirs = ndimage.affine_transform(X[i].reshape(28, 28).astype(np.float64), A[i], offset=c - A[i] @ c
                                          + offset[i], order=1, mode="constant", cval=0.0)
        # the frame's outermost ring differs (scipy treats the border between pixels its own way)
        assert np.allclose(ours[i][1:-1, 1:-1], theirs[1:-1, 1:-1], atol=1e-6)


@pytest.mark.parametrize("preset", [p for p in PRESETS if p != "none"])
def test_presets_keep_float32_the_unit_range_and_the_ink(digits28, preset):
    X, _ = digits28
    aug = parse_augment(preset)
    out = aug(X.copy(), np.random.default_rng(0))
    assert out.dtype == np.float32 and out.shape == X.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.array_equal(out, X)
    # the ink is moved, not lost: typically the same total (a scale of 0.9 keeps 0.81 of it, and an
    # elastic squeeze of a thin stroke loses some more to the bilinear mix)
    ratio = out.sum(axis=1) / X.sum(axis=1)
    assert np.median(ratio) == pytest.approx(1.0, abs=0.1) and ratio.min() > 0.5


def test_the_same_seed_gives_the_same_images_and_another_seed_others(digits28):
    X, _ = digits28
    aug = parse_augment("elastic")
    a = aug(X.copy(), np.random.default_rng(7))
    b = aug(X.copy(), np.random.default_rng(7))
    c = aug(X.copy(), np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_elastic_field_has_simards_strength_and_each_image_its_own():
    from bpnn.augment import PRESETS, _smooth_field

    strength = PRESETS["elastic"]["elastic"]
    field = strength * _smooth_field(np.random.default_rng(0), 400, 28, 28, 4.0)
    assert field.shape == (400, 2, 28, 28)
    # Simard's field (alpha 34, sigma 4, zero outside) from scipy's Gaussian filter, independently
    raw = np.random.default_rng(1).uniform(-1, 1, (400, 28, 28))
    simard = 34 * np.stack([ndimage.gaussian_filter(f, 4, mode="constant") for f in raw])
    centre = (slice(None), slice(10, 18), slice(10, 18))
    assert field[:, 0][centre].std() == pytest.approx(simard[centre].std(), rel=0.05)
    assert field.std() == pytest.approx(simard.std(), rel=0.05)          # fading toward the edges alike
    # an image's field does not depend on how many images share its block
    one = _smooth_field(np.random.default_rng(5), 1, 28, 28, 4.0)
    many = _smooth_field(np.random.default_rng(5), 10, 28, 28, 4.0)
    assert np.allclose(one[0], many[0], rtol=1e-12, atol=1e-12)


def test_bad_augmentations_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="unknown augmentation 'lite'.*did you mean 'light'"):
        parse_augment("lite")
    with pytest.raises(ValueError, match="unknown augmentation parameter 'rotate'.*did you mean 'rotation'"):
        parse_augment("rotate=10")
    with pytest.raises(ValueError, match="rotation must be a number from 0 to 45"):
        parse_augment("rotation=90")
    with pytest.raises(ValueError, match="shift must be a number"):
        parse_augment("shift=two")
    with pytest.raises(ValueError, match="a mirrored 2 is not a 2"):
        parse_augment("light,flip=true", digits=True)
    with pytest.raises(ValueError, match="rows of 784 values"):
        Augmentation(shift=1)(np.zeros((2, 64), np.float32), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"float32 or float64 images .*X.astype\(np.float32\) / 255"):
        Augmentation(shift=1)(np.zeros((2, 784), np.uint8), np.random.default_rng(0))
    with pytest.raises(SettingError, match="per-pixel standardisation"):
        Settings(dataset="digits", augment="light", standardize="feature").check()
    with pytest.raises(SettingError, match="flip mirrors images"):
        Settings(dataset="mnist", augment="fashion").check()
    with pytest.raises(SettingError, match="--augment: unknown augmentation"):
        Settings(augment="shift=1,wobble=2")
    assert Settings(augment="light,elastic=1").augment == "shift=2,rotation=10,scale=0.1,elastic=1"
    assert Settings(augment="Elastic").augment == "elastic"
    assert Settings(augment={"shift": 2, "flip": True}).augment == "shift=2,flip=true"   # TOML's inline table


# -- in training ----------------------------------------------------------------------------------------
def test_batches_are_augmented_in_order_whatever_the_thread_timing(digits28):
    X, y = digits28
    Y = np.eye(10, dtype=np.float32)[y]
    aug = parse_augment("light")
    order = np.random.default_rng(0).permutation(len(X))
    runs = []
    for _ in range(2):
        it = BatchIterator(X, Y, 32, aug)
        runs.append(np.concatenate([xb.copy() for _, xb, _ in it(order, np.random.default_rng(5))]))
    assert np.array_equal(runs[0], runs[1])
    # the same as augmenting the ordered rows block by block in the calling thread
    block = it.m * it.per_gather
    rng = np.random.default_rng(5)
    expected = np.concatenate([aug(X[order[s:s + block]], rng) for s in range(0, len(X), block)])
    assert np.array_equal(runs[0], expected)
    # the labels travel with their rows
    labels = np.concatenate([yb.argmax(1) for _, _, yb in BatchIterator(X, Y, 32, aug)(order, np.random.default_rng(5))])
    assert np.array_equal(labels, y[order])


def test_full_batch_augmentation_works_in_bounded_pieces(digits28, monkeypatch):
    import bpnn.nn.training as training

    X, y = digits28
    monkeypatch.setattr(training, "AUGMENT_ROWS", 64)       # 300 rows: pieces of 64
    seen = []

    def augment(xb, rng):
        seen.append(xb.shape[0])
        return parse_augment("light")(xb, rng)

    net = bpnn.Network([784, 16, 10], activation="relu", output_activation="softmax", cost="cross_entropy", seed=0)
    net.fit(X, y, epochs=2, batch_size=None, optimizer="adam", augment=augment)
    assert max(seen) == 64 and sum(seen) == 2 * len(X)
    assert np.isfinite(net.flat_params).all()


def test_an_augment_error_reaches_the_caller_and_stopping_early_leaves_no_thread(digits28):
    X, y = digits28
    net = bpnn.Network([784, 16, 10], activation="relu", output_activation="softmax", cost="cross_entropy", seed=0)
    with pytest.raises(ValueError, match="augment must return an array of shape"):
        net.fit(X, y, epochs=1, batch_size=32, optimizer="adam", augment=lambda xb, rng: xb[:, :10])
    with pytest.raises(ZeroDivisionError):
        net.fit(X, y, epochs=1, batch_size=32, optimizer="adam", augment=lambda xb, rng: 1 / 0)

    class Stop(bpnn.nn.training.Callback):
        def on_batch_end(self, net, batch, n_batches):
            if batch == 2:
                raise KeyboardInterrupt

    import threading

    with pytest.raises(KeyboardInterrupt):
        net.fit(X, y, epochs=3, batch_size=8, optimizer="adam", augment=parse_augment("light"), callbacks=[Stop()])
    assert not [t for t in threading.enumerate() if t.name == "bpnn-augment"]


def test_a_seeded_augmented_run_repeats_and_resumes_exactly(tmp_path):
    common = dict(dataset="digits", hidden="16", activation="relu", optimizer="adam", batch_size=16,
                  augment="shift=1,rotation=10,scale=0.1", input_dropout=0.1, dropout=0.2, seed=3)
    whole = run(Settings(epochs=4, **common)).network
    again = run(Settings(epochs=4, **common)).network
    assert np.array_equal(whole.flat_params, again.flat_params)
    plain = run(Settings(epochs=4, **{**common, "augment": "none"})).network
    assert not np.array_equal(whole.flat_params, plain.flat_params)
    ckpt = str(tmp_path / "c.ckpt")
    run(Settings(epochs=2, checkpoint=ckpt, **common))
    resumed = run(Settings(epochs=4, checkpoint=ckpt, **common), resume=ckpt).network
    assert np.array_equal(resumed.flat_params, whole.flat_params)


@needs_mnist
def test_an_augmented_network_learns_real_digits_and_reads_shifted_ones_better():
    data = bpnn.datasets.load("mnist", data_dir=str(DATA), validation=0)
    X, y = data.train.X[:12000], data.train.y[:12000]
    Xt, yt = data.test.X[:2000], data.test.y[:2000]
    kw = dict(layers=[784, 128, 10], activation="relu", output_activation="softmax", cost="cross_entropy",
              init="he_normal", seed=0)
    plain, augmented = bpnn.Network(**kw), bpnn.Network(**kw)
    plain.fit(X, y, epochs=4, batch_size=64, optimizer="adam", eta=2e-3)
    augmented.fit(X, y, epochs=4, batch_size=64, optimizer="adam", eta=2e-3, augment=parse_augment("light"))
    assert augmented.evaluate(Xt, yt).accuracy > 0.93
    # test digits moved by 3 pixels: the network that saw moved digits reads them far better
    moved = shift_images(Xt, (28, 28), 3, -3)
    assert augmented.evaluate(moved, yt).accuracy > plain.evaluate(moved, yt).accuracy + 0.15


# -- input dropout --------------------------------------------------------------------------------------
def test_input_dropout_drops_pixels_while_training_only_and_round_trips(tmp_path, digits28):
    X, y = digits28
    net = bpnn.Network([784, 32, 10], activation="relu", output_activation="softmax", cost="cross_entropy",
                       input_dropout=0.2, dropout=0.5, seed=0)
    assert isinstance(net.layers[0], Dropout) and net.layers[0].n_in == 784 and net.n_inputs == 784
    dropped = net.layers[0].forward(np.ones((500, 784), np.float32), training=True)
    assert np.mean(dropped == 0) == pytest.approx(0.2, abs=0.01) and set(np.unique(dropped)) == {0.0, 1.25}
    assert net.layers[0].forward(X, training=False) is X
    net.fit(X, y, epochs=2, batch_size=32, optimizer="adam")
    path = tmp_path / "m.safetensors"
    net.save(path)
    loaded = bpnn.load(path).network
    assert [type(layer).__name__ for layer in loaded.layers] == ["Dropout", "Dense", "Dropout", "Dense"]
    assert np.array_equal(loaded.predict(X), net.predict(X))
    with pytest.raises(ValueError, match="one Dropout layer may come first"):
        bpnn.Network([Dropout(0.1), Dropout(0.1), bpnn.nn.layers.Dense(4, 2)])


def test_input_dropout_gradients_are_those_of_the_masked_inputs_by_central_differences():
    """With input dropout, backpropagation's gradient is the gradient at the dropped-out inputs
    (X times the mask): compared with central differences of a twin network without the layer."""
    from bpnn.nn.gradcheck import gradient_check

    rng = np.random.default_rng(0)
    X, y = rng.random((4, 6)), np.array([0, 1, 2, 1])
    kw = dict(activation="tanh", output_activation="softmax", cost="cross_entropy", dtype="float64", seed=1)
    net = bpnn.Network([6, 5, 3], input_dropout=0.3, **kw)
    net._backprop(X, np.eye(3)[y], 1.0 / len(X))          # a training pass: draws the mask
    mask = net.layers[0]._mask
    assert mask is not None and (mask == 0).any()
    twin = bpnn.Network([6, 5, 3], **kw)
    twin.flat_params[...] = net.flat_params
    assert gradient_check(twin, X * mask, y).passed
    twin.backprop(X * mask, np.eye(3)[y])
    assert np.allclose(net.flat_grads, twin.flat_grads, rtol=1e-10, atol=1e-12)


def test_bpnn_augment_writes_a_grid_and_train_takes_the_options(tmp_path):
    out = tmp_path / "grid.png"
    done = subprocess.run([sys.executable, "-m", "bpnn", "augment", "--dataset", "digits", "--augment",
                           "shift=1,rotation=15", "--images", "3", "--variants", "4", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    from PIL import Image

    image = Image.open(out)
    assert image.width > image.height > 100
    done = subprocess.run([sys.executable, "-m", "bpnn", "train", "--augment", "shfit=1"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "did you mean 'shift'" in done.stderr
    done = subprocess.run([sys.executable, "-m", "bpnn", "train", "--dataset", "digits", "--epochs", "2", "--hidden",
                           "16", "--augment", "light", "--input-dropout", "0.1", "-q",
                           "--out", str(tmp_path / "m.safetensors")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert bpnn.load(tmp_path / "m.safetensors").network.layers[0].p == 0.1
