"""Does augmentation keep up with training?  Images per second, ratios in one run.

    python -m benchmarks.augment_rate                 # MNIST from $BPNN_DATA_DIR (or ../shared/data)
    python -m benchmarks.augment_rate --threads 2 --rows 12000

For each augmentation preset, three rates on the same rows, interleaved over
rounds (medians):

* ``augment``: images per second that ``Augmentation.__call__`` makes in one
  thread (the background thread's rate);
* ``step``: images per second that the training step consumes for the
  ``mnist-record`` network (784-1024-1024-10, batch 128) with ``--threads``
  BLAS threads and no augmentation;
* ``epoch``: the same epoch with ``fit(augment=...)``, so the cost of the
  background thread sharing the cores shows.

``augment / step`` above 1 means the producer never starves the step;
``epoch / step`` is the slowdown training pays for augmenting.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import bpnn
from bpnn.augment import PRESETS, parse_augment

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.augment_rate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=12000, help="training rows per epoch (default 12000)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="BLAS threads of the training step (default 2)")
    p.add_argument("--presets", default="light,affine,elastic")
    args = p.parse_args(argv)
    data_dir = os.environ.get("BPNN_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    ds = bpnn.datasets.load("mnist", data_dir=data_dir, validation=0)
    X, y = ds.train.X[: args.rows], ds.train.y[: args.rows]
    presets = [s.strip() for s in args.presets.split(",") if s.strip()]
    for name in presets:
        if name not in PRESETS or name == "none":
            p.error(f"unknown preset {name!r}")

    def epoch(augment) -> float:
        net = bpnn.Network([784, 1024, 1024, 10], activation="relu", output_activation="softmax",
                           cost="cross_entropy", init="he_normal", dropout=0.3, seed=0)
        start = time.perf_counter()
        with threadpool_limits(args.threads):
            net.fit(X, y, epochs=1, batch_size=128, optimizer="nesterov", eta=0.05, augment=augment)
        return len(X) / (time.perf_counter() - start)

    rates: dict[str, list[float]] = {"step": []}
    for name in presets:
        rates[f"augment {name}"] = []
        rates[f"epoch {name}"] = []
    rng = np.random.default_rng(0)
    for r in range(args.rounds):
        rates["step"].append(epoch(None))
        for name in presets if r % 2 == 0 else reversed(presets):
            aug = parse_augment(name)
            start = time.perf_counter()
            for s in range(0, len(X), 1024):
                aug(X[s:s + 1024].copy(), rng)
            rates[f"augment {name}"].append(len(X) / (time.perf_counter() - start))
            rates[f"epoch {name}"].append(epoch(aug))
    step = statistics.median(rates["step"])
    print(f"784-1024-1024-10, batch 128, {len(X)} rows, {args.threads} BLAS threads, {args.rounds} rounds (medians)")
    print(f"{'':<18}{'images/s':>10}{'/ step':>9}")
    for key, values in rates.items():
        rate = statistics.median(values)
        print(f"{key:<18}{rate:>10.0f}{rate / step:>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
