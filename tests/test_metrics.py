"""Metrics through ir_measures: hand-computed values, missing queries, id checks."""

from __future__ import annotations

import math

import ir_measures
import pytest

from csir.errors import ConfigError, CsirError
from csir.metrics import DEFAULT_MEASURES, check_ids, parse_measures, per_query

# q1: graded, relevant at ranks 1 (rel 2) and 3 (rel 1); q2: one relevant at rank 3;
# q3: relevant at rank 11 (outside the top 10) and one never retrieved.
QRELS = {
    "q1": {"a": 2, "b": 1, "n": 0},
    "q2": {"c": 1},
    "q3": {"e": 1, "f": 1},
}
RUN = {
    "q1": {"a": 9.0, "x": 8.0, "b": 7.0, "n": 6.0},
    "q2": {"y": 3.0, "z": 2.0, "c": 1.0},
    "q3": {**{f"n{i}": 100.0 - i for i in range(10)}, "e": 50.0},
}

# trec_eval's nDCG uses the label as the gain: DCG = sum rel_i / log2(i + 1).
NDCG_Q1 = (2 / math.log2(2) + 1 / math.log2(4)) / (2 / math.log2(2) + 1 / math.log2(3))
EXPECTED = {
    "RR@10": {"q1": 1.0, "q2": 1 / 3, "q3": 0.0},
    "nDCG@10": {"q1": NDCG_Q1, "q2": 1 / math.log2(4), "q3": 0.0},
    "R@100": {"q1": 1.0, "q2": 1.0, "q3": 0.5},
}


def test_per_query_matches_hand_computed_values():
    table = per_query(RUN, QRELS, DEFAULT_MEASURES)
    assert list(table.columns) == ["query_id", "measure", "value"]
    assert len(table) == 9
    got = {(r.measure, r.query_id): r.value for r in table.itertuples()}
    for measure, values in EXPECTED.items():
        for qid, value in values.items():
            assert got[measure, qid] == pytest.approx(value, abs=1e-12), (measure, qid)


def _means(table):
    """Mean and count of each measure over its queries, as notebook 04 aggregates."""
    return table.groupby("measure", sort=False)["value"].agg(value="mean", n_queries="size")


def test_per_query_means_agree_with_ir_measures():
    by_name = _means(per_query(RUN, QRELS))
    assert list(by_name.index) == list(DEFAULT_MEASURES)
    assert by_name.loc["RR@10", "value"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert by_name.loc["nDCG@10", "value"] == pytest.approx((NDCG_Q1 + 0.5) / 3)
    assert by_name.loc["R@100", "value"] == pytest.approx(2.5 / 3)
    assert set(by_name.n_queries) == {3}
    reference = ir_measures.calc_aggregate(
        [ir_measures.parse_measure(m) for m in DEFAULT_MEASURES], QRELS, RUN
    )
    for measure, value in reference.items():
        assert by_name.loc[str(measure), "value"] == pytest.approx(value, abs=1e-12)


def test_missing_run_queries_are_refused_or_zero():
    qrels = {**QRELS, "q4": {"g": 1}}
    with pytest.raises(CsirError, match=r"lacks queries.*only in qrels: 1 \('q4'\).*common: 3"):
        per_query(RUN, qrels)
    table = per_query(RUN, qrels, ["RR@10"], missing="zero")
    assert table.set_index("query_id").loc["q4", "value"] == 0.0
    agg = _means(table)
    assert agg.n_queries.tolist() == [4]
    assert agg.value.tolist() == [pytest.approx((1 + 1 / 3 + 0 + 0) / 4)]
    # ir_measures 0.4.3 (pytrec_eval provider) also counts q4 as 0; older versions and other
    # providers skipped it. The explicit fill keeps csir's numbers independent of that.
    reference = ir_measures.calc_aggregate([ir_measures.RR @ 10], qrels, RUN)
    assert reference[ir_measures.RR @ 10] == pytest.approx(agg.value.iloc[0], abs=1e-12)


def test_check_ids_reports_counts_and_examples():
    run = {f"r{i}": {"d": 1.0} for i in range(5)}
    qrels = {f"q{i}": {"d": 1} for i in range(4)}
    with pytest.raises(CsirError) as info:
        check_ids(run, qrels, run_name="de-en.trec", qrels_name="xquad.qrels")
    text = str(info.value)
    assert "no query id in common" in text
    assert "Only in de-en.trec: 5 ('r0', 'r1', 'r2', ...)" in text
    assert "only in xquad.qrels: 4 ('q0', 'q1', 'q2', ...)" in text
    assert "common: 0" in text
    with pytest.raises(CsirError, match="no query id in common"):
        per_query(run, qrels, missing="zero")


def test_check_ids_refuses_unjudged_run_queries_and_accepts_a_match():
    with pytest.raises(CsirError, match=r"does not judge.*Only in run: 1 \('extra'\)"):
        check_ids({**RUN, "extra": {"d": 1.0}}, QRELS)
    check = check_ids(RUN, QRELS)
    assert (check.common, check.only_run, check.only_qrels) == (["q1", "q2", "q3"], [], [])


def test_parse_measures_keeps_names_and_rejects_unknown():
    parsed = parse_measures(["RR@10", "nDCG@10"])
    assert list(parsed) == ["RR@10", "nDCG@10"]
    assert parsed["RR@10"] == ir_measures.RR @ 10
    assert list(parse_measures("R@100")) == ["R@100"]
    with pytest.raises(ConfigError, match="unknown measure 'MRRR@10'"):
        parse_measures(["MRRR@10"])
    with pytest.raises(ConfigError, match="unknown measure 'nDCG@ten'"):
        parse_measures(["nDCG@ten"])
    with pytest.raises(ConfigError, match="twice"):
        parse_measures(["RR@10", "RR@10"])
    with pytest.raises(ConfigError, match="no measure"):
        parse_measures([])


def test_measure_names_as_given_in_table():
    table = per_query(RUN, QRELS, ["AP", "P@1"])
    assert table.measure.unique().tolist() == ["AP", "P@1"]
    assert table.query_id.tolist() == ["q1", "q2", "q3"] * 2
