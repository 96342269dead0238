"""The settings of a training run, declared once.

Every setting has one declaration (:class:`Setting`: name, default, parser,
help text, group), and everything reads it from there: ``bpnn train``'s
options and ``--help``, TOML config files, recipes, ``--print-config``,
checkpoints (which store the settings of their run) and the experiment
layer (:func:`bpnn.experiment.run`).

The hyper-parameters of the optimizers, learning-rate schedules and
activations are not declared here: each class declares its own (its
constructor's keyword arguments, see :class:`bpnn.nn._params.Configurable`)
and :data:`SETTINGS` gains one setting per name, defaulting to None, which
means "the class's own default".  Adding an optimizer with a new
hyper-parameter therefore makes it reachable from the command line and TOML
without touching this module.

A :class:`Settings` object holds a value for every setting, validated;
:meth:`Settings.from_sources` merges, from weakest to strongest, the
defaults, a recipe, a config file and the command line.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from .nn._keywords import did_you_mean
from .nn.activations import ACTIVATIONS, TRAINABLE
from .nn.costs import COSTS
from .datasets.api import available as available_datasets
from .exceptions import BpnnError
from .nn.initializers import INITIALIZERS
from .nn.optimizers import OPTIMIZERS
from .recipes import get_recipe
from .nn.schedules import SCHEDULES

__all__ = ["Setting", "SETTINGS", "Settings", "SettingError", "parse_setting", "load_config",
           "RESUMABLE", "number", "positive_int"]


class SettingError(BpnnError):
    """A setting has an invalid value, or a config file an unknown key."""


# --------------------------------------------------------------------------
# value parsers: accept the command line's strings and TOML's native values
# --------------------------------------------------------------------------
def _is_none(value: Any, words: Sequence[str] = ("none", "")) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in words)


def number(kind: type, minimum: float | None = None, exclusive: bool = False, allow_none: bool = False,
           maximum: float | None = None) -> Callable[[Any], Any]:
    """A parser of ints or finite floats within bounds (strings and TOML numbers alike).

    Raises :class:`SettingError` ("expected a positive integer, got '0'").
    """
    def parse(value: Any) -> Any:
        if allow_none and _is_none(value):
            return None
        if isinstance(value, bool):
            raise SettingError(f"expected a number, got {value!r}")
        try:
            if isinstance(value, str):
                number_ = float(value) if kind is float else int(value.strip())
            else:
                number_ = kind(value)
        except (TypeError, ValueError, OverflowError):
            raise SettingError(f"expected {'an integer' if kind is int else 'a number'}, got {value!r}") from None
        if kind is int and isinstance(value, float) and value != int(value):
            raise SettingError(f"expected an integer, got {value!r}")
        if kind is float and not math.isfinite(number_):
            raise SettingError(f"expected a finite number, got {value!r}")
        if minimum is not None and (number_ <= minimum if exclusive else number_ < minimum):
            raise SettingError(f"must be {'>' if exclusive else '>='} {minimum:g}, got {value!r}")
        if maximum is not None and number_ > maximum:
            raise SettingError(f"must be <= {maximum:g}, got {value!r}")
        return number_
    return parse


#: An integer >= 1 (the command line's counts).
positive_int = number(int, 1)


def _choice(choices: Sequence[str], allow_none: bool = False):
    def parse(value: Any) -> Any:
        if allow_none and _is_none(value, ("none", "auto", "")):
            return None
        key = value.lower().replace("-", "_") if isinstance(value, str) else None
        for choice in choices:
            if choice.replace("-", "_") == key:
                return choice
        raise SettingError(f"invalid choice {value!r} (choose from {', '.join(choices)})"
                           + (did_you_mean(value, choices) if isinstance(value, str) else ""))
    return parse


def _text(allow_none: bool = True):
    def parse(value: Any) -> Any:
        if allow_none and (value is None or value == ""):
            return None
        if not isinstance(value, (str, os.PathLike)) or value == "":
            raise SettingError(f"expected a text or path, got {value!r}")
        return os.fspath(value)
    return parse


def _dataset(value: Any) -> str:
    """A data set name as is; a path to an existing folder or file made absolute (so a resumed run finds it)."""
    name = _text(False)(value)
    if ("/" in name or os.sep in name) and os.path.exists(name):
        return os.path.abspath(name)
    return name


def _augment(value: Any) -> str:
    """A ``--augment`` value checked (:func:`bpnn.augment.parse_augment`): a preset name as is, else
    its pairs in canonical form."""
    from .augment import PRESETS, describe, parse_augment

    if value is None or value is False:
        return "none"
    if isinstance(value, dict):
        text = value
    elif isinstance(value, str):
        text = value.strip()
        if text.lower() in PRESETS:
            return text.lower()
    else:
        raise SettingError(f"expected a preset name or key=value pairs, got {value!r}")
    try:
        return describe(parse_augment(text))
    except ValueError as err:
        raise SettingError(str(err)) from None


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
        return value.lower() in ("true", "yes", "1", "on")
    raise SettingError(f"expected true or false, got {value!r}")


def _int_list(allow_none: bool = True):
    def parse(value: Any) -> Any:
        if allow_none and _is_none(value):
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            items: Any = [value]
        elif isinstance(value, str):
            items = value.replace(" ", "").split(",")
        else:
            items = value
        bad = SettingError(f"expected positive integers separated by commas, like 784,100,10; got {value!r}")
        if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or not items:
            raise bad
        numbers = []
        for item in items:
            if isinstance(item, bool) or item == "":
                raise bad
            try:
                n = int(item)
            except (TypeError, ValueError):
                raise bad from None
            if n < 1 or (isinstance(item, float) and item != n):
                raise bad
            numbers.append(n)
        return numbers
    return parse


def _classes(value: Any) -> Any:
    if _is_none(value, ("", "none", "all")):
        return None
    bad = SettingError(f"expected class labels or names separated by commas, like 3,8; got {value!r}")
    if isinstance(value, str):
        items: list = [v.strip() for v in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise bad
    if not items or any(v == "" or isinstance(v, bool) or not isinstance(v, (str, int)) for v in items):
        raise bad
    if any(isinstance(v, int) and v < 0 for v in items):
        raise bad
    return [int(v) if isinstance(v, str) and v.isdigit() and v.isascii() else v for v in items]


def _validation(value: Any) -> Any:
    if value is None:
        return 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        if text in ("none", "0", ""):
            return 0
        try:
            value = float(text) if any(c in text for c in ".e") else int(text)
        except ValueError:
            raise SettingError(
                f"expected 'auto', a count such as 10000 or a fraction such as 0.2; got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingError(f"expected 'auto', a count or a fraction, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        if not 0 < value < 1:
            raise SettingError(f"a validation fraction must be in (0, 1), got {value!r}")
        return value
    if value < 0:
        raise SettingError(f"the validation count must be >= 0, got {value!r}")
    return int(value)


def _batch_size(value: Any) -> Any:
    if _is_none(value, ("full", "all", "none")):
        return None
    try:
        return positive_int(value)
    except SettingError:
        raise SettingError(f"expected a positive integer, or 'full' for the whole training set; "
                           f"got {value!r}") from None


# --------------------------------------------------------------------------
# the declarations
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """One training setting.

    Attributes
    ----------
    name : str
        Key in configs and recipes; the option is ``--`` + name with ``-``.
    default : Any
    parse : callable
        Turns a command-line string or a TOML value into the value; raises
        :class:`SettingError`.
    help : str
    group : str
        Section of ``bpnn train --help``.
    choices : tuple of str, optional
        Listed in the help.
    metavar : str, optional
    switch : bool
        A true/false setting (``--restore-best`` / ``--no-restore-best``).
    """

    name: str
    default: Any
    parse: Callable[[Any], Any]
    help: str
    group: str
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    switch: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


_D, _M, _T, _E, _OUT = "data", "model", "training", "early stopping", "output"


#: The classes whose constructors declare hyper-parameters, by the setting that chooses among them.
RULES: dict[str, dict[str, type]] = {
    "optimizer": dict(OPTIMIZERS),
    "schedule": {n: c for n, c in SCHEDULES.items() if n != "constant"},
    "activation": {n: ACTIVATIONS[n] for n in TRAINABLE},
}


def hyperparameter_owners() -> dict[str, list[tuple[type, Any]]]:
    """Each hyper-parameter the :data:`RULES` declare (η aside, which is a setting of its own), with the
    classes that declare it and their defaults, in declaration order."""
    owners: dict[str, list[tuple[type, Any]]] = {}
    for family in RULES.values():
        for cls in family.values():
            for param, default in cls.param_defaults().items():
                if param != "eta":
                    owners.setdefault(param, []).append((cls, default))
    return owners


def _hyperparameter_settings() -> list[Setting]:
    """One setting per hyper-parameter that an optimizer, schedule or activation declares."""
    groups = {cls: (_M if owner == "activation" else _T) for owner, family in RULES.items() for cls in family.values()}
    owners = {param: [(groups[cls], cls, default) for cls, default in entries]
              for param, entries in hyperparameter_owners().items()}
    settings = []
    for param, entries in owners.items():
        group, cls, default = entries[0]
        kind = int if all(isinstance(d, int) and not isinstance(d, bool) for _, _, d in entries) else float
        defaults = ", ".join(f"{c.name} {d:g}" for _, c, d in entries)
        settings.append(Setting(param, None, _accepted_by([c for _, c, _ in entries], param, number(kind, allow_none=True)),
                                f"{cls.param_description(param)} (default: {defaults})", group,
                                metavar=param.upper()))
    return settings


def _accepted_by(classes: list[type], param: str, parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``parse``, then the range check of the classes that declare ``param`` (their constructors):
    a value none of them accepts is refused here, with the option named, not later in training."""
    def check(value: Any) -> Any:
        value = parse(value)
        if value is None:
            return None
        problems = []
        for cls in classes:
            try:
                cls(**{param: value, **({"epochs": 1} if "epochs" in _required(cls) else {})})
                return value
            except (ValueError, TypeError) as err:
                problems.append(str(err))
        raise SettingError(problems[0])
    return check


def _required(cls: type) -> set[str]:
    import inspect

    return {p.name for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
            if p.default is inspect.Parameter.empty and p.kind is p.POSITIONAL_OR_KEYWORD}


def _declare() -> dict[str, Setting]:
    optimizers, schedules = tuple(OPTIMIZERS), ("none",) + tuple(n for n in SCHEDULES if n != "constant")
    default_etas = ", ".join(f"{name} {cls.default_eta:g}" for name, cls in OPTIMIZERS.items())
    items = [
        Setting("dataset", "digits", _dataset, f"{', '.join(available_datasets())} (digits: bundled, no "
                "download), or a folder of the 4 IDX files, an mnist.npz or mnist.pkl.gz", _D, metavar="NAME|DIR"),
        Setting("data_dir", None, _text(), "where downloaded data sets are cached (default: $BPNN_DATA_DIR or "
                "the user cache folder)", _D, metavar="DIR"),
        Setting("validation", "auto", _validation, "held-out training images for validation: a count (the last "
                "N), a fraction, 0 for none, or auto (10000; 20%% for digits)", _D, metavar="N|FRACTION|auto"),
        Setting("classes", None, _classes, "keep only these classes, e.g. 3,8", _D, metavar="LIST"),
        Setting("standardize", "none", _choice(("none", "global", "feature")),
                "subtract the training mean and divide by the std (global: one number; feature: per pixel)", _D,
                choices=("none", "global", "feature")),
        Setting("limit", None, number(int, 1, allow_none=True), "train on the first N training images only "
                "(quick trials)", _D, metavar="N"),
        Setting("split_seed", 0, number(int, 0), "seed of a fractional validation split", _D, metavar="N"),
        Setting("layers", None, _int_list(), "all layer sizes, e.g. 784,100,10 (must match the data)", _M,
                metavar="SIZES"),
        Setting("hidden", [64], _int_list(False), "hidden layer sizes, e.g. 100 or 100,50; input and output "
                "sizes come from the data", _M, metavar="SIZES"),
        Setting("activation", "sigmoid", _choice(TRAINABLE), "hidden-layer activation", _M, choices=TRAINABLE),
        Setting("output", None, _choice(TRAINABLE, allow_none=True), "output activation (default: sigmoid for soft "
                "or binary targets, softmax for cross_entropy with a non-sigmoid hidden activation, else the hidden "
                "activation)", _M,
                choices=TRAINABLE),
        Setting("cost", "cross_entropy", _choice(COSTS), "cost function", _M, choices=COSTS),
        Setting("init", "scaled_normal", _choice(tuple(INITIALIZERS)), "weight initialisation", _M,
                choices=tuple(INITIALIZERS)),
        Setting("dropout", 0.0, number(float, 0.0, maximum=0.99), "dropout probability after every hidden layer",
                _M, metavar="P"),
        Setting("input_dropout", 0.0, number(float, 0.0, maximum=0.99), "dropout probability of the inputs "
                "(pixels) while training", _M, metavar="P"),
        Setting("dtype", "float32", _choice(("float32", "float64")), "floating-point type", _M,
                choices=("float32", "float64")),
        Setting("seed", 0, number(int, 0), "seed of the initial weights, the shuffling, dropout and augmentation", _M,
                metavar="N"),
        Setting("optimizer", "sgd", _choice(optimizers), "update rule", _T, choices=optimizers),
        Setting("eta", None, number(float, 0.0, exclusive=True, allow_none=True),
                f"learning rate (default per optimizer: {default_etas})", _T, metavar="ETA"),
        Setting("epochs", 30, number(int, 1), "number of epochs", _T, metavar="N"),
        Setting("batch_size", 10, _batch_size, "mini-batch size (1: per sample; full: the whole training set)",
                _T, metavar="M|full"),
        Setting("l2", 0.0, number(float, 0.0), "L2 regularisation lambda (the cost gains lambda/2n * sum W^2)",
                _T, metavar="LAMBDA"),
        Setting("max_norm", None, number(float, 0.0, exclusive=True, allow_none=True),
                "rescale each unit's incoming weights to at most this norm", _T, metavar="C"),
        Setting("schedule", "none", _choice(schedules), "learning-rate schedule", _T, choices=schedules),
        Setting("targets", "onehot", _choice(("onehot", "soft", "binary")), "target vectors: one-hot (1/0), soft "
                "(0.9/0.1), or binary: the class index as a log2(k)-bit code on that many output units, read "
                "back as the nearest code word", _T, choices=("onehot", "soft", "binary")),
        Setting("augment", "none", _augment, "training-time augmentation: a preset (none, light, affine, "
                "elastic, fashion), key=value pairs of shift, rotation, scale, shear, elastic, sigma, flip "
                "(e.g. shift=2,rotation=10), or a preset with changes (light,elastic=1); 'bpnn augment' shows "
                "samples", _T, metavar="PRESET|K=V,..."),
        Setting("patience", None, number(int, 1, allow_none=True), "stop after this many checks without "
                "improvement (enables early stopping)", _E, metavar="N"),
        Setting("monitor", "val_loss", _choice(("val_loss", "val_accuracy")), "what early stopping watches", _E,
                choices=("val_loss", "val_accuracy")),
        Setting("min_delta", 0.0, number(float, 0.0), "smallest change that counts as an improvement", _E,
                metavar="D"),
        Setting("eval_every", 1, number(int, 1), "check every K epochs (the sources: 10)", _E, metavar="K"),
        Setting("restore_best", True, _boolean, "put back the best weights at the end", _E, switch=True),
        Setting("out", None, _text(), "save the trained model to this file", _OUT, metavar="PATH"),
        Setting("checkpoint", None, _text(), "write a resumable checkpoint to this file", _OUT, metavar="PATH"),
        Setting("checkpoint_every", 1, number(int, 1), "epochs between checkpoints", _OUT, metavar="N"),
        Setting("plots", None, _text(), "write learning curves, confusion matrix, misclassified images and "
                "first-layer weights to this folder", _OUT, metavar="DIR"),
        Setting("log_every", 1, number(int, 1), "print the epoch line at the first, every K-th and the last "
                "epoch", _OUT, metavar="K"),
        Setting("metrics_out", None, _text(), "write a JSON summary of the run to this file", _OUT,
                metavar="PATH"),
    ]
    items += _hyperparameter_settings()
    return {s.name: s for s in items}


#: Every training setting by name.
SETTINGS: dict[str, Setting] = _declare()

#: The hyper-parameters each optimizer, schedule and activation name declares (from the classes).
_OWNED = {owner: {n: set(c.param_defaults()) - {"eta"} for n, c in family.items()}
          for owner, family in RULES.items()}
_OWNED["schedule"]["none"] = set()

#: The largest settings or sweep file read (bytes): a few lines of TOML, with room to spare.
MAX_CONFIG_BYTES = 1 << 20

#: Settings that may change when a run is resumed (they do not affect the weights); ``epochs`` may grow.
RESUMABLE = ("data_dir", "out", "checkpoint", "checkpoint_every", "plots", "log_every", "metrics_out")


def parse_setting(name: str, value: Any, where: str = "") -> Any:
    """Parse and check one setting's value.

    Raises
    ------
    SettingError
        Naming the setting (and ``where`` it came from).
    """
    key = name.replace("-", "_")
    place = f" in {where}" if where else ""
    if key not in SETTINGS:
        raise SettingError(f"unknown setting {name!r}{place}{did_you_mean(key, SETTINGS)}; "
                           f"'bpnn train --help' lists them")
    try:
        return SETTINGS[key].parse(value)
    except SettingError as err:
        raise SettingError(f"{SETTINGS[key].flag}{place}: {err}") from None


def read_toml(path: str | os.PathLike, where: str, error: type[Exception] = SettingError) -> dict[str, Any]:
    """Parse a small TOML file (at most :data:`MAX_CONFIG_BYTES`); ``error`` naming ``where`` for any problem."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise error(f"{where} is larger than {MAX_CONFIG_BYTES // 1024} KiB; it should be a few lines of TOML")
        return tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise error(f"{where}: no such file") from None
    except IsADirectoryError:
        raise error(f"{where} is a folder; give a .toml file") from None
    except OSError as err:
        raise error(f"{where}: {err.strerror or err}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise error(f"{where} is not valid TOML: {err}") from None


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read settings from a TOML file.

    Keys are setting names (``-`` or ``_``), at the top level or inside any
    table (``[model]``, ``[training]``, ...), which are only for grouping.
    A ``recipe = "s1"`` key names a recipe to start from.

    Raises
    ------
    SettingError
        For a missing or malformed file, an unknown key or a bad value.
    """
    where = f"config file {os.fspath(path)}"
    document = read_toml(path, where)
    flat: dict[str, Any] = {}

    def collect(table: Mapping[str, Any]) -> None:
        for key, value in table.items():
            if isinstance(value, dict):
                collect(value)
                continue
            name = key.replace("-", "_")
            if name in flat:
                raise SettingError(f"{where}: {key!r} is given twice")
            if name == "recipe":
                if not isinstance(value, str):
                    raise SettingError(f"{where}: recipe must be a name such as \"s1\"")
                flat["recipe"] = value
            else:
                flat[name] = parse_setting(name, value, where=where)

    collect(document)
    return flat


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


class Settings(Mapping[str, Any]):
    """A value for every setting of :data:`SETTINGS`, each parsed and checked.

    Read by key (``settings["eta"]``) or attribute (``settings.eta``).

    Parameters
    ----------
    values : mapping, optional
        Setting names (``-`` or ``_``) to values (strings or native); the
        others take their defaults.
    recipe : str, optional
        The recipe these settings started from (recorded, not applied: see
        :meth:`from_sources`).
    where : str
        Where ``values`` came from, for error messages.
    **changes
        More values, as keyword arguments.

    Attributes
    ----------
    recipe : str or None
    given : frozenset of str
        The settings given explicitly (by ``values``, a recipe, a config file
        or the command line), as opposed to defaults.

    Examples
    --------
    >>> s = Settings(dataset="mnist", hidden="100", eta=3)
    >>> s.hidden, s.eta, s.optimizer
    ([100], 3.0, 'sgd')
    """

    def __init__(self, values: Mapping[str, Any] | None = None, *, recipe: str | None = None,
                 where: str = "", **changes: Any) -> None:
        given = {**dict(values or {}), **changes}
        parsed = {name: s.default for name, s in SETTINGS.items()}
        parsed["hidden"] = list(parsed["hidden"])
        for name, value in given.items():
            parsed[name.replace("-", "_")] = parse_setting(name, value, where)
        self._values = parsed
        self.recipe = recipe
        self.given = frozenset(name.replace("-", "_") for name in given)

    # -- Mapping ------------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(f"no setting {name!r}{did_you_mean(name, SETTINGS)}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and self._values == other._values and self.recipe == other.recipe

    def __repr__(self) -> str:
        changed = {k: v for k, v in self._values.items() if v != SETTINGS[k].default}
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # -- building -----------------------------------------------------------
    def replace(self, **changes: Any) -> "Settings":
        """A copy with ``changes`` applied (parsed and checked); ``given`` grows by their names."""
        new = Settings({**self._values, **changes}, recipe=self.recipe)
        new.given = self.given | {k.replace("-", "_") for k in changes}
        return new

    @classmethod
    def from_sources(cls, recipe: str | None = None, config: Mapping[str, Any] | None = None,
                     cli: Mapping[str, Any] | None = None) -> "Settings":
        """Merge defaults < recipe < config file < command line.

        A stronger source's ``hidden`` replaces a weaker ``layers``; a
        stronger ``optimizer`` (``schedule``, ``activation``) without its own
        learning rate and hyper-parameters resets the weaker ones to the new
        rule's defaults.

        Parameters
        ----------
        recipe : str, optional
            A recipe name (the config file's ``recipe`` key is used when None).
        config : mapping, optional
            Parsed config file (:func:`load_config`).
        cli : mapping, optional
            Parsed command-line settings (only those given).
        """
        config = dict(config or {})
        recipe = recipe or config.pop("recipe", None)
        config.pop("recipe", None)
        merged: dict[str, Any] = {}
        if recipe:
            chosen = get_recipe(recipe)
            recipe = chosen.name
            _merge(merged, {k: parse_setting(k, v, f"recipe {chosen.name}") for k, v in chosen.settings.items()},
                   f"recipe {chosen.name}")
        _merge(merged, config, "the config file")
        _merge(merged, dict(cli or {}), "the command line")
        return cls(merged, recipe=recipe)

    # -- checks -------------------------------------------------------------
    def check(self) -> None:
        """Cross-setting rules that no single value shows.

        Raises
        ------
        SettingError
            A hyper-parameter given for a rule that does not have it
            (``--mu`` with adam), ``layers`` with fewer than 2 sizes,
            early-stopping options without ``--patience``, ``flip`` in the
            augmentation of digits, augmentation with per-pixel standardisation.
        """
        for owner, table in _OWNED.items():
            chosen = self[owner]
            for param in sorted(set().union(*table.values()) - table[chosen]):
                if self[param] is not None:
                    having = [n for n, params in table.items() if param in params]
                    plural = "s" if len(having) > 1 else ""
                    raise SettingError(f"--{param.replace('_', '-')} applies to the {' and '.join(having)} "
                                       f"{owner}{plural}, not to {chosen}")
        if self.layers is not None and len(self.layers) < 2:
            raise SettingError(f"--layers needs at least an input and an output size, got {self.layers}")
        if self.patience is None and (self.eval_every != 1 or self.monitor != "val_loss"):
            raise SettingError("--eval-every and --monitor belong to early stopping; also give --patience")
        if self.augment != "none":
            from .augment import DIGIT_DATASETS, parse_augment

            if self.standardize == "feature":
                raise SettingError("--augment moves pixels, so per-pixel standardisation no longer fits them; use "
                                   "--standardize global or none with --augment")
            try:
                parse_augment(self.augment, digits=str(self.dataset).lower() in DIGIT_DATASETS)
            except ValueError as err:
                raise SettingError(f"--augment: {err}") from None

    def params_of(self, owner: str) -> dict[str, Any]:
        """The hyper-parameters given for the chosen ``owner`` (``"optimizer"``, ``"schedule"``,
        ``"activation"``); those not given take the class's defaults."""
        return {p: self[p] for p in _OWNED[owner][self[owner]] if self[p] is not None}

    # -- output -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every setting and ``recipe``, JSON-ready."""
        return {**{k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in self._values.items()},
                "recipe": self.recipe}

    def differences(self, other: "Settings", names) -> list[str]:
        """The names among ``names`` whose values differ between ``self`` and ``other``."""
        return [n for n in names if self[n] != other[n]]

    def to_toml(self, header: str = "") -> str:
        """The settings as a TOML config file (unset values commented out).

        The result, saved to a file, is accepted by ``bpnn train --config``.
        """
        lines = [f"# {line}" for line in header.splitlines()] if header else []
        groups: dict[str, list[str]] = {}
        for name, setting in SETTINGS.items():
            value = self[name]
            if name == "batch_size" and value is None:
                value = "full"
            if value is None:
                text = f"# {name} =   (not set)"
            elif name == "hidden" and self.layers is not None:
                text = f"# {name} = {_toml_value(value)}   (layers is set)"
            else:
                text = f"{name} = {_toml_value(value)}"
            groups.setdefault(setting.group, []).append(text)
        if self.recipe:
            lines.append(f"recipe = {_toml_value(self.recipe)}   # the values below override it")
        for group, entries in groups.items():
            lines.append(f"\n# -- {group}")
            lines.extend(entries)
        return "\n".join(lines).lstrip("\n") + "\n"


def _merge(settings: dict[str, Any], layer: Mapping[str, Any], where: str) -> None:
    """Apply one source of settings over the weaker ones, with the coupling rules."""
    if layer.get("layers") is not None and "hidden" in layer:
        raise SettingError(f"{where}: give layers or hidden, not both")
    if "hidden" in layer:
        settings.pop("layers", None)           # --hidden replaces a weaker --layers
    for owner, table in _OWNED.items():
        if owner in layer:                     # a new rule starts from its own defaults
            for param in set().union(*table.values()) - set(layer):
                settings.pop(param, None)
            if owner == "optimizer" and "eta" not in layer:
                settings.pop("eta", None)
    settings.update(layer)
