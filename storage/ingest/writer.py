# Over 400 lines: the all-or-nothing write of one ingest, rollback included, in one place.
"""Persist reader output: every chunk of one ingest in one transaction, all or nothing.

The arrays go to one new array-store file, the rows to the database. On any error —
a reader's ``IngestError`` mid-stream, a conflict found here, a database failure — the
transaction rolls back and the file is deleted, leaving both exactly as they were.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from storage.arrays import ArrayStore, ArrayWriter
from storage.db import session_scope
from storage.errors import IngestError
from storage.ingest import repeats
from storage.ingest.records import (
    Bundle,
    GalaxyRecords,
    ImageRecords,
    PhotometryRecords,
    SpectrumRecord,
    TaskSpec,
    ValueRecords,
)
from storage.models import (
    Galaxy,
    ImageCutout,
    Ingest,
    Label,
    Photometry,
    Spectrum,
    Survey,
    Task,
    Truth,
    User,
)
from storage.models.survey import check_survey_name
from storage.store_check import sweep

OnExisting = Literal["error", "match"]
ANALYZE_FROM = 10_000  # an ingest adding fewer galaxies leaves statistics to autovacuum
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout expires


@dataclass
class IngestSummary:
    """What one ingest wrote."""

    survey: str
    ingest_id: int
    array_file: str | None
    counts: dict[str, int] = field(default_factory=dict)


def ingest(
    engine: Engine,
    store: ArrayStore,
    survey: str,
    bundles: Iterable[Bundle],
    *,
    kind: str,
    source: str,
    on_existing: OnExisting = "error",
    progress: Callable[[int], None] | None = None,
    prepare_images: Callable[[np.ndarray], np.ndarray] | None = None,
) -> IngestSummary:
    """Write ``bundles`` into ``survey`` (created if new) as one ingest.

    on_existing: what a galaxy record whose id the survey already has means — an error
    ("error", for catalogs that introduce galaxies) or a reference to that galaxy
    ("match", for images and spectra of known galaxies). ``progress`` is called with the
    number of galaxies in each finished chunk. prepare_images: (N, B, H, W) cutouts -> the
    same in the form a model reads them, stored beside the pixels so that no scoring pass
    computes it again (the caller's: storage does not know the model).
    """
    sweep(engine, store)  # what an ingest killed earlier left behind
    writer = store.writer()
    try:
        with session_scope(engine) as session:
            run = _Run(session, writer, survey, kind=kind, source=source, on_existing=on_existing,
                       prepare_images=prepare_images)  # fmt: skip
            for bundle in bundles:
                n = run.write(bundle)
                if progress is not None:
                    progress(n)
            run.finish()
            run.record.array_file = writer.commit()
            session.flush()
    except BaseException:
        writer.abort()
        raise
    writer.release()  # committed: from here the file is the database's
    return IngestSummary(survey, run.record.id, run.record.array_file, run.counts)


class _Run:
    """State of one ingest while its chunks stream through."""

    def __init__(
        self,
        session: Session,
        writer: ArrayWriter,
        survey: str,
        *,
        kind: str,
        source: str,
        on_existing: OnExisting,
        prepare_images: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.session = session
        self.writer = writer
        self.prepare_images = prepare_images
        self.on_existing = on_existing
        self.survey = session.scalar(select(Survey).where(Survey.name == survey))
        if self.survey is None:
            try:
                self.survey = Survey(name=check_survey_name(survey))
            except ValueError as exc:
                raise IngestError(str(exc)) from None
            session.add(self.survey)
            session.flush()
        self.record = Ingest(survey_id=self.survey.id, kind=kind, source=source, n_rows=0)
        session.add(self.record)
        session.flush()
        self.seen: dict[str, str] = {}  # source id -> file that introduced it in this ingest
        self.tasks: dict[str, Task] = {}
        self.labelers: set[str] = set()  # non-human label sources, recorded as provenance
        self.counts = {"galaxies": 0, "images": 0, "spectra": 0, "photometry": 0, "values": 0,
                       "duplicates": 0}  # fmt: skip
        self.analyze_at = ANALYZE_FROM  # galaxies added before the next ANALYZE (PostgreSQL)

    def write(self, bundle: Bundle) -> int:
        """Write one chunk; returns how many galaxies it concerned."""
        ids: dict[str, int] = {}
        if bundle.galaxies is not None:
            ids.update(self._galaxies(bundle.galaxies, bundle.source))
        for images in bundle.images:
            self._images(images, ids, bundle.source)
        if bundle.spectra:
            self._spectra(bundle.spectra, ids, bundle.source)
        for photometry in bundle.photometry:
            self._photometry(photometry, ids, bundle.source)
        for values in bundle.values:
            self._values(values, ids, bundle.source)
        return len(bundle.galaxies.source_ids) if bundle.galaxies is not None else len(ids)

    def finish(self) -> None:
        self.record.n_rows = self.counts["galaxies"]
        self.record.details = {**self.counts, "labelers": sorted(self.labelers)}

    # -- galaxies ------------------------------------------------------------------------

    def _galaxies(self, records: GalaxyRecords, source: str | None) -> dict[str, int]:
        source_ids = [str(s) for s in records.source_ids]
        _check_lengths(
            source,
            len(source_ids),
            ra=records.ra,
            dec=records.dec,
            ref_mag=records.ref_mag,
            **dict(records.magnitudes),
        )
        for row, sid in enumerate(source_ids):
            if sid in self.seen:
                raise IngestError(
                    f"duplicate galaxy id {sid!r} (already in {self.seen[sid]} of this ingest)",
                    file=source,
                    row=row,
                    column="id",
                )
            self.seen[sid] = source or "this ingest"
        existing = self._existing(source_ids)
        if existing and self.on_existing == "error":
            row = next(i for i, s in enumerate(source_ids) if s in existing)
            raise IngestError(
                f"galaxy id {source_ids[row]!r} is already in survey {self.survey.name!r}; "
                "ids must be unique within a survey",
                file=source,
                row=row,
                column="id",
            )
        new_rows = []
        for i, sid in enumerate(source_ids):
            if sid in existing:
                continue
            mags = {band: _float(values[i]) for band, values in records.magnitudes.items()}
            new_rows.append(
                {
                    "survey_id": self.survey.id,
                    "source_id": sid,
                    "ra": float(records.ra[i]),
                    "dec": float(records.dec[i]),
                    "ref_mag": None if records.ref_mag is None else _float(records.ref_mag[i]),
                    "ref_band": records.ref_band,
                    "magnitudes": mags or None,
                    "ingest_id": self.record.id,
                }
            )
        if new_rows:
            created = self.session.execute(
                insert(Galaxy).returning(Galaxy.source_id, Galaxy.id), new_rows
            )
            existing.update({sid: gid for sid, gid in created})
            self.counts["galaxies"] += len(new_rows)
            self._refresh_statistics()
        return existing

    def _refresh_statistics(self) -> None:
        """On PostgreSQL, ANALYZE the galaxies each time this ingest has doubled what it added.

        The planner's statistics are those of the last ANALYZE; mid-way through a million-row
        ingest they still describe a small survey, and the id lookups above then scan the
        whole survey once per id instead of probing the (survey, source id) index. ANALYZE in
        the ingest's own transaction samples its uncommitted rows too. ANALYZE holds its lock
        until the ingest commits, so a concurrent ingest that cannot get it within 100 ms
        skips its refresh (the other ingest's statistics serve both) rather than wait.
        """
        if self.session.get_bind().dialect.name != "postgresql":
            return
        if self.counts["galaxies"] < self.analyze_at:
            return
        self.analyze_at = 2 * self.counts["galaxies"]
        previous = self.session.scalar(text("SELECT current_setting('lock_timeout')"))
        try:
            with self.session.begin_nested():
                self.session.execute(text("SET LOCAL lock_timeout = '100ms'"))
                self.session.execute(text("ANALYZE galaxies"))
        except OperationalError as err:
            if getattr(err.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
        finally:
            self.session.execute(
                text("SELECT set_config('lock_timeout', :value, true)"), {"value": previous}
            )

    def _existing(self, source_ids: Sequence[str]) -> dict[str, int]:
        """Map the given source ids that the survey has to their galaxy ids."""
        found: dict[str, int] = {}
        for part in repeats.in_chunks(list(source_ids)):
            rows = self.session.execute(
                select(Galaxy.source_id, Galaxy.id).where(
                    Galaxy.survey_id == self.survey.id, Galaxy.source_id.in_(part)
                )
            )
            found.update({sid: gid for sid, gid in rows})
        return found

    def _resolve(
        self, source_ids: Sequence[str], ids: dict[str, int], source: str | None
    ) -> list[int]:
        """Galaxy ids for ``source_ids``; unknown ones are an error naming the first."""
        missing = [s for s in source_ids if s not in ids]
        if missing:
            ids.update(self._existing(missing))
        for row, sid in enumerate(source_ids):
            if sid not in ids:
                raise IngestError(
                    f"unknown galaxy id {sid!r}: not in survey {self.survey.name!r}; ingest a "
                    "catalog with its position first, or a file that carries RA/Dec",
                    file=source,
                    row=row,
                    column="id",
                )
        return [ids[s] for s in source_ids]

    # -- modalities ----------------------------------------------------------------------

    def _images(self, records: ImageRecords, ids: dict[str, int], source: str | None) -> None:
        n = len(records.source_ids)
        if records.pixels.ndim != 4 or records.pixels.shape[:2] != (n, len(records.bands)):
            raise IngestError(
                f"pixels have shape {records.pixels.shape}, expected ({n}, {len(records.bands)}, "
                "H, W)",
                file=source,
                column="pixels",
            )
        if records.ivar is not None and records.ivar.shape != records.pixels.shape:
            raise IngestError(
                f"ivar shape {records.ivar.shape} differs from pixels {records.pixels.shape}",
                file=source,
                column="ivar",
            )
        galaxy_ids = self._resolve([str(s) for s in records.source_ids], ids, source)
        pixels, ivar = records.pixels.astype(np.float32), records.ivar
        ivar = None if ivar is None else ivar.astype(np.float32)
        bands = ",".join(records.bands)
        sums = [
            repeats.checksum(pixels[i], *(() if ivar is None else (ivar[i],)), text=bands)
            for i in range(n)
        ]
        new = self._new_content(ImageCutout, galaxy_ids, sums)
        if not new.any():
            return
        ivar = None if ivar is None else ivar[new]
        prepared = None if self.prepare_images is None else self.prepare_images(pixels[new])
        dataset, first = self.writer.append_images(
            records.bands, pixels[new], ivar, network=prepared
        )
        _, _, h, w = records.pixels.shape
        kept = [(gid, c) for gid, c, keep in zip(galaxy_ids, sums, new, strict=True) if keep]
        self.session.execute(
            insert(ImageCutout),
            [
                {
                    "galaxy_id": gid,
                    "ingest_id": self.record.id,
                    "dataset": dataset,
                    "row": first + i,
                    "bands": list(records.bands),
                    "height": h,
                    "width": w,
                    "pixel_scale": float(records.pixel_scale),
                    "units": records.units,
                    "has_ivar": records.ivar is not None,
                    "orientation": None
                    if records.orientation is None
                    else records.orientation.to_json(),
                    "checksum": digest,
                }
                for i, (gid, digest) in enumerate(kept)
            ],
        )
        self.counts["images"] += len(kept)

    def _new_content(self, model: type, galaxy_ids: list[int], sums: list[str]) -> np.ndarray:
        """:func:`repeats.new_content`, the repeats counted as duplicates (and skipped)."""
        new = repeats.new_content(self.session, model, galaxy_ids, sums)
        self.counts["duplicates"] += int((~new).sum())
        return new

    def _spectra(
        self, records: Sequence[SpectrumRecord], ids: dict[str, int], source: str | None
    ) -> None:
        for record in records:
            _check_lengths(source, len(record.wavelength), flux=record.flux, ivar=record.ivar)
        galaxy_ids = self._resolve([str(r.source_id) for r in records], ids, source)
        sums = [
            repeats.checksum(
                np.asarray(r.wavelength, np.float64),
                np.asarray(r.flux, np.float32),
                np.asarray(r.ivar, np.float32),
                text=r.instrument,
            )
            for r in records
        ]
        new = self._new_content(Spectrum, galaxy_ids, sums)
        kept = [(r, g, c) for r, g, c, keep in zip(records, galaxy_ids, sums, new, strict=True)
                if keep]  # fmt: skip
        if not kept:
            return
        dataset, offset = self.writer.append_spectra(
            np.concatenate([r.wavelength for r, _, _ in kept]),
            np.concatenate([r.flux for r, _, _ in kept]),
            np.concatenate([r.ivar for r, _, _ in kept]),
        )
        rows = []
        for record, galaxy_id, digest in kept:
            rows.append(
                {
                    "checksum": digest,
                    "galaxy_id": galaxy_id,
                    "ingest_id": self.record.id,
                    "dataset": dataset,
                    "offset": offset,
                    "length": len(record.wavelength),
                    "wave_min": float(record.wavelength[0]),
                    "wave_max": float(record.wavelength[-1]),
                    "instrument": record.instrument,
                    "flux_unit": record.flux_unit,
                    "redshift": record.redshift,
                    "redshift_err": record.redshift_err,
                    "spec_class": record.spec_class,
                }
            )
            offset += len(record.wavelength)
        self.session.execute(insert(Spectrum), rows)
        self.counts["spectra"] += len(rows)

    def _photometry(
        self, records: PhotometryRecords, ids: dict[str, int], source: str | None
    ) -> None:
        n, b = len(records.source_ids), len(records.bands)
        for name, arr in (("flux", records.flux), ("ivar", records.ivar)):
            if arr.shape != (n, b):
                raise IngestError(
                    f"{name} has shape {arr.shape}, expected ({n}, {b}) for bands {records.bands}",
                    file=source,
                    column=name,
                )
        galaxy_ids = self._resolve([str(s) for s in records.source_ids], ids, source)
        dataset, first = self.writer.append_photometry(records.bands, records.flux, records.ivar)
        self.session.execute(
            insert(Photometry),
            [
                {
                    "galaxy_id": gid,
                    "ingest_id": self.record.id,
                    "dataset": dataset,
                    "row": first + i,
                    "bands": list(records.bands),
                    "units": records.units,
                }
                for i, gid in enumerate(galaxy_ids)
            ],
        )
        self.counts["photometry"] += n

    # -- truth and labels ----------------------------------------------------------------

    def _task(self, spec: TaskSpec, source: str | None) -> Task:
        """Get or create the survey's task named ``spec.name``; a conflicting spec is an error."""
        task = self.tasks.get(spec.name) or self.session.scalar(
            select(Task).where(Task.survey_id == self.survey.id, Task.name == spec.name)
        )
        if task is None:
            task = Task(
                survey_id=self.survey.id,
                name=spec.name,
                kind=spec.kind,
                classes=list(spec.classes) or None,
                target=spec.target,
                unit=spec.unit,
            )
            self.session.add(task)
            self.session.flush()
        elif task.kind != spec.kind or (task.classes or []) != list(spec.classes):
            raise IngestError(
                f"task {spec.name!r} exists as {task.kind} with classes {task.classes}; "
                f"this input declares {spec.kind} with classes {list(spec.classes)}",
                file=source,
                column=spec.name,
            )
        elif spec.target == "redshift" and task.target != "redshift":
            # the target decides how the task is fitted (log(1+z)); it is set when created
            raise IngestError(
                f"task {spec.name!r} exists as a regression of {task.target!r}; this input "
                "declares it a redshift, which only a new task can be (choose another name)",
                file=source,
                column=spec.name,
            )
        self.tasks[spec.name] = task
        return task

    def _values(self, records: ValueRecords, ids: dict[str, int], source: str | None) -> None:
        if (records.truth_kind is None) == (records.label_source is None):
            raise ValueError("ValueRecords needs exactly one of truth_kind and label_source")
        n = len(records.source_ids)
        _check_lengths(source, n, values=records.values, **dict(records.stats))
        task = self._task(records.task, source)
        galaxy_ids = self._resolve([str(s) for s in records.source_ids], ids, source)
        classification = task.kind == "classification"
        if classification:
            bad = np.flatnonzero((records.values < 0) | (records.values >= len(task.classes or ())))
            if bad.size:
                raise IngestError(
                    f"class index {records.values[bad[0]]} outside 0..{len(task.classes) - 1} "
                    f"for task {task.name!r}",
                    file=source,
                    row=int(bad[0]),
                    column=task.name,
                )
        rows = []
        for i, gid in enumerate(galaxy_ids):
            value = float(records.values[i])
            stats = {k: float(v[i]) for k, v in records.stats.items()} or None
            rows.append(
                {
                    "task_id": task.id,
                    "galaxy_id": gid,
                    "value": value,
                    "class_index": int(value) if classification else None,
                    "stats": stats,
                }
            )
        if records.truth_kind is not None:
            self._check_no_truth(task, records.truth_kind, galaxy_ids, records, source)
            for row in rows:
                row.update(ingest_id=self.record.id, kind=records.truth_kind)
            if rows:  # an empty executemany would insert one row of defaults
                self.session.execute(insert(Truth), rows)
        else:
            user_id = self._labeler(records, source)
            if records.label_source != "expert":  # a pipeline's answer, given again: once
                rows = repeats.new_pipeline_labels(
                    self.session, task.id, records.label_source, rows
                )
            for row in rows:
                row.update(
                    ingest_id=self.record.id,
                    source=records.label_source,
                    status="answer",
                    user_id=user_id,
                )
            if rows:
                self.session.execute(insert(Label), rows)
            n = len(rows)
        self.counts["values"] += n

    def _check_no_truth(
        self,
        task: Task,
        kind: str,
        galaxy_ids: list[int],
        records: ValueRecords,
        source: str | None,
    ) -> None:
        """Truth is set once per galaxy, task and kind; a second value is a conflict."""
        have: set[int] = set()
        for part in repeats.in_chunks(galaxy_ids):
            have.update(
                self.session.scalars(
                    select(Truth.galaxy_id).where(
                        Truth.task_id == task.id, Truth.kind == kind, Truth.galaxy_id.in_(part)
                    )
                )
            )
        for row, gid in enumerate(galaxy_ids):
            if gid in have:
                raise IngestError(
                    f"galaxy {str(records.source_ids[row])!r} already has {kind} for task "
                    f"{task.name!r}",
                    file=source,
                    row=row,
                    column=task.name,
                )

    def _labeler(self, records: ValueRecords, source: str | None) -> int | None:
        """The user behind expert labels; pipelines (spectroscopy, oracle) are not users, so
        their name is kept as the ingest's provenance instead."""
        name = records.labeler
        if name is None:
            return None
        if records.label_source != "expert":
            self.labelers.add(name)
            return None
        user_id = self.session.scalar(select(User.id).where(User.name == name))
        if user_id is None:
            raise IngestError(f"unknown labeler {name!r}: add the user first", file=source)
        return user_id


def _check_lengths(source: str | None, n: int, **arrays: np.ndarray | None) -> None:
    """Every named array must have ``n`` entries along its first axis."""
    for name, arr in arrays.items():
        if arr is not None and len(arr) != n:
            raise IngestError(
                f"{name} has {len(arr)} entries, expected {n}", file=source, column=name
            )


def _float(value: float) -> float | None:
    """A finite float, or None for NaN (an unknown magnitude)."""
    value = float(value)
    return value if math.isfinite(value) else None
