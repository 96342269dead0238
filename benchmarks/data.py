"""Load MNIST-format IDX files without any framework: gzip + NumPy.

The images are decompressed straight into one uint8 array and scaled once
into one float32 array (values in [0, 1], shape ``(n, 784)``), so the peak
while loading is 1.25x the float32 size.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

#: tried in order when --data is not given
DEFAULT_FOLDERS = ("/work/shared/data/fashion-mnist",)


def _read_exact(f, n: int, dtype=np.uint8) -> np.ndarray:
    out = np.empty(n, dtype)
    view = memoryview(out).cast("B")
    got = 0
    while got < n:
        k = f.readinto(view[got:])
        if not k:
            raise ValueError(f"{f.name}: file ends after {got} of {n} bytes")
        got += k
    return out


def _open(folder: Path, stem: str):
    for name in (stem + ".gz", stem):
        path = folder / name
        if path.exists():
            return gzip.open(path, "rb") if name.endswith(".gz") else open(path, "rb")
    raise FileNotFoundError(f"{folder}: no {stem}[.gz]")


def read_images(folder: Path, prefix: str, limit: int | None = None) -> np.ndarray:
    with _open(folder, f"{prefix}-images-idx3-ubyte") as f:
        magic, n, rows, cols = np.frombuffer(f.read(16), ">u4")
        if magic != 2051:
            raise ValueError(f"{folder}/{prefix} images: bad magic {magic}")
        n = int(n if limit is None else min(n, limit))
        d = int(rows * cols)
        raw = _read_exact(f, n * d).reshape(n, d)
    X = np.empty((n, d), np.float32)
    np.multiply(raw, np.float32(1.0 / 255.0), out=X)
    return X


def read_labels(folder: Path, prefix: str, limit: int | None = None) -> np.ndarray:
    with _open(folder, f"{prefix}-labels-idx1-ubyte") as f:
        magic, n = np.frombuffer(f.read(8), ">u4")
        if magic != 2049:
            raise ValueError(f"{folder}/{prefix} labels: bad magic {magic}")
        n = int(n if limit is None else min(n, limit))
        return _read_exact(f, n).astype(np.int64)


def find_folder(data: str | None) -> Path | None:
    candidates = [data] if data else [os.environ.get("BPNN_BENCH_DATA"), *DEFAULT_FOLDERS]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    return None


def load(data: str | None, n_train: int | None = None, n_test: int | None = None):
    """``(X_train, y_train, X_test, y_test, source)``.

    ``data`` is a folder with the four IDX files; without it the folders in
    ``$BPNN_BENCH_DATA`` and :data:`DEFAULT_FOLDERS` are tried, then
    ``bpnn.datasets.load("fashion-mnist")`` (cached download).  ``data="synthetic"``
    gives random data of the same shape (for a smoke test without files).
    """
    if data == "synthetic":
        rng = np.random.default_rng(0)
        n_train, n_test = n_train or 60000, n_test or 10000
        X = rng.random((n_train + n_test, 784), dtype=np.float32)
        y = rng.integers(0, 10, n_train + n_test)
        return X[:n_train], y[:n_train], X[n_train:], y[n_train:], "synthetic (random pixels)"
    folder = find_folder(data)
    if folder is not None:
        return (read_images(folder, "train", n_train), read_labels(folder, "train", n_train),
                read_images(folder, "t10k", n_test), read_labels(folder, "t10k", n_test), str(folder))
    if data:
        raise FileNotFoundError(f"--data {data}: not a folder with the four IDX files")
    import bpnn.datasets

    ds = bpnn.datasets.load("fashion-mnist", validation=0, progress=False)
    X, y, Xt, yt = ds.train.X, ds.train.y, ds.test.X, ds.test.y
    return (np.ascontiguousarray(X[:n_train], np.float32), y[:n_train].astype(np.int64),
            np.ascontiguousarray(Xt[:n_test], np.float32), yt[:n_test].astype(np.int64),
            "bpnn.datasets.load('fashion-mnist')")
