"""TREC-style collections: queries TSV, corpus TSV/JSONL, qrels (and an optional run)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from csir import io, languages
from csir.data.retrieval.collection import ENGLISH, Collection, has_relevant
from csir.errors import InputError
from csir.runs import Qrels, read_qrels

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- TREC-style files


def read_queries_tsv(path: str | Path) -> dict[str, str]:
    """Read ``qid<TAB>text`` lines (blank lines skipped).

    Raises:
        InputError: a line without a tab, an empty id or text, an id with whitespace, or a
            repeated id (with its line).
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
        _check_not_header(path, number, parts)
        qid, text = parts[0].strip(), parts[1].strip()
        if not qid or not text:
            raise InputError(path, "empty query id or text", line=number, fix="give both")
        _check_trec_id(path, number, "query", qid)
        if qid in queries:
            raise InputError(path, f"query id {qid!r} repeated", line=number, fix="dedupe ids")
        queries[qid] = text
    if not queries:
        raise InputError(path, "no queries", fix="give qid<TAB>text lines")
    return queries


#: First-line fields that name columns, not a query or document (``id<TAB>text``).
_HEADER_WORDS = frozenset(
    {"id", "_id", "qid", "query_id", "queryid", "docid", "doc_id", "pid", "text", "query",
     "title", "passage", "body", "contents", "document"}
)  # fmt: skip


def _check_not_header(path: Path, number: int, fields: list[str]) -> None:
    """A column-header line would become one more query or document without a word."""
    if number == 1 and all(f.strip().lower() in _HEADER_WORDS for f in fields):
        raise InputError(
            path,
            f"the first line ({' | '.join(fields)}) is a column header, not a record",
            line=number,
            fix="delete the header line (the format has none)",
        )


def _check_trec_id(path: Path, number: int, kind: str, value: str) -> None:
    """An id with whitespace can never match a qrels or run line (TREC fields are split on
    whitespace): its judgements would be lost without a word."""
    if any(ch.isspace() for ch in value):
        raise InputError(
            path,
            f"{kind} id {value!r} contains whitespace, which TREC qrels and run files cannot hold",
            line=number,
            fix="rename it (e.g. replace spaces by '_') here and in the qrels",
        )


_JSONL_ID_KEYS = ("_id", "docid", "doc_id", "id")


def read_corpus(path: str | Path) -> dict[str, str]:
    """Read a corpus: TSV ``docid<TAB>text`` / ``docid<TAB>title<TAB>text``, or JSONL.

    JSONL records (``.jsonl``/``.json`` files) carry the id in ``_id``, ``docid``, ``doc_id`` or
    ``id``, the text in ``text`` (BEIR) or ``contents`` (Pyserini) and an optional ``title``. A
    title is joined to the text with a space (as BEIR does).

    Raises:
        InputError: a malformed line, a missing id or text, an id with whitespace or (JSONL)
            one that is not a string or integer, or a repeated id (with its line).
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
        _check_trec_id(path, number, "document", docid)
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
        if len(parts) in (2, 3):
            _check_not_header(path, number, parts)
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
        docid = record.get(key) if key else None
        title = record.get("title")
        # BEIR writes "text", Pyserini's JSONL collections "contents"
        text = record.get("text", record.get("contents", ""))
        # str() of null, true, 1.0 or a list would give ids ("None", "1.0") that no qrels line
        # names, and a title that is not text would be glued into the document as its repr.
        if (
            not isinstance(docid, str | int)
            or isinstance(docid, bool)
            or not isinstance(text, str)
            or not isinstance(title, str | None)
        ):
            raise InputError(
                path,
                f"record needs an id ({' / '.join(_JSONL_ID_KEYS)}; a string or an integer), a "
                "string 'text' (or 'contents') and, if any, a string 'title'",
                line=number,
                fix='write records like {"_id": "d1", "title": "", "text": "..."}',
            )
        title = title or ""
        yield number, str(docid).strip(), title, text


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
    documents missing from the corpus, are left out, logged and counted in ``stats``
    (``qrels_unknown_queries``, ``qrels_unknown_docs``). Doc ids are their own group (parallel
    collections share ids).

    Raises:
        InputError: a malformed line (naming file and line; the qrels are read by
            :func:`csir.runs.read_qrels`, which also refuses an empty qrels file and a judgement
            given twice), qrels that judge none of the given queries and documents, or a
            *relevant* judgement of a query whose document the corpus lacks (it could never be
            retrieved, so every measure of that query would be silently lower).
        ConfigError: ``lang`` is not a language code csir knows (its tokenizer, stopwords and
            Translate-Test depend on it).
    """
    languages.check_language(lang)
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
    if not any(has_relevant(rels) for rels in kept.values()):
        raise InputError(
            qrels,
            f"no relevant judgement (relevance > 0) links a query of {queries} to a document "
            f"of {corpus}",
            fix="check that the three files belong together (same query and document ids)",
        )
    if unknown_queries:
        logger.warning(
            "%s: %d judged queries are not in %s; they are not evaluated",
            qrels,
            unknown_queries,
            queries,
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
