"""Language pairs from collections: MoIR/CLIR (:func:`make_pair`), MLIR with a per-id language
draw (:func:`make_mixed_pair`), and :func:`load_pair`, which loads only the files a pair needs."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from csir.data.retrieval.collection import (
    MIXED,
    TASKS,
    Collection,
    RetrievalPair,
    has_relevant,
    misaligned_question,
)
from csir.data.retrieval.squad import available_languages, load_squad_collection
from csir.data.xquad_r import XQUAD_R_LANGUAGES
from csir.errors import ConfigError, CsirError
from csir.runs import Qrels

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


def make_pair(query_side: Collection, doc_side: Collection) -> RetrievalPair:
    """MoIR (same language) or CLIR pair: queries of one collection against docs of another.

    Uses the questions present in both collections; relevant docs are the document side's own
    judgements for the same question id; questions left without a relevant doc are dropped.

    ``counts``: ``queries_in_query_lang``, ``queries_in_doc_lang``, ``queries_common``,
    ``queries_without_relevant``, ``queries`` (kept), ``docs``, ``relevant`` (judgements > 0).
    """
    _check_sides([query_side, doc_side])
    common = [qid for qid in query_side.queries if qid in doc_side.queries]
    if query_side.queries and doc_side.queries and not common:
        example = next(iter(query_side.queries)), next(iter(doc_side.queries))
        raise CsirError(
            f"{query_side.source} and {doc_side.source} share no question id (first ids: "
            f"{example[0]!r}, {example[1]!r}): a cross-language pair matches questions by id, "
            "so parallel files must give a question the same id in every language (e.g. 'q1', "
            "not 'q1-en' and 'q1-de')"
        )
    qrels = {
        qid: dict(doc_side.qrels[qid])
        for qid in common
        if has_relevant(doc_side.qrels.get(qid, {}))
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


def require_parallel(collections: Sequence[Collection]) -> None:
    """Refuse collections whose units are not parallel: each must judge every question it
    shares with the first in the same units (:func:`misaligned_question`).

    Raises:
        CsirError: naming both files, the question and its units on each side.
    """
    first = collections[0]
    for other in collections[1:]:
        found = misaligned_question(first, other)
        if found:
            qid, mine, theirs = found
            raise CsirError(
                f"{first.source} and {other.source} are not parallel: question {qid!r} is "
                f"answered in unit(s) {mine} of the first and {theirs} of the second. Units "
                "(paragraphs) are matched across languages by id, so every <lang>.json must "
                "hold the same articles and paragraphs in the same order; align the files"
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
        require_parallel([collections[lang] for lang in languages])
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
    kept = [qid for qid in all_query_langs if has_relevant(qrels.get(qid, {}))]
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
            languages = XQUAD_R_LANGUAGES
        else:
            languages = available_languages(folder)
    needed = dict.fromkeys([*languages, *(x for x in (query_lang, doc_lang) if x != MIXED)])
    collections = {lang: load_squad_collection(folder, lang, task, dataset) for lang in needed}
    return make_mixed_pair(collections, query_lang, doc_lang, seed, mixed_languages=languages)


def restrict_queries(pair: RetrievalPair, qids: frozenset[str] | None) -> RetrievalPair:
    """``pair`` with only the queries in ``qids`` (None keeps all)."""
    if qids is None:
        return pair
    keep = [q for q in pair.queries if q in qids]
    qrels = {q: pair.qrels[q] for q in keep if q in pair.qrels}
    counts = {
        **pair.counts,
        "queries": len(keep),
        "relevant": sum(r > 0 for rels in qrels.values() for r in rels.values()),
    }
    return dataclasses.replace(
        pair,
        queries={q: pair.queries[q] for q in keep},
        qrels=qrels,
        query_langs={q: pair.query_langs[q] for q in keep},
        counts=counts,
    )


def select_queries(qids: Iterable[str], max_queries: int, seed: int) -> frozenset[str] | None:
    """A seeded subset of ``max_queries`` of ``qids`` (None: all)."""
    if not max_queries:
        return None
    ordered = sorted(qids)
    random.Random(seed).shuffle(ordered)
    return frozenset(ordered[:max_queries])
