"""PNG/JPEG cutout reader: exact PNG round trip, JPEG decoding, refused images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from storage.errors import IngestError, IngestWarning
from storage.ingest.rgb_images import read_rgb_images


def test_png_round_trips_exactly(write_rgb, rgb_values):
    path = write_rgb()
    (bundle,) = read_rgb_images([path], pixel_scale=0.262)
    (images,) = bundle.images
    assert bundle.source == str(path)
    assert bundle.galaxies is None
    assert list(images.source_ids) == ["gal1"]
    assert images.bands == ("i", "r", "g")
    assert images.units == "uint8-rgb"
    assert images.pixels.dtype == np.float32
    expected = rgb_values((12, 16), 5).transpose(2, 0, 1).astype(np.float32)
    np.testing.assert_array_equal(images.pixels[0], expected)


def test_jpeg_detected_by_signature_not_extension(write_rgb):
    path = write_rgb("gal2.png", fmt="JPEG")  # a JPEG with a .png name
    (bundle,) = read_rgb_images([path], pixel_scale=0.396, bands=("z", "r", "g"))
    pixels = bundle.images[0].pixels
    assert pixels.shape == (1, 3, 12, 16)
    assert pixels.min() >= 0 and pixels.max() <= 255
    with Image.open(path) as img:  # JPEG is lossy: compare with Pillow's own decoding
        expected = np.asarray(img.convert("RGB")).transpose(2, 0, 1).astype(np.float32)
    np.testing.assert_array_equal(pixels[0], expected)
    assert bundle.images[0].bands == ("z", "r", "g")


def test_sizes_grouped_separately(write_rgb):
    paths = [write_rgb("a.png"), write_rgb("b.png", seed=6), write_rgb("c.png", shape=(7, 7))]
    (bundle,) = read_rgb_images(paths, pixel_scale=0.262)
    groups = sorted((tuple(im.source_ids), im.pixels.shape) for im in bundle.images)
    assert groups == [(("a", "b"), (2, 3, 12, 16)), (("c",), (1, 3, 7, 7))]


def test_rgba_drops_alpha_with_warning(write_rgb, rgb_values):
    with pytest.warns(IngestWarning, match="alpha"):
        (bundle,) = read_rgb_images([write_rgb(mode="RGBA")], pixel_scale=0.262)
    expected = rgb_values((12, 16), 5).transpose(2, 0, 1).astype(np.float32)
    np.testing.assert_array_equal(bundle.images[0].pixels[0], expected)


def test_greyscale_refused(write_rgb):
    path = write_rgb(mode="L")
    with pytest.raises(IngestError, match="mode 'L' is not RGB") as err:
        list(read_rgb_images([path], pixel_scale=0.262))
    assert err.value.file == str(path)


def test_truncated_png(write_rgb):
    path = write_rgb()
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(IngestError, match="cannot decode the PNG") as err:
        list(read_rgb_images([path], pixel_scale=0.262))
    assert err.value.file == str(path)


def test_corrupt_jpeg(write_rgb):
    path = write_rgb("x.jpg", fmt="JPEG")
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[:4]) + bytes(len(data) - 4))
    with pytest.raises(IngestError, match=r"x\.jpg"):
        list(read_rgb_images([path], pixel_scale=0.262))


def test_fits_file_refused(write_cutout):
    path = write_cutout()
    with pytest.raises(IngestError, match=r"not a PNG or JPEG.*fits"):
        list(read_rgb_images([path], pixel_scale=0.262))


def test_duplicate_stem_names_both_files(write_rgb):
    a = write_rgb("same.png")
    b = write_rgb("same.jpg", fmt="JPEG")
    with pytest.raises(IngestError, match="duplicate id 'same'") as err:
        list(read_rgb_images([a, b], pixel_scale=0.262))
    assert str(a) in str(err.value) and err.value.file == str(b)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pixel_scale": 0.0}, "pixel_scale"),
        ({"pixel_scale": 1.0, "bands": ("g", "g", "r")}, "bands"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        list(read_rgb_images([], **kwargs))
