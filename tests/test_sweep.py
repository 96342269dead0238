"""Sweeps on real Dask clusters: a LocalCluster, and a scheduler with workers started as processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

from bpnn import sweep as sw  # noqa: E402
from bpnn.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _spec(tmp_path, grid: str, settings: str = "epochs = 3", seeds: int = 2, name: str = "t") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'[sweep]\nname = "{name}"\nseeds = {seeds}\n[settings]\n{settings}\n[grid]\n{grid}\n')
    return path


def _keys(out: Path) -> list[str]:
    return [r["key"] for r in sw.read_results(out / "results.jsonl")]


def test_a_sweep_on_a_local_cluster_of_two_processes(tmp_path, capsys):
    spec_path = _spec(tmp_path, "hidden = [8, 32]")
    out = tmp_path / "out"
    assert main(["sweep", str(spec_path), "--out", str(out), "--workers", "2", "--quiet"]) == 0
    records = sw.read_results(out / "results.jsonl")
    assert len(records) == 4 and len(set(_keys(out))) == 4
    assert len({r["pid"] for r in records}) == 2                    # two worker processes did the work
    assert all(r["error"] is None and 0.5 < r["metrics"]["test_accuracy"] <= 1 for r in records)
    # the same trial, run by hand, gives the same number (same seed, same settings)
    from bpnn.experiment import run
    from bpnn.settings import Settings

    first = next(r for r in records if r["values"]["hidden"] == 8 and r["seed"] == 0)
    assert run(Settings(epochs=3, hidden=8, seed=0)).test.accuracy == first["metrics"]["test_accuracy"]
    summary = (out / "summary.md").read_text()
    assert "| 8 | **" in summary and "| 32 | **" in summary
    assert (out / "plot.png").stat().st_size > 5_000
    # running it again runs nothing
    capsys.readouterr()
    assert main(["sweep", str(spec_path), "--out", str(out), "--dry-run"]) == 0
    assert "4 trials, 4 done" in capsys.readouterr().out


def test_resume_after_an_interrupted_sweep_runs_only_the_missing_trials(tmp_path):
    spec = sw.load_spec(_spec(tmp_path, "hidden = [8, 16, 32]"))
    out = tmp_path / "out"
    sw.run_sweep(spec, out, workers=2)
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 6
    # as if killed while the fourth record was being written
    (out / "results.jsonl").write_text("\n".join(lines[:3]) + "\n" + lines[3][:40])
    kept = {json.loads(line)["key"]: json.loads(line) for line in lines[:3]}
    seen = []
    records = sw.run_sweep(spec, out, workers=2, on_result=lambda r, done, total: seen.append(r["key"]))
    assert len(seen) == 3 and not set(seen) & set(kept)
    assert sorted(r["key"] for r in records) == sorted(t.key for t in spec.trials())
    for key, record in kept.items():                                  # finished trials were not redone
        assert next(r for r in records if r["key"] == key)["finished_at"] == record["finished_at"]


def test_a_failing_trial_is_recorded_and_the_sweep_completes(tmp_path, capsys):
    spec_path = _spec(tmp_path, 'dataset = ["digits", "/no/such/folder"]', seeds=1)
    out = tmp_path / "out"
    assert main(["sweep", str(spec_path), "--out", str(out), "--workers", "2", "--quiet"]) == 1
    records = sw.read_results(out / "results.jsonl")
    assert len(records) == 2
    bad = next(r for r in records if r["values"]["dataset"] == "/no/such/folder")
    good = next(r for r in records if r["values"]["dataset"] == "digits")
    assert "DataError" in bad["error"] and "/no/such/folder" in bad["error"]
    assert good["error"] is None and good["metrics"]["test_accuracy"] > 0.5
    assert good["settings"]["dataset"] == "digits" and good["settings"]["epochs"] == 3   # every setting recorded
    assert "failed" in capsys.readouterr().err
    # the next run tries the failed trial again (and only that one); its newest record counts
    assert main(["sweep", str(spec_path), "--out", str(out), "--workers", "1", "--quiet"]) == 1
    records = sw.read_results(out / "results.jsonl")
    assert len(records) == 3 and [r["values"]["dataset"] for r in records].count("digits") == 1


def test_a_bad_sweep_file_fails_before_anything_runs(tmp_path):
    for grid, message in [("hiden = [8]", "did you mean 'hidden'"), ("hidden = [8, 0]", "--hidden"),
                          ("seed = [1, 2]", "seeds"), ("hidden = []", "non-empty")]:
        with pytest.raises(sw.SweepError, match=message):
            sw.load_spec(_spec(tmp_path, grid))
    with pytest.raises(sw.SweepError, match="applies to the momentum"):
        sw.load_spec(_spec(tmp_path, "mu = [0.5]"))


def test_random_axes_are_drawn_from_the_sweep_seed(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[sweep]\nsamples = 4\nseeds = 1\n[random]\neta = { low = 0.01, high = 1.0, log = true }\n'
                    'hidden = { low = 4, high = 64 }\n')
    a, b = sw.load_spec(path).trials(), sw.load_spec(path).trials()
    assert [t.values for t in a] == [t.values for t in b] and len(a) == 4
    assert all(0.01 <= t.values["eta"] <= 1.0 and isinstance(t.values["hidden"], int) for t in a)


# -- a cluster started by hand, as a user would --------------------------------------------------------
def _start(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, **kw)


@pytest.fixture
def cluster(tmp_path):
    """``dask scheduler`` and two ``dask worker`` processes on loopback; yields (address, workers)."""
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = _start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                        "--no-dashboard", "--scheduler-file", str(scheduler_file)])
    deadline = time.monotonic() + 60
    while not scheduler_file.exists():
        assert scheduler.poll() is None and time.monotonic() < deadline, "the scheduler did not start"
        time.sleep(0.05)
    address = json.loads(scheduler_file.read_text())["address"]
    workers = [_start(["distributed.cli.dask_worker", address, "--nthreads", "1", "--nworkers", "1",
                       "--no-dashboard", "--host", "127.0.0.1"]) for _ in range(2)]
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(2, timeout=60)
    try:
        yield address, workers
    finally:
        for process in [*workers, scheduler]:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


def test_a_sweep_on_a_scheduler_and_workers_started_as_processes(tmp_path, cluster, capsys):
    address, _ = cluster
    out = tmp_path / "out"
    spec_path = _spec(tmp_path, "hidden = [8, 32]")
    assert main(["sweep", str(spec_path), "--out", str(out), "--scheduler", address, "--quiet"]) == 0
    records = sw.read_results(out / "results.jsonl")
    assert len(records) == 4 and all(r["error"] is None for r in records)
    assert len({r["pid"] for r in records}) == 2 and os.getpid() not in {r["pid"] for r in records}


def test_killing_a_worker_mid_sweep_still_yields_every_trial_exactly_once(tmp_path, cluster):
    address, workers = cluster
    spec = sw.load_spec(_spec(tmp_path, "hidden = [16, 24, 32]", settings="epochs = 150"))
    out = tmp_path / "out"
    first = threading.Event()
    thread_error = []

    def sweep():
        try:
            sw.run_sweep(spec, out, scheduler=address, on_result=lambda r, done, total: first.set())
        except Exception as err:   # noqa: BLE001  (reported by the assertion below)
            thread_error.append(err)

    runner = threading.Thread(target=sweep)
    runner.start()
    assert first.wait(120), "no trial finished"
    os.killpg(workers[0].pid, signal.SIGKILL)          # a worker (and its nanny) lost mid-sweep
    runner.join(300)
    assert not runner.is_alive() and not thread_error, thread_error
    keys = _keys(out)
    assert sorted(keys) == sorted(t.key for t in spec.trials())    # every trial, exactly once
    assert all(r["error"] is None for r in sw.read_results(out / "results.jsonl"))
