"""Speed and quality side by side for the CPU scoring options, with a *trained* cross-encoder.

`rerank_throughput.py` compares speeds on an untrained head, where rank agreement says little.
Here one model trained by notebook 03 re-ranks the same XQuAD-R candidates (BM25 top-k in English,
mapped by id) through notebook 04's engine once per scoring variant, and we report MRR@10 next to
pairs/s. Variants run one after another in this process, in a rotated order per round.

Run:
    CSIR_DATA_DIR=../shared/data python benchmarks/rerank_quality.py \\
        --model build/cpu/03_training/models/e5-small-offline/zero-shot/en-en/p=0.0/seed=1 \\
        --task sentence --pairs en-en en-de --queries 60 --top-k 10
Writes ``benchmarks/rerank_quality.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = {
    "fp32-256": {"precision": "fp32", "max_length": 256},
    "fp32-128": {"precision": "fp32", "max_length": 128},
    "bf16-256": {"precision": "bf16", "max_length": 256},
    "int8-256": {"precision": "fp32", "max_length": 256, "int8": True},
}


def evaluate(
    model: Path, task: str, pairs: list[str], queries: int, top_k: int, options: dict, out: Path
):
    """One full evaluation of ``model`` with scoring ``options``; returns (seconds, metrics)."""
    from csir.config import EvaluationConfig
    from csir.evaluate import Evaluation

    cfg = EvaluationConfig.from_params(
        {
            "task": task,
            "pairs": pairs,
            "model_dirs": [str(model)],
            "max_queries": queries,
            "top_k": top_k,
            "first_stage": False,
            "translate_test": False,
            "output_dir": str(out),
            "device": "cpu",
            "smoke": False,
            **options,
        }
    )
    engine = Evaluation(cfg)
    for pair in pairs:  # candidates first, so the timing below is scoring only
        engine.first_stage(engine.pair(pair))
    start = time.perf_counter()
    metrics = engine.run_all(progress=False)
    return time.perf_counter() - start, metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--task", default="sentence", choices=["paragraph", "sentence"])
    parser.add_argument("--pairs", nargs="+", default=["en-en", "en-de"])
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.variants:
            seconds, metrics = evaluate(
                args.model,
                args.task,
                args.pairs,
                args.queries,
                args.top_k,
                VARIANTS[name],
                Path(tmp) / name,
            )
            rr = metrics[metrics["measure"] == "RR@10"]
            runs = (Path(tmp) / name / "runs").rglob("*.trec")
            n_pairs = sum(
                sum(1 for _ in path.open()) for path in runs if "first-stage" not in path.parts
            )
            row = {
                "variant": name,
                **VARIANTS[name],
                "seconds": round(seconds, 1),
                "pairs_scored": n_pairs,
                "pairs_per_s": round(n_pairs / seconds, 2),
                "rr10": {
                    f"{r.query_lang}-{r.doc_lang}": round(r.value, 4) for r in rr.itertuples()
                },  # noqa: E501
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    report = {
        "benchmark": "rerank_quality",
        "model": str(args.model),
        "machine": f"{platform.machine()} CPU, {args.threads} threads, {platform.python_version()}",
        "torch": torch.__version__,
        "task": args.task,
        "pairs": args.pairs,
        "queries": args.queries,
        "top_k": args.top_k,
        "results": rows,
    }
    (HERE / "rerank_quality.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
