"""MNIST-style preparation of a user's own images."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bpnn.imageprep import (
    ImageError,
    load_inputs,
    prepare,
    prepare_digits,
    prepare_mnist,
    read_image,
    save_image,
)


def _drawn_seven(size=(300, 400), background=255, ink=0, mode="L"):
    img = Image.new(mode, size, background)
    ImageDraw.Draw(img).line([(60, 60), (240, 60), (130, 350)], fill=ink, width=26)
    return img


def _bounding_box(a, threshold=0.2):
    rows = np.flatnonzero((a > threshold).any(axis=1))
    cols = np.flatnonzero((a > threshold).any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


def _centre_of_mass(a):
    idx = np.arange(a.shape[0])
    return (a.sum(axis=1) * idx).sum() / a.sum(), (a.sum(axis=0) * idx).sum() / a.sum()


@pytest.mark.parametrize("light_background", [True, False])
def test_mnist_preparation_fits_20x20_and_centres_the_mass(tmp_path, light_background):
    bg, ink = (255, 0) if light_background else (0, 255)
    path = tmp_path / "seven.png"
    _drawn_seven(background=bg, ink=ink).save(path)
    out = prepare_mnist(read_image(path))
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert out.min() == 0.0 and out.max() == pytest.approx(1.0)
    top, bottom, left, right = _bounding_box(out, 0.05)
    assert bottom - top + 1 in (19, 20, 21)                       # the long side is ~20 pixels
    assert right - left + 1 < 20                                  # aspect ratio kept
    cy, cx = _centre_of_mass(out)
    assert abs(cy - 14) <= 0.75 and abs(cx - 14) <= 0.75
    assert out[0].max() == 0 and out[:, 0].max() == 0             # white ink on black, dark border


def test_both_polarities_give_the_same_result(tmp_path):
    _drawn_seven(background=255, ink=0).save(tmp_path / "a.png")
    _drawn_seven(background=0, ink=255).save(tmp_path / "b.png")
    np.testing.assert_allclose(prepare_mnist(read_image(tmp_path / "a.png")),
                               prepare_mnist(read_image(tmp_path / "b.png")), atol=1e-6)


def test_transparent_background_counts_as_paper(tmp_path):
    img = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse([(50, 20), (150, 180)], outline=(0, 0, 0, 255), width=20)
    img.save(tmp_path / "zero.png")
    out = prepare_mnist(read_image(tmp_path / "zero.png"))
    assert out[14, 14] < 0.1 and out.max() == pytest.approx(1.0)   # a ring: hollow in the middle


def test_colour_jpeg_with_off_white_paper(tmp_path):
    img = Image.new("RGB", (300, 400), (235, 230, 220))
    ImageDraw.Draw(img).line([(150, 40), (150, 360)], fill=(30, 30, 90), width=30)
    img.save(tmp_path / "one.jpg", quality=85)
    out = prepare_mnist(read_image(tmp_path / "one.jpg"))
    top, bottom, left, right = _bounding_box(out)
    assert bottom - top + 1 >= 19 and right - left + 1 <= 4


def test_real_mnist_digits_survive_inversion_and_upscaling():
    from sklearn.datasets import load_digits

    # an MNIST-like digit: scale a digits image into a 20x20 box in a 28x28 field, then back
    digit = load_digits().images[0] / 16.0
    big = np.asarray(Image.fromarray((255 - digit * 255).astype(np.uint8)).resize((200, 200), Image.NEAREST),
                     dtype=np.float64)
    out = prepare_mnist(big)
    back = prepare_digits(255 - out * 255)
    assert np.abs(back - digit).mean() < 0.1


def test_digits_preparation_fills_the_height():
    img = np.full((300, 200), 255.0)
    img[40:260, 90:110] = 0.0                     # a vertical bar
    out = prepare_digits(img)
    assert out.shape == (8, 8)
    rows = np.flatnonzero(out.max(axis=1) > 0.2)
    assert rows[0] == 0 and rows[-1] == 7
    assert prepare(img, (8, 8)).shape == (8, 8) and prepare(img, (28, 28)).shape == (28, 28)


def test_blank_and_low_contrast_images_are_refused():
    with pytest.raises(ImageError, match="no digit"):
        prepare_mnist(np.full((50, 50), 255.0))
    noisy = np.full((50, 50), 128.0) + np.random.default_rng(0).normal(0, 2, (50, 50))
    with pytest.raises(ImageError, match="no digit"):
        prepare_mnist(noisy)


def _png_header_only(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_huge_images_are_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(10_000, 10_000))
    with pytest.raises(ImageError, match="pixels are refused"):
        read_image(path)
    path.write_bytes(_png_header_only(100_000, 100_000))      # beyond Pillow's own bomb limit too
    with pytest.raises(ImageError, match="megapixels|decompression bomb"):
        read_image(path)


def test_non_images_and_damaged_images(tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(ImageError, match="is not a PNG, JPEG"):
        read_image(tmp_path / "notes.png")
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "missing.png")
    _drawn_seven().save(tmp_path / "cut.png")
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="damaged|truncated"):
        read_image(tmp_path / "cut.png")


def test_npy_inputs(tmp_path):
    rng = np.random.default_rng(0)
    prepared = rng.random((28, 28)).astype(np.float32)
    np.save(tmp_path / "one.npy", prepared)
    [(name, img)] = load_inputs(tmp_path / "one.npy", (28, 28))
    np.testing.assert_array_equal(img, prepared)
    np.save(tmp_path / "flat255.npy", (prepared.reshape(-1) * 255).astype(np.uint8))
    [(_, img)] = load_inputs(tmp_path / "flat255.npy", (28, 28))
    np.testing.assert_allclose(img, prepared, atol=1 / 255)
    np.save(tmp_path / "batch.npy", rng.random((3, 784)))
    assert [n for n, _ in load_inputs(tmp_path / "batch.npy", (28, 28))] == [
        f"{tmp_path / 'batch.npy'}[{i}]" for i in range(3)]
    np.save(tmp_path / "stack.npy", rng.random((2, 8, 8)) * 16)
    assert len(load_inputs(tmp_path / "stack.npy", (8, 8), scale=16.0)) == 2
    picture = np.full((100, 80), 255.0)
    picture[20:80, 35:45] = 0
    np.save(tmp_path / "picture.npy", picture)
    [(_, img)] = load_inputs(tmp_path / "picture.npy", (28, 28))
    assert img.shape == (28, 28) and img.max() == pytest.approx(1.0)


def test_bad_npy_inputs(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ImageError, match="plain NumPy array"):
        load_inputs(tmp_path / "objects.npy", (28, 28))
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4, 5)))
    with pytest.raises(ImageError, match="shape"):
        load_inputs(tmp_path / "cube.npy", (28, 28))
    np.save(tmp_path / "nan.npy", np.full(784, np.nan))
    with pytest.raises(ImageError, match="NaN"):
        load_inputs(tmp_path / "nan.npy", (28, 28))
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(ImageError):
        load_inputs(tmp_path / "junk.npy", (28, 28))


def test_save_image_is_pixel_exact(tmp_path):
    img = np.linspace(0, 1, 784, dtype=np.float32).reshape(28, 28)
    save_image(img, tmp_path / "p.png")
    back = np.asarray(Image.open(tmp_path / "p.png"), dtype=np.float64) / 255
    assert back.shape == (28, 28)
    np.testing.assert_allclose(back, img, atol=0.5 / 255 + 1e-7)


def test_standardisation_helpers():
    from bpnn.preprocessing import Preprocessing

    X = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    pre = Preprocessing(image_shape=(3,), mean=0.5, std=0.25)
    np.testing.assert_allclose(pre.standardize_inputs(X), [[-2.0, 0.0, 2.0]])
    np.testing.assert_allclose(pre.unstandardize_inputs(pre.standardize_inputs(X)), X)
    assert pre.standardize_inputs(X).dtype == np.float32
    assert Preprocessing(image_shape=(3,)).standardize_inputs(X) is X
