"""One benchmark process: one framework, one or more configurations.

``python -m benchmarks.worker --framework bpnn --configs b --threads 2 ...``
prints one line ``BENCH_RESULT {json}``.  The orchestrator (:mod:`benchmarks.run`)
starts these; running one by hand is useful for profiling.

Memory: after the imports, the process's peak-RSS counter is reset
(``/proc/self/clear_refs``), so ``peak_mb`` is the highest resident memory
while loading the data, training and predicting, above the interpreter and
libraries (``baseline_mb``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import statistics
import sys
import time

RUNNERS = {"bpnn": "bpnn_runner", "bpnn-numpy": "bpnn_numpy_runner", "torch": "torch_runner", "sklearn": "sklearn_runner", "loop": "loop_runner"}


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_kb() -> int:
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def parse(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    p.add_argument("--framework", required=True, choices=[*RUNNERS, "gemm"])
    p.add_argument("--configs", default="a,b,c")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None)
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--loop-batches", type=int, default=600,
                   help="mini-batches the per-sample loop trains before extrapolating (default 600 = 10%% of an epoch at batch 10)")
    p.add_argument("--loop-eval-rows", type=int, default=2000)
    p.add_argument("--inference-reps", type=int, default=5)
    p.add_argument("--fallback-synthetic", action="store_true",
                   help="use random data of MNIST's shape if no data set can be found or fetched")
    p.add_argument("--gemm-seconds", type=float, default=0.3, help="measuring time per GEMM-bound sample")
    p.add_argument("--torch-adam", default="fused", choices=["fused", "foreach", "single"])
    p.add_argument("--torch-sgd", default="single", choices=["fused", "foreach", "single"])
    p.add_argument("--torch-compile", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    from . import configs, data

    limits = [threadpool_limits(args.threads)]  # kept for the process's lifetime
    info = {"numpy": np.__version__, "python": platform.python_version()}
    runner = None
    if args.framework != "gemm":
        runner = importlib.import_module(f".{RUNNERS[args.framework]}", __package__)
        if args.framework == "torch":
            runner.OPTIONS.update(adam=args.torch_adam, sgd=args.torch_sgd, compile=args.torch_compile)
        info.update(runner.setup(args.threads))
        limits.append(threadpool_limits(args.threads))  # again: setup may have loaded another BLAS
        if hasattr(runner, "warm_up"):                  # compilation counts with the imports, not the training
            runner.warm_up([configs.CONFIGS[k] for k in args.configs.split(",")
                            if k in configs.SUPPORTED[args.framework]])
    blas = [{"api": d.get("internal_api"), "version": d.get("version"), "threads": d.get("num_threads"),
             "library": d.get("prefix")} for d in threadpool_info()]
    baseline_kb = _status_kb("VmRSS") or 0
    peak_reset = _reset_peak()

    try:
        X, y, Xt, yt, source = data.load(args.data, args.n_train, args.n_test)
    except Exception as exc:  # no files and no download (e.g. offline CI)
        if not args.fallback_synthetic:
            raise
        X, y, Xt, yt, source = data.load("synthetic", args.n_train, args.n_test)
        source += f"; no data set found ({type(exc).__name__})"
    out = {"framework": args.framework, "threads": args.threads, "info": info, "blas": blas,
           "data": source, "n_train": int(X.shape[0]), "n_test": int(Xt.shape[0]),
           "data_mb": (X.nbytes + Xt.nbytes) / 2**20, "baseline_mb": baseline_kb / 1024,
           "peak_reset": peak_reset, "results": []}
    for key in args.configs.split(","):
        cfg = configs.CONFIGS[key]
        if args.framework == "gemm":
            from . import gemm

            r = gemm.bound(cfg, X.shape[0], args.gemm_seconds)
            r["config"] = key
            out["results"].append(r)
            continue
        if key not in configs.SUPPORTED[args.framework]:
            continue
        start = time.perf_counter()
        model, seconds = runner.train(cfg, X, y, args.epochs, args.seed,
                                      n_batches=args.loop_batches if args.framework == "loop" else None)
        wall = time.perf_counter() - start
        X_inf = Xt if args.framework != "loop" else Xt[:args.loop_eval_rows]
        times = []
        for _ in range(args.inference_reps if args.framework != "loop" else 1):
            t = time.perf_counter()
            pred = runner.predict(model, X_inf)
            times.append(time.perf_counter() - t)
        test_acc = float(np.mean(pred == yt[:len(X_inf)]))
        X_tr = X if args.framework != "loop" else X[:args.loop_eval_rows]
        train_acc = float(np.mean(runner.predict(model, X_tr) == y[:len(X_tr)]))
        out["results"].append({
            "config": key, "epoch_seconds": seconds, "epoch_median": statistics.median(seconds),
            "fit_wall": wall, "train_acc": train_acc, "test_acc": test_acc,
            "inference_rows_per_s": len(X_inf) / statistics.median(times),
            "peak_mb": (_peak_kb() - baseline_kb) / 1024 if peak_reset else _peak_kb() / 1024,
            "model_mb": cfg.n_params * 4 / 2**20,
        })
        del model
    print("BENCH_RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
