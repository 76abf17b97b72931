"""The GPU side: unpack a bundle, train and evaluate its models within a budget, pack results."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import importlib.metadata
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from csir import io, paths
from csir.errors import CsirError
from csir.gpu_study.plan import (
    ABSENT_ON_GPU,
    BENCHMARK_GRACE_S,
    BENCHMARK_NAME,
    BLI_TABLE,
    LEXICON_NOTEBOOK,
    MODEL_RECORDS,
    RECORD_NAME,
    RESULTS_NAME,
    RETURN_LIMIT_BYTES,
    RUNS_NAME,
    TRAINING_NOTEBOOK,
    WHEEL_MODULES,
    WHEELS,
    StudyPlan,
    block_absent_packages,
    evaluation_folder,
    log,
    read_plan,
    safe_extract,
    scoring_reserve_s,
    scoring_runs,
    write_tar,
)

#: A worker process's plan and evaluation (collections loaded once per process).
_WORKER: dict[str, Any] = {}


@dataclasses.dataclass
class _Clock:
    """Wall time since the start and the deadline of the whole run."""

    budget_s: float
    start: float = dataclasses.field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        return self.budget_s - self.elapsed()


def run(
    bundle: str | Path,
    out_dir: str | Path,
    *,
    budget_s: float = 420.0,
    device: str = "auto",
    workers: int = 1,
    work_dir: str | Path | None = None,
    benchmark_s: float = 0.0,
) -> Path:
    """Train and evaluate the bundle's study within ``budget_s`` seconds; results to ``out_dir``.

    With ``benchmark_s``, ``benchmarks/gpu_throughput.py`` first measures csir against
    ``Trainer`` and ``CrossEncoder.predict`` on the bundle's data for at most that many of the
    ``budget_s`` seconds (its JSON: ``<out_dir>/gpu_throughput.json``).

    Returns ``<out_dir>/results.tar.gz``. The run record (``gpu_run.json``, also in the tarball)
    holds the device, versions, every job's seconds and the jobs the budget left out.
    """
    clock = _Clock(budget_s)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="csir-gpu-"))
    record: dict[str, Any] = {
        "budget_s": budget_s, "workers": workers, "phases": {}, "jobs": [], "skipped": [],
    }  # fmt: skip
    with _phase(record, "unpack", clock):
        safe_extract(bundle, work / "bundle")
        root = work / "bundle"
        manifest = io.read_json(root / "manifest.json")
        _install_wheels(root / "wheels", work / "site")
        name = manifest["name"]
        _point_environment(root, work, name)
    record.update(_environment(device), bundle=manifest)
    log(f"{record['device']}; torch {record['torch']}, transformers {record['transformers']}")

    from csir import compact_backbone

    with _phase(record, "backbone", clock):
        compact_backbone.install_compact_e5(root / "backbone")
    overrides: dict[str, Any] = {"device": device}
    if (root / "dataset").is_dir():
        overrides["dataset_dir"] = str(root / "dataset")
    plan = read_plan(root / "config.yaml", overrides)
    build = paths.build_dir()
    if benchmark_s:
        with _phase(record, "benchmark", clock):
            record["benchmark"] = _benchmark(plan, out_dir, benchmark_s, device, manifest["smoke"])
    try:
        _train_and_evaluate(plan, record, clock, root / "config.yaml", overrides, workers)
    finally:
        record["elapsed_s"] = round(clock.elapsed(), 1)
        io.write_json(build / RECORD_NAME, record)
        results = _write_results(build, out_dir, record)
    log(f"done in {clock.elapsed():.0f} s: {results}")
    return results


@contextlib.contextmanager
def _phase(record: dict, name: str, clock: _Clock) -> Iterator[None]:
    began = time.monotonic()
    try:
        yield
    finally:
        record["phases"][name] = round(time.monotonic() - began, 2)
        log(f"{name}: {record['phases'][name]:.1f} s (at {clock.elapsed():.0f} s)")


def _benchmark(plan: StudyPlan, out_dir: Path, budget_s: float, device: str, tiny: bool) -> str:
    """Run ``benchmarks/gpu_throughput.py`` on the study's first training file and its XQuAD-R
    files, stopped at ``budget_s``; returns how it ended."""
    from csir.devices import resolve_device

    script = paths.REPO_ROOT / "benchmarks" / "gpu_throughput.py"
    if not script.is_file():
        return f"not run: {script} is missing (run from a checkout of the repository)"
    # sentence-transformers decides from package metadata whether `datasets` exists, so
    # blocking its import where it is installed (the dry run) would break an import that the
    # GPU machine, which has no `datasets` at all, passes.
    blocked = [n for n in ABSENT_ON_GPU if n in sys.modules and not sys.modules[n]]
    blocked = [n for n in blocked if n != "datasets"]
    # One deadline on the wall clock for both processes: the benchmark's own clock starts only
    # after its imports and CUDA's start, which are not known in advance.
    deadline = time.time() + budget_s - BENCHMARK_GRACE_S
    command = [
        sys.executable, str(script), "--train-file", str(plan.jobs()[0][1]),
        "--out", str(out_dir / BENCHMARK_NAME), "--device", resolve_device(device),
        "--budget", str(budget_s), "--deadline", f"{deadline:.3f}", "--block", *blocked,
    ] + (["--tiny"] if tiny else [])  # fmt: skip
    try:  # its output goes to this run's log, as the study's does
        done = subprocess.run(command, timeout=budget_s)
    except subprocess.TimeoutExpired:
        log(f"the benchmark passed its {budget_s:.0f} s and was stopped")
        return "stopped at its budget"
    if done.returncode:
        log(f"the benchmark failed (exit {done.returncode}; its traceback is above)")
        return f"failed (exit {done.returncode})"
    return "finished"


def _install_wheels(wheels: Path, site: Path) -> None:
    """Install the bundle's wheels into ``site`` (no network, no dependencies); import from it."""
    found = sorted(str(w) for w in wheels.glob("*.whl"))
    if found:
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
            "--disable-pip-version-check", "--target", str(site), *found,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise CsirError(f"installing the bundle's wheels failed: {done.stderr.strip()[-600:]}")
    sys.path.insert(0, str(site))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p
    )
    importlib.invalidate_caches()
    _check_wheels(site)


def _check_wheels(site: Path) -> None:
    """Import each of :data:`WHEELS` now, from ``site`` (so a wheel that does not work on this
    machine stops the run in its first seconds, and the dry run uses the bundle's copies).

    Raises:
        CsirError: naming each package that fails to import or is imported from elsewhere.
    """
    problems = []
    for name in WHEELS:
        module = WHEEL_MODULES.get(name, name)
        try:
            found = importlib.import_module(module).__file__
        except Exception as err:  # an ImportError, or a library that fails to load
            problems.append(f"{module}: {type(err).__name__}: {err}")
            continue
        where = Path(found or "<no file>").resolve()
        if found is None or not where.is_relative_to(site.resolve()):
            problems.append(f"{module}: imported from {where}, not from the bundle's {site}")
    if not problems:  # what the study calls first in Translate-Test, which runs late
        try:
            from csir import text

            text.to_simplified(["國家"])
            text.tokenize("Isn't it the capital?")
        except Exception as err:
            problems.append(f"csir.text with them: {type(err).__name__}: {err}")
    if problems:
        raise CsirError("the bundle's wheels do not work here: " + "; ".join(problems))


def _point_environment(root: Path, work: Path, name: str) -> None:
    """Data mirror, cache and build folders inside the work folder; never the network."""
    build = work / "build" / name
    shutil.copytree(root / "build", build, dirs_exist_ok=True)
    os.environ.update(
        CSIR_DATA_DIR=str(root / "data"),
        CSIR_CACHE_DIR=str(work / "cache"),
        CSIR_BUILD_DIR=str(build),
        CSIR_OFFLINE="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TRANSFORMERS_VERBOSITY="error",  # not a load report per model in the log
    )


def _environment(device: str) -> dict[str, Any]:
    import torch
    import transformers

    cuda = torch.cuda.is_available() and device != "cpu"
    return {
        "device": torch.cuda.get_device_name(0) if cuda else f"CPU ({platform.processor() or '?'})",
        "cuda": torch.version.cuda if cuda else None,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "cpu_threads": torch.get_num_threads(),
    }


def _train_and_evaluate(
    plan: StudyPlan, record: dict, clock: _Clock, config: Path, overrides: dict, workers: int
) -> None:
    """Baselines first (every notebook 04 entry: its first stage, the bi-encoder), then the
    models in ``workers`` processes (each trained and evaluated at once, in every entry) while
    the budget allows, then every run scored, also in those processes."""
    from csir.evaluate import Evaluation

    evs = [Evaluation(cfg, model_dirs=[]) for cfg in plan.evaluations]
    record["evaluations"] = [
        {
            "folder": evaluation_folder(ev.cfg).as_posix(),
            "candidates": ev.cfg.candidates,
            "translate_test": ev.cfg.translate_test,
        }
        for ev in evs
    ]
    with _phase(record, "baselines", clock):
        for ev in evs:
            ev.make_runs(progress=False)
    with _phase(record, "score_baselines", clock):
        began = time.monotonic()
        for ev in evs:
            ev.score()
        runs = sum(len(ev.systems) * len(ev.units()) for ev in evs)
        per_run = (time.monotonic() - began) / max(runs, 1)
    jobs = plan.jobs()
    record["units"] = sum(len(ev.units()) for ev in evs)
    record["units_per_evaluation"] = [len(ev.units()) for ev in evs]
    record["score_s_per_run"] = round(per_run, 4)

    def reserve(models: Sequence[str]) -> float:
        counts = dict(
            units=[len(ev.units()) for ev in evs],
            baselines=[len(ev.systems) for ev in evs],
            translate_test=[ev.cfg.translate_test for ev in evs],
        )
        return scoring_reserve_s(per_run, scoring_runs(models=models, **counts), workers)

    log(f"{len(jobs)} models in {workers} processes, {clock.left():.0f} s left")
    init = (str(config), overrides, workers, _blocked())
    trained, pool = _run_jobs(
        functools.partial(_pool, workers, init), plan, jobs, record, clock, reserve, workers
    )
    try:
        with _phase(record, "score", clock):
            _score(pool, evs, trained, record)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _blocked() -> list[str]:
    return [name for name in ABSENT_ON_GPU if name in sys.modules and not sys.modules[name]]


def _pool(workers: int, init: tuple) -> ProcessPoolExecutor:
    context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init, initargs=init)


def _end_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a pool whose jobs passed the deadline: its queued jobs are cancelled, its worker
    processes (this process's only multiprocessing children) terminated."""
    pool.shutdown(wait=False, cancel_futures=True)
    for child in multiprocessing.active_children():
        child.terminate()
    for child in multiprocessing.active_children():
        child.join(5)


def _score(
    pool: ProcessPoolExecutor, evs: Sequence[Any], trained: list[Path], record: dict
) -> None:
    """Score every run of the baselines and the ``trained`` models and write each entry's files:
    in the workers, or, when they fail, in this process (slower, but the results come back)."""
    tasks = [(number, unit) for number, ev in enumerate(evs) for unit in ev.units()]
    try:
        scored = list(pool.map(_score_unit, [trained] * len(tasks), tasks))
    except Exception as err:  # e.g. a worker that died: BrokenProcessPool
        record.setdefault("errors", []).append(f"scoring in workers: {type(err).__name__}: {err}")
        log(f"scoring in the workers failed ({err!r}); scoring here instead")
        for ev in evs:
            ev.add_models(trained)
            ev.score()
        return
    for number, ev in enumerate(evs):
        ev.add_models(trained)
        mine = [result for (n, _), result in zip(tasks, scored, strict=True) if n == number]
        ev.write_scores(_in_system_order(ev.systems, mine))


def _in_system_order(systems: Sequence[Any], scored: Sequence[tuple[list, dict]]) -> list:
    """Each unit's per-query frames of ``systems`` only, in their order (a worker may hold runs
    of a system this process does not count, e.g. of a model whose job failed)."""
    order = {system.name: rank for rank, system in enumerate(systems)}
    kept = []
    for frames, counts in scored:
        frames = [frame for frame in frames if frame["model"].iat[0] in order]
        frames.sort(key=lambda frame: order[frame["model"].iat[0]])
        kept.append((frames, counts))
    return kept


def _run_jobs(
    make_pool: Callable[[], ProcessPoolExecutor],
    plan: StudyPlan,
    jobs: Sequence[tuple],
    record: dict,
    clock: _Clock,
    reserve: Callable[[Sequence[str]], float],
    workers: int,
) -> tuple[list[Path], ProcessPoolExecutor]:
    """Keep ``workers`` jobs in flight in worker processes from ``make_pool``; start one only
    while its measured cost (the last job of its entry) and the final scoring of every started
    model (``reserve``) still fit. A job that fails is left out and the others go on; workers
    that died (a crash, the kernel's OOM killer) are replaced. Jobs still running when only the
    final scoring's time is left are given up and their workers ended. Returns the trained
    folders in plan order and a pool of live workers for the scoring."""
    queue = list(jobs)
    pending: dict[Future, tuple[int, str, Path]] = {}
    cost: dict[int, float] = {}
    finished: dict[Path, str] = {}
    pool = make_pool()
    try:
        while queue or pending:
            while queue and len(pending) < workers:
                entry, file, folder, seed = queue.pop(0)
                name = folder.relative_to(plan.training[entry].models_path()).as_posix()
                started = [*finished.values(), *(n for _, n, _ in pending.values()), name]
                expected = cost.get(entry, max(cost.values(), default=0.0))
                if clock.left() < expected + reserve(started):
                    record["skipped"].append(name)
                    continue
                try:
                    future = pool.submit(_train_job, entry, str(file), str(folder), seed)
                except BrokenProcessPool:  # a worker died: its jobs fail below; new workers
                    log("worker processes died; starting new ones")
                    record.setdefault("errors", []).append("worker processes died; restarted")
                    _end_workers(pool)
                    pool = make_pool()
                    future = pool.submit(_train_job, entry, str(file), str(folder), seed)
                pending[future] = (entry, name, folder)
            if not pending:
                break
            started = [*finished.values(), *(n for _, n, _ in pending.values())]
            # wake up at the latest when only the final scoring's time is left
            timeout = max(clock.left() - reserve(started), 0.0)
            done, _ = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
            if not done:
                abandoned = [name for _, name, _ in pending.values()]
                record["stopped"] = abandoned
                log(f"the budget's end for models: {abandoned} still running, left out")
                _end_workers(pool)
                pool = make_pool()
                break
            for future in done:
                entry, name, folder = pending.pop(future)
                try:
                    job = future.result()
                except Exception as err:  # a failed model is left out; the others go on
                    record.setdefault("errors", []).append(f"{name}: {type(err).__name__}: {err}")
                    log(f"{name} failed: {err!r}; it is left out")
                    continue
                cost[entry] = job["train_s"] + job["evaluate_s"]
                finished[folder] = name
                record["jobs"].append({"model": name, **job})
                log(
                    f"{name}: train {job['train_s']:.1f} s, evaluate {job['evaluate_s']:.1f} s; "
                    f"{len(finished)}/{len(jobs)} done, {clock.left():.0f} s left"
                )
    except BaseException:
        _end_workers(pool)
        raise
    record["skipped"] += [
        folder.relative_to(plan.training[entry].models_path()).as_posix()
        for entry, _, folder, _ in queue
    ]
    if record["skipped"]:
        log(f"the budget left out {len(record['skipped'])} models: {record['skipped']}")
    return [folder for _, _, folder, _ in jobs if folder in finished], pool


def _worker_init(config: str, overrides: dict, workers: int, blocked: Sequence[str]) -> None:
    block_absent_packages(blocked)  # the dry run's rule holds in the workers too
    import torch

    from csir.evaluate import Evaluation

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    plan = read_plan(config, overrides)
    evaluations = [Evaluation(cfg, model_dirs=[]) for cfg in plan.evaluations]
    baselines = [list(ev.systems) for ev in evaluations]
    _WORKER.update(plan=plan, evaluations=evaluations, baselines=baselines)


def _train_job(entry: int, file: str, folder: str, seed: int) -> dict[str, Any]:
    """Train one model and make its runs of every pair in every notebook 04 entry (and those of
    its Translate-Test, for a zero-shot model), in a worker process."""
    from csir import training

    plan = _WORKER["plan"]
    cfg = plan.training[entry]
    began = time.monotonic()
    training.train(cfg.training_args(seed), file, folder, progress=False, dev_file=cfg.dev_file())
    trained = time.monotonic()
    per_evaluation = []
    for ev in _WORKER["evaluations"]:
        started = time.monotonic()
        ev.make_runs(ev.add_models([Path(folder)]), progress=False)
        per_evaluation.append(round(time.monotonic() - started, 2))
    done = time.monotonic()
    info = io.read_json(Path(folder) / "csir_training.json")
    return {
        "train_s": round(trained - began, 2),
        "evaluate_s": round(done - trained, 2),
        "evaluate_s_per_evaluation": per_evaluation,
        "steps": info.get("steps"),
        "selected_step": info.get("selected_step"),
        "train_seconds": info.get("train_seconds"),
        "examples_per_s": info.get("examples_per_s"),
        "tokens_per_s": info.get("tokens_per_s"),
        "dev_mrr": info.get("dev_mrr"),
        "layers": io.read_json(Path(folder) / "config.json")["num_hidden_layers"],
        "pid": os.getpid(),
    }


def _score_unit(
    model_dirs: Sequence[Path], task: tuple[int, tuple[str, int | None]]
) -> tuple[list, dict]:
    """Per-query values of every system on one (pair, draw) of one notebook 04 entry, in a
    worker process."""
    number, unit = task
    ev = _WORKER["evaluations"][number]
    # exactly the baselines and these models: not a model this worker trained whose job failed
    ev.systems = list(_WORKER["baselines"][number])
    ev.add_models(model_dirs)
    return ev.score_unit(unit)


def _write_results(build: Path, out_dir: Path, record: dict) -> Path:
    """``results.tar.gz`` (what notebooks 05-06 need) and, when small enough, ``runs.tar.gz``."""
    keep = [build / RECORD_NAME, build / LEXICON_NOTEBOOK / BLI_TABLE]
    evaluations = [build / entry["folder"] for entry in record.get("evaluations", [])]
    for evaluation in evaluations:
        keep += [evaluation / n for n in ("metrics.csv", "per_query.parquet", "pairs.csv")]
        keep += sorted(evaluation.glob("runs/*/*/settings.json"))
    models = build / TRAINING_NOTEBOOK / "models"
    keep += sorted(p for n in MODEL_RECORDS for p in models.rglob(n))
    results = out_dir / RESULTS_NAME
    if not write_tar(results, build, [p for p in keep if p.is_file()], RETURN_LIMIT_BYTES):
        log(f"{RESULTS_NAME} would pass {RETURN_LIMIT_BYTES / 2**20:.0f} MiB: fewer measures")
    runs = sorted(p for evaluation in evaluations for p in evaluation.glob("runs/**/*.trec"))
    if runs and not write_tar(out_dir / RUNS_NAME, build, runs, RETURN_LIMIT_BYTES):
        log(f"the TREC runs pass {RETURN_LIMIT_BYTES / 2**20:.0f} MiB compressed: left out")
    return results
