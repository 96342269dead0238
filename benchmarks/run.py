"""Run the benchmark: every framework in its own process, interleaved.

    python -m benchmarks                 # full run (a few minutes), writes benchmarks/results.md and .json
    python -m benchmarks --quick         # a few seconds: small subsets, 1 round; prints only

Each round runs, for every configuration, one process per framework, in the
order A B C D in even rounds and D C B A in odd ones, so that a slow spell of
the machine hits all frameworks alike.  A framework's time for a round is the
median of its epochs; the reported time is the median over the rounds.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

from .configs import CONFIGS, SUPPORTED

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FRAMEWORKS = ("bpnn", "bpnn-numpy", "torch", "sklearn", "loop")
LABELS = {"bpnn": "bpnn", "bpnn-numpy": "bpnn, kernels off (NumPy reference)", "torch": "PyTorch",
          "sklearn": "scikit-learn", "loop": "per-sample loop"}


def parse(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="regression guard: 6,000 training rows, 1 epoch, 1 round, one process per framework; "
                        "prints the table and never fails on timing")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3; quick 1)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per process (default 3, so that the median skips the warm-up epoch; quick 1)")
    p.add_argument("--threads", type=int, default=2, help="BLAS / intra-op threads for every framework (default 2)")
    p.add_argument("--configs", default="a,b,c", help="comma-separated subset of a,b,c")
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="comma-separated subset of " + ",".join(FRAMEWORKS))
    p.add_argument("--data", default=None, help="folder with the four IDX files (default: Fashion-MNIST, see benchmarks/data.py)")
    p.add_argument("--n-train", type=int, default=None, help="use the first N training rows (default all; quick 6000)")
    p.add_argument("--n-test", type=int, default=None, help="use the first N test rows (default all; quick 2000)")
    p.add_argument("--loop-batches", type=int, default=None,
                   help="mini-batches the per-sample loop runs before extrapolating (default 600; quick 100)")
    p.add_argument("--torch-adam", default="fused", choices=["fused", "foreach", "single"])
    p.add_argument("--torch-sgd", default="single", choices=["fused", "foreach", "single"])
    p.add_argument("--torch-compile", action="store_true", help="torch.compile the model (needs a C++ compiler)")
    p.add_argument("--out", default=None,
                   help="Markdown file to write (default benchmarks/results.md for a full run, none for --quick); "
                        "the raw numbers go next to it as .json")
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed per process")
    p.add_argument("--from-json", metavar="FILE", default=None,
                   help="do not run anything: render the Markdown again from a results .json written earlier")
    p.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                   help="before each process, wait up to SECONDS until the machine is idle "
                        "(under 10%% of the CPUs busy over 2 s); other busy processes disturb the "
                        "2-thread runs far more than drift")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds = args.rounds or 1
        args.epochs = args.epochs or 1
        args.n_train = args.n_train or 6000
        args.n_test = args.n_test or 2000
        args.loop_batches = args.loop_batches or 100
    args.rounds = args.rounds or 3
    args.epochs = args.epochs or 3
    args.loop_batches = args.loop_batches or 600
    if args.out is None and not args.quick:
        args.out = str(HERE / "results.md")
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    args.frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    for c in args.configs:
        if c not in CONFIGS:
            p.error(f"unknown config {c!r}; choose from {', '.join(CONFIGS)}")
    for f in args.frameworks:
        if f not in FRAMEWORKS:
            p.error(f"unknown framework {f!r}; choose from {', '.join(FRAMEWORKS)}")
    return args


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _cpu_times() -> tuple[int, int] | None:
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:8]]
    except (OSError, ValueError):
        return None
    return sum(fields), fields[3] + fields[4]          # total, idle + iowait


def busy_fraction(interval: float = 2.0) -> float | None:
    """Fraction of all CPUs busy over ``interval`` seconds (Linux), else None."""
    import time

    a = _cpu_times()
    time.sleep(interval)
    b = _cpu_times()
    if a is None or b is None or b[0] == a[0]:
        return None
    return 1.0 - (b[1] - a[1]) / (b[0] - a[0])


def wait_idle(limit: float) -> float | None:
    """Wait up to ``limit`` seconds for the machine to be idle; return the last busy fraction."""
    import time

    deadline = time.monotonic() + limit
    while True:
        busy = busy_fraction()
        if busy is None or busy < 0.10 or time.monotonic() > deadline:
            return busy
        time.sleep(3)


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "bpnn"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return rev + (" + uncommitted changes in bpnn/" if dirty else "")
    except OSError:
        return "?"


def spawn(args, framework: str, configs: list[str]) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.worker", "--framework", framework, "--configs", ",".join(configs),
           "--threads", str(args.threads), "--epochs", str(args.epochs), "--loop-batches", str(args.loop_batches),
           "--torch-adam", args.torch_adam, "--torch-sgd", args.torch_sgd]
    if args.torch_compile:
        cmd.append("--torch-compile")
    if args.quick:
        cmd += ["--gemm-seconds", "0.05", "--loop-eval-rows", "500", "--inference-reps", "3", "--fallback-synthetic"]
    for opt, val in (("--data", args.data), ("--n-train", args.n_train), ("--n-test", args.n_test)):
        if val is not None:
            cmd += [opt, str(val)]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"framework": framework, "error": f"timed out after {args.timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line[len("BENCH_RESULT "):])
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"framework": framework, "error": f"exit {proc.returncode}: {tail}"}


def schedule(args):
    """The interleaved list of (round, framework, configs) processes."""
    jobs = []
    for r in range(args.rounds):
        order = list(args.frameworks) if r % 2 == 0 else list(reversed(args.frameworks))
        jobs.append((r, "gemm", list(args.configs)))
        if args.quick:
            for fw in order:
                cfgs = [c for c in args.configs if c in SUPPORTED[fw]]
                if cfgs:
                    jobs.append((r, fw, cfgs))
        else:
            for c in args.configs:
                for fw in order:
                    if c in SUPPORTED[fw]:
                        jobs.append((r, fw, [c]))
    return jobs


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def aggregate(runs: list[dict], args) -> dict:
    """Per (config, framework): medians over the rounds."""
    table: dict[str, dict[str, dict]] = {c: {} for c in args.configs}
    gemm: dict[str, list[dict]] = {c: [] for c in args.configs}
    meta = {"blas": {}, "info": {}, "errors": [], "data": None, "n_train": None, "n_test": None, "data_mb": None,
            "busy": [r.get("busy_before") for r in runs if r.get("busy_before") is not None]}
    per: dict[tuple[str, str], list[dict]] = {}
    for run in runs:
        fw = run.get("framework")
        if "error" in run:
            meta["errors"].append(f"{LABELS.get(fw, fw)}: {run['error']}")
            continue
        meta["blas"].setdefault(fw, run["blas"])
        meta["info"].update(run["info"])
        for k in ("data", "n_train", "n_test", "data_mb"):
            meta[k] = run[k]
        for r in run["results"]:
            if fw == "gemm":
                gemm[r["config"]].append(r)
            else:
                per.setdefault((r["config"], fw), []).append(r)
    for (c, fw), rs in per.items():
        rounds = [r["epoch_median"] for r in rs]
        table[c][fw] = {
            "seconds": _median(rounds), "min": min(rounds), "max": max(rounds), "rounds": rounds,
            "train_acc": _median([r["train_acc"] for r in rs]), "test_acc": _median([r["test_acc"] for r in rs]),
            "rows_per_s": _median([r["inference_rows_per_s"] for r in rs]),
            "peak_mb": _median([r["peak_mb"] for r in rs]), "model_mb": rs[0]["model_mb"],
        }
    bounds = {}
    for c, gs in gemm.items():
        if gs:
            bounds[c] = {k: _median([g[k] for g in gs]) for k in ("step_seconds", "gflops_per_s", "epoch_gflop", "bound_seconds")}
    return {"table": table, "gemm": bounds, "meta": meta}


def _fmt_s(x):
    return "–" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.1f}")


def _blas_text(blas: list[dict]) -> str:
    parts = []
    for b in blas:
        name = b["api"] + (f" {b['version']}" if b.get("version") else "")
        parts.append(f"{name} ×{b['threads']}")
    return ", ".join(parts) or "–"


def targets(agg: dict, args) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) rows."""
    T = agg["table"]
    rows = []

    def s(c, fw):
        return T.get(c, {}).get(fw, {}).get("seconds")

    def verdict(ok):
        return "met" if ok else "**not met**"

    if s("a", "bpnn") and s("a", "loop"):
        r = s("a", "bpnn") / s("a", "loop")
        rows.append(("(a) bpnn ≤ 1/8 of the per-sample loop", f"{r:.3f} (1/{1 / r:.1f})", verdict(r <= 1 / 8)))
    if s("a", "bpnn") and s("a", "torch"):
        r = s("a", "bpnn") / s("a", "torch")
        rows.append(("(a) bpnn ≤ 1/8 of PyTorch", f"{r:.3f} (1/{1 / r:.1f})", verdict(r <= 1 / 8)))
    bound = agg["gemm"].get("a")
    if bound and s("a", "bpnn"):
        r = s("a", "bpnn") / bound["bound_seconds"]
        rows.append(("(a) bpnn ≤ 1.6 × the GEMM bound", f"{r:.2f}×", verdict(r <= 1.6)))
    for c, limit in (("b", 0.75), ("c", 1.1)):
        if s(c, "bpnn") and s(c, "torch"):
            r = s(c, "bpnn") / s(c, "torch")
            rows.append((f"({c}) bpnn ≤ {limit} × PyTorch", f"{r:.2f}×", verdict(r <= limit)))
        if s(c, "bpnn") and s(c, "sklearn"):
            r = s(c, "bpnn") / s(c, "sklearn")
            rows.append((f"({c}) bpnn ≤ 0.75 × scikit-learn", f"{r:.2f}×", verdict(r <= 0.75)))
    for c in args.configs:
        bp, tt = T.get(c, {}).get("bpnn"), T.get(c, {}).get("torch")
        if bp and tt:
            r = bp["rows_per_s"] / tt["rows_per_s"]
            rows.append((f"({c}) inference rows/s ≥ PyTorch", f"{r:.2f}×", verdict(r >= 1)))
    for c in args.configs:
        if s(c, "bpnn") and s(c, "bpnn-numpy"):
            r = s(c, "bpnn-numpy") / s(c, "bpnn")
            rows.append((f"({c}) kernels on: speed-up over the NumPy reference", f"{r:.2f}×", "measured"))
    for c in args.configs if not args.quick else ():   # subsets: fixed overheads would dominate
        bp = T.get(c, {}).get("bpnn")
        if bp and agg["meta"]["data_mb"]:
            limit = 1.5 * agg["meta"]["data_mb"] + bp["model_mb"]
            rows.append((f"({c}) bpnn peak memory ≤ 1.5 × data + model ({limit:.0f} MB)",
                         f"{bp['peak_mb']:.0f} MB", verdict(bp["peak_mb"] <= limit)))
    return rows


def render(agg: dict, args, started: str, load_before: str, load_after: str, revision: str | None = None) -> str:
    meta, T = agg["meta"], agg["table"]
    info = meta["info"]
    cmd = "python -m benchmarks" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    lines = [
        "# bpnn benchmark: side by side with PyTorch, scikit-learn and a per-sample loop",
        "",
        f"- Date: {started} · command: `{cmd}` · bpnn revision {revision or git_revision()}",
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; load average before / after: {load_before} / {load_after}",
        f"- Python {info.get('python', platform.python_version())}, NumPy {info.get('numpy', '?')}, "
        f"PyTorch {info.get('torch', 'n/a')}, scikit-learn {info.get('scikit-learn', 'n/a')}, bpnn {info.get('bpnn', '?')}, "
        f"numba {info.get('numba', 'n/a')}",
        f"- Threads: {args.threads} for every framework (threadpoolctl for the BLAS libraries; "
        f"`torch.set_num_threads({args.threads})`)",
        f"- Data: {meta['data']}, {meta['n_train']:,} training / {meta['n_test']:,} test rows, float32 "
        f"({meta['data_mb']:.0f} MB)" if meta["data"] else "- Data: –",
        f"- {args.rounds} interleaved round(s) × {args.epochs} epoch(s) per process; time = median over rounds of each "
        f"process's median epoch; ratio = framework ÷ bpnn (above 1: bpnn is faster)",
        (f"- Machine idle check before each process (`--wait-idle`): {sum(b >= 0.10 for b in meta['busy'])} of "
         f"{len(meta['busy'])} processes started while other work kept the CPUs ≥ 10% busy"
         if meta["busy"] else "- No idle check (`--wait-idle`) was made; see the load averages"),
        "",
    ]
    for c in args.configs:
        cfg = CONFIGS[c]
        lines += [f"## ({c}) {cfg.title}", "",
                  "| framework | s/epoch | range | × bpnn | train acc | test acc | inference rows/s | peak MB | BLAS threads |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        base = T[c].get("bpnn", {}).get("seconds")
        for fw in FRAMEWORKS:
            row = T[c].get(fw)
            if fw not in args.frameworks:
                continue
            if row is None:
                why = "not run" if c in SUPPORTED[fw] else "cannot express this network"
                lines.append(f"| {LABELS[fw]} | – | | | | | | | {why} |")
                continue
            ratio = f"{row['seconds'] / base:.2f}" if base else "–"
            name = f"**{LABELS[fw]}**" if fw == "bpnn" else LABELS[fw]
            note = " (extrapolated)" if fw == "loop" else ""
            threads = _blas_text(meta["blas"].get(fw, []))
            if fw == "torch" and info.get("torch threads"):
                threads = f"torch intra-op ×{info['torch threads']} (MKL, oneDNN, OpenMP); " + threads
            lines.append(
                f"| {name} | {_fmt_s(row['seconds'])}{note} | {_fmt_s(row['min'])}–{_fmt_s(row['max'])} | {ratio} | "
                f"{row['train_acc']:.4f} | {row['test_acc']:.4f} | {row['rows_per_s']:,.0f} | {row['peak_mb']:.0f} | "
                f"{threads} |")
        b = agg["gemm"].get(c)
        if b:
            extra = f"; bpnn = {base / b['bound_seconds']:.2f}× the bound" if base else ""
            lines += ["", f"Matmul-only bound: **{b['bound_seconds']:.3f} s/epoch** ({b['epoch_gflop']:.1f} GFLOP per "
                          f"epoch at {b['gflops_per_s']:.0f} GFLOP/s, measured for this configuration's GEMM shapes "
                          f"with NumPy's BLAS){extra}."]
        lines.append("")
    rows = targets(agg, args)
    if rows:
        lines += ["## Targets (issue 13; the per-sample loop's and scikit-learn's from issue 5)", ""]
        if args.quick:
            lines += ["Quick mode (small subsets, one round): indicative only; the memory targets need the full data.", ""]
        lines += ["| target | measured | |", "|---|---:|---|"]
        lines += [f"| {t} | {m} | {v} |" for t, m, v in rows]
        lines.append("")
    lines += ["## How each framework was run", ""]
    from . import bpnn_numpy_runner, bpnn_runner, loop_runner, sklearn_runner, torch_runner

    for fw, mod in (("bpnn", bpnn_runner), ("bpnn-numpy", bpnn_numpy_runner), ("torch", torch_runner),
                    ("sklearn", sklearn_runner), ("loop", loop_runner)):
        if fw in args.frameworks:
            lines.append(f"- **{LABELS[fw]}**: " + " ".join(mod.NOTES.split()))
    lines.append("- Train accuracy is measured after training on the rows trained on; test accuracy and inference "
                 "rows/s on the test rows (median of 5 predictions of all rows). Peak MB is the process's highest "
                 "resident memory while loading, training and predicting, above the interpreter and libraries.")
    if meta["errors"]:
        lines += ["", "Errors: " + "; ".join(meta["errors"])]
    return "\n".join(lines) + "\n"


def rerender(path: str) -> int:
    saved = json.loads(Path(path).read_text())
    args = argparse.Namespace(**saved["args"])
    meta = saved.get("meta", {})
    sys.argv = [sys.argv[0], *meta.get("argv", [])]
    text = render(aggregate(saved["runs"], args), args, meta.get("started", "?"),
                  meta.get("load_before", "?"), meta.get("load_after", "?"), meta.get("revision"))
    print(text)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    args = parse(argv)
    if args.from_json:
        return rerender(args.from_json)
    started = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_before = loadavg()
    runs = []
    jobs = schedule(args)
    for i, (r, fw, cfgs) in enumerate(jobs, 1):
        busy = wait_idle(args.wait_idle) if args.wait_idle else None
        run = spawn(args, fw, cfgs)
        run["busy_before"] = busy
        runs.append(run)
        if "error" in run:
            msg = run["error"]
        elif fw == "gemm":
            msg = ", ".join(f"{x['config']}: bound {x['bound_seconds']:.3f} s ({x['gflops_per_s']:.0f} GFLOP/s)" for x in run["results"])
        else:
            msg = ", ".join(f"{x['config']}: {x['epoch_median']:.3f} s/epoch" for x in run["results"])
        idle = f", {busy:.0%} busy before" if busy is not None else ""
        print(f"[{i}/{len(jobs)}] round {r + 1} {LABELS.get(fw, fw)}: {msg}  (load {loadavg()}{idle})", file=sys.stderr, flush=True)
    agg = aggregate(runs, args)
    load_after, revision = loadavg(), git_revision()
    text = render(agg, args, started, load_before, load_after, revision)
    print(text)
    if args.out:
        out = Path(args.out)
        out.write_text(text)
        meta = {"started": started, "load_before": load_before, "load_after": load_after,
                "revision": revision, "argv": sys.argv[1:]}
        out.with_suffix(".json").write_text(json.dumps({"args": vars(args), "meta": meta, "runs": runs,
                                                        "aggregate": agg}, indent=1))
        print(f"wrote {out} and {out.with_suffix('.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
