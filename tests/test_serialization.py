"""Model files and checkpoints: round trips, atomic writes, and every kind of damage."""

from __future__ import annotations

import errno
import json
import os
import struct

import numpy as np
import pytest

import bpnn
from bpnn.exceptions import ModelFileError
from bpnn.io.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from bpnn.io.container import read_container, write_container
from bpnn.io.modelfile import MODEL_FORMAT


def _trained(seed: int = 0, **kw) -> bpnn.Network:
    rng = np.random.default_rng(seed)
    net = bpnn.Network([16, 8, 4], seed=seed, **kw)
    X, y = rng.random((40, 16)).astype(np.float32), rng.integers(0, 4, 40)
    net.fit(X, y, epochs=2, batch_size=8, eta=0.5, validation_data=(X[:10], y[:10]))
    return net


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.safetensors"
    bpnn.save(_trained(), path, classes=list("abcd"), preprocessing={"scale": 255.0, "image_shape": [4, 4]})
    return path


def test_round_trip_keeps_weights_classes_preprocessing_history(tmp_path):
    net = _trained()
    path = tmp_path / "m.safetensors"
    bpnn.save(net, path, classes=["w", "x", "y", "z"],
              preprocessing={"scale": 255.0, "image_shape": [4, 4], "mean": 0.25, "std": 0.5},
              training={"epochs": 2}, dataset={"name": "toy"}, note="hello")
    back = bpnn.load(path)
    assert isinstance(back, bpnn.TrainedModel)
    assert repr(back.network) == repr(net)
    np.testing.assert_array_equal(back.network.flat_params, net.flat_params)
    assert back.network.dtype == net.dtype
    assert back.classes == ["w", "x", "y", "z"]
    assert back.preprocessing.mean == 0.25 and back.preprocessing.std == 0.5
    assert back.preprocessing.standardize == "global"
    assert back.preprocessing.image_shape == (4, 4)
    assert back.history == net.history_
    assert back.metadata["training"] == {"epochs": 2}
    assert back.metadata["note"] == "hello"
    assert back.metadata["bpnn_version"] == bpnn.__version__
    X = np.random.default_rng(1).random((5, 16)).astype(np.float32)
    np.testing.assert_array_equal(back.network.predict_proba(X), net.predict_proba(X))
    # the model applies its standardisation to prepared inputs
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba((X - 0.25) / 0.5))


def test_net_save_and_model_save_write_the_same_model(tmp_path):
    net = _trained()
    net.save(tmp_path / "a.safetensors")
    model = bpnn.load(tmp_path / "a.safetensors")
    model.save(tmp_path / "b.safetensors")
    bpnn.save(model, tmp_path / "c.safetensors")
    for name in "bc":
        again = bpnn.load(tmp_path / f"{name}.safetensors")
        np.testing.assert_array_equal(again.network.flat_params, net.flat_params)
        assert again.classes == ["0", "1", "2", "3"] and again.preprocessing == model.preprocessing
        assert again.history == net.history_


def test_state_dict_round_trip_and_refusals():
    net, other = _trained(0), bpnn.Network([16, 8, 4], seed=9)
    state = net.state_dict()
    assert sorted(state) == ["dense.0.bias", "dense.0.weight", "dense.1.bias", "dense.1.weight"]
    assert state["dense.0.weight"].shape == (16, 8) and state["dense.1.bias"].shape == (4,)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.flat_params, net.flat_params)
    before = other.flat_params.copy()
    for bad, message in [({**state, "dense.0.weight": np.zeros((16, 9), np.float32)}, "shape"),
                         ({k: v for k, v in state.items() if k != "dense.1.bias"}, "missing"),
                         ({**state, "dense.0.bias": state["dense.0.bias"].astype(np.float64)}, "float64"),
                         ({**state, "dense.2.bias": np.zeros(4, np.float32)}, "does not use")]:
        with pytest.raises(ValueError, match=message):
            other.load_state_dict(bad)
    np.testing.assert_array_equal(other.flat_params, before)   # nothing changed


def test_per_feature_standardisation_and_float64(tmp_path):
    net = _trained(dtype="float64", activation="relu", output_activation="softmax", cost="cross_entropy",
                   init="he_normal")
    mean, std = np.linspace(0, 1, 16), np.linspace(1, 2, 16)
    bpnn.save(net, tmp_path / "m", preprocessing={"scale": 16.0, "image_shape": [4, 4], "mean": mean, "std": std})
    back = bpnn.load(tmp_path / "m")
    assert back.network.dtype == np.float64
    np.testing.assert_array_equal(back.preprocessing.mean, mean)
    np.testing.assert_array_equal(back.preprocessing.std, std)
    assert back.preprocessing.standardize == "feature"


def test_save_writes_atomically_and_a_full_disk_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    bpnn.save(_trained(0), path)
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="disk is full") as info:
        bpnn.save(_trained(1), path)
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]   # no temporary file left


def test_saved_file_gets_normal_permissions(tmp_path):
    path = tmp_path / "m.safetensors"
    bpnn.save(_trained(), path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_refuses_nan_weights_and_a_missing_folder(tmp_path):
    net = _trained()
    with pytest.raises(OSError, match="does not exist"):
        bpnn.save(net, tmp_path / "no" / "such" / "m.safetensors")
    net.flat_params[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        bpnn.save(net, tmp_path / "m.safetensors")


# -- damaged and foreign files ----------------------------------------------------
def test_missing_empty_and_non_safetensors_files(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        bpnn.load(tmp_path / "absent.safetensors")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty or truncated"):
        bpnn.load(tmp_path / "empty")
    (tmp_path / "text").write_text("this is not a model at all, just some text\n")
    with pytest.raises(ModelFileError, match="not a bpnn model or checkpoint file"):
        bpnn.load(tmp_path / "text")
    np.save(tmp_path / "array.npy", np.zeros(10))
    with pytest.raises(ModelFileError, match="not a bpnn model or checkpoint file"):
        bpnn.load(tmp_path / "array.npy")
    with pytest.raises(ModelFileError, match="folder"):
        bpnn.load(tmp_path)


def test_a_foreign_safetensors_file(tmp_path):
    from safetensors.numpy import save_file

    save_file({"weight": np.zeros((2, 2), np.float32)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ModelFileError, match="not one written by bpnn"):
        bpnn.load(tmp_path / "other.safetensors")


def test_truncated_anywhere(model_file):
    data = model_file.read_bytes()
    for cut in [1, 7, 8, 9, 50, len(data) // 2, len(data) - 100, len(data) - 1]:
        model_file.write_bytes(data[:cut])
        with pytest.raises(ModelFileError):
            bpnn.load(model_file)


def test_appended_bytes(model_file):
    model_file.write_bytes(model_file.read_bytes() + b"\0\0\0\0")
    with pytest.raises(ModelFileError, match="unexpected bytes"):
        bpnn.load(model_file)


def test_every_flipped_byte_is_detected(model_file):
    data = model_file.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    rng = np.random.default_rng(0)
    positions = list(range(0, 8 + n)) + list(rng.choice(np.arange(8 + n, len(data)), 300, replace=False))
    for pos in positions:
        damaged = bytearray(data)
        damaged[pos] ^= 1 << int(rng.integers(0, 8))
        model_file.write_bytes(bytes(damaged))
        with pytest.raises(ModelFileError):
            bpnn.load(model_file)


def test_tampered_weight_with_the_checksum_left_alone(model_file):
    data = bytearray(model_file.read_bytes())
    data[-3] ^= 0x10
    model_file.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        bpnn.load(model_file)


def _doc_and_tensors(path):
    _, doc, _, tensors = read_container(path)
    return doc, tensors()


def test_wrong_shape_missing_tensor_extra_tensor_nan(model_file, tmp_path):
    doc, tensors = _doc_and_tensors(model_file)
    bad = tmp_path / "bad.safetensors"

    wrong = dict(tensors, **{"dense.0.weight": np.zeros((16, 9), np.float32)})
    write_container(bad, MODEL_FORMAT, doc, wrong)
    with pytest.raises(ModelFileError, match=r"dense.0.weight has shape \(16, 9\)"):
        bpnn.load(bad)

    missing = {k: v for k, v in tensors.items() if k != "dense.1.bias"}
    write_container(bad, MODEL_FORMAT, doc, missing)
    with pytest.raises(ModelFileError, match="dense.1.bias are missing"):
        bpnn.load(bad)

    write_container(bad, MODEL_FORMAT, doc, dict(tensors, **{"dense.7.weight": np.zeros(3, np.float32)}))
    with pytest.raises(ModelFileError, match="does not use"):
        bpnn.load(bad)

    nan = dict(tensors)
    nan["dense.1.weight"] = nan["dense.1.weight"].copy()
    nan["dense.1.weight"][0, 0] = np.nan
    write_container(bad, MODEL_FORMAT, doc, nan)
    with pytest.raises(ModelFileError, match="NaN"):
        bpnn.load(bad)

    wide_bias = tensors["dense.0.bias"].astype(np.float64)
    write_container(bad, MODEL_FORMAT, doc, dict(tensors, **{"dense.0.bias": wide_bias}))
    with pytest.raises(ModelFileError, match="float64"):
        bpnn.load(bad)


def test_bad_metadata(model_file, tmp_path):
    doc, tensors = _doc_and_tensors(model_file)
    bad = tmp_path / "bad.safetensors"
    for change, message in [
        ({"architecture": {"layers": [{"type": "Conv"}], "cost": "quadratic", "dtype": "float32"}}, "invalid"),
        ({"architecture": None}, "architecture is missing"),
        ({"classes": ["a", "b"]}, "class names"),
        ({"preprocessing": {"image_shape": [28, 28], "scale": 255.0}}, "image shape"),
        ({"preprocessing": {"image_shape": [4, 4], "scale": -1}}, "scale"),
        ({"preprocessing": {"image_shape": [4, 4], "standardize": "global"}}, "mean or std is missing"),
        ({"history": {"epoch": [1], "nonsense": [2]}}, "history"),
    ]:
        write_container(bad, MODEL_FORMAT, {**doc, **change}, tensors)
        with pytest.raises(ModelFileError, match=message):
            bpnn.load(bad)


def test_newer_format_version(model_file, tmp_path):
    from safetensors.numpy import save

    doc, tensors = _doc_and_tensors(model_file)
    data = save(tensors, metadata={"format": MODEL_FORMAT, "format_version": "2", "bpnn": json.dumps(doc),
                                   "sha256": "0" * 64})
    (tmp_path / "future.safetensors").write_bytes(data)
    with pytest.raises(ModelFileError, match="newer bpnn"):
        bpnn.load(tmp_path / "future.safetensors")


# -- checkpoints -------------------------------------------------------------------
def test_checkpoint_round_trip_restores_everything(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.random((60, 16)).astype(np.float32), rng.integers(0, 4, 60)
    net = bpnn.Network([16, 8, 4], seed=3, dropout=0.2, activation="relu", output_activation="softmax",
                       cost="cross_entropy")
    net.fit(X, y, epochs=2, batch_size=8, optimizer="adam", eta=0.01)
    path = tmp_path / "ck.safetensors"
    best = net.flat_params.copy()
    save_checkpoint(path, net, epoch=2, history=net.history_,
                    callbacks={"early_stopping": ({"best": 0.5, "wait": 1}, {"best_params": best})},
                    extra={"settings": {"a": 1}})
    ck = load_checkpoint(path)
    assert ck.epoch == 2 and ck.extra == {"settings": {"a": 1}}
    assert ck.history == net.history_
    state, arrays = ck.callbacks["early_stopping"]
    assert state == {"best": 0.5, "wait": 1}
    np.testing.assert_array_equal(arrays["best_params"], best)
    back = ck.network()
    np.testing.assert_array_equal(back.flat_params, net.flat_params)
    assert back.rng.bit_generator.state == net.rng.bit_generator.state
    opt = ck.make_optimizer()
    original = net.optimizer_.state_dict()
    restored = opt.state_dict()
    assert restored["t"] == original["t"] and restored["initial_eta"] == original["initial_eta"]
    for key in original["state"]:
        for a, b in zip(original["state"][key], restored["state"][key]):
            np.testing.assert_array_equal(a, b)

    # continuing from the checkpoint equals continuing the original
    net.fit(X, y, epochs=4, batch_size=8, optimizer=net.optimizer_, initial_epoch=2, history=net.history_)
    back.fit(X, y, epochs=4, batch_size=8, optimizer=opt, initial_epoch=2, history=ck.history)
    np.testing.assert_array_equal(back.flat_params, net.flat_params)


def test_model_and_checkpoint_are_not_confused(tmp_path, model_file):
    net = _trained()
    ck = tmp_path / "ck.safetensors"
    save_checkpoint(ck, net, epoch=2, history=net.history_)
    with pytest.raises(ModelFileError, match="training checkpoint, not a model"):
        bpnn.load(ck)
    with pytest.raises(ModelFileError, match="not a training checkpoint"):
        load_checkpoint(model_file)
    fmt, *_ = read_container(ck)
    assert fmt == CHECKPOINT_FORMAT
