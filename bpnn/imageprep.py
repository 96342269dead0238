"""Turn a user's own image into a network input, the way MNIST was made.

MNIST's preparation (LeCun et al.): the digit is size-normalised to fit a
20x20 box keeping its aspect ratio (anti-aliased, hence grey levels), then
placed in a 28x28 field so that its centre of mass is at the field's centre.
:func:`prepare_mnist` does the same to any photo or drawing:

1. grey-scale (transparent parts count as white paper);
2. invert when the background is light (MNIST is white ink on black);
3. stretch the contrast so the background is 0 and the darkest ink 1;
4. crop to the bounding box of the ink;
5. resize so the longer side is 20 pixels, keeping the aspect ratio;
6. paste into 28x28 with the centre of mass at pixel (14, 14) (MNIST's
   digits have their centre of mass there, in 0-based pixel indices).

scikit-learn's 8x8 digits were made from 32x32 bitmaps whose digits fill the
height, cut into 4x4 blocks of on-pixel counts (0..16).  :func:`prepare_digits`
fits the ink to the full height of 8 rows, keeping the aspect ratio, with
area-averaging (the fraction of ink in each block, i.e. count / 16), and
places it horizontally by its centre of mass.

All functions return float32 images with values in [0, 1], white ink on black.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .exceptions import DataError

__all__ = [
    "MAX_PIXELS",
    "ImageError",
    "NotAnImageError",
    "ImageTooLargeError",
    "read_image",
    "read_image_bytes",
    "ink_image",
    "ink_box",
    "inputs_from_array",
    "prepare_mnist",
    "prepare_digits",
    "prepare",
    "load_inputs",
    "save_image",
]

#: Images with more pixels than this are refused (decompression bombs).
MAX_PIXELS = 40_000_000
#: Image formats read (others, such as EPS, which Pillow hands to Ghostscript, are refused).
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
#: Larger images are shrunk (keeping the aspect ratio) to this many pixels on
#: their longer side while being decoded: a digit ends up 20 pixels tall, and
#: a photo's full resolution would only cost memory.
WORK_SIZE = 1024
#: Ink threshold (of the stretched 0..1 range) that defines the bounding box.
INK_THRESHOLD = 0.2


class ImageError(DataError):
    """An input image cannot be read or holds no digit."""


class NotAnImageError(ImageError):
    """The bytes are not in an image format Pillow reads."""


class ImageTooLargeError(ImageError):
    """The image has more pixels than allowed (a possible decompression bomb)."""


def read_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as grey levels, transparent parts as white.

    Parameters
    ----------
    path : str or os.PathLike
        PNG, JPEG or any format Pillow reads.
    max_pixels : int
        Refuse larger images before decoding them.

    Returns
    -------
    ndarray of float64, shape (rows, cols)
        Grey levels 0 (black) .. 255 (white).

    Raises
    ------
    ImageError
        Missing file, not an image, too large, or damaged.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    return _decode(path, str(path), max_pixels)


def read_image_bytes(data: bytes, name: str = "the upload", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Like :func:`read_image`, for an image held in memory (an upload).

    ``name`` only labels error messages.
    """
    if not data:
        raise ImageError(f"{name} is empty; send a PNG or JPEG file")
    return _decode(io.BytesIO(data), name, max_pixels)


def _decode(source, name: str, max_pixels: int) -> np.ndarray:
    """Open, size-check (before decoding) and convert ``source`` to grey levels."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow warns above ~89 megapixels; the size check below refuses those anyway
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(source, formats=FORMATS)
        with img:
            width, height = img.size
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"{name}: the image is {width}x{height} = {width * height:,} pixels; "
                    f"images over {max_pixels:,} pixels are refused"
                )
            if max(width, height) > WORK_SIZE:
                img.draft("L", (WORK_SIZE, WORK_SIZE))      # JPEG: decode at a reduced scale
            img = ImageOps.exif_transpose(img)
            img.load()
            if max(img.size) > WORK_SIZE and img.mode in ("L", "LA", "RGB", "RGBA", "P", "1"):
                img = img.convert("RGBA" if img.mode in ("LA", "P") else "L" if img.mode == "1" else img.mode)
                img.thumbnail((WORK_SIZE, WORK_SIZE), Image.Resampling.BOX)
            return _to_grey(img)
    except ImageError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageTooLargeError(f"{name}: refused as a possible decompression bomb ({err})") from None
    except UnidentifiedImageError:
        raise NotAnImageError(
            f"{name} is not a PNG, JPEG, GIF, BMP, WebP or TIFF image; give a PNG or JPEG file, or a .npy array"
        ) from None
    except (OSError, ValueError, SyntaxError) as err:
        raise ImageError(f"{name}: the image is damaged or truncated ({err})") from None


def _to_grey(img) -> np.ndarray:
    from PIL import Image

    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        return np.clip(a / top * 255.0, 0, 255)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("L"), dtype=np.float64)


def _ink(grey: np.ndarray) -> np.ndarray:
    """Steps 1-3: ink in [0, 1] on a 0 background, from grey levels 0..255."""
    grey = np.asarray(grey, dtype=np.float64)
    if grey.ndim != 2 or min(grey.shape) < 1:
        raise ImageError(f"expected a 2-d grey image, got shape {grey.shape}")
    if not np.isfinite(grey).all():
        raise ImageError("the image contains NaN or infinite values")
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    background = float(np.median(border))
    if background > 127.5:                       # dark ink on light paper
        ink, background = 255.0 - grey, 255.0 - background
    else:
        ink = grey
    contrast = float(ink.max()) - background
    if contrast < 16:                            # fewer than 16 grey levels of ink
        raise ImageError("no digit found: the image is blank or has almost no contrast; give a picture of "
                         "dark ink on light paper (or light on dark), cropped to the writing")
    return np.clip((ink - background) / contrast, 0.0, 1.0)


def ink_image(grey: np.ndarray) -> np.ndarray:
    """Steps 1-3 of the preparation: the ink of a grey picture.

    Parameters
    ----------
    grey : ndarray, shape (rows, cols)
        Grey levels 0..255, either polarity (the border's median is the paper).

    Returns
    -------
    ndarray of float64, shape (rows, cols)
        Ink in [0, 1] on a 0 background, the darkest ink 1.

    Raises
    ------
    ImageError
        Not 2-d, not finite, or blank (fewer than 16 grey levels of contrast).
    """
    return _ink(grey)


def ink_box(grey: np.ndarray) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` of the ink that :func:`prepare_mnist` crops to (bottom, right exclusive)."""
    mask = _ink(grey) > INK_THRESHOLD
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def _crop_to_ink(ink: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _resize(a: np.ndarray, rows: int, cols: int, resample: str = "LANCZOS") -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32))
    out = img.resize((cols, rows), getattr(Image.Resampling, resample))
    return np.clip(np.asarray(out, dtype=np.float64), 0.0, 1.0)


def prepare_mnist(grey: np.ndarray, box: int = 20, size: int = 28, centre: str = "mass") -> np.ndarray:
    """MNIST's preparation of a grey image (see the module docstring).

    Parameters
    ----------
    grey : ndarray, shape (rows, cols)
        Grey levels 0..255, either polarity.
    box : int
        The longer side of the digit after resizing (20 in MNIST).
    size : int
        The output field (28 in MNIST).
    centre : {"mass", "box"}
        Place the centre of mass (MNIST) or of the bounding box (Fashion-MNIST,
        whose objects fill the 28x28 field: ``box=28, centre="box"``) at the
        field's centre.

    Returns
    -------
    ndarray of float32, shape (size, size), values in [0, 1]
    """
    crop = _crop_to_ink(_ink(grey))
    h, w = crop.shape
    scale = box / max(h, w)
    rows, cols = max(1, round(h * scale)), max(1, round(w * scale))
    digit = _resize(crop, rows, cols)
    if digit.max() <= 0:
        raise ImageError("no digit found after resizing: the strokes are too faint or thin")
    digit /= digit.max()
    if centre == "box":
        top, left = (size - rows) // 2, (size - cols) // 2
    else:
        # centre of mass of the resized digit, in its own pixel indices
        mass = digit.sum()
        cy = float((digit.sum(axis=1) * np.arange(rows)).sum() / mass)
        cx = float((digit.sum(axis=0) * np.arange(cols)).sum() / mass)
        middle = size // 2
        top = int(np.clip(round(middle - cy), 0, size - rows))
        left = int(np.clip(round(middle - cx), 0, size - cols))
    field = np.zeros((size, size), dtype=np.float32)
    field[top:top + rows, left:left + cols] = digit
    return field


def prepare_digits(grey: np.ndarray, size: int = 8) -> np.ndarray:
    """scikit-learn digits' preparation: ink fills the height of an 8x8 grid.

    Returns
    -------
    ndarray of float32, shape (size, size), values in [0, 1] (= count / 16)
    """
    crop = _crop_to_ink(_ink(grey))
    h, w = crop.shape
    cols = min(size, max(1, round(size * w / h)))
    rows = size if cols < size or w <= h else max(1, round(size * h / w))
    digit = _resize(crop, rows, cols, resample="BOX")
    digit /= max(digit.max(), 1e-12)
    # horizontally by centre of mass (the digits' mean is column 3.57 of 0..7)
    cx = float((digit.sum(axis=0) * np.arange(cols)).sum() / max(digit.sum(), 1e-12))
    field = np.zeros((size, size), dtype=np.float32)
    top = (size - rows) // 2
    left = int(np.clip(round((size - 1) / 2 + 0.07 - cx), 0, size - cols))
    field[top:top + rows, left:left + cols] = digit
    return field


def prepare(grey: np.ndarray, image_shape: Sequence[int], layout: dict | None = None) -> np.ndarray:
    """Prepare a grey image for a model whose inputs are ``image_shape`` images.

    28x28 uses :func:`prepare_mnist`, 8x8 :func:`prepare_digits`; another
    square shape ``s`` fits the digit into ``round(s * 20/28)`` pixels as
    MNIST does.  ``layout`` may override ``box`` and ``centre`` of
    :func:`prepare_mnist` (a model records them in its preprocessing).
    """
    shape = tuple(int(s) for s in image_shape)
    layout = {k: v for k, v in (layout or {}).items() if k in ("box", "centre") and v is not None}
    if shape == (28, 28):
        return prepare_mnist(grey, **layout)
    if shape == (8, 8):
        return prepare_digits(grey)
    if len(shape) == 2 and shape[0] == shape[1]:
        return prepare_mnist(grey, box=max(1, round(shape[0] * 20 / 28)), size=shape[0])
    raise ImageError(f"cannot prepare images for inputs of shape {shape}; give .npy arrays instead")


def inputs_from_array(name: str, array: np.ndarray, image_shape: Sequence[int], scale: float = 255.0,
                      layout: dict | None = None, picture: bool = False) -> list[tuple[str, np.ndarray]]:
    """Interpret an array as prepared sample(s) or a raw grey picture (see :func:`load_inputs`).

    Parameters
    ----------
    name : str
        Labels the results and error messages.
    array : ndarray
        Prepared input(s) or a 2-d grey picture, as :func:`load_inputs` describes.
    image_shape : sequence of int
        The model's image shape, e.g. (28, 28).
    scale : float
        What the data set's raw values were divided by (255 or 16).
    layout : dict, optional
        ``box`` and ``centre`` for :func:`prepare_mnist`.
    picture : bool
        Take a 2-d array as a grey picture to prepare even when it has the
        model's image shape.

    Returns
    -------
    list of (str, ndarray)
        A display name and a float32 image of ``image_shape`` in [0, 1] per sample.
    """
    image_shape = tuple(int(s) for s in image_shape)
    if picture and np.ndim(array) != 2:
        raise ImageError(f"{name}: a picture to prepare must be 2-d (rows, cols), got shape {np.shape(array)}")
    if array.dtype.kind not in "biuf":
        raise ImageError(f"{name}: the array holds {array.dtype}, not numbers")
    a = np.asarray(array, dtype=np.float64)
    if not np.isfinite(a).all():
        raise ImageError(f"{name}: the array contains NaN or infinite values")
    n_features = int(np.prod(image_shape))

    def unit(x: np.ndarray) -> np.ndarray:
        # prepared data in the data set's own units (e.g. 0..255) or already in [0, 1]
        x = x / scale if x.max(initial=0.0) > 1.0 else x
        return np.clip(x, 0.0, 1.0).astype(np.float32)

    if not picture:                 # prepared input(s), in one of the accepted layouts
        if a.ndim == 1 and a.size == n_features:
            return [(name, unit(a).reshape(image_shape))]
        if a.shape == image_shape:
            return [(name, unit(a))]
        if a.ndim == 2 and a.shape[1] == n_features and a.shape[0] >= 1:
            return [(f"{name}[{i}]", unit(row).reshape(image_shape)) for i, row in enumerate(a)]
        if a.ndim == 3 and a.shape[1:] == image_shape:
            return [(f"{name}[{i}]", unit(img)) for i, img in enumerate(a)]
    if a.ndim == 2:
        grey = a * 255.0 if a.max(initial=0.0) <= 1.0 else a
        return [(name, prepare(np.clip(grey, 0, 255), image_shape, layout))]
    raise ImageError(
        f"{name}: an array of shape {a.shape} is neither a picture (rows, cols) nor prepared "
        f"inputs of shape {image_shape}, ({n_features},), (n, {n_features}) or (n, *{image_shape})"
    )


def load_inputs(path: str | os.PathLike, image_shape: Sequence[int], scale: float = 255.0,
                layout: dict | None = None) -> list[tuple[str, np.ndarray]]:
    """Read one input file as prepared images.

    Parameters
    ----------
    path : str or os.PathLike
        An image (PNG, JPEG, ...) or a ``.npy`` array.  Arrays of the model's
        image shape (or flattened, or a batch of either) are taken as already
        prepared, white ink on black, in [0, 1] or in the data set's units
        (divided by ``scale``); any other 2-d array is a grey picture and is
        prepared like an image.
    image_shape : sequence of int
        The model's image shape, e.g. (28, 28).
    scale : float
        What the data set's raw values were divided by (255 or 16).
    layout : dict, optional
        ``box`` and ``centre`` for :func:`prepare_mnist`.

    Returns
    -------
    list of (str, ndarray)
        A display name and a float32 image of ``image_shape`` in [0, 1] for
        every sample in the file.

    Raises
    ------
    ImageError
    """
    path = Path(path)
    image_shape = tuple(int(s) for s in image_shape)
    if path.suffix.lower() == ".npy":
        if not path.is_file():
            raise ImageError(f"{path}: no such file")
        _check_npy_header(path)
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise ImageError(f"{path}: not a plain NumPy array file ({err})") from None
        except (OSError, EOFError) as err:
            raise ImageError(f"{path}: cannot read the array ({err})") from None
        if not isinstance(array, np.ndarray):
            raise ImageError(f"{path}: expected a single array")
        return inputs_from_array(str(path), array, image_shape, scale, layout)
    return [(str(path), prepare(read_image(path), image_shape, layout))]


def _check_npy_header(path: Path) -> None:
    """Refuse an ``.npy`` file whose header declares an object array or more bytes than the memory budget
    (or than the file holds) before NumPy allocates anything."""
    from math import prod

    from numpy.lib import format as npy

    from .limits import check_allocation

    try:
        with open(path, "rb") as f:
            version = npy.read_magic(f)
            read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, _, dtype = read_header(f, max_header_size=10_000)
            offset = f.tell()
    except (ValueError, OSError, EOFError) as err:
        raise ImageError(f"{path}: not a plain NumPy array file ({err})") from None
    if dtype.hasobject:
        raise ImageError(f"{path}: not a plain NumPy array file: it holds Python objects; save a numeric array")
    nbytes = prod(shape) * dtype.itemsize
    check_allocation(nbytes, f"the array of shape {shape}", str(path), error=ImageError)
    if nbytes > path.stat().st_size - offset:
        raise ImageError(f"{path}: the header declares an array of shape {shape} ({nbytes} bytes) but the file "
                         f"holds {path.stat().st_size - offset}; it is truncated or damaged")


def save_image(image: np.ndarray, path: str | os.PathLike, enlarge: int = 1) -> None:
    """Save a prepared image (values in [0, 1]) as an 8-bit grey PNG, each pixel ``enlarge`` x ``enlarge``."""
    from PIL import Image

    a = np.round(np.clip(np.asarray(image, dtype=np.float64), 0, 1) * 255).astype(np.uint8)
    if enlarge > 1:
        a = np.kron(a, np.ones((enlarge, enlarge), dtype=np.uint8))
    Image.fromarray(a).save(path)
