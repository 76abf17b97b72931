"""Summarise the segment-cosine head selection (issue 9) from the build folders that made it.

The runs (2 CPU cores), in this order:

1. notebook 02 with ``methods: [zero-shot]`` into ``build/exp/02`` (WikiQA train 1:4 and dev);
2. notebook 03 per k into ``build/exp/03-k<k>``: zero-shot set, ``joint_layers`` k, 240 steps x 16
   pairs, 128 tokens, lr 3e-5 (head 0.01), 24 warm-up steps, bf16, dev every 40 steps, seed 1
   for k = 0, 1, 2, then seeds 2-3 for k = 2 (best seed-1 dev) and for k = 0;
3. notebook 04 per k into ``build/exp/04`` (k = 2) and ``build/exp/04-k<k>``: XQuAD-R question ->
   answer sentence, 300 seeded questions, English BM25 top 10 mapped by parallel ids, pairs of
   EN/DE/AR and xx-xx (MLIR over en, de, ar), the untrained e5 bi-encoder on the same candidates.

Command: ``python benchmarks/head_selection.py`` writes ``benchmarks/head_selection.json``: per
model the dev curve and selected step, and MRR@10 per system and pair.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent / "build" / "exp"
EVALUATIONS = {"k2": "04", "k0": "04-k0", "k1": "04-k1"}


def main() -> None:
    out: dict = {"training": {}, "xquad_r_sentence_rr10": {}}
    for run in sorted(ROOT.glob("03-k*/models/*/zero-shot/en-en/p=0.0/seed=*/csir_training.json")):
        info = json.loads(run.read_text(encoding="utf-8"))
        key = f"{run.parts[-8]}/seed={run.parent.name.split('=')[1]}"
        out["training"][key] = {
            "joint_layers": info["args"]["joint_layers"],
            "selected_step": info["selected_step"],
            "dev_mrr": info["dev_mrr"],
            "dev_curve": info["dev_curve"],
            "examples_per_s": info["examples_per_s"],
        }
    for k, folder in EVALUATIONS.items():
        path = ROOT / folder / "metrics.csv"
        if not path.is_file():
            continue
        metrics = pd.read_csv(path)
        metrics = metrics[metrics["measure"] == "RR@10"]
        metrics["pair"] = metrics["query_lang"] + "-" + metrics["doc_lang"]
        table = metrics.pivot_table(index="model", columns="pair", values="value")
        out["xquad_r_sentence_rr10"][k] = {
            model: {pair: round(float(v), 4) for pair, v in row.items()}
            for model, row in table.iterrows()
        }
    target = Path(__file__).with_suffix(".json")
    target.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
