"""A survey read back from storage as GalaxyArrays: bulk, batched, missing modalities flagged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from app.cli import app
from app.config import Settings, resolve
from app.mock.survey import generate_survey
from app.services.data.arrays import NETWORK_IMAGES, load_arrays, stream_arrays, survey_refs
from app.services.data.targets import load_targets, task_configs
from bayes.config import ModelConfig
from bayes.model import GalaxyModel
from storage.db import session_scope
from storage.ingest.writer import ingest


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory):
    """(settings, refs, targets, tasks) of a 16-galaxy mock with spectra for about half."""
    home = tmp_path_factory.mktemp("arrays")
    args = ["--home", str(home), "mock", "--n", "16", "--seed", "2", "--workers", "1"]
    result = CliRunner().invoke(app, [*args, "--spectra-fraction", "0.5"])
    assert result.exit_code == 0, result.output
    settings = resolve(None, home)
    engine = settings.engine()
    with session_scope(engine) as session:
        refs = survey_refs(session, "mock")
        targets = load_targets(session, refs, source="truth")
        tasks = task_configs(session, refs.survey_id)
    engine.dispose()
    return settings, refs, targets, tasks


def test_arrays_match_the_store_and_flag_missing_spectra(survey) -> None:
    settings, refs, _, _ = survey
    store = settings.store()
    idx = np.arange(len(refs))[::-1]  # any order
    arrays = load_arrays(store, refs, idx)
    assert arrays.images.shape == (16, 5, 64, 64) and arrays.phot_flux.shape == (16, 5)
    assert arrays.has_image.all() and arrays.has_photometry.all()
    has_spec = arrays.has_spectrum
    assert 0 < has_spec.sum() < 16
    np.testing.assert_array_equal(has_spec, refs.spectrum.present[idx])
    j = int(np.flatnonzero(has_spec)[0])
    wave, flux, ivar = store.read_spectrum(refs.spectrum.spans(idx[[j]])[0])
    np.testing.assert_array_equal(arrays.flux[j, : len(flux)], flux)
    np.testing.assert_allclose(arrays.wavelength[j, : len(wave)], wave, rtol=1e-6)
    assert np.all(arrays.ivar[j, len(ivar) :] == 0) and np.all(arrays.ivar[~has_spec] == 0)
    pixels = store.read_rows(refs.image.rows(idx[:1]), "pixels")
    np.testing.assert_array_equal(arrays.images[0], pixels[0])


def test_stream_gives_the_same_galaxies_in_batches(survey) -> None:
    settings, refs, _, _ = survey
    idx = np.arange(len(refs))
    batches = list(stream_arrays(settings.store(), refs, idx, batch_size=5))
    assert [len(b) for b in batches] == [5, 5, 5, 1]
    whole = load_arrays(settings.store(), refs, idx)
    np.testing.assert_array_equal(np.concatenate([b.images for b in batches]), whole.images)
    np.testing.assert_array_equal(
        np.concatenate([b.has_spectrum for b in batches]), whole.has_spectrum
    )


def test_truth_targets_and_tasks(survey) -> None:
    _, refs, targets, tasks = survey
    assert [t.name for t in tasks] == ["morphology", "redshift", "sfr"]
    assert tasks[1].transform == "log1p" and tasks[0].classes[0] == "elliptical"
    morph = targets.values["morphology"]
    assert morph.dtype == np.int64 and morph.min() >= 0 and morph.max() < 6
    assert np.all((targets.values["redshift"] > 0) & (targets.values["redshift"] < 0.45))
    assert targets.n_labels == 3 * len(refs) and targets.label_watermark is None


def test_the_network_form_is_stored_at_ingest_and_gives_the_same_posterior(survey) -> None:
    settings, refs, targets, tasks = survey
    store, idx = settings.store(), np.arange(len(refs))
    raw = load_arrays(store, refs, idx)  # as for display
    net = load_arrays(store, refs, idx, network=True)  # as for the model: no stretch to do
    assert net.images_stretched and not raw.images_stretched
    stretched = NETWORK_IMAGES(raw.images)
    assert net.images.dtype == np.float32  # read back in the network's dtype
    np.testing.assert_array_equal(net.images, stretched.astype(np.float16).astype(np.float32))
    # every scoring pass reads this form: kept uncompressed and in float16 (half the bytes);
    # the pixels stay float32, LZF-compressed
    ref = refs.image.rows(idx[:1])[0]
    group = store._open(ref.array_file)[ref.dataset]
    assert group["network"].compression is None and group["pixels"].compression == "lzf"
    assert group["network"].dtype == np.float16 and group["pixels"].dtype == np.float32
    # float16 rounds a value by <= 2^-11 of it (<= 0.0022 here, where values reach 4.5): under
    # 1% of a stretched cutout's sky noise (about 1/3: asinh(x / 3 sigma))
    noise = 1.4826 * np.median(np.abs(stretched - np.median(stretched, (2, 3), keepdims=True)))
    assert np.abs(net.images - stretched).max() < 0.01 * noise
    config = ModelConfig(tasks=tasks, epochs=1, seed=0)
    model = GalaxyModel(config).fit(raw, targets.values)
    a, b = model.predict(raw, seed=3), model.predict(net, seed=3)
    # the posteriors move by float32 rounding (measured <= 1e-7): 1e-5 leaves room for
    # another machine's kernels and fails if the rounding reached the network's output
    for task in a.probs:
        np.testing.assert_allclose(a.probs[task], b.probs[task], rtol=0, atol=1e-5)
    for task in a.draws:
        np.testing.assert_allclose(a.draws[task], b.draws[task], rtol=0, atol=1e-5)


def test_cutouts_ingested_without_the_network_form_are_read_as_pixels(
    db_url: str, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, db_url=db_url)
    bundles = list(generate_survey(6, seed=4, workers=1))
    engine = settings.engine()
    ingest(engine, settings.store(), "new", bundles, kind="mock", source="t",
           prepare_images=NETWORK_IMAGES)  # fmt: skip
    ingest(engine, settings.store(), "old", bundles, kind="mock", source="t")  # before the form
    with session_scope(engine) as session:
        new, old = survey_refs(session, "new"), survey_refs(session, "old")
    engine.dispose()
    store, idx = settings.store(), np.arange(6)
    assert load_arrays(store, new, idx, network=True).images_stretched
    pixels = load_arrays(store, old, idx, network=True)
    assert not pixels.images_stretched  # stretched when predicted, as before
    np.testing.assert_array_equal(pixels.images, load_arrays(store, new, idx).images)
    one_each = [*new.image.rows(idx[:1]), *old.image.rows(idx[:1])]
    assert store.holds(one_each[:1], "network") and not store.holds(one_each, "network")


@pytest.mark.parametrize("dense_read", [4, 0])  # spans read as one slice, or one by one
def test_spectra_read_together_equal_each_read_alone(
    survey, monkeypatch: pytest.MonkeyPatch, dense_read: int
) -> None:
    import storage.arrays

    monkeypatch.setattr(storage.arrays, "DENSE_READ", dense_read)
    settings, refs, _, _ = survey
    store = settings.store()
    idx = np.flatnonzero(refs.spectrum.present)[::-1]  # any order
    spans = refs.spectrum.spans(idx)
    assert len(spans) >= 2
    for together, span in zip(store.read_spectra(spans), spans, strict=True):
        for a, b in zip(together, store.read_spectrum(span), strict=True):
            np.testing.assert_array_equal(a, b)
