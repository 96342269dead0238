"""Training from the page: one run at a time, in a worker thread, watched live.

The page's Train tab posts a few choices (data set, hidden layers,
activation, cost, initialisation, optimizer, η, batch size, epochs, seed);
:meth:`TrainingManager.start` turns them into :class:`~bpnn.settings.Settings`
(every value checked there, as for ``bpnn train``), refuses what would
exhaust the machine (:class:`Limits`), and calls
:func:`bpnn.experiment.run`, the road every interface takes, on a worker
thread with two callbacks: :class:`LiveView`, which publishes each epoch
(loss and accuracy, the first layer's weights as images, the current
predictions for a few test digits) and honours Stop, and
:class:`~bpnn.nn.diagnostics.Diagnostics`, whose warnings go to the page.

Events are kept in order with a sequence number; the app streams them as
server-sent events (:meth:`TrainingManager.events_since`).  When a run
finishes (or is stopped: Stop ends it at the end of the epoch under way,
and :func:`run` then evaluates it on the test split as usual) its
:class:`~bpnn.model.TrainedModel` is kept: the pad can use it at once
(:meth:`TrainingManager.predictor`) and it can be downloaded as a model file
(:meth:`TrainingManager.model_file`).

Every random choice comes from explicit seeds: the run's ``seed`` (initial
weights, shuffling), the data's fixed splits, and the sample digits shown
(the first test image of each class).
"""

from __future__ import annotations

import base64
import math
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from ..exceptions import BpnnError
from ..nn.costs import COSTS
from ..nn.diagnostics import Diagnostics
from ..nn.initializers import INITIALIZERS
from ..nn.optimizers import OPTIMIZERS
from ..nn.training import Callback, EpochRecord, History
from ..settings import SETTINGS

__all__ = ["Limits", "TrainingManager", "TrainingRefused", "PAGE_DATASETS", "LiveView"]

#: The data sets the page offers: the bpnn settings each stands for, and its sizes (for the time estimate).
PAGE_DATASETS: dict[str, dict[str, Any]] = {
    "digits": {"title": "8x8 digits (1,077 images; seconds)",
               "settings": {"dataset": "digits"}, "n_train": 1077, "n_validation": 270, "n_features": 64},
    "mnist-subset": {"title": "MNIST subset (10,000 images; tens of seconds)",
                     "settings": {"dataset": "mnist", "limit": 10000}, "n_train": 10000, "n_validation": 10000,
                     "n_features": 784},
    "mnist": {"title": "MNIST (50,000 images; a minute or more)",
              "settings": {"dataset": "mnist"}, "n_train": 50000, "n_validation": 10000, "n_features": 784},
}
#: The choices of the form (the activations a learner compares; every cost, initialiser and optimizer).
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")
#: The fields a request may hold.
FIELDS = ("dataset", "hidden", "activation", "cost", "init", "optimizer", "eta", "batch_size", "epochs", "seed")
#: First-layer units whose weights the page shows as images.
WEIGHT_UNITS = 36
#: Seconds between two progress events within an epoch.
PROGRESS_EVERY = 0.25


@dataclass(frozen=True)
class Limits:
    """What one training request from the page may ask for.

    Before a run starts, its time is estimated as ``epochs × ((n_train +
    n_validation) × n_params × row_cost + n_batches × (batch_cost + n_params ×
    step_cost))`` seconds (within a factor of about 4 on this project's 2-core
    machine, mostly above), and a run over ``max_seconds`` or with epochs over
    ``max_epoch_seconds`` (Stop takes effect at the end of an epoch) is
    refused.  While it runs, a run that passes ``max_seconds`` is ended at
    the end of that epoch, whatever the estimate said.
    """

    max_hidden_layers: int = 3
    max_units: int = 512
    max_epochs: int = 1000
    max_batch_size: int = 4096
    max_eta: float = 100.0
    max_seed: int = 2**32 - 1
    max_seconds: float = 900.0
    max_epoch_seconds: float = 20.0
    row_cost: float = 1.5e-10
    batch_cost: float = 5e-5
    step_cost: float = 4e-9

    def estimate(self, dataset: str, sizes: list[int], batch_size: int, epochs: int) -> tuple[float, float]:
        """(seconds per epoch, seconds in all) for a run."""
        spec = PAGE_DATASETS[dataset]
        n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        rows = spec["n_train"] + spec["n_validation"]
        n_batches = math.ceil(spec["n_train"] / batch_size)
        per_epoch = rows * n_params * self.row_cost + n_batches * (self.batch_cost + n_params * self.step_cost)
        return per_epoch, per_epoch * epochs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TrainingRefused(BpnnError):
    """A request the manager will not run; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class _Stopped(Exception):
    """Raised inside the worker when the server shuts down mid-epoch (nothing is kept)."""


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    return f"{seconds / 60:.0f} minutes"


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.uint8).tobytes()).decode("ascii")


class LiveView(Callback):
    """Publishes a run as it goes and ends it when asked.

    Parameters
    ----------
    publish : callable
        ``publish(kind, data)`` for each event: ``"progress"`` (within an epoch)
        and ``"epoch"`` (its record, the first layer's weights, the sample
        digits' predictions and the diagnostics' measurements).
    samples : ndarray (k, n_inputs)
        The sample digits, as the network takes them.
    image_shape : tuple of int
        The shape of one input image (the weights are shown in it).
    epochs : int
    stop, abort : threading.Event
        ``stop``: end the run at the end of this epoch (run() then evaluates
        it as usual); ``abort``: end it at once (the server is shutting down).
    diagnostics : Diagnostics, optional
        Whose ``health`` is sent with each epoch.
    seconds : float, optional
        The run's time budget: past it, the run ends at the end of the epoch
        (:attr:`out_of_time` tells).
    """

    def __init__(self, publish: Callable[[str, dict], None], samples: np.ndarray, image_shape: tuple[int, ...],
                 epochs: int, stop: threading.Event, abort: threading.Event,
                 diagnostics: Diagnostics | None = None, seconds: float | None = None) -> None:
        self.publish, self.samples, self.image_shape = publish, samples, tuple(image_shape)
        self.epochs, self.stop, self.abort, self.diagnostics = int(epochs), stop, abort, diagnostics
        self.deadline = None if seconds is None else time.monotonic() + float(seconds)
        self.out_of_time = False
        self._last_progress = 0.0
        self._epoch = 0

    def on_train_begin(self, net, history: History) -> None:
        self._epoch = history.records[-1].epoch if history.records else 0
        self.publish("epoch", {"record": None, **self.snapshot(net)})

    def on_batch_end(self, net, batch: int, n_batches: int) -> None:
        if self.abort.is_set():
            raise _Stopped()
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_EVERY or batch == n_batches:
            self._last_progress = now
            self.publish("progress", {"epoch": self._epoch + 1, "batch": batch, "n_batches": n_batches})

    def on_epoch_end(self, net, record: EpochRecord, history: History) -> bool:
        self._epoch = record.epoch
        data = {"record": _record(record), **self.snapshot(net)}
        if self.diagnostics is not None and self.diagnostics.health.get("epoch") == record.epoch:
            data["health"] = self.diagnostics.health
        self.publish("epoch", data)
        if self.deadline is not None and time.monotonic() > self.deadline and record.epoch < self.epochs:
            self.out_of_time = True
        return self.stop.is_set() or self.out_of_time

    def snapshot(self, net) -> dict[str, Any]:
        """The first layer's weights (up to :data:`WEIGHT_UNITS` units, each scaled by its largest |w| into
        0..255 around 128) and the sample digits' class probabilities."""
        from ..predictor import class_probabilities

        W = net.weights[0][:, :WEIGHT_UNITS].astype(np.float64)
        scale = np.maximum(np.abs(W).max(axis=0), 1e-12)
        shaded = np.clip(np.round(128 + 127 * W / scale), 0, 255).T     # one row per unit
        outputs = net.predict_proba(self.samples)
        probabilities = class_probabilities(outputs, net.output_layer.activation.name, net.code)
        return {"weights": {"units": int(W.shape[1]), "shape": list(self.image_shape),
                            "data": _b64(shaded), "max": [round(float(v), 4) for v in scale]},
                "predictions": [{"index": int(i), "p": round(float(p[i]), 4)}
                                for i, p in zip(net.decode(outputs), probabilities)]}


def _record(record: EpochRecord) -> dict[str, Any]:
    return {"epoch": record.epoch, "loss": record.loss, "accuracy": record.accuracy, "val_loss": record.val_loss,
            "val_accuracy": record.val_accuracy, "seconds": round(record.seconds, 3)}


class TrainingManager:
    """One training run at a time for a server, and what the page needs to watch it.

    Parameters
    ----------
    data_dir : str, optional
        Where MNIST is looked for (never downloaded from a page request).
    limits : Limits
    mnist_available : callable, optional
        Tells whether MNIST is on this machine (default: look in ``data_dir``).
    """

    def __init__(self, data_dir: str | None = None, limits: Limits = Limits(),
                 mnist_available: Callable[[], bool] | None = None) -> None:
        self.data_dir, self.limits = data_dir, limits
        self._mnist_available = mnist_available
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._events: list[tuple[int, str, dict]] = []
        self._seq = 0
        self._run = 0
        self._state: dict[str, Any] = {"run": 0, "status": "idle"}
        self._history: list[dict] = []
        self._diagnoses: list[dict] = []
        self._latest: dict[str, Any] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._model = None
        self._predictor = None
        self._tmp = tempfile.TemporaryDirectory(prefix="bpnn-serve-")

    # -- what the page may ask for ---------------------------------------------------------
    def mnist_available(self) -> bool:
        if self._mnist_available is not None:
            return bool(self._mnist_available())
        from .server import mnist_is_here

        return mnist_is_here(self.data_dir)

    def options(self) -> dict[str, Any]:
        """The form's choices, defaults and limits."""
        mnist = self.mnist_available()
        return {
            "datasets": [{"name": name, "title": spec["title"],
                          "available": name == "digits" or mnist,
                          "why": None if name == "digits" or mnist else
                          "MNIST is not on this machine: run 'bpnn train --dataset mnist' once to download it"}
                         for name, spec in PAGE_DATASETS.items()],
            "activations": list(ACTIVATIONS),
            "costs": list(COSTS),
            "inits": list(INITIALIZERS),
            "optimizers": [{"name": name, "eta": cls.default_eta} for name, cls in OPTIMIZERS.items()],
            # bpnn train's defaults (a page-sized hidden layer); eta None: the optimizer's own
            "defaults": {"dataset": "digits", **{k: SETTINGS[k].default for k in FIELDS if k != "dataset"},
                         "hidden": [32]},
            "limits": self.limits.to_dict(),
        }

    def settings_for(self, request: Any):
        """The :class:`Settings` a request stands for; raises :class:`TrainingRefused` (422) naming the problem."""
        from ..settings import Settings, SettingError

        if not isinstance(request, dict):
            raise TrainingRefused(422, "send a JSON object such as {\"dataset\": \"digits\", \"hidden\": [32], "
                                       "\"epochs\": 30}")
        unknown = sorted(set(request) - set(FIELDS))
        if unknown:
            raise TrainingRefused(422, f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                                       f"the fields are {', '.join(FIELDS)}")
        values = {**self.options()["defaults"], **request}
        limits = self.limits
        dataset = values["dataset"]
        if dataset not in PAGE_DATASETS:
            raise TrainingRefused(422, f"dataset must be one of {', '.join(PAGE_DATASETS)}, got {dataset!r}")
        if dataset != "digits" and not self.mnist_available():
            raise TrainingRefused(422, "MNIST is not on this machine (the page never downloads it): run 'bpnn train "
                                       "--dataset mnist' once, or choose the 8x8 digits")
        for name, choices in (("activation", ACTIVATIONS), ("cost", COSTS)):
            if values[name] not in choices:
                raise TrainingRefused(422, f"{name} must be one of {', '.join(choices)}, got {values[name]!r}")
        for name in ("hidden", "epochs", "batch_size", "seed", "eta"):
            value = values[name]
            if name == "eta" and value is None:      # the optimizer's own learning rate
                continue
            items = value if name == "hidden" and isinstance(value, list) else [value]
            if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in items) or \
                    (name == "hidden" and not isinstance(value, list)):
                what = "a list of layer sizes such as [32] or [64, 32]" if name == "hidden" else "a number"
                raise TrainingRefused(422, f"{name} must be {what}, got {value!r}")
        try:
            settings = Settings({**PAGE_DATASETS[dataset]["settings"],
                                 **{k: values[k] for k in FIELDS if k != "dataset"}},
                                data_dir=self.data_dir)
            settings.check()
        except SettingError as err:
            raise TrainingRefused(422, str(err).replace("--", "").replace("batch-size", "batch_size")) from None
        hidden = settings.hidden
        checks = [
            (len(hidden) <= limits.max_hidden_layers,
             f"at most {limits.max_hidden_layers} hidden layers, got {len(hidden)}"),
            (max(hidden) <= limits.max_units, f"at most {limits.max_units} units a layer, got {max(hidden)}"),
            (settings.epochs <= limits.max_epochs, f"at most {limits.max_epochs} epochs, got {settings.epochs}"),
            (settings.batch_size is not None and settings.batch_size <= limits.max_batch_size,
             f"a batch size of at most {limits.max_batch_size}"),
            (settings.eta is None or settings.eta <= limits.max_eta, f"η at most {limits.max_eta:g}, got "
                                                                     f"{settings.eta}"),
            (settings.seed <= limits.max_seed, f"a seed of at most {limits.max_seed}"),
        ]
        for ok, message in checks:
            if not ok:
                raise TrainingRefused(422, f"the page allows {message}; use 'bpnn train' for more")
        spec = PAGE_DATASETS[dataset]
        sizes = [spec["n_features"], *hidden, 10]
        per_epoch, total = limits.estimate(dataset, sizes, settings.batch_size, settings.epochs)
        if per_epoch > limits.max_epoch_seconds or total > limits.max_seconds:
            raise TrainingRefused(422, f"this run would take about {_duration(total)} ({per_epoch:.1f} s an epoch); "
                                       f"the page allows {_duration(limits.max_seconds)} and "
                                       f"{limits.max_epoch_seconds:g} s an epoch: choose fewer epochs, fewer units "
                                       f"or a smaller data set, or use 'bpnn train'")
        return settings, {"dataset": dataset, "title": spec["title"], "sizes": sizes,
                          "estimate_seconds": round(total, 1)}

    # -- the run ---------------------------------------------------------------------------------
    def _publish(self, kind: str, data: dict) -> None:
        with self._changed:
            self._seq += 1
            if kind == "epoch":
                if data.get("record"):
                    self._history.append(data["record"])
                self._latest = {k: v for k, v in data.items() if k != "record"}
                self._state["epoch"] = data["record"]["epoch"] if data.get("record") else 0
            elif kind == "diagnosis":
                self._diagnoses.append(data)
            elif kind == "progress":
                self._state["progress"] = data
            elif kind == "status":
                self._state.update(data)
            self._events.append((self._seq, kind, {"run": self._run, **data}))
            if len(self._events) > 2000:                 # a client that far behind gets the whole state again
                del self._events[:1000]
            self._changed.notify_all()

    @property
    def busy(self) -> bool:
        return self._state["status"] in ("loading", "running", "stopping")

    def start(self, request: Any) -> dict[str, Any]:
        """Check the request and start the run on a worker thread; return the state.

        Raises
        ------
        TrainingRefused
            409 while another run is under way, 422 for a bad or too large request.
        """
        settings, about = self.settings_for(request)
        with self._changed:
            if self.busy:
                state = self._state
                where = (f"epoch {state.get('epoch', 0)} of {state['settings']['epochs']}"
                         if state["status"] != "loading" else "loading its data")
                raise TrainingRefused(409, f"a training run is already under way on this server ({state['about']['dataset']}, "
                                           f"{where}); one run at a time: press Stop or wait for it to finish")
            self._run += 1
            self._stop.clear()
            self._abort.clear()
            self._history, self._diagnoses, self._latest = [], [], None
            self._events = []
            shown = {k: settings[k] for k in FIELDS if k != "dataset"}     # no server path goes to the page
            self._state = {"run": self._run, "status": "loading", "settings": shown, "about": about,
                           "started": time.time(), "epoch": 0, "progress": None, "message": "loading the data…",
                           "result": None}
            thread = self._thread = threading.Thread(target=self._work, args=(settings, about, self._run),
                                                     name=f"bpnn-train-{self._run}", daemon=True)
        self._publish("status", {"status": "loading", "settings": shown, "about": about,
                                 "message": "loading the data…"})
        thread.start()
        return self.state()

    def _work(self, settings, about: dict, run_id: int) -> None:
        """The worker thread: the data, the sample digits, then :func:`bpnn.experiment.run` with the live view."""
        from ..experiment import describe_data, load_data, run
        from ..predictor import Predictor

        try:
            ds = load_data(settings)
            if self._stop.is_set():
                self._publish("status", {"status": "stopped", "message": "stopped before training started",
                                         "progress": None})
                return
            classes = list(ds.classes)
            picks = [int(np.flatnonzero(ds.test.y == c)[0]) for c in range(ds.n_classes) if (ds.test.y == c).any()]
            samples = ds.test.X[picks]
            images = ds.preprocessing.unstandardize_inputs(samples)
            shaded = np.clip(np.round(255 * images), 0, 255)
            self._publish("status", {"status": "running", "message": f"training on {describe_data(ds)}",
                                     "data": describe_data(ds),
                                     "samples": {"shape": list(ds.image_shape), "labels": [classes[int(ds.test.y[i])]
                                                                                            for i in picks],
                                                 "data": _b64(shaded), "classes": classes}})
            diagnostics = Diagnostics(report=lambda d: self._publish("diagnosis", d.to_dict()), classes=classes)
            live = LiveView(self._publish, samples, ds.image_shape, settings.epochs, self._stop, self._abort,
                            diagnostics, seconds=self.limits.max_seconds)
            result = run(settings, data=ds, callbacks=[diagnostics, live])
            predictor = Predictor(result.model)
            stopped = result.summary["epochs_run"] < settings.epochs
            why = (f" (the page's time budget of {_duration(self.limits.max_seconds)} ran out)" if live.out_of_time
                   else "")
            with self._changed:
                self._model, self._predictor = result.model, predictor
            test = result.test
            self._publish("status", {
                "status": "stopped" if stopped else "done",
                "message": (f"{'stopped after' if stopped else 'finished'} {result.summary['epochs_run']} epochs"
                            f"{why}: test accuracy {test.accuracy:.2%} ({test.correct}/{test.total})"),
                "progress": None,
                "result": {"test_accuracy": test.accuracy, "test_correct": test.correct, "test_total": test.total,
                           "epochs_run": result.summary["epochs_run"], "network": repr(result.network),
                           "seconds": round(result.timings["train"], 2)}})
        except _Stopped:
            self._publish("status", {"status": "stopped", "message": "the server is shutting down; the run was "
                                                                     "abandoned", "progress": None})
        except (BpnnError, ValueError, OSError, MemoryError) as err:
            message = " ".join(str(err).split()) or type(err).__name__
            self._publish("status", {"status": "failed", "message": f"training failed: {message}",
                                     "progress": None})
        except Exception as err:            # a bug: say so on the page instead of dying silently
            self._publish("status", {"status": "failed", "progress": None,
                                     "message": f"training failed with an internal error ({type(err).__name__}: "
                                                f"{err}); please report it"})

    def stop(self) -> dict[str, Any]:
        """Ask the run to end after the epoch under way (it is then tested and kept as usual)."""
        with self._changed:
            if not self.busy:
                raise TrainingRefused(409, "no training run is under way")
            self._stop.set()
        self._publish("status", {"status": "stopping", "message": "stopping at the end of this epoch…"})
        return self.state()

    def shutdown(self, timeout: float = 5.0) -> None:
        """End a run at once (the server is stopping) and remove the temporary files."""
        self._abort.set()
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout)
        self._tmp.cleanup()

    # -- what the page reads -------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything the page needs to draw the current (or last) run from scratch."""
        with self._lock:
            return {**self._state, "history": list(self._history), "diagnoses": list(self._diagnoses),
                    "latest": self._latest, "model_ready": self._predictor is not None, "seq": self._seq}

    def events_since(self, seq: int) -> tuple[int, list[tuple[int, str, dict]] | None]:
        """``(latest seq, events after seq)``; None instead of the events when they are no longer kept
        (the caller sends the whole :meth:`state` instead)."""
        with self._lock:
            if seq >= self._seq:
                return self._seq, []
            if not self._events or self._events[0][0] > seq + 1:
                return self._seq, None
            return self._seq, [e for e in self._events if e[0] > seq]

    def wait(self, seq: int, timeout: float) -> None:
        """Block until an event after ``seq`` exists, or ``timeout`` seconds."""
        with self._changed:
            if self._seq <= seq:
                self._changed.wait(timeout)

    def predictor(self):
        """The :class:`~bpnn.predictor.Predictor` of the last finished run (None before the first)."""
        with self._lock:
            return self._predictor

    def model_file(self) -> tuple[str, bytes]:
        """``(file name, bytes)`` of the last trained model as a bpnn model file."""
        with self._lock:
            model, run_id = self._model, self._state.get("run")
            about = self._state.get("about") or {}
        if model is None:
            raise TrainingRefused(404, "no model has been trained on this page yet: press Train first")
        name = f"bpnn-{about.get('dataset', 'model')}-{'-'.join(map(str, model.network.sizes))}-run{run_id}.safetensors"
        path = os.path.join(self._tmp.name, name)
        model.save(path)
        with open(path, "rb") as f:
            data = f.read()
        os.remove(path)
        return name, data

