"""Peak memory of evaluating one language pair, against loading every language's corpus first.

Each measurement runs in a fresh Python process and reports its peak resident set size
(``ru_maxrss``), so the numbers do not leak into each other:

- ``imports``: python + torch + transformers + csir.evaluate imported, nothing loaded (the floor);
- ``one-pair``: notebook 04's engine evaluates one pair (``en-de``) with one cross-encoder
  (e5-small, one logit) — it loads the two language files the pair needs and nothing else;
- ``all-languages``: the same evaluation after first loading every XQuAD-R language file of both
  tasks, i.e. what an engine that read the whole dataset up front would hold.

Run (needs the data mirror or internet):
    CSIR_DATA_DIR=../shared/data python benchmarks/eval_memory.py --queries 20 --top-k 5
Writes ``benchmarks/eval_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODES = ("imports", "one-pair", "all-languages")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, model_dir: str, out_dir: str, queries: int, top_k: int) -> dict:
    """One measurement, inside its own process."""
    import torch

    torch.set_num_threads(2)
    from csir import evaluate
    from csir.config import EvaluationConfig
    from csir.data import retrieval
    from csir.data.xquad_r import XQUAD_R_LANGUAGES

    result = {"mode": mode}
    if mode == "imports":
        return {**result, "peak_rss_mib": _peak_mib()}
    held = []
    if mode == "all-languages":
        for task in retrieval.TASKS:
            held += [
                retrieval.load_squad_collection(None, lang, task) for lang in XQUAD_R_LANGUAGES
            ]
        result["collections_held"] = len(held)
    cfg = EvaluationConfig.from_params(
        {
            "pairs": ["en-de"],
            "model_dirs": [model_dir],
            "max_queries": queries,
            "top_k": top_k,
            "translate_test": False,
            "output_dir": out_dir,
            "device": "cpu",
            "smoke": False,
        }
    )
    start = time.perf_counter()
    metrics = evaluate.Evaluation(cfg).run_all(progress=False)
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["rr10"] = float(metrics.query("measure == 'RR@10'")["value"].iloc[-1])
    return {**result, "peak_rss_mib": _peak_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--child", choices=MODES)
    parser.add_argument("--model-dir", default="")
    parser.add_argument("--out-dir", default="")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.model_dir, args.out_dir, args.queries, args.top_k)))
        return

    from csir import backbones

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "e5-cross-encoder"
        backbones.load_cross_encoder(backbones.OFFLINE_E5).save_pretrained(model_dir)
        backbones.load_tokenizer(backbones.OFFLINE_E5).save_pretrained(model_dir)
        for mode in MODES:
            command = [sys.executable, __file__, "--child", mode, "--model-dir", str(model_dir)]
            command += ["--out-dir", str(Path(tmp) / f"out-{mode}")]
            command += ["--queries", str(args.queries), "--top-k", str(args.top_k)]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(results[-1], flush=True)
    report = {
        "benchmark": "eval_memory",
        "machine": f"{platform.machine()} CPU, {platform.python_version()}",
        "queries": args.queries,
        "top_k": args.top_k,
        "results": results,
    }
    (HERE / "eval_memory.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
