"""The rare-class view of a classification: each class's recall and precision on the validation
split with a 68% interval, and the plain sentence about the rarest class. Accuracy hides a
class that is 5% of the galaxies (mergers in the mock); this is where a labeler sees it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.services.reports.calibration_plots import binomial_interval

FEW = 10  # below this many validation galaxies a class's recall is a guess, and we say so


@dataclass(frozen=True)
class ClassRow:
    """One class on the validation split: n galaxies of it, ``found`` of them predicted as it,
    ``predicted`` galaxies predicted as it; recall's 68% Wilson interval."""

    name: str
    n: int
    found: int
    predicted: int
    recall_low: float
    recall_high: float

    @property
    def recall(self) -> float | None:
        return self.found / self.n if self.n else None

    @property
    def precision(self) -> float | None:
        return self.found / self.predicted if self.predicted else None


def class_rows(confusion: np.ndarray, classes: Sequence[str]) -> list[ClassRow]:
    """(C, C) counts, row = true class, column = predicted -> a row per class."""
    confusion = np.asarray(confusion, np.int64)
    n, found, predicted = confusion.sum(1), np.diag(confusion), confusion.sum(0)
    low, high = binomial_interval(found, n)
    return [
        ClassRow(name, int(n[c]), int(found[c]), int(predicted[c]), float(low[c]), float(high[c]))
        for c, name in enumerate(classes)
    ]


def rare_class_sentence(rows: Sequence[ClassRow]) -> str | None:
    """How the model does on the class with the fewest validation galaxies, in words, after
    the classes with none (whose recall nobody knows yet); None when no class has any."""
    present = [r for r in rows if r.n]
    if not present:
        return None
    absent = [r.name for r in rows if not r.n]
    rare = min(present, key=lambda r: r.n)
    total = sum(r.n for r in rows)
    text = (
        f"No validation galaxy is labelled {' or '.join(absent)} yet, so how the model does "
        "on them is unknown. "
        if absent
        else ""
    )
    text += (
        f"The rarest class is {rare.name}: {rare.n} of {total} validation galaxies "
        f"({rare.n / total:.0%}). The model finds {rare.found} of them (recall "
        f"{rare.recall:.2f}, 68% interval {rare.recall_low:.2f}–{rare.recall_high:.2f})"
    )
    if rare.predicted:
        text += (
            f"; precision {rare.precision:.2f} ({rare.found} right of the {rare.predicted} "
            f"it calls {rare.name})."
        )
    else:
        text += f" and calls no galaxy {rare.name}."
    if rare.n < FEW:
        text += f" Fewer than {FEW} validation galaxies: label more before trusting this."
    return text
