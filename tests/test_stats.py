"""Paired tests and corrections, checked against scipy/statsmodels and hand computations."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from csir import stats
from csir.errors import ConfigError, CsirError

SYSTEM = [1.0, 0.5, 1.0, 1.0, 0.33, 1.0]
BASE = [0.5, 0.5, 0.25, 1.0, 0.2, 0.5]


def test_paired_t_test_is_scipys():
    expected = scipy_stats.ttest_rel(SYSTEM, BASE).pvalue
    assert stats.paired_t_test(SYSTEM, BASE) == pytest.approx(expected)
    assert stats.paired_t_test(BASE, BASE) == 1.0


def test_permutation_test_is_exact_for_few_queries():
    # every sign assignment of the 6 differences, by hand
    diffs = np.subtract(SYSTEM, BASE)
    observed = abs(diffs.mean())
    means = [abs((diffs * signs).mean()) for signs in itertools.product((1, -1), repeat=6)]
    expected = np.mean([m >= observed - 1e-12 for m in means])
    assert stats.permutation_test(SYSTEM, BASE) == pytest.approx(expected)
    assert stats.permutation_test(BASE, BASE) == 1.0


def test_bonferroni_turns_a_significant_result_insignificant():
    p = [0.01, 0.02, 0.04]
    reject, adjusted = stats.correct(p, "bonferroni")
    assert adjusted == pytest.approx([0.03, 0.06, 0.12])
    assert reject.tolist() == [True, False, False]  # 0.02 and 0.04 were significant alone
    reject, adjusted = stats.correct(p, "holm")
    assert adjusted == pytest.approx([0.03, 0.04, 0.04])
    assert reject.tolist() == [True, True, True]
    reject, adjusted = stats.correct(p, "none")
    assert reject.tolist() == [True, True, True] and adjusted.tolist() == p
    with pytest.raises(ConfigError):
        stats.correct(p, "fdr")


def _per_query() -> pd.DataFrame:
    rows = []
    for model, values in {
        "e5/zero-shot/en-en/p=0.0/seed=1": BASE,
        "e5/zero-shot/en-en/p=0.0/seed=2": BASE,
        "e5/bl-cs/en-de/p=0.5/seed=1": SYSTEM,
        "e5/bl-cs/en-de/p=0.5/seed=2": [v - 0.1 for v in SYSTEM],
    }.items():
        for i, value in enumerate(values):
            rows.append(("xquad-r", "sentence", "en", "de", f"q{i}", "RR@10", value, model))
    columns = ["dataset", "task", "query_lang", "doc_lang", "query_id", "measure", "value"]
    return pd.DataFrame(rows, columns=[*columns, "model"])


def test_compare_averages_seeds_and_corrects():
    table = stats.compare(_per_query(), baseline="e5/zero-shot/en-en/p=0.0")
    assert list(table.columns) == list(stats.SIGNIFICANCE_COLUMNS)
    (row,) = table.itertuples()
    averaged = np.subtract(SYSTEM, 0.05)
    assert row.system == "e5/bl-cs/en-de/p=0.5"
    assert row.delta == pytest.approx(averaged.mean() - np.mean(BASE))
    assert row.p_value == pytest.approx(scipy_stats.ttest_rel(averaged, BASE).pvalue)
    assert row.p_adjusted == pytest.approx(row.p_value)  # a family of one
    assert row.significant == (row.p_value < 0.05)
    assert row.correction == "bonferroni"


def test_seed_summary_reports_mean_and_sd():
    per_query = _per_query()
    metrics = per_query.groupby(["model", *stats.PAIR_KEYS])["value"].mean().reset_index()
    summary = stats.seed_summary(metrics).set_index("system")
    bl = summary.loc["e5/bl-cs/en-de/p=0.5"]
    assert bl["n_seeds"] == 2
    assert bl["mean"] == pytest.approx(np.mean(SYSTEM) - 0.05)
    assert bl["sd"] == pytest.approx(np.std([np.mean(SYSTEM), np.mean(SYSTEM) - 0.1], ddof=1))


def test_compare_errors():
    per_query = _per_query()
    with pytest.raises(CsirError, match="baseline"):
        stats.compare(per_query, baseline="e5/translate-test/en-en/p=0.0")
    with pytest.raises(ConfigError):
        stats.compare(per_query, baseline="e5/zero-shot/en-en/p=0.0", test="wilcoxon")
    fewer = per_query[
        ~((per_query["model"].str.contains("bl-cs")) & (per_query["query_id"] == "q0"))
    ]
    with pytest.raises(CsirError, match="different queries"):
        stats.compare(fewer, baseline="e5/zero-shot/en-en/p=0.0")
    assert stats.split_seed("a/b/seed=3") == ("a/b", 3)
    assert stats.split_seed("first-stage/bm25") == ("first-stage/bm25", None)


def test_compare_with_zero_shot_corrects_over_the_whole_table():
    per_query = _per_query()
    extra = per_query[per_query["model"].str.contains("zero-shot")].assign(
        model="first-stage/bm25", value=lambda f: f["value"] + np.linspace(0.2, 0.4, len(f))
    )
    table = stats.compare_with_zero_shot(pd.concat([per_query, extra]), correction="bonferroni")
    assert set(table["system"]) == {"e5/bl-cs/en-de/p=0.5", "first-stage/bm25"}
    assert set(table["baseline"]) == {"e5/zero-shot/en-en/p=0.0"}
    assert np.allclose(table["p_adjusted"], np.minimum(table["p_value"] * 2, 1.0))
    latex = stats.latex_table(table)
    assert "EN–DE" in latex and "\\toprule" in latex
    assert ("$^\\dagger$" in latex) == bool(table["significant"].any())
    with pytest.raises(CsirError, match="zero-shot"):
        stats.compare_with_zero_shot(extra)


def test_missing_evaluation_names_notebook_04(tmp_path):
    with pytest.raises(CsirError, match="04_evaluation"):
        stats.read_evaluation(tmp_path)


def test_significance_config():
    from csir.config import SignificanceConfig

    assert SignificanceConfig.from_params({"smoke": True}).n_resamples == 1000
    with pytest.raises(ConfigError, match="correction"):
        SignificanceConfig.from_params({"correction": "fdr", "smoke": False})
    with pytest.raises(ConfigError, match="unknown"):
        SignificanceConfig.from_params({"baseline_name": "x"})


def test_write_significance_writes_csv_and_latex(tmp_path):
    table = stats.compare(_per_query(), baseline="e5/zero-shot/en-en/p=0.0")
    seeds = stats.seed_summary(_per_query().groupby(["model", *stats.PAIR_KEYS])["value"].mean()
                               .reset_index())  # fmt: skip
    written = stats.write_significance(table, seeds, tmp_path, ["RR@10"])
    assert [p.name for p in written] == [
        "significance.csv",
        "seeds.csv",
        "significance_RR_at_10.tex",
    ]
    assert list(pd.read_csv(written[0]).columns) == list(stats.SIGNIFICANCE_COLUMNS)


def test_minimum_detectable_effect_is_the_power_calculation():
    rng = np.random.default_rng(0)
    base = rng.random(400)
    system = base + rng.normal(0.01, 0.2, 400)
    sd = np.std(system - base, ddof=1)
    # Normal approximation of a two-sided paired t-test at n = 400: (z_{1-a/2} + z_power) sd/√n.
    for alpha in (0.05, 0.05 / 12):
        z = scipy_stats.norm.ppf(1 - alpha / 2) + scipy_stats.norm.ppf(stats.POWER)
        expected = z * sd / np.sqrt(400)
        got = stats.minimum_detectable_effect(system, base, alpha)
        assert got == pytest.approx(expected, rel=0.01)
    # Simulated: a true effect of that size is found about POWER of the time.
    mde = stats.minimum_detectable_effect(system, base, 0.05)
    hits = [scipy_stats.ttest_1samp(rng.normal(mde, sd, 400), 0).pvalue < 0.05 for _ in range(2000)]
    assert np.mean(hits) == pytest.approx(stats.POWER, abs=0.03)
    assert stats.minimum_detectable_effect(base + 0.1, base, 0.05) == 0.0


def test_difference_interval_is_student_t():
    low, high = stats.difference_interval(SYSTEM, BASE)
    diff = np.subtract(SYSTEM, BASE)
    half = scipy_stats.t.ppf(0.975, 5) * diff.std(ddof=1) / np.sqrt(6)
    assert (low, high) == pytest.approx((diff.mean() - half, diff.mean() + half))


def test_identical_systems_stay_out_of_the_correction_family():
    per_query = _per_query()
    same = per_query[per_query["model"].str.contains("zero-shot")].assign(
        model=lambda f: f["model"].str.replace("zero-shot", "translate-test")
    )
    table = stats.compare(
        pd.concat([per_query, same]), baseline="e5/zero-shot/en-en/p=0.0", correction="bonferroni"
    ).set_index("system")
    tt, bl = table.loc["e5/translate-test/en-en/p=0.0"], table.loc["e5/bl-cs/en-de/p=0.5"]
    assert tt.identical and tt.p_adjusted == 1.0 and not tt.significant and np.isnan(tt.mde)
    assert not bl.identical and bl.p_adjusted == pytest.approx(bl.p_value)  # a family of one
    assert (bl.n_queries, bl.n_seeds, bl.n_seeds_baseline) == (6, 2, 2)
    assert bl.ci_low < bl.delta < bl.ci_high
    assert bl.mde == pytest.approx(
        stats.minimum_detectable_effect(np.subtract(SYSTEM, 0.05), BASE, 0.05)
    )


def _evaluated(measures: tuple[str, ...] = ("RR@10", "nDCG@10", "R@100")) -> pd.DataFrame:
    """Per-query scores of :func:`_per_query` under each of ``measures``."""
    return pd.concat([_per_query().assign(measure=m) for m in measures], ignore_index=True)


@pytest.mark.parametrize("measures", [["R@10"], ["RR@10", "R@10"]])
def test_a_measure_notebook_04_did_not_score_is_one_error_before_any_test(
    measures, tmp_path, monkeypatch
):
    """Not 'baseline has no per-query scores' (R@10 alone), nor an empty table (with RR@10)."""
    tested = []
    monkeypatch.setattr(stats, "paired_t_test", lambda *args: tested.append(args) or 0.5)
    message = (
        r"measure 'R@10' is not in notebook 04's per_query.parquet "
        r"\(present: R@100, RR@10, nDCG@10\); add it to notebook 04's measures and run 04 "
        r"again, or remove it from notebook 05's measures"
    )
    with pytest.raises(CsirError, match=message):
        stats.compare_with_zero_shot(_evaluated(), measures=measures)
    with pytest.raises(CsirError, match=message):
        stats.compare(_evaluated(), baseline="e5/zero-shot/en-en/p=0.0", measures=measures)
    assert tested == []
    # notebook 05 reads notebook 04's outputs with its measures: the error comes there already
    _evaluated().to_parquet(tmp_path / "per_query.parquet")
    (tmp_path / "metrics.csv").write_text("model,measure,value\n")
    with pytest.raises(CsirError, match=message):
        stats.read_evaluation(tmp_path, measures)
    stats.read_evaluation(tmp_path, ["RR@10", "R@100"])
    with pytest.raises(CsirError, match=r"measures 'R@10', 'P@5' are not in"):
        stats.read_evaluation(tmp_path, ["R@10", "P@5"])


def test_write_significance_refuses_a_measure_without_comparisons(tmp_path):
    table = stats.compare(_per_query(), baseline="e5/zero-shot/en-en/p=0.0")
    seeds = stats.seed_summary(_per_query().groupby(["model", *stats.PAIR_KEYS])["value"].mean()
                               .reset_index())  # fmt: skip
    with pytest.raises(CsirError, match=r"measure 'R@10' is not in the significance table"):
        stats.write_significance(table, seeds, tmp_path, ["RR@10", "R@10"])
    assert list(tmp_path.iterdir()) == []
    # nothing to compare (the zero-shot model alone): empty tables, no error
    written = stats.write_significance(table.iloc[:0], seeds, tmp_path, ["RR@10"])
    assert [p.name for p in written][-1] == "significance_RR_at_10.tex"
