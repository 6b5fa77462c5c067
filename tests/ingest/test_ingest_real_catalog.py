"""`galactive ingest catalog` on a real SDSS catalog (kcorrect's 10,000 main-sample galaxies)
with the command README.md documents, and catalogs of magnitudes, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import app
from app.services.data.arrays import survey_id
from app.services.data.targets import task_configs
from storage.arrays import ArrayStore, RowRef
from storage.db import make_engine, session_scope
from storage.ingest.catalog.magnitudes import POGSON, flux_to_ab, flux_to_asinh
from storage.models import Galaxy, Photometry, Survey
from tests.ingest.test_catalog_magnitudes import KCORRECT_FILE, B, kcorrect_rows
from tests.snapshots import state

runner = CliRunner()
README = Path(__file__).resolve().parents[2] / "README.md"


def _cli(db_url: str, home: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--db", db_url, "--home", str(home), *args])
    return result.exit_code, result.output


def _status(db_url: str, home: Path) -> dict:
    code, out = _cli(db_url, home, "status", "--json")
    assert code == 0, out
    return {s["survey"]: s for s in json.loads(out)["surveys"]}


def readme_command() -> list[str]:
    """The kcorrect ingest command of README.md's "Catalog maps", as argv after `galactive`,
    with $KCORRECT set by running the README's own line that sets it."""
    section = README.read_text().split("## Catalog maps", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    setter, command = (line for line in block.splitlines() if line.strip())
    assert setter.startswith("KCORRECT=$(python -c ") and setter.endswith(")")
    (code,) = shlex.split(setter[len("KCORRECT=$(python -c ") : -1])
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    kcorrect_dir = found.stdout.strip()
    args = shlex.split(command)
    assert args[:3] == ["galactive", "ingest", "catalog"]
    return [a.replace("$KCORRECT", kcorrect_dir) for a in args[1:]]


def _photometry(db_url: str, home: Path, survey: str) -> tuple[list, np.ndarray, np.ndarray]:
    """(galaxy rows (source_id, ref_mag), flux, ivar) of ``survey`` in galaxy id order."""
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        rows = session.execute(
            select(Galaxy.source_id, Galaxy.ref_mag, Photometry.dataset, Photometry.row)
            .join(Photometry, Photometry.galaxy_id == Galaxy.id)
            .join(Survey, Survey.id == Galaxy.survey_id)
            .where(Survey.name == survey)
            .order_by(Galaxy.id)
        ).all()
    engine.dispose()
    store = ArrayStore(home / "arrays")
    (array_file,) = store.files()
    refs = [RowRef(array_file, dataset, row) for *_, dataset, row in rows]
    return rows, store.read_rows(refs, "flux"), store.read_rows(refs, "ivar")


def test_the_readme_command_ingests_the_kcorrect_catalog(db_url: str, tmp_path: Path) -> None:
    args = readme_command()
    assert args[2] == str(KCORRECT_FILE)
    code, out = _cli(db_url, tmp_path, *args)
    assert code == 0, out
    survey = _status(db_url, tmp_path)["sdss-gst"]
    assert survey["galaxies"] == 10_000 and survey["modalities"]["photometry"] == 10_000
    assert survey["tasks"]["redshift"]["truth"] == 10_000
    table = Table.read(KCORRECT_FILE)
    rows, flux, ivar = _photometry(db_url, tmp_path, "sdss-gst")
    assert [r[0] for r in rows] == [str(i) for i in range(10_000)]
    factor = 10 ** (0.4 * np.asarray(table["EXTINCTION"], dtype=np.float64))
    expected = (np.asarray(table["MODELFLUX"], dtype=np.float64) * factor).astype(np.float32)
    np.testing.assert_allclose(flux, expected, rtol=2e-7)
    assert not np.allclose(flux, table["MODELFLUX"], rtol=1e-3)  # the correction is there
    np.testing.assert_allclose(ivar, table["MODELFLUX_IVAR"] / factor**2, rtol=2e-7)
    ref_mag = np.array([np.nan if r[1] is None else r[1] for r in rows])
    np.testing.assert_allclose(ref_mag, flux_to_ab(flux[:, 2].astype(np.float64)), rtol=1e-6)

    # ids are row numbers: the same file again collides as an id column would
    engine = make_engine(db_url)
    before = state(engine, ArrayStore(tmp_path / "arrays"))
    code, out = _cli(db_url, tmp_path, *args)
    assert code == 2 and "galaxy id '0' is already in survey 'sdss-gst'" in out, out
    assert state(engine, ArrayStore(tmp_path / "arrays")) == before
    engine.dispose()


def test_a_catalog_of_asinh_magnitudes_feeds_photometry_and_declares_a_redshift(
    db_url: str, tmp_path: Path
) -> None:
    rows = kcorrect_rows(300)
    flux = np.asarray(rows["MODELFLUX"], dtype=np.float64)
    sigma = 1 / np.sqrt(np.asarray(rows["MODELFLUX_IVAR"], dtype=np.float64))
    table = Table(
        {
            "RA": rows["RA"],
            "DEC": rows["DEC"],
            "MODELMAG": flux_to_asinh(flux, B).astype(np.float32),
            "MODELMAGERR": (POGSON * sigma / np.sqrt(flux**2 + 4 * B**2)).astype(np.float32),
            "ZSPEC": rows["Z"],
        }
    )
    path = tmp_path / "luptitudes.fits"
    table.write(path)
    spec = "id=@row,ra=RA,dec=DEC,mag=MODELMAG[u,g,r,i,z],mag_err=MODELMAGERR,mag_type=asinh,"
    code, out = _cli(db_url, tmp_path, "ingest", "catalog", str(path), "--survey", "lup",
                     "--map", spec + "truth.zspec=ZSPEC,truth.z_other=ZSPEC",
                     "--redshift", "zspec")  # fmt: skip
    assert code == 0, out
    assert "'photometry': 300" in out
    assert _status(db_url, tmp_path)["lup"]["modalities"]["photometry"] == 300
    _, stored, _ = _photometry(db_url, tmp_path, "lup")
    assert np.all(np.abs(stored - flux) <= 1e-5 * np.sqrt(flux**2 + 4 * B**2))
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        configs = {t.name: t.transform for t in task_configs(session, survey_id(session, "lup"))}
    engine.dispose()
    assert configs == {"zspec": "log1p", "z_other": "identity"}

    # a task that exists as a plain regression cannot become a redshift later
    path2 = tmp_path / "more.fits"
    table["ID"] = np.arange(1000, 1300)  # other galaxies
    table.write(path2)
    code, out = _cli(db_url, tmp_path, "ingest", "catalog", str(path2), "--survey", "lup",
                     "--map", "id=ID,ra=RA,dec=DEC,truth.z_other=ZSPEC",
                     "--redshift", "z_other")  # fmt: skip
    assert code == 2 and "task 'z_other' exists as a regression of 'z_other'" in out, out


@pytest.mark.parametrize(("extra", "match"), [
    (["--redshift", "nope"], "'nope' is not a task of the mapping"),
    (["--redshift", "m", "--classes", "m=a,b"], "declared a classification"),
])  # fmt: skip
def test_bad_redshift_declarations(db_url: str, tmp_path: Path, extra, match) -> None:
    path = tmp_path / "c.csv"
    path.write_text("ra,dec,m\n1,1,a\n")
    code, out = _cli(db_url, tmp_path, "ingest", "catalog", str(path), "--survey", "s",
                     "--map", "id=@row,ra=ra,dec=dec,label.m=m", *extra)  # fmt: skip
    assert code == 2 and match in " ".join(out.split()), out


def test_magnitudes_without_errors_are_refused_naming_the_key(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("ra,dec,r\n1,1,18\n")
    code, out = _cli(db_url, tmp_path, "ingest", "catalog", str(path), "--survey", "s",
                     "--map", "id=@row,ra=ra,dec=dec,mag.r=r")  # fmt: skip
    assert code == 2 and "mag_err.r=COL" in out, out


def test_an_unknown_survey_lists_the_surveys_there_are(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        with pytest.raises(ValueError, match="no survey named 'nope'; there are no surveys yet"):
            survey_id(session, "nope")
        session.add_all([Survey(name="sdss"), Survey(name="legacy")])
        session.flush()
        with pytest.raises(ValueError, match="no survey named 'nope'; surveys: 'legacy', 'sdss'"):
            survey_id(session, "nope")
    engine.dispose()


def test_the_catalog_help_gives_the_whole_map_syntax() -> None:
    result = runner.invoke(app, ["ingest", "catalog", "--help"], terminal_width=100)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for key in ("id=@row", "mag=COL[u,g,r,i,z]", "mag_err=COL", "mag_type=ab|asinh",
                "softening.BAND=B", "extinction=COL[u,g,r,i,z]", "truth.TASK=COL",
                "0.14, 0.09, 0.12, 0.18, 0.74", "--redshift"):  # fmt: skip
        assert key in text, key
    assert "see storage/ingest" not in text
