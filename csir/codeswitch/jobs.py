"""What notebook 02 generates: one *job* per training set (a method, a language pair and a switch
probability p; :class:`csir.ids.TrainingSetId` names it), planned from a configuration, and the
lexicons the jobs need.

Pair names: ``en-de`` etc. for BL-CS, ``ml`` for ML-CS, ``wiki`` for Wiki-CS, ``en-en`` for
zero-shot (p = 0.0). Record languages: BL-CS the pair's languages; ML-CS ``"mix"`` on both sides
(tokens come from every language); Wiki-CS the language drawn for that instance on both sides.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from csir import io, languages
from csir.errors import ConfigError
from csir.ids import (
    BL_CS,
    ML_CS,
    ML_PAIR,
    TRAINING_METHODS,
    WIKI_CS,
    WIKI_PAIR,
    ZERO_SHOT,
    ZERO_SHOT_PAIR,
    TrainingSetId,
)

#: Record language of ML-CS texts, whose tokens come from several languages within one text
#: (unlike :data:`csir.languages.MIXED`, an MLIR side whose texts are each in one language).
CODE_MIXED = "mix"


@dataclasses.dataclass(frozen=True)
class Job:
    """One training set to generate.

    Attributes:
        method: one of ``zero-shot``, ``bl-cs``, ``ml-cs``, ``wiki-cs``.
        pair: ``en-de`` style for BL-CS, ``ml``, ``wiki`` or ``en-en``.
        p: switch probability (0.0 for zero-shot).
        languages: languages switched into: BL-CS the pair's non-English languages, ML-CS and
            Wiki-CS the pool drawn from, zero-shot none.
    """

    method: str
    pair: str
    p: float
    languages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", float(self.p))
        TrainingSetId(self.method, self.pair, self.p)  # the same rules as every training set

    @property
    def training_set(self) -> TrainingSetId:
        """The identity of the set this job writes."""
        return TrainingSetId(self.method, self.pair, self.p)

    @property
    def name(self) -> str:
        """``method/pair/p=<p>``, the job's folder under ``train/``."""
        return self.training_set.name

    def directory(self, output_dir: str | Path) -> Path:
        """``<output_dir>/train/<method>/<pair>/p=<p>``."""
        return self.training_set.directory(Path(output_dir) / "train")

    def key(self) -> int:
        """Stable 32-bit key of (method, pair, p) that seeds the record generators."""
        return zlib.crc32(f"{self.method}|{self.pair}|{self.p!r}".encode())

    def record_languages(self) -> tuple[str, str]:
        """``(query_lang, doc_lang)`` written on every record (Wiki-CS: drawn per record)."""
        if self.method == BL_CS:
            return languages.parse_pair(self.pair)
        if self.method == ML_CS:
            return CODE_MIXED, CODE_MIXED
        return "en", "en"


def plan_jobs(
    methods: Sequence[str],
    pairs: Sequence[str],
    probabilities: Sequence[float],
    pool: Sequence[str],
    wiki_probability: float = 1.0,
) -> list[Job]:
    """All jobs of a configuration, in a fixed order.

    Args:
        methods: subset of :data:`csir.ids.TRAINING_METHODS`.
        pairs: BL-CS pairs (query-document), e.g. ``["en-de", "de-ru"]``.
        probabilities: switch probabilities of BL-CS and ML-CS.
        pool: languages of ML-CS and Wiki-CS.
        wiki_probability: Wiki-CS switch probability (1.0 in the paper).
    """
    jobs: list[Job] = []
    for method in methods:
        if method == ZERO_SHOT:
            jobs.append(Job(ZERO_SHOT, ZERO_SHOT_PAIR, 0.0))
        elif method == BL_CS:
            for pair in pairs:
                query_lang, doc_lang = languages.parse_pair(pair)
                switched = tuple(dict.fromkeys(x for x in (query_lang, doc_lang) if x != "en"))
                if not switched:
                    raise ConfigError(f"BL-CS pair {pair!r} has nothing to switch (use zero-shot)")
                jobs.extend(Job(BL_CS, pair, p, switched) for p in probabilities)
        elif method == ML_CS:
            jobs.extend(Job(ML_CS, ML_PAIR, p, _pool(pool)) for p in probabilities)
        elif method == WIKI_CS:
            jobs.append(Job(WIKI_CS, WIKI_PAIR, wiki_probability, _pool(pool)))
        else:
            raise ConfigError(f"method {method!r} must be one of {', '.join(TRAINING_METHODS)}")
    return jobs


def _pool(pool: Sequence[str]) -> tuple[str, ...]:
    codes = tuple(dict.fromkeys(languages.check_language(x) for x in pool))
    if not codes or "en" in codes:
        raise ConfigError(f"ML-CS/Wiki-CS languages {pool!r} must be non-empty, without 'en'")
    return codes


def lexicon_languages(jobs: Iterable[Job]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Languages whose word lexicons (BL-CS, ML-CS) and title lexicons (Wiki-CS) the jobs need."""
    words: dict[str, None] = {}
    titles: dict[str, None] = {}
    for job in jobs:
        if job.method in (BL_CS, ML_CS):
            words.update(dict.fromkeys(job.languages))
        elif job.method == WIKI_CS:
            titles.update(dict.fromkeys(job.languages))
    return tuple(words), tuple(titles)


def load_lexicons(
    root: str | Path,
    source: str,
    langs: Iterable[str],
    loader: Callable[[Path], Mapping[str, Sequence[str]]],
    src: str = "en",
) -> tuple[dict[str, Mapping[str, Sequence[str]]], dict[str, dict[str, Any]]]:
    """Load ``<root>/<source>/<src>-<lang>.tsv`` for each language with ``loader``.

    Args:
        root: notebook 01's lexicon folder.
        source: lexicon source folder, e.g. ``"muse"`` or ``"titles"``.
        langs: target languages.
        loader: reads one TSV, e.g. :func:`csir.lexicon.load_lexicon`.
        src: source language of the lexicons.

    Returns:
        ``(lexicons, info)``: language → lexicon, and language → path, entry count and the JSON
        sidecar (when present) for ``stats.json``.

    Raises:
        CsirError: lexicons are missing (all of them named, before any is read).
    """
    from csir.lexicon.required import require_lexicons
    from csir.lexicon.store import lexicon_path

    langs = list(langs)
    files = {lang: lexicon_path(root, source, src, lang) for lang in langs}
    require_lexicons(
        list(files.items()),
        needed_by="code-switching",
        pattern=f"{src}-*.tsv",
        parameter="lexicon_induction_dir",
        drop="drop those languages from the code-switching jobs",
    )
    lexicons: dict[str, Mapping[str, Sequence[str]]] = {}
    info: dict[str, dict[str, Any]] = {}
    for lang in langs:
        path = files[lang]
        lexicons[lang] = loader(path)
        sidecar = path.with_suffix(".json")
        info[lang] = {
            "path": str(path),
            "source": source,
            "n_source_entries": len(lexicons[lang]),
            "sidecar": io.read_json(sidecar) if sidecar.is_file() else None,
        }
    return lexicons, info
