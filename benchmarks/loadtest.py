"""A bounded load test of ``bpnn serve`` on this machine.

Run ``python -m benchmarks.loadtest`` from the repository root.  It starts
``bpnn serve`` on 127.0.0.1 (port 0, a free one) in a subprocess with a small
model (an untrained 784-100-10 network written to a temporary folder, or
``--model FILE``), sends a fixed number of requests per scenario from
``--concurrency`` clients at once (60 by default), prints throughput, p50/p99
latency, the status codes and the server's memory (VmRSS from
``/proc/PID/status`` before, the peak during, and after each scenario), then
stops the server.  Scenarios:

``json``
    ``POST /api/predict`` with a prepared 28x28 digit (a few kB).
``image``
    ``POST /api/predict/image`` with a 280x280 PNG drawing (what the page sends).
``max-json``
    ``POST /api/predict`` with a body just under the limit (4 MiB): a
    1024x1024 picture (the largest the server prepares), ``"prepare": true``,
    written as ``0.1`` and ``1`` to make the most objects when decoded: the
    costliest valid JSON request.

``--url http://127.0.0.1:PORT/`` tests a server already running instead (give
``--pid`` to read its memory).  Only loopback addresses are accepted.  Every
request has a timeout and the whole run a deadline (``--deadline``), so it
always stops by itself.  Not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import ipaddress
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("json", "image", "max-json")
MiB = 1024 * 1024


# --------------------------------------------------------------------------
# the server and its memory
# --------------------------------------------------------------------------
def _status_kb(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_mb(pid: int | None) -> float | None:
    """The process's resident memory now (VmRSS), in MB."""
    kb = _status_kb(pid, "VmRSS") if pid else None
    return None if kb is None else kb / 1024


def hwm_mb(pid: int | None) -> float | None:
    """The process's peak resident memory (VmHWM), in MB."""
    kb = _status_kb(pid, "VmHWM") if pid else None
    return None if kb is None else kb / 1024


def reset_peak(pid: int | None) -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs); False when not allowed."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Sampler:
    """Samples a process's VmRSS every few milliseconds in a thread; ``peak`` is the largest seen."""

    def __init__(self, pid: int | None, every: float = 0.005) -> None:
        self.pid, self.every, self.peak = pid, every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            value = rss_mb(self.pid)
            if value is not None:
                self.peak = max(self.peak, value)
            self._stop.wait(self.every)

    def __enter__(self) -> "Sampler":
        if self.pid:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def small_model(folder: Path) -> Path:
    """An untrained 784-100-10 ReLU/softmax network with MNIST's preparation, saved in ``folder``."""
    sys.path.insert(0, str(ROOT))
    import bpnn

    net = bpnn.Network([784, 100, 10], activation="relu", output_activation="softmax",
                       cost="cross_entropy", init="he_normal", seed=0)
    path = folder / "loadtest.safetensors"
    bpnn.save(net, path, preprocessing={"scale": 255.0, "image_shape": [28, 28]})
    return path


def start_server(model: Path, max_upload_mb: float | None, timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """``bpnn serve MODEL --port 0`` on loopback; returns the process and its address."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    args = [sys.executable, "-m", "bpnn", "serve", str(model), "--host", "127.0.0.1", "--port", "0"]
    if max_upload_mb is not None:
        args += ["--max-upload-mb", str(max_upload_mb)]
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    found: list[str] = []

    def read() -> None:
        for line in process.stdout:
            if " at http://" in line and not found:
                found.append(line.split(" at ", 1)[1].split(" ", 1)[0])
        # keep draining stdout until the process ends, so it never blocks on a full pipe

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not found and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    if not found:
        stop_server(process)
        raise SystemExit("loadtest: the server printed no address (is bpnn installed? try 'bpnn serve' by hand)")
    return process, found[0]


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


# --------------------------------------------------------------------------
# the requests
# --------------------------------------------------------------------------
def _ring(side: int, thickness: float) -> np.ndarray:
    """A '0': a ring of ink (1) on black (0), ``side`` pixels square."""
    y, x = np.mgrid[0:side, 0:side]
    c = (side - 1) / 2
    r = np.hypot((y - c) / 0.42, (x - c) / 0.3) / c
    return (np.abs(r - 0.8) < thickness).astype(np.uint8)


def json_body() -> bytes:
    pixels = np.round(_ring(28, 0.12).astype(float) * 0.9, 3)
    return json.dumps({"pixels": pixels.tolist()}).encode()


def image_body() -> bytes:
    from PIL import Image

    grey = (255 - _ring(280, 0.1) * 255).astype(np.uint8)          # dark ink on white, like the page's pad
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, "PNG")
    return buf.getvalue()


def max_json_body(limit: int, side: int = 1024) -> bytes:
    """The costliest valid body under ``limit`` bytes: ``{"pixels": [[...], ...], "prepare": true}``.

    A ``side`` x ``side`` picture (1024, the largest the server prepares) of
    a ring of ``1`` on a background of ``0.1`` (a new float object for every
    number when decoded) and, where the bytes run short, ``0``; for a smaller
    limit the side shrinks until the ``0``s fit.
    """
    while True:
        ink = _ring(side, 0.1).reshape(-1)
        head, tail = "{\"pixels\": [", "], \"prepare\": true}"
        base = len(head) + len(tail) + 2 * side * side + side + 2 * side       # "0," per value, "[...]," per row
        if base <= limit - 64:
            break
        side -= 16
    background = np.flatnonzero(ink == 0)
    tokens = np.where(ink == 1, "1", "0").astype(object)
    tokens[background[:max(0, (limit - 64 - base) // 2)]] = "0.1"
    rows = tokens.reshape(side, side)
    text = head + ",".join("[" + ",".join(row) + "]" for row in rows.tolist()) + tail
    assert len(text) <= limit, (len(text), limit)
    return text.encode()


def request_for(kind: str, limit: int) -> tuple[str, dict]:
    if kind == "json":
        return "api/predict", {"content": json_body(), "headers": {"content-type": "application/json"}}
    if kind == "image":
        return "api/predict/image", {"files": {"file": ("digit.png", image_body(), "image/png")}}
    if kind == "max-json":
        return "api/predict", {"content": max_json_body(limit), "headers": {"content-type": "application/json"}}
    raise ValueError(kind)


async def run_scenario(url: str, kind: str, n: int, concurrency: int, limit: int, timeout: float,
                       deadline: float) -> dict:
    import httpx

    path, kwargs = request_for(kind, limit)
    size = len(kwargs["content"]) if "content" in kwargs else len(kwargs["files"]["file"][1])
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    next_index = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_index
        while next_index < n and time.monotonic() < deadline:
            next_index += 1
            t0 = time.perf_counter()
            try:
                response = await client.post(url + path, **kwargs)
                key = str(response.status_code)
            except httpx.HTTPError as err:
                key = type(err).__name__
            latencies.append(time.perf_counter() - t0)
            statuses[key] = statuses.get(key, 0) + 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return {"scenario": kind, "body_bytes": size, "requests": len(latencies), "seconds": wall,
            "throughput": len(latencies) / wall if wall > 0 else 0.0,
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "statuses": statuses}


def _fmt(value: float | None, spec: str = ".0f") -> str:
    return "n/a" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="test this running server (loopback only) instead of starting one")
    parser.add_argument("--pid", type=int, help="with --url: the server's process id, to read its memory")
    parser.add_argument("--model", type=Path, help="model file to serve [default: an untrained 784-100-10 net]")
    parser.add_argument("--requests", type=int, default=240, help="requests per scenario [default: 240]")
    parser.add_argument("--concurrency", type=int, default=60, help="clients at once [default: 60]")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated, from {', '.join(SCENARIOS)} [default: all]")
    parser.add_argument("--max-upload-mb", type=float, default=4.0,
                        help="the server's body limit (passed to bpnn serve) [default: 4]")
    parser.add_argument("--timeout", type=float, default=120.0, help="per-request timeout, seconds [default: 120]")
    parser.add_argument("--deadline", type=float, default=900.0,
                        help="stop sending after this many seconds in all [default: 900]")
    parser.add_argument("--json", action="store_true", help="print the results as JSON lines too")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.scenarios.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in SCENARIOS]
    if unknown or args.requests < 1 or args.concurrency < 1:
        parser.error(f"unknown scenario(s) {unknown}" if unknown else "--requests and --concurrency must be >= 1")
    limit = int(args.max_upload_mb * MiB)
    deadline = time.monotonic() + args.deadline

    process = None
    tmp = tempfile.TemporaryDirectory(prefix="bpnn-loadtest-")
    try:
        if args.url:
            host = urlsplit(args.url).hostname or ""
            try:
                loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                parser.error(f"--url {args.url}: only loopback addresses (127.0.0.1, ::1, localhost) are tested")
            url, pid = args.url.rstrip("/") + "/", args.pid
        else:
            model = args.model or small_model(Path(tmp.name))
            process, url = start_server(model, args.max_upload_mb)
            pid = process.pid
        print(f"loadtest: {url} (pid {pid or 'unknown'}), {args.requests} requests per scenario, "
              f"{args.concurrency} clients at once", flush=True)
        print(f"{'scenario':<9} {'body':>9} {'done':>5} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'RSS before':>10} {'peak':>6} {'after':>6}  statuses", flush=True)
        for kind in kinds:
            if time.monotonic() >= deadline:
                print(f"{kind:<9} skipped: the deadline passed", flush=True)
                continue
            time.sleep(0.5)
            before = rss_mb(pid)
            exact_peak = reset_peak(pid)
            with Sampler(pid) as sampler:
                result = asyncio.run(run_scenario(url, kind, args.requests, args.concurrency, limit,
                                                  args.timeout, deadline))
            time.sleep(1.0)
            after = rss_mb(pid)
            peak = max(filter(None, [hwm_mb(pid) if exact_peak else None, sampler.peak or None, after]),
                       default=None)
            result.update(rss_before_mb=before, rss_peak_mb=peak, rss_after_mb=after)
            statuses = " ".join(f"{k}:{v}" for k, v in sorted(result["statuses"].items()))
            body = f"{result['body_bytes'] / 1024:.0f} kB" if result["body_bytes"] < MiB \
                else f"{result['body_bytes'] / MiB:.2f} MiB"
            print(f"{kind:<9} {body:>9} {result['requests']:>5} {result['throughput']:>7.1f} "
                  f"{result['p50_ms']:>8.0f} {result['p99_ms']:>8.0f} {_fmt(before):>7} MB {_fmt(peak):>6} "
                  f"{_fmt(after):>6}  {statuses}", flush=True)
            if args.json:
                print(json.dumps(result), flush=True)
    finally:
        if process is not None:
            stop_server(process)
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
