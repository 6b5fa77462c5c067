"""The uncertainty report as one self-contained HTML file: tables, and the figures inlined as
base64 PNGs, so it needs nothing from the network (the reports page's download and
``galactive report --out FILE``)."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

import numpy as np

from app.config import Settings
from app.services.data.targets import SOURCE_WORDS
from app.services.reports.figures import figures
from app.services.reports.per_class import ClassRow, class_rows, rare_class_sentence
from app.services.reports.regression_calibration import coverage_rows, summary_rows
from app.services.reports.uncertainty import ReportData, collect


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(v: object) -> str:
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            return "—"
        return html.escape(f"{v:.4g}" if isinstance(v, float) else str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:right}th{background:#f3f3f3}img{max-width:100%}figure{margin:1.5em 0}
figcaption{color:#555;font-size:90%}"""

CAPTIONS = {
    "Reliability diagram": "Accuracy per confidence bin (15 equal-width bins), with the number of "
    "validation galaxies in each bin above it and its 68% binomial (Wilson) interval; bars on "
    "the diagonal are calibrated, below it over-confident. A bin of a few galaxies says little.",
    "Confusion matrix": "Validation galaxies by true (rows) and predicted (columns) class.",
    "PIT histogram": "Probability integral transform of each known target under the predictive "
    "mixture: flat when calibrated, U-shaped when over-confident, humped when under-confident.",
    "Coverage at every nominal level": "Fraction of known targets inside the central interval "
    "of each nominal level (5%, 10%, ..., 95%, and 68%): on the diagonal when calibrated, below "
    "it when over-confident.",
    "Learning curves": "Validation metrics of each version, oldest first, with the labels it "
    "learnt from under its name. Once random-control galaxies have answers, red squares show "
    "the accuracy of the version that queued them on those labels (prequential, unbiased by the "
    "model's own picks).",
    "Embedding map": "t-SNE of the fused posterior embedding of up to 2000 galaxies.",
}


PER_CLASS_HEADER = ("class", "validation galaxies", "found", "recall", "68% interval",
                    "predicted as it", "precision")  # fmt: skip


def per_class_table(rows: Sequence[ClassRow]) -> list[tuple[object, ...]]:
    """A row per class in :data:`PER_CLASS_HEADER`'s order (the page shows the same rows)."""
    return [
        (r.name, r.n, r.found, r.recall,
         f"{r.recall_low:.2f}–{r.recall_high:.2f}" if r.n else None, r.predicted, r.precision)
        for r in rows
    ]  # fmt: skip


def _per_class(data: ReportData) -> str:
    rows = class_rows(data.confusion, data.classes)
    sentence = rare_class_sentence(rows)
    return (
        f"<h2>Per class ({html.escape(str(data.classification_task))})</h2>"
        + (f"<p>{html.escape(sentence)}</p>" if sentence else "")
        + _table(PER_CLASS_HEADER, per_class_table(rows))
    )


def render_html(data: ReportData, images: dict[str, bytes]) -> str:
    """The whole report as one HTML document: tables, and ``images`` inline as base64 PNG."""
    summary = [("survey", data.survey), ("model version", data.version),
               ("generated (UTC)", f"{data.created:%Y-%m-%d %H:%M}")]  # fmt: skip
    if len(data.probs):
        summary += [(f"{data.classification_task} validation galaxies", len(data.labels)),
                    ("accuracy", float(np.mean(data.probs.argmax(1) == data.labels))),
                    ("ECE (15 bins)", data.reliability.ece)]  # fmt: skip
    summary.append(("targets", SOURCE_WORDS.get(data.target_source, data.target_source)))
    summary += summary_rows(data.regressions)
    if data.agreement is not None:
        a = data.agreement
        summary += [(f"labeler agreement ({a.method})", a.kappa),
                    ("raw agreement", a.observed),
                    ("galaxies with several answers", a.n_galaxies),
                    ("labelers", a.n_labelers)]  # fmt: skip
    else:
        summary.append(("labeler agreement", "no galaxy has answers from two labelers yet"))
    versions_table = _table(
        ["version", "labels", "accuracy", "ECE", "σ_NMAD", "68% cov.",
         "random-control accuracy", "control labels"],
        [(p.name, p.n_labels, p.accuracy, p.ece, p.sigma_nmad, p.coverage_68,
          p.control_accuracy, p.n_control) for p in data.points],
    )  # fmt: skip
    figs = "".join(
        f"<figure><h2>{html.escape(title)}</h2>"
        f'<img alt="{html.escape(title)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"/>'
        f"<figcaption>{html.escape(CAPTIONS.get(title, ''))}</figcaption></figure>"
        for title, png in images.items()
    )
    per_class = _per_class(data) if len(data.probs) else ""
    coverage = (
        "<h2>Interval coverage at every nominal level</h2>"
        + _table(["nominal", *(r.task for r in data.regressions)], coverage_rows(data.regressions))
        if data.regressions
        else ""
    )
    title = f"Galactive uncertainty report: {data.survey} / {data.version}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        + _table(["", ""], summary)
        + per_class
        + coverage
        + "<h2>Model versions</h2>"
        + versions_table
        + figs
        + "</body></html>"
    )


def build_html(settings: Settings, survey: str, *, version_id: int | None = None) -> str:
    """``collect``, draw and render in one call (what ``galactive report`` writes)."""
    data = collect(settings, survey, version_id=version_id)
    return render_html(data, figures(data))
