"""GPU throughput: csir's training and scoring against Hugging Face ``Trainer`` and
sentence-transformers ``CrossEncoder.predict``, in one process, on the same data, with MFU.

Run by the GPU study's command (``python -m csir.gpu_study run … --benchmark S``) inside its
unpacked work folder, before the study's models, so the device is otherwise idle; it reuses the
setups of ``train_throughput.py`` (csir's recipe, the authors' ``Trainer`` set-up) and
``rerank_throughput.py`` (the XQuAD-R re-ranking workload, the classifier twin of a segment
model, the scoring calls):

- **training**, per batch size of ``--batch-sizes``: :func:`csir.training.train` with notebook
  03's recipe for e5 (segment-cosine k = 0, bf16, trimmed vocabulary) against ``Trainer``
  (one-logit classifier, bf16 mixed precision, ``DataCollatorWithPadding``; both in fp32 on a
  device without native bf16, e.g. the dry run on an AVX2-only CPU), ``--steps`` steps
  each on the same seeded sample of the study's WikiQA training file; steps 2..N are timed;
- **scoring**: the trained csir model through :class:`csir.rerank.Reranker` (bf16, each
  distinct text encoded once) and its classifier twin through the Reranker (bf16, length-sorted)
  and through ``CrossEncoder.predict`` (defaults: fp32, batch 32; and bf16 at the Reranker's
  batch size), on the BM25 candidates of ``--queries`` questions in ``--doc-langs``.

**MFU** = achieved FLOP/s ÷ 790e12 (H200 dense bf16, measured with an 8192³ matmul), with
FLOPs = 6 · N · T for a training step and 2 · N · T for scoring, N the non-embedding parameters
(the transformer layers and head; attention's T² terms are left out) and T the real tokens
processed: the attention-mask sums of the batches (training), the tokens of every pair
(classifier scoring) or of every distinct query and passage (segment scoring, which encodes
each text once). Reported only on a CUDA device.

Every part runs only while ``--budget`` seconds (or ``--deadline``, the GPU run's end of the
benchmark on the wall clock) allow it, in this order: training at the first batch size, scoring
with that model, training at the other sizes; the parts left are named in the JSON. The JSON is
rewritten before and after each part, so a run stopped at its limit keeps what it measured and
names the part it stopped (``"running"``). ``--tiny`` runs every part at smoke sizes (the CPU
dry run, ``make gpu-dry-run``).

Command (from the repository root, after ``csir.gpu_study run`` has unpacked a bundle; the run
calls it itself with ``--benchmark``)::

    python benchmarks/gpu_throughput.py --train-file TRAIN.jsonl --out gpu_throughput.json
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from rerank_throughput import build_workload, save_classifier, score_variant  # noqa: E402
from train_throughput import csir_args, run_reference, sample_file, timed_steps  # noqa: E402

#: Dense bf16 peak of one H200 (TFLOP/s measured with an 8192³ bf16 matmul; ../shared/docs/gpu.md).
PEAK_FLOPS = 790e12
SCORING_BATCH = 256  # notebook 04's batch_size in configs/offline-full.yaml
#: (steps, batch sizes, max length, questions, document languages) of --tiny.
TINY = (3, [4, 8], 64, 2, ["en"])
#: Seconds a part needs to be started: csir and Trainer each load, tokenise and take the steps
#: (about 10 s on a GPU); scoring builds BM25 candidates in 3 languages, then loads and runs 4
#: variants (20-25 s expected). --tiny's scoring is 2 questions in one language.
NEEDS_S = {"train": 15.0, "score": 25.0}
TINY_NEEDS_S = {"train": 15.0, "score": 10.0}


def non_embedding_parameters(model) -> int:
    """Parameters outside the embedding tables (word, position, token type)."""
    return sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)


def mfu(flops: float, seconds: float, cuda: bool) -> float | None:
    """Achieved FLOP/s over :data:`PEAK_FLOPS` (None off a GPU, where that peak means nothing)."""
    return flops / seconds / PEAK_FLOPS if cuda and seconds > 0 else None


def pair_tokens(tokenizer, pairs: list[tuple[str, str]], length: int) -> int:
    """Real tokens of every (query, passage) pair as a cross-encoder reads it."""
    enc = tokenizer([q for q, _ in pairs], [p for _, p in pairs], truncation="longest_first",
                    max_length=length)  # fmt: skip
    return sum(len(ids) for ids in enc["input_ids"])


def segment_tokens(model_dir: Path, pairs: list[tuple[str, str]], length: int) -> int:
    """Real tokens a segment model encodes: every distinct query and passage once."""
    from csir import backbones
    from csir.heads import read_head_spec
    from csir.ranker import tokenize_segments

    spec, tokenizer = read_head_spec(model_dir), backbones.load_tokenizer(str(model_dir))
    queries = sorted({q for q, _ in pairs})
    passages = sorted({p for _, p in pairs})
    ids = tokenize_segments(tokenizer, queries, spec.query_prefix, spec.query_max_length)
    ids += tokenize_segments(tokenizer, passages, spec.passage_prefix, length)
    return sum(len(x) for x in ids)


class Report:
    """The JSON report, rewritten atomically before and after every part; parts run while time
    is left.

    ``deadline`` (seconds since the epoch, from the process that started this one) ends the
    budget where it comes before ``budget_s`` from now: the parent's clock started before this
    process's imports. A part still running when the process is stopped stays named in
    ``"running"``.
    """

    def __init__(self, out: Path, budget_s: float, facts: dict, deadline: float = 0.0) -> None:
        self.out, self.start = out, time.monotonic()
        self.end = self.start + budget_s
        if deadline:
            self.end = min(self.end, self.start + deadline - time.time())
        self.data: dict = {**facts, "budget_s": budget_s, "parts": {}, "left_out": []}
        self.data["started_with_s"] = round(self.left(), 2)

    def left(self) -> float:
        return self.end - time.monotonic()

    @contextlib.contextmanager
    def part(self, name: str, needs_s: float) -> Iterator[dict | None]:
        """Yield a dict to fill, or None (recorded as left out) when under ``needs_s`` is left."""
        if self.left() < needs_s:
            self.data["left_out"].append(name)
            yield None
        else:
            self.data["running"] = name
            self.save()
            began = time.monotonic()
            entry: dict = {}
            try:
                yield entry
            except Exception as err:  # one failed part must not lose the others
                entry["error"] = f"{type(err).__name__}: {err}"[:500]
            entry["wall_s"] = round(time.monotonic() - began, 2)
            self.data["parts"][name] = entry
            del self.data["running"]
        self.data["elapsed_s"] = round(time.monotonic() - self.start, 2)
        self.save()

    def save(self) -> None:
        from csir.io import write_json

        write_json(self.out, self.data)


def facts(device: str) -> dict:
    """Device name and the versions the numbers depend on."""
    import platform

    import sentence_transformers
    import torch
    import transformers

    cuda = device.startswith("cuda")
    return {
        "device": torch.cuda.get_device_name(0) if cuda else f"CPU ({platform.machine()})",
        "cuda": torch.version.cuda if cuda else None,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "python": platform.python_version(),
        "peak_flops": PEAK_FLOPS,
        "flops": "training 6*N*T, scoring 2*N*T; N non-embedding parameters, T real tokens",
    }


def train_part(entry: dict, ns, batch: int, timed: Path, work: Path, cuda: bool) -> Path:
    """csir and ``Trainer`` on the same sample; returns csir's model folder."""
    from csir.ranker import load_ranker
    from csir.training import train

    folder = work / f"csir-b{batch}"
    args = csir_args("auto", ns.steps, 0.01, batch_size=batch, max_length=ns.max_length,
                     precision=ns.precision)  # fmt: skip
    train(args, timed, folder, progress=False)
    params = non_embedding_parameters(load_ranker(str(folder)))
    csir = {**timed_steps(folder), "non_embedding_params": params}
    # both in the precision the device computes natively (bf16 on the GPU)
    ref = run_reference(timed, None, ns.steps, work / f"ref-b{batch}", device=ns.device,
                        bf16=ns.precision == "bf16", batch_size=batch,
                        max_length=ns.max_length)  # fmt: skip
    for system in (csir, ref):
        system["examples_per_s"] = system["examples"] / system["seconds"]
        system["tokens_per_s"] = system["tokens"] / system["seconds"]
        system["mfu"] = mfu(6 * params * system["tokens"], system["seconds"], cuda)
    ratio = csir["examples_per_s"] / ref["examples_per_s"]
    entry.update(csir=csir, trainer=ref, csir_vs_trainer=ratio)
    return folder


def score_part(entry: dict, ns, model: Path, work: Path, cuda: bool) -> None:
    """The re-ranking workload through csir's Reranker and ``CrossEncoder.predict``."""
    import torch

    from csir import backbones
    from csir.ranker import load_ranker

    rows = build_workload(ns.queries, 2, ns.doc_langs)["rows"]
    pairs = [(r[3], r[4]) for r in rows]
    classifier = work / "classifier"
    save_classifier(model, classifier)
    params = non_embedding_parameters(load_ranker(str(classifier)))
    tokens = {
        "segment": segment_tokens(model, pairs, ns.max_length),
        "classifier": pair_tokens(backbones.load_tokenizer(str(classifier)), pairs, ns.max_length),
    }
    variants = {
        "csir-seg-bf16": (model, "csir-seg-bf16", SCORING_BATCH, None),
        "csir-cls-bf16": (classifier, "csir-cls-bf16", SCORING_BATCH, None),
        "st-default": (classifier, "st-fp32", 0, None),
        "st-bf16": (classifier, "st-fp32", SCORING_BATCH, {"dtype": torch.bfloat16}),
    }
    entry.update(pairs=len(pairs), tokens=tokens, non_embedding_params=params, variants={})
    for name, (folder, variant, batch, kwargs) in variants.items():
        try:
            result = score_variant(variant, folder, pairs, ns.max_length, device=ns.device,
                                   batch_size=batch, st_kwargs=kwargs)  # fmt: skip
        except Exception as err:  # e.g. a sentence-transformers version without model_kwargs
            entry["variants"][name] = {"error": f"{type(err).__name__}: {err}"[:500]}
            continue
        result.pop("scores")
        kind = "segment" if name == "csir-seg-bf16" else "classifier"
        result["mfu"] = mfu(2 * params * tokens[kind], result["score_s"], cuda)
        entry["variants"][name] = result
    ref = entry["variants"].get("st-default", {}).get("pairs_per_s")
    for result in entry["variants"].values():
        if ref and "pairs_per_s" in result:
            result["vs_st_default"] = result["pairs_per_s"] / ref


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-file", type=Path, required=True, help="WikiQA training JSONL")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget", type=float, default=75.0, help="seconds for every part")
    parser.add_argument(
        "--deadline", type=float, default=0.0, help="end of the budget (epoch seconds) if earlier"
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps a system")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 128])
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--queries", type=int, default=300, help="questions to re-rank")
    parser.add_argument("--doc-langs", nargs="+", default=["en", "de", "zh"])
    parser.add_argument("--tiny", action="store_true", help="smoke sizes (the CPU dry run)")
    parser.add_argument("--block", nargs="*", default=[], help="packages to make unimportable")
    ns = parser.parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a load bar per model would fill the GPU run's log
    for name in ns.block:  # the dry run: what the GPU machine lacks stays unimportable here too
        sys.modules[name] = None  # type: ignore[assignment]
    if ns.tiny:
        ns.steps, ns.batch_sizes, ns.max_length, ns.queries, ns.doc_langs = TINY
    needs = TINY_NEEDS_S if ns.tiny else NEEDS_S
    from csir.devices import resolve_training_precision

    # bf16 where the device computes it (an H200; AMX CPUs), else fp32: emulated bf16 on an
    # AVX2-only CPU (a dry run there) is many times slower than fp32
    ns.precision = resolve_training_precision("auto", ns.device)
    cuda = ns.device.startswith("cuda")
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(ns).items()}
    report = Report(ns.out, ns.budget, {**facts(ns.device), "settings": settings}, ns.deadline)
    with tempfile.TemporaryDirectory(prefix="csir-gpu-bench-") as tmp:
        work = Path(tmp)
        model = None
        # the first batch size (the study's), scoring with its model, then the other sizes:
        # a budget that runs short loses the least informative part
        for batch in [*ns.batch_sizes[:1], "score", *ns.batch_sizes[1:]]:
            if batch == "score":
                with report.part("score", needs_s=needs["score"]) as entry:
                    if entry is not None:
                        if model is None:
                            raise RuntimeError("no csir model was trained to score with")
                        score_part(entry, ns, model, work, cuda)
                continue
            with report.part(f"train_b{batch}", needs_s=needs["train"]) as entry:
                if entry is not None:
                    lines = ns.steps * batch
                    timed = sample_file(ns.train_file, lines, 0, work / f"sample{batch}.jsonl")
                    entry.update(batch_size=batch, steps=ns.steps, sample_seed=0)
                    folder = train_part(entry, ns, batch, timed, work, cuda)
                    model = model or folder


if __name__ == "__main__":
    main()
