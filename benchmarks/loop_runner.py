"""The per-sample baseline: Michael Nielsen's ``network.py`` (Neural Networks
and Deep Learning, chapter 1), kept as written: column vectors, one Python
``backprop`` per sample, the mini-batch's gradients summed in Python lists,
float64 weights from ``np.random.randn``-style N(0, 1), the training data as
a list of ``(x, y)`` column-vector pairs (built before timing, as its
``mnist_loader`` does).

It is too slow to run whole epochs in a benchmark: it trains on the first
``n_batches`` shuffled mini-batches and the epoch time is extrapolated
linearly (the shuffle is timed whole, the steps ``× batches per epoch /
n_batches``); its accuracy is
therefore that of a partial epoch.  Inference is its per-sample
``feedforward`` + ``argmax``.
"""

from __future__ import annotations

import time

import numpy as np


def setup(threads: int) -> dict:
    return {}


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class Network:
    def __init__(self, sizes, rng):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [rng.standard_normal((y, 1)) for y in sizes[1:]]
        self.weights = [rng.standard_normal((y, x)) for x, y in zip(sizes[:-1], sizes[1:])]

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def update_mini_batch(self, mini_batch, eta):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])      # BP1
        nabla_b[-1] = delta                                                           # BP3
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())                      # BP4
        for l in range(2, self.num_layers):
            z = zs[-l]
            sp = sigmoid_prime(z)
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sp              # BP2
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return (nabla_b, nabla_w)

    def cost_derivative(self, output_activations, y):
        return output_activations - y


def train(cfg, X, y, epochs: int, seed: int, n_batches=None):
    rng = np.random.default_rng(seed)
    k = cfg.sizes[-1]
    eye = np.eye(k).reshape(k, k, 1)
    training_data = [(x.reshape(-1, 1), eye[t]) for x, t in zip(X, y)]
    net = Network(list(cfg.sizes), rng)
    n, m = len(training_data), cfg.batch
    per_epoch = -(-n // m)
    limit = per_epoch if n_batches is None else min(n_batches, per_epoch)
    seconds = []
    with np.errstate(over="ignore"):
        for _ in range(epochs):
            start = time.perf_counter()
            rng.shuffle(training_data)
            mini_batches = [training_data[j:j + m] for j in range(0, n, m)]
            middle = time.perf_counter()
            for mini_batch in mini_batches[:limit]:
                net.update_mini_batch(mini_batch, cfg.eta)
            end = time.perf_counter()
            # the shuffle is whole; only the mini-batch steps are extrapolated
            seconds.append((middle - start) + (end - middle) * per_epoch / limit)
    return net, seconds


def predict(net, X) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.array([int(np.argmax(net.feedforward(x.reshape(-1, 1)))) for x in X])


NOTES = __doc__.strip().replace("``", "`")
