"""``bpnn serve``: a local web page to draw a digit and watch the network read it.

:func:`create_app` builds the FastAPI app (page + JSON API) for a
:class:`~bpnn.predictor.Predictor`; :func:`serve` runs it with uvicorn.
Needs the ``fastapi``, ``uvicorn`` and ``python-multipart`` packages (installed
with bpnn).
"""

from .app import create_app
from .server import default_model, serve

__all__ = ["create_app", "default_model", "serve"]
