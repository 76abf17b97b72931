"""Parameters of notebook 03 (cross-encoder training): training sets by their identity."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from csir import paths
from csir.config.base import NotebookConfig, Renamed, notebook_output, require
from csir.config.data_generation import DataGenerationConfig
from csir.errors import ConfigError
from csir.ids import CUSTOM, TrainingSetId


def _layout_training_set(file: Path) -> TrainingSetId | None:
    """The training set of a file at ``…/train/<method>/<pair>/p=<p>/<file>`` (else None)."""
    parts = file.parts
    if len(parts) < 5 or parts[-5] != "train":
        return None
    try:
        return TrainingSetId.parse("/".join(parts[-4:-1]))
    except ConfigError:
        return None


def _training_set_names(names: Sequence[str]) -> tuple[str, ...]:
    """``train_sets`` checked and named as notebook 02 names its folders (``p=0.50``: ``p=0.5``)."""
    out = []
    for name in names:
        try:
            out.append(TrainingSetId.parse(name).name)
        except ConfigError as err:
            raise ConfigError(f"train_sets: {err}") from None
    require(len(set(out)) == len(out), f"train_sets {list(names)} name a training set twice")
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class TrainingConfig(NotebookConfig):
    """Parameters of notebook 03 (cross-encoder fine-tuning, one model per training set)."""

    NOTEBOOK: ClassVar[str] = "03_training"
    RENAMED: ClassVar = {"data_dir": Renamed("data_generation_dir")}
    #: Smoke mode trains only these of the requested sets (else the first one) ...
    SMOKE_TRAIN_SETS: ClassVar[tuple[str, ...]] = ("zero-shot/en-en/p=0.0", "bl-cs/en-de/p=0.5")
    #: ... for at most this many steps (1 of warm-up), pairs per batch and tokens per pair.
    SMOKE_MAX_STEPS: ClassVar[int] = 3
    #: ... evaluating on the dev set every 2 steps, with its first 8 judged questions ...
    SMOKE_EVAL_EVERY: ClassVar[int] = 2
    SMOKE_DEV_MAX_QUERIES: ClassVar[int] = 8
    SMOKE_BATCH_SIZE: ClassVar[int] = 4
    SMOKE_MAX_LENGTH: ClassVar[int] = 96

    output_dir: str = ""
    data_generation_dir: str = ""
    train_file: str = ""
    train_sets: tuple[str, ...] = (
        "zero-shot/en-en/p=0.0",
        "bl-cs/en-de/p=0.5",
        "bl-cs/en-ar/p=0.5",
        "bl-cs/de-ru/p=0.5",
        "ml-cs/ml/p=0.5",
        "wiki-cs/wiki/p=1.0",
    )
    backbone: str = "e5-small-offline"
    num_layers: int = 0
    head: str = "auto"
    joint_layers: int = 0
    query_max_length: int = 64
    max_steps: int = 2000
    batch_size: int = 32
    grad_accum: int = 1
    learning_rate: float = 2e-5
    head_learning_rate: float = 0.01
    warmup_steps: int = 200
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    max_length: int = 256
    precision: str = "auto"
    dropout: float = 0.0
    loss: str = "pointwise"
    batch_by_question: bool = False
    freeze_embeddings: bool = False
    trim_vocabulary: bool = True
    select_on_dev: bool = True
    eval_every: int = 100
    dev_max_queries: int = 0
    seeds: tuple[int, ...] = (1,)
    checkpoint_every: int = 500
    num_workers: int = 0
    log_every: int = 10
    force: bool = False
    smoke: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "train_sets", _training_set_names(self.train_sets))
        super().__post_init__()
        if self.smoke:
            given = self.values()
            if not self.train_file:
                kept = tuple(s for s in self.train_sets if s in self.SMOKE_TRAIN_SETS)
                object.__setattr__(self, "train_sets", kept or self.train_sets[:1])
            for name, cap in (
                ("max_steps", self.SMOKE_MAX_STEPS),
                ("eval_every", self.SMOKE_EVAL_EVERY),
                ("batch_size", self.SMOKE_BATCH_SIZE),
                ("max_length", self.SMOKE_MAX_LENGTH),
            ):
                object.__setattr__(self, name, min(getattr(self, name), cap))
            object.__setattr__(self, "warmup_steps", min(self.warmup_steps, 1))
            cap = self.SMOKE_DEV_MAX_QUERIES
            object.__setattr__(self, "dev_max_queries", min(self.dev_max_queries or cap, cap))
            self.report_smoke(given)

    def validate(self) -> None:
        require(
            bool(self.train_file) or len(self.train_sets) > 0,
            "give train_file or at least one of train_sets",
        )
        require(len(self.seeds) > 0, "seeds must not be empty (the paper: 1, 2, 3)")
        require(len(set(self.seeds)) == len(self.seeds), f"seeds {self.seeds} repeat a seed")
        for seed in self.seeds:
            self.training_args(seed)  # the training library's own checks: one set of rules
            # accelerate's set_seed seeds numpy's global generator, which takes 32 bits only.
            require(seed < 2**32, f"seeds: seed {seed} must be below 2**32")

    def training_args(self, seed: int | None = None):  # -> csir.training.TrainingArgs (lazy: torch)
        """The :class:`csir.training.TrainingArgs` of one seed (default: the first seed).

        Every field of this config that ``TrainingArgs`` also has is passed on by name.
        """
        from csir.training.args import TrainingArgs

        values = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(TrainingArgs)
            if f.name != "seed" and hasattr(self, f.name)
        }
        if not self.select_on_dev:
            values["eval_every"] = 0
        return TrainingArgs(**values, seed=self.seeds[0] if seed is None else seed)

    def input_files(self) -> list[Path]:
        """Every training file of :meth:`jobs` and the dev file, once each."""
        files = dict.fromkeys(file for file, _, _ in self.jobs())
        if self.dev_file() is not None:
            files[self.dev_file()] = None
        return list(files)

    def require_inputs(self) -> None:
        """One error before any model trains when a training file or the dev file is missing
        (a typo in the last of ``train_sets`` must not wait for the others to train)."""
        from csir import io

        parameter = "train_file" if self.train_file else "data_generation_dir"
        io.require_outputs(self.input_files(), DataGenerationConfig.NOTEBOOK, parameter)

    def dev_file(self) -> Path | None:
        """Notebook 02's dev set (``dev/en-en/dev.jsonl``) when selecting on it, else ``None``."""
        return self.data_path() / "dev" / "en-en" / "dev.jsonl" if self.select_on_dev else None

    def data_path(self) -> Path:
        """Notebook 02's output folder (``data_generation_dir``)."""
        return notebook_output(self.data_generation_dir, DataGenerationConfig.NOTEBOOK)

    def models_path(self) -> Path:
        """``<output>/models``: one folder per backbone, training set and seed below it."""
        return self.output_path() / "models"

    def jobs(self) -> list[tuple[Path, Path, int]]:
        """``(train_file, model_dir, seed)`` of every model to train: each set with each seed.

        Model folders are ``models/<backbone>/<method>/<pair>/p=<p>/seed=<seed>``; a
        ``train_file`` outside notebook 02's layout goes to ``models/<backbone>/custom/<stem>``.
        """
        from csir.training.args import model_dir_name

        base = self.models_path() / model_dir_name(self.backbone, self.num_layers)
        if self.train_file:
            file = paths.resolve_path(self.train_file)
            found = _layout_training_set(file)
            folder = found.directory(base) if found else base / CUSTOM / file.stem
            folders = [(file, folder)]
        else:
            train_root = self.data_path() / "train"
            sets = [TrainingSetId.parse(name) for name in self.train_sets]
            folders = [(t.directory(train_root) / "train.jsonl", t.directory(base)) for t in sets]
        return [
            (file, folder / f"seed={seed}", seed) for seed in self.seeds for file, folder in folders
        ]
