"""The systems notebook 04 evaluates and how each is found: the first stage alone, the untrained
backbone as a bi-encoder, every trained cross-encoder (named by its folder below notebook 03's
``models/``) and Translate-Test of each zero-shot model (:mod:`csir.ids` names them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from csir import io
from csir.errors import ConfigError, CsirError
from csir.ids import BI_ENCODER, FIRST_STAGE, TRANSLATE_TEST, SystemId


@dataclasses.dataclass(frozen=True)
class System:
    """One ranked list per pair: a first stage, a re-ranker, or a re-ranker on translated text."""

    name: str
    kind: str  # FIRST_STAGE | "reranker" | TRANSLATE_TEST | BI_ENCODER
    model_dir: Path | None = None
    backbone: str = ""  # BI_ENCODER: the untrained backbone that scores the candidates


#: Files of a model folder whose bytes make its runs: changed bytes mean new runs.
MODEL_FILES = ("model.safetensors", "config.json", "csir_head.json")


def discover_models(root: str | Path) -> list[Path]:
    """Every model folder under ``root`` (one holding ``model.safetensors``), sorted.

    Raises:
        CsirError: a folder notebook 03 is still training or whose training stopped before its
            final save (a ``log.csv`` without a finished ``csir_training.json``): its weights
            are not the model it will be.
    """
    from csir.training.run_files import LOG_FILE, RUN_FILE, is_finished

    root = Path(root)
    if not root.is_dir():
        return []
    folders = sorted(path.parent for path in root.rglob("model.safetensors"))
    for folder in folders:
        if (folder / LOG_FILE).is_file() and not is_finished(folder):
            raise CsirError(
                f"{folder}: training has not finished (no finished {RUN_FILE}); run notebook 03 "
                "again to finish it, or delete the folder"
            )
    return folders


def model_fingerprint(model_dir: str | Path) -> dict[str, str]:
    """sha256 of each of a model folder's :data:`MODEL_FILES` that exists."""
    folder = Path(model_dir)
    return {
        name: io.file_sha256(folder / name) for name in MODEL_FILES if (folder / name).is_file()
    }


def model_name(model_dir: Path, root: Path) -> str:
    """The system name of a model: its path relative to the models root; outside it, what
    notebook 03 recorded it as (:func:`recorded_name`), else its last folders when they are
    notebook 03's layout (``<backbone>/<method>/<pair>/p=<p>/seed=<s>``), else its folder name
    (a model csir did not train)."""
    model_dir, root = Path(model_dir).resolve(), Path(root).resolve()
    if model_dir.is_relative_to(root) and model_dir != root:
        return model_dir.relative_to(root).as_posix()
    recorded = recorded_name(model_dir)
    if recorded is not None:
        return recorded
    laid_out = SystemId.parse("/".join(model_dir.parts[-5:]))
    if laid_out.training_set is not None and laid_out.seed is not None:
        return laid_out.name
    return model_dir.name


def recorded_name(model_dir: Path) -> str | None:
    """The name notebook 03 gave a model it trained, from its ``csir_training.json`` (backbone,
    layers, seed, and the training set of its ``train.jsonl`` under notebook 02's ``train/``);
    None when the folder has no such record or its training file is not one of notebook 02's."""
    from csir.ids import TrainingSetId
    from csir.training.args import model_dir_name
    from csir.training.run_files import RUN_FILE

    record = Path(model_dir) / RUN_FILE
    if not record.is_file():
        return None
    info = io.read_json(record)
    args, train_file = info.get("args") or {}, (info.get("train_file") or {}).get("path")
    parts = Path(str(train_file)).parts
    if not train_file or len(parts) < 5 or parts[-5] != "train" or "backbone" not in args:
        return None
    try:
        training_set = TrainingSetId.parse("/".join(parts[-4:-1]))
        backbone = model_dir_name(args["backbone"], int(args.get("num_layers") or 0))
    except ConfigError:
        return None
    return SystemId.model(backbone, training_set, args.get("seed")).name


def plan_systems(
    model_dirs: Sequence[Path],
    root: Path,
    *,
    candidates: str,
    first_stage: bool = True,
    translate_test: bool = True,
    bi_encoder: str = "",
) -> list[System]:
    """The first stage (unless exhaustive), the untrained ``bi_encoder`` re-ranking the same
    candidates (when given), every model, and Translate-Test of zero-shot models."""
    systems = []
    if first_stage and candidates != "exhaustive":
        systems.append(System(f"{FIRST_STAGE}/{candidates}", FIRST_STAGE))
    if bi_encoder:
        name = f"{BI_ENCODER}/{Path(bi_encoder).name}"
        systems.append(System(name, BI_ENCODER, backbone=bi_encoder))
    names = {}
    for folder in model_dirs:
        name = model_name(folder, root)
        if name in names:
            raise ConfigError(f"two model folders share the name {name!r}: {names[name]}, {folder}")
        names[name] = folder
        systems.append(System(name, "reranker", Path(folder)))
    if translate_test:
        for name, folder in names.items():
            system = SystemId.parse(name)
            if system.is_zero_shot:
                systems.append(System(system.as_translate_test().name, TRANSLATE_TEST, folder))
    return systems
