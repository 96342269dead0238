"""The training loop: epochs of shuffled mini-batch gradient descent.

One epoch (Nielsen's SGD, batch-first and vectorised):

1. shuffle the training rows with the network's own ``numpy.random.Generator``;
2. cut them into mini-batches of ``batch_size`` rows (``1`` is per-sample
   "stochastic" descent, ``None`` or ``>= n`` is full-batch descent);
3. for each mini-batch, backpropagate (:meth:`Network.backprop`) to get the
   gradient of the mean cost, add the L2 term (λ/n) W, and let the optimizer
   step.  For SGD this is exactly the sources' update
   W ← (1 - ηλ/n) W - (η/m) Σ_x ∇C_x;
4. apply the max-norm constraint, if any;
5. evaluate the validation data, record a :class:`EpochRecord`, call the
   callbacks.

A NaN or infinite loss stops training with a :class:`~bpnn.exceptions.DivergenceError`
naming the epoch; the weights are restored to the end of the last good epoch.

Speed (see docs/performance.md): the data are never copied; mini-batches are
gathered with ``np.take`` into one reused buffer, several small batches per
call; the output layer writes every row's Z^L and A^L into per-epoch arrays,
from which the epoch's loss and accuracy are computed once; and for SGD and
momentum η is folded into backpropagation's 1/m, which saves the optimizer a
pass over the parameters.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from . import _validation
from .exceptions import DivergenceError
from .layers import Dense
from .optimizers import SGD, Momentum, Nesterov, Optimizer, get_optimizer
from .schedules import Schedule, get_schedule

__all__ = ["fit", "History", "EpochRecord", "Callback", "ProgressLog"]

#: rows gathered per np.take call when batches are small (batch size 10: 25 batches at once)
GATHER_ROWS = 256


@dataclass
class EpochRecord:
    """What one epoch measured.

    ``loss`` and ``accuracy`` are running means over the epoch's mini-batches
    (with dropout active, as the network was while learning);
    ``val_*`` are measured after the epoch on the validation data.
    """

    epoch: int
    loss: float
    accuracy: float
    val_loss: float | None = None
    val_accuracy: float | None = None
    val_correct: int | None = None
    val_total: int | None = None
    eta: float | None = None
    seconds: float = 0.0


@dataclass
class History:
    """Per-epoch records of a training run (:attr:`records`), with list views.

    >>> history.val_accuracy[-1]     # doctest: +SKIP
    """

    records: list[EpochRecord] = field(default_factory=list)

    def _column(self, name: str) -> list:
        return [getattr(r, name) for r in self.records]

    @property
    def epochs(self) -> list[int]:
        return self._column("epoch")

    @property
    def loss(self) -> list[float]:
        return self._column("loss")

    @property
    def accuracy(self) -> list[float]:
        return self._column("accuracy")

    @property
    def val_loss(self) -> list[float | None]:
        return self._column("val_loss")

    @property
    def val_accuracy(self) -> list[float | None]:
        return self._column("val_accuracy")

    @property
    def seconds(self) -> list[float]:
        return self._column("seconds")

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> EpochRecord:
        return self.records[i]

    def to_dict(self) -> dict[str, list]:
        """Column form, JSON-serialisable: ``{"epoch": [...], "loss": [...], ...}``."""
        names = [f.name for f in EpochRecord.__dataclass_fields__.values()]
        return {name: self._column(name) for name in names}

    @classmethod
    def from_dict(cls, columns: dict[str, list]) -> "History":
        n = len(columns.get("epoch", []))
        return cls([EpochRecord(**{k: v[i] for k, v in columns.items()}) for i in range(n)])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, History) and [asdict(r) for r in self.records] == [asdict(r) for r in other.records]


class Callback:
    """Hooks into :func:`fit`.  ``on_epoch_end`` may return True to stop training.

    During ``fit`` the network's ``optimizer_`` is the optimizer in use, so a
    callback can save it (``net.optimizer_.state_dict()``) with the weights
    and ``net.rng.bit_generator.state``.
    """

    def on_train_begin(self, net, history: History) -> None:
        pass

    def on_batch_end(self, net, batch: int, n_batches: int) -> None:
        """After each optimizer step; ``batch`` counts from 1 to ``n_batches`` in each epoch.

        Only callbacks that override it are called, so the hook costs nothing otherwise.
        """

    def on_epoch_end(self, net, record: EpochRecord, history: History) -> bool | None:
        return None

    def on_train_end(self, net, history: History) -> None:
        pass


class ProgressLog(Callback):
    """Print the loss at the first epoch and every ``every`` epochs, as the sources do::

        Epoch 3/30: loss 0.0412, train 97.10%, validation 9630 / 10000
    """

    def __init__(self, epochs: int, every: int = 1, file=None) -> None:
        self.epochs, self.every, self.file = epochs, max(1, int(every)), file

    def on_epoch_end(self, net, record, history):
        if record.epoch == 1 or record.epoch % self.every == 0 or record.epoch == self.epochs:
            line = f"Epoch {record.epoch}/{self.epochs}: loss {record.loss:.4f}, train {record.accuracy:.2%}"
            if record.val_total:
                line += f", validation {record.val_correct} / {record.val_total}"
            print(line, file=self.file, flush=True)


def _check_positive_int(name: str, value, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def fit(
    net,
    X: np.ndarray,
    y: np.ndarray,
    epochs: int = 30,
    batch_size: int | None = 10,
    eta: float | None = None,
    optimizer: str | Optimizer = "sgd",
    lmbda: float = 0.0,
    max_norm: float | None = None,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    callbacks: Sequence[Callback] | None = None,
    schedule: str | Schedule | None = None,
    shuffle: bool = True,
    verbose: bool | int = False,
    initial_epoch: int = 0,
    history: History | None = None,
    **optimizer_options: float,
) -> History:
    """Train ``net`` by mini-batch gradient descent and backpropagation.

    Parameters
    ----------
    net : Network
    X : ndarray of shape (n, n_inputs)
    y : ndarray of shape (n,) class indices, or (n, n_outputs) targets
    epochs : int
        Total number of epochs (training runs epochs ``initial_epoch+1 .. epochs``).
    batch_size : int or None
        Mini-batch size m; ``1`` for per-sample descent, ``None`` for full batch.
    eta : float, optional
        Learning rate η (default: the optimizer's own, 0.1 for SGD, 0.001 for Adam).
    optimizer : {"sgd", "momentum", "nesterov", "adam", "rmsprop"} or Optimizer
        An instance keeps its state across calls (used to resume).
    lmbda : float
        L2 regularisation λ: adds (λ/2n) Σ W² to the cost, so SGD steps
        W ← (1 - ηλ/n) W - η ∂C/∂W.  Biases are not decayed.
    max_norm : float, optional
        After every step, rescale each unit's incoming weight vector (a column
        of W) whose Euclidean norm exceeds ``max_norm`` back to ``max_norm``.
    validation_data : (X_val, y_val), optional
        Evaluated after every epoch.
    callbacks : list of Callback
    schedule : str or Schedule, optional
        Learning-rate schedule (``step``, ``exponential``, ``cosine``).
    shuffle : bool
        Shuffle the rows every epoch with ``net.rng``.
    verbose : bool or int
        Print progress every epoch (True) or at the first and every k-th epoch (k).
    initial_epoch : int
        Number of epochs already done (for resuming from a checkpoint).
    history : History, optional
        Records to continue (for resuming); a new History otherwise.
    **optimizer_options
        Hyper-parameters for a named optimizer (``mu``, ``beta1``, ...).

    Returns
    -------
    History
        Also stored as ``net.history_``.
    """
    epochs = _check_positive_int("epochs", epochs)
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or not 0 <= initial_epoch <= epochs:
        raise ValueError(f"initial_epoch must be between 0 and epochs={epochs}, got {initial_epoch!r}")
    batch_size = _check_positive_int("batch_size", batch_size, allow_none=True)
    if not (math.isfinite(float(lmbda)) and lmbda >= 0):
        raise ValueError(f"lmbda (L2 regularisation) must be >= 0, got {lmbda!r}")
    if max_norm is not None and not (math.isfinite(float(max_norm)) and max_norm > 0):
        raise ValueError(f"max_norm must be a positive number, got {max_norm!r}")

    X = _validation.check_X(X, net.n_inputs, net.dtype)
    labels, Y = _validation.check_y(y, X.shape[0], net.n_outputs, net.dtype)
    val = None
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        X_val = _validation.check_X(validation_data[0], net.n_inputs, net.dtype, name="X_val")
        val = (X_val, *_validation.check_y(validation_data[1], X_val.shape[0], net.n_outputs, net.dtype, name="y_val"))

    opt = get_optimizer(optimizer, eta, **optimizer_options)
    sched = get_schedule(schedule, epochs=epochs)
    net.optimizer_ = opt
    history = History() if history is None else history
    net.history_ = history
    callbacks = list(callbacks or [])
    if verbose:
        callbacks.append(ProgressLog(epochs, every=1 if verbose is True else int(verbose)))

    n = X.shape[0]
    m = n if batch_size is None else min(batch_size, n)
    n_batches = -(-n // m)
    batch_callbacks = [cb for cb in callbacks if type(cb).on_batch_end is not Callback.on_batch_end]
    decay = float(lmbda) / n
    params, grads = [net.flat_params], [net.flat_grads]
    W_all = net.flat_params[: net.n_weight_params]
    nabla_W_all = net.flat_grads[: net.n_weight_params]
    decay_buf = np.empty_like(W_all) if decay else None
    full_batch = m == n
    # Mini-batches are gathered (np.take, in shuffled order) into these
    # buffers, `per_gather` batches at a time: one call per ~GATHER_ROWS rows
    # rather than one per small batch.  The data itself is never copied.
    per_gather = max(1, GATHER_ROWS // m)
    x_buf = np.empty((m * per_gather, X.shape[1]), net.dtype) if not full_batch else None
    y_buf = np.empty((m * per_gather, Y.shape[1]), net.dtype) if not full_batch else None
    # The output layer writes every row's Z^L and A^L of the epoch here, in
    # place; the epoch's loss and accuracy are then computed once, vectorised.
    Z_epoch = np.empty((n, net.n_outputs), net.dtype)
    A_epoch = np.empty((n, net.n_outputs), net.dtype)
    # SGD and momentum see the gradient only as η ∇: η is folded into the
    # 1/m that scales δ^L (see Network._backprop), which saves the optimizer
    # a pass over the parameters (plain SGD's step is then p ← p - η∇).
    fold_eta = type(opt) in (SGD, Momentum, Nesterov)

    for cb in callbacks:
        cb.on_train_begin(net, history)
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(initial_epoch, epochs):
            start_time = time.perf_counter()
            opt.eta = sched(epoch, opt.initial_eta)
            order = net.rng.permutation(n) if shuffle and not full_batch else np.arange(n)
            snapshot = net.flat_params.copy()
            for start in range(0, n, m):
                k = min(m, n - start)
                if full_batch:
                    xb, yb = X, Y
                else:
                    j = start % (m * per_gather)
                    if j == 0:
                        idx = order[start:start + m * per_gather]
                        np.take(X, idx, axis=0, out=x_buf[:idx.shape[0]], mode="clip")
                        np.take(Y, idx, axis=0, out=y_buf[:idx.shape[0]], mode="clip")
                    xb, yb = x_buf[j:j + k], y_buf[j:j + k]
                # gradient of the mean cost (times η when folded), into net.flat_grads
                net._backprop(xb, yb, (opt.eta if fold_eta else 1.0) / k,
                              Z_epoch[start:start + k], A_epoch[start:start + k])
                if decay:                                 # ∂/∂W of (λ/2n) Σ W²
                    np.multiply(W_all, decay * opt.eta if fold_eta else decay, out=decay_buf)
                    nabla_W_all += decay_buf
                if fold_eta:
                    opt.step_scaled(params, grads)
                else:
                    opt.step(params, grads)
                if max_norm is not None:
                    _apply_max_norm(net.dense_layers, max_norm)
                for cb in batch_callbacks:
                    cb.on_batch_end(net, start // m + 1, n_batches)
            targets = Y if full_batch else np.take(Y, order, axis=0)
            loss = net.cost.value(Z_epoch, A_epoch, targets)
            if not (math.isfinite(loss) and np.isfinite(net.flat_params).all()):
                net.flat_params[...] = snapshot
                raise DivergenceError(
                    f"training diverged in epoch {epoch + 1}: the loss became {loss} "
                    f"(learning rate eta={opt.eta:g}); the weights were restored to the end of "
                    f"epoch {epoch}. Try a smaller learning rate, e.g. eta={opt.eta / 10:g}"
                )
            accuracy = float(np.count_nonzero(A_epoch.argmax(axis=1) == labels[order])) / n
            record = EpochRecord(epoch=epoch + 1, loss=loss, accuracy=accuracy, eta=opt.eta)
            if val is not None:
                ev = net._score(*val)
                record.val_loss, record.val_accuracy = ev.loss, ev.accuracy
                record.val_correct, record.val_total = ev.correct, ev.total
            record.seconds = time.perf_counter() - start_time
            history.records.append(record)
            stop = False
            for cb in callbacks:
                stop = bool(cb.on_epoch_end(net, record, history)) or stop
            if stop:
                break
    for cb in callbacks:
        cb.on_train_end(net, history)
    return history


def _apply_max_norm(layers: Iterable[Dense], c: float) -> None:
    """Rescale every column of W (a unit's incoming weights) to norm <= c."""
    for layer in layers:
        norms = np.sqrt(np.einsum("ij,ij->j", layer.W, layer.W))
        scale = np.minimum(1.0, c / np.maximum(norms, 1e-12)).astype(layer.W.dtype)
        layer.W *= scale
