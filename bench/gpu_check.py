"""The GPU path, checked on a machine that has one: a fit and a trunk pass on ``--device``
against the same on the CPU, on a mock survey made here.

It fits the survey's model from its truth on the CPU and on the device (same seed: the fits
differ in floating point, so their validation metrics are compared, not their weights), then
predicts the whole pool with the CPU-fitted model's trunk on each device: those posteriors
must agree within float tolerance. Seconds are one run each (a first-touch check, not a
benchmark), after a warm-up pass on the device.

    python -m bench.gpu_check --home /tmp/gpu --n 2000 --device cuda --json OUT.json
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import torch
from sqlalchemy import select

from app.config import resolve
from app.services.data.arrays import load_arrays, survey_refs
from app.services.models.new_version import train
from app.services.models.versions import load_version
from bayes.calibrated import CalibratedModel
from bayes.data import GalaxyArrays
from bayes.device import resolve_device
from bayes.predict import Posterior
from bench.common import machine, parser, write_json
from storage.db import session_scope
from storage.models import ModelVersion

# float32 on two devices: different kernels and summation orders, not different models
ATOL = 1e-3


def _timed_predict(
    model: CalibratedModel, arrays: GalaxyArrays, device: str
) -> tuple[Posterior, float]:
    """The base model's posterior of ``arrays`` with its trunk on ``device``; seconds."""
    model.base.to(device)
    model.base.predict(arrays.subset(np.arange(min(len(arrays), 256))))  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    posterior = model.base.predict(arrays)
    return posterior, time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = parser(__doc__)
    p.add_argument("--home", required=True)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--device", default="cuda")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--min-steps", type=int, default=0)
    p.add_argument("--json")
    a = p.parse_args(argv)
    device = str(resolve_device(a.device))
    galactive = [sys.executable, "-c", "from app.cli import main; main()", "--home", a.home]
    subprocess.run([*galactive, "init"], check=True)
    subprocess.run([*galactive, "mock", "--n", str(a.n), "--seed", "1"], check=True)
    settings = resolve(None, a.home)
    fits = {}
    for where in ("cpu", device):
        result = train(
            settings, "mock", source="truth", epochs=a.epochs, min_steps=a.min_steps, device=where
        )
        fits[where] = {
            "version": result.version_id,
            "fit_seconds": result.fitted.fit_seconds,
            "morphology_accuracy": result.fitted.validation["morphology"]["accuracy"],
            "redshift_sigma_nmad": result.fitted.validation["redshift"]["sigma_nmad"],
            "healthy": result.fitted.health.ok,
        }
        print(where, fits[where], flush=True)
    engine = settings.engine()
    with session_scope(engine) as session:
        refs = survey_refs(session, "mock")
        checkpoint = session.scalar(
            select(ModelVersion.checkpoint).where(ModelVersion.id == fits["cpu"]["version"])
        )
    engine.dispose()
    arrays = load_arrays(settings.store(), refs, np.arange(len(refs)), network=True)
    model = load_version(settings.home, checkpoint)
    cpu, cpu_s = _timed_predict(model, arrays, "cpu")
    dev, dev_s = _timed_predict(model, arrays, device)
    diffs = {f"probs.{k}": float(np.abs(v - dev.probs[k]).max()) for k, v in cpu.probs.items()}
    diffs |= {f"loc.{k}": float(np.abs(v - dev.loc[k]).max()) for k, v in cpu.loc.items()}
    result = {
        "machine": machine(torch.get_num_threads()),
        "device": device,
        "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None,
        "galaxies": len(refs),
        "fits": fits,
        "predict_galaxies_per_s": {"cpu": len(refs) / cpu_s, device: len(refs) / dev_s},
        "max_abs_diff": diffs,
        "agree": all(d <= ATOL for d in diffs.values()),
    }
    print(result, flush=True)
    write_json(a.json, result)
    if not result["agree"]:
        raise SystemExit(f"the {device} posterior differs from the CPU's beyond {ATOL}: {diffs}")
    return result


if __name__ == "__main__":
    main()
