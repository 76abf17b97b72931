"""Model selection on a dev set: score its (query, passage, label) pairs, compute MRR@10.

The dev file is notebook 02's ``dev/en-en/dev.jsonl`` (WikiQA dev: every candidate sentence of
every question) in the training-record format. Only questions with at least one relevant
candidate count, as in WikiQA's standard evaluation; MRR@10 comes from ir_measures.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from csir.errors import InputError
from csir.training.data import iter_training_records

DEV_MEASURE = "RR@10"


@dataclasses.dataclass(frozen=True)
class DevSet:
    """Dev pairs in file order, with their query and passage ids."""

    path: Path
    qids: tuple[str, ...]
    pids: tuple[str, ...]
    queries: tuple[str, ...]
    passages: tuple[str, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def judged(self, max_queries: int = 0) -> DevSet:
        """Only the questions with a relevant candidate (the others never count in MRR, so
        scoring them would only cost time); the first ``max_queries`` of them in file order
        (0: all)."""
        keep = set(list(self.qrels())[: max_queries or None])
        rows = [i for i, qid in enumerate(self.qids) if qid in keep]

        def pick(values: tuple) -> tuple:
            return tuple(values[i] for i in rows)

        return DevSet(
            self.path,
            pick(self.qids),
            pick(self.pids),
            pick(self.queries),
            pick(self.passages),
            pick(self.labels),
        )

    def pairs(self) -> list[tuple[str, str]]:
        """``(query, passage)`` of every pair, in file order."""
        return list(zip(self.queries, self.passages, strict=True))

    def qrels(self) -> dict[str, dict[str, int]]:
        """Relevance of the questions that have at least one relevant candidate."""
        qrels: dict[str, dict[str, int]] = {}
        for qid, pid, label in zip(self.qids, self.pids, self.labels, strict=True):
            qrels.setdefault(qid, {})[pid] = label
        return {q: docs for q, docs in qrels.items() if any(docs.values())}


def read_dev_set(path: str | Path) -> DevSet:
    """Read and check a dev JSONL file (training-record format).

    Raises:
        InputError: naming the file and line of a bad record, a (qid, pid) that repeats, or a
            file without any relevant pair (nothing to select on).
    """
    path = Path(path)
    texts, ids = [], []
    seen: dict[tuple[str, str], int] = {}
    for number, record in iter_training_records(path):
        key = (str(record["qid"]), str(record["pid"]))
        if key in seen:
            raise InputError(
                path,
                f"(qid, pid) {key} repeats line {seen[key]}",
                line=number,
                fix="each candidate of a question must appear once",
            )
        seen[key] = number
        texts.append((record["query"], record["passage"], int(record["label"])))
        ids.append(key)
    if not any(label for _, _, label in texts):
        raise InputError(path, "no relevant pair (label 1): nothing to select a model on")
    queries, passages, labels = zip(*texts, strict=True)
    qids, pids = zip(*ids, strict=True)
    return DevSet(path, qids, pids, queries, passages, labels)


def dev_score(dev: DevSet, scores: np.ndarray) -> float:
    """Mean MRR@10 over the dev questions with a relevant candidate (ties: docid order)."""
    from csir.metrics import per_query

    run: dict[str, dict[str, float]] = {}
    for qid, pid, score in zip(dev.qids, dev.pids, scores.tolist(), strict=True):
        run.setdefault(qid, {})[pid] = float(score)
    qrels = dev.qrels()
    run = {q: docs for q, docs in run.items() if q in qrels}
    table = per_query(run, qrels, [DEV_MEASURE], run_name="dev scores", qrels_name=str(dev.path))
    return float(table["value"].mean())
