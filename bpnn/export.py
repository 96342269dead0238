"""Export a trained model to ONNX: :func:`export_onnx` (``bpnn export MODEL --onnx OUT.onnx``).

The graph is the network's forward pass at inference, one group per layer::

    input ─ [Sub mean ─ Div std] ─ MatMul W¹ ─ Add b¹ ─ σ ─ ... ─ MatMul Wᴸ ─ Add bᴸ ─ σᴸ ─ probabilities
                                                                                      └─ ArgMax ─ index ─ Gather ─ label

* the standardisation, when the model has one, comes first as ``Sub``/``Div``;
* each ``Dense`` layer is ``MatMul``, ``Add`` and its activation (``Sigmoid``,
  ``Tanh``, ``Relu``, ``LeakyRelu``, ``Softmax``; nothing for identity);
* ``Dropout`` is left out: inverted dropout is the identity at inference;
* the tensors keep the network's dtype (float32 stays float32), so the input
  is ``float`` (or ``double`` for a float64 network) of shape ``(N, n_inputs)``;
* the class names (``label``) come from a constant tensor indexed by the
  ``ArgMax`` (``index``); class names, preprocessing, architecture and bpnn's
  version are also in the model's ``metadata_props``.

A fitted :class:`~bpnn.sklearn.BPNNClassifier` exports its own
``predict_proba`` (rows summing to 1, see :mod:`bpnn.sklearn`) and its
``classes_`` values (strings, integers, ...) as ``label``; a multilabel one
gives per-label ``probabilities`` and a 0/1 ``label`` matrix; a
:class:`~bpnn.sklearn.BPNNRegressor` gives ``predictions``.

Needs the ``onnx`` package (``pip install "bpnn[onnx]"``, which also brings
onnxruntime to run the result).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .exceptions import BpnnError
from .model import TrainedModel
from .nn.layers import Dense, Dropout
from .nn.network import Network

__all__ = ["export_onnx", "OPSET"]

#: the ONNX operator set the graphs use (every operator here is in it), and the IR version that goes with it
OPSET = 17
IR_VERSION = 8

_ACTIVATION_OPS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "leaky_relu": "LeakyRelu",
                   "softmax": "Softmax", "identity": None}


def _onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise BpnnError('ONNX export needs the onnx package: pip install "bpnn[onnx]" (or pip install onnx)') from None
    return onnx, helper, numpy_helper


def _as_model(model: Any) -> TrainedModel:
    if isinstance(model, TrainedModel):
        return model
    if isinstance(model, Network):
        return TrainedModel(model)
    if isinstance(model, (str, os.PathLike)):
        from .io.modelfile import load

        return load(model)
    if hasattr(model, "to_model") and hasattr(model, "get_params"):      # a fitted bpnn.sklearn estimator
        return model.to_model()
    raise TypeError(f"export_onnx needs a TrainedModel, a Network, a model file path or a fitted bpnn.sklearn "
                    f"estimator, got {type(model).__name__}")


class _Graph:
    """Collects nodes and constants with unique names."""

    def __init__(self, helper, numpy_helper, dtype: np.dtype) -> None:
        self.helper, self.numpy_helper, self.dtype = helper, numpy_helper, dtype
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, stem: str, array: np.ndarray) -> str:
        name = self.name(stem)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], stem: str | None = None, output: str | None = None,
           **attrs) -> str:
        out = output or self.name(stem or op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=self.name(op_type), **attrs))
        return out


def _classes_tensor(values: list, dtype: str | None) -> np.ndarray:
    """The class labels as a constant: int64, float, bool, or strings (object array)."""
    kind = np.dtype(dtype).kind if dtype not in (None, "str") else "U"
    if kind in "iu":
        return np.asarray(values, np.int64)
    if kind == "f":
        return np.asarray(values, np.dtype(dtype))
    if kind == "b":
        return np.asarray(values, np.bool_)
    return np.asarray([str(v) for v in values], dtype=object)


def _log_sigmoid(g: _Graph, z: str, dtype: np.dtype) -> str:
    """log σ(z) = min(z, 0) - ln(1 + e^(-|z|)), stable for any z (with operators that have float and double kernels)."""
    low = g.op("Min", [z, g.const("zero", np.asarray(0, dtype))])
    tail = g.op("Exp", [g.op("Neg", [g.op("Abs", [z])])])
    return g.op("Sub", [low, g.op("Log", [g.op("Add", [tail, g.const("one", np.asarray(1, dtype))])])], "scores")


def export_onnx(model: Any, path: str | os.PathLike | None = None) -> Any:
    """Write ``model`` as an ONNX graph; return the ``onnx.ModelProto``.

    Parameters
    ----------
    model : TrainedModel, Network, path of a bpnn model file, or fitted BPNNClassifier / BPNNRegressor
    path : str or os.PathLike, optional
        Where to write the ``.onnx`` file (atomically); nothing is written when None.

    Returns
    -------
    onnx.ModelProto
        Input ``input`` ``(N, n_inputs)`` in the network's dtype; outputs
        ``probabilities`` ``(N, k)``, ``index`` ``(N,)`` int64 and ``label``
        ``(N,)`` (class names as strings, or the estimator's ``classes_``
        values); a multilabel classifier gives ``probabilities`` and a 0/1
        ``label`` ``(N, k)``; a regressor ``predictions`` ``(N, k)``.

    Examples
    --------
    >>> import bpnn
    >>> onnx_model = bpnn.export_onnx(bpnn.load("mnist.safetensors"), "mnist.onnx")   # doctest: +SKIP
    """
    onnx, helper, numpy_helper = _onnx()
    trained = _as_model(model)
    net = trained.network
    if net.code is not None:
        raise ValueError(f"{net!r} reads its {net.code.n_classes} classes from a {net.code.name} output code "
                         f"(nearest code word), which the ONNX export does not write yet; export a one-hot model "
                         f"(bpnn train without --targets binary)")
    dtype = net.dtype
    elem = helper.np_dtype_to_tensor_dtype(dtype)
    g = _Graph(helper, numpy_helper, dtype)
    sk = trained.metadata.get("sklearn") if isinstance(trained.metadata.get("sklearn"), dict) else None
    task = sk.get("task") if sk else "multiclass"

    x = "input"
    pre = trained.preprocessing
    if pre.mean is not None:
        x = g.op("Sub", [x, g.const("mean", np.atleast_1d(np.asarray(pre.mean, dtype)))], "standardized")
        x = g.op("Div", [x, g.const("std", np.atleast_1d(np.asarray(pre.std, dtype)))], "standardized")
    z = a = x
    l = 0
    for layer in net.layers:
        if isinstance(layer, Dropout):
            continue                                   # inverted dropout: the identity at inference
        if not isinstance(layer, Dense):
            raise BpnnError(f"cannot export the layer {layer!r} to ONNX")
        l += 1
        act = layer.activation.name
        if act not in _ACTIVATION_OPS:
            raise BpnnError(f"cannot export the activation {act!r} to ONNX")
        z = g.op("MatMul", [a, g.const(f"W{l}", layer.W)], f"matmul{l}")
        z = g.op("Add", [z, g.const(f"b{l}", layer.b)], f"z{l}")
        op = _ACTIVATION_OPS[act]
        if op is None:
            a = z
        elif op == "LeakyRelu":
            a = g.op(op, [z], f"a{l}", alpha=float(layer.activation.alpha))
        elif op == "Softmax":
            a = g.op(op, [z], f"a{l}", axis=-1)
        else:
            a = g.op(op, [z], f"a{l}")
    output_act = net.output_layer.activation.name
    n = "N"
    k = net.n_outputs
    outputs = []

    if task == "regression":
        g.op("Identity", [a], output="predictions")
        outputs.append(helper.make_tensor_value_info("predictions", elem, [n, k]))
        classes_doc: Any = None
    elif task == "multilabel":
        g.op("Identity", [a], output="probabilities")
        over = g.op("Greater", [a, g.const("half", np.asarray(0.5, dtype))], "over_half")
        g.op("Cast", [over], output="label", to=helper.np_dtype_to_tensor_dtype(
            np.dtype(sk.get("label_dtype", "<i8"))))
        outputs += [helper.make_tensor_value_info("probabilities", elem, [n, k]),
                    helper.make_tensor_value_info("label", helper.np_dtype_to_tensor_dtype(
                        np.dtype(sk.get("label_dtype", "<i8"))), [n, k])]
        classes_doc = list(range(k))
    else:
        if sk is not None:
            # the estimator's probabilities: softmax of its per-class scores (bpnn.sklearn._scores)
            if output_act == "softmax":
                scores, probabilities = z, a
            else:
                if output_act == "sigmoid":              # log σ(z)
                    scores = _log_sigmoid(g, z, dtype)
                elif output_act == "tanh":               # log (1 + tanh z)/2 = log σ(2z)
                    scores = _log_sigmoid(g, g.op("Mul", [z, g.const("two", np.asarray(2, dtype))]), dtype)
                else:                                    # identity, relu, leaky_relu
                    scores = a
                probabilities = g.op("Softmax", [scores], "probabilities_", axis=-1)
            spec = sk["classes"]
            labels = _classes_tensor(spec["values"], spec.get("dtype"))
            classes_doc = list(spec["values"])
        else:
            scores, probabilities = a, a
            labels = _classes_tensor(list(trained.classes), None)
            classes_doc = list(trained.classes)
        g.op("Identity", [probabilities], output="probabilities")
        g.op("ArgMax", [scores], output="index", axis=1, keepdims=0)
        g.op("Gather", [g.const("classes", labels), "index"], output="label", axis=0)
        label_type = helper.np_dtype_to_tensor_dtype(labels.dtype) if labels.dtype != object \
            else onnx.TensorProto.STRING
        outputs += [helper.make_tensor_value_info("probabilities", elem, [n, k]),
                    helper.make_tensor_value_info("index", onnx.TensorProto.INT64, [n]),
                    helper.make_tensor_value_info("label", label_type, [n])]

    graph = helper.make_graph(g.nodes, "bpnn", [helper.make_tensor_value_info("input", elem, [n, net.n_inputs])],
                              outputs, g.initializers)
    onnx_model = helper.make_model(graph, producer_name="bpnn", producer_version=__version__,
                                   opset_imports=[helper.make_opsetid("", OPSET)],
                                   doc_string=f"{net!r} exported by bpnn {__version__}")
    onnx_model.ir_version = IR_VERSION
    metadata = {
        "bpnn_version": __version__,
        "task": task,
        "classes": json.dumps(classes_doc),
        "preprocessing": json.dumps({**pre.to_json(), **{k_: np.asarray(v).tolist() for k_, v in
                                                       pre.arrays().items()}}),
        "architecture": json.dumps(net.config()),
        "dropout": "left out (inverted dropout is the identity at inference)",
    }
    if sk is not None:
        metadata["estimator"] = sk.get("estimator", "")
        if sk.get("feature_names_in"):
            metadata["feature_names_in"] = json.dumps(sk["feature_names_in"])
    helper.set_model_props(onnx_model, metadata)
    onnx.checker.check_model(onnx_model, full_check=True)
    if path is not None:
        from .io.container import atomic_write_bytes

        atomic_write_bytes(Path(path), onnx_model.SerializeToString())
    return onnx_model
