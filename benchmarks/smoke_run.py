"""Wall time and peak memory of a make target that runs the pipeline (`make smoke`, `make all`).

Runs ``make <target>`` (default ``smoke``: ``python -m csir.pipeline configs/smoke.yaml``) in a
fresh build folder and samples, every 0.5 s, the resident set size of its whole process tree
(make, the pipeline, every papermill kernel): ``peak_tree_rss_mb`` is the largest sum seen,
``peak_process_rss_mb`` the largest single process. Per-notebook seconds come from the pipeline's
own log lines. The load average before the run is recorded because the 2-core machines are shared.

With ``--clone`` the target runs in a fresh ``git clone`` of this repository's HEAD, with no
``.venv``: ``make all`` there is what a newcomer runs first (set-up included; pip's download
cache of this machine is used if present, recorded as ``pip_cache``).

    python benchmarks/smoke_run.py --out benchmarks/smoke_run.json
    python benchmarks/smoke_run.py --target all --clone --out benchmarks/make_all.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent


def cpu_facts() -> dict:
    """The CPU's model and whether it computes bf16 natively (AMX or AVX512-BF16), which sets
    notebook 03's training precision (``auto``) and so most of the wall time."""
    info = Path("/proc/cpuinfo")
    text = info.read_text(encoding="utf-8", errors="replace") if info.is_file() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = set((re.search(r"^flags\s*:\s*(.+)$", text, re.M) or [None, ""])[1].split())
    return {
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "native_bf16": bool(flags & {"amx_bf16", "avx512_bf16"}),
    }


def tree_rss(root: psutil.Process) -> tuple[int, int]:
    """(sum, max) resident set size in bytes over ``root`` and its descendants."""
    total, largest = 0, 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            rss = proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += rss
        largest = max(largest, rss)
    return total, largest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="", help="write the result as JSON here")
    parser.add_argument("--target", default="smoke", help="make target (smoke, quick, all)")
    parser.add_argument("--clone", action="store_true", help="run in a fresh clone of HEAD")
    parser.add_argument("--keep", action="store_true", help="keep the build folder (and clone)")
    args = parser.parse_args()

    build = Path(tempfile.mkdtemp(prefix=f"csir-{args.target}-"))
    where = REPO
    if args.clone:
        where = build / "csir"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(where)], check=True)
    command = ["make", args.target, f"BUILD={build / 'build'}"]
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=where, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peaks = {"tree": 0, "process": 0}
    done = threading.Event()

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                total, largest = tree_rss(root)
            except psutil.NoSuchProcess:
                break
            peaks["tree"] = max(peaks["tree"], total)
            peaks["process"] = max(peaks["process"], largest)
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "[csir.pipeline]" in line:
            print(line.rstrip(), file=sys.stderr, flush=True)
    code = proc.wait()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - began
    notebooks = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"\[csir.pipeline\] (\S+) done in (\d+) s", "".join(lines))
    }
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True
    ).stdout.strip()
    result = {
        "command": " ".join(command),
        "cwd": "fresh clone" if args.clone else str(REPO),
        "commit": commit,
        "pip_cache": (Path.home() / ".cache" / "pip").is_dir() if args.clone else None,
        "returncode": code,
        "wall_s": round(seconds, 1),
        "notebook_s": notebooks,
        "peak_tree_rss_mb": round(peaks["tree"] / 2**20),
        "peak_process_rss_mb": round(peaks["process"] / 2**20),
        "load_average_before": load_before,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            **cpu_facts(),
        },
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if code != 0 or args.target != "smoke":
        print("".join(lines[-40:]), file=sys.stderr)
    if not args.keep:
        shutil.rmtree(build, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
