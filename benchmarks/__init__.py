"""Side-by-side speed benchmark of bpnn against PyTorch (CPU), scikit-learn's
MLPClassifier and a per-sample-loop baseline in the style of Nielsen's
``network.py``.

Run ``python -m benchmarks`` from the repository root (``--help`` for the
options; ``--quick`` is the few-second regression guard CI runs).  Every
framework trains in its own process, the processes interleaved A B C, C B A
over several rounds so that the machine's drift hits all alike, on the same
configurations, data and number of epochs.  The full run writes
``benchmarks/results.md`` (the table the README shows) and ``results.json``.
"""
