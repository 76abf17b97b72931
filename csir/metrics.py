"""Retrieval metrics through ir_measures, per query, with strict id checks.

Whether a qrels query that the run lacks counts (as 0) or is skipped (inflating the mean) depends
on the ir_measures provider and version (0.4.3 with pytrec_eval counts it; other providers and
older versions skipped it). Here it cannot go unnoticed: :func:`per_query` refuses such a run by
default (``missing="error"``) and, with ``missing="zero"``, adds those queries explicitly with
value 0 (an empty ranking scores 0 on every measure). Queries of the run that the qrels do not
judge are always refused: they would be ignored by the evaluation, which usually means the wrong
qrels.

Example:
    >>> table = per_query(run, qrels, ["RR@10", "nDCG@10"])  # doctest: +SKIP
    >>> table.groupby("measure", sort=False)["value"].mean()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from csir.errors import ConfigError, CsirError

if TYPE_CHECKING:
    import pandas as pd
    from ir_measures import Measure

DEFAULT_MEASURES: tuple[str, ...] = ("RR@10", "nDCG@10", "R@100")
"""MRR@10 (the paper's metric), nDCG@10 and recall@100."""


def parse_measures(names: Iterable[str] | str) -> dict[str, Measure]:
    """Parse measure names with ir_measures, keeping the names as given.

    Args:
        names: ir_measures names such as ``"RR@10"``, ``"nDCG@10"``, ``"R@100"``; one string or
            several.

    Returns:
        ``{name as given: ir_measures measure}`` in the given order.

    Raises:
        ConfigError: for an empty list, a duplicate or a name ir_measures does not know.
    """
    import ir_measures

    if isinstance(names, str):
        names = [names]
    parsed: dict[str, Measure] = {}
    for name in names:
        if name in parsed:
            raise ConfigError(f"measure {name!r} is listed twice")
        try:
            parsed[name] = ir_measures.parse_measure(name)
        except Exception as exc:  # ir_measures raises NameError, ValueError or TypeError
            raise ConfigError(
                f"unknown measure {name!r} ({exc}); use ir_measures names such as "
                f"{', '.join(DEFAULT_MEASURES)}, 'AP', 'P@5' (see ir-measur.es)"
            ) from None
    if not parsed:
        raise ConfigError(f"no measure given; e.g. {list(DEFAULT_MEASURES)}")
    return parsed


@dataclass(frozen=True)
class IdCheck:
    """How the query ids of a run and of its qrels overlap (sorted id lists)."""

    only_run: list[str]
    only_qrels: list[str]
    common: list[str]


def _examples(ids: Sequence[str]) -> str:
    return ", ".join(repr(i) for i in ids[:3]) + (", ..." if len(ids) > 3 else "")


def check_ids(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    run_name: str = "run",
    qrels_name: str = "qrels",
    allow_missing: bool = False,
) -> IdCheck:
    """Check that a run answers exactly the queries of its qrels.

    Args:
        run: ``{qid: {docid: score}}``.
        qrels: ``{qid: {docid: relevance}}``.
        run_name: how the run is named in the error (e.g. its file).
        qrels_name: how the qrels are named in the error.
        allow_missing: accept a run that lacks some qrels queries (the caller then counts them
            as 0, see :func:`per_query`); at least one query must still be common.

    Returns:
        The overlap, when acceptable.

    Raises:
        CsirError: when no query id is common, when the run has queries the qrels do not judge,
            or (unless ``allow_missing``) when the run lacks queries of the qrels; the message
            gives the three counts and up to three example ids of each side.
    """
    run_ids, qrels_ids = {str(q) for q in run}, {str(q) for q in qrels}
    check = IdCheck(
        only_run=sorted(run_ids - qrels_ids),
        only_qrels=sorted(qrels_ids - run_ids),
        common=sorted(run_ids & qrels_ids),
    )
    problems = []
    if not check.common:
        problems.append("no query id in common")
    if check.only_run:
        problems.append(f"{run_name} has queries that {qrels_name} does not judge")
    if check.only_qrels and not allow_missing:
        problems.append(f"{run_name} lacks queries of {qrels_name}")
    if problems:
        raise CsirError(
            f"query ids of {run_name} and {qrels_name} do not match: {'; '.join(problems)}. "
            f"Only in {run_name}: {len(check.only_run)} ({_examples(check.only_run)}); "
            f"only in {qrels_name}: {len(check.only_qrels)} ({_examples(check.only_qrels)}); "
            f"common: {len(check.common)} ({_examples(check.common)}). "
            "Check that the run was made from the same query set (and language pair) as the "
            "qrels; to score a run that misses queries as 0, pass missing='zero'."
        )
    return check


def per_query(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    measures: Iterable[str] | str = DEFAULT_MEASURES,
    *,
    missing: Literal["error", "zero"] = "error",
    run_name: str = "run",
    qrels_name: str = "qrels",
) -> pd.DataFrame:
    """One value per (query, measure), computed by ir_measures.

    Args:
        run: ``{qid: {docid: score}}``.
        qrels: ``{qid: {docid: relevance}}``.
        measures: ir_measures names; the ``measure`` column repeats them as given.
        missing: what to do with qrels queries the run lacks: ``"error"`` refuses the run,
            ``"zero"`` adds them with value 0 for every measure.
        run_name: name of the run in error messages.
        qrels_name: name of the qrels in error messages.

    Returns:
        A DataFrame with columns ``query_id, measure, value``, sorted by measure (in the given
        order) and query id; every qrels query appears once per measure.

    Raises:
        CsirError: see :func:`check_ids`.
        ConfigError: for an unknown measure or a bad ``missing``.
    """
    import ir_measures
    import pandas as pd

    if missing not in ("error", "zero"):
        raise ConfigError(f"missing must be 'error' or 'zero', got {missing!r}")
    parsed = parse_measures(measures)
    check = check_ids(
        run, qrels, run_name=run_name, qrels_name=qrels_name, allow_missing=missing == "zero"
    )
    run_ = {str(q): {str(d): float(s) for d, s in docs.items()} for q, docs in run.items()}
    qrels_ = {str(q): {str(d): int(r) for d, r in docs.items()} for q, docs in qrels.items()}
    name_of = {measure: name for name, measure in parsed.items()}
    values: dict[tuple[str, str], float] = {}
    for metric in ir_measures.iter_calc(list(parsed.values()), qrels_, run_):
        values[name_of[metric.measure], metric.query_id] = float(metric.value)
    rows = []
    for name in parsed:
        for qid in sorted(qrels_):
            if qid in check.only_qrels:
                value = 0.0
            else:
                # ir_measures omits a query when the measure is undefined for it; that would
                # shrink the mean silently, so it is an error rather than a guess.
                if (name, qid) not in values:
                    raise CsirError(
                        f"ir_measures returned no {name} value for query {qid!r} of {run_name}; "
                        f"check its judgements in {qrels_name}"
                    )
                value = values[name, qid]
            rows.append((qid, name, value))
    return pd.DataFrame(rows, columns=["query_id", "measure", "value"])
