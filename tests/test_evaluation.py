"""Notebook 04's engine: systems, run files per pair, resume, metrics.csv, Translate-Test."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_tiny_cross_encoder

from csir.config import EvaluationConfig
from csir.data.retrieval import ir_dataset_id
from csir.errors import ConfigError, CsirError
from csir.evaluate import METRIC_COLUMNS, Evaluation
from csir.systems import discover_models, plan_systems

# Three parallel paragraphs in three languages; question ids are parallel, one is missing in ar.
_TEXTS = {
    "en": [
        ("The cat sleeps on the red sofa all day.", "Where does the cat sleep?", "q1"),
        (
            "Berlin is the capital of Germany and a big city.",
            "What is the capital of Germany?",
            "q2",
        ),
        ("Rain falls often in the autumn in London.", "When does rain fall in London?", "q3"),
    ],
    "de": [
        ("Die Katze schläft den ganzen Tag auf dem roten Sofa.", "Wo schläft die Katze?", "q1"),
        (
            "Berlin ist die Hauptstadt von Deutschland.",
            "Was ist die Hauptstadt von Deutschland?",
            "q2",
        ),
        ("Regen fällt oft im Herbst in London.", "Wann fällt Regen in London?", "q3"),
    ],
    "ar": [
        ("القطة تنام على الأريكة الحمراء طوال اليوم.", "أين تنام القطة؟", "q1"),
        ("برلين هي عاصمة ألمانيا.", "ما هي عاصمة ألمانيا؟", "q2"),
        ("يسقط المطر في الخريف في لندن.", "", None),
    ],
}


def _squad(lang: str) -> dict:
    paragraphs = []
    for context, question, qid in _TEXTS[lang]:
        qas = (
            []
            if qid is None
            else [
                {
                    "id": qid,
                    "question": question,
                    "answers": [{"answer_start": 0, "text": context[:3]}],
                }
            ]
        )
        paragraphs.append({"context": context, "qas": qas})
    return {"version": "test", "data": [{"title": "t", "paragraphs": paragraphs}]}


@pytest.fixture
def setup(tmp_path: Path, tiny_cross_encoder: Path, isolated_build: Path) -> dict:
    data = tmp_path / "squad"
    data.mkdir()
    for lang in _TEXTS:
        (data / f"{lang}.json").write_text(json.dumps(_squad(lang)), encoding="utf-8")
    models = tmp_path / "models"
    shutil.copytree(tiny_cross_encoder, models / "tiny/zero-shot/en-en/p=0.0/seed=1")
    make_tiny_cross_encoder(models / "tiny/bl-cs/en-de/p=0.5/seed=1", seed=1)
    lexicons = tmp_path / "lexicons" / "muse"
    lexicons.mkdir(parents=True)
    (lexicons / "de-en.tsv").write_text("katze\tcat\nsofa\tsofa\nregen\train\n", encoding="utf-8")
    (lexicons / "ar-en.tsv").write_text("القطة\tcat\n", encoding="utf-8")
    return {
        "dataset_dir": str(data),
        "dataset": "toy",
        "training_dir": str(tmp_path),  # models/ below it
        "lexicon_induction_dir": str(tmp_path),  # lexicons/ below it
        "output_dir": str(tmp_path / "out"),
        "pairs": ["en-en", "en-de", "de-ar", "xx-xx"],
        "mlir_languages": ["en", "de", "ar"],
        "top_k": 3,
        "max_length": 64,
        "device": "cpu",
        "smoke": False,
    }


def test_mlir_scores_are_averaged_over_language_draws(setup: dict):
    from csir import metrics as metrics_lib
    from csir import runs as runs_lib

    cfg = EvaluationConfig.from_params({**setup, "pairs": ["xx-xx"], "translate_test": False})
    ev = Evaluation(cfg)
    table = ev.run_all(progress=False)
    system = "tiny/bl-cs/en-de/p=0.5/seed=1"
    draws = []
    for seed in cfg.mlir_seeds:
        pair = ev.pair("xx-xx", seed)
        assert pair.seed == seed
        run = runs_lib.read_run(ev.run_path(system, "xx-xx", seed))
        draws.append(
            metrics_lib.per_query(run, pair.qrels, ["RR@10"], missing="zero").set_index("query_id")[
                "value"
            ]
        )
    # The draws put queries and documents into other languages ...
    langs = [ev.pair("xx-xx", seed).doc_langs for seed in cfg.mlir_seeds]
    assert langs[0] != langs[1] or langs[1] != langs[2]
    # ... and each query's score is its mean over them (a query absent from a draw: the others).
    expected = pd.concat(draws, axis=1).mean(axis=1)
    per_query = pd.read_parquet(Path(setup["output_dir"]) / "per_query.parquet")
    got = per_query[(per_query["model"] == system) & (per_query["measure"] == "RR@10")]
    assert got.set_index("query_id")["value"].sort_index().tolist() == pytest.approx(
        expected.sort_index().tolist()
    )
    row = table[(table["model"] == system) & (table["measure"] == "RR@10")].iloc[0]
    assert row["value"] == pytest.approx(expected.mean())
    assert row["n_queries"] == len(expected)
    assert len(pd.read_csv(Path(setup["output_dir"]) / "pairs.csv")) == 3  # a row per draw


def test_systems_are_first_stage_models_and_translate_test(tmp_path: Path, tiny_cross_encoder):
    root = tmp_path / "models"
    dirs = [root / "e5/zero-shot/en-en/p=0.0/seed=1", root / "e5/ml-cs/ml/p=0.5/seed=1"]
    for folder in dirs:
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"")
    assert discover_models(root) == sorted(dirs)
    systems = plan_systems(discover_models(root), root, candidates="bm25")
    assert [(s.kind, s.name) for s in systems] == [
        ("first-stage", "first-stage/bm25"),
        ("reranker", "e5/ml-cs/ml/p=0.5/seed=1"),
        ("reranker", "e5/zero-shot/en-en/p=0.0/seed=1"),
        ("translate-test", "e5/translate-test/en-en/p=0.0/seed=1"),
    ]
    assert [s.kind for s in plan_systems(dirs, root, candidates="exhaustive")][0] == "reranker"
    with_bi = plan_systems(dirs, root, candidates="bm25", bi_encoder="e5-small-offline")
    assert (with_bi[1].kind, with_bi[1].name) == ("bi-encoder", "bi-encoder/e5-small-offline")


def test_evaluation_writes_runs_metrics_and_resumes(setup: dict):
    cfg = EvaluationConfig.from_params(setup)
    ev = Evaluation(cfg)
    metrics = ev.run_all(progress=False)
    out = Path(setup["output_dir"])

    assert list(pd.read_csv(out / "metrics.csv").columns) == list(METRIC_COLUMNS)
    names = {s.name for s in ev.systems}
    assert names == {
        "first-stage/bm25",
        "bi-encoder/e5-small-offline",
        "tiny/zero-shot/en-en/p=0.0/seed=1",
        "tiny/bl-cs/en-de/p=0.5/seed=1",
        "tiny/translate-test/en-en/p=0.0/seed=1",
    }
    assert set(metrics["model"]) == names
    assert set(metrics["measure"]) == {"RR@10", "nDCG@10", "R@100"}
    assert ((metrics["value"] >= 0) & (metrics["value"] <= 1)).all()
    runs = sorted(p.relative_to(out).as_posix() for p in (out / "runs").rglob("*.trec"))
    # MLIR: one run per language draw (mlir_seeds, three by default).
    assert ev.units() == [("en-en", None), ("en-de", None), ("de-ar", None)] + [
        ("xx-xx", seed) for seed in (13, 14, 15)
    ]
    assert len(runs) == len(names) * (len(setup["pairs"]) + 2)
    assert "runs/toy/paragraph/tiny/bl-cs/en-de/p=0.5/seed=1/xx-xx.seed=14.trec" in runs
    # ar lacks q3, so de-ar evaluates the two questions both files hold.
    de_ar = metrics[(metrics["query_lang"] == "de") & (metrics["doc_lang"] == "ar")]
    assert set(de_ar["n_queries"]) == {2}
    per_query = pd.read_parquet(out / "per_query.parquet")
    assert {"query_id", "value", "model"} <= set(per_query.columns)
    assert len(per_query) == int(metrics["n_queries"].sum())

    # A killed evaluation resumes: only the missing run is recomputed, the rest is read back.
    victim = ev.run_path("tiny/bl-cs/en-de/p=0.5/seed=1", "en-de")
    victim.unlink()
    others = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*.trec")}
    again = Evaluation(cfg)
    assert again.missing() == [("tiny/bl-cs/en-de/p=0.5/seed=1", ("en-de", None))]
    metrics_again = again.run_all(progress=False)
    assert victim.is_file()
    assert all(p.stat().st_mtime_ns == t for p, t in others.items())
    pd.testing.assert_frame_equal(metrics.reset_index(drop=True), metrics_again)


def test_changed_run_settings_are_refused(setup: dict):
    Evaluation(EvaluationConfig.from_params({**setup, "translate_test": False})).run_all(
        progress=False
    )
    changed = EvaluationConfig.from_params({**setup, "top_k": 2, "translate_test": False})
    with pytest.raises(ConfigError, match="top_k"):
        Evaluation(changed).run_all(progress=False)


def test_translate_test_without_lexicon_names_the_file(setup: dict):
    (Path(setup["lexicon_induction_dir"]) / "lexicons" / "muse" / "ar-en.tsv").unlink()
    cfg = EvaluationConfig.from_params({**setup, "pairs": ["de-ar"]})
    with pytest.raises(CsirError, match="ar-en.tsv"):
        Evaluation(cfg).run_all(progress=False)


def test_translate_test_names_every_missing_lexicon_before_any_run(setup: dict):
    root = Path(setup["lexicon_induction_dir"]) / "lexicons" / "muse"
    (root / "ar-en.tsv").unlink()
    (root / "de-en.tsv").unlink()
    cfg = EvaluationConfig.from_params({**setup, "pairs": ["en-de", "de-ar"]})
    with pytest.raises(CsirError) as info:
        Evaluation(cfg).run_all(progress=False)
    message = str(info.value)
    assert str(root / "de-en.tsv") in message and str(root / "ar-en.tsv") in message
    assert "translate_test: false" in message
    assert not list(Path(setup["output_dir"]).rglob("*.trec"))  # before any run was made


def test_missing_language_file_is_one_clear_error(setup: dict):
    cfg = EvaluationConfig.from_params({**setup, "pairs": ["en-ru"], "translate_test": False})
    with pytest.raises(CsirError, match="ru"):
        Evaluation(cfg).run_all(progress=False)


def test_config_smoke_and_validation():
    cfg = EvaluationConfig.from_params({"smoke": True})
    assert cfg.pairs == ("en-en", "en-de", "de-de", "en-ar", "xx-xx")
    assert cfg.max_queries == EvaluationConfig.SMOKE_MAX_QUERIES
    assert cfg.top_k <= EvaluationConfig.SMOKE_TOP_K
    with pytest.raises(ConfigError, match="qq"):
        EvaluationConfig.from_params({"pairs": ["en-qq"], "smoke": False})
    with pytest.raises(ConfigError, match="candidates"):
        EvaluationConfig.from_params({"candidates": "splade", "smoke": False})
    with pytest.raises(ConfigError, match="unknown"):
        EvaluationConfig.from_params({"top_kk": 3})


def test_old_settings_without_a_new_key_are_accepted(setup: dict):
    params = {**setup, "translate_test": False, "pairs": ["en-de"]}
    ev = Evaluation(EvaluationConfig.from_params(params))
    ev.run_all(progress=False)
    path = ev.run_root / "settings.json"
    saved = json.loads(path.read_text(encoding="utf-8"))
    del saved["ir_datasets_id"]  # as written before the parameter existed
    path.write_text(json.dumps(saved), encoding="utf-8")
    Evaluation(EvaluationConfig.from_params(params)).run_all(progress=False)
    other = EvaluationConfig.from_params({**params, "ir_datasets_id": "toy/{lang}"})
    with pytest.raises(ConfigError, match="ir_datasets_id"):
        Evaluation(other).run_all(progress=False)
    # Runs of the earlier candidate protocol (no version in the file) are not mixed in.
    del saved["candidate_protocol"]
    path.write_text(json.dumps(saved), encoding="utf-8")
    with pytest.raises(ConfigError, match="candidate_protocol: 1 -> 2"):
        Evaluation(EvaluationConfig.from_params(params)).run_all(progress=False)


def test_config_ir_datasets_validation():
    assert EvaluationConfig.from_params({"smoke": False}).ir_datasets_id == ""
    for bad in ("mmarco/v2/de/dev/small", "mmarco/{x}/{lang}", "mmarco/{lang"):
        with pytest.raises(ConfigError, match="ir_datasets_id"):
            EvaluationConfig.from_params({"ir_datasets_id": bad, "smoke": False})
    with pytest.raises(ConfigError, match="scoreddocs.*ir_datasets_id"):
        EvaluationConfig.from_params({"candidates": "scoreddocs", "smoke": False})
    cfg = EvaluationConfig.from_params(
        {"ir_datasets_id": "mmarco/v2/{lang}/dev/small", "candidates": "scoreddocs", "smoke": True}
    )
    assert cfg.candidates == "scoreddocs"


def test_mmarco_english_is_ms_marco():
    assert ir_dataset_id("mmarco/v2/{lang}/dev/small", "de") == "mmarco/v2/de/dev/small"
    assert ir_dataset_id("mmarco/v2/{lang}/dev/small", "en") == "msmarco-passage/dev/small"
    assert ir_dataset_id("mmarco/{lang}/dev/small", "en") == "msmarco-passage/dev/small"
    assert ir_dataset_id("mine/{lang}/test", "en") == "mine/en/test"


# --------------------------------------------------------------------------- ir_datasets

# Parallel passages (same ids in both languages); de holds one more, p6, that en never retrieves.
_IRD_DOCS = {
    "en": {
        "p1": "The cat sleeps on the red sofa.",
        "p2": "Berlin is the capital of Germany.",
        "p3": "Rain falls in autumn in London.",
        "p4": "Dogs bark at night.",
        "p5": "The sofa is red and soft.",
    },
    "de": {
        "p1": "Die Katze schläft auf dem roten Sofa.",
        "p2": "Berlin ist die Hauptstadt von Deutschland.",
        "p3": "Regen fällt im Herbst in London.",
        "p4": "Hunde bellen in der Nacht.",
        "p5": "Das Sofa ist rot und weich.",
        "p6": "Ein Satz, den nur die deutsche Suche findet.",
    },
}
_IRD_QUERIES = {
    "en": {"1": "Where does the cat sleep?", "2": "capital of Germany", "3": "Do dogs bark?"},
    "de": {"1": "Wo schläft die Katze?", "2": "Hauptstadt Deutschlands", "3": "Bellen Hunde?"},
}
_IRD_QRELS = "1 0 p1 1\n2 0 p2 1\n3 0 p4 1\n"
# Each language has its own first stage (as mMARCO v2 has one BM25 run per translation).
_IRD_RUNS = {
    "en": {"1": {"p1": 9.0, "p3": 5.0, "p5": 1.0}, "2": {"p5": 8.0, "p2": 3.0}, "3": {"p4": 2.0}},
    "de": {"1": {"p6": 9.0, "p1": 3.0}, "2": {"p2": 5.0}, "3": {"p3": 2.0}},
}
_EN_TOP2 = {"1": {"p1": 9.0, "p3": 5.0}, "2": {"p5": 8.0, "p2": 3.0}, "3": {"p4": 2.0}}


@pytest.fixture
def ir_datasets_setup(setup: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A factory: registers en and de as ``<name>/{lang}`` ir_datasets; returns the parameters."""
    import ir_datasets
    from ir_datasets.formats import TrecQrels, TrecScoredDocs, TsvDocs, TsvQueries
    from ir_datasets.util import LocalDownload

    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "ird-home"))

    def make(runs: dict | None = None, drop_de: tuple[str, ...] = ()) -> dict:
        name = f"csir-test/{uuid.uuid4().hex}"
        for lang in ("en", "de"):
            root = tmp_path / "ird" / name / lang
            root.mkdir(parents=True)
            docs = {d: t for d, t in _IRD_DOCS[lang].items() if lang == "en" or d not in drop_de}
            (root / "docs.tsv").write_text(
                "".join(f"{d}\t{t}\n" for d, t in docs.items()), encoding="utf-8"
            )
            (root / "queries.tsv").write_text(
                "".join(f"{q}\t{t}\n" for q, t in _IRD_QUERIES[lang].items()), encoding="utf-8"
            )
            (root / "qrels").write_text(_IRD_QRELS, encoding="utf-8")
            run = (runs or _IRD_RUNS)[lang]
            (root / "run").write_text(
                "".join(
                    f"{q} Q0 {d} {rank} {score} bm25\n"
                    for q, scored in run.items()
                    for rank, (d, score) in enumerate(scored.items(), 1)
                ),
                encoding="utf-8",
            )
            ir_datasets.registry.register(
                f"{name}/{lang}",
                ir_datasets.Dataset(
                    TsvDocs(LocalDownload(root / "docs.tsv")),
                    TsvQueries(LocalDownload(root / "queries.tsv")),
                    TrecQrels(LocalDownload(root / "qrels"), {1: "relevant"}),
                    TrecScoredDocs(LocalDownload(root / "run")),
                ),
            )
        return {
            **setup,
            "dataset_dir": "",
            "ir_datasets_id": f"{name}/{{lang}}",
            "dataset": "toy-ird",
            "candidates": "scoreddocs",
            "pairs": ["de-de", "en-de", "xx-xx"],
            "mlir_languages": ["en", "de"],
            "top_k": 2,
        }

    return make


def test_ir_datasets_scoreddocs_rerank_every_pair_on_the_pivots_candidates(ir_datasets_setup):
    from csir import runs

    params = ir_datasets_setup()
    ev = Evaluation(EvaluationConfig.from_params(params))
    metrics = ev.run_all(progress=False)
    out = Path(params["output_dir"])

    assert {s.name for s in ev.systems} == {
        "first-stage/scoreddocs",
        "bi-encoder/e5-small-offline",
        "tiny/zero-shot/en-en/p=0.0/seed=1",
        "tiny/bl-cs/en-de/p=0.5/seed=1",
        "tiny/translate-test/en-en/p=0.0/seed=1",
    }
    assert set(metrics["model"]) == {s.name for s in ev.systems}
    assert set(zip(metrics["query_lang"], metrics["doc_lang"], strict=True)) == {
        ("de", "de"),
        ("en", "de"),
        ("xx", "xx"),
    }
    assert set(metrics["n_queries"]) == {3}
    # Every pair re-ranks English's top 2 by score, mapped by id (not German's own run).
    for pair, draw in ev.units():
        assert runs.read_run(ev.run_path("first-stage/scoreddocs", pair, draw)) == _EN_TOP2, pair
        reranked = runs.read_run(ev.run_path("tiny/bl-cs/en-de/p=0.5/seed=1", pair, draw))
        assert {q: set(d) for q, d in reranked.items()} == {q: set(d) for q, d in _EN_TOP2.items()}
    # German holds the same documents as English: p3 and p5 fetched by id, p6 left out.
    en_de = ev.pair("en-de")
    assert en_de.docs["p5"] == _IRD_DOCS["de"]["p5"]
    assert sorted(en_de.docs) == ["p1", "p2", "p3", "p4", "p5"]
    assert en_de.queries["1"] == _IRD_QUERIES["en"]["1"]
    mixed = ev.pair("xx-xx")
    assert set(mixed.query_langs.values()) | set(mixed.doc_langs.values()) == {"en", "de"}
    assert sorted(mixed.docs) == ["p1", "p2", "p3", "p4", "p5"]
    counts = pd.read_csv(out / "pairs.csv")
    assert set(counts["docs"]) == {5}


def test_ir_datasets_candidate_missing_in_a_language_is_one_clear_error(ir_datasets_setup):
    params = ir_datasets_setup(drop_de=("p5",))
    cfg = EvaluationConfig.from_params({**params, "pairs": ["en-de"], "translate_test": False})
    name = params["ir_datasets_id"].format(lang="de")
    with pytest.raises(CsirError, match=f"'p5'.*{name}|{name}.*'p5'") as info:
        Evaluation(cfg).run_all(progress=False)
    assert "ir_datasets_id" in str(info.value)


def test_ir_datasets_unscored_candidates_need_top_k_0(ir_datasets_setup):
    unscored = {
        lang: {q: dict.fromkeys(docs, 0.0) for q, docs in run.items()}
        for lang, run in _IRD_RUNS.items()
    }
    params = {**ir_datasets_setup(runs=unscored), "pairs": ["en-de"], "translate_test": False}
    with pytest.raises(ConfigError, match="top_k = 0"):
        Evaluation(EvaluationConfig.from_params(params)).run_all(progress=False)
    # Another folder: the refused settings (top_k=2) were recorded in the first one.
    every = {**params, "top_k": 0, "output_dir": params["output_dir"] + "-all"}
    ev = Evaluation(EvaluationConfig.from_params(every))
    ev.run_all(progress=False)
    first = ev.first_stage(ev.pair("en-de"))
    assert {q: set(d) for q, d in first.items()} == {q: set(d) for q, d in unscored["en"].items()}


def test_a_query_without_first_stage_candidates_counts_as_zero(setup: dict):
    # "Xylophone zebra?" shares no word with any paragraph: BM25 returns nothing for it.
    data = Path(setup["dataset_dir"])
    for lang in ("en", "de"):
        squad = json.loads((data / f"{lang}.json").read_text(encoding="utf-8"))
        paragraph = squad["data"][0]["paragraphs"][0]
        paragraph["qas"].append(
            {
                "id": "q9",
                "question": "Xylophone zebra?",
                "answers": [{"answer_start": 0, "text": paragraph["context"][0]}],
            }
        )
        (data / f"{lang}.json").write_text(json.dumps(squad), encoding="utf-8")
    cfg = EvaluationConfig.from_params(
        {**setup, "pairs": ["en-en", "en-de"], "translate_test": False, "bi_encoder": False}
    )
    ev = Evaluation(cfg)
    metrics = ev.run_all(progress=False)
    from csir import runs

    assert "q9" not in runs.read_run(ev.run_path("first-stage/bm25", "en-en"))
    per_query = pd.read_parquet(Path(setup["output_dir"]) / "per_query.parquet")
    q9 = per_query[(per_query["query_id"] == "q9") & (per_query["measure"] == "RR@10")]
    assert len(q9) == 2 * len(ev.systems) and (q9["value"] == 0).all()
    assert set(metrics["n_queries"]) == {4}


def test_sentence_task_candidates_are_the_same_paragraphs_in_every_language(setup: dict):
    """BM25 ranks paragraphs; every pair re-ranks all their sentences, however many it has."""
    from csir.data import candidates

    texts = {
        "en": ["The cat sleeps on the red sofa. It sleeps all day.", "Berlin is big. It is old."],
        "de": ["Die Katze schläft. Sie liegt auf dem Sofa. Den ganzen Tag.", "Berlin ist groß."],
    }
    questions = {"en": "Where does the cat sleep?", "de": "Wo schläft die Katze?"}
    data = Path(setup["dataset_dir"])
    for lang, contexts in texts.items():
        paragraphs = [{"context": c, "qas": []} for c in contexts]
        paragraphs[0]["qas"] = [
            {
                "id": "q1",
                "question": questions[lang],
                "answers": [{"answer_start": 0, "text": contexts[0][0]}],
            }
        ]
        squad = {"version": "t", "data": [{"title": "t", "paragraphs": paragraphs}]}
        (data / f"{lang}.json").write_text(json.dumps(squad), encoding="utf-8")
    (data / "ar.json").unlink()
    cfg = EvaluationConfig.from_params(
        {
            **setup,
            "task": "sentence",
            "pairs": ["en-en", "en-de", "de-de", "xx-xx"],
            "mlir_languages": ["en", "de"],
            "top_k": 1,
        }  # fmt: skip
    )
    ev = Evaluation(cfg)
    for name, n_sentences in (("en-en", {2}), ("en-de", {3}), ("de-de", {3}), ("xx-xx", {2, 3})):
        pair = ev.pair(name)
        run = ev.first_stage(pair)
        groups = {pair.doc_groups[d] for d in run["q1"]}
        assert groups == {"0-0"}, name
        members = {d for d in pair.docs if pair.doc_groups[d] == "0-0"}
        assert set(run["q1"]) == members and len(members) in n_sentences
        assert len(set(run["q1"].values())) == len(members)  # ties broken in the file
    assert ev.run_path("first-stage/bm25", "en-de").is_file()
    assert candidates.break_ties(run) == run


def test_a_model_retrained_in_place_gets_new_runs(setup: dict):
    from csir import runs as runs_lib

    params = {**setup, "pairs": ["en-de"], "translate_test": False, "bi_encoder": False}
    Evaluation(EvaluationConfig.from_params(params)).run_all(progress=False)
    system = "tiny/bl-cs/en-de/p=0.5/seed=1"
    ev = Evaluation(EvaluationConfig.from_params(params))
    path = ev.run_path(system, "en-de")
    before = runs_lib.read_run(path)
    untouched = ev.run_path("tiny/zero-shot/en-en/p=0.0/seed=1", "en-de").read_bytes()
    assert ev.check_models() == []  # same bytes: every run is kept
    # New weights in the same folder (notebook 03 with force=True, say).
    make_tiny_cross_encoder(Path(setup["training_dir"]) / "models" / system, seed=7)
    ev.run_all(progress=False)
    after = runs_lib.read_run(path)
    assert after.keys() == before.keys() and after != before
    assert ev.run_path("tiny/zero-shot/en-en/p=0.0/seed=1", "en-de").read_bytes() == untouched
    record = json.loads((path.parent / "model.json").read_text(encoding="utf-8"))
    assert set(record["sha256"]) == {"model.safetensors", "config.json"}


def test_translate_test_runs_are_remade_when_a_lexicon_changes(setup: dict):
    params = {**setup, "pairs": ["en-de"], "bi_encoder": False}
    Evaluation(EvaluationConfig.from_params(params)).run_all(progress=False)
    ev = Evaluation(EvaluationConfig.from_params(params))
    tt = ev.run_path("tiny/translate-test/en-en/p=0.0/seed=1", "en-de")
    model = ev.run_path("tiny/zero-shot/en-en/p=0.0/seed=1", "en-de").read_bytes()
    assert ev.check_models() == []  # nothing changed: every run is kept
    lexicon = Path(setup["lexicon_induction_dir"]) / "lexicons" / "muse" / "de-en.tsv"
    lexicon.write_text("katze\tbanana\nsofa\tbanana\n", encoding="utf-8")  # made again
    again = Evaluation(EvaluationConfig.from_params(params))
    assert again.check_models() == ["tiny/translate-test/en-en/p=0.0/seed=1"]
    assert not tt.is_file()  # its runs go (and are made again), the model's stay
    assert again.run_path("tiny/zero-shot/en-en/p=0.0/seed=1", "en-de").read_bytes() == model


def test_a_model_outside_the_models_folder_keeps_its_name(setup: dict, tmp_path: Path):
    """A model folder given through model_dirs from another study is named as notebook 03 named
    it (its record, else its folders), never by its last folder alone."""
    from csir.systems import model_name

    source = Path(setup["training_dir"]) / "models" / "tiny/bl-cs/en-de/p=0.5/seed=1"
    copy = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(source, copy)
    elsewhere = tmp_path / "other-study" / "tiny/bl-cs/en-de/p=0.5/seed=1"
    shutil.copytree(source, elsewhere)
    record = {
        "args": {"backbone": "tiny", "num_layers": 0, "seed": 3},
        "train_file": {"path": "/x/02_data_generation/train/bl-cs/en-de/p=0.5/train.jsonl"},
    }
    (copy / "csir_training.json").write_text(json.dumps(record), encoding="utf-8")
    root = Path(setup["training_dir"]) / "models"
    assert model_name(copy, root) == "tiny/bl-cs/en-de/p=0.5/seed=3"  # from its record
    assert model_name(elsewhere, root) == "tiny/bl-cs/en-de/p=0.5/seed=1"  # from its folders
    assert model_name(tmp_path / "hub-model", root) == "hub-model"  # not csir's: its folder


def test_an_unfinished_training_folder_is_refused(setup: dict):
    folder = Path(setup["training_dir"]) / "models" / "tiny/ml-cs/ml/p=0.5/seed=1"
    make_tiny_cross_encoder(folder, seed=2)
    (folder / "log.csv").write_text("step,loss\n10,0.5\n", encoding="utf-8")
    with pytest.raises(CsirError, match=r"ml-cs/ml/p=0.5/seed=1: training has not finished"):
        Evaluation(EvaluationConfig.from_params(setup))


def test_runs_are_not_reused_once_a_data_file_changed(setup: dict):
    params = {**setup, "translate_test": False, "pairs": ["en-de"], "bi_encoder": False}
    Evaluation(EvaluationConfig.from_params(params)).run_all(progress=False)
    de = Path(setup["dataset_dir"]) / "de.json"
    data = json.loads(de.read_text(encoding="utf-8"))
    data["data"][0]["paragraphs"][0]["qas"][0]["question"] = "Wo schläft die Katze gern?"
    de.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"other settings or data files \(de\.json: sha256"):
        Evaluation(EvaluationConfig.from_params(params)).run_all(progress=False)
    # another pair reading a new language only adds that file to the record
    de.write_text(json.dumps(_squad("de")), encoding="utf-8")
    ev = Evaluation(EvaluationConfig.from_params({**params, "pairs": ["en-de", "ar-ar"]}))
    ev.run_all(progress=False)
    saved = json.loads((ev.run_root / "settings.json").read_text(encoding="utf-8"))
    assert sorted(saved["dataset_files"]) == ["ar", "de", "en"]


def test_a_failed_evaluation_does_not_block_the_corrected_one(setup: dict, tmp_path: Path):
    params = {**setup, "translate_test": False, "pairs": ["en-de"], "bi_encoder": False}
    typo = {**params, "dataset_dir": str(tmp_path / "squadd")}
    with pytest.raises(CsirError, match="squadd: no such folder"):
        Evaluation(EvaluationConfig.from_params(typo)).run_all(progress=False)
    # the same output_dir with the right folder runs (no runs were made with the typo) ...
    ev = Evaluation(EvaluationConfig.from_params(params))
    ev.run_all(progress=False)
    # ... as it does after a failure past the settings, before any run (a model that failed)
    settings = ev.run_root / "settings.json"
    saved = json.loads(settings.read_text(encoding="utf-8"))
    shutil.rmtree(ev.out / "runs")
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({**saved, "top_k": 2}), encoding="utf-8")
    Evaluation(EvaluationConfig.from_params(params)).run_all(progress=False)
    assert json.loads(settings.read_text(encoding="utf-8"))["top_k"] == params["top_k"]


def test_bm25_candidates_refuse_files_that_are_not_parallel(setup: dict):
    de = Path(setup["dataset_dir"]) / "de.json"
    data = _squad("de")
    data["data"][0]["paragraphs"].reverse()  # the same questions, other paragraph order
    de.write_text(json.dumps(data), encoding="utf-8")
    params = {**setup, "translate_test": False, "pairs": ["en-de"], "bi_encoder": False}
    with pytest.raises(CsirError, match=r"en-de: question 'q\d' is answered in unit.*de\.json"):
        Evaluation(EvaluationConfig.from_params(params)).run_all(progress=False)
    # dense or exhaustive candidates search each language on its own: allowed
    exhaustive = {**params, "candidates": "exhaustive", "output_dir": setup["output_dir"] + "-x"}
    Evaluation(EvaluationConfig.from_params(exhaustive)).run_all(progress=False)
    # a mixed document side draws parallel units too
    with pytest.raises(CsirError, match="not parallel"):
        Evaluation(EvaluationConfig.from_params({**exhaustive, "pairs": ["en-xx"]})).pair("en-xx")
