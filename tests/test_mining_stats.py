"""Paired bootstrap tests of mining differences (csir.mining_stats)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csir import mining, mining_stats
from csir.errors import CsirError


def outcomes(rng: np.random.Generator, seeds: int, n: int, hit: float, mined: float):
    return rng.random((seeds, n)) < hit, rng.random((seeds, n)) < mined


def brute_force_draws(n_gold, system, baseline, measure, n_resamples, seed):
    """Every draw resampled and measured one by one (the definition)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(n_gold), size=(n_resamples, len(n_gold)))

    def side(hits, mined, rows):
        values = [
            mining.source_measure(measure, n_gold[rows], h[rows], m[rows])
            for h, m in zip(hits, mined, strict=True)
        ]
        return np.mean(values)

    return np.array([side(*system, rows) - side(*baseline, rows) for rows in draws])


@pytest.mark.parametrize("measure", ["accuracy", "f1"])
def test_bootstrap_equals_resampling_one_draw_at_a_time(measure):
    rng = np.random.default_rng(3)
    n = 60
    n_gold = (rng.random(n) < 0.6).astype(int)
    system, baseline = outcomes(rng, 3, n, 0.8, 0.6), outcomes(rng, 1, n, 0.7, 0.6)
    result = mining_stats.paired_bootstrap(
        n_gold, system, baseline, measure, n_resamples=500, rng=7
    )
    draws = brute_force_draws(n_gold, system, baseline, measure, 500, 7)
    delta = np.mean(
        [mining.source_measure(measure, n_gold, *side) for side in zip(*system, strict=True)]
    )
    delta -= mining.source_measure(measure, n_gold, baseline[0][0], baseline[1][0])
    assert result.delta == pytest.approx(delta)
    assert result.se == pytest.approx(draws.std(ddof=1))
    assert (result.ci_low, result.ci_high) == pytest.approx(
        tuple(np.quantile(draws, [0.025, 0.975]))
    )
    extreme = np.sum(np.abs(draws - delta) >= abs(delta))
    assert result.p_value == pytest.approx((1 + extreme) / 501)
    assert not result.identical


def test_draws_do_not_depend_on_the_chunking():
    rng = np.random.default_rng(0)
    terms = rng.random((4, 3000))  # 3000 sources: chunks of 1398 draws
    sums = mining_stats.resampled_sums(terms, 3000, rng=5)
    generator = np.random.default_rng(5)
    first = generator.integers(0, 3000, size=(1398, 3000))
    assert sums.shape == (4, 3000, 1)
    assert sums[:, :1398, 0] == pytest.approx(terms[:, first].sum(axis=-1))


def test_a_real_difference_is_found_and_no_difference_is_not():
    rng = np.random.default_rng(1)
    n = 400
    n_gold = np.ones(n, dtype=int)
    better = mining_stats.paired_bootstrap(
        n_gold, outcomes(rng, 3, n, 0.9, 0.9), outcomes(rng, 1, n, 0.7, 0.9), "f1", n_resamples=2000
    )
    assert better.p_value < 0.001 and better.ci_low > 0
    same = [
        mining_stats.paired_bootstrap(
            n_gold, outcomes(rng, 1, n, 0.8, 0.7), outcomes(rng, 1, n, 0.8, 0.7), "accuracy",
            n_resamples=500, rng=i,
        ).p_value
        for i in range(200)
    ]  # fmt: skip
    # a valid test rejects a true null about alpha of the time (binomial 200 x .05: sd 3.1)
    assert 2 <= sum(p < 0.05 for p in same) <= 20


def test_identical_encoders_are_kept_out_of_the_family():
    rng = np.random.default_rng(2)
    hits, mined = outcomes(rng, 1, 50, 0.8, 0.6)
    same = mining_stats.paired_bootstrap(np.ones(50), (hits, mined), (hits, mined), "f1")
    assert same.identical and same.p_value == 1.0 and same.delta == 0.0
    with pytest.raises(CsirError, match="same >= 2 sources"):
        mining_stats.paired_bootstrap(
            np.ones(50), (hits, mined), (hits[:, :40], mined[:, :40]), "f1"
        )


def test_baselines_of_every_trained_encoder():
    names = [
        "bi-encoder/e5",
        "e5/zero-shot/en-en/p=0.0/seed=1",
        "e5/zero-shot/en-en/p=0.0/seed=2",
        "e5/bl-cs/en-de/p=0.5/seed=1",
        "mbert/ml-cs/ml/p=0.5/seed=1",  # no bi-encoder and no zero-shot of its backbone
    ]
    assert mining_stats.mining_baselines(names) == [
        ("e5/zero-shot/en-en/p=0.0", "bi-encoder/e5"),
        ("e5/bl-cs/en-de/p=0.5", "bi-encoder/e5"),
        ("e5/bl-cs/en-de/p=0.5", "e5/zero-shot/en-en/p=0.0"),
    ]
    assert mining_stats.mining_baselines(names[1:4]) == [
        ("e5/bl-cs/en-de/p=0.5", "e5/zero-shot/en-en/p=0.0")
    ]


def source_frame(encoder: str, hits, mined, n_gold, pair="de-en") -> pd.DataFrame:
    return pd.DataFrame(
        {"encoder": encoder, "dataset": "xquad-r", "pair": pair, "scoring": "margin",
         "source": [f"q{i}" for i in range(len(hits))], "n_gold": n_gold, "correct": hits,
         "mined": mined}
    )  # fmt: skip


def test_compare_encoders_averages_seeds_and_corrects_per_measure():
    rng = np.random.default_rng(4)
    n = 300
    n_gold = (rng.random(n) < 0.5).astype(int)
    frames = [source_frame("bi-encoder/e5", *(a[0] for a in outcomes(rng, 1, n, 0.7, 0.5)), n_gold)]
    for seed in (1, 2, 3):
        hits, mined = outcomes(rng, 1, n, 0.9, 0.5)
        frames.append(
            source_frame(f"e5/zero-shot/en-en/p=0.0/seed={seed}", hits[0], mined[0], n_gold)
        )
    for pair in ("ar-en",):  # a second task
        frames += [f.assign(pair=pair) for f in frames[:4]]
    sources = pd.concat(frames, ignore_index=True)
    comparisons = mining_stats.mining_baselines(sources["encoder"].unique())
    table = mining_stats.compare_encoders(sources, comparisons, n_resamples=1000)
    assert list(table.columns) == list(mining_stats.SIGNIFICANCE_COLUMNS)
    assert (
        len(table) == 2 * 2
        and set(table["n_seeds"]) == {3}
        and set(table["n_seeds_baseline"]) == {1}
    )
    for _, family in table.groupby("measure"):
        assert family["p_adjusted"].tolist() == pytest.approx(
            np.minimum(1, 2 * family["p_value"]).tolist()
        )
    accuracy = table[(table["measure"] == "accuracy") & (table["pair"] == "de-en")].iloc[0]
    judged = n_gold > 0
    seeds = sources[(sources["pair"] == "de-en") & sources["encoder"].str.contains("seed")]
    expected = (
        seeds.groupby("encoder")
        .apply(lambda f: f["correct"].to_numpy()[judged].mean(), include_groups=False)
        .mean()
    )
    assert accuracy["system_value"] == pytest.approx(expected)
    assert accuracy["significant"] and accuracy["delta"] > 0.1 and accuracy["mde"] > 0
    # two encoders that hold different sources of a task cannot be paired
    broken = sources.copy()
    broken.loc[broken["encoder"] == "bi-encoder/e5", "source"] += "x"
    with pytest.raises(CsirError, match="different sources"):
        mining_stats.compare_encoders(broken, comparisons, n_resamples=100)
    with pytest.raises(CsirError, match="correction"):
        mining_stats.compare_encoders(sources, comparisons, correction="fdr")
