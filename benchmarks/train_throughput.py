"""Training throughput: csir's loop against a Hugging Face ``Trainer`` set up as the authors did.

Both fine-tune the same cross-encoder (multilingual-e5-small, one logit, binary cross-entropy,
AdamW lr 2e-5, weight decay 0.01, linear schedule, gradient clipping 1.0, fp32, batch 16,
max length 256) on the same pairs: per round, a seeded random sample of ``steps * 16`` pairs of
the code-switched WikiQA training set (notebook 02's BL-CS en-de, p = 0.5), i.e. exactly one
epoch of it, so both see the same examples and differ only in how they batch and train them.

- reference: ``transformers.Trainer`` with ``DataCollatorWithPadding`` (random batches padded to
  their longest pair), BCE through ``compute_loss_func``, its default optimizer (fused AdamW);
- csir: :func:`csir.training.train` (length-grouped batches padded to their longest pair).

Each run is a fresh subprocess that loads the model, trains one warm-up step on other pairs,
then trains the timed epoch; only the training loop is timed (not loading, tokenising or saving).
Runs are interleaved (ref, csir, ref, csir, ...). Results go to ``train_throughput.json``.

Command (hold the lock so benchmarks never overlap)::

    flock /tmp/csir-bench.lock nice -n 5 python benchmarks/train_throughput.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent / "build/offline/02_data_generation/train/bl-cs/en-de/p=0.5/train.jsonl"
BATCH, MAX_LENGTH, LR, SEED = 16, 256, 2e-5, 42


def sample_file(source: Path, n: int, seed: int, target: Path) -> Path:
    """Write a seeded random sample of ``n`` lines of ``source`` to ``target``."""
    lines = source.read_text(encoding="utf-8").splitlines()
    target.write_text("\n".join(random.Random(seed).sample(lines, n)) + "\n", encoding="utf-8")
    return target


# --------------------------------------------------------------------------- workers


def run_csir(warmup_file: Path, timed_file: Path, steps: int, work: Path) -> dict:
    from csir.backbones import OFFLINE_E5
    from csir.training import TrainingArgs, read_log, train
    from csir.training.data import length_grouped_order, tokenize_training_file

    def args(n_steps: int) -> TrainingArgs:
        return TrainingArgs(
            backbone=OFFLINE_E5,
            max_length=MAX_LENGTH,
            batch_size=BATCH,
            learning_rate=LR,
            max_steps=n_steps,
            seed=SEED,
            checkpoint_every=0,
            log_every=n_steps,
        )

    train(args(1), warmup_file, work / "warmup", progress=False)
    out = train(args(steps), timed_file, work / "timed", progress=False)
    row = read_log(out).iloc[-1]
    seconds = float(row["train_seconds"])
    # The padded batches this run trained on (the same plan as train() uses for epoch 0).
    from csir.backbones import load_tokenizer

    pairs = tokenize_training_file(timed_file, load_tokenizer(OFFLINE_E5), MAX_LENGTH)
    order = length_grouped_order(pairs.lengths, BATCH, SEED, 0, 50)
    padded = sum(
        int(pairs.lengths[order[i : i + BATCH]].max()) * len(order[i : i + BATCH])
        for i in range(0, len(order), BATCH)
    )
    return {
        "seconds": seconds,
        "examples": int(row["examples"]),
        "tokens": int(row["tokens"]),
        "padded_tokens": padded,
    }


def run_reference(warmup_file: Path, timed_file: Path, steps: int, work: Path) -> dict:
    import datasets
    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    from csir.backbones import OFFLINE_E5, load_cross_encoder, load_tokenizer

    tokenizer = load_tokenizer(OFFLINE_E5)
    bce = torch.nn.BCEWithLogitsLoss()

    def compute_loss(outputs, labels, num_items_in_batch=None):
        return bce(outputs.logits.squeeze(-1).float(), labels.float())

    def dataset(path: Path) -> datasets.Dataset:
        raw = datasets.load_dataset("json", data_files=str(path), split="train")
        return raw.map(
            lambda b: {
                **tokenizer(
                    b["query"], b["passage"], truncation="longest_first", max_length=MAX_LENGTH
                ),
                "labels": [float(x) for x in b["label"]],
            },
            batched=True,
            remove_columns=raw.column_names,
        )

    padding = DataCollatorWithPadding(tokenizer)
    counted = {"padded": 0, "tokens": 0, "examples": 0}

    def collate(features):
        batch = padding(features)
        counted["padded"] += batch["input_ids"].numel()
        counted["tokens"] += int(batch["attention_mask"].sum())
        counted["examples"] += len(features)
        return batch

    class Clock(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.end = time.perf_counter()

    def trainer(path: Path, n_steps: int, out: Path, clock: Clock) -> Trainer:
        torch.manual_seed(SEED)
        model = load_cross_encoder(OFFLINE_E5)
        targs = TrainingArguments(
            output_dir=str(out),
            per_device_train_batch_size=BATCH,
            max_steps=n_steps,
            learning_rate=LR,
            weight_decay=0.01,
            lr_scheduler_type="linear",
            warmup_steps=0,
            max_grad_norm=1.0,
            seed=SEED,
            use_cpu=True,
            report_to=[],
            save_strategy="no",
            logging_steps=10_000,
            dataloader_num_workers=0,
            disable_tqdm=True,
        )
        return Trainer(
            model=model,
            args=targs,
            train_dataset=dataset(path),
            data_collator=collate,
            compute_loss_func=compute_loss,
            callbacks=[clock],
        )

    trainer(warmup_file, 1, work / "warmup", Clock()).train()
    for key in counted:
        counted[key] = 0
    clock = Clock()
    trainer(timed_file, steps, work / "timed", clock).train()
    return {
        "seconds": clock.end - clock.start,
        "examples": counted["examples"],
        "tokens": counted["tokens"],
        "padded_tokens": counted["padded"],
    }


# --------------------------------------------------------------------------- driver


def worker(ns: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="csir-train-bench-") as tmp:
        work = Path(tmp)
        fn = run_csir if ns.worker == "csir" else run_reference
        result = fn(Path(ns.warmup_file), Path(ns.timed_file), ns.steps, work)
    Path(ns.out).write_text(json.dumps(result), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="training JSONL to sample")
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps per run")
    parser.add_argument("--rounds", type=int, default=2, help="(ref, csir) pairs of runs")
    parser.add_argument("--out", default=str(HERE / "train_throughput.json"))
    parser.add_argument("--worker", choices=["csir", "ref"], help=argparse.SUPPRESS)
    parser.add_argument("--warmup-file", help=argparse.SUPPRESS)
    parser.add_argument("--timed-file", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.worker:
        worker(ns)
        return

    import torch

    data = Path(ns.data)
    rounds = []
    with tempfile.TemporaryDirectory(prefix="csir-train-bench-") as tmp:
        tmp = Path(tmp)
        warmup = sample_file(data, BATCH, 10_000, tmp / "warmup.jsonl")
        for r in range(ns.rounds):
            timed = sample_file(data, ns.steps * BATCH, r, tmp / f"round{r}.jsonl")
            entry = {"round": r, "sample_seed": r}
            for name in ("ref", "csir"):
                out = tmp / f"{name}{r}.json"
                load = os.getloadavg()[0]
                started = time.perf_counter()
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--worker",
                        name,
                        "--warmup-file",
                        str(warmup),
                        "--timed-file",
                        str(timed),
                        "--steps",
                        str(ns.steps),
                        "--out",
                        str(out),
                    ],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                result = json.loads(out.read_text(encoding="utf-8"))
                result.update(
                    examples_per_s=result["examples"] / result["seconds"],
                    tokens_per_s=result["tokens"] / result["seconds"],
                    load_average_before=load,
                    process_seconds=time.perf_counter() - started,
                )
                entry[name] = result
                print(f"round {r} {name}: {result['examples_per_s']:.3f} examples/s", flush=True)
            entry["ratio"] = entry["csir"]["examples_per_s"] / entry["ref"]["examples_per_s"]
            rounds.append(entry)

    def median(name: str, key: str) -> float:
        return statistics.median(e[name][key] for e in rounds)

    summary = {
        name: {
            key: median(name, key)
            for key in ("examples_per_s", "tokens_per_s", "seconds", "padded_tokens")
        }
        for name in ("ref", "csir")
    }
    summary["ratio_median"] = statistics.median(e["ratio"] for e in rounds)
    report = {
        "command": "python benchmarks/train_throughput.py " + " ".join(sys.argv[1:]),
        "data": str(data),
        "settings": {
            "backbone": "e5-small-offline",
            "batch_size": BATCH,
            "max_length": MAX_LENGTH,
            "learning_rate": LR,
            "precision": "fp32",
            "timed_steps": ns.steps,
            "examples_per_run": ns.steps * BATCH,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "rounds": rounds,
        "summary": summary,
    }
    Path(ns.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
