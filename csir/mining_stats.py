"""Paired significance of mining differences between encoders: a bootstrap over test sources.

Mining F1 is not a mean of per-source values, so notebook 05's per-query tests do not apply.
The paired bootstrap (Koehn 2004; Berg-Kirkpatrick et al. 2012) does: it resamples the test
split's sources with replacement, the same draw for every seed of both encoders, recomputes
each side's measure averaged over its seeds (both measures are ratios of per-source sums,
:func:`csir.mining.source_terms`) and takes the difference. The thresholds stay those the dev
split chose, as in the reported numbers.

- the interval is the percentile interval of the bootstrap differences;
- the two-sided p-value shifts the bootstrap distribution to the null (difference 0):
  ``(1 + #{|δ* − δ| ≥ |δ|}) / (B + 1)``;
- one correction family per measure over the whole table (as notebook 05), comparisons of
  identical outcomes kept out of it;
- the minimum detectable effect is ``(z(1 − a/2) + z(power)) · se`` with the bootstrap's
  standard error and ``a`` the per-test level of the correction.

Example:
    >>> table = compare_encoders(sources, mining_baselines(names))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from csir import mining
from csir.errors import CsirError
from csir.ids import BI_ENCODER, SystemId
from csir.stats import CORRECTIONS, POWER, correct_families

#: One task of notebook 07: ``(dataset, pair, scoring)``.
TASK_KEYS = ["dataset", "pair", "scoring"]
#: The per-source outcomes notebook 07 stores (one row per encoder, task and test source).
SOURCE_COLUMNS = ("encoder", *TASK_KEYS, "source", "n_gold", "correct", "mined")
SIGNIFICANCE_COLUMNS = (
    "system", "baseline", *TASK_KEYS, "measure", "system_value", "baseline_value", "delta",
    "ci_low", "ci_high", "p_value", "p_adjusted", "correction", "significant", "mde",
    "n_sources", "n_seeds", "n_seeds_baseline", "identical",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Difference:
    """A paired bootstrap of ``system − baseline`` on one measure."""

    system_value: float
    baseline_value: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    se: float
    identical: bool


def paired_bootstrap(
    n_gold: np.ndarray,
    system: tuple[np.ndarray, np.ndarray],
    baseline: tuple[np.ndarray, np.ndarray],
    measure: str,
    *,
    n_resamples: int = 10_000,
    rng: np.random.Generator | int = 0,
    level: float = 0.95,
) -> Difference:
    """Bootstrap the difference of ``measure`` between two encoders on the same test sources.

    Args:
        n_gold: ``(n,)`` gold pairs of each source.
        system: ``(correct, mined)``, each ``(seeds, n)``: the system's outcomes per seed.
        baseline: the same for the baseline (its own number of seeds).
        measure: ``"accuracy"`` or ``"f1"``.
        n_resamples: bootstrap draws.
        rng: the draws' generator or seed.
        level: the interval's coverage.
    """
    n_gold = np.asarray(n_gold)
    sides = [np.atleast_2d(np.asarray(a, dtype=bool)) for a in (*system, *baseline)]
    pairs = (sides[:2], sides[2:])
    if any(a.shape[-1] != n_gold.size for a in sides) or n_gold.size < 2:
        raise CsirError(
            f"a paired bootstrap needs both encoders' outcomes on the same >= 2 sources, got "
            f"{n_gold.size} sources and outcome shapes {[a.shape for a in sides]}"
        )

    # every seed's per-source numerators, then its denominators, system first (rows, n)
    terms = np.concatenate(
        [np.concatenate(mining.source_terms(measure, n_gold, *side)) for side in pairs]
    )
    split = 2 * len(sides[0])
    ours = float(_side_value(terms[:split], measure))
    theirs = float(_side_value(terms[split:], measure))
    delta = ours - theirs
    # every seed of both sides the same outcomes: every resample's difference is 0
    hits, mined = np.vstack([sides[0], sides[2]]), np.vstack([sides[1], sides[3]])
    identical = bool((hits == hits[0]).all() and (mined == mined[0]).all())
    if identical or np.isnan(delta):
        return Difference(ours, theirs, delta, delta, delta, 1.0, 0.0, identical)
    sums = resampled_sums(terms, n_resamples, rng)
    draws = _side_value(sums[:split], measure) - _side_value(sums[split:], measure)
    extreme = int(np.sum(np.abs(draws - delta) >= abs(delta)))
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return Difference(
        ours,
        theirs,
        delta,
        float(low),
        float(high),
        (1 + extreme) / (draws.size + 1),
        float(draws.std(ddof=1)),
        False,
    )


def resampled_sums(
    terms: np.ndarray, n_resamples: int, rng: np.random.Generator | int = 0
) -> np.ndarray:
    """Row sums of ``terms`` ``(rows, n)`` over ``n_resamples`` bootstrap draws of its ``n``
    columns, the same draws for every row: ``(rows, n_resamples, 1)``.

    A draw is its count vector (how often each source was drawn), so its sums are one matrix
    product: the measures here are ratios of sums, and scipy's ``bootstrap`` would materialise
    every resampled copy (rows × draws × n values; gigabytes on BUCC-sized splits).
    """
    generator = np.random.default_rng(rng)
    n = terms.shape[-1]
    chunk = max(1, (1 << 22) // n)
    out = []
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        drawn = generator.integers(0, n, size=(size, n)) + n * np.arange(size)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n)
        out.append(terms @ counts.T.astype(terms.dtype))
    return np.concatenate(out, axis=1)[..., None]


def _side_value(rows: np.ndarray, measure: str) -> np.ndarray:
    """One encoder's measure averaged over its seeds, from its stacked numerator rows and
    denominator rows (``(2 · seeds, …, n)``)."""
    seeds = rows.shape[0] // 2
    return mining.ratio_of_sums(rows[:seeds], rows[seeds:], measure).mean(axis=0)


def minimum_detectable_effect(se: float, level: float, power: float = POWER) -> float:
    """The smallest difference a two-sided test at ``level`` detects with ``power``, for an
    estimate with standard error ``se`` (normal approximation)."""
    from scipy import stats

    return float((stats.norm.ppf(1 - level / 2) + stats.norm.ppf(power)) * se)


def mining_baselines(encoders: Sequence[str]) -> list[tuple[str, str]]:
    """``(system, baseline)`` comparisons among encoder names (seeds ignored).

    Every trained model against the untrained bi-encoder of its backbone (what training did to
    alignment), and every trained model that is not zero-shot against the zero-shot model of
    its backbone (what code-switching adds); a comparison whose baseline is absent is left out.
    """
    ids = list(dict.fromkeys(SystemId.parse(e).without_seed() for e in encoders))
    bi_encoders = {i.method: i.name for i in ids if i.backbone == BI_ENCODER}
    zero_shot = {i.backbone: i.name for i in ids if i.is_zero_shot}
    pairs = []
    for system in ids:
        if not system.is_model:
            continue
        if system.backbone in bi_encoders:
            pairs.append((system.name, bi_encoders[system.backbone]))
        if not system.is_zero_shot and system.backbone in zero_shot:
            pairs.append((system.name, zero_shot[system.backbone]))
    return pairs


def compare_encoders(
    sources: pd.DataFrame,
    comparisons: Sequence[tuple[str, str]],
    *,
    measures: Sequence[str] = ("accuracy", "f1"),
    correction: str = "bonferroni",
    alpha: float = 0.05,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Every comparison on every task both encoders were mined on, corrected per measure.

    Args:
        sources: per-source outcomes with :data:`SOURCE_COLUMNS` (``encoder`` with its seed).
        comparisons: ``(system, baseline)`` names without seeds (:func:`mining_baselines`).
        measures: ``accuracy`` and/or ``f1``.
        correction: ``"bonferroni"``, ``"holm"`` or ``"none"``, over each measure's family.
        alpha: family-wise error rate.
        n_resamples: bootstrap draws per comparison.
        seed: the draws' seed (every comparison of a task resamples the same sources).

    Returns:
        One row per comparison, task and measure with :data:`SIGNIFICANCE_COLUMNS`.

    Raises:
        CsirError: two encoders of a comparison hold different sources or gold pairs of a task.
    """
    if correction not in CORRECTIONS:
        raise CsirError(f"correction {correction!r} must be one of {CORRECTIONS}")
    frame = sources.assign(
        system=[SystemId.parse(e).without_seed().name for e in sources["encoder"]]
    )
    rows = []
    for task, group in frame.groupby(TASK_KEYS, sort=False):
        per_system = {name: _outcomes(part, task) for name, part in group.groupby("system")}
        for system, baseline in comparisons:
            if system not in per_system or baseline not in per_system:
                continue
            ours, theirs = per_system[system], per_system[baseline]
            if not ours[0].equals(theirs[0]):
                raise CsirError(
                    f"{system} and {baseline} were mined on different sources or gold pairs of "
                    f"{'/'.join(task)}; mine both with the same notebook 07 parameters"
                )
            for measure in measures:
                diff = paired_bootstrap(
                    ours[0].to_numpy(), ours[1:], theirs[1:], measure,
                    n_resamples=n_resamples, rng=seed,
                )  # fmt: skip
                rows.append(
                    dict(zip(TASK_KEYS, task, strict=True), system=system, baseline=baseline)
                    | {"measure": measure, "n_sources": len(ours[0])}
                    | {"n_seeds": len(ours[1]), "n_seeds_baseline": len(theirs[1])}
                    | dataclasses.asdict(diff)
                )
    table = pd.DataFrame(rows, columns=[*SIGNIFICANCE_COLUMNS, "se"])
    return _apply_correction(table, correction, alpha)


def _outcomes(part: pd.DataFrame, task: tuple) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """One system's ``(n_gold by source, correct (seeds, n), mined (seeds, n))`` on a task."""
    wide = part.pivot_table(
        index="source", columns="encoder", values=["correct", "mined"], aggfunc="first"
    )
    if wide.isna().to_numpy().any():
        raise CsirError(
            f"the seeds of {part['system'].iloc[0]} were mined on different sources of "
            f"{'/'.join(task)}; mine them with the same notebook 07 parameters"
        )
    gold = part.groupby("source")["n_gold"].agg(["min", "max"])
    if (gold["min"] != gold["max"]).any():
        raise CsirError(
            f"the seeds of {part['system'].iloc[0]} disagree on the gold pairs of "
            f"{'/'.join(task)}; mine them with the same notebook 07 parameters"
        )
    n_gold = gold.loc[wide.index, "min"].astype(np.int64)
    return n_gold, wide["correct"].to_numpy(bool).T, wide["mined"].to_numpy(bool).T


def _apply_correction(table: pd.DataFrame, correction: str, alpha: float) -> pd.DataFrame:
    """:func:`csir.stats.correct_families` with the bootstrap's minimum detectable effect."""

    def detectable(rows: pd.DataFrame, level: float) -> list[float]:
        return [minimum_detectable_effect(se, level) for se in rows["se"]]

    table = correct_families(table, correction, alpha, detectable)
    return table[list(SIGNIFICANCE_COLUMNS)].reset_index(drop=True)
