"""bpnn on its NumPy reference path: the compiled kernels switched off (``BPNN_KERNELS=numpy``)."""

from __future__ import annotations

from bpnn.nn import accel

from .bpnn_runner import predict, setup as _setup, train, warm_up

__all__ = ["setup", "warm_up", "train", "predict", "NOTES"]


def setup(threads: int) -> dict:
    accel.set_kernels("numpy")
    return _setup(threads)


NOTES = ("the same `Network.fit` with the compiled kernels switched off (`BPNN_KERNELS=numpy`): every pass "
         "in the NumPy reference code.")
