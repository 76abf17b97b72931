"""Bitext mining: scores of sentence embeddings and the measures of mining benchmarks.

Embeddings in, results out. Each source sentence keeps its best target under one scoring:

- ``cosine``: plain cosine similarity;
- ``margin``: the ratio margin of Artetxe & Schwenk (2019, "Margin-based parallel corpus mining
  with multilingual sentence embeddings")::

      margin(x, y) = cos(x, y) / (r_T(x) / 2 + r_S(y) / 2)

  where ``r_T(x)`` is the mean cosine of ``x`` to its ``k`` nearest targets and ``r_S(y)`` the
  mean cosine of ``y`` to its ``k`` nearest sources. These are CSLS's hubness terms
  (:func:`csir.lexicon.induce.hubness`); CSLS subtracts them, the margin divides by them. The
  best target is the argmax over *all* targets (the exact score; LASER's miner only rescores
  each side's ``k`` cosine neighbours).

Both run in row chunks through :func:`csir.lexicon.induce.top_k_chunked`, so memory stays at
``chunk × |T|`` scores. Two measures (both reported per scoring):

- **accuracy** (Tatoeba): the share of sources with a gold translation whose best target is it;
- **mining F1** (BUCC): the candidates are each source's best target with its score; those at or
  above a threshold are the mined pairs, judged against the gold pairs. The threshold that
  maximises F1 on a held-out split is applied to the test split (:func:`evaluate`).

Example:
    >>> result = evaluate(dev_s, dev_t, dev_gold, s, t, gold, "margin", k=4)  # doctest: +SKIP
    >>> result.f1, result.accuracy  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Iterable

import numpy as np
import torch

from csir.devices import resolve_device
from csir.lexicon import induce

SCORINGS = ("margin", "cosine")
#: Neighbourhood of the margin's averages (Artetxe & Schwenk use k = 4).
DEFAULT_K = 4

Pairs = Collection[tuple[int, int]]


def margin_adjustment(r_src: torch.Tensor, r_tgt: torch.Tensor) -> induce.Adjust:
    """The :data:`csir.lexicon.induce.Adjust` of the ratio margin: ``cos / ((r_T + r_S) / 2)``."""

    def adjust(sims: torch.Tensor, start: int) -> torch.Tensor:
        rows = r_src[start : start + sims.shape[0], None]
        return sims.div_((rows + r_tgt[None, :]).mul_(0.5))

    return adjust


def mine(
    src: np.ndarray | torch.Tensor,
    tgt: np.ndarray | torch.Tensor,
    scoring: str = "margin",
    *,
    k: int = DEFAULT_K,
    top: int = 1,
    chunk_size: int | None = None,
    chunk_bytes: int = induce.DEFAULT_CHUNK_BYTES,
    device: str = "cpu",
) -> induce.Neighbours:
    """The ``top`` best targets of every source row under ``scoring`` (``margin`` or ``cosine``).

    Args:
        src: ``(n_source, dim)`` embeddings (normalised here).
        tgt: ``(n_target, dim)`` embeddings in the same space.
        scoring: ``"margin"`` (ratio margin over ``k`` neighbours) or ``"cosine"``.
        k: neighbourhood of the margin (capped at the other side's size).
        top: candidates kept per source, best first.
        chunk_size: source rows per matrix product; ``None`` derives it from ``chunk_bytes``.
        chunk_bytes: memory of one chunk of scores when ``chunk_size`` is ``None``.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Returns:
        :class:`csir.lexicon.induce.Neighbours`: ``indices`` and ``scores`` ``(n_source, top)``.
    """
    if scoring not in SCORINGS:
        raise ValueError(f"scoring {scoring!r} must be one of {SCORINGS}")
    if k < 1 or top < 1:
        raise ValueError(f"k and top must be >= 1, got k={k}, top={top}")
    dev = torch.device(resolve_device(str(device)))
    s, t = induce.normalize(src, dev), induce.normalize(tgt, dev)
    rows = induce.chunk_rows(s.shape[0], t.shape[0], chunk_size, chunk_bytes)
    with torch.inference_mode():
        if scoring == "cosine":
            return induce.top_k_chunked(s, t, top, rows, desc="cosine")
        r_src, r_tgt = induce.hubness(s, t, k, chunk_size=rows)
        return induce.top_k_chunked(s, t, top, rows, margin_adjustment(r_src, r_tgt), desc="margin")


# --------------------------------------------------------------------------- measures


def correct(best: np.ndarray, gold: Pairs) -> np.ndarray:
    """Per source row: is ``(row, best[row])`` a gold pair?"""
    gold = set(gold)
    return np.array([(i, int(j)) in gold for i, j in enumerate(best)], dtype=bool)


def accuracy(best: np.ndarray, gold: Pairs) -> float:
    """Tatoeba accuracy: the share of sources with a gold pair whose best target is gold (NaN
    when no source has one)."""
    judged = {s for s, _ in gold}
    if not judged:
        return math.nan
    hits = correct(best, gold)
    return float(sum(hits[s] for s in judged) / len(judged))


@dataclasses.dataclass(frozen=True)
class PRF:
    """Mining precision, recall and F1 of the candidates scored at or above ``threshold``."""

    precision: float
    recall: float
    f1: float
    threshold: float
    n_mined: int
    n_correct: int
    n_gold: int


def _prf(n_mined: int, n_correct: int, n_gold: int, threshold: float) -> PRF:
    precision = n_correct / n_mined if n_mined else 0.0
    recall = n_correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PRF(precision, recall, f1, threshold, n_mined, n_correct, n_gold)


def prf_at(scores: np.ndarray, hits: np.ndarray, n_gold: int, threshold: float) -> PRF:
    """Precision, recall and F1 of the candidates whose score is ``>= threshold``.

    Args:
        scores: each candidate's score.
        hits: whether each candidate is a gold pair.
        n_gold: the number of gold pairs (the recall's denominator; gold pairs no candidate
            names count as missed).
        threshold: the mining threshold.
    """
    mined = np.asarray(scores) >= threshold
    return _prf(int(mined.sum()), int(np.asarray(hits)[mined].sum()), n_gold, threshold)


def best_threshold(scores: np.ndarray, hits: np.ndarray, n_gold: int) -> PRF:
    """The threshold of the highest F1 over every cut of the candidates, and that F1.

    A cut falls only between different scores (a threshold keeps every candidate of its score).
    Among equal F1s the highest threshold wins. Without a correct candidate nothing is worth
    mining: the threshold is ``inf`` and F1 0.
    """
    scores, hits = np.asarray(scores, dtype=np.float64), np.asarray(hits, dtype=bool)
    if not hits.any():
        return _prf(0, 0, n_gold, math.inf)
    order = np.argsort(-scores, kind="stable")
    ranked, tp = scores[order], np.cumsum(hits[order])
    mined = np.arange(1, len(ranked) + 1)
    # the last position of every run of equal scores: a threshold there keeps the whole run
    ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    f1 = 2 * tp[ends] / (mined[ends] + n_gold)
    best = ends[int(np.argmax(f1))]
    return _prf(int(mined[best]), int(tp[best]), n_gold, float(ranked[best]))


@dataclasses.dataclass(frozen=True)
class SourceOutcomes:
    """What each source of a test split contributed to its measures, in source-row order.

    Accuracy and mining F1 are ratios of sums over sources (:func:`source_measure`), so a paired
    bootstrap resamples these rows (:mod:`csir.mining_stats`).

    Attributes:
        n_gold: the source's gold pairs (0: no translation of it among the targets).
        correct: its best target is one of its gold pairs.
        mined: its best target scored at or above the threshold (it is a mined pair).
    """

    n_gold: np.ndarray
    correct: np.ndarray
    mined: np.ndarray


def source_outcomes(
    best: np.ndarray, scores: np.ndarray, gold: Pairs, threshold: float
) -> SourceOutcomes:
    """Each source's :class:`SourceOutcomes` from its best target, that target's score and the
    mining threshold."""
    n_gold = np.zeros(len(best), dtype=np.int64)
    for source, _ in gold:
        n_gold[source] += 1
    return SourceOutcomes(n_gold, correct(best, gold), np.asarray(scores) >= threshold)


def source_terms(
    name: str, n_gold: np.ndarray, correct: np.ndarray, mined: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each source's numerator and denominator of ``accuracy`` or ``f1`` (float64): the measure
    of any multiset of sources is the ratio of their sums (:func:`ratio_of_sums`).

    Accuracy counts sources with a gold pair (hit if the best target is gold); F1 is
    ``2 · TP / (mined + gold pairs)``, the harmonic mean of precision and recall.
    """
    n_gold = np.asarray(n_gold)
    correct, mined = np.asarray(correct, dtype=bool), np.asarray(mined, dtype=bool)
    if name == "accuracy":
        judged = n_gold > 0
        return (correct & judged).astype(np.float64), np.broadcast_to(judged, correct.shape).astype(
            np.float64
        )
    if name == "f1":
        return 2 * (correct & mined).astype(np.float64), (mined + n_gold).astype(np.float64)
    raise ValueError(f"measure {name!r} must be 'accuracy' or 'f1'")


def ratio_of_sums(numerator: np.ndarray, denominator: np.ndarray, name: str) -> np.ndarray:
    """``Σ numerator / Σ denominator`` over the last axis; an empty denominator gives NaN for
    accuracy (nothing to judge) and 0 for F1 (nothing mined, nothing gold)."""
    top, bottom = numerator.sum(axis=-1), denominator.sum(axis=-1)
    empty = math.nan if name == "accuracy" else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), empty)


def source_measure(
    name: str, n_gold: np.ndarray, correct: np.ndarray, mined: np.ndarray
) -> np.ndarray:
    """``accuracy`` or ``f1`` from per-source outcomes over the last axis; equal to
    :func:`accuracy` and :func:`prf_at`'s F1."""
    return ratio_of_sums(*source_terms(name, n_gold, correct, mined), name)


@dataclasses.dataclass(frozen=True)
class MiningResult:
    """One scoring on one test split, its threshold chosen on the dev split.

    ``accuracy`` is Tatoeba's on the test split; ``precision``/``recall``/``f1`` are the test
    split's at ``threshold``; ``dev_f1`` is the F1 the threshold reached on the dev split;
    ``outcomes`` holds what each test source contributed (for paired tests between encoders).
    """

    scoring: str
    k: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    threshold: float
    dev_f1: float
    n_sources: int
    n_targets: int
    n_gold: int
    n_mined: int
    outcomes: SourceOutcomes | None = dataclasses.field(default=None, repr=False, compare=False)

    def row(self) -> dict[str, float | int | str]:
        """A flat dict for a results table (without the per-source outcomes)."""
        fields = dataclasses.fields(self)
        return {f.name: getattr(self, f.name) for f in fields if f.name != "outcomes"}


def evaluate(
    dev_src: np.ndarray | torch.Tensor,
    dev_tgt: np.ndarray | torch.Tensor,
    dev_gold: Pairs,
    src: np.ndarray | torch.Tensor,
    tgt: np.ndarray | torch.Tensor,
    gold: Pairs,
    scoring: str = "margin",
    *,
    k: int = DEFAULT_K,
    chunk_size: int | None = None,
    device: str = "cpu",
) -> MiningResult:
    """Mine the dev split to choose the threshold, then mine and score the test split.

    Gold pairs are ``(source row, target row)`` of their split.
    """
    dev_best = mine(dev_src, dev_tgt, scoring, k=k, chunk_size=chunk_size, device=device)
    chosen = best_threshold(dev_best.scores[:, 0], correct(dev_best.best, dev_gold), len(dev_gold))
    test_best = mine(src, tgt, scoring, k=k, chunk_size=chunk_size, device=device)
    at = prf_at(test_best.scores[:, 0], correct(test_best.best, gold), len(gold), chosen.threshold)
    outcomes = source_outcomes(test_best.best, test_best.scores[:, 0], gold, chosen.threshold)
    return MiningResult(
        scoring=scoring,
        k=k,
        accuracy=accuracy(test_best.best, gold),
        precision=at.precision,
        recall=at.recall,
        f1=at.f1,
        threshold=chosen.threshold,
        dev_f1=chosen.f1,
        n_sources=len(test_best.best),
        n_targets=len(tgt),
        n_gold=len(gold),
        n_mined=at.n_mined,
        outcomes=outcomes,
    )


def gold_rows(
    pairs: Iterable[tuple[str, str]], src_ids: Iterable[str], tgt_ids: Iterable[str]
) -> set[tuple[int, int]]:
    """Gold pairs of ids as ``(source row, target row)`` pairs of the given id orders."""
    src_row = {item: i for i, item in enumerate(src_ids)}
    tgt_row = {item: j for j, item in enumerate(tgt_ids)}
    return {(src_row[s], tgt_row[t]) for s, t in pairs}
