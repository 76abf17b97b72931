"""TREC run and qrels files: strict readers and deterministic, atomic writers.

Types follow ir_measures: a run is ``{query_id: {doc_id: score}}`` (higher is better) and qrels
are ``{query_id: {doc_id: relevance}}``.

- Run lines are ``qid Q0 docid rank score tag``; qrels lines are ``qid 0 docid rel``. Fields are
  separated by any whitespace when reading, by one space when writing.
- Writers sort queries by id and documents by score (descending), then id (ascending), so ties
  are broken the same way every time; ranks start at 1. Scores are written with ``repr`` of the
  Python float, the shortest text that reads back to the identical float64 (and so to the
  identical float32 for float32 scores).
- **Empty files are never valid.** The writers refuse an empty run/qrels and a query without
  documents (TREC files cannot represent either), and the readers refuse a file without lines:
  a run with zero queries is always the trace of a stage that failed or wrote nothing, and
  scoring it would silently give 0 everywhere.

Example:
    >>> write_run(tmp / "bm25.trec", {"q1": {"d1": 2.5, "d2": 0.5}}, tag="bm25")  # doctest: +SKIP
    >>> read_run(tmp / "bm25.trec")  # doctest: +SKIP
    {'q1': {'d1': 2.5, 'd2': 0.5}}
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from csir.errors import CsirError, InputError
from csir.io import atomic_write, read_lines

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]

_RUN_FIX = "expected 'qid Q0 docid rank score tag' (6 whitespace-separated fields)"
_QRELS_FIX = "expected 'qid 0 docid relevance' (4 whitespace-separated fields)"
_INTEGER = re.compile(r"[+-]?[0-9]+")


def _check_id(kind: str, value: object, where: str) -> str:
    text = str(value)
    if not text or any(ch.isspace() for ch in text):
        raise CsirError(
            f"{where}: {kind} {text!r} is empty or contains whitespace, which TREC files cannot "
            "hold; rename it (e.g. replace spaces by '_')"
        )
    return text


def _check_queries(kind: str, table: Mapping[str, Mapping[str, object]], path: Path) -> None:
    if not table:
        raise CsirError(
            f"refusing to write an empty {kind} to {path}: it has no queries (empty TREC files "
            "are treated as the trace of a failed stage); check the step that built it"
        )
    empty = sorted(str(qid) for qid, docs in table.items() if not docs)
    if empty:
        raise CsirError(
            f"refusing to write {kind} {path}: {len(empty)} queries have no documents, e.g. "
            f"{empty[:3]}; TREC files cannot represent them: drop them or give them documents"
        )


def ranked(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """``(docid, score)`` best first, ties broken by id: the order every run is written and read
    in (first stages break their ties before, see :func:`csir.data.candidates.break_ties`)."""
    return sorted(((str(d), float(s)) for d, s in docs.items()), key=lambda x: (-x[1], x[0]))


def write_run(path: str | Path, run: Mapping[str, Mapping[str, float]], tag: str) -> Path:
    """Write ``run`` as a TREC run file, atomically and deterministically.

    Args:
        path: target file; parent folders are created.
        run: ``{qid: {docid: score}}``, higher scores ranked first.
        tag: the run name written in the last column (no whitespace).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        CsirError: for an empty run, a query without documents, an id or tag with whitespace,
            or a score that is not a finite number.
    """
    path = Path(path)
    _check_id("run tag", tag, str(path))
    _check_queries("run", run, path)
    lines: list[str] = []
    for qid in sorted(run, key=str):
        q = _check_id("query id", qid, str(path))
        for rank, (docid, score) in enumerate(ranked(run[qid]), start=1):
            _check_id("document id", docid, f"{path} (query {q})")
            if not math.isfinite(score):
                raise CsirError(
                    f"{path}: score of query {q!r}, document {docid!r} is {score}; scores must be "
                    "finite numbers (check the model for NaN outputs)"
                )
            lines.append(f"{q} Q0 {docid} {rank} {score!r} {tag}\n")
    with atomic_write(path) as fh:
        fh.writelines(lines)
    return path


def _strict_int(text: str) -> int:
    """``int`` without Python's digit-group underscores (``1_0`` would read as 10)."""
    if not _INTEGER.fullmatch(text):
        raise ValueError(text)
    return int(text)


def _strict_float(text: str) -> float:
    """``float`` without Python's digit-group underscores (``1_0`` would read as 10.0)."""
    if "_" in text:
        raise ValueError(text)
    return float(text)


def _fields(path: Path, expected: int, fix: str) -> Iterator[tuple[int, list[str]]]:
    if not path.is_file():
        raise InputError(
            path, "file does not exist", fix="check the path or run the stage that writes it"
        )
    seen_any = False
    for number, line in read_lines(path):
        if not line.strip():
            continue
        seen_any = True
        fields = line.split()
        if len(fields) != expected:
            raise InputError(
                path, f"{len(fields)} fields instead of {expected}", line=number, fix=fix
            )
        yield number, fields
    if not seen_any:
        raise InputError(
            path,
            "empty file (no lines): csir never writes empty TREC files",
            fix="re-run the stage that wrote it; it failed or produced nothing",
        )


def read_run(path: str | Path) -> Run:
    """Read a TREC run file into ``{qid: {docid: score}}``.

    The rank column is checked to be an integer but otherwise ignored: ordering comes from the
    scores, as in trec_eval and ir_measures.

    Raises:
        InputError: naming the file and line, for a missing or empty file, a wrong number of
            fields, a non-numeric or non-finite score, a non-integer rank, or a (qid, docid)
            pair given twice.
    """
    path = Path(path)
    run: Run = {}
    first_line: dict[tuple[str, str], int] = {}
    for number, (qid, _q0, docid, rank, score, _tag) in _fields(path, 6, _RUN_FIX):
        try:
            _strict_int(rank)
        except ValueError:
            raise InputError(
                path, f"rank {rank!r} is not an integer", line=number, fix=_RUN_FIX
            ) from None
        try:
            value = _strict_float(score)
        except ValueError:
            raise InputError(
                path, f"score {score!r} is not a number", line=number, fix=_RUN_FIX
            ) from None
        if not math.isfinite(value):
            raise InputError(
                path, f"score {score!r} is not finite", line=number, fix="fix the scorer"
            )
        if (qid, docid) in first_line:
            raise InputError(
                path,
                f"query {qid!r}, document {docid!r} appears twice (first on line "
                f"{first_line[qid, docid]})",
                line=number,
                fix="keep one line per (query, document)",
            )
        first_line[qid, docid] = number
        run.setdefault(qid, {})[docid] = value
    return run


def read_qrels(path: str | Path) -> Qrels:
    """Read TREC qrels into ``{qid: {docid: relevance}}``.

    Raises:
        InputError: naming the file and line, for a missing or empty file, a wrong number of
            fields, a non-integer relevance or a (qid, docid) pair judged twice.
    """
    path = Path(path)
    qrels: Qrels = {}
    first_line: dict[tuple[str, str], int] = {}
    for number, (qid, _iteration, docid, rel) in _fields(path, 4, _QRELS_FIX):
        try:
            value = _strict_int(rel)
        except ValueError:
            raise InputError(
                path, f"relevance {rel!r} is not an integer", line=number, fix=_QRELS_FIX
            ) from None
        if (qid, docid) in first_line:
            raise InputError(
                path,
                f"query {qid!r}, document {docid!r} is judged twice (first on line "
                f"{first_line[qid, docid]})",
                line=number,
                fix="keep one judgement per (query, document)",
            )
        first_line[qid, docid] = number
        qrels.setdefault(qid, {})[docid] = value
    return qrels
