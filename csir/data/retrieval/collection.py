"""The data model of retrieval: one language's :class:`Collection` and the :class:`RetrievalPair`
of a query side and a document side (MoIR, CLIR, MLIR)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from csir import languages
from csir.errors import CsirError
from csir.runs import Qrels

if TYPE_CHECKING:
    import pandas as pd


TASKS = ("paragraph", "sentence")
MIXED = languages.MIXED
"""Language code of a mixed-language (MLIR) side."""
ENGLISH = "en"


class LanguageFileNotFoundError(CsirError, FileNotFoundError):
    """A folder of ``<lang>.json`` files lacks the requested language."""


# --------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class Collection:
    """One language's side of a dataset.

    Attributes:
        dataset: ``"xquad-r"`` or the folder/collection name.
        task: ``"paragraph"`` | ``"sentence"`` | ``"trec"`` | an ``ir_datasets`` id.
        lang: language code of every text in it.
        queries: qid → text.
        docs: docid → text.
        qrels: qid → {docid: relevance} among this collection's docs.
        doc_groups: docid → parallel id shared across languages.
        source: file path(s), for messages.
        stats: extra counts and notes of the loader (e.g. ``sentence_split``).
    """

    dataset: str
    task: str
    lang: str
    queries: dict[str, str]
    docs: dict[str, str]
    qrels: Qrels
    doc_groups: dict[str, str]
    source: str
    stats: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: dataset, task, language and sizes."""
        judged = sum(1 for rels in self.qrels.values() if any(r > 0 for r in rels.values()))
        return (
            f"{self.dataset}/{self.task} {self.lang}: {len(self.queries)} queries "
            f"({judged} with a relevant doc), {len(self.docs)} docs, "
            f"{len(set(self.doc_groups.values()))} groups"
        )


@dataclass(frozen=True)
class RetrievalPair:
    """What one evaluation run re-ranks: queries in one language (or mixed) against docs in another.

    Attributes:
        dataset: dataset name (shared by both sides).
        task: task name (shared by both sides).
        query_lang: language code of the queries, or :data:`MIXED`.
        doc_lang: language code of the documents, or :data:`MIXED`.
        queries: qid → text (only queries with at least one relevant doc).
        docs: docid → text (the whole candidate pool of the document side).
        qrels: qid → {docid: relevance}.
        query_langs: qid → language its text is in.
        doc_langs: docid → language its text is in.
        doc_groups: docid → parallel id shared across languages.
        counts: sizes for reports (see :func:`make_pair`).
        translated: True when texts were translated into English (Translate-Test); the
            language fields keep the original languages.
        seed: the seed of the MLIR language draw, ``None`` for MoIR/CLIR.
    """

    dataset: str
    task: str
    query_lang: str
    doc_lang: str
    queries: dict[str, str]
    docs: dict[str, str]
    qrels: Qrels
    query_langs: dict[str, str]
    doc_langs: dict[str, str]
    doc_groups: dict[str, str]
    counts: dict[str, int]
    translated: bool = False
    seed: int | None = None

    @property
    def name(self) -> str:
        """``"<query_lang>-<doc_lang>"``, e.g. ``"en-de"`` or ``"xx-xx"``."""
        return f"{self.query_lang}-{self.doc_lang}"

    @property
    def setting(self) -> str:
        """``"MLIR"`` when a side is mixed, ``"MoIR"`` for one language, else ``"CLIR"``."""
        if MIXED in (self.query_lang, self.doc_lang):
            return "MLIR"
        return "MoIR" if self.query_lang == self.doc_lang else "CLIR"

    def describe(self) -> str:
        """One line for logs and notebooks: setting, sizes and dropped queries."""
        extra = " [translate-test]" if self.translated else ""
        seed = f", seed {self.seed}" if self.seed is not None else ""
        return (
            f"{self.dataset}/{self.task} {self.name} ({self.setting}{seed}){extra}: "
            f"{len(self.queries)} queries, {len(self.docs)} docs, "
            f"{self.counts.get('relevant', 0)} relevant; "
            f"{self.counts.get('queries_without_relevant', 0)} queries dropped without a "
            "relevant doc"
        )

    def row(self) -> dict[str, Any]:
        """A flat dict (one DataFrame row): names, setting and every count."""
        return {
            "dataset": self.dataset,
            "task": self.task,
            "pair": self.name,
            "setting": self.setting,
            "translated": self.translated,
            "seed": self.seed,
            **self.counts,
        }


def has_relevant(rels: Mapping[str, int]) -> bool:
    """Whether a query's judgements mark at least one document relevant."""
    return any(r > 0 for r in rels.values())


def misaligned_question(
    reference: Collection | RetrievalPair, other: Collection | RetrievalPair
) -> tuple[str, list[str], list[str]] | None:
    """The first question both sides judge whose relevant documents lie in other parallel units
    (``doc_groups``) on the two sides, with those units; None when every shared question agrees.

    Parallel collections (XQuAD-R: the same articles and paragraphs in every language) give a
    question the same unit everywhere; a file with its articles in another order, or one
    missing an article, does not, and candidates mapped across languages by unit id would
    then be other paragraphs.
    """
    for qid, rels in reference.qrels.items():
        theirs = other.qrels.get(qid)
        if not theirs:
            continue
        mine = sorted({reference.doc_groups.get(d, d) for d, r in rels.items() if r > 0})
        found = sorted({other.doc_groups.get(d, d) for d, r in theirs.items() if r > 0})
        if mine and found and mine != found:
            return qid, mine, found
    return None


def pairs_table(pairs: Iterable[RetrievalPair]) -> pd.DataFrame:
    """One row per pair with its counts (missing counts are NaN)."""
    import pandas as pd

    return pd.DataFrame([pair.row() for pair in pairs])
