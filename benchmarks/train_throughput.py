"""Training throughput and dev quality: csir's recipe against a Hugging Face ``Trainer``.

Five systems fine-tune the offline multilingual-e5-small on the same pairs for the same number
of optimizer steps (batch 16, max length 256, AdamW lr 2e-5, weight decay 0.01 without biases and
LayerNorm weights, linear decay without warm-up, gradient clipping 1.0, binary cross-entropy on
one logit):

- ``ref``: ``transformers.Trainer`` set up as the authors did:
  ``AutoModelForSequenceClassification`` with one logit (a fresh classifier head on the first
  token), fp32, the full 250k-row vocabulary, ``DataCollatorWithPadding`` (random batches
  padded to their longest pair), BCE through ``compute_loss_func``, Trainer's default
  optimizer (fused AdamW), no data-loader workers;
- ``csir``: :func:`csir.training.train` with the recipe notebook 03 uses for this backbone:
  ``head="auto"`` (segment-cosine, ``joint_layers=0``), bf16 (on CPU: a bf16 copy of the model
  computes, float32 master weights learn: :mod:`csir.training.bf16`), trimmed
  vocabulary (:mod:`csir.vocab`), dropout as ``TrainingArgs`` (0), the math attention kernel on
  CPU (``csir.ranker.training_attention``), the head's
  two parameters at notebook 03's head learning rate (``--head-lr``), the dev file passed (it is
  scored before and after training, outside the timed loop, and its texts join the trimmed
  vocabulary);
- ``csir-classifier``: the same csir recipe with ``head="classifier"`` (the ``ref`` model), to
  separate the head's effect from bf16 and trimming;
- ``csir-autocast``: the ``csir`` recipe with bf16 autocast on the float32 model instead of the
  bf16 copy (what the loop did before), to measure that step alone;
- ``csir-padded``: the ``csir`` recipe with every layer run on the padded batch, queries and
  passages in two passes (what the loop did before :mod:`csir.packed`), to measure that step
  alone.

Data: per round a seeded random sample of ``steps * 16`` pairs of the WikiQA training set
(notebook 02's ``zero-shot/en-en/p=0.0``, 1:4 positives to negatives), i.e. exactly one epoch, so
all systems see the same examples (each in its own seeded order). Timing: the optimizer steps
2..N of one run (step 1 is the warm-up: first allocations, oneDNN kernel selection); not loading,
tokenising, dev scoring or saving. Quality: WikiQA dev MRR@10 (``csir.training.dev``: the 126
questions with a relevant sentence, 1,130 pairs) of the model after the N steps, every system
scored the same way: ``csir.rerank.Reranker`` in fp32 at max length 256 (csir's own bf16 score
from its training loop is reported next to it). Memory: ``VmHWM`` (peak RSS) of the worker after
training (before dev scoring) and at its end.

Every run is a fresh subprocess with ``--threads`` torch threads (default 2: this machine has 2
cores and nothing else of ours runs meanwhile); the systems run interleaved, in an order rotated
per round. Results go to ``train_throughput.json``.

Command (hold the lock so benchmarks never overlap)::

    flock /tmp/csir-bench.lock nice -n 5 .venv/bin/python benchmarks/train_throughput.py
    .venv/bin/python benchmarks/train_throughput.py --steps 3 --rounds 1 --out /tmp/t.json  # dev
"""

from __future__ import annotations

import argparse
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

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_DATA = REPO / "build/exp/02/train/zero-shot/en-en/p=0.0/train.jsonl"
DEFAULT_DEV = REPO / "build/exp/02/dev/en-en/dev.jsonl"
BATCH, MAX_LENGTH, LR, WEIGHT_DECAY, SEED = 16, 256, 2e-5, 0.01, 42
SYSTEMS = ("ref", "csir", "csir-classifier", "csir-autocast", "csir-padded")
LABELS = {
    "ref": "HF Trainer (classifier, fp32, full vocabulary)",
    "csir": "csir (segment-cosine k=0, auto precision: bf16 on AMX, trimmed, dropout 0)",
    "csir-classifier": "csir (classifier, auto precision, trimmed, dropout 0)",
    "csir-autocast": "csir (segment-cosine k=0, bf16 autocast, trimmed, dropout 0)",
    "csir-padded": "csir (segment-cosine k=0, auto precision, trimmed, dropout 0, padded layers)",
}


def sample_file(source: Path, n: int, seed: int, target: Path) -> Path:
    """Write a seeded random sample of ``n`` lines of ``source`` to ``target``; a sample of one
    label (small ``n``), which csir refuses to train on, has its last line swapped for the
    first line of the other label."""
    lines = [x for x in source.read_text(encoding="utf-8").splitlines() if x.strip()]
    if n > len(lines):
        raise SystemExit(f"{source} has {len(lines)} pairs; {n} asked for (lower --steps)")
    sample = random.Random(seed).sample(lines, n)

    def label(line: str) -> bool:
        return bool(json.loads(line)["label"])

    if n > 1 and len({label(line) for line in sample}) == 1:
        other = next((x for x in lines if label(x) != label(sample[0])), None)
        if other is not None:
            sample[-1] = other
    target.write_text("\n".join(sample) + "\n", encoding="utf-8")
    return target


# --------------------------------------------------------------------------- workers


def dev_mrr_fp32(reranker, dev) -> tuple[float, float]:
    """MRR@10 of a reranker on the dev set, and the scoring seconds."""
    from csir.training.dev import dev_score

    started = time.perf_counter()
    scores = reranker.score(dev.pairs())
    return dev_score(dev, scores), time.perf_counter() - started


def kept_vocabulary_rows(args, train_file: Path, dev) -> int:
    """Word-embedding rows a trimmed run trains (computed as :func:`csir.training.train` does)."""
    from csir import vocab
    from csir.backbones import load_tokenizer
    from csir.heads import SEGMENT_COSINE
    from csir.training.dev import dev_token_ids
    from csir.training.tokenized import tokenize_segment_file, tokenize_training_file

    spec, tokenizer = args.head_spec(), load_tokenizer(args.backbone)
    if spec.kind == SEGMENT_COSINE:
        pairs = tokenize_segment_file(train_file, tokenizer, spec, args.max_length)
    else:
        pairs = tokenize_training_file(train_file, tokenizer, args.max_length)
    dev_ids = dev_token_ids(dev, tokenizer, spec, args.max_length)
    return len(vocab.kept_token_ids([pairs.all_ids(), dev_ids], tokenizer))


def csir_args(
    head: str,
    steps: int,
    head_lr: float,
    *,
    batch_size: int = BATCH,
    max_length: int = MAX_LENGTH,
    precision: str = "auto",
):
    """csir's :class:`~csir.training.TrainingArgs` of this comparison: notebook 03's ``auto``
    precision unless told (bf16 where the CPU has AMX or AVX512-BF16, else fp32), no warm-up,
    a log row per step, no checkpoints, no dev evaluation inside the timed steps."""
    from csir.training import TrainingArgs

    return TrainingArgs(
        backbone="e5-small-offline",
        head=head,
        precision=precision,
        max_length=max_length,
        batch_size=batch_size,
        learning_rate=LR,
        head_learning_rate=head_lr,
        weight_decay=WEIGHT_DECAY,
        warmup_steps=0,
        max_steps=steps,
        seed=SEED,
        checkpoint_every=0,
        log_every=1,
        eval_every=0,
    )


def timed_steps(model_dir: Path) -> dict:
    """Seconds, examples and real tokens of optimizer steps 2..N from a run's ``log.csv``."""
    import pandas as pd

    log = pd.read_csv(model_dir / "log.csv")
    timed = log[log["step"] >= 2]
    return {
        "seconds": float(log["train_seconds"].iloc[-1] - log["train_seconds"].iloc[0]),
        "examples": int(timed["examples"].sum()),
        "tokens": int(timed["tokens"].sum()),
        "first_step_seconds": float(log["train_seconds"].iloc[0]),
    }


def run_csir(
    head: str, timed_file: Path, dev_file: Path, steps: int, head_lr: float, work: Path
) -> dict:
    from csir.io import read_json
    from csir.rerank import Reranker, ScoringOptions
    from csir.training import TrainingArgs, train
    from csir.training.dev import read_dev_set

    args = csir_args(head, steps, head_lr)
    snapshots: dict[int, tuple[float, float, float]] = {}

    def on_step(step: int) -> None:
        # after step 1 and step N-1: step N's snapshot would include the final dev scoring
        if step in (1, steps - 1):
            snapshots[step] = cpu_snapshot()

    out = train(
        args, timed_file, work / "model", progress=False, dev_file=dev_file, on_step=on_step
    )
    rss_train = peak_rss_mb()
    run = read_json(out / "csir_training.json")
    dev = read_dev_set(dev_file).judged()
    kept_rows = kept_vocabulary_rows(TrainingArgs.from_dict(run["args"]), timed_file, dev)
    reranker = Reranker(out, ScoringOptions(device="cpu", max_length=MAX_LENGTH, precision="fp32"))
    mrr, dev_seconds = dev_mrr_fp32(reranker, dev)
    curve = run["dev_curve"]
    return {
        "head": run["args"]["head"],
        "args": run["args"],
        **timed_steps(out),
        **(contention(snapshots[1], snapshots[steps - 1]) if steps > 2 else {}),
        "final_loss": run["final_loss"],
        "dev_mrr_fp32": mrr,
        "dev_scoring_seconds_fp32": dev_seconds,
        "dev_mrr_bf16_loop": curve[-1]["dev_mrr"],
        "dev_mrr_step0_bf16_loop": curve[0]["dev_mrr"],
        "dev_pairs": len(dev),
        "kept_vocabulary_rows": kept_rows,
        "peak_rss_train_mb": rss_train,
        "peak_rss_mb": peak_rss_mb(),
    }


def tokenized_pairs(tokenizer, train_file: Path, max_length: int) -> list[dict]:
    """The reference's training set: each JSONL pair tokenised as the authors' code does (pair
    input, ``longest_first`` truncation, no padding) with its float label; a plain list, which
    ``Trainer`` takes like any map-style dataset (the GPU machine has no ``datasets``)."""
    from csir.io import read_jsonl

    records = list(read_jsonl(train_file))
    encoded = tokenizer(
        [str(r["query"]) for r in records],
        [str(r["passage"]) for r in records],
        truncation="longest_first",
        max_length=max_length,
    )
    return [
        {**{key: encoded[key][i] for key in encoded}, "labels": float(r["label"])}
        for i, r in enumerate(records)
    ]


def run_reference(
    timed_file: Path,
    dev_file: Path | None,
    steps: int,
    work: Path,
    *,
    device: str = "cpu",
    bf16: bool = False,
    batch_size: int = BATCH,
    max_length: int = MAX_LENGTH,
) -> dict:
    """``Trainer`` for ``steps`` steps on ``timed_file``; timings of steps 2..N, and the dev
    MRR@10 of the result when ``dev_file`` is given. ``bf16``: Trainer's bf16 mixed precision
    (the GPU comparison); ``device``: ``"cpu"`` or a CUDA device (Trainer's own choice)."""
    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    from csir.backbones import OFFLINE_E5, load_cross_encoder, load_tokenizer
    from csir.rerank import Reranker, ScoringOptions
    from csir.training.dev import read_dev_set

    tokenizer = load_tokenizer(OFFLINE_E5)
    bce = torch.nn.BCEWithLogitsLoss()

    def compute_loss(outputs, labels, num_items_in_batch=None):
        return bce(outputs.logits.squeeze(-1).float(), labels.float())

    train_set = tokenized_pairs(tokenizer, timed_file, max_length)
    padding = DataCollatorWithPadding(tokenizer)
    batches: list[tuple[int, int, int]] = []  # (examples, real tokens, padded tokens) per batch

    def collate(features):
        batch = padding(features)
        batches.append(
            (len(features), int(batch["attention_mask"].sum()), batch["input_ids"].numel())
        )
        return batch

    class Clock(TrainerCallback):
        def __init__(self) -> None:
            self.ends: list[float] = []

            self.snapshots: list[tuple[float, float, float]] = []

        def on_step_end(self, args, state, control, **kwargs):
            if torch.cuda.is_available() and device != "cpu":
                torch.cuda.synchronize()  # the step's kernels, not only their launch
            self.ends.append(time.perf_counter())
            self.snapshots.append(cpu_snapshot())

    torch.manual_seed(SEED)
    model = load_cross_encoder(OFFLINE_E5)
    targs = TrainingArguments(
        output_dir=str(work / "trainer"),
        per_device_train_batch_size=batch_size,
        max_steps=steps,
        learning_rate=LR,
        weight_decay=WEIGHT_DECAY,
        lr_scheduler_type="linear",
        warmup_steps=0,
        max_grad_norm=1.0,
        seed=SEED,
        use_cpu=device == "cpu",
        bf16=bf16,
        report_to=[],
        save_strategy="no",
        logging_steps=10_000,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    clock = Clock()
    trainer = Trainer(
        model=model,
        args=targs,
        train_dataset=train_set,
        data_collator=collate,
        compute_loss_func=compute_loss,
        callbacks=[clock],
    )
    output = trainer.train()
    rss_train = peak_rss_mb()
    if len(clock.ends) != steps:
        raise RuntimeError(f"Trainer ran {len(clock.ends)} steps, {steps} asked for")
    # accelerate's loader may fetch one batch ahead; the batches are collated in order.
    timed = batches[1:steps]
    result = {
        "head": "classifier",
        "seconds": clock.ends[-1] - clock.ends[0],
        "examples": sum(b[0] for b in timed),
        "tokens": sum(b[1] for b in timed),
        "padded_tokens": sum(b[2] for b in timed),
        **contention(clock.snapshots[0], clock.snapshots[-1]),
        "optimizer": targs.optim if isinstance(targs.optim, str) else str(targs.optim.value),
        "final_loss": float(output.training_loss),
        "peak_rss_train_mb": rss_train,
    }
    if dev_file is not None:
        dev = read_dev_set(dev_file).judged()
        model.eval()
        options = ScoringOptions(device="cpu", max_length=max_length, precision="fp32")
        reranker = Reranker.from_model(model.to("cpu"), tokenizer, options)
        mrr, dev_seconds = dev_mrr_fp32(reranker, dev)
        result.update(dev_mrr_fp32=mrr, dev_scoring_seconds_fp32=dev_seconds, dev_pairs=len(dev))
    result["peak_rss_mb"] = peak_rss_mb()
    return result


# --------------------------------------------------------------------------- driver


def worker(ns: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(ns.threads)
    with tempfile.TemporaryDirectory(prefix="csir-train-bench-") as tmp:
        work = Path(tmp)
        timed, dev = Path(ns.timed_file), Path(ns.dev)
        if ns.worker == "ref":
            result = run_reference(timed, dev, ns.steps, work)
        else:
            if ns.worker == "csir-autocast":
                from csir.training import loop

                loop._trains_on_shadow = lambda args, accelerator: False
            if ns.worker == "csir-padded":
                from csir import ranker

                ranker.packable = lambda layers: False
            head = "classifier" if ns.worker == "csir-classifier" else "segment-cosine"
            result = run_csir(head, timed, dev, ns.steps, ns.head_lr, work)
    result["torch_threads"] = torch.get_num_threads()
    Path(ns.out).write_text(json.dumps(result), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="training JSONL to sample")
    parser.add_argument("--dev", default=str(DEFAULT_DEV), help="WikiQA dev JSONL (notebook 02)")
    parser.add_argument("--steps", type=int, default=25, help="optimizer steps per run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of one run per system")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--head-lr", type=float, default=0.01, help="csir head learning rate")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per run")
    parser.add_argument("--out", default=str(HERE / "train_throughput.json"))
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--timed-file", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.worker:
        worker(ns)
        return
    if ns.steps < 2:
        raise SystemExit("--steps must be >= 2 (step 1 is the untimed warm-up)")

    data, systems = Path(ns.data), list(ns.systems)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(ns.threads),
        "MKL_NUM_THREADS": str(ns.threads),
        "TOKENIZERS_PARALLELISM": "false",
        "TRANSFORMERS_VERBOSITY": "error",
        "TQDM_DISABLE": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    }
    report: dict = {
        "command": " ".join(["python", "benchmarks/train_throughput.py", *sys.argv[1:]]),
        "data": str(data),
        "dev": str(ns.dev),
        "settings": {
            "backbone": "e5-small-offline",
            "batch_size": BATCH,
            "max_length": MAX_LENGTH,
            "learning_rate": LR,
            "weight_decay": WEIGHT_DECAY,
            "csir_head_learning_rate": ns.head_lr,
            "steps_per_run": ns.steps,
            "timed_steps": ns.steps - 1,
            "examples_per_run": ns.steps * BATCH,
            "systems": {s: LABELS[s] for s in systems},
        },
        "machine": machine(ns.threads, ("accelerate",)),
        "rounds": [],
    }
    rounds = report["rounds"]
    with tempfile.TemporaryDirectory(prefix="csir-train-bench-") as tmp:
        tmp = Path(tmp)
        for r in range(ns.rounds):
            timed = sample_file(data, ns.steps * BATCH, r, tmp / f"round{r}.jsonl")
            entry: dict = {"round": r, "sample_seed": r}
            order = systems[r % len(systems) :] + systems[: r % len(systems)]
            entry["order"] = order
            for name in order:
                out = tmp / f"{name}{r}.json"
                load = os.getloadavg()[0]
                started = time.perf_counter()
                cmd = [
                    sys.executable, __file__, "--worker", name, "--timed-file", str(timed),
                    "--dev", str(ns.dev), "--steps", str(ns.steps), "--head-lr", str(ns.head_lr),
                    "--threads", str(ns.threads), "--out", str(out),
                ]  # fmt: skip
                done = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if done.returncode:
                    sys.stderr.write(done.stderr[-4000:])
                    raise SystemExit(f"worker {name} failed (exit {done.returncode})")
                result = json.loads(out.read_text(encoding="utf-8"))
                result.update(
                    examples_per_s=result["examples"] / result["seconds"],
                    tokens_per_s=result["tokens"] / result["seconds"],
                    load_average_before=load,
                    load_average_after=os.getloadavg()[0],
                    process_seconds=time.perf_counter() - started,
                )
                entry[name] = result
                print(
                    f"[{time.strftime('%H:%M:%S')}] round {r} {name}: "
                    f"{result['examples_per_s']:.2f} examples/s, dev MRR@10 "
                    f"{result['dev_mrr_fp32']:.4f}, peak RSS {result['peak_rss_mb']:.0f} MB, "
                    f"load {load:.1f}, other jobs {result.get('foreign_cores', 0):.2f} cores",
                    flush=True,
                )
            if "ref" in entry:
                for name in systems:
                    if name != "ref":
                        entry[f"{name}_vs_ref"] = (
                            entry[name]["examples_per_s"] / entry["ref"]["examples_per_s"]
                        )
            rounds.append(entry)
            report["summary"] = summarise(rounds, systems)
            Path(ns.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["summary"], indent=2))


def summarise(rounds: list[dict], systems: list[str]) -> dict:
    """Medians over rounds per system; speed ratios against ``ref`` (median of per-round ratios)."""

    def med(name: str, key: str) -> float | None:
        values = [e[name][key] for e in rounds if e[name].get(key) is not None]
        return statistics.median(values) if values else None

    keys = (
        "examples_per_s",
        "tokens_per_s",
        "seconds",
        "dev_mrr_fp32",
        "dev_mrr_bf16_loop",
        "dev_mrr_step0_bf16_loop",
        "peak_rss_train_mb",
        "peak_rss_mb",
    )
    summary: dict = {name: {k: med(name, k) for k in keys} for name in systems}
    for name in systems:
        summary[name] = {k: v for k, v in summary[name].items() if v is not None}
        summary[name]["dev_mrr_fp32_per_round"] = [e[name]["dev_mrr_fp32"] for e in rounds]
        summary[name]["examples_per_s_per_round"] = [e[name]["examples_per_s"] for e in rounds]
        summary[name]["foreign_cores_per_round"] = [e[name].get("foreign_cores") for e in rounds]
        if name != "ref" and "ref" in systems:
            ratios = [e[f"{name}_vs_ref"] for e in rounds]
            summary[name]["speedup_vs_ref_per_round"] = ratios
            summary[name]["speedup_vs_ref_median"] = statistics.median(ratios)
    if "csir" in systems and "csir-padded" in systems:
        ratios = [e["csir"]["examples_per_s"] / e["csir-padded"]["examples_per_s"] for e in rounds]
        summary["csir"]["speedup_vs_padded_per_round"] = ratios
        summary["csir"]["speedup_vs_padded_median"] = statistics.median(ratios)
    summary["rounds_done"] = len(rounds)
    return summary


if __name__ == "__main__":
    main()
