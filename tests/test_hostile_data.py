"""Hostile data files: bombs, lying headers and corrupt labels.

Every attack must end in a clean :class:`bpnn.DataError` that names the file,
with bounded memory: the peak of Python's and NumPy's allocations (tracemalloc
sees both) stays under :data:`PEAK_LIMIT` however much the file declares or
would expand to, and one test checks the same in a fresh process with the
operating system's peak resident size.  The budget of :mod:`bpnn.limits` is set
through ``BPNN_MEMORY_BUDGET`` where a test needs a particular one, so that
nothing depends on this machine's memory.
"""

from __future__ import annotations

import functools
import gc
import gzip
import io
import json
import os
import pickle
import re
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpnn import limits
from bpnn.datasets import load, read_idx, write_idx
from bpnn.datasets.catalog import MNIST_CLASSES
from bpnn.datasets.idx import IDX_TYPES, find_idx_files
from bpnn.datasets.safe_pickle import MAX_OPCODES, safe_loads, scan_pickle
from bpnn.datasets.sources import read_idx_files
from bpnn.exceptions import DataError

ROOT = Path(__file__).resolve().parents[1]
MiB = 2**20
GiB = 2**30
PEAK_LIMIT = 100 * MiB

_ZERO_MEMBER_SIZE = 16 * MiB


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


@contextmanager
def peak_memory(collect: bool = True):
    """Measure the peak of traced allocations (Python objects and NumPy arrays)."""
    if collect:
        gc.collect()
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result = {"peak": 0}
    try:
        yield result
    finally:
        result["peak"] = tracemalloc.get_traced_memory()[1] - base
        if started:
            tracemalloc.stop()


def idx_header(code: int, shape) -> bytes:
    return bytes([0, 0, code, len(shape)]) + b"".join(int(s).to_bytes(4, "big") for s in shape)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


@functools.lru_cache(maxsize=None)
def _zero_member() -> bytes:
    """One gzip member of 16 MiB of zeros (16 KB)."""
    return gzip.compress(bytes(_ZERO_MEMBER_SIZE), compresslevel=9, mtime=0)


def zeros_gz(total: int) -> bytes:
    """A multi-member gzip stream of ``total`` zero bytes (about 1/1000 of that on disk)."""
    full, rest = divmod(total, _ZERO_MEMBER_SIZE)
    return _zero_member() * full + (gz(bytes(rest)) if rest else b"")


def expect_clean_refusal(call, path: Path, match: str | None = None, *, limit: int = PEAK_LIMIT):
    """``call()`` raises DataError naming ``path``, its memory peak under ``limit``.

    Returns the message and the peak."""
    with peak_memory() as memory:
        with pytest.raises(DataError) as info:
            call()
    message = str(info.value)
    assert path.name in message, message
    if match is not None:
        assert re.search(match, message), message
    assert memory["peak"] < limit, f"peak {memory['peak'] / MiB:.1f} MiB: {message}"
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split("::")[-1].split(" ")[0]
    PEAKS[f"{test}: {path.name}"] = memory["peak"]
    return message, memory["peak"]


#: Peak memory of each bomb, printed at the end (``pytest -s``) for the record.
PEAKS: dict[str, int] = {}
RSS_PEAKS: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_peaks():
    yield
    for title, table in (("traced allocations (tracemalloc)", PEAKS),
                         ("resident size in a fresh process (VmHWM - VmRSS before)", RSS_PEAKS)):
        if table:
            width = max(len(name) for name in table)
            print(f"\npeak memory per hostile file, {title}:")
            for name, peak in table.items():
                print(f"  {name:<{width}}  {peak / MiB:8.2f} MiB")


@pytest.fixture(autouse=True)
def _default_budget(monkeypatch):
    monkeypatch.delenv(limits.ENV_VAR, raising=False)


def write_folder(folder: Path, y_train, y_test, *, label_code: int = 0x08, n_pixels: int = 4):
    """An IDX folder of tiny images with the given labels."""
    folder.mkdir(parents=True, exist_ok=True)
    y_train = np.asarray(y_train)
    y_test = np.asarray(y_test)
    dtype = IDX_TYPES[label_code].newbyteorder("=")
    rng = np.random.default_rng(0)
    write_idx(folder / "train-images-idx3-ubyte.gz",
              rng.integers(0, 256, (len(y_train), n_pixels, n_pixels), dtype=np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz",
              rng.integers(0, 256, (len(y_test), n_pixels, n_pixels), dtype=np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz", y_train.astype(dtype))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", y_test.astype(dtype))
    return folder


def npz_bytes(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name + ".npy", data)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_lying_header(shape, descr="|u1", data: bytes = bytes(1024)) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": tuple(shape)}
    )
    return buffer.getvalue() + data


def forge_zip_size(archive: bytes, name: str, size: int) -> bytes:
    """Overwrite the uncompressed size of member ``name`` in both zip headers."""
    data = bytearray(archive)
    # (signature, offset of the uncompressed size, of the name length, of the name)
    for signature, size_at, name_len_at, name_at in (
        (b"PK\x03\x04", 22, 26, 30),  # local file header
        (b"PK\x01\x02", 24, 28, 46),  # central directory entry
    ):
        start = data.find(signature)
        while start >= 0:
            (name_len,) = struct.unpack_from("<H", data, start + name_len_at)
            if data[start + name_at : start + name_at + name_len] == name.encode():
                struct.pack_into("<I", data, start + size_at, size)
            start = data.find(signature, start + 4)
    return bytes(data)


def good_npz_members(n_train: int = 30, n_test: int = 10) -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    return {
        "x_train": npy_bytes(rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)),
        "y_train": npy_bytes((np.arange(n_train) % 10).astype(np.uint8)),
        "x_test": npy_bytes(rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)),
        "y_test": npy_bytes((np.arange(n_test) % 10).astype(np.uint8)),
    }


# --------------------------------------------------------------------------
# The bombs, written once
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    """Hand-made hostile files; each is small on disk."""
    root = tmp_path_factory.mktemp("bombs")
    files: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        files[name] = root / name
        files[name].write_bytes(data)

    rng = np.random.default_rng(7)
    # 1. A gzip bomb whose header declares 4e9 images: 2 MB on disk, 2 GiB of zeros.
    put("huge-count-idx3-ubyte.gz", gz(idx_header(0x08, (4_000_000_000, 28, 28))) + zeros_gz(2 * GiB))
    # 2. A header of 60,000 images (47 MB) followed by 4 GiB of zeros (4 MB on disk).
    put("train-images-4gib-idx3-ubyte.gz", gz(idx_header(0x08, (60000, 28, 28))) + zeros_gz(4 * GiB))
    # 3. Ten genuine images, then 2 GiB more than the header declares.
    ten = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8).tobytes()
    put("trailing-idx3-ubyte.gz", gz(idx_header(0x08, (10, 28, 28)) + ten) + zeros_gz(2 * GiB))
    # 4. A 1.5 MB test set whose header declares 2,000,000 images (7.9 GB as float32).
    few = rng.integers(0, 256, (1900, 28, 28), dtype=np.uint8).tobytes()
    liar = gz(idx_header(0x08, (2_000_000, 28, 28)) + few)
    put("t10k-2m-images-idx3-ubyte.gz", liar)
    # 5. The same with its gzip trailer forged to agree with the header.
    forged = bytearray(liar)
    forged[-4:] = ((16 + 2_000_000 * 784) % 2**32).to_bytes(4, "little")
    put("t10k-2m-forged-idx3-ubyte.gz", bytes(forged))
    # 6. The same uncompressed.
    put("t10k-2m-raw-idx3-ubyte", idx_header(0x08, (2_000_000, 28, 28)) + few)
    # 7. A pkl.gz bomb: a pickle's first bytes, then 4 GiB of zeros.
    put("garbage-bomb.pkl.gz", gz(b"\x80\x02") + zeros_gz(4 * GiB))
    # 8. A pkl.gz whose bytes object declares 3 GiB and holds them (zeros).
    put("blob-bomb.pkl.gz", gz(b"\x80\x04\x8e" + (3 * GiB).to_bytes(8, "little")) + zeros_gz(3 * GiB))
    # 9. An npz whose x_train declares 2**40 rows.
    members = good_npz_members()
    members["x_train"] = npy_lying_header((2**40, 28, 28))
    put("rows-2pow40.npz", npz_bytes(members))
    # 10. An npz whose member's zip entry also claims the declared 3.1 GB.
    members = good_npz_members()
    declared = (4_000_000, 28, 28)
    members["x_train"] = npy_lying_header(declared, data=bytes(3 * MiB))
    header_len = len(npy_lying_header(declared, data=b""))
    lie = header_len + 4_000_000 * 784
    put("forged-size.npz", forge_zip_size(npz_bytes(members), "x_train.npy", lie))
    # 11. An npz holding an object array.
    members = good_npz_members()
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array([{"x": 1}, None] * 15, dtype=object), allow_pickle=True)
    members["y_train"] = buffer.getvalue()
    put("objects.npz", npz_bytes(members))
    # 12. An npz whose 30,000-image x_train is real zeros: fine, but 23.5 MB.
    members = good_npz_members()
    members["x_train"] = npy_bytes(np.zeros((30000, 28, 28), np.uint8))
    members["y_train"] = npy_bytes((np.arange(30000) % 10).astype(np.uint8))
    put("big-but-genuine.npz", npz_bytes(members))
    return files


# --------------------------------------------------------------------------
# IDX bombs
# --------------------------------------------------------------------------


def test_gzip_bomb_with_huge_declared_count(bombs):
    path = bombs["huge-count-idx3-ubyte.gz"]
    assert path.stat().st_size < 3 * MiB
    expect_clean_refusal(lambda: read_idx(path), path, r"false header|memory budget")


def test_gzip_stream_longer_than_declared_stops_at_the_declared_size(bombs):
    """The issue's 2 MB .gz that reached 4.3 GB: now it stops at 47 MB + 1 byte."""
    path = bombs["train-images-4gib-idx3-ubyte.gz"]
    assert path.stat().st_size < 5 * MiB
    message, _ = expect_clean_refusal(lambda: read_idx(path), path, r"unexpected data")
    assert "(60000, 28, 28)" in message


def test_gzip_trailing_data_beyond_declared_size(bombs):
    path = bombs["trailing-idx3-ubyte.gz"]
    expect_clean_refusal(lambda: read_idx(path), path, r"unexpected data", limit=8 * MiB)


@pytest.mark.parametrize(
    "name", ["t10k-2m-images-idx3-ubyte.gz", "t10k-2m-forged-idx3-ubyte.gz", "t10k-2m-raw-idx3-ubyte"]
)
def test_header_declaring_two_million_images_over_few(bombs, monkeypatch, name):
    """A generous budget, so what stops it is the missing data, not the budget."""
    monkeypatch.setenv(limits.ENV_VAR, "64GB")
    path = bombs[name]
    assert path.stat().st_size < 2 * MiB
    expect_clean_refusal(
        lambda: read_idx(path, ndim=3), path, r"truncated|corrupt gzip", limit=16 * MiB
    )


def test_two_million_image_test_set_refused_in_a_folder(bombs, tmp_path, monkeypatch):
    """The issue's accepted 7.9 GB test set: refused before its payload is read."""
    monkeypatch.setenv(limits.ENV_VAR, "64GB")
    folder = write_folder(tmp_path / "data", np.arange(60) % 10, np.arange(20) % 10, n_pixels=28)
    target = folder / "t10k-images-idx3-ubyte.gz"
    target.write_bytes(bombs["t10k-2m-images-idx3-ubyte.gz"].read_bytes())
    expect_clean_refusal(lambda: load(folder, validation=None), target,
                         r"2000000 images but .* 20 labels", limit=4 * MiB)


def test_budget_refuses_what_the_header_declares(tmp_path, monkeypatch):
    path = write_idx(tmp_path / "big-idx3-ubyte.gz", np.zeros((20000, 28, 28), np.uint8))
    monkeypatch.setenv(limits.ENV_VAR, "8MB")
    message, _ = expect_clean_refusal(lambda: read_idx(path), path, limit=2 * MiB)
    assert "15.0 MiB" in message and "7.6 MiB" in message and "BPNN_MEMORY_BUDGET" in message
    monkeypatch.setenv(limits.ENV_VAR, "32MB")
    assert read_idx(path).shape == (20000, 28, 28)


def test_eight_million_images_load_when_the_budget_allows(tmp_path, monkeypatch):
    """No fixed cap on counts: 8,000,000 (1x1) images are read; the budget decides."""
    n = 8_000_000
    images = (np.arange(n) % 251).astype(np.uint8).reshape(n, 1, 1)
    path = write_idx(tmp_path / "eight-million-idx3-ubyte.gz", images)
    monkeypatch.setenv(limits.ENV_VAR, "24MiB")
    with peak_memory() as memory:
        back = read_idx(path, ndim=3)
    assert back.shape == (n, 1, 1) and np.array_equal(back, images)
    assert memory["peak"] < 3 * n  # the array plus gzip's working buffers
    monkeypatch.setenv(limits.ENV_VAR, "4MiB")
    with pytest.raises(DataError, match=r"7\.6 MiB.*memory budget of 4\.0 MiB.*BPNN_MEMORY_BUDGET"):
        read_idx(path)


def test_bad_budget_setting_is_a_data_error(tmp_path, monkeypatch):
    path = write_idx(tmp_path / "small-idx1-ubyte", np.zeros(3, np.uint8))
    monkeypatch.setenv(limits.ENV_VAR, "lots")
    with pytest.raises(DataError, match="BPNN_MEMORY_BUDGET='lots'") as info:
        read_idx(path)
    assert path.name in str(info.value)


@pytest.mark.parametrize("container", ["idx", "npz"])
def test_empty_shape_beyond_numpy(tmp_path, container):
    """(0, 2**31, 2**31) holds nothing, yet NumPy cannot make it: a DataError, not ValueError."""
    shape = (0, 2**31, 2**31)
    if container == "idx":
        path = tmp_path / "empty-idx3-ubyte"
        path.write_bytes(idx_header(0x0B, shape))
        call = lambda: read_idx(path)  # noqa: E731
    else:
        members = good_npz_members()
        members["x_train"] = npy_lying_header(shape, descr="<i2", data=b"")
        path = tmp_path / "empty.npz"
        path.write_bytes(npz_bytes(members))
        call = lambda: load(path)  # noqa: E731
    expect_clean_refusal(call, path, r"no array can have", limit=MiB)


def test_not_a_regular_file(tmp_path):
    with pytest.raises(DataError, match="cannot be read") as info:
        read_idx(tmp_path)
    assert tmp_path.name in str(info.value)
    if Path("/dev/zero").exists():  # an endless stream: refused by its header
        with pytest.raises(DataError, match="unknown IDX type code 0x00"):
            read_idx("/dev/zero")


# --------------------------------------------------------------------------
# pickle bombs
# --------------------------------------------------------------------------


def test_pkl_gz_garbage_bomb_stops_at_the_first_bad_opcode(bombs):
    """The issue's 2 MB .pkl.gz that reached 4.2 GB, with the default budget."""
    path = bombs["garbage-bomb.pkl.gz"]
    expect_clean_refusal(lambda: load(path), path, r"unknown opcode 0x00", limit=4 * MiB)


def test_pkl_gz_blob_bomb_bounded_by_the_budget(bombs, monkeypatch):
    monkeypatch.setenv(limits.ENV_VAR, "96MB")
    path = bombs["blob-bomb.pkl.gz"]
    expect_clean_refusal(lambda: load(path), path, r"longer than a third of the memory budget")


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"\x80\x04\x8e" + (2**40).to_bytes(8, "little") + b"x.", "declares 1099511627776 bytes"),
        (b"\x80\x02r\xff\xff\xff\x7fN.", "memo index"),
        (b"\x80\x02N" + b"p2147483647\n" + b".", "memo index"),
        (b"\x80\x02" + b"}" * (MAX_OPCODES + 1) + b".", "more than 200000 opcodes"),
        (b"\x80\x02}}", "no STOP"),
    ],
    ids=["bytes8-2pow40", "long-binput", "put", "many-opcodes", "no-stop"],
)
def test_pickle_opcode_attacks(payload, message):
    with peak_memory() as memory:
        with pytest.raises(DataError, match=message):
            safe_loads(payload, source="attack.pkl")
    assert memory["peak"] < 16 * MiB


def test_pickle_object_and_oversized_arrays_refused(monkeypatch):
    objects = pickle.dumps(np.array([1, None], dtype=object), protocol=2)
    with pytest.raises(DataError, match="Python objects"):
        safe_loads(objects, source="objects.pkl")
    # _reconstruct asked for a 1 TB array by a hand-written pickle.
    big = pickle.dumps(np.zeros(3), protocol=2).replace(
        b"K\x00\x85", b"\x8a\x06\x00\x00\x00\x00\x00\x01\x85", 1
    )
    with peak_memory() as memory:
        with pytest.raises(DataError, match="big.pkl"):
            safe_loads(big, source="big.pkl")
    assert memory["peak"] < 16 * MiB
    ok = pickle.dumps((np.arange(5), np.float32(2.5)), protocol=2)
    assert scan_pickle(ok) == len(ok)
    assert safe_loads(ok)[0].tolist() == [0, 1, 2, 3, 4]


_STATE_SCRIPT = """
import pickle, sys
import numpy as np
from bpnn.datasets.safe_pickle import safe_loads
from bpnn.exceptions import DataError

good = pickle.dumps(np.arange(3, dtype=np.float32), protocol=2)
state = b"NNNJ\\xff\\xff\\xff\\xffJ\\xff\\xff\\xff\\xffK\\x00t"  # (.., None, None, None, -1, -1, 0)
assert state in good
attacks = {
    "fields -1": good.replace(state, b"NJ\\xff\\xff\\xff\\xffJ\\xff\\xff\\xff\\xffK\\x00t"),
    "object flags": good.replace(state, b"NNNJ\\xff\\xff\\xff\\xffJ\\xff\\xff\\xff\\xffK\\x3ft"),
}
for name, attack in attacks.items():
    try:
        safe_loads(attack, source="state.pkl")
    except DataError as exc:
        assert "refused a dtype state" in str(exc), str(exc)
    else:
        sys.exit(name + " was loaded")
print("ok")
"""


def test_malformed_dtype_state_cannot_crash_the_interpreter():
    """NumPy's dtype.__setstate__ trusts its argument: ((3, '<', None, -1, -1, 0) segfaults).

    Run in a fresh process, so that a regression fails this test instead of
    killing the test run.
    """
    done = subprocess.run([sys.executable, "-c", _STATE_SCRIPT], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", (done.returncode, done.stderr)


# --------------------------------------------------------------------------
# npz bombs
# --------------------------------------------------------------------------


def test_npz_member_declaring_2pow40_rows(bombs):
    path = bombs["rows-2pow40.npz"]
    message, _ = expect_clean_refusal(lambda: load(path), path, r"x_train")
    assert "1099511627776" in message


def test_npz_with_a_forged_uncompressed_size(bombs):
    path = bombs["forged-size.npz"]
    expect_clean_refusal(lambda: load(path), path, r"x_train.*cannot hold|damaged or hostile")


def test_npz_object_array_refused_before_reading(bombs):
    path = bombs["objects.npz"]
    expect_clean_refusal(lambda: load(path), path, r"allow_pickle=False")


def test_npz_checked_against_the_budget(bombs, monkeypatch):
    path = bombs["big-but-genuine.npz"]
    monkeypatch.setenv(limits.ENV_VAR, "16MB")
    expect_clean_refusal(lambda: load(path), path, r"memory budget of 15\.3 MiB", limit=2 * MiB)
    monkeypatch.setenv(limits.ENV_VAR, "512MB")
    assert len(load(path, validation=None).train) == 30000


def test_npy_file_declaring_2pow40_rows_is_not_an_npz(tmp_path):
    path = tmp_path / "single.npz"
    path.write_bytes(npy_lying_header((2**40, 784)))
    expect_clean_refusal(lambda: load(path), path, r"single array")


# --------------------------------------------------------------------------
# Labels are data
# --------------------------------------------------------------------------


def test_corrupt_label_byte_255_in_a_folder(tmp_path):
    """One byte of 255 among 0..9 used to make 256 classes (and a silent 55% network)."""
    y_train = np.arange(600) % 10
    y_train[123] = 255
    folder = write_folder(tmp_path / "data", y_train, np.arange(100) % 10)
    labels = folder / "train-labels-idx1-ubyte.gz"
    message, _ = expect_clean_refusal(lambda: load(folder, validation=None), labels, None)
    assert "label 255 in 1 row of" in message and "0..9, 255" in message
    assert "t10k-labels" not in message.split(":")[0]


def test_corrupt_label_in_a_catalog_data_set(tmp_path):
    """For MNIST (10 classes from the catalog), 255 is outside 0..9 whatever else is there."""
    y_test = np.arange(100) % 10
    y_test[[3, 50, 70]] = 255
    folder = write_folder(tmp_path / "mnist", np.arange(600) % 10, y_test)
    files, missing = find_idx_files(folder)
    assert not missing
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    message, _ = expect_clean_refusal(
        lambda: read_idx_files(files, name="mnist", classes=MNIST_CLASSES), labels, None
    )
    assert "label 255 in 3 rows of" in message and "outside the classes 0..9 of mnist" in message


@pytest.mark.parametrize("container", ["idx", "npz"])
def test_label_of_fifty_million(tmp_path, container):
    """One int32 label of 5e7 used to cost 6.2 GB and give 50,000,001 classes."""
    y_train = (np.arange(600) % 10).astype(np.int32)
    y_train[7] = 50_000_000
    if container == "idx":
        folder = write_folder(tmp_path / "data", y_train, np.arange(100) % 10, label_code=0x0C)
        source, bad = folder, folder / "train-labels-idx1-ubyte.gz"
    else:
        members = good_npz_members(600, 100)
        members["y_train"] = npy_bytes(y_train)
        source = bad = tmp_path / "mnist.npz"
        bad.write_bytes(npz_bytes(members))
    message, _ = expect_clean_refusal(lambda: load(source, validation=None), bad, None)
    assert "label 50000000 in 1 row" in message


def test_labels_with_a_gap(tmp_path):
    folder = write_folder(tmp_path / "data", np.array([0, 1, 3] * 20), np.array([0, 1, 3] * 5))
    message, _ = expect_clean_refusal(
        lambda: load(folder, validation=None), folder / "train-labels-idx1-ubyte.gz", None
    )
    assert "label 3 in 20 rows of" in message and "5 rows of" in message
    assert "class 2 never occurs" in message and "0, 1, 3" in message


def test_labels_counted_from_one_in_a_pickle(tmp_path):
    rng = np.random.default_rng(1)
    parts = tuple((rng.random((n, 4), dtype=np.float32), np.arange(n) % 3 + 1) for n in (30, 6, 6))
    path = tmp_path / "one-based.pkl.gz"
    path.write_bytes(gz(pickle.dumps(parts, protocol=2)))
    message, _ = expect_clean_refusal(lambda: load(path, validation=None), path, None)
    assert "label 3 in 10 rows of" in message and "class 0 never occurs" in message


def test_consecutive_labels_give_their_count(tmp_path):
    folder = write_folder(tmp_path / "three", np.arange(60) % 3, np.arange(12) % 3)
    ds = load(folder, validation=None)
    assert ds.classes == ["0", "1", "2"] and ds.n_classes == 3


def test_class_filter_does_not_size_a_table_by_a_label():
    from bpnn.datasets.prepare import select_classes

    y = np.array([3, 8, 2**62, 8, 0])
    with peak_memory() as memory:
        X, new = select_classes(np.arange(5), y, [8, 3])
    assert X.tolist() == [0, 1, 3] and new.tolist() == [1, 0, 0]
    assert memory["peak"] < MiB


def test_checksumming_a_cached_gzip_bomb_stops(tmp_path, monkeypatch):
    """A bomb in the download cache: its payload hash stops at a bound (time, not memory)."""
    from bpnn.datasets import download
    from bpnn.datasets.catalog import REMOTE_DATASETS

    monkeypatch.setattr(download, "_MAX_PAYLOAD", 8 * MiB)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gz(idx_header(0x08, (60000, 28, 28))) + zeros_gz(GiB))
    with peak_memory() as memory:
        problem = download.verify_file(path, REMOTE_DATASETS["mnist"].files["train_images"])
    assert "decompresses to more than" in problem
    assert memory["peak"] < 16 * MiB


# --------------------------------------------------------------------------
# bpnn.limits
# --------------------------------------------------------------------------


def test_parse_and_format_sizes():
    assert limits.parse_size("2GB") == 2 * 10**9
    assert limits.parse_size("512MiB") == 512 * MiB
    assert limits.parse_size(" 1.5 gib ") == 3 * GiB // 2
    assert limits.parse_size("4096") == 4096
    for bad in ("", "-1", "2 furlongs", "1e9", "GB"):
        with pytest.raises(ValueError, match="not a size"):
            limits.parse_size(bad)
    assert limits.format_bytes(100) == "100 bytes"
    assert limits.format_bytes(3 * GiB) == "3.0 GiB"
    assert limits.format_bytes(int(7.9e9)) == "7.4 GiB"


def test_budget_default_env_and_fallback(monkeypatch):
    available = limits.available_memory()
    assert available is None or available > 0
    if available is not None:
        assert abs(limits.memory_budget() - available // 2) < 512 * MiB
    monkeypatch.setenv(limits.ENV_VAR, "3GiB")
    assert limits.memory_budget() == 3 * GiB
    assert "set by BPNN_MEMORY_BUDGET" in limits.describe_budget()
    monkeypatch.delenv(limits.ENV_VAR)
    monkeypatch.setattr(limits, "available_memory", lambda: None)
    assert limits.memory_budget() == limits.FALLBACK_BUDGET
    with pytest.raises(DataError, match=r"f\.idx: the payload would need 3\.0 GiB.*2\.0 GiB"):
        limits.check_allocation(3 * GiB, "the payload", "f.idx", error=DataError)


def test_read_capped():
    data = bytes(range(256)) * 100
    assert limits.read_capped(io.BytesIO(data), len(data), "s") == data
    assert limits.read_capped(io.BytesIO(data[:10]), len(data), "s") == data[:10]
    assert limits.read_capped(io.BytesIO(b""), 0, "s") == b""
    with pytest.raises(DataError, match=r"^s: unexpected data: the stream holds more than"):
        limits.read_capped(io.BytesIO(data), len(data) - 1, "s", error=DataError)
    stream = gzip.GzipFile(fileobj=io.BytesIO(zeros_gz(GiB)))
    with peak_memory() as memory:
        with pytest.raises(DataError):
            limits.read_capped(stream, 5 * MiB, "bomb.gz", error=DataError)
    assert memory["peak"] < 40 * MiB


# --------------------------------------------------------------------------
# Properties of the IDX reader
# --------------------------------------------------------------------------

_PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hypothesis")


def _read_or_refuse(path: Path, *, limit: int = 16 * MiB):
    """read_idx returns an array or raises DataError naming the file, in bounded memory."""
    with peak_memory(collect=False) as memory:
        try:
            result = read_idx(path)
        except DataError as exc:
            assert path.name in str(exc)
            result = None
    assert memory["peak"] < limit, memory["peak"]
    return result


@_PROPERTY_SETTINGS
@given(data=st.binary(max_size=600), compress=st.booleans())
def test_property_random_bytes(scratch, data, compress):
    path = scratch / ("random.gz" if compress else "random")
    path.write_bytes(gz(data) if compress else data)
    result = _read_or_refuse(path)
    if result is not None:
        assert result.nbytes == len(data) - 4 - 4 * result.ndim


_DIM = st.one_of(st.integers(0, 12), st.integers(0, 2**32 - 1), st.sampled_from([2**31, 2**32 - 1]))


@_PROPERTY_SETTINGS
@given(
    code=st.one_of(st.sampled_from(sorted(IDX_TYPES)), st.integers(0, 255)),
    dims=st.lists(_DIM, min_size=0, max_size=4),
    extra=st.integers(-64, 64),
    compress=st.booleans(),
    zeros_after=st.sampled_from([0, 0, 0, MiB, 64 * MiB]),
    flip=st.one_of(st.none(), st.tuples(st.integers(0, 40), st.integers(1, 255))),
)
def test_property_mutated_headers(scratch, code, dims, extra, compress, zeros_after, flip):
    """Valid-looking files with lying sizes, wrong codes, flipped bytes and appended bombs."""
    itemsize = IDX_TYPES[code].itemsize if code in IDX_TYPES else 1
    count = int(np.prod(dims, dtype=object)) if dims else 0
    true_len = min(count * itemsize, 4096)
    payload = bytes((i * 37) % 256 for i in range(max(0, true_len + extra)))
    sizes = b"".join(d.to_bytes(4, "big") for d in dims)
    raw = bytearray(bytes([0, 0, code, len(dims)]) + sizes + payload)
    if flip is not None and flip[0] < len(raw):
        raw[flip[0]] ^= flip[1]
    content = bytes(raw)
    if compress:
        content = gz(content) + (zeros_gz(zeros_after) if zeros_after else b"")
    path = scratch / ("mutated.gz" if compress else "mutated")
    path.write_bytes(content)
    result = _read_or_refuse(path, limit=PEAK_LIMIT if compress and zeros_after else 16 * MiB)
    if result is not None:
        assert result.dtype.isnative and result.flags.writeable
        assert result.shape == struct.unpack(f">{raw[3]}I", bytes(raw[4 : 4 + 4 * raw[3]]))
        if not zeros_after or not compress:
            assert result.nbytes == len(raw) - 4 - 4 * raw[3]


# --------------------------------------------------------------------------
# The operating system's view: peak resident memory of a fresh process
# --------------------------------------------------------------------------


_RSS_SCRIPT = """
import json, os, resource, sys
from bpnn.datasets import load, read_idx
from bpnn.exceptions import DataError


def kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def reset_peak():
    # Linux >= 4.0: writing 5 resets VmHWM (the peak resident size) to the current size.
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


report = {}
for path, budget in json.loads(sys.argv[1]):
    if budget:
        os.environ["BPNN_MEMORY_BUDGET"] = budget
    else:
        os.environ.pop("BPNN_MEMORY_BUDGET", None)
    if reset_peak() and kib("VmHWM") is not None:
        before, peak = kib("VmRSS"), lambda: kib("VmHWM")
    else:  # no per-case reset: growth of the process's peak so far
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        (read_idx if "idx" in os.path.basename(path) else load)(path)
        outcome = "loaded"
    except DataError as exc:
        outcome = "DataError" if os.path.basename(path) in str(exc) else str(exc)
    report[os.path.basename(path)] = [outcome, peak() - before]
print(json.dumps(report))
"""


def test_bombs_in_a_fresh_process_keep_resident_memory_bounded(bombs):
    """tracemalloc sees Python and NumPy; the resident size also counts zlib and the rest."""
    budgets = {"t10k-2m-images-idx3-ubyte.gz": "64GB", "t10k-2m-forged-idx3-ubyte.gz": "64GB",
               "t10k-2m-raw-idx3-ubyte": "64GB", "blob-bomb.pkl.gz": "96MB"}
    cases = [(str(path), budgets.get(name)) for name, path in bombs.items()
             if name != "big-but-genuine.npz"]
    env = {k: v for k, v in os.environ.items() if k != limits.ENV_VAR}
    done = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, json.dumps(cases)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert {outcome for outcome, _ in report.values()} == {"DataError"}, report
    for name, (_, growth_kib) in report.items():
        RSS_PEAKS[name] = growth_kib * 1024
        assert growth_kib * 1024 < PEAK_LIMIT, (name, growth_kib)
