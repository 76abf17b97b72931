"""Result tables behind the paper's figures, from notebook 04's ``metrics.csv`` (pure pandas).

A system name is a model folder path (``e5-small-offline/ml-cs/ml/p=0.5/seed=1``, see notebook
03), ``…/translate-test/…`` for Translate-Test, or ``first-stage/<method>``. Rules these tables
follow, so every number in a figure can be traced:

- **Seeds**: a value is the mean over a system's seeds; ``sd`` is their standard deviation.
- **Methods**: Zero-shot, Translate-Test, ML-CS at ``main_p``, Wiki-CS at ``wiki_p`` and the
  first stage alone. BL-CS is one model per language pair, so a pair (q, d) gets the BL-CS model
  whose training languages cover {q, d} with the fewest others (en-de serves de-de, en-de and
  de-en; en-en averages all of them); a pair none covers (MLIR, de-ar without a de-ar model) has
  no BL-CS value.
- **Settings**: MoIR (q = d), CLIR (q ≠ d), MLIR (a mixed side, ``xx``). A setting's average runs
  over the pairs that every method with a value in that setting has, so bars compare like with
  like; ``n_pairs`` says how many.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from csir import languages
from csir.errors import CsirError
from csir.ids import (
    BI_ENCODER,
    BL_CS,
    CS_METHODS,
    FIRST_STAGE,
    ML_CS,
    TRANSLATE_TEST,
    WIKI_CS,
    ZERO_SHOT,
    SystemId,
)

#: Display names of the methods, in the order the figures show them.
METHOD_LABELS = {
    FIRST_STAGE: "First stage",
    ZERO_SHOT: "Zero-shot",
    TRANSLATE_TEST: "Translate-Test",
    BL_CS: "BL-CS",
    ML_CS: "ML-CS",
    WIKI_CS: "Wiki-CS",
}
SETTINGS = ("MoIR", "CLIR", "MLIR")
SYSTEM_COLUMNS = ("backbone", "method", "train_pair", "p", "seed", "system")


def setting(query_lang: str, doc_lang: str) -> str:
    """``"MLIR"`` when a side is mixed (``xx``), ``"MoIR"`` for one language, else ``"CLIR"``."""
    if languages.MIXED in (query_lang, doc_lang):
        return "MLIR"
    return "MoIR" if query_lang == doc_lang else "CLIR"


def parse_system(name: str) -> dict[str, object]:
    """The columns :data:`SYSTEM_COLUMNS` of a system name (see :class:`csir.ids.SystemId`).

    ``system`` is the seedless name; a first stage has method ``first-stage`` and its own
    method (``bm25``) as ``train_pair``.

    Example:
        >>> parse_system("e5/bl-cs/en-de/p=0.5/seed=2")["method"]
        'bl-cs'
        >>> parse_system("first-stage/bm25")["backbone"]
        'first-stage'
    """
    system = SystemId.parse(name)
    if system.backbone == FIRST_STAGE:
        method, train_pair = FIRST_STAGE, system.method
    else:
        method, train_pair = system.method, system.train_pair
    return dict(
        backbone=system.backbone,
        method=method,
        train_pair=train_pair,
        p=system.p,
        seed=np.nan if system.seed is None else system.seed,
        system=system.without_seed().name,
    )


def require_measures(wanted: Iterable[str], present: Iterable[str], source: str, fix: str) -> None:
    """One :class:`CsirError` naming every measure of ``wanted`` absent from ``present`` (the
    ``measure`` values of ``source``, e.g. ``"notebook 04's metrics.csv"``), the measures that
    are there, and ``fix``.

    Example:
        >>> require_measures(["R@10"], ["RR@10"], "metrics.csv", "add it")
        Traceback (most recent call last):
        ...
        csir.errors.CsirError: measure 'R@10' is not in metrics.csv (present: RR@10); add it
    """
    have = set(present)
    missing = [m for m in dict.fromkeys(wanted) if m not in have]
    if missing:
        names = ", ".join(repr(m) for m in missing)
        noun, verb = ("measure", "is") if len(missing) == 1 else ("measures", "are")
        listed = ", ".join(sorted(map(str, have))) or "none"
        raise CsirError(f"{noun} {names} {verb} not in {source} (present: {listed}); {fix}")


def annotate(metrics: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Rows of ``measure`` with the parsed system columns and the pair's ``setting`` added."""
    require_measures(
        [measure],
        metrics["measure"],
        "notebook 04's metrics.csv",
        "add it to notebook 04's measures and run 04 again, or pick one of these",
    )
    rows = metrics[metrics["measure"] == measure].copy()
    parsed = pd.DataFrame([parse_system(m) for m in rows["model"]], index=rows.index)
    rows = pd.concat([rows, parsed], axis=1)
    rows["setting"] = [
        setting(q, d) for q, d in zip(rows["query_lang"], rows["doc_lang"], strict=True)
    ]
    return rows


def backbones(rows: pd.DataFrame) -> list[str]:
    """Backbones with a zero-shot model, the one with the most systems first."""
    models = rows[rows["backbone"] != FIRST_STAGE]
    with_zero_shot = set(models.loc[models["method"] == ZERO_SHOT, "backbone"])
    counts = models[models["backbone"].isin(with_zero_shot)].groupby("backbone")["system"].nunique()
    return sorted(counts.index, key=lambda b: (-counts[b], b))


def _covering(train_pair: str, query_lang: str, doc_lang: str) -> int | None:
    """How many languages a BL-CS training pair has beyond the evaluated pair's (None: none)."""
    if languages.MIXED in (query_lang, doc_lang):
        return None
    trained = set(train_pair.split("-"))
    wanted = {query_lang, doc_lang}
    return len(trained - wanted) if wanted <= trained else None


def method_scores(rows: pd.DataFrame, *, main_p: float = 0.5, wiki_p: float = 1.0) -> pd.DataFrame:
    """One value per (backbone, method, seed, pair): the systems the paper's methods stand for.

    Input: :func:`annotate` rows. The first stage is repeated under every backbone.
    Output columns: ``backbone, method, seed, query_lang, doc_lang, setting, value, source``
    (``source``: the system the value comes from, for BL-CS possibly several joined by ``+``).
    """
    keys = ["query_lang", "doc_lang", "setting"]
    out = []
    for backbone in backbones(rows):
        mine = rows[rows["backbone"] == backbone]
        first = rows[rows["method"] == FIRST_STAGE]
        picks = {
            ZERO_SHOT: mine[mine["method"] == ZERO_SHOT],
            TRANSLATE_TEST: mine[mine["method"] == TRANSLATE_TEST],
            ML_CS: mine[(mine["method"] == ML_CS) & np.isclose(mine["p"], main_p)],
            WIKI_CS: mine[(mine["method"] == WIKI_CS) & np.isclose(mine["p"], wiki_p)],
        }
        for method, frame in [(FIRST_STAGE, first), *picks.items()]:
            if frame.empty:
                continue
            table = frame.assign(backbone=backbone, method=method, source=frame["system"])
            out.append(table[["backbone", "method", "seed", *keys, "value", "source"]])
        bl = mine[(mine["method"] == BL_CS) & np.isclose(mine["p"], main_p)]
        if not bl.empty:
            out.append(_matched_bl_cs(bl, backbone))
    if not out:
        raise CsirError("metrics.csv holds no model of a backbone with a zero-shot model")
    return pd.concat(out, ignore_index=True)


def _matched_bl_cs(bl: pd.DataFrame, backbone: str) -> pd.DataFrame:
    extra = [
        _covering(t, q, d)
        for t, q, d in zip(bl["train_pair"], bl["query_lang"], bl["doc_lang"], strict=True)
    ]
    bl = bl.assign(extra=extra).dropna(subset=["extra"])
    if bl.empty:
        return pd.DataFrame()
    keys = ["query_lang", "doc_lang", "setting", "seed"]
    best = bl.groupby(keys, dropna=False)["extra"].transform("min")
    bl = bl[bl["extra"] == best]
    grouped = bl.groupby(keys, dropna=False)
    table = grouped["value"].mean().to_frame()
    table["source"] = grouped["system"].agg(lambda s: "+".join(sorted(set(s))))
    table = table.reset_index().assign(backbone=backbone, method=BL_CS)
    return table[
        ["backbone", "method", "seed", "query_lang", "doc_lang", "setting", "value", "source"]
    ]


def seed_mean(scores: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Mean, sd (0 for one seed) and number of seeds of ``value`` over seeds, grouped ``by``."""
    grouped = scores.groupby(list(by), sort=False, dropna=False)["value"]
    out = grouped.agg(mean="mean", sd="std", n_seeds="size").reset_index()
    out["sd"] = out["sd"].fillna(0.0)
    return out


def mean_sd(mean: float, sd: float, n_seeds: int) -> str:
    """A table cell of :func:`seed_mean`'s columns: ``.812 ± .004``, the mean alone for one seed."""
    return f"{mean:.3f}" + (f" ± {sd:.3f}" if n_seeds > 1 else "")


def setting_averages(scores: pd.DataFrame) -> pd.DataFrame:
    """Per backbone, setting and method: the mean over the setting's common pairs, ± sd over seeds.

    Input: :func:`method_scores`. Output columns: ``backbone, setting, method, mean, sd,
    n_seeds, n_pairs, pairs``.
    """
    out = []
    for (backbone, name), group in scores.groupby(["backbone", "setting"], sort=False):
        table, common = _common_pair_means(group, "method")
        if not common:
            continue
        table = table.assign(
            backbone=backbone,
            setting=name,
            n_pairs=len(common),
            pairs=" ".join(sorted(f"{q}-{d}" for q, d in common)),
        )
        out.append(table)
    if not out:
        raise CsirError("no setting has a language pair that every method was evaluated on")
    table = pd.concat(out, ignore_index=True)
    table = _order(table)
    return table[["backbone", "setting", "method", "mean", "sd", "n_seeds", "n_pairs", "pairs"]]


def _pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
    """The (query language, document language) pairs of ``frame``'s rows."""
    return set(zip(frame["query_lang"], frame["doc_lang"], strict=True))


def _on_pairs(frame: pd.DataFrame, pairs: set[tuple[str, str]]) -> pd.DataFrame:
    """The rows of ``frame`` on one of ``pairs``."""
    keep = [(q, d) in pairs for q, d in zip(frame["query_lang"], frame["doc_lang"], strict=True)]
    return frame[keep]


def _common_pair_means(frame: pd.DataFrame, by: str) -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    """Per ``by`` group: the mean over the pairs every group has, then mean ± sd over seeds.

    Returns the :func:`seed_mean` table (one row per group) and those common pairs.
    """
    common = set.intersection(*(_pairs(g) for _, g in frame.groupby(by, sort=False)))
    per_seed = (
        _on_pairs(frame, common)
        .groupby([by, "seed"], dropna=False, sort=False)["value"]
        .mean()
        .reset_index()
    )
    return seed_mean(per_seed, [by]), common


def _order(table: pd.DataFrame) -> pd.DataFrame:
    """Sort by backbone, then setting and method in the paper's order."""
    rank = {**{m: i for i, m in enumerate(METHOD_LABELS)}, **{s: i for i, s in enumerate(SETTINGS)}}
    table = table.assign(_s=table["setting"].map(rank), _m=table["method"].map(rank))
    table = table.sort_values(["backbone", "_s", "_m"], kind="stable")
    return table.drop(columns=["_s", "_m"]).reset_index(drop=True)


def language_grid(rows: pd.DataFrame, system: str) -> pd.DataFrame:
    """Query language × document language of one seedless system (mean over seeds), no MLIR."""
    mine = rows[(rows["system"] == system) & (rows["setting"] != "MLIR")]
    if mine.empty:
        raise CsirError(f"system {system!r} has no MoIR/CLIR results in metrics.csv")
    grid = mine.groupby(["query_lang", "doc_lang"])["value"].mean().unstack("doc_lang")
    order = sorted(set(grid.index) | set(grid.columns), key=_language_rank)
    return grid.reindex(index=order, columns=order)


def _language_rank(code: str) -> tuple[int, str]:
    return (languages.ALL.index(code) if code in languages.ALL else len(languages.ALL), code)


def zero_shot_system(rows: pd.DataFrame, backbone: str) -> str:
    """The seedless zero-shot system of ``backbone``."""
    names = sorted(
        set(rows.loc[(rows["backbone"] == backbone) & (rows["method"] == ZERO_SHOT), "system"])
    )
    if not names:
        raise CsirError(
            f"backbone {backbone!r} has no zero-shot model in metrics.csv; train "
            "zero-shot/en-en/p=0.0 in notebook 03 and evaluate it in notebook 04"
        )
    return names[0]


def best_code_switched(rows: pd.DataFrame, backbone: str, baseline: str) -> str:
    """The code-switched system of ``backbone`` with the highest mean over the baseline's pairs.

    Only systems evaluated on every MoIR/CLIR pair of the baseline compete, so the choice is not
    won on a subset. It is a choice for display: significance comes from notebook 05.
    """
    grid = language_grid(rows, baseline)
    needed = {(q, d) for q in grid.index for d in grid.columns if pd.notna(grid.loc[q, d])}
    candidates = rows[
        (rows["backbone"] == backbone)
        & rows["method"].isin(CS_METHODS)
        & (rows["setting"] != "MLIR")
    ]
    means = {
        name: _on_pairs(group, needed)["value"].mean()
        for name, group in candidates.groupby("system")
        if needed <= _pairs(group)
    }
    if not means:
        raise CsirError(
            f"no code-switched model of {backbone!r} was evaluated on all of the zero-shot "
            f"model's pairs ({len(needed)}); evaluate them together in notebook 04"
        )
    return max(sorted(means), key=lambda n: means[n])


def require_tested_measure(significance: pd.DataFrame, measure: str) -> None:
    """One :class:`CsirError` when notebook 05's ``significance.csv`` holds no test of
    ``measure``, naming the measures it holds and the fixes; an empty one (a study with nothing
    to compare with zero-shot) passes: there is no test to miss."""
    if significance.empty:
        return
    require_measures(
        [measure],
        significance["measure"].unique() if "measure" in significance else [],
        "notebook 05's significance.csv",
        "run notebook 05 with measures including it, or set notebook 06's measure to one of these",
    )


#: Notebook 05's ``correction`` → how notebook 06's table legend names it.
CORRECTION_NAMES = {
    "bonferroni": "after notebook 05's Bonferroni correction",
    "holm": "after notebook 05's Holm correction",
    "none": "uncorrected (notebook 05's correction: none)",
}


def used_correction(significance: pd.DataFrame, measure: str) -> str:
    """The ``correction`` notebook 05 applied to ``measure``'s comparisons (significance.csv's
    ``correction`` column), e.g. ``"none"``."""
    used = sorted(set(significance.loc[significance["measure"] == measure, "correction"]))
    if len(used) != 1:
        raise CsirError(
            f"notebook 05's significance.csv holds corrections {used} for {measure}, not one; "
            "run notebook 05 again"
        )
    return str(used[0])


def significance_grid(
    significance: pd.DataFrame, system: str, baseline: str, measure: str
) -> pd.DataFrame:
    """Query × document language of notebook 05's ``significant`` flags for one comparison.

    Raises:
        CsirError: notebook 05 did not test ``measure`` (the flags would all read "not
            significant" where nothing was tested).
    """
    require_tested_measure(significance, measure)
    rows = significance[
        (significance["system"] == system)
        & (significance["baseline"] == baseline)
        & (significance["measure"] == measure)
    ]
    if rows.empty:
        return pd.DataFrame(dtype=bool)
    return rows.pivot_table(
        index="query_lang", columns="doc_lang", values="significant", aggfunc="any"
    ).astype(bool)


def _system_rank(system: str) -> tuple[int, str]:
    parsed = parse_system(system)
    if parsed["method"] == FIRST_STAGE:
        return 0, system
    if parsed["backbone"] == BI_ENCODER:
        return 1, system
    return (2 if parsed["method"] == ZERO_SHOT else 3), system


def results_table(
    rows: pd.DataFrame, significance: pd.DataFrame, measure: str = "RR@10"
) -> pd.DataFrame:
    """The study's table: one row per system (seeds pooled), one column per evaluated pair.

    A cell is the mean over seeds (± sd when there are several); where notebook 05 compared the
    system with a zero-shot model, its difference follows in brackets (system − zero-shot, on
    per-query scores averaged over seeds), with ``†`` when significant after the correction.
    The last row, ``minimum detectable effect``, is per pair the median over those comparisons
    of the smallest difference the corrected test finds with 80 % power.

    Input: :func:`annotate` rows and notebook 05's ``significance.csv``, which must hold
    ``measure`` (:func:`require_tested_measure`).
    """
    require_tested_measure(significance, measure)
    rows = rows.assign(pair=rows["query_lang"] + "-" + rows["doc_lang"])
    pairs = list(dict.fromkeys(rows["pair"]))
    values = seed_mean(rows, ["system", "pair"]).set_index(["system", "pair"])
    sig = significance[significance["measure"] == measure]
    sig = sig.assign(pair=sig["query_lang"] + "-" + sig["doc_lang"])
    if "identical" in sig:
        sig = sig[~sig["identical"].astype(bool)]
    by_system = sig.drop_duplicates(["system", "pair"]).set_index(["system", "pair"])
    systems = sorted(set(rows["system"]), key=_system_rank)
    table: dict[str, dict[str, str]] = {}
    for system in systems:
        cells = {}
        for pair in pairs:
            if (system, pair) not in values.index:
                cells[pair] = "–"
                continue
            cell = mean_sd(*values.loc[(system, pair), ["mean", "sd", "n_seeds"]])
            if (system, pair) in by_system.index:
                row = by_system.loc[(system, pair)]
                cell += f" ({row['delta']:+.3f}{'†' if bool(row['significant']) else ''})"
            cells[pair] = cell
        table[system] = cells
    if "mde" in sig and sig["mde"].notna().any():
        mde = sig.groupby("pair")["mde"].median()
        table["minimum detectable effect"] = {
            pair: f"{mde[pair]:.3f}" if pair in mde.index else "–" for pair in pairs
        }
    out = pd.DataFrame.from_dict(table, orient="index")[pairs]
    out.index.name = "system"
    return out


def markdown_table(table: pd.DataFrame) -> str:
    """A DataFrame of strings as a GitHub-flavoured Markdown table (index first)."""
    header = [table.index.name or "", *map(str, table.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in table.iterrows():
        lines.append("| " + " | ".join([str(name), *map(str, row.tolist())]) + " |")
    return "\n".join(lines) + "\n"


def p_ablation(rows: pd.DataFrame, backbone: str, method: str = ML_CS) -> pd.DataFrame:
    """Setting averages of ``method`` at every p, and of the zero-shot model as p = 0.

    Each setting averages over the pairs that every p (and zero-shot) was evaluated on.
    Output columns: ``setting, p, mean, sd, n_seeds, n_pairs``.
    """
    mine = rows[(rows["backbone"] == backbone) & rows["method"].isin([method, ZERO_SHOT])]
    if method == BL_CS:
        raise CsirError("the p ablation averages over pairs; use ml-cs (one model for all pairs)")
    if mine[mine["method"] == method]["p"].nunique() < 2:
        raise CsirError(
            f"{backbone}: fewer than two switch probabilities of {method} in metrics.csv; train "
            f"{method}/<pair>/p=0.25 … p=1.0 in notebook 03 and evaluate them in notebook 04"
        )
    scores = mine.assign(p=mine["p"].where(mine["method"] == method, 0.0))
    out = []
    for name, group in scores.groupby("setting", sort=False):
        table, common = _common_pair_means(group, "p")
        out.append(table.assign(setting=name, n_pairs=len(common)))
    table = pd.concat(out, ignore_index=True)
    table["order"] = table["setting"].map({s: i for i, s in enumerate(SETTINGS)})
    table = table.sort_values(["order", "p"]).drop(columns="order").reset_index(drop=True)
    return table[["setting", "p", "mean", "sd", "n_seeds", "n_pairs"]]


def backbone_comparison(scores: pd.DataFrame) -> pd.DataFrame:
    """Setting averages of the methods that at least two backbones have, per backbone.

    Input: :func:`method_scores`. The first stage is left out (it has no backbone).
    """
    models = scores[scores["method"] != FIRST_STAGE]
    shared = models.groupby("method")["backbone"].nunique()
    shared = shared[shared >= 2].index
    if len(shared) == 0:
        raise CsirError(
            "only one backbone in metrics.csv; train another in notebook 03 (e.g. num_layers=6, "
            "or an online backbone) and evaluate it in notebook 04"
        )
    return setting_averages(models[models["method"].isin(shared)])


def bli_table(bli: pd.DataFrame) -> pd.DataFrame:
    """Notebook 01's ``bli.csv`` as ``source, method, language, precision_at_1`` (NN, CSLS)."""
    needed = {"source", "method", "src_lang", "tgt_lang", "precision_at_1"}
    missing = needed - set(bli.columns)
    if missing:
        raise CsirError(f"bli.csv lacks columns {sorted(missing)}; rerun notebook 01")
    rows = bli[bli["src_lang"] == "en"].copy()
    rows["language"] = rows["tgt_lang"]
    rows["method"] = rows["method"].str.upper()
    order = sorted(rows["language"].unique(), key=_language_rank)
    rows["language"] = pd.Categorical(rows["language"], order, ordered=True)
    return rows.sort_values(["source", "language", "method"])[
        ["source", "method", "language", "precision_at_1"]
    ].reset_index(drop=True)


def settings_latex(table: pd.DataFrame, backbone: str, measure: str = "RR@10") -> str:
    """:func:`setting_averages` of one backbone as LaTeX: methods × settings, mean (± sd)."""
    rows = table[table["backbone"] == backbone].copy()
    rows["cell"] = [
        f"{m:.3f}" + (f" $\\pm$ {s:.3f}" if n > 1 else "")
        for m, s, n in zip(rows["mean"], rows["sd"], rows["n_seeds"], strict=True)
    ]
    rows["label"] = rows["method"].map(METHOD_LABELS).fillna(rows["method"])
    wide = rows.pivot_table(
        index="label", columns="setting", values="cell", aggfunc="first", sort=False
    )
    columns = [s for s in SETTINGS if s in wide.columns]
    counts = rows.groupby("setting")["n_pairs"].first()
    wide = wide[columns].rename(columns={s: f"{s} ({counts[s]})" for s in columns})
    wide.index.name = None
    wide.columns.name = None
    body = wide.fillna("–").to_latex(escape=False, column_format="l" + "r" * len(columns))
    caption = (
        f"% {measure} of {backbone}, averaged over each setting's language pairs (count in "
        "brackets) and over seeds (mean $\\pm$ sd when there are several).\n"
    )
    return caption + body


def pivot_table(table: pd.DataFrame, measure: str = "RR@10") -> pd.DataFrame:
    """One ``measure`` of ``metrics.csv`` as a system × (query, document language) table."""
    rows = table[table["measure"] == measure]
    return rows.pivot_table(index="model", columns=["query_lang", "doc_lang"], values="value")
