"""Model selection on a dev set: score its (query, passage, label) pairs, compute MRR@10, and
keep the best step's weights while training.

The dev file is notebook 02's ``dev/en-en/dev.jsonl`` (WikiQA dev: every candidate sentence of
every question) in the training-record format. Only questions with at least one relevant
candidate count, as in WikiQA's standard evaluation; MRR@10 comes from ir_measures.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from csir import io
from csir.errors import CsirError, InputError
from csir.heads import SEGMENT_COSINE
from csir.training.tokenized import iter_training_records

if TYPE_CHECKING:
    import torch

    from csir.training.args import TrainingArgs

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


# ------------------------------------------------------------------ selection while training

BEST_DIR = "best"


def dev_token_ids(dev, tokenizer, spec, max_length: int) -> np.ndarray:
    """Token ids of the dev texts as the model will see them (for vocabulary trimming)."""
    from csir import ranker

    if spec.kind == SEGMENT_COSINE:
        rows = ranker.tokenize_segments(
            tokenizer, list(dict.fromkeys(dev.queries)), spec.query_prefix, spec.query_max_length
        ) + ranker.tokenize_segments(
            tokenizer, list(dict.fromkeys(dev.passages)), spec.passage_prefix, max_length
        )
    else:
        rows = tokenizer(
            list(dev.queries), list(dev.passages), truncation="longest_first",
            max_length=max_length,
        )["input_ids"]  # fmt: skip
    return np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64)


def dev_mrr(model, tokenizer, dev, args: TrainingArgs, device) -> float:
    """MRR@10 of ``model`` on the dev set, scored as notebook 04 scores it (same lengths)."""
    from csir.rerank import Reranker, ScoringOptions

    options = ScoringOptions(
        batch_size=max(32, args.batch_size),
        max_length=args.max_length,
        precision=args.precision,
        device=str(device),
    )
    scores = Reranker.from_model(model, tokenizer, options).score(dev.pairs())
    return dev_score(dev, scores)


def best_file(output_dir: Path, step: int) -> Path:
    return output_dir / BEST_DIR / f"step-{step:07d}.safetensors"


def save_best(model: torch.nn.Module, output_dir: Path, step: int) -> None:
    """Keep the weights of ``step`` as the best so far (atomic; older best files removed)."""
    from safetensors.torch import save_model

    target = best_file(output_dir, step)
    target.parent.mkdir(parents=True, exist_ok=True)
    with io.atomic_path(target) as pending:
        save_model(model, str(pending))
    for old in target.parent.glob("step-*.safetensors"):
        if old != target:
            old.unlink(missing_ok=True)


def load_best(model: torch.nn.Module, output_dir: Path, step: int) -> None:
    from safetensors.torch import load_model

    path = best_file(output_dir, step)
    if not path.is_file():
        raise CsirError(
            f"{path} is missing: the best dev checkpoint of this run is gone; train again with "
            "force=True"
        )
    load_model(model, str(path), strict=True)
