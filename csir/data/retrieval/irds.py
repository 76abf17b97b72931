"""``ir_datasets`` collections (e.g. ``mmarco/v2/de/dev/small``): queries, qrels and only the
documents that matter; needs the internet or its cache the first time."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from typing import Any

from csir.data.retrieval.collection import (
    Collection,
)
from csir.errors import CsirError
from csir.runs import Qrels, Run

logger = logging.getLogger(__name__)

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


def ir_dataset_id(template: str, lang: str) -> str:
    """``template`` filled in with ``lang``; mMARCO's English is MS MARCO's passage dataset.

    mMARCO translates MS MARCO and has no English subset, so for ``en`` an ``mmarco/{lang}/…``
    or ``mmarco/v2/{lang}/…`` template names ``msmarco-passage/…`` (same query, document and
    judgement ids); mMARCO's code for Dutch is ``dt``.

    Example:
        >>> ir_dataset_id("mmarco/v2/{lang}/dev/small", "de")
        'mmarco/v2/de/dev/small'
        >>> ir_dataset_id("mmarco/v2/{lang}/dev/small", "en")
        'msmarco-passage/dev/small'
        >>> ir_dataset_id("mmarco/v2/{lang}/dev/small", "nl")
        'mmarco/v2/dt/dev/small'
    """
    match = re.fullmatch(r"mmarco/(?:v2/)?\{lang\}/(.+)", template)
    if lang == "en" and match:
        return f"msmarco-passage/{match.group(1)}"
    if lang == "nl" and match:
        return template.format(lang="dt")
    return template.format(lang=lang)


def with_documents(
    collection: Collection, run: Mapping[str, Mapping[str, float]], dataset_id: str
) -> Collection:
    """``collection`` holding exactly the candidates of ``run`` and its own judged documents.

    Candidates it lacks are fetched by id from the docs store of ``dataset_id``; ids the store
    does not have either stay missing (:func:`csir.data.candidates.map_scoreddocs` names them).
    """
    wanted = {docid for docs in run.values() for docid in docs}
    wanted.update(docid for rels in collection.qrels.values() for docid in rels)
    docs = {docid: text for docid, text in collection.docs.items() if docid in wanted}
    missing = sorted(wanted - docs.keys())
    fetched = {}
    if missing:
        import ir_datasets

        fetched = ir_datasets.load(dataset_id).docs_store().get_many(missing)
        for docid, doc in fetched.items():
            docs[docid] = ir_record_text(doc)
    return dataclasses.replace(
        collection,
        docs=docs,
        doc_groups={docid: docid for docid in docs},
        stats={**collection.stats, "fetched_pivot_candidates": len(fetched)},
    )
