"""Parameters of notebook 07 (bitext mining: what training did to cross-lingual alignment)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

from csir import languages
from csir.config.base import (
    NotebookConfig,
    Renamed,
    notebook_output,
    require,
    require_distinct,
)
from csir.config.significance import SignificanceConfig
from csir.config.training import TrainingConfig
from csir.devices import check_device_name


@dataclasses.dataclass(frozen=True)
class MiningConfig(NotebookConfig):
    """Parameters of notebook 07 (bitext mining with every encoder: accuracy and BUCC F1)."""

    NOTEBOOK: ClassVar[str] = "07_bitext_mining"
    RENAMED: ClassVar = {"models_root": Renamed("training_dir", below="models")}
    UNITS: ClassVar[tuple[str, ...]] = ("question", "paragraph")
    SCORINGS: ClassVar[tuple[str, ...]] = ("margin", "cosine")
    FORMATS: ClassVar[tuple[str, ...]] = ("pdf", "png", "svg")
    #: Smoke mode: this many pairs (the first ones), sources per split and dpi at most.
    SMOKE_PAIRS: ClassVar[int] = 2
    SMOKE_MAX_SOURCES: ClassVar[int] = 24
    SMOKE_DPI: ClassVar[int] = 100
    SMOKE_RESAMPLES: ClassVar[int] = 1000
    CORRECTIONS: ClassVar[tuple[str, ...]] = SignificanceConfig.CORRECTIONS

    dataset_dir: str = ""
    unit: str = "question"
    pairs: tuple[str, ...] = ("de-en", "ru-en", "ar-en", "zh-en", "es-en", "hi-en", "de-ar")
    dev_share: float = 0.5
    parallel_share: float = 0.5
    distractors: float = 1.0
    max_sources: int = 0
    seed: int = 0
    k: int = 4
    scorings: tuple[str, ...] = SCORINGS
    backbone: str = "e5-small-offline"
    model_dirs: tuple[str, ...] = ()
    training_dir: str = ""
    prefix: str = "query: "
    bucc_dir: str = ""
    bucc_pairs: tuple[str, ...] = ()
    bucc_dev_split: str = "training"
    bucc_test_split: str = "test"
    batch_size: int = 64
    max_length: int = 128
    device: str = "auto"
    correction: str = "bonferroni"
    alpha: float = 0.05
    n_resamples: int = 10000
    formats: tuple[str, ...] = ("pdf", "png")
    dpi: int = 300
    output_dir: str = ""
    smoke: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.smoke:
            return
        object.__setattr__(self, "pairs", self.pairs[: self.SMOKE_PAIRS])
        object.__setattr__(self, "bucc_pairs", self.bucc_pairs[: self.SMOKE_PAIRS])
        cap = self.SMOKE_MAX_SOURCES
        object.__setattr__(self, "max_sources", min(self.max_sources or cap, cap))
        object.__setattr__(self, "dpi", min(self.dpi, self.SMOKE_DPI))
        object.__setattr__(self, "n_resamples", min(self.n_resamples, self.SMOKE_RESAMPLES))

    def validate(self) -> None:
        require(self.unit in self.UNITS, f"unit {self.unit!r} must be one of {self.UNITS}")
        require(len(self.pairs) + len(self.bucc_pairs) > 0, "pairs and bucc_pairs are both empty")
        for pair in (*self.pairs, *self.bucc_pairs):
            src, tgt = languages.parse_pair(pair)
            require(src != tgt, f"mining pair {pair!r} needs two different languages")
        require_distinct(self.pairs, "pairs")
        require_distinct(self.bucc_pairs, "bucc_pairs")
        require(
            not self.bucc_pairs or bool(self.bucc_dir),
            "bucc_pairs need bucc_dir, the folder of the BUCC files",
        )
        require(0.0 < self.dev_share < 1.0, "dev_share must be in (0, 1)")
        require(0.0 < self.parallel_share <= 1.0, "parallel_share must be in (0, 1]")
        require(self.distractors >= 0.0, "distractors must be >= 0")
        require(self.max_sources >= 0, "max_sources must be >= 0 (0: all)")
        require(self.seed >= 0, "seed must be >= 0 (numpy's random generators refuse others)")
        require(self.k >= 1, "k (the margin's neighbourhood) must be >= 1")
        bad = sorted(set(self.scorings) - set(self.SCORINGS))
        require(not bad and len(self.scorings) > 0, f"scorings must be among {self.SCORINGS}")
        require_distinct(self.scorings, "scorings")
        require(self.batch_size > 0, "batch_size must be > 0")
        require(self.max_length >= 8, "max_length must be >= 8")
        bad = sorted(set(self.formats) - set(self.FORMATS))
        require(not bad and len(self.formats) > 0, f"formats must be among {self.FORMATS}")
        require(50 <= self.dpi <= 1200, "dpi must be in [50, 1200]")
        check_device_name(self.device)
        require(
            self.correction in self.CORRECTIONS,
            f"correction {self.correction!r} must be one of {self.CORRECTIONS}",
        )
        require(0.0 < self.alpha < 1.0, "alpha must be in (0, 1)")
        require(self.n_resamples >= 100, "n_resamples must be >= 100")

    def models_path(self) -> Path:
        """``models/`` of notebook 03's output folder (``training_dir``)."""
        return notebook_output(self.training_dir, TrainingConfig.NOTEBOOK) / "models"
