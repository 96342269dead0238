"""The feed-forward network: layers, the forward pass and backpropagation.

Training loops live in :mod:`bpnn.nn.training`, update rules in
:mod:`bpnn.optimizers`; this module holds the model and the four equations.

Batch-first notation (one sample per row, m rows in a mini-batch)::

    Z^l = A^(l-1) W^l + b^l,  A^l = σ(Z^l)                     forward
    BP1  δ^L = ∇_A C ⊙ σ'(Z^L)                                  output error
    BP2  δ^l = (δ^(l+1) (W^(l+1))ᵀ) ⊙ σ'(Z^l)                  hidden error
    BP3  ∂C/∂b^l = (1/m) Σ_rows δ^l
    BP4  ∂C/∂W^l = (1/m) (A^(l-1))ᵀ δ^l

All parameters live in one flat buffer (weights first, then biases) with
each layer's ``W`` and ``b`` a view into it, and likewise the gradients, so
an optimizer updates the whole network in a few vectorised passes.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from . import _validation, accel
from . import training as _training
from .activations import Activation, get_activation
from .codes import OutputCode
from .costs import Cost, get_cost
from .initializers import Initializer, get_initializer
from .layers import Dense, Dropout, Layer

__all__ = ["Network", "Evaluation"]

#: rows per chunk when predicting, to bound memory on large inputs
PREDICT_CHUNK = 2048


class Evaluation(NamedTuple):
    """Result of :meth:`Network.evaluate`, read by attribute or by key.

    >>> ev = Evaluation(0.95, 0.1, 95, 100)
    >>> ev.accuracy, ev["correct"], ev.to_dict()["error_rate"]
    (0.95, 95, 0.050000000000000044)
    """

    accuracy: float
    loss: float
    correct: int
    total: int

    @property
    def error_rate(self) -> float:
        return 1.0 - self.accuracy

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self._fields and key != "error_rate":
                raise KeyError(f"{key!r}; an Evaluation has {', '.join(self._fields)}, error_rate")
            return getattr(self, key)
        return tuple.__getitem__(self, key)

    def keys(self) -> tuple[str, ...]:
        return (*self._fields, "error_rate")

    def to_dict(self) -> dict:
        """``{"accuracy", "loss", "correct", "total", "error_rate"}``, JSON-ready."""
        return {**self._asdict(), "error_rate": self.error_rate}


def _resolve_seed(seed) -> tuple[np.random.Generator, int | None]:
    if isinstance(seed, np.random.Generator):
        return seed, None
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or a numpy.random.Generator, got {seed!r}")
    return np.random.default_rng(int(seed)), int(seed)


class Network:
    """A fully connected feed-forward network trained by backpropagation.

    Parameters
    ----------
    layers : sequence of int, or sequence of Layer
        Layer sizes such as ``[784, 100, 10]`` (input, hidden..., output), or
        a list of :class:`~bpnn.nn.layers.Dense` and :class:`~bpnn.nn.layers.Dropout`
        layers whose widths chain, the last one Dense.
    activation : str or Activation, default "sigmoid"
        Hidden-layer activation (used when ``layers`` are sizes).
    output_activation : str or Activation, optional
        Output-layer activation; defaults to ``activation``.
    cost : {"quadratic", "cross_entropy"}, default "quadratic"
        ``cross_entropy`` is per-unit for sigmoid outputs and categorical
        (fused with the logits) for softmax outputs.
    init : str or callable, default "normal"
        Initialiser for layers that do not name their own.
    dtype : {"float32", "float64"}, default "float32"
    seed : int, numpy.random.Generator or None
        Seeds the network's own ``numpy.random.Generator``, which draws the
        initial weights, the shuffling and the dropout masks.  ``None`` draws
        a fresh seed and records it in :attr:`seed`.
    dropout : float, default 0.0
        With sizes, insert ``Dropout(dropout)`` after every hidden layer.
    input_dropout : float, default 0.0
        With sizes, insert ``Dropout(input_dropout)`` before the first layer:
        each input is dropped with this probability while training.
    code : OutputCode, optional
        How classes are written on the output units (see :mod:`bpnn.nn.codes`);
        default one unit per class, read by ``argmax``.  With a code, ``y``
        holds class indices, the targets are the code words and a prediction
        is the class of the nearest code word.

    Attributes
    ----------
    sizes : list of int
    layers : list of Layer
    weights : list of ndarray, ``weights[l]`` of shape ``(n_l, n_{l+1})``
    biases : list of ndarray, ``biases[l]`` of shape ``(n_{l+1},)``
    rng : numpy.random.Generator
    optimizer_ : Optimizer
        The optimizer of the last :meth:`fit` (with its state).
    history_ : History
        The history of the last :meth:`fit`.

    Examples
    --------
    >>> net = Network([784, 100, 10], activation="sigmoid", cost="quadratic", seed=0)
    >>> net
    Network(784-100-10, sigmoid, quadratic)
    """

    def __init__(
        self,
        layers: Sequence[int] | Sequence[Layer],
        activation: str | Activation = "sigmoid",
        output_activation: str | Activation | None = None,
        cost: str | Cost = "quadratic",
        init: str | Initializer = "normal",
        dtype: str | np.dtype = "float32",
        seed: int | np.random.Generator | None = None,
        dropout: float = 0.0,
        code: OutputCode | None = None,
        input_dropout: float = 0.0,
    ) -> None:
        self.dtype = _validation.check_dtype(dtype)
        get_initializer(init)
        self.init = init
        self.rng, self.seed = _resolve_seed(seed)
        layers = list(layers)
        if layers and all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in layers):
            self.layers = self._layers_from_sizes(layers, activation, output_activation, dropout, input_dropout)
        elif layers and all(isinstance(layer, Layer) for layer in layers):
            if dropout or input_dropout:
                raise ValueError("dropout= and input_dropout= apply to layer sizes; with explicit layers add "
                                 "Dropout(p) layers")
            self.layers = layers
        else:
            raise ValueError(
                f"layers must be a list of at least two positive sizes like [784, 100, 10] "
                f"or a list of Dense/Dropout layers, got {layers!r}"
            )
        self._check_layers()
        self.dense_layers: list[Dense] = [layer for layer in self.layers if isinstance(layer, Dense)]
        self.sizes = [self.dense_layers[0].n_in] + [layer.n_out for layer in self.dense_layers]
        self.output_layer = self.dense_layers[-1]
        self.cost = get_cost(cost, self.output_layer.activation)
        if code is not None and (not isinstance(code, OutputCode) or code.n_outputs != self.sizes[-1]):
            raise ValueError(f"the output code must be an OutputCode with {self.sizes[-1]} outputs (one per output "
                             f"unit), got {code!r}")
        self.code = code
        for layer in self.layers:
            layer.build(self.rng, self.dtype, init)
        self._allocate_flat()
        self.optimizer_ = None
        self.history_ = None

    # -- construction -------------------------------------------------------
    @staticmethod
    def _layers_from_sizes(sizes, activation, output_activation, dropout, input_dropout=0.0) -> list[Layer]:
        if len(sizes) < 2 or any(n < 1 for n in sizes):
            raise ValueError(f"layer sizes must be at least two positive integers like [784, 100, 10], got {sizes!r}")
        hidden = get_activation(activation)
        output = get_activation(output_activation) if output_activation is not None else hidden
        layers: list[Layer] = [Dropout(input_dropout)] if input_dropout else []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = i == len(sizes) - 2
            layers.append(Dense(n_in, n_out, output if last else type(hidden)(**vars(hidden))))
            if not last and dropout:
                layers.append(Dropout(dropout))
        return layers

    def _check_layers(self) -> None:
        if not isinstance(self.layers[-1], Dense):
            raise ValueError("the last layer must be Dense (the output layer)")
        width = None
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Dense):
                if width is not None and layer.n_in != width:
                    raise ValueError(
                        f"layer {i} ({layer!r}) takes {layer.n_in} inputs but the layer before it "
                        f"gives {width}; make n_in equal the previous n_out"
                    )
                width = layer.n_out
            elif isinstance(layer, Dropout):
                if width is None:               # input dropout: as wide as the first Dense layer's input
                    following = next((l for l in self.layers[i:] if isinstance(l, Dense)), None)
                    if i != 0 or not isinstance(following, Dense) or following is not self.layers[1]:
                        raise ValueError("one Dropout layer may come first (input dropout), directly before a "
                                         "Dense layer")
                    layer.n_in = layer.n_out = following.n_in
                else:
                    layer.n_in = layer.n_out = width
            else:
                raise ValueError(f"unsupported layer {layer!r}; use Dense and Dropout")
        if len(set(map(id, self.layers))) != len(self.layers):
            raise ValueError("the same layer object appears twice; create a new layer for each position")

    def _allocate_flat(self) -> None:
        """Move all parameters into one flat array (weights first) and bind views."""
        shapes = [(layer.n_in, layer.n_out) for layer in self.dense_layers]
        n_w = sum(a * b for a, b in shapes)
        n_b = sum(b for _, b in shapes)
        self.flat_params = np.empty(n_w + n_b, self.dtype)
        self.flat_grads = np.zeros(n_w + n_b, self.dtype)
        self.n_weight_params = n_w
        w_off, b_off = 0, n_w
        for layer, (a, b) in zip(self.dense_layers, shapes):
            W = self.flat_params[w_off:w_off + a * b].reshape(a, b)
            bias = self.flat_params[b_off:b_off + b]
            W[...] = layer.W
            bias[...] = layer.b
            layer.bind(W, bias,
                       self.flat_grads[w_off:w_off + a * b].reshape(a, b),
                       self.flat_grads[b_off:b_off + b])
            w_off += a * b
            b_off += b
        # nothing below the first layer needs ∂C/∂X
        for layer in self.layers:
            if isinstance(layer, Dense):
                layer.propagate_input_grad = False
                break

    # -- parameters ---------------------------------------------------------
    @property
    def weights(self) -> list[np.ndarray]:
        """``weights[l]`` of shape ``(n_l, n_{l+1})`` (views: edit in place)."""
        return [layer.W for layer in self.dense_layers]

    @property
    def biases(self) -> list[np.ndarray]:
        """``biases[l]`` of shape ``(n_{l+1},)`` (views: edit in place)."""
        return [layer.b for layer in self.dense_layers]

    @property
    def n_params(self) -> int:
        return int(self.flat_params.size)

    def set_params(self, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray]) -> None:
        """Copy the given weights and biases into the network (shapes must match)."""
        if len(weights) != len(self.dense_layers) or len(biases) != len(self.dense_layers):
            raise ValueError(
                f"expected {len(self.dense_layers)} weight matrices and bias vectors, "
                f"got {len(weights)} and {len(biases)}"
            )
        for l, (layer, W, b) in enumerate(zip(self.dense_layers, weights, biases)):
            W, b = np.asarray(W), np.asarray(b)
            if W.shape != layer.W.shape or b.shape != layer.b.shape:
                raise ValueError(
                    f"layer {l}: weights {W.shape} and biases {b.shape} do not fit "
                    f"{layer.W.shape} and {layer.b.shape}"
                )
            if not (np.isfinite(W).all() and np.isfinite(b).all()):
                raise ValueError(f"layer {l}: the weights or biases contain NaN or infinity")
        for layer, W, b in zip(self.dense_layers, weights, biases):
            layer.W[...] = W
            layer.b[...] = b

    @property
    def n_inputs(self) -> int:
        return self.sizes[0]

    @property
    def n_outputs(self) -> int:
        return self.sizes[-1]

    @property
    def n_classes(self) -> int:
        """Classes the network tells apart: one per output unit, or the code's rows."""
        return self.n_outputs if self.code is None else self.code.n_classes

    def decode(self, A: np.ndarray) -> np.ndarray:
        """The class each output row ``A^L`` stands for: ``argmax``, or the nearest code word; ``(n,)`` int64."""
        return A.argmax(axis=1) if self.code is None else self.code.decode(A)

    def _check_y(self, y, n_samples: int, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
        """``(labels, targets)`` of ``y`` for this network (class indices are encoded by its code, if any)."""
        if self.code is None:
            return _validation.check_y(y, n_samples, self.n_outputs, self.dtype, name=name)
        y = np.asarray(y) if isinstance(y, (list, tuple)) else y
        if isinstance(y, np.ndarray) and y.ndim == 2 and y.shape[1] == self.n_outputs:
            targets = np.ascontiguousarray(y, dtype=self.dtype)
            _validation.check_y(targets, n_samples, self.n_outputs, self.dtype, name=name)
            return self.code.decode(targets), targets
        labels, _ = _validation.check_y(y, n_samples, self.code.n_classes, self.dtype, name=name)
        return labels, self.code.encode(labels, self.dtype)

    def config(self) -> dict:
        """The architecture as JSON-serialisable data (no weights)."""
        return {
            "layers": [layer.config() for layer in self.layers],
            "cost": self.cost.name,
            "init": self.init if isinstance(self.init, str) else getattr(self.init, "__name__", None),
            "dtype": self.dtype.name,
            "seed": self.seed,
            **({"code": self.code.config()} if self.code is not None else {}),
        }

    @classmethod
    def from_config(cls, config: dict, seed=None) -> "Network":
        """Rebuild an (untrained) network from :meth:`config`."""
        layers: list[Layer] = []
        for cfg in config["layers"]:
            if cfg["type"] == "Dense":
                act = get_activation(cfg["activation"], **{k: v for k, v in cfg.items()
                                                           if k not in ("type", "n_in", "n_out", "activation", "init")})
                layers.append(Dense(cfg["n_in"], cfg["n_out"], act, cfg.get("init")))
            elif cfg["type"] == "Dropout":
                layers.append(Dropout(cfg["p"]))
            else:
                raise ValueError(f"unknown layer type {cfg['type']!r}")
        code = OutputCode.from_config(config["code"]) if config.get("code") else None
        return cls(layers, cost=config["cost"], init=config.get("init") or "normal",
                   dtype=config["dtype"], seed=config.get("seed") if seed is None else seed, code=code)

    def astype(self, dtype) -> "Network":
        """A copy of the network with parameters in ``dtype`` (e.g. float64 for gradient checks)."""
        config = self.config()
        config["dtype"] = _validation.check_dtype(dtype).name
        clone = Network.from_config(config, seed=np.random.default_rng(0))
        clone.flat_params[...] = self.flat_params
        clone.seed = self.seed
        clone.rng = np.random.default_rng()
        clone.rng.bit_generator.state = self.rng.bit_generator.state
        return clone

    def copy(self) -> "Network":
        """An independent copy with the same weights, dtype and RNG state."""
        return self.astype(self.dtype)

    # -- forward ------------------------------------------------------------
    def _output(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inference on validated rows: output ``(Z^L, A^L)``, each ``(n, k)``."""
        zs, As = [], []
        with accel.scope(self.n_params):
            for A in self._hidden_chunks(X):
                Z, A = self.output_layer.forward_logits(A)
                zs.append(Z)
                As.append(A)
        if len(zs) == 1:
            return zs[0], As[0]
        return np.concatenate(zs), np.concatenate(As)

    def _hidden_chunks(self, X: np.ndarray):
        """The input of the output layer for each chunk of :data:`PREDICT_CHUNK` rows (bounded memory)."""
        for start in range(0, X.shape[0], PREDICT_CHUNK):
            A = X[start:start + PREDICT_CHUNK]
            for layer in self.layers[:-1]:
                A = layer.forward(A, training=False)
            yield A

    def layer_outputs(self, X: np.ndarray) -> list[np.ndarray]:
        """Every Dense layer's activation for inputs ``X`` (inference: no dropout).

        The feedforward equation a^l = σ(a^{l-1} W^l + b^l), kept at each layer.

        Parameters
        ----------
        X : ndarray, shape (n, n_inputs)

        Returns
        -------
        list of ndarray
            ``[a^1, ..., a^L]``, ``a^l`` of shape ``(n, n_l)`` in the network's
            dtype; the last is :meth:`feedforward`'s output.
        """
        A = _validation.check_X(X, self.n_inputs, self.dtype)
        outputs = []
        with accel.scope(self.n_params):
            for layer in self.layers:
                A = layer.forward(A, training=False)
                if isinstance(layer, Dense):
                    outputs.append(A)
        return outputs

    def feedforward(self, X: np.ndarray) -> np.ndarray:
        """The network's output A^L for inputs ``X`` of shape ``(n, n_inputs)``; shape ``(n, n_outputs)``."""
        return self._output(_validation.check_X(X, self.n_inputs, self.dtype))[1]

    predict_proba = feedforward
    predict_proba.__doc__ = """Outputs for every row, shape ``(n, n_outputs)``.

        Probabilities for a softmax output; sigmoid activations in (0, 1) otherwise.
        """

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class index of every row, shape ``(n,)`` int64: the largest output (or the nearest code word)."""
        X = _validation.check_X(X, self.n_inputs, self.dtype)
        if self.code is not None:
            return self.decode(self._output(X)[1])
        parts = []
        with accel.scope(self.n_params):
            for A in self._hidden_chunks(X):
                # the last layer: a kernel's argmax without forming a softmax, else the reference's
                parts.append(self.output_layer.forward_labels(A, self.decode))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def evaluate(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> Evaluation:
        """Accuracy, mean cost, number correct and total on ``(X, y)``.

        ``y`` holds class indices ``(n,)`` or targets ``(n, n_outputs)``.
        With ``sample_weight`` (``(n,)``, >= 0) the accuracy and the cost are
        weighted means; ``correct`` and ``total`` still count rows.
        """
        X = _validation.check_X(X, self.n_inputs, self.dtype)
        labels, targets = self._check_y(y, X.shape[0])
        weights = None if sample_weight is None else _validation.check_sample_weight(
            sample_weight, X.shape[0], self.dtype)
        return self._score(X, labels, targets, weights)

    def _score(self, X: np.ndarray, labels: np.ndarray, targets: np.ndarray,
               weights: np.ndarray | None = None) -> Evaluation:
        """:meth:`evaluate` on inputs that are already validated."""
        Z, A = self._output(X)
        hits = self.decode(A) == labels
        correct = int(np.count_nonzero(hits))
        loss = self.cost.value(Z, A, targets, weights)
        if weights is None:
            accuracy = correct / X.shape[0]
        else:
            accuracy = float(weights @ hits) / float(weights.sum(dtype=np.float64))
        return Evaluation(accuracy, loss, correct, int(X.shape[0]))

    # -- backpropagation ----------------------------------------------------
    def backprop(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
        """One forward and backward pass over the mini-batch ``(X, Y)``.

        ``X`` is ``(m, n_inputs)`` and ``Y`` the targets ``(m, n_outputs)``,
        both already of the network's dtype.  Afterwards every layer's
        ``nabla_W``/``nabla_b`` (views into :attr:`flat_grads`) hold the
        gradient of the mean cost over the m rows, or with ``sample_weight``
        (``(m,)``, >= 0) of the weighted mean Σ_x w_x C_x / Σ_x w_x: BP1's
        δ^L of row x is scaled by w_x / Σ w instead of 1/m.  Returns the
        output A^L (a buffer reused by the next call).
        """
        row_scale = None
        if sample_weight is not None:
            w = _validation.check_sample_weight(sample_weight, X.shape[0], self.dtype)
            row_scale = w / w.sum(dtype=np.float64)
        with accel.scope(self.n_params):
            return self._backprop(X, Y, 1.0 / X.shape[0] if row_scale is None else 0.0, row_scale=row_scale)

    def _backprop(self, X: np.ndarray, Y: np.ndarray, scale: float,
                  Z_out: np.ndarray | None = None, A_out: np.ndarray | None = None,
                  row_scale: np.ndarray | None = None) -> np.ndarray:
        """:meth:`backprop` with the gradients multiplied by ``scale · m``.

        ``scale = 1/m`` gives the gradient of the mean cost.  BP2–BP4 are
        linear in δ^L, so scaling δ^L once scales every gradient: the
        training loop passes ``scale = η/m`` for SGD and momentum, which use
        the gradient only as η ∂C/∂p (plain SGD's step is then one pass).  Given ``Z_out`` and ``A_out``
        (``(m, n_outputs)`` arrays), the output layer writes Z^L and A^L there.
        Given ``row_scale`` (``(m,)``, the network's dtype), row x of δ^L is
        multiplied by ``row_scale[x]`` instead of ``scale``: weighted rows.
        """
        A = X
        layers = self.layers
        for layer in layers[:-1]:
            A = layer.forward(A, training=True)
        out = self.output_layer
        if Z_out is None:
            A = out.forward(A, training=True)
        else:
            A = out.forward_into(A, Z_out, A_out)
        # BP1: δ^L = ∇_A C ⊙ σ'(Z^L), times 1/m here once so that the sums
        # of BP3 and BP4 are the gradient of the mean cost.
        delta = out._buffers(X.shape[0])["delta"]
        if accel.try_output_delta(A, Y, delta, out.nabla_b, self.cost, out.activation, scale, row_scale):
            grad = out.backward_weights(delta)           # BP4 for layer L (BP3 came with δ^L)
        else:
            self.cost.delta(out.Z, A, Y, out.activation, out=delta)
            if row_scale is None:
                delta *= scale
            else:
                delta *= row_scale.astype(delta.dtype, copy=False)[:, None]
            grad = out.backward_delta(delta)             # BP3, BP4 for layer L
        for layer in reversed(layers[:-1]):
            grad = layer.backward(grad)                  # BP2, then BP3, BP4
        return A

    def gradients(self, X: np.ndarray, y: np.ndarray,
                  sample_weight: np.ndarray | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Gradient of the mean cost over the rows of ``X`` (dropout off), or of the
        weighted mean with ``sample_weight`` (see :meth:`backprop`).

        Returns
        -------
        nabla_w : list of ndarray, shapes as :attr:`weights`
        nabla_b : list of ndarray, shapes as :attr:`biases`
        """
        X = _validation.check_X(X, self.n_inputs, self.dtype)
        _, targets = self._check_y(y, X.shape[0])
        dropouts = [layer for layer in self.layers if isinstance(layer, Dropout)]
        saved = [layer.p for layer in dropouts]
        try:
            for layer in dropouts:
                layer.p = 0.0
            self.backprop(X, targets, sample_weight)
        finally:
            for layer, p in zip(dropouts, saved):
                layer.p = p
        return ([layer.nabla_W.copy() for layer in self.dense_layers],
                [layer.nabla_b.copy() for layer in self.dense_layers])

    # -- training -----------------------------------------------------------
    #: Train with mini-batch gradient descent: :func:`bpnn.nn.training.fit` with
    #: this network as ``net``; returns the :class:`~bpnn.nn.training.History`.
    fit = _training.fit

    # -- state and files ------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """The parameters by name (copies): ``dense.{l}.weight`` ``(n_l, n_{l+1})`` and ``dense.{l}.bias``.

        What model files and checkpoints store; :meth:`load_state_dict` puts it back.
        """
        state = {}
        for l, layer in enumerate(self.dense_layers):
            state[f"dense.{l}.weight"] = layer.W.copy()
            state[f"dense.{l}.bias"] = layer.b.copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy parameters from :meth:`state_dict`'s form into the network.

        Raises
        ------
        ValueError
            Naming the tensor that is missing, unexpected, misshapen, of
            another dtype (no silent conversion) or not finite.  Nothing is
            changed then.
        """
        expected = {f"dense.{l}.{kind}": getattr(layer, "W" if kind == "weight" else "b")
                    for l, layer in enumerate(self.dense_layers) for kind in ("weight", "bias")}
        missing = sorted(set(expected) - set(state))
        if missing:
            raise ValueError(f"the tensors {', '.join(missing)} are missing")
        unexpected = sorted(set(state) - set(expected))
        if unexpected:
            raise ValueError(f"tensors the architecture does not use: {', '.join(unexpected)}")
        for name, target in expected.items():
            array = state[name]
            if array.shape != target.shape:
                raise ValueError(f"tensor {name} has shape {array.shape} but the architecture needs {target.shape}")
            if array.dtype != self.dtype:
                raise ValueError(f"tensor {name} is {array.dtype}, the network is {self.dtype}")
            if not np.isfinite(array).all():
                raise ValueError(f"tensor {name} contains NaN or infinite values")
        for name, target in expected.items():
            target[...] = state[name]

    def __getstate__(self) -> dict:
        """Pickle (and deepcopy) the architecture, parameters, random generator, last
        optimizer and history, not the reusable buffers: the copy's layers are views into
        its own flat buffer again, so it trains like the original."""
        return {"config": self.config(), "params": self.flat_params, "rng": self.rng, "seed": self.seed,
                "init": self.init, "optimizer_": self.optimizer_, "history_": self.history_}

    def __setstate__(self, state: dict) -> None:
        config = state["config"]
        try:
            fresh = Network.from_config(config, seed=np.random.default_rng(0))
        except ValueError:      # an initialiser given as a function: the weights are set below anyway
            config = {**config, "init": "normal",
                      "layers": [{**cfg, "init": None} if cfg["type"] == "Dense" else cfg for cfg in config["layers"]]}
            fresh = Network.from_config(config, seed=np.random.default_rng(0))
        self.__dict__.update(fresh.__dict__)
        self.flat_params[...] = state["params"]
        self.rng, self.seed, self.init = state["rng"], state["seed"], state["init"]
        for layer in self.layers:
            if isinstance(layer, Dropout):
                layer._rng = self.rng
        self.optimizer_, self.history_ = state["optimizer_"], state["history_"]

    def save(self, path, **metadata) -> None:
        """Save to a model file: :func:`bpnn.save` of this network (``metadata``: its keyword arguments)."""
        from ..io.modelfile import save

        save(self, path, **metadata)

    # -- text ---------------------------------------------------------------
    def __repr__(self) -> str:
        hidden = {layer.activation.name for layer in self.dense_layers[:-1]}
        out = self.output_layer.activation.name
        acts = sorted(hidden) if hidden else []
        if acts != [out]:
            acts.append(out)
        arch = "-".join(str(n) for n in self.sizes)
        code = f", {self.code.name} code" if self.code is not None else ""
        return f"Network({arch}, {', '.join(acts)}, {self.cost.name}{code})"
