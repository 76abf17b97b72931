"""Retrieval collections and the language pairs one evaluation run re-ranks.

A :class:`Collection` is one language's side of a dataset: queries, documents, relevance
judgements among *its own* documents, and a parallel id per document (``doc_groups``) shared
across languages. A :class:`RetrievalPair` puts queries of one language (or mixed) against
documents of another (or mixed), the paper's MoIR (X-X), CLIR (X-Y) and MLIR (with
:data:`MIXED` on either side) settings.

Sources:

- any folder of SQuAD-format files ``<lang>.json`` (:func:`load_squad_collection`; XQuAD-R when
  no folder is given), as question → paragraph or question → answer-sentence retrieval;
- a TREC-style triple of files (:func:`load_trec_collection`);
- ``ir_datasets`` ids such as ``mmarco/v2/de/dev/small`` (:func:`load_ir_dataset`, needs internet
  the first time).

Document ids are identical across languages where the data are parallel: paragraph ids
``"<article>-<paragraph>"``; sentence ids ``"<article>-<paragraph>-<sentence>"`` are not parallel
(sentence counts differ per language), their group (the paragraph id) is.

Example:
    >>> en = load_squad_collection(None, "en", "paragraph")  # doctest: +SKIP
    >>> de = load_squad_collection(None, "de", "paragraph")  # doctest: +SKIP
    >>> make_pair(en, de).describe()  # doctest: +SKIP
    'xquad-r/paragraph en-de (CLIR): 1190 queries, 240 docs, 1190 relevant'
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from csir import io, languages
from csir.errors import ConfigError, CsirError, InputError
from csir.runs import Qrels, Run, read_qrels

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

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


def pairs_table(pairs: Iterable[RetrievalPair]) -> pd.DataFrame:
    """One row per pair with its counts (missing counts are NaN)."""
    import pandas as pd

    return pd.DataFrame([pair.row() for pair in pairs])


# --------------------------------------------------------------------------- SQuAD-format files


def available_languages(folder: str | Path) -> tuple[str, ...]:
    """Language codes of the ``<lang>.json`` files in a folder, sorted."""
    return tuple(sorted(p.stem for p in Path(folder).glob("*.json") if p.is_file()))


def squad_file(folder: str | Path | None, lang: str) -> Path:
    """The ``<lang>.json`` of a folder, or XQuAD-R's (mirror → cache → download) for ``None``/"".

    Raises:
        LanguageFileNotFoundError: the folder has no such file; the message lists its languages.
        ConfigError: ``folder`` is None and ``lang`` is not an XQuAD-R language.
    """
    if folder is None or str(folder) == "":
        from csir.data.xquad_r import locate_xquad_r

        return locate_xquad_r(lang)
    folder = Path(folder)
    if not folder.is_dir():
        raise LanguageFileNotFoundError(
            f"{folder}: no such folder of SQuAD-format <lang>.json files; give an existing "
            "folder, or None for XQuAD-R"
        )
    path = folder / f"{lang}.json"
    if not path.is_file():
        have = available_languages(folder)
        raise LanguageFileNotFoundError(
            f"{path}: the folder has no file for language {lang!r}; it has: "
            f"{', '.join(have) if have else '(no <lang>.json files)'}. Pick one of those "
            f"languages or add {lang}.json (SQuAD format) to the folder"
        )
    return path


_SENTENCE_END = re.compile(r"(?<=[.!?;。！？।؟።])\s+|(?<=[。！？])")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``, by punctuation (the fallback splitter).

    Splits after ``. ! ? ;`` and the Devanagari, Arabic and CJK full stops when whitespace
    follows, and after CJK full stops always. Whitespace between sentences belongs to none.
    Thai (no sentence punctuation) stays one sentence per paragraph.
    """
    spans = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.start() > start:
            spans.append((start, match.start()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return [(s, e) for s, e in _strip_spans(text, spans) if e > s]


def _strip_spans(text: str, spans: Iterable[tuple[int, int]]) -> Iterable[tuple[int, int]]:
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        yield s, e


def _paragraph_sentences(
    path: Path, where: str, paragraph: Mapping[str, Any], context: str
) -> tuple[list[tuple[int, int]], list[str], str]:
    """Sentence spans, texts and the method used: breaks, located sentences, or the regex."""
    breaks = paragraph.get("sentence_breaks")
    sentences = paragraph.get("sentences")
    if breaks is not None:
        spans = []
        for index, item in enumerate(breaks if isinstance(breaks, list) else [None]):
            if (
                not isinstance(item, list | tuple)
                or len(item) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in item)
                or not 0 <= item[0] <= item[1] <= len(context)
            ):
                raise InputError(
                    path,
                    f"{where}: sentence_breaks[{index}] = {item!r} is not a [start, end] pair "
                    f"inside the context ({len(context)} characters)",
                    fix="fix or remove sentence_breaks (sentences are then split by punctuation)",
                )
            spans.append((item[0], item[1]))
        if isinstance(sentences, list) and len(sentences) == len(spans):
            texts = [str(s) for s in sentences]
        else:
            texts = [context[s:e] for s, e in spans]
        return spans, texts, "sentence_breaks"
    if isinstance(sentences, list) and sentences:
        spans, position = [], 0
        for index, sentence in enumerate(sentences):
            start = context.find(str(sentence).strip(), position)
            if start < 0 or not str(sentence).strip():
                raise InputError(
                    path,
                    f"{where}: sentences[{index}] is not found in the context after character "
                    f"{position}",
                    fix="give sentence_breaks, or sentences that are verbatim parts of the context",
                )
            end = start + len(str(sentence).strip())
            spans.append((start, end))
            position = end
        return spans, [str(s) for s in sentences], "sentences"
    spans = split_sentences(context)
    return spans, [context[s:e] for s, e in spans], "punctuation"


def _sentence_of(spans: Sequence[tuple[int, int]], offset: int) -> tuple[int | None, bool]:
    """Index of the sentence holding ``offset`` (else the next one), and whether it held it."""
    for index, (start, end) in enumerate(spans):
        if start <= offset < end:
            return index, True
    following = [i for i, (start, _) in enumerate(spans) if start >= offset]
    return (following[0] if following else None), False


def load_squad_collection(
    folder: str | Path | None, lang: str, task: str, dataset: str = ""
) -> Collection:
    """Load one language of a SQuAD-format dataset as a retrieval collection.

    Paragraph task: the docs are the paragraphs (ids ``"<article>-<paragraph>"``, 0-based), the
    relevant doc of a question is the paragraph that holds it (unless ``is_impossible``).
    Sentence task: the docs are the paragraphs' sentences (ids
    ``"<article>-<paragraph>-<sentence>"``, group = the paragraph id); relevant are the
    sentences whose span contains an answer's ``answer_start`` (the next sentence when the
    offset falls between sentences). Spans come from ``sentence_breaks``, else from locating
    ``sentences`` in the context, else from :func:`split_sentences`; ``stats["sentence_split"]``
    says which was used.

    Args:
        folder: folder of ``<lang>.json`` files; ``None`` or ``""`` for XQuAD-R.
        lang: language code (the file's stem).
        task: ``"paragraph"`` or ``"sentence"``.
        dataset: name for reports; defaults to ``"xquad-r"`` or the folder name.

    Raises:
        ConfigError: unknown task.
        LanguageFileNotFoundError: the folder lacks ``<lang>.json`` (lists what it has).
        InputError: malformed JSON or structure, an empty question or a duplicate id (naming
            the file and the question id).
    """
    if task not in TASKS:
        raise ConfigError(f"task {task!r} must be one of {TASKS}")
    path = squad_file(folder, lang)
    dataset = dataset or ("xquad-r" if folder is None or str(folder) == "" else Path(folder).name)
    raw = io.read_json(path)
    articles = raw.get("data") if isinstance(raw, dict) else None
    if not isinstance(articles, list):
        raise InputError(
            path,
            'not SQuAD format: the top level must be an object with a "data" list of articles',
            fix="give a SQuAD v1.1/v2.0-style JSON file",
        )

    queries: dict[str, str] = {}
    docs: dict[str, str] = {}
    qrels: Qrels = {}
    groups: dict[str, str] = {}
    methods: set[str] = set()
    stats = {"articles": len(articles), "paragraphs": 0, "questions_without_answer": 0}
    if task == "sentence":
        stats.update(answers_between_sentences=0, answers_after_last_sentence=0)
    for a, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise InputError(path, f'article {a}: no "paragraphs" list', fix="fix the article")
        for p, paragraph in enumerate(paragraphs):
            where = f"article {a} paragraph {p}"
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            qas = paragraph.get("qas", []) if isinstance(paragraph, dict) else None
            if not isinstance(context, str) or not context.strip():
                raise InputError(path, f"{where}: empty or missing context", fix="give its text")
            if not isinstance(qas, list):
                raise InputError(path, f'{where}: "qas" is not a list', fix="fix the paragraph")
            stats["paragraphs"] += 1
            paragraph_id = f"{a}-{p}"
            if task == "paragraph":
                docs[paragraph_id] = context
                groups[paragraph_id] = paragraph_id
                spans: list[tuple[int, int]] = []
            else:
                spans, texts, method = _paragraph_sentences(path, where, paragraph, context)
                methods.add(method)
                for s, text in enumerate(texts):
                    if text.strip():
                        docs[f"{paragraph_id}-{s}"] = text
                        groups[f"{paragraph_id}-{s}"] = paragraph_id
            for qa in qas:
                qid, question, answers = _question(path, where, qa, context)
                if qid in queries:
                    raise InputError(
                        path,
                        f"{where}: question id {qid!r} appears twice",
                        fix="give every question a unique id",
                    )
                queries[qid] = question
                if not answers:
                    stats["questions_without_answer"] += 1
                if task == "paragraph":
                    if not qa.get("is_impossible", False):
                        qrels[qid] = {paragraph_id: 1}
                    continue
                relevant: dict[str, int] = {}
                for offset in answers:
                    index, inside = _sentence_of(spans, offset)
                    if index is None:
                        stats["answers_after_last_sentence"] += 1
                        continue
                    if not inside:
                        stats["answers_between_sentences"] += 1
                    docid = f"{paragraph_id}-{index}"
                    if docid in docs:
                        relevant[docid] = 1
                if relevant:
                    qrels[qid] = relevant
    if not queries:
        raise InputError(path, "no questions found", fix="give a file with at least one question")
    if task == "sentence":
        stats["sentence_split"] = "+".join(sorted(methods))
    return Collection(
        dataset=dataset,
        task=task,
        lang=lang,
        queries=queries,
        docs=docs,
        qrels=qrels,
        doc_groups=groups,
        source=str(path),
        stats=stats,
    )


def _question(path: Path, where: str, qa: Any, context: str) -> tuple[str, str, list[int]]:
    """Validated ``(id, question, answer offsets)`` of one SQuAD ``qas`` entry."""
    if not isinstance(qa, dict) or not isinstance(qa.get("id"), str | int) or qa["id"] == "":
        raise InputError(path, f"{where}: a question has no id", fix='give each question an "id"')
    qid = str(qa["id"])
    question = qa.get("question")
    if not isinstance(question, str) or not question.strip():
        raise InputError(
            path,
            f"{where}: question {qid!r} is empty",
            fix="give the question its text or remove it from the file",
        )
    offsets = []
    for answer in qa.get("answers") or []:
        start = answer.get("answer_start") if isinstance(answer, dict) else None
        if not isinstance(start, int) or isinstance(start, bool) or not 0 <= start < len(context):
            raise InputError(
                path,
                f"{where}: question {qid!r} has answer_start {start!r} outside its context "
                f"({len(context)} characters)",
                fix="fix the answer offset",
            )
        text = answer.get("text")
        if isinstance(text, str) and text and context[start : start + len(text)] != text:
            # Offsets counted in another unit (bytes, normalised text) would silently mark
            # the wrong sentence relevant.
            raise InputError(
                path,
                f"{where}: question {qid!r}: the context at answer_start {start} reads "
                f"{context[start : start + len(text)]!r}, not the answer text {text!r}",
                fix="answer_start must count characters of the context as written (Python str "
                "indices, not bytes)",
            )
        offsets.append(start)
    return qid, question.strip(), offsets


# --------------------------------------------------------------------------- pairs


def _check_sides(collections: Sequence[Collection]) -> None:
    """Both sides must share the dataset name, and the task where it is a SQuAD task.

    ``ir_datasets`` collections name their task by their id, which differs per language
    (``mmarco/v2/de/...``); their shared ``dataset`` name is what pairs them.
    """
    first = collections[0]
    for other in collections[1:]:
        task_differs = other.task != first.task and (first.task in TASKS or other.task in TASKS)
        if other.dataset != first.dataset or task_differs:
            raise CsirError(
                f"cannot pair {first.dataset}/{first.task} ({first.source}) with "
                f"{other.dataset}/{other.task} ({other.source}): both sides must come from the "
                "same dataset (and the same task)"
            )


def _has_relevant(rels: Mapping[str, int]) -> bool:
    return any(r > 0 for r in rels.values())


def make_pair(query_side: Collection, doc_side: Collection) -> RetrievalPair:
    """MoIR (same language) or CLIR pair: queries of one collection against docs of another.

    Uses the questions present in both collections; relevant docs are the document side's own
    judgements for the same question id; questions left without a relevant doc are dropped.

    ``counts``: ``queries_in_query_lang``, ``queries_in_doc_lang``, ``queries_common``,
    ``queries_without_relevant``, ``queries`` (kept), ``docs``, ``relevant`` (judgements > 0).
    """
    _check_sides([query_side, doc_side])
    common = [qid for qid in query_side.queries if qid in doc_side.queries]
    qrels = {
        qid: dict(doc_side.qrels[qid])
        for qid in common
        if _has_relevant(doc_side.qrels.get(qid, {}))
    }
    queries = {qid: query_side.queries[qid] for qid in qrels}
    counts = {
        "queries_in_query_lang": len(query_side.queries),
        "queries_in_doc_lang": len(doc_side.queries),
        "queries_common": len(common),
        "queries_without_relevant": len(common) - len(qrels),
        "queries": len(queries),
        "docs": len(doc_side.docs),
        "relevant": sum(r > 0 for rels in qrels.values() for r in rels.values()),
    }
    return RetrievalPair(
        dataset=query_side.dataset,
        task=query_side.task,
        query_lang=query_side.lang,
        doc_lang=doc_side.lang,
        queries=queries,
        docs=dict(doc_side.docs),
        qrels=qrels,
        query_langs=dict.fromkeys(queries, query_side.lang),
        doc_langs=dict.fromkeys(doc_side.docs, doc_side.lang),
        doc_groups=dict(doc_side.doc_groups),
        counts=counts,
    )


def draw_language(seed: int, kind: str, item_id: str, languages: Sequence[str]) -> str:
    """The language of one MLIR query (``kind="q"``) or doc group (``"d"``): uniform, seeded.

    Depends only on ``(seed, kind, item_id)`` and the sorted candidate languages, so adding
    queries or documents never changes the draws of the others.
    """
    return random.Random(f"{seed}:{kind}:{item_id}").choice(sorted(languages))


def make_mixed_pair(
    collections: Mapping[str, Collection],
    query_lang: str,
    doc_lang: str,
    seed: int,
    *,
    mixed_languages: Sequence[str] | None = None,
) -> RetrievalPair:
    """MLIR pair: ``en-xx``, ``xx-en`` or ``xx-xx`` over the given languages.

    On a :data:`MIXED` query side every question id gets one language drawn uniformly (among
    the collections that hold it) with :func:`draw_language`, and that language's text; on a
    mixed document side every doc *group* (for paragraphs: every doc id) gets one language
    and contributes that language's docs, so ids stay the parallel ids. Relevance comes from
    the chosen document languages' judgements. Questions without a relevant doc are dropped.

    ``counts`` as in :func:`make_pair` (``queries_in_query_lang`` = question ids of the query
    side), plus ``queries_<lang>`` and ``docs_<lang>`` per language of ``collections``.

    Args:
        collections: the loaded languages, by code.
        query_lang: a code of ``collections`` or :data:`MIXED`.
        doc_lang: a code of ``collections`` or :data:`MIXED`.
        seed: seed of the language draws.
        mixed_languages: the languages a mixed side draws from (default: all of
            ``collections``), e.g. to pair English queries with docs drawn from the others only.

    Raises:
        ConfigError: a side names a language that is not in ``collections``.
    """
    if not collections:
        raise ConfigError("make_mixed_pair needs at least one collection")
    for side, lang in (("query", query_lang), ("document", doc_lang)):
        if lang != MIXED and lang not in collections:
            raise ConfigError(
                f"{side} language {lang!r} is neither {MIXED!r} (mixed) nor one of the loaded "
                f"languages: {', '.join(sorted(collections))}"
            )
    _check_sides([collections[lang] for lang in sorted(collections)])
    if MIXED not in (query_lang, doc_lang):
        return make_pair(collections[query_lang], collections[doc_lang])
    languages = sorted(collections if mixed_languages is None else set(mixed_languages))
    missing = [lang for lang in languages if lang not in collections]
    if missing or not languages:
        raise ConfigError(
            f"mixed_languages {list(mixed_languages or [])} must be a non-empty subset of the "
            f"loaded languages: {', '.join(sorted(collections))}"
        )

    if query_lang == MIXED:
        holders: dict[str, list[str]] = {}
        for lang in languages:
            for qid in collections[lang].queries:
                holders.setdefault(qid, []).append(lang)
        all_query_langs = {qid: draw_language(seed, "q", qid, ls) for qid, ls in holders.items()}
    else:
        all_query_langs = dict.fromkeys(collections[query_lang].queries, query_lang)

    if doc_lang == MIXED:
        members: dict[str, dict[str, list[str]]] = {}  # group -> lang -> docids
        for lang in languages:
            for docid, group in collections[lang].doc_groups.items():
                members.setdefault(group, {}).setdefault(lang, []).append(docid)
        docs, doc_langs, doc_groups = {}, {}, {}
        for group, by_lang in members.items():
            chosen = draw_language(seed, "d", group, list(by_lang))
            source = collections[chosen]
            for docid in by_lang[chosen]:
                docs[docid] = source.docs[docid]
                doc_langs[docid] = chosen
                doc_groups[docid] = group
    else:
        side = collections[doc_lang]
        docs, doc_groups = dict(side.docs), dict(side.doc_groups)
        doc_langs = dict.fromkeys(docs, doc_lang)

    doc_side_langs = sorted(set(doc_langs.values()))
    qrels: Qrels = {}
    for lang in doc_side_langs:
        for qid, rels in collections[lang].qrels.items():
            if qid not in all_query_langs:
                continue
            for docid, rel in rels.items():
                if doc_langs.get(docid) == lang:
                    qrels.setdefault(qid, {})[docid] = rel
    kept = [qid for qid in all_query_langs if _has_relevant(qrels.get(qid, {}))]
    queries = {qid: collections[all_query_langs[qid]].queries[qid] for qid in kept}
    query_langs = {qid: all_query_langs[qid] for qid in kept}
    qrels = {qid: qrels[qid] for qid in kept}
    doc_side_qids: set[str] = set()
    for lang in doc_side_langs:
        doc_side_qids.update(collections[lang].queries)
    counts = {
        "queries_in_query_lang": len(all_query_langs),
        "queries_in_doc_lang": len(doc_side_qids),
        "queries_common": sum(qid in doc_side_qids for qid in all_query_langs),
        "queries_without_relevant": len(all_query_langs) - len(kept),
        "queries": len(queries),
        "docs": len(docs),
        "relevant": sum(r > 0 for rels in qrels.values() for r in rels.values()),
    }
    for lang in sorted(collections):
        counts[f"queries_{lang}"] = sum(v == lang for v in query_langs.values())
        counts[f"docs_{lang}"] = sum(v == lang for v in doc_langs.values())
    first = collections[languages[0]]
    return RetrievalPair(
        dataset=first.dataset,
        task=first.task,
        query_lang=query_lang,
        doc_lang=doc_lang,
        queries=queries,
        docs=docs,
        qrels=qrels,
        query_langs=query_langs,
        doc_langs=doc_langs,
        doc_groups=doc_groups,
        counts=counts,
        seed=seed,
    )


def load_pair(
    folder: str | Path | None,
    query_lang: str,
    doc_lang: str,
    task: str,
    *,
    languages: Sequence[str] | None = None,
    seed: int = 0,
    dataset: str = "",
) -> RetrievalPair:
    """Load only the files a pair needs and build it (MoIR/CLIR: one or two files).

    A :data:`MIXED` side loads every language of ``languages`` (default: all of XQuAD-R, or
    every ``<lang>.json`` of ``folder``), plus the named side's language.

    Example:
        >>> load_pair(None, "xx", "xx", "paragraph", seed=1).name  # doctest: +SKIP
        'xx-xx'
    """
    if MIXED not in (query_lang, doc_lang):
        query_side = load_squad_collection(folder, query_lang, task, dataset)
        if doc_lang == query_lang:
            return make_pair(query_side, query_side)
        return make_pair(query_side, load_squad_collection(folder, doc_lang, task, dataset))
    if languages is None:
        if folder is None or str(folder) == "":
            from csir.data.xquad_r import XQUAD_R_LANGUAGES

            languages = XQUAD_R_LANGUAGES
        else:
            languages = available_languages(folder)
    needed = dict.fromkeys([*languages, *(x for x in (query_lang, doc_lang) if x != MIXED)])
    collections = {lang: load_squad_collection(folder, lang, task, dataset) for lang in needed}
    return make_mixed_pair(collections, query_lang, doc_lang, seed, mixed_languages=languages)


# --------------------------------------------------------------------------- Translate-Test


def translation_lexicon_path(lexicon_dir: str | Path, lang: str, source: str = "muse") -> Path:
    """Where notebook 01 writes the X→EN lexicon of ``lang``: ``<dir>/<source>/<lang>-en.tsv``."""
    from csir.lexicon.store import lexicon_path

    return lexicon_path(lexicon_dir, source, lang, ENGLISH)


def load_translation_lexicons(
    lexicon_dir: str | Path, languages: Iterable[str], source: str = "muse"
) -> dict[str, dict[str, list[str]]]:
    """Load the X→EN lexicons Translate-Test needs (English needs none).

    Raises:
        CsirError: one message naming every missing language and its expected file.
    """
    from csir.lexicon.store import load_lexicon

    wanted = sorted({lang for lang in languages if lang != ENGLISH})
    paths = {lang: translation_lexicon_path(lexicon_dir, lang, source) for lang in wanted}
    missing = [f"{lang}: {path}" for lang, path in paths.items() if not path.is_file()]
    if missing:
        raise CsirError(
            "Translate-Test needs X→EN lexicons that are missing:\n  "
            + "\n  ".join(missing)
            + f"\nRun notebook 01 (lexicon induction) for these languages with source {source!r}"
        )
    return {lang: load_lexicon(path) for lang, path in paths.items()}


def translate_pair(
    pair: RetrievalPair, lexicons: Mapping[str, Mapping[str, Sequence[str]]]
) -> RetrievalPair:
    """Translate-Test input: every non-English query and doc translated term by term into English.

    Uses :func:`csir.codeswitch.translate_terms` (first translation of each word the X→EN
    lexicon knows). English texts stay as they are; ``query_langs``/``doc_langs`` keep the
    original languages and ``translated`` is set. ``counts`` gains ``translated_queries`` and
    ``translated_docs``.

    Args:
        pair: the pair to translate.
        lexicons: language → X→EN lexicon (``{word: [translations]}``, e.g. from
            :func:`load_translation_lexicons` or :func:`csir.lexicon.store.load_lexicon`).

    Raises:
        CsirError: a language of the pair has no lexicon (naming it and the expected file).
    """
    from csir.codeswitch.switch import normalise_lexicon, translate_terms

    if pair.translated:
        raise CsirError(f"pair {pair.name} is already translated")
    present = set(pair.query_langs.values()) | set(pair.doc_langs.values())
    missing = sorted(lang for lang in present - {ENGLISH} if lang not in lexicons)
    if missing:
        files = ", ".join(f"lexicons/muse/{lang}-{ENGLISH}.tsv" for lang in missing)
        raise CsirError(
            f"Translate-Test of {pair.name} needs an X→EN lexicon for {', '.join(missing)} "
            f"(expected file: {files} under the lexicon folder, written by notebook 01; "
            "load them with load_translation_lexicons)"
        )
    normalised = {lang: normalise_lexicon(lexicons[lang]) for lang in present - {ENGLISH}}

    def translate(texts: Mapping[str, str], langs: Mapping[str, str]) -> tuple[dict, int]:
        out, changed = {}, 0
        for key, text in texts.items():
            lang = langs[key]
            if lang == ENGLISH:
                out[key] = text
            else:
                out[key] = translate_terms(text, normalised[lang])
                changed += 1
        return out, changed

    queries, n_queries = translate(pair.queries, pair.query_langs)
    docs, n_docs = translate(pair.docs, pair.doc_langs)
    counts = {**pair.counts, "translated_queries": n_queries, "translated_docs": n_docs}
    return replace(pair, queries=queries, docs=docs, counts=counts, translated=True)


# --------------------------------------------------------------------------- TREC-style files


def read_queries_tsv(path: str | Path) -> dict[str, str]:
    """Read ``qid<TAB>text`` lines (blank lines skipped).

    Raises:
        InputError: a line without a tab, an empty id or text, or a repeated id (with its line).
    """
    path = Path(path)
    queries: dict[str, str] = {}
    for number, line in io.read_lines(path):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise InputError(
                path,
                f"expected 2 tab-separated fields (qid, text), found {len(parts)}",
                line=number,
                fix="write one query per line as qid<TAB>text",
            )
        qid, text = parts[0].strip(), parts[1].strip()
        if not qid or not text:
            raise InputError(path, "empty query id or text", line=number, fix="give both")
        if qid in queries:
            raise InputError(path, f"query id {qid!r} repeated", line=number, fix="dedupe ids")
        queries[qid] = text
    if not queries:
        raise InputError(path, "no queries", fix="give qid<TAB>text lines")
    return queries


_JSONL_ID_KEYS = ("_id", "docid", "doc_id", "id")


def read_corpus(path: str | Path) -> dict[str, str]:
    """Read a corpus: TSV ``docid<TAB>text`` / ``docid<TAB>title<TAB>text``, or JSONL.

    JSONL records (``.jsonl``/``.json`` files) carry the id in ``_id``, ``docid``, ``doc_id`` or
    ``id``, the text in ``text`` and an optional ``title``. A title is joined to the text with
    a space (as BEIR does).

    Raises:
        InputError: a malformed line, a missing id or text, or a repeated id (with its line).
    """
    path = Path(path)
    docs: dict[str, str] = {}
    if path.suffix.lower() in (".jsonl", ".json"):
        records = _jsonl_records(path)
    else:
        records = _tsv_records(path)
    for number, docid, title, text in records:
        if not docid:
            raise InputError(path, "empty document id", line=number, fix="give every doc an id")
        full = f"{title.strip()} {text.strip()}".strip()
        if not full:
            raise InputError(
                path, f"document {docid!r} has no text", line=number, fix="remove it or add text"
            )
        if docid in docs:
            raise InputError(path, f"document id {docid!r} repeated", line=number, fix="dedupe")
        docs[docid] = full
    if not docs:
        raise InputError(path, "no documents", fix="give docid<TAB>text lines or JSONL records")
    return docs


def _tsv_records(path: Path) -> Iterable[tuple[int, str, str, str]]:
    for number, line in io.read_lines(path):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) == 2:
            yield number, parts[0].strip(), "", parts[1]
        elif len(parts) == 3:
            yield number, parts[0].strip(), parts[1], parts[2]
        else:
            raise InputError(
                path,
                f"expected 2 or 3 tab-separated fields (docid, [title,] text), found {len(parts)}",
                line=number,
                fix="write docid<TAB>text or docid<TAB>title<TAB>text, without tabs in the text",
            )


def _jsonl_records(path: Path) -> Iterable[tuple[int, str, str, str]]:
    for number, record in io.iter_jsonl_records(path):
        key = next((k for k in _JSONL_ID_KEYS if k in record), None)
        if key is None or not isinstance(record.get("text", ""), str):
            raise InputError(
                path,
                f"record needs an id ({' / '.join(_JSONL_ID_KEYS)}) and a string 'text'",
                line=number,
                fix='write records like {"_id": "d1", "title": "", "text": "..."}',
            )
        title = record.get("title") or ""
        yield number, str(record[key]).strip(), str(title), record.get("text", "")


def load_trec_collection(
    queries: str | Path,
    corpus: str | Path,
    qrels: str | Path,
    *,
    lang: str = ENGLISH,
    dataset: str = "",
) -> Collection:
    """Load a collection from a queries TSV, a corpus (TSV or JSONL) and TREC qrels.

    Judgements of queries missing from the queries file, and non-relevant judgements of
    documents missing from the corpus, are left out and counted in ``stats``
    (``qrels_unknown_queries``, ``qrels_unknown_docs``). Doc ids are their own group (parallel
    collections share ids).

    Raises:
        InputError: a malformed line (naming file and line; the qrels are read by
            :func:`csir.runs.read_qrels`, which also refuses an empty qrels file and a judgement
            given twice), qrels that judge none of the given queries and documents, or a
            *relevant* judgement of a query whose document the corpus lacks (it could never be
            retrieved, so every measure of that query would be silently lower).
    """
    query_texts = read_queries_tsv(queries)
    docs = read_corpus(corpus)
    raw = read_qrels(qrels)
    kept: Qrels = {}
    unknown_queries = unknown_docs = 0
    lost: list[tuple[str, str]] = []
    for qid, rels in raw.items():
        if qid not in query_texts:
            unknown_queries += 1
            continue
        for docid, rel in rels.items():
            if docid in docs:
                kept.setdefault(qid, {})[docid] = rel
            elif rel > 0:
                lost.append((qid, docid))
            else:
                unknown_docs += 1
    if lost:
        qid, docid = lost[0]
        raise InputError(
            qrels,
            f"{len(lost)} relevant judgement(s) name documents that are not in {corpus} (first: "
            f"query {qid!r}, document {docid!r})",
            fix="give the corpus that holds every relevant document, or drop those judgements",
        )
    if not any(_has_relevant(rels) for rels in kept.values()):
        raise InputError(
            qrels,
            f"no relevant judgement (relevance > 0) links a query of {queries} to a document "
            f"of {corpus}",
            fix="check that the three files belong together (same query and document ids)",
        )
    if unknown_docs:
        logger.warning("%s: %d judgements name documents not in %s", qrels, unknown_docs, corpus)
    return Collection(
        dataset=dataset or Path(corpus).parent.name or "trec",
        task="trec",
        lang=lang,
        queries=query_texts,
        docs=docs,
        qrels=kept,
        doc_groups={docid: docid for docid in docs},
        source=f"{queries}, {corpus}, {qrels}",
        stats={"qrels_unknown_queries": unknown_queries, "qrels_unknown_docs": unknown_docs},
    )


# --------------------------------------------------------------------------- ir_datasets


def ir_record_text(record: Any) -> str:
    """``default_text()`` of an ir_datasets record (title + body where it has both)."""
    if hasattr(record, "default_text"):
        return record.default_text()
    return record.text


def load_ir_dataset(
    dataset_id: str, *, lang: str, max_queries: int = 0, dataset: str = ""
) -> tuple[Collection, Run | None]:
    """Load an ``ir_datasets`` dataset: queries, qrels and only the docs that matter.

    The corpora have millions of passages, so only the documents in the dataset's
    ``scoreddocs`` (e.g. the official BM25 top-1000 of ``msmarco-passage/dev/small`` and
    ``mmarco/v2/<lang>/dev/small``) and in its qrels are fetched, through
    ``docs_store().get_many``. The scoreddocs are returned as a run (the first stage).

    Args:
        dataset_id: e.g. ``"mmarco/v2/de/dev/small"``.
        lang: language code of its texts.
        max_queries: keep only the first judged queries (0 = all), for smoke runs.
        dataset: name shared by the languages to pair (e.g. ``"mmarco-dev-small"``); defaults
            to ``dataset_id``, which is always the collection's ``task``.

    Returns:
        ``(collection, run)``; ``run`` is ``None`` when the dataset has no scoreddocs.
        ``msmarco-passage`` scoreddocs carry no scores (all 0.0): its run is a candidate set
        whose order is not meaningful as a system (a warning says so).

    Raises:
        CsirError: the dataset has no queries or qrels, or a judged document is missing.
    """
    import ir_datasets

    source = ir_datasets.load(dataset_id)
    if not (source.has_queries() and source.has_qrels()):
        raise CsirError(f"ir_datasets {dataset_id!r} has no queries or no qrels to evaluate with")
    qrels: Qrels = {}
    for qrel in source.qrels_iter():
        qrels.setdefault(qrel.query_id, {})[qrel.doc_id] = int(qrel.relevance)
    queries: dict[str, str] = {}
    for query in source.queries_iter():
        if query.query_id in qrels:
            queries[query.query_id] = ir_record_text(query)
            if max_queries and len(queries) >= max_queries:
                break
    qrels = {qid: qrels[qid] for qid in queries}

    run: Run | None = None
    if source.has_scoreddocs():
        run = {}
        for scored in source.scoreddocs_iter():
            if scored.query_id in queries:
                run.setdefault(scored.query_id, {})[scored.doc_id] = float(scored.score)
        if run and all(len(set(docs.values())) <= 1 for docs in run.values()):
            logger.warning(
                "%s: scoreddocs carry no scores; the candidates are usable for re-ranking but "
                "their order is not a meaningful first-stage ranking",
                dataset_id,
            )
    wanted = {docid for rels in qrels.values() for docid in rels}
    for docs in (run or {}).values():
        wanted.update(docs)
    fetched = source.docs_store().get_many(sorted(wanted))
    docs = {docid: ir_record_text(doc) for docid, doc in fetched.items()}
    lost = [docid for rels in qrels.values() for docid in rels if docid not in docs]
    if lost:
        raise CsirError(
            f"ir_datasets {dataset_id!r}: {len(lost)} judged documents are not in its docs "
            f"store (first: {lost[0]!r}); the download may be incomplete — delete its folder "
            "under ~/.ir_datasets and load again"
        )
    return (
        Collection(
            dataset=dataset or dataset_id,
            task=dataset_id,
            lang=lang,
            queries=queries,
            docs=docs,
            qrels=qrels,
            doc_groups={docid: docid for docid in docs},
            source=f"ir_datasets:{dataset_id}",
            stats={"scoreddocs": sum(len(d) for d in (run or {}).values())},
        ),
        run,
    )
