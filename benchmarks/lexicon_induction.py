"""Time and peak memory of chunked NN/CSLS induction versus the naive full score matrix.

Data: random unit vectors (Gaussian, L2-normalised), 300-d like MUSE's fastText vectors;
20,000 source × 50,000 target words by default. Random vectors have no real translations, but the
cost of retrieval depends only on the shapes. Each method runs in a fresh subprocess so its peak
resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is its own; the input matrices are
built first and their memory is reported separately (``baseline_rss_mb``).

Usage::

    python benchmarks/lexicon_induction.py                     # 20k × 50k, CPU
    python benchmarks/lexicon_induction.py --n-src 2000 --n-tgt 5000 --device cuda

Writes ``<CSIR_BUILD_DIR>/benchmarks/lexicon_induction.json`` (or ``--output``) and prints a table.
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

METHODS = ("chunked-nn", "chunked-csls", "naive-nn", "naive-csls")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _naive(src, tgt, method: str, knn: int):
    """Reference: materialise the whole |S| × |T| score matrix."""
    import torch

    s = torch.nn.functional.normalize(src, dim=1)
    t = torch.nn.functional.normalize(tgt, dim=1)
    sims = s @ t.T
    if method == "nn":
        return sims.argmax(dim=1)
    r_t = sims.topk(knn, dim=1).values.mean(dim=1)
    r_s = sims.topk(knn, dim=0).values.mean(dim=0)
    # in place, so the reference holds one full matrix (plus what topk needs), not three
    return sims.mul_(2).sub_(r_t[:, None]).sub_(r_s[None, :]).argmax(dim=1)


def worker(args: argparse.Namespace) -> dict:
    """Run one method in this process and report time, peak memory and the best indices."""
    import numpy as np
    import torch

    from csir.devices import resolve_device
    from csir.lexicon import induce

    gen = torch.Generator().manual_seed(0)
    src = torch.nn.functional.normalize(torch.randn(args.n_src, args.dim, generator=gen), dim=1)
    tgt = torch.nn.functional.normalize(torch.randn(args.n_tgt, args.dim, generator=gen), dim=1)
    device = resolve_device(args.device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    baseline = _rss_mb()
    kind, method = args.worker.split("-")
    start = time.perf_counter()
    if kind == "chunked":
        best = induce.induce(src, tgt, method, knn=args.knn, device=device).best
    else:
        with torch.inference_mode():
            best = _naive(src.to(device), tgt.to(device), method, args.knn).cpu().numpy()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    np.save(args.indices, np.asarray(best, dtype=np.int64), allow_pickle=False)
    result = {
        "method": args.worker,
        "seconds": round(seconds, 3),
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(_rss_mb(), 1),
        "threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda"):
        result["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-src", type=int, default=20_000)
    parser.add_argument("--n-tgt", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--knn", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--indices", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0

    import numpy as np
    import torch

    from csir import paths

    shape = [
        "--n-src",
        str(args.n_src),
        "--n-tgt",
        str(args.n_tgt),
        "--dim",
        str(args.dim),
        "--knn",
        str(args.knn),
        "--device",
        args.device,
    ]
    results, best = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods:
            indices = Path(tmp) / f"{method}.npy"
            done = subprocess.run(
                [sys.executable, __file__, "--worker", method, "--indices", str(indices), *shape],
                capture_output=True,
                text=True,
                check=True,
            )
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            best[method] = np.load(indices, allow_pickle=False)
    for row in results:
        kind, method = row["method"].split("-")
        reference = best.get(f"naive-{method}")
        if kind == "chunked" and reference is not None:
            row["agrees_with_naive"] = float(np.mean(best[row["method"]] == reference))

    report = {
        "data": f"random unit vectors (Gaussian, L2-normalised), {args.dim}-d, "
        f"{args.n_src} source x {args.n_tgt} target, seed 0",
        "knn": args.knn,
        "command": "python benchmarks/lexicon_induction.py " + " ".join(sys.argv[1:]),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu_count": __import__("os").cpu_count(),
        },
        "results": results,
    }
    output = args.output or paths.build_dir() / "benchmarks" / "lexicon_induction.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    print(f"{report['data']}; knn={args.knn}; device={args.device}")
    print(f"{'method':<14}{'seconds':>9}{'peak RSS MB':>13}{'inputs MB':>11}{'agrees':>8}")
    for row in results:
        agrees = row.get("agrees_with_naive")
        print(
            f"{row['method']:<14}{row['seconds']:>9.2f}{row['peak_rss_mb']:>13.0f}"
            f"{row['baseline_rss_mb']:>11.0f}{'' if agrees is None else f'{agrees:.4f}':>8}"
        )
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
