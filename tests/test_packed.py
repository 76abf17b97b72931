"""Padding-free layer runs (csir.packed): the same numbers as the padded HF layers."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    BertConfig,
    BertModel,
    DistilBertConfig,
    DistilBertModel,
    XLMRobertaConfig,
    XLMRobertaModel,
)
from transformers.masking_utils import create_bidirectional_mask

from csir import ranker
from csir.heads import HeadSpec
from csir.packed import PaddedBatch, packable, run_packed

SIZES = dict(hidden_size=32, num_attention_heads=4, intermediate_size=64, num_hidden_layers=2)
MASK = torch.tensor([[1] * 7, [1] * 3 + [0] * 4, [1] * 5 + [0] * 2])


def _encoder(model_class, config_class, **extra):
    torch.manual_seed(0)
    config = config_class(vocab_size=100, attn_implementation="sdpa", **SIZES, **extra)
    return model_class(config).eval()  # no dropout: both runs compute the same function


def _padded(layers, hidden, mask):
    config = layers[0].attention.self.config
    attn = create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=mask)
    for layer in layers:
        hidden = layer(hidden, attn)
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden
    return hidden


@pytest.mark.parametrize("classes", [(BertModel, BertConfig), (XLMRobertaModel, XLMRobertaConfig)])
def test_packed_layers_equal_the_padded_ones_forward_and_backward(classes):
    layers = _encoder(*classes).encoder.layer
    assert packable(layers)
    real = MASK.bool()
    hidden = torch.randn(3, 7, 32)
    grads = []
    for run in (_padded, lambda layers, x, mask: run_packed(layers, (x, mask))[0]):
        layers.zero_grad()
        x = hidden.clone().requires_grad_(True)
        out = run(layers, x, MASK)
        (out[real] ** 2).sum().backward()
        grads.append((out, x.grad, [p.grad.clone() for p in layers.parameters()]))
    (padded, x_pad, w_pad), (packed, x_pack, w_pack) = grads
    torch.testing.assert_close(packed[real], padded[real], atol=1e-6, rtol=1e-5)
    assert packed[~real].abs().max() == 0  # padded positions come back as zeros
    torch.testing.assert_close(x_pack, x_pad, atol=1e-5, rtol=1e-4)
    for a, b in zip(w_pack, w_pad, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_packed_bf16_stays_close_to_float32():
    layers = _encoder(BertModel, BertConfig).encoder.layer
    hidden = torch.randn(3, 7, 32)
    with torch.no_grad():
        reference = run_packed(layers, (hidden, MASK))[0]
        half = run_packed(layers.to(torch.bfloat16), (hidden.bfloat16(), MASK))[0].float()
    real = MASK.bool()
    assert (half[real] - reference[real]).abs().max() < 0.1


def test_batches_packed_together_equal_each_batch_run_alone():
    layers = _encoder(BertModel, BertConfig).encoder.layer
    first, second = torch.randn(3, 7, 32), torch.randn(2, 4, 32)
    second_mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    with torch.no_grad():
        together = run_packed(layers, (first, MASK), (second, second_mask))
        alone = [_padded(layers, first, MASK), _padded(layers, second, second_mask)]
    for packed, padded, mask in zip(together, alone, (MASK, second_mask), strict=True):
        assert packed.shape == padded.shape
        torch.testing.assert_close(packed[mask.bool()], padded[mask.bool()], atol=1e-6, rtol=1e-5)


def test_packing_keeps_the_real_tokens_in_order():
    packing = PaddedBatch.from_mask(MASK, torch.float32)
    hidden = torch.arange(3 * 7, dtype=torch.float32).view(3, 7, 1)
    rows = packing.pack(hidden)
    assert rows.squeeze(1).tolist() == [*range(7), 7, 8, 9, 14, 15, 16, 17, 18]
    assert torch.equal(packing.unpack(rows), hidden * MASK.unsqueeze(-1))


def test_layers_without_bert_parts_run_padded():
    assert not packable(_encoder(DistilBertModel, DistilBertConfig, n_layers=2).transformer.layer)
    decoder = _encoder(BertModel, BertConfig, is_decoder=True)
    assert not packable(decoder.encoder.layer)
    assert not packable([torch.nn.Linear(4, 4)])


def test_the_segment_ranker_packs_while_training_on_cpu_and_scores_as_padded(monkeypatch):
    encoder = _encoder(BertModel, BertConfig)
    model = ranker.SegmentCosineRanker(encoder, HeadSpec(joint_layers=1))
    ids = torch.randint(5, 100, (3, 7))
    calls: list[int] = []

    def counting(layers, *batches):
        calls.append(len(layers))
        return run_packed(layers, *batches)

    monkeypatch.setattr(ranker, "run_packed", counting)
    packed = model(ids[:, :4], MASK[:, :4], ids, MASK)
    assert calls == [1, 1]  # queries and passages share one lower-layer pass, then joint
    with torch.inference_mode():  # scoring keeps the padded layers
        model(ids[:, :4], MASK[:, :4], ids, MASK)
    assert calls == [1, 1]
    monkeypatch.setattr(ranker, "packable", lambda layers: False)
    padded = model(ids[:, :4], MASK[:, :4], ids, MASK)
    torch.testing.assert_close(packed, padded, atol=1e-5, rtol=1e-5)


def test_segments_encoded_in_one_pass_equal_separate_passes():
    model = ranker.SegmentCosineRanker(_encoder(BertModel, BertConfig), HeadSpec())
    ids = torch.randint(5, 100, (3, 7))
    queries, passages = (ids[:2, :4], MASK[:2, :4]), (ids, MASK)
    together = model.encode_segments(queries, passages)  # with gradients: packed, one pass
    apart = [model.encode_segment(*queries), model.encode_segment(*passages)]
    for one, other, (_, mask) in zip(together, apart, (queries, passages), strict=True):
        assert one.shape == other.shape
        real = mask.bool()
        torch.testing.assert_close(one[real], other[real], atol=1e-5, rtol=1e-5)
