"""Output codes: how a class is written on the output units, and read back.

The sources use one output unit per class (one-hot: 1.0 for the class, 0.0
elsewhere) and argue that a 4-bit binary code of the digit, four output
units, would "suffice" by information content but recognise less well.  An
:class:`OutputCode` makes the choice explicit: a matrix ``C`` of shape
``(k, m)`` whose row ``c`` is the target vector of class ``c`` on the ``m``
output units.  Training uses ``C[y]`` as targets; prediction picks the code
word nearest to the output,

    ŷ = argmin_c ‖a^L − C_c‖²,

which for one-hot codes is the usual ``argmax`` of the outputs.  Any fixed
code matrix works (an error-correcting code, for example); :meth:`binary`
builds the ⌈log₂ k⌉-bit code of the class index.
"""

from __future__ import annotations

import numpy as np

__all__ = ["OutputCode"]


class OutputCode:
    """A fixed code matrix: row ``c`` is class ``c``'s target on the output units.

    Parameters
    ----------
    matrix : array_like of shape (k, m)
        Finite values; rows must be distinct (else two classes could not be told apart).
    name : str, optional
        How it is described (``"binary"``).

    Examples
    --------
    >>> code = OutputCode.binary(10)
    >>> code.matrix[5], code.n_classes, code.n_outputs
    (array([0., 1., 0., 1.]), 10, 4)
    >>> code.decode(np.array([[0.1, 0.9, 0.2, 0.7]]))
    array([5])
    """

    def __init__(self, matrix, name: str = "custom") -> None:
        matrix = np.array(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] < 2 or matrix.shape[1] < 1:
            raise ValueError(f"an output code is a (classes, outputs) matrix with at least 2 rows, got shape "
                             f"{matrix.shape}")
        if not np.isfinite(matrix).all():
            raise ValueError("an output code must hold finite numbers")
        if len({row.tobytes() for row in matrix}) != matrix.shape[0]:
            raise ValueError("the rows of an output code must be distinct, or two classes share a code word")
        self.matrix = matrix
        self.name = name
        self._norms = (matrix ** 2).sum(axis=1)

    @classmethod
    def binary(cls, n_classes: int) -> "OutputCode":
        """The ⌈log₂ k⌉-bit binary code of the class index, most significant bit first."""
        if n_classes < 2:
            raise ValueError(f"a binary code needs at least 2 classes, got {n_classes}")
        bits = max(1, int(np.ceil(np.log2(n_classes))))
        powers = 1 << np.arange(bits - 1, -1, -1)
        return cls((np.arange(n_classes)[:, None] & powers) > 0, name="binary")

    @property
    def n_classes(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_outputs(self) -> int:
        return int(self.matrix.shape[1])

    def encode(self, labels: np.ndarray, dtype) -> np.ndarray:
        """Target rows ``C[labels]``, shape ``(n, m)`` in ``dtype``."""
        return self.matrix.astype(dtype)[labels]

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        """The class whose code word is nearest each output row (squared distance), shape ``(n,)``."""
        # ‖a − C_c‖² = ‖a‖² − 2 a·C_c + ‖C_c‖²; ‖a‖² is the same for every c
        scores = outputs @ self.matrix.T.astype(outputs.dtype)
        scores *= -2
        scores += self._norms.astype(outputs.dtype)
        return scores.argmin(axis=1)

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """Class probabilities from sigmoid outputs read as independent bits, float64 ``(n, k)``.

        P(c) ∝ Π_j a_j^{C_cj} (1 − a_j)^{1 − C_cj}, normalised over the classes
        (for a 0/1 code; other codes are scored by −½‖a − C_c‖² through a softmax).
        """
        a = np.clip(np.asarray(outputs, dtype=np.float64), 1e-12, 1 - 1e-12)
        if np.isin(self.matrix, (0.0, 1.0)).all():
            log_p = np.log(a) @ self.matrix.T + np.log1p(-a) @ (1 - self.matrix).T
        else:
            log_p = -0.5 * (((a[:, None, :] - self.matrix[None]) ** 2).sum(axis=2))
        log_p -= log_p.max(axis=1, keepdims=True)
        p = np.exp(log_p)
        return p / p.sum(axis=1, keepdims=True)

    def config(self) -> dict:
        """JSON form: ``{"name", "matrix"}``."""
        return {"name": self.name, "matrix": self.matrix.tolist()}

    @classmethod
    def from_config(cls, config: dict) -> "OutputCode":
        return cls(config["matrix"], name=config.get("name", "custom"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OutputCode) and np.array_equal(self.matrix, other.matrix)

    def __hash__(self) -> int:
        return hash(self.matrix.tobytes())

    def __repr__(self) -> str:
        return f"OutputCode({self.name}, {self.n_classes} classes on {self.n_outputs} outputs)"
