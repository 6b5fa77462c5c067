"""Which torch device a fit or a trunk pass runs on: CPU by default, a GPU when asked for.

Only the trunk and the training step move: the heads' T draws at prediction time are a few
small matrix products, made on the CPU so that a posterior's draws do not depend on the
device (their generator is a CPU one) and a model saved from a GPU fit loads anywhere.
"""

from __future__ import annotations

import torch

DEVICES = ("cpu", "cuda", "cuda:N", "mps", "auto")


def resolve_device(name: str | torch.device | None) -> torch.device:
    """'cpu' (None), 'cuda', 'cuda:N', 'mps' or 'auto' (the first GPU there is, else the CPU)
    -> a torch.device that this machine has; ValueError saying what is missing otherwise."""
    if isinstance(name, torch.device):
        name = str(name)
    name = (name or "cpu").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"unknown device {name!r}: use one of {', '.join(DEVICES)}") from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            built = "a CUDA build" if torch.version.cuda else "a CPU-only build"
            raise ValueError(
                f"device {name!r}: no CUDA GPU is usable here (torch {torch.__version__}, "
                f"{built}); use --device cpu"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(f"device {name!r}: this machine has {count} CUDA device(s)")
    elif device.type == "mps" and not _mps_available():
        raise ValueError(f"device {name!r}: Apple's MPS is not available here; use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {name!r}: use one of {', '.join(DEVICES)}")
    return device


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's parameters (or buffers); the CPU for one that has neither."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
