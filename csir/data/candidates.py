"""First-stage candidates for re-ranking, as runs ``{qid: {docid: score}}`` (higher = better).

Every generator returns a run, so the first stage can itself be evaluated as a system next to
the re-rankers:

- ``"exhaustive"``: every document of the pair for every query (score 0.0);
- ``"bm25"``: the paper's protocol — BM25 (``bm25s``) on a *pivot* pair (e.g. en-en), mapped to
  every other pair through parallel ids (:func:`map_candidates`), so all languages re-rank the
  same candidates;
- ``"dense"``: the backbone as a bi-encoder (e5 prefixes ``"query: "``/``"passage: "``), cosine
  top-k.

Example:
    >>> pivot = retrieval.load_pair(None, "en", "en", "paragraph")  # doctest: +SKIP
    >>> de_run = map_candidates(bm25_pivot(pivot, top_k=20), pivot, en_de)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from csir.backbones import OFFLINE_E5
from csir.data.retrieval import MIXED, RetrievalPair, Run
from csir.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

CANDIDATES = ("exhaustive", "bm25", "dense")


def exhaustive(pair: RetrievalPair) -> Run:
    """Every document of the pair for every query, all with score 0.0."""
    return {qid: dict.fromkeys(pair.docs, 0.0) for qid in pair.queries}


def _check_top_k(top_k: int) -> None:
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise ConfigError(f"top_k must be a positive integer, got {top_k!r}")


def bm25_pivot(
    pivot: RetrievalPair,
    top_k: int,
    *,
    k1: float = 0.9,
    b: float = 0.4,
    stemmer: Callable[[list[str]], list[str]] | None = None,
) -> Run:
    """BM25 top-k of the pivot pair's queries over its documents, with ``bm25s``.

    Lower-cased ``bm25s`` tokens (``\\w\\w+``) without the stopwords-iso list of the pivot's
    document language. Documents that share no term with a query (score 0) are not
    candidates, so a query can get fewer than ``top_k`` (an empty dict when it has no term).

    Args:
        pivot: a pair with one document language (usually en-en).
        top_k: candidates per query.
        k1: BM25 ``k1`` (Anserini's default 0.9).
        b: BM25 ``b`` (Anserini's default 0.4).
        stemmer: optional ``bm25s`` stemmer (e.g. PyStemmer's ``stemWords``).

    Raises:
        ConfigError: a mixed document side, or a bad ``top_k``.
    """
    import bm25s

    from csir.text import stopwords

    _check_top_k(top_k)
    if pivot.doc_lang == MIXED:
        raise ConfigError(f"the BM25 pivot must have one document language, not {pivot.name}")
    doc_ids = list(pivot.docs)
    qids = list(pivot.queries)
    if not doc_ids or not qids:
        return {qid: {} for qid in qids}
    words = sorted(stopwords(pivot.doc_lang))
    options: dict[str, Any] = {"stopwords": words, "stemmer": stemmer, "show_progress": False}
    index = bm25s.BM25(k1=k1, b=b)
    index.index(bm25s.tokenize([pivot.docs[d] for d in doc_ids], **options), show_progress=False)
    query_tokens = bm25s.tokenize([pivot.queries[q] for q in qids], return_ids=False, **options)
    found, scores = index.retrieve(
        query_tokens, k=min(top_k, len(doc_ids)), show_progress=False, n_threads=1
    )
    run: Run = {}
    for row, qid in enumerate(qids):
        run[qid] = {
            doc_ids[int(i)]: float(s) for i, s in zip(found[row], scores[row], strict=True) if s > 0
        }
    return run


def ranked(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """``(docid, score)`` best first, ties broken by id: the order every run is read in."""
    return sorted(docs.items(), key=lambda item: (-item[1], item[0]))


def map_candidates(
    run: Mapping[str, Mapping[str, float]],
    pivot: RetrievalPair,
    pair: RetrievalPair,
    top_k: int | None = None,
) -> Run:
    """Carry the pivot's candidates over to another pair (any languages, MLIR included).

    The paper's protocol: the same candidate ids in every language. For each query of ``pair``
    that the pivot run has, walk the pivot candidates from best to worst:

    - a candidate whose group (``doc_groups``; for paragraphs the id itself) is shown in the
      pivot's document language in ``pair`` too is the *same document*: it keeps its id,
      score and rank (so paragraphs, and sentences of the pivot language, map 1:1);
    - otherwise (sentences in another language, whose ids are not parallel) every document
      of ``pair`` in that group joins at the group's first (best) pivot score, in id order;
      a group joins once.

    The mapped list is cut at ``top_k`` (default: the query's number of pivot candidates).
    Scores stay the pivot's, so the result is a valid first-stage run; documents of one group
    share a score (which target sentence matches a pivot sentence is unknown).

    Raises:
        ConfigError: the pivot has a mixed document side.
    """
    if pivot.doc_lang == MIXED:
        raise ConfigError(f"the pivot must have one document language, not {pivot.name}")
    if top_k is not None:
        _check_top_k(top_k)
    by_group: dict[str, list[str]] = {}
    for docid, group in pair.doc_groups.items():
        by_group.setdefault(group, []).append(docid)
    for members in by_group.values():
        members.sort(key=_natural_key)
    mapped: Run = {}
    missing = 0
    for qid in pair.queries:
        if qid not in run:
            missing += 1
            continue
        order = ranked(run[qid])
        limit = len(order) if top_k is None else top_k
        out: dict[str, float] = {}
        groups_done: set[str] = set()
        for pivot_doc, score in order:
            if len(out) >= limit:
                break
            group = pivot.doc_groups.get(pivot_doc, pivot_doc)
            if pivot_doc in pair.docs and pair.doc_langs.get(pivot_doc) == pivot.doc_lang:
                out.setdefault(pivot_doc, float(score))
                continue
            if group in groups_done:
                continue
            groups_done.add(group)
            for docid in by_group.get(group, ()):
                if pair.doc_langs.get(docid) == pivot.doc_lang:
                    continue  # same-language docs of a group map only 1:1
                if len(out) >= limit:
                    break
                out.setdefault(docid, float(score))
        mapped[qid] = out
    if missing:
        logger.warning("%s: %d queries have no pivot candidates", pair.name, missing)
    return mapped


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


def generate(
    method: str,
    pair: RetrievalPair,
    *,
    top_k: int = 100,
    pivot: RetrievalPair | None = None,
    pivot_run: Mapping[str, Mapping[str, float]] | None = None,
    **dense_options: Any,
) -> Run:
    """Candidates by name (one of :data:`CANDIDATES`): the notebooks' single entry point.

    ``"bm25"`` needs ``pivot`` (and reuses ``pivot_run`` when given, to score the pivot once
    for all pairs); ``dense_options`` go to :func:`dense`.
    """
    if method == "exhaustive":
        return exhaustive(pair)
    if method == "bm25":
        if pivot is None:
            raise ConfigError("bm25 candidates need the pivot pair (e.g. en-en) to search in")
        if pivot_run is None:
            pivot_run = bm25_pivot(pivot, top_k)
        return map_candidates(pivot_run, pivot, pair, top_k)
    if method == "dense":
        return dense(pair, top_k=top_k, **dense_options)
    raise ConfigError(f"candidates {method!r} must be one of {CANDIDATES}")
