"""A restricted unpickler that can rebuild NumPy arrays and nothing else.

Unpickling runs code: a pickle may name any importable callable (``os.system``,
``subprocess.Popen``...) and have it called while loading.  The classic
``mnist.pkl.gz`` is a pickle, so bpnn reads it through :class:`ArrayUnpickler`,
whose :meth:`~ArrayUnpickler.find_class` hands out only the few NumPy objects
needed to rebuild arrays and refuses every other global *before* anything is
called.

It is also bounded in memory: before anything is unpickled,
:func:`scan_pickle` walks the opcodes (without running them) and refuses a
pickle with too many of them, an argument whose declared length runs past
the end of the data (CPython allocates that length before reading), or a memo
index far beyond the number of opcodes (CPython sizes its memo table by it).
The NumPy constructors it hands out check the size an array would take
against the memory budget of :mod:`bpnn.limits` and refuse object dtypes.
"""

from __future__ import annotations

import codecs
import pickle
import pickletools
from typing import Any, Callable, Optional

import numpy as np

from bpnn.exceptions import DataError
from bpnn.limits import check_allocation, format_bytes, nbytes_of

__all__ = ["ArrayUnpickler", "MAX_OPCODES", "read_pickle_stream", "safe_loads", "scan_pickle"]

#: Most opcodes a pickle may hold.  An array pickle needs a few dozen per
#: array whatever its size; the limit bounds what a pickle of many small
#: objects (each opcode can make a container of a few hundred bytes) costs.
MAX_OPCODES = 200_000
_PICKLE_CHUNK = 1 << 20  # bytes read at a time by read_pickle_stream


def _multiarray():
    try:
        from numpy._core import multiarray  # NumPy >= 2
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core import multiarray
    return multiarray


def _numeric():
    try:
        from numpy._core import numeric  # NumPy >= 2
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core import numeric
    return numeric


def _checked_dtype(source: str, dtype: Any) -> np.dtype:
    """``dtype`` as a NumPy dtype, refusing Python objects."""
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise DataError(
            f"{source}: refused an array of Python objects (dtype {dtype}): bpnn "
            f"only loads pickles of numeric NumPy arrays"
        )
    return dtype


def _guarded(source: str) -> dict[str, Any]:
    """The NumPy callables handed to a pickle, each checking what it would build."""
    multiarray = _multiarray()
    frombuffer = getattr(_numeric(), "_frombuffer", None)

    def dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
        # NumPy pickles a dtype as numpy.dtype("f4", False, True).
        if not (isinstance(spec, str) and isinstance(align, int) and isinstance(copy, int)):
            raise DataError(
                f"{source}: refused numpy.dtype{(spec, align, copy)!r:.80}: bpnn only "
                f"loads pickles of plain numeric NumPy arrays"
            )
        return _checked_dtype(source, np.dtype(spec, bool(align), bool(copy)))

    def reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if not all(isinstance(d, (int, np.integer)) and d >= 0 for d in dims):
            raise DataError(f"{source}: refused an array of shape {shape!r}")
        checked = _checked_dtype(source, dtype)
        check_allocation(
            nbytes_of(dims, checked),
            f"an array of shape {dims} of {checked}",
            source,
            error=DataError,
        )
        return multiarray._reconstruct(subtype, dims, checked)

    def scalar(dtype: Any, *args: Any) -> Any:
        checked = _checked_dtype(source, dtype)
        check_allocation(checked.itemsize, f"a scalar of {checked}", source, error=DataError)
        return multiarray.scalar(checked, *args)

    def encode(text: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        # Only the latin-1 round trip Python 3 uses for bytes in old protocols.
        if codecs.lookup(encoding).name != "iso8859-1":
            raise DataError(f"{source}: refused _codecs.encode with encoding {encoding!r}")
        return codecs.encode(text, encoding, errors)

    guarded = {"dtype": dtype, "_reconstruct": reconstruct, "scalar": scalar, "encode": encode}
    if frombuffer is not None:
        def from_buffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
            return frombuffer(buf, _checked_dtype(source, dtype), shape, order)

        guarded["_frombuffer"] = from_buffer
    return guarded


def _allowed(source: str = "<pickle>") -> dict[tuple[str, str], Any]:
    guarded = _guarded(source)
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): guarded["dtype"],
        # Python 3 writes bytes in protocol 0-2 pickles as _codecs.encode(str, "latin1").
        ("_codecs", "encode"): guarded["encode"],
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = guarded["_reconstruct"]
        allowed[(module, "scalar")] = guarded["scalar"]
    # Protocol 5 pickles written by NumPy rebuild arrays with _frombuffer.
    if "_frombuffer" in guarded:
        for module in ("numpy.core.numeric", "numpy._core.numeric"):
            allowed[(module, "_frombuffer")] = guarded["_frombuffer"]
    return allowed


_OPCODES: list[Any] = [None] * 256
for _op in pickletools.opcodes:
    _OPCODES[ord(_op.code)] = _op
_LENGTH_BYTES = {
    pickletools.TAKEN_FROM_ARGUMENT1: (1, False),
    pickletools.TAKEN_FROM_ARGUMENT4: (4, True),
    pickletools.TAKEN_FROM_ARGUMENT4U: (4, False),
    pickletools.TAKEN_FROM_ARGUMENT8U: (8, False),
}


class _Scanner:
    """Walks pickle opcodes in a buffer that can be refilled from a stream."""

    def __init__(self, buffer: bytearray | bytes, source: str, max_opcodes: int,
                 refill: Optional[Callable[[bytearray, int], bool]] = None) -> None:
        self.buffer = buffer
        self.source = source
        self.max_opcodes = max_opcodes
        self.refill = refill
        self.pos = 0

    def damaged(self, problem: str) -> DataError:
        return DataError(
            f"{self.source}: not a valid pickle of NumPy arrays ({problem} at byte "
            f"{self.pos}); the file is damaged or hostile: download or copy it again"
        )

    def need(self, n: int) -> bool:
        """Make ``n`` bytes from the position available; False at the end of the data."""
        while len(self.buffer) < self.pos + n:
            if self.refill is None or not self.refill(self.buffer, self.pos + n - len(self.buffer)):
                return False
        return True

    def newline(self) -> int:
        searched = self.pos
        while True:
            found = self.buffer.find(b"\n", searched)
            if found >= 0:
                return found
            searched = len(self.buffer)
            if not self.need(searched - self.pos + 1):
                return -1

    def scan(self) -> int:
        """Check every opcode up to STOP; return the position after STOP."""
        count = 0
        while self.need(1):
            op = _OPCODES[self.buffer[self.pos]]
            if op is None:
                raise self.damaged(f"unknown opcode 0x{self.buffer[self.pos]:02x}")
            count += 1
            if count > self.max_opcodes:
                raise DataError(
                    f"{self.source}: refused a pickle of more than {self.max_opcodes} "
                    f"opcodes; a pickle of NumPy arrays needs a few dozen per array, so "
                    f"this one is not an MNIST pickle (it may be built to exhaust memory)"
                )
            self.pos += 1
            arg = op.arg
            if arg is None:
                pass
            elif arg.n >= 0:
                if not self.need(arg.n):
                    raise self.damaged(f"{op.name} cut short")
                if op.name == "LONG_BINPUT":
                    index = int.from_bytes(self.buffer[self.pos : self.pos + 4], "little")
                    if index > self.max_opcodes:
                        raise self.damaged("memo index beyond the opcode limit")
                self.pos += arg.n
            elif arg.n == pickletools.UP_TO_NEWLINE:
                start = self.pos
                for _ in range(2 if arg.name == "stringnl_noescape_pair" else 1):
                    found = self.newline()
                    if found < 0:
                        raise self.damaged(f"{op.name} without its end of line")
                    self.pos = found + 1
                if op.name == "PUT":
                    index = bytes(self.buffer[start : self.pos - 1]).strip()
                    if not index.isdigit() or int(index) > self.max_opcodes:
                        raise self.damaged("memo index beyond the opcode limit")
            else:
                width, signed = _LENGTH_BYTES[arg.n]
                if not self.need(width):
                    raise self.damaged(f"{op.name} cut short")
                length = int.from_bytes(
                    self.buffer[self.pos : self.pos + width], "little", signed=signed
                )
                self.pos += width
                # CPython allocates the declared length before reading it.
                if length < 0 or not self.need(length):
                    raise self.damaged(
                        f"{op.name} declares {length} bytes but only "
                        f"{len(self.buffer) - self.pos} follow"
                    )
                self.pos += length
            if op.name == "STOP":
                return self.pos
        raise self.damaged("no STOP opcode: the pickle is truncated")


def scan_pickle(data: bytes, *, source: str = "<pickle>", max_opcodes: int = MAX_OPCODES) -> int:
    """Walk a pickle's opcodes without running them; refuse what would cost memory.

    Parameters
    ----------
    data : bytes or bytearray
        The pickle.
    source : str
        Name of the file, for error messages.
    max_opcodes : int, default :data:`MAX_OPCODES`
        Most opcodes accepted.

    Returns
    -------
    int
        The length of the pickle, up to and including ``STOP``.

    Raises
    ------
    bpnn.exceptions.DataError
        If an opcode is unknown, the pickle has more than ``max_opcodes``
        opcodes, an argument's declared length runs past the end of the data
        (the C unpickler allocates the declared length first), a memo index
        is larger than the opcode limit (the C unpickler sizes its memo table
        by the largest index), or there is no ``STOP``.
    """
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    return _Scanner(data, source, max_opcodes).scan()


def read_pickle_stream(
    stream: Any,
    limit: int,
    *,
    source: str = "<pickle>",
    what: str = "the limit",
    advice: str = "The file is damaged or hostile: do not use it",
    max_opcodes: int = MAX_OPCODES,
) -> bytearray:
    """Read one pickle from a stream, checking its opcodes as they arrive.

    Reading stops at the pickle's ``STOP`` opcode, at the first invalid
    opcode (so gzip-compressed garbage is refused after a few bytes, however
    far it would expand), or after ``limit`` bytes, whichever comes first.

    Parameters
    ----------
    stream : binary file object
        E.g. a ``gzip.GzipFile``.
    limit : int
        Most bytes read.
    source : str
        Name of the file, for error messages.
    what, advice : str
        What ``limit`` is and what to do when it is reached, for the message.
    max_opcodes : int, default :data:`MAX_OPCODES`

    Returns
    -------
    bytearray
        The pickle, ``STOP`` included, ready for :func:`safe_loads`.

    Raises
    ------
    bpnn.exceptions.DataError
        As :func:`scan_pickle`, or if the pickle is longer than ``limit``.
        Errors of the stream (``EOFError``, ``zlib.error``, ``OSError``)
        propagate.
    """
    limit = int(limit)

    def refill(buffer: bytearray, missing: int) -> bool:
        room = limit - len(buffer)
        if room <= 0:
            raise DataError(
                f"{source}: the pickle is longer than {what} ({format_bytes(limit)}); "
                f"reading stopped there. {advice}"
            )
        chunk = stream.read(min(room, max(missing, _PICKLE_CHUNK), 16 * _PICKLE_CHUNK))
        if not chunk:
            return False
        buffer += chunk
        return True

    buffer = bytearray()
    end = _Scanner(buffer, source, max_opcodes, refill).scan()
    del buffer[end:]
    return buffer


class _ViewReader:
    """A read-only file over a buffer, so that unpickling does not copy it."""

    def __init__(self, data: bytes | bytearray) -> None:
        self.data = data
        self.view = memoryview(data)
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.view) if n is None or n < 0 else min(len(self.view), self.pos + n)
        chunk = bytes(self.view[self.pos : end])
        self.pos = end
        return chunk

    def readinto(self, buffer: Any) -> int:
        with memoryview(buffer) as target:
            n = min(target.nbytes, len(self.view) - self.pos)
            target.cast("B")[:n] = self.view[self.pos : self.pos + n]
        self.pos += n
        return n

    def readline(self) -> bytes:
        found = self.data.find(b"\n", self.pos)
        return self.read(-1 if found < 0 else found + 1 - self.pos)

    def release(self) -> None:
        self.view.release()


_DTYPE_ENDIANS = ("<", ">", "|", "=")


def _check_dtype_state(state: Any, source: str) -> None:
    """Accept only the state NumPy writes for a plain numeric dtype.

    ``numpy.dtype.__setstate__`` trusts its argument: a malformed state (a
    field list of ``-1``, or flags that mark a dtype as holding objects) can
    crash the interpreter.  Numeric dtypes pickle as ``(3, endian, None,
    None, None, -1, -1, 0)``, with a ninth item, the metadata, in version 4.
    """
    simple = (
        isinstance(state, tuple)
        and len(state) in (8, 9)
        and state[0] in (3, 4)
        and state[1] in _DTYPE_ENDIANS
        and state[2:5] == (None, None, None)
        and state[5:8] == (-1, -1, 0)
        and (len(state) == 8 or state[8] is None)
    )
    if not simple:
        raise DataError(
            f"{source}: refused a dtype state {str(state)[:80]!r}: bpnn only loads "
            f"pickles of plain numeric NumPy arrays"
        )


def _check_array_state(state: Any, source: str) -> None:
    """Accept only ``(version, shape, dtype, fortran, raw bytes)`` of a numeric array."""
    if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
        state = state[1:]
    if not (isinstance(state, tuple) and len(state) == 4):
        raise DataError(f"{source}: refused an array state that is not (shape, dtype, order, data)")
    shape, dtype, fortran, data = state
    if not (
        isinstance(shape, tuple)
        and len(shape) <= 32
        and all(isinstance(d, int) and d >= 0 for d in shape)
        and isinstance(dtype, np.dtype)
        and not dtype.hasobject
        and isinstance(fortran, (bool, int))
        and isinstance(data, (bytes, bytearray, str))
    ):
        raise DataError(
            f"{source}: refused an array state {str(state)[:80]!r}: bpnn only loads "
            f"pickles of plain numeric NumPy arrays"
        )
    if len(data) != nbytes_of(shape, dtype):
        raise DataError(
            f"{source}: an array of shape {shape} of {dtype} comes with {len(data)} "
            f"bytes of data instead of {nbytes_of(shape, dtype)}; the file is damaged"
        )


class ArrayUnpickler(pickle._Unpickler):
    """Unpickler whose globals are limited to what rebuilds NumPy arrays.

    Allowed: ``numpy.ndarray``, ``numpy.dtype``,
    ``numpy[._]core.multiarray._reconstruct`` and ``.scalar``,
    ``numpy[._]core.numeric._frombuffer`` and ``_codecs.encode``, the last
    five as checking wrappers (no object dtypes, no array larger than the
    memory budget, latin-1 only).  Anything else raises
    :class:`~bpnn.exceptions.DataError` without being imported or called.
    Use :func:`safe_loads`, which also runs :func:`scan_pickle` first.

    It is the standard library's pure-Python unpickler (``pickle._Unpickler``)
    with one more check: ``BUILD``, which hands a state to an object's
    ``__setstate__``, is only allowed on dtypes and arrays, and only with the
    states NumPy writes for numeric ones, because NumPy's ``__setstate__``
    methods trust their argument (a malformed dtype state crashes the
    interpreter).  Array pickles have a few dozen opcodes, so the pure-Python
    loop costs nothing measurable; the data are read in large blocks.

    Parameters
    ----------
    file : binary file object
        The pickle stream.
    source : str
        Name of the file, for error messages.
    encoding : str, default "latin1"
        How Python 2 ``str`` objects are decoded; ``latin1`` is what NumPy
        needs to read Python 2 array pickles such as ``mnist.pkl.gz``.
    """

    def __init__(self, file, *, source: str = "<pickle>", encoding: str = "latin1") -> None:
        super().__init__(file, encoding=encoding)
        self.source = source
        self._allowed = _allowed(source)

    def find_class(self, module: str, name: str) -> Any:
        """Return an allowed NumPy global; refuse everything else."""
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.source}: refused to unpickle {module}.{name}: bpnn only "
                f"loads pickles made of NumPy arrays, and this one names another "
                f"callable, which would run code while loading. Do not load this "
                f"file; use the original mnist.pkl.gz, or the IDX files or mnist.npz"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        """Refuse persistent ids (not used by array pickles)."""
        raise DataError(f"{self.source}: refused a persistent id in the pickle")

    dispatch = dict(pickle._Unpickler.dispatch)

    def load_build(self) -> None:
        """``BUILD``: check the state before NumPy's ``__setstate__`` sees it."""
        state, inst = self.stack[-1], self.stack[-2]
        if type(inst) is np.ndarray:
            _check_array_state(state, self.source)
        elif isinstance(inst, np.dtype):
            _check_dtype_state(state, self.source)
        else:
            raise DataError(
                f"{self.source}: refused to set the state of a {type(inst).__name__}: "
                f"bpnn only loads pickles of NumPy arrays"
            )
        pickle._Unpickler.load_build(self)

    dispatch[pickle.BUILD[0]] = load_build


def safe_loads(data: bytes, *, source: str = "<pickle>") -> Any:
    """Unpickle ``data`` with :class:`ArrayUnpickler`.

    Parameters
    ----------
    data : bytes
        The (decompressed) pickle.
    source : str
        Name of the file, for error messages.

    Returns
    -------
    object
        The unpickled object (tuples, lists, dicts, NumPy arrays and scalars).

    Raises
    ------
    bpnn.exceptions.DataError
        If the pickle names a forbidden global, is malformed or truncated,
        fails :func:`scan_pickle`, or builds an object array or an array
        larger than the memory budget.  Nothing else escapes (not even
        ``MemoryError`` or ``RecursionError``).
    """
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    scan_pickle(data, source=source)
    reader = _ViewReader(data)
    try:
        obj = ArrayUnpickler(reader, source=source).load()
    except DataError:
        raise
    except Exception as exc:  # anything a damaged pickle can raise, MemoryError included
        raise DataError(
            f"{source}: not a valid pickle of NumPy arrays ({type(exc).__name__}: "
            f"{exc}); download or copy the file again"
        ) from None
    finally:
        reader.release()
    _refuse_object_arrays(obj, source)
    return obj


def _refuse_object_arrays(obj: Any, source: str, depth: int = 0) -> None:
    """Refuse arrays of Python objects anywhere in the (small) container tree."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise DataError(
                f"{source}: refused an array of Python objects (dtype {obj.dtype}): "
                f"bpnn only loads pickles of numeric NumPy arrays"
            )
    elif isinstance(obj, (tuple, list)) and depth < 8:
        for item in obj[:16]:
            _refuse_object_arrays(item, source, depth + 1)
