"""Training-time augmentation: new versions of the training images every epoch.

Each training image is moved by a random affine map (shift, rotation,
scale, shear) and, optionally, an elastic distortion (Simard, Steinkraus and
Platt 2003: a random displacement field smoothed by a Gaussian of width σ and
scaled by α), then resampled bilinearly.  Everything is vectorised over the
block of images: one set of coordinate arrays of shape ``(k, H, W)`` and four
gathers, no per-image Python loop.

For an output pixel p (row, column) of an image with centre c, the pixel is
read from the input at

    q = c + A (p - c) - t + d(p)

where ``A`` is the inverse of the drawn rotation · shear · scale, ``t`` the
drawn shift and ``d`` the elastic displacement; the value at q is the
bilinear mix of its four neighbours, and points outside the frame read the
background ``fill`` (0: paper).  A convex mix of values in [0, 1] stays in
[0, 1], and the dtype of the input is kept.

:class:`Augmentation` is the callable ``augment(X, rng)`` that
:func:`bpnn.nn.training.fit` runs in a background thread; ``bpnn train
--augment`` builds one from a preset name (:data:`PRESETS`) or ``key=value``
pairs, and ``bpnn augment`` shows a grid of what the network trains on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

from .nn._keywords import did_you_mean

__all__ = ["Augmentation", "PRESETS", "parse_augment", "describe", "sample_grid", "warp", "shift_images", "LIMITS",
           "DIGIT_DATASETS"]

#: Data sets of digits, which ``flip`` would turn into other shapes.
DIGIT_DATASETS = ("mnist", "digits")

#: The largest strength accepted for each parameter (beyond them a digit stops being that digit).
LIMITS = {"shift": 6.0, "rotation": 45.0, "scale": 0.5, "shear": 45.0, "elastic": 10.0, "sigma": 10.0}

#: Named augmentations (``bpnn train --augment NAME``).
PRESETS: dict[str, dict] = {
    "none": {},
    # small moves a digit survives: the "affine distortions" of Simard et al. 2003, a little milder
    "light": {"shift": 2.0, "rotation": 10.0, "scale": 0.1},
    "affine": {"shift": 2.5, "rotation": 12.0, "scale": 0.12, "shear": 12.0},
    # light affine moves plus Simard's elastic distortion (alpha 34, sigma 4: 1.4 px std at the centre)
    "elastic": {"shift": 2.0, "rotation": 10.0, "scale": 0.1, "elastic": 1.4, "sigma": 4.0},
    # clothes: mirror images are still clothes; they are centred and upright in the photographs, so
    # they are only mirrored (with dropout 0.3 on the 50k/10k split, a shift of 2 px with 6% scaling
    # reached 88.3% validation accuracy at epoch 41, a 1 px shift 89.8%; experiments/results/records-tuning)
    "fashion": {"flip": True},
}


@dataclass(frozen=True)
class Augmentation:
    """Random affine and elastic distortions of images, bilinearly resampled.

    Every parameter is a largest strength; each image draws its own uniformly
    below it.  All zero (the default) is the identity.

    Parameters
    ----------
    image_shape : (H, W)
        How each row of ``X`` is laid out (row-major).
    shift : float
        Largest shift in pixels, drawn separately for rows and columns.
    rotation : float
        Largest rotation in degrees, either way.
    scale : float
        Largest relative change of size: the factor is drawn in
        ``[1 - scale, 1 + scale]``.
    shear : float
        Largest horizontal shear angle in degrees.
    elastic : float
        Elastic distortion strength: the standard deviation, in pixels, of
        the smoothed displacement field at the centre of the frame (0: none;
        it fades toward the edges, as Simard's zero-padded field does).
        Simard's α = 34 with σ = 4 is 1.4 (α · √(1/3) · Σ g², g the
        normalised Gaussian); the strength does not depend on σ.
    sigma : float
        Width σ of the Gaussian that smooths the elastic field, in pixels.
    flip : bool
        Mirror half of the images left to right (clothes, not digits).
    fill : float
        Value read outside the frame (the background).
    """

    image_shape: tuple[int, int] = (28, 28)
    shift: float = 0.0
    rotation: float = 0.0
    scale: float = 0.0
    shear: float = 0.0
    elastic: float = 0.0
    sigma: float = 4.0
    flip: bool = False
    fill: float = 0.0

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.image_shape)
        if len(shape) != 2 or min(shape) < 2:
            raise ValueError(f"augmentation needs 2-D images of at least 2x2 pixels, got image_shape "
                             f"{self.image_shape!r}")
        object.__setattr__(self, "image_shape", shape)
        for name, limit in LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not 0 <= value <= limit:
                raise ValueError(f"augmentation {name} must be a number from 0 to {limit:g}, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.sigma <= 0:
            raise ValueError(f"augmentation sigma must be > 0, got {self.sigma!r}")
        if not isinstance(self.flip, (bool, np.bool_)):
            raise ValueError(f"augmentation flip must be true or false, got {self.flip!r}")
        object.__setattr__(self, "flip", bool(self.flip))

    @property
    def identity(self) -> bool:
        """True when nothing moves."""
        return not (self.shift or self.rotation or self.scale or self.shear or self.elastic or self.flip)

    def params(self) -> dict:
        """The strengths, without the image shape (what ``--augment`` takes)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("image_shape", "fill")}

    def __call__(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A new, randomly distorted version of each row of ``X``.

        Parameters
        ----------
        X : ndarray of shape (k, H*W)
        rng : numpy.random.Generator

        Returns
        -------
        ndarray of shape (k, H*W), the dtype of ``X``
        """
        H, W = self.image_shape
        if X.ndim != 2 or X.shape[1] != H * W:
            raise ValueError(f"augmentation for {H}x{W} images needs rows of {H * W} values, got shape {X.shape}")
        if X.dtype not in (np.float32, np.float64):
            raise ValueError(f"augmentation needs float32 or float64 images (values in [0, 1]), got {X.dtype}; "
                             f"convert them first, e.g. X.astype(np.float32) / 255")
        if self.identity or X.shape[0] == 0:
            return X
        k = X.shape[0]
        u = lambda: rng.uniform(-1.0, 1.0, k)  # noqa: E731 - one uniform draw per image
        angle = np.deg2rad(self.rotation) * u()
        shear = np.tan(np.deg2rad(self.shear) * u())
        zoom = 1.0 + self.scale * u()
        shift = self.shift * np.stack([u(), u()], axis=1)                        # (k, 2): rows, columns
        # forward map M = R(angle) · Shear · zoom on (row, col); the sampler needs its inverse
        cos, sin = np.cos(angle), np.sin(angle)
        R = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)   # (k, 2, 2)
        S = np.zeros((k, 2, 2))
        S[:, 0, 0] = S[:, 1, 1] = 1.0
        S[:, 1, 0] = shear                                                       # column += shear * row
        M = R @ S * zoom[:, None, None]
        A = np.linalg.inv(M)
        if self.flip:
            mirror = rng.random(k) < 0.5
            A[mirror, :, 1] *= -1.0                                              # read column c - (p - c)
        displacement = None
        if self.elastic:
            displacement = self.elastic * _smooth_field(rng, k, H, W, self.sigma)  # (k, 2, H, W)
        return warp(X, self.image_shape, A, -shift, displacement, self.fill)   # the dtype of X


def warp(X: np.ndarray, image_shape: Sequence[int], A: np.ndarray, offset: np.ndarray,
         displacement: np.ndarray | None = None, fill: float = 0.0) -> np.ndarray:
    """Resample each image at ``q = c + A (p - c) + offset + displacement(p)``, bilinearly.

    Parameters
    ----------
    X : ndarray of shape (k, H*W)
    image_shape : (H, W)
    A : ndarray of shape (k, 2, 2)
        Per image, the linear part acting on (row, column) offsets from the centre.
    offset : ndarray of shape (k, 2)
        Per image, added to the source (row, column): ``-t`` shifts the content by ``t``.
    displacement : ndarray of shape (k, 2, H, W), optional
        Per-pixel extra source offsets (row, column).
    fill : float
        Value outside the frame.

    Returns
    -------
    ndarray of shape (k, H*W), the dtype of ``X`` (float32 or float64)
    """
    H, W = (int(s) for s in image_shape)
    k = X.shape[0]
    if X.dtype not in (np.float32, np.float64):
        raise ValueError(f"warp needs float32 or float64 images, got {X.dtype}")
    work = X.dtype.type
    c = np.array([(H - 1) / 2.0, (W - 1) / 2.0])
    rows, cols = np.meshgrid(np.arange(H, dtype=np.float64) - c[0], np.arange(W, dtype=np.float64) - c[1],
                             indexing="ij")
    # source coordinates, (k, H, W) each
    A = np.asarray(A, dtype=np.float64)
    offset = np.asarray(offset, dtype=np.float64)
    qr = A[:, 0, 0, None, None] * rows + A[:, 0, 1, None, None] * cols + (c[0] + offset[:, 0])[:, None, None]
    qc = A[:, 1, 0, None, None] * rows + A[:, 1, 1, None, None] * cols + (c[1] + offset[:, 1])[:, None, None]
    if displacement is not None:
        qr += displacement[:, 0]
        qc += displacement[:, 1]
    # a frame of `fill` one pixel wide: every source outside the image reads it
    padded = np.full((k, H + 2, W + 2), fill, dtype=work)
    padded[:, 1:-1, 1:-1] = X.reshape(k, H, W)
    qr = np.clip(qr, -1.0, H).astype(work)
    qc = np.clip(qc, -1.0, W).astype(work)
    r0 = np.floor(qr)
    c0 = np.floor(qc)
    fr = qr - r0
    fc = qc - c0
    # indices into the padded, flattened images (source row r is padded row r + 1)
    r0i = r0.astype(np.intp) + 1
    c0i = c0.astype(np.intp) + 1
    r1i = np.minimum(r0i + 1, H + 1)
    c1i = np.minimum(c0i + 1, W + 1)
    base = (np.arange(k, dtype=np.intp) * ((H + 2) * (W + 2)))[:, None, None]
    flat = padded.reshape(-1)
    top = flat[base + r0i * (W + 2) + c0i] * (1 - fc) + flat[base + r0i * (W + 2) + c1i] * fc
    bottom = flat[base + r1i * (W + 2) + c0i] * (1 - fc) + flat[base + r1i * (W + 2) + c1i] * fc
    return (top * (1 - fr) + bottom * fr).reshape(k, H * W)


def shift_images(X: np.ndarray, image_shape: Sequence[int], rows: float, cols: float,
                 fill: float = 0.0) -> np.ndarray:
    """Every image of ``X`` moved by ``rows`` down and ``cols`` right (whole or fractional pixels)."""
    k = X.shape[0]
    A = np.broadcast_to(np.eye(2), (k, 2, 2))
    return warp(X, image_shape, A, np.tile([-float(rows), -float(cols)], (k, 1)), None, fill)


def _gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """``G`` with ``G @ v`` the Gaussian smoothing of ``v`` (zero outside), shape (n, n)."""
    i = np.arange(n)
    return np.exp(-((i[:, None] - i[None, :]) ** 2) / (2.0 * sigma ** 2))


def _smooth_field(rng: np.random.Generator, k: int, H: int, W: int, sigma: float) -> np.ndarray:
    """Simard's elastic field: uniform(-1, 1) per pixel and direction, smoothed by a
    Gaussian of width ``sigma`` (zero outside the frame; separable: ``G_H D G_Wᵀ``), and
    divided by the standard deviation that smoothing gives at the centre of the frame, so
    each image's field has unit standard deviation there whatever the other images
    (less toward the edges, as with Simard's zero padding).  Shape (k, 2, H, W)."""
    G_H, G_W = _gaussian_matrix(H, sigma), _gaussian_matrix(W, sigma)
    # Var(G_H D G_Wᵀ)[i, j] = Var(uniform(-1, 1)) · Σ_a G_H[i, a]² · Σ_b G_W[j, b]²
    centre = math.sqrt((1.0 / 3.0) * float(G_H[H // 2] @ G_H[H // 2]) * float(G_W[W // 2] @ G_W[W // 2]))
    field = rng.uniform(-1.0, 1.0, (k, 2, H, W))
    return (G_H @ field @ G_W.T) / centre


def parse_augment(text: str | dict | None, image_shape: Sequence[int] = (28, 28), fill: float = 0.0,
                  digits: bool = False) -> Augmentation | None:
    """The augmentation a ``--augment`` value names, or None for ``none``.

    ``text`` is a preset name (:data:`PRESETS`), ``key=value`` pairs separated
    by commas (``shift=2,rotation=10``), a preset followed by pairs that
    change it (``light,elastic=3``), or a mapping of the same keys.

    Raises
    ------
    ValueError
        For an unknown preset or key, a value out of range, or a flip of
        digits (``digits=True``): a mirrored 2 is not a 2.
    """
    if text is None:
        return None
    if isinstance(text, dict):
        params = dict(text)
    else:
        params = {}
        for part in (p.strip() for p in str(text).split(",")):
            if not part:
                continue
            if "=" not in part:
                key = part.lower()
                if key not in PRESETS:
                    raise ValueError(f"unknown augmentation {part!r}{did_you_mean(key, PRESETS)}; use one of "
                                     f"{', '.join(PRESETS)} or key=value pairs of {', '.join(_KEYS)}")
                params.update(PRESETS[key])
                continue
            key, _, value = part.partition("=")
            key = key.strip().lower()
            if key not in _KEYS:
                raise ValueError(f"unknown augmentation parameter {key!r}{did_you_mean(key, _KEYS)}; use "
                                 f"{', '.join(_KEYS)}")
            params[key] = _value(key, value.strip())
    unknown = set(params) - set(_KEYS)
    if unknown:
        key = sorted(unknown)[0]
        raise ValueError(f"unknown augmentation parameter {key!r}{did_you_mean(key, _KEYS)}; use {', '.join(_KEYS)}")
    if digits and params.get("flip"):
        raise ValueError("flip mirrors images left to right, which turns digits into other shapes (a mirrored "
                         "2 is not a 2); use it for clothes (fashion-mnist), or drop flip")
    augmentation = Augmentation(image_shape=tuple(image_shape), fill=fill, **params)
    return None if augmentation.identity else augmentation


_KEYS = tuple(f.name for f in fields(Augmentation) if f.name not in ("image_shape", "fill"))


def _value(key: str, text: str):
    if key == "flip":
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"augmentation flip must be true or false, got {text!r}")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"augmentation {key} must be a number, got {text!r}") from None


def describe(augmentation: Augmentation | None) -> str:
    """``shift=2,rotation=10,...``: the non-zero strengths, as ``--augment`` takes them (``none``)."""
    if augmentation is None:
        return "none"
    defaults = Augmentation()
    parts = [f"{k}={'true' if v is True else f'{v:g}'}" for k, v in augmentation.params().items()
             if v != getattr(defaults, k) and not (k == "sigma" and not augmentation.elastic)]
    return ",".join(parts) or "none"


def sample_grid(X: np.ndarray, augmentation: Augmentation | None, rng: np.random.Generator,
                variants: int = 8, image_shape: Sequence[int] = (28, 28)) -> np.ndarray:
    """Rows of images: each of ``X`` first, then ``variants`` augmented versions
    (the image itself again when ``augmentation`` is None).

    Returns
    -------
    ndarray of shape (len(X), variants + 1, H, W), ``(H, W)`` the augmentation's image shape
    (``image_shape`` without one)
    """
    shape = tuple(augmentation.image_shape if augmentation is not None else image_shape)
    out = np.empty((X.shape[0], variants + 1) + shape, X.dtype)
    out[:, 0] = X.reshape((-1,) + shape)
    for v in range(variants):
        moved = X if augmentation is None else augmentation(X.copy(), rng)
        out[:, v + 1] = moved.reshape((-1,) + shape)
    return out

