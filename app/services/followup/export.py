"""Target lists for the telescope: a follow-up plan as CSV, FITS or VOTable, written atomically.

Columns: id (the survey's source id), ra, dec (deg), magnitude (AB, r), exposure_s (s),
priority (higher first) and expected_gain (nats); FITS and VOTable carry units and
descriptions. A file is written next to its destination and renamed into place, so a reader
never sees half a list.
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
COLUMNS = {  # name -> (unit, description)
    "id": (None, "survey source id"),
    "ra": ("deg", "right ascension (ICRS)"),
    "dec": ("deg", "declination (ICRS)"),
    "magnitude": ("mag", "AB magnitude in the r band"),
    "exposure_s": ("s", "exposure to reach the target S/N per pixel (overhead excluded)"),
    "priority": (None, "observing priority, higher first"),
    "expected_gain": (None, "expected information gain about the task, nats"),
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


def targets_table(plan: FollowupPlan) -> Table:
    """The plan as an astropy Table with units, descriptions and the plan's provenance in meta."""
    values = {
        "id": np.asarray(plan.source_id, dtype=str),
        "ra": plan.ra,
        "dec": plan.dec,
        "magnitude": plan.mag,
        "exposure_s": plan.exposure_s,
        "priority": plan.priority,
        "expected_gain": plan.expected_gain,
    }
    table = Table()
    for name, (unit, description) in COLUMNS.items():
        table[name] = values[name]
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
        }
    )
    return table


def write_targets(plan: FollowupPlan, path: Path) -> Path:
    """Write ``plan`` to ``path`` (format from the suffix), replacing any file there atomically."""
    path = Path(path)
    fmt = format_for(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = targets_table(plan)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    try:
        table.write(tmp, format=fmt, overwrite=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
