"""Parameters of notebook 01 (lexicon induction and BLI evaluation)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

from csir import languages, paths
from csir.config.base import (
    NotebookConfig,
    require,
    require_distinct,
)
from csir.devices import check_device_name

LEXICON_SOURCES = ("muse", "clwe_nn", "clwe_csls", "titles")


@dataclasses.dataclass(frozen=True)
class LexiconConfig(NotebookConfig):
    """Parameters of notebook 01 (lexicon induction and BLI evaluation)."""

    NOTEBOOK: ClassVar[str] = "01_lexicon_induction"
    #: Smoke mode keeps these of the requested languages (else the first two) ...
    SMOKE_LANGUAGES: ClassVar[tuple[str, ...]] = ("de", "ar", "zh")
    #: ... caps both vocabularies at this many words ...
    SMOKE_VOCAB_SIZE: ClassVar[int] = 1000
    #: ... and evaluates this many test words per language.
    SMOKE_TEST_WORDS: ClassVar[int] = 300
    CLWE_SOURCES: ClassVar[tuple[str, ...]] = ("backbone", "muse-vec")
    TITLES_SOURCES: ClassVar[tuple[str, ...]] = ("cldr", "wikititles")

    output_dir: str = ""
    languages: tuple[str, ...] = languages.SEEN[1:] + languages.UNSEEN
    test_dict_dir: str = ""
    clwe_source: str = "backbone"
    backbone: str = "e5-small-offline"
    word_prefix: str = ""
    en_vocab_size: int = 20000
    tgt_vocab_size: int = 50000
    add_test_words: bool = True
    max_test_words: int = 0
    center_vectors: bool = True
    csls_k: int = 10
    titles_source: str = "cldr"
    batch_size: int = 512
    device: str = "auto"
    smoke: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.smoke:
            given = self.values()
            kept = tuple(c for c in self.languages if c in self.SMOKE_LANGUAGES)
            object.__setattr__(self, "languages", kept or self.languages[:2])
            for name in ("en_vocab_size", "tgt_vocab_size"):
                object.__setattr__(self, name, min(getattr(self, name), self.SMOKE_VOCAB_SIZE))
            limit = self.max_test_words or self.SMOKE_TEST_WORDS
            object.__setattr__(self, "max_test_words", min(limit, self.SMOKE_TEST_WORDS))
            self.report_smoke(given)

    def _require_word_lists(self) -> None:
        """The backbone's word vectors embed each language's most frequent words (wordfreq):
        a language without a wordfreq list must be refused here, not after the lexicons of
        the languages before it were written."""
        try:
            import wordfreq
        except ImportError:  # not installed here: the notebook's import says so
            return
        have = wordfreq.available_languages("best")
        lacking = [code for code in ("en", *self.languages) if code not in have]
        require(
            not lacking,
            f"clwe_source 'backbone' needs a wordfreq word list for every language, and wordfreq "
            f"has none for {', '.join(lacking)}: drop {', '.join(lacking)} from languages, or "
            "use clwe_source 'muse-vec' (MUSE's aligned vectors)",
        )

    def validate(self) -> None:
        require(len(self.languages) > 0, "languages must not be empty")
        for code in self.languages:
            languages.check_language(code)
            require(code != "en", "languages lists target languages; 'en' is always the source")
        require_distinct(self.languages, "languages")
        require(self.en_vocab_size > 0 and self.tgt_vocab_size > 0, "vocabulary sizes must be > 0")
        require(self.csls_k > 0, "csls_k must be > 0")
        require(self.max_test_words >= 0, "max_test_words must be >= 0 (0 means all)")
        require(self.batch_size > 0, "batch_size must be > 0")
        check_device_name(self.device)
        require(
            self.clwe_source != "backbone" or bool(self.backbone.strip()),
            "backbone must not be empty with clwe_source 'backbone' (it embeds the words)",
        )
        require(
            self.clwe_source in self.CLWE_SOURCES,
            f"clwe_source {self.clwe_source!r} must be one of {self.CLWE_SOURCES}",
        )
        if self.clwe_source == "backbone":
            self._require_word_lists()
        require(
            self.titles_source in self.TITLES_SOURCES,
            f"titles_source {self.titles_source!r} must be one of {self.TITLES_SOURCES}",
        )

    def test_dict_path(self) -> Path | None:
        """Folder of MUSE-format test dictionaries: ``test_dict_dir`` or ``<mirror>/muse-test``."""
        if self.test_dict_dir:
            return paths.resolve_path(self.test_dict_dir)
        mirror = paths.data_mirror()
        return mirror / "muse-test" if mirror else None
