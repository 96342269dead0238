"""The ``bpnn`` command: train, evaluate, predict, report, gradcheck, recipes.

Examples
--------
::

    bpnn train                                   # digits, a few seconds, no download
    bpnn train --dataset mnist --hidden 100 --epochs 30 --eta 3 --cost quadratic --out mnist.safetensors
    bpnn train --recipe s1 --plots plots/        # an experiment of SPEC.md
    bpnn train --config run.toml --seed 3        # a TOML file; flags override it
    bpnn train --recipe s3 --checkpoint s3.ckpt  # ... killed ...
    bpnn train --resume s3.ckpt                  # continues exactly
    bpnn evaluate mnist.safetensors --json
    bpnn predict mnist.safetensors my-digit.png --top 3 --show prepared/
    bpnn report mnist.safetensors --out report/
    bpnn gradcheck --layers 64,16,10 --activation tanh --cost cross_entropy

Every error a user can cause ends in one line ``bpnn: error: ...`` on stderr
and a non-zero exit status (2 for a bad command line, 1 otherwise);
``BPNN_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ._version import __version__
from .exceptions import BpnnError
from .recipes import (
    DEFAULT_ETA,
    RECIPES,
    RESUMABLE_OVERRIDES,
    SETTINGS,
    SettingError,
    get_recipe,
    load_config,
    parse_setting,
    resolve_settings,
    settings_to_toml,
)

__all__ = ["main", "build_parser"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CommandError(BpnnError):
    """A problem with what the user asked for, reported as one line."""


# --------------------------------------------------------------------------
# argument parsing
# --------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``bpnn: error: ...`` and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        hint = f" (see '{self.prog} --help')"
        self.exit(EXIT_USAGE, f"bpnn: error: {message}{hint}\n")


def _setting_type(name: str):
    def convert(text: str) -> Any:
        try:
            return SETTINGS[name].parse(text)
        except SettingError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    convert.__name__ = name
    return convert


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", metavar="NAME", help=f"start from a named recipe: {', '.join(RECIPES)}")
    parser.add_argument("--config", metavar="FILE", help="read settings from a TOML file (keys as the options, "
                        "with _ for -); options given here override it, and it overrides --recipe")
    parser.add_argument("--resume", metavar="CKPT", help="continue the run saved in a checkpoint exactly; only "
                        + ", ".join("--" + n.replace("_", "-") for n in RESUMABLE_OVERRIDES) + " may be changed")
    parser.add_argument("--print-config", action="store_true", help="print the resolved settings as TOML and exit")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no epoch lines")
    groups: dict[str, argparse._ArgumentGroup] = {}
    for name, setting in SETTINGS.items():
        group = groups.setdefault(setting.group, parser.add_argument_group(setting.group))
        default = setting.default
        if isinstance(default, list):
            default = ",".join(map(str, default))
        help_text = setting.help
        if default is not None and "default" not in help_text:
            help_text += f" [default: {default}]"
        if setting.parse is SETTINGS["restore_best"].parse:
            group.add_argument(setting.flag, dest=name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help_text)
            continue
        group.add_argument(setting.flag, dest=name, type=_setting_type(name), default=argparse.SUPPRESS,
                           metavar=setting.metavar or "{" + ",".join(setting.choices or ()) + "}",
                           help=help_text)


def build_parser() -> argparse.ArgumentParser:
    """The ``bpnn`` argument parser with its sub-commands."""
    parser = _Parser(prog="bpnn", description="A from-scratch NumPy backpropagation network for handwritten digits.",
                     epilog="Run 'bpnn COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"bpnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    train = commands.add_parser("train", help="train a network", description="Train a network. Settings come from "
                                "the defaults, then --recipe, then --config, then the options given here.")
    _add_train_options(train)
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser("evaluate", help="accuracy, per-class scores and confusion matrix of a model")
    evaluate.add_argument("model", metavar="MODEL", help="a model file written by 'bpnn train --out'")
    _add_data_options(evaluate)
    evaluate.add_argument("--split", choices=("test", "validation", "train"), default="test",
                          help="which part of the data set [default: test]")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser("predict", help="classify your own images (PNG, JPEG) or .npy arrays")
    predict.add_argument("model", metavar="MODEL")
    predict.add_argument("files", metavar="FILE", nargs="+", help="images (PNG, JPEG, ...) or .npy arrays")
    predict.add_argument("--top", type=_positive_int, default=3, metavar="K",
                         help="show the K most likely classes [default: 3]")
    predict.add_argument("--json", action="store_true",
                         help='one JSON object per input: {"file", "label", "index", "probabilities"}')
    predict.add_argument("--show", metavar="DIR", help="save each prepared input image (as the network sees it) "
                         "to this folder")
    predict.set_defaults(handler=cmd_predict)

    report = commands.add_parser("report", help="write plots and metrics of a model to a folder")
    report.add_argument("model", metavar="MODEL")
    report.add_argument("--out", required=True, metavar="DIR", help="folder for the PNG files and metrics.json")
    _add_data_options(report)
    report.set_defaults(handler=cmd_report)

    grad = commands.add_parser("gradcheck", help="compare backpropagation with central differences")
    grad.add_argument("--layers", type=_setting_type("layers"), default=[64, 16, 10], metavar="SIZES",
                      help="layer sizes [default: 64,16,10]")
    for name in ("activation", "output", "cost", "init", "dtype", "seed"):
        setting = SETTINGS[name]
        grad.add_argument(setting.flag, dest=name, type=_setting_type(name),
                          default="float64" if name == "dtype" else setting.default,
                          metavar=setting.metavar or "{" + ",".join(setting.choices or ()) + "}",
                          help=setting.help)
    grad.add_argument("--samples", type=_positive_int, default=16, metavar="N",
                      help="random samples in the batch [default: 16]")
    grad.add_argument("--eps", type=float, default=1e-4, help="finite-difference step [default: 1e-4]")
    grad.add_argument("--tolerance", type=float, default=1e-4,
                      help="largest acceptable relative error [default: 1e-4]")
    grad.add_argument("--max-checks", type=_positive_int, default=200, metavar="N",
                      help="entries checked per weight matrix and bias vector [default: 200]")
    grad.set_defaults(handler=cmd_gradcheck)

    serve = commands.add_parser("serve", help="a local web page: draw a digit and watch the network read it",
                                description="Serve a drawing page and a JSON API for a model on this computer. "
                                "Without MODEL, a quick model is trained once (on MNIST when it is on this "
                                "machine, else on the bundled 8x8 digits) and reused.")
    serve.add_argument("model", nargs="?", metavar="MODEL", help="a model file written by 'bpnn train --out'")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on [default: 127.0.0.1, this computer only]")
    serve.add_argument("--port", type=_port, default=8000, help="port; 0 picks a free one [default: 8000]")
    serve.add_argument("--max-upload-mb", type=_positive_float, default=4.0, metavar="MB",
                       help="largest request body accepted [default: 4]")
    serve.add_argument("--data-dir", metavar="DIR", help="where to look for MNIST for the quick model")
    serve.set_defaults(handler=cmd_serve)

    recipes = commands.add_parser("recipes", help="list the named recipes, or print one as TOML")
    recipes.add_argument("name", nargs="?", metavar="NAME")
    recipes.set_defaults(handler=cmd_recipes)
    return parser


def _number(kind: Callable[[str], Any], what: str, ok: Callable[[Any], bool]) -> Callable[[str], Any]:
    """An argparse type: ``kind(text)`` when ``ok`` accepts it, else the error 'expected WHAT'."""
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return convert


_positive_int = _number(int, "a positive integer", lambda value: value >= 1)
_port = _number(int, "a port number 0..65535", lambda value: 0 <= value <= 65535)
_positive_float = _number(float, "a positive number", lambda value: 0 < value < float("inf"))


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", metavar="NAME|DIR",
                        help="data set to use [default: the one recorded in the model]")
    parser.add_argument("--data-dir", metavar="DIR", help="download cache folder")


# --------------------------------------------------------------------------
# helpers shared by the commands
# --------------------------------------------------------------------------
def _say(*parts: Any, quiet: bool = False) -> None:
    if not quiet:
        print(*parts, flush=True)


def _show_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def _dataset_argument(name: str) -> str:
    """A data set name as is; a path made absolute (so a resumed run finds it)."""
    if ("/" in name or os.sep in name) and os.path.exists(name):
        return os.path.abspath(name)
    return name


def _load_dataset(name: str, *, validation: Any, classes: Any, dtype: str, standardize: Any,
                  data_dir: str | None, seed: int, quiet: bool):
    from . import datasets

    if validation == 0:
        validation = None
    return datasets.load(name, validation=validation, classes=classes, dtype=dtype, standardize=standardize,
                         data_dir=data_dir, progress=_show_progress(quiet), seed=seed)


def _describe_data(ds) -> str:
    n_val = 0 if ds.validation is None else len(ds.validation)
    shape = "x".join(map(str, ds.image_shape))
    return (f"{len(ds.train)} training, {n_val} validation, {len(ds.test)} test images "
            f"({shape}, {ds.n_classes} classes)")


def _check_fits(net, n_features: int, n_classes: int, data_name: str, image_shape, option: str) -> None:
    shape = "x".join(map(str, image_shape))
    if net.n_inputs != n_features:
        raise CommandError(
            f"the network takes {net.n_inputs} inputs but the {data_name} data has {n_features} features "
            f"({shape} images); {option}"
        )
    if net.n_outputs != n_classes:
        raise CommandError(
            f"the network has {net.n_outputs} outputs but the {data_name} data has {n_classes} classes; {option}"
        )


def build_network(settings: dict, n_features: int, n_classes: int, data_name: str = "", image_shape=()):
    """The network the settings describe, sized for the data."""
    from .network import Network

    layers = settings["layers"]
    if layers is not None:
        if len(layers) < 2:
            raise CommandError(f"--layers needs at least an input and an output size, got {layers}")
        shape = "x".join(map(str, image_shape))
        if layers[0] != n_features:
            raise CommandError(
                f"--layers starts with {layers[0]} inputs but the {data_name} data has {n_features} features "
                f"({shape} images); use --layers {n_features},...,{n_classes} or give only --hidden"
            )
        if layers[-1] != n_classes:
            raise CommandError(
                f"--layers ends with {layers[-1]} outputs but the {data_name} data has {n_classes} classes; "
                f"use --layers {','.join(map(str, layers[:-1]))},{n_classes} or give only --hidden"
            )
        sizes = list(layers)
    else:
        sizes = [n_features, *settings["hidden"], n_classes]
    output = settings["output"]
    if output is None:
        output = ("softmax" if settings["cost"] == "cross_entropy" and settings["activation"] != "sigmoid"
                  else settings["activation"])
    return Network(sizes, activation=settings["activation"], output_activation=output, cost=settings["cost"],
                   init=settings["init"], dtype=settings["dtype"], seed=settings["seed"],
                   dropout=settings["dropout"])


def make_optimizer(settings: dict):
    """The optimizer the settings describe."""
    from .optimizers import get_optimizer

    name = settings["optimizer"]
    options = {}
    if settings["mu"] is not None:
        if name not in ("momentum", "nesterov"):
            raise CommandError(f"--mu applies to the momentum and nesterov optimizers, not {name}")
        options["mu"] = settings["mu"]
    for beta in ("beta1", "beta2"):
        if settings[beta] is not None:
            if name != "adam":
                raise CommandError(f"--{beta} applies to the adam optimizer, not {name}")
            options[beta] = settings[beta]
    eta = settings["eta"] if settings["eta"] is not None else DEFAULT_ETA[name]
    return get_optimizer(name, eta, **options)


def make_schedule(settings: dict):
    """The learning-rate schedule the settings describe (None for constant)."""
    from .schedules import CosineDecay, ExponentialDecay, StepDecay

    name = settings["schedule"]
    gamma = settings["gamma"]
    if name == "none":
        return None
    if name == "step":
        return StepDecay(settings["step_size"], 0.5 if gamma is None else gamma)
    if name == "exponential":
        return ExponentialDecay(0.95 if gamma is None else gamma)
    return CosineDecay(settings["epochs"], settings["eta_min"])


def _targets(settings: dict, y: np.ndarray, k: int, dtype: str) -> np.ndarray:
    if settings["targets"] == "soft":
        from .datasets import soft_targets

        return soft_targets(y, k, low=0.1, high=0.9, dtype=dtype)
    return y


def _preprocessing(ds) -> dict:
    pre = {"scale": float(ds.scale), "image_shape": list(ds.image_shape), "mean": ds.mean, "std": ds.std,
           "ink": "white on black, [0, 1]"}
    if ds.name == "fashion-mnist":        # objects fill the field: fit 28x28, centre the bounding box
        pre["layout"] = {"box": 28, "centre": "box"}
    return pre


def write_plots(net, out_dir: str | os.PathLike, images: np.ndarray, X: np.ndarray, y: np.ndarray,
                classes: Sequence[str], history=None, best_epoch: int | None = None,
                image_shape: Sequence[int] | None = None, data_label: str = "test") -> list[Path]:
    """Write the four report figures for ``net`` on ``(X, y)``; return their paths."""
    from . import plots
    from .metrics import classification_summary

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CommandError(f"cannot create the folder {out}: {err.strerror or err}") from None
    probabilities = net.predict_proba(X)
    predicted = probabilities.argmax(axis=1)
    summary = classification_summary(y, predicted, classes)
    written = []
    if history is not None and len(history):
        written.append(plots.learning_curves(history, out / "learning_curves.png", title=repr(net),
                                             best_epoch=best_epoch))
    written.append(plots.confusion_matrix(
        summary.confusion, classes, out / "confusion_matrix.png",
        title=f"{data_label}: accuracy {summary.accuracy:.2%} ({summary.correct}/{summary.total})"))
    written.append(plots.misclassified(images, y, predicted, classes, out / "misclassified.png",
                                       probabilities=probabilities))
    if image_shape is not None and int(np.prod(image_shape)) == net.n_inputs:
        written.append(plots.first_layer_weights(net.weights[0], image_shape, out / "first_layer_weights.png"))
    return written


def _write_json(path: str | os.PathLike, data: dict) -> None:
    from .serialization import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(data, indent=2, default=_json_default) + "\n").encode())


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return str(value)


# --------------------------------------------------------------------------
# bpnn train
# --------------------------------------------------------------------------
def _train_settings(args: argparse.Namespace) -> tuple[dict, Any]:
    """Settings for a new run, or those of the checkpoint being resumed (and the checkpoint)."""
    given = {name: getattr(args, name) for name in SETTINGS if hasattr(args, name)}
    if not args.resume:
        config = load_config(args.config) if args.config else {}
        settings = resolve_settings(args.recipe, config, given)
        settings["dataset"] = _dataset_argument(settings["dataset"])
        return settings, None
    from .serialization import load_checkpoint

    if args.recipe or args.config:
        raise CommandError("--resume continues a run with its own settings; do not combine it with "
                           "--recipe or --config")
    changed = sorted(set(given) - set(RESUMABLE_OVERRIDES))
    if changed:
        raise CommandError(
            f"--resume continues the run exactly, so {', '.join('--' + c.replace('_', '-') for c in changed)} "
            f"cannot change; only {', '.join('--' + n.replace('_', '-') for n in RESUMABLE_OVERRIDES)} can"
        )
    checkpoint = load_checkpoint(args.resume)
    stored = checkpoint.extra.get("settings")
    if not isinstance(stored, dict) or set(SETTINGS) - set(stored):
        raise CommandError(f"{args.resume} was not written by 'bpnn train' (its settings are missing)")
    settings = {name: parse_setting(name, stored[name], where=str(args.resume)) for name in SETTINGS}
    settings["recipe"] = stored.get("recipe")
    settings["checkpoint"] = str(args.resume)
    settings.update(given)
    return settings, checkpoint


def _summary(settings: dict, net, history, test, ds, seconds: float, early=None, resumed_from=None) -> dict:
    last = history.records[-1] if len(history) else None
    return {
        "recipe": settings.get("recipe"),
        "network": repr(net),
        "sizes": net.sizes,
        "dataset": ds.name,
        "n_train": len(ds.train),
        "n_validation": 0 if ds.validation is None else len(ds.validation),
        "n_test": len(ds.test),
        "epochs": settings["epochs"],
        "epochs_run": len(history),
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
        "seed": settings["seed"],
        "resumed_from": resumed_from,
        "bpnn_version": __version__,
    }


def cmd_train(args: argparse.Namespace) -> int:
    """``bpnn train``."""
    from .callbacks import Checkpointer, EarlyStopping, EpochLog, ProgressBar
    from .training import History

    settings, checkpoint = _train_settings(args)
    if args.print_config:
        header = f"bpnn train settings (bpnn {__version__}); use with: bpnn train --config FILE"
        sys.stdout.write(settings_to_toml(settings, header))
        return 0
    quiet = args.quiet
    if settings["patience"] is None and (settings["eval_every"] != 1 or settings["monitor"] != "val_loss"):
        raise CommandError("--eval-every and --monitor belong to early stopping; also give --patience")
    ds = _load_dataset(settings["dataset"], validation=settings["validation"], classes=settings["classes"],
                       dtype=settings["dtype"],
                       standardize=False if settings["standardize"] == "none" else settings["standardize"],
                       data_dir=settings["data_dir"], seed=settings["split_seed"], quiet=quiet)
    if settings["limit"] is not None and settings["limit"] < len(ds.train):
        from .datasets import Split

        ds.train = Split(ds.train.X[: settings["limit"]], ds.train.y[: settings["limit"]])
    if settings["patience"] is not None and ds.validation is None:
        raise CommandError("early stopping (--patience) needs validation data; set --validation, e.g. 10000 "
                           "or 0.2")
    data_name = settings["dataset"] if "/" not in settings["dataset"] else ds.name
    if checkpoint is None:
        net = build_network(settings, ds.n_features, ds.n_classes, data_name, ds.image_shape)
        optimizer = make_optimizer(settings)
        history, initial_epoch = History(), 0
    else:
        net = checkpoint.network()
        _check_fits(net, ds.n_features, ds.n_classes, data_name, ds.image_shape,
                    "the checkpoint belongs to another data set")
        optimizer = checkpoint.make_optimizer()
        history, initial_epoch = checkpoint.history, checkpoint.epoch
    schedule = make_schedule(settings)
    net.classes, net.preprocessing = list(ds.classes), _preprocessing(ds)
    if settings["targets"] == "soft" and net.output_layer.activation.name == "softmax":
        raise CommandError("soft targets (0.9/0.1) are for sigmoid outputs; a softmax output needs one-hot targets")

    y_train = _targets(settings, ds.train.y, ds.n_classes, settings["dtype"])
    validation = None
    if ds.validation is not None:
        validation = (ds.validation.X, _targets(settings, ds.validation.y, ds.n_classes, settings["dtype"]))

    early = None
    if settings["patience"] is not None:
        early = EarlyStopping(settings["monitor"], settings["patience"], settings["min_delta"],
                              settings["eval_every"], settings["restore_best"])
        if checkpoint is not None and "early_stopping" in checkpoint.callbacks:
            early.load_state_dict(*checkpoint.callbacks["early_stopping"])
    n_batches = 1 if settings["batch_size"] is None else -(-len(ds.train) // settings["batch_size"])
    progress = ProgressBar(n_batches, settings["epochs"], enabled=_show_progress(quiet))
    previous_seconds = float(checkpoint.extra.get("seconds", 0.0)) if checkpoint else 0.0
    started = time.perf_counter()

    def elapsed() -> float:
        return previous_seconds + time.perf_counter() - started

    callbacks: list = [progress]
    if early is not None:
        callbacks.append(early)
    checkpointer = None
    if settings["checkpoint"]:
        checkpointer = Checkpointer(
            settings["checkpoint"], settings["checkpoint_every"], settings["epochs"],
            stateful=[early] if early else [],
            extra=lambda: {"settings": settings, "seconds": elapsed(), "dataset": ds.name},
        )
        callbacks.append(checkpointer)
    if not quiet:
        callbacks.append(EpochLog(settings["epochs"], settings["log_every"]))

    _say(f"bpnn {__version__}: {net!r} on {data_name}: {_describe_data(ds)}", quiet=quiet)
    batch = "full batch" if settings["batch_size"] is None else f"batch {settings['batch_size']}"
    _say(f"{optimizer!r}, {batch}, {settings['epochs']} epochs"
         + (f", {schedule!r}" if schedule else "") + f", seed {settings['seed']}"
         + (f", recipe {settings['recipe']}" if settings.get("recipe") else ""), quiet=quiet)
    if checkpoint is not None:
        _say(f"resuming from {checkpoint.path} after epoch {checkpoint.epoch}", quiet=quiet)

    finished = initial_epoch >= settings["epochs"] or (early is not None and early.stop_requested)
    try:
        if finished:
            if early is not None:
                early.on_train_end(net, history)
        else:
            net.fit(ds.train.X, y_train, epochs=settings["epochs"], batch_size=settings["batch_size"],
                    optimizer=optimizer, lmbda=settings["l2"], max_norm=settings["max_norm"],
                    validation_data=validation, callbacks=callbacks, schedule=schedule,
                    initial_epoch=initial_epoch, history=history)
    except KeyboardInterrupt:
        progress.close()
        # the file can already be in place while its writer has not returned yet
        # (Ctrl-C between the rename and the bookkeeping), so look on disk too
        if checkpointer is not None and (checkpointer.last_written or os.path.exists(settings["checkpoint"])):
            which = f"of epoch {checkpointer.last_written} " if checkpointer.last_written else ""
            print(f"bpnn: interrupted; the checkpoint {which}is in "
                  f"{settings['checkpoint']}: continue with 'bpnn train --resume {settings['checkpoint']}'",
                  file=sys.stderr)
        raise
    finally:
        progress.close()
    seconds = elapsed()
    net.history_ = history

    if early is not None:
        _say(early.describe(), quiet=quiet)
    test = net.evaluate(ds.test.X, ds.test.y)
    print(f"test accuracy {test.accuracy:.2%} ({test.correct}/{test.total}), error rate {test.error_rate:.2%}; "
          f"{len(history)} epochs in {seconds:.1f}s", flush=True)
    summary = _summary(settings, net, history, test, ds, seconds, early,
                       str(checkpoint.path) if checkpoint else None)
    if settings["out"]:
        from .serialization import save

        save(net, settings["out"], history=history, training={"settings": settings, "summary": summary},
             dataset={"name": settings["dataset"], "classes": settings["classes"],
                      "validation": settings["validation"], "split_seed": settings["split_seed"],
                      "data_dir": settings["data_dir"], "source": ds.source})
        print(f"saved the model to {settings['out']}", flush=True)
    if settings["plots"]:
        images = ds.test.X.reshape((-1, *ds.image_shape))
        if ds.mean is not None:
            images = (ds.test.X * ds.std + ds.mean).reshape((-1, *ds.image_shape))
        best = early.best_epoch if early is not None and early.restored else None
        paths = write_plots(net, settings["plots"], images, ds.test.X, ds.test.y, ds.classes, history, best,
                            ds.image_shape)
        print(f"wrote {', '.join(p.name for p in paths)} to {settings['plots']}", flush=True)
    if settings["metrics_out"]:
        _write_json(settings["metrics_out"], {"settings": settings, "summary": summary,
                                              "history": history.to_dict()})
    return 0


# --------------------------------------------------------------------------
# bpnn evaluate / report
# --------------------------------------------------------------------------
def _load_model(path: str):
    from .serialization import load

    return load(path)


def _evaluation_data(net, path: str, dataset: str | None, data_dir: str | None, split: str = "test"):
    """The model's data set (or ``dataset``), split ``split``, as (ds, images, X, y)."""
    recorded = (net.metadata or {}).get("dataset") or {}
    name = dataset or recorded.get("name")
    if not name:
        raise CommandError(f"{path} does not record its data set; pass --dataset")
    validation = 0
    if split == "validation":
        validation = recorded.get("validation", "auto")
        if validation == 0:
            raise CommandError(f"{path} was trained without a validation split; use --split test")
    ds = _load_dataset(_dataset_argument(name), validation=validation, classes=recorded.get("classes"),
                       dtype=net.dtype.name, standardize=False, data_dir=data_dir or recorded.get("data_dir"),
                       seed=int(recorded.get("split_seed", 0)), quiet=False)
    _check_fits(net, ds.n_features, ds.n_classes, name, ds.image_shape,
                f"{path} was trained on other data (choose it with --dataset)")
    part = getattr(ds, split)
    images = part.X.reshape((-1, *ds.image_shape))
    from .imageprep import standardize_inputs

    return ds, images, standardize_inputs(part.X, net.preprocessing), part.y


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``bpnn evaluate``."""
    from .metrics import classification_summary

    net = _load_model(args.model)
    ds, _, X, y = _evaluation_data(net, args.model, args.dataset, args.data_dir, args.split)
    summary = classification_summary(y, net.predict(X), net.classes)
    if args.json:
        print(json.dumps({"model": args.model, "network": repr(net), "dataset": ds.name, "split": args.split,
                          **summary.to_dict()}))
    else:
        print(f"{net!r} from {args.model}")
        print(f"{ds.name}, {args.split} split: {summary.total} images\n")
        print(summary.format_table())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``bpnn report``."""
    from .metrics import classification_summary

    net = _load_model(args.model)
    ds, images, X, y = _evaluation_data(net, args.model, args.dataset, args.data_dir)
    history = net.history_ if len(net.history_) else None
    summary_meta = ((net.metadata or {}).get("training") or {}).get("summary") or {}
    best = summary_meta.get("best_epoch") if summary_meta.get("restored_best") else None
    paths = write_plots(net, args.out, images, X, y, net.classes, history, best, ds.image_shape)
    summary = classification_summary(y, net.predict(X), net.classes)
    metrics_path = Path(args.out) / "metrics.json"
    _write_json(metrics_path, {"model": args.model, "network": repr(net), "dataset": ds.name, **summary.to_dict()})
    if history is None:
        print("the model holds no training history: no learning curves", file=sys.stderr)
    print(f"test accuracy {summary.accuracy:.2%} ({summary.correct}/{summary.total})")
    print(f"wrote {', '.join(p.name for p in [*paths, metrics_path])} to {args.out}")
    return 0


# --------------------------------------------------------------------------
# bpnn predict
# --------------------------------------------------------------------------
def _prepared_name(name: str) -> str:
    """``dir/seven.png`` -> ``seven.prepared.png``; ``batch.npy[3]`` -> ``batch-3.prepared.png``."""
    base = Path(name).name
    if base.endswith("]") and "[" in base:
        stem, index = base[:-1].rsplit("[", 1)
        return f"{Path(stem).stem}-{index}.prepared.png"
    return f"{Path(base).stem}.prepared.png"


def cmd_predict(args: argparse.Namespace) -> int:
    """``bpnn predict``."""
    from .imageprep import ImageError, load_inputs, save_image
    from .predictor import Predictor

    predictor = Predictor(_load_model(args.model))
    if args.show:
        try:
            Path(args.show).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CommandError(f"cannot create the folder {args.show}: {err.strerror or err}") from None
    classes = predictor.classes
    top = min(args.top, len(classes))
    failures = 0
    for file in args.files:
        try:
            samples = load_inputs(file, predictor.image_shape, predictor.scale, predictor.layout)
        except ImageError as err:
            print(f"bpnn: error: {err}", file=sys.stderr, flush=True)
            failures += 1
            continue
        predictions = predictor.predict_images([image for _, image in samples])
        for (name, image), prediction in zip(samples, predictions):
            p = prediction.probabilities
            if args.show:
                save_image(image, Path(args.show) / _prepared_name(name))
            if args.json:
                print(json.dumps({"file": name, "label": prediction.label, "index": prediction.index,
                                  "probabilities": [round(float(v), 6) for v in p]}), flush=True)
            else:
                best = np.argsort(-p, kind="stable")[:top]
                ranking = "  ".join(f"{classes[i]}: {p[i]:.1%}" for i in best)
                print(f"{name}  {prediction.label}  ({ranking})", flush=True)
    if failures:
        return EXIT_ERROR
    return 0


# --------------------------------------------------------------------------
# bpnn gradcheck / recipes
# --------------------------------------------------------------------------
def cmd_gradcheck(args: argparse.Namespace) -> int:
    """``bpnn gradcheck``: worst relative error per layer; exit 1 above the tolerance."""
    from .gradcheck import gradient_check

    settings = {name: SETTINGS[name].default for name in SETTINGS}
    settings.update({"layers": args.layers, "activation": args.activation, "output": args.output,
                     "cost": args.cost, "init": args.init, "dtype": args.dtype, "seed": args.seed})
    sizes = args.layers
    if len(sizes) < 2:
        raise CommandError("--layers needs at least an input and an output size")
    net = build_network(settings, sizes[0], sizes[-1])
    rng = np.random.default_rng(args.seed)
    X = rng.random((args.samples, sizes[0]))
    y = rng.integers(0, sizes[-1], args.samples)
    errors = gradient_check(net, X, y, eps=args.eps, max_checks=args.max_checks, seed=args.seed)
    print(f"gradient check of {net!r}: {args.samples} random samples, eps {args.eps:g}, float64")
    for i, (layer, error) in enumerate(zip(net.dense_layers, errors), start=1):
        verdict = "ok" if error <= args.tolerance else "FAILED"
        print(f"layer {i}  {layer.n_in:>5} -> {layer.n_out:<5}  worst relative error {error:.2e}  {verdict}")
    worst = max(errors)
    if worst > args.tolerance:
        print(f"bpnn: error: backpropagation and central differences disagree (worst {worst:.2e} > "
              f"{args.tolerance:g})", file=sys.stderr)
        return EXIT_ERROR
    print(f"all layers agree within {args.tolerance:g}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """``bpnn serve``."""
    try:
        from .web import serve
    except ImportError as err:
        raise CommandError(f"bpnn serve needs the web packages ({err.name} is missing); "
                           f"install them with: pip install fastapi uvicorn python-multipart") from None
    if args.model is not None and not Path(args.model).is_file():
        raise CommandError(f"{args.model}: no such model file; make one with 'bpnn train --out {args.model}' "
                           f"or run 'bpnn serve' without MODEL for a quick one")
    return serve(args.model, args.host, args.port, max_body=max(1024, int(args.max_upload_mb * 1024 * 1024)),
                 data_dir=args.data_dir)


def cmd_recipes(args: argparse.Namespace) -> int:
    """``bpnn recipes [NAME]``."""
    if args.name is None:
        width = max(len(n) for n in RECIPES)
        for recipe in RECIPES.values():
            print(f"{recipe.name:<{width}}  {recipe.title}")
            print(f"{'':<{width}}  source: {recipe.source}")
        print("\nrun one with 'bpnn train --recipe NAME'; 'bpnn recipes NAME' prints its settings")
        return 0
    recipe = get_recipe(args.name)
    settings = resolve_settings(recipe.name)
    header = "\n".join([f"recipe {recipe.name}: {recipe.title}", f"source: {recipe.source}",
                        *([f"note: {recipe.notes}"] if recipe.notes else []),
                        f"run: bpnn train --recipe {recipe.name}   (or save this as a file for --config)"])
    sys.stdout.write(settings_to_toml(settings, header))
    return 0


# --------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------
def _one_line(err: BaseException) -> str:
    if isinstance(err, OSError) and not isinstance(err, BpnnError):
        if err.filename and err.strerror:
            return f"{err.filename}: {err.strerror}"
        if err.strerror:
            return err.strerror
    text = str(err) or type(err).__name__
    if isinstance(err, KeyError):
        text = f"missing {text}"
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bpnn`` command line; return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("bpnn: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_ERROR
    except (ValueError, OSError, MemoryError) as err:   # BpnnError, DataError, SettingError are ValueErrors
        if os.environ.get("BPNN_DEBUG"):
            raise
        print(f"bpnn: error: {_one_line(err)}", file=sys.stderr, flush=True)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
