"""Paired significance tests on per-query scores, with multiple-comparison corrections.

Pure functions: per-query values in, p-values out (ranx ``compare`` / PyTerrier ``Experiment``
style). Tests come from scipy, corrections from statsmodels; nothing is hand-rolled.

A system name carries its seed as the last path part (``…/seed=1``, as notebook 03 names its
models). Seeds are never picked on test data: :func:`average_seeds` averages each query's value
over a system's seeds before testing, and :func:`seed_summary` reports mean ± sd of the aggregate.

Example:
    >>> table = compare(per_query, baseline="e5/zero-shot/en-en/p=0.0")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from csir.errors import ConfigError, CsirError
from csir.ids import SystemId
from csir.results import require_measures, seed_mean

TESTS = ("t-test", "permutation")
CORRECTIONS = ("bonferroni", "holm", "none")
SIGNIFICANCE_COLUMNS = (
    "system",
    "baseline",
    "dataset",
    "task",
    "query_lang",
    "doc_lang",
    "measure",
    "delta",
    "p_value",
    "p_adjusted",
    "correction",
    "significant",
    "ci_low",
    "ci_high",
    "mde",
    "n_queries",
    "n_seeds",
    "n_seeds_baseline",
    "identical",
)
#: Power at which :func:`minimum_detectable_effect` is reported.
POWER = 0.8
PAIR_KEYS = ["dataset", "task", "query_lang", "doc_lang", "measure"]


def split_seed(model: str) -> tuple[str, int | None]:
    """``"e5/bl-cs/en-de/p=0.5/seed=2"`` → ``("e5/bl-cs/en-de/p=0.5", 2)``; no seed → None."""
    system = SystemId.parse(model)
    return system.without_seed().name, system.seed


def paired_t_test(system: Sequence[float], baseline: Sequence[float]) -> float:
    """Two-sided p-value of scipy's paired t-test; 1.0 when the two are identical."""
    from scipy import stats

    a, b = _paired(system, baseline)
    if np.allclose(a, b):
        return 1.0
    return float(stats.ttest_rel(a, b).pvalue)


def permutation_test(
    system: Sequence[float],
    baseline: Sequence[float],
    *,
    n_resamples: int = 10_000,
    rng: np.random.Generator | int = 0,
) -> float:
    """Two-sided p-value of a paired randomisation test of the mean difference (scipy).

    Each query's pair of values is swapped at random (``permutation_type="samples"``); with
    few queries scipy enumerates every assignment exactly.
    """
    from scipy import stats

    a, b = _paired(system, baseline)
    if np.allclose(a, b):
        return 1.0
    result = stats.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        random_state=np.random.default_rng(rng),
    )
    return float(result.pvalue)


def difference_interval(
    system: Sequence[float], baseline: Sequence[float], level: float = 0.95
) -> tuple[float, float]:
    """Confidence interval of the mean paired difference (Student t, ``level`` two-sided)."""
    from scipy import stats

    a, b = _paired(system, baseline)
    diff = a - b
    half = stats.t.ppf(0.5 + level / 2, diff.size - 1) * diff.std(ddof=1) / np.sqrt(diff.size)
    return float(diff.mean() - half), float(diff.mean() + half)


def minimum_detectable_effect(
    system: Sequence[float], baseline: Sequence[float], alpha: float, power: float = POWER
) -> float:
    """The smallest mean difference a two-sided paired t-test at level ``alpha`` detects with
    probability ``power``, at this number of queries and this spread of per-query differences
    (statsmodels ``TTestPower``); 0 when every difference is equal (any shift is then seen).

    With a correction, pass the per-test level (Bonferroni: ``alpha / family size``): this is
    the effect the corrected study could have seen, to report next to a null result.
    """
    from statsmodels.stats.power import TTestPower

    a, b = _paired(system, baseline)
    sd = float((a - b).std(ddof=1))
    if sd <= 1e-12:
        return 0.0
    d = TTestPower().solve_power(nobs=a.size, alpha=alpha, power=power, alternative="two-sided")
    return float(d) * sd


def correct(
    p_values: Sequence[float], method: str = "bonferroni", alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Adjusted p-values and reject flags over one family of tests (statsmodels).

    Args:
        p_values: the raw p-values of the family.
        method: ``"bonferroni"``, ``"holm"`` or ``"none"``.
        alpha: family-wise error rate.

    Returns:
        ``(reject, p_adjusted)`` as numpy arrays in input order.
    """
    from statsmodels.stats.multitest import multipletests

    if method not in CORRECTIONS:
        raise ConfigError(f"correction {method!r} must be one of {CORRECTIONS}")
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return np.zeros(0, dtype=bool), p
    if method == "none":
        return p < alpha, p
    reject, adjusted, _, _ = multipletests(p, alpha=alpha, method=method)
    return reject, adjusted


def average_seeds(per_query: pd.DataFrame) -> pd.DataFrame:
    """Per-query values averaged over each system's seeds; ``model`` becomes the system name.

    Input: notebook 04's ``per_query.parquet`` (``model, dataset, task, query_lang, doc_lang,
    query_id, measure, value``). Output: the same columns plus ``n_seeds``.
    """
    frame = per_query.copy()
    frame["model"] = [split_seed(m)[0] for m in frame["model"]]
    keys = ["model", *PAIR_KEYS[:4], "query_id", "measure"]
    seeds = per_query["model"].map(lambda m: split_seed(m)[1])
    frame["seed"] = seeds
    grouped = frame.groupby(keys, sort=False)
    out = grouped["value"].mean().to_frame()
    out["n_seeds"] = grouped["seed"].nunique(dropna=False)
    return out.reset_index()


def seed_summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean ± sd over seeds of each system's aggregate (``metrics.csv`` in, one row per system)."""
    frame = metrics.assign(system=[split_seed(m)[0] for m in metrics["model"]])
    return seed_mean(frame, ["system", *PAIR_KEYS])


def compare(
    per_query: pd.DataFrame,
    baseline: str,
    *,
    systems: Sequence[str] | None = None,
    measures: Sequence[str] = ("RR@10",),
    test: str = "t-test",
    correction: str = "bonferroni",
    alpha: float = 0.05,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Every system against ``baseline`` on every (dataset, task, pair, measure) they share.

    Per-query values are first averaged over seeds (:func:`average_seeds`) of both systems, so
    ``baseline`` and ``systems`` are names without ``/seed=``. One correction family per
    measure: all the comparisons of that measure in the table (systems × pairs), as the paper's
    Bonferroni, except comparisons of identical scores (``identical``: e.g. Translate-Test on
    en-en is the zero-shot model), which are reported with p = 1 and never enlarge the family.

    Returns:
        A DataFrame with :data:`SIGNIFICANCE_COLUMNS`: ``delta`` = system − baseline mean, its
        95 % interval ``ci_low``/``ci_high``, ``mde`` = the smallest difference the corrected
        test detects with power :data:`POWER` (see :func:`minimum_detectable_effect`), the
        number of queries and of each side's seeds.

    Raises:
        CsirError: the baseline is absent, or a system and the baseline judge different queries.
        ConfigError: an unknown test or correction.
    """
    table = _comparisons(per_query, baseline, systems, measures, test, n_resamples, seed)
    if correction not in CORRECTIONS:
        raise ConfigError(f"correction {correction!r} must be one of {CORRECTIONS}")
    return _apply_correction(table, correction, alpha)


def _comparisons(
    per_query: pd.DataFrame,
    baseline: str,
    systems: Sequence[str] | None,
    measures: Sequence[str],
    test: str,
    n_resamples: int,
    seed: int,
) -> pd.DataFrame:
    """The uncorrected rows of :func:`compare`, with each side's per-query scores (``_a``,
    ``_b``) for the correction's minimum detectable effect."""
    if test not in TESTS:
        raise ConfigError(f"test {test!r} must be one of {TESTS}")
    require_evaluated_measures(per_query, measures)
    frame = average_seeds(per_query)
    frame = frame[frame["measure"].isin(measures)]
    names = list(dict.fromkeys(frame["model"]))
    if baseline not in names:
        raise CsirError(
            f"baseline {baseline!r} has no per-query scores; systems present: {', '.join(names)}"
        )
    wanted = [s for s in (systems or names) if s != baseline]
    rows = []
    for key, group in frame.groupby(PAIR_KEYS, sort=False):
        base = group[group["model"] == baseline].set_index("query_id")["value"]
        if base.empty:
            continue
        for name in wanted:
            other = group[group["model"] == name].set_index("query_id")["value"]
            if other.empty:
                continue
            if set(other.index) != set(base.index):
                raise CsirError(
                    f"{name} and {baseline} judge different queries on {'/'.join(key[:4])} "
                    f"({len(other)} vs {len(base)}); evaluate both on the same pairs and queries"
                )
            a, b = other.loc[base.index].to_numpy(), base.to_numpy()
            identical = bool(np.allclose(a, b))
            if test == "t-test":
                p = paired_t_test(a, b)
            else:
                p = permutation_test(a, b, n_resamples=n_resamples, rng=seed)
            low, high = (0.0, 0.0) if identical else difference_interval(a, b)
            seeds = group.drop_duplicates("model").set_index("model")["n_seeds"]
            rows.append(
                dict(zip(PAIR_KEYS, key, strict=True), system=name, baseline=baseline)
                | {"delta": float(a.mean() - b.mean()), "p_value": p, "ci_low": low}
                | {"ci_high": high, "n_queries": len(a), "identical": identical}
                | {"n_seeds": int(seeds[name]), "n_seeds_baseline": int(seeds[baseline])}
                | {"_a": a, "_b": b}
            )
    columns = [c for c in SIGNIFICANCE_COLUMNS if c not in ("p_adjusted", "correction")]
    columns = [c for c in columns if c not in ("significant", "mde")]
    return pd.DataFrame(rows, columns=[*columns, "_a", "_b"])


def _apply_correction(table: pd.DataFrame, correction: str, alpha: float) -> pd.DataFrame:
    """:func:`correct_families` with the paired t-test's minimum detectable effect."""

    def detectable(rows: pd.DataFrame, level: float) -> list[float]:
        pairs = zip(rows["_a"], rows["_b"], strict=True)
        return [minimum_detectable_effect(a, b, level) for a, b in pairs]

    table = correct_families(table, correction, alpha, detectable)
    return table[list(SIGNIFICANCE_COLUMNS)].reset_index(drop=True)


def correct_families(
    table: pd.DataFrame,
    correction: str,
    alpha: float,
    detectable: Callable[[pd.DataFrame, float], Sequence[float]],
) -> pd.DataFrame:
    """Fill ``p_adjusted``/``significant``/``correction``/``mde`` of a table of comparisons
    (``measure``, ``p_value``, ``identical``): one family per measure of the comparisons that are
    not ``identical`` (those keep p = 1, never significant, no ``mde``).

    ``detectable(rows, level)`` gives the minimum detectable effect of each row of a family at the
    per-test level of the correction (Bonferroni's ``alpha / family size``, also for Holm, whose
    smallest p-value faces that level).
    """
    table = table.copy()
    identical = table["identical"].astype(bool)
    table["p_adjusted"] = np.where(identical, 1.0, np.nan)
    table["significant"] = False
    table["mde"] = np.nan
    for _, index in table[~identical].groupby("measure").groups.items():
        reject, adjusted = correct(table.loc[index, "p_value"], correction, alpha)
        table.loc[index, "p_adjusted"] = adjusted
        table.loc[index, "significant"] = reject
        level = alpha if correction == "none" else alpha / len(index)
        table.loc[index, "mde"] = list(detectable(table.loc[index], level))
    table["correction"] = correction
    table["significant"] = table["significant"].astype(bool)
    table["identical"] = identical
    return table


def _paired(system: Sequence[float], baseline: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(system, dtype=float), np.asarray(baseline, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise CsirError(
            f"paired tests need two equally long 1-d score lists of >= 2 queries, "
            f"got shapes {a.shape} and {b.shape}"
        )
    return a, b


def zero_shot_baselines(systems: Sequence[str]) -> dict[str, list[str]]:
    """Each system's baseline: the zero-shot model of the same backbone (first path part).

    Systems that are no model of a backbone with a zero-shot model (e.g. ``first-stage/bm25``)
    are compared with every zero-shot baseline. Seeds are ignored (names may carry them or not).
    """
    ids = list(dict.fromkeys(SystemId.parse(s).without_seed() for s in systems))
    baselines = {i.backbone: i.name for i in ids if i.is_zero_shot}
    out: dict[str, list[str]] = {}
    for system in ids:
        name, backbone = system.name, system.backbone
        if name in baselines.values():
            continue
        targets = [baselines[backbone]] if backbone in baselines else list(baselines.values())
        for target in targets:
            out.setdefault(target, []).append(name)
    return out


def compare_with_zero_shot(per_query: pd.DataFrame, **options) -> pd.DataFrame:
    """:func:`compare` for every zero-shot baseline and its systems, one correction family per
    measure over the whole table (all baselines together)."""
    baselines = zero_shot_baselines(per_query["model"].unique())
    if not baselines:
        raise CsirError(
            "no zero-shot model among the evaluated systems (a name with 'zero-shot' in it); "
            "evaluate the model trained on zero-shot/en-en in notebook 04"
        )
    correction = options.pop("correction", "bonferroni")
    alpha = options.pop("alpha", 0.05)
    if correction not in CORRECTIONS:
        raise ConfigError(f"correction {correction!r} must be one of {CORRECTIONS}")
    options = {"measures": ("RR@10",), "test": "t-test", "n_resamples": 10_000, "seed": 0} | options
    tables = [
        _comparisons(per_query, baseline, systems, **options)
        for baseline, systems in baselines.items()
    ]
    return _apply_correction(pd.concat(tables, ignore_index=True), correction, alpha)


def latex_table(table: pd.DataFrame, measure: str = "RR@10") -> str:
    """Deltas of one measure as a LaTeX table: systems × pairs, ``$^\\dagger$`` = significant."""
    rows = table[table["measure"] == measure].copy()
    rows["pair"] = rows["query_lang"].str.upper() + "–" + rows["doc_lang"].str.upper()
    rows["cell"] = [
        f"{d:+.3f}" + ("$^\\dagger$" if s else "")
        for d, s in zip(rows["delta"], rows["significant"], strict=True)
    ]
    wide = rows.pivot_table(index="system", columns="pair", values="cell", aggfunc="first")
    wide.index.name = None
    wide.columns.name = None
    return wide.fillna("–").to_latex(escape=False, column_format="l" + "r" * wide.shape[1])


def require_evaluated_measures(per_query: pd.DataFrame, measures: Sequence[str]) -> None:
    """One :class:`CsirError` naming each of ``measures`` (notebook 05's) that notebook 04's
    per-query scores lack, the measures they hold, and the two fixes."""
    require_measures(
        measures,
        per_query["measure"].unique(),
        "notebook 04's per_query.parquet",
        "add it to notebook 04's measures and run 04 again, or remove it from notebook 05's "
        "measures",
    )


def read_evaluation(
    folder: str | Path, measures: Sequence[str] = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``per_query.parquet`` and ``metrics.csv`` of notebook 04, with one clear error if absent
    or if the per-query scores lack one of ``measures`` (those notebook 05 will test)."""
    from csir import io

    folder = Path(folder)
    files = [folder / "per_query.parquet", folder / "metrics.csv"]
    io.require_outputs(files, "04_evaluation", "evaluation_dir")
    per_query = pd.read_parquet(files[0])
    require_evaluated_measures(per_query, measures)
    return per_query, pd.read_csv(files[1])


def write_significance(
    table: pd.DataFrame, seeds: pd.DataFrame, out: str | Path, measures: Sequence[str]
) -> list[Path]:
    """Write ``significance.csv``, ``seeds.csv`` and one ``significance_<measure>.tex`` each.

    A table with comparisons must hold every one of ``measures``; an empty one (a study with
    nothing to compare, e.g. the zero-shot model alone on exhaustive candidates) writes empty
    tables.
    """
    from csir import io

    if not table.empty:
        require_measures(
            measures,
            table["measure"].unique(),
            "the significance table",
            "compare with measures including it (stats.compare_with_zero_shot(measures=...))",
        )
    out = Path(out)
    written = [out / "significance.csv", out / "seeds.csv"]
    with io.atomic_write(written[0]) as fh:
        table.to_csv(fh, index=False, float_format="%.6g")
    with io.atomic_write(written[1]) as fh:
        seeds.to_csv(fh, index=False, float_format="%.6g")
    for measure in measures:
        written.append(out / f"significance_{measure.replace('@', '_at_')}.tex")
        with io.atomic_write(written[-1]) as fh:
            fh.write(latex_table(table, measure))
    return written
