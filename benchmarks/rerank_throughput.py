"""Re-ranking throughput (pairs/s): csir's segment-cosine Reranker against sentence-transformers.

Workload: XQuAD-R question → answer sentence re-ranking as notebook 04 does it. ``--queries``
seeded English questions (default 100), each with every sentence of its BM25 top-``--paragraphs``
(default 4) English paragraphs (``csir.data.candidates.bm25_units``), in every document language
(``expand_units``; default EN and DE documents), so every query is scored against about 20
candidates and queries repeat as in re-ranking. All pairs go to one ``score`` /
``predict`` call per variant.

Models (same e5 weights): a *trained* segment-cosine model (``--model``, or trained here for
``--train-steps`` steps with csir's recipe: ``joint_layers=1``, bf16, trimmed vocabulary, batch
16, lr 2e-5, head lr 0.01, on notebook 02's WikiQA zero-shot set) and its classifier
equivalent: the same encoder weights loaded as ``AutoModelForSequenceClassification`` with one
logit (a seeded random head; only its speed is measured), saved once so every variant loads
identical weights.

Variants, each in a fresh subprocess (peak RSS = that process's ``VmHWM``), torch threads =
``--threads``, every variant scoring every pair once per round, in an order rotated per round:

- ``st-fp32``: ``CrossEncoder(classifier, device="cpu", max_length=L).predict(pairs)`` with
  every other default of sentence-transformers (batch 32, fp32, sorted by length, sigmoid);
- ``csir-seg-bf16``: :class:`csir.rerank.Reranker` on the segment model, bf16 autocast: each
  distinct query and sentence passes the lower 11 layers once, each pair only the top layer;
- ``csir-seg-fp32``: the same in fp32 (caching alone; and the fp32 reference for quality);
- ``csir-cls-bf16`` / ``csir-cls-fp32``: the Reranker on the classifier (bf16 alone / the
  like-for-like of ``st-fp32``); ``csir-cls-int8`` (not run by default): dynamic int8 Linear
  layers, speed only (the classifier's head is random; ``rerank_quality.py`` measures int8's
  quality with a trained classifier).

Quality: MRR@10 of the segment model scored in fp32 and in bf16 on the same candidates (the
issue asks bf16 within .005 of fp32), with BM25's own MRR@10 for context; Spearman of the
bf16 against the fp32 scores.

Run from the repository root, holding the benchmark lock so benchmarks never overlap::

    CSIR_DATA_DIR=/work/shared/data flock /tmp/csir-bench.lock nice -n 5 \\
        .venv/bin/python benchmarks/rerank_throughput.py
    CSIR_DATA_DIR=... .venv/bin/python benchmarks/rerank_throughput.py --queries 5 \\
        --train-steps 3 --rounds 1 --out /tmp/rr.json                       # development
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import contention, cpu_snapshot, machine, peak_rss_mb

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TRAIN_FILE = REPO / "build/exp/02/train/zero-shot/en-en/p=0.0/train.jsonl"
REFERENCE = "st-fp32"
# name -> (model, ScoringOptions keywords); None = sentence-transformers' CrossEncoder instead
VARIANTS: dict[str, tuple[str, dict | None]] = {
    "st-fp32": ("classifier", None),
    "csir-seg-bf16": ("segment", {"precision": "bf16"}),
    "csir-seg-fp32": ("segment", {"precision": "fp32"}),
    "csir-cls-bf16": ("classifier", {"precision": "bf16"}),
    "csir-cls-fp32": ("classifier", {"precision": "fp32"}),
    "csir-cls-int8": ("classifier", {"precision": "fp32", "int8": True}),
}
DEFAULT = ("st-fp32", "csir-seg-bf16", "csir-seg-fp32", "csir-cls-bf16", "csir-cls-fp32")
WARMUP_PAIRS = 8


# --------------------------------------------------------------------------- workload


def build_workload(queries: int, paragraphs: int, doc_langs: list[str], seed: int = 0) -> dict:
    """Pairs ``[pair name, qid, docid, query, passage]`` and the qrels of every pair name."""
    from csir.data import candidates, retrieval

    pivot = retrieval.load_pair(None, "en", "en", "sentence")
    chosen = sorted(pivot.queries)
    random.Random(seed).shuffle(chosen)
    chosen = chosen[:queries]
    subset = {q: pivot.queries[q] for q in chosen}
    # BM25 over the English paragraphs, for the chosen questions only
    bm25 = candidates.bm25_units(dataclasses.replace(pivot, queries=subset), paragraphs)
    rows, qrels, first_stage = [], {}, {}
    for lang in doc_langs:
        pair = pivot if lang == "en" else retrieval.load_pair(None, "en", lang, "sentence")
        if lang != "en":
            chosen_pair = dataclasses.replace(
                pair, queries={q: pair.queries[q] for q in chosen if q in pair.queries}
            )
            run = candidates.expand_units(bm25, chosen_pair)
        else:
            run = candidates.expand_units(bm25, pivot)
        name = pair.name
        qrels[name] = {q: pair.qrels[q] for q in chosen if q in pair.qrels}
        first_stage[name] = {q: dict(run.get(q, {})) for q in chosen}
        for qid in chosen:
            for docid in run.get(qid, {}):
                rows.append([name, qid, docid, pair.queries[qid], pair.docs[docid]])
    return {"rows": rows, "qrels": qrels, "first_stage": first_stage}


def mrr10(rows: list, scores, qrels: dict) -> dict[str, float]:
    """MRR@10 per pair name (every chosen query counts; no candidate relevant = 0)."""
    from csir.metrics import per_query

    out = {}
    for name, rels in qrels.items():
        run: dict[str, dict[str, float]] = {q: {} for q in rels}
        for row, score in zip(rows, scores, strict=True):
            if row[0] == name:
                run[row[1]][row[2]] = float(score)
        run = {q: docs for q, docs in run.items() if docs}
        table = per_query(run, rels, ["RR@10"], missing="zero", run_name=name)
        out[name] = float(table["value"].mean())
    return out


# --------------------------------------------------------------------------- models


def train_segment_model(folder: Path, steps: int, train_file: Path, max_length: int) -> dict:
    """A segment-cosine model trained with csir's recipe (bf16, trimmed, k = 1)."""
    from csir.io import read_json
    from csir.training import TrainingArgs, train

    args = TrainingArgs(
        backbone="e5-small-offline",
        head="segment-cosine",
        joint_layers=1,
        precision="bf16",
        max_length=max_length,
        batch_size=16,
        learning_rate=2e-5,
        head_learning_rate=0.01,
        max_steps=steps,
        seed=1,
        checkpoint_every=0,
        log_every=max(1, steps),
    )
    train(args, train_file, folder, progress=False)
    run = read_json(folder / "csir_training.json")
    return {k: run[k] for k in ("steps", "examples_seen", "final_loss", "train_seconds")}


def save_classifier(segment: Path, folder: Path) -> None:
    """The segment model's encoder weights as a one-logit classifier (seeded random head)."""
    import torch

    from csir import backbones

    torch.manual_seed(0)
    model = backbones.load_cross_encoder(str(segment))  # BertModel weights + a new head
    model.save_pretrained(folder)
    backbones.load_tokenizer(str(segment)).save_pretrained(folder)


# --------------------------------------------------------------------------- worker


def worker(variant: str, model: Path, pairs_file: Path, out: Path, threads: int, length: int):
    """Score the pairs with one variant; write scores and timings to ``out`` (JSON)."""
    import torch

    torch.set_num_threads(threads)
    pairs = [tuple(p) for p in json.loads(pairs_file.read_text(encoding="utf-8"))]
    result = {"rss_imports_mb": peak_rss_mb()}
    result.update(score_variant(variant, model, pairs, length, threads=threads))
    result["peak_rss_mb"] = peak_rss_mb()
    out.write_text(json.dumps(result), encoding="utf-8")


def score_variant(
    variant: str,
    model: Path,
    pairs: list[tuple[str, str]],
    length: int,
    *,
    device: str = "cpu",
    threads: int = 0,
    batch_size: int = 0,
    st_kwargs: dict | None = None,
) -> dict:
    """Load ``model`` as ``variant`` does, warm up on a few pairs, then time one scoring call of
    all ``pairs``. ``batch_size`` 0: each library's default; ``st_kwargs``: ``model_kwargs`` of
    sentence-transformers' ``CrossEncoder`` (e.g. a bf16 ``dtype``)."""
    import numpy as np

    _, options = VARIANTS[variant]
    result: dict = {"variant": variant}
    sync = _synchronizer(device)
    t0 = time.perf_counter()
    if options is None:
        from sentence_transformers import CrossEncoder

        ce = CrossEncoder(str(model), device=device, max_length=length, model_kwargs=st_kwargs)
        result["st_max_length"] = ce.max_length
        result["st_dtype"] = str(next(ce.model.parameters()).dtype)  # model_kwargs took effect
        result["load_s"] = time.perf_counter() - t0
        result["rss_loaded_mb"] = peak_rss_mb()
        extra = {"batch_size": batch_size} if batch_size else {}
        ce.predict(pairs[:WARMUP_PAIRS], show_progress_bar=False, **extra)
        sync()
        before = cpu_snapshot()
        scores = ce.predict(pairs, show_progress_bar=False, **extra)
        sync()
        after = cpu_snapshot()
        result["activation"] = type(ce.activation_fn).__name__
        scores = np.asarray(scores, dtype=np.float64)
    else:
        from csir.rerank import Reranker, ScoringOptions

        extra = {"batch_size": batch_size} if batch_size else {}
        opts = ScoringOptions(
            device=device, threads=threads, max_length=length, cache_texts=0, **options, **extra
        )
        reranker = Reranker(model, opts)
        result["segment_scorer"] = reranker._segments is not None
        result["load_s"] = time.perf_counter() - t0
        result["rss_loaded_mb"] = peak_rss_mb()
        reranker.score(pairs[:WARMUP_PAIRS])
        sync()
        before = cpu_snapshot()
        scores = reranker.score(pairs).astype(np.float64)
        sync()
        after = cpu_snapshot()
    result["score_s"] = after[0] - before[0]
    result.update(contention(before, after))
    result["pairs"] = len(pairs)
    result["pairs_per_s"] = len(pairs) / result["score_s"]
    result["scores"] = scores.tolist()
    return result


def _synchronizer(device: str):
    """Wait for the device's queued kernels (a no-op on CPU), so timings end with the work."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.synchronize
    return lambda: None


def prepare(args: argparse.Namespace) -> None:
    """Train the segment model unless given (``--trained``); save its classifier equivalent."""
    import torch

    from csir.heads import read_head_spec

    torch.set_num_threads(args.threads)
    info: dict = {}
    if not args.trained:
        info = train_segment_model(args.model, args.train_steps, args.train_file, args.max_length)
        info["train_file"] = str(args.train_file)
    spec = read_head_spec(args.model)
    if spec.kind != "segment-cosine" or spec.joint_layers < 1:
        raise SystemExit(f"{args.model}: not a segment-cosine model with joint layers ({spec})")
    info["head"] = spec.to_dict()
    save_classifier(args.model, args.classifier)
    args.out.write_text(json.dumps(info), encoding="utf-8")


def run_checked(cmd: list[str], env: dict, name: str) -> None:
    """Run a worker; on failure show the end of its stderr and stop."""
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"worker {name} failed (exit {done.returncode})")


# --------------------------------------------------------------------------- driver


def summarise(report: dict, parts: dict[str, list[dict]], workload: dict) -> None:
    """Medians over rounds, ratios against ``st-fp32``, MRR@10 of the segment model's scores."""
    import numpy as np
    from scipy.stats import spearmanr

    rows, qrels = workload["rows"], workload["qrels"]
    out: dict = {}
    for variant, runs in parts.items():
        entry = {
            "pairs_per_s_median": statistics.median(r["pairs_per_s"] for r in runs),
            "pairs_per_s_per_round": [r["pairs_per_s"] for r in runs],
            "score_s_per_round": [r["score_s"] for r in runs],
            "load_s_per_round": [r["load_s"] for r in runs],
            "foreign_cores_per_round": [r["foreign_cores"] for r in runs],
            "own_cores_per_round": [r["own_cores"] for r in runs],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "rss_loaded_mb": max(r["rss_loaded_mb"] for r in runs),
        }
        if REFERENCE in parts and variant != REFERENCE:
            ratios = [
                a["pairs_per_s"] / b["pairs_per_s"]
                for a, b in zip(runs, parts[REFERENCE], strict=False)
            ]
            entry["speedup_vs_st_per_round"] = ratios
            entry["speedup_vs_st_median"] = statistics.median(ratios)
        if VARIANTS[variant][0] == "segment":
            entry["mrr10"] = mrr10(rows, runs[0]["scores"], qrels)
            entry["mrr10_all"] = float(np.mean(list(entry["mrr10"].values())))
        out[variant] = entry
    report["variants"] = out
    if "csir-seg-bf16" in parts and "csir-seg-fp32" in parts:
        bf16 = np.asarray(parts["csir-seg-bf16"][0]["scores"])
        fp32 = np.asarray(parts["csir-seg-fp32"][0]["scores"])
        diffs = {
            name: out["csir-seg-bf16"]["mrr10"][name] - out["csir-seg-fp32"]["mrr10"][name]
            for name in qrels
        }
        report["bf16_vs_fp32"] = {
            "mrr10_difference": diffs,
            "max_abs_mrr10_difference": max(abs(d) for d in diffs.values()),
            "within_0.005": all(abs(d) <= 0.005 for d in diffs.values()),
            "spearman": float(spearmanr(bf16, fp32).statistic),
            "max_abs_logit_diff": float(np.max(np.abs(bf16 - fp32))),
            "mean_abs_logit_diff": float(np.mean(np.abs(bf16 - fp32))),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=100, help="English questions (seeded)")
    parser.add_argument("--paragraphs", type=int, default=4, help="BM25 paragraphs per query")
    parser.add_argument("--doc-langs", nargs="+", default=["en", "de"], help="document languages")
    parser.add_argument("--model", type=Path, help="a trained segment-cosine model folder")
    parser.add_argument("--train-steps", type=int, default=100, help="steps when no --model")
    parser.add_argument("--train-file", type=Path, default=TRAIN_FILE)
    parser.add_argument("--max-length", type=int, default=256, help="tokens (pair or passage)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(DEFAULT))
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--pairs-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--classifier", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--trained", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "prepare":
        prepare(args)
        return
    if args.worker:
        worker(args.worker, args.model, args.pairs_file, args.out, args.threads, args.max_length)
        return

    from csir import paths
    from csir.io import write_json

    if paths.data_mirror() is None:
        raise SystemExit("set CSIR_DATA_DIR to the data mirror (it must hold xquad-r/en.json)")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    variants = list(args.variants)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "MKL_NUM_THREADS": str(args.threads),
        "TOKENIZERS_PARALLELISM": "false",
        "TRANSFORMERS_VERBOSITY": "error",
        "TQDM_DISABLE": "1",
    }
    report: dict = {
        "command": " ".join(["python", "benchmarks/rerank_throughput.py", *sys.argv[1:]]),
        "machine": machine(args.threads, ("sentence_transformers",)),
        "load_average_before": os.getloadavg(),
    }
    started = time.perf_counter()
    workload = build_workload(args.queries, args.paragraphs, args.doc_langs)
    rows = workload["rows"]
    first_stage_mrr = {
        name: mrr10(
            [r for r in rows if r[0] == name],
            [workload["first_stage"][name][r[1]][r[2]] for r in rows if r[0] == name],
            {name: workload["qrels"][name]},
        )[name]
        for name in workload["qrels"]
    }
    report["data"] = {
        "task": "XQuAD-R question -> answer sentence, BM25 top-k on the English pivot",
        "queries": args.queries,
        "paragraphs": args.paragraphs,
        "doc_langs": args.doc_langs,
        "pairs": len(rows),
        "pairs_per_pair_name": {n: sum(r[0] == n for r in rows) for n in workload["qrels"]},
        "distinct_queries": len({r[3] for r in rows}),
        "distinct_passages": len({r[4] for r in rows}),
        "mean_chars": sum(len(r[3]) + len(r[4]) for r in rows) / max(1, len(rows)),
        "bm25_mrr10": first_stage_mrr,
        "build_s": time.perf_counter() - started,
    }
    print(json.dumps(report["data"]), flush=True)
    parts: dict[str, list[dict]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="csir-rerank-bench-") as tmp:
        tmp_path = Path(tmp)
        # The models are made in a subprocess too, so this process stays small.
        segment = args.model or tmp_path / "segment"
        classifier = tmp_path / "classifier"
        info_file = tmp_path / "prepare.json"
        cmd = [
            sys.executable, __file__, "--worker", "prepare", "--model", str(segment),
            "--classifier", str(classifier), "--train-steps", str(args.train_steps),
            "--train-file", str(args.train_file), "--max-length", str(args.max_length),
            "--threads", str(args.threads), "--out", str(info_file),
        ] + (["--trained"] if args.model else [])  # fmt: skip
        t0 = time.perf_counter()
        run_checked(cmd, env, "prepare")
        report["model"] = {
            "path": str(args.model) if args.model else None,
            "trained_here": not args.model,
            "prepare_wall_s": time.perf_counter() - t0,
            **json.loads(info_file.read_text(encoding="utf-8")),
        }
        print(f"segment model: {report['model']}", flush=True)
        pairs_file = tmp_path / "pairs.json"
        pairs_file.write_text(json.dumps([[r[3], r[4]] for r in rows]), encoding="utf-8")
        loads = report["load_average_per_round"] = []
        for r in range(args.rounds):
            loads.append(os.getloadavg()[0])
            order = variants[r % len(variants) :] + variants[: r % len(variants)]
            for variant in order:
                out = tmp_path / f"{variant}-{r}.json"
                model = segment if VARIANTS[variant][0] == "segment" else classifier
                cmd = [
                    sys.executable, __file__, "--worker", variant, "--model", str(model),
                    "--pairs-file", str(pairs_file), "--out", str(out),
                    "--threads", str(args.threads), "--max-length", str(args.max_length),
                ]  # fmt: skip
                run_checked(cmd, env, variant)
                part = json.loads(out.read_text(encoding="utf-8"))
                parts[variant].append(part)
                print(
                    f"[{time.strftime('%H:%M:%S')}] round {r + 1}/{args.rounds} {variant}: "
                    f"{part['pairs_per_s']:.1f} pairs/s, peak RSS {part['peak_rss_mb']:.0f} MB, "
                    f"other jobs {part['foreign_cores']:.2f} cores",
                    flush=True,
                )
            summarise(report, {v: p for v, p in parts.items() if p}, workload)
            report["rounds_done"] = r + 1
            report["wall_s"] = time.perf_counter() - started
            write_json(args.out, report)
    print(f"{'variant':<16}{'pairs/s':>9}{'vs ST':>7}{'MRR@10':>8}{'RSS MB':>8}")
    for variant, e in report["variants"].items():
        mrr = e.get("mrr10_all")
        print(
            f"{variant:<16}{e['pairs_per_s_median']:>9.1f}"
            f"{e.get('speedup_vs_st_median', '-'):>7.4}"
            f"{'' if mrr is None else f'{mrr:.4f}':>8}{e['peak_rss_mb']:>8.0f}"
        )
    if "bf16_vs_fp32" in report:
        print("bf16 vs fp32:", json.dumps(report["bf16_vs_fp32"]))


if __name__ == "__main__":
    main()
