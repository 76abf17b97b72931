"""Training losses of one logit per (query, passage) pair.

- ``pointwise``: binary cross-entropy of each pair's logit against its 0/1 label (the paper's,
  Litschko et al. 2023, after Nogueira & Cho 2019).
- ``listwise``: softmax cross-entropy of each positive against the negatives of its own
  question in the batch (the localised contrastive estimation of Gao, Dai & Callan 2021): it
  trains the order of a question's candidates, which is what MRR measures, and never their
  absolute level. Batches then hold whole questions (see :class:`csir.training.batches.BatchPlan`).
"""

from __future__ import annotations

import torch

from csir.training.args import LOSSES


def pointwise_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of ``logits`` against 0/1 ``labels``."""
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)


def listwise_loss(logits: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Mean over positives of ``-log softmax`` of the positive among its question's negatives.

    A positive competes with every negative of the same group (question) in the batch, never
    with other positives. Positives without a negative in the batch add nothing; a batch
    without any (positive, negative) pair of one question gives a zero loss that still has a
    gradient graph (so every process of a distributed run calls backward alike).

    Example:
        >>> logits = torch.tensor([2.0, 0.0, 5.0, 1.0])
        >>> labels = torch.tensor([1.0, 0.0, 1.0, 0.0])
        >>> groups = torch.tensor([0, 0, 1, 7])  # question 1 has no negative in the batch
        >>> round(listwise_loss(logits, labels, groups).item(), 4)  # -log(e^2 / (e^2 + e^0))
        0.1269
    """
    positive = labels > 0.5
    same_group = groups[:, None] == groups[None, :]
    competes = same_group & ~positive[None, :]  # row i: the negatives of i's question
    has_negative = positive & competes.any(dim=1)
    if not bool(has_negative.any()):
        return logits.sum() * 0.0
    rows = has_negative.nonzero().squeeze(1)
    # Row i's softmax is over itself and its question's negatives.
    keep = competes[rows].clone()
    keep[torch.arange(len(rows), device=logits.device), rows] = True
    masked = logits.float()[None, :].expand(len(rows), -1).masked_fill(~keep, float("-inf"))
    return (torch.logsumexp(masked, dim=1) - logits.float()[rows]).mean()


def training_loss(
    name: str, logits: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor
) -> torch.Tensor:
    """The loss ``name`` (one of :data:`LOSSES`) of a micro-batch."""
    if name == "pointwise":
        return pointwise_loss(logits, labels)
    if name == "listwise":
        return listwise_loss(logits, labels, groups)
    raise ValueError(f"loss {name!r} must be one of {LOSSES}")
