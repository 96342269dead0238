"""Fixtures shared by the tests that read whole numbers (segmentation, ``bpnn predict``, the API).

A small MNIST model is trained once per session (a few seconds), and numbers
are composed from MNIST *test* digits by ``scripts/read_numbers.py`` (the
measurement's own composer) with seeds of the tests' own, never the
measurement's.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MNIST = Path(os.environ.get("BPNN_TEST_MNIST", ROOT.parent / "shared" / "data" / "mnist"))
HAVE_MNIST = (MNIST / "t10k-images-idx3-ubyte.gz").exists()


@pytest.fixture(scope="session")
def composer():
    """``scripts/read_numbers.py`` as a module: ``compose``, ``draw``, ``SEED``."""
    spec = importlib.util.spec_from_file_location("read_numbers", ROOT / "scripts" / "read_numbers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def mnist_test():
    """MNIST's test images (n, 28, 28) in [0, 1] and labels."""
    if not HAVE_MNIST:
        pytest.skip(f"the MNIST files are not in {MNIST}")
    from bpnn.datasets import load

    ds = load(str(MNIST), validation=0, flatten=False, progress=False, test_only=True)
    return ds.test.X, ds.test.y


@pytest.fixture(scope="session")
def number_model(tmp_path_factory) -> Path:
    """A 784-128-10 ReLU network trained on 20,000 MNIST images for 3 epochs (about 96% on the test set)."""
    if not HAVE_MNIST:
        pytest.skip(f"the MNIST files are not in {MNIST}")
    from bpnn.cli import main

    path = tmp_path_factory.mktemp("numbers") / "mnist.safetensors"
    status = main(["train", "--dataset", str(MNIST), "--limit", "20000", "--hidden", "128", "--activation", "relu",
                   "--output", "softmax", "--cost", "cross_entropy", "--init", "he_normal", "--optimizer", "adam",
                   "--eta", "0.001", "--batch-size", "64", "--epochs", "3", "--quiet", "--out", str(path)])
    assert status == 0
    return path


@pytest.fixture(scope="session")
def sure_digits(number_model, mnist_test) -> dict[int, np.ndarray]:
    """Indices of test digits the model reads right with probability > 0.99, per class (segmentation is
    under test, not the network)."""
    import bpnn

    X, y = mnist_test
    p = bpnn.load(number_model).predict_proba(X[:3000].reshape(3000, -1))
    sure = (p.argmax(axis=1) == y[:3000]) & (p.max(axis=1) > 0.99)
    return {d: np.flatnonzero(sure & (y[:3000] == d)) for d in range(10)}
