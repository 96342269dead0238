"""Exception types of bpnn.

Every error a user can meet at the boundary is a ``ValueError`` subclass
whose message names the problem and how to fix it.  The core's own
(:class:`BpnnError`, :class:`DivergenceError`) live in :mod:`bpnn.nn.exceptions`;
the tool adds one per kind of file.
"""

from .nn.exceptions import BpnnError, DivergenceError

__all__ = ["BpnnError", "DivergenceError", "DataError", "ModelFileError"]


class DataError(BpnnError):
    """A data file or data set could not be loaded (the message names the file)."""


class ModelFileError(BpnnError):
    """A model or checkpoint file is truncated, tampered with or incompatible."""
