#!/usr/bin/env python3
"""Re-measure the source articles' experiments (bpnn's recipes) and write the reproduction table.

Runs every recipe with every seed through :func:`bpnn.experiment.run` (the
same road as ``bpnn train --recipe NAME --seed S``), one after the other,
collects the runs' summaries, and writes a Markdown table: each experiment,
the figure its source reported, bpnn's mean ± standard deviation over the
seeds, every seed's value, the time per run, and the command.

Usage::

    python scripts/reproduce.py                          # all recipes, seeds 0 1 2 (hours on 2 cores)
    python scripts/reproduce.py --recipes s1,s4 --seeds 3
    python scripts/reproduce.py --recipes s0 --seeds 2 --extra="--epochs 2" --out /tmp/table.md   # a quick trial

``--extra`` takes ``bpnn train`` options (``--init scaled_normal``) applied to every run.

Runs go to a work folder (``--workdir``, default a temporary one) so files a
recipe writes (the s3 checkpoint) stay out of the way.  The raw summaries are
written next to the table as JSON (``.json`` instead of ``.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


sys.path.insert(0, str(ROOT))


def _recipes():
    from bpnn.recipes import RECIPES

    return RECIPES


def extra_settings(extra: list[str]) -> dict[str, str]:
    """``["--init", "scaled_normal", "--epochs", "2"]`` -> ``{"init": "scaled_normal", "epochs": "2"}``."""
    settings, i = {}, 0
    while i < len(extra):
        token = extra[i]
        if not token.startswith("--"):
            raise ValueError(f"--extra: expected an option such as --epochs, got {token!r}")
        name, _, value = token[2:].partition("=")
        if not value:
            if i + 1 < len(extra) and not extra[i + 1].startswith("--"):
                value, i = extra[i + 1], i + 1
            else:
                value = "true"
        settings[name.replace("-", "_")] = value
        i += 1
    return settings


def run_one(recipe: str, seed: int, workdir: Path, extra: list[str], log) -> dict:
    """Train one recipe with one seed; return its summary (with the wall time)."""
    from bpnn.experiment import run
    from bpnn.settings import Settings

    settings = Settings.from_sources(recipe, cli={**extra_settings(extra), "seed": seed})
    if settings.checkpoint:        # keep the recipe's checkpoint out of the way
        settings = settings.replace(checkpoint=str(workdir / Path(settings.checkpoint).name))
    started = time.perf_counter()
    result = run(settings)
    wall = time.perf_counter() - started
    log(f"  seed {seed}: test accuracy {result.test.accuracy:.2%} [{wall:.0f}s wall]")
    summary = dict(result.summary)
    summary["wall_seconds"] = wall
    return summary


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def render(results: dict[str, list[dict]], recipes, seeds: list[int], extra: list[str], elapsed: float) -> str:
    """The Markdown document for ``results`` (recipe name -> one summary per seed)."""
    import numpy as np

    lines = [
        "# Reproduction of the source articles' experiments",
        "",
        f"Measured by `python scripts/reproduce.py{' ' + shlex.join(sys.argv[1:]) if sys.argv[1:] else ''}` "
        f"on {time.strftime('%Y-%m-%d')}: bpnn {results and next(iter(results.values()))[0]['bpnn_version']}, "
        f"Python {platform.python_version()}, NumPy {np.__version__}, {platform.machine()}, "
        f"{os.cpu_count()} CPU cores; {_duration(elapsed)} in all.",
        f"Every experiment ran once per seed ({', '.join(map(str, seeds))}); the seed sets the initial weights, "
        "the shuffling and dropout (the data splits are fixed). Accuracy is on the test set, which no run "
        "looks at while training.",
        "",
    ]
    if extra:
        lines += [f"**Not the recipes' full settings:** every run had the extra options `{shlex.join(extra)}`.", ""]
    lines += [
        "| experiment | source reports | bpnn: test accuracy, mean ± std | per seed | epochs | time per run "
        "| command |",
        "|---|---|---|---|---|---|---|",
    ]
    notes = []
    for name, runs in results.items():
        recipe = recipes[name]
        accuracy = [100 * r["test_accuracy"] for r in runs]
        mean, std = _mean_std(accuracy)
        epochs = sorted({r["epochs_run"] for r in runs})
        epoch_text = "/".join(map(str, epochs))
        wall = statistics.fmean(r["wall_seconds"] for r in runs)
        per_epoch = statistics.fmean(r["seconds_per_epoch"] for r in runs)
        command = f"`bpnn train --recipe {name} --seed N{' ' + shlex.join(extra) if extra else ''}`"
        lines.append(
            f"| **{name.upper()}** {recipe.title} | {recipe.source} | **{mean:.2f}% ± {std:.2f}** | "
            f"{', '.join(f'{a:.2f}' for a in accuracy)} | {epoch_text} | {_duration(wall)} "
            f"({per_epoch:.2f} s/epoch) | {command} |"
        )
        if name == "s0":
            first = [r["first_loss"] * r["n_train"] for r in runs]
            last = [r["final_loss"] * r["n_train"] for r in runs]
            notes.append(
                f"- **S0** loss in the source's sum form ½Σ‖t−y‖² over the {runs[0]['n_train']} training digits "
                f"(bpnn's mean cost × n; the training loss is the running mean during the epoch): epoch 1 "
                f"{statistics.fmean(first):.1f}, epoch {runs[0]['epochs_run']} {statistics.fmean(last):.2f} "
                f"(source: 607.2 → 0.63)."
            )
        if any(r.get("stopped_epoch") for r in runs):
            stops = ", ".join(str(r.get("stopped_epoch") or r["epochs_run"]) for r in runs)
            best = ", ".join(str(r.get("best_epoch")) for r in runs)
            notes.append(f"- **{name.upper()}** early stopping: stopped at epochs {stops}; kept the weights of "
                         f"epochs {best}.")
        if recipe.notes:
            notes.append(f"- **{name.upper()}** {recipe.notes}")
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    recipes = _recipes()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", default=",".join(recipes),
                        help=f"comma-separated recipe names [default: {','.join(recipes)}]")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 [default: 3]")
    parser.add_argument("--out", default=str(ROOT / "docs" / "reproduction.md"), help="the Markdown file")
    parser.add_argument("--workdir", help="folder for the runs' files [default: a temporary folder]")
    parser.add_argument("--extra", default="", help="extra 'bpnn train' options for every run, e.g. '--epochs 1'")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    unknown = [n for n in names if n not in recipes]
    if unknown or args.seeds < 1:
        parser.error(f"unknown recipes {unknown}" if unknown else "--seeds must be >= 1")
    extra = shlex.split(args.extra)
    seeds = list(range(args.seeds))

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bpnn-reproduce-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for name in names:
            log(f"{name}: {recipes[name].title}")
            results[name] = [run_one(name, seed, workdir, extra, log) for seed in seeds]
    elapsed = time.perf_counter() - started
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(results, recipes, seeds, extra, elapsed))
    out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    log(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
