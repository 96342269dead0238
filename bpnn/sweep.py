"""Hyper-parameter sweeps: many :func:`bpnn.experiment.run` calls, on one machine or a Dask cluster.

A sweep file (TOML) names the base settings, the axes and the seeds::

    [sweep]
    name = "e2-hidden-units"
    recipe = "s1"                 # start from a recipe (optional)
    seeds = 3                     # seeds 0, 1, 2 (or a list such as [0, 5])
    metric = "test_accuracy"      # what the summary and the progress bar report
    samples = 0                   # draws of the random axes (0: none)

    [settings]                    # fixed settings over the recipe
    data_dir = "../shared/data"

    [grid]                        # every combination of these values
    hidden = [5, 10, 20, 30]

    [random]                      # one value per sample, drawn with the sweep's own seed
    eta = { low = 0.1, high = 10.0, log = true }

    [plot.marks]                  # vertical lines on the plot (e.g. rules of thumb)
    "log2(n)" = 9.6

Every trial (a combination of axis values and a seed) is one ``run(settings)``
(or one :func:`bpnn.baselines.run_baseline` when the ``baseline`` axis names
one).  Each finished trial is appended by the client to ``results.jsonl`` in
the output folder, one JSON record with the settings, seed, metrics, timings,
host and error (if any); running the same sweep again skips the trials whose
records are there, so a sweep survives Ctrl-C, a crash or a lost worker and
resumes.  A trial that raises is recorded with its error and the others go on;
the next run tries it again (its newest record counts).

Trials run on Dask: by default a :class:`distributed.LocalCluster` with one
worker process per core and one BLAS thread per worker; ``scheduler=
"tcp://HOST:PORT"`` sends them to an existing cluster.  Workers load the data
themselves, by name or path (the settings' ``dataset`` and ``data_dir``), so
no array is pickled; a worker lost mid-trial costs only that trial, which the
scheduler runs again elsewhere.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import platform
import socket
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from .settings import RESUMABLE, Settings, SettingError, parse_setting, read_toml

__all__ = ["SweepSpec", "Trial", "load_spec", "run_trial", "run_sweep", "read_results", "summarize",
           "plot_results", "SweepError"]

#: The pseudo-setting that makes a trial a non-neural baseline (see :mod:`bpnn.baselines`).
BASELINE_AXIS = "baseline"
#: Summary metrics copied from a run into its record.
METRICS = ("test_accuracy", "test_loss", "test_correct", "test_total", "final_val_accuracy", "final_loss",
           "epochs_run", "seconds_per_epoch", "best_epoch", "n_train", "fit_seconds", "predict_seconds")


class SweepError(SettingError):
    """A sweep file is malformed (the message names the file, the key and the fix)."""


@dataclass(frozen=True)
class RandomRange:
    """An axis drawn at random: uniform in [low, high], or log-uniform; integers rounded."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def draw(self, rng: np.random.Generator) -> float | int:
        if self.log:
            value = float(np.exp(rng.uniform(np.log(self.low), np.log(self.high))))
        else:
            value = float(rng.uniform(self.low, self.high))
        return int(round(value)) if self.integer else value


@dataclass(frozen=True)
class Trial:
    """One run of a sweep: the settings it changes and its seed.

    Attributes
    ----------
    values : dict
        The sweep's fixed settings and this trial's axis values (not the recipe's).
    seed : int
    """

    values: dict[str, Any]
    seed: int

    @property
    def key(self) -> str:
        """A stable identity: the same values and seed always give the same key (used to resume).

        Settings that change no number (where the data are cached, output files) are left out, so
        a sweep moved to another machine or folder still finds its finished trials."""
        values = {k: v for k, v in self.values.items() if k not in RESUMABLE}
        text = json.dumps({"values": values, "seed": self.seed}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def setting(self) -> dict[str, Any]:
        """The values without the seed: trials that differ only in their seed share it."""
        return dict(self.values)


@dataclass
class SweepSpec:
    """A parsed sweep file.

    Attributes
    ----------
    name : str
    path : Path or None
    recipe : str or None
    settings : dict
        Fixed settings over the recipe.
    grid : dict of str to list
    random : dict of str to RandomRange
    samples : int
    sample_seed : int
    seeds : list of int
    metric : str
    marks : dict of str to float
    """

    name: str
    path: Path | None = None
    recipe: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    random: dict[str, RandomRange] = field(default_factory=dict)
    samples: int = 0
    sample_seed: int = 0
    seeds: list[int] = field(default_factory=lambda: [0])
    metric: str = "test_accuracy"
    marks: dict[str, float] = field(default_factory=dict)

    @property
    def axes(self) -> list[str]:
        return [*self.grid, *self.random]

    def trials(self) -> list[Trial]:
        """Every trial: the grid's combinations (times ``samples`` draws of the random axes) times the seeds."""
        combos = [dict(zip(self.grid, values)) for values in itertools.product(*self.grid.values())] or [{}]
        if self.random:
            rng = np.random.default_rng(self.sample_seed)
            draws = [{k: r.draw(rng) for k, r in self.random.items()} for _ in range(max(1, self.samples))]
            combos = [{**c, **d} for c in combos for d in draws]
        return [Trial({**self.settings, **combo}, seed) for combo in combos for seed in self.seeds]

    def trial_settings(self, trial: Trial) -> Settings:
        """The full :class:`Settings` of a trial (recipe < fixed settings < axis values, and the seed)."""
        values = {k: v for k, v in trial.values.items() if k != BASELINE_AXIS}
        return Settings.from_sources(self.recipe, cli={**values, "seed": trial.seed})


def _fail(path: Path | None, text: str) -> SweepError:
    return SweepError(f"sweep file {path}: {text}" if path else text)


def _check_value(path: Path | None, name: str, value: Any) -> Any:
    if name == BASELINE_AXIS:
        from .baselines import BASELINES

        if value not in BASELINES:
            raise _fail(path, f"unknown baseline {value!r}; choose from {', '.join(BASELINES)}")
        return value
    try:
        parse_setting(name, value)
    except SettingError as err:
        raise _fail(path, str(err)) from None
    return value


def load_spec(path: str | os.PathLike | None = None, document: Mapping[str, Any] | None = None) -> SweepSpec:
    """Read and check a sweep file (or an already parsed ``document``).

    Every setting name and value is checked (each trial's settings are built
    once), so a typo fails before any trial runs.

    Raises
    ------
    SweepError
        Naming the file, the key and the problem.
    """
    where = Path(path) if path is not None else None
    if document is None:
        document = read_toml(path, f"sweep file {path}", SweepError)
    unknown = set(document) - {"sweep", "settings", "grid", "random", "plot"}
    if unknown:
        raise _fail(where, f"unknown table(s) {sorted(unknown)}; use [sweep], [settings], [grid], [random], [plot]")
    head = dict(document.get("sweep", {}))
    name = head.pop("name", None) or (where.stem if where else "sweep")
    seeds = head.pop("seeds", 1)
    if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds >= 1:
        seeds = list(range(seeds))
    if not (isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                       for s in seeds)):
        raise _fail(where, f"seeds must be a count such as 3 or a list of non-negative integers, got {seeds!r}")
    spec = SweepSpec(name=str(name), path=where, recipe=head.pop("recipe", None), seeds=seeds,
                     metric=str(head.pop("metric", "test_accuracy")), samples=int(head.pop("samples", 0)),
                     sample_seed=int(head.pop("sample_seed", 0)))
    if head:
        raise _fail(where, f"unknown key(s) {sorted(head)} in [sweep]; use name, recipe, seeds, metric, samples, "
                           f"sample_seed")
    if spec.metric not in METRICS:
        raise _fail(where, f"metric {spec.metric!r} is not recorded; choose from {', '.join(METRICS)}")
    for key, value in dict(document.get("settings", {})).items():
        spec.settings[key.replace("-", "_")] = _check_value(where, key.replace("-", "_"), value)
    for key, values in dict(document.get("grid", {})).items():
        key = key.replace("-", "_")
        if not isinstance(values, list) or not values:
            raise _fail(where, f"grid axis {key!r} must be a non-empty list of values")
        spec.grid[key] = [_check_value(where, key, v) for v in values]
    for key, table in dict(document.get("random", {})).items():
        key = key.replace("-", "_")
        if not isinstance(table, dict) or not {"low", "high"} <= set(table) or set(table) - {"low", "high", "log"}:
            raise _fail(where, f"random axis {key!r} must be a table {{ low = ..., high = ..., log = true|false }}")
        low, high, log = table["low"], table["high"], bool(table.get("log", False))
        if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and low < high
                and (low > 0 or not log)):
            raise _fail(where, f"random axis {key!r}: need low < high (and low > 0 for log), got {low!r}, {high!r}")
        integer = isinstance(low, int) and isinstance(high, int)
        spec.random[key] = RandomRange(float(low), float(high), log, integer)
    if spec.random and spec.samples < 1:
        raise _fail(where, "random axes need [sweep] samples = N (how many draws)")
    overlap = set(spec.grid) & set(spec.random) | (set(spec.settings) & set(spec.axes))
    if overlap:
        raise _fail(where, f"{sorted(overlap)} appear twice; give each setting in one place")
    if "seed" in spec.axes or "seed" in spec.settings:
        raise _fail(where, "the seed is the sweep's own axis: set [sweep] seeds instead")
    spec.marks = {str(k): float(v) for k, v in dict(document.get("plot", {}).get("marks", {})).items()}
    for trial in spec.trials():       # every trial's settings are valid before anything runs
        try:
            spec.trial_settings(trial).check()
        except (SettingError, ValueError) as err:
            raise _fail(where, f"the trial {trial.values} is invalid: {err}") from None
    return spec


# --------------------------------------------------------------------------
# one trial (runs on a worker)
# --------------------------------------------------------------------------
def run_trial(recipe: str | None, values: dict[str, Any], seed: int, threads: int = 1) -> dict[str, Any]:
    """Run one trial and return its record; an exception becomes the record's ``error``.

    Called on a Dask worker with plain arguments (the worker loads the data
    itself); BLAS is limited to ``threads`` threads so that one trial per core
    does not oversubscribe the machine.
    """
    from threadpoolctl import threadpool_limits

    started = time.time()
    record: dict[str, Any] = {"values": values, "seed": seed, "host": socket.gethostname(), "pid": os.getpid(),
                              "started_at": started, "error": None, "metrics": {}, "timings": {}}
    try:
        with threadpool_limits(threads):
            spec = SweepSpec(name="trial", recipe=recipe)
            trial = Trial(values, seed)
            settings = spec.trial_settings(trial)
            record["settings"] = settings.to_dict()        # every setting the trial ran with
            if values.get(BASELINE_AXIS):
                from .baselines import run_baseline

                outcome = run_baseline(values[BASELINE_AXIS], settings)
                record["metrics"] = {k: outcome[k] for k in METRICS if k in outcome}
                record["timings"] = {"fit": outcome["fit_seconds"], "predict": outcome["predict_seconds"]}
            else:
                from .experiment import run

                result = run(settings)
                record["metrics"] = {k: result.summary.get(k) for k in METRICS if k in result.summary}
                record["timings"] = dict(result.timings)
    except Exception as err:           # recorded, and the sweep goes on
        record["error"] = f"{type(err).__name__}: {err}"
    record["seconds"] = time.time() - started
    return record


# --------------------------------------------------------------------------
# the results file
# --------------------------------------------------------------------------
def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a ``results.jsonl`` (a line cut by a crash is skipped)."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "key" in record:
            records.append(record)
    return records


def _append(path: Path, record: dict[str, Any]) -> None:
    """Append one record as a line (after a newline if a crash cut the last line short), synced to disk."""
    with open(path, "ab") as f:
        if f.tell():
            with open(path, "rb") as tail:
                tail.seek(-1, os.SEEK_END)
                if tail.read(1) != b"\n":
                    f.write(b"\n")
        f.write((json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


# --------------------------------------------------------------------------
# running a sweep
# --------------------------------------------------------------------------
def _client(scheduler: str | None, workers: int | None):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SweepError("sweeps run on Dask; install it with: pip install 'bpnn[sweep]' "
                         "(dask and distributed)") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError) as err:
            raise SweepError(f"cannot reach the Dask scheduler at {scheduler} ({err}); start one with "
                             f"'dask scheduler' and workers with 'dask worker {scheduler}'") from None
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                           scheduler_kwargs={"dashboard": False}, dashboard_address=None, silence_logs=40)
    return Client(cluster), cluster


def run_sweep(spec: SweepSpec, out_dir: str | os.PathLike, *, scheduler: str | None = None,
              workers: int | None = None, on_result: Callable[[dict, int, int], None] | None = None,
              ) -> list[dict[str, Any]]:
    """Run the trials of ``spec`` that ``out_dir/results.jsonl`` does not hold yet.

    Parameters
    ----------
    spec : SweepSpec
    out_dir : path
        Holds ``results.jsonl`` (appended as each trial finishes).
    scheduler : str, optional
        ``tcp://HOST:PORT`` of an existing Dask cluster; default a local one.
    workers : int, optional
        Worker processes of the local cluster (default: one per core).
    on_result : callable, optional
        ``on_result(record, done, total)`` after each trial (a progress bar).

    Returns
    -------
    list of dict
        Every record of the sweep (earlier ones included), in trial order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    trials = spec.trials()
    done = {r["key"] for r in read_results(results) if not r.get("error")}     # failed trials run again
    todo = [t for t in trials if t.key not in done]
    if todo:
        client, cluster = _client(scheduler, workers)
        try:
            from distributed import as_completed

            futures = {client.submit(run_trial, spec.recipe, t.values, t.seed, key=f"bpnn-trial-{t.key}",
                                     pure=False): t for t in todo}
            finished = len(trials) - len(todo)
            for future in as_completed(futures):
                trial = futures[future]
                try:
                    record = future.result()
                except Exception as err:        # the task itself failed (a worker died too often)
                    record = {"values": trial.values, "seed": trial.seed, "error": f"{type(err).__name__}: {err}",
                              "metrics": {}, "timings": {}}
                record.update(key=trial.key, sweep=spec.name, finished_at=time.time(),
                              bpnn_version=_version(), python=platform.python_version())
                _append(results, record)
                finished += 1
                if on_result:
                    on_result(record, finished, len(trials))
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    by_key = {r["key"]: r for r in read_results(results)}       # a trial's newest record counts
    return [by_key[t.key] for t in trials if t.key in by_key]


def _version() -> str:
    from ._version import __version__

    return __version__


# --------------------------------------------------------------------------
# summaries
# --------------------------------------------------------------------------
def _label(values: Mapping[str, Any], axes: Iterable[str]) -> str:
    return ", ".join(f"{a} {_shown(values.get(a))}" for a in axes)


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def group(spec: SweepSpec, records: list[dict[str, Any]]) -> list[tuple[dict, list[dict]]]:
    """Records grouped by their axis values (seeds together), in the order of the trials."""
    groups: dict[str, tuple[dict, list[dict]]] = {}
    for record in records:
        values = {a: record["values"].get(a) for a in spec.axes}
        key = json.dumps(values, sort_keys=True, default=str)
        groups.setdefault(key, (values, []))[1].append(record)
    return list(groups.values())


def summarize(spec: SweepSpec, records: list[dict[str, Any]], command: str = "") -> str:
    """A Markdown table: one row per setting, the metric's mean ± std over the seeds."""
    metric = spec.metric
    percent = metric.endswith("accuracy")
    axes = spec.axes or ["(base)"]
    lines = [f"### {spec.name}", ""]
    if command:
        lines += [f"`{command}`", ""]
    base = f"recipe {spec.recipe}" if spec.recipe else "the default settings"
    fixed = ", ".join(f"{k} = {_shown(v)}" for k, v in spec.settings.items() if k != "data_dir")
    lines += [f"From {base}{' with ' + fixed if fixed else ''}; seeds {', '.join(map(str, spec.seeds))}.", ""]
    lines += ["| " + " | ".join(axes) + f" | {metric} (mean ± std) | per seed | s/epoch (bpnn) or fit s "
              "| predict s | errors |", "|" + "---|" * (len(axes) + 5)]
    for values, group_records in group(spec, records):
        ok = [r for r in group_records if not r.get("error") and r["metrics"].get(metric) is not None]
        numbers = [float(r["metrics"][metric]) * (100 if percent else 1) for r in ok]
        unit = "%" if percent else ""
        if len(numbers) > 1:
            cell = f"**{statistics.fmean(numbers):.2f}{unit} ± {statistics.stdev(numbers):.2f}**"
        elif numbers:
            cell = f"**{numbers[0]:.2f}{unit}** (1 run)"
        else:
            cell = "–"
        per_seed = ", ".join(f"{v:.2f}" for v in numbers)
        speeds = [r["metrics"].get("seconds_per_epoch") or r["timings"].get("fit") for r in ok]
        speeds = [s for s in speeds if s is not None]
        speed = f"{statistics.fmean(speeds):.3g}" if speeds else "–"
        predicts = [r["timings"]["predict"] for r in ok if "predict" in r["timings"]]
        predict = f"{statistics.fmean(predicts):.3g}" if predicts else "–"
        errors = sum(1 for r in group_records if r.get("error"))
        cells = [_shown(values.get(a)) for a in spec.axes] or ["–"]
        lines.append("| " + " | ".join(cells) + f" | {cell} | {per_seed} | {speed} | {predict} | {errors or ''} |")
    return "\n".join(lines) + "\n"


def plot_results(spec: SweepSpec, records: list[dict[str, Any]], path: str | os.PathLike) -> Path | None:
    """The metric against the first swept axis (mean ± std over seeds; one line per value of the others).

    Numeric axes are drawn as lines (log scale when the values span more than
    a factor of 20), others as groups of bars.  ``[plot.marks]`` become
    vertical lines.  Returns None when nothing is swept.
    """
    if not spec.axes:
        return None
    from matplotlib.figure import Figure

    metric, x_axis = spec.metric, spec.axes[0]
    percent = metric.endswith("accuracy")
    others = spec.axes[1:]
    series: dict[str, list[tuple[Any, float, float]]] = {}
    speeds: dict[str, list[tuple[Any, float]]] = {}
    for values, group_records in group(spec, records):
        numbers = [float(r["metrics"][metric]) * (100 if percent else 1) for r in group_records
                   if not r.get("error") and r["metrics"].get(metric) is not None]
        if not numbers:
            continue
        x = values[x_axis]
        x = x[0] if isinstance(x, list) and len(x) == 1 else x
        std = statistics.stdev(numbers) if len(numbers) > 1 else 0.0
        series.setdefault(_label(values, others) or metric, []).append((x, statistics.fmean(numbers), std))
        per_epoch = [r["metrics"].get("seconds_per_epoch") for r in group_records if not r.get("error")]
        if per_epoch and all(v is not None for v in per_epoch):
            speeds.setdefault(_label(values, others) or metric, []).append((x, statistics.fmean(per_epoch)))
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for s in series.values() for x, _, _ in s)
    timed = numeric and bool(speeds)
    fig = Figure(figsize=(11.5 if timed else 7.5, 4.5), dpi=110, layout="constrained")
    ax = fig.add_subplot(1, 2 if timed else 1, 1)
    if numeric:
        for name, points in series.items():
            points.sort(key=lambda p: p[0])
            xs, ys, es = zip(*points)
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=name)
        xs_all = [x for s in series.values() for x, _, _ in s]
        if xs_all and min(xs_all) > 0 and max(xs_all) / min(xs_all) > 20:
            ax.set_xscale("log")
        for i, (label, x) in enumerate(spec.marks.items()):
            ax.axvline(x, color="grey", linestyle=":", linewidth=1)
            ax.annotate(label, (x, 0.02 + 0.07 * (i % 4)), xycoords=("data", "axes fraction"), rotation=0,
                        fontsize=8, color="dimgrey", ha="left")
    else:
        labels = list(dict.fromkeys(str(x) for s in series.values() for x, _, _ in s))
        width = 0.8 / max(1, len(series))
        for i, (name, points) in enumerate(series.items()):
            lookup = {str(x): (y, e) for x, y, e in points}
            xs = [j + i * width for j, label in enumerate(labels) if label in lookup]
            ys = [lookup[label][0] for label in labels if label in lookup]
            es = [lookup[label][1] for label in labels if label in lookup]
            ax.bar(xs, ys, width=width, yerr=es, capsize=3, label=name)
        ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(labels))], labels)
    ax.set_xlabel(x_axis)
    ax.set_ylabel(f"{metric}{' (%)' if percent else ''}, mean ± std over {len(spec.seeds)} seeds")
    ax.set_title(spec.name)
    ax.grid(True, alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    if timed:                         # and the time it costs, against the same axis
        right = fig.add_subplot(1, 2, 2, sharex=ax)
        for name, points in speeds.items():
            points.sort(key=lambda p: p[0])
            right.plot(*zip(*points), marker="o", label=name)
        right.set_xlabel(x_axis)
        right.set_ylabel("seconds per epoch (mean over the seeds)")
        right.set_title("training time")
        right.grid(True, alpha=0.3)
        if len(speeds) > 1:
            right.legend(fontsize=8)
    out = Path(path)
    fig.savefig(out)
    return out


def best(spec: SweepSpec, records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The finished record with the highest metric (lowest for a loss)."""
    ok = [r for r in records if not r.get("error") and r["metrics"].get(spec.metric) is not None]
    if not ok:
        return None
    sign = -1 if "loss" in spec.metric else 1
    return max(ok, key=lambda r: sign * float(r["metrics"][spec.metric]))
