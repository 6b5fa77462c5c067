"""`galactive experiment` and `python -m research experiment` (every knob) end to end on a tiny
mock survey: JSON, learning curves, plot."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from app.cli import app
from app.cli.models.experiment import Progress
from app.services.experiments.spec import ExperimentSpec
from research.cli import app as research

runner = CliRunner()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("experiment")
    args = ["--home", str(path), "mock", "--n", "100", "--seed", "4", "--workers", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return path


def _experiment(home: Path, tmp_path: Path, *args: str, name: str = "run") -> dict:
    out, plot = tmp_path / f"{name}.json", tmp_path / f"{name}.png"
    result = runner.invoke(
        research,
        ["--home", str(home), "experiment", "--rounds", "2", "--batch", "5", "--seeds", "2",
         "--initial", "8", "--epochs", "1", "--min-steps", "0", "--threads", "1", "--json",
         str(out), "--plot",
         str(plot), *args],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert plot.stat().st_size > 1000 and plot.read_bytes()[:4] == b"\x89PNG"
    return json.loads(out.read_text())


def _check_structure(result: dict, strategies: set[str], metrics: list[str]) -> None:
    assert set(result["strategies"]) == strategies
    assert result["setup"]["metrics"] == metrics
    assert result["command"].startswith("python -m research")  # then argv: pytest's, here
    for s in result["strategies"].values():
        assert len(s["seeds"]) == 2
        for rounds in s["seeds"]:
            n = [r["n_labels"] for r in rounds]
            assert n == [8, 13, 18]  # monotone: initial + batch per round
            classes = result["setup"]["model_config"]["tasks"][0]["classes"]
            per_class = {f"{m}_{c}" for m in ("recall", "ap") for c in classes}  # none: regression
            assert set(rounds[0]["metrics"]) == set(metrics) | per_class
            assert all(r["metrics"][k] is None or 0 <= r["metrics"][k] <= 1
                       for r in rounds for k in per_class)  # fmt: skip
            assert all(r["n_control"] >= 0 and "acquisition_mean" in r for r in rounds[:-1])
        assert [r["n_labels"] for r in s["aggregate"]] == [8, 13, 18]
        top = s["aggregate"][-1]["metrics"][metrics[0]]
        assert top["min"] <= top["mean"] <= top["max"] and top["std"] >= 0
        assert [v["verdict"] in ("better", "tie", "worse") for v in s["verdicts"]] == [True] * 3
        assert set(s["labels_to_reach_random_final"]) == {
            "n_labels", "fraction", "per_seed_fraction", "paired_fraction",
            "paired_fraction_spread",
        }  # fmt: skip
        assert len(s["labels_to_reach_random_final"]["paired_fraction"]) == 2  # one per seed
    assert len(result["summary"]) == len(strategies) - 1


def test_redshift_from_photometry(home: Path, tmp_path: Path) -> None:
    result = _experiment(home, tmp_path, "--task", "redshift", "--modalities", "photometry",
                         "--strategy", "power_epig", "--strategy", "lcmd")  # fmt: skip
    _check_structure(result, {"power_epig", "lcmd", "random"},
                     ["sigma_nmad", "outlier_fraction", "coverage_68"])  # fmt: skip
    # the random control: round(5 * 0.1) = 0 picks here, all five for random itself
    assert result["strategies"]["random"]["seeds"][0][0]["n_control"] == 5
    assert result["setup"]["device"] == "cpu"


def test_a_device_is_for_the_products_model_and_must_exist(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="fits on the CPU; --device is for 'heads'"):
        ExperimentSpec(task="redshift", strategies=("random",), rounds=1, batch=1, seeds=1,
                       initial=1, method="ensemble", device="cuda")  # fmt: skip
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "gpu.json"
    result = runner.invoke(research, ["--home", str(home), "experiment", "--task", "redshift",
                                      "--device", "cuda", "--json", str(out)])  # fmt: skip
    assert result.exit_code == 2 and "no CUDA GPU is usable here" in result.output
    assert not out.exists()


def test_debiased_fits_weigh_the_active_picks_and_leave_random_as_it_was(
    home: Path, tmp_path: Path
) -> None:
    args = ("--task", "redshift", "--modalities", "photometry", "--strategy", "power_epig")
    plain = _experiment(home, tmp_path, *args, name="plain")
    debiased = _experiment(home, tmp_path, *args, "--debias", name="debiased")
    assert debiased["setup"]["debias"] is True and plain["setup"]["debias"] is False

    def curves(result: dict, name: str) -> list[list[dict]]:
        return [[r["metrics"] for r in s] for s in result["strategies"][name]["seeds"]]

    # random's weights are all 1: its fits are the unweighted ones, bit for bit
    assert curves(debiased, "random") == curves(plain, "random")
    # the same picks in round 1 (selection does not depend on the weights); from round 1 on,
    # the fits of power_epig's picks are weighted, so they differ
    a, b = curves(debiased, "power_epig"), curves(plain, "power_epig")
    assert [s[0] for s in a] == [s[0] for s in b]
    assert [s[1:] for s in a] != [s[1:] for s in b]
    for seed in debiased["strategies"]["power_epig"]["seeds"]:  # Kish's ESS of the weights
        assert "weights_ess" not in seed[0] and all(0 < r["weights_ess"] <= 1 for r in seed[1:])
    assert all("weights_ess" not in r for s in debiased["strategies"]["random"]["seeds"] for r in s)
    refused = runner.invoke(research, ["--home", str(home), "experiment", "--task", "redshift",
                                       "--strategy", "lcmd", "--debias", "--json",
                                       str(tmp_path / "no.json")])  # fmt: skip
    assert refused.exit_code != 0 and "debias" in refused.output
    assert not (tmp_path / "no.json").exists()


def test_runs_on_separate_seeds_merge_into_the_run_on_all_of_them(
    home: Path, tmp_path: Path
) -> None:
    args = ("--task", "redshift", "--modalities", "photometry", "--strategy", "power_bald")
    both = _experiment(home, tmp_path, *args, name="both")
    parts = [
        _experiment(home, tmp_path, *args, "--seeds", "1", "--first-seed", seed, name=seed)
        for seed in ("1", "0")
    ]  # given in the wrong order on purpose: merged seeds keep the order given
    assert [p["setup"]["first_seed"] for p in parts] == [1, 0]
    # where a part ran is not its setup: one on a GPU, one from before runs recorded a device
    for name, device in (("1", "cuda:0"), ("0", None)):
        part = json.loads((tmp_path / f"{name}.json").read_text())
        part["setup"]["device"] = device
        (tmp_path / f"{name}.json").write_text(json.dumps(part))
    out = tmp_path / "merged.json"
    result = runner.invoke(
        app, ["experiment-merge", str(tmp_path / "1.json"), str(tmp_path / "0.json"), "--json",
              str(out), "--plot", str(tmp_path / "merged.png")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    merged = json.loads(out.read_text())
    assert merged["setup"]["seed_ids"] == [1, 0] and len(merged["parts"]) == 2

    def measured(seeds: list[list[dict]]) -> list[list[dict]]:  # all but the wall-clock time
        return [[{k: v for k, v in r.items() if k != "fit_seconds"} for r in s] for s in seeds]

    for name, entry in both["strategies"].items():  # each seed's fits do not depend on the others
        assert measured(merged["strategies"][name]["seeds"]) == measured(entry["seeds"][::-1])
        assert merged["strategies"][name]["aggregate"] == entry["aggregate"]
    assert merged["summary"] == both["summary"]
    again = runner.invoke(app, ["experiment-merge", str(out), str(tmp_path / "0.json"),
                                "--json", str(tmp_path / "bad.json")])  # fmt: skip
    assert again.exit_code != 0 and "repeats seeds [0]" in again.output
    assert not (tmp_path / "bad.json").exists()


def test_morphology_from_a_tiny_image_model_warm_started(home: Path, tmp_path: Path) -> None:
    result = _experiment(home, tmp_path, "--task", "morphology", "--modalities", "image",
                         "--strategy", "power_bald", "--image-channels", "4,8", "--latent-dim",
                         "8", "--warm", "--control-fraction", "0.4", "--min-steps", "3",
                         "--warm-min-steps", "2")  # fmt: skip
    _check_structure(result, {"power_bald", "random"}, ["accuracy", "macro_f1", "ece"])
    assert result["strategies"]["power_bald"]["seeds"][0][0]["n_control"] == 2
    assert result["setup"]["rare_class"] in result["setup"]["model_config"]["tasks"][0]["classes"]
    assert result["setup"]["warm"] and result["setup"]["model"]["image_channels"] == [4, 8]
    assert (result["setup"]["min_steps"], result["setup"]["warm_min_steps"]) == (3, 2)


def test_morphology_with_a_deep_ensemble_posterior(home: Path, tmp_path: Path) -> None:
    result = _experiment(home, tmp_path, "--task", "morphology", "--modalities", "image",
                         "--strategy", "bald", "--image-channels", "4,8", "--latent-dim", "8",
                         "--method", "ensemble", "--members", "3")  # fmt: skip
    _check_structure(result, {"bald", "random"}, ["accuracy", "macro_f1", "ece"])
    assert result["setup"]["method"] == "ensemble" and result["setup"]["members"] == 3
    # members disagree, so the ensemble's BALD of the batch it bought is positive
    assert result["strategies"]["bald"]["seeds"][0][0]["acquisition_mean"] > 0


def test_morphology_with_mc_dropout_warm_started(home: Path, tmp_path: Path) -> None:
    result = _experiment(home, tmp_path, "--task", "morphology", "--modalities", "image",
                         "--strategy", "bald", "--image-channels", "4,8", "--latent-dim", "8",
                         "--method", "mc_dropout", "--warm", "--warm-min-steps", "2")  # fmt: skip
    _check_structure(result, {"bald", "random"}, ["accuracy", "macro_f1", "ece"])
    assert result["setup"]["method"] == "mc_dropout" and result["setup"]["warm"]
    # dropout masks differ between passes, so the BALD of the batch it bought is positive
    assert result["strategies"]["bald"]["seeds"][0][0]["acquisition_mean"] > 0


def test_oracle_reference_beside_a_strategy(home: Path, tmp_path: Path) -> None:
    result = _experiment(home, tmp_path, "--task", "morphology", "--strategy", "oracle_power",
                         "--strategy", "oracle_loss")  # fmt: skip
    _check_structure(
        result, {"oracle_power", "oracle_loss", "random"}, ["accuracy", "macro_f1", "ece"]
    )
    for name in ("oracle_power", "oracle_loss"):
        assert all(r["n_control"] == 0 for r in result["strategies"][name]["seeds"][0][:-1])
    base = ["--home", str(home), "experiment", "--json", str(tmp_path / "x.json")]
    refused = runner.invoke(research, [*base, "--task", "redshift", "--strategy", "oracle_power"])
    assert refused.exit_code == 2 and "classification task" in refused.output
    refused = runner.invoke(app, [*base, "--strategy", "oracle_power"])  # not the product's
    assert refused.exit_code == 2 and "unknown strategies" in refused.output
    assert not (tmp_path / "x.json").exists()


def test_refuses_unknown_strategies_and_too_many_labels(home: Path, tmp_path: Path) -> None:
    base = ["--home", str(home), "experiment", "--json", str(tmp_path / "x.json")]
    result = runner.invoke(app, [*base, "--strategy", "greedy"])
    assert result.exit_code == 2 and "greedy" in result.output
    result = runner.invoke(app, [*base, "--rounds", "50", "--batch", "50"])
    assert result.exit_code == 2 and "exceed the pool" in result.output


def test_without_strategies_a_regression_measures_the_candidate_against_random(
    home: Path, tmp_path: Path
) -> None:
    # the product's regression default is random (docs/real_data.md); the experiment keeps
    # measuring the closest candidate against it
    result = _experiment(home, tmp_path, "--task", "redshift", "--modalities", "photometry",
                         "--seeds", "1", "--rounds", "1", name="default")  # fmt: skip
    assert list(result["strategies"]) == ["power_epig", "random"]


def test_the_product_command_keeps_the_options_a_user_needs() -> None:
    product = runner.invoke(app, ["experiment", "--help"], terminal_width=200).output
    options = set(re.findall(r"--[a-z][a-z-]+", product)) - {"--help"}
    assert len(options) <= 12 and {"--strategy", "--json", "--first-seed"} <= options
    assert not options & {"--epochs", "--min-steps", "--method", "--lr", "--beta"}
    knobs = runner.invoke(research, ["experiment", "--help"], terminal_width=200).output
    assert {"--epochs", "--min-steps", "--method", "--lr", "--beta"} <= set(
        re.findall(r"--[a-z][a-z-]+", knobs)
    )
    commands = runner.invoke(app, ["--help"], terminal_width=200).output
    assert "experiment" in commands and " evaluate " not in commands  # research runs it


@pytest.mark.parametrize(
    "extra",
    [(), ("--task", "redshift", "--modalities", "photometry", "--strategy", "power_epig",
          "--debias")],  # a debiased run rebuilds each pick's draw ratio from its records
)  # fmt: skip
def test_an_interrupted_experiment_resumes_where_it_stopped(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: tuple[str, ...]
) -> None:
    whole = _experiment(home, tmp_path, *extra, name="whole")
    real, saves = Progress.save, []

    def save_then_fail(self: Progress, *args: object) -> None:
        real(self, *args)
        saves.append(args)
        if len(saves) == 4:  # 4 of the 12 rounds written, then the machine goes down
            raise RuntimeError("power cut")

    monkeypatch.setattr(Progress, "save", save_then_fail)
    args = ["--home", str(home), "experiment", "--rounds", "2", "--batch", "5", "--seeds", "2",
            "--initial", "8", "--epochs", "1", "--min-steps", "0", "--threads", "1",
            *extra]  # fmt: skip
    out = tmp_path / "resumed.json"
    cut = runner.invoke(research, [*args, "--json", str(out)])
    partial = tmp_path / "resumed.partial.json"
    assert cut.exit_code != 0 and not out.exists() and partial.exists()
    runs = json.loads(partial.read_text())["runs"]
    assert sum(len(records) for seeds in runs.values() for records in seeds.values()) == 4
    monkeypatch.setattr(Progress, "save", real)
    other = runner.invoke(research, [*args, "--seeds", "1", "--json", str(out)])
    assert other.exit_code == 2 and "unfinished run of other options" in other.output
    resumed = runner.invoke(research, [*args, "--json", str(out)])
    assert resumed.exit_code == 0, resumed.output
    assert "4 rounds already done" in resumed.output and not partial.exists()
    result = json.loads(out.read_text())
    for name, strategy in whole["strategies"].items():  # the same fits, to the last bit
        metrics = [[r["metrics"] for r in run] for run in strategy["seeds"]]
        assert [[r["metrics"] for r in run] for run in result["strategies"][name]["seeds"]] == (
            metrics
        )


def _result(values: list[list[float]]) -> dict:
    """A minimal experiment result: random's σ_NMAD per seed (rows) and round (columns)."""
    seeds = [[{"n_labels": 100 * (r + 1), "metrics": {"sigma_nmad": v}, "acquisition_mean": 0.1}
              for r, v in enumerate(run)] for run in values]  # fmt: skip
    return {"setup": {"metrics": ["sigma_nmad"]}, "strategies": {"random": {"seeds": seeds}}}


def test_compare_puts_arms_side_by_side_with_paired_differences(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch.json"
    scratch.write_text(json.dumps(_result([[0.020, 0.016], [0.022, 0.015]])))
    tuned = tmp_path / "tuned.json"
    tuned.write_text(json.dumps(_result([[0.019, 0.017], [0.020, 0.016]])))
    png = tmp_path / "arms.png"
    args = ["compare", f"scratch={scratch}", f"tuned={tuned}", "--plot", str(png)]
    result = runner.invoke(research, args)
    assert result.exit_code == 0, result.output
    rows = [r for r in result.output.splitlines() if r.startswith("| 1") or r.startswith("| 2")]
    # at 100 labels tuned is lower in both seeds (by 0.001 and 0.002), at 200 higher in both
    assert rows == [
        "| 100 | 0.021 ± 0.0014 | 0.0195 ± 0.00071 | -0.0015 (2/2) |",
        "| 200 | 0.0155 ± 0.00071 | 0.0165 ± 0.00071 | +0.001 (0/2) |",
    ]
    assert png.stat().st_size > 0
    args = ["compare", f"scratch={scratch}", "--metric", "recall_merger"]
    missing = runner.invoke(research, args)
    assert missing.exit_code != 0 and "no metric 'recall_merger'" in missing.output
    # one run's other strategy as an arm: NAME=RESULT.json@STRATEGY
    both = _result([[0.020, 0.016], [0.022, 0.015]])
    both["strategies"]["power_bald"] = _result([[0.018, 0.014], [0.021, 0.013]])["strategies"][
        "random"
    ]
    two = tmp_path / "two.json"
    two.write_text(json.dumps(both))
    shown = runner.invoke(research, ["compare", f"random={two}", f"bald={two}@power_bald"])
    assert shown.exit_code == 0, shown.output
    assert "| 100 | 0.021 ± 0.0014 | 0.0195 ± 0.0021 | -0.0015 (2/2) |" in shown.output
    missing = runner.invoke(research, ["compare", f"x={scratch}@power_bald"])
    assert missing.exit_code != 0 and "has no strategy 'power_bald'" in missing.output
    bad = runner.invoke(research, ["compare", str(scratch)])
    assert bad.exit_code != 0 and "expected NAME=RESULT.json" in bad.output
