"""The core's exception types.

Every error a user can meet at the boundary is a ``ValueError`` subclass
whose message names the problem and how to fix it.
"""


class BpnnError(ValueError):
    """Base class of bpnn's own errors."""


class DivergenceError(BpnnError, ArithmeticError):
    """Training diverged: a NaN or infinite loss, a loss far above its first value, or
    non-finite weights (the message names the epoch)."""
