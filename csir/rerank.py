"""Fast batched cross-encoder scoring and re-ranking of candidate runs.

:class:`Reranker` tokenises all pairs once (fast tokenizer, one batched call), sorts them by token
length so each batch pads only to its own longest pair, and runs the forward passes under
``torch.inference_mode`` (autocast bf16/fp16 on GPU). Scores are the raw logits (float32, no
sigmoid: a monotone map would not change any ranking), returned in input order.

Defaults are lossless on CPU (fp32, all layers). The lossy speed-ups are options to ask for,
never defaults: ``int8`` (dynamic int8 quantisation of the Linear layers, CPU), ``num_layers``
(keep the bottom layers only; meaningful only for a model trained that way), ``precision="bf16"``
on CPU, and a shorter ``max_length``. ``benchmarks/rerank_throughput.py`` measures their speed
and how much they change the scores.

Example:
    >>> reranker = Reranker("build/models/e5/bl-cs/en-de/seed=1")  # doctest: +SKIP
    >>> reranked = rerank(reranker, queries, docs, candidates, top_k=100)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from csir import backbones, runs
from csir.devices import SCORING_PRECISIONS, check_device_name, resolve_device
from csir.errors import ConfigError, CsirError

if TYPE_CHECKING:
    import torch

Run = dict[str, dict[str, float]]


@dataclass(frozen=True)
class ScoringOptions:
    """How a :class:`Reranker` runs.

    Attributes:
        batch_size: pairs per forward pass.
        max_length: tokens of a (query, passage) pair (classifier head) or of a passage
            (segment-cosine head), special tokens included; longer inputs are truncated
            (``longest_first`` for pairs). 0: the model's own, the length it was trained with
            (its tokenizer's ``model_max_length``, capped by its position embeddings).
        precision: ``"auto"`` (bf16 on a CUDA device that supports it, else fp32), ``"fp32"``,
            ``"bf16"`` (autocast; on CPU too, lossy) or ``"fp16"`` (autocast, CUDA only).
        int8: dynamic int8 quantisation of the Linear layers (CPU only, lossy).
        num_layers: keep only the bottom ``n`` transformer layers (0 = all; lossy unless the
            model was trained with ``n`` layers).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:<n>"``.
        threads: torch intra-op threads on CPU, set process-wide (0 = leave as is).
        cache_texts: segment-cosine head with k = 0, loaded from a folder: texts whose pooled
            vectors are kept across calls (``csir.ranker.SegmentScorer``'s ``cache_size``; 384
            floats each for e5-small), so the questions and passages that several language
            pairs share are encoded once per model. 0: none. Not used by
            :meth:`Reranker.from_model` unless ``frozen`` (its weights may still change).
    """

    batch_size: int = 32
    max_length: int = 0
    precision: str = "auto"
    int8: bool = False
    num_layers: int = 0
    device: str = "auto"
    threads: int = 0
    cache_texts: int = 200_000

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_length != 0 and self.max_length < 4:
            raise ConfigError(
                f"max_length must be 0 (the model's own) or >= 4 (room for special tokens), "
                f"got {self.max_length}"
            )
        if self.precision not in SCORING_PRECISIONS:
            raise ConfigError(
                f"precision must be one of {SCORING_PRECISIONS}, got {self.precision!r}"
            )
        if self.num_layers < 0:
            raise ConfigError(f"num_layers must be >= 0 (0 = all), got {self.num_layers}")
        if self.threads < 0:
            raise ConfigError(f"threads must be >= 0 (0 = leave as is), got {self.threads}")
        if self.cache_texts < 0:
            raise ConfigError(f"cache_texts must be >= 0 (0 = none), got {self.cache_texts}")
        check_device_name(self.device)


def resolve_precision(precision: str, device: str) -> str:
    """The concrete precision (``fp32``/``bf16``/``fp16``) for ``precision`` on ``device``.

    Raises:
        ConfigError: for fp16 on CPU, or bf16 on a GPU without bf16 support.
    """
    import torch

    on_cuda = device.startswith("cuda")
    if precision == "auto":
        return "bf16" if on_cuda and torch.cuda.is_bf16_supported() else "fp32"
    if precision == "fp16" and not on_cuda:
        raise ConfigError("precision 'fp16' needs a CUDA device; on CPU use 'fp32' or 'bf16'")
    if precision == "bf16" and on_cuda and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"{device} does not support bf16; use precision 'fp16' or 'fp32'")
    return precision


def _quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantisation of the encoder's ``nn.Linear`` layers (activations per batch).

    The pooler and the one-logit head stay fp32: they are a tiny share of the compute, and
    rounding the single output row would add error for no speed.
    """
    import warnings

    import torch

    # torch.ao.quantization is deprecated in favour of torchao, which is not a dependency; the
    # eager API still works in this torch and is the only int8 CPU path available here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
        from torch.ao.quantization import quantize_dynamic

        base = getattr(model, getattr(model, "base_model_prefix", ""), None)
        if base is not None and isinstance(getattr(base, "encoder", None), torch.nn.Module):
            base.encoder = quantize_dynamic(base.encoder, {torch.nn.Linear}, dtype=torch.qint8)
            return model
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def model_max_length(tokenizer, model) -> int:
    """The length a model was trained with: its tokenizer's ``model_max_length`` (notebook 03
    saves the training length there), capped by the model's position embeddings."""
    config = getattr(getattr(model, "module", model), "config", None)
    limit = int(getattr(config, "max_position_embeddings", 512) or 512)
    saved = getattr(tokenizer, "model_max_length", None)
    if not isinstance(saved, int) or saved <= 0 or saved > 1_000_000:
        return limit
    return min(saved, limit)


class Reranker:
    """A cross-encoder of either head (:mod:`csir.heads`) ready to score (query, passage) pairs.

    Args:
        model: a folder written by notebook 03 (classifier or segment-cosine head), any one-logit
            ``save_pretrained`` folder, or a backbone name/folder (a classifier head is then
            freshly initialised: useful for benchmarks only).
        options: see :class:`ScoringOptions`.

    A segment-cosine model is scored through :class:`csir.ranker.SegmentScorer`: each distinct
    query and passage passes the lower layers once, each pair only the top ``k`` layers.

    Raises:
        CsirError: for a folder without weights (from :func:`csir.backbones.load_cross_encoder`).
        ConfigError: for options the device cannot honour (int8 on GPU, fp16 on CPU, ...).
    """

    def __init__(self, model: str | Path, options: ScoringOptions | None = None):
        from csir import ranker

        options = options or ScoringOptions()
        self.name = str(model)
        net = ranker.load_ranker(self.name, num_layers=options.num_layers)
        self._setup(net, backbones.load_tokenizer(self.name), options, options.cache_texts)

    @classmethod
    def from_model(
        cls,
        model: torch.nn.Module,
        tokenizer,
        options: ScoringOptions | None = None,
        *,
        frozen: bool = False,
    ) -> Reranker:
        """Wrap a model already in memory (e.g. during training, for dev evaluation).

        The model is used as it is (not copied); its train/eval mode is restored after scoring.
        ``frozen``: its weights will not change while this reranker is used, so encodings may
        be kept across calls (``options.cache_texts``).
        """
        options = options or ScoringOptions()
        self = cls.__new__(cls)
        self.name = type(model).__name__
        self._setup(model, tokenizer, options, options.cache_texts if frozen else 0)
        return self

    def _setup(
        self, net: torch.nn.Module, tokenizer, options: ScoringOptions, cache_size: int
    ) -> None:
        import torch

        from csir import ranker

        self.options = options
        self.device = resolve_device(options.device)
        self.precision = resolve_precision(options.precision, self.device)
        if options.int8 and self.device != "cpu":
            raise ConfigError("int8 dynamic quantisation runs on CPU only; set device='cpu'")
        if options.int8 and self.precision != "fp32":
            raise ConfigError("int8 works with fp32 activations; set precision='fp32' (or 'auto')")
        if options.threads and self.device == "cpu":
            torch.set_num_threads(options.threads)
        self.tokenizer = tokenizer
        self.max_length = options.max_length or model_max_length(tokenizer, net)
        if options.int8:
            net = _quantize_int8(net.eval())
        self.model = net.to(self.device)
        pad = self.tokenizer.pad_token_id
        self._pad_id = 0 if pad is None else int(pad)
        self._segments = (
            ranker.SegmentScorer(
                self.model,
                tokenizer,
                self.max_length,
                batch_size=options.batch_size,
                device=self.device,
                autocast=self._autocast,
                cache_size=cache_size,
            )
            if ranker.is_segment_model(self.model)
            else None
        )

    def _autocast(self) -> contextlib.AbstractContextManager:
        import torch

        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.split(":")[0], dtype=dtype)

    def tokenize(self, pairs: Sequence[tuple[str, str]]) -> dict[str, list[list[int]]]:
        """Token ids (and the other model inputs) of every pair, unpadded, in input order."""
        self._check_pairs(pairs)
        encoded = self.tokenizer(
            [q for q, _ in pairs],
            [p for _, p in pairs],
            truncation="longest_first",
            max_length=self.max_length,
            padding=False,
        )
        return {k: encoded[k] for k in ("input_ids", "token_type_ids") if k in encoded}

    def _batches(
        self, features: Mapping[str, list[list[int]]]
    ) -> Iterator[tuple[np.ndarray, dict]]:
        from csir import ranker

        ids = features["input_ids"]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(-lengths, kind="stable")
        size = self.options.batch_size
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            chosen = {key: [values[i] for i in rows] for key, values in features.items()}
            yield rows, ranker.pad_features(chosen, self._pad_id)

    def score(self, pairs: Sequence[tuple[str, str]], *, progress: bool = False) -> np.ndarray:
        """Score (query, passage) pairs.

        Args:
            pairs: ``(query text, passage text)`` tuples.
            progress: show a tqdm bar over batches.

        Returns:
            float32 logits, one per pair, in the order of ``pairs``.
        """

        pairs = list(pairs)
        out = np.empty(len(pairs), dtype=np.float32)
        if not pairs:
            return out
        was_training = self.model.training
        self.model.eval()
        try:
            if self._segments is not None:
                self._check_pairs(pairs)
                return self._segments.score([q for q, _ in pairs], [p for _, p in pairs])
            return self._score_joint(pairs, out, progress)
        finally:
            self.model.train(was_training)

    def _check_pairs(self, pairs: Sequence[tuple[str, str]]) -> None:
        for i, pair in enumerate(pairs[:1]):
            if len(pair) != 2 or not all(isinstance(t, str) for t in pair):
                raise CsirError(f"pair {i} is {pair!r}; expected a (query, passage) tuple of str")

    def _score_joint(self, pairs: list, out: np.ndarray, progress: bool) -> np.ndarray:
        import torch

        features = self.tokenize(pairs)
        batches = self._batches(features)
        if progress:
            from tqdm.auto import tqdm

            total = -(-len(pairs) // self.options.batch_size)
            batches = tqdm(batches, total=total, desc="scoring", unit="batch")
        with torch.inference_mode(), self._autocast():
            for rows, batch in batches:
                batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
                logits = self.model(**batch).logits
                out[rows] = logits[:, 0].float().cpu().numpy()
        return out


def bi_encoder(backbone: str, options: ScoringOptions | None = None) -> Reranker:
    """The untrained ``backbone`` as a bi-encoder scorer: the segment-cosine head with no joint
    layer, i.e. the cosine of the mean-pooled ``"query: "`` and ``"passage: "`` embeddings
    (scaled: the ranking is the bi-encoder's)."""
    from csir import ranker
    from csir.heads import HeadSpec

    model = ranker.SegmentCosineRanker(backbones.load_encoder(backbone), HeadSpec(joint_layers=0))
    tokenizer = backbones.load_tokenizer(backbone)
    reranker = Reranker.from_model(model.eval(), tokenizer, options, frozen=True)
    reranker.name = f"bi-encoder:{backbone}"
    return reranker


def rerank(
    reranker: Reranker,
    queries: Mapping[str, str],
    docs: Mapping[str, str],
    candidates: Mapping[str, Mapping[str, float]],
    *,
    top_k: int = 0,
    progress: bool = False,
) -> Run:
    """Re-score the candidates of each query with a cross-encoder.

    All pairs of all queries are scored in one :meth:`Reranker.score` call, so length sorting
    works across queries.

    Args:
        reranker: the scorer.
        queries: ``{qid: query text}``.
        docs: ``{docid: passage text}``.
        candidates: first-stage run ``{qid: {docid: score}}``.
        top_k: re-score only the ``top_k`` best candidates of each query (by first-stage score,
            ties by docid); 0 = all. The others are left out of the result.
        progress: show a progress bar.

    Returns:
        ``{qid: {docid: cross-encoder logit}}`` for the re-scored candidates; a query without
        candidates is absent (the metrics then report it as missing).

    Raises:
        CsirError: when candidate queries or documents have no text (counts and examples).
    """
    if top_k < 0:
        raise ConfigError(f"top_k must be >= 0 (0 = all), got {top_k}")
    missing_q = sorted(q for q in candidates if q not in queries)
    if missing_q:
        raise CsirError(
            f"{len(missing_q)} candidate queries have no text, e.g. {missing_q[:3]}; pass the "
            "queries of the same query set as the candidate run"
        )
    chosen: list[tuple[str, str]] = []
    for qid, cands in candidates.items():
        ranked = runs.ranked(cands)
        chosen.extend((qid, d) for d, _ in (ranked[:top_k] if top_k else ranked))
    missing_d = sorted({d for _, d in chosen if d not in docs})
    if missing_d:
        raise CsirError(
            f"{len(missing_d)} candidate documents have no text, e.g. {missing_d[:3]}; pass the "
            "corpus the candidate run was retrieved from"
        )
    scores = reranker.score([(queries[q], docs[d]) for q, d in chosen], progress=progress)
    run: Run = {}
    for (qid, docid), score in zip(chosen, scores, strict=True):
        run.setdefault(qid, {})[docid] = float(score)
    return run
