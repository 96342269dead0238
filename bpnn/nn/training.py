"""The training loop: epochs of shuffled mini-batch gradient descent.

One epoch (Nielsen's SGD, batch-first and vectorised):

1. shuffle the training rows with the network's own ``numpy.random.Generator``;
2. cut them into mini-batches of ``batch_size`` rows (``1`` is per-sample
   "stochastic" descent, ``None`` or ``>= n`` is full-batch descent);
3. for each mini-batch (:class:`BatchIterator`), one :class:`TrainingStep`:
   backpropagate (:meth:`Network.backprop`) to get the gradient of the mean
   cost, then the optimizer adds the L2 term (λ/n) W, steps, and applies the
   max-norm constraint, if any (:meth:`Optimizer.update`).  For SGD this is
   exactly the sources' update W ← (1 - ηλ/n) W - (η/m) Σ_x ∇C_x;
4. at the epoch's end (:func:`_end_epoch`), compute the loss and accuracy,
   check for divergence, evaluate the validation data, record a :class:`EpochRecord`, call the
   callbacks.

A NaN or infinite loss, a loss more than :data:`DIVERGENCE_FACTOR` times its
first value, or non-finite weights stop training with a
:class:`~bpnn.exceptions.DivergenceError` naming the epoch; the weights are
restored to the end of the last good epoch.

Speed (see docs/performance.md): the data are never copied; mini-batches are
gathered with ``np.take`` into one reused buffer, several small batches per
call; the output layer writes every row's Z^L and A^L into per-epoch arrays,
from which the epoch's loss and accuracy are computed once; and for the rules
linear in the gradient (SGD, momentum, Nesterov) η is folded into
backpropagation's 1/m, which saves the optimizer a pass over the parameters.
"""

from __future__ import annotations

import math
import queue
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from . import _validation, accel
from ._keywords import suggest_keywords
from .exceptions import DivergenceError
from .optimizers import OPTIMIZERS, Optimizer, get_optimizer
from .schedules import Schedule, get_schedule

__all__ = ["fit", "History", "EpochRecord", "Callback", "EpochLog", "format_epoch", "BatchIterator",
           "TrainingStep", "DIVERGENCE_FACTOR"]

#: rows gathered per np.take call when batches are small (batch size 10: 25 batches at once)
GATHER_ROWS = 256
#: rows per block handed to an ``augment`` function (fewer, larger calls)
AUGMENT_ROWS = 1024
#: blocks an ``augment`` producer thread may hold ready ahead of training
AUGMENT_AHEAD = 2
#: training stops with a DivergenceError when an epoch's loss exceeds this many
#: times the first loss measured (before the first step of the run)
DIVERGENCE_FACTOR = 1e4
#: ... or this floor, for a run that starts at a loss near zero
DIVERGENCE_FLOOR = 1e-3
#: names users reach for, and the parameter of fit they mean
FIT_ALIASES = {"lr": "eta", "learning_rate": "eta", "learning_rate_init": "eta", "alpha": "lmbda",
               "l2": "lmbda", "weight_decay": "lmbda", "lambda_": "lmbda", "n_epochs": "epochs",
               "max_iter": "epochs", "validation": "validation_data", "momentum": "optimizer_options"}


def _optimizer_hint(name: str) -> str | None:
    """For ``fit(mu=0.8)``: say that ``mu`` belongs to an optimizer, and how to pass it."""
    owners = [cls.name for cls in OPTIMIZERS.values() if name in cls.param_defaults() and name != "eta"]
    if not owners:
        return None
    return (f"; {name} is a hyper-parameter of the {', '.join(owners)} optimizer: pass "
            f"optimizer_options={{{name!r}: ...}}")


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
    #: At most this many records are kept: past it, every other record of the
    #: older half is dropped (the first stays), so a run of a billion tiny
    #: epochs keeps a thinned learning curve in bounded memory.
    max_records: int = field(default=100_000, compare=False)

    def append(self, record: EpochRecord) -> None:
        """Add an epoch's record, thinning the older ones past :attr:`max_records`."""
        self.records.append(record)
        if len(self.records) > self.max_records:
            half = len(self.records) // 2
            self.records[1:half] = self.records[1:half:2]

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


def format_epoch(record: EpochRecord, epochs: int) -> str:
    """The one-line summary of an epoch (what ``verbose`` and ``bpnn train`` print).

    >>> print(format_epoch(EpochRecord(3, 0.0412, 0.971, 0.1, 0.963, 9630, 10000, 3.0, 2.1), 30))
    Epoch 3/30  loss 0.0412  train 97.1%  val 96.3% (9630/10000)  2.1s
    """
    width = len(str(epochs))
    line = f"Epoch {record.epoch:>{width}}/{epochs}  loss {record.loss:.4f}  train {record.accuracy:.1%}"
    if record.val_total:
        line += f"  val {record.val_accuracy:.1%} ({record.val_correct}/{record.val_total})"
    seconds = f"{record.seconds:.1f}s" if record.seconds >= 0.95 else f"{record.seconds:.2f}s"
    return line + f"  {seconds}"


class EpochLog(Callback):
    """Print :func:`format_epoch` at the first, every ``every``-th and the last epoch."""

    def __init__(self, epochs: int, every: int = 1, file=None) -> None:
        self.epochs, self.every, self.file = int(epochs), max(1, int(every)), file

    def on_epoch_end(self, net, record: EpochRecord, history: History) -> None:
        if record.epoch == 1 or record.epoch % self.every == 0 or record.epoch == self.epochs:
            print(format_epoch(record, self.epochs), file=self.file or sys.stdout, flush=True)


def _check_positive_int(name: str, value, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        hint = "; use None for full-batch descent" if name == "batch_size" else ""
        raise ValueError(f"{name} must be a positive integer, got {value!r}{hint}")
    return int(value)


# --------------------------------------------------------------------------
# the loop, in its steps: check the inputs, iterate batches, step, end the epoch
# --------------------------------------------------------------------------
def _check_inputs(net, X, y, validation_data):
    """Validated ``(X, labels, Y)`` and the validation triple (or None; with a
    fourth member, the validation rows' weights)."""
    X = _validation.check_X(X, net.n_inputs, net.dtype)
    labels, Y = net._check_y(y, X.shape[0])
    if validation_data is None:
        return X, labels, Y, None
    if not (isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3)):
        raise ValueError("validation_data must be a pair (X_val, y_val) or a triple (X_val, y_val, sample_weight_val)")
    X_val = _validation.check_X(validation_data[0], net.n_inputs, net.dtype, name="X_val")
    val = (X_val, *net._check_y(validation_data[1], X_val.shape[0], name="y_val"))
    if len(validation_data) == 3 and validation_data[2] is not None:
        val += (_validation.check_sample_weight(validation_data[2], X_val.shape[0], net.dtype,
                                                name="sample_weight_val"),)
    return X, labels, Y, val


class BatchIterator:
    """Mini-batches of ``(X, Y)`` in a given row order, without copying the data.

    Rows are gathered (``np.take``) into reused buffers, several small
    batches per call (:data:`GATHER_ROWS` rows), so a batch of 10 costs no
    separate NumPy call.  A full batch is ``X`` and ``Y`` themselves.

    With ``augment``, each block of :data:`AUGMENT_ROWS` gathered rows is
    passed through ``augment(X_block, rng)`` in a background thread, which
    keeps up to :data:`AUGMENT_AHEAD` blocks ready while the training step
    runs: the transformed inputs of the next batches are made while the
    matrix products of this one run.  ``rng`` is one generator per epoch,
    used by that thread only, block after block in order, so the result does
    not depend on thread timing.

    Parameters
    ----------
    X : ndarray, shape (n, n_inputs)
    Y : ndarray, shape (n, n_outputs)
    batch_size : int or None
        m; None (or >= n) for the full batch.
    augment : callable, optional
        ``augment(X_block, rng) -> ndarray`` of the same shape and dtype;
        ``X_block`` is a fresh copy it may change in place.
    """

    def __init__(self, X: np.ndarray, Y: np.ndarray, batch_size: int | None,
                 augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None) -> None:
        self.X, self.Y = X, Y
        self.n = X.shape[0]
        self.m = self.n if batch_size is None else min(batch_size, self.n)
        self.full_batch = self.m == self.n
        self.n_batches = -(-self.n // self.m)
        self.augment = augment
        self.per_gather = max(1, (AUGMENT_ROWS if augment else GATHER_ROWS) // self.m)
        if not self.full_batch and augment is None:
            rows = self.m * self.per_gather
            self.x_buf = np.empty((rows, X.shape[1]), X.dtype)
            self.y_buf = np.empty((rows, Y.shape[1]), Y.dtype)

    def order(self, rng: np.random.Generator, shuffle: bool) -> np.ndarray:
        """This epoch's row order: a permutation drawn from ``rng``, or 0..n-1."""
        return rng.permutation(self.n) if shuffle and not self.full_batch else np.arange(self.n)

    def __call__(self, order: np.ndarray, rng: np.random.Generator | None = None):
        """Yield ``(rows, X_batch, Y_batch)``, ``rows`` the slice of ``order`` the batch holds.

        ``rng`` drives ``augment`` (required with it)."""
        if self.augment is not None:
            yield from self._augmented(order, rng)
            return
        if self.full_batch:
            yield slice(0, self.n), self.X, self.Y
            return
        m, block = self.m, self.m * self.per_gather
        for start in range(0, self.n, m):
            k = min(m, self.n - start)
            j = start % block
            if j == 0:
                idx = order[start:start + block]
                np.take(self.X, idx, axis=0, out=self.x_buf[:idx.shape[0]], mode="clip")
                np.take(self.Y, idx, axis=0, out=self.y_buf[:idx.shape[0]], mode="clip")
            yield slice(start, start + k), self.x_buf[j:j + k], self.y_buf[j:j + k]

    def _augmented_rows(self, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``augment`` of the rows ``idx`` of X, :data:`AUGMENT_ROWS` at a time (bounded temporaries)."""
        out = np.empty((idx.shape[0], self.X.shape[1]), self.X.dtype)
        for s in range(0, idx.shape[0], AUGMENT_ROWS):
            xb = np.take(self.X, idx[s:s + AUGMENT_ROWS], axis=0)
            moved = self.augment(xb, rng)
            if moved.shape != xb.shape or moved.dtype != xb.dtype:
                raise ValueError(f"augment must return an array of shape {xb.shape} and dtype {xb.dtype}, "
                                 f"got {moved.shape} {moved.dtype}")
            out[s:s + xb.shape[0]] = moved
        return out

    def _blocks(self, order: np.ndarray, rng: np.random.Generator):
        """``(start, X_block, Y_block)`` of augmented rows, block after block in ``order`` (the full
        batch: one block, augmented in pieces)."""
        block = self.n if self.full_batch else self.m * self.per_gather
        for start in range(0, self.n, block):
            idx = order[start:start + block]
            yield start, self._augmented_rows(idx, rng), np.take(self.Y, idx, axis=0)

    def _augmented(self, order: np.ndarray, rng: np.random.Generator | None):
        if rng is None:
            raise ValueError("BatchIterator with augment needs rng")
        ready: queue.Queue = queue.Queue(maxsize=AUGMENT_AHEAD)
        stop = threading.Event()

        def produce() -> None:
            try:
                for item in self._blocks(order, rng):
                    while not stop.is_set():
                        try:
                            ready.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                ready.put(None)
            except BaseException as err:  # handed to the training thread, raised there
                ready.put(err)

        producer = threading.Thread(target=produce, name="bpnn-augment", daemon=True)
        producer.start()
        try:
            while True:
                item = ready.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                start, xb, yb = item
                for j in range(0, xb.shape[0], self.m):
                    k = min(self.m, xb.shape[0] - j)
                    yield slice(start + j, start + j + k), xb[j:j + k], yb[j:j + k]
        finally:
            stop.set()
            while producer.is_alive():      # unblock a producer waiting to put
                try:
                    ready.get(timeout=0.1)
                except queue.Empty:
                    pass
            producer.join()


class TrainingStep:
    """One step of gradient descent on a mini-batch: backpropagate, then update.

    The optimizer owns η, the L2 term and max-norm (:meth:`Optimizer.update`);
    when its rule is linear in the gradient, η rides on δ^L
    (:meth:`Optimizer.gradient_scale`).
    """

    def __init__(self, net, optimizer: Optimizer) -> None:
        self.net, self.optimizer = net, optimizer
        self.params, self.grads = [net.flat_params], [net.flat_grads]
        self.W = net.flat_params[: net.n_weight_params]
        self.nabla_W = net.flat_grads[: net.n_weight_params]
        self.matrices = net.weights

    def __call__(self, xb: np.ndarray, yb: np.ndarray, Z_out: np.ndarray, A_out: np.ndarray,
                 wb: np.ndarray | None = None) -> None:
        opt = self.optimizer
        # BP1-BP4: the gradient of the mean cost (times η when folded) into net.flat_grads;
        # the output layer writes Z^L and A^L of these rows into Z_out and A_out
        if wb is None:
            self.net._backprop(xb, yb, opt.gradient_scale(xb.shape[0]), Z_out, A_out)
        else:
            # weighted rows: row x's δ^L scaled by w_x / Σ_batch w (times η when folded);
            # a batch whose weights sum to 0 gives a zero gradient
            total = float(wb.sum(dtype=np.float64))
            row_scale = np.multiply(wb, opt.gradient_scale(1) / total if total > 0 else 0.0)
            self.net._backprop(xb, yb, 0.0, Z_out, A_out, row_scale=row_scale)
        opt.update(self.params, self.grads, self.W, self.nabla_W, self.matrices)


def _end_epoch(net, opt: Optimizer, epoch: int, order: np.ndarray, targets: np.ndarray, labels: np.ndarray,
               Z_epoch: np.ndarray, A_epoch: np.ndarray, val, snapshot: np.ndarray, reference: float,
               start_time: float, weights: np.ndarray | None = None) -> EpochRecord:
    """The epoch's record: loss and accuracy from every row's Z^L and A^L (in
    ``order``, with ``targets`` and ``weights`` in that order; weighted means when
    ``weights`` is given), the divergence check, validation."""
    loss = net.cost.value(Z_epoch, A_epoch, targets, weights)
    why = None
    if not math.isfinite(loss):
        why = f"the loss became {loss}"
    elif not np.isfinite(net.flat_params).all():
        why = "the weights became infinite or NaN"
    elif loss > DIVERGENCE_FACTOR * max(reference, DIVERGENCE_FLOOR):
        why = f"the loss grew to {loss:.4g}, more than {DIVERGENCE_FACTOR:g} times its first value {reference:.4g}"
    if why:
        net.flat_params[...] = snapshot
        raise DivergenceError(
            f"training diverged in epoch {epoch + 1}: {why} (learning rate eta={opt.eta:g}); the weights "
            f"were restored to the end of epoch {epoch}. Try a smaller learning rate, e.g. eta={opt.eta / 10:g}"
        )
    hits = net.decode(A_epoch) == labels[order]
    if weights is None:
        accuracy = float(np.count_nonzero(hits)) / order.shape[0]
    else:
        accuracy = float(weights @ hits) / float(weights.sum(dtype=np.float64))
    record = EpochRecord(epoch=epoch + 1, loss=loss, accuracy=accuracy, eta=opt.eta)
    if val is not None:
        ev = net._score(*val)
        record.val_loss, record.val_accuracy = ev.loss, ev.accuracy
        record.val_correct, record.val_total = ev.correct, ev.total
    record.seconds = time.perf_counter() - start_time
    return record


@suggest_keywords(FIT_ALIASES, _optimizer_hint)
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
    optimizer_options: Mapping[str, float] | None = None,
    sample_weight: np.ndarray | None = None,
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
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
        Learning rate η (default: the optimizer's own, 0.5 for SGD, 0.001 for Adam).
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
        Print :func:`format_epoch` every epoch (True) or at the first and every k-th epoch (k).
    initial_epoch : int
        Number of epochs already done (for resuming from a checkpoint).
    history : History, optional
        Records to continue (for resuming); a new History otherwise.
    optimizer_options : mapping, optional
        Hyper-parameters of a named optimizer (``{"mu": 0.8}``; see
        :meth:`Optimizer.param_defaults`).
    sample_weight : ndarray of shape (n,), optional
        Non-negative per-row weights: each mini-batch descends the weighted
        mean cost Σ w_x C_x / Σ w_x (scikit-learn's normalisation), the L2
        term uses n = Σ w, and the epoch's loss and accuracy are weighted
        means, so a weight of 2 acts as a duplicated row (exactly so with
        full-batch descent).  ``validation_data`` may carry its own weights
        as a third member.

    Returns
    -------
    History
        Also stored as ``net.history_``.

    Raises
    ------
    DivergenceError
        When the loss becomes NaN or infinite, grows beyond
        :data:`DIVERGENCE_FACTOR` times its first value, or the weights
        become non-finite; the weights of the last good epoch are kept.
    """
    epochs = _check_positive_int("epochs", epochs)
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or not 0 <= initial_epoch <= epochs:
        raise ValueError(f"initial_epoch must be between 0 and epochs={epochs}, got {initial_epoch!r}")
    batch_size = _check_positive_int("batch_size", batch_size, allow_none=True)
    X, labels, Y, val = _check_inputs(net, X, y, validation_data)
    weights = None
    if sample_weight is not None:
        weights = _validation.check_sample_weight(sample_weight, X.shape[0], net.dtype)
    opt = get_optimizer(optimizer, eta, **dict(optimizer_options or {}))
    opt.regularize(lmbda, X.shape[0] if weights is None else float(weights.sum(dtype=np.float64)), max_norm)
    sched = get_schedule(schedule, epochs=epochs)
    net.optimizer_ = opt
    history = History() if history is None else history
    net.history_ = history
    callbacks = list(callbacks or [])
    if verbose:
        callbacks.append(EpochLog(epochs, every=1 if verbose is True else int(verbose)))
    batch_callbacks = [cb for cb in callbacks if type(cb).on_batch_end is not Callback.on_batch_end]

    if augment is not None and not callable(augment):
        raise ValueError(f"augment must be a function augment(X, rng) -> X, got {augment!r}")
    batches = BatchIterator(X, Y, batch_size, augment)
    step = TrainingStep(net, opt)
    # The output layer writes every row's Z^L and A^L of the epoch here, in
    # place; the epoch's loss and accuracy are then computed once, vectorised.
    Z_epoch = np.empty((X.shape[0], net.n_outputs), net.dtype)
    A_epoch = np.empty((X.shape[0], net.n_outputs), net.dtype)

    for cb in callbacks:
        cb.on_train_begin(net, history)
    # the compiled kernels, if the mode gives them to a network of this size (bpnn.nn.accel)
    with np.errstate(over="ignore", invalid="ignore"), accel.scope(net.n_params):
        for epoch in range(initial_epoch, epochs):
            start_time = time.perf_counter()
            opt.eta = sched(epoch, opt.initial_eta)
            order = batches.order(net.rng, shuffle)
            # augmentation draws from a generator of its own, seeded from net.rng (only when augmenting)
            aug_rng = None if augment is None else np.random.Generator(np.random.PCG64(net.rng.integers(2**63)))
            snapshot = net.flat_params.copy()
            reference = None
            w_order = None if weights is None else (weights if batches.full_batch else weights[order])
            for b, (rows, xb, yb) in enumerate(batches(order, aug_rng), start=1):
                wb = None if w_order is None else w_order[rows]
                step(xb, yb, Z_epoch[rows], A_epoch[rows], wb)
                # the loss before the first step of the epoch (of the first batch that carries weight)
                if reference is None and (history.records or wb is None or wb.any()):
                    reference = (history.records[0].loss if history.records
                                 else net.cost.value(Z_epoch[rows], A_epoch[rows], yb, wb))
                for cb in batch_callbacks:
                    cb.on_batch_end(net, b, batches.n_batches)
            targets = Y if batches.full_batch else np.take(Y, order, axis=0)
            record = _end_epoch(net, opt, epoch, order, targets, labels, Z_epoch, A_epoch, val, snapshot,
                                reference, start_time, w_order)
            history.append(record)
            stop = False
            for cb in callbacks:
                stop = bool(cb.on_epoch_end(net, record, history)) or stop
            if stop:
                break
    for cb in callbacks:
        cb.on_train_end(net, history)
    return history
