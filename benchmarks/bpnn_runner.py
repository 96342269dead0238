"""bpnn: ``Network.fit`` as a user calls it; epoch times from its History."""

from __future__ import annotations

import numpy as np

import bpnn


def setup(threads: int) -> dict:
    # the worker limits the BLAS threads (threadpoolctl); bpnn's own
    # element-wise work runs in the calling thread
    return {"bpnn": bpnn.__version__}


def train(cfg, X, y, epochs: int, seed: int, n_batches=None):
    net = bpnn.Network(list(cfg.sizes), activation=cfg.activation, output_activation=cfg.output,
                       cost=cfg.cost, init=cfg.init, seed=seed)
    history = net.fit(X, y, epochs=epochs, batch_size=cfg.batch, eta=cfg.eta, optimizer=cfg.optimizer)
    return net, [float(s) for s in history.seconds]


def predict(net, X) -> np.ndarray:
    return net.predict(X)


NOTES = ("`Network.fit` with the configuration's optimizer; seconds per epoch from its History "
         "(shuffle, every mini-batch step, and the epoch's loss and accuracy).")
