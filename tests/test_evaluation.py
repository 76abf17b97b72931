"""Notebook 04's engine: systems, run files per pair, resume, metrics.csv, Translate-Test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_tiny_cross_encoder

from csir.config import EvaluationConfig
from csir.errors import ConfigError, CsirError
from csir.evaluate import METRIC_COLUMNS, Evaluation, discover_models, plan_systems

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
        "models_root": str(models),
        "lexicon_dir": str(tmp_path / "lexicons"),
        "output_dir": str(tmp_path / "out"),
        "pairs": ["en-en", "en-de", "de-ar", "xx-xx"],
        "mlir_languages": ["en", "de", "ar"],
        "top_k": 3,
        "max_length": 64,
        "device": "cpu",
        "smoke": False,
    }


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


def test_evaluation_writes_runs_metrics_and_resumes(setup: dict):
    cfg = EvaluationConfig.from_params(setup)
    ev = Evaluation(cfg)
    metrics = ev.run_all(progress=False)
    out = Path(setup["output_dir"])

    assert list(pd.read_csv(out / "metrics.csv").columns) == list(METRIC_COLUMNS)
    names = {s.name for s in ev.systems}
    assert names == {
        "first-stage/bm25",
        "tiny/zero-shot/en-en/p=0.0/seed=1",
        "tiny/bl-cs/en-de/p=0.5/seed=1",
        "tiny/translate-test/en-en/p=0.0/seed=1",
    }
    assert set(metrics["model"]) == names
    assert set(metrics["measure"]) == {"RR@10", "nDCG@10", "R@100"}
    assert ((metrics["value"] >= 0) & (metrics["value"] <= 1)).all()
    runs = sorted(p.relative_to(out).as_posix() for p in (out / "runs").rglob("*.trec"))
    assert len(runs) == len(names) * len(setup["pairs"])
    assert "runs/toy/paragraph/tiny/bl-cs/en-de/p=0.5/seed=1/xx-xx.trec" in runs
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
    assert again.missing() == [("tiny/bl-cs/en-de/p=0.5/seed=1", "en-de")]
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
    (Path(setup["lexicon_dir"]) / "muse" / "ar-en.tsv").unlink()
    cfg = EvaluationConfig.from_params({**setup, "pairs": ["de-ar"]})
    with pytest.raises(CsirError, match="ar-en.tsv"):
        Evaluation(cfg).run_all(progress=False)


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
