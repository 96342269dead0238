"""PyTorch on the CPU, set up for speed.

``torch.set_num_threads(T)`` (intra-op: MKL, oneDNN, OpenMP) and one
inter-op thread; the data as tensors sharing NumPy's memory
(``torch.from_numpy``), each batch gathered with ``index_select`` on a
``randperm`` (no DataLoader, no per-sample Python objects); an
``nn.Sequential`` of ``nn.Linear`` layers in eager mode, the softmax left to
``F.cross_entropy`` (fused log-softmax + NLL) and the quadratic cost as
``F.mse_loss(sum) · ½/m``; Adam with ``fused=True`` (one kernel for all
parameters), SGD with its default single-tensor implementation (both
switchable: ``--torch-adam``, ``--torch-sgd``); ``zero_grad(set_to_none=True)``;
no ``loss.item()`` per batch; ``torch.set_flush_denormal(True)`` (the
counterpart of bpnn's flushing of tiny optimizer state, without which the
Adam runs slow down from epoch to epoch); inference under
``torch.inference_mode()`` as the argmax of the logits.  ``torch.compile``
was tried (``--torch-compile``) and was slower on all three configurations.
"""

from __future__ import annotations

import numpy as np

OPTIONS = {"adam": "fused", "sgd": "single", "compile": False}


def setup(threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    # subnormal numbers are ~100x slower on x86; bpnn flushes its optimizer
    # state's tiny entries, so PyTorch gets the hardware flush-to-zero mode
    torch.set_flush_denormal(True)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    return {"torch": torch.__version__, "torch threads": torch.get_num_threads(), "torch flush denormal": True,
            "torch adam": OPTIONS["adam"], "torch sgd": OPTIONS["sgd"], "torch compile": OPTIONS["compile"]}


def build(cfg, seed: int):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers = []
    n = len(cfg.sizes) - 1
    for i, (a, b) in enumerate(zip(cfg.sizes[:-1], cfg.sizes[1:])):
        lin = nn.Linear(a, b)
        with torch.no_grad():   # the same initialisation as bpnn's
            if cfg.init == "normal":
                nn.init.normal_(lin.weight)
                nn.init.normal_(lin.bias)
            else:  # he_normal
                nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
                nn.init.zeros_(lin.bias)
        layers.append(lin)
        act = cfg.output if i == n - 1 else cfg.activation
        if act == "sigmoid":
            layers.append(nn.Sigmoid())
        elif act == "relu":
            layers.append(nn.ReLU())
        # softmax: fused into F.cross_entropy (training) / argmax of logits (inference)
    return nn.Sequential(*layers)


def _optimizer(cfg, params):
    import torch

    if cfg.optimizer == "adam":
        kind = OPTIONS["adam"]
        kw = {"fused": True} if kind == "fused" else {"foreach": kind == "foreach"}
        return torch.optim.Adam(params, lr=cfg.eta, **kw)
    kind = OPTIONS["sgd"]
    kw = {"fused": True} if kind == "fused" else {"foreach": kind == "foreach"}
    return torch.optim.SGD(params, lr=cfg.eta, **kw)


def train(cfg, X, y, epochs: int, seed: int, n_batches=None):
    import time

    import torch
    import torch.nn.functional as F

    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    model = build(cfg, seed)
    opt = _optimizer(cfg, model.parameters())
    if cfg.cost == "quadratic":
        target = F.one_hot(yt, cfg.sizes[-1]).to(torch.float32)

        def loss_fn(out, t):          # C = 1/(2m) Σ ||a - t||²
            return F.mse_loss(out, t, reduction="sum") * (0.5 / out.shape[0])
    else:
        target = yt
        loss_fn = F.cross_entropy
    forward = torch.compile(model) if OPTIONS["compile"] else model
    gen = torch.Generator().manual_seed(seed)
    n, m = Xt.shape[0], cfg.batch
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n, m):
            idx = perm[s:s + m]
            loss = loss_fn(forward(Xt.index_select(0, idx)), target.index_select(0, idx))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        seconds.append(time.perf_counter() - start)
    return model, seconds


def predict(model, X) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return model(torch.from_numpy(X)).argmax(1).numpy()


NOTES = __doc__.split("\n\n", 1)[1].strip().replace("``", "`")
