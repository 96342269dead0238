"""bpnn: ``Network.fit`` as a user calls it; epoch times from its History."""

from __future__ import annotations

import numpy as np

import bpnn
from bpnn.nn import accel


def setup(threads: int) -> dict:
    # the worker limits the BLAS threads (threadpoolctl); bpnn's own kernels
    # (compiled or NumPy) run in the calling thread
    info = {"bpnn": bpnn.__version__, "kernels": accel.kernels_in_use()}
    if info["kernels"] == "numba":
        import numba

        info["numba"] = numba.__version__
    return info


def warm_up(cfgs) -> None:
    """Compile the kernels (or load them from numba's cache) on 256 random rows per configuration, so that
    the worker's timings and peak memory start after it, as they start after the imports."""
    rng = np.random.default_rng(0)
    for cfg in cfgs:
        X = rng.random((256, cfg.sizes[0]), dtype=np.float32)
        net = _network(cfg, 0)
        net.fit(X, np.arange(256) % cfg.sizes[-1], epochs=1, batch_size=cfg.batch, eta=cfg.eta,
                optimizer=cfg.optimizer)
        net.predict(X)
        net.evaluate(X, np.arange(256) % cfg.sizes[-1])


def train(cfg, X, y, epochs: int, seed: int, n_batches=None):
    net = _network(cfg, seed)
    history = net.fit(X, y, epochs=epochs, batch_size=cfg.batch, eta=cfg.eta, optimizer=cfg.optimizer)
    return net, [float(s) for s in history.seconds]


def _network(cfg, seed: int) -> bpnn.Network:
    return bpnn.Network(list(cfg.sizes), activation=cfg.activation, output_activation=cfg.output,
                       cost=cfg.cost, init=cfg.init, seed=seed)


def predict(net, X) -> np.ndarray:
    return net.predict(X)


NOTES = ("`Network.fit` with the configuration's optimizer and the compiled kernels (numba) on; seconds per "
         "epoch from its History (shuffle, every mini-batch step, and the epoch's loss and accuracy); the "
         "kernels are compiled (or loaded from numba's cache) in a warm-up `fit`, `predict` and `evaluate` on 256 "
         "random rows per configuration before the data are loaded, like the imports (compilation is measured "
         "apart, in docs/performance.md).")
