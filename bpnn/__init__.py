"""bpnn: a from-scratch, vectorised NumPy backpropagation network.

>>> import bpnn
>>> net = bpnn.Network([784, 100, 10], activation="sigmoid", cost="quadratic", seed=0)
"""

from ._version import __version__
from .exceptions import BpnnError, DataError, DivergenceError, ModelFileError
from .gradcheck import gradient_check
from .layers import Dense, Dropout
from .network import Evaluation, Network
from .serialization import load, save
from .training import Callback, EpochRecord, History

__all__ = [
    "__version__",
    "Network",
    "Dense",
    "Dropout",
    "Evaluation",
    "History",
    "EpochRecord",
    "Callback",
    "gradient_check",
    "BpnnError",
    "DataError",
    "DivergenceError",
    "ModelFileError",
    "load",
    "save",
]


# Submodules that pull in the tool's libraries (pooch, scikit-learn, matplotlib,
# Pillow) are imported on first use, so ``import bpnn`` stays NumPy-only.
_LAZY_SUBMODULES = {"datasets", "reference", "schedules", "optimizers", "activations",
                    "costs", "initializers", "training", "layers", "network", "gradcheck",
                    "serialization", "callbacks", "metrics", "plots", "imageprep", "recipes", "cli"}


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
