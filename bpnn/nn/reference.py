"""The per-neuron object model: explicit nodes, connections and layers.

This is the network as the object-oriented source builds it, one Python
object per neuron and per weight, one sample at a time, in plain Python
floats (no NumPy on its compute path).  It is very slow (the source quotes
about 9,000 seconds per MNIST epoch) and is kept for two reasons:

* teaching: every quantity of the four equations is an attribute you can
  print (``node.z``, ``node.output``, ``node.delta``, ``connection.gradient``);
* testing: it is an independent oracle for the vectorised
  :class:`~bpnn.nn.network.Network`.  :meth:`ReferenceNetwork.from_network`
  copies a network's weights, and the two must agree on outputs and
  gradients to 1e-9 in float64.

For one sample, with ``t`` the target of output node j::

    z_j = Σ_i w_ij a_i + b_j,  a_j = σ(z_j)                      forward
    output node:   δ_j = ∂C/∂a_j · σ'(z_j)                       BP1
                   (sigmoid/quadratic: δ_j = (a_j - t_j) a_j (1 - a_j))
    hidden node:   δ_i = σ'(z_i) Σ_j w_ij δ_j                    BP2
                   (sigmoid: δ_i = a_i (1 - a_i) Σ_j w_ij δ_j)
    ∂C/∂b_j = δ_j                                                 BP3
    ∂C/∂w_ij = a_i δ_j      (stored on the connection i → j)      BP4
"""

from __future__ import annotations

import math
from typing import Sequence

__all__ = ["Connection", "Node", "Layer", "ReferenceNetwork"]


# -- scalar activations: value and derivative side by side ---------------------
def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


_ACTIVATION = {
    "sigmoid": (_sigmoid, lambda z, a: a * (1.0 - a)),
    "tanh": (math.tanh, lambda z, a: 1.0 - a * a),
    "relu": (lambda z: z if z > 0 else 0.0, lambda z, a: 1.0 if z > 0 else 0.0),
    "identity": (lambda z: z, lambda z, a: 1.0),
}


class Connection:
    """A weighted edge from ``upstream`` (layer l-1) to ``downstream`` (layer l)."""

    def __init__(self, upstream: "Node", downstream: "Node", weight: float) -> None:
        self.upstream, self.downstream = upstream, downstream
        self.weight = float(weight)
        self.gradient = 0.0  # ∂C/∂w for the last sample (BP4)

    def __repr__(self) -> str:
        return f"Connection({self.upstream.name} -> {self.downstream.name}, w={self.weight:.4f})"


class Node:
    """A neuron: its bias, weighted input z, output a and error δ."""

    def __init__(self, layer_index: int, index: int, activation: str = "identity",
                 bias: float = 0.0, alpha: float = 0.01) -> None:
        self.layer_index, self.index = layer_index, index
        self.activation, self.alpha = activation, alpha
        self.bias = float(bias)
        self.upstream: list[Connection] = []
        self.downstream: list[Connection] = []
        self.z = 0.0
        self.output = 0.0
        self.delta = 0.0
        self.bias_gradient = 0.0  # ∂C/∂b for the last sample (BP3)

    @property
    def name(self) -> str:
        return f"L{self.layer_index}N{self.index}"

    def _scalar(self):
        if self.activation == "leaky_relu":
            alpha = self.alpha
            return (lambda z: z if z > 0 else alpha * z), (lambda z, a: 1.0 if z > 0 else alpha)
        return _ACTIVATION[self.activation]

    def compute_z(self) -> float:
        """z = Σ_i w_i a_i + b over the incoming connections."""
        self.z = sum(c.weight * c.upstream.output for c in self.upstream) + self.bias
        return self.z

    def activate(self) -> None:
        """a = σ(z) for element-wise activations (softmax is done by the layer)."""
        self.output = self._scalar()[0](self.z)

    def derivative(self) -> float:
        """σ'(z), written in terms of a where the textbook does."""
        return self._scalar()[1](self.z, self.output)

    def __repr__(self) -> str:
        return f"Node({self.name}, a={self.output:.4f})"


class Layer:
    """A list of nodes; layer 0 is the input layer (its nodes only hold x)."""

    def __init__(self, index: int, nodes: list[Node], activation: str | None) -> None:
        self.index, self.nodes, self.activation = index, nodes, activation

    def forward(self) -> None:
        for node in self.nodes:
            node.compute_z()
        if self.activation == "softmax":
            z_max = max(node.z for node in self.nodes)
            exps = [math.exp(node.z - z_max) for node in self.nodes]
            total = sum(exps)
            for node, e in zip(self.nodes, exps):
                node.output = e / total
        else:
            for node in self.nodes:
                node.activate()


class ReferenceNetwork:
    """A network of explicit :class:`Node` and :class:`Connection` objects.

    Parameters
    ----------
    weights : list of (n_l, n_{l+1}) nested sequences
        ``weights[l][i][j]`` is the weight from node i of layer l to node j of
        layer l+1 (the same layout as :attr:`Network.weights`).
    biases : list of (n_{l+1},) sequences
    activations : list of str, one per non-input layer
    cost : {"quadratic", "cross_entropy"}
    """

    def __init__(self, weights, biases, activations: Sequence[str], cost: str = "quadratic",
                 alpha: float = 0.01) -> None:
        sizes = [len(weights[0])] + [len(b) for b in biases]
        self.cost = cost
        self.layers: list[Layer] = [Layer(0, [Node(0, i) for i in range(sizes[0])], None)]
        self.connections: list[Connection] = []
        for l, (W, b, act) in enumerate(zip(weights, biases, activations), start=1):
            element_act = "identity" if act == "softmax" else act
            nodes = [Node(l, j, element_act, b[j], alpha) for j in range(sizes[l])]
            for i, up in enumerate(self.layers[-1].nodes):
                for j, down in enumerate(nodes):
                    c = Connection(up, down, W[i][j])
                    up.downstream.append(c)
                    down.upstream.append(c)
                    self.connections.append(c)
            self.layers.append(Layer(l, nodes, act))

    @classmethod
    def from_network(cls, net) -> "ReferenceNetwork":
        """The object model of a :class:`~bpnn.nn.network.Network` (Dense layers), same weights."""
        acts = [layer.activation.name for layer in net.dense_layers]
        alpha = next((layer.activation.alpha for layer in net.dense_layers
                      if hasattr(layer.activation, "alpha")), 0.01)
        return cls([W.tolist() for W in net.weights], [b.tolist() for b in net.biases],
                   acts, net.cost.name, alpha)

    # -- per sample -----------------------------------------------------------
    def feedforward(self, x: Sequence[float]) -> list[float]:
        """Output activations for one sample ``x``."""
        for node, value in zip(self.layers[0].nodes, x):
            node.output = float(value)
        for layer in self.layers[1:]:
            layer.forward()
        return [node.output for node in self.layers[-1].nodes]

    def _output_deltas(self, t: Sequence[float]) -> None:
        """BP1 for one sample."""
        out = self.layers[-1]
        a = [node.output for node in out.nodes]
        if self.cost == "cross_entropy":
            # sigmoid per unit: δ = a - t;  softmax: δ = a Σt - t
            scale = sum(t) if out.activation == "softmax" else 1.0
            for node, a_j, t_j in zip(out.nodes, a, t):
                node.delta = a_j * scale - t_j
            return
        grad_a = [a_j - t_j for a_j, t_j in zip(a, t)]  # quadratic: ∂C/∂a = a - t
        if out.activation == "softmax":
            dot = sum(g * a_j for g, a_j in zip(grad_a, a))
            for node, g, a_j in zip(out.nodes, grad_a, a):
                node.delta = a_j * (g - dot)
        else:
            for node, g in zip(out.nodes, grad_a):
                node.delta = g * node.derivative()

    def backprop(self, x: Sequence[float], t: Sequence[float]) -> None:
        """Forward, then BP1-BP4 for one sample; gradients land on nodes and connections."""
        self.feedforward(x)
        self._output_deltas(t)
        for layer in reversed(self.layers[1:-1]):                  # BP2
            for node in layer.nodes:
                node.delta = node.derivative() * sum(c.weight * c.downstream.delta for c in node.downstream)
        for layer in self.layers[1:]:
            for node in layer.nodes:
                node.bias_gradient = node.delta                      # BP3
                for c in node.upstream:
                    c.gradient = c.upstream.output * node.delta      # BP4

    def cost_value(self, a: Sequence[float], t: Sequence[float]) -> float:
        """C_x for one sample."""
        if self.cost == "quadratic":
            return 0.5 * sum((a_j - t_j) ** 2 for a_j, t_j in zip(a, t))
        if self.layers[-1].activation == "softmax":
            return -sum(t_j * math.log(a_j) for a_j, t_j in zip(a, t))
        return -sum(t_j * math.log(a_j) + (1 - t_j) * math.log(1 - a_j) for a_j, t_j in zip(a, t))

    # -- whole data sets ------------------------------------------------------
    def gradients(self, X, T) -> tuple[list[list[list[float]]], list[list[float]]]:
        """Mean gradients over the samples, in :meth:`Network.gradients`' layout."""
        sizes = [len(layer.nodes) for layer in self.layers]
        nabla_w = [[[0.0] * sizes[l + 1] for _ in range(sizes[l])] for l in range(len(sizes) - 1)]
        nabla_b = [[0.0] * sizes[l + 1] for l in range(len(sizes) - 1)]
        n = len(X)
        for x, t in zip(X, T):
            self.backprop(x, t)
            for l, layer in enumerate(self.layers[1:]):
                for j, node in enumerate(layer.nodes):
                    nabla_b[l][j] += node.bias_gradient / n
                    for c in node.upstream:
                        nabla_w[l][c.upstream.index][j] += c.gradient / n
        return nabla_w, nabla_b

    def sgd_step(self, x: Sequence[float], t: Sequence[float], eta: float) -> None:
        """Per-sample gradient descent, the source's train-one-sample: w ← w - η ∂C/∂w."""
        self.backprop(x, t)
        for c in self.connections:
            c.weight -= eta * c.gradient
        for layer in self.layers[1:]:
            for node in layer.nodes:
                node.bias -= eta * node.bias_gradient

    @property
    def weights(self) -> list[list[list[float]]]:
        sizes = [len(layer.nodes) for layer in self.layers]
        W = [[[0.0] * sizes[l + 1] for _ in range(sizes[l])] for l in range(len(sizes) - 1)]
        for c in self.connections:
            W[c.upstream.layer_index][c.upstream.index][c.downstream.index] = c.weight
        return W
