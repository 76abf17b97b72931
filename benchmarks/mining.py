"""Time of chunked bitext mining (ratio margin, k = 4; cosine) against a full-matrix reference.

Data: 10,000 source × 10,000 target embeddings, 384-d like e5-small's, seed 0: Gaussian vectors
plus one shared direction (sentence embeddings share one, which keeps the margin's neighbourhood
means positive), the first half of the targets noisy copies of their sources (planted
translations), the rest unrelated. Mining cost depends only on the shapes; the planted pairs make
the best targets non-trivial to get right.

Compared in the same process, interleaved round by round (medians reported):

- ``chunked-margin``: :func:`csir.mining.mine` (two passes over row chunks: the hubness terms,
  then the margin's top-1; 256 MB of scores per chunk, never the full matrix);
- ``chunked-margin-1k``: the same in chunks of 1,024 source rows (10 chunks);
- ``chunked-cosine``: :func:`csir.mining.mine` with plain cosine;
- ``full-margin``: the reference: the whole 10k × 10k cosine matrix, its row and column top-k
  means, the margin matrix, its row argmax.

Every chunked variant must find the reference's best target for every source and its score to
1e-5 (relative); the script asserts that, and that chunked margin costs at most 3× the reference
(a ratio of times measured in the same run, never absolute seconds).

Usage::

    python benchmarks/mining.py                  # writes benchmarks/mining.json
    python benchmarks/mining.py --n 2000 --rounds 1 --output /tmp/mining.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import contention, cpu_snapshot, machine, peak_rss_mb  # noqa: E402

HERE = Path(__file__).resolve().parent


def make_embeddings(n: int, dim: int, seed: int = 0):
    """``n`` sources and ``n`` targets, the first half of the targets noisy copies."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    shared = torch.randn(dim, generator=gen)
    src = torch.randn(n, dim, generator=gen) + 0.5 * shared
    tgt = torch.randn(n, dim, generator=gen) + 0.5 * shared
    half = n // 2
    tgt[:half] = src[:half] + 0.7 * torch.randn(half, dim, generator=gen)
    return src, tgt


def full_margin(src, tgt, k: int):
    """The reference: the whole margin matrix, then each row's best (index, score)."""
    import torch

    s = torch.nn.functional.normalize(src, dim=1)
    t = torch.nn.functional.normalize(tgt, dim=1)
    cos = s @ t.T
    r_t = cos.topk(k, dim=1).values.mean(dim=1)
    r_s = cos.topk(k, dim=0).values.mean(dim=0)
    margin = cos / ((r_t[:, None] + r_s[None, :]) * 0.5)
    best = margin.max(dim=1)
    return best.indices.numpy(), best.values.numpy()


def run(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    from csir import mining

    torch.set_num_threads(args.threads)
    src, tgt = make_embeddings(args.n, args.dim)
    variants = {
        "chunked-margin": lambda: mining.mine(src, tgt, "margin", k=args.k),
        "chunked-margin-1k": lambda: mining.mine(src, tgt, "margin", k=args.k, chunk_size=1024),
        "chunked-cosine": lambda: mining.mine(src, tgt, "cosine"),
        "full-margin": lambda: full_margin(src, tgt, args.k),
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    outputs = {}
    began = cpu_snapshot()
    for _ in range(args.rounds):
        for name, call in variants.items():
            start = time.perf_counter()
            outputs[name] = call()
            seconds[name].append(time.perf_counter() - start)
    load = contention(began, cpu_snapshot())
    ref_index, ref_score = outputs["full-margin"]
    cosine_ref = (
        torch.nn.functional.normalize(src, dim=1) @ torch.nn.functional.normalize(tgt, dim=1).T
    )
    cos_best = cosine_ref.max(dim=1)
    checks = {}
    for name in ("chunked-margin", "chunked-margin-1k", "chunked-cosine"):
        got = outputs[name]
        index, score = (
            (cos_best.indices.numpy(), cos_best.values.numpy())
            if name == "chunked-cosine"
            else (ref_index, ref_score)
        )
        checks[name] = {
            "same_best_target": float(np.mean(got.best == index)),
            "max_relative_score_difference": float(
                np.max(np.abs(got.scores[:, 0] - score) / np.abs(score))
            ),
        }
    half = args.n // 2
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    return {
        "n_source": args.n,
        "n_target": args.n,
        "dim": args.dim,
        "k": args.k,
        "rounds": args.rounds,
        "seconds": seconds,
        "median_seconds": medians,
        "ratio_to_full_margin": {n: medians[n] / medians["full-margin"] for n in medians},
        "checks": checks,
        "planted_pairs_found": {
            "margin": float(np.mean(ref_index[:half] == np.arange(half))),
            "cosine": float(np.mean(cos_best.indices.numpy()[:half] == np.arange(half))),
        },
        "peak_rss_mb": peak_rss_mb(),
        "contention": load,
        "machine": machine(args.threads),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="sources (= targets)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=str(HERE / "mining.json"))
    args = parser.parse_args(argv)
    result = run(args)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{'variant':<20}{'median s':>10}{'× full':>9}{'same best':>11}{'max rel diff':>14}")
    for name, median in result["median_seconds"].items():
        check = result["checks"].get(name, {})
        print(
            f"{name:<20}{median:>10.2f}{result['ratio_to_full_margin'][name]:>9.2f}"
            f"{check.get('same_best_target', float('nan')):>11.4f}"
            f"{check.get('max_relative_score_difference', float('nan')):>14.2e}"
        )
    print(f"contention: {result['contention']}; written {args.output}")
    for name, check in result["checks"].items():
        assert check["same_best_target"] == 1.0, (name, check)
        assert check["max_relative_score_difference"] < 1e-5, (name, check)
    assert result["ratio_to_full_margin"]["chunked-margin"] <= 3.0, result["ratio_to_full_margin"]
    return 0


if __name__ == "__main__":
    sys.exit(main())
