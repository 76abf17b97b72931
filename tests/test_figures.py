"""Notebook 06's tables and figures on hand-made results (no model anywhere)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csir import io, results
from csir.config import FiguresConfig
from csir.errors import ConfigError, CsirError

pytest.importorskip("matplotlib")
pytest.importorskip("seaborn")

PAIRS = [
    ("en", "en"),
    ("de", "de"),
    ("ar", "ar"),
    ("en", "de"),
    ("de", "en"),
    ("en", "ar"),
    ("de", "ar"),
    ("xx", "xx"),
]
B = "e5"


def _value(system: str, pair: tuple[str, str], seed: int) -> float:
    """Deterministic made-up scores: code-switching helps off-English, seeds jitter a little."""
    bonus = {
        "zero-shot": 0.0,
        "translate-test": 0.01,
        "bl-cs": 0.05,
        "ml-cs": 0.05,
        "wiki-cs": 0.02,
    }
    method = system.split("/")[1]
    base = 0.6 if pair == ("en", "en") else 0.4
    p = float(system.split("p=")[1]) if "p=" in system else 0.0
    layers = -0.05 if system.startswith(f"{B}-L6") else 0.0
    return round(
        base + bonus.get(method, 0.0) * (pair != ("en", "en")) + 0.01 * p + layers + 0.002 * seed, 6
    )


def make_metrics(seeds=(1, 2, 3)) -> pd.DataFrame:
    systems = [
        f"{B}/zero-shot/en-en/p=0.0",
        f"{B}/translate-test/en-en/p=0.0",
        f"{B}/bl-cs/en-de/p=0.5",
        f"{B}/bl-cs/en-ar/p=0.5",
        *[f"{B}/ml-cs/ml/p={p}" for p in (0.25, 0.5, 0.75, 1.0)],
        f"{B}/wiki-cs/wiki/p=1.0",
        f"{B}-L6/zero-shot/en-en/p=0.0",
        f"{B}-L6/ml-cs/ml/p=0.5",
    ]
    rows = []
    for q, d in PAIRS:
        rows.append(("first-stage/bm25", q, d, 0.5))
        for system in systems:
            for seed in seeds:
                rows.append((f"{system}/seed={seed}", q, d, _value(system, (q, d), seed)))
    frame = pd.DataFrame(rows, columns=["model", "query_lang", "doc_lang", "value"])
    return frame.assign(dataset="xquad-r", task="sentence", measure="RR@10", n_queries=60)[
        ["model", "dataset", "task", "query_lang", "doc_lang", "measure", "value", "n_queries"]
    ]


def make_significance(metrics: pd.DataFrame) -> pd.DataFrame:
    rows = results.annotate(metrics, "RR@10")
    out = []
    for system in sorted(set(rows["system"]) - {f"{B}/zero-shot/en-en/p=0.0"}):
        for q, d in PAIRS:
            out.append(
                dict(system=system, baseline=f"{B}/zero-shot/en-en/p=0.0", dataset="xquad-r",
                     task="sentence", query_lang=q, doc_lang=d, measure="RR@10", delta=0.1,
                     p_value=0.001, p_adjusted=0.01, correction="bonferroni",
                     significant=(q, d) == ("de", "de"), ci_low=0.05, ci_high=0.15,
                     mde=0.02 if q == d else 0.03, n_queries=60, n_seeds=3,
                     n_seeds_baseline=3, identical=False)
            )  # fmt: skip
    return pd.DataFrame(out)


@pytest.fixture()
def inputs(tmp_path: Path) -> dict[str, Path]:
    """Folders laid out as notebooks 01, 04 and 05 write them, without any model."""
    folders = {n: tmp_path / n for n in ("01", "04", "05")}
    for folder in folders.values():
        folder.mkdir()
    metrics = make_metrics()
    metrics.to_csv(folders["04"] / "metrics.csv", index=False)
    make_significance(metrics).to_csv(folders["05"] / "significance.csv", index=False)
    values = [("de", "nn", 0.5), ("de", "csls", 0.51), ("ar", "nn", 0.2), ("ar", "csls", 0.21)]
    bli = pd.DataFrame(
        [("backbone-e5", method, "en", lang, value, 100) for lang, method, value in values],
        columns=["source", "method", "src_lang", "tgt_lang", "precision_at_1", "n_test_pairs"],
    )  # fmt: skip
    bli.to_csv(folders["01"] / "bli.csv", index=False)
    return folders


def test_parse_system_names():
    assert results.parse_system("e5/bl-cs/en-de/p=0.5/seed=2") == dict(
        backbone="e5",
        method="bl-cs",
        train_pair="en-de",
        p=0.5,
        seed=2,
        system="e5/bl-cs/en-de/p=0.5",
    )
    first = results.parse_system("first-stage/bm25")
    assert (first["backbone"], first["method"], first["system"]) == (
        "first-stage",
        "first-stage",
        "first-stage/bm25",
    )
    assert np.isnan(first["seed"])
    pairs = [("de", "de"), ("en", "de"), ("xx", "xx"), ("en", "xx")]
    assert [results.setting(*p) for p in pairs] == ["MoIR", "CLIR", "MLIR", "MLIR"]


def test_bl_cs_takes_the_model_of_each_pair():
    rows = results.annotate(make_metrics(seeds=(1,)), "RR@10")
    scores = results.method_scores(rows)
    bl = scores[(scores["method"] == "bl-cs") & (scores["backbone"] == B)].set_index(
        ["query_lang", "doc_lang"]
    )
    assert bl.loc[("de", "de"), "source"] == f"{B}/bl-cs/en-de/p=0.5"
    assert bl.loc[("de", "en"), "source"] == f"{B}/bl-cs/en-de/p=0.5"
    assert bl.loc[("ar", "ar"), "source"] == f"{B}/bl-cs/en-ar/p=0.5"
    # en-en is covered by both (one extra language each): their mean
    assert bl.loc[("en", "en"), "source"] == f"{B}/bl-cs/en-ar/p=0.5+{B}/bl-cs/en-de/p=0.5"
    assert ("de", "ar") not in bl.index and ("xx", "xx") not in bl.index
    # ML-CS at the main p only; the first stage is repeated per backbone
    ml = scores[(scores["method"] == "ml-cs") & (scores["backbone"] == B)]
    assert set(ml["source"]) == {f"{B}/ml-cs/ml/p=0.5"}
    assert set(scores.loc[scores["method"] == "first-stage", "backbone"]) == {B, f"{B}-L6"}


def test_setting_averages_use_common_pairs_and_seed_sd():
    rows = results.annotate(make_metrics(), "RR@10")
    table = results.setting_averages(results.method_scores(rows))
    mine = table[table["backbone"] == B].set_index(["setting", "method"])
    # BL-CS has no de-ar model, so every method's CLIR average runs over en-de, de-en, en-ar
    assert mine.loc[("CLIR", "zero-shot"), "pairs"] == "de-en en-ar en-de"
    assert mine.loc[("MLIR", "zero-shot"), "n_pairs"] == 1 and ("MLIR", "bl-cs") not in mine.index
    # zero-shot CLIR: 0.4 + 0.002 * seed, seeds 1-3 → mean 0.404, sd 0.002
    assert mine.loc[("CLIR", "zero-shot"), "mean"] == pytest.approx(0.404)
    assert mine.loc[("CLIR", "zero-shot"), "sd"] == pytest.approx(0.002)
    assert mine.loc[("CLIR", "zero-shot"), "n_seeds"] == 3
    assert list(mine.loc["MoIR"].index) == [
        "first-stage",
        "zero-shot",
        "translate-test",
        "bl-cs",
        "ml-cs",
        "wiki-cs",
    ]
    latex = results.settings_latex(table, B)
    assert (
        "MoIR (3)" in latex and "CLIR (3)" in latex and "$\\pm$ 0.002" in latex and "BL-CS" in latex
    )


def test_best_code_switched_ignores_systems_missing_a_pair():
    rows = results.annotate(make_metrics(seeds=(1,)), "RR@10")
    baseline = results.zero_shot_system(rows, B)
    # ml-cs p=1.0 is the best on average (0.05 bonus + 0.01 p) against bl-cs (0.05 + 0.005);
    # without one of its pairs it may not compete
    assert results.best_code_switched(rows, B, baseline) == f"{B}/ml-cs/ml/p=1.0"
    partial = rows[~((rows["system"] == f"{B}/ml-cs/ml/p=1.0") & (rows["query_lang"] == "ar"))]
    assert results.best_code_switched(partial, B, baseline) != f"{B}/ml-cs/ml/p=1.0"


def test_p_ablation_has_zero_shot_at_p0_per_setting():
    rows = results.annotate(make_metrics(seeds=(1,)), "RR@10")
    table = results.p_ablation(rows, B)
    assert sorted(table["p"].unique()) == [0.0, 0.25, 0.5, 0.75, 1.0]
    clir = table[table["setting"] == "CLIR"].set_index("p")["mean"]
    assert clir[0.0] == pytest.approx(0.402) and clir[1.0] == pytest.approx(0.462)
    with pytest.raises(CsirError, match="fewer than two switch probabilities"):
        results.p_ablation(rows[rows["p"] != 0.25].query("p != 0.75 and p != 1.0"), B)


def test_missing_measure_and_missing_file_name_the_notebook(tmp_path):
    with pytest.raises(CsirError, match="measure 'nDCG@10' is not in notebook 04"):
        results.annotate(make_metrics(), "nDCG@10")
    with pytest.raises(CsirError, match="written by notebook 05_significance"):
        io.require_outputs([tmp_path / "significance.csv"], "05_significance", "significance_dir")


def _figures_config(inputs: dict[str, Path], out: Path) -> FiguresConfig:
    return FiguresConfig.from_params(
        dict(
            evaluation_dir=str(inputs["04"]), significance_dir=str(inputs["05"]),
            lexicon_induction_dir=str(inputs["01"]), output_dir=str(out), smoke=True,
        )
    )  # fmt: skip


def test_paper_figures_draws_everything_from_cached_files(inputs, tmp_path):
    from csir.paper import PaperFigures

    out = tmp_path / "figures"
    cfg = _figures_config(inputs, out)
    paper = PaperFigures(cfg)
    for key in cfg.figures:
        assert paper.draw(key) is not None, paper.skipped
    names = sorted(p.name for p in out.iterdir())
    for stem in (
        "fig_a_heatmaps",
        "fig_b_settings",
        "fig_c_p_ablation",
        "fig_d_backbones",
        "fig_e_bli",
    ):
        assert {f"{stem}.pdf", f"{stem}.png", f"{stem}.csv"} <= set(names)
        assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert (out / f"{stem}.pdf").read_bytes()[:4] == b"%PDF"
    assert "table_b_settings.tex" in names and not [n for n in names if n.startswith(".")]
    heat = pd.read_csv(out / "fig_a_heatmaps.csv")
    assert heat.loc[heat["significant"], ["query_lang", "doc_lang"]].values.tolist() == [
        ["de", "de"]
    ]
    assert set(heat["code_switched_system"]) == {f"{B}/ml-cs/ml/p=1.0"}
    backbones = pd.read_csv(out / "fig_d_backbones.csv")
    assert set(backbones["backbone"]) == {B, f"{B}-L6"} and set(backbones["method"]) == {
        "zero-shot",
        "ml-cs",
    }
    record = json.loads(paper.write_parameters().read_text())
    assert record["parameters"]["output_dir"] == str(out) and record["skipped"] == {}
    assert {Path(p).name for p in record["inputs"]} == {
        "metrics.csv",
        "significance.csv",
        "bli.csv",
    }

    # the same inputs give byte-identical PDFs (deterministic names and content)
    before = (out / "fig_b_settings.pdf").read_bytes()
    PaperFigures(cfg).draw("settings")
    assert (out / "fig_b_settings.pdf").read_bytes() == before


def test_results_table_reports_seeds_differences_and_detectable_effects(inputs, tmp_path):
    from csir.paper import PaperFigures

    out = tmp_path / "figures"
    cfg = _figures_config(inputs, out)
    table = PaperFigures(cfg).results_table()
    systems = list(table.index)
    assert systems[0] == "first-stage/bm25"  # first stages, then zero-shot models, then others
    assert systems.index(f"{B}/zero-shot/en-en/p=0.0") < systems.index(f"{B}/bl-cs/en-ar/p=0.5")
    assert systems[-1] == "minimum detectable effect"
    assert list(table.columns) == [f"{q}-{d}" for q, d in PAIRS]
    seeds = [_value(f"{B}/bl-cs/en-de/p=0.5", ("de", "de"), s) for s in (1, 2, 3)]
    cell = table.loc[f"{B}/bl-cs/en-de/p=0.5", "de-de"]
    assert cell == f"{np.mean(seeds):.3f} ± {np.std(seeds, ddof=1):.3f} (+0.100†)"
    assert table.loc[f"{B}/bl-cs/en-de/p=0.5", "en-de"].endswith("(+0.100)")  # not significant
    assert table.loc[f"{B}/zero-shot/en-en/p=0.0", "en-en"].count("(") == 0  # the baseline
    assert table.loc["first-stage/bm25", "en-en"].startswith("0.500 (")  # one run: no sd
    assert table.loc["minimum detectable effect"].tolist() == [
        "0.020" if q == d else "0.030" for q, d in PAIRS
    ]
    text = (out / "table_results.md").read_text(encoding="utf-8")
    assert "| system | en-en |" in text and text.count("\n|") == len(table) + 2
    assert pd.read_csv(out / "table_results.csv", index_col=0).shape == table.shape


def test_paper_figures_skip_what_the_results_lack_and_stop_on_missing_files(inputs, tmp_path):
    from csir.paper import PaperFigures

    metrics = pd.read_csv(inputs["04"] / "metrics.csv")
    one_backbone = metrics[~metrics["model"].str.startswith(f"{B}-L6")]
    one_backbone.to_csv(inputs["04"] / "metrics.csv", index=False)
    params = dict(
        evaluation_dir=str(inputs["04"]), significance_dir=str(tmp_path / "nowhere"),
        lexicon_induction_dir=str(inputs["01"]), output_dir=str(tmp_path / "out"), smoke=True,
    )  # fmt: skip
    paper = PaperFigures(FiguresConfig.from_params(params))
    assert paper.draw("backbones") is None
    assert "only one backbone" in paper.skipped["backbones"]
    with pytest.raises(CsirError, match=r"significance.csv is written by notebook 05_significance"):
        paper.draw("heatmaps")
    params["lexicon_induction_dir"] = str(tmp_path / "nothing")
    with pytest.raises(CsirError, match=r"bli.csv is written by notebook 01_lexicon_induction"):
        PaperFigures(FiguresConfig.from_params(params)).draw("bli")


def test_figures_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="unknown figures"):
        FiguresConfig.from_params({"figures": ["pie"]})
    with pytest.raises(ConfigError, match="unknown formats"):
        FiguresConfig.from_params({"formats": ["gif"]})
    with pytest.raises(ConfigError, match="ablation_method"):
        FiguresConfig.from_params({"ablation_method": "bl-cs"})
    assert FiguresConfig.from_params({"smoke": True}).dpi == 100


def test_an_empty_significance_table_still_gives_the_table(inputs, tmp_path):
    """A study with nothing to compare with zero-shot: notebook 05 writes an empty table, and
    notebook 06 draws what it can and says so instead of refusing the measure."""
    from csir.paper import PaperFigures

    empty = pd.read_csv(inputs["05"] / "significance.csv").iloc[:0]
    empty.to_csv(inputs["05"] / "significance.csv", index=False)
    params = dict(
        evaluation_dir=str(inputs["04"]), significance_dir=str(inputs["05"]),
        lexicon_induction_dir=str(inputs["01"]), output_dir=str(tmp_path / "out"), smoke=True,
    )  # fmt: skip
    paper = PaperFigures(FiguresConfig.from_params(params))
    paper.results_table()
    caption = (tmp_path / "out" / "table_results.md").read_text(encoding="utf-8")
    assert caption.startswith("RR@10, mean ± sd over seeds (notebook 05 had nothing to compare)")


def test_a_measure_notebook_05_did_not_test_is_refused_not_drawn_as_insignificant(inputs, tmp_path):
    from csir.paper import PaperFigures

    metrics = pd.read_csv(inputs["04"] / "metrics.csv")
    both = pd.concat([metrics, metrics.assign(measure="nDCG@10")], ignore_index=True)
    both.to_csv(inputs["04"] / "metrics.csv", index=False)  # 04 scored nDCG@10, 05 tested RR@10
    params = dict(
        evaluation_dir=str(inputs["04"]), significance_dir=str(inputs["05"]), measure="nDCG@10",
        lexicon_induction_dir=str(inputs["01"]), output_dir=str(tmp_path / "out"), smoke=True,
    )  # fmt: skip
    message = (
        r"measure 'nDCG@10' is not in notebook 05's significance.csv \(present: RR@10\); run "
        r"notebook 05 with measures including it, or set notebook 06's measure to one of these"
    )
    for step in (lambda p: p.draw("heatmaps"), lambda p: p.results_table()):
        paper = PaperFigures(FiguresConfig.from_params(params))
        with pytest.raises(CsirError, match=message):
            step(paper)
        assert "heatmaps" not in paper.written and "tables" not in paper.written
    significance = make_significance(metrics)
    rows = results.annotate(both, "nDCG@10")
    with pytest.raises(CsirError, match=message):
        results.results_table(rows, significance, "nDCG@10")
    with pytest.raises(CsirError, match=message):
        results.significance_grid(significance, f"{B}/ml-cs/ml/p=1.0", f"{B}/zero-shot/en-en/p=0.0",
                                  "nDCG@10")  # fmt: skip


@pytest.mark.parametrize(
    ("correction", "legend"),
    [
        ("none", "† significant uncorrected (notebook 05's correction: none)"),
        ("holm", "† significant after notebook 05's Holm correction"),
        ("bonferroni", "† significant after notebook 05's Bonferroni correction"),
    ],
)
def test_results_table_legend_names_notebook_05s_correction(inputs, tmp_path, correction, legend):
    from csir.paper import PaperFigures

    significance = pd.read_csv(inputs["05"] / "significance.csv").assign(correction=correction)
    significance.to_csv(inputs["05"] / "significance.csv", index=False)
    out = tmp_path / "figures"
    PaperFigures(_figures_config(inputs, out)).results_table()
    caption = (out / "table_results.md").read_text(encoding="utf-8").split("\n\n")[0]
    assert legend in caption
    level = "uncorrected level" if correction == "none" else "corrected level"
    assert level in caption and ("correction" not in caption.replace(legend, ""))
