"""Bitext mining: margin scoring against a brute-force reference, F1 and thresholds by hand, the
BUCC reader, the XQuAD-R task builder, notebook 07's config, and the real backbone."""

from __future__ import annotations

import math

import numpy as np
import pytest

from csir import mining
from csir.config import MiningConfig
from csir.data import bitext
from csir.errors import ConfigError, InputError


def brute_force(src: np.ndarray, tgt: np.ndarray, scoring: str, k: int) -> np.ndarray:
    """The full score matrix, written out loop by loop from the paper's formula (float64)."""
    s = src / np.linalg.norm(src, axis=1, keepdims=True)
    t = tgt / np.linalg.norm(tgt, axis=1, keepdims=True)
    cos = s @ t.T
    if scoring == "cosine":
        return cos
    out = np.empty_like(cos)
    for i in range(len(s)):
        r_t = np.sort(cos[i])[::-1][: min(k, len(t))].mean()
        for j in range(len(t)):
            r_s = np.sort(cos[:, j])[::-1][: min(k, len(s))].mean()
            out[i, j] = cos[i, j] / (r_t / 2 + r_s / 2)
    return out


@pytest.fixture
def vectors() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    src = rng.normal(size=(23, 6))
    tgt = np.vstack([src[:12] + 0.5 * rng.normal(size=(12, 6)), rng.normal(size=(17, 6))])
    # a shared direction, as sentence embeddings have: neighbourhood means stay well above 0
    return src + 1.0, tgt + 1.0


@pytest.mark.parametrize("scoring", mining.SCORINGS)
@pytest.mark.parametrize("chunk_size", [1, 5, None])
@pytest.mark.parametrize("k", [1, 4, 40])
def test_chunked_scores_equal_the_brute_force_reference(vectors, scoring, chunk_size, k):
    src, tgt = vectors
    reference = brute_force(src, tgt, scoring, k)
    got = mining.mine(src, tgt, scoring, k=k, top=3, chunk_size=chunk_size)
    expected = np.argsort(-reference, axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(got.indices, expected)
    np.testing.assert_allclose(
        got.scores, np.take_along_axis(reference, expected, axis=1), rtol=1e-5, atol=1e-6
    )


def test_margin_changes_the_choice_of_a_hub():
    # target 0 is close to every source (a hub); the margin prefers source 1's own translation
    src = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0]])
    tgt = np.array([[0.8, 0.6, 0.0], [0.55, 0.75, 0.37], [1.0, 0.0, 0.05]])
    assert mining.mine(src, tgt, "cosine").best.tolist() == [2, 0]
    margin = mining.mine(src, tgt, "margin", k=2).best.tolist()
    assert margin == brute_force(src, tgt, "margin", 2).argmax(axis=1).tolist()
    assert margin[1] == 1


def test_unknown_scoring_and_bad_k_are_refused(vectors):
    with pytest.raises(ValueError, match="scoring 'csls'"):
        mining.mine(*vectors, "csls")
    with pytest.raises(ValueError, match="k and top must be >= 1"):
        mining.mine(*vectors, k=0)


def test_f1_of_a_hand_made_case():
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    hits = np.array([True, False, True, False])
    at = mining.prf_at(scores, hits, n_gold=3, threshold=0.7)
    assert (at.n_mined, at.n_correct) == (3, 2)
    assert at.precision == pytest.approx(2 / 3) and at.recall == pytest.approx(2 / 3)
    assert at.f1 == pytest.approx(2 / 3)
    # cuts: 1 -> F1 .5, 2 -> .4, 3 -> .667, 4 -> .571
    best = mining.best_threshold(scores, hits, n_gold=3)
    assert best.threshold == pytest.approx(0.7) and best.f1 == pytest.approx(2 / 3)
    assert mining.prf_at(scores, hits, 3, threshold=1.0).f1 == 0.0


def test_threshold_never_splits_equal_scores():
    # cutting between the two 0.9s would give F1 1.0, but a threshold keeps both
    best = mining.best_threshold(np.array([0.9, 0.9, 0.1]), np.array([True, False, False]), 1)
    assert best.threshold == pytest.approx(0.9) and best.n_mined == 2
    assert best.f1 == pytest.approx(2 / 3)


def test_threshold_without_a_correct_candidate_mines_nothing():
    best = mining.best_threshold(np.array([0.5, 0.4]), np.array([False, False]), 2)
    assert best.threshold == math.inf and best.f1 == 0.0 and best.n_mined == 0


def test_accuracy_counts_only_sources_with_a_translation():
    best = np.array([0, 5, 2, 1])
    gold = {(0, 0), (1, 1), (2, 2)}  # source 3 has none
    assert mining.accuracy(best, gold) == pytest.approx(2 / 3)
    assert math.isnan(mining.accuracy(best, set()))
    assert mining.correct(best, gold).tolist() == [True, False, True, False]


@pytest.mark.parametrize("seed", range(5))
def test_per_source_measures_equal_the_split_measures(seed):
    rng = np.random.default_rng(seed)
    n = 40
    best, scores = rng.integers(0, 30, n), rng.random(n)
    gold = {
        (int(s), int(t))
        for s, t in zip(rng.integers(0, n, 25), rng.integers(0, 30, 25), strict=True)
    }
    gold |= {(int(s), int(best[s])) for s in rng.integers(0, n, 10)}  # some sources hit
    threshold = float(np.quantile(scores, 0.4))
    outcomes = mining.source_outcomes(best, scores, gold, threshold)
    hits = mining.correct(best, gold)
    assert outcomes.n_gold.sum() == len(gold) and outcomes.n_gold.max() >= 1
    assert mining.source_measure("accuracy", **vars(outcomes)) == pytest.approx(
        mining.accuracy(best, gold)
    )
    assert mining.source_measure("f1", **vars(outcomes)) == pytest.approx(
        mining.prf_at(scores, hits, len(gold), threshold).f1
    )
    assert math.isnan(mining.source_measure("accuracy", [0, 0], [False, False], [True, True]))
    assert mining.source_measure("f1", [0, 0], [False, False], [False, False]) == 0.0
    with pytest.raises(ValueError, match="measure 'mrr'"):
        mining.source_measure("mrr", [1], [True], [True])


def test_dev_threshold_is_applied_to_the_test_split():
    # identical translations score 1.0; unrelated sources point at an orthogonal distractor
    eye = np.eye(6)
    src, tgt = eye[:4], np.vstack([eye[:2], 0.3 * eye[:1] + eye[4:5]])
    gold = {(0, 0), (1, 1)}
    result = mining.evaluate(src, tgt, gold, src, tgt, gold, "cosine", k=1)
    assert result.dev_f1 == 1.0 and result.f1 == 1.0 and result.accuracy == 1.0
    assert result.threshold == pytest.approx(1.0)
    assert (result.n_sources, result.n_targets, result.n_gold, result.n_mined) == (4, 3, 2, 2)
    assert result.outcomes.n_gold.tolist() == [1, 1, 0, 0]
    assert result.outcomes.correct.tolist() == [True, True, False, False]
    assert "outcomes" not in result.row()
    assert mining.gold_rows({("a", "y")}, ["b", "a"], ["x", "y"]) == {(1, 1)}


# --------------------------------------------------------------------------- BUCC files


@pytest.fixture
def bucc_folder(tmp_path):
    folder = tmp_path / "de-en"
    folder.mkdir()
    (folder / "de-en.training.de").write_text(
        "de-000001\tDer Hund bellt.\nde-000002\tEs regnet heute.\nde-000003\tIch lese.\n",
        encoding="utf-8",
    )
    (folder / "de-en.training.en").write_text(
        "en-000001\tIt is raining today.\nen-000002\tThe dog barks.\n", encoding="utf-8"
    )
    (folder / "de-en.training.gold").write_text(
        "de-000001\ten-000002\nde-000002\ten-000001\n", encoding="utf-8"
    )
    return tmp_path


def test_bucc_split_loads_by_folder(bucc_folder):
    task = bitext.load_bucc(bucc_folder, "de", "en", "training")
    assert task.name == "bucc/sentence/de-en/training"
    assert list(task.src) == ["de-000001", "de-000002", "de-000003"]
    assert task.tgt["en-000002"] == "The dog barks."
    assert task.gold == {("de-000001", "en-000002"), ("de-000002", "en-000001")}
    # the flat layout (files directly in the folder) works too
    assert bitext.load_bucc(bucc_folder / "de-en", "de", "en", "training").gold == task.gold


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("de-en.training.de", "de-1\tA.\nde-2 no tab\n", r"\.de:2: no tab between id and sentence"),
        ("de-en.training.de", "de-1\tA.\nde-1\tB.\n", r"\.de:2: sentence id 'de-1' appears again"),
        ("de-en.training.de", "de 1\tA.\n", r"\.de:1: bad sentence id 'de 1'"),
        ("de-en.training.de", "de-1\t  \n", r"\.de:1: sentence 'de-1' is empty"),
        ("de-en.training.de", "\n", r"\.de: no sentences"),
        ("de-en.training.gold", "de-1\ten-1\nde-1 en-1\n", r"\.gold:2: expected <src_id>"),
        ("de-en.training.gold", "de-9\ten-1\n", r"\.gold:1: source id 'de-9' is not in the"),
        ("de-en.training.gold", "de-1\ten-9\n", r"\.gold:1: target id 'en-9' is not in the"),
        ("de-en.training.gold", "de-1\ten-1\nde-1\ten-1\n", r"\.gold:2: pair .* appears again"),
    ],
)
def test_bad_bucc_files_name_the_file_and_line(tmp_path, name, text, message):
    files = {
        "de-en.training.de": "de-1\tA.\n",
        "de-en.training.en": "en-1\tA.\n",
        "de-en.training.gold": "de-1\ten-1\n",
        name: text,
    }
    for file, content in files.items():
        (tmp_path / file).write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        bitext.load_bucc(tmp_path, "de", "en", "training")


def test_a_missing_bucc_file_is_named(bucc_folder):
    with pytest.raises(InputError, match=r"de-en\.test\.de: BUCC file not found"):
        bitext.load_bucc(bucc_folder, "de", "en", "test")
    (bucc_folder / "de-en" / "de-en.training.gold").unlink()
    with pytest.raises(InputError, match=r"de-en\.training\.gold: BUCC file not found"):
        bitext.load_bucc(bucc_folder, "de", "en", "training")


# --------------------------------------------------------------------------- XQuAD-R tasks


@pytest.fixture(scope="module")
def squad_folder(tmp_path_factory):
    """Six parallel articles in 'en' and 'de' (two paragraphs, two questions each)."""
    import json

    folder = tmp_path_factory.mktemp("squad")
    for lang, word in (("en", "Fact"), ("de", "Tatsache")):
        articles = []
        for a in range(6):
            paragraphs = []
            for p in range(2):
                context = f"{word} {a}.{p} one. {word} {a}.{p} two."
                qas = [
                    {"id": f"q{a}{p}{n}", "question": f"{word} {a}{p}{n}?",
                     "answers": [{"text": word, "answer_start": 0}]}
                    for n in range(2)
                ]  # fmt: skip
                paragraphs.append({"context": context, "qas": qas})
            articles.append({"title": f"A{a}", "paragraphs": paragraphs})
        (folder / f"{lang}.json").write_text(json.dumps({"data": articles}), encoding="utf-8")
    return folder


def test_xquad_r_tasks_mix_translations_with_other_articles(squad_folder):
    tasks = bitext.xquad_r_tasks("de", "en", folder=squad_folder, parallel_share=0.5, seed=1)
    assert set(tasks) == {"dev", "test"}
    articles = {}
    for split, task in tasks.items():
        assert task.name == f"{squad_folder.name}/question/de-en/{split}"
        articles[split] = {q[1] for q in task.src}  # question ids are q<article><p><n>
        assert len(task.src) == 12 and len(task.gold) == 6
        for src_id, tgt_id in task.gold:
            assert src_id == tgt_id and task.tgt[tgt_id].startswith("Fact")
        distractors = [t for t in task.tgt if t.startswith("x:")]
        assert len(distractors) == 12 == task.stats["distractors"]  # distractors = 1.0
        for item in distractors:
            # questions 'x:q<a>..' and sentences 'x:<a>-<p>-<s>' of the other split's articles
            article = item[3] if item.startswith("x:q") else item[2:].split("-")[0]
            assert article not in articles[split]
    assert not articles["dev"] & articles["test"]
    again = bitext.xquad_r_tasks("de", "en", folder=squad_folder, parallel_share=0.5, seed=1)
    assert again["test"] == tasks["test"]
    other = bitext.xquad_r_tasks("de", "en", folder=squad_folder, parallel_share=0.5, seed=2)
    assert (other["test"].src, other["test"].tgt) != (tasks["test"].src, tasks["test"].tgt)


def test_paragraph_tasks_and_size_limits(squad_folder):
    tasks = bitext.xquad_r_tasks(
        "en", "de", unit="paragraph", folder=squad_folder, max_sources=4, distractors=0.5
    )
    test = tasks["test"]
    assert len(test.src) == 4 and len(test.gold) == 2 and test.stats["distractors"] == 2
    assert all("-" in item for item in test.src)  # paragraph ids
    assert all(text.startswith("Tatsache") for text in test.tgt.values())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"src_lang": "de", "tgt_lang": "de"}, "needs two languages"),
        ({"unit": "sentence"}, "unit 'sentence' must be one of"),
        ({"dev_share": 1.0}, "0 < dev_share < 1"),
        ({"dev_share": 0.01}, "cannot make a dev and a test split"),
    ],
)
def test_bad_task_arguments_are_refused(squad_folder, kwargs, message):
    args = {"src_lang": "de", "tgt_lang": "en", **kwargs}
    with pytest.raises(ConfigError, match=message):
        bitext.xquad_r_tasks(folder=squad_folder, **args)


def test_the_real_xquad_r_question_task_is_comparable():
    pytest.importorskip("csir.data.retrieval")
    try:
        tasks = bitext.xquad_r_tasks("de", "en", seed=0)
    except Exception as err:  # no mirror and no internet
        pytest.skip(f"XQuAD-R not available: {err}")
    sources = sum(len(t.src) for t in tasks.values())
    assert sources == 1190  # every question, once
    for task in tasks.values():
        assert len(task.gold) == round(0.5 * len(task.src))
        assert len(task.tgt) == len(task.gold) + task.stats["distractors"]


# --------------------------------------------------------------------------- config


def test_mining_config_smoke_only_shrinks_sizes():
    cfg = MiningConfig.from_params({"smoke": True, "pairs": ["de-en", "ar-en", "zh-en"]})
    assert cfg.pairs == ("de-en", "ar-en") and cfg.max_sources == MiningConfig.SMOKE_MAX_SOURCES
    assert cfg.k == 4 and cfg.scorings == ("margin", "cosine") and cfg.dpi == 100
    full = MiningConfig.from_params({"smoke": False, "max_sources": 5})
    assert full.max_sources == 5 and full.dpi == 300 and len(full.pairs) == 7


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pairs": ["de-de"]}, "needs two different languages"),
        ({"pairs": ["de-en", "de-en"]}, "repeat"),
        ({"k": 0}, "k .* must be >= 1"),
        ({"scorings": ["csls"]}, "scorings must be among"),
        ({"bucc_pairs": ["de-en"]}, "bucc_pairs need bucc_dir"),
        ({"unit": "sentence"}, "unit 'sentence'"),
        ({"pairs": [], "bucc_pairs": []}, "both empty"),
        ({"parallel_share": 0.0}, "parallel_share"),
        ({"correction": "fdr"}, "correction 'fdr'"),
        ({"alpha": 1.0}, "alpha"),
        ({"n_resamples": 10}, "n_resamples"),
        ({"colour": "red"}, "unknown parameter"),
    ],
)
def test_mining_config_refuses_bad_values(params, message):
    with pytest.raises(ConfigError, match=message):
        MiningConfig.from_params({"smoke": False, **params})


# --------------------------------------------------------------------------- real backbone


@pytest.mark.slow
def test_the_offline_backbone_mines_translations_with_both_scorings():
    from csir import backbones

    de = ["Der Hund bellt laut.", "Wann wurde die Universität gegründet?", "Ich trinke Kaffee."]
    en = [
        "When was the university founded?",
        "The weather is cold in winter.",
        "The dog barks loudly.",
        "Paris is the capital of France.",
        "I drink coffee.",
    ]
    model = backbones.load_encoder(backbones.OFFLINE_E5)
    tokenizer = backbones.load_tokenizer(backbones.OFFLINE_E5)
    src = backbones.encode(de, model=model, tokenizer=tokenizer, prefix="query: ")
    tgt = backbones.encode(en, model=model, tokenizer=tokenizer, prefix="query: ")
    for scoring in mining.SCORINGS:
        assert mining.mine(src, tgt, scoring, k=2).best.tolist() == [2, 0, 4], scoring


# --------------------------------------------------------------------------- notebook 07's engine


def test_engine_refuses_no_encoder_and_two_encoders_of_one_name(squad_folder, tmp_path):
    from conftest import make_tiny_cross_encoder

    from csir.alignment import BitextMining

    params = {"smoke": False, "dataset_dir": str(squad_folder), "pairs": ["de-en"],
              "backbone": "", "training_dir": str(tmp_path / "nothing")}  # fmt: skip
    with pytest.raises(ConfigError, match="no encoder to mine with: backbone is empty"):
        BitextMining(MiningConfig.from_params(params))
    folders = [tmp_path / "a" / "seed=1", tmp_path / "b" / "seed=1"]  # no record, no layout
    for seed, folder in enumerate(folders):
        make_tiny_cross_encoder(folder, seed, head=False)
    params["model_dirs"] = [str(f) for f in folders]
    with pytest.raises(ConfigError, match="two encoders share the name 'seed=1'"):
        BitextMining(MiningConfig.from_params(params))


@pytest.mark.slow
def test_engine_mines_with_trained_encoders_of_both_heads(squad_folder, tmp_path):
    """Tiny models named as notebook 03 names them: a classifier and a segment-cosine model
    (two seeds); every output file is written, seeds pooled in the summary."""
    import dataclasses

    import pandas as pd
    from conftest import make_tiny_cross_encoder

    from csir import ranker
    from csir.alignment import BitextMining, encoder_label
    from csir.heads import HeadSpec

    root = tmp_path / "models"
    make_tiny_cross_encoder(root / "tiny/zero-shot/en-en/p=0.0/seed=1")
    for seed in (1, 2):
        folder = root / f"tiny/bl-cs/en-de/p=0.5/seed={seed}"
        make_tiny_cross_encoder(folder, seed, head=False)
        encoder = ranker.backbones.load_encoder(str(folder))
        ranker.save_ranker(ranker.SegmentCosineRanker(encoder, HeadSpec(joint_layers=0)), folder)
    cfg = MiningConfig.from_params(
        {"smoke": False, "dataset_dir": str(squad_folder), "pairs": ["de-en", "en-de"],
         "backbone": "", "training_dir": str(root.parent), "output_dir": str(tmp_path / "out"),
         "formats": ["png"], "dpi": 50}
    )  # fmt: skip
    run = BitextMining(cfg)
    assert [s.system for s in run.encoders] == [
        "tiny/bl-cs/en-de/p=0.5/seed=1",
        "tiny/bl-cs/en-de/p=0.5/seed=2",
        "tiny/zero-shot/en-en/p=0.0/seed=1",
    ]
    rows = run.run_all()
    assert len(rows) == 3 * 2 * 2  # encoders x pairs x scorings
    assert set(rows["label"]) == {"Zero-shot", "BL-CS en-de p=0.5"}
    assert rows[["accuracy", "f1"]].apply(lambda c: c.between(0, 1)).all().all()
    bl = run.summary[run.summary["label"] == "BL-CS en-de p=0.5"]
    assert set(bl["n_seeds"]) == {2}
    assert list(run.table("margin").index) == ["Zero-shot", "BL-CS en-de p=0.5"]
    assert "\\begin{tabular}" in run.write_latex().read_text()
    run.draw()
    run.write_parameters()
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"mining.csv", "mining_summary.csv", "fig_mining.png", "fig_mining.csv"} <= written
    assert {"table_mining.tex", "parameters.json", "mining_sources.parquet"} <= written
    # per-source outcomes add up to the reported measures, per encoder, pair and scoring
    for (encoder, pair, scoring), part in run.sources.groupby(["encoder", "pair", "scoring"]):
        row = rows[(rows["encoder"] == encoder) & (rows["pair"] == pair)]
        row = row[row["scoring"] == scoring].iloc[0]
        for measure in ("accuracy", "f1"):
            value = mining.source_measure(measure, part["n_gold"], part["correct"], part["mined"])
            assert value == pytest.approx(row[measure])
    table = run.significance()
    assert set(zip(table["label"], table["baseline_label"], strict=True)) == {
        ("BL-CS en-de p=0.5", "Zero-shot")
    }  # no backbone encoder here: code-switching against zero-shot only
    assert len(table) == 2 * 2 * 2 and set(table["n_seeds"]) == {2}  # pairs x scorings x measures
    assert (tmp_path / "out" / "mining_significance.csv").is_file()
    assert run.significance_table("margin").shape == (1, 4)
    assert "paired bootstrap" in run.write_latex().read_text()
    run.significant = table.assign(significant=True)  # every difference marked
    marked = run.table("margin").loc["BL-CS en-de p=0.5"]
    assert (
        all(cell.endswith("‡") for cell in marked)
        and "$^\\ddagger$" in run.write_latex().read_text()
    )
    assert encoder_label("bi-encoder/e5-small-offline") == "Backbone (untrained)"
    # a rerun reuses every encoder's rows; changed settings mine again
    again = BitextMining(cfg)
    again.mine_encoder = None  # would fail if called
    pd.testing.assert_frame_equal(again.run_all(), rows, check_dtype=False)
    pd.testing.assert_frame_equal(again.sources, run.sources, check_dtype=False)
    changed = BitextMining(dataclasses.replace(cfg, k=2))
    assert set(changed.run_all()["k"]) == {2}
