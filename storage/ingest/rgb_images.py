"""Read PNG/JPEG colour cutouts (one galaxy per file, id = file stem) into ``ImageRecords``.

The three channels map to three survey bands in R, G, B order (by default i, r, g, the
SDSS/Legacy Survey convention for colour composites). Pixels keep their 0-255 values as
float32 in units "uint8-rgb"; these images carry no positions, so the galaxies must
already exist (the writer checks).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from storage.errors import IngestError, IngestWarning
from storage.ingest.detect import detect_format
from storage.ingest.fits_images import chunk_source
from storage.ingest.limits import Limits, check_declared
from storage.ingest.records import Bundle, ImageRecords
from storage.ingest.validate import IdIndex

RGB_UNITS = "uint8-rgb"
DEFAULT_CHUNK_FILES = 1024


def _open_rgb(path: Path) -> np.ndarray:
    """Decode one PNG/JPEG to (3, H, W) float32 in [0, 255]; IngestError when it cannot."""
    file = str(path)
    kind = detect_format(path)
    if kind not in ("png", "jpeg"):
        raise IngestError(f"not a PNG or JPEG file (its signature says {kind})", file=file)
    try:
        with Image.open(path) as img:
            width, height = img.size  # from the header: checked before any pixel is decoded
            check_declared(file, "the image", (3, height, width), 4, Limits.from_env(), image=True)
            img.load()
            mode = img.mode
            if mode == "P":
                # A palette stores RGB(A) colours per index: expanding it loses nothing.
                img = img.convert("RGBA" if "transparency" in img.info else "RGB")
                mode = img.mode
            if mode == "RGBA":
                warnings.warn(
                    f"{file}: RGBA image; dropping the alpha channel", IngestWarning, stacklevel=3
                )
                img = img.convert("RGB")
            elif mode != "RGB":
                raise IngestError(
                    f"image mode {mode!r} is not RGB; expected a 3-channel colour image", file=file
                )
            pixels = np.asarray(img, dtype=np.float32)
    except IngestError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, UnidentifiedImageError) as exc:
        # Pillow reports truncated or corrupt data through several exception types.
        raise IngestError(f"cannot decode the {kind.upper()} image: {exc}", file=file) from exc
    except Image.DecompressionBombError as exc:
        raise IngestError(f"image too large to decode safely: {exc}", file=file) from exc
    if pixels.ndim != 3 or pixels.shape[2] != 3 or 0 in pixels.shape:
        raise IngestError(f"decoded to shape {pixels.shape}; expected (H, W, 3)", file=file)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def _bundle(
    files: list[str],
    ids: list[str],
    cutouts: list[np.ndarray],
    bands: tuple[str, str, str],
    pixel_scale: float,
) -> Bundle:
    """One Bundle holding one ImageRecords per image shape."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, pixels in enumerate(cutouts):
        groups.setdefault(pixels.shape, []).append(i)
    images = [
        ImageRecords(
            source_ids=np.array([ids[i] for i in members], dtype=str),
            pixels=np.stack([cutouts[i] for i in members]),
            bands=bands,
            pixel_scale=pixel_scale,
            units=RGB_UNITS,
        )
        for members in groups.values()
    ]
    return Bundle(source=chunk_source(files), images=images)


def _check_args(bands: Sequence[str], pixel_scale: float, chunk_files: int) -> None:
    """Refuse bad arguments (ValueError naming the value)."""
    if len(bands) != 3 or len(set(bands)) != 3 or not all(isinstance(b, str) and b for b in bands):
        raise ValueError(f"bands must be three distinct names in R, G, B order, got {bands!r}")
    if not (np.isfinite(pixel_scale) and pixel_scale > 0):
        raise ValueError(f"pixel_scale must be a positive number of arcsec, got {pixel_scale!r}")
    if chunk_files < 1:
        raise ValueError(f"chunk_files must be >= 1, got {chunk_files!r}")


def read_rgb_images(
    paths: Sequence[Path],
    *,
    bands: tuple[str, str, str] = ("i", "r", "g"),
    pixel_scale: float,
    chunk_files: int = DEFAULT_CHUNK_FILES,
) -> Iterator[Bundle]:
    """Yield Bundles of up to ``chunk_files`` RGB cutouts: pixels (N, 3, H, W) float32 0-255.

    bands: the survey bands shown in the R, G and B channels; pixel_scale: arcsec per pixel.
    Formats are recognised by signature, not extension. Grey-scale images are refused;
    RGBA loses its alpha channel with a warning. Images of different sizes go to separate
    ImageRecords.
    """
    _check_args(bands, pixel_scale, chunk_files)
    seen = IdIndex()
    files: list[str] = []
    ids: list[str] = []
    cutouts: list[np.ndarray] = []
    for path in map(Path, paths):
        cutout = _open_rgb(path)
        seen.add([path.stem], file=str(path), first_row=None)
        files.append(str(path))
        ids.append(path.stem)
        cutouts.append(cutout)
        if len(files) == chunk_files:
            yield _bundle(files, ids, cutouts, tuple(bands), float(pixel_scale))
            files, ids, cutouts = [], [], []
    if files:
        yield _bundle(files, ids, cutouts, tuple(bands), float(pixel_scale))
