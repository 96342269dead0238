"""Diagnostics of a stuck run: each warning where the run is stuck, none where it is healthy."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import bpnn
from bpnn import Settings, run
from bpnn.cli import main

ROOT = Path(__file__).resolve().parents[1]
MNIST = Path(os.environ.get("BPNN_TEST_MNIST", ROOT.parent / "shared" / "data" / "mnist"))


def _diagnose(**settings):
    found = []
    diagnostics = bpnn.Diagnostics(report=found.append)
    result = run(Settings({"dataset": "digits", "epochs": 12, **settings}), callbacks=[diagnostics])
    return {d.kind: d for d in found}, diagnostics, result


def test_a_healthy_run_gets_no_warning():
    found, diagnostics, result = _diagnose()
    assert found == {} and result.test.accuracy > 0.9
    health = diagnostics.health
    assert health["epoch"] == 12 and health["probe_rows"] == 1000 and len(health["predicted"]) == 10
    assert min(health["predicted"]) > 50
    hidden, output = health["layers"]
    assert hidden["activation"] == "sigmoid" and 0 <= hidden["saturated"] < 0.5
    assert hidden["saturated_at_start"] < 0.1 and "saturated_at_start" not in output


def test_quadratic_cost_and_n01_weights_leave_classes_never_predicted():
    """The README's lesson on the 8x8 digits: the S2 setting (N(0,1), quadratic, η = 3) stalls."""
    found, diagnostics, result = _diagnose(hidden=[100], cost="quadratic", init="normal", eta=3.0, epochs=30)
    assert set(found) == {"class_never_predicted"}
    d = found["class_never_predicted"]
    assert d.epoch == 3 and "never predicts classes 0, 4" in d.message and "cross-entropy" in d.advice
    assert result.test.accuracy < 0.85
    # the same network with the cross-entropy cost is healthy
    healthy, _, better = _diagnose(hidden=[100], cost="cross_entropy", init="normal", eta=3.0, epochs=30)
    assert "class_never_predicted" not in healthy and better.test.accuracy > 0.9


def test_too_large_a_learning_rate_kills_relus():
    found, diagnostics, result = _diagnose(activation="relu", init="he_normal", eta=1.0, hidden=[64])
    assert "dead_relu" in found and result.test.accuracy < 0.5
    assert "of the 64 ReLUs of hidden layer 1 are dead" in found["dead_relu"].message
    assert "smaller learning rate η (now 1)" in found["dead_relu"].advice
    assert diagnostics.health["layers"][0]["dead"] > 0.5
    healthy, _, _ = _diagnose(activation="relu", init="he_normal", eta=0.1, hidden=[64])
    assert healthy == {}


def test_saturated_from_the_start():
    """Inputs 40 times too large saturate every sigmoid at the first batch."""
    rng = np.random.default_rng(0)
    X, y = rng.random((300, 20)) * 40, np.arange(300) % 3
    found = []
    net = bpnn.Network([20, 16, 3], init="normal", seed=0)
    net.fit(X, y, epochs=1, batch_size=10, eta=0.5, callbacks=[bpnn.Diagnostics(report=found.append)])
    assert [d.kind for d in found] == ["saturated"] and found[0].layer == 1 and found[0].epoch == 1
    assert "were saturated when training started" in found[0].message
    assert "init scaled_normal" in found[0].advice
    assert str(found[0]).startswith(found[0].message + ". What usually helps: ")


def test_near_chance_and_each_problem_reported_once():
    found, diagnostics, _ = _diagnose(hidden=[100], cost="quadratic", init="normal", eta=10.0, epochs=15)
    kinds = [d.kind for d in diagnostics.found]
    assert len(kinds) == len(set(kinds)) and "near_chance" in kinds
    assert "chance (10% for 10 classes)" in found["near_chance"].message


@pytest.mark.skipif(not (MNIST / "train-images-idx3-ubyte.gz").exists(), reason=f"the MNIST files are not in {MNIST}")
def test_the_readme_s2_run_is_diagnosed_and_the_scaled_one_is_not():
    def diagnose(**changes):
        found = []
        run(Settings.from_sources("s2", cli={"dataset": str(MNIST), "epochs": 3, **changes}),
            callbacks=[bpnn.Diagnostics(report=found.append)])
        return {d.kind: d for d in found}

    stuck = diagnose()
    assert {"saturated", "class_never_predicted"} <= set(stuck)
    assert "784 inputs" in stuck["saturated"].message
    assert diagnose(init="scaled_normal") == {}


def test_bpnn_train_prints_the_warnings_with_advice(capsys):
    args = ["train", "--hidden", "100", "--cost", "quadratic", "--init", "normal", "--eta", "3", "--epochs", "5"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "bpnn: warning: after 3 epochs the network (almost) never predicts classes" in err
    assert "\n  What usually helps: the cross-entropy cost" in err
    assert "Epoch 3/5" in out
    assert main([*args, "--quiet"]) == 0
    assert capsys.readouterr().err == ""
