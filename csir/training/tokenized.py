"""Training pairs read and tokenised: strict JSONL reading, pair or segment tokenisation, padding.

The file is read and tokenised in chunks straight into flat numpy arrays (token ids of all pairs
end to end plus offsets), so large inputs need a few bytes per token rather than Python objects.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from csir import io
from csir.errors import CsirError, InputError
from csir.ids import RECORD_KEYS

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from csir.heads import HeadSpec

_FIX = "each line must be a JSON object with " + ", ".join(RECORD_KEYS) + " (label 0 or 1)"


def iter_training_records(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, record)`` of a training JSONL file, checking every line.

    Blank lines are skipped.

    Raises:
        InputError: naming the file and line of a line that is not a JSON object, lacks a key,
            has a qid or pid that is not a non-empty string or integer, an empty query or
            passage, or a label other than 0/1.
    """
    path = Path(path)
    for number, record in io.iter_jsonl_records(path, fix=_FIX):
        missing = [key for key in RECORD_KEYS if key not in record]
        if missing:
            raise InputError(path, f"missing key(s) {', '.join(missing)}", line=number, fix=_FIX)
        for key in ("qid", "pid"):
            value = record[key]
            # str() of null or a list would merge unrelated questions into one group
            # ("None") for the listwise loss and the dev measure.
            if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
                raise InputError(
                    path,
                    f"{key} must be a non-empty string or an integer, got {value!r}",
                    line=number,
                    fix=_FIX,
                )
        for key in ("query", "passage"):
            value = record[key]
            if not isinstance(value, str) or not value.strip():
                raise InputError(path, f"empty or non-text {key}: {value!r}", line=number)
        label = record["label"]
        if isinstance(label, bool) or not isinstance(label, (int, float)) or label not in (0, 1):
            raise InputError(path, f"label must be 0 or 1, got {label!r}", line=number, fix=_FIX)
        yield number, record


def iter_training_pairs(path: str | Path) -> Iterator[tuple[str, str, int]]:
    """Yield ``(query, passage, label)`` of a training JSONL file (see
    :func:`iter_training_records` for the checks)."""
    for _, record in iter_training_records(path):
        yield record["query"], record["passage"], int(record["label"])


def group_ids(qids: list[str]) -> np.ndarray:
    """A dense integer per question id, numbered by first appearance (the listwise loss's
    groups).

    Example:
        >>> group_ids(["q7", "q7", "q2", "q7"]).tolist()
        [0, 0, 1, 0]
    """
    numbers: dict[str, int] = {}
    return np.fromiter(
        (numbers.setdefault(q, len(numbers)) for q in qids), dtype=np.int64, count=len(qids)
    )


def _pair_rows(path: Path) -> Iterator[tuple[str, str, str, int]]:
    for _, record in iter_training_records(path):
        yield str(record["qid"]), record["query"], record["passage"], int(record["label"])


def file_info(path: str | Path) -> dict[str, Any]:
    """Absolute path, size in bytes and sha256 of a file (recorded with every trained model)."""
    path = Path(path).resolve()
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": io.file_sha256(path)}


@dataclasses.dataclass
class TokenizedPairs:
    """Tokenised pairs stored flat: pair ``i`` is ``input_ids[offsets[i]:offsets[i + 1]]``.

    ``token_type_ids`` is ``None`` for tokenizers that produce none (e.g. XLM-R, e5);
    ``groups`` numbers each pair's question (see :func:`group_ids`).
    """

    input_ids: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    token_type_ids: np.ndarray | None
    pad_id: int
    groups: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per pair."""
        return np.diff(self.offsets)

    def all_ids(self) -> np.ndarray:
        """Every token id of every pair (for vocabulary trimming)."""
        return self.input_ids

    def collate(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        """Pad the given pairs to the longest of them: ``input_ids``, ``attention_mask``,
        ``token_type_ids`` (when present), float ``labels`` and question ``groups``."""
        import torch

        from csir.ranker import pad_features

        starts, ends = self.offsets[indices].tolist(), self.offsets[indices + 1].tolist()
        spans = [slice(a, b) for a, b in zip(starts, ends, strict=True)]
        columns = {"input_ids": [self.input_ids[span] for span in spans]}
        if self.token_type_ids is not None:
            columns["token_type_ids"] = [self.token_type_ids[span] for span in spans]
        batch = {
            **pad_features(columns, self.pad_id),
            "labels": torch.from_numpy(self.labels[indices].astype(np.float32)),
            "groups": torch.from_numpy(self.groups[indices]),
        }
        return batch


def _require_pairs(path: str | Path, labels: Sequence[int]) -> None:
    """A training file needs pairs of both labels: from one label a re-ranker learns nothing
    but to push every score one way."""
    if not labels:
        raise InputError(
            path, "no training pairs: the file is empty", fix="run notebook 02 to write it"
        )
    positives = sum(1 for label in labels if label)
    if positives in (0, len(labels)):
        raise InputError(
            path,
            f"all {len(labels)} training pairs have label {int(positives > 0)}",
            fix="give it relevant (label 1) and non-relevant (label 0) pairs, as notebook 02 "
            "writes them",
        )


def tokenize_training_file(
    path: str | Path,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    chunk_size: int = 4096,
) -> TokenizedPairs:
    """Read, check and tokenise a training JSONL file as (query, passage) text pairs.

    Pairs are truncated to ``max_length`` tokens with ``truncation="longest_first"``.

    Raises:
        InputError: for a bad line (see :func:`iter_training_pairs`) or a file without pairs.
        CsirError: when the tokenizer has no padding token.
    """
    path = Path(path)
    if tokenizer.pad_token_id is None:
        raise CsirError(
            f"tokenizer {tokenizer.name_or_path!r} has no padding token; "
            "choose a backbone whose tokenizer defines pad_token"
        )
    id_chunks: list[np.ndarray] = []
    type_chunks: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    labels: list[int] = []
    qids: list[str] = []
    pairs = _pair_rows(path)
    while chunk := list(itertools.islice(pairs, chunk_size)):
        chunk_qids, queries, passages, chunk_labels = zip(*chunk, strict=True)
        qids.extend(chunk_qids)
        encoded = tokenizer(
            list(queries),
            list(passages),
            truncation="longest_first",
            max_length=max_length,
            return_attention_mask=False,
        )
        ids = encoded["input_ids"]
        lengths.append(np.fromiter(map(len, ids), dtype=np.int64, count=len(ids)))
        id_chunks.append(np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32))
        if "token_type_ids" in encoded:
            flat = itertools.chain.from_iterable(encoded["token_type_ids"])
            type_chunks.append(np.fromiter(flat, dtype=np.int8))
        labels.extend(chunk_labels)
    _require_pairs(path, labels)
    offsets = np.zeros(len(labels) + 1, dtype=np.int64)
    np.cumsum(np.concatenate(lengths), out=offsets[1:])
    return TokenizedPairs(
        input_ids=np.concatenate(id_chunks),
        offsets=offsets,
        labels=np.asarray(labels, dtype=np.float32),
        token_type_ids=np.concatenate(type_chunks) if type_chunks else None,
        pad_id=int(tokenizer.pad_token_id),
        groups=group_ids(qids),
    )


def _flat_ids(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int32), offsets


def _pad_flat(ids: np.ndarray, offsets: np.ndarray, indices: np.ndarray, pad_id: int):
    from csir.ranker import pad_ids

    return pad_ids([ids[offsets[i] : offsets[i + 1]] for i in indices.tolist()], pad_id)


@dataclasses.dataclass
class TokenizedSegments:
    """Queries and passages tokenised apart (segment-cosine head), stored flat like
    :class:`TokenizedPairs`: query ``i`` is ``query_ids[query_offsets[i]:query_offsets[i + 1]]``.
    """

    query_ids: np.ndarray
    query_offsets: np.ndarray
    passage_ids: np.ndarray
    passage_offsets: np.ndarray
    labels: np.ndarray
    pad_id: int
    groups: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per pair (query plus passage)."""
        return np.diff(self.query_offsets) + np.diff(self.passage_offsets)

    def all_ids(self) -> np.ndarray:
        """Every token id of every query and passage (for vocabulary trimming)."""
        return np.concatenate([self.query_ids, self.passage_ids])

    def collate(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        """``query_ids, query_mask`` of the batch's distinct queries and ``query_index`` (each
        pair's row among them), ``passage_ids, passage_mask`` (each padded to its own longest),
        float ``labels`` and question ``groups``."""
        import torch

        rows: dict[bytes, int] = {}
        starts, ends = (
            self.query_offsets[indices].tolist(),
            self.query_offsets[indices + 1].tolist(),
        )
        spans = zip(starts, ends, strict=True)
        index = [rows.setdefault(self.query_ids[a:b].tobytes(), len(rows)) for a, b in spans]
        first = np.unique(np.asarray(index), return_index=True)[1]
        q_ids, q_mask = _pad_flat(self.query_ids, self.query_offsets, indices[first], self.pad_id)
        p_ids, p_mask = _pad_flat(self.passage_ids, self.passage_offsets, indices, self.pad_id)
        return {
            "query_ids": q_ids,
            "query_mask": q_mask,
            "query_index": torch.tensor(index, dtype=torch.int64),
            "passage_ids": p_ids,
            "passage_mask": p_mask,
            "labels": torch.from_numpy(self.labels[indices].astype(np.float32)),
            "groups": torch.from_numpy(self.groups[indices]),
        }


def tokenize_segment_file(
    path: str | Path,
    tokenizer: PreTrainedTokenizerBase,
    spec: HeadSpec,
    max_length: int,
) -> TokenizedSegments:
    """Read, check and tokenise a training JSONL file as separate query and passage segments.

    Queries get ``spec.query_prefix`` and keep ``spec.query_max_length`` tokens; passages get
    ``spec.passage_prefix`` and keep ``max_length`` tokens (special tokens included).

    Raises:
        InputError: for a bad line (see :func:`iter_training_pairs`) or a file without pairs.
    """
    path = Path(path)
    records = list(_pair_rows(path))
    _require_pairs(path, [record[3] for record in records])
    qids, queries, passages, labels = zip(*records, strict=True)

    def encode(texts, prefix, limit):
        return tokenizer(
            [prefix + t for t in texts],
            truncation=True,
            max_length=limit,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]

    distinct = list(dict.fromkeys(queries))
    ids = encode(distinct, spec.query_prefix, spec.query_max_length)
    encoded = dict(zip(distinct, ids, strict=True))
    q_ids, q_offsets = _flat_ids([encoded[q] for q in queries])
    p_ids, p_offsets = _flat_ids(encode(passages, spec.passage_prefix, max_length))
    return TokenizedSegments(
        query_ids=q_ids,
        query_offsets=q_offsets,
        passage_ids=p_ids,
        passage_offsets=p_offsets,
        labels=np.asarray(labels, dtype=np.float32),
        pad_id=int(tokenizer.pad_token_id),
        groups=group_ids(list(qids)),
    )
