"""Where one bpnn training epoch spends its time, phase by phase.

    python -m benchmarks.profile                # all configurations, 2 threads, kernels as installed
    python -m benchmarks.profile --configs b --threads 1 --kernels numpy

The loop below is ``bpnn.nn.training.fit``'s inner loop with a clock read
between the phases.  It calls the engine's own pieces (``np.take`` into the
batch buffer, each layer's matmul, the compiled kernel or the NumPy reference
for bias + activation, BP1 and BP2's ⊙ σ'(z) (the kernels add BP3 to them),
BP3, BP4 and BP2's matmul, the optimizer's update), in the order
``Network._backprop`` does, so the phases add up to the epoch (the timer
costs about 0.1 µs per phase).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np


def profile_epoch(cfg, X, y, seed=0, epochs=2):
    import bpnn
    from bpnn.nn import accel
    from bpnn.nn.optimizers import get_optimizer

    net = bpnn.Network(list(cfg.sizes), activation=cfg.activation, output_activation=cfg.output,
                       cost=cfg.cost, init=cfg.init, seed=seed)
    opt = get_optimizer(cfg.optimizer, cfg.eta)
    n, m = X.shape[0], cfg.batch
    k = net.n_outputs
    Y = np.zeros((n, k), np.float32)
    Y[np.arange(n), y] = 1.0
    x_buf, y_buf = np.empty((m, X.shape[1]), np.float32), np.empty((m, k), np.float32)
    Z_epoch, A_epoch = np.empty((n, k), np.float32), np.empty((n, k), np.float32)
    params, grads = [net.flat_params], [net.flat_grads]
    W_all, nabla_W_all = net.flat_params[:net.n_weight_params], net.flat_grads[:net.n_weight_params]
    matrices = net.weights
    dense = net.dense_layers
    clock = time.perf_counter
    result = None
    with accel.scope(net.n_params):  # the kernels as fit would use them for this network
        result = _epochs(net, opt, X, y, Y, m, n, x_buf, y_buf, Z_epoch, A_epoch, params, grads, W_all,
                         nabla_W_all, matrices, dense, clock, epochs)
    return result


def _epochs(net, opt, X, y, Y, m, n, x_buf, y_buf, Z_epoch, A_epoch, params, grads, W_all, nabla_W_all, matrices,
            dense, clock, epochs):
    from bpnn.nn import accel

    result = None
    for _ in range(epochs):          # the last epoch is reported (the first warms the caches)
        T = defaultdict(float)
        epoch_start = clock()
        order = net.rng.permutation(n)
        t = clock()
        T["shuffle"] += t - epoch_start
        for start in range(0, n, m):
            idx = order[start:start + m]
            b = idx.shape[0]
            xb = np.take(X, idx, axis=0, out=x_buf[:b], mode="clip")
            yb = np.take(Y, idx, axis=0, out=y_buf[:b], mode="clip")
            u = clock(); T["gather batch (np.take)"] += u - t; t = u
            A = xb
            for i, layer in enumerate(dense):
                buf = layer._buffers(b)
                last = i == len(dense) - 1
                Z, Aout = (Z_epoch[start:start + b], A_epoch[start:start + b]) if last else (buf["Z"], buf["A"])
                np.matmul(A, layer.W, out=Z)
                u = clock(); T["matmul: forward A W"] += u - t; t = u
                if not accel.try_bias_activation(Z, layer.b, Aout, layer.activation):
                    Z += layer.b
                    layer.activation.forward(Z, out=Aout)
                layer._A_prev, layer._Z, layer._A = A, Z, Aout
                A = Aout
                u = clock(); T["elementwise: bias + activation"] += u - t; t = u
            out = net.output_layer
            delta = out._buffers(b)["delta"]
            fused = accel.try_output_delta(A, yb, delta, out.nabla_b, net.cost, out.activation,
                                           opt.gradient_scale(b))
            if not fused:
                net.cost.delta(out.Z, A, yb, out.activation, out=delta)
                delta *= opt.gradient_scale(b)
            u = clock(); T["elementwise: BP1 output error" + (" + BP3 (kernel)" if fused else "")] += u - t; t = u
            grad = None                  # ∂C/∂A from the layer above (BP2's first half)
            for i in range(len(dense) - 1, -1, -1):
                layer = dense[i]
                buf = layer._buffers(b)
                if i < len(dense) - 1:
                    delta = buf["delta"]
                    fused = accel.try_backward_factor(grad, layer._A, delta, layer.nabla_b, layer.activation)
                    if not fused:
                        layer.activation.backward(layer._Z, layer._A, grad, out=delta)
                    u = clock(); T["elementwise: BP2 ⊙ σ'(z)" + (" + BP3 (kernel)" if fused else "")] += u - t; t = u
                if not fused:
                    np.matmul(buf["ones"], delta, out=layer.nabla_b)
                    u = clock(); T["BP3 bias gradient (1ᵀδ)"] += u - t; t = u
                np.matmul(layer._A_prev.T, delta, out=layer.nabla_W)
                u = clock(); T["matmul: BP4 Aᵀ δ"] += u - t; t = u
                if layer.propagate_input_grad:
                    grad = np.matmul(delta, layer.W.T, out=buf["grad_in"])
                    u = clock(); T["matmul: BP2 δ Wᵀ"] += u - t; t = u
            opt.update(params, grads, W_all, nabla_W_all, matrices)
            u = clock(); T[f"optimizer ({opt.name})"] += u - t; t = u
        targets = np.take(Y, order, axis=0)
        net.cost.value(Z_epoch, A_epoch, targets)
        np.count_nonzero(A_epoch.argmax(axis=1) == y[order])
        u = clock(); T["epoch loss + accuracy"] += u - t
        result = (u - epoch_start, dict(T), -(-n // m))
    return result


def fit_epoch_seconds(cfg, X, y, seed=0, epochs=2) -> float:
    import bpnn

    net = bpnn.Network(list(cfg.sizes), activation=cfg.activation, output_activation=cfg.output,
                       cost=cfg.cost, init=cfg.init, seed=seed)
    return net.fit(X, y, epochs=epochs, batch_size=cfg.batch, eta=cfg.eta, optimizer=cfg.optimizer).seconds[-1]


def render(cfg, total, T, steps, fit_seconds) -> str:
    lines = [f"### ({cfg.key}) {cfg.title}", "",
             f"One epoch: {total:.3f} s profiled ({fit_seconds:.3f} s in `fit` without the clocks), "
             f"{steps} steps, {total / steps * 1e6:.0f} µs per step.", "",
             "| phase | s/epoch | share | µs/step |", "|---|---:|---:|---:|"]
    groups = defaultdict(float)
    for name, sec in sorted(T.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {name} | {sec:.3f} | {sec / total:.0%} | {sec / steps * 1e6:.1f} |")
        groups[name.split(":")[0] if ":" in name else name] += sec
    rest = total - sum(T.values())
    lines.append(f"| Python loop + clocks (rest) | {rest:.3f} | {rest / total:.0%} | {rest / steps * 1e6:.1f} |")
    lines += ["", "Grouped: " + ", ".join(f"{g} {s / total:.0%}" for g, s in sorted(groups.items(), key=lambda kv: -kv[1])), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    from threadpoolctl import threadpool_limits

    from . import data
    from .configs import CONFIGS

    p = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default="a,b,c")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", default=None)
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--kernels", default="auto", choices=["auto", "numba", "numpy"],
                   help="compiled kernels or the NumPy reference (as BPNN_KERNELS)")
    args = p.parse_args(argv)
    from bpnn.nn import accel

    accel.set_kernels(args.kernels)
    X, y, _, _, source = data.load(args.data, args.n_train, 1)
    with threadpool_limits(args.threads):
        print(f"Data: {source}, {X.shape[0]:,} rows; {args.threads} thread(s); kernels: {accel.kernels_in_use()}\n")
        for key in args.configs.split(","):
            cfg = CONFIGS[key]
            total, T, steps = profile_epoch(cfg, X, y)
            fit_seconds = fit_epoch_seconds(cfg, X, y)
            print(render(cfg, total, T, steps, fit_seconds), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
