"""Early stopping, checkpoint writing, the epoch line and the progress bar."""

from __future__ import annotations

import numpy as np
import pytest

import bpnn
from bpnn.callbacks import Checkpointer, EarlyStopping, EpochLog, ProgressBar, format_epoch
from bpnn.io.checkpoint import load_checkpoint
from bpnn.nn.training import EpochRecord, History


class _Net:
    """Just enough of a Network for the callbacks: a flat parameter vector."""

    def __init__(self):
        self.flat_params = np.zeros(3)


def _feed(callback, values, monitor="val_loss"):
    """Run ``values`` (one per epoch) through the callback; return the epoch it stopped at."""
    net, history = _Net(), History()
    callback.on_train_begin(net, history)
    for epoch, value in enumerate(values, start=1):
        net.flat_params[:] = epoch
        record = EpochRecord(epoch, 0.0, 0.0, **{monitor: value})
        history.records.append(record)
        if callback.on_epoch_end(net, record, history):
            break
    callback.on_train_end(net, history)
    return history.records[-1].epoch, net


def test_patience_counts_checks_without_improvement():
    es = EarlyStopping("val_loss", patience=2)
    stopped, net = _feed(es, [1.0, 0.8, 0.9, 0.85, 0.7])
    assert stopped == 4 and es.stopped_epoch == 4
    assert es.best_epoch == 2 and es.best == 0.8
    assert es.restored and (net.flat_params == 2).all()


def test_min_delta_and_accuracy_mode():
    es = EarlyStopping("val_accuracy", patience=1, min_delta=0.01)
    stopped, _ = _feed(es, [0.90, 0.95, 0.955, 0.99], monitor="val_accuracy")
    assert stopped == 3 and es.best == 0.95


def test_sources_rule_checks_every_tenth_epoch_and_stops_at_the_first_rise():
    es = EarlyStopping("val_accuracy", patience=1, eval_every=10)
    accuracy = [0.5] * 9 + [0.90] + [0.1] * 9 + [0.93] + [0.99] * 9 + [0.92] + [0.99] * 10
    stopped, net = _feed(es, accuracy, monitor="val_accuracy")
    assert stopped == 30
    assert es.best_epoch == 20 and (net.flat_params == 20).all()
    assert "stopped at epoch 30" in es.describe() and "restored the weights of epoch 20" in es.describe()


def test_no_restore_when_the_last_epoch_is_the_best_or_restore_is_off():
    es = EarlyStopping(patience=3)
    _feed(es, [3.0, 2.0, 1.0])
    assert not es.restored
    es = EarlyStopping(patience=1, restore_best=False)
    _, net = _feed(es, [1.0, 2.0])
    assert not es.restored and (net.flat_params == 2).all()


def test_state_round_trip():
    es = EarlyStopping(patience=3)
    _feed(es, [1.0, 0.5, 0.7])
    state, arrays = es.state_dict()
    other = EarlyStopping(patience=3)
    other.load_state_dict(state, arrays)
    assert (other.best, other.best_epoch, other.wait, other.stopped_epoch) == (0.5, 2, 1, None)
    np.testing.assert_array_equal(other.best_params, es.best_params)


def test_needs_validation_data_and_checks_arguments():
    with pytest.raises(ValueError, match="validation"):
        _feed(EarlyStopping(), [None])
    for kwargs in ({"monitor": "loss"}, {"patience": 0}, {"eval_every": 0}, {"min_delta": -1}):
        with pytest.raises(ValueError):
            EarlyStopping(**kwargs)


def test_with_fit_restores_best_weights():
    rng = np.random.default_rng(0)
    X, y = rng.random((80, 6)).astype(np.float32), rng.integers(0, 3, 80)
    net = bpnn.Network([6, 12, 3], seed=0)
    es = EarlyStopping("val_loss", patience=1)
    history = net.fit(X[:40], y[:40], epochs=200, batch_size=4, eta=5.0, validation_data=(X[40:], y[40:]),
                      callbacks=[es])
    assert len(history) < 200 and es.stopped_epoch == len(history)
    best = min(history.val_loss)
    assert es.best == pytest.approx(best)
    np.testing.assert_allclose(net.evaluate(X[40:], y[40:]).loss, best, rtol=1e-5)


def test_checkpointer_writes_on_schedule_and_at_the_end(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.random((30, 4)).astype(np.float32), rng.integers(0, 2, 30)
    net = bpnn.Network([4, 3, 2], seed=0)
    written = []

    class Spy(Checkpointer):
        def write(self, net, epoch, history):
            written.append(epoch)
            super().write(net, epoch, history)

    path = tmp_path / "ck.safetensors"
    net.fit(X, y, epochs=7, batch_size=5, callbacks=[Spy(path, 3, 7, extra=lambda: {"k": 1})])
    assert written == [3, 6, 7]
    ck = load_checkpoint(path)
    assert ck.epoch == 7 and ck.extra == {"k": 1}
    np.testing.assert_array_equal(ck.network().flat_params, net.flat_params)


def test_format_epoch_matches_the_documented_line():
    record = EpochRecord(3, 0.0412, 0.971, 0.2, 0.963, 9630, 10000, 3.0, 2.1)
    assert format_epoch(record, 30) == "Epoch  3/30  loss 0.0412  train 97.1%  val 96.3% (9630/10000)  2.1s"
    assert format_epoch(EpochRecord(12, 0.5, 0.5, seconds=0.03), 12) == "Epoch 12/12  loss 0.5000  train 50.0%  0.03s"


def test_epoch_log_every_k(capsys):
    log = EpochLog(epochs=10, every=4)
    for epoch in range(1, 11):
        log.on_epoch_end(None, EpochRecord(epoch, 0.1, 0.5), None)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["1/10", "4/10", "8/10", "10/10"]


def test_progress_bar_shows_every_epoch_and_changes_no_number(capsys):
    import io

    rng = np.random.default_rng(0)
    X, y = rng.random((50, 4)).astype(np.float32), rng.integers(0, 2, 50)
    net = bpnn.Network([4, 3, 2], seed=0)
    stream = io.StringIO()
    bar = ProgressBar(epochs=2, enabled=True, file=stream)
    net.fit(X, y, epochs=2, batch_size=5, callbacks=[bar])
    assert "Epoch 1/2" in stream.getvalue() and "Epoch 2/2" in stream.getvalue()
    other = bpnn.Network([4, 3, 2], seed=0)
    other.fit(X, y, epochs=2, batch_size=5)
    np.testing.assert_array_equal(other.flat_params, net.flat_params)
