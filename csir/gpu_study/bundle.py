"""The CPU side before the GPU: pack a configuration's inputs into one ``bundle.tar.gz``."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from csir import __version__, io, paths, pipeline
from csir.errors import ConfigError, CsirError
from csir.gpu_study import lexicons
from csir.gpu_study.plan import (
    BLI_TABLE,
    BUNDLE_LIMIT_BYTES,
    BUNDLE_NAME,
    DATA_NOTEBOOK,
    EVALUATION_NOTEBOOK,
    LEXICON_NOTEBOOK,
    TRAINING_NOTEBOOK,
    WHEEL_PLATFORMS,
    WHEEL_PYTHON,
    WHEELS,
    StudyPlan,
    evaluation_languages,
    log,
    read_plan,
    write_tar,
)
from csir.gpu_study.results import REFERENCE_RECORD, estimate

#: Smoke mode (the CPU dry run) packs this many of each collection's articles (XQuAD-R: 48).
SMOKE_ARTICLES = 2


def pack(
    config_path: str | Path,
    bundle_dir: str | Path,
    *,
    from_build: str | Path | None = None,
    smoke: bool = False,
    wheels_dir: str | Path | None = None,
    wheel_python: str = WHEEL_PYTHON,
    limit_bytes: int = BUNDLE_LIMIT_BYTES,
    benchmark_s: float = 0.0,
    budget_s: float = 0.0,
) -> Path:
    """Write ``<bundle_dir>/bundle.tar.gz`` for ``config_path`` (see :mod:`csir.gpu_study`).

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
        benchmark_s: the GPU throughput benchmark's seconds in the run (for the estimate).
        budget_s: the run's ``--budget`` (for the estimate: how many models it would start).

    Raises:
        ConfigError: for a configuration the bundle cannot carry, or notebook 02's files missing.
        CsirError: when the bundle would exceed ``limit_bytes``.
    """
    import yaml

    from csir import compact_backbone

    config_path = Path(config_path)
    text = config_path.read_text(encoding="utf-8")
    if smoke:
        data = io.loads_yaml(text) or {}
        data["defaults"] = {**(data.get("defaults") or {}), "smoke": True}
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    bundle_dir = Path(bundle_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".bundle.", dir=bundle_dir) as tmp:
        stage = Path(tmp) / "bundle"
        stage.mkdir()
        (stage / "config.yaml").write_text(text, encoding="utf-8")
        build = Path(from_build) if from_build else paths.build_dir() / config_path.stem
        with paths.using_build_dir(build.resolve()):
            try:
                plan = read_plan(stage / "config.yaml")
            except ConfigError as err:  # name the user's file, not its staged copy
                staged = str(stage / "config.yaml")
                raise ConfigError(str(err).replace(staged, str(config_path))) from None
            _check_packable(plan, config_path)
            needed = lexicons.translate_test_sources(plan.evaluations, config_path)
            files = _training_files(plan, config_path)
            data_root = paths.notebook_dir(DATA_NOTEBOOK)
            lexicon_root = paths.notebook_dir(LEXICON_NOTEBOOK) / "lexicons"
        for file in files:
            target = stage / "build" / DATA_NOTEBOOK / file.relative_to(data_root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)
        collections = _copy_collections(plan.evaluations, stage, smoke)
        by_lang: dict[str, list[str]] = {}
        for c in collections:
            by_lang.setdefault(c.lang, []).extend([*c.queries.values(), *c.docs.values()])
        packed, translated = lexicons.pack_lexicons(needed, by_lang, lexicon_root, stage)
        bli = lexicon_root.parent / BLI_TABLE  # back with the results, for notebook 06
        if bli.is_file():
            (stage / "build" / LEXICON_NOTEBOOK).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(bli, stage / "build" / LEXICON_NOTEBOOK / BLI_TABLE)
        texts = _study_texts(files, collections, translated)
        compact = compact_backbone.write_compact_e5(texts, stage / "backbone")
        wheels = _gather_wheels(stage / "wheels", wheels_dir, wheel_python)
        manifest = {
            "config": config_path.name,
            "name": config_path.stem,
            "smoke": smoke,
            "jobs": len(plan.jobs()),
            "evaluations": len(plan.evaluations),
            "evaluation_languages": evaluation_languages(*plan.evaluations),
            "texts": len(texts),
            "backbone": compact,
            "lexicons": packed,
            "wheels": wheels,
            "commit": pipeline.git_commit(),
            "created_by": f"csir {__version__} on Python {platform.python_version()}",
        }
        io.write_json(stage / "manifest.json", manifest)
        archive = Path(tmp) / BUNDLE_NAME
        write_tar(archive, stage, sorted(p for p in stage.rglob("*") if p.is_file()))
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
        with paths.using_build_dir(build.resolve()):
            guess = estimate(plan, reference, reference["workers"], benchmark_s, budget_s)
        assumed = guess.pop("assumed")
        log(
            f"estimated {guess['total_s']:.0f} s on {reference['device']} with "
            f"{reference['workers']} workers ({guess}), scaled from {REFERENCE_RECORD.name}"
            + "".join(f"; assumed: {a}" for a in assumed)
        )
        if "models_fit" in guess and guess["models_fit"] < manifest["jobs"]:
            log(
                f"with --budget {budget_s:.0f} the run would start only {guess['models_fit']} "
                f"of the {manifest['jobs']} models (it holds back the final scoring's time): "
                "give a larger --budget or a smaller plan"
            )
    print(
        f"[csir.gpu_study] {bundle_dir / BUNDLE_NAME}: {size / 2**20:.1f} MiB; "
        f"{manifest['jobs']} models, {len(texts):,} texts, backbone vocabulary "
        f"{compact.get('kept_ids', '?')} ids",
        file=sys.stderr,
    )
    return bundle_dir / BUNDLE_NAME


def _check_packable(plan: StudyPlan, config_path: Path) -> None:
    for number, cfg in enumerate(plan.evaluations, 1):
        where = f"{config_path}: {EVALUATION_NOTEBOOK}[{number}]"
        if cfg.ir_datasets_id:
            raise ConfigError(
                f"{where} uses ir_datasets_id {cfg.ir_datasets_id!r}; the GPU bundle carries "
                "SQuAD-format collections only (XQuAD-R or dataset_dir)"
            )
        uses_e5 = cfg.bi_encoder or cfg.candidates == "dense"
        if uses_e5 and cfg.dense_backbone != _offline_alias():
            raise ConfigError(
                f"{where}: dense_backbone {cfg.dense_backbone!r} is not in the bundle; use "
                f"{_offline_alias()!r}"
            )
    dataset_dirs = {cfg.dataset_dir for cfg in plan.evaluations}
    if len(dataset_dirs) > 1:
        raise ConfigError(
            f"{config_path}: its {EVALUATION_NOTEBOOK} entries read several dataset_dir "
            f"{sorted(dataset_dirs)}; the GPU bundle carries one collection folder"
        )
    for number, train in enumerate(plan.training, 1):
        if train.backbone != _offline_alias():
            raise ConfigError(
                f"{config_path}: {TRAINING_NOTEBOOK}[{number}] trains {train.backbone!r}; the GPU "
                f"bundle carries the offline backbone only ({_offline_alias()!r})"
            )
        if train.train_file:
            raise ConfigError(
                f"{config_path}: {TRAINING_NOTEBOOK}[{number}] names train_file; the GPU bundle "
                "takes notebook 02's train_sets"
            )


def _offline_alias() -> str:
    from csir.backbones import OFFLINE_E5

    return OFFLINE_E5


def _training_files(plan: StudyPlan, config_path: Path) -> list[Path]:
    """Every training file and dev file notebook 03 will read, checked to exist."""
    files = dict.fromkeys(file for cfg in plan.training for file in cfg.input_files())
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ConfigError(
            f"{config_path}: notebook 02's files are missing ({', '.join(missing[:3])}"
            f"{' …' if len(missing) > 3 else ''}); run notebooks 01-02 first: "
            f"python -m csir.pipeline {config_path} --only 01 --only 02"
        )
    return list(files)


def _copy_collections(cfgs: Sequence[Any], stage: Path, smoke: bool) -> list:
    """Copy the SQuAD files notebook 04's entries read into the bundle (one folder: they share
    their ``dataset_dir``); in smoke mode only their first :data:`SMOKE_ARTICLES` articles, so
    the dense first stage encodes a small corpus on CPU. Returns the collections as the GPU
    side will load them, one per language and task."""
    from csir.data import retrieval

    dataset_dir = cfgs[0].dataset_dir or None
    folder = stage / ("dataset" if dataset_dir else "data/xquad-r")
    folder.mkdir(parents=True)
    for lang in evaluation_languages(*cfgs):
        source = retrieval.squad_file(dataset_dir, lang)
        if smoke:
            _write_first_articles(source, folder / source.name, SMOKE_ARTICLES)
        else:
            shutil.copyfile(source, folder / source.name)
        license_file = source.parent / "LICENSE"
        if license_file.is_file() and not (folder / "LICENSE").exists():
            shutil.copyfile(license_file, folder / "LICENSE")
    wanted = {(lang, cfg.task, cfg.dataset) for cfg in cfgs for lang in evaluation_languages(cfg)}
    return [
        retrieval.load_squad_collection(folder, lang, task, dataset)
        for lang, task, dataset in sorted(wanted)
    ]


def _write_first_articles(source: Path, target: Path, articles: int) -> None:
    """A SQuAD file cut to its first ``articles`` articles (XQuAD-R's files are parallel: the
    same articles, paragraphs and question ids in every language)."""
    import json

    data = io.read_json(source)
    data["data"] = data["data"][:articles]
    with io.atomic_write(target) as fh:
        json.dump(data, fh, ensure_ascii=False)


def _study_texts(files: Sequence[Path], collections: Sequence, extra: Sequence[str]) -> list[str]:
    """Every text the GPU side encodes: training and dev queries and passages, every query and
    document of the evaluation collections, ``extra`` (Translate-Test's translations); unique,
    in first-seen order."""
    texts: dict[str, None] = {}
    for file in files:
        for record in io.read_jsonl(file):
            texts[str(record["query"])] = None
            texts[str(record["passage"])] = None
    for collection in collections:
        texts.update(dict.fromkeys(collection.queries.values()))
        texts.update(dict.fromkeys(collection.docs.values()))
    texts.update(dict.fromkeys(extra))
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
