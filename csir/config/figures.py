"""Parameters of notebook 06 (paper figures and tables from cached results)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

from csir.config.base import NotebookConfig, Renamed, check_measures, notebook_output, require
from csir.config.evaluation import EvaluationConfig
from csir.config.lexicon import LexiconConfig
from csir.config.significance import SignificanceConfig
from csir.ids import ML_CS, WIKI_CS


@dataclasses.dataclass(frozen=True)
class FiguresConfig(NotebookConfig):
    """Parameters of notebook 06 (paper figures and tables from cached results only)."""

    NOTEBOOK: ClassVar[str] = "06_paper_figures"
    RENAMED: ClassVar = {"lexicon_run_dir": Renamed("lexicon_induction_dir")}
    FIGURES: ClassVar[tuple[str, ...]] = ("heatmaps", "settings", "p_ablation", "backbones", "bli")
    FORMATS: ClassVar[tuple[str, ...]] = ("pdf", "png", "svg")

    evaluation_dir: str = ""
    significance_dir: str = ""
    lexicon_induction_dir: str = ""
    output_dir: str = ""
    figures: tuple[str, ...] = FIGURES
    measure: str = "RR@10"
    backbone: str = ""
    cs_system: str = ""
    main_p: float = 0.5
    wiki_p: float = 1.0
    ablation_method: str = ML_CS
    formats: tuple[str, ...] = ("pdf", "png")
    dpi: int = 300
    smoke: bool | None = None

    #: Smoke mode draws at this resolution at most.
    SMOKE_DPI: ClassVar[int] = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.smoke:
            object.__setattr__(self, "dpi", min(self.dpi, self.SMOKE_DPI))

    def validate(self) -> None:
        unknown = sorted(set(self.figures) - set(self.FIGURES))
        require(not unknown, f"unknown figures {unknown}; choose from {self.FIGURES}")
        bad = sorted(set(self.formats) - set(self.FORMATS))
        require(not bad, f"unknown formats {bad}; choose from {self.FORMATS}")
        require(len(self.formats) > 0, "formats must not be empty")
        require(0.0 < self.main_p <= 1.0 and 0.0 < self.wiki_p <= 1.0, "p must be in (0, 1]")
        require(
            self.ablation_method in (ML_CS, WIKI_CS),
            "ablation_method must be ml-cs or wiki-cs (one model for every pair)",
        )
        require(50 <= self.dpi <= 1200, "dpi must be in [50, 1200]")
        check_measures((self.measure,), "measure")

    def evaluation_path(self) -> Path:
        """Notebook 04's output folder."""
        return notebook_output(self.evaluation_dir, EvaluationConfig.NOTEBOOK)

    def significance_path(self) -> Path:
        """Notebook 05's output folder."""
        return notebook_output(self.significance_dir, SignificanceConfig.NOTEBOOK)

    def lexicon_induction_path(self) -> Path:
        """Notebook 01's output folder (``bli.csv``)."""
        return notebook_output(self.lexicon_induction_dir, LexiconConfig.NOTEBOOK)
