"""ONNX export: bpnn.export_onnx and ``bpnn export MODEL --onnx OUT.onnx``.

Every graph passes ``onnx.checker.check_model(full_check=True)``, and
onnxruntime's outputs equal bpnn's to 1e-5 with the same labels: on MNIST
models trained briefly (every hidden activation and output), on the 8x8
digits, and on the scikit-learn estimators.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import bpnn
from bpnn.cli import main
from bpnn.sklearn import BPNNClassifier, BPNNRegressor

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BPNN_TEST_MNIST", ROOT.parent / "shared" / "data" / "mnist")).parent
needs_mnist = pytest.mark.skipif(not (DATA / "mnist" / "t10k-images-idx3-ubyte.gz").exists(),
                                 reason=f"the MNIST files are not in {DATA / 'mnist'}")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _run(onnx_model, X, names=None):
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = names or [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"input": X})))


def _assert_matches_bpnn(model, onnx_model, X):
    """onnxruntime's probabilities within 1e-5 of bpnn's, the same argmax and class names.

    Where bpnn's two largest outputs are within 1e-5 of each other (saturated tanh or sigmoid units,
    ReLU outputs at 0) the row is a tie at that precision, which either runtime may break its own way:
    there onnxruntime's label must be one of bpnn's tied maxima; everywhere else it must be bpnn's.
    """
    onnx.checker.check_model(onnx_model, full_check=True)
    out = _run(onnx_model, X.astype(model.network.dtype))
    expected = model.predict_proba(X)
    assert out["probabilities"].dtype == model.network.dtype
    np.testing.assert_allclose(out["probabilities"], expected, rtol=0, atol=1e-5)
    rows = np.arange(len(X))
    assert (expected[rows, out["index"]] >= expected.max(axis=1) - 1e-5).all()
    top2 = np.sort(expected, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-5
    np.testing.assert_array_equal(out["index"][clear], model.predict(X)[clear])
    np.testing.assert_array_equal(out["label"], np.asarray(model.classes, dtype=object)[out["index"]])
    return out


# -- real MNIST models ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist():
    return {kind: bpnn.datasets.load("mnist", data_dir=str(DATA), validation=0,
                                     standardize=False if kind == "none" else kind) for kind in ("none", "feature")}


MNIST_MODELS = [  # hidden activation, output, cost, standardize, dropout
    ("sigmoid", "sigmoid", "quadratic", "none", 0.0),
    ("relu", "softmax", "cross_entropy", "feature", 0.3),
    ("tanh", "tanh", "quadratic", "none", 0.0),
    ("leaky_relu", "identity", "quadratic", "feature", 0.0),
    ("relu", "relu", "quadratic", "none", 0.2),
    ("sigmoid", "softmax", "cross_entropy", "feature", 0.0),
    ("identity", "leaky_relu", "quadratic", "none", 0.0),
]


@needs_mnist
@pytest.mark.parametrize("hidden,output,cost,standardize,dropout", MNIST_MODELS)
def test_onnxruntime_equals_bpnn_on_mnist_models(mnist, hidden, output, cost, standardize, dropout, tmp_path):
    ds = mnist[standardize]
    settings = bpnn.Settings(dataset="mnist", data_dir=str(DATA), validation=0, limit=6000, epochs=1,
                             hidden=[48, 24], activation=hidden, output=output, cost=cost, standardize=standardize,
                             dropout=dropout, optimizer="adam" if hidden != "sigmoid" else "sgd",
                             eta=None if hidden != "sigmoid" else 1.0, out=str(tmp_path / "m.safetensors"))
    bpnn.run(settings, data=ds)
    model = bpnn.load(tmp_path / "m.safetensors")                       # the model as a user has it
    onnx_model = bpnn.export_onnx(model, tmp_path / "m.onnx")
    X = ds.preprocessing.unstandardize_inputs(ds.test.X)                 # the model's inputs: pixels in [0, 1]
    out = _assert_matches_bpnn(model, onnx_model, X)
    assert (out["index"] == ds.test.y).mean() > 0.5                     # a trained model, not noise
    ops = [node.op_type for node in onnx_model.graph.node]
    assert ops.count("MatMul") == ops.count("Add") == 3 and "Dropout" not in ops
    assert (ops[:2] == ["Sub", "Div"]) == (standardize == "feature")
    assert onnx_model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    meta = {p.key: p.value for p in onnx_model.metadata_props}
    assert json.loads(meta["classes"]) == [str(i) for i in range(10)]
    assert json.loads(meta["preprocessing"])["standardize"] == (None if standardize == "none" else "feature")
    assert onnx.load(tmp_path / "m.onnx") == onnx_model


@needs_mnist
def test_the_command_line_exports_a_trained_mnist_model(mnist, tmp_path, capsys):
    settings = bpnn.Settings(dataset="mnist", data_dir=str(DATA), validation=0, limit=3000, epochs=1, hidden=[32],
                             standardize="feature", out=str(tmp_path / "mnist.safetensors"))
    bpnn.run(settings, data=mnist["feature"])
    assert main(["export", str(tmp_path / "mnist.safetensors"), "--onnx", str(tmp_path / "mnist.onnx")]) == 0
    line = capsys.readouterr().out
    assert "wrote" in line and "outputs probabilities, index, label" in line
    model, onnx_model = bpnn.load(tmp_path / "mnist.safetensors"), onnx.load(tmp_path / "mnist.onnx")
    _assert_matches_bpnn(model, onnx_model, mnist["none"].test.X[:2000])


# -- every activation, dtype and layer kind, without data files ----------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden,output", [("sigmoid", "sigmoid"), ("tanh", "softmax"), ("relu", "identity"),
                                           ("leaky_relu", "leaky_relu"), ("identity", "tanh"), ("relu", "relu")])
def test_every_activation_and_dtype_on_the_digits(hidden, output, dtype):
    from bpnn.nn.activations import LeakyReLU

    ds = bpnn.datasets.load("digits", dtype=dtype, standardize="global")
    act = LeakyReLU(0.2) if hidden == "leaky_relu" else hidden
    net = bpnn.Network([bpnn.Dense(64, 20, act), bpnn.Dropout(0.4), bpnn.Dense(20, 10, output)],
                       cost="cross_entropy" if output in ("sigmoid", "softmax") else "quadratic", dtype=dtype, seed=1)
    net.fit(ds.train.X, ds.train.y, epochs=3, batch_size=16, optimizer="adam", eta=0.01)
    model = bpnn.TrainedModel(net, ds.classes, ds.preprocessing)
    onnx_model = bpnn.export_onnx(model)
    elem = onnx.TensorProto.FLOAT if dtype == "float32" else onnx.TensorProto.DOUBLE
    assert onnx_model.graph.input[0].type.tensor_type.elem_type == elem
    assert {i.data_type for i in onnx_model.graph.initializer if i.name.startswith(("W", "b"))} == {elem}
    X = ds.preprocessing.unstandardize_inputs(ds.test.X)
    _assert_matches_bpnn(model, onnx_model, X)
    if hidden == "leaky_relu":
        node = next(n for n in onnx_model.graph.node if n.op_type == "LeakyRelu")
        assert node.attribute[0].f == pytest.approx(0.2)


def test_a_bare_network_and_a_path_export_too(tmp_path):
    net = bpnn.Network([64, 10], activation="softmax", cost="cross_entropy", seed=0)
    X = np.random.default_rng(0).random((7, 64), dtype=np.float32)
    out = _run(bpnn.export_onnx(net), X)
    np.testing.assert_allclose(out["probabilities"], net.predict_proba(X), atol=1e-6)
    net.save(tmp_path / "n.safetensors")
    assert bpnn.export_onnx(tmp_path / "n.safetensors", tmp_path / "n.onnx").graph.node
    with pytest.raises(TypeError, match="export_onnx needs"):
        bpnn.export_onnx(object())


def test_the_command_line_says_what_is_wrong(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing.safetensors"), "--onnx", str(tmp_path / "x.onnx")]) == 1
    assert "bpnn: error:" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing.safetensors")]) == 2           # --onnx is required


# -- the estimators ---------------------------------------------------------------------------------
def _estimator_data(classes=3):
    from sklearn.datasets import make_classification

    return make_classification(300, 8, n_informative=6, n_redundant=0, n_classes=classes, random_state=0)


@pytest.mark.parametrize("output,cost", [("softmax", "cross_entropy"), ("sigmoid", "cross_entropy"),
                                         ("tanh", "quadratic"), ("identity", "quadratic"), ("relu", "quadratic"),
                                         ("leaky_relu", "quadratic")])
@pytest.mark.parametrize("labels", [np.array(["cat", "dog", "emu"]), np.array([3, 10, 42])])
def test_onnxruntime_equals_the_classifier(output, cost, labels, tmp_path):
    X, y = _estimator_data()
    clf = BPNNClassifier(hidden_layer_sizes=(16, 8), activation="tanh", output_activation=output, cost=cost,
                         dropout=0.2, standardize="feature", optimizer="adam", eta=0.01, max_iter=20,
                         random_state=0).fit(X, labels[y])
    onnx_model = bpnn.export_onnx(clf, tmp_path / "clf.onnx")
    onnx.checker.check_model(onnx_model, full_check=True)
    out = _run(onnx_model, X.astype(np.float32))
    np.testing.assert_allclose(out["probabilities"], clf.predict_proba(X), rtol=0, atol=1e-5)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(out["label"], clf.predict(X))
    meta = {p.key: p.value for p in onnx_model.metadata_props}
    assert json.loads(meta["classes"]) == labels.tolist() and meta["estimator"] == "BPNNClassifier"
    clf.save(tmp_path / "clf.safetensors")                               # the file exports the same graph
    assert main(["export", str(tmp_path / "clf.safetensors"), "--onnx", str(tmp_path / "clf2.onnx")]) == 0
    again = _run(onnx.load(tmp_path / "clf2.onnx"), X.astype(np.float32))
    np.testing.assert_array_equal(again["label"], out["label"])


def test_onnxruntime_equals_a_multilabel_classifier_and_a_regressor():
    from sklearn.datasets import make_multilabel_classification, make_regression

    X, Y = make_multilabel_classification(200, 10, n_classes=4, random_state=0)
    clf = BPNNClassifier(optimizer="adam", eta=0.01, max_iter=30, random_state=0).fit(X, Y)
    out = _run(bpnn.export_onnx(clf), X.astype(np.float32))
    np.testing.assert_allclose(out["probabilities"], clf.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(out["label"], clf.predict(X))
    X, Y = make_regression(200, 5, n_targets=2, noise=1, random_state=0)
    Y /= Y.std(axis=0)
    reg = BPNNRegressor(standardize="global", max_iter=30, random_state=0, dtype="float64").fit(X, Y)
    out = _run(bpnn.export_onnx(reg), X)
    np.testing.assert_allclose(out["predictions"], reg.predict(X), atol=1e-9)
