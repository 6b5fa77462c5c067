"""Read any FITS file into memory, bounded: what the image, spectrum and catalog readers share.

The HDUs are walked from their raw headers before astropy sees them, so whatever follows the
last HDU is never read (astropy scans it block by block for another header), gzip is
decompressed in bounded steps, and each HDU's declared size is checked against
:mod:`storage.ingest.limits` before its data are read. Any astropy failure becomes an
``IngestError`` naming the file.
"""

from __future__ import annotations

import io
import math
import os
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from storage.errors import IngestError, IngestWarning
from storage.ingest.detect import detect_format, read_head
from storage.ingest.limits import Limits, check_declared

HEADER_BYTES = 16 << 20  # room for the headers of a file, beyond its data
MAX_HEADER_BYTES = 1 << 20  # one HDU's header: 13,000 cards, far beyond any real file
_READ_LIMIT_NAME = "GALACTIVE_MAX_READ_BYTES"


@dataclass(frozen=True)
class FitsHDU:
    """One HDU read into memory: image ``data`` or table ``columns`` (names as written)."""

    index: int
    name: str
    header: fits.Header
    data: np.ndarray | None = None
    columns: dict[str, np.ndarray] | None = None

    @property
    def label(self) -> str:
        """``HDU 1 ('G')``, as astropy names HDUs in its messages."""
        return f"HDU {self.index} ({self.name!r})" if self.name else f"HDU {self.index}"


def _parsed_header(header: fits.Header, index: int, file: str) -> fits.Header:
    """A copy of ``header`` without cards astropy cannot parse (each dropped with a warning).

    astropy parses cards lazily, so a damaged card would otherwise fail far from here.
    """
    cards = []
    for card in header.cards:
        try:
            card.verify("exception")
            _ = card.value
        except (fits.VerifyError, ValueError) as exc:
            warnings.warn(
                f"{file}: HDU {index}: ignoring unparsable header card {card.keyword!r}: {exc}",
                IngestWarning,
                stacklevel=5,
            )
            continue
        cards.append(card)
    return fits.Header(cards)


def _declared_bytes(index: int, hdu: fits.hdu.base.ExtensionHDU, file: str, held: int) -> int:
    """Bytes the HDU's header says its data take, checked against the limits before they
    are read (:mod:`storage.ingest.limits`); ``held``: bytes of the file's earlier HDUs."""
    header, limits = hdu.header, Limits.from_env()
    where = f"HDU {index}"
    naxis = int(header.get("NAXIS", 0))
    shape = tuple(int(header.get(f"NAXIS{i}", 0)) for i in range(naxis, 0, -1))
    if not shape:
        return 0
    if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
        rows = (shape[0], shape[1] + int(header.get("PCOUNT", 0) or 0) // max(shape[0], 1))
        return check_declared(file, where, rows, 1, limits, already=held)
    itemsize = abs(int(header.get("BITPIX", 8))) // 8
    return check_declared(file, where, shape, itemsize, limits, image=True, already=held)


def _read_hdu(index: int, hdu: fits.hdu.base.ExtensionHDU, file: str) -> FitsHDU:
    """Copy one HDU's header and data (or table columns) out of the open file."""
    if not hasattr(hdu, "data"):  # astropy's _CorruptedHDU: a header it could not make sense of
        raise IngestError(f"HDU {index} is corrupt: {hdu.header.tostring()[:80]!r}", file=file)
    header = _parsed_header(hdu.header, index, file)
    name = str(header.get("EXTNAME", "")).strip()
    if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
        rows = hdu.data
        columns = {} if rows is None else {c: np.array(rows[c]) for c in hdu.columns.names}
        return FitsHDU(index, name, header, columns=columns)
    data = None if hdu.data is None else np.array(hdu.data)
    return FitsHDU(index, name, header, data=data)


def _chunks(path: Path) -> Iterator[bytes]:
    """The file's bytes in blocks of about 1 MiB, gunzipped (every member) if it is gzip."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
        f.seek(0)
        if not gz:
            while block := f.read(1 << 20):
                yield block
            return
        inflate = zlib.decompressobj(wbits=31)
        while block := f.read(1 << 16):
            while block:
                yield inflate.decompress(block, 1 << 20)
                block = inflate.unconsumed_tail
                if inflate.eof:  # another gzip member may follow
                    rest, inflate = inflate.unused_data, zlib.decompressobj(wbits=31)
                    block = block or rest


def _hdu_bytes(path: Path, budget: int) -> bytes:
    """The bytes of the file's HDUs (gunzipped), read only as far as they go: whatever
    follows the last HDU is never read (astropy scans it block by block for another header:
    9 s on 256 MiB of zeros), and IngestError past ``budget``, so a decompression bomb
    costs at most a block beyond its last header."""
    data, pos, count, file = bytearray(), 0, 0, str(path)
    for block in _chunks(path):
        data += block
        pos, count, done = _walk(data, pos, count, file)
        if done:
            break
        if len(data) > budget:
            raise IngestError(
                f"holds more than {budget:,} bytes (decompressed), over the limit on what one "
                f"read may hold ({_READ_LIMIT_NAME})",
                file=file,
            )
    else:
        pos = _walk(data, pos, count, file, final=True)[0]
    del data[pos:]
    return bytes(data)


def _card_int(header: bytes, key: str, default: int, where: str, file: str) -> int:
    """Integer value of card ``key`` in a raw header, or ``default`` when absent."""
    for start in range(0, len(header), 80):
        card = header[start : start + 80]
        if card[:8].rstrip() == key.encode() and card[8:10] == b"= ":
            text = card[10:].split(b"/")[0].strip()
            try:
                return int(text)
            except ValueError:
                message = f"{where}: {key} = {text!r} is not an integer"
                raise IngestError(message, file=file) from None
    return default


def _card_data_end(header: bytes, start: int, where: str, file: str) -> int:
    """Where the data of an HDU whose raw ``header`` ends at ``start`` end (padded to 2880)."""
    naxis = _card_int(header, "NAXIS", 0, where, file)
    axes = [_card_int(header, f"NAXIS{i}", 0, where, file) for i in range(1, naxis + 1)]
    bitpix = abs(_card_int(header, "BITPIX", 8, where, file))
    pcount = _card_int(header, "PCOUNT", 0, where, file)
    gcount = _card_int(header, "GCOUNT", 1, where, file)
    size = bitpix // 8 * gcount * (pcount + math.prod(axes)) if naxis else 0
    if size < 0:
        raise IngestError(f"{where} declares a negative data size", file=file)
    return start + -(-size // 2880) * 2880


def _walk(
    data: bytearray, pos: int, count: int, file: str, *, final: bool = False
) -> tuple[int, int, bool]:
    """Advance over the complete HDUs in ``data`` from ``pos`` (the ``count``-th HDU's start):
    returns the new position and count, and whether the HDUs have ended (what follows is not
    a header). ``final``: no more data will come, so an incomplete HDU ends the walk too (astropy
    then reports it as truncated). A header must end within MAX_HEADER_BYTES."""
    while len(data) - pos >= 2880:
        if not data.startswith((b"SIMPLE  =", b"XTENSION="), pos):
            return pos, count, True
        end = pos
        while True:
            block = data[end : end + 2880]
            if len(block) < 2880:
                return (len(data) if final else pos), count, final
            end += 2880
            if any(block[i : i + 8] == b"END     " for i in range(0, 2880, 80)):
                break
            if end - pos >= MAX_HEADER_BYTES:
                message = f"HDU {count}: no END card within {MAX_HEADER_BYTES:,} bytes of header"
                raise IngestError(message, file=file)
        data_end = _card_data_end(bytes(data[pos:end]), end, f"HDU {count}", file)
        if data_end > len(data) and not final:
            return pos, count, False  # the data are still to come
        pos, count = min(data_end, len(data)), count + 1
    return (len(data) if final and pos < len(data) and count == 0 else pos), count, final


def _plain_extent(path: Path) -> int:
    """Where the HDUs of an uncompressed FITS file end, reading headers and seeking over data."""
    file, pos, count = str(path), 0, 0
    with open(path, "rb") as f:
        while True:
            f.seek(pos)
            header = bytearray(f.read(2880))
            if len(header) < 2880 or not header.startswith((b"SIMPLE  =", b"XTENSION=")):
                return pos
            while not any(header[i : i + 8] == b"END     " for i in range(0, len(header), 80)):
                block = f.read(2880)
                if len(block) < 2880 or len(header) >= MAX_HEADER_BYTES:
                    return os.fstat(f.fileno()).st_size  # astropy names what is wrong
                header += block
            end, count = pos + len(header), count + 1
            pos = _card_data_end(bytes(header), end, f"HDU {count - 1}", file)


def fits_source(path: Path) -> Path | io.BytesIO:
    """What to hand astropy for the FITS file ``path``: the path itself (memory-mapped) when
    it is plain FITS and nothing follows its HDUs, else its HDUs' bytes, gunzipped and bounded
    (:func:`_hdu_bytes`), so neither a decompression bomb nor junk behind the last HDU (which
    astropy scans block by block: 7 s for 256 MiB) costs more than the limits allow."""
    if read_head(path, 2) != b"\x1f\x8b" and _plain_extent(path) >= path.stat().st_size - 2880:
        return path
    try:
        return io.BytesIO(_hdu_bytes(path, Limits.from_env().read_bytes + HEADER_BYTES))
    except (OSError, zlib.error) as exc:
        raise IngestError(f"cannot read the FITS file: {exc}", file=str(path)) from exc


def load_fits(path: Path) -> list[FitsHDU]:
    """Every HDU of the FITS file ``path``; IngestError when it is not FITS or is damaged."""
    if detect_format(path) != "fits":
        raise IngestError("not a FITS file (no 'SIMPLE  =' signature)", file=str(path))
    try:
        data = _hdu_bytes(path, Limits.from_env().read_bytes + HEADER_BYTES)
    except (OSError, zlib.error) as exc:
        raise IngestError(f"cannot read the FITS file: {exc}", file=str(path)) from exc
    try:
        with warnings.catch_warnings():
            # The later filter takes precedence: a truncation warning is an error, the
            # rest of astropy's chatter is silenced.
            warnings.simplefilter("ignore", AstropyWarning)
            warnings.filterwarnings("error", message=".*truncated.*")
            with fits.open(io.BytesIO(data), lazy_load_hdus=True) as hdul:
                hdus, held = [], 0
                for i, hdu in enumerate(hdul):  # one header at a time: sizes checked first
                    held += _declared_bytes(i, hdu, str(path), held)
                    hdus.append(_read_hdu(i, hdu, str(path)))
                return hdus
    except IngestError:
        raise
    except (
        OSError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        EOFError,
        fits.VerifyError,
        Warning,
    ) as exc:
        # astropy reports damaged files through many exception types; name the file once.
        raise IngestError(f"cannot read the FITS file: {exc}", file=str(path)) from exc
