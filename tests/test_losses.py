"""Training losses and whole-question batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from csir.errors import ConfigError
from csir.training import BatchPlan, TrainingArgs, question_batches
from csir.training.losses import listwise_loss, pointwise_loss, training_loss


def _listwise_by_hand(logits, labels, groups) -> float:
    terms = []
    for s, y, g in zip(logits, labels, groups, strict=True):
        if y != 1:
            continue
        negatives = [t for t, z, h in zip(logits, labels, groups, strict=True) if h == g and z == 0]
        if negatives:
            terms.append(math.log(sum(math.exp(t) for t in [s, *negatives])) - s)
    return sum(terms) / len(terms) if terms else 0.0


@pytest.mark.parametrize("seed", range(5))
def test_listwise_loss_matches_its_definition(seed):
    rng = np.random.default_rng(seed)
    n = 24
    logits = rng.normal(0, 3, n)
    labels = (rng.random(n) < 0.3).astype(float)
    groups = rng.integers(0, 6, n)
    got = listwise_loss(torch.tensor(logits), torch.tensor(labels), torch.tensor(groups))
    assert got.item() == pytest.approx(_listwise_by_hand(logits, labels, groups), rel=1e-6)


def test_listwise_loss_ignores_other_questions_and_other_positives():
    labels = torch.tensor([1.0, 1.0, 0.0, 0.0])
    groups = torch.tensor([0, 0, 0, 1])
    a = listwise_loss(torch.tensor([1.0, -5.0, 0.0, 9.0]), labels, groups)
    # Another question's negative and the other positive's score change nothing for row 0.
    b = listwise_loss(torch.tensor([1.0, -5.0, 0.0, -9.0]), labels, groups)
    assert a.item() == pytest.approx(b.item())
    # Raising a positive above its negatives lowers the loss; a constant shift changes nothing.
    c = listwise_loss(torch.tensor([3.0, -5.0, 0.0, 9.0]), labels, groups)
    d = listwise_loss(torch.tensor([11.0, 5.0, 10.0, 0.0]), labels, groups)
    assert c.item() < a.item() and d.item() == pytest.approx(a.item())


def test_listwise_loss_without_a_contest_is_zero_with_a_gradient():
    logits = torch.tensor([2.0, 1.0], requires_grad=True)
    loss = listwise_loss(logits, torch.tensor([1.0, 0.0]), torch.tensor([0, 1]))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(logits.grad, torch.zeros(2))


def test_training_loss_dispatches_and_pointwise_is_bce():
    logits, labels = torch.tensor([0.3, -1.2]), torch.tensor([1.0, 0.0])
    expected = -(math.log(1 / (1 + math.exp(-0.3))) + math.log(1 - 1 / (1 + math.exp(1.2)))) / 2
    assert pointwise_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)
    groups = torch.tensor([0, 0])
    assert training_loss("listwise", logits, labels, groups).item() == pytest.approx(
        math.log(1 + math.exp(-1.5)), rel=1e-6
    )
    with pytest.raises(ValueError, match="loss 'hinge'"):
        training_loss("hinge", logits, labels, groups)


def test_question_batches_keep_questions_whole_and_cover_each_pair_once():
    rng = np.random.default_rng(0)
    groups = np.repeat(rng.permutation(40), rng.integers(1, 9, 40))  # sizes 1-8, any order
    for epoch in (0, 1):
        batches = question_batches(groups, 12, seed=3, epoch=epoch)
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(len(groups)))
        assert all(len(b) <= 12 for b in batches)
        owner = {}
        for number, batch in enumerate(batches):
            for g in groups[batch].tolist():
                assert owner.setdefault(g, number) == number  # a question in one batch only
    # A question larger than the batch is a batch of its own.
    big = question_batches(np.array([0, 0, 0, 0, 0, 1]), 3, seed=0)
    assert sorted(len(b) for b in big) == [1, 5]
    assert [b.tolist() for b in question_batches(groups, 12, 3, 1)] != [
        b.tolist() for b in question_batches(groups, 12, 3, 0)
    ]


def test_batch_plan_of_questions_walks_epochs_of_different_lengths():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(30), rng.integers(1, 7, 30))
    plan = BatchPlan(np.ones(len(groups)), 10, seed=5, groups=groups)
    epochs = [question_batches(groups, 10, 5, e) for e in range(3)]
    stream = [b.tolist() for e in epochs for b in e]
    assert [plan.batch(p).tolist() for p in range(len(stream))] == stream
    assert [plan.epoch_of(p) for p in range(len(stream))] == [
        e for e, batches in enumerate(epochs) for _ in batches
    ]
    # Positions asked for out of order (a resumed run) give the same batches.
    fresh = BatchPlan(np.ones(len(groups)), 10, seed=5, groups=groups)
    assert fresh.batch(len(stream) - 1).tolist() == stream[-1]
    assert fresh.batch(0).tolist() == stream[0]
    # Row-aligned files (other lengths, same questions) get the same batches.
    other = BatchPlan(rng.integers(5, 90, len(groups)), 10, seed=5, groups=groups)
    assert [other.batch(p).tolist() for p in range(len(stream))] == stream


def test_listwise_settings_are_checked():
    with pytest.raises(ConfigError, match="loss 'hinge' must be one of pointwise, listwise"):
        TrainingArgs(loss="hinge")
    with pytest.raises(ConfigError, match="megabatch_mult must be 1"):
        TrainingArgs(loss="listwise", megabatch_mult=4)
    with pytest.raises(ConfigError, match="megabatch_mult must be 1"):
        TrainingArgs(batch_by_question=True, megabatch_mult=4)
    assert TrainingArgs(loss="listwise").question_batches()
    assert TrainingArgs(batch_by_question=True).question_batches()
    assert not TrainingArgs().question_batches()
