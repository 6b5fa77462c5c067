"""A trunk's latents, computed once and reused: heads-only fits and heads-only rescoring.

The trunk is a deterministic point estimate, so the latents it gives a galaxy change only
when its weights do. A heads-only update keeps the trunk and refits the Bayesian heads on the
training galaxies' latents; rescoring the pool after it needs only the heads, if the caller
kept the pool's latents under the trunk's :func:`trunk_digest`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from bayes.data import MODALITIES, GalaxyArrays, as_tensors
from bayes.device import module_device
from bayes.layers.fusion import Trunk

if TYPE_CHECKING:
    from bayes.model import GalaxyModel

# Galaxies per trunk pass: a chunk's activations stay in cache. On 2 cores, T = 32, predict ran
# at 1950 galaxies/s with chunks of 64 and 950 with 512 (docs/benchmarks.md, issue 21). A GPU
# wants large batches instead: there a chunk is GPU_CHUNK galaxies.
TRUNK_CHUNK = 64
GPU_CHUNK = 1024


@dataclass(frozen=True)
class Latents:
    """The trunk's output for N galaxies: latents (N, E, D) float32 and expert mask (N, E)
    bool; present (N, 3) bool, the galaxies' modalities, where known (training needs them for
    modality dropout; rescoring does not)."""

    latents: torch.Tensor
    mask: torch.Tensor
    present: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.latents.shape[0]

    def index(self, idx: torch.Tensor | slice) -> Latents:
        """The galaxies at ``idx``."""
        present = None if self.present is None else self.present[idx]
        return Latents(self.latents[idx], self.mask[idx], present)

    def to(self, device: torch.device) -> Latents:
        """Latents and masks on ``device`` (a tensor already there is not copied)."""
        present = None if self.present is None else self.present.to(device)
        return Latents(self.latents.to(device), self.mask.to(device), present)

    def batches(self, size: int) -> Iterator[Latents]:
        """Consecutive subsets of at most ``size`` galaxies, in order."""
        for start in range(0, len(self), size):
            yield self.index(slice(start, start + size))

    @classmethod
    def from_numpy(cls, latents: np.ndarray, mask: np.ndarray) -> Latents:
        """Latents read back from a cache: (N, E, D) float32 and (N, E) bool arrays."""
        return cls(torch.from_numpy(np.ascontiguousarray(latents, np.float32)),
                   torch.from_numpy(np.ascontiguousarray(mask, bool)))  # fmt: skip


@torch.inference_mode()
def encode(trunk: Trunk, arrays: GalaxyArrays, *, n_bands: int, n_phot: int) -> Latents:
    """The trunk's latents of ``arrays``, on the CPU, computed on the trunk's device in chunks
    of a fixed size (so a galaxy's latent never depends on how the caller batched it)."""
    device = module_device(trunk)
    size = TRUNK_CHUNK if device.type == "cpu" else GPU_CHUNK
    parts = [
        trunk(as_tensors(chunk, n_bands=n_bands, n_phot=n_phot).to(device))
        for chunk in arrays.batches(size)
    ] or [trunk(as_tensors(arrays, n_bands=n_bands, n_phot=n_phot).to(device))]
    latents, mask = (torch.cat(p).cpu() for p in zip(*parts, strict=True))
    return Latents(latents, mask, torch.from_numpy(arrays.present()))


def model_latents(
    model: GalaxyModel, arrays: GalaxyArrays | Iterable[GalaxyArrays], *, batch_size: int = 1024
) -> Iterator[Latents]:
    """A fitted model's latents, batch by batch (arrays are cut into ``batch_size`` batches)."""
    batches = arrays.batches(batch_size) if isinstance(arrays, GalaxyArrays) else arrays
    for batch in batches:
        yield encode(model.trunk_, batch, n_bands=model.n_bands_, n_phot=model.n_phot_)


class FrozenTrunk(nn.Module):
    """Stands in for a :class:`Trunk` whose weights are fixed: it returns the latents it is
    given. Modality dropout still hides a late-fusion expert (each modality is its own
    expert, so hiding it is masking it); feature and early fusion mix the modalities inside
    the trunk, so there a frozen trunk fits the heads without dropout."""

    def __init__(self, trunk: Trunk) -> None:
        super().__init__()
        self.fusion, self.columns = trunk.fusion, list(trunk.columns)
        used = torch.tensor([trunk.uses[m] for m in MODALITIES])
        self.register_buffer("used", used, persistent=False)

    def usable(self, present: torch.Tensor) -> torch.Tensor:
        """(N, 3) modality mask with the modalities the trunk does not use switched off."""
        return present & self.used

    def forward(
        self, inputs: Latents, present: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> latents (N, E, D) and expert mask (N, E), with dropped experts masked."""
        mask = inputs.mask
        if present is not None and self.fusion == "late":
            always = mask.new_ones(len(inputs), 1)
            mask = mask & torch.cat([always, present[:, self.columns]], 1)
        return inputs.latents, mask


def trunk_digest(model: GalaxyModel) -> str:
    """SHA-256 of what fixes a fitted model's latents: the trunk's weights, its input widths
    and the architecture's trunk fields. Two versions with the same digest give every galaxy
    the same latents, so one cache of the pool's latents serves both."""
    h = hashlib.sha256()
    shape = {k: v for k, v in model.config.architecture().items() if k != "tasks"}
    h.update(json.dumps([shape, model.n_bands_, model.n_phot_], sort_keys=True).encode())
    for name, tensor in sorted(model.trunk_.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()
