"""Non-neural baselines on bpnn's data: the same splits and preparation, scikit-learn's models.

One of the source articles compares its network with scikit-learn's
``svm.SVR`` fitted to the digit *values* (a regression) and rounded to the
nearest digit, and reports 0.4023 accuracy after a very long fit.  The fair
baselines are classifiers; :data:`BASELINES` holds both kinds:

==========  ==================================================================
``svr``     ``SVR`` (RBF) regressing the class index, rounded and clipped, as the source did
``svc``     ``SVC`` (RBF), a classifier
``logreg``  ``LogisticRegression`` (multinomial, lbfgs)
``knn``     ``KNeighborsClassifier`` (k = 3)
``mlp``     ``MLPClassifier`` (100 hidden ReLU units, Adam), scikit-learn's own network
==========  ==================================================================

:func:`run_baseline` loads the data exactly as :func:`bpnn.experiment.run`
does (the settings' data set, validation split, classes, ``limit``) and
reports test accuracy and the fit and predict times.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .nn._keywords import did_you_mean
from .settings import Settings, SettingError

__all__ = ["BASELINES", "Baseline", "run_baseline"]


@dataclass(frozen=True)
class Baseline:
    """A scikit-learn model as a baseline.

    Attributes
    ----------
    name : str
    title : str
    make : callable
        ``make(seed)`` returns an unfitted estimator.
    regression : bool
        Fitted to the class index as a number; predictions are rounded to the
        nearest class and clipped to the valid range.
    """

    name: str
    title: str
    make: Callable[[int], Any]
    regression: bool = False


def _svr(seed: int):
    from sklearn.svm import SVR

    return SVR(kernel="rbf")


def _svc(seed: int):
    from sklearn.svm import SVC

    return SVC(kernel="rbf", random_state=seed)


def _logreg(seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=200, random_state=seed)


def _knn(seed: int):
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=3)


def _mlp(seed: int):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(100,), max_iter=30, random_state=seed)


#: The baselines by name.
BASELINES: dict[str, Baseline] = {b.name: b for b in [
    Baseline("svr", "SVR (RBF) regressing the digit, rounded (as the source did)", _svr, regression=True),
    Baseline("svc", "SVC (RBF kernel)", _svc),
    Baseline("logreg", "logistic regression (multinomial)", _logreg),
    Baseline("knn", "k-nearest neighbours (k = 3)", _knn),
    Baseline("mlp", "scikit-learn MLPClassifier (100 ReLU, Adam, 30 epochs)", _mlp),
]}


def run_baseline(name: str, settings: Settings, data=None) -> dict[str, Any]:
    """Fit baseline ``name`` on the settings' training data; score it on the test split.

    Parameters
    ----------
    name : str
        A key of :data:`BASELINES`.
    settings : Settings
        The data settings (``dataset``, ``validation``, ``classes``, ``limit``,
        ``standardize``, ``data_dir``) and the ``seed``.
    data : Dataset, optional
        Use these data instead of loading them.

    Returns
    -------
    dict
        ``baseline``, ``dataset``, ``n_train``, ``n_test``, ``test_accuracy``,
        ``test_correct``, ``test_total``, ``fit_seconds``, ``predict_seconds``.
    """
    from .experiment import load_data

    if name not in BASELINES:
        raise SettingError(f"unknown baseline {name!r}{did_you_mean(name, BASELINES)}; choose from "
                           f"{', '.join(BASELINES)}")
    baseline = BASELINES[name]
    ds = data if data is not None else load_data(settings)
    model = baseline.make(settings.seed)
    y_train = ds.train.y.astype(np.float64) if baseline.regression else ds.train.y
    started = time.perf_counter()
    with warnings.catch_warnings():       # the MLP's epoch count is set on purpose, like bpnn's
        warnings.filterwarnings("ignore", message=".*Maximum iterations.*")
        model.fit(ds.train.X, y_train)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted = model.predict(ds.test.X)
    predict_seconds = time.perf_counter() - started
    if baseline.regression:
        predicted = np.clip(np.rint(predicted), 0, ds.n_classes - 1).astype(np.int64)
    correct = int(np.count_nonzero(predicted == ds.test.y))
    return {"baseline": name, "dataset": ds.name, "n_train": len(ds.train), "n_test": len(ds.test),
            "test_accuracy": correct / len(ds.test), "test_correct": correct, "test_total": len(ds.test),
            "fit_seconds": fit_seconds, "predict_seconds": predict_seconds}
