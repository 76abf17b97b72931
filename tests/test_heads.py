"""Cross-encoder heads: segment-cosine model, cached scorer, save/load, vocabulary trimming."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_tiny_cross_encoder

from csir import backbones, ranker, vocab
from csir.errors import ConfigError, CsirError
from csir.heads import CLASSIFIER, SEGMENT_COSINE, HeadSpec, default_head, read_head_spec
from csir.rerank import Reranker, ScoringOptions

QUERIES = ["how are glacier caves formed?", "Wer hat die Glühbirne erfunden?", "capital of France"]
PASSAGES = [
    "A glacier cave is a cave formed within the ice of a glacier.",
    "Thomas Edison erfand die Glühbirne im Jahr 1879.",
    "Paris is the capital and most populous city of France.",
    "Berlin ist die Hauptstadt Deutschlands.",
]
PAIRS = [(q, p) for q in QUERIES for p in PASSAGES]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> Path:
    """A random 3-layer BERT (no head) with the offline e5 tokenizer: a tiny 'embedding model'."""
    folder = tmp_path_factory.mktemp("tiny-encoder") / "tiny-e5"
    return make_tiny_cross_encoder(folder, seed=3, head=False, num_hidden_layers=3)


def _segment(folder: Path, k: int) -> ranker.SegmentCosineRanker:
    return ranker.SegmentCosineRanker(backbones.load_encoder(str(folder)), HeadSpec(joint_layers=k))


def _full_forward(model, tokenizer, pairs) -> np.ndarray:
    spec = model.spec
    q = ranker.tokenize_segments(tokenizer, [a for a, _ in pairs], spec.query_prefix, 64)
    p = ranker.tokenize_segments(tokenizer, [b for _, b in pairs], spec.passage_prefix, 128)
    pad = tokenizer.pad_token_id
    with torch.inference_mode():
        return model(*ranker.pad_ids(q, pad), *ranker.pad_ids(p, pad)).numpy()


def test_head_spec_and_default_head():
    assert default_head("e5-small-offline") == SEGMENT_COSINE
    assert default_head("intfloat/multilingual-e5-base") == SEGMENT_COSINE
    assert default_head("xlm-roberta-base") == CLASSIFIER
    assert default_head("nreimers/mMiniLMv2-L6-H384-distilled-from-XLMR-Large") == CLASSIFIER
    with pytest.raises(ConfigError, match="head 'pooler' must be one of"):
        HeadSpec(kind="pooler")
    with pytest.raises(ConfigError, match="joint_layers must be >= 0"):
        HeadSpec(joint_layers=-1)


def test_zero_joint_layers_is_the_bi_encoder(tiny_encoder):
    tokenizer = backbones.load_tokenizer(str(tiny_encoder))
    encoder = backbones.load_encoder(str(tiny_encoder))
    q = backbones.encode(QUERIES, model=encoder, tokenizer=tokenizer, prefix="query: ")
    p = backbones.encode(PASSAGES, model=encoder, tokenizer=tokenizer, prefix="passage: ")
    cosine = (q @ p.T).reshape(-1).numpy()
    model = _segment(tiny_encoder, 0)
    scores = ranker.SegmentScorer(model, tokenizer, max_length=128).score(
        [a for a, _ in PAIRS], [b for _, b in PAIRS]
    )
    np.testing.assert_allclose((scores - model.bias.item()) / model.scale.item(), cosine, atol=1e-5)


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_cached_scoring_equals_the_full_forward(tiny_encoder, k):
    tokenizer = backbones.load_tokenizer(str(tiny_encoder))
    model = _segment(tiny_encoder, k).eval()
    pairs = PAIRS + PAIRS[:3]  # repeated pairs and texts are encoded once and reused
    cached = ranker.SegmentScorer(model, tokenizer, max_length=128, batch_size=5).score(
        [a for a, _ in pairs], [b for _, b in pairs]
    )
    np.testing.assert_allclose(cached, _full_forward(model, tokenizer, pairs), atol=1e-5)
    if k:  # joint layers make the score depend on the other segment, not only on the cosine
        assert not np.allclose(cached, _full_forward(_segment(tiny_encoder, 0), tokenizer, pairs))


def test_kept_encodings_score_as_fresh_ones_and_stay_bounded(tiny_encoder, monkeypatch):
    tokenizer = backbones.load_tokenizer(str(tiny_encoder))
    model = _segment(tiny_encoder, 0).eval()
    queries, passages = [a for a, _ in PAIRS], [b for _, b in PAIRS]
    fresh = ranker.SegmentScorer(model, tokenizer, max_length=128, batch_size=5)
    kept = ranker.SegmentScorer(model, tokenizer, max_length=128, batch_size=5, cache_size=5)
    encoded: list[int] = []
    original = ranker.SegmentScorer._encode

    def counting(self, texts, prefix, max_length):
        encoded.append(len(texts))
        return original(self, texts, prefix, max_length)

    monkeypatch.setattr(ranker.SegmentScorer, "_encode", counting)
    expected = fresh.score(queries, passages)
    encoded.clear()
    np.testing.assert_allclose(kept.score(queries, passages), expected, atol=1e-6)
    assert encoded == [3, 4] and len(kept._cache) == 5  # 7 texts, the 5 latest kept
    encoded.clear()
    # A later call (another language pair) encodes only what is not kept any more.
    # Texts go in sorted ("Wer ...", "capital ...", "how ...", then the passages): the two
    # oldest are gone, so the German query is encoded again and nothing else.
    np.testing.assert_allclose(kept.score(queries[4:8], passages[4:8]), expected[4:8], atol=1e-6)
    assert encoded == [1, 0]
    # Joint layers keep nothing (their states are large), and neither does a plain scorer.
    joint = ranker.SegmentScorer(_segment(tiny_encoder, 1), tokenizer, 128, cache_size=5)
    assert joint.cache_size == 0 and fresh.cache_size == 0


def test_rerankers_keep_encodings_only_for_fixed_weights(tmp_path, tiny_encoder):
    folder = tmp_path / "model"
    ranker.save_ranker(_segment(tiny_encoder, 0), folder)
    backbones.load_tokenizer(str(tiny_encoder)).save_pretrained(folder)
    options = ScoringOptions(device="cpu", cache_texts=7)
    assert Reranker(folder, options)._segments.cache_size == 7
    model, tokenizer = _segment(tiny_encoder, 0), backbones.load_tokenizer(str(tiny_encoder))
    assert Reranker.from_model(model, tokenizer, options)._segments.cache_size == 0
    assert Reranker.from_model(model, tokenizer, options, frozen=True)._segments.cache_size == 7
    with pytest.raises(ConfigError, match="cache_texts must be >= 0"):
        ScoringOptions(cache_texts=-1)


def test_joint_layers_cannot_exceed_the_encoder(tiny_encoder):
    with pytest.raises(ConfigError, match="exceeds the encoder's 3 layers"):
        _segment(tiny_encoder, 4)


def test_segment_model_saves_loads_and_scores_identically(tmp_path, tiny_encoder):
    from transformers import AutoModel

    tokenizer = backbones.load_tokenizer(str(tiny_encoder))
    model = _segment(tiny_encoder, 1)
    with torch.no_grad():
        model.scale.fill_(7.5)
        model.bias.fill_(-3.25)
    folder = tmp_path / "saved"
    ranker.save_ranker(model, folder)
    tokenizer.save_pretrained(folder)
    assert read_head_spec(folder) == model.spec
    before = Reranker.from_model(model, tokenizer, ScoringOptions(device="cpu")).score(PAIRS)
    after = Reranker(folder, ScoringOptions(device="cpu")).score(PAIRS)
    np.testing.assert_array_equal(before, after)
    # The encoder is a standard BertModel folder: transformers loads it without csir.
    encoder = AutoModel.from_pretrained(folder)
    a, b = encoder.state_dict(), model.encoder.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in b)


def test_an_encoder_saved_without_pooler_loads_without_one(tmp_path, tiny_encoder, caplog):
    """No random, unused pooler and no 'pooler MISSING' report when a saved encoder has none."""
    from transformers import BertModel

    with_pooler = backbones.load_encoder(str(tiny_encoder))
    assert with_pooler.pooler is not None  # its weights are in the folder: kept
    bare = BertModel(with_pooler.config, add_pooling_layer=False)
    bare.load_state_dict({k: v for k, v in with_pooler.state_dict().items() if "pooler" not in k})
    model = ranker.SegmentCosineRanker(bare, HeadSpec(joint_layers=0))
    ranker.save_ranker(model, tmp_path / "bare")
    backbones.load_tokenizer(str(tiny_encoder)).save_pretrained(tmp_path / "bare")
    with caplog.at_level("WARNING"):
        loaded = ranker.load_ranker(tmp_path / "bare")
    assert loaded.encoder.pooler is None and "MISSING" not in caplog.text
    tokenizer = backbones.load_tokenizer(str(tiny_encoder))
    before = Reranker.from_model(model, tokenizer, ScoringOptions(device="cpu")).score(PAIRS)
    after = Reranker(tmp_path / "bare", ScoringOptions(device="cpu")).score(PAIRS)
    np.testing.assert_array_equal(before, after)


def test_classifier_saves_loads_and_scores_identically(tmp_path, tiny_cross_encoder):
    model = ranker.load_ranker(tiny_cross_encoder)
    tokenizer = backbones.load_tokenizer(str(tiny_cross_encoder))
    folder = tmp_path / "classifier"
    ranker.save_ranker(model, folder)
    tokenizer.save_pretrained(folder)
    assert read_head_spec(folder).kind == CLASSIFIER
    before = Reranker(tiny_cross_encoder, ScoringOptions(device="cpu")).score(PAIRS)
    after = Reranker(folder, ScoringOptions(device="cpu")).score(PAIRS)
    np.testing.assert_array_equal(before, after)


def test_corrupt_head_file_names_the_file(tmp_path):
    (tmp_path / "csir_head.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CsirError, match="csir_head.json: unreadable head description"):
        read_head_spec(tmp_path)


def test_bf16_scoring_on_cpu_stays_close_to_fp32(tiny_encoder):
    tokenizer = backbones.load_tokenizer(str(tiny_encoder))
    model = _segment(tiny_encoder, 1)
    fp32 = Reranker.from_model(model, tokenizer, ScoringOptions(device="cpu")).score(PAIRS)
    options = ScoringOptions(device="cpu", precision="bf16")
    bf16 = Reranker.from_model(model, tokenizer, options).score(PAIRS)
    assert bf16.dtype == np.float32
    np.testing.assert_allclose(bf16, fp32, atol=0.5)  # scale 20: cosines within .025
    assert not np.array_equal(bf16, fp32)  # bf16 really ran


# --------------------------------------------------------------------------- vocabulary trimming


@pytest.mark.parametrize("head", [CLASSIFIER, SEGMENT_COSINE])
def test_trimmed_vocabulary_scores_equal_the_full_model(tiny_encoder, tiny_cross_encoder, head):
    folder = tiny_cross_encoder if head == CLASSIFIER else tiny_encoder
    tokenizer = backbones.load_tokenizer(str(folder))
    model = ranker.load_ranker(folder) if head == CLASSIFIER else _segment(folder, 1)
    options = ScoringOptions(device="cpu", batch_size=4)
    full = Reranker.from_model(model, tokenizer, options).score(PAIRS)
    texts = ["query: " + q for q in QUERIES] + ["passage: " + p for p in PASSAGES]
    pair_ids = tokenizer(QUERIES, PASSAGES[:3])["input_ids"]
    ids = [np.concatenate(tokenizer(texts)["input_ids"] + pair_ids)]
    ids.append(np.concatenate(tokenizer(QUERIES * 4, PASSAGES * 3)["input_ids"]))
    original = vocab.trim_word_embeddings(model, vocab.kept_token_ids(ids, tokenizer))
    assert vocab.word_embeddings(model).weight.shape[0] < 200  # of e5's 250,037 rows
    trimmed = Reranker.from_model(model, tokenizer, options).score(PAIRS)
    np.testing.assert_array_equal(trimmed, full)
    with pytest.raises(CsirError, match="outside the trimmed vocabulary"):
        Reranker.from_model(model, tokenizer, options).score([("zebra xylophone", "quartz")])
    vocab.restore_word_embeddings(model, original)
    assert vocab.word_embeddings(model) is original
    np.testing.assert_array_equal(Reranker.from_model(model, tokenizer, options).score(PAIRS), full)


# --------------------------------------------------------------------------- real backbone


@pytest.mark.slow
def test_real_e5_segment_head_with_no_joint_layer_is_the_e5_bi_encoder():
    tokenizer = backbones.load_tokenizer(backbones.OFFLINE_E5)
    encoder = backbones.load_encoder(backbones.OFFLINE_E5)
    q = backbones.encode(QUERIES, model=encoder, tokenizer=tokenizer, prefix="query: ")
    p = backbones.encode(PASSAGES, model=encoder, tokenizer=tokenizer, prefix="passage: ")
    model = ranker.SegmentCosineRanker(encoder, HeadSpec(joint_layers=0))
    scores = Reranker.from_model(model, tokenizer, ScoringOptions(device="cpu")).score(PAIRS)
    cosine = (q @ p.T).reshape(-1).numpy()
    np.testing.assert_allclose((scores - model.bias.item()) / model.scale.item(), cosine, atol=1e-5)
    # e5 ranks the right passage first for the three queries (German and English).
    assert (cosine.reshape(3, 4).argmax(axis=1) == [0, 1, 2]).all()


@pytest.mark.parametrize("k", [0, 2])
def test_training_attention_kernel_gives_the_same_logits_and_gradients(tiny_encoder, k):
    """The CPU training kernel (math) is a speed choice only: same forward and backward."""
    tokenizer = backbones.load_tokenizer(str(tiny_encoder))
    model = _segment(tiny_encoder, k)
    ranker.set_dropout(model, 0.0)
    model.train()
    q = ranker.pad_ids(ranker.tokenize_segments(tokenizer, QUERIES, "query: ", 64), 0)
    p = ranker.pad_ids(ranker.tokenize_segments(tokenizer, PASSAGES[:3], "passage: ", 128), 0)
    results = []
    for context in (ranker.training_attention(torch.device("cpu")), torch.enable_grad()):
        model.zero_grad()
        with context:
            logits = model(*q, *p)
            logits.sum().backward()
        grad = model.encoder.encoder.layer[0].attention.self.query.weight.grad.clone()
        results.append((logits.detach(), grad))
    torch.testing.assert_close(results[0][0], results[1][0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(results[0][1], results[1][1], atol=1e-5, rtol=1e-4)
    assert isinstance(ranker.training_attention(torch.device("cuda")), contextlib.nullcontext)
