"""The web app behind ``bpnn serve``: a drawing page and the JSON API it uses.

Routes
------
``GET /``
    The drawing page (static HTML, CSS and JavaScript in ``static/``).
``GET /api/model``
    The model's summary: architecture, data set, test accuracy, input shape.
``GET /api/model/weights?layer=1&unit=0``
    One unit's incoming weights and bias (a first-layer unit's as an image).
``POST /api/predict``
    JSON ``{"pixels": [[...], ...], "prepare": false}``: a prepared input of
    exactly the model's image shape (28x28 for MNIST, 8x8 for the digits) or
    the same flattened (784 or 64 numbers), white ink on black, values in
    [0, 1] or in the data set's units (0..255 for MNIST, 0..16 for the
    digits); or, with ``"prepare": true``, a 2-d grey picture of any size up
    to 1024x1024 (values 0..255 or [0, 1], either polarity), prepared
    MNIST-style.  Values must be JSON numbers: booleans, strings, null, NaN
    and Infinity are refused.
``POST /api/predict/image``
    A multipart upload (field ``file``) of a PNG, JPEG or other image Pillow
    reads, prepared MNIST-style.

A picture (an upload, or pixels with ``"prepare": true``) shown to a model of
28x28 digits is read as a number: :func:`bpnn.segmentation.segment` cuts it
into digits (at most :data:`~bpnn.segmentation.MAX_PIECES`, else 422) and
each is prepared and read; ``?single=true`` reads it as one digit, as does
any other model (Fashion-MNIST, the 8x8 digits).
``GET /api/train``, ``POST /api/train``, ``POST /api/train/stop``, ``GET /api/train/events``, ``GET /api/train/model``
    Training from the page (:mod:`bpnn.web.training`): the form's choices and
    the current run; start a run (409 while one is under way, 422 for a bad or
    too large request); stop it at the end of the epoch; watch it as
    server-sent events; download the trained model file.
``GET /docs``, ``GET /openapi.json``
    The API's OpenAPI description (FastAPI's).

The model routes and the predict routes take ``?model=trained`` to use the
model trained on the page instead of the one being served.

Both predict routes answer with :class:`PredictionOut`: the number read
(``label``) and, for every digit in reading order (``digits``), its box in
the picture, label, class probabilities, the prepared input the network saw
and the activations of every hidden layer; the top-level ``index``,
``probabilities``, ``input``, ``hidden`` and ``output`` are the first
digit's (the only one's, for a single digit).  Bad requests get a 4xx status and ``{"detail": "..."}``
naming the problem: 413 for a body over the size limit or an image with too
many pixels, 415 for bytes that are not an image, 422 for a wrong shape,
a value that is not a number in range, or an image with no digit.  The app
takes no file-system path from a request and runs without debug mode.

Work and memory are bounded whatever the clients send, and however many
there are: a request body is buffered only within a budget shared by all
requests (:class:`BodyLimit`; others wait, their bytes left unread in the
socket), a body must arrive within :data:`BODY_TIMEOUT` seconds, and both
predict routes decode, prepare and run at most two inputs at once on two
worker threads of their own.  JSON bodies are parsed by :func:`parse_pixels`
straight from the bytes into a NumPy array (no per-value model objects).
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any, Awaitable, Callable, Optional, Union

import numpy as np
from fastapi import FastAPI, File, HTTPException, Query, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, StrictBool

from .._version import __version__
from ..imageprep import WORK_SIZE, ImageError, ImageTooLargeError, NotAnImageError
from ..predictor import Predictor
from .training import TrainingManager, TrainingRefused

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_MAX_PIXELS", "create_app", "parse_pixels", "PixelsIn", "PredictionOut",
           "DigitOut", "ModelOut"]

#: Largest request body accepted, in bytes (uploads and JSON alike).
DEFAULT_MAX_BODY = 4 * 1024 * 1024
#: Largest uploaded image, in pixels, checked before decoding (16 megapixels).
DEFAULT_MAX_PIXELS = 16_000_000

#: A refused body is read and discarded up to this many bytes, then the connection is closed.
DRAIN_LIMIT = 64 * 1024 * 1024
#: Seconds a request body may take to arrive once the server starts reading it (then 408).
BODY_TIMEOUT = 60.0
#: Seconds a request waits for room in the body budget before it is turned away (503).
QUEUE_TIMEOUT = 60.0
#: Inputs decoded, prepared and run at once (each on its own worker thread).
WORKERS = 2
#: Longest side of a picture sent as JSON with ``"prepare": true``: the working size uploads are shrunk to.
MAX_SIDE = WORK_SIZE

STATIC = resources.files("bpnn.web") / "static"


#: One pixel: a JSON number (no boolean, string, null, NaN or Infinity) from 0 to 255.
_Number = Annotated[float, Field(ge=0, le=255, allow_inf_nan=False, strict=True)]


class PixelsIn(BaseModel):
    """An image as numbers.

    This model documents the body of ``POST /api/predict`` in the OpenAPI
    description; the route itself reads the body with :func:`parse_pixels`,
    which applies the same rules plus the model's own shape and range without
    building an object per number.
    """

    pixels: Union[list[list[_Number]], list[_Number]] = Field(
        description="A prepared input of exactly the model's image shape (e.g. 28x28; 8x8 for the digits) or "
                    "the same flattened (784; 64), white ink on black, values in [0, 1] or in the data set's "
                    "units (0..255 for MNIST, 0..16 for the digits); or, with prepare=true, a 2-d grey picture "
                    f"of any size up to {MAX_SIDE}x{MAX_SIDE} (0..255 or [0, 1], either polarity) to prepare "
                    "MNIST-style. JSON numbers only: booleans, strings, null, NaN and Infinity get 422, as "
                    "does another shape (the message names the expected one).",
        examples=[[[0.0] * 28] * 28],
    )
    prepare: StrictBool = Field(False, description="Take pixels as a picture to prepare MNIST-style (crop to the "
                                                   "ink, fit 20x20, centre by mass), of any size.")


class BoxOut(BaseModel):
    """Where a digit's ink is in the picture, in the picture's pixels (after a large image was shrunk)."""

    x: int = Field(description="Its first column, from 0 at the left.")
    y: int = Field(description="Its first row, from 0 at the top.")
    width: int
    height: int


class SizeOut(BaseModel):
    """The size of the picture the boxes refer to (an upload over 1024 pixels is shrunk to 1024 first)."""

    width: int
    height: int


class DigitOut(BaseModel):
    """One digit read: where it is and what the network made of it."""

    label: str = Field(description="The predicted class name.")
    index: int = Field(description="Its output index.")
    probabilities: list[float] = Field(description="One probability per class, summing to 1 (a softmax "
                                                   "output as is; sigmoid outputs divided by their sum).")
    classes: list[str] = Field(description="The class names, in output order.")
    input: list[list[float]] = Field(description="The prepared image the network saw, values in [0, 1].")
    hidden: list[list[float]] = Field(description="The activations of each hidden layer, in order.")
    output: list[float] = Field(description="The output layer's activations a^L, before any normalisation.")
    box: BoxOut = Field(description="The digit's ink in the picture (for a prepared input: the whole field).")
    line: int = Field(description="The line it was written on, 0 for the top one.")


class PredictionOut(BaseModel):
    """What the network read in the image: a number, digit by digit (or one item)."""

    label: str = Field(description="What was read: the digits' labels in reading order, lines separated by a "
                                   "space (\"2026\"); for a single digit or item, its class name.")
    index: int = Field(description="The output index of the first digit.")
    probabilities: list[float] = Field(description="The first digit's class probabilities, summing to 1 (a "
                                                   "softmax output as is; sigmoid outputs divided by their sum).")
    classes: list[str] = Field(description="The class names, in output order.")
    input: list[list[float]] = Field(description="The first digit's prepared image, values in [0, 1].")
    hidden: list[list[float]] = Field(description="The first digit's activations of each hidden layer, in order.")
    output: list[float] = Field(description="The first digit's output activations a^L, before any normalisation.")
    digits: list[DigitOut] = Field(description="Every digit read, in reading order: left to right, lines top to "
                                               "bottom (one entry for a single digit or item).")
    size: SizeOut = Field(description="The picture the boxes refer to (a prepared input: the model's field).")
    segmented: bool = Field(description="True when the picture was cut into digits; false when it was read as "
                                        "one item (?single=true, a prepared input, or a model whose inputs "
                                        "are not 28x28 digits).")


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


class WeightsOut(BaseModel):
    """One unit's incoming weights."""

    layer: int = Field(description="The Dense layer, from 1 (the first hidden layer).")
    unit: int = Field(description="The unit of that layer, from 0.")
    shape: list[int] = Field(description="The shape to show the weights in: the input image's for layer 1, "
                                         "else the previous layer's size.")
    weights: list[float] = Field(description="W[:, unit], one weight per unit of the layer below (row-major).")
    bias: float
    activation: str


class ErrorOut(BaseModel):
    detail: str


_ERRORS = {status: {"model": ErrorOut} for status in (413, 415, 422)}


class _Budget:
    """Bytes of request bodies the app may hold at once; ``take`` waits (first come, first served) for room.

    Lives on the event loop's thread: no locks, and ``give`` is synchronous,
    so it also runs in ``finally`` blocks of cancelled requests.
    """

    def __init__(self, total: int) -> None:
        self.total, self.used = int(total), 0
        self._waiters: collections.deque = collections.deque()

    async def take(self, n: int) -> int:
        n = min(int(n), self.total)
        if not self._waiters and self.used + n <= self.total:
            self.used += n
            return n
        future = asyncio.get_running_loop().create_future()
        entry = (n, future)
        self._waiters.append(entry)
        try:
            await future
        except BaseException:               # cancelled or timed out: give back what we may have been granted
            if future.done() and not future.cancelled():
                self.give(n)
            else:
                try:
                    self._waiters.remove(entry)
                except ValueError:
                    pass
                self._wake()
            raise
        return n

    def give(self, n: int) -> None:
        self.used -= n
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.used + self._waiters[0][0] <= self.total:
            n, future = self._waiters.popleft()
            if not future.done():
                self.used += n
                future.set_result(None)


class BodyLimit:
    """ASGI middleware bounding request bodies: their size, the time they take and the memory they hold.

    Refuses a body over ``max_bytes`` with 413: checks ``Content-Length``
    before reading anything, then reads the body (also one sent chunked,
    without a length) counting its bytes, so nothing over the limit is ever
    buffered; the app gets the body replayed.  Before reading, a request
    reserves its declared length (``max_bytes`` when chunked) from a budget
    of ``max_buffered`` bytes shared by all requests, kept until its response
    is sent: when the budget is spent, further requests wait unread (the
    server stops reading their sockets), so however many clients send large
    bodies at once the app holds at most ``max_buffered`` bytes of them.  A
    request that waits more than ``queue_timeout`` seconds gets 503, a body
    that takes more than ``body_timeout`` seconds to arrive 408.
    """

    def __init__(self, app: Callable, max_bytes: int, max_buffered: int | None = None,
                 body_timeout: float = BODY_TIMEOUT, queue_timeout: float = QUEUE_TIMEOUT) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)
        self.budget = _Budget(max(self.max_bytes, int(max_buffered if max_buffered is not None
                                                      else 4 * self.max_bytes)))
        self.body_timeout = float(body_timeout)
        self.queue_timeout = float(queue_timeout)

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

    async def _read(self, receive: Callable) -> tuple[Optional[bytes], int, bool]:
        """The body; or None, the bytes seen and whether more is coming, when it is over the limit
        (or the client went away: None, 0, False)."""
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":      # the client went away
                return None, 0, False
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                return None, total, message.get("more_body", False)
            chunks.append(chunk)
            if not message.get("more_body", False):
                body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()                          # one copy of the body, not two
                return body, total, False

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = f"{self.max_bytes / 1024 / 1024:.1f} MiB"
        headers = dict(scope.get("headers") or [])
        expects = headers.get(b"expect", b"").lower() == b"100-continue"   # the client waits for our answer
        length = headers.get(b"content-length")
        declared = None
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await self._refuse(send, 400, "the Content-Length header is not a number")
                return
            if declared < 0:
                await self._refuse(send, 400, "the Content-Length header is negative")
                return
            if declared > self.max_bytes:
                if not expects:
                    await self._drain(receive, declared)
                await self._refuse(send, 413, f"the request body is {declared / 1024 / 1024:.1f} MiB; "
                                              f"the limit is {limit}: send a smaller image")
                return
        try:
            reserved = await asyncio.wait_for(self.budget.take(self.max_bytes if declared is None else declared),
                                              self.queue_timeout)
        except asyncio.TimeoutError:
            if not expects:
                await self._drain(receive, 0)
            await self._refuse(send, 503, "the server is busy with other large requests; send it again later")
            return
        except asyncio.CancelledError:                  # the server is shutting down
            await self._refuse(send, 503, "the server is shutting down; send the request again later")
            return
        try:
            try:
                body, total, more = await asyncio.wait_for(self._read(receive), self.body_timeout)
            except asyncio.TimeoutError:
                await self._refuse(send, 408, f"the request body did not arrive within {self.body_timeout:g} "
                                              f"seconds; send it again")
                return
            except asyncio.CancelledError:              # the server is shutting down mid-upload
                await self._refuse(send, 503, "the server is shutting down; send the request again later")
                return
            if body is None:
                if total:
                    if more:
                        await self._drain(receive, total)
                    await self._refuse(send, 413, f"the request body is over the limit of {limit}: "
                                                  f"send a smaller image")
                return
            if reserved > total:                        # a chunked body: keep only what it holds
                self.budget.give(reserved - total)
                reserved = total
            replayed = False

            async def replay() -> dict:
                nonlocal replayed, body
                if not replayed:
                    replayed = True
                    message = {"type": "http.request", "body": body, "more_body": False}
                    body = b""                          # the app holds the only reference from now on
                    return message
                return await receive()

            await self.app(scope, replay, send)
        finally:
            self.budget.give(reserved)


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


_SEND_OBJECT = ("send a JSON object such as {\"pixels\": [[...], ...]} with the header "
                "Content-Type: application/json")
_SEND_ARRAY = ("pixels must be a 2-d array of numbers (a list of rows, e.g. 28 lists of 28 numbers) "
               "or a flat list of numbers")
_NOT_NUMBERS = {bool: "true and false", str: "strings", type(None): "null"}


class _NotANumber(ValueError):
    pass


def _no_constants(name: str) -> float:
    raise _NotANumber(name)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape) if len(shape) > 1 else f"a flat list of {shape[0]}"


def is_json_content_type(value: str | None) -> bool:
    """True for no Content-Type (read as JSON, as FastAPI does), application/json and application/*+json."""
    if not value:
        return True
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def parse_pixels(body: bytes, image_shape: tuple[int, ...], scale: float = 255.0,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, bool]:
    """Read a ``POST /api/predict`` body: the pixels as a float64 array, and ``prepare``.

    The body is checked before it is decoded (a few counts of its bytes bound
    how many objects decoding can make), decoded with :func:`json.loads` and
    turned into one array, so a request of ``n`` bytes costs a few times ``n``,
    not an object per number.

    Rules: a JSON object; ``prepare`` true or false; ``pixels`` a flat or
    2-d rectangular list of JSON numbers (no booleans, strings, null, NaN or
    Infinity) of exactly ``image_shape`` or its flat size, values from 0 to
    ``max(1, scale)`` (in [0, 1] or the data set's units); with ``prepare``
    any 2-d picture up to :data:`MAX_SIDE` a side and ``max_pixels`` values,
    values from 0 to 255.

    Raises
    ------
    fastapi.HTTPException
        422 naming the problem (413 for more than ``max_pixels`` values).
    """
    def refuse(detail: str, status: int = 422) -> HTTPException:
        return HTTPException(status_code=status, detail=detail)

    image_shape = tuple(int(s) for s in image_shape)
    # before decoding: every '[' may become a list, every '"' half a string, every '{' a dict
    if body.count(b"[") > MAX_SIDE + 1:
        raise refuse(f"pixels: more than {MAX_SIDE} rows or nested lists; " + _SEND_ARRAY)
    if body.count(b'"') > 64 or body.count(b"{") > 8:
        raise refuse("the body holds more strings or objects than {\"pixels\": [[...], ...], \"prepare\": false} "
                     "needs; pixels must be numbers")
    try:
        doc = json.loads(body, parse_constant=_no_constants)
    except _NotANumber as err:
        raise refuse(f"the body holds {err}, which is not a number (NaN and Infinity are refused); "
                     f"send finite numbers") from None
    except RecursionError:
        raise refuse("the request body is nested too deeply; " + _SEND_OBJECT) from None
    except UnicodeDecodeError:
        raise refuse("the request body is not valid JSON (it is not UTF-8 text); "
                     "send {\"pixels\": [[...], ...]}") from None
    except json.JSONDecodeError:
        raise refuse("the request body is not valid JSON; send {\"pixels\": [[...], ...]}") from None
    except ValueError:              # an integer of more than 4300 digits (sys.get_int_max_str_digits)
        raise refuse("the request body holds a number too long to read; send numbers from 0 to 255") from None
    if not isinstance(doc, dict):
        raise refuse(_SEND_OBJECT)
    prepare = doc.get("prepare", False)
    if type(prepare) is not bool:
        raise refuse("prepare must be true or false")
    pixels = doc.get("pixels")
    del doc
    if not isinstance(pixels, list):
        raise refuse(_SEND_ARRAY)
    if not pixels:
        raise refuse("pixels: the array is empty")
    types: set[type] = set()
    if type(pixels[0]) is list:
        if any(type(row) is not list for row in pixels):
            raise refuse(_SEND_ARRAY)
        lengths = set(map(len, pixels))
        if len(lengths) > 1:
            raise refuse("pixels: the rows have different lengths; send a rectangular 2-d array")
        shape: tuple[int, ...] = (len(pixels), lengths.pop())
        for row in pixels:
            types.update(map(type, row))
    else:
        shape = (len(pixels),)
        types.update(map(type, pixels))
    if 0 in shape:
        raise refuse("pixels: the array is empty")
    if types - {int, float}:
        found = [text for kind, text in _NOT_NUMBERS.items() if kind in types]
        if not found:                                   # lists or objects one level too deep
            raise refuse(_SEND_ARRAY)
        raise refuse(f"pixels must be JSON numbers, not {' or '.join(found)}: send e.g. 0.5, not \"0.5\" or true")
    size = int(np.prod(shape))
    if size > max_pixels:
        raise refuse(f"pixels: {size} values; at most {max_pixels} are accepted", 413)
    if prepare:
        if len(shape) != 2:
            raise refuse(f"pixels: a picture to prepare must be 2-d (a list of rows), got {_shape_text(shape)} "
                         f"numbers")
        if max(shape) > MAX_SIDE:
            raise refuse(f"pixels: a picture to prepare may be at most {MAX_SIDE}x{MAX_SIDE}, got "
                         f"{_shape_text(shape)}")
        top, units = 255.0, "0..255, or [0, 1]"
    else:
        n_features = int(np.prod(image_shape))
        if shape != image_shape and shape != (n_features,):
            expected = _shape_text(image_shape) + (f" numbers (or {_shape_text((n_features,))})"
                                                   if len(image_shape) > 1 else " numbers")
            got = _shape_text(shape) + " numbers" if len(shape) == 1 else f"a {_shape_text(shape)} array"
            raise refuse(f"pixels: {got} is neither a picture to prepare (a 2-d array with \"prepare\": true) "
                         f"nor this model's input: the expected shape is {expected}")
        top = max(1.0, float(scale))
        units = "in [0, 1]" + (f", or the data set's units 0..{top:g}" if top > 1 else "")
    try:
        array = np.array(pixels, dtype=np.float64)
    except OverflowError:
        array = np.array([np.inf])
    del pixels
    if not np.isfinite(array).all():
        raise refuse(f"pixels: a value is too large for a float; values must be finite numbers from 0 to "
                     f"{top:g} ({units})")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > top:
        raise refuse(f"pixels: values must be from 0 to {top:g} ({units}); got {low if low < 0 else high:g}")
    return array, prepare


def create_app(predictor: Predictor, *, source: str | None = None, max_body: int = DEFAULT_MAX_BODY,
               max_buffered: int | None = None, training: TrainingManager | bool = True,
               data_dir: str | None = None) -> FastAPI:
    """Build the app serving ``predictor``.

    Parameters
    ----------
    predictor : Predictor
        The model and its input preparation.
    source : str, optional
        The model file's name, shown on the page (never a path taken from a request).
    max_body : int
        Largest request body in bytes; larger ones get 413 before they are read.
    max_buffered : int, optional
        Bytes of request bodies held at once by all requests together (default
        ``4 * max_body``); further requests wait, unread (see :class:`BodyLimit`).
    training : TrainingManager or bool
        Training from the page: a manager, True for a new one (MNIST looked for
        in ``data_dir``), False to turn it off (the routes answer 403).
    data_dir : str, optional
        Where a new training manager looks for MNIST.
    """
    workers: dict[str, ThreadPoolExecutor] = {}
    trainer = training if isinstance(training, TrainingManager) else (
        TrainingManager(data_dir=data_dir) if training else None)
    #: set when the server starts shutting down: event streams end, a run is abandoned
    closing = threading.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        closing.set()
        pool = workers.pop("pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if trainer is not None:
            await asyncio.get_running_loop().run_in_executor(None, trainer.shutdown)

    app = FastAPI(
        title="bpnn",
        version=__version__,
        description="Draw a digit, watch the network think. The JSON API behind `bpnn serve`'s page: "
                    "predict from an array or an uploaded image, and describe the model.",
        debug=False,
        lifespan=lifespan,
    )
    app.state.closing = closing
    app.state.training = trainer
    # At most WORKERS inputs are decoded, prepared and run at once, on threads of their own (few threads
    # also keep the C allocator's per-thread arenas few): an upload of up to ``max_pixels`` pixels or a
    # JSON body of up to ``max_body`` bytes briefly needs a few times its size, so this bounds the memory;
    # requests waiting for a worker hold only their body, which BodyLimit's budget bounds.
    async def in_worker(fn: Callable, *args: Any) -> Any:
        pool = workers.get("pool")
        if pool is None:
            pool = workers["pool"] = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="bpnn-predict")
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    # Decoding JSON holds the GIL, so two at once are no faster than one after the other, and need twice
    # the memory (a few times the body each): one at a time.
    decoding = threading.Lock()
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

    Which = Query("served", pattern="^(served|trained)$",
                  description="served: the model given to 'bpnn serve'; trained: the last model trained on the page")

    def chosen(model: str) -> Predictor:
        if model == "served":
            return predictor
        found = trainer.predictor() if trainer is not None else None
        if found is None:
            raise HTTPException(status_code=404, detail="no model has been trained on this page yet: train one in "
                                                        "the Train tab first")
        return found

    def describe(model: str) -> dict:
        if model == "served":
            return info
        trained = chosen(model)
        return {**trained.info(), "source": "trained on this page"}

    @app.get("/api/model", response_model=ModelOut, summary="Describe the model being served (or the one trained "
                                                            "on the page)")
    def model_info(model: str = Which) -> dict:
        return describe(model)

    @app.get("/api/model/weights", response_model=WeightsOut, responses={404: {"model": ErrorOut}},
             summary="One unit's incoming weights (a first-layer unit's as an image)")
    def unit_weights(layer: int = Query(1, ge=1, description="Dense layer, from 1"),
                     unit: int = Query(0, ge=0, description="unit of that layer, from 0"),
                     model: str = Which) -> dict:
        use = chosen(model)
        dense = use.net.dense_layers
        if layer > len(dense):
            raise HTTPException(status_code=404, detail=f"the network has {len(dense)} Dense layers; layer "
                                                        f"{layer} does not exist")
        target = dense[layer - 1]
        if unit >= target.n_out:
            raise HTTPException(status_code=404, detail=f"layer {layer} has {target.n_out} units (0 to "
                                                        f"{target.n_out - 1}); unit {unit} does not exist")
        shape = list(use.image_shape) if layer == 1 and len(use.image_shape) > 1 else [target.n_in]
        return {"layer": layer, "unit": unit, "shape": shape, "activation": target.activation.name,
                "weights": np.round(target.W[:, unit].astype(np.float64), 5).tolist(),
                "bias": round(float(target.b[unit]), 5)}

    Single = Query(False, description="Read the picture as one digit even when it holds several (a model of "
                                      "28x28 digits otherwise reads a number, digit by digit).")

    def predict_json(body: bytes, predictor: Predictor, single: bool) -> dict:
        with decoding:
            array, prepare = parse_pixels(body, predictor.image_shape, predictor.scale, predictor.max_pixels)
        if prepare:
            grey = array * 255.0 if array.max(initial=0.0) <= 1.0 else array
            del array
            return predictor.read(np.clip(grey, 0, 255), "pixels", single=single).to_dict(predictor.classes)
        images = predictor.images_from_array(array, "pixels")
        if len(images) != 1:
            raise ImageError(f"pixels: send one image, got {len(images)} (shape {array.shape})")
        return predictor.read_prepared(images[0][1]).to_dict(predictor.classes)

    body_schema = PixelsIn.model_json_schema(ref_template="#/components/schemas/{model}")

    @app.post("/api/predict", response_model=PredictionOut, responses=_ERRORS,
              summary="Read an image given as an array of numbers (a picture with prepare=true: a number, "
                      "digit by digit)",
              openapi_extra={"requestBody": {"required": True,
                                             "content": {"application/json": {"schema": body_schema}}}})
    async def predict_pixels(request: Request, model: str = Which, single: bool = Single) -> dict:
        # the body is read here, not by a pydantic model: parse_pixels makes one array of it, in a worker
        if not is_json_content_type(request.headers.get("content-type")):
            raise HTTPException(status_code=422, detail=_SEND_OBJECT)
        use = chosen(model)
        return await in_worker(predict_json, await request.body(), use, single)

    def predict_file(file: Any, predictor: Predictor, single: bool) -> dict:
        data = file.read()
        grey = predictor.picture_from_bytes(data, "the uploaded file")
        del data
        return predictor.read(grey, "the uploaded file", single=single).to_dict(predictor.classes)

    @app.post("/api/predict/image", response_model=PredictionOut, responses=_ERRORS,
              summary="Read an uploaded image (PNG, JPEG, ...): a number digit by digit, each prepared MNIST-style")
    async def predict_upload(file: UploadFile = File(description="The image file"), model: str = Which,
                             single: bool = Single) -> dict:
        use = chosen(model)
        return await in_worker(predict_file, file.file, use, single)

    _add_training_routes(app, trainer, closing)

    app.add_middleware(BodyLimit, max_bytes=max_body, max_buffered=max_buffered)
    app.add_middleware(SecurityHeaders)
    return app


# --------------------------------------------------------------------------
# training from the page
# --------------------------------------------------------------------------
#: Seconds between keep-alive comments on an idle event stream.
KEEPALIVE = 15.0
#: Event streams open at once (each polls the run ten times a second); more get 503.
MAX_STREAMS = 16


def _sse(kind: str, data: Any, seq: int | None = None) -> bytes:
    """One server-sent event."""
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _add_training_routes(app: FastAPI, trainer: TrainingManager | None, closing: threading.Event) -> None:
    """``/api/train``: the form's choices and the run, start, stop, the event stream, the model file."""
    refused = {status: {"model": ErrorOut} for status in (403, 409, 422)}
    streams = {"open": 0}

    def manager() -> TrainingManager:
        if trainer is None:
            raise HTTPException(status_code=403, detail="training from the page is off on this server "
                                                        "(bpnn serve --no-training)")
        return trainer

    def answer(err: TrainingRefused) -> JSONResponse:
        return JSONResponse({"detail": err.detail}, status_code=err.status)

    @app.get("/api/train", responses=refused, summary="The training form's choices and limits, and the current run")
    def train_state() -> dict:
        m = manager()
        return {"options": m.options(), "state": m.state()}

    @app.post("/api/train", status_code=202, responses=refused,
              summary="Start a training run (one at a time; sizes, epochs and time are bounded)",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                  "type": "object", "additionalProperties": False, "properties": {
                      "dataset": {"type": "string", "enum": ["digits", "mnist-subset", "mnist"]},
                      "hidden": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                      "activation": {"type": "string"}, "cost": {"type": "string"}, "init": {"type": "string"},
                      "optimizer": {"type": "string"}, "eta": {"type": "number", "exclusiveMinimum": 0},
                      "batch_size": {"type": "integer", "minimum": 1}, "epochs": {"type": "integer", "minimum": 1},
                      "seed": {"type": "integer", "minimum": 0}}}}}}})
    async def train_start(request: Request) -> Any:
        m = manager()
        body = await request.body()
        try:
            values = json.loads(body) if body.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            return JSONResponse({"detail": "the request body is not valid JSON; send {\"dataset\": \"digits\", "
                                           "\"hidden\": [32], \"epochs\": 30}"}, status_code=422)
        try:
            return JSONResponse(m.start(values), status_code=202)
        except TrainingRefused as err:
            return answer(err)

    @app.post("/api/train/stop", responses=refused, summary="Stop the run at the end of the epoch under way")
    def train_stop() -> Any:
        try:
            return manager().stop()
        except TrainingRefused as err:
            return answer(err)

    @app.get("/api/train/events", responses=refused, summary="The run as server-sent events",
             description="A 'state' event with everything so far, then 'status', 'epoch', 'progress' and "
                         "'diagnosis' events as they happen (text/event-stream).")
    async def train_events(request: Request) -> Any:
        m = manager()
        if streams["open"] >= MAX_STREAMS:
            return JSONResponse({"detail": f"{MAX_STREAMS} event streams are open already; close a page and "
                                           f"reload"}, status_code=503)

        async def stream():
            streams["open"] += 1               # counted from its first byte, so a stream never started never counts
            try:
                async for chunk in events():
                    yield chunk
            finally:
                streams["open"] -= 1

        async def events():
            state = m.state()
            seq = state["seq"]
            yield _sse("state", state, seq)
            beat = time.monotonic()
            while not closing.is_set():
                if await request.is_disconnected():
                    return
                latest, events = m.events_since(seq)
                if events is None:                       # too far behind: everything again
                    state = m.state()
                    seq = state["seq"]
                    yield _sse("state", state, seq)
                elif events:
                    for number, kind, data in events:
                        yield _sse(kind, data, number)
                    seq = events[-1][0]
                    beat = time.monotonic()
                else:
                    if time.monotonic() - beat > KEEPALIVE:
                        yield b": keep-alive\n\n"
                        beat = time.monotonic()
                    await asyncio.sleep(0.1)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/api/train/model", responses={**refused, 404: {"model": ErrorOut}},
             summary="Download the model trained on the page (a bpnn model file)")
    def train_model() -> Any:
        try:
            name, data = manager().model_file()
        except TrainingRefused as err:
            return answer(err)
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
