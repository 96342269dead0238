"""BPNNClassifier beside scikit-learn's MLPClassifier, and GridSearchCV with 1 and 2 processes.

    python -m benchmarks.sklearn_compare                 # MNIST and Fashion-MNIST, a few minutes
    python -m benchmarks.sklearn_compare --quick         # 6,000 rows, 2 epochs: a smoke run of seconds
    python -m benchmarks.sklearn_compare --threads 1     # one BLAS thread per fit (steadier on a busy machine)

Both estimators get the same architecture (784-100-10, ReLU hidden layer,
softmax output with cross-entropy), solver (Adam, η 0.001, batch 200),
initialisation (Glorot uniform, as MLPClassifier draws it for ReLU), no L2,
no early stopping and exactly ``--epochs`` epochs (the tol rule is switched
off in both), on float32 inputs in [0, 1].  Fit time is ``fit``'s wall time
(input checks included), predict time is the best of 3 ``predict`` calls on
the 10,000 test images, accuracy is on those test images; each estimator is
fitted ``--repeat`` times, alternating, and its best times are kept.

The grid search times ``GridSearchCV(BPNNClassifier(...), hidden sizes
(32,), (64,), (128,), cv=3)`` on the first 30,000 MNIST training images (10
epochs per fit), with ``n_jobs=1`` (one process, all cores' BLAS threads, or
``--threads``) and ``n_jobs=2`` (two loky processes, which joblib gives
cores / 2 BLAS threads each): first while joblib
starts its worker processes (each imports NumPy, scikit-learn and bpnn),
then again with the workers already running, as in a longer session.

Not a timed test: the numbers depend on the machine and on what else runs on
it; compare rows of one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

from .data import read_images, read_labels

FOLDERS = {"MNIST": "mnist", "Fashion-MNIST": "fashion-mnist"}


def _data_root(given: str | None) -> Path:
    for candidate in (given, os.environ.get("BPNN_DATA_DIR"), "/work/shared/data",
                      Path(__file__).resolve().parents[2] / "shared" / "data"):
        if candidate and (Path(candidate) / "mnist").is_dir():
            return Path(candidate)
    raise SystemExit("no data: pass --data-dir DIR holding mnist/ and fashion-mnist/ with the four IDX files each")


def _load(root: Path, name: str, n_train: int | None, n_test: int | None):
    folder = root / FOLDERS[name]
    return (read_images(folder, "train", n_train), read_labels(folder, "train", n_train),
            read_images(folder, "t10k", n_test), read_labels(folder, "t10k", n_test))


def _estimators(epochs: int, seed: int):
    from sklearn.neural_network import MLPClassifier

    from bpnn.sklearn import BPNNClassifier

    bpnn_clf = BPNNClassifier(hidden_layer_sizes=(100,), activation="relu", output_activation="softmax",
                              cost="cross_entropy", init="glorot_uniform", optimizer="adam", eta=0.001,
                              batch_size=200, max_iter=epochs, alpha=0.0, n_iter_no_change=epochs + 1,
                              random_state=seed)
    mlp = MLPClassifier(hidden_layer_sizes=(100,), activation="relu", solver="adam", learning_rate_init=0.001,
                        batch_size=200, max_iter=epochs, alpha=0.0, n_iter_no_change=epochs + 1, tol=0.0,
                        shuffle=True, random_state=seed)
    return {"BPNNClassifier": bpnn_clf, "MLPClassifier": mlp}


def _time(function, repeat: int = 1) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def compare(root: Path, epochs: int, n_train: int | None, seed: int, repeat: int) -> list[dict]:
    """Each estimator fitted ``repeat`` times, alternating with the other (same seed, same model);
    the best time of each is kept, so a busy spell of the machine hits both alike."""
    rows = []
    for name in FOLDERS:
        X, y, Xt, yt = _load(root, name, n_train, None)
        best: dict[str, dict] = {}
        for _ in range(repeat):
            for label, est in _estimators(epochs, seed).items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fit_s, _ = _time(lambda: est.fit(X, y))
                predict_s, predicted = _time(lambda: est.predict(Xt), repeat=3)
                row = {"data": name, "estimator": label, "epochs": int(est.n_iter_), "n_train": len(X),
                       "accuracy": float((predicted == yt).mean()), "fit_s": fit_s, "predict_s": predict_s}
                print(f"  {name:<13} {label:<15} accuracy {row['accuracy']:.2%}  fit {fit_s:.1f}s  "
                      f"predict {predict_s * 1000:.0f} ms", flush=True)
                if label in best:
                    row["fit_s"] = min(row["fit_s"], best[label]["fit_s"])
                    row["predict_s"] = min(row["predict_s"], best[label]["predict_s"])
                best[label] = row
        rows += best.values()
    return rows


def grid(root: Path, n_rows: int, epochs: int, seed: int) -> list[dict]:
    from sklearn.model_selection import GridSearchCV

    from bpnn.sklearn import BPNNClassifier

    X, y, _, _ = _load(root, "MNIST", n_rows, 1)
    rows = []
    for n_jobs, note in ((1, ""), (2, "workers starting"), (2, "workers running")):
        search = GridSearchCV(BPNNClassifier(activation="relu", output_activation="softmax", optimizer="adam",
                                             batch_size=100, max_iter=epochs, n_iter_no_change=epochs + 1,
                                             random_state=seed),
                              {"hidden_layer_sizes": [(32,), (64,), (128,)]}, cv=3, n_jobs=n_jobs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seconds, _ = _time(lambda: search.fit(X, y))
        rows.append({"n_jobs": n_jobs, "note": note, "seconds": seconds, "fits": 3 * 3 + 1,
                     "best": search.best_params_, "best_score": float(search.best_score_)})
        print(f"  GridSearchCV n_jobs={n_jobs} {note}: {seconds:.1f}s, best {search.best_params_} "
              f"({search.best_score_:.2%})", flush=True)
    return rows


def markdown(rows: list[dict], grid_rows: list[dict], epochs: int, threads: int | None = None) -> str:
    import sklearn

    import bpnn

    lines = [f"784-100-10 ReLU/softmax, Adam η 0.001, batch 200, {epochs} epochs, float32; "
             f"bpnn {bpnn.__version__}, scikit-learn {sklearn.__version__}, NumPy {np.__version__}, "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
             + (f", {threads} BLAS thread(s) per fit" if threads else ""),
             "", "| data | estimator | test accuracy | fit | predict (10k) |", "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['data']} | {r['estimator']} | {r['accuracy']:.2%} | {r['fit_s']:.1f} s | "
                     f"{r['predict_s'] * 1000:.0f} ms |")
    if grid_rows:
        one = grid_rows[0]["seconds"]
        lines += ["", "| GridSearchCV (hidden sizes 32, 64, 128; cv=3; 10 fits) | time | speed-up |", "|---|---:|---:|"]
        for g in grid_rows:
            note = f" ({g['note']})" if g["note"] else ""
            lines.append(f"| n_jobs={g['n_jobs']}{note} | {g['seconds']:.1f} s | {one / g['seconds']:.2f}x |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sklearn_compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="folder holding mnist/ and fashion-mnist/ (default: $BPNN_DATA_DIR, "
                        "../shared/data)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs for both estimators (default 10)")
    parser.add_argument("--grid-rows", type=int, default=30000, help="MNIST rows for the grid search (default 30000)")
    parser.add_argument("--grid-epochs", type=int, default=10, help="epochs per grid-search fit (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=2, help="fits per estimator, alternating; best time kept")
    parser.add_argument("--quick", action="store_true", help="6,000 training rows, 2 epochs, a small grid")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads for the estimators' fits (default: all cores; the grid search's "
                             "workers get cores / n_jobs from joblib)")
    args = parser.parse_args(argv)
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    root = _data_root(args.data_dir)
    epochs = 2 if args.quick else args.epochs
    print(f"BPNNClassifier vs MLPClassifier, {epochs} epochs, data from {root}", flush=True)
    rows = compare(root, epochs, 6000 if args.quick else None, args.seed, 1 if args.quick else args.repeat)
    grid_rows = grid(root, 3000 if args.quick else args.grid_rows, 1 if args.quick else args.grid_epochs, args.seed)
    print()
    print(markdown(rows, grid_rows, epochs, args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
