"""A restricted unpickler that can rebuild NumPy arrays and nothing else.

Unpickling runs code: a pickle may name any importable callable (``os.system``,
``subprocess.Popen``...) and have it called while loading.  The classic
``mnist.pkl.gz`` is a pickle, so bpnn reads it through :class:`ArrayUnpickler`,
whose :meth:`~ArrayUnpickler.find_class` hands out only the few NumPy objects
needed to rebuild arrays and refuses every other global *before* anything is
called.
"""

from __future__ import annotations

import codecs
import io
import pickle
from typing import Any

import numpy as np

from bpnn.exceptions import DataError

__all__ = ["ArrayUnpickler", "safe_loads"]


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


def _allowed() -> dict[tuple[str, str], Any]:
    multiarray = _multiarray()
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 3 writes bytes in protocol 0-2 pickles as _codecs.encode(str, "latin1").
        ("_codecs", "encode"): codecs.encode,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = multiarray._reconstruct
        allowed[(module, "scalar")] = multiarray.scalar
    # Protocol 5 pickles written by NumPy rebuild arrays with _frombuffer.
    frombuffer = getattr(_numeric(), "_frombuffer", None)
    if frombuffer is not None:
        for module in ("numpy.core.numeric", "numpy._core.numeric"):
            allowed[(module, "_frombuffer")] = frombuffer
    return allowed


class ArrayUnpickler(pickle.Unpickler):
    """Unpickler whose globals are limited to what rebuilds NumPy arrays.

    Allowed: ``numpy.ndarray``, ``numpy.dtype``,
    ``numpy[._]core.multiarray._reconstruct`` and ``.scalar``,
    ``numpy[._]core.numeric._frombuffer`` and ``_codecs.encode``.  Anything
    else raises :class:`~bpnn.exceptions.DataError` without being imported
    or called.

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
        self._allowed = _allowed()

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
        If the pickle names a forbidden global or is malformed or truncated.
    """
    try:
        return ArrayUnpickler(io.BytesIO(data), source=source).load()
    except DataError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{source}: not a valid pickle of NumPy arrays ({type(exc).__name__}: "
            f"{exc}); download or copy the file again"
        ) from None
