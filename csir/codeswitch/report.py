"""Tables of generated training sets: realised switch ratios and example records."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from csir import io
from csir.codeswitch.switcher import SIDES

RATIO_COLUMNS = (
    "method",
    "pair",
    "p",
    "language",
    "ratio",
    "query_ratio",
    "passage_ratio",
    "content_words",
    "switched",
)


def switch_ratio_table(stats: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (method, pair, p, language): realised switch ratio overall and per side.

    ``language`` ``"all"`` is the ratio over every switched text of the set. Sets that switch
    nothing (zero-shot) have no rows. Ratios are switched / non-stopword words, see
    :mod:`csir.codeswitch.generation`.
    """
    rows = []
    for entry in stats:
        ratios = entry["switch_ratio"]
        if not entry.get("languages"):
            continue
        for lang, value in ratios["by_language"].items():
            side = {s: ratios["by_side"][s].get(lang, {}).get("ratio") for s in SIDES}
            rows.append(
                {
                    "method": entry["method"],
                    "pair": entry["pair"],
                    "p": entry["p"],
                    "language": lang,
                    "ratio": value["ratio"],
                    "query_ratio": side["query"],
                    "passage_ratio": side["passage"],
                    "content_words": value["content_words"],
                    "switched": value["switched"],
                }
            )
    return pd.DataFrame(rows, columns=list(RATIO_COLUMNS))


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV, atomically."""
    with io.atomic_write(path) as fh:
        table.to_csv(fh, index=False)
    return Path(path)


def example_records(
    output_dir: str | Path,
    stats: Iterable[Mapping[str, Any]],
    index: int = 0,
    prefer_p: float = 0.5,
) -> pd.DataFrame:
    """Record ``index`` of one training set per method (p = ``prefer_p`` where there is one).

    Every training set keeps the English input order, so the rows show the same pair as it
    reads after each method.
    """
    chosen: dict[str, Mapping[str, Any]] = {}
    for entry in stats:
        current = chosen.get(entry["method"])
        if current is None or (entry["p"] == prefer_p and current["p"] != prefer_p):
            chosen[entry["method"]] = entry
    rows = []
    for method, entry in chosen.items():
        path = (
            Path(output_dir)
            / "train"
            / method
            / entry["pair"]
            / f"p={entry['p']}"
            / entry.get("train_file", "train.jsonl")
        )
        record = next(itertools.islice(io.read_jsonl(path), index, None), None)
        if record is not None:
            rows.append({"method": method, "pair": entry["pair"], "p": entry["p"], **record})
    columns = [
        "method",
        "pair",
        "p",
        "qid",
        "pid",
        "label",
        "query_lang",
        "doc_lang",
        "query",
        "passage",
    ]
    return pd.DataFrame(rows, columns=columns)
