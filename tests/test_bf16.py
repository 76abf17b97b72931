"""bf16 training on CPU through a bf16 shadow with float32 master weights (csir.training.bf16)."""

from __future__ import annotations

import json
import random

import pytest
import torch

from csir import ranker
from csir.heads import HeadSpec
from csir.training.bf16 import Bf16Shadow
from tests.conftest import char_tokenizer, make_tiny_cross_encoder


@pytest.fixture(scope="module")
def segment_model(tmp_path_factory):
    folder = make_tiny_cross_encoder(
        tmp_path_factory.mktemp("bf16") / "tiny", tokenizer=char_tokenizer(), head=False
    )
    return ranker.build_ranker(str(folder), HeadSpec(query_prefix="", passage_prefix=""))


def _batch(seed: int = 0, size: int = 6) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    q_mask = torch.ones(size, 7, dtype=torch.long)
    q_mask[::2, 5:] = 0
    p_mask = torch.ones(size, 12, dtype=torch.long)
    p_mask[1::2, 8:] = 0
    return {
        "query_ids": torch.randint(5, 40, (size, 7), generator=g),
        "query_mask": q_mask,
        "passage_ids": torch.randint(5, 40, (size, 12), generator=g),
        "passage_mask": p_mask,
    }


def _gradients(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def test_shadow_gradients_are_as_close_to_float32_as_autocast_and_land_on_the_masters(
    segment_model,
):
    model = segment_model.train()
    labels = torch.tensor([1.0, 0, 0, 1, 0, 0])

    def gradient(loss_fn) -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        loss_fn().backward()
        out = _gradients(model).clone()
        model.zero_grad(set_to_none=True)
        return out

    def loss_of(module: torch.nn.Module) -> torch.Tensor:
        logits = ranker.pair_logits(module, _batch())
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)

    def autocast_loss() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return loss_of(model)

    reference = gradient(lambda: loss_of(model))
    autocast = gradient(autocast_loss)

    shadow = Bf16Shadow(model)
    assert all(p.dtype == torch.bfloat16 for p in shadow.module.parameters())
    assert all(p.dtype == torch.float32 for p in model.parameters())
    shadow.load_masters()
    batch = _batch()
    states = shadow.module.encode_segment(batch["passage_ids"], batch["passage_mask"])
    assert states.dtype == torch.bfloat16  # no autocast: the shadow computes in bf16
    for _ in range(2):  # two micro-batches accumulate on the masters in float32
        loss_of(shadow.module).backward()
        shadow.add_gradients_to_masters()
    assert all(s.grad is None for s in shadow.shadows)
    got = _gradients(model) / 2
    model.zero_grad(set_to_none=True)
    assert got.dtype == torch.float32

    def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(torch.nn.functional.cosine_similarity(a, b, dim=0))

    # bf16 rounds this random model's nearly parallel vectors: autocast itself is only ~.88
    # aligned with float32 here. The shadow must be at least as faithful.
    assert cosine(got, reference) >= cosine(autocast, reference) - 0.02
    assert cosine(got, reference) > 0.8
    assert 0.8 < float(got.norm() / reference.norm()) < 1.25


def test_masters_learn_and_the_shadow_follows_them(segment_model):
    model = segment_model
    shadow = Bf16Shadow(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    before = model.scale.detach().clone()
    shadow.load_masters()
    ranker.pair_logits(shadow.module, _batch()).sum().backward()
    shadow.add_gradients_to_masters()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    assert not torch.equal(model.scale.detach(), before)
    shadow.load_masters()
    assert shadow.module.scale.detach() == model.scale.detach().to(torch.bfloat16)


def test_frozen_parameters_stay_out_of_the_shadow_update(segment_model):
    model = segment_model
    embeddings = model.encoder.embeddings.word_embeddings.weight
    embeddings.requires_grad_(False)
    try:
        shadow = Bf16Shadow(model)
        assert all(m is not embeddings for m in shadow.masters)
        shadow.load_masters()
        ranker.pair_logits(shadow.module, _batch()).sum().backward()
        shadow.add_gradients_to_masters()
        assert embeddings.grad is None
    finally:
        embeddings.requires_grad_(True)
        model.zero_grad(set_to_none=True)


def test_bf16_training_on_cpu_goes_through_the_shadow_and_resumes_exactly(tmp_path):
    """The loop's bf16 path on CPU: learns, and a killed run resumes to the same weights."""
    from safetensors.torch import load_file

    from csir.training import TrainingArgs, train

    backbone = make_tiny_cross_encoder(tmp_path / "tiny", tokenizer=char_tokenizer(), head=False)
    rng = random.Random(0)
    lines = []
    for i in range(40):
        word = "".join(rng.choice("abcdefgh") for _ in range(5))
        lines.append(
            json.dumps(
                {
                    "qid": f"q{i // 5}",
                    "pid": f"p{i}",
                    "query": word,
                    "passage": word if i % 5 == 0 else word[::-1],
                    "label": int(i % 5 == 0),
                    "query_lang": "en",
                    "doc_lang": "en",
                }
            )
        )
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = TrainingArgs(
        backbone=str(backbone),
        head="segment-cosine",
        max_length=24,
        batch_size=5,
        max_steps=6,
        learning_rate=1e-3,
        precision="bf16",
        log_every=1,
        checkpoint_every=2,
    )
    full = train(args, data, tmp_path / "full", progress=False)

    class Stop(Exception):
        pass

    def stop_at_3(step: int) -> None:
        if step == 3:
            raise Stop

    with pytest.raises(Stop):
        train(args, data, tmp_path / "resumed", progress=False, on_step=stop_at_3)
    resumed = train(args, data, tmp_path / "resumed", progress=False)
    a, b = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(t.dtype == torch.float32 for t in a.values())
    start = load_file(backbone / "model.safetensors")
    assert start.keys() == a.keys()
    assert any(not torch.equal(start[k], a[k]) for k in start)  # it learned
