"""bpnn: a from-scratch, vectorised NumPy backpropagation network.

>>> import bpnn
>>> net = bpnn.Network([784, 100, 10], activation="sigmoid", cost="quadratic", seed=0)
"""

from ._version import __version__
from .exceptions import BpnnError, DataError, DivergenceError, ModelFileError
from .io.modelfile import load, save
from .model import TrainedModel
from .nn import Callback, Dense, Dropout, EpochRecord, Evaluation, GradientCheck, History, Network, gradient_check
from .nn import Diagnostics, Trace, kernels_in_use, set_kernels, trace, use_kernels
from .preprocessing import Preprocessing

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
    "GradientCheck",
    "trace",
    "Trace",
    "Diagnostics",
    "set_kernels",
    "use_kernels",
    "kernels_in_use",
    "TrainedModel",
    "Preprocessing",
    "Settings",
    "run",
    "export_onnx",
    "Augmentation",
    "BpnnError",
    "DataError",
    "DivergenceError",
    "ModelFileError",
    "load",
    "save",
]


# Submodules that pull in the tool's libraries (pooch, scikit-learn, matplotlib,
# Pillow) are imported on first use, so ``import bpnn`` stays NumPy-only.
_LAZY_SUBMODULES = {"datasets", "callbacks", "metrics", "plots", "imageprep", "recipes", "settings",
                    "experiment", "predictor", "limits", "sklearn", "export", "sweep", "baselines", "augment",
                    "segmentation"}
#: the core's modules, reachable as ``bpnn.optimizers`` etc. (they live in ``bpnn.nn``)
_CORE_MODULES = {"activations", "costs", "initializers", "layers", "network", "optimizers", "schedules",
                 "training", "gradcheck", "reference", "tracing", "diagnostics", "accel"}
#: names of the experiment layer, imported on first use
_LAZY_NAMES = {"Settings": "settings", "run": "experiment", "export_onnx": "export", "Augmentation": "augment"}


def __getattr__(name: str):
    if name in _LAZY_NAMES:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY_NAMES[name]}"), name)
    if name in _LAZY_SUBMODULES or name in _CORE_MODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{'nn.' if name in _CORE_MODULES else ''}{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
