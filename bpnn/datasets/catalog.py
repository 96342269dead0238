"""The data sets bpnn knows by name: files, checksums, mirrors and class names.

Checksums
---------
MNIST: the SHA-256 of each canonical ``.gz`` file (as published upstream and
listed in the project's shared data README).  The SHA-256 of the decompressed
payload is accepted as well, so a recompressed copy of the same data passes.

Fashion-MNIST: the SHA-256 of each upstream Zalando ``.gz`` file (the values
TensorFlow Datasets records for the release; their MD5s are the ones in
Zalando's README), *or* the SHA-256 of the decompressed payload.  The second
form is needed because Debian's ``dataset-fashion-mnist`` package recompressed
the files: its ``.gz`` bytes differ from upstream while the data are identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from bpnn.datasets.idx import IDX_FILE_ROLES  # noqa: F401  (re-exported)

__all__ = [
    "DEBIAN_FASHION_MNIST_DIR",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "REMOTE_DATASETS",
    "RemoteDataset",
    "FileSpec",
]

#: Class names of MNIST, index = label.
MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))

#: Class names of Fashion-MNIST, index = label (Zalando's order).
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: Where Debian's ``dataset-fashion-mnist`` package installs the four files.
#: Overridable with the ``BPNN_FASHION_MNIST_DIR`` environment variable.
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"



@dataclass(frozen=True)
class FileSpec:
    """One downloadable file and the checksums that make it valid.

    Attributes
    ----------
    name : str
        Canonical file name, e.g. ``"train-images-idx3-ubyte.gz"``.
    gz_sha256 : tuple of str
        Accepted SHA-256 digests of the file as stored.
    payload_sha256 : str or None
        Accepted SHA-256 digest of the decompressed content (None: none).
    """

    name: str
    gz_sha256: tuple[str, ...]
    payload_sha256: str | None = None


@dataclass(frozen=True)
class RemoteDataset:
    """A data set that can be downloaded.

    Attributes
    ----------
    name : str
        The name used by :func:`bpnn.datasets.load` and as the cache subfolder.
    files : dict of str to FileSpec
        Keyed by role (see :data:`IDX_FILE_ROLES`).
    mirrors : tuple of str
        Base URLs tried in order; each holds the four files.
    classes : tuple of str
        Class names, index = label.
    system_dirs : tuple of str
        Folders where a system package may have installed the files already.
    layout : dict, optional
        How a user's picture is fitted into the 28x28 field to look like this
        data set's images (see :class:`bpnn.preprocessing.Preprocessing`):
        None for MNIST's digit layout, a box layout for objects that fill it.
    aliases : tuple of str
        Other names :func:`bpnn.datasets.load` accepts for it.
    """

    name: str
    files: dict[str, FileSpec]
    mirrors: tuple[str, ...]
    classes: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()
    layout: Optional[dict] = None
    aliases: tuple[str, ...] = ()


MNIST = RemoteDataset(
    name="mnist",
    files={
        "train_images": FileSpec(
            "train-images-idx3-ubyte.gz",
            ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",),
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ),
        "train_labels": FileSpec(
            "train-labels-idx1-ubyte.gz",
            ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",),
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        "test_images": FileSpec(
            "t10k-images-idx3-ubyte.gz",
            ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",),
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        "test_labels": FileSpec(
            "t10k-labels-idx1-ubyte.gz",
            ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",),
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    classes=MNIST_CLASSES,
)

FASHION_MNIST = RemoteDataset(
    name="fashion-mnist",
    files={
        "train_images": FileSpec(
            "train-images-idx3-ubyte.gz",
            ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",),
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        "train_labels": FileSpec(
            "train-labels-idx1-ubyte.gz",
            ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",),
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
        "test_images": FileSpec(
            "t10k-images-idx3-ubyte.gz",
            ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",),
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        "test_labels": FileSpec(
            "t10k-labels-idx1-ubyte.gz",
            ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",),
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    },
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
    classes=FASHION_MNIST_CLASSES,
    system_dirs=(DEBIAN_FASHION_MNIST_DIR,),
    layout={"box": 28, "centre": "box"},   # objects fill the field: fit 28x28, centre the bounding box
    aliases=("fashionmnist", "fmnist"),
)

#: Downloadable data sets by name.
REMOTE_DATASETS: dict[str, RemoteDataset] = {d.name: d for d in (MNIST, FASHION_MNIST)}
