"""Test accuracy against wall-clock minutes for the recipes, so a user can pick a budget.

    python scripts/time_to_accuracy.py s2 s4-framework best
    python scripts/time_to_accuracy.py mnist-record fashion-record --seeds 0,1,2
    python scripts/time_to_accuracy.py --report          # table and plot from the runs recorded so far

Each recipe is trained with ``bpnn.experiment.run`` exactly as ``bpnn train
--recipe NAME --seed S`` trains it.  After every epoch a callback evaluates
the test set for this report only: the evaluation is outside the timed
training (each point's minutes are the sum of the epochs' training times),
and nothing is decided from it (the recipes were tuned on validation splits).
One JSON line per run goes to ``runs.jsonl`` (a run already there is skipped,
so the command resumes); ``summary.md`` and ``plot.png`` are written from all
the lines.  Data: ``$BPNN_DATA_DIR``, else ``../shared/data`` beside the
repository.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "experiments" / "results" / "time-to-accuracy"

#: accuracy marks of the table's "minutes to" columns, per data set
MARKS = {"mnist": (0.98, 0.985, 0.99), "fashion-mnist": (0.89, 0.90, 0.905)}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def train(recipe: str, seed: int) -> dict:
    """One run of ``recipe`` with ``seed``, with the test accuracy after every epoch."""
    from bpnn.callbacks import Callback
    from bpnn.experiment import load_data, run
    from bpnn.settings import Settings

    settings = Settings.from_sources(recipe, cli={"seed": seed})
    ds = load_data(settings)
    curve: list[tuple[int, float, float]] = []
    elapsed = [0.0]

    class TestEachEpoch(Callback):
        def on_epoch_end(self, net, record, history):
            elapsed[0] += record.seconds
            curve.append((record.epoch, elapsed[0], float(np.mean(net.predict(ds.test.X) == ds.test.y))))
            print(f"  [{recipe} seed {seed}] epoch {record.epoch}: loss {record.loss:.4f}, {record.seconds:.1f} s, "
                  f"test {100 * curve[-1][2]:.2f}%", flush=True)

    started = _dt.datetime.now()
    result = run(settings, data=ds, callbacks=[TestEachEpoch()],
                 log=lambda line: print(f"  [{recipe} seed {seed}] {line}", flush=True))
    wall = (_dt.datetime.now() - started).total_seconds()
    return {"recipe": recipe, "seed": seed, "dataset": ds.name, "epochs": [c[0] for c in curve],
            "train_seconds": [round(c[1], 3) for c in curve], "test_accuracy": [c[2] for c in curve],
            "final_test_accuracy": result.test.accuracy, "wall_seconds": round(wall, 1),
            "date": started.isoformat(timespec="seconds"), "cpu": _cpu(), "cores": os.cpu_count(),
            "blas_threads": max((i.get("num_threads", 0) for i in threadpool_info()), default=None),
            "bpnn": __import__("bpnn").__version__, "settings": settings.to_dict()}


def read_runs(path: Path) -> list[dict]:
    runs = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                runs.append(json.loads(line))
            except json.JSONDecodeError:      # a line cut short by an interrupted run
                continue
    return runs


def _minutes_to(run: dict, mark: float) -> float | None:
    for seconds, acc in zip(run["train_seconds"], run["test_accuracy"]):
        if acc >= mark:
            return seconds / 60
    return None


def summary(runs: list[dict]) -> str:
    by_recipe: dict[str, list[dict]] = {}
    for r in runs:
        by_recipe.setdefault(r["recipe"], []).append(r)
    lines = ["| recipe | data | seeds | test accuracy (final) | training minutes | minutes to reach |",
             "|---|---|---|---|---|---|"]
    for recipe, rs in by_recipe.items():
        accs = [100 * r["final_test_accuracy"] for r in rs]
        acc = f"**{statistics.mean(accs):.2f}%**" + (f" ± {statistics.stdev(accs):.2f}" if len(accs) > 1 else "")
        acc += f" ({', '.join(f'{a:.2f}' for a in accs)})" if len(accs) > 1 else ""
        minutes = [r["train_seconds"][-1] / 60 for r in rs]
        mins = f"{statistics.median(minutes):.1f}" + (f" ({min(minutes):.1f}–{max(minutes):.1f})" if len(rs) > 1
                                                      else "")
        marks = []
        for mark in MARKS.get(rs[0]["dataset"], ()):
            reached = [_minutes_to(r, mark) for r in rs]
            got = [m for m in reached if m is not None]
            text = f"{statistics.median(got):.1f}" if got else "–"
            if got and len(got) < len(reached):
                text += f" ({len(got)} of {len(reached)} seeds)"
            marks.append(f"{100 * mark:g}%: {text}")
        lines.append(f"| {recipe} | {rs[0]['dataset']} | {len(rs)} | {acc} | {mins} | {'; '.join(marks)} |")
    first = runs[0] if runs else {}
    threads = sorted({r.get("blas_threads") for r in runs}, key=str)
    lines += ["", f"CPU: {first.get('cpu', '?')}, {first.get('cores', '?')} cores, "
              f"{'/'.join(map(str, threads))} BLAS thread(s) per run; training minutes exclude the per-epoch "
              f"test evaluation of this report.", "", "Reproduce:", ""]
    by_seeds: dict[str, list[str]] = {}
    for recipe, rs in by_recipe.items():
        by_seeds.setdefault(",".join(str(s) for s in sorted({r["seed"] for r in rs})), []).append(recipe)
    for seeds, recipes in by_seeds.items():
        lines.append(f"    python scripts/time_to_accuracy.py {' '.join(recipes)} --seeds {seeds}")
    return "\n".join(lines) + "\n"


def plot(runs: list[dict], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    datasets = list(dict.fromkeys(r["dataset"] for r in runs))
    fig = Figure(figsize=(6.2 * len(datasets), 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, len(datasets)))
    for ax, name in zip(axes, datasets):
        recipes = list(dict.fromkeys(r["recipe"] for r in runs if r["dataset"] == name))
        for i, recipe in enumerate(recipes):
            colour = f"C{i}"
            mine = [x for x in runs if x["recipe"] == recipe]
            final = 100 * statistics.mean(r["final_test_accuracy"] for r in mine)
            for j, r in enumerate(mine):
                ax.plot(np.array(r["train_seconds"]) / 60, 100 * np.array(r["test_accuracy"]), color=colour,
                        lw=1.2, alpha=0.85, label=f"{recipe} ({final:.2f}%)" if j == 0 else None)
        low = {"mnist": 96.0, "fashion-mnist": 86.0}.get(name)
        if low is not None:      # a recipe that ends lower stays in the legend with its figure
            ax.set_ylim(low, 100.0 if name == "mnist" else 92.5)
        for mark in MARKS.get(name, ()):
            ax.axhline(100 * mark, color="0.8", lw=0.8, zorder=0)
        ax.set_xlabel("training minutes (on this 2-core machine)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle("test accuracy against training time, one line per seed", fontsize=10)
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/time_to_accuracy.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipes", nargs="*", metavar="RECIPE")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument("--out", default=str(OUT), help=f"folder for runs.jsonl, summary.md, plot.png [default: {OUT}]")
    p.add_argument("--report", action="store_true", help="only write the table and plot from the recorded runs")
    args = p.parse_args(argv)
    os.environ.setdefault("BPNN_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "runs.jsonl"
    if not args.report:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        for recipe in args.recipes:
            for seed in seeds:
                if any(r["recipe"] == recipe and r["seed"] == seed for r in read_runs(path)):
                    print(f"{recipe} seed {seed}: already recorded in {path}")
                    continue
                record = train(recipe, seed)
                with path.open("a") as f:
                    f.write(json.dumps(record) + "\n")
                print(f"{recipe} seed {seed}: test {100 * record['final_test_accuracy']:.2f}% after "
                      f"{record['train_seconds'][-1] / 60:.1f} training minutes", flush=True)
    runs = read_runs(path)
    if not runs:
        print(f"no runs recorded in {path}", file=sys.stderr)
        return 1
    (out / "summary.md").write_text(summary(runs))
    plot(runs, out / "plot.png")
    print((out / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
