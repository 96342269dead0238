"""Finding, verifying and downloading the files of MNIST and Fashion-MNIST.

:func:`fetch` returns the paths of the four IDX files of a named data set,
looking in this order:

1. the cache folder ``<root>/<name>/`` where ``<root>`` is the ``data_dir``
   argument, else the ``BPNN_DATA_DIR`` environment variable, else
   ``platformdirs.user_cache_dir("bpnn")``.  Files there are used if their
   checksums are right (so ``BPNN_DATA_DIR`` may point at any folder laid out
   as ``mnist/`` and ``fashion-mnist/`` holding the four ``.gz`` files).  The
   four files directly in ``<root>`` are accepted too when their checksums
   are those of the requested data set;
2. a system folder where a package installed the files (Debian's
   ``dataset-fashion-mnist`` puts them in ``/usr/share/datasets/fashion-mnist``);
   ``BPNN_FASHION_MNIST_DIR`` (``BPNN_MNIST_DIR`` for MNIST) overrides it;
3. a download with :mod:`pooch` from the mirrors, tried in order for each
   file: the ``mirrors`` argument, else ``BPNN_MIRRORS`` (base URLs separated
   by commas or spaces; ``{name}`` in a URL is replaced by the data set's
   name), else the built-in list.

Downloads are all-or-nothing: pooch streams each file into a temporary file
inside a private staging folder and our downloader checks its SHA-256 there;
only a verified file is renamed into the cache, and the staging folder is
removed whatever happens.  A checksum mismatch or a broken connection thus
never leaves a file, complete or partial, under the cache's file names.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence, Union

from bpnn.datasets.catalog import REMOTE_DATASETS, FileSpec, RemoteDataset
from bpnn.datasets.idx import find_idx_files
from bpnn.exceptions import DataError

__all__ = ["default_data_dir", "fetch", "resolve_mirrors", "verify_file"]

PathLike = Union[str, "os.PathLike[str]"]

_STAGING_PREFIX = ".bpnn-download-"
_STALE_STAGING_SECONDS = 24 * 3600
_CHUNK = 1 << 20
#: Decompressed size at which checksumming a payload stops (the largest file
#: of the catalog decompresses to 47 MB); hashing is streamed, so this bounds
#: time, not memory.
_MAX_PAYLOAD = 1 << 30
_verified: dict[tuple, bool] = {}


def default_data_dir() -> Path:
    """Return the cache root: ``$BPNN_DATA_DIR`` or the user cache folder.

    Returns
    -------
    pathlib.Path
        ``BPNN_DATA_DIR`` if set and non-empty, else
        ``platformdirs.user_cache_dir("bpnn")``.  Data set ``name`` is cached
        in the subfolder ``name``.
    """
    env = os.environ.get("BPNN_DATA_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("bpnn"))


def resolve_mirrors(
    dataset: RemoteDataset, mirrors: str | Sequence[str] | None = None
) -> list[str]:
    """Return the base URLs to try, in order, for ``dataset``.

    Parameters
    ----------
    dataset : RemoteDataset
        The data set (its built-in mirrors are the fallback).
    mirrors : str or sequence of str, optional
        Base URLs; a string may hold several separated by commas or
        whitespace.  ``None`` uses ``$BPNN_MIRRORS`` if set, else the built-in
        list.  ``{name}`` in a URL is replaced by ``dataset.name``.

    Returns
    -------
    list of str
        URLs, each ending in ``/``.
    """
    if mirrors is None:
        mirrors = os.environ.get("BPNN_MIRRORS", "").strip() or None
    if mirrors is None:
        urls = list(dataset.mirrors)
    elif isinstance(mirrors, str):
        urls = [u for u in re.split(r"[,\s]+", mirrors) if u]
    else:
        urls = [str(u).strip() for u in mirrors if str(u).strip()]
    if not urls:
        raise DataError(
            f"no download mirror given for {dataset.name}; pass mirrors=[base URLs] "
            f"or set BPNN_MIRRORS, or leave both unset to use the built-in mirrors"
        )
    return [u.replace("{name}", dataset.name).rstrip("/") + "/" for u in urls]


def _sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256_of_payload(path: Path) -> str | None:
    """SHA-256 of the decompressed content (of the content itself if raw).

    None if the content decompresses to more than ``_MAX_PAYLOAD`` bytes.
    """
    with open(path, "rb") as probe:
        is_gzip = probe.read(2) == b"\x1f\x8b"
    if not is_gzip:
        return _sha256_of_file(path)
    digest = hashlib.sha256()
    total = 0
    with gzip.open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            total += len(chunk)
            if total > _MAX_PAYLOAD:
                return None  # far beyond any file of the catalog: not worth the time
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: PathLike, spec: FileSpec) -> str | None:
    """Check a file against the checksums of ``spec``.

    Parameters
    ----------
    path : str or os.PathLike
        The file (gzip or raw).
    spec : FileSpec
        Its accepted SHA-256 digests (as stored, or of the decompressed payload).

    Returns
    -------
    str or None
        ``None`` if the file is valid, else a sentence saying what is wrong.
        Results for unchanged files (same size and modification time) are
        remembered for the life of the process.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        return f"cannot be read ({exc})"
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, spec)
    if _verified.get(key):
        return None
    try:
        digest = _sha256_of_file(path)
    except OSError as exc:
        return f"cannot be read ({exc})"
    if digest in spec.gz_sha256:
        _verified[key] = True
        return None
    extra = ""
    if spec.payload_sha256 is not None:
        try:
            payload = _sha256_of_payload(path)
        except (OSError, EOFError, zlib.error) as exc:
            extra = f" (and it does not decompress: {exc})"
        else:
            if payload is None:
                return (
                    f"has sha256 {digest}, expected {' or '.join(spec.gz_sha256)} (and it "
                    f"decompresses to more than {_MAX_PAYLOAD >> 30} GiB, far more than "
                    f"any file of the data set)"
                )
            if payload == spec.payload_sha256:
                _verified[key] = True
                return None
            extra = (
                f" (nor is the sha256 of its decompressed content "
                f"{spec.payload_sha256})"
            )
    expected = " or ".join(spec.gz_sha256)
    return f"has sha256 {digest}, expected {expected}{extra}"


def _system_dirs(dataset: RemoteDataset) -> list[Path]:
    env_name = "BPNN_" + re.sub(r"\W", "_", dataset.name).upper() + "_DIR"
    env = os.environ.get(env_name, "").strip()
    dirs = env.split(os.pathsep) if env else list(dataset.system_dirs)
    return [Path(d).expanduser() for d in dirs if d]


def _verified_set(folder: Path, dataset: RemoteDataset, roles: Sequence[str]) -> dict[str, Path] | None:
    """The files of ``dataset`` with these ``roles`` in ``folder`` if all are present and valid."""
    found, _ = find_idx_files(folder)
    if any(role not in found for role in roles):
        return None
    for role in roles:
        if verify_file(found[role], dataset.files[role]) is not None:
            return None
    return {role: found[role] for role in roles}


class _DropPoochHashHint(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102
        return not str(record.msg).startswith("SHA256 hash of downloaded file")


@contextmanager
def _quiet_pooch() -> Iterator[None]:
    """Silence pooch's INFO chatter (we print our own line per download)."""
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    hint_filter = _DropPoochHashHint()
    logger.addFilter(hint_filter)
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.removeFilter(hint_filter)
        logger.setLevel(level)


class _ChecksumMismatch(ValueError):
    """Raised inside pooch's download so that pooch deletes the temporary file."""


class _VerifyingDownloader:
    """Wraps a pooch downloader and checks the checksum in pooch's temp file.

    pooch calls the downloader with a temporary file name and removes that
    file if the downloader raises, so a bad file never reaches the cache.
    """

    def __init__(self, inner, spec: FileSpec) -> None:
        self.inner = inner
        self.spec = spec

    def __call__(self, url: str, output_file: str, pooch_obj, check_only: bool = False):
        result = self.inner(url, output_file, pooch_obj)
        problem = verify_file(output_file, self.spec)
        if problem is not None:
            raise _ChecksumMismatch(f"checksum mismatch: the downloaded file {problem}")
        return result


def _describe(exc: BaseException) -> str:
    import requests

    if isinstance(exc, _ChecksumMismatch):
        return str(exc)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    if isinstance(exc, requests.ConnectionError):
        reason = re.search(r"\[Errno -?\d+\] [^'\")]+|Name or service not known", str(exc))
        return f"connection failed ({reason.group(0) if reason else type(exc).__name__})"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


def _remove_stale_staging(target: Path) -> None:
    now = time.time()
    for entry in target.glob(_STAGING_PREFIX + "*"):
        try:
            if now - entry.stat().st_mtime > _STALE_STAGING_SECONDS:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            pass


def _local_help(dataset: RemoteDataset, target: Path) -> str:
    names = ", ".join(spec.name for spec in dataset.files.values())
    return (
        f"bpnn needs the four files {names}. If this machine is offline, copy "
        f"them here from another machine and either pass their folder to "
        f"bpnn.datasets.load('/path/to/folder'), or put them in {target} "
        f"(the '{dataset.name}' subfolder of the cache root, which is chosen by "
        f"data_dir= or the BPNN_DATA_DIR environment variable; the root itself "
        f"is accepted too), or set BPNN_MIRRORS to "
        f"base URLs of a reachable server holding them."
    )


def _download_one(
    dataset: RemoteDataset,
    role: str,
    target: Path,
    urls: list[str],
    progress: bool,
) -> tuple[Path | None, list[str]]:
    """Try each mirror for one file; return (path or None, failure notes)."""
    import pooch

    spec = dataset.files[role]
    failures: list[str] = []
    for base in urls:
        url = base + spec.name
        try:
            staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=target))
        except OSError as exc:
            raise DataError(
                f"cannot write to the cache folder {target} ({exc}); set "
                f"BPNN_DATA_DIR or pass data_dir= to choose a writable folder"
            ) from exc
        try:
            downloader = _VerifyingDownloader(
                pooch.HTTPDownloader(
                    progressbar=progress,
                    chunk_size=65536,
                    headers={"Accept-Encoding": "identity"},
                ),
                spec,
            )
            if progress:
                print(f"bpnn: downloading {url}", file=sys.stderr, flush=True)
            with _quiet_pooch():
                fetched = pooch.retrieve(
                    url,
                    known_hash=None,  # checked by _VerifyingDownloader
                    fname=spec.name,
                    path=staging,
                    downloader=downloader,
                )
            final = target / spec.name
            os.replace(fetched, final)
            return final, failures
        except (ValueError, OSError) as exc:  # requests' errors are OSErrors
            failures.append(f"{url}: {_describe(exc)}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return None, failures


def fetch(
    name: str,
    *,
    data_dir: PathLike | None = None,
    mirrors: str | Sequence[str] | None = None,
    progress: bool = True,
    download: bool = True,
    roles: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Return verified local paths of the four IDX files of a named data set.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
        The data set.
    data_dir : str or os.PathLike, optional
        Cache root; files live in ``data_dir/name/``.  Default
        :func:`default_data_dir`.
    mirrors : str or sequence of str, optional
        Base URLs tried in order (see :func:`resolve_mirrors`).
    progress : bool, default True
        Show a tqdm progress bar (on stderr) while downloading.
    download : bool, default True
        If False, never touch the network: raise if no valid local copy.
    roles : sequence of str, optional
        Only these files (default all four), e.g. ``("test_images",
        "test_labels")`` to evaluate a model without the training images.

    Returns
    -------
    dict of str to pathlib.Path
        Keys ``train_images``, ``train_labels``, ``test_images``,
        ``test_labels`` (those of ``roles``).

    Raises
    ------
    bpnn.exceptions.DataError
        If the name is unknown, the cache folder cannot be written, or a file
        could not be obtained from any mirror; the message lists each mirror's
        failure and says how to point bpnn at local copies.
    """
    dataset = REMOTE_DATASETS.get(name)
    if dataset is None:
        raise DataError(
            f"no downloadable data set named {name!r}; choose one of "
            f"{sorted(REMOTE_DATASETS)}"
        )
    wanted = tuple(dataset.files) if roles is None else tuple(roles)
    unknown = [r for r in wanted if r not in dataset.files]
    if unknown:
        raise DataError(f"unknown file roles {unknown}; choose from {list(dataset.files)}")
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    target = root / dataset.name

    found, _missing = find_idx_files(target) if target.is_dir() else ({}, [])
    problems: dict[str, str] = {}
    have: dict[str, Path] = {}
    for role in wanted:
        spec = dataset.files[role]
        path = found.get(role)
        if path is None:
            continue
        problem = verify_file(path, spec)
        if problem is None:
            have[role] = path
        else:
            problems[role] = f"{path} {problem}"
    if len(have) == len(wanted):
        return have

    # The four files may also sit directly in the root (checksums tell MNIST
    # from Fashion-MNIST), or in a system package's folder.
    for folder in [root, *_system_dirs(dataset)]:
        if folder.is_dir():
            system = _verified_set(folder, dataset, wanted)
            if system is not None:
                return system

    todo = [role for role in wanted if role not in have]
    if not download:
        lines = [
            f"{dataset.name}: no valid local copy and download=False; "
            f"missing or invalid in {target}: "
            + ", ".join(dataset.files[r].name for r in todo)
            + "."
        ]
        lines += [f"  {p}" for p in problems.values()]
        lines.append(_local_help(dataset, target) + " Or pass download=True.")
        raise DataError("\n".join(lines))

    urls = resolve_mirrors(dataset, mirrors)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create the cache folder {target} ({exc}); set BPNN_DATA_DIR "
            f"or pass data_dir= to choose a writable folder"
        ) from exc
    _remove_stale_staging(target)
    for role in todo:
        path, failures = _download_one(dataset, role, target, urls, progress)
        if path is None:
            spec = dataset.files[role]
            lines = [f"could not download {dataset.name} file {spec.name}: every mirror failed:"]
            lines += [f"  - {f}" for f in failures]
            if role in problems:
                lines.append(f"  (the cached copy {problems[role]})")
            lines.append(_local_help(dataset, target))
            raise DataError("\n".join(lines))
        have[role] = path
    return have
