"""Posterior-predictive throughput: Galactive's predict against BaaL's MC-dropout ModelWrapper.

Same fitted feature-fusion trunk for every method, CPU, T posterior samples per galaxy:

* ``galactive``: :func:`bayes.predict.predict`, the trunk once per galaxy (in chunks of
  ``bayes.latents.TRUNK_CHUNK``), T head draws at once; ``galactive_nchw`` is the same with the
  image CNN's channels_last layout switched off; ``galactive_stored`` is the same on cutouts
  already in the network's form, as the product now reads them (stored at ingest, issue 21).
* ``baal_replicate`` / ``baal_loop`` / ``baal_cached``: the trunk, dropout on its latents and
  point heads at the posterior mean, patched with BaaL's ``MCDropoutModule`` and run by
  ``ModelWrapper.predict_on_batch(data, iterations=T)`` with ``replicate_in_memory`` True or
  False, and False under BaaL's ``MCCachingModule`` (caches Linear/Conv2d outputs whose input
  is unchanged, BaaL's own remedy for repeated passes).
* ``baal_trunkdrop_*`` (``--trunk-dropout``): the same trunk architecture with dropout in every
  encoder too, as MC-dropout CNNs usually are (fresh weights: they do not change the cost).
* ``deterministic``: one forward pass of that network without dropout, the floor;
  ``deterministic_stored``: the same on cutouts in the network's form (``galactive_stored``'s
  floor: a method that runs every layer once per galaxy cannot beat it without fusing layers);
  ``normalise_only``: just the input normalisation every method pays (not a method).

Every method but ``galactive_stored`` starts from the same ``GalaxyArrays`` batches and pays the
same normalisation (:func:`bayes.data.as_tensors`); methods are interleaved within each repeat
(these machines are shared) and medians are reported. Also: agreement of BALD rankings from T
samples with a long-run reference (T = ``--reference-samples``) of the same model (Spearman).

    .venv/bin/python -m bench.posterior_throughput --json OUT.json
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata

import numpy as np
import torch
from baal.bayesian.caching_utils import MCCachingModule
from baal.bayesian.dropout import MCDropoutModule
from baal.modelwrapper import ModelWrapper, TrainingArgs
from torch import nn

from app.services.compute import keep_freed_memory
from bayes.config import ModelConfig, TaskConfig
from bayes.data import GalaxyArrays, ModelInputs, as_tensors
from bayes.layers.fusion import Trunk
from bayes.layers.heads import combine, expert_outputs
from bayes.model import GalaxyModel
from bayes.predict import classification_uncertainty
from bench.common import machine, parser, write_json
from bench.rank_agreement import bald_agreement

CLASSES = ("elliptical", "spiral", "edge_on", "merger", "irregular", "artifact")
TASKS = (
    TaskConfig("morphology", "categorical", classes=CLASSES),
    TaskConfig("redshift", "gaussian", transform="log1p"),
)
SDSS_LOG_WAVE = 3.5798 + 1e-4 * np.arange(3841)  # the mock survey's SDSS grid, log10 Angstrom
LINES = np.array([3727.0, 4861.0, 5007.0, 6563.0])  # [O II], H beta, [O III], H alpha


def mock_galaxies(
    n: int, rng: np.random.Generator, *, size: int = 64, spectra_fraction: float = 0.1
) -> tuple[GalaxyArrays, dict[str, np.ndarray]]:
    """N synthetic galaxies: 5-band cutouts whose shape sets the class, ugriz photometry whose
    colours carry redshift, and SDSS-grid spectra (3841 px) for ~``spectra_fraction`` of them.

    Brightness and size vary by ~10x, so faint galaxies are ambiguous and the posterior is not.
    """
    cls = rng.integers(0, len(CLASSES), n)
    z = rng.uniform(0.02, 0.3, n)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    theta = rng.uniform(0, np.pi, n)[:, None, None]
    u = np.cos(theta) * xx + np.sin(theta) * yy  # (n, S, S) along the major axis
    v = -np.sin(theta) * xx + np.cos(theta) * yy
    r = rng.uniform(2.0, 6.0, n)[:, None, None]
    q = np.select([cls == 0, cls == 2], [rng.uniform(0.6, 1.0, n), rng.uniform(0.1, 0.3, n)])
    q = np.where(q > 0, q, rng.uniform(0.3, 0.8, n))[:, None, None]
    light = np.exp(-0.5 * ((u / r) ** 2 + (v / (q * r)) ** 2))
    arms = 1 + 0.6 * np.cos(2 * np.arctan2(v, u) - 3 * np.log1p(np.hypot(u, v)))
    light = np.where((cls == 1)[:, None, None], light * arms, light)
    sep = rng.uniform(5.0, 12.0, n)[:, None, None]
    light += (cls == 3)[:, None, None] * np.exp(-0.5 * (((u - sep) ** 2 + v**2) / 2.5**2))
    for _ in range(3):  # irregulars: off-centre clumps
        cx, cy = (rng.uniform(-8, 8, n)[:, None, None] for _ in range(2))
        clump = np.exp(-0.5 * ((xx - cx) ** 2 + (yy - cy) ** 2) / 1.5**2)
        light += 0.6 * (cls == 4)[:, None, None] * clump
    streak = np.exp(-0.5 * ((v + rng.uniform(-10, 10, n)[:, None, None]) / 0.8) ** 2)
    light = np.where((cls == 5)[:, None, None], 0.3 * light + streak, light)
    red = np.isin(cls, (0, 2))
    colour = np.where(red[:, None], [2.5, 1.0, 0.4, 0.1, 0.0], [1.2, 0.5, 0.2, 0.05, 0.0])
    colour = colour + z[:, None] * np.array([2.0, 1.5, 1.0, 0.5, 0.0])
    total = 10 ** rng.uniform(0.5, 2.0, n)[:, None] * 10 ** (-0.4 * colour)  # (n, 5) nanomaggies
    profile = light / light.sum((1, 2), keepdims=True)
    images = total[:, :, None, None] * profile[:, None] + rng.normal(0, 0.01, (n, 5, size, size))
    phot_err = 0.05 * total + 0.02
    has_spec = rng.random(n) < spectra_fraction
    k = int(has_spec.sum())
    wave = np.full((n, len(SDSS_LOG_WAVE)), np.nan, np.float32)
    flux, ivar = wave.copy(), np.zeros_like(wave)
    lam = 10**SDSS_LOG_WAVE
    cont = total[has_spec, 2:3] * (lam / 6000.0) ** np.where(red[has_spec], 1.0, -1.0)[:, None]
    strength = np.where(red[has_spec], 0.3, 3.0)[:, None] * total[has_spec, 2:3]
    centres = LINES[None, :] * (1 + z[has_spec, None])  # (k, 4)
    lines = np.exp(-0.5 * ((lam[None, :, None] - centres[:, None, :]) / 3.0) ** 2).sum(-1)
    sigma = np.broadcast_to(0.1 * total[has_spec, 2:3], (k, len(lam)))
    wave[has_spec] = lam
    flux[has_spec] = cont + strength * lines + rng.normal(0, 1, (k, len(lam))) * sigma
    ivar[has_spec] = 1.0 / sigma**2
    arrays = GalaxyArrays(
        images=images.astype(np.float32),
        has_image=np.ones(n, bool),
        wavelength=wave,
        flux=flux,
        ivar=ivar,
        has_spectrum=has_spec,
        phot_flux=total + rng.normal(0, 1, total.shape) * phot_err,
        phot_ivar=1.0 / phot_err**2,
        has_photometry=np.ones(n, bool),
    )
    return arrays, {"morphology": cls, "redshift": z}


class BaalNetwork(nn.Module):
    """A trunk, dropout on its latents and point heads at the fitted posterior mean.

    Takes the ModelInputs fields as a dict of tensors (BaaL replicates tensors, not dataclasses)
    and returns one (n, K') tensor per task, which ModelWrapper stacks to (n, K', T).
    """

    def __init__(self, model: GalaxyModel, trunk: nn.Module, *, dropout: float) -> None:
        super().__init__()
        self.trunk = trunk
        self.dropout = nn.Dropout(dropout)
        self.tasks = model.config.tasks
        for t in self.tasks:
            ls = model.posterior_.loc_scale(t.name)
            self.register_buffer(f"weight_{t.name}", ls["weight"][0].detach()[None].clone())
            self.register_buffer(f"bias_{t.name}", ls["bias"][0].detach()[None].clone())

    def forward(self, data: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        latents, mask = self.trunk(ModelInputs(**data))
        latents = self.dropout(latents)  # (n, E, D)
        out = []
        for t in self.tasks:
            w, b = getattr(self, f"weight_{t.name}"), getattr(self, f"bias_{t.name}")
            out.append(combine(t, expert_outputs(latents, w, b), mask)[:, 0])  # (n, K')
        return out


def tensors(model: GalaxyModel, batch: GalaxyArrays) -> dict[str, torch.Tensor]:
    """Normalised inputs of a batch as a dict of tensors (the form ModelWrapper replicates)."""
    return dict(as_tensors(batch, n_bands=model.n_bands_, n_phot=model.n_phot_).__dict__)


@contextmanager
def contiguous_images(model: GalaxyModel) -> Iterator[None]:
    """Temporarily switch the image CNN from channels_last to the default NCHW layout."""
    encoder = model.trunk_.encoders["image"]
    before, encoder.channels_last = encoder.channels_last, False
    try:
        yield
    finally:
        encoder.channels_last = before


def methods(
    model: GalaxyModel,
    pool: GalaxyArrays,
    *,
    samples: int,
    batch_size: int,
    baal_batch_size: int,
    dropout: float,
    trunk_dropout: bool,
) -> dict[str, Callable[[GalaxyArrays], object]]:
    """{name: run(arrays)} for every timed method; each returns its posterior samples
    (``galactive_stored`` gets ``pool`` already in the network's form).

    BaaL's network is the fitted trunk with dropout before the head; with ``trunk_dropout``
    also ``baal_trunkdrop_*``: the same trunk architecture built with dropout in every encoder
    (as MC-dropout CNNs usually are; fresh weights, which do not change the cost).
    """

    def ours(arrays: GalaxyArrays) -> object:
        return model.predict(arrays, samples=samples, batch_size=batch_size)

    stored_pool = pool.stretched()  # what the array store now holds for the network

    def ours_stored(arrays: GalaxyArrays) -> object:
        return ours(stored_pool if arrays is pool else arrays.stretched())

    def ours_nchw(arrays: GalaxyArrays) -> object:
        with contiguous_images(model):
            return ours(arrays)

    def normalise(arrays: GalaxyArrays) -> object:
        return [tensors(model, b) for b in arrays.batches(batch_size)]

    floor_net = BaalNetwork(model, copy.deepcopy(model.trunk_), dropout=dropout).eval()

    @torch.no_grad()
    def floor(arrays: GalaxyArrays) -> object:
        return [floor_net(tensors(model, b)) for b in arrays.batches(batch_size)]

    def floor_stored(arrays: GalaxyArrays) -> object:
        return floor(stored_pool if arrays is pool else arrays.stretched())

    Run = Callable[[GalaxyArrays], object]

    def wrapper(replicate: bool, cached: bool, trunk: nn.Module) -> Run:
        net: nn.Module = MCDropoutModule(BaalNetwork(model, trunk, dropout=dropout))
        if cached:
            net = MCCachingModule(net)
        args = TrainingArgs(batch_size=baal_batch_size, use_cuda=False, workers=0)
        args.replicate_in_memory = replicate
        mw = ModelWrapper(net, args)
        mw.eval()

        def run(arrays: GalaxyArrays) -> object:
            out = []
            for b in arrays.batches(baal_batch_size):
                pred = mw.predict_on_batch(tensors(model, b), iterations=samples)
                out.append([p.numpy() for p in pred])  # [(n, K', T)] as predict_on_dataset
            return out

        return run

    runs = {
        "galactive": ours,
        "galactive_stored": ours_stored,
        "galactive_nchw": ours_nchw,
        "deterministic": floor,
        "deterministic_stored": floor_stored,
        "normalise_only": normalise,
    }
    for mode, replicate, cached in (("replicate", True, False), ("loop", False, False)):
        runs[f"baal_{mode}"] = wrapper(replicate, cached, copy.deepcopy(model.trunk_))
    runs["baal_cached"] = wrapper(False, True, copy.deepcopy(model.trunk_))
    if trunk_dropout:
        widths = {"n_bands": model.n_bands_, "n_phot": model.n_phot_}
        for mode, replicate in (("replicate", True), ("loop", False)):
            trunk = Trunk(model.config, **widths, dropout=dropout)
            runs[f"baal_trunkdrop_{mode}"] = wrapper(replicate, False, trunk)
    return runs


def time_methods(
    runs: dict[str, Callable[[GalaxyArrays], object]], arrays: GalaxyArrays, *, repeats: int
) -> dict[str, dict[str, list[float]]]:
    """{method: {"wall": galaxies/s, "cpu": galaxies per process-CPU-second}}, ``repeats`` times.

    The order of methods rotates on every repeat. CPU time counts every thread of this process,
    so on a machine shared with other jobs its ratios are steadier than wall-clock ones.
    """
    names = list(runs)
    for name in names:  # warm-up: allocator, thread pool, lazy inits
        runs[name](arrays.subset(slice(0, 16)))
    rates: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []} for k in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            wall, cpu = time.perf_counter(), time.process_time()
            runs[name](arrays)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rates[name]["wall"].append(len(arrays) / wall)
            rates[name]["cpu"].append(len(arrays) / cpu)
            print(
                f"  repeat {r + 1}/{repeats} {name:24s} {len(arrays) / wall:8.1f} galaxies/s"
                f" (wall), {len(arrays) / cpu:8.1f} per CPU-second",
                flush=True,
            )
    return rates


def summarise(rates: dict[str, dict[str, list[float]]]) -> dict[str, object]:
    """Medians and spread per method; galactive's ratio to every other method."""
    out: dict[str, object] = {}
    for name, r in rates.items():
        out[name] = {
            clock: {"median": statistics.median(v), "min": min(v), "max": max(v), "runs": v}
            for clock, v in r.items()
        }
    ours = rates["galactive"]
    ratios = {}
    for name, r in rates.items():
        if name == "galactive":
            continue
        per_repeat = [g / b for g, b in zip(ours["wall"], r["wall"], strict=True)]
        ratios[name] = {
            "wall_median_ratio": statistics.median(ours["wall"]) / statistics.median(r["wall"]),
            "cpu_median_ratio": statistics.median(ours["cpu"]) / statistics.median(r["cpu"]),
            "wall_per_repeat": per_repeat,
        }
    baal = [k for k in rates if k.startswith("baal")]
    best = max(baal, key=lambda k: statistics.median(rates[k]["wall"]))
    return {"throughput": out, "galactive_over": ratios, "baal_best": best}


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = parser(__doc__)
    p.add_argument("--samples", type=int, default=32, help="T, posterior samples per galaxy")
    p.add_argument("--galaxies", type=int, default=128, help="galaxies per timed run")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=256, help="ours and the floor")
    p.add_argument(
        "--baal-batch-size", type=int, default=128, help="BaaL's fastest of 8/32/128 here"
    )
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--trunk-dropout", action="store_true", help="add baal_trunkdrop_* runs")
    p.add_argument("--train", type=int, default=800, help="labelled galaxies for the brief fit")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--train-batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--rank-galaxies", type=int, default=2000)
    p.add_argument("--reference-samples", type=int, default=4096)
    p.add_argument("--rank-seeds", type=int, default=5)
    p.add_argument("--spectra-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--plain-malloc", action="store_true",
        help="leave glibc's malloc as it is (the CLI keeps freed memory for reuse: "
        "app.services.compute.keep_freed_memory)",
    )  # fmt: skip
    p.add_argument("--json", help="write the results here")
    a = p.parse_args(argv)
    kept = False if a.plain_malloc else keep_freed_memory()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    info = machine(a.threads) | {"baal": metadata.version("baal"), "kept_freed_memory": kept}
    print(json.dumps(info))

    mix = a.spectra_fraction
    train, labels = mock_galaxies(a.train, rng, spectra_fraction=mix)
    pool, _ = mock_galaxies(a.galaxies, rng, spectra_fraction=mix)
    rank_pool, rank_labels = mock_galaxies(a.rank_galaxies, rng, spectra_fraction=mix)
    config = ModelConfig(
        tasks=TASKS, epochs=a.epochs, batch_size=a.train_batch_size, lr=a.lr, seed=a.seed
    )
    start = time.perf_counter()
    model = GalaxyModel(config).fit(train, labels)
    fit_s = time.perf_counter() - start
    post = model.predict(rank_pool, samples=a.samples)
    predicted = post.probs["morphology"].mean(1).argmax(1)
    accuracy = float((predicted == rank_labels["morphology"]).mean())
    bald = classification_uncertainty(post.probs["morphology"])["epistemic"]
    print(f"fit {fit_s:.0f} s; held-out morphology accuracy {accuracy:.3f}", flush=True)

    runs = methods(
        model,
        pool,
        samples=a.samples,
        batch_size=a.batch_size,
        baal_batch_size=a.baal_batch_size,
        dropout=a.dropout,
        trunk_dropout=a.trunk_dropout,
    )
    result: dict[str, object] = {"machine": info, "arguments": vars(a), "fit_seconds": fit_s}
    result |= summarise(time_methods(runs, pool, repeats=a.repeats))
    rho, _ = bald_agreement(
        lambda samples, seed: model.predict(rank_pool, samples=samples, seed=seed),
        task="morphology",
        samples=a.samples,
        reference=a.reference_samples,
        seeds=a.rank_seeds,
    )
    result["heldout_morphology_accuracy"] = accuracy
    result["heldout_bald_percentiles_10_50_90"] = np.percentile(bald, [10, 50, 90]).tolist()
    result["bald_spearman"] = {"per_seed": rho, "min": min(rho), "median": statistics.median(rho)}
    result["load_average_1min_end"] = os.getloadavg()[0]

    print(f"\nT={a.samples}, {a.galaxies} galaxies, {a.threads} threads, median of {a.repeats}:")
    for name, s in result["throughput"].items():
        w, c = s["wall"], s["cpu"]
        line = f"  {name:24s} {w['median']:8.1f} galaxies/s (wall; {w['min']:.1f}-{w['max']:.1f})"
        line += f" {c['median']:8.1f} per CPU-s"
        if name in result["galactive_over"]:
            r = result["galactive_over"][name]
            line += f"  galactive/this {r['wall_median_ratio']:6.2f}x wall"
            line += f" ({min(r['wall_per_repeat']):.1f}-{max(r['wall_per_repeat']):.1f}),"
            line += f" {r['cpu_median_ratio']:6.2f}x CPU"
        print(line)
    wall = {k: v["wall"]["median"] for k, v in result["throughput"].items()}
    best = result["baal_best"]
    print(f"best BaaL mode: {best}")
    print(
        f"galactive_stored / {best} {wall['galactive_stored'] / wall[best]:.1f}x; "
        f"deterministic_stored / {best} {wall['deterministic_stored'] / wall[best]:.1f}x "
        "(what one unfused pass of every layer per galaxy allows)"
    )
    print(
        f"BALD Spearman, T={a.samples} vs T={a.reference_samples}: "
        f"median {statistics.median(rho):.3f}, min {min(rho):.3f} over {len(rho)} seeds"
    )
    write_json(a.json, result)
    return result


if __name__ == "__main__":
    main()
