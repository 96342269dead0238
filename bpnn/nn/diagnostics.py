"""Diagnostics for a stuck run: what a learner would want to be told while training.

:class:`Diagnostics` is a :class:`~bpnn.nn.training.Callback`.  It looks at
the network three ways:

* at the **first mini-batch**, before any step, the share of saturated
  sigmoid (tanh) activations in each hidden layer, a within 0.02 of 0 or 1
  (-1 or 1).  There σ'(z) ≈ 0, so BP2 passes almost no error back: a network
  that starts mostly saturated (N(0,1) weights over 784 inputs give z a
  standard deviation near 9) learns slowly or not at all;
* at the end of **every epoch**, on a copy of the first ``probe_rows``
  training inputs of the first epoch (shuffled mini-batches, so a random
  sample), run through the network (inference, no dropout): the classes it
  predicts (a class it (almost) never predicts has a stuck output unit), the
  saturation of each hidden layer, and the share of **dead ReLUs** (z ≤ 0 on
  every probe image: their gradient is zero for good);
* the epoch's **accuracy** (validation when there is some): near chance
  after ``after`` epochs means the network is not learning.

Each problem is reported once (per layer), through ``report`` (the command
line prints it, the page shows it), with what usually helps; saturation at
the start is reported after the first epoch, the rest from epoch ``after``
on.  :attr:`found` lists them and :attr:`health` holds the latest
measurements.  NumPy only, like the rest of :mod:`bpnn.nn`.

Example: inputs 40 times too large saturate a sigmoid network from the start.

>>> import numpy as np, bpnn
>>> X = np.random.default_rng(0).random((200, 64))
>>> y = np.arange(200) % 10
>>> net = bpnn.Network([64, 30, 10], init="normal", cost="quadratic", seed=0)
>>> found = []
>>> _ = net.fit(X * 40, y, epochs=3, batch_size=10, eta=3.0, callbacks=[bpnn.Diagnostics(report=found.append)])
>>> sorted({d.kind for d in found})
['class_never_predicted', 'near_chance', 'saturated']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .training import Callback, EpochRecord, History

__all__ = ["Diagnostics", "Diagnosis", "SATURATION_MARGIN"]

#: An activation this close to the sigmoid's (tanh's) bounds counts as saturated: σ'(z) < 0.02.
SATURATION_MARGIN = 0.02

_BOUNDED = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


@dataclass(frozen=True)
class Diagnosis:
    """One problem found in a run.

    Attributes
    ----------
    kind : str
        ``"near_chance"``, ``"class_never_predicted"``, ``"saturated"`` or ``"dead_relu"``.
    epoch : int
        The epoch at whose end it was found.
    message : str
        What is wrong, with the numbers.
    advice : str
        What usually helps.
    layer : int or None
        The Dense layer concerned (1 = the first hidden layer), if any.
    """

    kind: str
    epoch: int
    message: str
    advice: str
    layer: int | None = None

    def __str__(self) -> str:
        return f"{self.message}. What usually helps: {self.advice}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "text": str(self)}


class Diagnostics(Callback):
    """Warn when a run is stuck: saturated units, a class never predicted, near-chance accuracy, dead ReLUs.

    Parameters
    ----------
    report : callable, optional
        Called with each :class:`Diagnosis` when it is first found.
    after : int
        Judge accuracy, classes and dead units from this epoch on (the first
        epochs of a healthy run can look stuck too).
    probe_rows : int
        Training inputs kept to measure the units and the predicted classes.
    classes : sequence of str, optional
        Class names for the messages (default: the output indices).
    chance_margin : float
        Accuracy below chance + ``chance_margin`` × (1 - chance) is "near chance".
    share : float
        "Most" units: more than this share of a hidden layer's activations
        saturated at the start, or of its ReLUs dead.
    saturated_later : float
        From epoch ``after`` on, a hidden layer with more than this share of
        saturated activations is reported too (a trained sigmoid layer is
        often two-thirds saturated, and that is fine).
    rare : float
        A class predicted for fewer than ``rare`` × (probe rows / classes)
        probe images counts as never predicted.

    Attributes
    ----------
    found : list of Diagnosis
    health : dict
        The latest measurements: ``epoch``, ``accuracy``, ``predicted`` (count
        per class on the probe), ``probe_rows`` and per Dense layer ``layers``:
        ``{"layer", "activation", "size"}`` plus ``"saturated"`` and
        ``"saturated_at_start"`` (shares of activations, sigmoid and tanh) or
        ``"dead"`` (share of units, ReLU).
    """

    def __init__(self, report: Callable[[Diagnosis], None] | None = None, after: int = 3, probe_rows: int = 1000,
                 classes: Sequence[str] | None = None, chance_margin: float = 0.1, share: float = 0.5,
                 saturated_later: float = 0.9, rare: float = 0.1) -> None:
        if isinstance(after, bool) or not isinstance(after, (int, np.integer)) or after < 1:
            raise ValueError(f"after must be a positive integer, got {after!r}")
        if isinstance(probe_rows, bool) or not isinstance(probe_rows, (int, np.integer)) or probe_rows < 1:
            raise ValueError(f"probe_rows must be a positive integer, got {probe_rows!r}")
        for name, value in (("chance_margin", chance_margin), ("share", share),
                            ("saturated_later", saturated_later), ("rare", rare)):
            if not 0 < value < 1:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        self.report, self.after, self.probe_rows = report, int(after), int(probe_rows)
        self.classes = None if classes is None else [str(c) for c in classes]
        self.chance_margin, self.share = float(chance_margin), float(share)
        self.saturated_later, self.rare = float(saturated_later), float(rare)
        self.found: list[Diagnosis] = []
        self.health: dict[str, Any] = {}
        self._probe: list[np.ndarray] = []
        self._kept = 0
        self._at_start: dict[int, float] | None = None
        self._seen: set[tuple[str, int | None]] = set()

    # -- collecting ------------------------------------------------------------------------
    def on_train_begin(self, net, history: History) -> None:
        self._probe, self._kept, self._at_start = [], 0, None

    def on_batch_end(self, net, batch: int, n_batches: int) -> None:
        if self._at_start is None:
            # the first batch's forward pass ran with the initial weights (the step came after it)
            self._at_start = {l: _saturation(layer.activation.name, layer._A)
                              for l, layer in enumerate(net.dense_layers[:-1], start=1)
                              if layer.activation.name in _BOUNDED and layer._A is not None}
        if self._kept >= self.probe_rows:
            return
        rows = net.dense_layers[0]._A_prev          # this batch's inputs, as the first layer saw them
        if rows is None:
            return
        take = rows[: self.probe_rows - self._kept]
        self._probe.append(np.array(take, copy=True))
        self._kept += take.shape[0]

    # -- judging ------------------------------------------------------------------------------
    def on_epoch_end(self, net, record: EpochRecord, history: History) -> None:
        if not self._probe:
            return None
        probe = np.concatenate(self._probe) if len(self._probe) > 1 else self._probe[0]
        self._probe = [probe]
        outputs = net.layer_outputs(probe)
        k = net.n_outputs
        predicted = np.bincount(outputs[-1].argmax(axis=1), minlength=k) if k > 1 else np.array([probe.shape[0]])
        accuracy = record.val_accuracy if record.val_accuracy is not None else record.accuracy
        layers = []
        for l, (layer, A) in enumerate(zip(net.dense_layers, outputs), start=1):
            name = layer.activation.name
            entry: dict[str, Any] = {"layer": l, "activation": name, "size": layer.n_out}
            if name in _BOUNDED:
                entry["saturated"] = _saturation(name, A)
                if self._at_start and l in self._at_start:
                    entry["saturated_at_start"] = self._at_start[l]
            elif name == "relu":
                entry["dead"] = float(np.mean(~(A > 0).any(axis=0)))
            layers.append(entry)
        self.health = {"epoch": record.epoch, "accuracy": accuracy, "predicted": predicted.tolist(),
                       "probe_rows": int(probe.shape[0]), "layers": layers}
        self._judge(net, record, accuracy, predicted, layers)
        return None

    def _name(self, index: int) -> str:
        return self.classes[index] if self.classes and index < len(self.classes) else str(index)

    def _raise(self, diagnosis: Diagnosis) -> None:
        key = (diagnosis.kind, diagnosis.layer)
        if key in self._seen:
            return
        self._seen.add(key)
        self.found.append(diagnosis)
        if self.report is not None:
            self.report(diagnosis)

    def _judge(self, net, record: EpochRecord, accuracy: float, predicted: np.ndarray, layers: list) -> None:
        epoch, k = record.epoch, net.n_outputs
        eta = getattr(net.optimizer_, "eta", None)
        eta_text = f" (now {eta:g})" if eta is not None else ""
        hidden = [entry for entry in layers[:-1]]
        smaller_weights = ("smaller initial weights (init scaled_normal, N(0,1)/√n_in, so z starts near 0 where "
                           "σ' is largest); inputs scaled to [0, 1] or standardised")
        for entry in hidden:
            l = entry["layer"]
            start = entry.get("saturated_at_start")
            if start is not None and start > self.share:
                n_in = net.dense_layers[l - 1].n_in
                self._raise(Diagnosis(
                    "saturated", epoch,
                    f"{start:.0%} of the {entry['activation']} activations of hidden layer {l} ({entry['size']} "
                    f"units) were saturated when training started (within {SATURATION_MARGIN:g} of a bound, where "
                    f"σ'(z) ≈ 0; now {entry['saturated']:.0%}): the initial weights make z too large for "
                    f"{n_in} inputs, and BP2 passes almost no error through saturated units", smaller_weights,
                    layer=l))
            elif epoch >= self.after and entry.get("saturated", 0.0) > self.saturated_later:
                self._raise(Diagnosis(
                    "saturated", epoch,
                    f"{entry['saturated']:.0%} of the {entry['activation']} activations of hidden layer {l} "
                    f"({entry['size']} units) are saturated after {epoch} epochs (within {SATURATION_MARGIN:g} of a "
                    f"bound, where σ'(z) ≈ 0), so BP2 passes almost no error through them",
                    f"a smaller learning rate η{eta_text}; {smaller_weights}; L2 regularisation keeps weights small",
                    layer=l))
        if epoch < self.after:
            return
        if k >= 2:
            chance = 1.0 / k
            which = "validation" if record.val_accuracy is not None else "training"
            if accuracy <= chance + self.chance_margin * (1 - chance):
                self._raise(Diagnosis(
                    "near_chance", epoch,
                    f"after {epoch} epochs the {which} accuracy is {accuracy:.1%}, near chance ({chance:.0%} for "
                    f"{k} classes): the network is not learning",
                    f"a smaller learning rate η{eta_text} if the loss jumps about; smaller initial weights (init "
                    f"scaled_normal, or he_normal for ReLU) if units saturate; the cross-entropy cost, whose "
                    f"δ^L = a - y does not vanish when the outputs saturate"))
            n = int(predicted.sum())
            expected = n / k
            missing = [i for i in range(k) if predicted[i] < self.rare * expected]
            if missing and n >= 5 * k:
                names = ", ".join(self._name(i) for i in missing)
                counts = " and ".join(str(int(predicted[i])) for i in missing)
                plural = len(missing) > 1
                self._raise(Diagnosis(
                    "class_never_predicted", epoch,
                    f"after {epoch} epochs the network (almost) never predicts class{'es' if plural else ''} "
                    f"{names}: {counts} of {n} training images, about {expected:.0f} expected "
                    f"{'each ' if plural else ''}(the output unit{'s are' if plural else ' is'} stuck near 0 for "
                    f"every image, where σ'(z) ≈ 0)",
                    f"the cross-entropy cost instead of the quadratic one (its δ^L = a - y does not vanish on a "
                    f"saturated output unit); smaller initial weights (init scaled_normal); a smaller η{eta_text}"))
        for entry in hidden:
            if entry.get("dead", 0.0) > self.share:
                l = entry["layer"]
                self._raise(Diagnosis(
                    "dead_relu", epoch,
                    f"{entry['dead']:.0%} of the {entry['size']} ReLUs of hidden layer {l} are dead (z ≤ 0 on every "
                    f"one of {int(predicted.sum())} training images), so their gradient is 0 and they never recover",
                    f"a smaller learning rate η{eta_text} (a large step can push a unit's bias far below zero); "
                    f"init he_normal; leaky_relu, whose slope below zero keeps the gradient alive",
                    layer=l))


def _saturation(activation: str, A: np.ndarray) -> float:
    """The share of activations within :data:`SATURATION_MARGIN` of the activation's bounds."""
    low, high = _BOUNDED[activation]
    margin = SATURATION_MARGIN * (high - low) / (1.0 if activation == "sigmoid" else 2.0)
    return float(np.mean((A <= low + margin) | (A >= high - margin)))
