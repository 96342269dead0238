"""Tests of bpnn.datasets: IDX format, sources, download, preparation.

Real-data tests read the genuine files in ``../shared/data`` (skipped if that
folder is absent).  Download tests serve those files from a loopback HTTP
server on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import os
import pickle
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from bpnn.datasets import (
    FASHION_MNIST_CLASSES,
    ArrayUnpickler,
    Dataset,
    Split,
    available,
    fetch,
    load,
    one_hot,
    read_idx,
    soft_targets,
    write_idx,
)
from bpnn.datasets.download import resolve_mirrors
from bpnn.datasets.catalog import REMOTE_DATASETS
from bpnn.exceptions import DataError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MNIST_DIR = SHARED / "mnist"
FASHION_DIR = SHARED / "fashion-mnist"
needs_mnist = pytest.mark.skipif(
    not MNIST_DIR.is_dir(), reason=f"genuine MNIST files not found in {MNIST_DIR}"
)
needs_fashion = pytest.mark.skipif(
    not FASHION_DIR.is_dir(), reason=f"genuine Fashion-MNIST files not found in {FASHION_DIR}"
)

# From shared/data/README.md.
MNIST_GZ_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
IDX_NAMES = list(MNIST_GZ_SHA256)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def all_files(folder: Path) -> list[str]:
    """Every file and folder under ``folder`` (hidden staging ones included)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --------------------------------------------------------------------------
# Small synthetic data written with write_idx
# --------------------------------------------------------------------------


def make_idx_folder(
    folder: Path, n_train: int = 60, n_test: int = 20, gz: bool = True, dotted: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X_train = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    X_test = rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)
    y_train = np.arange(n_train, dtype=np.uint8) % 10
    y_test = np.arange(n_test, dtype=np.uint8) % 10
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    arrays = {
        "train-images-idx3-ubyte": X_train,
        "train-labels-idx1-ubyte": y_train,
        "t10k-images-idx3-ubyte": X_test,
        "t10k-labels-idx1-ubyte": y_test,
    }
    for base, array in arrays.items():
        name = base.replace("-idx", ".idx") if dotted else base
        write_idx(folder / (name + suffix), array)
    return X_train, y_train.astype(np.int64), X_test, y_test.astype(np.int64)


def write_raw_idx(path: Path, header: bytes, payload: bytes, gz: bool = False) -> Path:
    data = header + payload
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def idx_header(code: int, shape: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(shape)]) + b"".join(s.to_bytes(4, "big") for s in shape)


# --------------------------------------------------------------------------
# IDX format
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip_every_type(tmp_path, dtype, suffix):
    rng = np.random.default_rng(1)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    path = write_idx(tmp_path / f"a-idx3{suffix}", array)
    back = read_idx(path, ndim=3)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.flags.writeable
    np.testing.assert_array_equal(back, array)
    assert path.read_bytes()[:2] == (b"\x1f\x8b" if suffix else b"\x00\x00")
    assert all_files(tmp_path) == [path.name]  # no temporary left behind


def test_idx_header_is_big_endian(tmp_path):
    path = write_idx(tmp_path / "labels", np.array([1, 2, 3], dtype=np.int32))
    assert path.read_bytes() == idx_header(0x0C, (3,)) + b"\0\0\0\1\0\0\0\2\0\0\0\3"


def test_idx_gzip_recognised_by_magic_not_name(tmp_path):
    plain = tmp_path / "x.gz"
    write_raw_idx(plain, idx_header(0x08, (2,)), b"\x07\x09")  # raw file named .gz
    np.testing.assert_array_equal(read_idx(plain), [7, 9])
    packed = tmp_path / "y"
    write_raw_idx(packed, idx_header(0x08, (2,)), b"\x07\x09", gz=True)  # gzip without .gz
    np.testing.assert_array_equal(read_idx(packed), [7, 9])


def test_write_idx_refuses_int64(tmp_path):
    with pytest.raises(DataError, match="no IDX type code"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))
    assert all_files(tmp_path) == []


@pytest.mark.parametrize(
    "header, payload, gz, message",
    [
        (b"\x08\x03\x00\x00" + bytes(12), bytes(8), False, "wrong magic number"),
        (b"\x00\x00\x42\x01\x00\x00\x00\x02", bytes(2), False, "unknown IDX type code 0x42"),
        (idx_header(0x08, (4, 2, 2)), bytes(10), False, "truncated payload"),
        (idx_header(0x08, (4, 2, 2)), bytes(10), True, "truncated payload"),
        (idx_header(0x08, (2, 2, 2)), bytes(9), False, "unexpected bytes after the payload"),
        (b"\x00\x00\x08\x03\x00\x00", b"", False, "inside the header"),
        (b"\x00\x00", b"", False, "too short for an IDX header"),
        (b"\x00\x00\x08\x00", b"", False, "0 dimensions"),
    ],
    ids=["bad-magic", "bad-type", "truncated", "truncated-gz-payload", "trailing",
         "short-header", "tiny", "ndim0"],
)
def test_idx_corruptions_rejected(tmp_path, header, payload, gz, message):
    path = write_raw_idx(tmp_path / "broken-idx3-ubyte", header, payload, gz=gz)
    with pytest.raises(DataError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_header_larger_than_payload(tmp_path):
    """A header claiming 70,000 images over a 60-image payload is refused."""
    good = write_idx(tmp_path / "ok-idx3-ubyte", np.zeros((60, 28, 28), np.uint8))
    data = bytearray(good.read_bytes())
    data[4:8] = (70000).to_bytes(4, "big")
    bad = tmp_path / "bad-idx3-ubyte"
    bad.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"truncated payload.*\(70000, 28, 28\)"):
        read_idx(bad)


def test_idx_wrong_dimension_count(tmp_path):
    labels = write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(DataError, match="has 1 dimensions where an image file"):
        read_idx(labels, ndim=3)
    images = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((5, 2, 2), np.uint8))
    with pytest.raises(DataError, match="has 3 dimensions where a label file"):
        read_idx(images, ndim=1)


def test_idx_truncated_gzip_stream(tmp_path):
    good = write_idx(tmp_path / "good-idx3-ubyte.gz", np.arange(4000, dtype=np.uint8).reshape(10, 20, 20))
    cut = tmp_path / "cut-idx3-ubyte.gz"
    cut.write_bytes(good.read_bytes()[:-50])
    with pytest.raises(DataError, match="truncated gzip stream") as info:
        read_idx(cut)
    assert str(cut) in str(info.value)


def test_idx_corrupt_gzip_stream(tmp_path):
    good = write_idx(tmp_path / "good-idx3-ubyte.gz", np.arange(4000, dtype=np.uint8).reshape(10, 20, 20))
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad-idx3-ubyte.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt gzip stream|truncated gzip"):
        read_idx(bad)


def test_idx_named_gz_but_garbage(tmp_path):
    bad = tmp_path / "train-images-idx3-ubyte.gz"
    bad.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DataError, match="neither gzip-compressed"):
        read_idx(bad)


def test_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_idx(tmp_path / "nope")


# --------------------------------------------------------------------------
# IDX folders
# --------------------------------------------------------------------------


@pytest.mark.parametrize("gz, dotted", [(True, False), (False, False), (True, True), (False, True)])
def test_idx_folder_load(tmp_path, gz, dotted):
    X_train, y_train, X_test, y_test = make_idx_folder(tmp_path / "data", gz=gz, dotted=dotted)
    ds = load(tmp_path / "data", validation=None)
    assert ds.train.X.shape == (60, 784) and ds.train.X.dtype == np.float32
    np.testing.assert_array_equal(ds.train.X, X_train.reshape(60, 784).astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(ds.train.y, y_train)
    np.testing.assert_array_equal(ds.test.y, y_test)
    assert ds.train.y.dtype == np.int64
    assert ds.classes == [str(i) for i in range(10)]
    assert ds.image_shape == (28, 28) and ds.n_features == 784 and ds.n_classes == 10


def test_idx_folder_missing_file(tmp_path):
    make_idx_folder(tmp_path / "data")
    (tmp_path / "data" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing IDX file.*t10k-labels-idx1-ubyte"):
        load(tmp_path / "data", validation=None)


def test_idx_folder_count_mismatch(tmp_path):
    folder = tmp_path / "data"
    make_idx_folder(folder)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(59, np.uint8))
    with pytest.raises(DataError, match="holds 60 images but .*train-labels.* holds 59 labels"):
        load(folder, validation=None)


def test_idx_folder_swapped_files(tmp_path):
    folder = tmp_path / "data"
    make_idx_folder(folder)
    images = folder / "train-images-idx3-ubyte.gz"
    labels = folder / "train-labels-idx1-ubyte.gz"
    tmp = folder / "swap"
    images.rename(tmp)
    labels.rename(images)
    tmp.rename(labels)
    with pytest.raises(DataError, match="dimensions where an image file"):
        load(folder, validation=None)


def test_idx_folder_named_fashion_gets_fashion_names(tmp_path):
    make_idx_folder(tmp_path / "fashion_mnist")
    ds = load(tmp_path / "fashion_mnist", validation=10)
    assert ds.classes == list(FASHION_MNIST_CLASSES)
    assert len(ds.train) == 50 and len(ds.validation) == 10


def test_flatten_false_and_float64(tmp_path):
    X_train, *_ = make_idx_folder(tmp_path / "data")
    ds = load(tmp_path / "data", validation=10, flatten=False, dtype="float64")
    assert ds.train.X.shape == (50, 28, 28) and ds.validation.X.shape == (10, 28, 28)
    assert ds.train.X.dtype == ds.test.X.dtype == np.float64
    np.testing.assert_array_equal(ds.validation.X, X_train[50:] / 255.0)
    assert ds.n_features == 784


# --------------------------------------------------------------------------
# Genuine MNIST / Fashion-MNIST
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_full() -> Dataset:
    if not MNIST_DIR.is_dir():
        pytest.skip(f"genuine MNIST files not found in {MNIST_DIR}")
    return load("mnist", data_dir=SHARED, download=False, validation=None, standardize=True)


@pytest.fixture(scope="module")
def mnist_default() -> Dataset:
    if not MNIST_DIR.is_dir():
        pytest.skip(f"genuine MNIST files not found in {MNIST_DIR}")
    return load("mnist", data_dir=SHARED, download=False)


@needs_mnist
def test_mnist_read_idx_shapes():
    images = read_idx(MNIST_DIR / "train-images-idx3-ubyte.gz", ndim=3)
    labels = read_idx(MNIST_DIR / "train-labels-idx1-ubyte.gz", ndim=1)
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz").shape == (10000, 28, 28)


def test_mnist_counts_and_statistics(mnist_full):
    ds = mnist_full
    assert ds.name == "mnist" and ds.validation is None
    assert ds.train.X.shape == (60000, 784) and ds.test.X.shape == (10000, 784)
    assert ds.train.X.dtype == np.float32 and ds.train.y.dtype == np.int64
    assert np.bincount(ds.train.y).tolist() == MNIST_TRAIN_COUNTS
    assert ds.mean == pytest.approx(33.318 / 255, abs=1e-4)
    assert ds.mean == pytest.approx(0.130659, abs=1e-4)
    assert ds.std == pytest.approx(78.567 / 255, abs=1e-4)
    # standardised with the training statistics: mean 0, std 1 on train only
    assert float(ds.train.X.mean(dtype=np.float64)) == pytest.approx(0.0, abs=1e-5)
    assert float(ds.train.X.std(dtype=np.float64)) == pytest.approx(1.0, abs=1e-4)
    assert float(ds.test.X.mean(dtype=np.float64)) != pytest.approx(0.0, abs=1e-4)
    assert ds.classes == [str(d) for d in range(10)]


def test_mnist_default_split(mnist_default):
    ds = mnist_default
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (50000, 10000, 10000)
    assert ds.image_shape == (28, 28) and ds.n_features == 784 and ds.n_classes == 10
    assert ds.mean is None and ds.std is None
    labels = read_idx(MNIST_DIR / "train-labels-idx1-ubyte.gz").astype(np.int64)
    np.testing.assert_array_equal(ds.validation.y, labels[50000:])  # the last 10,000
    np.testing.assert_array_equal(ds.train.y, labels[:50000])
    for split in (ds.train, ds.validation, ds.test):
        assert split.X.dtype == np.float32
        assert float(split.X.min()) == 0.0 and float(split.X.max()) == 1.0


@needs_mnist
def test_mnist_classes_filter():
    ds = load("mnist", data_dir=SHARED, download=False, classes=[3, 8])
    assert ds.classes == ["3", "8"] and ds.n_classes == 2 and ds.original_labels == [3, 8]
    assert set(np.unique(ds.train.y)) == {0, 1}
    assert len(ds.train) + len(ds.validation) == 6131 + 5851
    assert np.bincount(ds.test.y).tolist() == [1010, 974]
    labels = read_idx(MNIST_DIR / "train-labels-idx1-ubyte.gz").astype(np.int64)
    last = labels[50000:]
    np.testing.assert_array_equal(ds.validation.y, (last[np.isin(last, [3, 8])] == 8).astype(int))


@needs_fashion
def test_fashion_mnist():
    ds = load("fashion-mnist", data_dir=SHARED, download=False, validation=None)
    assert ds.name == "fashion-mnist"
    assert ds.train.X.shape == (60000, 784) and ds.test.X.shape == (10000, 784)
    assert ds.classes == [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]
    assert np.bincount(ds.train.y).tolist() == [6000] * 10
    assert np.bincount(ds.test.y).tolist() == [1000] * 10


@needs_mnist
def test_fetch_uses_valid_local_copy_without_network(tmp_path):
    # The shared folder is read-only: a download attempt would fail loudly.
    files = fetch("mnist", data_dir=SHARED, mirrors=[f"http://127.0.0.1:{closed_port()}/"])
    assert {p.name for p in files.values()} == set(IDX_NAMES)
    assert all(p.parent == MNIST_DIR for p in files.values())


# --------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------


def test_digits_default():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    ds = load("digits")
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (1077, 270, 450)
    assert ds.image_shape == (8, 8) and ds.n_features == 64 and ds.n_classes == 10
    assert ds.train.X.dtype == np.float32 and ds.train.X.shape == (1077, 64)
    assert float(ds.train.X.min()) == 0.0 and float(ds.train.X.max()) == 1.0
    X, y = load_digits(return_X_y=True)
    _, X_test, _, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    np.testing.assert_array_equal(ds.test.y, y_test)
    np.testing.assert_allclose(ds.test.X, (X_test / 16).astype(np.float32))
    # the 20 % validation fraction is stratified: about 27 of each class
    assert np.all(np.abs(np.bincount(ds.validation.y) - 27) <= 1)


def test_digits_validation_options():
    assert load("digits", validation=None).validation is None
    assert len(load("digits", validation=None).train) == 1347
    assert load("digits", validation=0).validation is None
    ds = load("digits", validation=100)
    assert (len(ds.train), len(ds.validation)) == (1247, 100)
    with pytest.raises(DataError, match="only 1347 images"):
        load("digits", validation=10000)
    with pytest.raises(DataError, match="fraction in \\(0, 1\\)"):
        load("digits", validation=1.5)
    with pytest.raises(DataError, match="validation=-3"):
        load("digits", validation=-3)
    with pytest.raises(DataError):
        load("digits", validation=True)
    with pytest.raises(DataError, match="'sometimes'"):
        load("digits", validation="sometimes")


def test_digits_fraction_seed():
    a = load("digits", validation=0.5, seed=1)
    b = load("digits", validation=0.5, seed=1)
    c = load("digits", validation=0.5, seed=2)
    np.testing.assert_array_equal(a.validation.X, b.validation.X)
    assert not np.array_equal(a.validation.X, c.validation.X)
    np.testing.assert_array_equal(a.test.X, c.test.X)  # the test set never moves


def test_dtype_is_never_silently_changed():
    assert load("digits", dtype="float64").train.X.dtype == np.float64
    assert load("digits", dtype=np.float32).validation.X.dtype == np.float32
    for bad in ("int32", "float16", "nonsense"):
        with pytest.raises(DataError, match="dtype"):
            load("digits", dtype=bad)


def test_standardize_uses_training_statistics_only():
    plain = load("digits", validation=None)
    ds = load("digits", validation=None, standardize=True, dtype="float64")
    assert ds.mean == pytest.approx(float(plain.train.X.mean(dtype=np.float64)), rel=1e-6)
    assert ds.std == pytest.approx(float(plain.train.X.std(dtype=np.float64)), rel=1e-6)
    np.testing.assert_allclose(ds.test.X, (plain.test.X.astype(np.float64) - ds.mean) / ds.std, atol=1e-6)
    feat = load("digits", validation=None, standardize="feature")
    assert feat.mean.shape == (64,) and feat.std.shape == (64,)
    np.testing.assert_allclose(feat.train.X.mean(axis=0), 0.0, atol=1e-5)
    assert np.all(feat.std > 0)  # constant pixels get std 1, no division by zero
    with pytest.raises(DataError, match="standardize"):
        load("digits", standardize="minmax")


def test_classes_by_name_and_errors():
    ds = load("digits", classes=["7", 1], validation=None)
    assert ds.classes == ["7", "1"] and ds.original_labels == [7, 1]
    assert set(np.unique(ds.train.y)) == {0, 1}
    assert np.sum(ds.train.y == 0) == np.sum(load("digits", validation=None).train.y == 7)
    for bad, message in (([3, 3], "twice"), ([12], "does not exist"), (["cat"], "unknown class"),
                         ([], "keeps nothing"), ("38", "pass a list")):
        with pytest.raises(DataError, match=message):
            load("digits", classes=bad)


def test_available_and_unknown_name(tmp_path):
    assert available() == ["mnist", "fashion-mnist", "digits"]
    with pytest.raises(DataError, match="neither a known data set"):
        load("cifar-10")
    odd = tmp_path / "data.csv"
    odd.write_text("1,2,3")
    with pytest.raises(DataError, match="unrecognised data file"):
        load(odd)


def test_split_container():
    split = Split(np.zeros((3, 4), np.float32), np.zeros(3, np.int64))
    assert len(split) == 3
    assert repr(split) == "Split(X=float32[3, 4], y=int64[3])"
    with pytest.raises(ValueError):
        Split(np.zeros((3, 4)), np.zeros(2, np.int64))


# --------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------


def test_one_hot_and_soft_targets():
    y = np.array([2, 0, 1])
    t = one_hot(y, 3)
    assert t.dtype == np.float32 and t.shape == (3, 3)
    np.testing.assert_array_equal(t, np.eye(3)[[2, 0, 1]])
    assert one_hot(y, 4, dtype="float64").dtype == np.float64
    s = soft_targets(y, 3)
    np.testing.assert_allclose(s, np.where(np.eye(3)[[2, 0, 1]] == 1, 0.9, 0.1))
    s2 = soft_targets(y, 3, low=0.0, high=0.8, dtype="float64")
    assert s2.dtype == np.float64 and s2.max() == 0.8 and s2.min() == 0.0
    with pytest.raises(DataError, match="0..2"):
        one_hot(np.array([3]), 3)
    with pytest.raises(DataError, match="integer"):
        soft_targets(np.array([0.5]), 3)


# --------------------------------------------------------------------------
# npz and pickle
# --------------------------------------------------------------------------


def make_npz(path: Path, **override) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    arrays = {
        "x_train": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(30) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "y_test": (np.arange(10) % 10).astype(np.uint8),
    }
    arrays.update(override)
    np.savez_compressed(path, **arrays)
    return arrays


def test_npz_load(tmp_path):
    arrays = make_npz(tmp_path / "mnist.npz")
    ds = load(tmp_path / "mnist.npz", validation=5)
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (25, 5, 10)
    np.testing.assert_array_equal(ds.test.X, arrays["x_test"].reshape(10, 784) / np.float32(255))
    np.testing.assert_array_equal(ds.validation.y, arrays["y_train"][25:])
    assert ds.image_shape == (28, 28) and ds.classes == [str(i) for i in range(10)]


def test_npz_object_arrays_refused(tmp_path):
    objects = np.array([{"x": 1}, None], dtype=object)
    make_npz(tmp_path / "evil.npz", y_train=objects)
    with pytest.raises(DataError, match="allow_pickle=False") as info:
        load(tmp_path / "evil.npz", validation=None)
    assert "evil.npz" in str(info.value)


def test_npz_missing_key_and_damage(tmp_path):
    path = tmp_path / "partial.npz"
    np.savez(path, x_train=np.zeros((2, 28, 28), np.uint8), y_train=np.zeros(2, np.uint8))
    with pytest.raises(DataError, match="missing array\\(s\\) x_test, y_test"):
        load(path)
    make_npz(tmp_path / "cut.npz")
    data = (tmp_path / "cut.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.npz"):
        load(tmp_path / "cut.npz", validation=None)
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(DataError, match="no zip signature"):
        load(tmp_path / "text.npz")
    make_npz(tmp_path / "mismatch.npz", y_test=np.zeros(9, np.uint8))
    with pytest.raises(DataError, match="x_test holds 10 inputs but y_test holds 9"):
        load(tmp_path / "mismatch.npz", validation=None)


def classic_pickle_parts():
    rng = np.random.default_rng(4)

    def part(n):
        X = rng.random((n, 784), dtype=np.float32)
        y = (np.arange(n) % 10).astype(np.int64)
        return X, y

    return part(50), part(10), part(10)


def test_classic_pickle(tmp_path):
    parts = classic_pickle_parts()
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(parts, protocol=2)))
    ds = load(path, validation=10)  # the file's own validation part, exactly
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (50, 10, 10)
    np.testing.assert_array_equal(ds.train.X, parts[0][0])
    np.testing.assert_array_equal(ds.validation.X, parts[1][0])
    np.testing.assert_array_equal(ds.test.y, parts[2][1])
    assert ds.image_shape == (28, 28) and ds.scale == 1.0


def test_classic_pickle_python2_module_names(tmp_path):
    """The 2009 file names numpy.core.multiarray (NumPy 1) and is read with latin1."""
    data = pickle.dumps(classic_pickle_parts(), protocol=2)
    data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray\n_reconstruct" in data
    path = tmp_path / "mnist.pkl"
    path.write_bytes(data)
    ds = load(path, validation=None)
    assert len(ds.train) == 60


def test_protocol5_pickle(tmp_path):
    path = tmp_path / "modern.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(classic_pickle_parts(), protocol=5)))
    assert len(load(path, validation=None).test) == 10


class _RunsCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize("compress", [True, False])
def test_malicious_pickle_refused(tmp_path, compress):
    sentinel = tmp_path / "pwned"
    evil = (_RunsCommand(f"touch {sentinel}"), None, None)
    data = pickle.dumps(evil, protocol=2)
    path = tmp_path / ("mnist.pkl.gz" if compress else "mnist.pkl")
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(DataError, match=r"refused to unpickle (posix|nt)\.system") as info:
        load(path)
    assert str(path) in str(info.value)
    assert not sentinel.exists()


def test_array_unpickler_refuses_other_globals():
    for payload in (pickle.dumps(print), pickle.dumps(Path("x")), pickle.dumps(io.BytesIO)):
        with pytest.raises(DataError, match="refused to unpickle"):
            ArrayUnpickler(io.BytesIO(payload), source="t.pkl").load()
    ok = ArrayUnpickler(io.BytesIO(pickle.dumps(np.arange(3), protocol=2))).load()
    np.testing.assert_array_equal(ok, [0, 1, 2])


def test_pickle_wrong_structure_and_truncation(tmp_path):
    path = tmp_path / "odd.pkl"
    path.write_bytes(pickle.dumps((np.zeros(3),), protocol=2))
    with pytest.raises(DataError, match="tuple of three"):
        load(path)
    cut = tmp_path / "cut.pkl.gz"
    cut.write_bytes(gzip.compress(pickle.dumps(classic_pickle_parts(), protocol=2))[:-100])
    with pytest.raises(DataError, match="truncated gzip"):
        load(cut)
    bad_range = tmp_path / "range.pkl"
    parts = classic_pickle_parts()
    parts = ((parts[0][0] * 255, parts[0][1]), parts[1], parts[2])
    bad_range.write_bytes(pickle.dumps(parts, protocol=2))
    with pytest.raises(DataError, match=r"must lie in \[0, 1\]"):
        load(bad_range)


# --------------------------------------------------------------------------
# Download from a loopback server
# --------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Serve mnist/, fashion-mnist/ and corrupt/ on 127.0.0.1; yield the base URL."""
    if not MNIST_DIR.is_dir() or not FASHION_DIR.is_dir():
        pytest.skip(f"genuine data files not found in {SHARED}")
    root = tmp_path_factory.mktemp("served")
    (root / "mnist").symlink_to(MNIST_DIR, target_is_directory=True)
    (root / "fashion-mnist").symlink_to(FASHION_DIR, target_is_directory=True)
    corrupt = root / "corrupt"
    corrupt.mkdir()
    for name in IDX_NAMES:
        (corrupt / name).symlink_to(MNIST_DIR / name)
    labels = bytearray((MNIST_DIR / "train-labels-idx1-ubyte.gz").read_bytes())
    labels[len(labels) // 2] ^= 0x55
    (corrupt / "train-labels-idx1-ubyte.gz").unlink()
    (corrupt / "train-labels-idx1-ubyte.gz").write_bytes(bytes(labels))
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path):
    """No test may read or fill the real user cache or honour the caller's mirrors."""
    monkeypatch.setenv("BPNN_DATA_DIR", str(tmp_path / "default-cache"))
    monkeypatch.delenv("BPNN_MIRRORS", raising=False)
    monkeypatch.delenv("BPNN_FASHION_MNIST_DIR", raising=False)
    monkeypatch.delenv("BPNN_MNIST_DIR", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def copy_valid(cache: Path, names) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(MNIST_DIR / name, cache / name)


def test_download_round_trip(tmp_path, server):
    files = fetch("mnist", data_dir=tmp_path, mirrors=[f"{server}/mnist/"], progress=False)
    cache = tmp_path / "mnist"
    assert all_files(cache) == sorted(IDX_NAMES)  # nothing else: no temporary, no staging
    for path in files.values():
        assert path.parent == cache and sha256(path) == MNIST_GZ_SHA256[path.name]
    # A second call uses the cache: the mirror is now unreachable.
    ds = load("mnist", data_dir=tmp_path, mirrors=f"http://127.0.0.1:{closed_port()}/")
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (50000, 10000, 10000)


def test_download_fashion_with_progress_bar(tmp_path, server, capfd):
    """Debian-recompressed files pass through their decompressed-payload hash."""
    files = fetch("fashion-mnist", data_dir=tmp_path, mirrors=[f"{server}/fashion-mnist/"])
    assert all_files(tmp_path / "fashion-mnist") == sorted(IDX_NAMES)
    assert all(sha256(p) == sha256(FASHION_DIR / p.name) for p in files.values())
    err = capfd.readouterr().err
    assert "bpnn: downloading" in err and "100%" in err  # tqdm's bar


def test_download_first_mirror_404(tmp_path, server):
    mirrors = [f"{server}/missing/", f"{server}/mnist/"]
    files = fetch("mnist", data_dir=tmp_path, mirrors=mirrors, progress=False)
    assert all(sha256(p) == MNIST_GZ_SHA256[p.name] for p in files.values())
    assert all_files(tmp_path / "mnist") == sorted(IDX_NAMES)


def test_download_corrupted_file_rejected(tmp_path, server):
    cache = tmp_path / "mnist"
    present = [n for n in IDX_NAMES if n != "train-labels-idx1-ubyte.gz"]
    copy_valid(cache, present)
    with pytest.raises(DataError) as info:
        fetch("mnist", data_dir=tmp_path, mirrors=[f"{server}/corrupt/"], progress=False)
    message = str(info.value)
    assert "train-labels-idx1-ubyte.gz" in message and "checksum mismatch" in message
    assert MNIST_GZ_SHA256["train-labels-idx1-ubyte.gz"] in message
    assert all_files(cache) == sorted(present)  # the bad file was not kept, nor any temp
    # With a good mirror after the bad one, the file is fetched and verified.
    fetch("mnist", data_dir=tmp_path, mirrors=[f"{server}/corrupt/", f"{server}/mnist/"],
          progress=False)
    assert sha256(cache / "train-labels-idx1-ubyte.gz") == MNIST_GZ_SHA256["train-labels-idx1-ubyte.gz"]


def test_invalid_cached_file_is_replaced(tmp_path, server):
    cache = tmp_path / "mnist"
    copy_valid(cache, IDX_NAMES)
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(b"damaged")
    fetch("mnist", data_dir=tmp_path, mirrors=[f"{server}/mnist/"], progress=False)
    assert sha256(cache / "t10k-labels-idx1-ubyte.gz") == MNIST_GZ_SHA256["t10k-labels-idx1-ubyte.gz"]
    assert all_files(cache) == sorted(IDX_NAMES)


def test_offline_error_explains_local_files(tmp_path):
    dead = f"http://127.0.0.1:{closed_port()}/"
    with pytest.raises(DataError) as info:
        load("mnist", data_dir=tmp_path, mirrors=[dead], progress=False)
    message = str(info.value)
    assert "could not download mnist file" in message
    assert dead in message and "connection failed" in message
    assert "BPNN_DATA_DIR" in message and "bpnn.datasets.load('/path/to/folder')" in message
    assert str(tmp_path / "mnist") in message
    assert all_files(tmp_path / "mnist") == []


@needs_mnist
def test_four_files_directly_in_data_dir(tmp_path):
    copy_valid(tmp_path, IDX_NAMES)
    files = fetch("mnist", data_dir=tmp_path, download=False)
    assert all(p.parent == tmp_path for p in files.values())
    # The checksums decide: these are not Fashion-MNIST's files.
    with pytest.raises(DataError, match="no valid local copy"):
        fetch("fashion-mnist", data_dir=tmp_path, download=False)


def test_options_checked_before_any_download(tmp_path):
    dead = [f"http://127.0.0.1:{closed_port()}/"]
    for bad in ({"validation": "x"}, {"validation": 2.0}, {"validation": -1},
                {"dtype": "uint8"}, {"standardize": "zscore"}):
        with pytest.raises(DataError, match=next(iter(bad))):
            load("mnist", data_dir=tmp_path, mirrors=dead, progress=False, **bad)
    assert all_files(tmp_path) == []


def test_folder_named_digits_is_not_the_builtin(tmp_path, monkeypatch):
    make_idx_folder(tmp_path / "digits", n_train=40)
    monkeypatch.chdir(tmp_path)
    assert load(Path("digits"), validation=None).image_shape == (28, 28)
    assert load("./digits", validation=None).image_shape == (28, 28)
    with pytest.raises(DataError, match="only 40 images"):
        load("./digits")  # "auto" is 10000 for any source but the built-in digits
    assert load("digits").image_shape == (8, 8)


def test_download_false_never_touches_network(tmp_path):
    with pytest.raises(DataError, match="download=False"):
        load("fashion-mnist", data_dir=tmp_path, download=False)


def test_env_mirrors_and_data_dir(tmp_path, server, monkeypatch):
    dead = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("BPNN_MIRRORS", f"{dead}/{{name}}/ , {server}/{{name}}")
    monkeypatch.setenv("BPNN_DATA_DIR", str(tmp_path / "env-cache"))
    files = fetch("mnist", progress=False)
    assert all(p.parent == tmp_path / "env-cache" / "mnist" for p in files.values())
    assert resolve_mirrors(REMOTE_DATASETS["mnist"]) == [f"{dead}/mnist/", f"{server}/mnist/"]
    # The argument wins over the environment variable.
    assert resolve_mirrors(REMOTE_DATASETS["mnist"], "http://a/x") == ["http://a/x/"]


def test_default_mirrors():
    assert resolve_mirrors(REMOTE_DATASETS["mnist"]) == [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    assert resolve_mirrors(REMOTE_DATASETS["fashion-mnist"])[0] == (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    )


@needs_fashion
def test_system_fashion_mnist_dir_used_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv("BPNN_FASHION_MNIST_DIR", str(FASHION_DIR))
    dead = [f"http://127.0.0.1:{closed_port()}/"]
    files = fetch("fashion-mnist", data_dir=tmp_path, mirrors=dead, progress=False)
    assert all(p.parent == FASHION_DIR for p in files.values())
    assert not (tmp_path / "fashion-mnist").exists()
    # A system folder with a damaged file is not trusted.
    fake = tmp_path / "system"
    fake.mkdir()
    for name in IDX_NAMES:
        (fake / name).symlink_to(FASHION_DIR / name)
    (fake / "t10k-labels-idx1-ubyte.gz").unlink()
    (fake / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\0\0\x08\x01\0\0\0\0"))
    monkeypatch.setenv("BPNN_FASHION_MNIST_DIR", str(fake))
    with pytest.raises(DataError, match="could not download fashion-mnist"):
        fetch("fashion-mnist", data_dir=tmp_path / "c", mirrors=dead, progress=False)


def test_debian_path_is_the_default_system_dir():
    assert REMOTE_DATASETS["fashion-mnist"].system_dirs == ("/usr/share/datasets/fashion-mnist",)
