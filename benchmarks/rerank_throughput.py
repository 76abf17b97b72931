"""Re-ranking throughput (pairs/s): csir's Reranker against sentence-transformers' CrossEncoder.

Model: the offline multilingual-e5-small as a one-logit cross-encoder. Its head is random
(``torch.manual_seed(0)``), so the model is saved once to a temporary folder and every variant
loads the identical weights from there.

Pairs: XQuAD-R question → paragraph, read with plain ``json``. Each query gets a group of
``GROUP`` candidates (its gold paragraph and random others, fixed seed): half of the groups are
EN questions × EN paragraphs, half EN questions × DE paragraphs (parallel ids). ``--pairs``
pairs in all (default 5,000 = 250 groups).

Variants, each in a fresh subprocess (peak RSS is that process's ``ru_maxrss``), torch threads
set to ``--threads``:

- ``st-default``: ``CrossEncoder(folder).predict(pairs)`` with every default of
  sentence-transformers 6.2: batch 32, batches sorted by character length, sigmoid activation,
  truncation ``longest_first`` at the tokenizer's ``model_max_length`` (512, capped by the
  model's 512 positions). Nothing is set but the device.
- ``csir-*``: :class:`csir.rerank.Reranker` with the options listed in the table. Quality is
  measured against ``csir-fp32-512`` (exact same computation as ``st-default`` up to float
  rounding and the monotone sigmoid): Spearman and Kendall over all pairs, and top-1 agreement
  per query group. For ``layers6`` the head is untrained, so its "quality" only says how much
  the scores move when the top 6 layers are dropped.

Run from the repository root (holding the benchmark lock, so benchmarks never overlap)::

    flock /tmp/csir-bench.lock nice -n 5 python benchmarks/rerank_throughput.py
    python benchmarks/rerank_throughput.py --pairs 200 --out /tmp/rr.json   # development
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

GROUP = 20
REFERENCE = "csir-fp32-512"

# name -> ScoringOptions keywords (None = sentence-transformers' CrossEncoder with its defaults)
VARIANTS: dict[str, dict | None] = {
    "st-default": None,
    "csir-fp32-512": {"max_length": 512},
    "csir-fp32-256": {"max_length": 256},
    "csir-fp32-128": {"max_length": 128},
    "csir-bf16-512": {"max_length": 512, "precision": "bf16"},
    "csir-bf16-256": {"max_length": 256, "precision": "bf16"},
    "csir-int8-512": {"max_length": 512, "int8": True},
    "csir-int8-256": {"max_length": 256, "int8": True},
    "csir-layers6-512": {"max_length": 512, "num_layers": 6},
    "csir-layers6-bf16-256": {"max_length": 256, "num_layers": 6, "precision": "bf16"},
    "csir-layers6-int8-256": {"max_length": 256, "num_layers": 6, "int8": True},
}
DEFAULT = (
    "st-default",
    "csir-fp32-512",
    "csir-fp32-256",
    "csir-bf16-256",
    "csir-int8-256",
    "csir-layers6-int8-256",
)
QUICK = ("st-default", "csir-fp32-512", "csir-bf16-512", "csir-int8-512")


def build_pairs(data_dir: Path, n_pairs: int, seed: int = 0) -> tuple[list[list[str]], list[int]]:
    """``n_pairs`` (question, paragraph) pairs in groups of ``GROUP``, and each pair's group."""
    langs = {}
    for lang in ("en", "de"):
        with open(data_dir / "xquad-r" / f"{lang}.json", encoding="utf-8") as fh:
            langs[lang] = [p for a in json.load(fh)["data"] for p in a["paragraphs"]]
    questions = [(i, qa["question"]) for i, p in enumerate(langs["en"]) for qa in p["qas"]]
    rng = random.Random(seed)
    rng.shuffle(questions)
    n_groups = -(-n_pairs // GROUP)
    pairs, groups = [], []
    for g, (gold, question) in enumerate(questions[:n_groups]):
        doc_lang = "en" if g % 2 == 0 else "de"
        others = rng.sample([i for i in range(len(langs[doc_lang])) if i != gold], GROUP - 1)
        for i in [gold, *others]:
            pairs.append([question, langs[doc_lang][i]["context"]])
            groups.append(g)
    return pairs[:n_pairs], groups[:n_pairs]


def save_model(folder: Path) -> None:
    """The offline e5-small with a seeded random one-logit head, saved with its tokenizer."""
    import torch

    from csir import backbones

    torch.manual_seed(0)
    model = backbones.load_cross_encoder(backbones.OFFLINE_E5)
    model.save_pretrained(folder)
    backbones.load_tokenizer(backbones.OFFLINE_E5).save_pretrained(folder)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(variant: str, model: Path, pairs_file: Path, out: Path, threads: int) -> None:
    """Score the pairs with one variant; write scores and timings to ``out`` (JSON)."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    pairs = [tuple(p) for p in json.loads(pairs_file.read_text(encoding="utf-8"))]
    options = VARIANTS[variant]
    result: dict = {"variant": variant}
    t0 = time.perf_counter()
    if options is None:
        from sentence_transformers import CrossEncoder

        ce = CrossEncoder(str(model), device="cpu")
        result["st_max_length"] = ce.max_length
        result["load_s"] = time.perf_counter() - t0
        result["rss_loaded_mb"] = _rss_mb()
        t0 = time.perf_counter()
        scores = ce.predict(pairs)
        result["score_s"] = time.perf_counter() - t0
        result["activation"] = type(ce.activation_fn).__name__
        scores = np.asarray(scores, dtype=np.float64)
    else:
        from csir.rerank import Reranker, ScoringOptions

        opts = ScoringOptions(device="cpu", threads=threads, **options)
        reranker = Reranker(model, opts)
        result["options"] = {k: getattr(opts, k) for k in opts.__dataclass_fields__}
        result["load_s"] = time.perf_counter() - t0
        result["rss_loaded_mb"] = _rss_mb()
        t0 = time.perf_counter()
        features = reranker.tokenize(pairs)
        result["tokenize_s"] = time.perf_counter() - t0
        lengths = [len(x) for x in features["input_ids"]]
        result["mean_tokens"] = float(np.mean(lengths))
        result["truncated_share"] = float(np.mean([n >= opts.max_length for n in lengths]))
        t0 = time.perf_counter()
        scores = reranker.score(pairs).astype(np.float64)
        result["score_s"] = time.perf_counter() - t0
    result["pairs_per_s"] = len(pairs) / result["score_s"]
    result["peak_rss_mb"] = _rss_mb()
    result["scores"] = scores.tolist()
    out.write_text(json.dumps(result), encoding="utf-8")


def quality(scores, reference, groups) -> dict:
    """Rank agreement of ``scores`` with ``reference``: Spearman, Kendall, top-1 per group."""
    import numpy as np
    from scipy.stats import kendalltau, spearmanr

    scores, reference, groups = np.asarray(scores), np.asarray(reference), np.asarray(groups)
    same_top = [
        np.argmax(scores[groups == g]) == np.argmax(reference[groups == g])
        for g in np.unique(groups)
    ]
    return {
        "spearman": float(spearmanr(scores, reference).statistic),
        "kendall": float(kendalltau(scores, reference).statistic),
        "top1_agreement": float(np.mean(same_top)),
    }


def machine() -> dict:
    import sentence_transformers
    import torch
    import transformers

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "load_average_before": os.getloadavg(),
    }


def _merge(parts: list[dict]) -> dict:
    """One variant's rounds summed: times add up, memory is the worst round."""
    merged = {k: v for k, v in parts[0].items() if k not in ("scores",)}
    for key in ("score_s", "tokenize_s", "load_s", "n_pairs"):
        if key in merged:
            merged[key] = sum(p[key] for p in parts)
    for key in ("peak_rss_mb", "rss_loaded_mb"):
        merged[key] = max(p[key] for p in parts)
    if "mean_tokens" in merged:
        n = merged["n_pairs"]
        merged["mean_tokens"] = sum(p["mean_tokens"] * p["n_pairs"] for p in parts) / n
        merged["truncated_share"] = sum(p["truncated_share"] * p["n_pairs"] for p in parts) / n
    merged["pairs_per_s"] = merged["n_pairs"] / merged["score_s"]
    merged["round_pairs_per_s"] = [p["pairs_per_s"] for p in parts]
    merged["scores"] = [x for p in parts for x in p["scores"]]
    return merged


def summarise(report: dict, parts: dict[str, list[dict]], groups: list[int], out: Path) -> dict:
    """Merge the rounds done so far, add quality against the reference, write ``out``."""
    import numpy as np

    from csir.io import write_json

    n_rounds = min(len(p) for p in parts.values())
    results = {v: _merge(p[:n_rounds]) for v, p in parts.items()}
    done = [g for g in groups if g in set().union(*report["round_groups"][:n_rounds])]
    report["rounds_done"] = n_rounds
    report["pairs_done"] = len(done)
    reference = np.asarray(results[REFERENCE]["scores"])
    group_ids = sorted(set(done))
    report["reference_logits"] = {
        "std": float(reference.std()),
        "mean_within_group_range": float(
            np.mean([np.ptp(reference[np.asarray(done) == g]) for g in group_ids])
        ),
    }
    st = results.get("st-default")
    for variant, r in results.items():
        scores = np.asarray(r.pop("scores"))
        if variant == "st-default":
            # predict() applied a sigmoid; compare on the logit scale (monotone, same ranks)
            probs = np.clip(scores, 1e-12, 1 - 1e-12)
            scores = np.log(probs / (1 - probs))
        r.update(quality(scores, reference, done))
        r["max_abs_logit_diff"] = float(np.max(np.abs(scores - reference)))
        r["mean_abs_logit_diff"] = float(np.mean(np.abs(scores - reference)))
        if st:
            r["speedup_vs_st"] = r["pairs_per_s"] / st["pairs_per_s"]
            r["speedup_vs_st_per_round"] = [
                a / b for a, b in zip(r["round_pairs_per_s"], st["round_pairs_per_s"], strict=True)
            ]
    report["variants"] = results
    write_json(out, {k: v for k, v in report.items() if k != "round_groups"})
    return results


def main(argv: list[str] | None = None) -> None:
    """Build the pairs and the model once, run the variants in interleaved rounds, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=5000, help="number of pairs (default 5000)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), help="run only these")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pairs-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.model, args.pairs_file, args.out, args.threads)
        return

    import numpy as np

    from csir import paths

    data_dir = paths.data_mirror()
    if data_dir is None:
        raise SystemExit("set CSIR_DATA_DIR to the data mirror (it must hold xquad-r/en.json)")
    variants = list(args.variants or (QUICK if args.quick else DEFAULT))
    if REFERENCE not in variants:
        variants.insert(0, REFERENCE)
    report: dict = {
        "machine": machine(),
        "command": " ".join(["python", "benchmarks/rerank_throughput.py", *sys.argv[1:]]),
    }
    pairs, groups = build_pairs(data_dir, args.pairs)
    report["data"] = {
        "pairs": len(pairs),
        "groups": len(set(groups)),
        "group_size": GROUP,
        "en_en_pairs": sum(1 for g in groups if g % 2 == 0),
        "en_de_pairs": sum(1 for g in groups if g % 2 == 1),
        "mean_chars": sum(len(q) + len(p) for q, p in pairs) / len(pairs),
    }
    # Rounds split the pairs by query group; every variant scores every round, in an order
    # rotated per round, so a busy spell on the shared host is spread over all variants.
    group_ids = sorted(set(groups))
    rounds = [set(chunk.tolist()) for chunk in np.array_split(group_ids, args.rounds)]
    # pairs are ordered by group and rounds are contiguous group ranges, so the rounds' scores
    # concatenated are in the pairs' order
    parts: dict[str, list[dict]] = {v: [] for v in variants}
    round_loads: list[float] = []
    report["load_average_per_round"] = round_loads
    report["round_groups"] = rounds  # kept out of the JSON; summarise() needs it
    with tempfile.TemporaryDirectory(prefix="csir-rerank-bench-") as tmp:
        tmp_path = Path(tmp)
        save_model(tmp_path / "model")
        for r, chunk in enumerate(rounds):
            pairs_file = tmp_path / f"pairs-{r}.json"
            chunk_pairs = [p for p, g in zip(pairs, groups, strict=True) if g in chunk]
            pairs_file.write_text(json.dumps(chunk_pairs), encoding="utf-8")
            round_loads.append(os.getloadavg()[0])
            order = variants[r % len(variants) :] + variants[: r % len(variants)]
            for variant in order:
                out = tmp_path / f"{variant}-{r}.json"
                cmd = [
                    sys.executable, __file__, "--worker", variant, "--model",
                    str(tmp_path / "model"), "--pairs-file", str(pairs_file), "--out", str(out),
                    "--threads", str(args.threads),
                ]  # fmt: skip
                env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", "TQDM_DISABLE": "1"}
                subprocess.run(cmd, check=True, env=env)
                part = json.loads(out.read_text(encoding="utf-8"))
                part["n_pairs"] = len(chunk_pairs)
                parts[variant].append(part)
                print(
                    f"[{time.strftime('%H:%M:%S')}] round {r + 1}/{len(rounds)} {variant}: "
                    f"{part['pairs_per_s']:.2f} pairs/s, load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            results = summarise(report, parts, groups, args.out)
            print(f"wrote {args.out} ({r + 1} rounds)", flush=True)
    print(f"{'variant':<24}{'pairs/s':>9}{'vs ST':>7}{'spearman':>10}{'top1':>7}{'RSS MB':>8}")
    for variant, r in results.items():
        print(
            f"{variant:<24}{r['pairs_per_s']:>9.2f}{r.get('speedup_vs_st', 0):>7.2f}"
            f"{r['spearman']:>10.4f}{r['top1_agreement']:>7.3f}{r['peak_rss_mb']:>8.0f}"
        )


if __name__ == "__main__":
    main()
