"""Cross-encoder models of both heads (:mod:`csir.heads`): build, save, load, and cached scoring.

:class:`SegmentCosineRanker` runs query and passage apart through the lower layers and jointly
through the top ``k``; :class:`SegmentScorer` scores many pairs by encoding every distinct query
and passage once (lower layers) and running only the top ``k`` layers per pair.

Example:
    >>> model = build_ranker("e5-small-offline", HeadSpec(joint_layers=1))  # doctest: +SKIP
    >>> save_ranker(model, "models/run")  # doctest: +SKIP
    >>> load_ranker("models/run")  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers.masking_utils import create_bidirectional_mask

from csir import backbones
from csir.errors import ConfigError, CsirError
from csir.heads import (
    CLASSIFIER,
    HEAD_FILE,
    INITIAL_BIAS,
    INITIAL_SCALE,
    SEGMENT_COSINE,
    HeadSpec,
    read_head_spec,
)
from csir.packed import packable, run_packed

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def _encoder_parts(encoder: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.ModuleList]:
    embeddings = getattr(encoder, "embeddings", None)
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if embeddings is None or layers is None:
        raise CsirError(
            "the segment-cosine head needs a BERT-style encoder (embeddings + encoder.layer); "
            f"{type(encoder).__name__} has none: use head 'classifier'"
        )
    return embeddings, layers


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors over the mask: ``[B, T, H], [B, T] -> [B, H]``."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


class SegmentCosineRanker(torch.nn.Module):
    """Query and passage apart in the lower layers, jointly in the top ``k``; cosine readout.

    ``forward(query_ids, query_mask, passage_ids, passage_mask) -> logits [B]`` (float32).

    Args:
        encoder: a BERT-style ``AutoModel`` (embeddings + ``encoder.layer``).
        spec: the head settings (``joint_layers`` = k).
    """

    def __init__(self, encoder: PreTrainedModel, spec: HeadSpec) -> None:
        super().__init__()
        _, layers = _encoder_parts(encoder)
        if spec.joint_layers > len(layers):
            raise ConfigError(
                f"joint_layers={spec.joint_layers} exceeds the encoder's {len(layers)} layers"
            )
        self.encoder = encoder
        self.spec = spec
        self.scale = torch.nn.Parameter(torch.tensor(INITIAL_SCALE))
        self.bias = torch.nn.Parameter(torch.tensor(INITIAL_BIAS))

    @property
    def config(self):
        """The encoder's config (``max_position_embeddings``, ``hidden_size``, ...)."""
        return self.encoder.config

    @property
    def split(self) -> int:
        """Index of the first joint layer."""
        return len(_encoder_parts(self.encoder)[1]) - self.spec.joint_layers

    def _packs(self, device: torch.device, layers) -> bool:
        # Training only, on CPU. GPUs keep the padded path: finding the real tokens would wait
        # for the device. Scoring batches are sorted by length (SegmentScorer), so they have
        # little padding to remove, and PyTorch's fused inference attention beats the written-out
        # one: packed fp32 scoring of WikiQA dev ran at 83-85 pairs/s against 84-97 padded.
        return torch.is_grad_enabled() and device.type == "cpu" and packable(layers)

    def _run_layers(self, hidden: torch.Tensor, mask: torch.Tensor, layers) -> torch.Tensor:
        if len(layers) == 0:
            return hidden
        if self._packs(hidden.device, layers) and not bool(mask.all()):
            return run_packed(layers, (hidden, mask))[0]
        attn = create_bidirectional_mask(
            config=self.encoder.config, inputs_embeds=hidden, attention_mask=mask
        )
        for layer in layers:
            hidden = layer(hidden, attn)
            if isinstance(hidden, tuple):  # transformers 4 returned tuples
                hidden = hidden[0]
        return hidden

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        embeddings, _ = _encoder_parts(self.encoder)
        return embeddings(input_ids=ids, token_type_ids=torch.zeros_like(ids))

    def encode_segment(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """States after the lower (segment-only) layers: ``[B, T, H]``; positions start at 0."""
        _, layers = _encoder_parts(self.encoder)
        return self._run_layers(self._embed(ids), mask, layers[: self.split])

    def encode_segments(self, *segments: tuple[torch.Tensor, torch.Tensor]) -> list[torch.Tensor]:
        """:meth:`encode_segment` of several ``(ids, mask)`` batches. Where layers run packed
        (CPU), in one pass: the real tokens of all batches share each matrix product, which is
        faster than a product per batch, and each batch attends at its own width."""
        _, layers = _encoder_parts(self.encoder)
        lower = layers[: self.split]
        if len(segments) < 2 or not lower or not self._packs(segments[0][0].device, lower):
            return [self.encode_segment(ids, mask) for ids, mask in segments]
        return run_packed(lower, *((self._embed(ids), mask) for ids, mask in segments))

    def joint(
        self,
        q_hidden: torch.Tensor,
        q_mask: torch.Tensor,
        p_hidden: torch.Tensor,
        p_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Top ``k`` layers over both segments, then the cosine readout: logits ``[B]``."""
        if self.spec.joint_layers:
            _, layers = _encoder_parts(self.encoder)
            width = q_hidden.shape[1]
            hidden = torch.cat([q_hidden, p_hidden.to(q_hidden.dtype)], dim=1)
            mask = torch.cat([q_mask, p_mask], dim=1)
            hidden = self._run_layers(hidden, mask, layers[self.split :])
            q_hidden, p_hidden = hidden[:, :width], hidden[:, width:]
        return self.readout(masked_mean(q_hidden, q_mask), masked_mean(p_hidden, p_mask))

    def readout(self, q_vec: torch.Tensor, p_vec: torch.Tensor) -> torch.Tensor:
        """``scale · cos + bias``, computed in float32."""
        cos = torch.nn.functional.cosine_similarity(q_vec.float(), p_vec.float(), dim=-1)
        return self.scale.float() * cos + self.bias.float()

    def forward(
        self,
        query_ids: torch.Tensor,
        query_mask: torch.Tensor,
        passage_ids: torch.Tensor,
        passage_mask: torch.Tensor,
        query_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits of the pairs; with ``query_index`` [B], pair ``i`` has query row
        ``query_index[i]`` (a query shared by several pairs passes the lower layers once)."""
        q, p = self.encode_segments((query_ids, query_mask), (passage_ids, passage_mask))
        if query_index is not None:
            q, query_mask = q[query_index], query_mask[query_index]
        return self.joint(q, query_mask, p, passage_mask)


def is_segment_model(model: Any) -> bool:
    """True for a :class:`SegmentCosineRanker` (also when wrapped by accelerate/DDP)."""
    return isinstance(getattr(model, "module", model), SegmentCosineRanker)


def pair_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """One float32 logit per pair of a collated batch, for either head."""
    if is_segment_model(model):
        keys = ("query_ids", "query_mask", "passage_ids", "passage_mask")
        return model(*(batch[k] for k in keys), query_index=batch.get("query_index")).float()
    return model(**batch).logits.squeeze(-1).float()


# --------------------------------------------------------------------------- build, save, load


def training_attention(device: torch.device) -> contextlib.AbstractContextManager:
    """The attention kernel to train with on ``device``: PyTorch's math kernel on CPU.

    Without dropout, PyTorch picks its fused flash-attention kernel on CPU, whose backward pass
    took 56 % of a bf16 training step of e5-small here (24 ms per layer call); the math kernel
    trains the same model 1.8x faster. GPUs keep PyTorch's own choice.
    """
    if device.type != "cpu":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


def build_ranker(backbone: str, spec: HeadSpec, num_layers: int = 0) -> torch.nn.Module:
    """A fresh cross-encoder of ``backbone`` with the head of ``spec`` (training starts here).

    ``num_layers`` keeps only the bottom layers of the backbone (0: all).
    """
    if spec.kind == CLASSIFIER:
        return backbones.load_cross_encoder(backbone, num_layers=num_layers)
    encoder = backbones.load_encoder(backbone)
    backbones.truncate_layers(encoder, num_layers)
    return SegmentCosineRanker(encoder, spec)


def set_dropout(model: torch.nn.Module, p: float) -> None:
    """Set every dropout probability of the model (hidden and attention) to ``p``, config too."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = p
    config = getattr(model, "config", None)
    for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
        if config is not None and hasattr(config, name):
            setattr(config, name, p)


def save_ranker(model: torch.nn.Module, folder: str | Path) -> None:
    """Write the model's weights and config into ``folder`` (safetensors; no tokenizer).

    A classifier saves with ``save_pretrained``; a segment-cosine ranker saves its encoder with
    ``save_pretrained`` and its head into ``csir_head.json``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "module", model)
    if not is_segment_model(model):
        model.save_pretrained(folder, safe_serialization=True)
        return
    model.encoder.save_pretrained(folder, safe_serialization=True)
    head = {
        "head": SEGMENT_COSINE,
        "spec": model.spec.to_dict(),
        "scale": float(model.scale.detach()),
        "bias": float(model.bias.detach()),
    }
    (folder / HEAD_FILE).write_text(json.dumps(head, indent=2) + "\n", encoding="utf-8")


def load_ranker(folder: str | Path, num_layers: int = 0) -> torch.nn.Module:
    """Load a cross-encoder folder (either head) on CPU, in eval mode.

    A folder without ``csir_head.json`` loads as a classifier: any one-logit
    ``save_pretrained`` model, or a backbone name whose head is then freshly initialised.
    """
    spec = read_head_spec(folder) if Path(folder).is_dir() else HeadSpec(kind=CLASSIFIER)
    if spec.kind == CLASSIFIER:
        return backbones.load_cross_encoder(str(folder), num_layers=num_layers).eval()
    head = json.loads((Path(folder) / HEAD_FILE).read_text(encoding="utf-8"))
    encoder = backbones.truncate_layers(backbones.load_encoder(str(folder)), num_layers)
    model = SegmentCosineRanker(encoder, spec)
    with torch.no_grad():
        model.scale.fill_(float(head["scale"]))
        model.bias.fill_(float(head["bias"]))
    return model.eval()


def head_parameter_names(model: torch.nn.Module) -> set[str]:
    """Names of the head's own parameters (the ones trained with the head learning rate)."""
    if is_segment_model(model):
        return {"scale", "bias"}
    prefix = model.base_model_prefix + "."
    return {n for n, _ in model.named_parameters() if not n.startswith(prefix)}


# --------------------------------------------------------------------------- tokenisation


def tokenize_segments(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], prefix: str, max_length: int
) -> list[list[int]]:
    """Token ids of each ``prefix + text`` (special tokens included), cut to ``max_length``."""
    if not texts:
        return []
    encoded = tokenizer(
        [prefix + t for t in texts], truncation=True, max_length=max_length, padding=False
    )
    return encoded["input_ids"]


def pad_features(
    columns: Mapping[str, Sequence[Sequence[int]]], pad_id: int
) -> dict[str, torch.Tensor]:
    """Right-pad a batch to its longest row: int64 tensors of every column (``input_ids`` padded
    with ``pad_id``, the others, such as ``token_type_ids``, with 0) and ``attention_mask``.

    The one padding of csir (training batches, scoring, dev scoring); row ``i`` of every column
    has the length of ``columns["input_ids"][i]``. An ``attention_mask`` column is made anew.
    """
    rows = columns["input_ids"]
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    width = int(lengths.max()) if len(rows) else 0
    out = {}
    for key, values in columns.items():
        if key == "attention_mask":
            continue
        array = np.full((len(rows), width), pad_id if key == "input_ids" else 0, dtype=np.int64)
        for i, row in enumerate(values):
            array[i, : len(row)] = row
        out[key] = torch.from_numpy(array)
    mask = np.arange(width)[None, :] < lengths[:, None]
    out["attention_mask"] = torch.from_numpy(mask.astype(np.int64))
    return out


def pad_ids(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists to the longest: ``(ids, mask)`` int64 tensors (:func:`pad_features`)."""
    batch = pad_features({"input_ids": rows}, pad_id)
    return batch["input_ids"], batch["attention_mask"]


# --------------------------------------------------------------------------- cached scoring


class SegmentScorer:
    """Scores pairs with a segment-cosine ranker, encoding each distinct text's lower layers once.

    Args:
        model: a :class:`SegmentCosineRanker` (in eval mode while scoring, then restored).
        tokenizer: its tokenizer.
        max_length: tokens kept of a passage (a query keeps ``spec.query_max_length``).
        batch_size: texts (lower layers) or pairs (top layers) per forward pass.
        device: where the model runs.
        autocast: a factory of the mixed-precision context (default: none).
        cache_size: with k = 0, keep the pooled vectors of up to this many texts across calls
            (least recently used go first; ``H`` floats each), so a query or passage scored
            again in a later call (the same questions in another language pair) is not encoded
            again. Only for weights that no longer change: 0 (the default) keeps nothing.
    """

    def __init__(
        self,
        model: SegmentCosineRanker,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int,
        batch_size: int = 64,
        device: str | torch.device = "cpu",
        autocast: Callable[[], contextlib.AbstractContextManager] | None = None,
        cache_size: int = 0,
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_length, self.batch_size = max_length, batch_size
        self.device = device
        self.autocast = autocast or contextlib.nullcontext
        pad = tokenizer.pad_token_id
        self.pad_id = 0 if pad is None else int(pad)
        self.cache_size = cache_size if model.spec.joint_layers == 0 else 0
        self._cache: collections.OrderedDict[tuple[str, int, str], torch.Tensor] = (
            collections.OrderedDict()
        )

    def encode(self, texts: Sequence[str], prefix: str, max_length: int) -> list[torch.Tensor]:
        """Lower-layer states of each text: ``[len, H]`` tensors (pooled ``[H]`` when k = 0)."""
        if not self.cache_size:
            return self._encode(texts, prefix, max_length)
        keys = [(prefix, max_length, text) for text in texts]
        todo = list(dict.fromkeys(k for k in keys if k not in self._cache))
        fresh = dict(zip(todo, self._encode([k[2] for k in todo], prefix, max_length), strict=True))
        out = []
        for key in keys:
            state = fresh[key] if key in fresh else self._cache[key]
            self._cache[key] = state
            self._cache.move_to_end(key)
            out.append(state)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out

    def _encode(self, texts: Sequence[str], prefix: str, max_length: int) -> list[torch.Tensor]:
        ids = tokenize_segments(self.tokenizer, list(texts), prefix, max_length)
        order = np.argsort([-len(x) for x in ids], kind="stable")
        out: list[Any] = [None] * len(ids)
        pooled_only = self.model.spec.joint_layers == 0
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch_ids, mask = pad_ids([ids[i] for i in rows], self.pad_id)
            batch_ids, mask = batch_ids.to(self.device), mask.to(self.device)
            with self.autocast():
                hidden = self.model.encode_segment(batch_ids, mask)
            if pooled_only:
                hidden = masked_mean(hidden.float(), mask)
            for r, i in enumerate(rows.tolist()):
                out[i] = hidden[r] if pooled_only else hidden[r, : len(ids[i])]
        return out

    def score(self, queries: Sequence[str], passages: Sequence[str]) -> np.ndarray:
        """Logits of the pairs ``(queries[i], passages[i])``: float32, in input order."""
        if len(queries) != len(passages):
            raise ValueError(f"{len(queries)} queries but {len(passages)} passages")
        n = len(queries)
        scores = np.empty(n, dtype=np.float32)
        if n == 0:
            return scores
        q_texts, qi = np.unique(np.asarray(queries, dtype=object), return_inverse=True)
        p_texts, pi = np.unique(np.asarray(passages, dtype=object), return_inverse=True)
        was_training = self.model.training
        self.model.eval()
        try:
            return self._score(q_texts, qi, p_texts, pi, scores)
        finally:
            self.model.train(was_training)

    def _score(self, q_texts, qi, p_texts, pi, scores: np.ndarray) -> np.ndarray:
        spec, n = self.model.spec, len(scores)
        with torch.inference_mode():
            q_states = self.encode(q_texts.tolist(), spec.query_prefix, spec.query_max_length)
            p_states = self.encode(p_texts.tolist(), spec.passage_prefix, self.max_length)
            if spec.joint_layers == 0:
                q = torch.stack(q_states)[torch.from_numpy(qi)]
                p = torch.stack(p_states)[torch.from_numpy(pi)]
                scores[:] = self.model.readout(q, p).cpu().numpy()
                return scores
            lengths = np.array(
                [len(q_states[a]) + len(p_states[b]) for a, b in zip(qi, pi, strict=True)]
            )
            order = np.argsort(-lengths, kind="stable")
            for start in range(0, n, self.batch_size):
                rows = order[start : start + self.batch_size]
                q_hidden, q_mask = _stack([q_states[qi[r]] for r in rows])
                p_hidden, p_mask = _stack([p_states[pi[r]] for r in rows])
                with self.autocast():
                    logits = self.model.joint(q_hidden, q_mask, p_hidden, p_mask)
                scores[rows] = logits.float().cpu().numpy()
        return scores


def _stack(states: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``[len, H]`` tensors into ``[B, T, H]`` plus their ``[B, T]`` mask."""
    width = max(s.shape[0] for s in states)
    first = states[0]
    hidden = first.new_zeros((len(states), width, first.shape[1]))
    mask = torch.zeros((len(states), width), dtype=torch.long, device=first.device)
    for i, s in enumerate(states):
        hidden[i, : s.shape[0]] = s
        mask[i, : s.shape[0]] = 1
    return hidden, mask
