"""The ``bpnn`` command: parse the command line, call the library, print the result.

Examples
--------
::

    bpnn train                                   # digits, a few seconds, no download
    bpnn train --dataset mnist --hidden 100 --epochs 30 --eta 3 --cost quadratic --out mnist.safetensors
    bpnn train --recipe s1 --plots plots/        # a named experiment (bpnn recipes lists them)
    bpnn train --config run.toml --seed 3        # a TOML file; flags override it
    bpnn train --recipe s3 --checkpoint s3.ckpt  # ... killed ...
    bpnn train --recipe s3 --checkpoint s3.ckpt --resume s3.ckpt   # continues exactly
    bpnn evaluate mnist.safetensors --json
    bpnn predict mnist.safetensors my-digit.png --top 3 --show prepared/
    bpnn report mnist.safetensors --out report/
    bpnn gradcheck --layers 64,16,10 --activation tanh --cost cross_entropy
    bpnn trace                                   # XOR through a 2-2-1 network, every number of BP1-BP4
    bpnn trace mnist.safetensors --index 3 --json

Training goes through :func:`bpnn.experiment.run`, the road every interface
shares; this module only turns arguments into :class:`~bpnn.settings.Settings`
and results into lines.  Every error a user can cause ends in one line
``bpnn: error: ...`` on stderr and a non-zero exit status (2 for a bad
command line, 1 otherwise); ``BPNN_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .nn._keywords import did_you_mean
from ._version import __version__
from .exceptions import BpnnError
from .nn.optimizers import OPTIMIZERS
from .recipes import RECIPES, get_recipe
from .settings import RESUMABLE, SETTINGS, Settings, SettingError, load_config, number, positive_int

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
    """argparse with one-line errors (``bpnn: error: ...``, exit status 2) that suggest the closest word."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if "invalid choice: " in message and "(choose from" in message:
            word = message.split("invalid choice: ", 1)[1].split(" ", 1)[0].strip("'\"")
            choices = [c.strip(" '\"") for c in message.split("(choose from", 1)[1].rstrip(")").split(",")]
            message = message.replace(" (choose from", did_you_mean(word, choices) + " (choose from", 1)
        self.exit(EXIT_USAGE, f"bpnn: error: {message} (see '{self.prog} --help')\n")


def _type(parse, name: str):
    """An argparse type from a setting parser (its SettingError becomes argparse's message)."""
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except SettingError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    convert.__name__ = name
    return convert


def _metavar(setting) -> str:
    return setting.metavar or "{" + ",".join(setting.choices or ()) + "}"


def _help(setting, default: Any = None) -> str:
    default = setting.default if default is None else default
    if isinstance(default, list):
        default = ",".join(map(str, default))
    if default is None or "default" in setting.help:
        return setting.help
    return f"{setting.help} [default: {default}]"


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", metavar="NAME", help=f"start from a named recipe: {', '.join(RECIPES)}")
    parser.add_argument("--config", metavar="FILE", help="read settings from a TOML file (keys as the options, "
                        "with _ for -); options given here override it, and it overrides --recipe")
    parser.add_argument("--resume", metavar="CKPT", help="continue the run saved in a checkpoint exactly; give "
                        "the options that started it, or none; only --epochs (to train longer) and "
                        + ", ".join("--" + n.replace("_", "-") for n in RESUMABLE) + " may differ")
    parser.add_argument("--print-config", action="store_true", help="print the resolved settings as TOML and exit")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no epoch lines")
    groups: dict[str, argparse._ArgumentGroup] = {}
    for name, setting in SETTINGS.items():
        group = groups.setdefault(setting.group, parser.add_argument_group(setting.group))
        if setting.switch:
            group.add_argument(setting.flag, dest=name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=_help(setting))
        else:
            group.add_argument(setting.flag, dest=name, type=_type(setting.parse, name), default=argparse.SUPPRESS,
                               metavar=_metavar(setting), help=_help(setting))


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", metavar="NAME|DIR",
                        help="data set to use [default: the one recorded in the model]")
    parser.add_argument("--data-dir", metavar="DIR", help="download cache folder [default: the one recorded in "
                        "the model, else $BPNN_DATA_DIR or the user cache folder]")


_MODEL_HELP = "a model file written by 'bpnn train --out'"
_GRADCHECK = {"layers": [64, 16, 10]}
_TRACE = {"activation": "sigmoid", "cost": "quadratic", "init": "normal"}


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
    evaluate.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    _add_data_options(evaluate)
    evaluate.add_argument("--split", choices=("test", "validation", "train"), default="test",
                          help="which part of the data set [default: test]")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser(
        "predict", help="read your own images (PNG, JPEG): a digit or a whole number; or .npy arrays",
        description="Read images with a model. With a model of 28x28 digits (MNIST), an image holding several "
                    "digits is read as a number: it is cut into digits (connected ink, broken digits joined, "
                    "touching ones cut where the network reads the pieces best), each prepared MNIST-style; up "
                    "to 32 digits, in lines read top to bottom. Other models (Fashion-MNIST, the 8x8 digits) "
                    "read each image as one item, as --single does. A .npy array holds prepared inputs (or one "
                    "grey picture, read as one item).")
    predict.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    predict.add_argument("files", metavar="FILE", nargs="+", help="images (PNG, JPEG, ...) or .npy arrays")
    predict.add_argument("--top", type=_type(positive_int, "top"), default=3, metavar="K",
                         help="show the K most likely classes of a one-digit answer [default: 3]")
    predict.add_argument("--json", action="store_true",
                         help='one JSON object per input: {"file", "label" (the number read), "digits": [{"label", '
                              '"index", "probabilities", "box": {"x", "y", "width", "height"}, "line"}, ...], '
                              '"size", "segmented", and "index", "probabilities" of the first digit}')
    predict.add_argument("--show", metavar="DIR", help="save to this folder what the network sees: the image with "
                         "a box and label per digit (NAME.boxes.png), and each prepared input, 28x28 for one digit "
                         "(NAME.prepared.png) or enlarged for each digit of a number (NAME.digit-K.png)")
    predict.add_argument("--single", action="store_true",
                         help="read each image as one digit, even when it holds several")
    predict.set_defaults(handler=cmd_predict)

    report = commands.add_parser("report", help="write plots and metrics of a model to a folder")
    report.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    report.add_argument("--out", required=True, metavar="DIR", help="folder for the PNG files and metrics.json")
    _add_data_options(report)
    report.set_defaults(handler=cmd_report)

    grad = commands.add_parser("gradcheck", help="compare backpropagation with central differences")
    for name in ("layers", "activation", "output", "cost", "init", "seed"):     # always in float64
        setting = SETTINGS[name]
        default = _GRADCHECK.get(name, setting.default)
        grad.add_argument(setting.flag, dest=name, type=_type(setting.parse, name), default=default,
                          metavar=_metavar(setting), help=_help(setting, default))
    grad.add_argument("--samples", type=_type(positive_int, "samples"), default=16, metavar="N",
                      help="random samples in the batch [default: 16]")
    grad.add_argument("--eps", type=_type(number(float, 0.0, exclusive=True), "eps"), default=1e-4,
                      help="finite-difference step [default: 1e-4]")
    grad.add_argument("--tolerance", type=_type(number(float, 0.0, exclusive=True), "tolerance"), default=1e-4,
                      help="largest acceptable relative error [default: 1e-4]")
    grad.add_argument("--max-checks", type=_type(positive_int, "max_checks"), default=200, metavar="N",
                      help="entries checked per weight matrix and bias vector [default: 200]")
    grad.set_defaults(handler=cmd_gradcheck)

    tracer = commands.add_parser(
        "trace", help="follow one sample through the forward pass and BP1-BP4, checked two ways",
        description="Run one sample forward and backward and print every quantity of the four equations (z, a, "
                    "δ by BP1 and BP2, ∂C/∂b by BP3, ∂C/∂W by BP4, the update) with its shape and values, beside "
                    "the same numbers from the per-neuron reference model and from central differences. By "
                    "default a 2-2-1 sigmoid network on the XOR sample (1, 0) -> 1: small enough to check every "
                    "number by hand. A large network gets a summary per layer (--full prints every value).")
    tracer.add_argument("model", nargs="?", metavar="MODEL", help=_MODEL_HELP + " [default: a new network]")
    for name in ("layers", "hidden", "activation", "output", "cost", "init", "seed"):
        setting = SETTINGS[name]
        default = _TRACE.get(name, setting.default)
        sizes_help = {"layers": "all layer sizes of a new network, e.g. 2,2,1 [default: the sample's size, "
                                "--hidden, the number of outputs]",
                      "hidden": "hidden layer sizes of a new network [default: 2 for XOR, 30 with --dataset]"}
        tracer.add_argument(setting.flag, dest=name, type=_type(setting.parse, name),
                            default=None if name in sizes_help else default, metavar=_metavar(setting),
                            help=sizes_help.get(name) or _help(setting, default))
    tracer.add_argument("--input", metavar="X1,X2,...", help="the sample, as the network takes it [default: 1,0 "
                        "for XOR; with --dataset, image --index of its test split]")
    tracer.add_argument("--target", metavar="Y", help="a class index, or the target value(s) separated by commas "
                        "[default: XOR of the input; with --dataset, the image's label]")
    tracer.add_argument("--dataset", metavar="NAME|DIR", help="take the sample from this data set's test split "
                          "(default for a MODEL: the one recorded in it)")
    tracer.add_argument("--data-dir", metavar="DIR", help="download cache folder [default: $BPNN_DATA_DIR or the "
                        "user cache folder]")
    tracer.add_argument("--index", type=_type(number(int, 0), "index"), default=0, metavar="N",
                        help="which test image of --dataset [default: 0]")
    tracer.add_argument("--eta", type=_type(number(float, 0.0), "eta"), default=OPTIMIZERS["sgd"].default_eta,
                        help=f"learning rate of the update shown [default: {OPTIMIZERS['sgd'].default_eta:g}, "
                        f"SGD's]")
    tracer.add_argument("--eps", type=_type(number(float, 0.0, exclusive=True, maximum=0.1), "eps"), default=1e-5,
                        help="central-difference step [default: 1e-5]")
    tracer.add_argument("--reference", action=argparse.BooleanOptionalAction, default=None,
                        help="build the per-neuron model [default: up to 300,000 weights]")
    tracer.add_argument("--full", action="store_true", help="every value, even for a large network")
    tracer.add_argument("--json", action="store_true", help="print JSON (every value for a tiny network or "
                        "with --full, else summaries of large arrays)")
    tracer.set_defaults(handler=cmd_trace)

    serve = commands.add_parser("serve", help="a local web page: draw a digit and watch the network read it",
                                description="Serve a drawing page and a JSON API for a model on this computer. "
                                "Without MODEL, a quick model is trained once (on MNIST when it is on this "
                                "machine, else on the bundled 8x8 digits) and reused.")
    serve.add_argument("model", nargs="?", metavar="MODEL", help=_MODEL_HELP + " [default: a quick model]")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on [default: 127.0.0.1, this computer only]")
    serve.add_argument("--port", type=_type(number(int, 0, maximum=65535), "port"), default=8000,
                       help="port; 0 picks a free one [default: 8000]")
    serve.add_argument("--max-upload-mb", type=_type(number(float, 0.0, exclusive=True), "max_upload_mb"),
                       default=4.0, metavar="MB", help="largest request body accepted [default: 4]")
    serve.add_argument("--data-dir", metavar="DIR", help="where to look for MNIST for the quick model and the "
                       "page's training")
    serve.add_argument("--no-training", dest="training", action="store_false",
                       help="turn off the page's Train tab (training runs are bounded, one at a time)")
    serve.set_defaults(handler=cmd_serve)

    sweep = commands.add_parser("sweep", help="run a hyper-parameter sweep from a TOML file, locally or on Dask",
                                description="Run every trial of a sweep file (see bpnn.sweep) on a Dask cluster: "
                                "a local one with a worker per core by default. Results are appended to "
                                "OUT/results.jsonl as trials finish; running the command again skips the "
                                "trials already there. Writes OUT/summary.md and OUT/plot.png.")
    sweep.add_argument("spec", metavar="SWEEP.toml", help="the sweep file")
    sweep.add_argument("--out", metavar="DIR", help="results folder [default: sweeps/NAME]")
    sweep.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="an existing Dask scheduler [default: start "
                       "a local cluster]")
    sweep.add_argument("--workers", type=_type(positive_int, "workers"), metavar="N",
                       help="worker processes of the local cluster [default: one per core]")
    sweep.add_argument("--dry-run", action="store_true", help="list the trials (and which are done) and exit")
    sweep.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(handler=cmd_sweep)

    baseline = commands.add_parser("baseline", help="a non-neural baseline (scikit-learn) on bpnn's data",
                                   description="Fit a scikit-learn model on the same splits and preparation as "
                                   "'bpnn train' and report test accuracy, fit and predict time.")
    baseline.add_argument("name", metavar="NAME", help="svr (regress the digit, rounded: the source's), svc, "
                          "logreg, knn or mlp")
    _add_settings(baseline, ("dataset", "data_dir", "validation", "classes", "limit", "standardize", "seed"))
    baseline.add_argument("--json", action="store_true", help="print the result as JSON")
    baseline.set_defaults(handler=cmd_baseline)

    export = commands.add_parser("export", help="write a model as ONNX (for onnxruntime and other runtimes)",
                                 description="Export a model file to ONNX: one MatMul/Add/activation group per layer, "
                                 "the standardisation first, dropout left out, the network's dtype kept; outputs "
                                 "'probabilities', 'index' and 'label'. Needs the onnx package: "
                                 'pip install "bpnn[onnx]".')
    export.add_argument("model", metavar="MODEL", help=_MODEL_HELP + " (or by BPNNClassifier.save)")
    export.add_argument("--onnx", required=True, metavar="OUT.onnx", help="the ONNX file to write")
    export.set_defaults(handler=cmd_export)

    augment = commands.add_parser("augment", help="show what --augment does: training images and augmented versions",
                                  description="Write a grid of training images, each followed by versions of it "
                                  "made by the augmentation that 'bpnn train --augment' would use.")
    _add_settings(augment, ("dataset", "data_dir", "augment", "seed"))
    augment.add_argument("--images", type=_type(positive_int, "images"), default=8, metavar="N",
                         help="training images, one per row (at most 64) [default: 8]")
    augment.add_argument("--variants", type=_type(positive_int, "variants"), default=8, metavar="V",
                         help="augmented versions of each (at most 32) [default: 8]")
    augment.add_argument("--out", required=True, metavar="PNG", help="the image file to write")
    augment.set_defaults(handler=cmd_augment)

    recipes = commands.add_parser("recipes", help="list the named recipes, or print one as TOML")
    recipes.add_argument("name", nargs="?", metavar="NAME", help="a recipe to print as TOML [default: list them all]")
    recipes.set_defaults(handler=cmd_recipes)
    return parser


def _add_settings(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    """Options for these training settings, as 'bpnn train' has them (absent unless given)."""
    for name in names:
        setting = SETTINGS[name]
        parser.add_argument(setting.flag, dest=name, type=_type(setting.parse, name), default=argparse.SUPPRESS,
                            metavar=_metavar(setting), help=_help(setting))


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """parse_args, with "did you mean" for a mistyped option of the chosen command."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        command = parser._subparsers._group_actions[0].choices[args.command]   # type: ignore[union-attr]
        known = [o for o in command._option_string_actions if o.startswith("--")]
        word = next((e.split("=", 1)[0] for e in extras if e.startswith("-")), extras[0])
        command.error(f"unrecognized argument{'s' if len(extras) > 1 else ''}: {' '.join(extras)}"
                      + (did_you_mean(word, known) if word.startswith("-") else ""))
    return args


# --------------------------------------------------------------------------
# helpers shared by the commands
# --------------------------------------------------------------------------
def _say(*parts: Any, quiet: bool = False) -> None:
    if not quiet:
        print(*parts, flush=True)


def _show_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def _load_model(path: str):
    from .io.modelfile import load

    return load(path)


# --------------------------------------------------------------------------
# bpnn train
# --------------------------------------------------------------------------
def _warn_stuck(diagnosis) -> None:
    """Print a :class:`~bpnn.nn.diagnostics.Diagnosis` of a stuck run (two lines on stderr)."""
    print(f"bpnn: warning: {diagnosis.message}.\n  What usually helps: {diagnosis.advice}.", file=sys.stderr,
          flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    """``bpnn train``: options -> Settings -> :func:`bpnn.experiment.run` -> lines."""
    from .callbacks import Diagnostics, EpochLog, ProgressBar
    from .experiment import TrainingInterrupted, resume_settings, run

    given = {name: getattr(args, name) for name in SETTINGS if hasattr(args, name)}
    settings = Settings.from_sources(args.recipe, load_config(args.config) if args.config else {}, given)
    checkpoint = None
    if args.resume:
        from .io.checkpoint import load_checkpoint

        checkpoint = load_checkpoint(args.resume)
        settings = resume_settings(checkpoint, settings)
    if args.print_config:
        settings.check()
        header = f"bpnn train settings (bpnn {__version__}); use with: bpnn train --config FILE"
        sys.stdout.write(settings.to_toml(header))
        return 0
    quiet = args.quiet
    callbacks: list = [ProgressBar(settings.epochs, enabled=_show_progress(quiet))]
    if not quiet:
        callbacks.append(EpochLog(settings.epochs, settings.log_every))
        callbacks.append(Diagnostics(report=_warn_stuck))
    try:
        result = run(settings, resume=checkpoint, callbacks=callbacks, log=None if quiet else _say,
                     progress=_show_progress(quiet))
    except TrainingInterrupted as stop:
        if stop.checkpoint:
            which = f"of epoch {stop.epoch} " if stop.epoch else ""
            print(f"bpnn: interrupted; the checkpoint {which}is in {stop.checkpoint}: continue with "
                  f"'bpnn train --resume {stop.checkpoint}' (or the same command with --resume added)",
                  file=sys.stderr)
        raise
    finally:
        callbacks[0].close()
    test = result.test
    print(f"test accuracy {test.accuracy:.2%} ({test.correct}/{test.total}), error rate {test.error_rate:.2%}; "
          f"{result.summary['epochs_run']} epochs in {result.timings['train']:.1f}s", flush=True)
    settings = result.settings
    if settings.out:
        print(f"saved the model to {settings.out}", flush=True)
    if settings.plots:
        plots = [p.name for p in result.written if p.suffix == ".png"]
        print(f"wrote {', '.join(plots)} to {settings.plots}", flush=True)
    return 0


# --------------------------------------------------------------------------
# bpnn evaluate / report
# --------------------------------------------------------------------------
def _evaluation_data(model, path: str, dataset: str | None, data_dir: str | None, split: str = "test"):
    """The model's data set (or ``dataset``), split ``split``, as (ds, images, X, y)."""
    from .experiment import check_fits, load_data

    recorded = model.metadata.get("dataset") or {}
    name = dataset or recorded.get("name")
    if not name:
        raise CommandError(f"{path} does not record its data set; pass --dataset")
    validation = 0
    if split == "validation":
        validation = recorded.get("validation", "auto")
        if validation == 0:
            raise CommandError(f"{path} was trained without a validation split; use --split test")
    settings = Settings(dataset=name, validation=validation, classes=recorded.get("classes"),
                        dtype=model.network.dtype.name, data_dir=data_dir or recorded.get("data_dir"),
                        split_seed=int(recorded.get("split_seed", 0)))
    ds = load_data(settings, progress=_show_progress(False), test_only=split == "test")
    check_fits(model.network, ds, name, f"{path} was trained on other data (choose it with --dataset)")
    part = getattr(ds, split)
    images = part.X.reshape((-1, *ds.image_shape))
    return ds, images, model.preprocessing.standardize_inputs(part.X), part.y


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``bpnn evaluate``."""
    from .metrics import classification_summary

    model = _load_model(args.model)
    ds, _, X, y = _evaluation_data(model, args.model, args.dataset, args.data_dir, args.split)
    summary = classification_summary(y, model.network.predict(X), model.classes)
    if args.json:
        print(json.dumps({"model": args.model, "network": repr(model.network), "dataset": ds.name,
                          "split": args.split, **summary.to_dict()}))
    else:
        print(f"{model.network!r} from {args.model}")
        print(f"{ds.name}, {args.split} split: {summary.total} images\n")
        print(summary.format_table())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``bpnn report``."""
    from .experiment import write_json, write_plots
    from .metrics import classification_summary

    model = _load_model(args.model)
    ds, images, X, y = _evaluation_data(model, args.model, args.dataset, args.data_dir)
    summary_meta = model.summary
    best = summary_meta.get("best_epoch") if summary_meta.get("restored_best") else None
    paths = write_plots(model, args.out, images, X, y, best)
    summary = classification_summary(y, model.network.predict(X), model.classes)
    metrics_path = write_json(Path(args.out) / "metrics.json", {"model": args.model, "network": repr(model.network),
                                                                "dataset": ds.name, **summary.to_dict()})
    if not len(model.history):
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


#: How much larger each digit's prepared input is saved by ``--show`` for a number (28x28 -> 224x224).
_SHOW_ENLARGE = 8


def _named(err: Exception, name: str) -> str:
    """An error's message, starting with the file's name."""
    text = str(err)
    return text if name in text else f"{name}: {text}"


def _readings(predictor, file: str, single: bool) -> list[tuple[str, Any, Any]]:
    """``(name, Reading, grey picture or None)`` for every input in ``file``."""
    from .imageprep import load_inputs, read_image

    if Path(file).suffix.lower() == ".npy":
        samples = load_inputs(file, predictor.image_shape, predictor.scale, predictor.layout)
        readings = predictor.read_prepared_images([image for _, image in samples])
        return [(name, reading, None) for (name, _), reading in zip(samples, readings)]
    grey = read_image(file)
    return [(str(file), predictor.read(grey, str(file), single=single), grey)]


def _save_boxes(grey: np.ndarray, reading, path: Path) -> None:
    """The picture with each digit's box and label (and confidence) drawn on it, as a PNG."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.fromarray(np.clip(np.round(grey), 0, 255).astype(np.uint8)).convert("RGB")
    scale = max(1, int(np.ceil(200 / max(1, min(img.size)))))       # small pictures enlarged: labels legible
    if scale > 1:
        img = img.resize((img.size[0] * scale, img.size[1] * scale), Image.Resampling.NEAREST)
    size = max(12, min(img.size) // 12)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:                                                  # Pillow < 10.1: the bitmap font
        font = ImageFont.load_default()
    draw = ImageDraw.Draw(img)
    width = max(1, size // 8)
    for digit in reading.digits:
        top, left, bottom, right = (v * scale for v in digit.box)
        draw.rectangle([left - width, top - width, right - 1 + width, bottom - 1 + width], outline=(220, 40, 30),
                       width=width)
        p = float(digit.prediction.probabilities[digit.prediction.index])
        text = f"{digit.prediction.label} {p:.0%}"
        y = top - width - size - 4 if top - width - size - 4 >= 0 else bottom + width + 2
        draw.text((left, y), text, fill=(220, 40, 30), font=font)
    img.save(path)


def cmd_predict(args: argparse.Namespace) -> int:
    """``bpnn predict``."""
    from .imageprep import ImageError, save_image
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
            readings = _readings(predictor, file, args.single)
        except ImageError as err:
            print(f"bpnn: error: {_named(err, str(file))}", file=sys.stderr, flush=True)
            failures += 1
            continue
        for name, reading, grey in readings:
            first = reading.digits[0].prediction
            if args.show:
                folder = Path(args.show)
                if len(reading.digits) == 1:
                    save_image(first.image, folder / _prepared_name(name))
                else:
                    stem = _prepared_name(name)[:-len(".prepared.png")]
                    for k, digit in enumerate(reading.digits, 1):
                        save_image(digit.prediction.image, folder / f"{stem}.digit-{k}.png", enlarge=_SHOW_ENLARGE)
                if grey is not None:
                    _save_boxes(grey, reading, folder / (_prepared_name(name)[:-len(".prepared.png")] + ".boxes.png"))
            if args.json:
                row = {"file": name, "label": reading.label, "index": first.index,
                       "probabilities": [round(float(v), 6) for v in first.probabilities],
                       "segmented": reading.segmented, "size": reading.size_dict(), "digits": []}
                for digit in reading.digits:
                    row["digits"].append({
                        "label": digit.prediction.label, "index": digit.prediction.index, "line": digit.line,
                        "box": digit.box_dict(),
                        "probabilities": [round(float(v), 6) for v in digit.prediction.probabilities]})
                print(json.dumps(row), flush=True)
            elif len(reading.digits) == 1:
                p = first.probabilities
                best = np.argsort(-p, kind="stable")[:top]
                ranking = "  ".join(f"{classes[i]}: {p[i]:.1%}" for i in best)
                print(f"{name}  {reading.label}  ({ranking})", flush=True)
            else:
                each = "  ".join(f"{d.prediction.label}: {d.prediction.probabilities[d.prediction.index]:.1%}"
                                 for d in reading.digits)
                print(f"{name}  {reading.label}  ({each})", flush=True)
    return EXIT_ERROR if failures else 0


# --------------------------------------------------------------------------
# bpnn gradcheck / serve / recipes
# --------------------------------------------------------------------------
def cmd_gradcheck(args: argparse.Namespace) -> int:
    """``bpnn gradcheck``: worst relative error per layer; exit 1 above the tolerance."""
    from .experiment import build_network
    from .nn.gradcheck import gradient_check

    settings = Settings({name: getattr(args, name) for name in ("layers", "activation", "output", "cost", "init",
                                                                "seed")})
    settings.check()
    sizes = settings.layers
    net = build_network(settings, sizes)
    rng = np.random.default_rng(args.seed)
    X = rng.random((args.samples, sizes[0]))
    y = rng.integers(0, sizes[-1], args.samples)
    result = gradient_check(net, X, y, eps=args.eps, max_checks=args.max_checks, seed=args.seed,
                            tolerance=args.tolerance)
    print(f"gradient check of {net!r}: {args.samples} random samples, eps {args.eps:g}, float64")
    for i, (layer, error) in enumerate(zip(net.dense_layers, result), start=1):
        verdict = "ok" if error <= args.tolerance else "FAILED"
        print(f"layer {i}  {layer.n_in:>5} -> {layer.n_out:<5}  worst relative error {error:.2e}  {verdict}")
    if not result.passed:
        print(f"bpnn: error: backpropagation and central differences disagree (worst {result.worst:.2e} > "
              f"{args.tolerance:g})", file=sys.stderr)
        return EXIT_ERROR
    print(f"all layers agree within {args.tolerance:g}")
    return 0


def _numbers(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        raise CommandError(f"--{what} takes numbers separated by commas, like 1,0; got {text!r}") from None
    if not all(np.isfinite(values)):
        raise CommandError(f"--{what}: the numbers must be finite, got {text!r}")
    return values


def _trace_subject(args: argparse.Namespace):
    """The network, the sample and its target that ``bpnn trace`` follows."""
    from .experiment import build_network, load_data

    model = _load_model(args.model) if args.model else None
    ds = None
    name = args.dataset or (model.metadata.get("dataset") or {}).get("name") if model is not None else args.dataset
    if name and args.input is None:
        recorded = (model.metadata.get("dataset") or {}) if model is not None else {}
        data = Settings(dataset=name, validation=0, classes=recorded.get("classes"),
                        data_dir=args.data_dir or recorded.get("data_dir"), dtype="float64")
        ds = load_data(data, progress=_show_progress(False), test_only=True)
        if args.index >= len(ds.test):
            raise CommandError(f"--index {args.index}: the {ds.name} test split has {len(ds.test)} images "
                               f"(0..{len(ds.test) - 1})")
    if model is not None:
        net = model.network
        if any(getattr(args, n) is not None for n in ("layers", "hidden")):
            raise CommandError("--layers and --hidden describe a new network; a MODEL brings its own")
    else:
        if args.layers is not None:
            sizes = list(args.layers)
        elif ds is not None:
            sizes = [ds.n_features, *(args.hidden or [30]), ds.n_classes]
        else:
            n_in = len(_numbers(args.input, "input")) if args.input else 2
            sizes = [n_in, *(args.hidden or [2]), 1]
        settings = Settings({"layers": sizes, "dtype": "float64", **{n: getattr(args, n) for n in
                             ("activation", "output", "cost", "init", "seed")}})
        settings.check()
        net = build_network(settings, sizes)
    if ds is not None:
        if ds.n_features != net.n_inputs:
            raise CommandError(f"the network takes {net.n_inputs} inputs but {ds.name} images have "
                               f"{ds.n_features}; give matching --layers or another --dataset")
        x = ds.test.X[args.index]
        if model is not None:
            x = model.preprocessing.standardize_inputs(x.reshape(1, -1))[0]
        target = _numbers(args.target, "target") if args.target else int(ds.test.y[args.index])
        where = f"{ds.name} test image {args.index} (label {int(ds.test.y[args.index])})"
    else:
        if args.input is None and net.n_inputs != 2:
            raise CommandError(f"the network takes {net.n_inputs} inputs: give --input (numbers separated by "
                               f"commas) or --dataset")
        x = _numbers(args.input, "input") if args.input else [1.0, 0.0]
        if len(x) != net.n_inputs:
            raise CommandError(f"--input has {len(x)} numbers but the network takes {net.n_inputs}")
        if args.target is not None:
            target = _numbers(args.target, "target")
        elif net.n_outputs == 1 and len(x) == 2 and set(x) <= {0.0, 1.0}:
            target = float(x[0] != x[1])                     # XOR
        else:
            raise CommandError("give --target: a class index or the target values")
        where = "XOR" if net.sizes[0] == 2 and net.sizes[-1] == 1 and args.target is None else "the given sample"
    if isinstance(target, list) and len(target) == 1:
        target = target[0] if net.n_outputs == 1 else int(target[0]) if float(target[0]).is_integer() else target
    return net, x, target, where


def cmd_trace(args: argparse.Namespace) -> int:
    """``bpnn trace``: one sample through the four equations, beside the per-neuron model and central differences."""
    from .nn.tracing import trace

    net, x, target, where = _trace_subject(args)
    try:
        result = trace(net, x, target, eta=args.eta, eps=args.eps, reference=args.reference)
    except ValueError as err:
        raise CommandError(str(err)) from None
    if args.json:
        print(json.dumps({"sample": where, **result.to_dict(full=args.full or None)}))
    else:
        print(f"Sample: {where}")
        print(result.format(full=args.full or None))
    if not result.passed:
        print("bpnn: error: the three ways of computing the derivatives disagree (see the lines marked ✗)",
              file=sys.stderr)
        return EXIT_ERROR
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """``bpnn serve``."""
    try:
        from .web import serve
    except ImportError as err:
        raise CommandError(f"bpnn serve needs the web packages ({err.name} is missing); "
                           f"install them with: pip install fastapi uvicorn python-multipart") from None
    if args.model is not None:
        path = Path(args.model)
        if path.is_dir():
            raise CommandError(f"{args.model} is a folder, not a model file; give the .safetensors file written "
                               f"by 'bpnn train --out'")
        if not path.is_file():
            raise CommandError(f"{args.model}: no such model file; make one with 'bpnn train --out {args.model}' "
                               f"or run 'bpnn serve' without MODEL for a quick one")
    return serve(args.model, args.host, args.port, max_body=max(1024, int(args.max_upload_mb * 1024 * 1024)),
                 data_dir=args.data_dir, training=args.training)


def cmd_sweep(args: argparse.Namespace) -> int:
    """``bpnn sweep``: spec -> :func:`bpnn.sweep.run_sweep` -> summary table and plot."""
    from . import sweep as sw

    spec = sw.load_spec(args.spec)
    out = Path(args.out or Path("sweeps") / spec.name)
    trials = spec.trials()
    done = {r["key"] for r in sw.read_results(out / "results.jsonl") if not r.get("error")}
    if args.dry_run:
        for trial in trials:
            state = "done" if trial.key in done else "to run"
            print(f"{trial.key}  seed {trial.seed}  {json.dumps(trial.values, default=str)}  [{state}]")
        print(f"{len(trials)} trials, {len(done & {t.key for t in trials})} done, results in {out / 'results.jsonl'}")
        return 0
    remaining = sum(1 for t in trials if t.key not in done)
    print(f"sweep {spec.name}: {len(trials)} trials ({remaining} to run) on "
          f"{args.scheduler or 'a local Dask cluster'}; results in {out / 'results.jsonl'}", flush=True)
    bar = None
    if remaining and _show_progress(args.quiet):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(trials), initial=len(trials) - remaining, unit="trial", file=sys.stderr)
    errors = 0

    def on_result(record: dict, finished: int, total: int) -> None:
        nonlocal errors
        if record.get("error"):
            errors += 1
            print(f"bpnn: trial {record['key']} failed: {record['error']}", file=sys.stderr, flush=True)
        if bar is not None:
            bar.update(1)
            top = sw.best(spec, [r for r in sw.read_results(out / "results.jsonl")])
            if top is not None:
                bar.set_postfix_str(f"best {spec.metric} {top['metrics'][spec.metric]:.4g}")
        elif not args.quiet:
            value = record["metrics"].get(spec.metric)
            shown = f"{spec.metric} {value:.4g}" if isinstance(value, (int, float)) else "error"
            print(f"[{finished}/{total}] seed {record['seed']} {json.dumps(record['values'], default=str)}: {shown}",
                  flush=True)

    try:
        records = sw.run_sweep(spec, out, scheduler=args.scheduler, workers=args.workers, on_result=on_result)
    finally:
        if bar is not None:
            bar.close()
    command = " ".join(["bpnn sweep", args.spec] + (["--out", str(args.out)] if args.out else []))
    table = sw.summarize(spec, records, command)
    (out / "summary.md").write_text(table)
    plot = sw.plot_results(spec, records, out / "plot.png")
    print(table)
    print(f"wrote {out / 'summary.md'}" + (f" and {plot}" if plot else ""))
    return EXIT_ERROR if errors else 0


def cmd_baseline(args: argparse.Namespace) -> int:
    """``bpnn baseline``."""
    from .baselines import BASELINES, run_baseline

    settings = Settings({name: getattr(args, name) for name in SETTINGS if hasattr(args, name)})
    outcome = run_baseline(args.name, settings)
    if args.json:
        print(json.dumps(outcome))
    else:
        print(f"{BASELINES[args.name].title} on {outcome['dataset']} ({outcome['n_train']} training images): "
              f"test accuracy {outcome['test_accuracy']:.2%} ({outcome['test_correct']}/{outcome['test_total']}); "
              f"fit {outcome['fit_seconds']:.1f}s, predict {outcome['predict_seconds']:.2f}s")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``bpnn export MODEL --onnx OUT.onnx``."""
    from .export import export_onnx

    model = _load_model(args.model)
    onnx_model = export_onnx(model, args.onnx)
    outputs = ", ".join(o.name for o in onnx_model.graph.output)
    print(f"wrote {args.onnx}: {model.network!r}, {len(onnx_model.graph.node)} nodes, opset "
          f"{onnx_model.opset_import[0].version}; input 'input' ({model.network.dtype.name}, N x "
          f"{model.network.n_inputs}), outputs {outputs}")
    return 0


def cmd_augment(args: argparse.Namespace) -> int:
    """``bpnn augment --dataset NAME --augment SPEC --out PNG``."""
    from . import plots
    from .augment import describe, sample_grid
    from .experiment import check_output_file, load_data, make_augmentation

    if args.images > 64 or args.variants > 32:
        raise SettingError(f"at most 64 images of 32 variants each, got --images {args.images} --variants "
                           f"{args.variants}")
    values = {k: getattr(args, k) for k in ("dataset", "data_dir", "augment", "seed") if hasattr(args, k)}
    settings = Settings.from_sources(cli={**values, "validation": 0})
    settings.check()
    check_output_file("--out", args.out)
    ds = load_data(settings, progress=_show_progress(False))
    augmentation = make_augmentation(settings, ds)
    rng = np.random.default_rng(settings.seed)
    rows = np.sort(rng.choice(len(ds.train), size=min(args.images, len(ds.train)), replace=False))
    X = ds.train.X[rows]
    grid = ds.preprocessing.unstandardize_inputs(
        sample_grid(X, augmentation, rng, args.variants, ds.preprocessing.image_shape))
    labels = [ds.classes[int(y)] for y in ds.train.y[rows]]
    plots.augmented_samples(grid, labels, args.out, title=f"{ds.name}: --augment {settings.augment} "
                            f"({describe(augmentation)})")
    print(f"wrote {args.out}: {len(X)} training images of {ds.name}, each with {args.variants} augmented versions "
          f"({describe(augmentation)})")
    return 0


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
    header = "\n".join([f"recipe {recipe.name}: {recipe.title}", f"source: {recipe.source}",
                        *([f"note: {recipe.notes}"] if recipe.notes else []),
                        f"run: bpnn train --recipe {recipe.name}   (or save this as a file for --config)"])
    sys.stdout.write(Settings.from_sources(recipe.name).to_toml(header))
    return 0


# --------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------
def _one_line(err: BaseException) -> str:
    if isinstance(err, OSError) and not isinstance(err, BpnnError) and err.strerror:
        return f"{err.filename}: {err.strerror}" if err.filename else err.strerror
    return " ".join((str(err) or type(err).__name__).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bpnn`` command line; return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).
    """
    parser = build_parser()
    try:
        args = _parse(parser, argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    debug = bool(os.environ.get("BPNN_DEBUG"))
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
    except (ValueError, OSError) as err:   # BpnnError, DataError, SettingError are ValueErrors
        if debug:
            raise
        print(f"bpnn: error: {_one_line(err)}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    except MemoryError:
        if debug:
            raise
        print("bpnn: error: not enough memory for this request (an allocation failed); use smaller inputs or a "
              "smaller network; BPNN_MEMORY_BUDGET sets the size that bpnn refuses up front", file=sys.stderr,
              flush=True)
        return EXIT_ERROR
    except Exception as err:          # a bug: one line and where to report it, not a traceback
        if debug:
            raise
        print(f"bpnn: error: internal error ({type(err).__name__}: {_one_line(err)}); this is a bug in bpnn "
              f"{__version__}: please report it with the output of the same command run with BPNN_DEBUG=1",
              file=sys.stderr, flush=True)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
