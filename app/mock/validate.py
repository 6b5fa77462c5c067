"""Check a mock survey against the SDSS main galaxy sample and draw the figures in docs/.

Usage: python -m app.mock.validate --n 2000 --seed 1 --out docs
"""

import argparse
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from astropy.visualization import make_lupton_rgb
from scipy.signal import argrelmax
from scipy.stats import gaussian_kde

from app.mock import MORPHOLOGY_CLASSES, generate_survey
from app.mock.physics import sed, spectra
from app.mock.physics.population import R_LIMIT, Population, draw_population

_EXAMPLES = 3


def density_peaks(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Positions of the local maxima of a Gaussian KDE of x on [lo, hi] (bimodality check)."""
    grid = np.linspace(lo, hi, 400)
    density = gaussian_kde(x)(grid)
    peaks = grid[argrelmax(density, order=20)[0]]
    return peaks[density[np.searchsorted(grid, peaks)] > 0.1 * density.max()]


def truth_population(n: int, seed: int, spectra_fraction: float) -> Population:
    """The same galaxies' physical truth, redrawn from their generators (cheap, no images)."""
    streams = [np.random.default_rng([seed, i]).spawn(4)[0] for i in range(n)]
    return draw_population(streams, np.arange(n), spectra_fraction)


def gri_composite(pixels: np.ndarray) -> np.ndarray:
    """An asinh (Lupton et al. 2004) colour image (H, W, 3) from ugriz pixels (5, H, W)."""
    i, r, g = pixels[3], pixels[2], pixels[1]
    return make_lupton_rgb(i * 1.0, r * 1.1, g * 1.6, minimum=-0.02, stretch=0.4, Q=8)


def run(n: int, seed: int, out: Path, workers: int) -> None:
    """Generate the survey, print the checks and write the PNGs under out/img."""
    start = time.perf_counter()
    mags, z, morph, pixels_by_class, specs, fiber_snr = [], [], [], {}, [], []
    for bundle in generate_survey(n, seed=seed, workers=workers, progress=True):
        mags.append(np.stack([bundle.galaxies.magnitudes[b] for b in "ugriz"], axis=1))
        truth = {v.task.name: v.values for v in bundle.values if v.truth_kind == "truth"}
        z.append(truth["redshift"])
        morph.append(truth["morphology"])
        for k, c in enumerate(truth["morphology"]):
            pixels_by_class.setdefault(int(c), [])
            if len(pixels_by_class[int(c)]) < _EXAMPLES:
                pixels_by_class[int(c)].append(bundle.images[0].pixels[k])
        for s in bundle.spectra:
            fiber_r = float(
                sed.filters()[2].get_ab_maggies(s.flux * spectra.FLUX_UNIT, s.wavelength)
            )
            band = (s.wavelength > 5600) & (s.wavelength < 6800) & (s.ivar > 0)
            fiber_snr.append(
                (
                    22.5 - 2.5 * np.log10(max(fiber_r * 1e9, 1e-3)),
                    np.median(s.flux[band] * np.sqrt(s.ivar[band])),
                )
            )
            if len(specs) < 40:
                specs.append(s)
    elapsed = time.perf_counter() - start
    mags, z, morph = np.concatenate(mags), np.concatenate(z), np.concatenate(morph)
    pop = truth_population(n, seed, 0.1)
    gr, ur = mags[:, 1] - mags[:, 2], mags[:, 0] - mags[:, 2]
    fiber_mag, snr = np.array(fiber_snr).T
    near19 = np.abs(fiber_mag - 19.0) < 0.25
    print(f"n = {n}, seed = {seed}, workers = {workers}: {elapsed:.1f} s")
    print(f"median z = {np.median(z):.4f}; z 5/95% = {np.percentile(z, [5, 95]).round(3)}")
    print(f"fraction r < {R_LIMIT}: {np.mean(mags[:, 2] < R_LIMIT):.4f}")
    print(
        "class fractions:",
        {c: round(float(np.mean(morph == k)), 3) for k, c in enumerate(MORPHOLOGY_CLASSES)},
    )
    print(
        f"observed g-r peaks: {density_peaks(gr, 0.0, 1.4).round(2)}; "
        f"rest g-r peaks: {density_peaks(pop.rest_gr, 0.0, 1.2).round(2)}"
    )
    print(
        f"observed u-r peaks: {density_peaks(ur, 0.5, 3.5).round(2)}; "
        f"fraction u-r > 2.22: {np.mean(ur > 2.22):.3f}"
    )
    print(
        f"spectra: {len(fiber_snr)}; median S/N per pixel (5600-6800 A) = {np.median(snr):.1f}; "
        f"at fiber r = 19 +- 0.25: {np.median(snr[near19]):.1f} (n = {near19.sum()})"
    )
    img = out / "img"
    img.mkdir(parents=True, exist_ok=True)
    _plot_redshift(z, img / "mock_redshift.png")
    _plot_colours(pop, gr, ur, img / "mock_colour_magnitude.png")
    _plot_cutouts(pixels_by_class, img / "mock_cutouts.png")
    _plot_spectrum(specs, img / "mock_spectrum.png")
    _plot_snr(fiber_mag, snr, img / "mock_spectrum_snr.png")


def _plot_redshift(z: np.ndarray, path: Path) -> None:
    """Redshift histogram with its median."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.hist(z, bins=np.arange(0, 0.4, 0.01), color="0.4")
    ax.axvline(np.median(z), color="C3", label=f"median z = {np.median(z):.3f}")
    ax.set(xlabel="redshift", ylabel="galaxies", title="mock r < 17.77 sample")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_colours(pop: Population, gr: np.ndarray, ur: np.ndarray, path: Path) -> None:
    """Observed g-r vs M_0.1r, and g-r / u-r histograms."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].scatter(pop.abs_mag, gr, s=2, c=pop.star_forming, cmap="coolwarm_r", alpha=0.6)
    axes[0].set(xlabel="$M_{0.1r} - 5\\log h$ (h = 0.7)", ylabel="observed g - r", ylim=(0, 1.4))
    axes[0].invert_xaxis()
    axes[1].hist(gr, bins=np.linspace(0, 1.4, 50), histtype="step", label="observed")
    axes[1].hist(pop.rest_gr, bins=np.linspace(0, 1.4, 50), histtype="step", label="rest frame")
    axes[1].set(xlabel="g - r")
    axes[1].legend()
    axes[2].hist(ur, bins=np.linspace(0.5, 3.5, 50), color="0.4")
    axes[2].axvline(2.22, color="C3", label="u - r = 2.22 (Strateva+01)")
    axes[2].set(xlabel="observed u - r")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_cutouts(pixels_by_class: dict[int, list[np.ndarray]], path: Path) -> None:
    """gri composites of a few galaxies of each class."""
    fig, axes = plt.subplots(_EXAMPLES, len(MORPHOLOGY_CLASSES), figsize=(12, 6.3))
    for k, name in enumerate(MORPHOLOGY_CLASSES):
        for row in range(_EXAMPLES):
            ax = axes[row, k]
            ax.axis("off")
            examples = pixels_by_class.get(k, [])
            if row < len(examples):
                ax.imshow(gri_composite(examples[row]), origin="lower")
            if row == 0:
                ax.set_title(name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_spectrum(specs: list, path: Path) -> None:
    """The highest-S/N star-forming-looking and passive-looking example spectra."""

    def halpha_ew(s):
        rest = s.wavelength / (1 + s.redshift)
        line, side = (rest > 6557) & (rest < 6572), (rest > 6605) & (rest < 6640)
        cont = np.median(s.flux[side])
        return np.sum(s.flux[line] - cont) / max(cont, 1e-3)

    ordered = sorted(specs, key=halpha_ew)
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for ax, s, label in zip(
        axes, (ordered[-1], ordered[0]), ("strongest H-alpha", "weakest H-alpha"), strict=True
    ):
        good = s.ivar > 0
        ax.plot(s.wavelength, s.flux, lw=0.5, color="0.2")
        ax.plot(s.wavelength[good], 1 / np.sqrt(s.ivar[good]), lw=0.5, color="C3", label="1 sigma")
        ax.set(
            ylabel="$f_\\lambda$ [$10^{-17}$ erg/s/cm$^2$/Å]",
            title=f"{s.source_id}, z = {s.redshift:.4f} ({label})",
        )
        ax.legend()
    axes[1].set(xlabel="vacuum wavelength [Å]")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_snr(fiber_mag: np.ndarray, snr: np.ndarray, path: Path) -> None:
    """Median S/N per pixel in 5600-6800 A against fiber r magnitude."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.scatter(fiber_mag, snr, s=5)
    ax.set(xlabel="fiber r magnitude (synthetic)", ylabel="median S/N per pixel", yscale="log")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    run(args.n, args.seed, args.out, args.workers)


if __name__ == "__main__":
    main()
