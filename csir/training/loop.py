"""The cross-encoder training loop: read it top to bottom in :func:`train`.

One logit per (query, passage) pair, a pointwise or listwise loss (:mod:`csir.training.losses`),
AdamW with a no-decay group, linear warm-up then linear decay, optional bf16/fp16 autocast (fp16
with a gradient scaler), unscale-then-clip, gradient accumulation, shuffled, length-grouped or
whole-question batches padded to their longest pair, checkpoints
with every state needed to resume bit for bit, and ``log.csv``. Runs on one CPU/GPU as it is and
data-parallel on several GPUs under ``accelerate launch`` or ``torchrun``.

Output folder::

    model.safetensors  config.json  tokenizer files   the trained cross-encoder
    csir_training.json                                settings, data file, steps, loss, speed
    log.csv                                           one row every ``log_every`` steps
    checkpoints/step-NNNNNNN/                         while training (removed when it finishes)
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from csir import __version__, io
from csir.devices import resolve_training_precision
from csir.errors import ConfigError, CsirError
from csir.heads import HEAD_FILE, SEGMENT_COSINE
from csir.training import checkpoint as ckpt
from csir.training.args import TrainingArgs
from csir.training.batches import BatchDataset, BatchPlan
from csir.training.bf16 import Bf16Shadow
from csir.training.dev import (
    BEST_DIR,
    dev_mrr,
    dev_token_ids,
    load_best,
    read_dev_set,
    save_best,
)
from csir.training.losses import training_loss
from csir.training.run_files import (
    DEV_LOG_FILE,
    LOG_FILE,
    MODEL_FILES,
    RUN_FILE,
    CsvLog,
    DevLog,
    is_finished,
)
from csir.training.tokenized import file_info, tokenize_segment_file, tokenize_training_file

_MASKS = ("attention_mask", "query_mask", "passage_mask")


class TrainingDiverged(CsirError):
    """The training loss became NaN or infinite."""


# --------------------------------------------------------------------------- pure helpers


def linear_warmup_decay(step: int, warmup_steps: int, max_steps: int) -> float:
    """Learning-rate multiplier: ``step / warmup_steps`` during warm-up, then linear to 0.

    Same values as ``transformers.get_linear_schedule_with_warmup``.
    """
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    return max(0.0, (max_steps - step) / max(1, max_steps - warmup_steps))


def param_groups(
    model: torch.nn.Module,
    weight_decay: float,
    head: set[str] | frozenset[str] = frozenset(),
    head_lr: float | None = None,
) -> list[dict[str, Any]]:
    """AdamW parameter groups: decay for weights, none for biases and normalisation weights.

    Normalisation layers are found by type (``torch.nn.LayerNorm``) or by a class name containing
    ``Norm`` (e.g. RMSNorm variants of other architectures); scalars and vectors (biases, a
    head's scale) never decay. Parameters named in ``head`` form their own groups with learning
    rate ``head_lr`` (when given), e.g. a freshly initialised head that must move fast.
    The first group holds the decayed body weights (word embeddings included).
    """
    no_decay: set[str] = set()
    for module_name, module in model.named_modules():
        is_norm = isinstance(module, torch.nn.LayerNorm) or "Norm" in type(module).__name__
        for name, param in module.named_parameters(recurse=False):
            full = f"{module_name}.{name}" if module_name else name
            if is_norm or name == "bias" or param.ndim < 2:
                no_decay.add(full)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    split = head_lr is not None and bool(head)
    groups = []
    for in_head in (False, True) if split else (False,):
        for decay in (True, False):
            params = [
                p
                for n, p in named
                if (n not in no_decay) == decay and (not split or (n in head) == in_head)
            ]
            group: dict[str, Any] = {
                "params": params,
                "weight_decay": weight_decay if decay else 0.0,
            }
            if in_head:
                group["lr"] = head_lr
            if params:
                groups.append(group)
    return groups


# --------------------------------------------------------------------------- accelerate


def _accelerator(precision: str):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    mixed = {"fp32": "no", "fp16": "fp16", "bf16": "bf16"}[precision]
    shared = AcceleratorState._shared_state
    if shared and shared.get("_mixed_precision", mixed) != mixed:
        # One process training several models in turn (a notebook) with another precision:
        # accelerate keeps one global state, so reset it (the process group is kept).
        AcceleratorState._reset_state()
    accelerator = Accelerator(mixed_precision=mixed)
    if precision == "fp16" and accelerator.device.type != "cuda":
        raise ConfigError(
            f"precision 'fp16' needs a CUDA GPU (this process runs on {accelerator.device}); "
            "use 'bf16' or 'fp32'"
        )
    return accelerator


def _trains_on_shadow(args: TrainingArgs, accelerator) -> bool:
    """bf16 on one CPU process trains through a bf16 copy (:mod:`csir.training.bf16`); GPUs and
    several processes keep accelerate's autocast."""
    return (
        args.precision == "bf16"
        and accelerator.device.type == "cpu"
        and accelerator.num_processes == 1
    )


def _check_same_run(where: Path, saved: dict[str, Any], args: TrainingArgs, data: dict) -> None:
    """A checkpoint or finished run in ``where`` must come from the same settings and data."""
    saved_args = saved.get("args", {})
    wanted = args.result_settings()
    differing = sorted(k for k in wanted if saved_args.get(k) != wanted[k])
    saved_sha = saved.get("train_file", {}).get("sha256")
    if saved_sha != data["sha256"]:
        differing.append("training data (sha256 of the file)")
    if differing:
        raise ConfigError(
            f"{where} holds a run with other settings ({', '.join(differing)}); use another "
            "output folder, or force=True to delete it and train again"
        )


def _clear_run(output_dir: Path) -> None:
    """Delete what a previous run wrote into ``output_dir`` (force), nothing else."""
    shutil.rmtree(output_dir / ckpt.CHECKPOINTS, ignore_errors=True)
    shutil.rmtree(output_dir / BEST_DIR, ignore_errors=True)
    for name in (RUN_FILE, LOG_FILE, DEV_LOG_FILE, HEAD_FILE, *MODEL_FILES):
        with contextlib.suppress(FileNotFoundError):
            (output_dir / name).unlink()


# --------------------------------------------------------------------------- the loop


def train(
    args: TrainingArgs,
    train_file: str | Path,
    output_dir: str | Path,
    *,
    progress: bool = True,
    force: bool = False,
    on_step: Callable[[int], None] | None = None,
    dev_file: str | Path | None = None,
) -> Path:
    """Fine-tune ``args.backbone`` as a cross-encoder (head ``args.head``) on a training JSONL file.

    Resumes from the latest checkpoint in ``output_dir``; a finished run is not repeated. With a
    ``dev_file``, the model is scored on it (MRR@10) before training, every ``args.eval_every``
    steps and at the end; the best step's weights are what the run saves (``dev.csv`` holds the
    whole curve, ``csir_training.json`` the chosen step).

    Args:
        args: the run's settings.
        train_file: JSONL with ``qid, pid, query, passage, label, query_lang, doc_lang``.
        output_dir: where the model, ``log.csv``, ``csir_training.json`` and checkpoints go.
        progress: show a tqdm progress bar (main process only).
        force: delete a previous run (finished or not) in ``output_dir`` and train again.
        on_step: called with the step number after every optimizer step (and its checkpoint);
            an exception raised there stops training, as a crash would.
        dev_file: JSONL in the training-record format (notebook 02's ``dev/en-en/dev.jsonl``)
            for model selection; ``None``: the last step is kept.

    Returns:
        ``output_dir``, loadable with ``AutoModelForSequenceClassification.from_pretrained`` and
        sentence-transformers ``CrossEncoder``.

    Raises:
        InputError: for a bad line or an empty training file (file and line named).
        CheckpointError: for a damaged checkpoint (folder named; delete it).
        ConfigError: when ``output_dir`` holds a run with other settings or data, or
            ``eval_every`` is set without a dev file.
        TrainingDiverged: when the training loss becomes NaN or infinite.

    Example:
        >>> train(TrainingArgs(max_steps=100), "train.jsonl", "models/run")  # doctest: +SKIP
    """
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    from csir import ranker, vocab
    from csir.backbones import load_tokenizer

    started = time.perf_counter()
    if args.precision == "auto":  # records and checks compare the precision that ran
        device = "cuda" if torch.cuda.is_available() else "cpu"
        args = dataclasses.replace(args, precision=resolve_training_precision("auto", device))
    train_file, output_dir = Path(train_file), Path(output_dir)
    if not train_file.is_file():
        raise CsirError(f"training file {train_file} does not exist; run notebook 02 first")
    if args.eval_every and dev_file is None:
        raise ConfigError("eval_every needs a dev file (notebook 02's dev/en-en/dev.jsonl)")
    if dev_file is not None and not Path(dev_file).is_file():
        raise CsirError(
            f"dev file {dev_file} does not exist; run notebook 02 first (it writes "
            "dev/en-en/dev.jsonl), or train without dev selection (select_on_dev=False)"
        )
    data = file_info(train_file)
    if dev_file is not None:
        data["dev_file"] = file_info(dev_file)
    if is_finished(output_dir) and not force:
        _check_same_run(output_dir, io.read_json(output_dir / RUN_FILE), args, data)
        return output_dir

    accelerator = _accelerator(args.precision)
    main = accelerator.is_main_process
    if accelerator.device.type == "cpu" and args.num_workers:
        # Loader processes and torch threads share the cores: more threads than cores left
        # by the workers slows every step (about 3x measured on 2 cores).
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - args.num_workers))
    if main:
        if force:
            _clear_run(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()

    # Data: every process tokenises the file; the batch plan decides who gets what.
    spec = args.head_spec()
    tokenizer = load_tokenizer(args.backbone)
    if spec.kind == SEGMENT_COSINE:
        pairs = tokenize_segment_file(train_file, tokenizer, spec, args.max_length)
    else:
        pairs = tokenize_training_file(train_file, tokenizer, args.max_length)
    data.update(pairs=len(pairs), positives=int(pairs.labels.sum()))
    groups = pairs.groups if args.question_batches() else None
    plan = BatchPlan(pairs.lengths, args.batch_size, args.seed, args.megabatch_mult, groups)
    dev = read_dev_set(dev_file).judged(args.dev_max_queries) if dev_file is not None else None

    # Model, optimizer, schedule. The seed fixes the new head's initialisation.
    set_seed(args.seed)
    model = ranker.build_ranker(args.backbone, spec, args.num_layers)
    if args.dropout >= 0:
        ranker.set_dropout(model, args.dropout)
    embeddings = vocab.word_embeddings(model)
    if args.freeze_embeddings:
        embeddings.weight.requires_grad_(False)
    full_embeddings = None
    if args.trim_vocabulary:
        texts = [pairs.all_ids()]
        if dev is not None:
            texts.append(dev_token_ids(dev, tokenizer, spec, args.max_length))
        full_embeddings = vocab.trim_word_embeddings(model, vocab.kept_token_ids(texts, tokenizer))
    head_lr = args.head_learning_rate or None
    optimizer = torch.optim.AdamW(
        param_groups(model, args.weight_decay, ranker.head_parameter_names(model), head_lr),
        lr=args.learning_rate,
        fused=accelerator.device.type in ("cuda", "cpu"),
    )
    schedule = functools.partial(
        linear_warmup_decay, warmup_steps=args.warmup_steps, max_steps=args.max_steps
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    model, optimizer = accelerator.prepare(model, optimizer)
    # AdamW shrinks rows without gradient by (1 - lr * wd) per step: what trimmed-away rows
    # of the word embeddings must get when the full matrix is restored.
    decays_embeddings = not args.freeze_embeddings and args.weight_decay > 0

    # Resume: restores weights, optimizer, scheduler, scaler, RNG; data position follows.
    state: dict[str, Any] = {
        "step": 0,
        "micro_batches": 0,
        "examples": 0,
        "tokens": 0,
        "train_seconds": 0.0,
        "sessions": [],
        "last_loss": None,
        "pending": [0.0] * 5,  # loss, micro-batches, examples, tokens, seconds since last log row
        "embedding_decay": 1.0,
        "dev_curve": [],  # {"step", "dev_mrr", "embedding_decay"} per evaluation
        "best": None,  # the best evaluation after training started (its weights in best/)
    }
    latest = ckpt.latest_checkpoint(output_dir)
    if latest is not None:
        saved = ckpt.read_trainer_state(latest)
        _check_same_run(latest, saved, args, data)
        state.update(ckpt.load_checkpoint(latest, accelerator, model, optimizer, scheduler))
    state["sessions"] = [*state["sessions"], {"from_step": state["step"]}]
    log = CsvLog(output_dir / LOG_FILE, state["step"], main)
    dev_log = DevLog(output_dir / DEV_LOG_FILE, state["step"], main and dev is not None)

    def evaluate(step: int) -> None:
        """Score the dev set; keep the weights when they are the best after training began."""
        started_eval = time.perf_counter()
        mrr = dev_mrr(accelerator.unwrap_model(model), tokenizer, dev, args, accelerator.device)
        point = {"step": step, "dev_mrr": mrr, "embedding_decay": state["embedding_decay"]}
        state["dev_curve"] = [*state["dev_curve"], point]
        best = state["best"]
        if step > 0 and (best is None or mrr > best["dev_mrr"]):
            state["best"] = point
            if main:
                save_best(accelerator.unwrap_model(model), output_dir, step)
        dev_log.append({**point, "seconds": f"{time.perf_counter() - started_eval:.3f}"})

    if dev is not None and state["step"] == 0:
        evaluate(0)

    world, rank, accum = accelerator.num_processes, accelerator.process_index, args.grad_accum
    remaining = args.max_steps - state["step"]
    positions = plan.positions(state["micro_batches"], remaining * accum, rank, world)
    loader = torch.utils.data.DataLoader(
        BatchDataset(pairs, [plan.batch(p) for p in positions]),
        batch_size=None,
        num_workers=args.num_workers,
        pin_memory=accelerator.device.type == "cuda",
        # Own generator: creating the iterator must not draw from the global RNG (dropout's).
        generator=torch.Generator().manual_seed(args.seed),
    )
    loader = iter(loader)

    bar = tqdm(
        total=args.max_steps,
        initial=state["step"],
        disable=not (progress and main),
        desc="/".join(output_dir.parts[-3:]),
        dynamic_ncols=True,
    )
    # Per-process sums since the last flush: loss, micro-batches, examples, tokens.
    window = torch.zeros(4, dtype=torch.float64, device=accelerator.device)
    clock = [time.perf_counter()]

    def flush() -> None:
        """Add the window's totals over all processes to the run's counters and the log row."""
        totals = accelerator.reduce(window, reduction="sum").tolist()
        window.zero_()
        now = time.perf_counter()
        seconds, clock[0] = now - clock[0], now
        state["examples"] += int(totals[2])
        state["tokens"] += int(totals[3])
        state["train_seconds"] += seconds
        added = [*totals, seconds]
        state["pending"] = [a + b for a, b in zip(state["pending"], added, strict=True)]

    grad_norm: Any = float("nan")
    device = accelerator.device
    model.train()
    shadow = Bf16Shadow(model) if _trains_on_shadow(args, accelerator) else None
    computes = shadow.module if shadow is not None else model
    for step in range(state["step"] + 1, args.max_steps + 1):
        if shadow is not None:
            shadow.load_masters()
        for micro in range(accum):
            batch = {k: v.to(device, non_blocking=True) for k, v in next(loader).items()}
            labels, groups = batch.pop("labels"), batch.pop("groups")
            # Gradients are synchronised across processes only on the last micro-batch.
            sync = contextlib.nullcontext() if micro == accum - 1 else accelerator.no_sync(model)
            with sync, ranker.training_attention(device):
                logits = ranker.pair_logits(computes, batch)
                loss = training_loss(args.loss, logits, labels, groups)
                accelerator.backward(loss / accum)
            if shadow is not None:
                shadow.add_gradients_to_masters()
            window[0] += loss.detach().double()
            window[1] += 1
            window[2] += len(labels)
            window[3] += sum(batch[k].sum() for k in _MASKS if k in batch).double()
        if args.max_grad_norm > 0:
            # accelerate unscales fp16 gradients before clipping.
            grad_norm = accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        if not optimizer.step_was_skipped:  # fp16 overflow: no step, no schedule step
            scheduler.step()
            if decays_embeddings:
                state["embedding_decay"] *= 1.0 - lr * args.weight_decay
        optimizer.zero_grad(set_to_none=True)
        state["step"], state["micro_batches"] = step, state["micro_batches"] + accum * world
        bar.update(1)

        if step % args.log_every == 0 or step == args.max_steps:
            flush()
            loss_sum, n, examples, tokens, seconds = state["pending"]
            if not math.isfinite(loss_sum):
                raise TrainingDiverged(
                    f"{output_dir}: the training loss became {loss_sum / max(1.0, n)} by step "
                    f"{step} (learning rate {lr:.3g}); lower learning_rate or use precision "
                    "'bf16'/'fp32'; nothing was saved for this step"
                )
            state["pending"] = [0.0] * 5
            state["last_loss"] = loss_sum / max(1.0, n)
            speed = examples / seconds if seconds > 0 else float("nan")
            log.append(
                {
                    "step": step,
                    "epoch": plan.epoch_of(state["micro_batches"] - 1),
                    "loss": f"{state['last_loss']:.6f}",
                    "learning_rate": f"{lr:.6e}",
                    "grad_norm": f"{float(grad_norm):.4f}",
                    "examples": int(examples),
                    "tokens": int(tokens),
                    "examples_per_s": f"{speed:.3f}",
                    "tokens_per_s": f"{tokens / seconds if seconds > 0 else float('nan'):.1f}",
                    "train_seconds": f"{state['train_seconds']:.3f}",
                }
            )
            bar.set_postfix(loss=f"{state['last_loss']:.4f}", lr=f"{lr:.2e}", ex_s=f"{speed:.1f}")

        if dev is not None and (
            step == args.max_steps or (args.eval_every and step % args.eval_every == 0)
        ):
            flush()
            evaluate(step)
            clock[0] = time.perf_counter()  # dev time is not training time

        if args.checkpoint_every and step % args.checkpoint_every == 0 and step < args.max_steps:
            flush()
            state["sessions"][-1]["wall_seconds"] = round(time.perf_counter() - started, 3)
            record = {**state, "args": args.to_dict(), "train_file": data, "world_size": world}
            ckpt.save_checkpoint(
                accelerator,
                output_dir,
                step,
                model,
                optimizer,
                scheduler,
                record,
                args.keep_checkpoints,
            )
            clock[0] = time.perf_counter()  # checkpoint time is not training time
        if on_step is not None:
            on_step(step)
    bar.close()

    if main:
        model = accelerator.unwrap_model(model)
        if state["best"] is not None:
            load_best(model, output_dir, state["best"]["step"])
            decay = state["best"]["embedding_decay"]
        else:
            decay = state["embedding_decay"]
        if full_embeddings is not None:
            vocab.restore_word_embeddings(model, full_embeddings, decay)
        _save_final(accelerator, model, tokenizer, args, data, state, output_dir, started)
    accelerator.wait_for_everyone()
    return output_dir


def _save_final(accelerator, model, tokenizer, args, data, state, output_dir, started) -> None:
    """Write the model folder, then ``csir_training.json`` (its presence marks the run done)."""
    import accelerate
    import transformers

    from csir import ranker

    tmp = output_dir / ".final.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    ranker.save_ranker(accelerator.unwrap_model(model), tmp)
    tokenizer.model_max_length = args.max_length
    tokenizer.save_pretrained(tmp)
    for file in tmp.iterdir():
        os.replace(file, output_dir / file.name)
    tmp.rmdir()
    seconds = state["train_seconds"]
    sessions = state["sessions"]
    sessions[-1]["wall_seconds"] = round(time.perf_counter() - started, 3)
    io.write_json(
        output_dir / RUN_FILE,
        {
            "finished": True,
            "args": args.to_dict(),
            "train_file": data,
            "steps": state["step"],
            "examples_seen": state["examples"],
            "tokens_seen": state["tokens"],
            "final_loss": state["last_loss"],
            "selected_step": state["best"]["step"] if state["best"] else state["step"],
            "selection": "best dev MRR@10" if state["best"] else "last step",
            "dev_mrr": state["best"]["dev_mrr"] if state["best"] else None,
            "dev_curve": [{"step": p["step"], "dev_mrr": p["dev_mrr"]} for p in state["dev_curve"]],
            "train_seconds": round(seconds, 3),
            "wall_seconds": round(sum(s.get("wall_seconds", 0.0) for s in sessions), 3),
            "examples_per_s": round(state["examples"] / seconds, 3) if seconds else None,
            "tokens_per_s": round(state["tokens"] / seconds, 1) if seconds else None,
            "world_size": accelerator.num_processes,
            "device": str(accelerator.device),
            "sessions": sessions,
            "versions": {
                "csir": __version__,
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "accelerate": accelerate.__version__,
            },
        },
    )
    shutil.rmtree(output_dir / ckpt.CHECKPOINTS, ignore_errors=True)
    shutil.rmtree(output_dir / BEST_DIR, ignore_errors=True)
