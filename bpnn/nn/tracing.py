"""One sample through the four equations, every number shown three ways.

:func:`trace` runs one sample ``x`` with target ``y`` forward and backward
through a network and records every quantity of backpropagation, layer by
layer, as

* **bpnn**: the vectorised network's own numbers (:meth:`Network.backprop`,
  the code that trains);
* **neuron**: the per-neuron object model of :mod:`bpnn.nn.reference`, one
  Python object per neuron and per weight, in plain floats;
* **numeric**: central differences of the cost, (C(p + ε) - C(p - ε)) / 2ε,
  for every derivative: δ^l = ∂C/∂z^l (nudging z^l itself and running the
  rest of the network forward), ∂C/∂b^l and ∂C/∂W^l (nudging the parameter).

For one sample (a row vector, batch-first)::

    forward   z^l = a^(l-1) W^l + b^l,   a^l = σ(z^l)          a^0 = x
    cost      C = ½‖a^L - y‖²  or the cross-entropy
    BP1       δ^L = ∇_a C ⊙ σ'(z^L)          (cross-entropy: a^L - y)
    BP2       δ^l = (δ^(l+1) (W^(l+1))ᵀ) ⊙ σ'(z^l)
    BP3       ∂C/∂b^l = δ^l
    BP4       ∂C/∂W^l = (a^(l-1))ᵀ δ^l       entry [i, j] = a^(l-1)_i δ^l_j
    update    W^l ← W^l - η ∂C/∂W^l,   b^l ← b^l - η ∂C/∂b^l

For a tiny network (at most :data:`TINY_UNITS` units a layer) the text shows
every value with the arithmetic to redo it by hand; for a larger one, a
summary per layer (shape, range, norm) and how closely the three agree.
Everything is computed in float64 on a copy; the network is not changed.
NumPy only, like the rest of :mod:`bpnn.nn`.

Example
-------
>>> import bpnn
>>> net = bpnn.Network([2, 2, 1], activation="sigmoid", cost="quadratic", dtype="float64", seed=0)
>>> t = bpnn.trace(net, [1, 0], 1)
>>> t.passed
True
>>> t.layers[-1]["delta"].vectorised.shape
(1,)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _validation
from .layers import Dense, Dropout
from .reference import ReferenceNetwork

__all__ = ["trace", "Trace", "LayerTrace", "Quantity", "TINY_UNITS", "REFERENCE_LIMIT"]

#: A network whose layers (input included) have at most this many units is traced in full, with the arithmetic.
TINY_UNITS = 4
#: Quantities with at most this many values are printed in full even for a large network (the output layer).
SHOW_ALL = 16
#: The per-neuron model is built automatically up to this many weights (it holds one object per weight).
REFERENCE_LIMIT = 300_000
#: bpnn and the per-neuron model must agree to this, relative to the size of the values (float64).
REFERENCE_TOLERANCE = 1e-9
#: ... and central differences to this relative error (as :func:`bpnn.gradient_check`).
NUMERIC_TOLERANCE = 1e-4
#: Lower bound of a relative error's denominator.
FLOOR = 1e-7


# --------------------------------------------------------------------------
# the records
# --------------------------------------------------------------------------
@dataclass
class Quantity:
    """One quantity of one layer, e.g. δ^2, as bpnn, the per-neuron model and central differences give it.

    Attributes
    ----------
    key : str
        ``"z"``, ``"a"``, ``"delta"``, ``"nabla_b"``, ``"nabla_W"``, ``"W_new"``, ``"b_new"``.
    symbol : str
        As printed, e.g. ``"δ^2"``.
    equation : str
        The equation it comes from, e.g. ``"BP2: δ^1 = (δ^2 (W^2)ᵀ) ⊙ σ'(z^1)"``.
    vectorised : ndarray
        bpnn's value: shape ``(n_l,)`` for a vector, ``(n_(l-1), n_l)`` for a weight matrix.
    reference : ndarray or None
        The per-neuron model's value (None when it was not built).
    numeric : ndarray or None
        Central differences (NaN for entries not checked; None where there is no derivative to check).
    work : list of str or None
        For a tiny network, the arithmetic of each entry (row-major), to redo by hand.
    floor : float
        Entries smaller than this are compared with central differences absolutely (see :attr:`numeric_error`).
    """

    key: str
    symbol: str
    equation: str
    vectorised: np.ndarray
    reference: np.ndarray | None = None
    numeric: np.ndarray | None = None
    work: list[str] | None = None
    floor: float = FLOOR

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.vectorised.shape)

    @property
    def reference_error(self) -> float | None:
        """max |bpnn - neuron| / max(1, max |bpnn|) (None without the per-neuron model)."""
        if self.reference is None:
            return None
        scale = max(1.0, float(np.abs(self.vectorised).max(initial=0.0)))
        return float(np.abs(self.vectorised - self.reference).max(initial=0.0)) / scale

    @property
    def checked(self) -> int:
        """How many entries central differences checked."""
        return 0 if self.numeric is None else int(np.count_nonzero(~np.isnan(self.numeric)))

    @property
    def numeric_error(self) -> float | None:
        """Worst |bpnn - numeric| / max(|bpnn|, |numeric|, floor) over the checked entries.

        The floor is what central differences can resolve, 1e-9·max(1, |C|)/ε (at least 1e-7): a
        derivative smaller than that is compared absolutely.
        """
        if self.numeric is None or not self.checked:
            return None
        mask = ~np.isnan(self.numeric)
        g, n = self.vectorised[mask], self.numeric[mask]
        return float((np.abs(g - n) / np.maximum(np.maximum(np.abs(g), np.abs(n)), self.floor)).max())

    @property
    def agrees(self) -> bool:
        ref, num = self.reference_error, self.numeric_error
        return (ref is None or ref <= REFERENCE_TOLERANCE) and (num is None or num <= NUMERIC_TOLERANCE)

    def to_dict(self, full: bool) -> dict[str, Any]:
        """JSON-ready: shape, equation, agreement, and the values (``full``) or their summary."""
        out: dict[str, Any] = {"symbol": self.symbol, "equation": self.equation, "shape": list(self.shape),
                               "reference_error": self.reference_error, "numeric_error": self.numeric_error,
                               "numeric_checked": self.checked}
        if full or self.vectorised.size <= SHOW_ALL:
            out["bpnn"] = self.vectorised.tolist()
            out["neuron"] = None if self.reference is None else self.reference.tolist()
            out["numeric"] = None if self.numeric is None else _nan_to_none(self.numeric)
            if self.work is not None:
                out["by_hand"] = list(self.work)
        else:
            out["summary"] = _stats(self.vectorised)
        return out


@dataclass
class LayerTrace:
    """Every quantity of one Dense layer l (``index``, from 1), in the order of the equations."""

    index: int
    n_in: int
    n_out: int
    activation: str
    W: np.ndarray
    b: np.ndarray
    quantities: dict[str, Quantity] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Quantity:
        return self.quantities[key]

    def __iter__(self):
        return iter(self.quantities.values())


@dataclass
class Trace:
    """The result of :func:`trace`: the sample, the cost, and a :class:`LayerTrace` per Dense layer.

    ``str(trace)`` (or :meth:`format`) is the readable text, :meth:`to_dict` the JSON form.

    Attributes
    ----------
    network : str
        The network's description, e.g. ``"Network(2-2-1, sigmoid, quadratic)"``.
    sizes : list of int
    cost_name : str
    x : ndarray (n_inputs,)
    y : ndarray (n_outputs,)
        The target vector (one-hot for a class index).
    output : ndarray (n_outputs,)
        a^L.
    cost, cost_after : float
        C for this sample before and after the update.
    cost_reference : float or None
        C from the per-neuron model.
    eta, eps : float
    layers : list of LayerTrace
    reference_note : str or None
        Why the per-neuron model was not built, when it was not.
    """

    network: str
    sizes: list[int]
    cost_name: str
    output_activation: str
    x: np.ndarray
    y: np.ndarray
    output: np.ndarray
    cost: float
    cost_after: float
    cost_reference: float | None
    eta: float
    eps: float
    layers: list[LayerTrace]
    reference_note: str | None = None

    @property
    def tiny(self) -> bool:
        """Small enough to show every value with its arithmetic."""
        return max(self.sizes) <= TINY_UNITS

    def quantities(self):
        for layer in self.layers:
            yield from layer

    @property
    def worst_reference_error(self) -> float | None:
        errors = [q.reference_error for q in self.quantities() if q.reference_error is not None]
        return max(errors) if errors else None

    @property
    def worst_numeric_error(self) -> float | None:
        errors = [q.numeric_error for q in self.quantities() if q.numeric_error is not None]
        return max(errors) if errors else None

    @property
    def passed(self) -> bool:
        """Whether bpnn, the per-neuron model and central differences agree everywhere."""
        return all(q.agrees for q in self.quantities())

    # -- output -----------------------------------------------------------------
    def to_dict(self, full: bool | None = None) -> dict[str, Any]:
        """JSON-ready; every value when ``full`` (default: for a tiny network), else summaries of large arrays."""
        full = self.tiny if full is None else bool(full)
        small = full or self.x.size <= SHOW_ALL
        return {
            "network": self.network,
            "sizes": list(self.sizes),
            "cost_function": self.cost_name,
            "x": self.x.tolist() if small else {"shape": list(self.x.shape), "summary": _stats(self.x)},
            "y": self.y.tolist(),
            "output": self.output.tolist(),
            "cost": self.cost,
            "cost_neuron": self.cost_reference,
            "cost_after_update": self.cost_after,
            "eta": self.eta,
            "eps": self.eps,
            "layers": [{"layer": layer.index, "n_in": layer.n_in, "n_out": layer.n_out,
                        "activation": layer.activation,
                        "W": _maybe(layer.W, full), "b": _maybe(layer.b, full),
                        "quantities": {q.key: q.to_dict(full) for q in layer}} for layer in self.layers],
            "reference_note": self.reference_note,
            "worst_reference_error": self.worst_reference_error,
            "worst_numeric_error": self.worst_numeric_error,
            "passed": self.passed,
        }

    def format(self, full: bool | None = None) -> str:
        """The readable text: every value (``full``; default for a tiny network) or a summary per layer."""
        return "\n".join(_format(self, self.tiny if full is None else bool(full)))

    def __str__(self) -> str:
        return self.format()


# --------------------------------------------------------------------------
# the computation
# --------------------------------------------------------------------------
def _target(y: Any, k: int) -> np.ndarray:
    """A target vector (k,) from a class index, a value (one output) or a vector."""
    arr = np.asarray(y, dtype=np.float64) if not isinstance(y, (int, np.integer)) else None
    if arr is not None and arr.ndim >= 1 and arr.size == k and arr.size > 1:
        target = arr.reshape(k)
        if not np.isfinite(target).all():
            raise ValueError("the target y contains NaN or infinity")
        return target
    if arr is not None and arr.size != 1:
        raise ValueError(f"the target y must be a class index or a vector of {k} values, got shape {arr.shape}")
    value = float(np.asarray(y).reshape(()))
    if k == 1:
        if not math.isfinite(value):
            raise ValueError("the target y must be a finite number")
        return np.array([value])
    if value != int(value) or not 0 <= value < k:
        raise ValueError(f"the target y must be a class index from 0 to {k - 1} (or a vector of {k} values), "
                         f"got {y!r}")
    target = np.zeros(k)
    target[int(value)] = 1.0
    return target


def trace(net, x, y, eta: float = 0.5, eps: float = 1e-5, reference: bool | None = None,
          max_checks: int = 200, seed: int = 0) -> Trace:
    """Follow one sample through forward pass, BP1-BP4 and one gradient-descent step.

    Parameters
    ----------
    net : Network
        Traced on a float64 copy with dropout off; not changed.
    x : array-like, shape (n_inputs,)
        The sample (prepared, as the network takes it).
    y : int, float or array-like
        A class index, the target value of a one-output network (XOR: 0 or 1),
        or the target vector (n_outputs,).
    eta : float
        The learning rate of the update shown (one per-sample SGD step).
    eps : float
        The central-difference step ε.
    reference : bool, optional
        Build the per-neuron model (default: when the network has at most
        :data:`REFERENCE_LIMIT` weights).
    max_checks : int
        Central differences check at most this many entries of each weight
        matrix, bias vector and δ (chosen with ``seed``); every entry of a small
        one.  Entries of a ReLU unit whose z is within 2ε of the kink at 0 are
        not checked (the derivative does not exist there).
    seed : int
        Chooses the entries checked in large layers.

    Returns
    -------
    Trace
    """
    if not (isinstance(eta, (int, float)) and math.isfinite(eta) and eta >= 0):
        raise ValueError(f"eta must be a finite number >= 0, got {eta!r}")
    if not (isinstance(eps, (int, float)) and 0 < eps < 1):
        raise ValueError(f"eps must be a small positive number such as 1e-5, got {eps!r}")
    net64 = net.astype("float64")
    layers: list[Dense] = net64.dense_layers
    X = _validation.check_X(np.asarray(x, dtype=np.float64).reshape(1, -1), net64.n_inputs, net64.dtype, name="x")
    target = _target(y, net64.n_outputs)
    Y = target.reshape(1, -1)
    cost = net64.cost

    # -- bpnn: the training code's own backward pass, one row (m = 1), dropout off ------------------------
    dropouts = [layer for layer in net64.layers if isinstance(layer, Dropout)]
    for layer in dropouts:
        layer.p = 0.0
    net64.backprop(X, Y)
    zs = [layer.Z[0].copy() for layer in layers]
    As = [layer._A[0].copy() for layer in layers]
    deltas = [layer._buffers(1)["delta"][0].copy() for layer in layers]
    nabla_b = [layer.nabla_b.copy() for layer in layers]
    nabla_W = [layer.nabla_W.copy() for layer in layers]
    C = float(cost.value(layers[-1].Z, layers[-1]._A, Y))
    Ws = [layer.W.copy() for layer in layers]
    bs = [layer.b.copy() for layer in layers]

    # -- central differences ------------------------------------------------------------------------------
    rng = np.random.default_rng(seed)

    def whole_cost() -> float:
        Z, A = net64._output(X)
        return float(cost.value(Z, A, Y))

    def chosen(n: int) -> np.ndarray:
        return np.arange(n) if n <= max_checks else np.sort(rng.choice(n, size=max_checks, replace=False))

    # units sitting on a ReLU's kink (|z| ≤ 2ε): a central difference there straddles a corner
    kinks = [np.abs(z) <= 2 * eps if layer.activation.name in ("relu", "leaky_relu") else np.zeros(z.size, bool)
             for layer, z in zip(layers, zs)]

    def numeric_param(l: int, param: np.ndarray) -> np.ndarray:
        """∂C/∂p for entries of layer l's W or b: nudge p, recompute z^l = a^(l-1) W^l + b^l and go on forward."""
        a_prev = X if l == 0 else As[l - 1].reshape(1, -1)
        layer = layers[l]
        flat = param.reshape(-1)
        result = np.full(flat.size, np.nan)
        for i in chosen(flat.size):
            if kinks[l][i % layer.n_out]:            # W[i, j] and b[j] both feed unit j (row-major)
                continue
            saved = flat[i]
            costs = []
            for nudged in (saved + eps, saved - eps):
                flat[i] = nudged
                costs.append(_cost_from_z(net64, layers, l, a_prev @ layer.W + layer.b, Y))
            flat[i] = saved
            result[i] = (costs[0] - costs[1]) / (2 * eps)
        return result.reshape(param.shape)

    def numeric_delta(l: int) -> np.ndarray:
        """δ^l_j = ∂C/∂z^l_j: nudge z^l_j itself and run the rest of the network forward."""
        z = zs[l].reshape(1, -1)
        out = np.full(z.shape[1], np.nan)
        for j in chosen(z.shape[1]):
            if kinks[l][j]:
                continue
            up, down = z.copy(), z.copy()
            up[0, j] += eps
            down[0, j] -= eps
            out[j] = (_cost_from_z(net64, layers, l, up, Y) - _cost_from_z(net64, layers, l, down, Y)) / (2 * eps)
        return out

    num_delta = [numeric_delta(l) for l in range(len(layers))]
    num_b = [numeric_param(l, layer.b) for l, layer in enumerate(layers)]
    num_W = [numeric_param(l, layer.W) for l, layer in enumerate(layers)]
    # below this size a derivative is compared absolutely: central differences resolve about
    # u·C/ε (u the float64 rounding unit), so smaller entries cannot show four significant digits
    floor = max(FLOOR, 1e-9 * max(1.0, abs(C)) / eps)

    # -- the update and the cost after it -------------------------------------------------------------------
    W_new = [W - eta * g for W, g in zip(Ws, nabla_W)]
    b_new = [b - eta * g for b, g in zip(bs, nabla_b)]
    for layer, W, b in zip(layers, W_new, b_new):
        layer.W[...] = W
        layer.b[...] = b
    C_after = whole_cost()
    for layer, W, b in zip(layers, Ws, bs):
        layer.W[...] = W
        layer.b[...] = b

    # -- the per-neuron model -------------------------------------------------------------------------------
    n_weights = sum(W.size for W in Ws)
    use_reference = n_weights <= REFERENCE_LIMIT if reference is None else bool(reference)
    note = None if use_reference else (
        "the per-neuron model was not asked for" if reference is False else
        f"the per-neuron model was not built ({n_weights:,} weights, more than {REFERENCE_LIMIT:,}; "
        f"pass reference=True or --reference to build it anyway)")
    ref_values: dict[str, list[np.ndarray]] = {}
    C_ref = None
    if use_reference:
        ref = ReferenceNetwork.from_network(net64)
        ref.backprop(X[0].tolist(), target.tolist())
        nodes = ref.layers[1:]
        ref_values["z"] = [np.array([n.z for n in layer.nodes]) for layer in nodes]
        ref_values["a"] = [np.array([n.output for n in layer.nodes]) for layer in nodes]
        ref_values["delta"] = [np.array([n.delta for n in layer.nodes]) for layer in nodes]
        ref_values["nabla_b"] = [np.array([n.bias_gradient for n in layer.nodes]) for layer in nodes]
        grads = []
        for l, layer in enumerate(nodes):
            G = np.empty_like(Ws[l])
            for node in layer.nodes:
                for c in node.upstream:
                    G[c.upstream.index, node.index] = c.gradient
            grads.append(G)
        ref_values["nabla_W"] = grads
        C_ref = ref.cost_value([n.output for n in nodes[-1].nodes], target.tolist())
        ref.sgd_step(X[0].tolist(), target.tolist(), eta)
        ref_values["W_new"] = [np.array(W) for W in ref.weights]
        ref_values["b_new"] = [np.array([n.bias for n in layer.nodes]) for layer in ref.layers[1:]]

    # -- the records ----------------------------------------------------------------------------------------
    tiny = max(net64.sizes) <= TINY_UNITS
    L = len(layers)
    traced = []
    for l, layer in enumerate(layers):
        k, n_in, n_out = l + 1, layer.n_in, layer.n_out
        act = layer.activation.name
        a_prev = X[0] if l == 0 else As[l - 1]
        prev = "x" if l == 0 else f"a^{l}"

        def q(key, symbol, equation, value, numeric=None, work=None, cells=None):
            """A Quantity; ``work(i)`` (or ``work(i, j)`` for a matrix) is its arithmetic, kept for tiny networks."""
            refv = ref_values[key][l] if key in ref_values else None
            steps = None
            if tiny and work is not None:
                steps = ([work(j) for j in range(n_out)] if cells is None
                         else [work(i, j) for i in range(n_in) for j in range(n_out)])
            return Quantity(key, symbol, equation, value, refv, numeric, steps, floor)

        record = LayerTrace(k, n_in, n_out, act, Ws[l], bs[l])
        record.quantities["z"] = q("z", f"z^{k}", f"z^{k} = {prev} W^{k} + b^{k}", zs[l],
                                   work=lambda j: _work_z(a_prev, Ws[l][:, j], bs[l][j]))
        record.quantities["a"] = q("a", f"a^{k}", f"a^{k} = {_sigma(act)}(z^{k})", As[l],
                                   work=lambda j: _work_a(act, zs[l], As[l], j))
        if l == L - 1:
            equation = (f"BP1: δ^{k} = a^{k} - y (cross-entropy cancels σ')" if _fused(cost, act)
                        else f"BP1: δ^{k} = ∇_a C ⊙ σ'(z^{k})")
            work = lambda j: _work_bp1(cost.name, act, zs[l], As[l], target, j)  # noqa: E731
        else:
            equation = f"BP2: δ^{k} = (δ^{k + 1} (W^{k + 1})ᵀ) ⊙ σ'(z^{k})"
            work = lambda j: _work_bp2(act, zs[l], As[l], Ws[l + 1][j], deltas[l + 1], j, k + 1)  # noqa: E731
        record.quantities["delta"] = q("delta", f"δ^{k}", equation, deltas[l], num_delta[l], work)
        record.quantities["nabla_b"] = q("nabla_b", f"∂C/∂b^{k}", f"BP3: ∂C/∂b^{k} = δ^{k}", nabla_b[l], num_b[l],
                                         lambda j: f"δ^{k}[{j}] = {_n(deltas[l][j])}")
        record.quantities["nabla_W"] = q(
            "nabla_W", f"∂C/∂W^{k}", f"BP4: ∂C/∂W^{k} = ({prev})ᵀ δ^{k}", nabla_W[l], num_W[l],
            lambda i, j: f"{prev}[{i}]·δ^{k}[{j}] = {_p(a_prev[i])}·{_p(deltas[l][j])}", cells=True)
        record.quantities["W_new"] = q(
            "W_new", f"W^{k} new", f"W^{k} new = W^{k} - η ∂C/∂W^{k}", W_new[l], Ws[l] - eta * num_W[l],
            lambda i, j: f"{_n(Ws[l][i, j])} - {eta:g}·{_p(nabla_W[l][i, j])}", cells=True)
        record.quantities["b_new"] = q(
            "b_new", f"b^{k} new", f"b^{k} new = b^{k} - η ∂C/∂b^{k}", b_new[l], bs[l] - eta * num_b[l],
            lambda j: f"{_n(bs[l][j])} - {eta:g}·{_p(nabla_b[l][j])}")
        traced.append(record)
    return Trace(repr(net), list(net64.sizes), cost.name, layers[-1].activation.name, X[0].copy(), target,
                 As[-1].copy(), C, C_after, C_ref, float(eta), float(eps), traced, note)


def _cost_from_z(net64, layers, l: int, z: np.ndarray, Y: np.ndarray) -> float:
    """C when layer ``l``'s weighted input is ``z``: the rest of the network forward, then the cost."""
    if l == len(layers) - 1:
        Z = z
        A = layers[l].activation.forward(z.copy())
    else:
        A = layers[l].activation.forward(z.copy())
        for layer in layers[l + 1:-1]:
            A = layer.forward(A, training=False)
        Z, A = layers[-1].forward_logits(A)
    return float(net64.cost.value(Z, A, Y))


def _fused(cost, activation: str) -> bool:
    return cost.name == "cross_entropy" and activation in ("sigmoid", "softmax")


# --------------------------------------------------------------------------
# by hand: the arithmetic of each entry (tiny networks)
# --------------------------------------------------------------------------
def _n(v: float) -> str:
    """A number as the text shows it: 6 decimals, or scientific when tiny or huge."""
    v = float(v)
    if v == 0:
        return "0"
    if 1e-4 <= abs(v) < 1e5:
        text = f"{v:.6f}".rstrip("0").rstrip(".")
        return text if text not in ("-0", "") else "0"
    return f"{v:.4e}"


def _sigma(act: str) -> str:
    return {"sigmoid": "σ", "tanh": "tanh", "relu": "relu", "leaky_relu": "leaky_relu", "identity": "identity",
            "softmax": "softmax"}.get(act, act)


def _p(v: float) -> str:
    """A number in a product: negative ones in parentheses."""
    text = _n(v)
    return f"({text})" if text.startswith("-") else text


def _work_z(a_prev: np.ndarray, w: np.ndarray, b: float) -> str:
    terms = " + ".join(f"{_p(a)}·{_p(wi)}" for a, wi in zip(a_prev, w))
    return f"{terms} + {_p(b)}"


def _derivative(act: str, z: float, a: float) -> tuple[str, str]:
    """σ'(z) for one unit: its formula and the same with the numbers."""
    if act == "sigmoid":
        return "a(1 - a)", f"{_p(a)}·(1 - {_p(a)})"
    if act == "tanh":
        return "(1 - a²)", f"(1 - {_p(a)}²)"
    if act == "relu":
        return "relu'(z)", "1" if z > 0 else "0"
    if act == "leaky_relu":
        return "leaky_relu'(z)", "1" if z > 0 else "α"
    return "1", "1"


def _work_a(act: str, z: np.ndarray, a: np.ndarray, j: int) -> str:
    if act == "sigmoid":
        return f"1 / (1 + e^{_p(-z[j])})"
    if act == "tanh":
        return f"tanh({_n(z[j])})"
    if act == "relu":
        return f"max(0, {_n(z[j])})"
    if act == "leaky_relu":
        return f"{_n(z[j])}" if z[j] > 0 else f"α·{_p(z[j])}"
    if act == "softmax":
        return f"e^(z_{j} - max z) / Σ_k e^(z_k - max z) = {_n(math.exp(z[j] - z.max()))} / " \
               f"{_n(np.exp(z - z.max()).sum())}"
    return _n(z[j])


def _work_bp1(cost: str, act: str, z: np.ndarray, a: np.ndarray, y: np.ndarray, j: int) -> str:
    if cost == "cross_entropy" and act in ("sigmoid", "softmax"):
        if act == "softmax" and abs(y.sum() - 1) > 1e-12:
            return f"a·Σy - y = {_p(a[j])}·{_p(y.sum())} - {_p(y[j])}"
        return f"a - y = {_n(a[j])} - {_p(y[j])}"
    if act == "softmax":       # quadratic through the softmax Jacobian
        dot = float(np.dot(a - y, a))
        return f"a·((a - y) - Σ_k (a_k - y_k) a_k) = {_p(a[j])}·(({_n(a[j])} - {_p(y[j])}) - {_p(dot)})"
    formula, numbers = _derivative(act, z[j], a[j])
    return f"(a - y)·{formula} = ({_n(a[j])} - {_p(y[j])})·{numbers}"


def _work_bp2(act: str, z: np.ndarray, a: np.ndarray, w_row: np.ndarray, delta_next: np.ndarray, j: int,
              nxt: int) -> str:
    terms = " + ".join(f"{_p(w)}·{_p(d)}" for w, d in zip(w_row, delta_next))
    formula, numbers = _derivative(act, z[j], a[j])
    return f"(Σ_m W^{nxt}[{j},m] δ^{nxt}[m])·{formula} = ({terms})·{numbers}"


# --------------------------------------------------------------------------
# text
# --------------------------------------------------------------------------
def _nan_to_none(a: np.ndarray):
    return np.where(np.isnan(a), None, a).tolist() if a.size else []


def _stats(a: np.ndarray) -> dict[str, float]:
    a = np.asarray(a, dtype=np.float64)
    return {"min": float(a.min()), "mean": float(a.mean()), "max": float(a.max()),
            "norm": float(np.sqrt((a * a).sum()))}


def _maybe(a: np.ndarray, full: bool):
    return a.tolist() if full or a.size <= SHOW_ALL else {"shape": list(a.shape), "summary": _stats(a)}


def _shape(a: np.ndarray) -> str:
    return "(" + ", ".join(map(str, a.shape)) + ("," if a.ndim == 1 else "") + ")"


def _vector(a: np.ndarray) -> str:
    return "[" + ", ".join(_n(v) for v in np.asarray(a).reshape(-1)) + "]"


def _err(v: float | None) -> str:
    return "–" if v is None else f"{v:.1e}"


def _index(shape: tuple[int, ...], flat: int) -> str:
    if len(shape) == 1:
        return f"[{flat}]"
    return f"[{flat // shape[1]},{flat % shape[1]}]"


def _format(t: Trace, full: bool) -> list[str]:
    arch = "-".join(map(str, t.sizes))
    lines = [f"Trace of one sample through {t.network}, in float64",
             f"  x = a^0 {_shape(t.x)}  " + (_vector(t.x) if full or t.x.size <= SHOW_ALL else _summary(t.x)),
             f"  y       {_shape(t.y)}  {_vector(t.y)}",
             "Each value three ways: bpnn = the vectorised network (Network.backprop),",
             "  neuron = the per-neuron model (bpnn/nn/reference.py),",
             f"  numeric = central differences (C(p + ε) - C(p - ε)) / 2ε, ε = {t.eps:g}, for every derivative."]
    if t.reference_note:
        lines.append(f"Note: {t.reference_note}.")
    if not full:
        lines.append(f"A {arch} network is too large to print whole: each quantity as its shape, range and "
                     f"norm, and how closely the three agree (--full prints every value).")
    lines += ["", "Forward pass: z^l = a^(l-1) W^l + b^l,  a^l = σ(z^l)"]
    for layer in t.layers:
        lines.append(f"layer {layer.index}: {layer.n_in} -> {layer.n_out}, {layer.activation}")
        for name, value in ((f"W^{layer.index}", layer.W), (f"b^{layer.index}", layer.b)):
            shown = _matrix(value) if full or value.size <= SHOW_ALL else _summary(value)
            lines.append(f"  {name:<6} {_shape(value):<10} {shown}")
        for key in ("z", "a"):
            lines += _quantity(layer[key], full, numeric=False)
    cost_line = (f"Cost C = {'½‖a^L - y‖²' if t.cost_name == 'quadratic' else 'cross-entropy'} = {_n(t.cost)}"
                 + (f"   (neuron {_n(t.cost_reference)})" if t.cost_reference is not None else ""))
    lines += ["", cost_line, "", "Backward pass (the numeric column of δ nudges z itself)"]
    for layer in reversed(t.layers):
        lines += _quantity(layer["delta"], full)
    for layer in reversed(t.layers):
        lines += _quantity(layer["nabla_b"], full)
    for layer in reversed(t.layers):
        lines += _quantity(layer["nabla_W"], full)
    lines += ["", f"Update, one step of gradient descent with η = {t.eta:g}: W^l ← W^l - η ∂C/∂W^l, "
                  f"b^l ← b^l - η ∂C/∂b^l"]
    for layer in t.layers:
        lines += _quantity(layer["W_new"], full)
        lines += _quantity(layer["b_new"], full)
    change = "went down" if t.cost_after < t.cost else ("did not change" if t.cost_after == t.cost else "went UP")
    lines += ["", f"Cost after the update: C = {_n(t.cost_after)} (was {_n(t.cost)}): the step {change}"
                  + ("." if t.cost_after <= t.cost else "; η is too large for this sample.")]
    verdict = "agree" if t.passed else "DISAGREE"
    who = "bpnn, the per-neuron model and central differences" if t.cost_reference is not None else \
        "bpnn and central differences"
    worst = ([f"neuron {_err(t.worst_reference_error)} (tolerance {REFERENCE_TOLERANCE:g})"]
             if t.worst_reference_error is not None else [])
    worst.append(f"numeric {_err(t.worst_numeric_error)} relative error (tolerance {NUMERIC_TOLERANCE:g})")
    lines.append(f"Verdict: {who} {verdict}; worst: {', '.join(worst)}.")
    return lines


def _summary(a: np.ndarray) -> str:
    s = _stats(a)
    return f"min {_n(s['min'])}  mean {_n(s['mean'])}  max {_n(s['max'])}  ‖·‖ {_n(s['norm'])}"


def _matrix(a: np.ndarray) -> str:
    if a.ndim == 1:
        return _vector(a)
    return "[" + ", ".join(_vector(row) for row in a) + "]"


def _quantity(q: Quantity, full: bool, numeric: bool = True) -> list[str]:
    check = []
    if q.reference_error is not None:
        check.append(f"neuron {_err(q.reference_error)}")
    if numeric and q.numeric_error is not None:
        total = q.vectorised.size
        check.append(f"numeric {_err(q.numeric_error)}" + ("" if q.checked == total else f" ({q.checked} of "
                                                                                              f"{total} checked)"))
    agreement = ("agree: " + ", ".join(check) + (" ✓" if q.agrees else "  ✗ DISAGREE")) if check else ""
    head = f"  {q.equation}    shape {_shape(q.vectorised)}"
    if not (full or q.vectorised.size <= SHOW_ALL):
        return [head, f"      {_summary(q.vectorised)}   {agreement}".rstrip()]
    has_ref, has_num = q.reference is not None, numeric and q.numeric is not None
    columns = "      entry      bpnn          " + ("neuron        " if has_ref else "") + \
              ("numeric       " if has_num else "") + ("by hand" if q.work else "")
    out = [head, columns.rstrip()]
    flat = q.vectorised.reshape(-1)
    ref = None if not has_ref else q.reference.reshape(-1)
    num = None if not has_num else q.numeric.reshape(-1)
    for i, v in enumerate(flat):
        row = f"      {_index(q.shape, i):<10} {_n(v):<13} "
        if ref is not None:
            row += f"{_n(ref[i]):<13} "
        if num is not None:
            row += f"{'–' if np.isnan(num[i]) else _n(num[i]):<13} "
        if q.work:
            row += q.work[i]
        out.append(row.rstrip())
    if agreement:
        out.append(f"      {agreement}")
    return out
