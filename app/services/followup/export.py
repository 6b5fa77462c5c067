"""Target lists for the telescope: a follow-up plan as CSV, FITS or VOTable, written atomically.

Three layouts. ``galactive``: rank (1 first), id (the survey's source id), ra, dec (deg),
magnitude (AB, r), exposure_s (s), priority (higher first, as fibre assigners read it) and
expected_gain (nats), and for a plan made for a night best_airmass and hours_up. ``desi``: the
target columns DESI's fibre assignment reads (TARGETID, RA, DEC, PRIORITY, SUBPRIORITY,
NUMOBS_INIT, OBSCONDITIONS). ``4most``: the columns of a 4MOST target catalogue, the
exposure-time calculator's input (NAME, RA, DEC, proper motion and epoch, RESOLUTION, MAG_TYPE, MAG,
MAG_ERR, REDDENING, the redshift estimate...), with the fields only the survey team can fill
(SUBSURVEY, TEMPLATE, RULESET) left for them. FITS and VOTable carry units and descriptions.
A file is written next to its destination and renamed into place, so a reader never sees half
a list.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from astropy.table import Table

from app.services.followup.plan import FollowupPlan

FORMATS = {".csv": "ascii.csv", ".fits": "fits", ".fit": "fits", ".vot": "votable"}
FORMATS |= {".xml": "votable", ".votable": "votable"}
LAYOUTS = ("galactive", "desi", "4most")
COLUMNS = {  # name -> (unit, description)
    "rank": (None, "observing order, 1 first"),
    "id": (None, "survey source id"),
    "ra": ("deg", "right ascension (ICRS)"),
    "dec": ("deg", "declination (ICRS)"),
    "magnitude": ("mag", "AB magnitude in the r band"),
    "exposure_s": ("s", "exposure to reach the target S/N per pixel (overhead excluded)"),
    "priority": (None, "observing priority, higher first"),
    "expected_gain": (None, "expected information gain about the task, nats"),
}
NIGHT_COLUMNS = {  # with a night only
    "best_airmass": (None, "lowest airmass during the night's dark hours (empty: never rises)"),
    "hours_up": ("h", "dark hours the target spends above 30 degrees altitude"),
}


def format_for(path: Path) -> str:
    """The astropy format of ``path`` from its suffix; ValueError naming the suffix otherwise."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(
            f"unknown target-list format {Path(path).suffix!r} for {path}; "
            f"use one of {', '.join(sorted(FORMATS))}"
        )
    return fmt


def targets_table(plan: FollowupPlan, layout: str = "galactive") -> Table:
    """The plan as an astropy Table in ``layout`` (one of LAYOUTS), with units, descriptions
    and the plan's provenance in meta."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown target-list layout {layout!r}; use one of {LAYOUTS}")
    n = len(plan.source_id)
    columns = {"desi": _desi, "4most": _fourmost}.get(layout, _galactive)(plan, n)
    table = Table()
    for name, (values, unit, description) in columns.items():
        table[name] = values
        table[name].unit = unit
        table[name].description = description
    table.meta.update(
        {
            "SURVEY": plan.survey,
            "MODEL": plan.model_version,
            "TASK": plan.task,
            "SNR": plan.sn_model.snr_target,
            "OVERHEAD": plan.sn_model.overhead_s,
            "HOURS": round(plan.hours, 6),
            "LAYOUT": layout,
        }
    )
    if plan.night is not None:  # FITS keeps strings under 69 characters: the parts apart
        table.meta.update(
            {
                "SITE": plan.night.site,
                "NIGHT": plan.night.date.isoformat(),
                "DARKFROM": f"{plan.night.start:%Y-%m-%dT%H:%M}Z",
                "DARKTO": f"{plan.night.end:%Y-%m-%dT%H:%M}Z",
            }
        )
    return table


Columns = dict[str, tuple[np.ndarray, str | None, str]]


def _galactive(plan: FollowupPlan, n: int) -> Columns:
    values = {
        "rank": np.arange(1, n + 1),
        "id": np.asarray(plan.source_id, dtype=str),
        "ra": plan.ra,
        "dec": plan.dec,
        "magnitude": plan.mag,
        "exposure_s": plan.exposure_s,
        "priority": plan.priority,
        "expected_gain": plan.expected_gain,
    }
    columns = {name: (values[name], *COLUMNS[name]) for name in COLUMNS}
    if plan.best_airmass is not None and plan.hours_up is not None:
        columns["best_airmass"] = (plan.best_airmass, *NIGHT_COLUMNS["best_airmass"])
        columns["hours_up"] = (plan.hours_up, *NIGHT_COLUMNS["hours_up"])
    return columns


def _desi(plan: FollowupPlan, n: int) -> Columns:
    """DESI fibre-assignment target columns: PRIORITY orders the plan (higher first, one level
    per rank); SUBPRIORITY in [0, 1) carries the gain per hour within a level, as DESI's breaks
    ties; one observation each; any conditions (dark | grey | bright)."""
    per_hour = np.asarray(plan.gain_per_hour, float)
    top = per_hour.max() if n and per_hour.max() > 0 else 1.0
    return {
        "TARGETID": (np.asarray(plan.galaxy_id, np.int64), None, "Galactive galaxy id"),
        "RA": (np.asarray(plan.ra, float), "deg", "right ascension (ICRS)"),
        "DEC": (np.asarray(plan.dec, float), "deg", "declination (ICRS)"),
        "PRIORITY": (np.arange(n, 0, -1, dtype=np.int32), None, "higher is observed first"),
        "SUBPRIORITY": (
            np.clip(per_hour / top, 0, np.nextafter(1.0, 0)),
            None,
            "gain per hour over the plan's best, in [0, 1)",
        ),
        "NUMOBS_INIT": (np.ones(n, np.int16), None, "observations wanted"),
        "OBSCONDITIONS": (np.full(n, 7, np.int32), None, "dark | grey | bright (bits 1, 2, 4)"),
    }


def _fourmost(plan: FollowupPlan, n: int) -> Columns:
    """A 4MOST target catalogue: positions with zero proper motion at epoch 2000, low
    resolution, the r magnitude as MAG_TYPE SDSS_r_AB; no extent, no cadence or date limits;
    SUBSURVEY, TEMPLATE and RULESET for the survey team's own values."""

    def same(value: object, dtype: object) -> np.ndarray:
        return np.full(n, value, dtype=dtype)

    return {
        "NAME": (np.asarray(plan.source_id, dtype=str), None, "survey source id"),
        "RA": (np.asarray(plan.ra, float), "deg", "right ascension (ICRS)"),
        "DEC": (np.asarray(plan.dec, float), "deg", "declination (ICRS)"),
        "PMRA": (same(0.0, float), "mas / yr", "proper motion in RA cos(Dec)"),
        "PMDEC": (same(0.0, float), "mas / yr", "proper motion in Dec"),
        "EPOCH": (same(2000.0, float), "yr", "epoch of the position"),
        "RESOLUTION": (same(1, np.int16), None, "1: low-resolution spectrograph"),
        "SUBSURVEY": (same("", "U20"), None, "the survey team's sub-survey"),
        "TEMPLATE": (same("", "U64"), None, "the survey team's spectral template"),
        "RULESET": (same("", "U32"), None, "the survey team's success ruleset"),
        "EXTENT_FLAG": (same(0, np.int16), None, "0: a point-like fibre target"),
        "EXTENT_PARAMETER": (same(0.0, float), "arcsec", "unused for EXTENT_FLAG 0"),
        "EXTENT_INDEX": (same(0.0, float), None, "unused for EXTENT_FLAG 0"),
        "MAG_TYPE": (same("SDSS_r_AB", "U16"), None, "band and system of MAG"),
        "MAG": (np.asarray(plan.mag, float), "mag", "r-band AB magnitude"),
        "MAG_ERR": (same(0.05, float), "mag", "assumed magnitude error"),
        "DATE_EARLIEST": (same(0.0, float), "d", "0: no limit (JD)"),
        "DATE_LATEST": (same(0.0, float), "d", "0: no limit (JD)"),
        "CADENCE": (same(0, np.int64), None, "0: no cadence"),
        "REDDENING": (same(0.0, float), "mag", "E(B-V); 0 when the catalog is corrected"),
        "REDSHIFT_ESTIMATE": (same(-1.0, float), None, "-1: not given"),
        "REDSHIFT_ERROR": (same(-1.0, float), None, "-1: not given"),
        "PRIORITY": (np.arange(n, 0, -1, dtype=np.int32), None, "Galactive's order, higher first"),
    }


def write_targets(plan: FollowupPlan, path: Path, *, layout: str = "galactive") -> Path:
    """Write ``plan`` to ``path`` (format from the suffix) in ``layout``, replacing any file
    there atomically."""
    path = Path(path)
    fmt = format_for(path)
    table = targets_table(plan, layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    try:
        table.write(tmp, format=fmt, overwrite=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
