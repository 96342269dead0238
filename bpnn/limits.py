"""Memory limits for everything bpnn reads from a file.

A data or model file says how large its arrays are before it holds them: an
IDX header declares its dimensions, an ``.npy`` header its shape, a zip
member its uncompressed size.  A hostile or damaged file can declare far
more than it holds (a few megabytes of gzip can expand to gigabytes), so
bpnn checks every declared size against a *memory budget* before it
allocates or decompresses anything, and reads streams with a hard cap.

The budget
----------
By default the budget is half of the memory the operating system reports as
available when the check runs (``MemAvailable`` in ``/proc/meminfo``, else
``os.sysconf``'s available or physical pages; 2 GiB if neither can be
read).  The environment variable ``BPNN_MEMORY_BUDGET`` overrides it with a
byte count (``"1500000000"``) or a size with a unit (``"2GB"``, ``"512MiB"``,
``"1.5 GiB"``; ``k``/``M``/``G``/``T`` are powers of 1000 and ``Ki``/``Mi``/...
powers of 1024).

This module imports only the standard library and NumPy, so that any part
of bpnn can use it.

Examples
--------
>>> parse_size("512MiB")
536870912
>>> format_bytes(3 * 2**30)
'3.0 GiB'
>>> check_allocation(10**15, "the images", "big-idx3-ubyte.gz",
...                  error=ValueError)                    # doctest: +SKIP
Traceback (most recent call last):
ValueError: big-idx3-ubyte.gz: the images would need 909.5 TiB of memory, more than ...
"""

from __future__ import annotations

import io
import os
import re
from typing import Optional

import numpy as np

__all__ = [
    "DEFAULT_FRACTION",
    "ENV_VAR",
    "FALLBACK_BUDGET",
    "MAX_DEFLATE_RATIO",
    "available_memory",
    "check_allocation",
    "check_shape",
    "describe_budget",
    "format_bytes",
    "memory_budget",
    "nbytes_of",
    "parse_size",
    "read_capped",
]

#: Environment variable overriding the budget (bytes, or a size such as "2GB").
ENV_VAR = "BPNN_MEMORY_BUDGET"

#: Share of the available memory that the default budget allows.
DEFAULT_FRACTION = 0.5

#: Budget used when the available memory cannot be determined (2 GiB).
FALLBACK_BUDGET = 2 * 2**30

#: Deflate (gzip, zip) expands at most about 1032:1, so a compressed stream
#: of n bytes cannot hold more than this many times n bytes: a declared size
#: above that is false, whatever the budget.
MAX_DEFLATE_RATIO = 1100

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "ki": 2**10,
    "kib": 2**10,
    "mi": 2**20,
    "mib": 2**20,
    "gi": 2**30,
    "gib": 2**30,
    "ti": 2**40,
    "tib": 2**40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$", re.IGNORECASE)
_FIRST_CHUNK = 1 << 20  # first buffer of read_capped when nothing better is known
_MAX_READ = 1 << 22  # largest single readinto of read_capped
_ZEROS = bytes(1 << 20)  # what read_capped grows its buffer with


def parse_size(text: str) -> int:
    """Parse a byte count such as ``"1500000"``, ``"2GB"`` or ``"512MiB"``.

    Parameters
    ----------
    text : str
        A non-negative number, optionally fractional, followed by an optional
        unit: ``B``, ``k``/``kB``, ``M``/``MB``, ``G``/``GB``, ``T``/``TB``
        (powers of 1000) or ``Ki``/``KiB``, ``Mi``/``MiB``, ``Gi``/``GiB``,
        ``Ti``/``TiB`` (powers of 1024).  Case and spaces are ignored.

    Returns
    -------
    int
        The number of bytes (rounded down).

    Raises
    ------
    ValueError
        If ``text`` is not such a size.

    Examples
    --------
    >>> parse_size("2GB"), parse_size("1.5 KiB"), parse_size("4096")
    (2000000000, 1536, 4096)
    """
    match = _SIZE.match(str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise ValueError(
            f"{text!r} is not a size; write a byte count such as 2000000000 or a "
            f"number with a unit such as 2GB, 512MiB or 1.5GiB"
        )
    number = match.group(1)
    if "." in number:
        whole, _, frac = number.partition(".")
        scale = 10 ** len(frac)
        return (int(whole or 0) * scale + int(frac or 0)) * _UNITS[unit] // scale
    return int(number) * _UNITS[unit]


def format_bytes(nbytes: int) -> str:
    """Return ``nbytes`` in human units: ``"512 bytes"``, ``"1.5 MiB"``, ``"7.9 GiB"``.

    Parameters
    ----------
    nbytes : int
        A byte count (Python ints of any size are fine).

    Returns
    -------
    str
    """
    nbytes = int(nbytes)
    if abs(nbytes) < 1024:
        return f"{nbytes} bytes"
    value = float(nbytes)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        value /= 1024.0
        if abs(value) < 1024.0 or unit == "EiB":
            return f"{value:.1f} {unit}"
    return f"{nbytes} bytes"  # pragma: no cover - the loop always returns


def available_memory() -> Optional[int]:
    """Return the memory the system reports as available, in bytes, or None.

    Reads ``MemAvailable`` from ``/proc/meminfo`` (Linux); otherwise asks
    ``os.sysconf`` for the available pages (``SC_AVPHYS_PAGES``), then the
    physical pages (``SC_PHYS_PAGES``), times the page size.

    Returns
    -------
    int or None
        None if none of these sources works.
    """
    try:
        with open("/proc/meminfo", "rb") as meminfo:
            for line in meminfo:
                if line.startswith(b"MemAvailable:"):
                    fields = line.split()
                    scale = 1024 if len(fields) > 2 and fields[2].lower() == b"kb" else 1
                    return int(fields[1]) * scale
    except (OSError, ValueError, IndexError):
        pass
    for name in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
        try:
            pages = os.sysconf(name)
            page_size = os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            continue
        if pages > 0 and page_size > 0:
            return int(pages) * int(page_size)
    return None


def memory_budget() -> int:
    """Return the current memory budget in bytes.

    ``BPNN_MEMORY_BUDGET`` if set (see :func:`parse_size`), else
    :data:`DEFAULT_FRACTION` of :func:`available_memory`, else
    :data:`FALLBACK_BUDGET`.  Read anew at each call, so a change of the
    environment variable takes effect immediately.

    Returns
    -------
    int
        At least 1.

    Raises
    ------
    ValueError
        If ``BPNN_MEMORY_BUDGET`` is set but is not a size.
    """
    setting = os.environ.get(ENV_VAR, "").strip()
    if setting:
        try:
            return max(1, parse_size(setting))
        except ValueError as exc:
            raise ValueError(f"environment variable {ENV_VAR}={setting!r}: {exc}") from None
    available = available_memory()
    if available is None:
        return FALLBACK_BUDGET
    return max(1, int(available * DEFAULT_FRACTION))


def describe_budget(budget: Optional[int] = None) -> str:
    """Say what the budget is and where it comes from, for error messages.

    Parameters
    ----------
    budget : int, optional
        The budget in bytes; default :func:`memory_budget`.

    Returns
    -------
    str
        E.g. ``"the memory budget of 3.8 GiB (50% of the available memory; set
        BPNN_MEMORY_BUDGET, e.g. BPNN_MEMORY_BUDGET=16GB, to change it)"``.
    """
    if budget is None:
        budget = memory_budget()
    example = f"e.g. {ENV_VAR}=16GB"
    if os.environ.get(ENV_VAR, "").strip():
        origin = f"set by {ENV_VAR}; change it there, {example}"
    else:
        if available_memory() is None:
            origin = "a fixed default: the available memory could not be read"
        else:
            origin = f"{DEFAULT_FRACTION:.0%} of the available memory"
        origin += f"; set {ENV_VAR}, {example}, to change it"
    return f"the memory budget of {format_bytes(budget)} ({origin})"


def check_allocation(
    nbytes: int,
    what: str,
    source: str,
    *,
    error: type[Exception] = ValueError,
    budget: Optional[int] = None,
) -> int:
    """Refuse an allocation of ``nbytes`` if it exceeds the memory budget.

    Call it with the size a file *declares*, before allocating or reading.

    Parameters
    ----------
    nbytes : int
        Bytes the allocation would take (compute it with Python ints, e.g.
        ``math.prod(shape) * dtype.itemsize``, so that it cannot overflow).
    what : str
        What would be allocated, e.g. ``"the payload of shape (2000000, 28, 28)"``.
    source : str
        The file (or other origin) that declared the size; starts the message.
    error : type of Exception, default ValueError
        The exception raised (bpnn passes ``DataError`` for data files,
        ``ModelFileError`` for model files).
    budget : int, optional
        The budget in bytes; default :func:`memory_budget`.

    Returns
    -------
    int
        ``nbytes``, so that the call can be used inline.

    Raises
    ------
    error
        If ``nbytes`` is negative or larger than the budget (or
        ``BPNN_MEMORY_BUDGET`` is not a size).  The message names ``source``,
        the declared size in human units, the budget and how to change it.
    """
    nbytes = int(nbytes)
    if nbytes < 0:
        raise error(
            f"{source}: {what} declares a negative size ({nbytes} bytes); the file is damaged"
        )
    if budget is None:
        try:
            budget = memory_budget()
        except ValueError as exc:
            raise error(f"{source}: cannot check {what} against the memory budget: {exc}") from None
    if nbytes > budget:
        raise error(
            f"{source}: {what} would need {format_bytes(nbytes)} of memory, more "
            f"than {describe_budget(budget)}. If the file is genuine and the machine "
            f"has the memory, raise the budget; otherwise the file is damaged or "
            f"hostile: do not use it"
        )
    return nbytes


def read_capped(
    fileobj: io.RawIOBase | io.BufferedIOBase,
    limit: int,
    source: str,
    *,
    error: type[Exception] = ValueError,
    what: str = "the size the file declares",
    advice: str = "The file is damaged or hostile: download or copy it again",
    size_hint: Optional[int] = None,
) -> bytearray:
    """Read a stream to its end, but never more than ``limit`` bytes.

    At most ``limit + 1`` bytes are read: if a byte follows the first
    ``limit``, ``error`` is raised without reading further, so a
    decompression bomb stops at ``limit``.  Memory grows with the data
    actually read (the buffer at most doubles each time it fills), not with
    ``limit``.

    Parameters
    ----------
    fileobj : binary file object
        Anything with ``readinto`` (files, ``gzip.GzipFile``, zip members).
    limit : int
        The most bytes accepted, e.g. what a header declares.
    source : str
        Name of the file, for the message.
    error : type of Exception, default ValueError
        The exception raised when the stream holds more than ``limit`` bytes.
    what : str, default "the size the file declares"
        What ``limit`` is, for the message.
    advice : str
        The end of the message: what to do about it.
    size_hint : int, optional
        Expected size: the first buffer gets ``min(size_hint, limit)`` bytes
        (default 1 MiB), which avoids regrowing when the hint is right.

    Returns
    -------
    bytearray
        The bytes read, ``len <= limit``; writable, so
        ``numpy.frombuffer(result, ...)`` gives a writable array without a
        copy.  Fewer than ``limit`` bytes is not an error here: the caller
        decides whether the stream was truncated.

    Raises
    ------
    error
        If more than ``limit`` bytes are there.  Errors of the stream itself
        (``OSError``, ``EOFError``, ``zlib.error``...) propagate unchanged.
    """
    limit = int(limit)
    first = _FIRST_CHUNK if size_hint is None else max(int(size_hint), 1)
    buffer = bytearray(min(first, limit))
    filled = 0
    while True:
        if filled == len(buffer):
            if filled == limit:
                break
            _grow(buffer, min(limit, max(2 * len(buffer), _FIRST_CHUNK)))
        # Bounded slices: a reader that fills a buffer through read(n) (zip
        # members do) then never builds a temporary of the whole size.  Both
        # views are released before the buffer may grow again.
        with memoryview(buffer) as view, view[filled : filled + _MAX_READ] as part:
            got = fileobj.readinto(part)
        if not got:
            del buffer[filled:]
            return buffer
        filled += got
    extra = fileobj.read(1)
    if extra:
        exact = "" if limit < 1024 else f", {limit} bytes"
        raise error(
            f"{source}: unexpected data: the stream holds more than {what} "
            f"({format_bytes(limit)}{exact}); reading stopped there. {advice}"
        )
    return buffer


def _grow(buffer: bytearray, size: int) -> None:
    """Extend ``buffer`` with zeros to ``size`` bytes without a temporary of that size."""
    with memoryview(_ZEROS) as zeros:
        while len(buffer) < size:
            buffer += zeros[: size - len(buffer)]


def check_shape(
    shape: tuple[int, ...],
    dtype: np.dtype,
    what: str,
    source: str,
    *,
    error: type[Exception] = ValueError,
) -> None:
    """Refuse a declared shape that no NumPy array can have.

    An empty array (a dimension of 0) takes no memory, but NumPy still
    refuses it when the product of its other dimensions times the item size
    overflows its index type, e.g. ``(0, 2**31, 2**31)`` of int16.

    Parameters
    ----------
    shape : tuple of int
        The declared dimensions.
    dtype : numpy.dtype
    what : str
        What has that shape, for the message.
    source : str
        The file that declared it; starts the message.
    error : type of Exception, default ValueError

    Raises
    ------
    error
        If a dimension is negative or the shape is not representable.
    """
    if any(int(size) < 0 for size in shape):
        raise error(f"{source}: {what} declares a negative dimension in {tuple(shape)}")
    nonzero = nbytes_of(tuple(size for size in shape if size), dtype)
    if nonzero > np.iinfo(np.intp).max:
        raise error(
            f"{source}: {what} declares shape {tuple(shape)}, which no array can have "
            f"(its dimensions multiply beyond {np.iinfo(np.intp).max} bytes); the "
            f"file is damaged or hostile"
        )


def nbytes_of(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Bytes an array of ``shape`` and ``dtype`` needs, computed without overflow.

    Parameters
    ----------
    shape : tuple of int
    dtype : numpy.dtype

    Returns
    -------
    int
        ``prod(shape) * dtype.itemsize`` as a Python int.
    """
    count = 1
    for size in shape:
        count *= int(size)
    return count * np.dtype(dtype).itemsize
