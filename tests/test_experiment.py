"""The experiment layer: settings declared once, one run() that every interface shares."""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import bpnn
from bpnn.nn import accel
from bpnn.cli import build_parser
from bpnn.experiment import Result, run
from bpnn.nn.optimizers import OPTIMIZERS
from bpnn.settings import SETTINGS, Settings, SettingError, load_config

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BPNN_TEST_MNIST", ROOT.parent / "shared" / "data" / "mnist")).parent
needs_mnist = pytest.mark.skipif(not (DATA / "mnist" / "t10k-images-idx3-ubyte.gz").exists(),
                                 reason=f"the MNIST files are not in {DATA / 'mnist'}")

#: SHA-256 of S1's weights (784-30-10 sigmoid, N(0,1), SGD eta 3, batch 10, seed 0) after one epoch on the
#: real MNIST 50k split, recorded with the code before the experiment layer was written (commit 4f53c20).
S1_ONE_EPOCH_SHA256 = "310c28f06506de22d1bfb6544fbd3b12afec6b3cd604f4eec082680286908ed7"


def _sha(net) -> str:
    return hashlib.sha256(net.flat_params.tobytes()).hexdigest()


# -- bit-identical before and after -----------------------------------------------------------
@needs_mnist
def test_s1_one_epoch_weights_are_bit_identical_to_before_the_refactor():
    """The NumPy reference path is pinned bit for bit; the compiled kernels (same operations, but exp from
    the C library) follow it to float32 rounding, which 5,000 steps at η = 3 grow into different weights of
    the same quality."""
    settings = Settings.from_sources("s1", cli={"epochs": 1, "data_dir": str(DATA)})
    with accel.use_kernels("numpy"):
        result = run(settings)
        assert _sha(result.network) == S1_ONE_EPOCH_SHA256
        # and by hand through the API, the same numbers
        data = bpnn.datasets.load("mnist", data_dir=str(DATA), validation=10000)
        net = bpnn.Network([784, 30, 10], activation="sigmoid", cost="quadratic", init="normal", seed=0)
        net.fit(data.train.X, data.train.y, epochs=1, batch_size=10, eta=3.0)
        assert _sha(net) == S1_ONE_EPOCH_SHA256
    compiled = run(settings)
    assert abs(compiled.test.accuracy - result.test.accuracy) < 0.01


# -- run() --------------------------------------------------------------------------------------
def test_run_returns_the_model_history_evaluation_summary_and_timings(tmp_path):
    lines = []
    settings = Settings(epochs=3, hidden="24", out=str(tmp_path / "m.safetensors"),
                        metrics_out=str(tmp_path / "m.json"))
    result = run(settings, log=lines.append)
    assert isinstance(result, Result) and isinstance(result.model, bpnn.TrainedModel)
    assert len(result.history) == 3 and result.history.epochs == [1, 2, 3]
    assert result.test.total == 450 and 0.5 < result.test.accuracy <= 1.0
    assert result.summary["test_accuracy"] == result.test.accuracy and result.summary["epochs_run"] == 3
    assert set(result.timings) == {"data", "train", "test"} and all(v >= 0 for v in result.timings.values())
    assert any("Network(64-24-10" in line for line in lines)
    assert {p.name for p in result.written} == {"m.safetensors", "m.json"}
    back = bpnn.load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(back.network.flat_params, result.network.flat_params)
    assert back.preprocessing == result.model.preprocessing and back.preprocessing.scale == 16.0
    assert back.metadata["training"]["settings"]["hidden"] == [24]


def test_same_settings_same_weights_and_the_cli_runs_the_same_road(tmp_path, capsys):
    from bpnn.cli import main

    settings = Settings(epochs=2, hidden="16", seed=5)
    a, b = run(settings), run(settings)
    assert _sha(a.network) == _sha(b.network)
    assert main(["train", "--epochs", "2", "--hidden", "16", "--seed", "5", "--quiet",
                 "--out", str(tmp_path / "c.safetensors")]) == 0
    assert _sha(bpnn.load(tmp_path / "c.safetensors").network) == _sha(a.network)


# -- settings declared once -----------------------------------------------------------------------
def test_every_setting_is_an_option_of_bpnn_train_with_its_help_and_default():
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    options = {a.dest: a for a in train._actions}
    for name, setting in SETTINGS.items():
        assert name in options, name
        assert setting.help.split(" (")[0] in options[name].help
    text = train.format_help()
    assert "[default: 30]" in text and "--rho" in text and "--alpha" in text


def test_toml_round_trip_of_every_recipe(tmp_path):
    for name in bpnn.recipes.RECIPES:
        settings = Settings.from_sources(name)
        path = tmp_path / f"{name}.toml"
        path.write_text(settings.to_toml("header"))
        tomllib.loads(path.read_text())
        again = Settings.from_sources(config=load_config(path))
        assert again == settings, name


def test_every_optimizer_hyperparameter_reaches_the_optimizer_from_the_command_line(tmp_path):
    from bpnn.experiment import make_optimizer

    for name, cls in OPTIMIZERS.items():
        for param, default in cls.param_defaults().items():
            if param == "eta":
                continue
            value = default * 0.5 if param != "epsilon" else 1e-6
            settings = Settings.from_sources(cli={"optimizer": name, param: str(value)})
            settings.check()
            assert make_optimizer(settings).get_params()[param] == pytest.approx(value), (name, param)
    # defaults come from the classes themselves: one source
    assert make_optimizer(Settings(optimizer="sgd")).eta == OPTIMIZERS["sgd"].default_eta
    assert make_optimizer(Settings(optimizer="rmsprop")).rho == OPTIMIZERS["rmsprop"].param_defaults()["rho"]


def test_a_hyperparameter_of_another_rule_is_refused_and_a_new_rule_resets_the_old_ones():
    with pytest.raises(SettingError, match="--mu applies to the momentum and nesterov optimizers, not to adam"):
        Settings(optimizer="adam", mu=0.5).check()
    with pytest.raises(SettingError, match="--gamma applies to the step and exponential schedules"):
        Settings(schedule="cosine", gamma=0.5).check()
    switched = Settings.from_sources("best", cli={"optimizer": "adam"})      # best sets nesterov, mu, eta
    assert switched.mu is None and switched.eta is None
    switched.check()


def test_settings_refuse_nonsense_with_the_option_named():
    for values, message in [({"batch_size": 0}, "--batch-size"), ({"hidden": "16,,16"}, "--hidden"),
                            ({"hidden": [16, 0]}, "--hidden"), ({"epochs": "1.5"}, "--epochs"),
                            ({"eta": "nan"}, "--eta"), ({"optimizer": "adma"}, "did you mean 'adam'"),
                            ({"hiden": 3}, "did you mean 'hidden'")]:
        with pytest.raises(SettingError, match=message):
            Settings(values)
    assert Settings(batch_size="full").batch_size is None


# -- the Python API ------------------------------------------------------------------------------
def test_evaluation_by_attribute_and_key_and_fit_suggests_eta():
    X = np.random.default_rng(0).random((30, 4)).astype(np.float32)
    y = np.arange(30) % 3
    net = bpnn.Network([4, 5, 3], seed=0)
    ev = net.evaluate(X, y)
    assert ev["accuracy"] == ev.accuracy and ev.to_dict()["error_rate"] == pytest.approx(1 - ev.accuracy)
    with pytest.raises(TypeError, match="did you mean 'eta'"):
        net.fit(X, y, lr=0.1)
    with pytest.raises(TypeError, match="did you mean 'eta'"):
        net.fit(X, y, learning_rate=0.1)
    with pytest.raises(TypeError, match=r"optimizer_options=\{'mu'"):
        net.fit(X, y, mu=0.5)
    import inspect

    assert "eta" in inspect.signature(bpnn.Network.fit).parameters          # visible to editors
    result = bpnn.gradient_check(net.astype("float64"), X[:5], y[:5])
    assert result.passed and len(result) == 2 and max(result) == result.worst < 1e-4
    assert not bpnn.gradient_check(net, X[:5], y[:5], tolerance=0.0).passed


def test_a_model_warns_once_about_raw_pixels():
    model = bpnn.TrainedModel(bpnn.Network([64, 8, 10], seed=0))
    raw = np.full((2, 64), 255.0, np.float32)
    with pytest.warns(UserWarning, match=r"expects pixels in \[0, 1\]: divide raw pixels by 255"):
        model.predict(raw)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(raw)                       # once
        bpnn.TrainedModel(bpnn.Network([64, 8, 10], seed=0)).predict(raw / 255)


# -- the layout --------------------------------------------------------------------------------------
def _imports(path: Path, package: str, top_level_only: bool, modules) -> set[str]:
    """The modules ``path`` imports (``from pkg import mod`` counts as ``pkg.mod``)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            for alias in node.names:
                found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module)
    return found


def _modules() -> dict[str, Path]:
    modules = {}
    for path in (ROOT / "bpnn").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def test_the_import_graph_has_no_cycle_and_only_main_imports_the_cli():
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        # importing any bpnn module runs the package's __init__ first; that edge is not a cycle
        graph[name] = {m for m in _imports(path, package, True, modules) if m in modules and m not in (name, "bpnn")}
        everywhere = _imports(path, package, False, modules)
        if name not in ("bpnn.__main__", "bpnn.cli"):
            assert "bpnn.cli" not in everywhere, f"{name} imports bpnn.cli"
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError(f"import cycle: {' -> '.join(trail + [node, nxt])}")
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])


def test_a_long_run_keeps_a_bounded_thinned_history():
    X = np.random.default_rng(0).random((4, 3)).astype(np.float32)
    net = bpnn.Network([3, 2, 2], seed=0)
    history = bpnn.History(max_records=50)
    net.fit(X, np.array([0, 1, 0, 1]), epochs=1000, batch_size=None, history=history)
    assert 25 <= len(history) <= 50
    epochs = history.epochs
    assert epochs[0] == 1 and epochs[-1] == 1000 and epochs == sorted(epochs)
    assert epochs[-10:] == list(range(991, 1001))          # the newest epochs stay whole


def test_divergence_is_caught_before_nan_and_the_last_good_weights_stay():
    rng = np.random.default_rng(0)
    X, y = rng.random((200, 8)).astype(np.float32), rng.integers(0, 3, 200)
    net = bpnn.Network([8, 16, 3], activation="relu", output_activation="softmax", cost="cross_entropy", seed=0)
    with pytest.raises(bpnn.DivergenceError, match="times its first value") as info:
        net.fit(X, y, epochs=3, batch_size=10, eta=1e6)
    assert "epoch 1" in str(info.value) and np.isfinite(net.flat_params).all()


def test_the_core_runs_alone_with_every_package_but_numpy_blocked():
    """bpnn/nn loaded as a package of its own, with only NumPy and the standard library importable."""
    code = f"""
import importlib.abc, importlib.util, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in ("numpy", "core") or top.startswith("_"):
            return None
        raise ImportError(f"blocked: {{name}}")
import numpy as np
before = set(sys.modules)
sys.meta_path.insert(0, Block())
spec = importlib.util.spec_from_file_location("core", {str(ROOT / "bpnn" / "nn" / "__init__.py")!r},
                                              submodule_search_locations=[{str(ROOT / "bpnn" / "nn")!r}])
core = importlib.util.module_from_spec(spec)
sys.modules["core"] = core
spec.loader.exec_module(core)
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
net = core.Network([2, 4, 2], activation="tanh", output_activation="softmax", cost="cross_entropy", seed=1)
net.fit(X, np.array([0, 1, 1, 0]), epochs=300, batch_size=None, optimizer="adam", eta=0.05)
assert (net.predict(X) == [0, 1, 1, 0]).all()
assert not [m for m in sys.modules if m == "bpnn" or m.startswith("bpnn.")]
new = sorted({{m.split(".")[0] for m in set(sys.modules) - before}} - set(sys.stdlib_module_names) - {{"numpy", "core"}})
# (NumPy's compiled modules register their Cython runtime as modules of their own)
assert not [m for m in new if not m.startswith(("_cython_", "cython_runtime"))], new
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_outputs_are_checked_before_training_and_epochs_cannot_shrink_on_resume(tmp_path):
    with pytest.raises(SettingError, match="--out .*does not exist"):
        run(Settings(epochs=1, out=str(tmp_path / "no" / "m.safetensors")))
    with pytest.raises(SettingError, match="--metrics-out .*is a folder"):
        run(Settings(epochs=1, metrics_out=str(tmp_path)))
    ckpt = str(tmp_path / "c.ckpt")
    run(Settings(epochs=3, hidden=8, checkpoint=ckpt))
    with pytest.raises(SettingError, match="--epochs 2 is fewer than the 3 epochs"):
        run(Settings(epochs=2, hidden=8, checkpoint=ckpt), resume=ckpt)


def test_activation_hyperparameters_survive_a_model_file(tmp_path):
    result = run(Settings(epochs=2, hidden=8, activation="leaky_relu", alpha=0.2, out=str(tmp_path / "m")))
    assert result.network.dense_layers[0].activation.alpha == 0.2
    back = bpnn.load(tmp_path / "m").network
    assert back.dense_layers[0].activation.alpha == 0.2 and back.dense_layers[1].activation.name == "softmax"
