"""First-stage candidates for re-ranking, as runs ``{qid: {docid: score}}`` (higher = better).

Every generator returns a run, so the first stage can itself be evaluated as a system next to
the re-rankers:

- ``"exhaustive"``: every document of the pair for every query (score 0.0);
- ``"bm25"``: the paper's protocol — BM25 (``bm25s``) ranks the *parallel units* (paragraphs)
  of a pivot pair (e.g. en-en, :func:`bm25_units`), and every pair's candidates are all its
  documents of those units (:func:`expand_units`), so all languages re-rank the same content
  with the same recall;
- ``"dense"``: the backbone as a bi-encoder (e5 prefixes ``"query: "``/``"passage: "``), cosine
  top-k.

Example:
    >>> pivot = retrieval.load_pair(None, "en", "en", "paragraph")  # doctest: +SKIP
    >>> de_run = expand_units(bm25_units(pivot, top_k=2), en_de)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from csir.backbones import OFFLINE_E5
from csir.data.retrieval import MIXED, RetrievalPair
from csir.errors import ConfigError, CsirError
from csir.runs import Run, ranked
from csir.text import retrieval_terms

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)


def exhaustive(pair: RetrievalPair) -> Run:
    """Every document of the pair for every query, all with score 0.0."""
    return {qid: dict.fromkeys(pair.docs, 0.0) for qid in pair.queries}


def _check_top_k(top_k: int) -> None:
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise ConfigError(f"top_k must be a positive integer, got {top_k!r}")


def bm25_search(
    queries: Mapping[str, str],
    docs: Mapping[str, str],
    lang: str,
    top_k: int,
    *,
    k1: float = 0.9,
    b: float = 0.4,
    stemmer: Callable[[list[str]], list[str]] | None = None,
) -> Run:
    """BM25 top-k of ``queries`` over ``docs`` (texts in language ``lang``), with ``bm25s``.

    Terms are :func:`csir.text.retrieval_terms` (lower-cased words with their combining marks;
    character bigrams in scripts without spaces) without the stopwords-iso list of ``lang``.
    Documents that share no term with a query (score 0) are not candidates, so a query can get
    fewer than ``top_k`` (an empty dict when it shares no term with any document; a warning
    says how many).

    Args:
        queries: qid → text.
        docs: docid → text.
        lang: the documents' language (its stopwords are removed).
        top_k: candidates per query.
        k1: BM25 ``k1`` (Anserini's default 0.9).
        b: BM25 ``b`` (Anserini's default 0.4).
        stemmer: optional stemmer of a list of terms (e.g. PyStemmer's ``stemWords``).
    """
    import bm25s

    from csir.stopwords import stopwords

    _check_top_k(top_k)
    doc_ids = list(docs)
    qids = list(queries)
    run: Run = {qid: {} for qid in qids}
    if not doc_ids or not qids:
        return run
    drop = stopwords(lang)

    def terms(text: str) -> list[str]:
        kept = [t for t in retrieval_terms(text) if t not in drop]
        return list(stemmer(kept)) if stemmer is not None and kept else kept

    index = bm25s.BM25(k1=k1, b=b)
    index.index([terms(docs[d]) for d in doc_ids], show_progress=False)
    query_terms = {qid: terms(queries[qid]) for qid in qids}
    asked = [qid for qid in qids if query_terms[qid]]
    if asked:
        found, scores = index.retrieve(
            [query_terms[q] for q in asked],
            k=min(top_k, len(doc_ids)),
            show_progress=False,
            n_threads=1,
        )
        for row, qid in enumerate(asked):
            hits = zip(found[row], scores[row], strict=True)
            run[qid] = {doc_ids[int(i)]: float(s) for i, s in hits if s > 0}
    empty = sum(not docs_of_query for docs_of_query in run.values())
    if empty:
        logger.warning(
            "BM25 (%s): %d of %d queries share no term with any document and get no candidates",
            lang,
            empty,
            len(qids),
        )
    return run


def _check_pivot(pivot: RetrievalPair) -> None:
    if pivot.doc_lang == MIXED:
        raise ConfigError(f"the BM25 pivot must have one document language, not {pivot.name}")


def unit_texts(pair: RetrievalPair) -> dict[str, str]:
    """Parallel unit (``doc_groups`` value) → the text of its documents, joined in id order.

    For paragraph tasks a unit is one document; for the sentence task it is the paragraph whose
    sentences share the group.
    """
    members: dict[str, list[str]] = {}
    for docid, group in pair.doc_groups.items():
        if docid in pair.docs:
            members.setdefault(group, []).append(docid)
    return {
        group: " ".join(pair.docs[d] for d in sorted(ids, key=_natural_key))
        for group, ids in members.items()
    }


def bm25_units(pivot: RetrievalPair, top_k: int, **options: Any) -> Run:
    """BM25 top-k *parallel units* (paragraphs) of the pivot's queries: ``{qid: {unit: score}}``.

    Expand to any pair's documents with :func:`expand_units`: the candidate protocol that gives
    every language the same content (``options`` as in :func:`bm25_search`).

    Raises:
        ConfigError: a mixed document side, or a bad ``top_k``.
    """
    _check_pivot(pivot)
    return bm25_search(pivot.queries, unit_texts(pivot), pivot.doc_lang, top_k, **options)


def expand_units(unit_run: Mapping[str, Mapping[str, float]], pair: RetrievalPair) -> Run:
    """Every document of ``pair`` in a query's units, at its unit's score.

    Units are parallel across languages (``doc_groups``), so every language — MLIR included —
    re-ranks the same content and has the same candidate recall: a paragraph maps to itself,
    a paragraph of the sentence task to all its sentences (however many a language has).
    Documents of one unit share its score; :func:`break_ties` orders them fairly. Queries of
    ``pair`` without a unit run get no entry (a warning says how many).
    """
    members: dict[str, list[str]] = {}
    for docid in pair.docs:
        members.setdefault(pair.doc_groups.get(docid, docid), []).append(docid)
    expanded: Run = {}
    missing = 0
    for qid in pair.queries:
        if qid not in unit_run:
            missing += 1
            continue
        expanded[qid] = {
            docid: float(score)
            for unit, score in ranked(unit_run[qid])
            for docid in sorted(members.get(unit, ()), key=_natural_key)
        }
    if missing:
        logger.warning("%s: %d queries have no first-stage units", pair.name, missing)
    return expanded


def _tie_key(qid: str, docid: str) -> bytes:
    return hashlib.blake2b(f"{qid}\t{docid}".encode(), digest_size=8).digest()


def break_ties(run: Mapping[str, Mapping[str, float]]) -> Run:
    """The same ranking with every tie broken in a fixed pseudo-random order, never by id.

    A first stage must not earn credit from document ids (``ir_measures`` orders equal scores
    by id, which for sentence ids is their position in the paragraph). Documents with equal
    scores are ordered by a hash of ``(qid, docid)`` — uniform in expectation, the same on every
    run — and their scores spread inside the gap to the next lower score, so every tool reads
    one order. Distinct scores and their order are kept.
    """
    broken: Run = {}
    for qid, docs in run.items():
        order = sorted(docs.items(), key=lambda item: (-item[1], _tie_key(qid, item[0])))
        out: dict[str, float] = {}
        start = 0
        while start < len(order):
            score = order[start][1]
            end = start
            while end < len(order) and order[end][1] == score:
                end += 1
            lower = order[end][1] if end < len(order) else score - 1.0
            step = (score - lower) / (end - start + 1)
            for offset, (docid, _) in enumerate(order[start:end]):
                out[docid] = score - offset * step
            start = end
        broken[qid] = out
    return broken


def _natural_key(docid: str) -> tuple:
    """Sort ``"3-10-2"`` after ``"3-9-2"``: numeric parts as numbers."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in docid.split("-"))


def dense(
    pair: RetrievalPair,
    backbone: str = OFFLINE_E5,
    top_k: int = 100,
    batch_size: int = 64,
    max_length: int = 256,
    device: str | torch.device = "cpu",
    *,
    model: PreTrainedModel | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    query_prefix: str = "query: ",
    doc_prefix: str = "passage: ",
    chunk_size: int = 256,
) -> Run:
    """Bi-encoder top-k: cosine between mean-pooled query and document embeddings.

    Embeddings come from :func:`csir.backbones.encode` with e5's prefixes; the query × document
    similarity matrix is computed ``chunk_size`` queries at a time. Ties go to the lower
    document position (``torch.topk`` on CPU is deterministic).

    Args:
        pair: queries and documents to embed.
        backbone: model name or folder (ignored when ``model`` and ``tokenizer`` are given).
        top_k: candidates per query (at most the number of docs).
        batch_size: texts per forward pass.
        max_length: tokens per text.
        device: where the model runs.
        model: an already loaded encoder.
        tokenizer: its tokenizer.
        query_prefix: prepended to queries (e5: ``"query: "``).
        doc_prefix: prepended to documents (e5: ``"passage: "``).
        chunk_size: queries per similarity block.
    """
    import torch

    from csir import backbones

    _check_top_k(top_k)
    if model is None:
        model = backbones.load_encoder(backbone, device)
    if tokenizer is None:
        tokenizer = backbones.load_tokenizer(backbone)
    qids, doc_ids = list(pair.queries), list(pair.docs)
    if not qids or not doc_ids:
        return {qid: {} for qid in qids}
    options = {
        "model": model,
        "tokenizer": tokenizer,
        "batch_size": batch_size,
        "max_length": max_length,
        "normalize": True,
    }
    queries = backbones.encode([pair.queries[q] for q in qids], prefix=query_prefix, **options)
    docs = backbones.encode([pair.docs[d] for d in doc_ids], prefix=doc_prefix, **options)
    k = min(top_k, len(doc_ids))
    run: Run = {}
    for start in range(0, len(qids), chunk_size):
        scores = queries[start : start + chunk_size] @ docs.T
        values, indices = torch.topk(scores, k, dim=1)
        for row, qid in enumerate(qids[start : start + chunk_size]):
            run[qid] = {
                doc_ids[int(i)]: float(v)
                for i, v in zip(indices[row].tolist(), values[row].tolist(), strict=True)
            }
    return run


def map_scoreddocs(
    run: Mapping[str, Mapping[str, float]],
    pivot: RetrievalPair,
    pair: RetrievalPair,
    top_k: int,
    *,
    doc_datasets: Sequence[str] = (),
) -> dict[str, dict[str, float]]:
    """The pivot's scoreddocs as ``pair``'s candidates: per query its ``top_k`` by score (0: all).

    Document ids are parallel across languages (mMARCO: each document is its own unit), so each
    candidate is mapped by id (:func:`expand_units`), MLIR sides included.

    Raises:
        CsirError: a candidate is missing from ``pair``'s documents (named by ``doc_datasets``).
    """
    limit = top_k or None
    groups = set(pair.doc_groups.values())
    cut = {qid: dict(ranked(run[qid])[:limit]) for qid in pair.queries if qid in run}
    lost = [d for docs in cut.values() for d in docs if pivot.doc_groups.get(d, d) not in groups]
    if lost:
        raise CsirError(
            f"{pair.name}: {len(lost)} scoreddocs candidates of the pivot language "
            f"{pivot.doc_lang} are not among the documents of ir_datasets "
            f"{', '.join(map(repr, doc_datasets)) or pair.dataset} (first: {lost[0]!r}); they "
            "are mapped by document id, so every language needs the same ids: set "
            "ir_datasets_id to datasets with parallel doc ids (e.g. "
            "'mmarco/v2/{lang}/dev/small'), delete an incomplete download under ~/.ir_datasets, "
            "or use candidates 'bm25'"
        )
    units = {
        qid: {pivot.doc_groups.get(d, d): s for d, s in docs.items()} for qid, docs in cut.items()
    }
    return expand_units(units, pair)
