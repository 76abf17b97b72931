"""Command line of :mod:`csir.gpu_study`: ``pack``, ``run`` and ``unpack``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import csir.gpu_study
from csir import paths
from csir.errors import ConfigError, CsirError
from csir.gpu_study.bundle import pack
from csir.gpu_study.plan import WHEEL_PYTHON, block_absent_packages, log
from csir.gpu_study.results import check_benchmark, check_results, unpack
from csir.gpu_study.runner import run


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``pack CONFIG``, ``run BUNDLE --out DIR``, ``unpack RESULTS --build DIR``."""
    parser = argparse.ArgumentParser(
        prog="python -m csir.gpu_study",
        description=csir.gpu_study.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="CPU: write the bundle of a configuration")
    p.add_argument("config")
    p.add_argument("--bundle", default="", help="folder of bundle.tar.gz (build/gpu-bundle)")
    p.add_argument("--from-build", default="", help="notebooks 01-02's build folder")
    p.add_argument("--smoke", action="store_true", help="every notebook in smoke mode")
    p.add_argument(
        "--wheel-python", default=WHEEL_PYTHON, help="the GPU side's Python ('local': this one)"
    )
    p.add_argument("--wheels", default="", help="folder holding the wheels (else pip download)")
    p.add_argument("--benchmark", type=float, default=0.0, help="the run's --benchmark (estimate)")
    p.add_argument("--budget", type=float, default=0.0, help="the run's --budget (estimate)")
    r = sub.add_parser("run", help="GPU: train, evaluate and score the bundle's study")
    r.add_argument("bundle")
    r.add_argument("--out", required=True, help="where results.tar.gz goes")
    r.add_argument("--budget", type=float, default=420.0, help="seconds for the whole run")
    r.add_argument("--device", default="auto")
    r.add_argument("--workers", type=int, default=1, help="processes training at once")
    r.add_argument("--work", default="", help="work folder (default: a new temporary one)")
    r.add_argument(
        "--benchmark", type=float, default=0.0,
        help="seconds of --budget for benchmarks/gpu_throughput.py first (0: none)",
    )  # fmt: skip
    r.add_argument(
        "--block-absent", action="store_true", help="dry run: refuse the GPU's absent packages"
    )
    u = sub.add_parser("unpack", help="CPU: results.tar.gz into a configuration's build folder")
    u.add_argument("results")
    u.add_argument("--build", required=True, help="the configuration's build folder")
    u.add_argument("--check", action="store_true", help="check every trained model was scored")
    u.add_argument("--benchmark", default="", help="also check this gpu_throughput.json")
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            bundle = args.bundle or str(paths.REPO_ROOT / "build" / "gpu-bundle")
            pack(
                args.config, bundle, from_build=args.from_build or None, smoke=args.smoke,
                wheels_dir=args.wheels or None, wheel_python=args.wheel_python,
                benchmark_s=args.benchmark, budget_s=args.budget,
            )  # fmt: skip
        elif args.command == "run":
            if args.block_absent:
                block_absent_packages()
            run(
                args.bundle, args.out, budget_s=args.budget, device=args.device,
                workers=args.workers, work_dir=args.work or None, benchmark_s=args.benchmark,
            )  # fmt: skip
        else:
            names = unpack(args.results, args.build)
            log(f"{len(names)} files into {args.build}")
            if args.check:
                log(check_results(args.build))
            if args.benchmark:
                log(check_benchmark(args.benchmark))
    except (CsirError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
