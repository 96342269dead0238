"""scikit-learn's MLPClassifier with the same architecture, solver, batch size
and learning rate; L2 penalty ``alpha=0`` (the others have none); one
``partial_fit`` call per epoch (it shuffles and runs one pass), timed per
call, so each epoch includes MLPClassifier's input validation."""

from __future__ import annotations

import time
import warnings

import numpy as np


def setup(threads: int) -> dict:
    import sklearn

    return {"scikit-learn": sklearn.__version__}


def train(cfg, X, y, epochs: int, seed: int, n_batches=None):
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=tuple(cfg.sizes[1:-1]), activation=cfg.activation,
                        solver=cfg.optimizer, alpha=0.0, batch_size=cfg.batch,
                        learning_rate_init=cfg.eta, shuffle=True, random_state=seed)
    classes = np.arange(cfg.sizes[-1])
    seconds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(epochs):
            start = time.perf_counter()
            clf.partial_fit(X, y, classes=classes)
            seconds.append(time.perf_counter() - start)
    return clf, seconds


def predict(clf, X) -> np.ndarray:
    return clf.predict(X)


NOTES = __doc__.strip().replace("``", "`")
