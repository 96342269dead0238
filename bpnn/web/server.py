"""``bpnn serve``: run the drawing page on a local address with uvicorn.

The server binds its socket itself, so ``--port 0`` picks a free port and the
printed address is the real one; it listens on loopback unless told
otherwise (with a warning), and stops cleanly on Ctrl-C.

Without a model file, :func:`default_model` trains a quick model once and
keeps it in the user cache folder: a 784-100-10 ReLU network on MNIST when
MNIST is on this machine (no download is attempted), otherwise a 64-64-10
network on scikit-learn's bundled 8x8 digits.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from pathlib import Path
from typing import Callable

from .._version import __version__
from ..exceptions import BpnnError, DataError

__all__ = ["QUICK_MODELS", "default_model", "mnist_is_here", "model_cache_dir", "serve"]

#: Settings of the quick model trained when no MODEL is given (see :class:`bpnn.settings.Settings`).
QUICK_MODELS: dict[str, dict] = {
    "mnist": {"dataset": "mnist", "hidden": [100], "activation": "relu", "output": "softmax",
              "cost": "cross_entropy", "init": "he_normal", "optimizer": "adam", "eta": 0.001,
              "batch_size": 64, "epochs": 5, "seed": 0},
    "digits": {"dataset": "digits", "hidden": [64], "activation": "relu", "output": "softmax",
               "cost": "cross_entropy", "init": "he_normal", "optimizer": "adam", "eta": 0.003,
               "batch_size": 32, "epochs": 60, "seed": 0},
}


def model_cache_dir() -> Path:
    """Where quick models are kept: ``$BPNN_MODEL_DIR`` or ``<user cache>/bpnn/models``."""
    env = os.environ.get("BPNN_MODEL_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("bpnn")) / "models"


def mnist_is_here(data_dir: str | None = None) -> bool:
    """Whether the MNIST files are on this machine (in ``data_dir``, ``$BPNN_DATA_DIR`` or the cache); never downloads."""
    from ..datasets import fetch

    try:
        fetch("mnist", data_dir=data_dir, download=False, progress=False)
    except (DataError, OSError):
        return False
    return True


def default_model(data_dir: str | None = None, say: Callable[[str], None] = print) -> Path:
    """The quick model's file, training it first if it is not cached yet.

    Parameters
    ----------
    data_dir : str, optional
        Where to look for MNIST (default ``$BPNN_DATA_DIR`` or the user cache).
    say : callable
        Prints what is happening.

    Raises
    ------
    BpnnError
        When training fails (the message says how to make a model instead).
    """
    from ..experiment import run
    from ..settings import Settings

    name = "mnist" if mnist_is_here(data_dir) else "digits"
    path = model_cache_dir() / f"quick-{name}-bpnn{__version__}.safetensors"
    if path.is_file():
        say(f"bpnn: no MODEL given: serving the quick {name} model from {path}")
        return path
    settings = Settings(QUICK_MODELS[name], data_dir=data_dir, out=str(path))
    options = " ".join(f"--{k.replace('_', '-')} {','.join(map(str, v)) if isinstance(v, list) else v}"
                       for k, v in QUICK_MODELS[name].items())
    if name == "digits":
        say("bpnn: MNIST is not on this machine, so the quick model reads scikit-learn's 8x8 digits; for a "
            "28x28 MNIST model run 'bpnn train --dataset mnist --hidden 100 --out mnist.safetensors' and "
            "'bpnn serve mnist.safetensors'")
    say(f"bpnn: no MODEL given: training a quick {name} model once (bpnn train {options}), kept in {path}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BpnnError(f"cannot create {path.parent} for the quick model ({err.strerror or err}); "
                        f"set BPNN_MODEL_DIR, or train one with 'bpnn train --out model.safetensors' and "
                        f"run 'bpnn serve model.safetensors'") from None
    try:
        result = run(settings)
    except BpnnError as err:
        raise BpnnError(f"training the quick model failed ({err}); train one with "
                        "'bpnn train --out model.safetensors' and run 'bpnn serve model.safetensors'") from None
    say(f"bpnn: the quick model reached {result.test.accuracy:.2%} on the test set")
    return path


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise BpnnError(f"--host {host}: cannot resolve it ({err.strerror}); give an address such as "
                        f"127.0.0.1") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        hint = ("choose another with --port (0 picks a free one)" if err.errno in (98, 48, 10048)
                else "check --host and --port")
        raise BpnnError(f"cannot listen on {host} port {port}: {err.strerror or err}; {hint}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(model: str | None, host: str = "127.0.0.1", port: int = 8000, *,
          max_body: int | None = None, max_pixels: int | None = None, data_dir: str | None = None,
          log_level: str = "warning", training: bool = True) -> int:
    """Serve the page for ``model`` (a model file; None: the quick model) until Ctrl-C.

    ``training`` turns on the page's Train tab (one bounded run at a time, MNIST
    looked for in ``data_dir``).  Returns 0 after a clean shutdown.
    """
    import uvicorn

    from ..io.modelfile import load
    from ..predictor import Predictor
    from .app import DEFAULT_MAX_BODY, DEFAULT_MAX_PIXELS, create_app

    path = Path(model) if model else default_model(data_dir)
    model = load(path)
    predictor = Predictor(model, max_pixels=DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels)
    app = create_app(predictor, source=path.name, max_body=DEFAULT_MAX_BODY if max_body is None else max_body,
                     training=training, data_dir=data_dir)
    class _Server(uvicorn.Server):
        """uvicorn's server, telling the app as soon as Ctrl-C arrives, so that open event streams end at
        once (uvicorn waits for open connections before it runs the app's shutdown)."""

        def handle_exit(self, sig, frame) -> None:
            app.state.closing.set()
            super().handle_exit(sig, frame)

    sock = _bind(host, port)
    actual_port = sock.getsockname()[1]
    url = _url(host, actual_port)
    if not _is_loopback(host):
        print(f"bpnn: warning: listening on {host}, reachable from other machines; the page has no login. "
              f"Use --host 127.0.0.1 to keep it on this computer.", file=sys.stderr, flush=True)
    try:
        print(f"bpnn: serving {model.network!r} from {path.name} at {url} (API: {url}docs); press Ctrl-C to stop",
              flush=True)
        config = uvicorn.Config(app, log_level=log_level, access_log=False, server_header=False,
                                timeout_graceful_shutdown=2)
        _Server(config).run(sockets=[sock])
    except KeyboardInterrupt:       # Ctrl-C before uvicorn took over the signal, or re-raised by it
        pass
    finally:
        sock.close()
    print("bpnn: server stopped", flush=True)
    return 0
