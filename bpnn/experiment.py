"""One road from settings to a trained model: :func:`run`.

``bpnn train``, ``bpnn serve``'s quick model, ``scripts/reproduce.py`` and
anything else that trains from settings call :func:`run`; they parse their
input into :class:`~bpnn.settings.Settings` and print what :func:`run`
returns, nothing more.

A run, in order:

1. :meth:`Settings.check` and the data (:func:`load_data`);
2. the network, optimizer and schedule the settings describe
   (:func:`build_network`, :func:`make_optimizer`, :func:`make_schedule`), or
   those of the checkpoint being resumed (:func:`resume_settings`);
3. :meth:`Network.fit` with early stopping and checkpoints when asked, plus
   the caller's callbacks (a progress bar, epoch lines);
4. the test evaluation, the summary, and the outputs the settings ask for
   (model file, plots, metrics JSON).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ._version import __version__
from .exceptions import BpnnError
from .model import TrainedModel
from .nn.network import Evaluation, Network
from .settings import RESUMABLE, Settings, SettingError
from .nn.training import Callback, History

__all__ = ["run", "Result", "TrainingInterrupted", "load_data", "build_network", "make_optimizer",
           "make_schedule", "resume_settings", "write_plots"]


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run`; says where the last checkpoint is.

    Attributes
    ----------
    checkpoint : str or None
        The checkpoint file, when the run writes one and it exists.
    epoch : int or None
        The epoch the checkpoint holds, when this run wrote it.
    """

    def __init__(self, checkpoint: str | None, epoch: int | None) -> None:
        super().__init__()
        self.checkpoint, self.epoch = checkpoint, epoch


@dataclass
class Result:
    """What :func:`run` produced.

    Attributes
    ----------
    model : TrainedModel
        The trained network with its classes, preprocessing, history and metadata.
    history : History
    test : Evaluation
        On the test split (never looked at while training).
    summary : dict
        JSON-ready facts of the run (what ``--metrics-out`` and model files record).
    settings : Settings
        The settings the run used (for a resumed run, the checkpoint's).
    timings : dict
        Seconds spent loading data (``"data"``), training (``"train"``,
        including earlier sessions of a resumed run) and testing (``"test"``).
    written : list of Path
        Files written (model, plots, metrics).
    early_stopping : str or None
        One line on what early stopping did.
    """

    model: TrainedModel
    history: History
    test: Evaluation
    summary: dict[str, Any]
    settings: Settings
    timings: dict[str, float]
    written: list[Path] = field(default_factory=list)
    early_stopping: str | None = None

    @property
    def network(self) -> Network:
        return self.model.network


# --------------------------------------------------------------------------
# the parts
# --------------------------------------------------------------------------
def check_output_file(flag: str, path: str | os.PathLike | None) -> None:
    """Refuse an output file that is a folder or whose folder does not exist (before any work is done).

    Raises
    ------
    SettingError
        Naming ``flag`` and the fix.
    """
    if path and (Path(path).is_dir() or not Path(path).absolute().parent.is_dir()):
        raise SettingError(f"{flag} {path}: " + ("it is a folder; give a file name" if Path(path).is_dir()
                                                 else f"the folder {Path(path).absolute().parent} does not exist"))


def load_data(settings: Settings, progress: bool = False, test_only: bool = False):
    """The data set the settings name, split and prepared, limited to ``settings.limit`` training rows
    (``test_only``: only the test split is read)."""
    from . import datasets

    ds = datasets.load(settings.dataset, validation=settings.validation or None, classes=settings.classes,
                       dtype=settings.dtype,
                       standardize=False if settings.standardize == "none" else settings.standardize,
                       data_dir=settings.data_dir, progress=progress, seed=settings.split_seed,
                       test_only=test_only)
    if settings.limit is not None and settings.limit < len(ds.train):
        ds.train = datasets.Split(ds.train.X[: settings.limit], ds.train.y[: settings.limit])
    return ds


def data_label(settings: Settings, ds) -> str:
    """How messages name the data: the name given, or the data set's own name for a path."""
    return settings.dataset if "/" not in settings.dataset and os.sep not in settings.dataset else ds.name


def describe_data(ds) -> str:
    """``"50000 training, 10000 validation, 10000 test images (28x28, 10 classes)"``."""
    n_val = 0 if ds.validation is None else len(ds.validation)
    shape = "x".join(map(str, ds.image_shape))
    return (f"{len(ds.train)} training, {n_val} validation, {len(ds.test)} test images "
            f"({shape}, {ds.n_classes} classes)")


def check_fits(net: Network, ds, name: str, advice: str) -> None:
    """Refuse a network whose input size or number of classes does not fit the data."""
    shape = "x".join(map(str, ds.image_shape))
    if net.n_inputs != ds.n_features:
        raise BpnnError(f"the network takes {net.n_inputs} inputs but the {name} data has {ds.n_features} "
                        f"features ({shape} images); {advice}")
    if net.n_classes != ds.n_classes:
        raise BpnnError(f"the network tells {net.n_classes} classes apart but the {name} data has {ds.n_classes} "
                        f"classes; {advice}")


def output_code(settings: Settings, n_classes: int):
    """The :class:`~bpnn.nn.codes.OutputCode` of ``targets = "binary"`` (None: one output unit per class)."""
    from .nn.codes import OutputCode

    return OutputCode.binary(n_classes) if settings.targets == "binary" else None


def layer_sizes(settings: Settings, n_features: int, n_classes: int, name: str = "", image_shape=()) -> list[int]:
    """``[n_features, *hidden, n_outputs]``, or ``settings.layers`` checked against the data.

    ``n_classes`` is the number of output units: the classes, or a code's width.
    """
    layers = settings.layers
    if layers is None:
        return [n_features, *settings.hidden, n_classes]
    shape = "x".join(map(str, image_shape))
    if layers[0] != n_features:
        raise SettingError(f"--layers starts with {layers[0]} inputs but the {name} data has {n_features} "
                           f"features ({shape} images); use --layers {n_features},...,{n_classes} or give "
                           f"only --hidden")
    if layers[-1] != n_classes:
        needs = (f"the {settings.targets} output code needs {n_classes} output units" if settings.targets == "binary"
                 else f"the {name} data has {n_classes} classes")
        raise SettingError(f"--layers ends with {layers[-1]} outputs but {needs}; use --layers "
                           f"{','.join(map(str, layers[:-1]))},{n_classes} or give only --hidden")
    return list(layers)


def build_network(settings: Settings, sizes: Sequence[int], code=None) -> Network:
    """The network the settings describe, with layer ``sizes`` (and an output ``code``, if any)."""
    from .nn.activations import get_activation

    output = settings.output
    if output is None:       # one unit per target value: sigmoid for codes, softmax for cross-entropy classes
        if settings.targets != "onehot":
            output = "sigmoid"
        else:
            output = ("softmax" if settings.cost == "cross_entropy" and settings.activation != "sigmoid"
                      else settings.activation)
    hidden_params = settings.params_of("activation")
    return Network(list(sizes), activation=get_activation(settings.activation, **hidden_params),
                   output_activation=get_activation(output, **hidden_params), cost=settings.cost,
                   init=settings.init, dtype=settings.dtype, seed=settings.seed, dropout=settings.dropout,
                   input_dropout=settings.input_dropout, code=code)


def make_augmentation(settings: Settings, ds):
    """The training-time augmentation the settings describe for data set ``ds`` (None for none)."""
    from .augment import DIGIT_DATASETS, parse_augment

    if settings.augment == "none":
        return None
    shape = ds.preprocessing.image_shape
    if shape is None or len(shape) != 2:
        raise SettingError(f"--augment moves images, but {ds.name} has no 2-D image shape; drop --augment")
    fill = 0.0
    if settings.standardize == "global":       # the paper's 0, standardised like every pixel
        fill = float(ds.preprocessing.standardize_inputs(np.zeros((1, 1), settings.dtype))[0, 0])
    try:
        return parse_augment(settings.augment, shape, fill, digits=ds.name in DIGIT_DATASETS)
    except ValueError as err:
        raise SettingError(f"--augment: {err}") from None


def make_optimizer(settings: Settings):
    """The optimizer the settings describe (η None: the optimizer's own default)."""
    from .nn.optimizers import get_optimizer

    return get_optimizer(settings.optimizer, settings.eta, **settings.params_of("optimizer"))


def make_schedule(settings: Settings):
    """The learning-rate schedule the settings describe (None for a constant η)."""
    from .nn.schedules import get_schedule

    if settings.schedule == "none":
        return None
    return get_schedule(settings.schedule, epochs=settings.epochs, **settings.params_of("schedule"))


def targets(settings: Settings, y: np.ndarray, k: int) -> np.ndarray:
    """Class indices (a network with an output code encodes them itself), or 0.9/0.1 soft target rows
    for ``targets = "soft"``."""
    if settings.targets == "soft":
        from .datasets import soft_targets

        return soft_targets(y, k, low=0.1, high=0.9, dtype=settings.dtype)
    return y


def resume_settings(checkpoint, given: Settings) -> Settings:
    """The settings to continue a checkpointed run with.

    The checkpoint's settings, with ``given``'s values for the settings
    that may change (:data:`~bpnn.settings.RESUMABLE` and a larger
    ``epochs``).  Every other setting the user gave must equal the
    checkpoint's, so the command that started the run, with ``--resume``
    added, continues it.

    Raises
    ------
    SettingError
        Naming each given setting that differs from the checkpoint's.
    """
    stored = checkpoint.extra.get("settings")
    if not isinstance(stored, dict):
        raise SettingError(f"{checkpoint.path} was not written by 'bpnn train' (its settings are missing)")
    recipe = stored.get("recipe")
    try:
        original = Settings({k: v for k, v in stored.items() if k != "recipe"}, recipe=recipe,
                            where=str(checkpoint.path))
    except SettingError as err:
        raise SettingError(f"{checkpoint.path} was written by another bpnn version: {err}") from None
    fixed = sorted(given.given - set(RESUMABLE) - {"epochs"})
    differ = original.differences(given, fixed)
    if differ:
        names = " and ".join("--" + n.replace("_", "-") for n in differ)
        shown = "; ".join(f"--{n.replace('_', '-')} {_shown(given[n])} given, {_shown(original[n])} in the run"
                          for n in differ)
        raise SettingError(f"--resume continues the run in {checkpoint.path} exactly, so {names} cannot change "
                           f"({shown}); only --epochs (to train longer) and "
                           f"{', '.join('--' + n.replace('_', '-') for n in RESUMABLE)} may")
    if "epochs" in given.given and given.epochs < checkpoint.epoch:
        raise SettingError(f"--epochs {given.epochs} is fewer than the {checkpoint.epoch} epochs {checkpoint.path} "
                           f"already holds; give --epochs {checkpoint.epoch} or more (more continues training)")
    changes = {n: given[n] for n in given.given & {*RESUMABLE, "epochs"}}
    changes["checkpoint"] = str(checkpoint.path)
    return original.replace(**changes)


def _shown(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def write_plots(model: TrainedModel, out_dir: str | os.PathLike, images: np.ndarray, X: np.ndarray,
                y: np.ndarray, best_epoch: int | None = None, data_label: str = "test") -> list[Path]:
    """Write the report figures for ``model`` on prepared inputs ``X`` (shown as ``images``); return their paths."""
    from . import plots
    from .metrics import classification_summary

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BpnnError(f"cannot create the folder {out}: {err.strerror or err}") from None
    net, classes = model.network, model.classes
    probabilities = net.predict_proba(X)
    predicted = probabilities.argmax(axis=1)
    summary = classification_summary(y, predicted, classes)
    written = []
    if model.history is not None and len(model.history):
        written.append(plots.learning_curves(model.history, out / "learning_curves.png", title=repr(net),
                                             best_epoch=best_epoch))
    written.append(plots.confusion_matrix(
        summary.confusion, classes, out / "confusion_matrix.png",
        title=f"{data_label}: accuracy {summary.accuracy:.2%} ({summary.correct}/{summary.total})"))
    written.append(plots.misclassified(images, y, predicted, classes, out / "misclassified.png",
                                       probabilities=probabilities))
    shape = model.preprocessing.image_shape
    if shape is not None and int(np.prod(shape)) == net.n_inputs and len(shape) == 2:
        written.append(plots.first_layer_weights(net.weights[0], shape, out / "first_layer_weights.png"))
    return written


def write_json(path: str | os.PathLike, data: dict) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    from .io.container import atomic_write_bytes, jsonable

    atomic_write_bytes(path, (json.dumps(jsonable(data), indent=2, default=str) + "\n").encode())
    return Path(path)


def _summary(settings: Settings, net: Network, history: History, test: Evaluation, ds, seconds: float,
             early=None, resumed_from: str | None = None) -> dict[str, Any]:
    last = history.records[-1] if len(history) else None
    return {
        "recipe": settings.recipe,
        "network": repr(net),
        "sizes": net.sizes,
        "dataset": ds.name,
        "n_train": len(ds.train),
        "n_validation": 0 if ds.validation is None else len(ds.validation),
        "n_test": len(ds.test),
        "epochs": settings.epochs,
        "epochs_run": history.records[-1].epoch if len(history) else 0,
        "seconds": seconds,
        "seconds_per_epoch": float(np.mean(history.seconds)) if len(history) else None,
        "first_loss": history.records[0].loss if len(history) else None,
        "final_loss": last.loss if last else None,
        "final_train_accuracy": last.accuracy if last else None,
        "final_val_accuracy": last.val_accuracy if last else None,
        "best_epoch": early.best_epoch if early else None,
        "stopped_epoch": early.stopped_epoch if early else None,
        "restored_best": early.restored if early else None,
        "test_accuracy": test.accuracy,
        "test_error_rate": test.error_rate,
        "test_loss": test.loss,
        "test_correct": test.correct,
        "test_total": test.total,
        "seed": settings.seed,
        "resumed_from": resumed_from,
        "bpnn_version": __version__,
    }


# --------------------------------------------------------------------------
# the road
# --------------------------------------------------------------------------
def run(settings: Settings, *, resume=None, callbacks: Sequence[Callback] = (),
        log: Callable[[str], None] | None = None, progress: bool = False, data=None) -> Result:
    """Train a network from settings, evaluate it on the test split, write what the settings ask for.

    Parameters
    ----------
    settings : Settings
    resume : path or Checkpoint, optional
        A checkpoint of this run to continue exactly; ``settings`` are checked
        against it and completed from it (:func:`resume_settings`).
    callbacks : sequence of Callback
        Called during training besides early stopping and checkpoints (a
        progress bar, epoch lines).
    log : callable, optional
        Receives one line at a time on what the run is doing (the data, the
        network, a resumed checkpoint, early stopping).
    progress : bool
        Show download progress bars.
    data : Dataset, optional
        Use this data instead of loading ``settings.dataset`` (for callers
        that keep it in memory).

    Returns
    -------
    Result

    Raises
    ------
    SettingError, DataError, ModelFileError, DivergenceError
        With a message naming the problem and its fix.
    TrainingInterrupted
        On Ctrl-C, saying where the last checkpoint is.
    """
    from .callbacks import Checkpointer, EarlyStopping

    say = log or (lambda line: None)
    checkpoint = None
    if resume is not None:
        from .io.checkpoint import Checkpoint, load_checkpoint

        checkpoint = resume if isinstance(resume, Checkpoint) else load_checkpoint(resume)
        settings = resume_settings(checkpoint, settings)
    settings.check()
    for option in ("out", "metrics_out", "checkpoint"):       # fail now, not after training
        check_output_file(f"--{option.replace('_', '-')}", settings[option])
    started = time.perf_counter()
    ds = data if data is not None else load_data(settings, progress)
    timings = {"data": time.perf_counter() - started}
    if settings.patience is not None and ds.validation is None:
        raise SettingError("early stopping (--patience) needs validation data; set --validation, e.g. 10000 "
                           "or 0.2")
    name = data_label(settings, ds)
    if checkpoint is None:
        code = output_code(settings, ds.n_classes)
        n_outputs = ds.n_classes if code is None else code.n_outputs
        net = build_network(settings, layer_sizes(settings, ds.n_features, n_outputs, name, ds.image_shape), code)
        optimizer = make_optimizer(settings)
        history, initial_epoch, previous_seconds = History(), 0, 0.0
    else:
        net = checkpoint.network()
        check_fits(net, ds, name, "the checkpoint belongs to another data set")
        optimizer = checkpoint.make_optimizer()
        history, initial_epoch = checkpoint.history, checkpoint.epoch
        previous_seconds = float(checkpoint.extra.get("seconds", 0.0))
    if settings.targets in ("soft", "binary") and net.output_layer.activation.name == "softmax":
        raise SettingError(f"{settings.targets} targets are for sigmoid outputs (each unit on its own); a softmax "
                           f"output needs one-hot targets: add --output sigmoid")
    schedule = make_schedule(settings)
    y_train = targets(settings, ds.train.y, ds.n_classes)
    validation = None
    if ds.validation is not None:
        validation = (ds.validation.X, targets(settings, ds.validation.y, ds.n_classes))

    early = None
    if settings.patience is not None:
        early = EarlyStopping(settings.monitor, settings.patience, settings.min_delta, settings.eval_every,
                              settings.restore_best)
        if checkpoint is not None and early.state_key in checkpoint.callbacks:
            early.load_state_dict(*checkpoint.callbacks[early.state_key])
    train_started = time.perf_counter()

    def elapsed() -> float:
        return previous_seconds + time.perf_counter() - train_started

    run_callbacks: list = list(callbacks)
    if early is not None:
        run_callbacks.append(early)
    checkpointer = None
    if settings.checkpoint:
        checkpointer = Checkpointer(settings.checkpoint, settings.checkpoint_every, settings.epochs,
                                    stateful=[early] if early else [],
                                    extra=lambda: {"settings": settings.to_dict(), "seconds": elapsed(),
                                                   "dataset": ds.name})
        run_callbacks.append(checkpointer)

    augmentation = make_augmentation(settings, ds)
    say(f"bpnn {__version__}: {net!r} on {name}: {describe_data(ds)}")
    batch = "full batch" if settings.batch_size is None else f"batch {settings.batch_size}"
    say(f"{optimizer!r}, {batch}, {settings.epochs} epochs" + (f", {schedule!r}" if schedule else "")
        + (f", augment {settings.augment}" if settings.augment != "none" else "")
        + f", seed {settings.seed}" + (f", recipe {settings.recipe}" if settings.recipe else ""))
    if checkpoint is not None:
        say(f"resuming from {checkpoint.path} after epoch {checkpoint.epoch}")
    finished = initial_epoch >= settings.epochs or (early is not None and early.stop_requested)
    if early is not None and early.stop_requested and initial_epoch < settings.epochs:
        say(f"early stopping already ended this run at epoch {early.stopped_epoch}: there is nothing to continue "
            f"(train a new run to go further)")
    try:
        if finished:
            if early is not None:
                early.on_train_end(net, history)
        else:
            net.fit(ds.train.X, y_train, epochs=settings.epochs, batch_size=settings.batch_size,
                    optimizer=optimizer, lmbda=settings.l2, max_norm=settings.max_norm,
                    validation_data=validation, callbacks=run_callbacks, schedule=schedule,
                    initial_epoch=initial_epoch, history=history, augment=augmentation)
    except KeyboardInterrupt:
        # the file can already be in place while its writer has not returned yet
        # (Ctrl-C between the rename and the bookkeeping), so look on disk too
        path = settings.checkpoint
        there = checkpointer is not None and (checkpointer.last_written or os.path.exists(path))
        raise TrainingInterrupted(path if there else None,
                                  checkpointer.last_written if checkpointer else None) from None
    seconds = elapsed()
    timings["train"] = seconds
    net.history_ = history
    early_line = early.describe() if early is not None else None
    if early_line:
        say(early_line)

    tested = time.perf_counter()
    test = net.evaluate(ds.test.X, ds.test.y)
    timings["test"] = time.perf_counter() - tested
    summary = _summary(settings, net, history, test, ds, seconds, early,
                       str(checkpoint.path) if checkpoint else None)
    model = TrainedModel(net, ds.classes, ds.preprocessing, history, metadata={
        "training": {"settings": settings.to_dict(), "summary": summary},
        "dataset": {"name": settings.dataset, "classes": settings.classes, "validation": settings.validation,
                    "split_seed": settings.split_seed, "data_dir": settings.data_dir, "source": ds.source}})
    result = Result(model, history, test, summary, settings, timings, early_stopping=early_line)
    if settings.out:
        model.save(settings.out)
        result.written.append(Path(settings.out))
    if settings.plots:
        images = ds.preprocessing.unstandardize_inputs(ds.test.X).reshape((-1, *ds.image_shape))
        best = early.best_epoch if early is not None and early.restored else None
        result.written += write_plots(model, settings.plots, images, ds.test.X, ds.test.y, best)
    if settings.metrics_out:
        result.written.append(write_json(settings.metrics_out, {"settings": settings.to_dict(), "summary": summary,
                                                                "history": history.to_dict()}))
    return result
