"""``galactive experiment``: reveal truth labels round by round and measure strategies against
random with the product's own fit and selection rule; ``experiment-merge`` joins runs.

Research knobs (fit lengths, model sizes, the control share, oracle references, other
posteriors) are options of ``python -m research experiment``, which runs the same code.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

from app.cli.common import THREADS, bar, fail, machine, ready
from app.cli.models.train import parse_modalities, set_threads
from app.services.experiments.merge import merge_results
from app.services.experiments.plot import plot_experiment
from app.services.experiments.run import Chooser, run_experiment
from app.services.experiments.spec import ExperimentSpec
from app.services.loop.strategy import DEFAULT_STRATEGY, REGRESSION_CANDIDATE
from app.services.models.training import SurveyData, read_survey
from bayes.acquisition import STRATEGIES

SURVEY = typer.Option(
    "mock", "--survey", help="Survey with stored truth values (e.g. spectroscopic redshifts)."
)
TASK = typer.Option("morphology", "--task", help="Task whose stored truth is revealed as labels.")
STRATEGY_HELP = (
    f"Repeat for several; random is always added. One of {', '.join(STRATEGIES)}. Default: "
    f"{DEFAULT_STRATEGY} for a classification, {REGRESSION_CANDIDATE} for a regression (whose "
    "product default is random: docs/real_data.md)."
)
ROUNDS = typer.Option(8, "--rounds", min=1, help="Acquisition rounds after round 0.")
BATCH = typer.Option(50, "--batch", min=1, help="Labels revealed per round.")
SEEDS = typer.Option(3, "--seeds", min=1, help="Repeats (initial set, model seed).")
INITIAL = typer.Option(100, "--initial", min=1, help="Random initial labelled set.")
FIRST_SEED = typer.Option(
    0, "--first-seed", min=0, help="Run seeds from here (merge runs: experiment-merge)."
)
MODALITIES = typer.Option("photometry", "--modalities", help="Model inputs.")
JSON_OUT = typer.Option(..., "--json", help="Where to write the results (JSON).")
PLOT = typer.Option(None, "--plot", help="Learning-curve PNG.")


def experiment(
    ctx: typer.Context,
    survey: str = SURVEY,
    task: str = TASK,
    strategies: list[str] = typer.Option([], "--strategy", help=STRATEGY_HELP),
    rounds: int = ROUNDS,
    batch: int = BATCH,
    seeds: int = SEEDS,
    initial: int = INITIAL,
    first_seed: int = FIRST_SEED,
    modalities: str = MODALITIES,
    out: Path = JSON_OUT,
    plot: Path | None = PLOT,
    threads: int | None = THREADS,
) -> None:
    """Reveal truth labels round by round; compare strategies with random on the test split."""

    def spec(names: tuple[str, ...]) -> ExperimentSpec:
        return ExperimentSpec(
            task=task, strategies=names, rounds=rounds, batch=batch, seeds=seeds,
            initial=initial, modalities=parse_modalities(modalities), first_seed=first_seed,
        )  # fmt: skip

    execute(ctx, survey, task, strategies, spec, out, plot, modalities, threads)


def execute(
    ctx: typer.Context,
    survey: str,
    task: str,
    strategies: list[str],
    build: Callable[[tuple[str, ...]], ExperimentSpec],
    out: Path,
    plot: Path | None,
    modalities: str,
    threads: int | None,
    *,
    choosers: Mapping[str, Chooser] | None = None,
    check: Callable[[SurveyData, ExperimentSpec], None] | None = None,
    split_seed: int = 0,
    program: str = "galactive",
) -> None:
    """Run an experiment (``build`` makes its spec from the strategies) and write its JSON,
    plot and summary; shared by ``galactive experiment`` and ``python -m research experiment``
    (``program``, recorded in the JSON's command)."""
    names = tuple(dict.fromkeys([*strategies, "random"]))
    known = (*STRATEGIES, *(choosers or {}))
    unknown = [s for s in names if s not in known]
    if unknown:
        raise typer.BadParameter(f"unknown strategies {unknown}; choose from {known}")
    set_threads(threads)
    settings = ready(ctx)
    start = time.perf_counter()
    engine = settings.engine()
    try:
        data = read_survey(engine, survey, source="truth", split_seed=split_seed)
        if not strategies:
            kinds = {t.name: t.is_classification for t in data.tasks}
            names = (DEFAULT_STRATEGY if kinds.get(task, True) else REGRESSION_CANDIDATE, "random")
        spec = build(names)
        if check is not None:
            check(data, spec)
    except ValueError as err:
        fail(str(err))
    finally:
        engine.dispose()
    progress = Progress(partial_path(out), {"survey": survey, "spec": asdict(spec)})
    done = progress.load()
    total = len(spec.strategies) * spec.seeds * (spec.rounds + 1)
    with bar(total, f"experiment {survey}/{task}", unit="fit") as advance:
        advance(progress.rounds_done())

        def on_round(strategy: str, seed: int, records: list[dict[str, Any]]) -> None:
            progress.save(strategy, seed, records)
            advance(1)

        try:
            result = run_experiment(
                settings.store(), data, spec, on_round=on_round, choosers=choosers, done=done
            )
        except ValueError as err:
            fail(str(err))
    result["command"] = " ".join([program, *(shlex.quote(a) for a in sys.argv[1:])])
    result["machine"] = machine()
    result["survey"] = survey
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    progress.path.unlink(missing_ok=True)
    if plot is not None:
        plot_experiment(result, plot, title=f"{survey}: {task} from {modalities}")
    for line in result["summary"]:
        typer.echo(line)
    shown = f"{out}" + (f" and {plot}" if plot else "")
    typer.echo(f"wrote {shown} in {result['wall_seconds']:.0f} s")


def partial_path(out: Path) -> Path:
    """Where an experiment writing ``out`` keeps its rounds until it ends: out.partial.json."""
    return out.with_name(out.stem + ".partial.json")


class Progress:
    """An experiment's rounds so far, rewritten (atomically) after every round, so a killed
    run resumes where it stopped when started again with the same options."""

    def __init__(self, path: Path, setup: dict[str, Any]) -> None:
        self.path = path
        self.setup = json.loads(json.dumps(setup))  # as it reads back from JSON
        self.runs: dict[str, dict[str, list[dict[str, Any]]]] = {}

    def load(self) -> dict[str, dict[int, list[dict[str, Any]]]]:
        """The rounds a previous run of the same setup finished (none if there is no file);
        exits naming the file if it holds another setup's rounds."""
        if not self.path.exists():
            return {}
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            fail(f"cannot read the unfinished run {self.path}: {err}; remove it to start over")
        if saved.get("setup") != self.setup:
            fail(
                f"{self.path} holds an unfinished run of other options; run with the same "
                "options to resume it, or remove it to start over"
            )
        self.runs = saved["runs"]
        typer.echo(f"resuming {self.path}: {self.rounds_done()} rounds already done", err=True)
        return {s: {int(k): v for k, v in seeds.items()} for s, seeds in self.runs.items()}

    def rounds_done(self) -> int:
        return sum(len(records) for seeds in self.runs.values() for records in seeds.values())

    def save(self, strategy: str, seed: int, records: list[dict[str, Any]]) -> None:
        self.runs.setdefault(strategy, {})[str(seed)] = list(records)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"setup": self.setup, "runs": self.runs}))
        tmp.replace(self.path)


def merge(
    parts: list[Path] = typer.Argument(..., help="Experiment JSONs of the same setup."),
    out: Path = typer.Option(..., "--json", help="Where to write the merged result (JSON)."),
    plot: Path | None = typer.Option(None, "--plot", help="Learning-curve PNG."),
) -> None:
    """Merge experiment runs on different seeds (--first-seed) into one result and plot."""
    try:
        results = [json.loads(p.read_text()) for p in parts]
    except (OSError, json.JSONDecodeError) as err:
        fail(f"cannot read an experiment JSON: {err}")
    try:
        result = merge_results(results)
    except (ValueError, KeyError) as err:
        fail(f"cannot merge {', '.join(map(str, parts))}: {err}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    if plot is not None:
        title = f"{result['survey']}: {result['setup']['task']} from "
        plot_experiment(result, plot, title=title + ",".join(result["setup"]["modalities"]))
    for line in result["summary"]:
        typer.echo(line)
    typer.echo(f"merged seeds {result['setup']['seed_ids']} into {out}")
