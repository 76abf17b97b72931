"""XQuAD-R (LAReQA) files: one SQuAD-format JSON per language, question ids parallel across them.

The retrieval tasks themselves (question → paragraph, question → answer sentence) are built by
:mod:`csir.data.retrieval`, whose SQuAD reader reads XQuAD-R when no folder is given; this module
locates the files and checks that the languages are parallel (same articles, paragraphs and
question ids in the same places).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from csir import io, languages
from csir.errors import CsirError

if TYPE_CHECKING:
    import pandas as pd

    from csir.data.retrieval import Collection

#: Public location of the files (google-research-datasets/lareqa), for users with internet.
XQUAD_R_URL = (
    "https://raw.githubusercontent.com/google-research-datasets/lareqa/master/xquad-r/{lang}.json"
)
#: Languages XQuAD-R ships.
XQUAD_R_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")


def locate_xquad_r(lang: str) -> Path:
    """Path of ``xquad-r/<lang>.json``: mirror, download cache, or downloaded from its URL."""
    languages.check_language(lang, XQUAD_R_LANGUAGES, what="XQuAD-R language")
    return io.locate(f"xquad-r/{lang}.json", [XQUAD_R_URL.format(lang=lang)])


def _question_paragraphs(collection: Collection) -> dict[str, str]:
    """qid → the paragraph (group) of its relevant doc(s)."""
    return {
        qid: collection.doc_groups[next(iter(rels))]
        for qid, rels in collection.qrels.items()
        if rels
    }


def check_parallel(collections: Mapping[str, Collection]) -> None:
    """Raise when the languages are not parallel: same paragraphs, same question ids in each.

    Raises:
        CsirError: naming the first language and question or paragraph that differs.
    """
    names = sorted(collections)
    if not names:
        return
    reference = collections[names[0]]
    groups = set(reference.doc_groups.values())
    placed = _question_paragraphs(reference)
    for lang in names[1:]:
        other = collections[lang]
        other_groups = set(other.doc_groups.values())
        if other_groups != groups:
            diff = sorted(groups ^ other_groups)[:3]
            raise CsirError(
                f"{other.source}: paragraphs differ from {reference.source} (e.g. {diff})"
            )
        if set(other.queries) != set(reference.queries):
            diff = sorted(set(other.queries) ^ set(reference.queries))[:3]
            raise CsirError(
                f"{other.source}: question ids differ from {reference.source} (e.g. {diff})"
            )
        for qid, paragraph in _question_paragraphs(other).items():
            if placed.get(qid, paragraph) != paragraph:
                raise CsirError(
                    f"{other.source}: question {qid!r} is in paragraph {paragraph}, but in "
                    f"{placed[qid]} in {reference.source}"
                )


def summary(collections: Mapping[str, Collection]) -> pd.DataFrame:
    """Per language: questions, judged questions, documents, paragraphs and loader notes."""
    import pandas as pd

    rows = []
    for lang in sorted(collections):
        c = collections[lang]
        rows.append(
            {
                "lang": lang,
                "task": c.task,
                "questions": len(c.queries),
                "judged": sum(1 for rels in c.qrels.values() if rels),
                "docs": len(c.docs),
                "paragraphs": len(set(c.doc_groups.values())),
                **{k: v for k, v in c.stats.items() if k != "paragraphs"},
            }
        )
    return pd.DataFrame(rows)
