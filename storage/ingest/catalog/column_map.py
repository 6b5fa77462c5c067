"""The column mapping of a catalog: which columns hold ids, positions, fluxes, magnitudes,
extinction, truth and labels; ``ColumnMap.from_spec`` parses its command-line form.

``MAP_SYNTAX`` is the full description of that form, shown by ``galactive ingest catalog
--help``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, get_args

from storage.ingest.catalog.magnitudes import SDSS_SOFTENING
from storage.ingest.records import LabelSource

Columns = str | tuple[str, ...]
MagType = Literal["ab", "asinh"]
ROW_ID = "@row"  # id=@row: the 0-based data row number is the galaxy's id


class Element(NamedTuple):
    """One band of a vector column: ``column[:, index]``, the column being ``width`` wide."""

    column: str
    index: int
    width: int


BandRef = str | Element  # a column of one value per row, or one element of a vector column

MAP_SYNTAX = """\
KEY=VALUE items separated by commas (not those inside [...]); spaces are
ignored. Column names match exactly, else case-insensitively.

id=COL        the galaxy's id in the survey. id=@row: the 0-based data row
              number 0, 1, 2, ... (a CSV header is not a row); ingesting the
              same file again then collides on these ids and is refused.
ra=COL,dec=COL  position in degrees (ICRS); both required.

flux=COL[u,g,r,i,z]  a vector column, its bands in brackets;
              or flux.u=COL,flux.g=COL,... one column per band.
flux_ivar=COL or flux_err=COL  vector over the flux bands (COL[u,...] too);
              or flux_ivar.u=COL,... / flux_err.u=COL,... per band.
units=nanomaggy  the flux unit (default nanomaggy).

mag=COL[u,g,r,i,z] or mag.u=COL,...  magnitudes.
mag_err=COL   (vector over the magnitude bands), mag_err=COL[u,...] or
              mag_err.u=COL,...  their 1-sigma errors.
mag_type=ab|asinh  AB (default) or SDSS asinh magnitudes ("luptitudes"),
              softening b = 0.14, 0.09, 0.12, 0.18, 0.74 nanomaggies in SDSS
              u, g, r, i, z; softening.BAND=B (nanomaggies) overrides one and
              is required for asinh magnitudes in other bands.
Without flux columns, magnitudes with errors are the photometry, in
nanomaggies: AB f = 10^(-0.4 (m - 22.5)); asinh f = 2b sinh(-(m - 22.5)
ln10/2.5 - ln b); a missing (NaN, masked) magnitude or error gives flux 0,
ivar 0. With flux columns, fluxes are the photometry and magnitudes are kept
as the galaxies' magnitudes (stored as AB).
ref_band=r    band of the reference magnitude (follow-up costing): a
              magnitude band or, when no magnitudes are mapped, a flux band
              (magnitudes are then computed from the fluxes).

extinction=COL[u,g,r,i,z], extinction=COL (vector over the flux bands, else
              the magnitude bands) or extinction.u=COL,...  Galactic
              extinction A (magnitudes) for every band mapped; applied to
              fluxes (f 10^(0.4 A), ivar 10^(-0.8 A)) and magnitudes (m - A).

truth.TASK=COL  hidden truth (oracle experiments); label.TASK=COL visible
              labels; label_source=expert|spectroscopy|oracle their origin.

Example, asinh magnitudes in vector columns: id=objID,ra=ra,dec=dec,
mag=modelMag[u,g,r,i,z],mag_err=modelMagErr,mag_type=asinh,
extinction=extinction,ref_band=r,truth.redshift=z"""


def _as_columns(
    value: Columns | list[str] | None, bands: tuple[str, ...], key: str
) -> Columns | None:
    """Normalise one flux-like mapping entry: a vector column name or one name per band."""
    if value is None or isinstance(value, str):
        return value
    value = tuple(value)
    if len(value) != len(bands):
        raise ValueError(f"{key} names {len(value)} columns {value} for {len(bands)} bands {bands}")
    return value


@dataclass(frozen=True)
class ColumnMap:
    """Which catalog columns hold what (the full syntax of the spec form: ``MAP_SYNTAX``).

    id ("@row" for row numbers), ra, dec: column names (ra/dec in degrees). fluxes: one
    column per band (a tuple in ``bands`` order) or one vector column of B values per row
    (a str); flux_ivar or flux_err (ivar = 1/err**2) in the same form; flux_units: the
    fluxes' unit. mags, mag_err, extinction: band -> column, or ``Element`` of a vector
    column; mag_type: "ab" or "asinh" (softening: band -> b in nanomaggies, defaults
    SDSS_SOFTENING). ref_band: the band of ``GalaxyRecords.ref_mag``. truth / labels: task
    name -> column of hidden truth / visible labels; label_source: where labels came from.
    """

    id: str
    ra: str
    dec: str
    bands: tuple[str, ...] = ()
    fluxes: Columns | None = None
    flux_ivar: Columns | None = None
    flux_err: Columns | None = None
    flux_units: str = "nanomaggy"
    mags: Mapping[str, BandRef] = field(default_factory=dict)
    mag_err: Mapping[str, BandRef] = field(default_factory=dict)
    mag_type: MagType = "ab"
    softening: Mapping[str, float] = field(default_factory=dict)
    extinction: Mapping[str, BandRef] = field(default_factory=dict)
    ref_band: str | None = None
    truth: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    label_source: LabelSource = "expert"

    def __post_init__(self) -> None:
        """Check the mapping is complete and consistent; ValueError naming the bad entry."""
        for key in ("id", "ra", "dec"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ValueError(f"ColumnMap.{key} must name a column, got {getattr(self, key)!r}")
        bands = tuple(self.bands)
        object.__setattr__(self, "bands", bands)
        if len(set(bands)) != len(bands):
            raise ValueError(f"duplicate band in bands={bands}")
        for key in ("fluxes", "flux_ivar", "flux_err"):
            object.__setattr__(self, key, _as_columns(getattr(self, key), bands, key))
        if self.fluxes is None and (self.flux_ivar or self.flux_err):
            raise ValueError("flux_ivar/flux_err given without fluxes")
        if self.fluxes is not None:
            if not bands:
                raise ValueError("fluxes need bands=(...) naming the band of each flux")
            if (self.flux_ivar is None) == (self.flux_err is None):
                raise ValueError("give exactly one of flux_ivar and flux_err with fluxes")
        if self.label_source not in get_args(LabelSource):
            raise ValueError(
                f"label_source must be one of {get_args(LabelSource)}, got {self.label_source!r}"
            )
        for key in ("mags", "mag_err", "softening", "extinction", "truth", "labels"):
            object.__setattr__(self, key, dict(getattr(self, key)))
        self._check_magnitudes()
        self._check_extinction()
        if self.ref_band is not None and self.ref_band not in self.mags:
            if self.mags or self.ref_band not in bands:
                raise ValueError(
                    f"ref_band {self.ref_band!r} is not a magnitude band {list(self.mags)} "
                    f"(nor, without magnitudes, a flux band {list(bands)})"
                )
            if self.flux_units != "nanomaggy":
                raise ValueError(
                    f"ref_band {self.ref_band!r} without magnitudes computes them from the "
                    f"fluxes, which needs units=nanomaggy, not {self.flux_units!r}; map mag.BAND"
                )

    def _check_magnitudes(self) -> None:
        """mag_err, mag_type and softening agree with mags; mags alone need errors."""
        mags = list(self.mags)
        if self.mag_type not in get_args(MagType):
            raise ValueError(f"mag_type must be one of {get_args(MagType)}, got {self.mag_type!r}")
        extra = [b for b in self.mag_err if b not in self.mags]
        if extra:
            raise ValueError(f"mag_err band(s) {extra} have no magnitude (mag bands: {mags})")
        for band, b in self.softening.items():
            if band not in self.mags:
                raise ValueError(f"softening.{band} names no magnitude band (mag bands: {mags})")
            if not isinstance(b, int | float) or not math.isfinite(b) or b <= 0:
                raise ValueError(f"softening.{band} must be a positive number, got {b!r}")
        if self.softening and self.mag_type != "asinh":
            raise ValueError("softening applies to asinh magnitudes: add mag_type=asinh")
        if self.mag_type == "asinh":
            unknown = [b for b in mags if b not in self.softening and b not in SDSS_SOFTENING]
            if unknown:
                raise ValueError(
                    f"asinh magnitudes in band(s) {unknown} need their softening: add "
                    + ",".join(f"softening.{b}=B" for b in unknown)
                    + " (B in nanomaggies; defaults exist for SDSS u,g,r,i,z only)"
                )
        if self.fluxes is None and self.mags:
            missing = [b for b in mags if b not in self.mag_err]
            if missing:
                example = ",".join(f"mag_err.{b}=COL" for b in missing)
                raise ValueError(
                    f"magnitudes without errors in band(s) {missing}: photometry needs an "
                    f"uncertainty; add mag_err=COL (vector over {mags}) or {example}"
                )

    def _check_extinction(self) -> None:
        """Extinction, when given, covers exactly the bands of the fluxes and magnitudes."""
        if not self.extinction:
            return
        mapped = list(self.bands) + [b for b in self.mags if b not in self.bands]
        if not mapped:
            raise ValueError("extinction given without fluxes or magnitudes to correct")
        missing = [b for b in mapped if b not in self.extinction]
        extra = [b for b in self.extinction if b not in mapped]
        if missing:
            raise ValueError(f"extinction lacks band(s) {missing} (bands mapped: {mapped})")
        if extra:
            raise ValueError(f"extinction band(s) {extra} are not among the bands {mapped}")

    @property
    def row_ids(self) -> bool:
        """True when ids are data row numbers (``id=@row``)."""
        return self.id == ROW_ID

    @classmethod
    def from_spec(cls, spec: str) -> ColumnMap:
        """Parse a command-line mapping, comma-separated ``key=value`` items (``MAP_SYNTAX``).

        Example: ``id=objid,ra=ra,dec=dec,flux=flux[u,g,r,i,z],flux_ivar=flux_ivar,
        extinction=ext,truth.redshift=z``. Raises ValueError naming the item it cannot parse.
        """
        single: dict[str, str] = {}
        dotted: dict[str, dict[str, str]] = {}
        for item in _split_items(spec):
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key or not value:
                raise ValueError(f"mapping item {item!r} is not key=value")
            head, dot, sub = key.partition(".")
            if dot:
                if head not in _DOTTED_KEYS or not sub:
                    raise ValueError(f"unknown mapping key {key!r}; {_KEYS_HELP}")
                group = dotted.setdefault(head, {})
                if sub in group:
                    raise ValueError(f"mapping key {key!r} given twice")
                group[sub] = value
            else:
                if key not in _SINGLE_KEYS:
                    raise ValueError(f"unknown mapping key {key!r}; {_KEYS_HELP}")
                if key in single:
                    raise ValueError(f"mapping key {key!r} given twice")
                single[key] = value
        return cls(**_build_kwargs(single, dotted))


_SINGLE_KEYS = (
    "id",
    "ra",
    "dec",
    "flux",
    "flux_ivar",
    "flux_err",
    "units",
    "mag",
    "mag_err",
    "mag_type",
    "extinction",
    "ref_band",
    "label_source",
)
_DOTTED_KEYS = (
    "flux",
    "flux_ivar",
    "flux_err",
    "mag",
    "mag_err",
    "extinction",
    "softening",
    "truth",
    "label",
)
_KEYS_HELP = (
    f"known keys: {', '.join(_SINGLE_KEYS)}, and "
    + ", ".join(f"{k}.{'TASK' if k in ('truth', 'label') else 'BAND'}" for k in _DOTTED_KEYS)
    + " (galactive ingest catalog --help)"
)
_VECTOR = re.compile(r"^([^\[\]]+)\[([^\[\]]*)\]$")


def _split_items(spec: str) -> list[str]:
    """Split ``spec`` on commas outside brackets; ValueError on unbalanced brackets."""
    items, depth, current = [], 0, []
    for char in spec:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ']' in mapping {spec!r}")
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth:
        raise ValueError(f"unbalanced '[' in mapping {spec!r}")
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _vector(value: str) -> tuple[str, tuple[str, ...] | None]:
    """``COL[u,g,r]`` -> ("COL", ("u", "g", "r")); ``COL`` -> ("COL", None)."""
    match = _VECTOR.match(value)
    if match is None:
        if "[" in value or "]" in value:
            raise ValueError(f"cannot parse {value!r}; expected COL or COL[band,band,...]")
        return value, None
    bands = tuple(b.strip() for b in match.group(2).split(","))
    if not all(bands):
        raise ValueError(f"empty band name in {value!r}")
    if len(set(bands)) != len(bands):
        raise ValueError(f"duplicate band in {value!r}")
    return match.group(1).strip(), bands


def _band_refs(
    key: str, single: dict[str, str], dotted: dict[str, dict[str, str]], bands: tuple[str, ...]
) -> dict[str, BandRef]:
    """band -> column for ``key``: ``key=COL[b,...]``, ``key=COL`` over ``bands``, or
    ``key.BAND=COL`` items."""
    if key in single and key in dotted:
        raise ValueError(f"give {key}=COL or {key}.BAND=COL, not both")
    if key not in single:
        return dict(dotted.get(key, {}))
    column, named = _vector(single[key])
    named = named or bands
    if not named:
        raise ValueError(f"{key}={column} needs its bands: {key}={column}[u,g,r,...]")
    return {b: Element(column, i, len(named)) for i, b in enumerate(named)}


def _softening(values: dict[str, str]) -> dict[str, float]:
    """softening.BAND=VALUE items as floats (nanomaggies)."""
    out = {}
    for band, text in values.items():
        try:
            out[band] = float(text)
        except ValueError:
            raise ValueError(f"softening.{band}={text} is not a number (nanomaggies)") from None
    return out


def _build_kwargs(single: dict[str, str], dotted: dict[str, dict[str, str]]) -> dict:
    """ColumnMap keyword arguments from parsed spec items."""
    if "id" not in single:
        raise ValueError(
            "mapping lacks required key 'id': map id=COL, or id=@row to number the rows 0, 1, ..."
        )
    if "ra" not in single or "dec" not in single:
        given = [k for k in ("ra", "dec") if k in single]
        raise ValueError(
            f"no ra/dec mapped ({'only ' + given[0] if given else 'neither'}): every galaxy "
            "needs a position, so a catalog without one cannot be ingested; map both "
            "ra=COL,dec=COL (degrees, ICRS)"
        )
    kwargs: dict = {k: single[k] for k in ("id", "ra", "dec")}
    bands: tuple[str, ...] = ()
    for key, target in (("flux", "fluxes"), ("flux_ivar", "flux_ivar"), ("flux_err", "flux_err")):
        if key in single and key in dotted:
            raise ValueError(f"give {key}=COL or {key}.BAND=COL, not both")
        if key in single:
            column, named = _vector(single[key])
            if key == "flux":
                if named is None:
                    raise ValueError(f"flux={column} needs its bands: flux={column}[u,g,r,...]")
                bands = named
            elif named is not None and named != bands:
                raise ValueError(f"{key} bands {named} differ from flux bands {bands}")
            kwargs[target] = column
        elif key in dotted:
            per_band = dotted[key]
            if key == "flux":
                bands = tuple(per_band)
            elif set(per_band) != set(bands):
                raise ValueError(
                    f"{key}.BAND bands {tuple(per_band)} differ from flux bands {bands}"
                )
            kwargs[target] = tuple(per_band[b] for b in bands)
    kwargs["bands"] = bands
    mags = _band_refs("mag", single, dotted, ())
    kwargs["mags"] = mags
    kwargs["mag_err"] = _band_refs("mag_err", single, dotted, tuple(mags))
    kwargs["extinction"] = _band_refs("extinction", single, dotted, bands or tuple(mags))
    kwargs["softening"] = _softening(dotted.get("softening", {}))
    if "units" in single:
        kwargs["flux_units"] = single["units"]
    for key in ("mag_type", "ref_band", "label_source"):
        if key in single:
            kwargs[key] = single[key]
    kwargs["truth"] = dotted.get("truth", {})
    kwargs["labels"] = dotted.get("label", {})
    return kwargs
