"""``galactive ingest``: images, spectra, catalogs and HDF5 files, each in one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from pathlib import Path

import typer

from app.cli.common import bar, database, fail, ready, reported_errors
from app.services.data.arrays import NETWORK_IMAGES
from storage.ingest.records import Bundle, TaskSpec
from storage.ingest.writer import OnExisting, ingest

app = typer.Typer(help="Ingest survey data (all-or-nothing per command).", no_args_is_help=True)

SURVEY = typer.Option(..., "--survey", help="Survey to ingest into (created if new).")
PATHS = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="Input files.")


def _run(
    ctx: typer.Context,
    survey: str,
    bundles: Iterator[Bundle],
    *,
    kind: str,
    sources: list[Path],
    total: int | None,
    unit: str,
    on_existing: OnExisting,
) -> None:
    resolved = ready(ctx)
    with (
        database(resolved) as engine,
        reported_errors(),
        bar(total, f"ingest {kind}", unit) as advance,
    ):
        summary = ingest(
            engine,
            resolved.store(),
            survey,
            bundles,
            kind=kind,
            source=" ".join(str(p) for p in sources),
            on_existing=on_existing,
            progress=advance,
            prepare_images=NETWORK_IMAGES,
        )
    typer.echo(f"survey {summary.survey!r}: ingest {summary.ingest_id}, {summary.counts}")


@app.command("images")
def images(
    ctx: typer.Context,
    paths: list[Path] = PATHS,
    survey: str = SURVEY,
    bands: str | None = typer.Option(
        None,
        "--bands",
        help="Comma-separated band names, for FITS cubes without band keywords "
        "or for RGB files (default i,r,g for R,G,B).",
    ),
    pixel_scale: float | None = typer.Option(
        None,
        "--pixel-scale",
        help="Arcsec per pixel when the file has no WCS (required for PNG/JPEG).",
    ),
) -> None:
    """Image cutouts: FITS (one HDU per band, or a cube) and RGB PNG/JPEG (3 bands).

    Formats are recognised by file signature. Galaxies must exist in the survey unless
    the FITS header carries RA/Dec.
    """
    from storage.ingest.detect import detect_format
    from storage.ingest.fits_images import read_fits_images
    from storage.ingest.rgb_images import read_rgb_images

    band_list = tuple(b.strip() for b in bands.split(",")) if bands else None
    with reported_errors():
        kinds = {p: detect_format(p) for p in paths}
    fits = [p for p in paths if kinds[p] == "fits"]
    rgb = [p for p in paths if kinds[p] in ("png", "jpeg")]
    other = [f"{p} ({k})" for p, k in kinds.items() if p not in fits and p not in rgb]
    if other:
        fail(f"not an image file: {', '.join(other)}")
    streams = []
    if fits:
        streams.append(read_fits_images(fits, bands=band_list, pixel_scale=pixel_scale))
    if rgb:
        if pixel_scale is None:
            names = ", ".join(str(p) for p in rgb[:3]) + (", ..." if len(rgb) > 3 else "")
            fail(f"--pixel-scale is required for PNG/JPEG cutouts ({names})")
        rgb_bands = band_list or ("i", "r", "g")
        streams.append(read_rgb_images(rgb, bands=rgb_bands, pixel_scale=pixel_scale))
    _run(
        ctx,
        survey,
        chain(*streams),
        kind="images",
        sources=paths,
        total=len(paths),
        unit="file",
        on_existing="match",
    )


@app.command("spectra")
def spectra(ctx: typer.Context, paths: list[Path] = PATHS, survey: str = SURVEY) -> None:
    """SDSS spectrum files spec-PLATE-MJD-FIBER.fits (COADD loglam/flux/ivar, SPECOBJ Z/CLASS)."""
    from storage.ingest.sdss_spectra import read_sdss_spectra

    _run(
        ctx,
        survey,
        read_sdss_spectra(paths),
        kind="spectra",
        sources=paths,
        total=len(paths),
        unit="file",
        on_existing="match",
    )


def _catalog_help() -> str:
    """The catalog command's help: what it reads, then the full --map syntax."""
    from rich.markup import escape

    from storage.ingest.catalog.column_map import MAP_SYNTAX

    paragraphs = MAP_SYNTAX.split("\n\n")
    body = "\n\n".join(escape(p) for p in paragraphs)
    return (
        "A catalog any astropy Table reader reads (FITS, CSV, Parquet, VOTable), through a "
        "column mapping.\n\n--map syntax:\n\n" + body
    )


@app.command("catalog", help=_catalog_help())
def catalog(
    ctx: typer.Context,
    path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="FITS, CSV, Parquet or VOTable."
    ),
    survey: str = SURVEY,
    mapping: str = typer.Option(
        ...,
        "--map",
        help="Column mapping, e.g. 'id=objid,ra=ra,dec=dec,flux=flux\\[u,g,r,i,z],"
        "flux_ivar=flux_ivar,extinction=ext,truth.redshift=z' (syntax above).",
    ),
    fmt: str | None = typer.Option(None, "--format", help="Override format detection."),
    classes: list[str] = typer.Option(
        [], "--classes", help="TASK=c1,c2,... declares a classification task's classes."
    ),
    redshifts: list[str] = typer.Option(
        [],
        "--redshift",
        help="Declare regression TASK a redshift: fitted in log(1+z), with photo-z metrics "
        "(a task named redshift is one already).",
    ),
) -> None:
    """A catalog through a column mapping (help text: ``_catalog_help``)."""
    from storage.ingest.catalog.read import ColumnMap, read_catalog

    try:
        column_map = ColumnMap.from_spec(mapping)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--map") from err
    tasks = _task_specs(column_map, classes, redshifts)
    _run(
        ctx,
        survey,
        read_catalog(path, column_map, format=fmt, tasks=tasks),
        kind="catalog",
        sources=[path],
        total=None,
        unit="galaxy",
        on_existing="error",
    )


@app.command("hdf5")
def hdf5(
    ctx: typer.Context,
    path: Path = typer.Argument(..., exists=True, dir_okay=False),
    survey: str = SURVEY,
) -> None:
    """HDF5 in the Multimodal Universe layout (object_id, ra, dec, image_*, spectrum_*)."""
    from storage.ingest.hdf5_mmu import read_mmu_hdf5

    _run(
        ctx,
        survey,
        read_mmu_hdf5(path),
        kind="hdf5",
        sources=[path],
        total=None,
        unit="galaxy",
        on_existing="match",
    )


def _task_specs(
    column_map: object, classes: list[str], redshifts: list[str]
) -> dict[str, TaskSpec]:
    """Tasks named by the mapping's truth and label columns: classification where
    ``--classes`` declares classes, a redshift (target "redshift") where ``--redshift``
    names it or it is called redshift, another regression otherwise."""
    declared: dict[str, tuple[str, ...]] = {}
    for item in classes:
        name, sep, names = item.partition("=")
        if not sep or not names:
            raise typer.BadParameter(
                f"{item!r}: expected TASK=class1,class2,...", param_hint="--classes"
            )
        declared[name] = tuple(c.strip() for c in names.split(","))
    names = set(getattr(column_map, "truth", {})) | set(getattr(column_map, "labels", {}))
    for name in redshifts:
        if name not in names:
            raise typer.BadParameter(
                f"{name!r} is not a task of the mapping (truth.TASK or label.TASK); tasks: "
                f"{sorted(names)}",
                param_hint="--redshift",
            )
        if name in declared:
            raise typer.BadParameter(
                f"{name!r} is declared a classification by --classes", param_hint="--redshift"
            )
    return {
        name: TaskSpec(name, "classification", classes=declared[name])
        if name in declared
        else TaskSpec(name, "regression", target="redshift" if name in redshifts else name)
        for name in sorted(names)
    }
