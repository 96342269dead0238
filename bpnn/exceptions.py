"""Exception types of bpnn.

Every error a user can meet at the boundary is a ``ValueError`` subclass
whose message names the problem and how to fix it.
"""


class BpnnError(ValueError):
    """Base class of bpnn's own errors."""


class DataError(BpnnError):
    """A data file or data set could not be loaded (the message names the file)."""


class ModelFileError(BpnnError):
    """A model or checkpoint file is truncated, tampered with or incompatible."""


class DivergenceError(BpnnError, ArithmeticError):
    """Training produced a NaN or infinite loss (the message names the epoch)."""
