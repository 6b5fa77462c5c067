"""Configuration of a Galactive model: its tasks, inputs, fusion and training."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from bayes.data import MODALITIES

Kind = Literal["categorical", "dirichlet_multinomial", "gaussian", "student_t"]
# The one set of fit defaults that train, retrain, evaluate and experiment share (they had four,
# so the same model was not the same fit in each). Epochs are a ceiling in effect: the fit keeps
# its best epoch on the validation split. The step floor raises the epochs of small labelled
# sets: 200 image galaxies at 40 epochs (280 steps) reach accuracy 0.47, with 1700 steps 0.75
# (bench/step_floor.py, docs/experiments.md). 40 epochs, with the weights' moving average
# (ModelConfig.average), took the real SDSS full-pool fit from σ_NMAD 13.02-13.46e-3 at 20 to
# 12.58-12.73e-3 over three seeds (docs/real_data.md).
EPOCHS = 40
MIN_STEPS = 1700
# A warm round (retrain, warm experiments) starts from a fitted model: fewer steps suffice,
# but not the handful a few epochs of a small labelled set give.
WARM_EPOCHS = 5
WARM_MIN_STEPS = 600
CLASSIFICATION = ("categorical", "dirichlet_multinomial")
REGRESSION = ("gaussian", "student_t")


@dataclass(frozen=True)
class TaskConfig:
    """One prediction task.

    kind: categorical (one label per galaxy), dirichlet_multinomial (vote counts over classes),
    gaussian or student_t (heteroscedastic regression). transform: the regression is fitted to
    log1p(y) (redshift: log(1+z)) or y itself (log SFR). df: Student-t degrees of freedom.
    """

    name: str
    kind: Kind
    classes: tuple[str, ...] = ()
    transform: Literal["identity", "log1p"] = "identity"
    df: float = 5.0

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"task name must be an identifier, got {self.name!r}")
        if self.kind not in CLASSIFICATION + REGRESSION:
            raise ValueError(f"task {self.name}: unknown kind {self.kind!r}")
        if self.kind in CLASSIFICATION and len(self.classes) < 2:
            raise ValueError(f"task {self.name}: needs >= 2 classes, got {self.classes!r}")
        if self.kind in REGRESSION and self.classes:
            raise ValueError(f"task {self.name}: a regression has no classes")
        if self.transform not in ("identity", "log1p"):
            raise ValueError(f"task {self.name}: unknown transform {self.transform!r}")
        if self.df <= 2:
            raise ValueError(f"task {self.name}: df must be > 2 (finite variance), got {self.df}")

    @property
    def is_classification(self) -> bool:
        return self.kind in CLASSIFICATION

    @property
    def out_dim(self) -> int:
        """Head outputs per expert: one per class, or (loc, raw scale)."""
        return len(self.classes) if self.is_classification else 2


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a model before it sees data (input widths are learned at fit).

    fusion: early (data-level), feature (concatenated latents) or late (product of experts).
    modality_dropout: probability of hiding each present modality of a training galaxy (one is
    always kept). prior_scale: std of the Normal prior on head weights. trunk_prior_scale: std of
    a zero-mean Gaussian prior on trunk weights (None: maximum likelihood; a coupled L2 penalty
    under Adam shrinks weakly-driven weights such as LayerNorm gains and stalled learning in our
    tests). anchor_scale: std of the Gaussian prior tying the trunk to the previous round's
    weights in a ``update="prior"`` sequential fit. init_scale: initial
    posterior std of head weights. average: decay of the exponential moving average of the
    weights that a fit validates and keeps (0: the last step's weights; see
    :class:`bayes.inference.WeightAverage`).
    """

    tasks: tuple[TaskConfig, ...]
    modalities: tuple[str, ...] = MODALITIES
    fusion: Literal["early", "feature", "late"] = "feature"
    latent_dim: int = 32
    image_channels: tuple[int, ...] = (16, 32, 64)
    spectrum_patch: int = 8
    spectrum_dim: int = 32
    spectrum_layers: int = 1
    spectrum_heads: int = 2
    early_spectrum_bins: int = 32
    early_log_wave_range: tuple[float, float] = (3.5, 4.05)
    channels_last: bool = True
    modality_dropout: float = 0.25
    prior_scale: float = 1.0
    trunk_prior_scale: float | None = None
    anchor_scale: float = 0.1
    init_scale: float = 0.01
    epochs: int = EPOCHS
    min_steps: int = 0  # the library fits what it is told; the app passes MIN_STEPS
    batch_size: int = 32
    lr: float = 3e-3
    clip_norm: float = 5.0
    average: float = 0.998
    seed: int = 0

    def __post_init__(self) -> None:
        names = [t.name for t in self.tasks]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"tasks must be non-empty with unique names, got {names}")
        bad = [m for m in self.modalities if m not in MODALITIES]
        if bad or not self.modalities or len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"modalities must be distinct names from {MODALITIES}, got {bad}")
        if self.fusion not in ("early", "feature", "late"):
            raise ValueError(f"unknown fusion {self.fusion!r}")
        if not 0 <= self.modality_dropout < 1:
            raise ValueError(f"modality_dropout must be in [0, 1), got {self.modality_dropout}")
        positive = ("latent_dim", "spectrum_patch", "batch_size", "early_spectrum_bins")
        for name in ("epochs", "min_steps", *positive):
            if getattr(self, name) < (1 if name in positive else 0):
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("prior_scale", "trunk_prior_scale", "anchor_scale", "init_scale", "lr"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.clip_norm <= 0:
            raise ValueError(f"clip_norm must be > 0, got {self.clip_norm}")
        if not 0 <= self.average < 1:
            raise ValueError(f"average must be in [0, 1), got {self.average}")

    def epochs_for(self, n: int) -> int:
        """Epochs of a fit on ``n`` galaxies: ``epochs``, raised to give ``min_steps`` steps."""
        per_epoch = max(-(-n // self.batch_size), 1)
        return max(self.epochs, -(-self.min_steps // per_epoch))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["tasks"] = tuple(TaskConfig(**{**t, "classes": tuple(t["classes"])}) for t in d["tasks"])
        for key in ("modalities", "image_channels", "early_log_wave_range"):
            d[key] = tuple(d[key])
        return cls(**d)

    def architecture(self) -> dict[str, Any]:
        """The fields that fix parameter shapes; a warm start or prior must agree on these."""
        keep = ("tasks", "modalities", "fusion", "latent_dim", "image_channels", "spectrum_patch")
        keep += ("spectrum_dim", "spectrum_layers", "spectrum_heads", "early_spectrum_bins")
        return {k: v for k, v in self.to_dict().items() if k in keep}
