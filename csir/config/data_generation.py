"""Parameters of notebook 02 (code-switched training sets)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

from csir import languages
from csir.config.base import (
    NotebookConfig,
    Renamed,
    check_probabilities,
    notebook_output,
    require,
    require_distinct,
)
from csir.config.lexicon import LEXICON_SOURCES, LexiconConfig
from csir.ids import BL_CS, ML_CS, TRAINING_METHODS, WIKI_CS


@dataclasses.dataclass(frozen=True)
class DataGenerationConfig(NotebookConfig):
    """Parameters of notebook 02 (code-switched training data)."""

    NOTEBOOK: ClassVar[str] = "02_data_generation"
    TRAIN_SOURCES: ClassVar[tuple[str, ...]] = ("wikiqa", "msmarco")
    #: Smoke mode keeps this many training pairs ...
    SMOKE_MAX_PAIRS: ClassVar[int] = 300
    #: ... and these of the requested probabilities (else the first one), in one process ...
    SMOKE_PROBABILITIES: ClassVar[tuple[float, ...]] = (0.5, 1.0)
    #: ... and, when ``pairs``/``ml_languages`` are left at their defaults, only the pairs and
    #: languages within notebook 01's smoke languages (whose lexicons a smoke run of 01 writes;
    #: else the first one). Pairs and languages chosen explicitly are kept as given.
    SMOKE_LANGUAGES: ClassVar[tuple[str, ...]] = LexiconConfig.SMOKE_LANGUAGES
    RENAMED: ClassVar = {
        "lexicon_dir": Renamed("lexicon_induction_dir", below="lexicons"),
        "titles_source": Renamed("title_lexicon_source"),
    }

    output_dir: str = ""
    lexicon_induction_dir: str = ""
    lexicon_source: str = "muse"
    title_lexicon_source: str = "titles"
    methods: tuple[str, ...] = TRAINING_METHODS
    pairs: tuple[str, ...] = ("en-de", "en-ar", "de-ru")
    ml_languages: tuple[str, ...] = ("de", "ru", "it", "nl", "ar")
    probabilities: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    wiki_probability: float = 1.0
    max_ngram: int = 3
    train_source: str = "wikiqa"
    train_path: str = ""
    negatives_per_positive: int = 4
    max_pairs: int = 0
    num_proc: int = 0
    seed: int = 42
    smoke: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.smoke:
            given = self.values()
            limit = min(self.max_pairs or self.SMOKE_MAX_PAIRS, self.SMOKE_MAX_PAIRS)
            kept = tuple(p for p in self.probabilities if p in self.SMOKE_PROBABILITIES)
            object.__setattr__(self, "max_pairs", limit)
            object.__setattr__(self, "probabilities", kept or self.probabilities[:1])
            object.__setattr__(self, "num_proc", 1)
            allowed = {"en", *self.SMOKE_LANGUAGES}
            defaults = {f.name: f.default for f in dataclasses.fields(self)}
            if self.pairs == defaults["pairs"]:
                pairs = tuple(p for p in self.pairs if set(p.split("-")) <= allowed)
                object.__setattr__(self, "pairs", pairs or self.pairs[:1])
            if self.ml_languages == defaults["ml_languages"]:
                pool = tuple(c for c in self.ml_languages if c in allowed)
                object.__setattr__(self, "ml_languages", pool or self.ml_languages[:1])
            self.report_smoke(given)

    def workers(self) -> int:
        """Processes for ``Dataset.map``: ``num_proc``, or every core when it is 0."""
        import os

        return self.num_proc or os.cpu_count() or 1

    def validate(self) -> None:
        require(
            self.lexicon_source in LEXICON_SOURCES,
            f"lexicon_source {self.lexicon_source!r} must be one of {LEXICON_SOURCES}",
        )
        require(
            self.title_lexicon_source in LEXICON_SOURCES,
            f"title_lexicon_source {self.title_lexicon_source!r} must be one of {LEXICON_SOURCES}",
        )
        require(len(self.methods) > 0, "methods must not be empty")
        for method in self.methods:
            require(
                method in TRAINING_METHODS,
                f"method {method!r} must be one of {', '.join(TRAINING_METHODS)}",
            )
        for pair in self.pairs:
            languages.parse_pair(pair)
        for code in self.ml_languages:
            languages.check_language(code)
            require(code != "en", "ml_languages lists languages to switch into; drop 'en'")
        require(
            len(self.ml_languages) > 0 or not {ML_CS, WIKI_CS} & set(self.methods),
            "ml_languages must not be empty for ml-cs and wiki-cs",
        )
        for pair in self.pairs:
            require(pair != "en-en", "pair 'en-en' switches nothing: use method 'zero-shot'")
        require(
            len(self.pairs) > 0 or BL_CS not in self.methods,
            "pairs must not be empty for bl-cs (it switches between the languages of a pair)",
        )
        for name in ("methods", "pairs", "ml_languages", "probabilities"):
            require_distinct(getattr(self, name), name)
        check_probabilities(self.probabilities)
        check_probabilities((self.wiki_probability,))
        require(1 <= self.max_ngram <= 10, "max_ngram must be between 1 and 10")
        require(
            self.train_source in self.TRAIN_SOURCES,
            f"train_source {self.train_source!r} must be one of {self.TRAIN_SOURCES}",
        )
        require(
            self.train_source != "msmarco" or bool(self.train_path),
            "train_source 'msmarco' needs train_path (a triples .tsv or .jsonl, maybe .gz)",
        )
        require(self.negatives_per_positive >= 0, "negatives_per_positive must be >= 0")
        require(
            self.train_source != "msmarco" or self.negatives_per_positive >= 1,
            "train_source 'msmarco' needs negatives_per_positive >= 1",
        )
        require(self.max_pairs >= 0, "max_pairs must be >= 0 (0 means all)")
        require(self.num_proc >= 0, "num_proc must be >= 0 (0 means all cores)")
        require(self.seed >= 0, "seed must be >= 0")

    def lexicon_path(self) -> Path:
        """``lexicons/`` of notebook 01's output folder (``lexicon_induction_dir``)."""
        return notebook_output(self.lexicon_induction_dir, LexiconConfig.NOTEBOOK) / "lexicons"

    def require_lexicons(self) -> None:
        """One error before any training set is made when a lexicon the jobs need is missing,
        naming every missing file (a language without one, such as el, th or tr offline, must
        not wait for the English pairs and the lexicons before it)."""
        from csir import codeswitch as cs
        from csir.lexicon.required import require_lexicons
        from csir.lexicon.store import lexicon_path

        jobs = cs.plan_jobs(
            self.methods, self.pairs, self.probabilities, self.ml_languages, self.wiki_probability
        )
        words, titles = cs.lexicon_languages(jobs)
        root = self.lexicon_path()
        require_lexicons(
            [(x, lexicon_path(root, self.lexicon_source, "en", x)) for x in words]
            + [(x, lexicon_path(root, self.title_lexicon_source, "en", x)) for x in titles],
            needed_by="notebook 02",
            pattern="en-*.tsv",
            parameter="lexicon_induction_dir",
            drop="drop those languages from pairs (bl-cs) and ml_languages (ml-cs, wiki-cs)",
        )
