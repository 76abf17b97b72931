"""Lossless vocabulary trimming: pay only for the word-embedding rows a run's texts use.

multilingual-e5-small has 250,037 × 384 word embeddings (96 M of its 118 M parameters). A
training run touches a few thousand rows, yet AdamW reads and writes every row at every step (a
dense gradient, two moment tensors, decay). :func:`trim_word_embeddings` swaps the embedding for
a :class:`TrimmedEmbedding` that holds only the kept rows and maps full-vocabulary ids onto them,
so the model still takes the tokenizer's own ids. :func:`restore_word_embeddings` writes the
trained rows back into the full matrix. Rows that no training text uses get no gradient, so
under AdamW they only decay by ``(1 - lr_t * weight_decay)`` per step; that product is passed in
and applied, which makes the restored model equal to one trained untrimmed (up to float rounding).

Example:
    >>> keep = kept_token_ids([train_ids, dev_ids], tokenizer)  # doctest: +SKIP
    >>> full = trim_word_embeddings(model, keep)  # doctest: +SKIP
    >>> restore_word_embeddings(model, full, decay=0.9999)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from csir.errors import CsirError


class TrimmedEmbedding(torch.nn.Module):
    """An ``nn.Embedding`` restricted to ``keep`` rows, indexed by full-vocabulary ids.

    Ids outside ``keep`` raise (they would silently read a wrong row).

    Attributes:
        weight: ``[len(keep), H]``, the trainable rows (same name as ``nn.Embedding``'s).
        keep: the kept full-vocabulary ids, sorted (buffer).
        lookup: full id -> row in ``weight``, -1 when not kept (buffer).
    """

    def __init__(self, full: torch.nn.Embedding, keep: torch.Tensor) -> None:
        super().__init__()
        keep = torch.as_tensor(keep, dtype=torch.long).unique(sorted=True)
        if keep.numel() == 0 or int(keep.max()) >= full.num_embeddings or int(keep.min()) < 0:
            raise CsirError(f"kept ids must lie in [0, {full.num_embeddings}); got {keep.numel()}")
        self.num_full = full.num_embeddings
        self.padding_idx = full.padding_idx
        self.weight = torch.nn.Parameter(full.weight.detach()[keep].clone())
        lookup = torch.full((full.num_embeddings,), -1, dtype=torch.long)
        lookup[keep] = torch.arange(keep.numel())
        self.register_buffer("keep", keep, persistent=True)
        self.register_buffer("lookup", lookup, persistent=True)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self.lookup[ids]
        # Checked outside training only: a host sync per step would cost GPU time, and training
        # ids come from the texts the vocabulary was trimmed to.
        if not self.training and bool((rows < 0).any()):
            unknown = ids[rows < 0].unique()[:5].tolist()
            raise CsirError(
                f"token ids {unknown} are outside the trimmed vocabulary; trim with the token ids "
                "of every text the model will see (training and dev files)"
            )
        return torch.nn.functional.embedding(rows, self.weight)


def kept_token_ids(id_arrays: Iterable[np.ndarray], tokenizer) -> np.ndarray:
    """Sorted distinct ids of ``id_arrays`` plus the tokenizer's special tokens."""
    ids = [np.unique(np.asarray(a, dtype=np.int64)) for a in id_arrays]
    special = np.asarray(tokenizer.all_special_ids, dtype=np.int64)
    return np.unique(np.concatenate([*ids, special]))


def _word_embeddings(model: torch.nn.Module):
    model = getattr(model, "module", model)
    encoder = getattr(model, "encoder", None) if hasattr(model, "spec") else None
    base = encoder if encoder is not None else model
    base = getattr(base, getattr(base, "base_model_prefix", ""), base)
    embeddings = getattr(base, "embeddings", None)
    if embeddings is None or not hasattr(embeddings, "word_embeddings"):
        raise CsirError(
            f"{type(model).__name__} has no embeddings.word_embeddings to trim; "
            "set trim_vocabulary=False for this backbone"
        )
    return embeddings


def word_embeddings(model: torch.nn.Module) -> torch.nn.Module:
    """The model's word-embedding module (``nn.Embedding`` or :class:`TrimmedEmbedding`)."""
    return _word_embeddings(model).word_embeddings


def trim_word_embeddings(model: torch.nn.Module, keep: np.ndarray) -> torch.nn.Embedding:
    """Replace the model's word embeddings by a :class:`TrimmedEmbedding` of ``keep`` rows.

    Returns:
        The original full ``nn.Embedding`` (keep it to restore the full matrix later).
    """
    embeddings = _word_embeddings(model)
    full = embeddings.word_embeddings
    if isinstance(full, TrimmedEmbedding):
        raise CsirError("the word embeddings are already trimmed")
    trimmed = TrimmedEmbedding(full, torch.from_numpy(np.asarray(keep)))
    trimmed.weight.requires_grad_(full.weight.requires_grad)
    embeddings.word_embeddings = trimmed
    return full


def restore_word_embeddings(
    model: torch.nn.Module, full: torch.nn.Embedding, decay: float = 1.0
) -> None:
    """Put the full embedding back, with the trained rows copied in.

    Args:
        model: a model trimmed by :func:`trim_word_embeddings`.
        full: the embedding it returned (its rows are the values before training).
        decay: factor applied to the rows that were not kept: the product of
            ``(1 - lr_t * weight_decay)`` over the optimizer steps taken, which is what AdamW
            did to rows without gradient in an untrimmed run (1.0 when they were frozen).
    """
    embeddings = _word_embeddings(model)
    trimmed = embeddings.word_embeddings
    if not isinstance(trimmed, TrimmedEmbedding):
        raise CsirError("the word embeddings are not trimmed")
    full = full.to(trimmed.weight.device)
    with torch.no_grad():
        weight = full.weight
        if decay != 1.0:
            weight.mul_(decay)
        weight[trimmed.keep] = trimmed.weight.detach().to(weight.dtype)
    embeddings.word_embeddings = full
