"""The web app behind ``bpnn serve``: a drawing page and the JSON API it uses.

Routes
------
``GET /``
    The drawing page (static HTML, CSS and JavaScript in ``static/``).
``GET /api/model``
    The model's summary: architecture, data set, test accuracy, input shape.
``POST /api/predict``
    JSON ``{"pixels": [[...], ...], "prepare": false}``: a prepared input of
    the model's image shape (28x28 for MNIST, values in [0, 1] or 0..255,
    white ink on black; or flattened), or any other 2-d grey picture, which
    is prepared MNIST-style (``"prepare": true`` forces that for a picture
    of the model's own shape).
``POST /api/predict/image``
    A multipart upload (field ``file``) of a PNG, JPEG or other image Pillow
    reads, prepared MNIST-style.
``GET /docs``, ``GET /openapi.json``
    The API's OpenAPI description (FastAPI's).

Both predict routes answer with :class:`PredictionOut`: the label, the class
probabilities, the prepared input the network saw and the activations of
every hidden layer.  Bad requests get a 4xx status and ``{"detail": "..."}``
naming the problem: 413 for a body over the size limit or an image with too
many pixels, 415 for bytes that are not an image, 422 for a wrong shape,
NaN or an image with no digit.  The app takes no file-system path from a
request and runs without debug mode.
"""

from __future__ import annotations

import asyncio
import json
import threading
from importlib import resources
from typing import Any, Awaitable, Callable, Optional, Union

import numpy as np
from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, StrictBool

from .._version import __version__
from ..imageprep import ImageError, ImageTooLargeError, NotAnImageError
from ..predictor import Predictor

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_MAX_PIXELS", "create_app", "PixelsIn", "PredictionOut", "ModelOut"]

#: Largest request body accepted, in bytes (uploads and JSON alike).
DEFAULT_MAX_BODY = 4 * 1024 * 1024
#: Largest uploaded image, in pixels, checked before decoding (16 megapixels).
DEFAULT_MAX_PIXELS = 16_000_000

#: A refused body is read and discarded up to this many bytes, then the connection is closed.
DRAIN_LIMIT = 64 * 1024 * 1024

STATIC = resources.files("bpnn.web") / "static"


class PixelsIn(BaseModel):
    """An image as numbers."""

    pixels: Union[list[list[float]], list[float]] = Field(
        description="A prepared input of the model's image shape (e.g. 28x28; values in [0, 1] or the data "
                    "set's units, white ink on black), the same flattened, or any other 2-d grey picture "
                    "(0..255 or [0, 1], either polarity) to prepare MNIST-style.",
        examples=[[[0.0] * 28] * 28],
    )
    prepare: StrictBool = Field(False, description="Prepare even a picture of the model's own shape MNIST-style "
                                             "(crop to the ink, fit 20x20, centre by mass).")


class PredictionOut(BaseModel):
    """What the network made of the image."""

    label: str = Field(description="The predicted class name.")
    index: int = Field(description="Its output index.")
    probabilities: list[float] = Field(description="One probability per class, summing to 1 (a softmax "
                                                   "output as is; sigmoid outputs divided by their sum).")
    classes: list[str] = Field(description="The class names, in output order.")
    input: list[list[float]] = Field(description="The prepared image the network saw, values in [0, 1].")
    hidden: list[list[float]] = Field(description="The activations of each hidden layer, in order.")


class ModelOut(BaseModel):
    """The model being served."""

    network: str
    sizes: list[int]
    layers: list[dict[str, Any]]
    cost: str
    dtype: str
    n_params: int
    classes: list[str]
    image_shape: list[int]
    dataset: Optional[str] = None
    test_accuracy: Optional[float] = None
    test_total: Optional[int] = None
    epochs_run: Optional[int] = None
    bpnn_version: Optional[str] = None
    source: Optional[str] = Field(None, description="The model file's name.")


class ErrorOut(BaseModel):
    detail: str


_ERRORS = {status: {"model": ErrorOut} for status in (413, 415, 422)}


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with 413.

    Checks ``Content-Length`` before reading anything, then reads the body
    (also one sent chunked, without a length) counting its bytes, so nothing
    over the limit is ever buffered; the app gets the body replayed.
    """

    def __init__(self, app: Callable, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    async def _refuse(self, send: Callable[[dict], Awaitable[None]], status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _drain(receive: Callable, seen: int) -> None:
        """Read and discard the rest of a refused body (up to :data:`DRAIN_LIMIT`), so the client,
        still sending, reads the 413 instead of a reset connection; nothing is kept."""
        drained = 0
        while drained < DRAIN_LIMIT:
            message = await receive()
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = f"{self.max_bytes / 1024 / 1024:.1f} MiB"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await self._refuse(send, 400, "the Content-Length header is not a number")
                return
            if declared > self.max_bytes:
                if dict(scope.get("headers") or []).get(b"expect", b"").lower() != b"100-continue":
                    await self._drain(receive, declared)     # else the client waits for our answer first
                await self._refuse(send, 413, f"the request body is {declared / 1024 / 1024:.1f} MiB; "
                                              f"the limit is {limit}: send a smaller image")
                return
        chunks, total = [], 0
        while True:
            try:
                message = await receive()
            except asyncio.CancelledError:              # the server is shutting down mid-upload
                await self._refuse(send, 503, "the server is shutting down; send the request again later")
                return
            if message["type"] != "http.request":      # the client went away
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                if message.get("more_body", False):
                    await self._drain(receive, total)
                await self._refuse(send, 413, f"the request body is over the limit of {limit}: "
                                              f"send a smaller image")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class SecurityHeaders:
    """ASGI middleware adding basic security headers to every response."""

    HEADERS = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    ]
    PAGE_POLICY = (b"content-security-policy",
                   b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
                   b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # FastAPI's /docs page loads Swagger UI from a CDN; the policy covers only bpnn's own page
        page = not scope.get("path", "").startswith(("/docs", "/redoc"))

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or []) + self.HEADERS
                if page:
                    headers.append(self.PAGE_POLICY)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _validation_message(exc: RequestValidationError) -> str:
    """One readable line for FastAPI's validation errors."""
    errors = exc.errors()
    locations = [tuple(error.get("loc", ())) for error in errors]
    if any(error.get("type") == "json_invalid" for error in errors):
        return "the request body is not valid JSON; send {\"pixels\": [[...], ...]}"
    if any(loc == ("body",) for loc in locations):
        return ("send a JSON object such as {\"pixels\": [[...], ...]} with the header "
                "Content-Type: application/json")
    if any(loc[:2] == ("body", "pixels") for loc in locations):
        return ("pixels must be a 2-d array of numbers (a list of rows, e.g. 28 lists of 28 numbers) "
                "or a flat list of numbers")
    if any(loc[:2] == ("body", "file") for loc in locations):
        return "send the image as a multipart/form-data file part named 'file' (curl -F file=@digit.png)"
    if any(loc[:2] == ("body", "prepare") for loc in locations):
        return "prepare must be true or false"
    parts = []
    for error, loc in zip(errors[:5], locations):
        where = ".".join(str(p) for p in loc if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def create_app(predictor: Predictor, *, source: str | None = None, max_body: int = DEFAULT_MAX_BODY) -> FastAPI:
    """Build the app serving ``predictor``.

    Parameters
    ----------
    predictor : Predictor
        The model and its input preparation.
    source : str, optional
        The model file's name, shown on the page (never a path taken from a request).
    max_body : int
        Largest request body in bytes; larger ones get 413 before they are read.
    """
    app = FastAPI(
        title="bpnn",
        version=__version__,
        description="Draw a digit, watch the network think. The JSON API behind `bpnn serve`'s page: "
                    "predict from an array or an uploaded image, and describe the model.",
        debug=False,
    )
    # At most two images are decoded, prepared and run at once (the machine's cores): an upload of
    # up to ``max_pixels`` pixels briefly needs a few bytes a pixel, so this bounds the memory too.
    busy = threading.BoundedSemaphore(2)
    info = {**predictor.info(), "source": source}

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    @app.exception_handler(ImageError)
    async def _bad_image(request: Request, exc: ImageError) -> JSONResponse:
        status = 413 if isinstance(exc, ImageTooLargeError) else 415 if isinstance(exc, NotAnImageError) else 422
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/api/model", response_model=ModelOut, summary="Describe the model being served")
    def model_info() -> dict:
        return info

    @app.post("/api/predict", response_model=PredictionOut, responses=_ERRORS,
              summary="Classify an image given as an array of numbers")
    def predict_pixels(body: PixelsIn) -> dict:
        try:
            array = np.asarray(body.pixels, dtype=np.float64)
        except ValueError:
            raise ImageError("pixels: the rows have different lengths; send a rectangular 2-d array") from None
        if array.size > predictor.max_pixels:
            raise ImageTooLargeError(f"pixels: {array.size} values; at most {predictor.max_pixels} are accepted")
        if array.size == 0:
            raise ImageError("pixels: the array is empty")
        with busy:
            images = predictor.images_from_array(array, "pixels", picture=body.prepare)
            if len(images) != 1:
                raise ImageError(f"pixels: send one image, got {len(images)} (shape {array.shape})")
            return predictor.predict_image(images[0][1]).to_dict(predictor.classes)

    @app.post("/api/predict/image", response_model=PredictionOut, responses=_ERRORS,
              summary="Classify an uploaded image (PNG, JPEG, ...), prepared MNIST-style")
    def predict_upload(file: UploadFile = File(description="The image file")) -> dict:
        data = file.file.read()
        with busy:
            image = predictor.image_from_bytes(data, "the uploaded file")
            return predictor.predict_image(image).to_dict(predictor.classes)

    app.add_middleware(BodyLimit, max_bytes=max_body)
    app.add_middleware(SecurityHeaders)
    return app
