"""The image encoder's inference with its channels_last GELU and max-pool against the same
encoder built from PyTorch's ``nn.GELU`` and ``nn.MaxPool2d``, interleaved, same weights.

PyTorch 2.13's CPU GELU takes a slower path for a channels_last tensor, and its channels_last
max-pool is slower than two element-wise maxima over the same memory
(``bayes/encoders/image.py``). Reports galaxies/s (median over repeats), the ratio per repeat,
and the largest difference of the latents.

    .venv/bin/python -m bench.image_layers --json OUT.json
"""

from __future__ import annotations

import copy
import statistics
import time

import torch
from torch import nn

from app.services.compute import keep_freed_memory
from bayes.encoders.image import GELU, ImageEncoder, MaxPool2
from bayes.latents import TRUNK_CHUNK
from bench.common import machine, parser, run_options, write_json


def torch_layers(encoder: ImageEncoder) -> ImageEncoder:
    """A copy of ``encoder`` with PyTorch's own GELU and 2x2 ceil-mode max-pool."""
    legacy = copy.deepcopy(encoder)
    for i, layer in enumerate(legacy.features):
        if isinstance(layer, GELU):
            legacy.features[i] = nn.GELU()
        elif isinstance(layer, MaxPool2):
            legacy.features[i] = nn.MaxPool2d(2, ceil_mode=True)
    return legacy


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = parser(__doc__)
    p.add_argument("--galaxies", type=int, default=512)
    p.add_argument("--size", type=int, default=64, help="cutout side, pixels")
    p.add_argument("--bands", type=int, default=5)
    p.add_argument("--channels", default="16,32,64", help="the product's default")
    p.add_argument("--repeats", type=int, default=7)
    run_options(p, threads=2)
    a = p.parse_args(argv)
    keep_freed_memory()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    channels = tuple(int(c) for c in a.channels.split(","))
    ours = ImageEncoder(a.bands, 64, channels=channels).eval()
    encoders = {"torch_layers": torch_layers(ours), "galactive": ours}
    images = torch.randn(a.galaxies, a.bands, a.size, a.size)

    def run(encoder: ImageEncoder) -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat([encoder(c) for c in images.split(TRUNK_CHUNK)])

    diff = float((run(ours) - run(encoders["torch_layers"])).abs().max())
    seconds: dict[str, list[float]] = {name: [] for name in encoders}
    for r in range(a.repeats):
        for name, encoder in encoders.items():
            start = time.perf_counter()
            run(encoder)
            seconds[name].append(time.perf_counter() - start)
        ratio = seconds["torch_layers"][-1] / seconds["galactive"][-1]
        print(f"repeat {r + 1}/{a.repeats}: ratio {ratio:.2f}", flush=True)
    rates = {name: a.galaxies / statistics.median(s) for name, s in seconds.items()}
    ratios = [t / g for t, g in zip(seconds["torch_layers"], seconds["galactive"], strict=True)]
    result = {
        "machine": machine(a.threads),
        "arguments": vars(a),
        "galaxies_per_s": rates,
        "ratio_per_repeat": ratios,
        "ratio_median": statistics.median(ratios),
        "max_abs_latent_difference": diff,
    }
    print(
        f"galaxies/s: torch layers {rates['torch_layers']:.0f}, galactive {rates['galactive']:.0f};"
        f" ratio median {result['ratio_median']:.2f} ({min(ratios):.2f}-{max(ratios):.2f});"
        f" latents differ by <= {diff:.1e}"
    )
    write_json(a.json, result)
    return result


if __name__ == "__main__":
    main()
