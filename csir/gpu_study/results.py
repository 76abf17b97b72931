"""The CPU side after the GPU: unpack and check results, and estimate a study's wall time from a
measured run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from csir import io, paths
from csir.errors import CsirError
from csir.gpu_study.plan import EVALUATION_NOTEBOOK, RECORD_NAME, RUNS_NAME, StudyPlan, safe_extract

#: The measured GPU run that :func:`estimate` scales from (committed with its logs).
REFERENCE_RECORD = paths.REPO_ROOT / "benchmarks" / "gpu" / "gpu_study.json"


def estimate(plan: StudyPlan, reference: dict[str, Any], workers: int) -> dict[str, float]:
    """Wall seconds ``plan`` should take on the reference's device, from its measured costs.

    Training scales with optimizer steps × layers (at the reference's batch size and length: a
    step of this small model costs launches more than FLOPs), re-ranking with runs per model
    (pairs and MLIR draws), the baselines and the final scoring with the number of runs; jobs
    share ``workers`` processes as in the reference (the same contention is assumed, so the
    estimate is good for the reference's worker count and optimistic above it).

    Args:
        plan: the study to estimate.
        reference: a ``gpu_run.json`` of a finished GPU run (with ``units`` and per-job
            ``steps``, ``layers``, ``train_s``, ``evaluate_s``).
        workers: worker processes of the planned run.
    """
    from csir.evaluate import Evaluation

    jobs = reference["jobs"]
    if not jobs:
        raise CsirError("the reference GPU run trained no model, so it measured no costs")
    per_step_layer = sum(j["train_s"] for j in jobs) / sum(j["steps"] * j["layers"] for j in jobs)
    ref_units = reference["units"]
    per_run = sum(j["evaluate_s"] for j in jobs) / (len(jobs) * ref_units)
    units = len(Evaluation(plan.evaluation, model_dirs=[]).units())
    phases = reference["phases"]
    costs = []
    for entry, _, _, _ in plan.jobs():
        cfg = plan.training[entry]
        layers = cfg.num_layers or _full_layers(reference)
        costs.append(per_step_layer * cfg.max_steps * layers + per_run * units)
    systems = len(plan.jobs()) + 2
    ref_systems = len(jobs) + 2
    out = {
        "setup_s": phases["unpack"] + phases["backbone"],
        "baselines_s": (phases["baselines"] + phases["score_baselines"]) * units / ref_units,
        "models_s": sum(costs) / workers,
        # the last round of jobs leaves workers idle: about one job's worth
        "tail_s": sum(costs) / len(costs) * (workers - 1) / workers if costs else 0.0,
        "score_s": phases["score"] * (systems * units) / (ref_systems * ref_units),
    }
    out["total_s"] = sum(out.values())
    return {key: round(value, 1) for key, value in out.items()}


def _full_layers(reference: dict[str, Any]) -> int:
    return max(job["layers"] for job in reference["jobs"])


def check_results(build: str | Path) -> str:
    """One line on an unpacked GPU run; raises when a trained model has no metrics.

    Raises:
        CsirError: naming the models of ``gpu_run.json`` absent from ``metrics.csv``.
    """
    import pandas as pd

    build = Path(build)
    record = io.read_json(build / RECORD_NAME)
    metrics = pd.read_csv(build / EVALUATION_NOTEBOOK / "metrics.csv")
    systems = set(metrics["model"])
    lost = [job["model"] for job in record["jobs"] if job["model"] not in systems]
    if lost:
        raise CsirError(f"{build}: metrics.csv lacks trained models {lost}")
    return (
        f"{record['device']}: {len(record['jobs'])} models trained and evaluated, "
        f"{len(record['skipped'])} left out by the budget, {len(systems)} systems, "
        f"{len(metrics)} metric rows, {record['elapsed_s']:.0f} s"
    )


def unpack(results: str | Path, build: str | Path) -> list[str]:
    """Extract ``results.tar.gz`` (and ``runs.tar.gz`` beside it) into a configuration's build
    folder, where notebooks 05-06 find them; return the extracted paths."""
    results = Path(results)
    if not results.is_file():
        raise CsirError(f"{results} does not exist; give the results.tar.gz of a GPU run")
    names = safe_extract(results, build)
    runs = results.with_name(RUNS_NAME)
    if runs.is_file():
        names += safe_extract(runs, build)
    return names
