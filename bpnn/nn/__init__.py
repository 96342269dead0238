"""The core: the network, backpropagation and the optimizers, on NumPy alone.

Nothing in this package imports anything but NumPy and the standard library
(a test imports it with every other package blocked), except ``kernels``: the
compiled twins of the hot passes, which ``accel`` imports only when numba is
installed, falling back to the NumPy reference otherwise.  The tool around it
(data, files, the command line, the web page) lives in the rest of ``bpnn``
and imports from here, never the other way round.

=====================  ===============================================
``activations``        σ and σ' side by side
``costs``              costs and their BP1 output error
``initializers``       the weight initialisations
``layers``             ``Dense`` (forward, BP2-BP4) and ``Dropout``
``network``            ``Network``: layers, forward pass, ``backprop``
``optimizers``         SGD, momentum, Nesterov, RMSprop, Adam
``schedules``          learning-rate schedules
``training``           the epoch loop in steps, ``History``, callbacks
``gradcheck``          ``gradient_check``
``reference``          the per-neuron object model (teaching form, test oracle)
``tracing``            ``trace``: one sample through BP1-BP4, three ways
``diagnostics``        ``Diagnostics``: warnings for a stuck run
``accel``              the switch: compiled kernels or the NumPy reference
``kernels``            the fused kernels (numba), twins of the reference
=====================  ===============================================
"""

from .accel import kernels_in_use, set_kernels, use_kernels
from .exceptions import BpnnError, DivergenceError
from .gradcheck import GradientCheck, gradient_check
from .layers import Dense, Dropout
from .network import Evaluation, Network
from .training import Callback, EpochRecord, History, fit
from .tracing import Trace, trace
from .diagnostics import Diagnosis, Diagnostics

__all__ = ["Network", "Dense", "Dropout", "Evaluation", "History", "EpochRecord", "Callback", "fit",
           "gradient_check", "GradientCheck", "BpnnError", "DivergenceError", "trace", "Trace", "Diagnostics",
           "Diagnosis", "set_kernels", "use_kernels", "kernels_in_use"]
