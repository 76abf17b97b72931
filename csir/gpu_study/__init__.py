"""A study on one offline GPU in one command: packed on CPU, run on the GPU, unpacked on CPU.

The GPU machines this project fits have no network, a few minutes per command and a small
transfer limit (the project's GPU notes). So the work is split in three:

1. **pack** (CPU, after notebooks 01-02 of the configuration): one ``bundle.tar.gz`` holding the
   configuration, the training and dev files notebook 03 reads, the evaluation collections, the
   backbone in compact form (:mod:`csir.compact_backbone`: vocabulary trimmed to the texts of the
   study, 4-bit, verified equal to the full model on them) and the wheels of the few packages the
   GPU machine lacks.
2. **run** (GPU): unpacks the bundle into a work folder, trains every model of notebook 03's
   entries and re-ranks every pair of notebook 04 with each model as soon as it is trained, then
   scores all runs. Models are trained seed by seed (every training set with seed 1 first), and
   a job is started only when its measured cost still fits ``budget_s``: an over-full plan loses
   its last seeds, never its results. Everything notebooks 05-06 need comes back in
   ``results.tar.gz`` (metrics, per-query values, training records without weights, timings).
3. **unpack** (CPU): ``results.tar.gz`` into the configuration's build folder; notebooks 05 and
   06 then run there as usual (``make gpu-unpack``).

Example::

    make gpu-bundle                                   # CPU: build/gpu-bundle/bundle.tar.gz
    PYTHONPATH=. python -m csir.gpu_study run build/gpu-bundle/bundle.tar.gz --out OUT
    make gpu-unpack RESULTS=OUT/results.tar.gz        # CPU: notebooks 05-06, figures
"""

from csir.gpu_study.bundle import pack
from csir.gpu_study.plan import (
    ABSENT_ON_GPU,
    BENCHMARK_NAME,
    BUNDLE_LIMIT_BYTES,
    BUNDLE_NAME,
    RECORD_NAME,
    RESULTS_NAME,
    RETURN_LIMIT_BYTES,
    RUNS_NAME,
    WHEELS,
    StudyPlan,
    block_absent_packages,
    evaluation_languages,
    read_plan,
    safe_extract,
)
from csir.gpu_study.results import (
    REFERENCE_RECORD,
    check_benchmark,
    check_results,
    estimate,
    unpack,
)
from csir.gpu_study.runner import run

__all__ = [
    "ABSENT_ON_GPU",
    "BENCHMARK_NAME",
    "BUNDLE_LIMIT_BYTES",
    "BUNDLE_NAME",
    "RECORD_NAME",
    "REFERENCE_RECORD",
    "RESULTS_NAME",
    "RETURN_LIMIT_BYTES",
    "RUNS_NAME",
    "WHEELS",
    "StudyPlan",
    "block_absent_packages",
    "check_benchmark",
    "check_results",
    "estimate",
    "evaluation_languages",
    "pack",
    "read_plan",
    "run",
    "safe_extract",
    "unpack",
]
