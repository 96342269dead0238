"""The matmul-only lower bound of a training epoch, from measured GEMM times.

For a configuration with batch size m, one training step needs, per dense
layer l with weights (n_in, n_out): the forward product ``A (m, n_in) @ W``,
BP4's ``A.T @ δ`` and (except for the first layer) BP2's ``δ @ W.T``.  Their
float32 time is measured here with NumPy's BLAS exactly as bpnn calls it
(same shapes, orientations, ``out=`` buffers and thread count); the bound is
that time × (n / m) steps.  Nothing else (activations, optimizer, data
movement) is counted, so no implementation on this BLAS can be faster.
"""

from __future__ import annotations

import time

import numpy as np


def _median_time(fn, min_seconds: float) -> float:
    fn()
    reps = 1
    while True:
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        if time.perf_counter() - start > min_seconds / 7:
            break
        reps *= 2
    times = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - start) / reps)
    return sorted(times)[3]


def step_gemm_seconds(cfg, min_seconds: float = 0.3) -> float:
    rng = np.random.default_rng(0)
    m = cfg.batch
    ops = []
    for l, (a, b) in enumerate(zip(cfg.sizes[:-1], cfg.sizes[1:])):
        A = rng.random((m, a), dtype=np.float32)
        W = rng.random((a, b), dtype=np.float32)
        Z = np.empty((m, b), np.float32)
        D = rng.random((m, b), dtype=np.float32)
        G = np.empty((a, b), np.float32)
        GI = np.empty((m, a), np.float32)
        ops.append((A, W, Z, D, G, GI, l > 0))

    def step():
        for A, W, Z, D, G, GI, below in ops:
            np.matmul(A, W, out=Z)          # forward
            np.matmul(A.T, D, out=G)        # BP4
            if below:
                np.matmul(D, W.T, out=GI)   # BP2
    return _median_time(step, min_seconds)


def peak_rate(n: int = 1024, min_seconds: float = 0.5) -> float:
    """GFLOP/s of one large square float32 matmul (n³)."""
    rng = np.random.default_rng(0)
    A, B = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    C = np.empty((n, n), np.float32)
    t = _median_time(lambda: np.matmul(A, B, out=C), min_seconds)
    return 2 * n ** 3 / t / 1e9


def bound(cfg, n_train: int, min_seconds: float = 0.3) -> dict:
    t_step = step_gemm_seconds(cfg, min_seconds)
    flops = cfg.flops_per_row() * cfg.batch
    return {"step_seconds": t_step, "gflops_per_s": flops / t_step / 1e9,
            "epoch_gflop": cfg.flops_per_row() * n_train / 1e9,
            "bound_seconds": t_step * n_train / cfg.batch}
