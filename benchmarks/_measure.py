"""Measurement helpers shared by the benchmarks: peak memory, CPU contention, machine facts."""

from __future__ import annotations

import importlib
import os
import platform
import resource
import time


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MB): ``VmHWM`` of ``/proc/self/status``.

    Not ``ru_maxrss``: Linux carries that over ``execve`` from the forking parent, so a worker
    started by a large parent would report the parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_snapshot() -> tuple[float, float, float]:
    """(wall seconds, this process's CPU seconds, the machine's busy CPU seconds)."""
    with open("/proc/stat", encoding="utf-8") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    busy = (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    return time.perf_counter(), time.process_time(), busy


def contention(start: tuple[float, float, float], end: tuple[float, float, float]) -> dict:
    """Cores this process kept busy and cores other processes used between two snapshots.

    ``foreign_cores`` near 0 means the measurement ran alone on the machine; on 2 cores, a
    value near 1 or more means another job shared the CPUs and the timing is not comparable.
    """
    wall = max(end[0] - start[0], 1e-9)
    own = (end[1] - start[1]) / wall
    machine = (end[2] - start[2]) / wall
    return {"own_cores": own, "foreign_cores": max(0.0, machine - own)}


# --------------------------------------------------------------------------- workers


def machine(threads: int, packages: tuple[str, ...] = ()) -> dict:
    """CPU model, bf16 instructions, core and thread counts, versions of torch, transformers
    and ``packages``."""
    cpu, flags = platform.processor(), ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            info = fh.read().splitlines()
        cpu = next(x.split(":", 1)[1].strip() for x in info if x.startswith("model name"))
        flags = next(x.split(":", 1)[1] for x in info if x.startswith("flags"))
    except (OSError, StopIteration):
        pass
    import torch

    facts = {
        "cpu": cpu,
        "bf16_instructions": [f for f in ("avx512_bf16", "amx_bf16") if f in flags.split()],
        "nproc": os.cpu_count(),
        "torch_threads": threads,
        "gpu": torch.cuda.is_available(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    for name in ("torch", "transformers", *packages):
        facts[name] = importlib.import_module(name).__version__
    return facts
