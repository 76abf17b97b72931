"""Lexicon induction from cross-lingual word embeddings: nearest neighbour and CSLS.

Both retrievals work on L2-normalised vectors in row chunks: each step multiplies a block of
source rows with the whole target matrix and keeps only the top-k, so memory stays at
``chunk × |T|`` scores instead of ``|S| × |T|`` (200k × 200k float32 would be 160 GB).

CSLS (Conneau et al., 2018, "Word translation without parallel data")::

    CSLS(x, y) = 2 cos(x, y) − r_T(x) − r_S(y)

where ``r_T(x)`` is the mean cosine of ``x`` to its ``knn`` nearest target words and ``r_S(y)`` the
mean cosine of ``y`` to its ``knn`` nearest source words. It penalises "hubs", target words that
are near everything, which plain nearest neighbour retrieves for many unrelated sources.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from csir.devices import resolve_device

METHODS = ("nn", "csls")
#: Default memory for one chunk of scores (bytes); rows per chunk = budget / (4 · |T|).
DEFAULT_CHUNK_BYTES = 256 * 2**20
#: ``adjust(sims, start)``: turns one chunk of cosines (source rows ``start …``) into the scores
#: to rank by, in place or not; :func:`csls_adjustment` and ``csir.mining``'s ratio margin.
Adjust = Callable[[torch.Tensor, int], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class Neighbours:
    """Top-k retrieval result: row ``i`` holds the best target indices/scores for source ``i``.

    Attributes:
        indices: int64 array ``(n_source, k)``, best first.
        scores: float32 array ``(n_source, k)`` (cosine for NN, CSLS score for CSLS).
    """

    indices: np.ndarray
    scores: np.ndarray

    @property
    def best(self) -> np.ndarray:
        """Index of the best target per source word."""
        return self.indices[:, 0]


def normalize(
    vectors: np.ndarray | torch.Tensor, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Return float32 rows scaled to unit L2 norm (zero rows stay zero) on ``device``."""
    tensor = torch.as_tensor(vectors, dtype=torch.float32).to(device)
    return torch.nn.functional.normalize(tensor, p=2.0, dim=1)


def center(vectors: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Normalise rows, subtract their mean, normalise again (MUSE's ``renorm,center,renorm``).

    Each language's vectors are centred on their own mean: for encoder-derived word vectors this
    removes much of the language-identity direction they share, so cross-lingual neighbours are
    less dominated by it (Libovický et al., 2020, "On the language neutrality of pre-trained
    multilingual representations").
    """
    unit = normalize(vectors)
    return torch.nn.functional.normalize(unit - unit.mean(dim=0, keepdim=True), p=2.0, dim=1)


def chunk_rows(n_rows: int, n_keys: int, chunk_size: int | None, chunk_bytes: int) -> int:
    """Source rows per chunk: ``chunk_size``, else as many as ``chunk_bytes`` of scores hold."""
    if chunk_size:
        return max(1, min(chunk_size, n_rows))
    return max(1, min(n_rows, chunk_bytes // (4 * max(n_keys, 1))))


def _chunks(n_rows: int, rows: int, progress: bool, desc: str):
    starts = range(0, n_rows, rows)
    return tqdm(starts, desc=desc, unit="chunk") if progress and len(starts) > 1 else starts


def hubness(
    src: torch.Tensor,
    tgt: torch.Tensor,
    knn: int,
    *,
    chunk_size: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CSLS's hubness terms of normalised ``src`` and ``tgt`` rows, in one chunked pass.

    Returns:
        ``r_T`` per source row (mean cosine to its ``knn`` nearest targets) and ``r_S`` per
        target row (mean cosine to its ``knn`` nearest sources); ``knn`` is capped at the other
        side's size.
    """
    knn_t, knn_s = min(knn, tgt.shape[0]), min(knn, src.shape[0])
    r_src = torch.empty(src.shape[0], dtype=torch.float32, device=src.device)
    # running top-knn of every target column over the source chunks seen so far
    best_src = torch.full((0, tgt.shape[0]), -2.0, dtype=torch.float32, device=src.device)
    rows = chunk_rows(src.shape[0], tgt.shape[0], chunk_size, chunk_bytes)
    for start in _chunks(src.shape[0], rows, progress, "csls r"):
        sims = src[start : start + rows] @ tgt.T
        r_src[start : start + rows] = sims.topk(knn_t, dim=1).values.mean(dim=1)
        chunk_best = sims.topk(min(knn_s, sims.shape[0]), dim=0).values
        merged = torch.cat([best_src, chunk_best])
        best_src = merged.topk(min(knn_s, merged.shape[0]), dim=0).values
    return r_src, best_src.mean(dim=0)


def csls_adjustment(r_src: torch.Tensor, r_tgt: torch.Tensor) -> Adjust:
    """The :data:`Adjust` of CSLS: ``2 cos − r_T(x) − r_S(y)``."""

    def adjust(sims: torch.Tensor, start: int) -> torch.Tensor:
        # in place: the chunk is the largest buffer, a second one would double peak memory
        rows = r_src[start : start + sims.shape[0], None]
        return sims.mul_(2.0).sub_(rows).sub_(r_tgt[None, :])

    return adjust


def top_k_chunked(
    src: torch.Tensor,
    tgt: torch.Tensor,
    k: int,
    rows: int,
    adjust: Adjust | None = None,
    *,
    progress: bool = False,
    desc: str = "top-k",
) -> Neighbours:
    """Top-``k`` targets per source row of ``adjust(src @ tgt.T)``, ``rows`` source rows at a
    time (normalised inputs; ``None``: plain cosine)."""
    k = min(k, tgt.shape[0])
    indices = torch.empty((src.shape[0], k), dtype=torch.int64)
    scores = torch.empty((src.shape[0], k), dtype=torch.float32)
    for start in _chunks(src.shape[0], rows, progress, desc):
        sims = src[start : start + rows] @ tgt.T
        if adjust is not None:
            sims = adjust(sims, start)
        top = sims.topk(k, dim=1)
        indices[start : start + rows] = top.indices.cpu()
        scores[start : start + rows] = top.values.cpu()
    return Neighbours(indices.numpy(), scores.numpy())


def nearest_neighbours(
    src: np.ndarray | torch.Tensor,
    tgt: np.ndarray | torch.Tensor,
    *,
    k: int = 1,
    chunk_size: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    device: str = "cpu",
    progress: bool = False,
) -> Neighbours:
    """Top-``k`` target rows by cosine for every source row, without the full score matrix.

    Args:
        src: ``(n_source, dim)`` vectors (normalised here).
        tgt: ``(n_target, dim)`` vectors in the same space.
        k: neighbours to return per source row.
        chunk_size: source rows per matmul; ``None`` derives it from ``chunk_bytes``.
        chunk_bytes: memory budget of one chunk of scores when ``chunk_size`` is ``None``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"``.
        progress: show a tqdm bar over chunks.

    Example:
        >>> nn = nearest_neighbours(en_vectors, de_vectors)  # doctest: +SKIP
        >>> de_words[nn.best[0]]  # doctest: +SKIP
    """
    dev = torch.device(resolve_device(str(device)))
    s, t = normalize(src, dev), normalize(tgt, dev)
    rows = chunk_rows(s.shape[0], t.shape[0], chunk_size, chunk_bytes)
    with torch.inference_mode():
        return top_k_chunked(s, t, k, rows, progress=progress, desc="nn")


def csls(
    src: np.ndarray | torch.Tensor,
    tgt: np.ndarray | torch.Tensor,
    *,
    k: int = 1,
    knn: int = 10,
    chunk_size: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    device: str = "cpu",
    progress: bool = False,
) -> Neighbours:
    """Top-``k`` target rows by CSLS for every source row (arguments as :func:`nearest_neighbours`).

    Args:
        knn: neighbourhood size of the hubness terms ``r_T`` and ``r_S`` (10 in MUSE).
    """
    dev = torch.device(resolve_device(str(device)))
    s, t = normalize(src, dev), normalize(tgt, dev)
    with torch.inference_mode():
        # two passes over the score chunks: hubness terms first, then the corrected top-k
        r_src, r_tgt = hubness(
            s, t, knn, chunk_size=chunk_size, chunk_bytes=chunk_bytes, progress=progress
        )
        rows = chunk_rows(s.shape[0], t.shape[0], chunk_size, chunk_bytes)
        return top_k_chunked(
            s, t, k, rows, csls_adjustment(r_src, r_tgt), progress=progress, desc="csls"
        )


def induce(
    src: np.ndarray | torch.Tensor,
    tgt: np.ndarray | torch.Tensor,
    method: str = "csls",
    *,
    k: int = 1,
    knn: int = 10,
    chunk_size: int | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> Neighbours:
    """Dispatch to :func:`nearest_neighbours` (``"nn"``) or :func:`csls` (``"csls"``)."""
    if method == "nn":
        return nearest_neighbours(
            src, tgt, k=k, chunk_size=chunk_size, device=device, progress=progress
        )
    if method == "csls":
        return csls(src, tgt, k=k, knn=knn, chunk_size=chunk_size, device=device, progress=progress)
    raise ValueError(f"method {method!r} must be one of {METHODS}")
