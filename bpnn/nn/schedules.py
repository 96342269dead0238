"""Learning-rate schedules: η at epoch j (0-based) = η₀ · factor(j).

* ``constant``:     factor = 1
* ``step``:         factor = γ^floor(j / step_size)
* ``exponential``:  factor = γ^j
* ``cosine``:       factor = f_min + (1 - f_min) · ½ (1 + cos(π j / T)), with
  T the total number of epochs and f_min = ``eta_min`` / η₀
"""

from __future__ import annotations

import math

from ._params import Configurable

__all__ = ["Schedule", "Constant", "StepDecay", "ExponentialDecay", "CosineDecay", "SCHEDULES", "get_schedule"]


class Schedule(Configurable):
    """Maps an epoch index and the initial learning rate to the epoch's learning rate.

    Hyper-parameters are the constructor's keyword arguments with defaults
    (:meth:`param_defaults`); one without a default (``epochs``) is
    supplied by the training run.
    """

    name = ""

    def __call__(self, epoch: int, eta0: float) -> float:
        raise NotImplementedError

    def config(self) -> dict:
        return {"name": self.name, **vars(self)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    name = "constant"

    def __call__(self, epoch, eta0):
        return eta0


class StepDecay(Schedule):
    """Multiply η by ``gamma`` every ``step_size`` epochs."""

    name = "step"
    param_help = {"step_size": "epochs between decays", "gamma": "decay factor per step (step) or per epoch "
                  "(exponential)"}

    def __init__(self, step_size: int = 10, gamma: float = 0.5) -> None:
        if int(step_size) < 1:
            raise ValueError(f"step schedule step_size must be >= 1, got {step_size!r}")
        if not 0 < gamma <= 1:
            raise ValueError(f"step schedule gamma must be in (0, 1], got {gamma!r}")
        self.step_size, self.gamma = int(step_size), float(gamma)

    def __call__(self, epoch, eta0):
        return eta0 * self.gamma ** (epoch // self.step_size)


class ExponentialDecay(Schedule):
    """Multiply η by ``gamma`` every epoch."""

    name = "exponential"
    param_help = {"gamma": "decay factor per step (step) or per epoch (exponential)"}

    def __init__(self, gamma: float = 0.95) -> None:
        if not 0 < gamma <= 1:
            raise ValueError(f"exponential schedule gamma must be in (0, 1], got {gamma!r}")
        self.gamma = float(gamma)

    def __call__(self, epoch, eta0):
        return eta0 * self.gamma ** epoch


class CosineDecay(Schedule):
    """Cosine annealing from η₀ to ``eta_min`` over ``epochs`` epochs."""

    name = "cosine"
    param_help = {"eta_min": "final learning rate of the cosine schedule"}

    def __init__(self, epochs: int, eta_min: float = 0.0) -> None:
        if int(epochs) < 1:
            raise ValueError(f"cosine schedule needs epochs >= 1, got {epochs!r}")
        if eta_min < 0:
            raise ValueError(f"cosine schedule eta_min must be >= 0, got {eta_min!r}")
        self.epochs, self.eta_min = int(epochs), float(eta_min)

    def __call__(self, epoch, eta0):
        progress = min(epoch, self.epochs) / self.epochs
        return self.eta_min + (eta0 - self.eta_min) * 0.5 * (1.0 + math.cos(math.pi * progress))


SCHEDULES = {cls.name: cls for cls in (Constant, StepDecay, ExponentialDecay, CosineDecay)}


def get_schedule(schedule: str | Schedule | None, epochs: int | None = None, **kwargs) -> Schedule:
    """A schedule from a name (``constant``, ``step``, ``exponential``, ``cosine``) or an instance.

    ``kwargs`` are the schedule's hyper-parameters (see
    :meth:`Schedule.param_defaults`); ``epochs`` is passed to the ones that need it.
    """
    if schedule is None:
        return Constant()
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str) and schedule.lower() in SCHEDULES:
        cls = SCHEDULES[schedule.lower()]
        if cls is CosineDecay:
            kwargs.setdefault("epochs", epochs)
        return cls(**kwargs)
    raise ValueError(f"unknown schedule {schedule!r}; choose one of: {', '.join(SCHEDULES)}")
