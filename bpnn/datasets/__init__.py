"""Data sets for bpnn: MNIST, Fashion-MNIST, scikit-learn's digits, local files.

Quick start::

    from bpnn.datasets import load
    ds = load("mnist")            # downloads once, then uses the cache
    ds.train.X.shape              # (50000, 784) float32 in [0, 1]
    ds.validation.X.shape         # (10000, 784): the last 10,000 training images
    ds.test.y.shape               # (10000,) int64

Sources (see :func:`load`):

* ``"mnist"``, ``"fashion-mnist"``: fetched with :func:`fetch` (cache in
  ``$BPNN_DATA_DIR`` or the user cache folder, SHA-256 verified, mirrors
  tried in order, overridable with ``$BPNN_MIRRORS``);
* ``"digits"``: scikit-learn's bundled 8x8 digits, no download;
* a folder of the four IDX files, a Keras ``mnist.npz``, or the classic
  ``mnist.pkl.gz`` (unpickled with a NumPy-only :class:`ArrayUnpickler`).

Every file is read as untrusted: the sizes it declares are checked against
the file and the memory budget of :mod:`bpnn.limits` (``BPNN_MEMORY_BUDGET``)
before anything is allocated, decompression stops at the declared size, and
labels are checked as data (:mod:`~bpnn.datasets.labels`).  Every failure is
a :class:`~bpnn.exceptions.DataError` naming the file.

Modules: :mod:`~bpnn.datasets.idx` (the IDX format),
:mod:`~bpnn.datasets.download` (cache and download),
:mod:`~bpnn.datasets.sources` (file formats), :mod:`~bpnn.datasets.labels`
(class counts and label checks), :mod:`~bpnn.datasets.prepare`
(splits, scaling, targets), :mod:`~bpnn.datasets.api` (:func:`load`).
"""

from bpnn.datasets.api import available, load
from bpnn.datasets.catalog import FASHION_MNIST_CLASSES, MNIST_CLASSES
from bpnn.datasets.dataset import Dataset, Split
from bpnn.datasets.download import default_data_dir, fetch
from bpnn.datasets.idx import read_idx, write_idx
from bpnn.datasets.prepare import one_hot, soft_targets
from bpnn.datasets.safe_pickle import ArrayUnpickler

__all__ = [
    "ArrayUnpickler",
    "Dataset",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "Split",
    "available",
    "default_data_dir",
    "fetch",
    "load",
    "one_hot",
    "read_idx",
    "soft_targets",
    "write_idx",
]
