"""A corpus of broken and hostile input files, written by code (fixed seeds) so it stays small
in git and every file says how it was made. Each one must be refused by every ingest
subcommand with an error naming it, in bounded time and memory, leaving nothing behind."""

from __future__ import annotations

import gzip
import io
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
from astropy.io import fits
from astropy.table import Table
from PIL import Image

from tests.ingest.conftest import mmu_data, spec_arrays

CATALOG_MAP = (
    "id=ID,ra=RA,dec=DEC,flux.g=F_g,flux.r=F_r,flux.i=F_i,"
    "flux_err.g=FERR,flux_err.r=FERR,flux_err.i=FERR"
)
Writer = Callable[[Path], None]
CORPUS: dict[str, Writer] = {}


def case(name: str) -> Callable[[Writer], Writer]:
    """Register ``write(path)`` as the corpus file ``name``."""

    def register(write: Writer) -> Writer:
        assert name not in CORPUS, name
        CORPUS[name] = write
        return write

    return register


def build(directory: Path) -> list[Path]:
    """Write every corpus file into ``directory``; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, write in CORPUS.items():
        path = directory / name
        write(path)
        paths.append(path)
    return paths


# -- FITS headers written by hand: astropy would refuse to write most of these ------------------


def _cards(**keys: object) -> bytes:
    """A FITS header block (END, padded to 2880) from keyword=value pairs, in order."""
    lines = []
    for key, value in keys.items():
        if isinstance(value, bool):
            text = "T" if value else "F"
        elif isinstance(value, str):
            text = f"'{value}'"
        else:
            text = str(value)
        lines.append(f"{key:<8}= {text:>20}".ljust(80))
    lines.append("END".ljust(80))
    raw = "".join(lines).encode()
    return raw + b" " * (-len(raw) % 2880)


def _image_header(*shape: int, bitpix: int = -32, **extra: object) -> bytes:
    axes = {f"NAXIS{i + 1}": n for i, n in enumerate(reversed(shape))}
    return _cards(SIMPLE=True, BITPIX=bitpix, NAXIS=len(shape), **axes, **extra)


def _good_cutout() -> bytes:
    pixels = np.random.default_rng(0).normal(size=(3, 16, 16)).astype(np.float32)
    header = fits.Header(
        {"CRVAL1": 10.0, "CRVAL2": 1.0, "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN"}
    )
    buf = io.BytesIO()
    fits.PrimaryHDU(pixels, header).writeto(buf)
    return buf.getvalue()


def _spectrum(**change: np.ndarray) -> bytes:
    cols = spec_arrays()
    cols.update(change)
    columns = [fits.Column(name=k, format="E", array=v) for k, v in cols.items()]
    buf = io.BytesIO()
    primary = fits.PrimaryHDU(header=fits.Header({"PLATE": 266, "MJD": 51602, "FIBERID": 3}))
    fits.HDUList([primary, fits.BinTableHDU.from_columns(columns)]).writeto(buf)
    return buf.getvalue()


case("empty.fits")(lambda p: p.write_bytes(b""))
case("text-as.fits")(lambda p: p.write_text("this is not a FITS file\n" * 20))
case("zeros.fits")(lambda p: p.write_bytes(bytes(8192)))
case("random-bytes.fits")(lambda p: p.write_bytes(np.random.default_rng(1).bytes(5000)))
case("truncated-cutout.fits")(lambda p: p.write_bytes(_good_cutout()[:4000]))
case("header-only.fits")(lambda p: p.write_bytes(_good_cutout()[:2880]))
case("no-end-card.fits")(lambda p: p.write_bytes(_good_cutout()[:2800] + b" " * 80))
case("declared-huge-band.fits")(lambda p: p.write_bytes(_image_header(20000, 20000) + bytes(2880)))
case("declared-huge-cube.fits")(
    lambda p: p.write_bytes(_image_header(3, 12000, 12000) + bytes(2880 * 4))
)
case("declared-huge-int64.fits")(
    lambda p: p.write_bytes(_image_header(40, 2000, 2000, bitpix=64) + bytes(2880))
)
case("negative-axis.fits")(lambda p: p.write_bytes(_image_header(-5, 16) + bytes(2880)))
case("text-axis.fits")(
    lambda p: p.write_bytes(_cards(SIMPLE=True, BITPIX=-32, NAXIS=2, NAXIS1="abc", NAXIS2=4))
)
case("zero-size.fits")(lambda p: p.write_bytes(_image_header(0, 16) + bytes(2880)))
case("bad-bitpix.fits")(lambda p: p.write_bytes(_image_header(16, 16, bitpix=13) + bytes(2880)))
case("one-dimensional.fits")(lambda p: p.write_bytes(_image_header(64) + bytes(2880)))
case("four-dimensional.fits")(lambda p: p.write_bytes(_image_header(2, 2, 8, 8) + bytes(2880)))


@case("declared-huge-band.fits.gz")
def _gz_huge(path: Path) -> None:
    """1.5 MiB of gzip declaring a 20000 x 20000 float32 band (1.6 GB)."""
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(_image_header(20000, 20000))
        block = bytes(1 << 20)
        for _ in range(64):
            f.write(block)


@case("gzip-bomb.fits.gz")
def _gz_bomb(path: Path) -> None:
    """A small valid primary header, then 256 MiB of zeros: 250 kB on disk."""
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(_cards(SIMPLE=True, BITPIX=8, NAXIS=0))
        block = bytes(1 << 20)
        for _ in range(256):
            f.write(block)


@case("nan-cutout.fits")
def _nan_cutout(path: Path) -> None:
    pixels = np.full((3, 16, 16), np.nan, np.float32)
    fits.PrimaryHDU(pixels).writeto(path)


@case("inf-cutout.fits")
def _inf_cutout(path: Path) -> None:
    pixels = np.zeros((3, 16, 16), np.float32)
    pixels[1, 2, 3] = np.inf
    fits.PrimaryHDU(pixels).writeto(path)


@case("no-position.fits")
def _no_position(path: Path) -> None:
    fits.PrimaryHDU(np.ones((3, 16, 16), np.float32)).writeto(path)


@case("string-image.fits")
def _string_table(path: Path) -> None:
    col = fits.Column(name="S", format="10A", array=np.array(["a", "b"]))
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([col])]).writeto(path)


@case("declared-billion-rows.fits")
def _billion_rows(path: Path) -> None:
    primary = _cards(SIMPLE=True, BITPIX=8, NAXIS=0, EXTEND=True)
    table = _cards(XTENSION="BINTABLE", BITPIX=8, NAXIS=2, NAXIS1=12, NAXIS2=1_000_000_000,
                   PCOUNT=0, GCOUNT=1, TFIELDS=3, TTYPE1="flux", TFORM1="E", TTYPE2="loglam",
                   TFORM2="E", TTYPE3="ivar", TFORM3="E")  # fmt: skip
    path.write_bytes(primary + table + bytes(2880))


case("spectrum-nan-flux.fits")(
    lambda p: p.write_bytes(_spectrum(flux=np.full(200, np.nan, np.float32)))
)
case("spectrum-negative-ivar.fits")(
    lambda p: p.write_bytes(_spectrum(ivar=-np.ones(200, np.float32)))
)
case("spectrum-unsorted.fits")(
    lambda p: p.write_bytes(_spectrum(loglam=spec_arrays()["loglam"][::-1].copy()))
)
case("spectrum-truncated.fits")(lambda p: p.write_bytes(_spectrum()[:-3000]))
case("spectrum-inf-wavelength.fits")(
    lambda p: p.write_bytes(_spectrum(loglam=np.full(200, np.inf, np.float32)))
)


@case("duplicate-ttype.fits")
def _duplicate_ttype(path: Path) -> None:
    t = Table({"ID": ["a", "b"], "RA": [1.0, 2.0], "DEC": [0.0, 0.0], "X": [0.0, 0.0]})
    t.write(path)
    with fits.open(path, mode="update") as hdul:
        hdul[1].header["TTYPE4"] = "RA"


# -- images ------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@case("declared-huge.png")
def _huge_png(path: Path) -> None:
    """A PNG whose header declares 100000 x 100000 RGB pixels (30 GB decoded)."""
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(1 << 16))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
                     + _png_chunk(b"IEND", b""))  # fmt: skip


@case("large-under-bomb-limit.png")
def _large_png(path: Path) -> None:
    """8000 x 8000: under Pillow's own bomb limit, over a cutout's."""
    ihdr = struct.pack(">IIBBBBB", 8000, 8000, 8, 2, 0, 0, 0)
    row = b"\x00" + bytes(8000 * 3)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(8000)) + comp.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
                     + _png_chunk(b"IEND", b""))  # fmt: skip


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


case("truncated.png")(lambda p: p.write_bytes(_png_bytes()[:40]))
case("truncated.jpg")(lambda p: p.write_bytes(_jpeg_bytes()[:100]))
case("png-named.fits")(lambda p: p.write_bytes(_png_bytes()[:60]))


@case("grey.png")
def _grey_png(path: Path) -> None:
    Image.fromarray(np.zeros((12, 16), np.uint8)).save(path)  # one channel: not a colour cutout


# -- HDF5 --------------------------------------------------------------------------------------


def _mmu(path: Path, **change: object) -> None:
    data = mmu_data()
    data.update(change)
    with h5py.File(path, "w") as f:
        for key, value in data.items():
            if value is not None:
                f[key] = value


case("no-object-id.h5")(lambda p: _mmu(p, object_id=None))
case("nan-ra.h5")(lambda p: _mmu(p, ra=np.full(5, np.nan)))
case("duplicate-ids.h5")(lambda p: _mmu(p, object_id=np.zeros(5, np.int64)))
case("ragged-rows.h5")(lambda p: _mmu(p, dec=np.zeros(3)))
case("two-dim-ids.h5")(lambda p: _mmu(p, object_id=np.zeros((5, 2), np.int64)))
case("non-utf8-ids.h5")(
    lambda p: _mmu(p, object_id=np.array([b"\xff\xfe%d" % i for i in range(5)]))
)
case("inf-spectrum.h5")(
    lambda p: _mmu(p, spectrum_flux=np.full(mmu_data()["spectrum_flux"].shape, np.inf, np.float32))
)
case("image-2d.h5")(lambda p: _mmu(p, image_array=np.zeros((5, 6), np.float32)))
case("text-as.h5")(lambda p: p.write_text("HDF5? no.\n"))
case("truncated.h5")(lambda p: (_mmu(p), p.write_bytes(p.read_bytes()[:1500])))


@case("declared-huge-image.h5")
def _h5_huge_image(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f["object_id"], f["ra"], f["dec"] = np.arange(6), np.zeros(6), np.zeros(6)
        f.create_dataset("image_array", (6, 3, 12000, 12000), "f4", chunks=(1, 1, 256, 256))


@case("declared-huge-spectrum.h5")
def _h5_huge_spectrum(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f["object_id"], f["ra"], f["dec"] = np.arange(6), np.zeros(6), np.zeros(6)
        f.create_dataset("spectrum_flux", (6, 200_000_000), "f4", chunks=(1, 1 << 16))


@case("external-passwd.h5")
def _h5_external(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f["object_id"], f["ra"], f["dec"] = np.arange(2), np.zeros(2), np.zeros(2)
        f.create_dataset("image_array", (2, 1, 8, 8), "u1", external=[("/etc/passwd", 0, 128)])


@case("virtual.h5")
def _h5_virtual(path: Path) -> None:
    source = path.with_name("virtual-source.hdf")
    with h5py.File(source, "w") as f:
        f["ra"] = np.zeros(5)
    layout = h5py.VirtualLayout(shape=(5,), dtype="f8")
    layout[:] = h5py.VirtualSource(str(source), "ra", shape=(5,))
    with h5py.File(path, "w") as f:
        f["object_id"], f["dec"] = np.arange(5), np.zeros(5)
        f.create_virtual_dataset("ra", layout)


@case("compound-ra.h5")
def _h5_compound(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f["object_id"], f["dec"] = np.arange(3), np.zeros(3)
        f["ra"] = np.zeros(3, dtype=[("a", "f8"), ("b", "i4")])


@case("vlen-spectrum.h5")
def _h5_vlen(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f["object_id"], f["ra"], f["dec"] = np.arange(2), np.zeros(2), np.zeros(2)
        ds = f.create_dataset("spectrum_flux", (2,), dtype=h5py.vlen_dtype(np.float32))
        ds[0], ds[1] = np.ones(3, np.float32), np.ones(5, np.float32)


# -- catalogs ----------------------------------------------------------------------------------


def _csv(path: Path, text: str) -> None:
    path.write_text(text)


case("duplicate-ra.csv")(lambda p: _csv(p, "ID,RA,DEC,RA\nx1,1,2,3\n"))
case("ragged.csv")(lambda p: _csv(p, "ID,RA,DEC\nx1,1\nx2,1,2,3,4\n"))
case("nan-ra.csv")(lambda p: _csv(p, "ID,RA,DEC\nx1,nan,2\n"))
case("dec-out-of-range.csv")(lambda p: _csv(p, "ID,RA,DEC\nx1,10,100\n"))
case("header-only.csv")(lambda p: _csv(p, "ID,RA,DEC\n"))
case("nul-bytes.csv")(lambda p: p.write_bytes(b"ID,RA,DEC\nx\x00,1,2\n"))
case("latin1.csv")(lambda p: p.write_bytes("ID,RA,DEC\ngalaxié,1,2\n".encode("latin-1")))
case("one-huge-line.csv")(lambda p: p.write_bytes(b"A" * (8 << 20)))
case("markdown-ids.csv")(lambda p: _csv(p, "ID,RA,DEC\n![x](http://evil.example/x.png),1,2\n"))
case("truncated.parquet")(lambda p: p.write_bytes(b"PAR1" + bytes(100)))
case("malformed.vot")(lambda p: _csv(p, '<?xml version="1.0"?>\n<VOTABLE><RESOURCE><TABLE>'))


@case("billion-laughs.vot")
def _billion_laughs(path: Path) -> None:
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    ]
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE VOTABLE [' + "".join(entities) + "]>\n"
        "<VOTABLE><RESOURCE><TABLE><FIELD name='ID' datatype='char' arraysize='*'/>"
        "<DATA><TABLEDATA><TR><TD>&lol9;</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"
    )


# -- names and special files -------------------------------------------------------------------

case("galaxié 銀河 with spaces.fits")(lambda p: p.write_bytes(_good_cutout()[:3000]))
case("semi;colon $(id) `x`.csv")(lambda p: _csv(p, "ID,RA\n1,2\n"))
case("ünïcödé.h5")(lambda p: p.write_text("not hdf5"))
case("fifo.fits")(lambda p: os.mkfifo(p))
case("fifo.csv")(lambda p: os.mkfifo(p))
case("fifo.h5")(lambda p: os.mkfifo(p))
case("dev-zero.fits")(lambda p: p.symlink_to("/dev/zero"))
case("passwd.csv")(lambda p: p.symlink_to("/etc/passwd"))
case("dangling-link.fits")(lambda p: p.symlink_to(p.with_name("nowhere.fits")))
