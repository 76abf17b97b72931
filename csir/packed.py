"""Padding-free runs of BERT-style encoder layers: token-wise work on the real tokens only.

In a batch padded to its longest text, most of a layer's work (the linear layers, GELU,
LayerNorm) is per token, so padding costs as much as text: in the offline default's training
batches (16 WikiQA pairs, query and passage encoded apart) padded tokens were 1.87x the real
ones. :func:`run_packed` keeps the hidden states as ``[N, H]`` rows of the N real tokens of one
or more padded batches (a batch's queries and its passages), so every matrix product runs once
over all of them, and pads only inside attention, where each batch's rows go back to its own
``[B, T]`` layout. It calls the layer's own submodules (``attention.self.query/key/value``,
``attention.output``, ``intermediate``, ``output``): the result is the same computation as
``layer(hidden, mask)`` at every real position; padded positions come back as zeros (nothing
downstream reads them: pooling and attention mask them).

Attention is written out (one ``baddbmm`` adds the key mask and the scaling to the scores,
softmax, product) rather than calling ``scaled_dot_product_attention``: on CPU, PyTorch's math
kernel (the one csir trains with, see :func:`csir.ranker.training_attention`) checks every row
of its scores for keys that are all masked (``isneginf``, ``all``, ``where``), which took about
5 % of a training step here, and every row here has real keys. Speed: see the README (*CPU
speed*) and ``benchmarks/train_throughput.py`` (system ``csir-padded``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

_PARTS = (("attention", "self", "query"), ("attention", "output"), ("intermediate",), ("output",))


def packable(layers: Sequence[torch.nn.Module]) -> bool:
    """True when every layer has BERT's submodules (BERT, RoBERTa, XLM-R, e5) and no decoder
    cross-attention; other layers must run padded."""
    for layer in layers:
        for path in _PARTS:
            part = layer
            for name in path:
                part = getattr(part, name, None)
            if part is None:
                return False
        if getattr(layer, "add_cross_attention", False) or getattr(layer, "is_decoder", False):
            return False
    return True


@dataclass(frozen=True)
class PaddedBatch:
    """One padded ``[B, T]`` batch among the packed rows: ``index`` holds the flat positions of
    its real tokens, which are rows ``start:stop`` of the packed ``[N, H]`` tensor."""

    index: torch.Tensor
    batch: int
    width: int
    key_bias: torch.Tensor
    start: int
    stop: int

    @classmethod
    def from_mask(cls, mask: torch.Tensor, dtype: torch.dtype, start: int = 0) -> PaddedBatch:
        """The batch of a ``[B, T]`` attention mask (1 = real token); ``dtype``: the scores'."""
        batch, width = mask.shape
        index = mask.reshape(-1).nonzero().squeeze(1)
        bias = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
        bias = bias.masked_fill(mask == 0, torch.finfo(dtype).min)[:, None, None, :]
        return cls(index, batch, width, bias, start, start + len(index))

    def pack(self, hidden: torch.Tensor) -> torch.Tensor:
        """``[B, T, C] -> [n, C]``: the real tokens' rows."""
        return hidden.reshape(self.batch * self.width, -1).index_select(0, self.index)

    def unpack(self, rows: torch.Tensor) -> torch.Tensor:
        """``[n, C] -> [B, T, C]``, zeros at padded positions."""
        full = rows.new_zeros((self.batch * self.width, rows.shape[1]))
        return full.index_copy(0, self.index, rows).view(self.batch, self.width, -1)

    def attend(self, attention: torch.nn.Module, qkv: torch.Tensor) -> torch.Tensor:
        """Multi-head attention of this batch's packed query/key/value rows ``[n, 3H]``: context
        rows ``[n, H]`` (dropout on the probabilities, as in BERT)."""
        heads, size = attention.num_attention_heads, attention.attention_head_size
        shape = (self.batch * heads, self.width, size)
        q, k, v = (
            t.view(self.batch, self.width, heads, size).transpose(1, 2).reshape(shape)
            for t in self.unpack(qkv).chunk(3, dim=-1)
        )
        # the key mask and the scaling ride on the score product (one kernel, no masked copy)
        bias = self.key_bias.expand(-1, heads, -1, -1).reshape(self.batch * heads, 1, self.width)
        scores = torch.baddbmm(bias.to(q.dtype), q, k.transpose(1, 2), alpha=attention.scaling)
        probs = attention.dropout(scores.softmax(dim=-1))
        context = torch.bmm(probs, v).view(self.batch, heads, self.width, size)
        return self.pack(context.transpose(1, 2))


@dataclass(frozen=True)
class Packing:
    """The real tokens of one or more padded batches as one ``[N, H]`` tensor of rows: the
    token-wise work of a layer runs once over all of them, attention per batch."""

    batches: tuple[PaddedBatch, ...]

    @classmethod
    def from_masks(cls, masks: Sequence[torch.Tensor], dtype: torch.dtype) -> Packing:
        """The packing of ``[B_i, T_i]`` attention masks (1 = real token), rows in that order."""
        batches, start = [], 0
        for mask in masks:
            batches.append(PaddedBatch.from_mask(mask, dtype, start))
            start = batches[-1].stop
        return cls(tuple(batches))

    def pack(self, hiddens: Sequence[torch.Tensor]) -> torch.Tensor:
        """``[B_i, T_i, H]`` tensors -> ``[N, H]`` rows."""
        rows = [b.pack(h) for b, h in zip(self.batches, hiddens, strict=True)]
        return rows[0] if len(rows) == 1 else torch.cat(rows)

    def unpack(self, rows: torch.Tensor) -> list[torch.Tensor]:
        """``[N, H]`` rows -> ``[B_i, T_i, H]`` tensors, zeros at padded positions."""
        return [b.unpack(rows[b.start : b.stop]) for b in self.batches]

    def attend(self, attention: torch.nn.Module, rows: torch.Tensor) -> torch.Tensor:
        """BERT's ``attention.self`` module on packed rows, each batch attending within itself."""
        qkv = torch.cat([attention.query(rows), attention.key(rows), attention.value(rows)], 1)
        context = [b.attend(attention, qkv[b.start : b.stop]) for b in self.batches]
        return context[0] if len(context) == 1 else torch.cat(context)


def packed_layer(layer: torch.nn.Module, rows: torch.Tensor, packing: Packing) -> torch.Tensor:
    """One post-LayerNorm BERT layer on packed rows ``[N, H]``."""
    attended = layer.attention.output(packing.attend(layer.attention.self, rows), rows)
    return layer.output(layer.intermediate(attended), attended)


def run_packed(
    layers: Sequence[torch.nn.Module], *batches: tuple[torch.Tensor, torch.Tensor]
) -> list[torch.Tensor]:
    """``layers`` over padded batches ``(hidden [B, T, H], mask [B, T])``, real tokens only, all
    batches in one pass (each attends within itself); returns each batch's ``[B, T, H]`` with
    zeros at padded positions (see :func:`packable` for which layers)."""
    packing = Packing.from_masks([mask for _, mask in batches], batches[0][0].dtype)
    rows = packing.pack([hidden for hidden, _ in batches])
    for layer in layers:
        rows = packed_layer(layer, rows, packing)
    return packing.unpack(rows)
