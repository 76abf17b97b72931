"""Parameters of notebook 04 (re-ranking evaluation)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

from csir import languages
from csir.config.base import (
    NotebookConfig,
    Renamed,
    check_measures,
    notebook_output,
    require,
    require_distinct,
    require_folder_name,
)
from csir.config.lexicon import LEXICON_SOURCES, LexiconConfig
from csir.config.training import TrainingConfig
from csir.devices import SCORING_PRECISIONS, check_device_name

MLIR_LANGUAGES = ("en", "de", "ru", "ar", "es", "zh", "hi", "vi")


@dataclasses.dataclass(frozen=True)
class EvaluationConfig(NotebookConfig):
    """Parameters of notebook 04 (re-ranking evaluation).

    Data come from a folder of SQuAD-format files (``dataset_dir``, XQuAD-R by default) or,
    when ``ir_datasets_id`` is set, from ``ir_datasets`` (one dataset per language, e.g.
    ``"mmarco/v2/{lang}/dev/small"``, the paper's protocol). Then ``task`` is not used to load
    anything: it only names the run folder (``runs/<dataset>/<task>/``) and the ``task`` column
    of the metrics, so give ``dataset`` a name such as ``"mmarco-dev-small"``; ``candidates``
    ``"scoreddocs"`` re-ranks the dataset's own first stage of the pivot language, mapped to
    every language by document id (mMARCO's English is ``msmarco-passage``, whose official BM25
    top-1000 has no scores: re-rank all of it with ``top_k = 0``).

    ``top_k`` with ``"bm25"`` candidates counts *parallel units*: BM25 ranks the pivot
    language's paragraphs, and every document of the ``top_k`` best is a candidate in every
    pair — the paragraphs themselves, or all their sentences for the ``"sentence"`` task — so
    every language re-ranks the same content with the same recall (0: every paragraph).
    Ties in a first stage are broken in a fixed pseudo-random order, never by document id.
    """

    NOTEBOOK: ClassVar[str] = "04_evaluation"
    TASKS: ClassVar[tuple[str, ...]] = ("paragraph", "sentence")
    CANDIDATES: ClassVar[tuple[str, ...]] = ("exhaustive", "bm25", "dense", "scoreddocs")
    PRECISIONS: ClassVar[tuple[str, ...]] = SCORING_PRECISIONS
    #: Smoke mode evaluates these pairs (the issue's CI set) ...
    SMOKE_PAIRS: ClassVar[tuple[str, ...]] = ("en-en", "en-de", "de-de", "en-ar", "xx-xx")
    #: ... on this many queries, re-ranking this many candidates each, with this max length ...
    SMOKE_MAX_QUERIES: ClassVar[int] = 6
    SMOKE_TOP_K: ClassVar[int] = 4
    SMOKE_MAX_LENGTH: ClassVar[int] = 128
    #: ... and mixes these languages into MLIR sets.
    SMOKE_MLIR_LANGUAGES: ClassVar[tuple[str, ...]] = ("en", "de", "ar")
    RENAMED: ClassVar = {
        "models_root": Renamed("training_dir", below="models"),
        "lexicon_dir": Renamed("lexicon_induction_dir", below="lexicons"),
    }

    output_dir: str = ""
    dataset_dir: str = ""
    ir_datasets_id: str = ""
    dataset: str = "xquad-r"
    task: str = "paragraph"
    pairs: tuple[str, ...] = (
        "en-en", "de-de", "ru-ru", "ar-ar", "es-es", "zh-zh", "hi-hi", "vi-vi",
        "en-de", "en-ru", "en-ar", "de-ru", "ar-ru", "de-ar",
        "en-es", "en-zh", "en-hi", "en-vi", "es-zh", "de-vi", "hi-vi",
        "en-xx", "xx-en", "xx-xx",
    )  # fmt: skip
    mlir_languages: tuple[str, ...] = MLIR_LANGUAGES
    mlir_seeds: tuple[int, ...] = (13, 14, 15)
    model_dirs: tuple[str, ...] = ()
    training_dir: str = ""
    candidates: str = "bm25"
    pivot_lang: str = "en"
    dense_backbone: str = "e5-small-offline"
    top_k: int = 20
    max_queries: int = 0
    query_seed: int = 7
    first_stage: bool = True
    bi_encoder: bool = True
    translate_test: bool = True
    lexicon_induction_dir: str = ""
    lexicon_source: str = "muse"
    measures: tuple[str, ...] = ("RR@10", "nDCG@10", "R@100")
    batch_size: int = 32
    max_length: int = 0
    precision: str = "auto"
    int8: bool = False
    device: str = "auto"
    smoke: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.smoke:
            return
        given = self.values()
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        if self.pairs == defaults["pairs"]:
            object.__setattr__(self, "pairs", self.SMOKE_PAIRS)
        if self.mlir_languages == defaults["mlir_languages"]:
            object.__setattr__(self, "mlir_languages", self.SMOKE_MLIR_LANGUAGES)
        limit = min(self.max_queries or self.SMOKE_MAX_QUERIES, self.SMOKE_MAX_QUERIES)
        object.__setattr__(self, "max_queries", limit)
        object.__setattr__(self, "top_k", min(self.top_k, self.SMOKE_TOP_K))
        cap = self.SMOKE_MAX_LENGTH
        object.__setattr__(self, "max_length", min(self.max_length or cap, cap))
        self.report_smoke(given)

    def validate(self) -> None:
        require(self.task in self.TASKS, f"task {self.task!r} must be one of {self.TASKS}")
        require_folder_name(self.dataset, "dataset")
        require(
            self.candidates in self.CANDIDATES,
            f"candidates {self.candidates!r} must be one of {self.CANDIDATES}",
        )
        if self.ir_datasets_id:
            try:
                formatted = self.ir_datasets_id.format(lang="en")
            except (KeyError, IndexError, ValueError):
                formatted = ""
            require(
                "{lang}" in self.ir_datasets_id and bool(formatted),
                f"ir_datasets_id {self.ir_datasets_id!r} must contain '{{lang}}' (and no other "
                "braces), the place of the language code: e.g. 'mmarco/v2/{lang}/dev/small'",
            )
        require(
            self.candidates != "scoreddocs" or bool(self.ir_datasets_id),
            "candidates 'scoreddocs' (the dataset's own first stage) needs ir_datasets_id, "
            "e.g. 'mmarco/v2/{lang}/dev/small'; a SQuAD folder has none: use bm25",
        )
        require(len(self.pairs) > 0, "pairs must not be empty")
        split = [languages.parse_pair(pair, mixed=True) for pair in self.pairs]
        if any(languages.MIXED in sides for sides in split):
            require(len(self.mlir_languages) >= 2, "MLIR pairs need >= 2 mlir_languages")
        for code in self.mlir_languages:
            languages.check_language(code)
        # A repeated language is drawn twice as often (or, alone, makes MLIR monolingual).
        require_distinct(self.mlir_languages, "mlir_languages")
        require(
            not (self.bi_encoder or self.candidates == "dense")
            or Path(self.dense_backbone).name not in ("", ".", ".."),
            f"dense_backbone {self.dense_backbone!r} must name a backbone (a hub id, a folder "
            "by its path, or e5-small-offline): the bi-encoder and the dense first stage use it",
        )
        require(len(self.mlir_seeds) > 0, "mlir_seeds must hold at least one seed")
        require(
            len(set(self.mlir_seeds)) == len(self.mlir_seeds),
            f"mlir_seeds {list(self.mlir_seeds)} repeat a seed",
        )
        languages.check_language(self.pivot_lang)
        require(
            self.lexicon_source in LEXICON_SOURCES,
            f"lexicon_source {self.lexicon_source!r} must be one of {LEXICON_SOURCES}",
        )
        check_measures(self.measures)
        require(self.top_k >= 0, "top_k must be >= 0 (0: every candidate)")
        require(self.max_queries >= 0, "max_queries must be >= 0 (0: all)")
        require(self.batch_size > 0, "batch_size must be > 0")
        require(
            self.max_length == 0 or self.max_length >= 8,
            "max_length must be 0 (each model's own training length) or >= 8",
        )
        require(
            self.precision in self.PRECISIONS,
            f"precision {self.precision!r} must be one of {self.PRECISIONS}",
        )
        check_device_name(self.device)

    def models_path(self) -> Path:
        """``models/`` of notebook 03's output folder (``training_dir``)."""
        return notebook_output(self.training_dir, TrainingConfig.NOTEBOOK) / "models"

    def lexicon_path(self) -> Path:
        """``lexicons/`` of notebook 01's output folder (``lexicon_induction_dir``)."""
        return notebook_output(self.lexicon_induction_dir, LexiconConfig.NOTEBOOK) / "lexicons"
