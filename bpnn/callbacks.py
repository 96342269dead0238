"""Callbacks for :meth:`bpnn.Network.fit`: early stopping, checkpoints, progress.

* :class:`EarlyStopping` watches the validation loss or accuracy every
  ``eval_every`` epochs and stops after ``patience`` checks without an
  improvement of more than ``min_delta``, restoring the best weights.  The
  sources' rule "evaluate every 10 epochs and stop when the error rises" is
  ``EarlyStopping("val_accuracy", patience=1, eval_every=10)``.
* :class:`Checkpointer` writes a resumable checkpoint every ``every`` epochs
  (see :func:`bpnn.io.checkpoint.save_checkpoint`).
* :class:`EpochLog` (from :mod:`bpnn.nn.training`, what ``verbose`` uses) prints one line per epoch::

      Epoch 3/30  loss 0.0412  train 97.1%  val 96.3% (9630/10000)  2.1s

* :class:`ProgressBar` shows a tqdm bar over each epoch's mini-batches.
* :class:`Diagnostics` (from :mod:`bpnn.nn.diagnostics`) warns when a run is
  stuck: saturated sigmoids, a class never predicted, near-chance accuracy,
  dead ReLUs, each with what usually helps.

Stateful callbacks implement ``state_key``, ``state_dict()`` and
``load_state_dict()`` so that a checkpoint captures them.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Callable, Sequence, TextIO

import numpy as np

from .nn.diagnostics import Diagnosis, Diagnostics
from .nn.training import Callback, EpochLog, EpochRecord, History, format_epoch

__all__ = ["EarlyStopping", "Checkpointer", "EpochLog", "ProgressBar", "Diagnostics", "Diagnosis", "format_epoch"]

_MONITORS = {"val_loss": "min", "val_accuracy": "max"}


class EarlyStopping(Callback):
    """Stop when the validation metric stops improving; keep the best weights.

    Parameters
    ----------
    monitor : {"val_loss", "val_accuracy"}
        The validation loss is minimised, the accuracy maximised.
    patience : int
        Number of consecutive checks without improvement after which training
        stops (``1``: stop at the first check that is not better).
    min_delta : float
        An improvement must exceed this (in the metric's units, e.g. 0.001 is
        0.1 percentage points of accuracy).
    eval_every : int
        Check only at epochs that are multiples of this.
    restore_best : bool
        At the end of training put back the weights of the best check.

    Attributes
    ----------
    best : float or None
        Best value seen at a check.
    best_epoch : int or None
    stopped_epoch : int or None
        The epoch at which training was stopped, if it was.
    restored : bool
        Whether the weights were replaced by the best ones at the end.
    """

    state_key = "early_stopping"

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        eval_every: int = 1,
        restore_best: bool = True,
    ) -> None:
        if monitor not in _MONITORS:
            raise ValueError(f"early stopping monitors one of {', '.join(_MONITORS)}, got {monitor!r}")
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
            raise ValueError(f"patience must be a positive integer, got {patience!r}")
        if isinstance(eval_every, bool) or not isinstance(eval_every, (int, np.integer)) or eval_every < 1:
            raise ValueError(f"eval_every must be a positive integer, got {eval_every!r}")
        if not (math.isfinite(float(min_delta)) and min_delta >= 0):
            raise ValueError(f"min_delta must be >= 0, got {min_delta!r}")
        self.monitor, self.mode = monitor, _MONITORS[monitor]
        self.patience, self.min_delta = int(patience), float(min_delta)
        self.eval_every, self.restore_best = int(eval_every), bool(restore_best)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_params: np.ndarray | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.restored = False

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, net, record: EpochRecord, history: History) -> bool | None:
        if record.epoch % self.eval_every:
            return None
        value = getattr(record, self.monitor)
        if value is None:
            raise ValueError(
                f"early stopping on {self.monitor} needs validation data; "
                f"keep a validation split (e.g. validation=10000)"
            )
        if self._improved(value):
            self.best, self.best_epoch, self.wait = float(value), record.epoch, 0
            self.best_params = net.flat_params.copy()
            return None
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = record.epoch
            return True
        return None

    @property
    def stop_requested(self) -> bool:
        """Whether this callback has ended the run."""
        return self.stopped_epoch is not None

    def on_train_end(self, net, history: History) -> None:
        self.restored = False
        last = history.records[-1].epoch if history.records else None
        if self.restore_best and self.best_params is not None and self.best_epoch != last:
            net.flat_params[...] = self.best_params
            self.restored = True

    def describe(self) -> str:
        """One line saying what happened (for the command line)."""
        if self.best_epoch is None:
            return "early stopping: no check was made"
        metric = f"{self.best:.2%}" if self.mode == "max" else f"{self.best:.4f}"
        what = (f"stopped at epoch {self.stopped_epoch}" if self.stopped_epoch
                else "ran to the last epoch")
        kept = f"; restored the weights of epoch {self.best_epoch}" if self.restored else ""
        return f"early stopping: {what}, best {self.monitor} {metric} at epoch {self.best_epoch}{kept}"

    # -- checkpoint state ---------------------------------------------------
    def state_dict(self) -> tuple[dict, dict[str, np.ndarray]]:
        """JSON state and arrays (the best weights) for a checkpoint."""
        state = {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                 "stopped_epoch": self.stopped_epoch}
        arrays = {} if self.best_params is None else {"best_params": self.best_params.copy()}
        return state, arrays

    def load_state_dict(self, state: dict, arrays: dict[str, np.ndarray]) -> None:
        """Restore from :meth:`state_dict`."""
        self.best = None if state.get("best") is None else float(state["best"])
        self.best_epoch = state.get("best_epoch")
        self.wait = int(state.get("wait", 0))
        self.stopped_epoch = state.get("stopped_epoch")
        params = arrays.get("best_params")
        self.best_params = None if params is None else np.array(params, copy=True)


class Checkpointer(Callback):
    """Write a resumable checkpoint every ``every`` epochs (and when a run stops early).

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file (rewritten atomically each time).
    every : int
        Write at epochs that are multiples of ``every``, at the last epoch,
        and at the epoch where a stateful callback stops the run.
    epochs : int
        The run's total number of epochs.
    stateful : sequence of callbacks
        Callbacks whose ``state_dict()`` is saved with the network; they must
        come before this one in the callback list.
    extra : callable returning dict, optional
        Extra JSON metadata (the command line stores its settings here).
    """

    def __init__(
        self,
        path,
        every: int,
        epochs: int,
        stateful: Sequence[Any] = (),
        extra: Callable[[], dict] | None = None,
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"checkpoint_every must be a positive integer, got {every!r}")
        self.path, self.every, self.epochs = path, int(every), int(epochs)
        self.stateful, self.extra = list(stateful), extra
        self.last_written: int | None = None

    def on_epoch_end(self, net, record: EpochRecord, history: History) -> None:
        stopping = any(getattr(cb, "stop_requested", False) for cb in self.stateful)
        if record.epoch % self.every == 0 or record.epoch == self.epochs or stopping:
            self.write(net, record.epoch, history)

    def write(self, net, epoch: int, history: History) -> None:
        """Write the checkpoint for the end of ``epoch`` now."""
        from .io.checkpoint import save_checkpoint

        save_checkpoint(
            self.path, net, epoch=epoch, history=history,
            callbacks={cb.state_key: cb.state_dict() for cb in self.stateful},
            extra=self.extra() if self.extra else None,
        )
        self.last_written = epoch


class ProgressBar(Callback):
    """A tqdm progress bar over the mini-batches of every epoch (on stderr).

    It advances on ``fit``'s per-batch hook (:meth:`Callback.on_batch_end`),
    which also tells it how many batches an epoch has, and changes no number.

    Parameters
    ----------
    epochs : int
    enabled : bool
        When False nothing is shown (use it for ``--quiet`` or a non-TTY).
    file : text stream, default sys.stderr
    """

    def __init__(self, epochs: int, enabled: bool = True, file: TextIO | None = None) -> None:
        self.epochs, self.enabled = int(epochs), bool(enabled)
        self.file = file
        self._bar = None
        self._epoch = 0
        self._count = 0
        self._stride = 1

    def on_train_begin(self, net, history: History) -> None:
        self._epoch = history.records[-1].epoch if history.records else 0

    def on_batch_end(self, net, batch: int, n_batches: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=n_batches, desc=f"Epoch {self._epoch + 1}/{self.epochs}",
                             unit="batch", leave=False, file=self.file or sys.stderr,
                             mininterval=0.2, dynamic_ncols=True)
            self._count = 0
            # update the bar at most ~200 times an epoch so per-sample runs stay fast
            self._stride = max(1, n_batches // 200)
        self._count += 1
        if self._count % self._stride == 0:
            self._bar.update(self._stride)

    def on_epoch_end(self, net, record: EpochRecord, history: History) -> None:
        self._epoch = record.epoch
        self.close()

    def on_train_end(self, net, history: History) -> None:
        self.close()

    def close(self) -> None:
        """Close the bar (safe to call twice)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
