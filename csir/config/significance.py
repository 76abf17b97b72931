"""Parameters of notebook 05 (paired tests against the zero-shot baseline)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

from csir.config.base import NotebookConfig, check_measures, notebook_output, require
from csir.config.evaluation import EvaluationConfig


@dataclasses.dataclass(frozen=True)
class SignificanceConfig(NotebookConfig):
    """Parameters of notebook 05 (paired tests against the zero-shot baseline)."""

    NOTEBOOK: ClassVar[str] = "05_significance"
    TESTS: ClassVar[tuple[str, ...]] = ("t-test", "permutation")
    CORRECTIONS: ClassVar[tuple[str, ...]] = ("bonferroni", "holm", "none")
    #: Smoke mode draws this many random assignments in the permutation test.
    SMOKE_RESAMPLES: ClassVar[int] = 1000

    evaluation_dir: str = ""
    output_dir: str = ""
    measures: tuple[str, ...] = ("RR@10",)
    test: str = "t-test"
    correction: str = "bonferroni"
    alpha: float = 0.05
    n_resamples: int = 10000
    seed: int = 0
    smoke: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.smoke:
            object.__setattr__(self, "n_resamples", min(self.n_resamples, self.SMOKE_RESAMPLES))

    def validate(self) -> None:
        require(self.test in self.TESTS, f"test {self.test!r} must be one of {self.TESTS}")
        require(
            self.correction in self.CORRECTIONS,
            f"correction {self.correction!r} must be one of {self.CORRECTIONS}",
        )
        require(0.0 < self.alpha < 1.0, "alpha must be in (0, 1)")
        check_measures(self.measures)
        require(self.n_resamples >= 100, "n_resamples must be >= 100")
        require(self.seed >= 0, "seed must be >= 0 (numpy's random generators refuse others)")

    def evaluation_path(self) -> Path:
        """Notebook 04's output folder (``evaluation_dir``)."""
        return notebook_output(self.evaluation_dir, EvaluationConfig.NOTEBOOK)
