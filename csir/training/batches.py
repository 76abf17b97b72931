"""Which training pairs go together: seeded, length-grouped or whole-question batch orders, and the
batches of a run (:class:`BatchPlan`) as a map-style dataset for a ``DataLoader``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from csir.errors import CsirError

if TYPE_CHECKING:
    import torch

    from csir.training.tokenized import TokenizedPairs


def length_grouped_order(
    lengths: np.ndarray, batch_size: int, seed: int, epoch: int = 0, megabatch_mult: int = 50
) -> np.ndarray:
    """A seeded permutation whose consecutive ``batch_size`` chunks hold pairs of similar length.

    Like Hugging Face's ``LengthGroupedSampler``: shuffle (seeded by ``seed`` and ``epoch``),
    cut into megabatches of ``megabatch_mult * batch_size``, sort each megabatch by length
    (longest first, ties in shuffled order), and move the overall longest pair to the front so
    that memory runs out on the first step rather than later. ``megabatch_mult = 1`` is a plain
    seeded shuffle that ignores the lengths.

    Example:
        >>> order = length_grouped_order(np.array([5, 1, 9, 3]), batch_size=2, seed=0)
        >>> sorted(order.tolist())
        [0, 1, 2, 3]
    """
    lengths = np.asarray(lengths)
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if megabatch_mult == 1:
        # No grouping: the order depends on (number of pairs, seed, epoch) only, so row-aligned
        # files (a code-switched set and its zero-shot source) see the same pairs in each batch.
        return order
    size = max(1, megabatch_mult * batch_size)
    megabatches = []
    for start in range(0, len(order), size):
        chunk = order[start : start + size]
        megabatches.append(chunk[np.argsort(-lengths[chunk], kind="stable")])
    if megabatches:
        longest = int(np.argmax([lengths[mb[0]] for mb in megabatches]))
        first, other = megabatches[0], megabatches[longest]
        first[0], other[0] = other[0], first[0]
    return np.concatenate(megabatches) if megabatches else order


def batches_per_epoch(n_pairs: int, batch_size: int) -> int:
    """Micro-batches in one pass over the data (the last one may be short)."""
    return -(-n_pairs // batch_size)


def question_batches(groups: np.ndarray, batch_size: int, seed: int, epoch: int = 0):
    """One epoch of micro-batches that hold whole questions (for the listwise loss).

    The questions are shuffled (seeded by ``seed`` and ``epoch``) and packed in that order:
    a batch is closed when the next question would take it past ``batch_size`` pairs, so
    batches hold at most ``batch_size`` pairs, except a question with more pairs than that,
    which forms a batch of its own. Pairs keep their file order within a question. The result
    depends on the group ids only, so row-aligned files (a code-switched set and its
    zero-shot source) get the same batches.

    Example:
        >>> [b.tolist() for b in question_batches(np.array([0, 0, 1, 1, 1, 2]), 4, seed=0)]
        [[5, 0, 1], [2, 3, 4]]
    """
    groups = np.asarray(groups)
    order = np.argsort(groups, kind="stable")
    names, starts = np.unique(groups[order], return_index=True)
    members = np.split(order, starts[1:]) if len(order) else []
    rng = np.random.default_rng([seed, epoch])
    batches: list[np.ndarray] = []
    current: list[np.ndarray] = []
    size = 0
    for g in rng.permutation(len(names)).tolist():
        pairs = members[g]
        if current and size + len(pairs) > batch_size:
            batches.append(np.concatenate(current))
            current, size = [], 0
        current.append(pairs)
        size += len(pairs)
    if current:
        batches.append(np.concatenate(current))
    return batches


class BatchPlan:
    """The stream of micro-batches, epoch after epoch; position ``g`` is a pure function of
    (lengths or question groups, batch size, seed, ``g``), so a resumed run continues exactly
    where it stopped.

    Pairs are shuffled and cut into ``batch_size`` chunks (length-grouped with
    ``megabatch_mult > 1``), or, given ``groups``, packed as whole questions by
    :func:`question_batches` (whose epochs may differ in their number of batches).
    With several processes, process ``rank`` of ``world_size`` takes positions
    ``start + rank, start + rank + world_size, ...``.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        batch_size: int,
        seed: int,
        megabatch_mult: int = 1,
        groups: np.ndarray | None = None,
    ) -> None:
        if groups is not None and megabatch_mult != 1:
            raise CsirError("whole-question batches cannot also be length-grouped")
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.megabatch_mult = megabatch_mult
        self.groups = None if groups is None else np.asarray(groups)
        self._epoch = -1
        self._batches: list[np.ndarray] = []
        self._epoch_starts = [0]  # first position of each epoch worked out so far

    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        if epoch != self._epoch:
            if self.groups is not None:
                batches = question_batches(self.groups, self.batch_size, self.seed, epoch)
            else:
                order = length_grouped_order(
                    self.lengths, self.batch_size, self.seed, epoch, self.megabatch_mult
                )
                starts = range(0, len(order), self.batch_size)
                batches = [order[i : i + self.batch_size] for i in starts]
            self._epoch, self._batches = epoch, batches
        return self._batches

    def _locate(self, position: int) -> tuple[int, int]:
        """``(epoch, batch within the epoch)`` of a position."""
        if self.groups is None:
            return divmod(position, batches_per_epoch(len(self.lengths), self.batch_size))
        while self._epoch_starts[-1] <= position:
            epoch = len(self._epoch_starts) - 1
            count = len(question_batches(self.groups, self.batch_size, self.seed, epoch))
            self._epoch_starts.append(self._epoch_starts[-1] + count)
        epoch = int(np.searchsorted(self._epoch_starts, position, side="right")) - 1
        return epoch, position - self._epoch_starts[epoch]

    def batch(self, position: int) -> np.ndarray:
        """Indices of the pairs in micro-batch ``position`` (0-based over the whole run)."""
        epoch, within = self._locate(position)
        return self._epoch_batches(epoch)[within]

    def epoch_of(self, position: int) -> int:
        """The epoch (0-based) micro-batch ``position`` belongs to."""
        return self._locate(position)[0]

    def positions(self, start: int, count: int, rank: int = 0, world_size: int = 1) -> list[int]:
        """This process's next ``count`` positions from global position ``start``."""
        return [start + rank + i * world_size for i in range(count)]


class BatchDataset:
    """Map-style dataset of ready micro-batches (one item = one padded batch) for a DataLoader."""

    def __init__(self, pairs: TokenizedPairs, batches: list[np.ndarray]) -> None:
        self.pairs = pairs
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.pairs.collate(self.batches[i])
