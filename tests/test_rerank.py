"""Batched cross-encoder scoring: exactness against a plain forward pass, options, re-ranking."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import make_tiny_cross_encoder, word_tokenizer  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from csir.errors import ConfigError, CsirError  # noqa: E402
from csir.rerank import Reranker, ScoringOptions, rerank  # noqa: E402

WORDS = [f"w{i}" for i in range(120)]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT cross-encoder (one logit) with a word-level tokenizer."""
    return make_tiny_cross_encoder(
        tmp_path_factory.mktemp("tiny-ce"),
        tokenizer=word_tokenizer(WORDS),
        max_position_embeddings=128,
        initializer_range=0.2,  # spreads the random logits so rankings are not ties of noise
    )


def _pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [
        (
            " ".join(rng.choices(WORDS, k=rng.randint(1, 8))),
            " ".join(rng.choices(WORDS, k=rng.randint(1, 60))),
        )
        for _ in range(n)
    ]


def _plain_scores(folder: Path, pairs, max_length: int) -> np.ndarray:
    """One unpadded forward pass per pair, in input order: the reference."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    out = []
    with torch.no_grad():
        for q, p in pairs:
            enc = tok(q, p, truncation="longest_first", max_length=max_length, return_tensors="pt")
            out.append(model(**enc).logits[0, 0].item())
    return np.array(out, dtype=np.float32)


def test_scores_equal_plain_forward_in_input_order(tiny_model):
    pairs = _pairs(50)
    reranker = Reranker(tiny_model, ScoringOptions(batch_size=8, max_length=40, device="cpu"))
    got = reranker.score(pairs)
    assert got.dtype == np.float32 and got.shape == (50,)
    expected = _plain_scores(tiny_model, pairs, max_length=40)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert np.std(expected) > 0.05  # the comparison is not between constants
    # some pairs were truncated, so the max_length path is covered too
    assert max(len(q.split()) + len(p.split()) + 3 for q, p in pairs) > 40


def test_batch_size_does_not_change_scores(tiny_model):
    pairs = _pairs(37, seed=1)
    scores = [
        Reranker(tiny_model, ScoringOptions(batch_size=b, max_length=64, device="cpu")).score(pairs)
        for b in (1, 5, 64)
    ]
    np.testing.assert_allclose(scores[0], scores[1], rtol=0, atol=1e-5)
    np.testing.assert_allclose(scores[0], scores[2], rtol=0, atol=1e-5)


def test_empty_input_and_bad_pairs(tiny_model):
    reranker = Reranker(tiny_model, ScoringOptions(device="cpu"))
    assert reranker.score([]).shape == (0,)
    with pytest.raises(CsirError, match="pair 0"):
        reranker.score([("only one",)])


def test_rerank_returns_every_candidate_or_top_k(tiny_model):
    rng = random.Random(2)
    queries = {f"q{i}": " ".join(rng.choices(WORDS, k=4)) for i in range(4)}
    docs = {f"d{i}": " ".join(rng.choices(WORDS, k=rng.randint(3, 30))) for i in range(12)}
    candidates = {q: {d: rng.random() for d in rng.sample(sorted(docs), 7)} for q in queries}
    reranker = Reranker(tiny_model, ScoringOptions(batch_size=4, device="cpu"))
    out = rerank(reranker, queries, docs, candidates)
    assert {q: set(d) for q, d in out.items()} == {q: set(d) for q, d in candidates.items()}
    expected = reranker.score([(queries[q], docs[d]) for q in candidates for d in candidates[q]])
    got = [out[q][d] for q in candidates for d in candidates[q]]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)

    top = rerank(reranker, queries, docs, candidates, top_k=3)
    for q, cands in candidates.items():
        best = sorted(cands, key=lambda d: (-cands[d], d))[:3]
        assert set(top[q]) == set(best)
        assert all(top[q][d] == pytest.approx(out[q][d], abs=1e-6) for d in best)


def test_rerank_names_missing_texts(tiny_model):
    reranker = Reranker(tiny_model, ScoringOptions(device="cpu"))
    with pytest.raises(CsirError, match=r"1 candidate documents have no text.*'dx'"):
        rerank(reranker, {"q": "w1"}, {"d": "w2"}, {"q": {"d": 1.0, "dx": 0.5}})
    with pytest.raises(CsirError, match=r"1 candidate queries have no text.*'q9'"):
        rerank(reranker, {"q": "w1"}, {"d": "w2"}, {"q9": {"d": 1.0}})
    with pytest.raises(ConfigError, match="top_k"):
        rerank(reranker, {"q": "w1"}, {"d": "w2"}, {"q": {"d": 1.0}}, top_k=-1)


def test_int8_runs_and_keeps_the_ranking(tiny_model):
    pairs = _pairs(80, seed=3)
    fp32 = Reranker(tiny_model, ScoringOptions(device="cpu")).score(pairs)
    int8_reranker = Reranker(tiny_model, ScoringOptions(device="cpu", int8=True))
    assert any("quantized" in type(m).__module__ for m in int8_reranker.model.modules())
    int8 = int8_reranker.score(pairs)
    assert not np.array_equal(int8, fp32)  # the quantised path really ran
    assert spearmanr(fp32, int8).statistic > 0.9


def test_bf16_on_cpu_is_close(tiny_model):
    pairs = _pairs(40, seed=4)
    fp32 = Reranker(tiny_model, ScoringOptions(device="cpu")).score(pairs)
    bf16 = Reranker(tiny_model, ScoringOptions(device="cpu", precision="bf16")).score(pairs)
    assert bf16.dtype == np.float32
    assert spearmanr(fp32, bf16).statistic > 0.9


def test_num_layers_truncates(tiny_model):
    reranker = Reranker(tiny_model, ScoringOptions(device="cpu", num_layers=1))
    assert reranker.model.config.num_hidden_layers == 1
    assert len(reranker.model.bert.encoder.layer) == 1
    with pytest.raises(CsirError, match="num_layers=3"):
        Reranker(tiny_model, ScoringOptions(device="cpu", num_layers=3))


def test_folder_without_weights_errors(tiny_model, tmp_path):
    folder = tmp_path / "no-weights"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (folder / name).write_bytes((tiny_model / name).read_bytes())
    with pytest.raises(CsirError, match=f"{folder}.*has no weights"):
        Reranker(folder, ScoringOptions(device="cpu"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"max_length": 2}, "max_length"),
        ({"precision": "fp8"}, "precision"),
        ({"num_layers": -1}, "num_layers"),
        ({"device": "tpu"}, "device"),
        ({"threads": -2}, "threads"),
    ],
)
def test_options_are_validated(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ScoringOptions(**kwargs)


def test_device_specific_options_are_refused(tiny_model):
    with pytest.raises(ConfigError, match="'fp16' needs a CUDA"):
        Reranker(tiny_model, ScoringOptions(device="cpu", precision="fp16"))
    with pytest.raises(ConfigError, match="int8 works with fp32"):
        Reranker(tiny_model, ScoringOptions(device="cpu", precision="bf16", int8=True))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA"):
            Reranker(tiny_model, ScoringOptions(device="cuda"))
    else:
        with pytest.raises(ConfigError, match="CPU only"):
            Reranker(tiny_model, ScoringOptions(device="cuda", int8=True))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_autocast_matches_fp32(tiny_model):
    pairs = _pairs(64, seed=5)
    fp32 = Reranker(tiny_model, ScoringOptions(device="cpu")).score(pairs)
    gpu = Reranker(tiny_model, ScoringOptions(device="cuda")).score(pairs)
    assert spearmanr(fp32, gpu).statistic > 0.95


@pytest.mark.slow
def test_real_backbone_sorted_batches_match_plain_forward_and_int8_is_close():
    """multilingual-e5-small: sorted batches are exact; int8 keeps the encoder states close."""
    from csir import backbones

    rng = random.Random(0)
    questions = [
        "Wer gewann den Super Bowl 50?",
        "How many points did the defense allow?",
        "¿Dónde se jugó el partido?",
        "Какая команда победила?",
    ]
    words = ["The", "Broncos", "defeated", "the", "Panthers", "in", "Santa", "Clara", ","]
    words += ["Die", "Verteidigung", "hielt", "stand", "und", "gewann", "das", "Spiel", "."]
    words += ["El", "partido", "se", "jugó", "en", "el", "estadio", "de", "Levi's", "."]
    passages = [" ".join(rng.choices(words, k=rng.randint(5, 120))) for _ in range(6)]
    pairs = [(q, p) for q in questions for p in passages]
    torch.manual_seed(0)
    reranker = Reranker(
        backbones.OFFLINE_E5, ScoringOptions(batch_size=8, max_length=128, device="cpu")
    )
    got = reranker.score(pairs)
    tok = reranker.tokenizer
    expected = []
    with torch.inference_mode():
        for q, p in pairs:
            enc = tok(q, p, truncation="longest_first", max_length=128, return_tensors="pt")
            expected.append(reranker.model(**enc).logits[0, 0].item())
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    # int8: compare the encoder's [CLS] states, which do not depend on the random head
    int8 = Reranker(
        backbones.OFFLINE_E5, ScoringOptions(batch_size=8, max_length=128, device="cpu", int8=True)
    )
    assert not int8.model.classifier.__module__.startswith("torch.ao")  # head stays fp32
    enc = tok(
        [q for q, _ in pairs], [p for _, p in pairs], truncation="longest_first",
        max_length=128, padding=True, return_tensors="pt",
    )  # fmt: skip
    with torch.inference_mode():
        cls_fp32 = reranker.model.bert(**enc).last_hidden_state[:, 0]
        cls_int8 = int8.model.bert(**enc).last_hidden_state[:, 0]
    cosine = torch.nn.functional.cosine_similarity(cls_fp32, cls_int8)
    assert cosine.min() > 0.97, cosine
