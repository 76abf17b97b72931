"""The CPU side after the GPU: unpack and check results, and estimate a study's wall time from a
measured run."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from csir import io, paths
from csir.errors import CsirError
from csir.gpu_study.plan import (
    EVALUATION_NOTEBOOK,
    RECORD_NAME,
    RUNS_NAME,
    StudyPlan,
    safe_extract,
    scoring_reserve_s,
    scoring_runs,
)

#: The measured GPU run that :func:`estimate` scales from (committed with its logs).
REFERENCE_RECORD = paths.REPO_ROOT / "benchmarks" / "gpu" / "gpu_study.json"


#: Notebook 04 on the dense first stage against BM25's, per model: 24 min against 25 min for
#: the CPU study's 15 models (README, "make study"); no GPU run has measured it yet.
DENSE_PER_BM25 = 24 / 25
#: Translating one (pair, draw) term by term for Translate-Test, on one CPU core: 0.054 s on
#: average over the 30 of configs/offline-full.yaml's first entry (full lexicons, Chinese
#: segmented; XQuAD-R sentences, 1,190 questions a pair), measured on these 2-core machines, for
#: the first zero-shot model of an evaluation; the lexicons memoise their translations (0.001 s
#: a run for the next model). Taken for every Translate-Test run, on the GPU machine's cores too.
TRANSLATE_S_PER_RUN = 0.055


def estimate(
    plan: StudyPlan,
    reference: dict[str, Any],
    workers: int,
    benchmark_s: float = 0.0,
    budget_s: float = 0.0,
) -> dict[str, Any]:
    """Wall seconds ``plan`` should take on the reference's device, from its measured costs.

    Training scales with optimizer steps × layers (at the reference's batch size and length: a
    step of this small model costs launches more than FLOPs), re-ranking with runs per model
    (pairs and MLIR draws of every notebook 04 entry), the baselines and the final scoring with
    the number of runs; jobs share ``workers`` processes as in the reference (the same
    contention is assumed, so the estimate is good for the reference's worker count and
    optimistic above it). Parts the reference did not measure are scaled by stated assumptions
    (:data:`DENSE_PER_BM25`, :data:`TRANSLATE_S_PER_RUN`), listed under ``"assumed"``.

    Args:
        plan: the study to estimate.
        reference: a ``gpu_run.json`` of a finished GPU run (with ``units`` and per-job
            ``steps``, ``layers``, ``train_s``, ``evaluate_s``).
        workers: worker processes of the planned run.
        benchmark_s: the time budget of the GPU throughput benchmark run in the same command.
        budget_s: the run's ``--budget``; when given, the runner's schedule is simulated with
            these costs (:func:`simulate_schedule`, the rule that holds back the final
            scoring's time included).

    Returns:
        Seconds per part (``setup_s``, ``baselines_s``, ``models_s``, ``tail_s``, ``score_s``,
        ``benchmark_s``, ``total_s``; ``translate_test_s`` and ``dense_s`` are the parts of
        ``models_s`` those add) and ``"assumed"``: the parts resting on an assumption. With
        ``budget_s`` also ``models_fit`` (how many of the plan's models the runner would start)
        and ``models_end_s`` (when the last of them would end).
    """
    from csir.evaluate import Evaluation
    from csir.ids import SystemId

    jobs = reference["jobs"]
    if not jobs:
        raise CsirError("the reference GPU run trained no model, so it measured no costs")
    per_step_layer = sum(j["train_s"] for j in jobs) / sum(j["steps"] * j["layers"] for j in jobs)
    ref_units = reference["units"]
    per_run = sum(j["evaluate_s"] for j in jobs) / (len(jobs) * ref_units)
    evaluations = [Evaluation(cfg, model_dirs=[]) for cfg in plan.evaluations]
    weights = [DENSE_PER_BM25 if ev.cfg.candidates == "dense" else 1.0 for ev in evaluations]
    units = [len(ev.units()) for ev in evaluations]
    runs = sum(w * n for w, n in zip(weights, units, strict=True))
    tt_units = sum(n for ev, n in zip(evaluations, units, strict=True) if ev.cfg.translate_test)
    phases = reference["phases"]
    costs, names, tt_s, dense_s, zero_shots = [], [], 0.0, 0.0, 0
    dense_runs = sum(
        w * n for ev, w, n in zip(evaluations, weights, units, strict=True)
        if ev.cfg.candidates == "dense"
    )  # fmt: skip
    for entry, _, folder, _ in plan.jobs():
        cfg = plan.training[entry]
        layers = cfg.num_layers or _full_layers(reference)
        name = folder.relative_to(cfg.models_path()).as_posix()
        tt = 0.0
        if SystemId.parse(name).is_zero_shot:
            zero_shots += 1
            tt = (per_run + TRANSLATE_S_PER_RUN) * tt_units
        tt_s += tt
        dense_s += per_run * dense_runs
        costs.append(per_step_layer * cfg.max_steps * layers + per_run * runs + tt)
        names.append(name)
    systems = sum(
        (len(ev.systems) + len(costs) + (zero_shots if ev.cfg.translate_test else 0)) * n
        for ev, n in zip(evaluations, units, strict=True)
    )
    ref_systems = (len(jobs) + 2) * ref_units
    baselines = (phases["baselines"] + phases["score_baselines"]) / ref_units
    out: dict[str, Any] = {
        "setup_s": phases["unpack"] + phases["backbone"],
        "baselines_s": baselines * runs,
        "models_s": sum(costs) / workers,
        # the last round of jobs leaves workers idle: about one job's worth
        "tail_s": sum(costs) / len(costs) * (workers - 1) / workers if costs else 0.0,
        "score_s": phases["score"] * systems / ref_systems,
        "benchmark_s": benchmark_s,
    }
    out["total_s"] = sum(out.values())
    out = {key: round(value, 1) for key, value in out.items()}
    out["translate_test_s"] = round(tt_s / workers, 1)
    out["dense_s"] = round(dense_s / workers, 1)
    assumed = []
    if dense_s:
        assumed.append(
            f"dense first stage: {DENSE_PER_BM25:.2f} x BM25's per-model cost (CPU study ratio)"
        )
    if tt_s:
        assumed.append(
            f"Translate-Test: {TRANSLATE_S_PER_RUN:.3f} s of translation a run (measured on CPU) "
            "on top of a model's measured GPU cost a run"
        )
    out["assumed"] = assumed
    if budget_s:
        # the runner's measure: the baselines' scoring, one process, per run
        # (a reference recorded before it was: its two baselines, first stage and bi-encoder)
        score_per_run = reference.get("score_s_per_run") or phases["score_baselines"] / (
            2 * ref_units
        )
        counts = dict(
            units=units,
            baselines=[len(ev.systems) for ev in evaluations],
            translate_test=[ev.cfg.translate_test for ev in evaluations],
        )

        def reserve(started: Sequence[str]) -> float:
            runs = scoring_runs(models=started, **counts)
            return scoring_reserve_s(score_per_run, runs, workers)

        begin = out["setup_s"] + out["benchmark_s"] + out["baselines_s"]
        fit, end = simulate_schedule(names, costs, workers, begin, budget_s, reserve)
        out["models_fit"] = len(fit)
        out["models_end_s"] = round(end, 1)
    return out


def simulate_schedule(
    names: Sequence[str],
    costs: Sequence[float],
    workers: int,
    begin_s: float,
    budget_s: float,
    reserve: Callable[[Sequence[str]], float],
) -> tuple[list[str], float]:
    """The runner's rule on known job costs: jobs in order, each started on the first free of
    ``workers`` slots only while its cost and ``reserve`` (the final scoring's seconds for the
    models started so far, this one included) fit before ``budget_s``. Returns the names of
    the jobs started and when the last of them ends."""
    free = [begin_s] * max(workers, 1)
    started: list[str] = []
    end = begin_s
    for name, cost in zip(names, costs, strict=True):
        now = heapq.heappop(free)
        if budget_s - now < cost + reserve([*started, name]):
            heapq.heappush(free, now)
            continue
        started.append(name)
        end = max(end, now + cost)
        heapq.heappush(free, now + cost)
    return started, end


def _full_layers(reference: dict[str, Any]) -> int:
    return max(job["layers"] for job in reference["jobs"])


def check_results(build: str | Path) -> str:
    """One line on an unpacked GPU run; raises when a trained model has no metrics.

    Every notebook 04 entry (its folder in ``gpu_run.json``) must hold metrics of every trained
    model, and
    one that ran Translate-Test those of every zero-shot model's Translate-Test.

    Raises:
        CsirError: naming the entry and the models of ``gpu_run.json`` absent from its
            ``metrics.csv``.
    """
    import pandas as pd

    from csir.ids import SystemId

    build = Path(build)
    record = io.read_json(build / RECORD_NAME)
    trained = [SystemId.parse(job["model"]) for job in record["jobs"]]
    # a record written before the runner took several notebook 04 entries: one, without TT
    entries = record.get("evaluations", [{"folder": EVALUATION_NOTEBOOK, "translate_test": False}])
    lines = []
    for entry in entries:
        metrics_file, tt = build / entry["folder"] / "metrics.csv", entry["translate_test"]
        if not metrics_file.is_file():
            raise CsirError(f"{metrics_file} does not exist; unpack the GPU run's results here")
        metrics = pd.read_csv(metrics_file)
        systems = set(metrics["model"])
        wanted = [s.name for s in trained]
        wanted += [s.as_translate_test().name for s in trained if tt and s.is_zero_shot]
        lost = [name for name in wanted if name not in systems]
        if lost:
            raise CsirError(f"{metrics_file}: lacks trained models {lost}")
        lines.append(f"{metrics_file.parent.name}: {len(systems)} systems, {len(metrics)} rows")
    return (
        f"{record['device']}: {len(record['jobs'])} models trained and evaluated, "
        f"{len(record['skipped'])} left out by the budget; {'; '.join(lines)}; "
        f"{record['elapsed_s']:.0f} s"
    )


def check_benchmark(path: str | Path) -> str:
    """One line on a GPU throughput benchmark's JSON; raises when a part is missing or failed.

    Raises:
        CsirError: naming the parts left out or failed and their errors.
    """
    path = Path(path)
    if not path.is_file():
        raise CsirError(f"{path} does not exist: the benchmark did not run (see gpu_run.json)")
    report = io.read_json(path)
    parts = report.get("parts", {})
    failed = {name: part["error"] for name, part in parts.items() if "error" in part}
    failed.update(
        {
            f"score/{name}": v["error"]
            for name, v in parts.get("score", {}).get("variants", {}).items()
            if "error" in v
        }
    )
    st_bf16 = parts.get("score", {}).get("variants", {}).get("st-bf16")
    if st_bf16 and "error" not in st_bf16 and st_bf16.get("st_dtype") != "torch.bfloat16":
        failed["score/st-bf16"] = f"ran in {st_bf16.get('st_dtype')}, not bf16"
    if report.get("running"):
        failed[report["running"]] = "still running when its process was stopped at the budget"
    if failed or report.get("left_out") or not parts:
        raise CsirError(
            f"{path}: parts failed {failed} or were left out {report.get('left_out')}; "
            "run benchmarks/gpu_throughput.py --tiny --device cpu to see why"
        )
    train = [p for name, p in parts.items() if name.startswith("train_")]
    ratios = ", ".join(f"b{p['batch_size']} {p['csir_vs_trainer']:.2f}x" for p in train)
    return (
        f"{report['device']}: training csir/Trainer {ratios}; scoring "
        + ", ".join(
            f"{name} {v['pairs_per_s']:.0f} pairs/s"
            for name, v in parts["score"]["variants"].items()
        )
        + f" ({report['elapsed_s']:.0f} s)"
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
