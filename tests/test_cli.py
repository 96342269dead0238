"""The ``bpnn`` command line, driven as a user drives it (processes and the entry point)."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import bpnn
from bpnn.cli import main

ROOT = Path(__file__).resolve().parents[1]
MNIST = Path(os.environ.get("BPNN_TEST_MNIST", ROOT.parent / "shared" / "data" / "mnist"))
needs_mnist = pytest.mark.skipif(not (MNIST / "t10k-images-idx3-ubyte.gz").exists(),
                                 reason=f"the MNIST files are not in {MNIST}")

#: a quick digits run used by several tests
QUICK = ["train", "--epochs", "4", "--hidden", "32", "--quiet"]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("BPNN_DEBUG", None)
    return env


def bpnn_process(*args, cwd, check=True):
    """Run ``python -m bpnn ARGS`` in a real process."""
    result = subprocess.run([sys.executable, "-m", "bpnn", *map(str, args)], cwd=cwd, env=_env(),
                            capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"bpnn {args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def run(capsys, *args):
    """Run the entry point in-process; return (status, stdout, stderr)."""
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def _test_accuracy(text: str) -> float:
    return float(re.search(r"test accuracy ([\d.]+)%", text).group(1))


def _assert_one_line_error(status, err, *fragments):
    assert status != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("bpnn: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], err


# -- bpnn train -------------------------------------------------------------------
def test_default_train_needs_no_download_and_learns_digits(tmp_path):
    result = bpnn_process("train", cwd=tmp_path)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("bpnn ") and "digits" in lines[0]
    epoch_lines = [line for line in lines if line.startswith("Epoch")]
    assert len(epoch_lines) == 30
    assert re.fullmatch(r"Epoch +3/30  loss \d+\.\d{4}  train \d+\.\d%  val \d+\.\d% \(\d+/270\)  \d+\.\d+s",
                        epoch_lines[2])
    assert _test_accuracy(result.stdout) >= 95.0
    assert result.stderr == ""                      # no progress bar when stderr is not a terminal


def test_train_save_evaluate_predict_round_trip(tmp_path, capsys):
    model = tmp_path / "digits.safetensors"
    status, out, _ = run(capsys, *QUICK, "--epochs", "15", "--out", model)
    assert status == 0 and f"saved the model to {model}" in out
    trained_accuracy = _test_accuracy(out)

    status, out, _ = run(capsys, "evaluate", model, "--json")
    report = json.loads(out)
    assert status == 0 and report["dataset"] == "digits" and report["total"] == 450
    assert report["accuracy"] * 100 == pytest.approx(trained_accuracy, abs=0.006)
    assert report["error_rate"] == pytest.approx(1 - report["accuracy"])
    assert set(report["per_class"]["7"]) == {"precision", "recall", "f1", "support"}
    assert np.array(report["confusion_matrix"]).sum() == 450

    status, out, _ = run(capsys, "evaluate", model)
    assert "precision  recall  f1-score  support" in out and "confusion matrix" in out

    net = bpnn.load(model)
    assert net.classes == [str(i) for i in range(10)] and net.preprocessing.image_shape == (8, 8)
    from bpnn.datasets import load

    ds = load("digits", validation=None, flatten=False)
    np.save(tmp_path / "test.npy", ds.test.X[:20] * 16)             # the data set's own 0..16 units
    status, out, _ = run(capsys, "predict", model, tmp_path / "test.npy", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and len(rows) == 20
    assert [r["index"] for r in rows] == net.predict(ds.test.X[:20].reshape(20, -1)).tolist()
    assert all(abs(sum(r["probabilities"]) - 1) < 1e-4 and r["label"] == str(r["index"]) for r in rows)


def test_train_progress_bar_on_a_terminal(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    status, out, err = run(capsys, "train", "--epochs", "2", "--hidden", "16")
    assert status == 0 and "Epoch 1/2" in err and "batch" in err      # tqdm's bar
    assert "Epoch 1/2  loss" in out


@needs_mnist
def test_mnist_model_recognises_rendered_and_drawn_digits(tmp_path, capsys):
    model = tmp_path / "mnist.safetensors"
    status, out, _ = run(capsys, "train", "--dataset", MNIST, "--limit", "12000", "--hidden", "128",
                         "--activation", "relu", "--init", "he_normal", "--optimizer", "adam", "--batch-size", "32",
                         "--epochs", "3", "--quiet", "--out", model)
    assert status == 0 and _test_accuracy(out) > 94.0

    from bpnn.datasets import load

    ds = load(str(MNIST), validation=None, flatten=False, progress=False)
    files, expected = [], []
    for digit in range(10):                       # the first test image of every digit, as a user's scan
        i = int(np.flatnonzero(ds.test.y == digit)[0])
        ink = (ds.test.X[i] * 255).astype(np.uint8)
        path = tmp_path / f"scan_{digit}.png"
        Image.fromarray(255 - ink).resize((200, 200), Image.Resampling.BICUBIC).save(path)
        files.append(path)
        expected.append(str(digit))
    one = Image.new("L", (300, 400), 255)
    ImageDraw.Draw(one).line([(150, 50), (150, 350)], fill=0, width=28)
    one.save(tmp_path / "drawn_1.png")
    seven = Image.new("RGB", (300, 400), (250, 250, 245))
    ImageDraw.Draw(seven).line([(60, 60), (240, 60), (130, 350)], fill=(20, 20, 80), width=26)
    seven.save(tmp_path / "drawn_7.jpg", quality=90)
    files += [tmp_path / "drawn_1.png", tmp_path / "drawn_7.jpg"]
    expected += ["1", "7"]

    status, out, _ = run(capsys, "predict", model, *files, "--json", "--show", tmp_path / "shown")
    labels = [json.loads(line)["label"] for line in out.splitlines()]
    assert status == 0 and len(labels) == 12
    assert sum(a == b for a, b in zip(labels, expected)) >= 11, list(zip(labels, expected))
    assert labels[-2:] == ["1", "7"]
    shown = Image.open(tmp_path / "shown" / "drawn_7.prepared.png")
    assert shown.size == (28, 28)

    status, out, _ = run(capsys, "predict", model, tmp_path / "drawn_7.jpg", "--top", "2")
    assert status == 0 and re.fullmatch(r".*drawn_7\.jpg  7  \(7: [\d.]+%  \d: [\d.]+%\)\n", out)


@needs_mnist
def test_evaluate_on_the_test_split_reads_only_the_test_files(tmp_path, capsys, monkeypatch):
    import shutil

    model = tmp_path / "m.safetensors"
    only_test = tmp_path / "cache" / "mnist"
    only_test.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(MNIST / name, only_test / name)
    net = bpnn.Network([784, 10, 10], activation="relu", output_activation="softmax", cost="cross_entropy")
    net.save(model, dataset={"name": "mnist"})
    # no training files and no network: a download would fail, so nothing but the test files is read
    monkeypatch.setenv("BPNN_MIRRORS", "http://127.0.0.1:9/")
    status, out, err = run(capsys, "evaluate", model, "--data-dir", tmp_path / "cache", "--json")
    assert status == 0, err
    assert json.loads(out)["total"] == 10000
    status, _, err = run(capsys, "evaluate", model, "--data-dir", tmp_path / "cache", "--split", "train")
    assert status == 1 and "train-images" in err                    # the training split does need them


# -- resume -----------------------------------------------------------------------
def test_resume_after_kill_9_ends_with_identical_weights(tmp_path):
    """A run killed with SIGKILL and resumed matches the uninterrupted run bit for bit."""
    common = ["train", "--hidden", "48", "--activation", "relu", "--epochs", "40", "--batch-size", "4",
              "--optimizer", "adam", "--dropout", "0.2", "--schedule", "cosine", "--patience", "3",
              "--eval-every", "4", "--quiet", "--checkpoint-every", "2"]
    full = bpnn_process(*common, "--checkpoint", "full.ckpt", "--out", "full.safetensors", cwd=tmp_path)

    checkpoint = tmp_path / "killed.ckpt"
    process = subprocess.Popen([sys.executable, "-m", "bpnn", *common, "--checkpoint", checkpoint,
                                "--out", "never.safetensors"], cwd=tmp_path, env=_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not checkpoint.exists():
            assert process.poll() is None, "the run ended before writing a checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL          # it really was killed mid-run
    assert not (tmp_path / "never.safetensors").exists()
    from bpnn.io.checkpoint import load_checkpoint

    killed_at = load_checkpoint(checkpoint).epoch
    assert killed_at < 40

    # the command that started the run, with --resume added (and another --out)
    loud = [c for c in common if c != "--quiet"]    # --quiet may differ too; without it the resume is reported
    resumed = bpnn_process(*loud, "--checkpoint", checkpoint, "--resume", checkpoint,
                           "--out", "resumed.safetensors", cwd=tmp_path)
    a, b = bpnn.load(tmp_path / "full.safetensors"), bpnn.load(tmp_path / "resumed.safetensors")
    np.testing.assert_array_equal(a.network.flat_params, b.network.flat_params)
    strip = lambda h: {k: v for k, v in h.to_dict().items() if k != "seconds"}   # noqa: E731
    assert strip(a.history) == strip(b.history)
    assert _test_accuracy(full.stdout) == _test_accuracy(resumed.stdout)
    assert f"resuming from {checkpoint} after epoch {killed_at}" in resumed.stdout


def test_ctrl_c_says_how_to_resume(tmp_path):
    checkpoint = tmp_path / "run.ckpt"
    process = subprocess.Popen(
        [sys.executable, "-m", "bpnn", "train", "--epochs", "400", "--batch-size", "2", "--quiet",
         "--checkpoint", checkpoint], cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not checkpoint.exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.002)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130
    assert f"continue with 'bpnn train --resume {checkpoint}'" in err
    assert err.rstrip().endswith("bpnn: interrupted") and "Traceback" not in err


def test_resume_refuses_changed_settings_and_a_model_file(tmp_path, capsys):
    ckpt = tmp_path / "c.ckpt"
    status, _, _ = run(capsys, *QUICK, "--checkpoint", ckpt, "--out", tmp_path / "m.safetensors")
    assert status == 0
    status, _, err = run(capsys, "train", "--resume", ckpt, "--eta", "0.1")
    _assert_one_line_error(status, err, "--eta cannot change")
    status, _, err = run(capsys, *QUICK, "--hidden", "17", "--resume", ckpt)
    _assert_one_line_error(status, err, "--hidden cannot change")
    assert "--epochs" not in err.split("cannot change")[0]        # only what differs is named
    status, _, err = run(capsys, "train", "--resume", tmp_path / "m.safetensors")
    _assert_one_line_error(status, err, "not a training checkpoint")
    status, out, _ = run(capsys, "train", "--resume", ckpt)          # already finished: nothing to do
    assert status == 0 and "after epoch 4" in out
    status, out, _ = run(capsys, *QUICK[:-1], "--checkpoint", ckpt, "--resume", ckpt)   # the same command
    assert status == 0 and "after epoch 4" in out and len(bpnn.load(tmp_path / "m.safetensors").history) == 4


def test_raising_epochs_continues_a_finished_run(tmp_path, capsys):
    ckpt, model = tmp_path / "c.ckpt", tmp_path / "m.safetensors"
    common = [*QUICK[:-1], "--checkpoint", ckpt, "--out", model]      # not quiet: the epoch lines are read
    assert run(capsys, *common)[0] == 0                               # 4 epochs
    status, out, _ = run(capsys, *common, "--epochs", "6", "--resume", ckpt)
    assert status == 0 and "after epoch 4" in out and "Epoch 6/6" in out
    history = bpnn.load(model).history
    assert history.epochs == [1, 2, 3, 4, 5, 6]
    # six epochs straight equal four and then two more
    straight = tmp_path / "straight.safetensors"
    assert run(capsys, *QUICK, "--epochs", "6", "--out", straight)[0] == 0
    np.testing.assert_array_equal(bpnn.load(straight).network.flat_params, bpnn.load(model).network.flat_params)


# -- early stopping ---------------------------------------------------------------
def test_sources_early_stopping_rule(tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    status, out, _ = run(capsys, "train", "--epochs", "300", "--hidden", "32", "--eta", "2", "--patience", "1",
                         "--eval-every", "10", "--monitor", "val_accuracy", "--out", model)
    assert status == 0
    match = re.search(r"early stopping: stopped at epoch (\d+), best val_accuracy [\d.]+% at epoch (\d+)", out)
    assert match, out
    stopped, best = int(match.group(1)), int(match.group(2))
    assert stopped < 300 and stopped % 10 == 0 and best == stopped - 10
    assert len(bpnn.load(model).history) == stopped


# -- plots and report -------------------------------------------------------------
def _assert_pngs(folder: Path, names):
    for name in names:
        path = folder / name
        assert path.stat().st_size > 10_000, name
        with Image.open(path) as img:
            img.verify()
            assert img.format == "PNG" and min(img.size) > 200


def test_plots_on_train_and_report(tmp_path, capsys):
    figures = ["learning_curves.png", "confusion_matrix.png", "misclassified.png", "first_layer_weights.png"]
    status, out, _ = run(capsys, *QUICK, "--plots", tmp_path / "plots", "--out", tmp_path / "m.safetensors")
    assert status == 0 and "learning_curves.png" in out
    _assert_pngs(tmp_path / "plots", figures)
    status, out, _ = run(capsys, "report", tmp_path / "m.safetensors", "--out", tmp_path / "report")
    assert status == 0
    _assert_pngs(tmp_path / "report", figures)
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["total"] == 450 and len(metrics["confusion_matrix"]) == 10


# -- settings: recipes and config files -------------------------------------------
def test_config_file_recipe_and_flags_in_order(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('recipe = "s0"\n[training]\nepochs = 3\neta = 0.2\n')
    status, out, _ = run(capsys, "train", "--config", config, "--epochs", "2", "--print-config")
    assert status == 0
    assert "epochs = 2" in out and "eta = 0.2" in out and "layers = [64, 32, 16, 10]" in out
    assert "batch_size = 1" in out and 'cost = "quadratic"' in out

    status, out, _ = run(capsys, "train", "--recipe", "s1", "--hidden", "50", "--optimizer", "adam", "--print-config")
    assert "hidden = [50]" in out and "# layers =" in out and "# eta =" in out   # layers and eta reset

    (tmp_path / "printed.toml").write_text(out)                                  # the printed form reads back
    status, again, _ = run(capsys, "train", "--config", tmp_path / "printed.toml", "--print-config")
    assert status == 0 and again.split("\n", 1)[1] == out.split("\n", 1)[1]


def test_recipes_command(capsys):
    status, out, _ = run(capsys, "recipes")
    assert status == 0
    for name in ("s0", "s1", "s2", "s3", "s4", "s4-framework", "best"):
        assert re.search(rf"^{re.escape(name)} ", out, re.M)
    status, out, _ = run(capsys, "recipes", "s3")
    assert "patience = 1" in out and "eval_every = 10" in out and 'targets = "soft"' in out


def test_a_recipe_trains(tmp_path, capsys):
    status, out, _ = run(capsys, "train", "--recipe", "s0", "--epochs", "12", "--log-every", "5")
    assert status == 0 and "Network(64-32-16-10, sigmoid, quadratic) on digits: 1347 training, 0 validation" in out
    assert "SGD(eta=0.1), batch 1, 12 epochs, seed 0, recipe s0" in out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("Epoch")] == ["1/12", "5/12", "10/12",
                                                                                            "12/12"]


# -- gradcheck --------------------------------------------------------------------
def test_gradcheck(capsys):
    status, out, _ = run(capsys, "gradcheck", "--layers", "64,16,10", "--activation", "tanh", "--cost",
                         "cross_entropy")
    assert status == 0
    assert re.search(r"^layer 1 +64 -> 16 +worst relative error \d\.\d\de-\d\d  ok$", out, re.M)
    assert "Network(64-16-10, tanh, softmax, cross_entropy)" in out
    status, out, err = run(capsys, "gradcheck", "--layers", "8,4,3", "--eps", "0.5")
    assert status == 1 and "FAILED" in out and err.startswith("bpnn: error: backpropagation")


# -- errors a user meets ----------------------------------------------------------
@pytest.mark.parametrize("args, fragments", [
    (["train", "--activation", "swish"], ["invalid choice 'swish'", "sigmoid"]),
    (["train", "--optimizer", "lbfgs"], ["--optimizer", "invalid choice"]),
    (["train", "--epochs", "zero"], ["--epochs", "integer"]),
    (["train", "--layers", "784,100,10"], ["784 inputs", "64 features"]),
    (["train", "--layers", "64,100,7"], ["7 outputs", "10 classes"]),
    (["train", "--dataset", "no/such/folder"], ["no/such/folder"]),
    (["train", "--dataset", "cifar"], ["cifar", "mnist, fashion-mnist, digits"]),
    (["train", "--config", "missing.toml"], ["missing.toml", "no such file"]),
    (["train", "--recipe", "s9"], ["unknown recipe 's9'"]),
    (["train", "--activation", "relu", "--output", "identity", "--cost", "quadratic", "--init", "normal",
      "--eta", "1000", "--quiet"], ["diverged in epoch 1"]),
    (["train", "--patience", "2", "--validation", "0"], ["needs validation data"]),
    (["train", "--mu", "0.5"], ["--mu applies to the momentum"]),
    (["evaluate", "missing.safetensors"], ["missing.safetensors: no such file"]),
    (["predict", "missing.safetensors", "x.png"], ["no such file"]),
    (["train", "--resume", "missing.ckpt"], ["missing.ckpt: no such file"]),
    (["frobnicate"], ["invalid choice"]),
])
def test_errors_are_one_clear_line(capsys, tmp_path, monkeypatch, args, fragments):
    monkeypatch.chdir(tmp_path)
    status, _, err = run(capsys, *args)
    _assert_one_line_error(status, err, *fragments)


def test_bad_config_files(tmp_path, capsys):
    (tmp_path / "bad.toml").write_text("epochs = \n")
    status, _, err = run(capsys, "train", "--config", tmp_path / "bad.toml")
    _assert_one_line_error(status, err, "not valid TOML")
    (tmp_path / "unknown.toml").write_text("[model]\nneurons = 5\n")
    status, _, err = run(capsys, "train", "--config", tmp_path / "unknown.toml")
    _assert_one_line_error(status, err, "unknown setting 'neurons'")
    (tmp_path / "value.toml").write_text('cost = "hinge"\n')
    status, _, err = run(capsys, "train", "--config", tmp_path / "value.toml")
    _assert_one_line_error(status, err, "--cost", "hinge")


def test_errors_in_a_real_process_have_no_traceback(tmp_path):
    result = bpnn_process("evaluate", "nothing.safetensors", cwd=tmp_path, check=False)
    assert result.returncode == 1 and result.stderr == "bpnn: error: nothing.safetensors: no such file\n"
    result = bpnn_process("train", "--cost", "hinge", cwd=tmp_path, check=False)
    assert result.returncode == 2 and result.stderr.startswith("bpnn: error: argument --cost: invalid choice")
    assert len(result.stderr.splitlines()) == 1


def test_tampered_and_foreign_model_files(tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    assert run(capsys, *QUICK, "--out", model)[0] == 0
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    for command in (["evaluate", model], ["predict", model, "x.npy"], ["report", model, "--out", tmp_path / "r"]):
        status, _, err = run(capsys, *command)
        _assert_one_line_error(status, err, "checksum")
    (tmp_path / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    status, _, err = run(capsys, "evaluate", tmp_path / "picture.png")
    _assert_one_line_error(status, err, "not a bpnn model or checkpoint file")


def test_predict_reports_bad_inputs_and_goes_on(tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    assert run(capsys, *QUICK, "--out", model)[0] == 0
    (tmp_path / "notes.txt").write_text("hello")
    np.save(tmp_path / "ok.npy", np.zeros(64))
    status, out, err = run(capsys, "predict", model, tmp_path / "notes.txt", tmp_path / "ok.npy")
    assert status == 1 and "ok.npy" in out
    assert err.startswith("bpnn: error: ") and "is not a PNG, JPEG" in err and "Traceback" not in err


def test_full_disk_while_saving_keeps_the_previous_model(tmp_path, capsys, monkeypatch):
    model = tmp_path / "m.safetensors"
    assert run(capsys, *QUICK, "--out", model)[0] == 0
    before = model.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    status, _, err = run(capsys, *QUICK, "--seed", "1", "--out", model)
    _assert_one_line_error(status, err, "disk is full", str(model))
    assert model.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


# -- the reproduction script --------------------------------------------------------
def test_reproduce_script_on_a_tiny_setting(tmp_path):
    out = tmp_path / "table.md"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "reproduce.py"), "--recipes", "s0",
                             "--seeds", "2", "--extra=--epochs 2", "--out", str(out)],
                            env=_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    table = out.read_text()
    assert "| **S0** digits 8x8" in table and "0.96 accuracy on 450 test digits" in table
    assert re.search(r"\*\*\d+\.\d\d% ± \d+\.\d\d\*\*", table)
    assert "`bpnn train --recipe s0 --seed N --epochs 2`" in table
    assert "Not the recipes' full settings" in table
    raw = json.loads(out.with_suffix(".json").read_text())
    assert [r["seed"] for r in raw["s0"]] == [0, 1]


# -- bpnn predict reads whole numbers ------------------------------------------------
def _iou(a, b) -> float:
    top, left, bottom, right = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, bottom - top) * max(0, right - left)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _year(tmp_path, composer, mnist_test, sure_digits, seed=31):
    """A picture of 2026 written with MNIST test digits: its path, the picture and the digits' boxes."""
    X, _ = mnist_test
    rng = np.random.default_rng(seed)
    index = [int(rng.choice(sure_digits[d])) for d in (2, 0, 2, 6)]
    grey, boxes = composer.compose([X[i] for i in index], rng, "separate", rotate=False, boxes=True)
    path = tmp_path / "year.png"
    Image.fromarray(grey).save(path)
    return path, grey, boxes


def test_predict_reads_a_written_number_digit_by_digit(tmp_path, capsys, number_model, composer, mnist_test,
                                                       sure_digits):
    path, grey, boxes = _year(tmp_path, composer, mnist_test, sure_digits)
    status, out, err = run(capsys, "predict", number_model, path)
    assert status == 0 and err == ""
    assert re.fullmatch(rf"{re.escape(str(path))}  2026  \(2: [\d.]+%  0: [\d.]+%  2: [\d.]+%  6: [\d.]+%\)\n", out)

    status, out, _ = run(capsys, "predict", number_model, path, "--json")
    row = json.loads(out)
    assert status == 0 and row["file"] == str(path) and row["label"] == "2026" and row["segmented"]
    assert row["size"] == {"width": grey.shape[1], "height": grey.shape[0]}
    assert [d["label"] for d in row["digits"]] == ["2", "0", "2", "6"]
    assert row["index"] == 2 and row["probabilities"] == row["digits"][0]["probabilities"]
    for digit, box in zip(row["digits"], boxes):
        b = digit["box"]
        assert _iou((b["y"], b["x"], b["y"] + b["height"], b["x"] + b["width"]), box) > 0.6, (b, box)
        assert digit["line"] == 0 and abs(sum(digit["probabilities"]) - 1) < 1e-4
        assert digit["index"] == int(digit["label"]) and max(digit["probabilities"]) > 0.5

    # --show: the picture with boxes and labels, and each digit's prepared input enlarged
    status, out, _ = run(capsys, "predict", number_model, path, "--show", tmp_path / "shown")
    assert status == 0
    shown = sorted(p.name for p in (tmp_path / "shown").iterdir())
    assert shown == ["year.boxes.png"] + [f"year.digit-{k}.png" for k in range(1, 5)]
    boxed = np.asarray(Image.open(tmp_path / "shown" / "year.boxes.png").convert("RGB"), dtype=np.int64)
    assert boxed.shape[0] >= grey.shape[0] and boxed.shape[1] >= grey.shape[1]
    red = (boxed[..., 0] > 180) & (boxed[..., 1] < 90)                  # the boxes and labels are drawn in red
    assert red.sum() > 200
    digit = np.asarray(Image.open(tmp_path / "shown" / "year.digit-2.png"))
    assert digit.shape == (224, 224) and digit[:8].max() == 0 and digit.max() == 255   # 28x28, 8 times larger

    # --single: the whole picture as one digit
    status, out, _ = run(capsys, "predict", number_model, path, "--single", "--json")
    row = json.loads(out)
    assert status == 0 and not row["segmented"] and len(row["digits"]) == 1 and len(row["label"]) == 1


def test_predict_names_a_blank_image_and_goes_on(tmp_path, capsys, number_model, composer, mnist_test, sure_digits):
    path, _, _ = _year(tmp_path, composer, mnist_test, sure_digits)
    blank = tmp_path / "blank.png"
    Image.new("L", (120, 60), 235).save(blank)
    status, out, err = run(capsys, "predict", number_model, blank, path)
    assert status == 1 and out.startswith(f"{path}  2026  (")
    assert err == (f"bpnn: error: {blank}: no digit found: the image is blank or has almost no contrast; give a "
                   f"picture of dark ink on light paper (or light on dark), cropped to the writing\n")
    status, _, err = run(capsys, "predict", number_model, blank, "--single")
    assert status == 1 and err.startswith(f"bpnn: error: {blank}: no digit found")


def test_predict_help_says_which_models_read_numbers(capsys):
    assert main(["predict", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--single" in text and "28x28 digits (MNIST)" in text and "Fashion-MNIST" in text and "32 digits" in text
