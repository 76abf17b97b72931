"""Summarise the segment-cosine head selection (issue 9) from the build folders that made it.

The runs (2 CPU cores), in this order:

1. notebook 02 with ``methods: [zero-shot]`` into ``build/exp/02`` (WikiQA train 1:4 and dev);
2. notebook 03 per k into ``build/exp/03-k<k>``: zero-shot set, ``joint_layers`` k, 240 steps x 16
   pairs, 128 tokens, lr 3e-5 (head 0.01), 24 warm-up steps, bf16, dev every 40 steps, seed 1
   for k = 0, 1, 2, then seeds 2-3 for k = 2 (best seed-1 dev) and for k = 0;
3. notebook 04 per k into ``build/exp/04`` (k = 2) and ``build/exp/04-k<k>``: XQuAD-R question ->
   answer sentence, 300 seeded questions, English BM25 top 10 mapped by parallel ids, pairs of
   EN/DE/AR and xx-xx (MLIR over en, de, ar), the untrained e5 bi-encoder on the same candidates
   (the earlier candidate protocol);
4. notebook 03 with ``dropout: 0.0`` (k = 0, seeds 1-3) into ``build/exp/03-d0``;
5. notebook 04 under the parallel-unit protocol (``task: sentence, top_k: 2, max_queries: 0``:
   all 1,190 questions, every sentence of the English BM25 top-2 paragraphs in each language)
   into ``build/exp/04u-d0`` (dropout 0) and ``build/exp/04u-k0`` (dropout 0.1), and the k = 1
   model (seed 1) on en-en, de-de, en-de, de-en into ``build/exp/04u-k1``;
6. notebook 02 with ``negatives_per_positive: 0`` (all 20,360 WikiQA training pairs, 5 %
   positive) into ``build/exp/02all``, notebook 03 on it (k = 0, dropout 0, 480 steps, 48
   warm-up, seeds 1-3) into ``build/exp/03-all``, and notebook 04 as in 5 into
   ``build/exp/04u-all``;
7. notebook 03 as in 4 with ``loss: listwise`` into ``build/exp/03-lw`` and with
   ``batch_by_question: True`` (pointwise loss, whole questions per batch) into
   ``build/exp/03-qb`` (dev curves only: neither beat the default on dev).

Command: ``python benchmarks/head_selection.py`` writes ``benchmarks/head_selection.json``: per
model the dev curve and selected step, MRR@10 per system and pair, and for the parallel-unit
protocol the seed-mean zero-shot model minus the bi-encoder and minus BM25, paired over questions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent / "build" / "exp"
EVALUATIONS = {"k2": "04", "k0": "04-k0", "k1": "04-k1"}
UNIT_EVALUATIONS = {
    "k0-dropout0": "04u-d0",
    "k0-dropout0.1": "04u-k0",
    "k1-dropout0.1": "04u-k1",
    "k0-dropout0-all-pairs": "04u-all",
}


def rr10(frame: pd.DataFrame) -> pd.DataFrame:
    """The RR@10 rows of a metrics or per-query table, with a ``pair`` column (``en-de``)."""
    rows = frame[frame["measure"] == "RR@10"].copy()
    rows["pair"] = rows["query_lang"] + "-" + rows["doc_lang"]
    return rows


def paired(per_query: pd.DataFrame) -> dict:
    """Seed-mean zero-shot minus each first stage, per pair: mean, 95 % half-width, p."""
    rr = rr10(per_query)
    result: dict = {}
    for pair, rows in rr.groupby("pair"):
        table = rows.pivot_table(index="query_id", columns="model", values="value")
        seeds = [m for m in table.columns if "zero-shot" in m]
        mean = table[seeds].mean(axis=1)
        sd = float(table[seeds].mean().std()) if len(seeds) > 1 else None
        result[pair] = {"n": len(table), "seed_sd": None if sd is None else round(sd, 4)}
        for ref in (m for m in table.columns if m.split("/")[0] in ("bi-encoder", "first-stage")):
            diff = mean - table[ref]
            half = stats.t.ppf(0.975, len(diff) - 1) * diff.std() / np.sqrt(len(diff))
            result[pair][f"minus {ref}"] = {
                "mean": round(float(diff.mean()), 4),
                "ci95": round(float(half), 4),
                "p": float(stats.ttest_1samp(diff, 0).pvalue),
            }
    return result


def main() -> None:
    out: dict = {"training": {}, "xquad_r_sentence_rr10": {}, "xquad_r_sentence_units": {}}
    for run in sorted(ROOT.glob("03-*/models/*/zero-shot/en-en/p=0.0/seed=*/csir_training.json")):
        info = json.loads(run.read_text(encoding="utf-8"))
        key = f"{run.parts[-8]}/seed={run.parent.name.split('=')[1]}"
        out["training"][key] = {
            "joint_layers": info["args"]["joint_layers"],
            "dropout": info["args"]["dropout"],
            "selected_step": info["selected_step"],
            "dev_mrr": info["dev_mrr"],
            "dev_curve": info["dev_curve"],
            "examples_per_s": info["examples_per_s"],
        }
    for k, folder in EVALUATIONS.items():
        path = ROOT / folder / "metrics.csv"
        if not path.is_file():
            continue
        table = rr10(pd.read_csv(path)).pivot_table(index="model", columns="pair", values="value")
        out["xquad_r_sentence_rr10"][k] = {
            model: {pair: round(float(v), 4) for pair, v in row.items()}
            for model, row in table.iterrows()
        }
    for name, folder in UNIT_EVALUATIONS.items():
        path = ROOT / folder / "per_query.parquet"
        if not path.is_file():
            continue
        per_query = pd.read_parquet(path)
        means = rr10(per_query).groupby(["model", "pair"])["value"].mean()
        out["xquad_r_sentence_units"][name] = {
            "rr10": {f"{model} {pair}": round(float(v), 4) for (model, pair), v in means.items()},
            "paired": paired(per_query),
        }
    target = Path(__file__).with_suffix(".json")
    target.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
