"""Model files, checkpoints, settings and the command line against hostile input.

Every test here tries what an attacker would and asserts a clean, named error
(``ModelFileError``, ``SettingError``, one ``bpnn: error:`` line) in bounded memory.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

import bpnn
from bpnn.exceptions import ModelFileError
from bpnn.io.checkpoint import load_checkpoint, save_checkpoint
from bpnn.io.container import MAX_JSON_DEPTH, _digest, read_container, write_container
from bpnn.io.modelfile import MODEL_FORMAT
from bpnn.settings import SETTINGS, Settings, SettingError, parse_setting

ROOT = Path(__file__).resolve().parents[1]


def _model_file(tmp_path: Path) -> Path:
    net = bpnn.Network([16, 8, 4], seed=0)
    path = tmp_path / "model.safetensors"
    net.save(path)
    return path


def _raw_container(path: Path, doc_text: str, tensors: dict[str, np.ndarray]) -> None:
    """Write a container with a *valid digest* over an arbitrary metadata text (as a forger would)."""
    from safetensors.numpy import save

    metadata = {"format": MODEL_FORMAT, "format_version": "1", "bpnn": doc_text,
                "sha256": _digest(doc_text, tensors)}
    path.write_bytes(save(tensors, metadata=metadata))


def _peak_mb(function) -> float:
    tracemalloc.start()
    try:
        function()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak / 2**20


# -- sizes are checked against the tensor table before anything is built --------------------------
@pytest.mark.parametrize("hidden", [400_000, 10**9])
def test_metadata_describing_a_huge_network_is_refused_before_it_is_built(tmp_path, hidden):
    path = _model_file(tmp_path)
    _, doc, _, tensors = read_container(path)
    arrays = tensors()
    doc["architecture"]["layers"][0]["n_out"] = hidden
    doc["architecture"]["layers"][1]["n_in"] = hidden
    bad = tmp_path / "huge.safetensors"
    write_container(bad, MODEL_FORMAT, doc, arrays)

    def load():
        with pytest.raises(ModelFileError, match=r"dense\.0\.weight has shape \(16, 8\) but the architecture "
                                                  rf"needs \(16, {hidden}\)"):
            bpnn.load(bad)

    assert _peak_mb(load) < 20


def test_deeply_nested_metadata_is_refused_without_recursion(tmp_path):
    path = _model_file(tmp_path)
    _, doc, _, tensors = read_container(path)
    doc_text = json.dumps(doc)[:-1] + ', "bomb": ' + "[" * 200_000 + "]" * 200_000 + "}"
    bad = tmp_path / "deep.safetensors"
    _raw_container(bad, doc_text, tensors())

    def load():
        with pytest.raises(ModelFileError, match=f"nests 200001 levels deep .*at most {MAX_JSON_DEPTH}"):
            bpnn.load(bad)

    assert _peak_mb(load) < 50
    for command in (["evaluate", str(bad)], ["predict", str(bad), str(bad)]):
        result = subprocess.run([sys.executable, "-m", "bpnn", *command], capture_output=True, text=True,
                                timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith("bpnn: error: ") and "nests" in result.stderr


def test_a_header_claiming_gigabytes_and_a_file_over_the_budget(tmp_path, monkeypatch):
    bad = tmp_path / "claims.safetensors"
    bad.write_bytes(struct.pack("<Q", 2**40) + b"{" + b" " * 100)
    with pytest.raises(ModelFileError, match="header claims"):
        bpnn.load(bad)
    path = _model_file(tmp_path)
    monkeypatch.setenv("BPNN_MEMORY_BUDGET", "1KB")
    with pytest.raises(ModelFileError, match="BPNN_MEMORY_BUDGET"):
        bpnn.load(path)


def test_a_checkpoint_whose_architecture_does_not_match_its_tensors(tmp_path):
    net = bpnn.Network([16, 8, 4], seed=0)
    rng = np.random.default_rng(0)
    net.fit(rng.random((20, 16)).astype(np.float32), rng.integers(0, 4, 20), epochs=1)
    path = tmp_path / "ck.safetensors"
    save_checkpoint(path, net, epoch=1, history=net.history_)
    _, doc, _, tensors = read_container(path)
    doc["architecture"]["layers"][0]["n_out"] = 10**8
    from bpnn.io.checkpoint import CHECKPOINT_FORMAT

    write_container(path, CHECKPOINT_FORMAT, doc, tensors())
    with pytest.raises(ModelFileError, match="needs"):
        load_checkpoint(path)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damage_to_a_model_file_is_a_model_file_error(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz")
    original = _model_file(folder).read_bytes()
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert", "overwrite"]))
        pos = data.draw(st.integers(0, max(0, len(damaged) - 1)))
        if kind == "flip" and damaged:
            damaged[pos] ^= data.draw(st.integers(1, 255))
        elif kind == "cut":
            del damaged[pos:pos + data.draw(st.integers(1, 64))]
        elif kind == "insert":
            damaged[pos:pos] = data.draw(st.binary(min_size=1, max_size=32))
        else:
            chunk = data.draw(st.binary(min_size=1, max_size=16))
            damaged[pos:pos + len(chunk)] = chunk
    bad = folder / "bad.safetensors"
    bad.write_bytes(bytes(damaged))
    if bytes(damaged) == original:
        bpnn.load(bad)
        return
    with pytest.raises(ModelFileError):
        bpnn.load(bad)


@hsettings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                        lambda children: st.lists(children, max_size=4)
                        | st.dictionaries(st.text(max_size=6), children, max_size=4), max_leaves=30))
def test_any_metadata_document_with_a_valid_digest_loads_or_is_a_model_file_error(tmp_path_factory, doc):
    folder = tmp_path_factory.mktemp("doc")
    tensors = {"dense.0.weight": np.zeros((4, 2), np.float32), "dense.0.bias": np.zeros(2, np.float32)}
    bad = folder / "doc.safetensors"
    _raw_container(bad, json.dumps(doc), tensors)
    with pytest.raises(ModelFileError):
        bpnn.load(bad)


# -- temporary files of interrupted writes --------------------------------------------------------------
def test_temporary_files_of_a_dead_writer_are_removed_by_the_next_write(tmp_path):
    path = _model_file(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".{path.name}.{dead}.abc123.tmp"
    stale.write_bytes(b"half a model")
    alive = tmp_path / f".{path.name}.{os.getppid()}.def456.tmp"     # a writer that still runs: kept
    alive.write_bytes(b"being written")
    other = tmp_path / ".other.safetensors.1.x.tmp"
    other.write_bytes(b"another file's")
    bpnn.Network([16, 8, 4], seed=1).save(path)
    assert not stale.exists() and alive.exists() and other.exists()
    assert bpnn.load(path).network.n_inputs == 16


# -- settings: anything a config file or the command line holds --------------------------------------
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(),
                    st.text(max_size=20), st.lists(st.one_of(st.integers(-5, 2000), st.text(max_size=3)), max_size=5))


@hsettings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(SETTINGS)), value=_VALUES)
def test_every_setting_parses_or_raises_a_setting_error_naming_it(name, value):
    try:
        parsed = parse_setting(name, value)
    except SettingError as err:
        assert SETTINGS[name].flag in str(err)
        return
    assert parse_setting(name, parsed) == parsed            # a parsed value is a fixed point


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_any_config_file_is_read_or_refused_cleanly(tmp_path_factory, text):
    from bpnn.settings import load_config

    path = tmp_path_factory.mktemp("toml") / "run.toml"
    path.write_text(text, encoding="utf-8")
    try:
        Settings.from_sources(config=load_config(path))
    except (SettingError, ValueError):
        pass


def test_a_toml_nested_beyond_recursion_is_a_setting_error(tmp_path):
    from bpnn.settings import load_config

    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(SettingError, match="not valid TOML|unknown setting"):
        load_config(path)


# -- the command line's last resort -------------------------------------------------------------------
def test_an_unexpected_exception_is_one_line_with_a_hint_to_report_it(capsys, monkeypatch):
    from bpnn import cli

    def boom(args):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(cli, "cmd_recipes", boom)
    monkeypatch.delenv("BPNN_DEBUG", raising=False)
    assert cli.main(["recipes"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bpnn: error: internal error (RecursionError")
    assert "please report it" in err and "BPNN_DEBUG=1" in err

    def oom(args):
        raise MemoryError()

    monkeypatch.setattr(cli, "cmd_recipes", oom)
    assert cli.main(["recipes"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not enough memory" in err and "BPNN_MEMORY_BUDGET" in err


def test_a_npy_input_declaring_terabytes_is_refused_before_numpy_allocates(tmp_path, capsys):
    from bpnn import cli
    from numpy.lib import format as npy

    path = tmp_path / "bomb.npy"
    with open(path, "wb") as f:
        npy.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (2**40, 784)})
    model = _model_file(tmp_path)

    def predict():
        assert cli.main(["predict", str(model), str(path)]) == 1

    assert _peak_mb(predict) < 20
    err = capsys.readouterr().err
    assert err.startswith("bpnn: error: ") and "bomb.npy" in err and "BPNN_MEMORY_BUDGET" in err
    truncated = tmp_path / "short.npy"
    np.save(truncated, np.zeros((100, 16), np.float32))
    truncated.write_bytes(truncated.read_bytes()[:-100])
    assert cli.main(["predict", str(model), str(truncated)]) == 1
    assert "truncated" in capsys.readouterr().err


def test_hyperparameters_out_of_the_classes_ranges_are_refused_as_options(capsys):
    from bpnn import cli

    for option, value, message in [("--rho", "2", "--rho: rho must be in [0, 1)"),
                                   ("--step-size", "0", "--step-size"), ("--alpha", "3", "--alpha"),
                                   ("--epsilon", "0", "--epsilon")]:
        assert cli.main(["train", option, value]) == 2
        assert message in capsys.readouterr().err
