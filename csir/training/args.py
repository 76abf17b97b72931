"""The training run's settings (:class:`TrainingArgs`) and the model folder naming.

Kept free of torch so that notebook configs can validate training settings cheaply.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from csir.devices import TRAINING_PRECISIONS
from csir.errors import ConfigError
from csir.heads import HEADS, HeadSpec, default_head

LOSSES = ("pointwise", "listwise")  # same values as csir.training.losses.LOSSES (no torch here)

OFFLINE_E5 = "e5-small-offline"  # same value as csir.backbones.OFFLINE_E5 (no numpy import here)

#: Fields that never change the trained weights: a run may be resumed with other values.
_RESUMABLE_FIELDS = frozenset({"checkpoint_every", "keep_checkpoints", "num_workers", "log_every"})


@dataclasses.dataclass(frozen=True)
class TrainingArgs:
    """Settings of one cross-encoder fine-tuning run (one logit per pair).

    Attributes:
        backbone: Hugging Face hub id, local folder or ``"e5-small-offline"``.
        max_length: tokens per (query, passage) pair, special tokens included.
        batch_size: pairs per forward pass on each device (micro-batch).
        grad_accum: micro-batches per optimizer step; one step sees
            ``batch_size * grad_accum * number of processes`` pairs.
        learning_rate: peak AdamW learning rate, reached after ``warmup_steps``.
        warmup_steps: optimizer steps of linear warm-up from 0; then linear decay to 0.
        max_steps: optimizer steps of the whole run (the data is cycled in epochs).
        weight_decay: AdamW decoupled weight decay, not applied to biases and LayerNorm weights.
        precision: ``fp32``, ``bf16`` (autocast) or ``fp16`` (autocast and a gradient scaler;
            CUDA only), or ``auto``: bf16 where the hardware computes it, else fp32
            (:func:`csir.devices.resolve_training_precision`; the run records the result).
        seed: seeds the head's initialisation, dropout and the data order.
        checkpoint_every: optimizer steps between checkpoints (0: none).
        keep_checkpoints: how many of the latest checkpoints are kept while training.
        num_workers: data-loader processes that pad batches (0: in the training process).
        num_layers: keep only the bottom layers of the backbone (0: all).
        max_grad_norm: clip the global gradient norm to this (0: no clipping).
        log_every: optimizer steps between rows of ``log.csv``.
        megabatch_mult: length grouping: the shuffled data is cut into megabatches of
            ``megabatch_mult * batch_size`` pairs, each sorted by length. 1 (the default): a
            plain seeded shuffle, so row-aligned training sets (code-switched files and their
            zero-shot source) see the same pairs in the same batches.
        head: ``"classifier"`` (one logit on the first token, the paper's), ``"segment-cosine"``
            (for embedding backbones, see :mod:`csir.heads`) or ``"auto"``: segment-cosine for
            e5 backbones, classifier for the others. Stored resolved.
        joint_layers: segment-cosine: top layers that attend over query and passage jointly.
        query_max_length: segment-cosine: tokens kept of a query (a passage keeps
            ``max_length``).
        head_learning_rate: peak learning rate of the head's own parameters (0: learning_rate).
        freeze_embeddings: keep the word embeddings fixed (the paper trains them).
        trim_vocabulary: train only the word-embedding rows that the training and dev texts use;
            lossless (see :mod:`csir.vocab`), and much faster on CPU.
        eval_every: optimizer steps between evaluations on the dev file; the best one is kept
            (0: evaluate at the end only). Needs a dev file.
        dropout: dropout probability of every hidden and attention dropout while training
            (-1: the backbone's own, 0.1 for BERT-style models). 0 by default: on WikiQA dev it
            scored as well as 0.1 (e5, segment-cosine, 3 seeds: .818 vs .814), and on CPU the
            dropout masks' random numbers cost about 40 % of a forward pass.
        dev_max_queries: evaluate on the first ``n`` dev questions that have a relevant
            candidate (0: all of them).
        loss: ``"pointwise"`` (binary cross-entropy per pair, the paper's) or ``"listwise"``
            (each positive against its question's negatives, see :mod:`csir.training.losses`).
        batch_by_question: micro-batches hold whole questions, at most ``batch_size`` pairs
            (:func:`csir.training.batches.question_batches`); always on with the listwise loss.
            With the segment-cosine head a question's query then passes the encoder once per
            batch instead of once per pair.
    """

    backbone: str = OFFLINE_E5
    max_length: int = 256
    batch_size: int = 16
    grad_accum: int = 1
    learning_rate: float = 2e-5
    warmup_steps: int = 0
    max_steps: int = 1000
    weight_decay: float = 0.01
    precision: str = "fp32"
    seed: int = 42
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    num_workers: int = 0
    num_layers: int = 0
    max_grad_norm: float = 1.0
    log_every: int = 10
    megabatch_mult: int = 1
    head: str = "auto"
    joint_layers: int = 0
    query_max_length: int = 64
    head_learning_rate: float = 0.0
    freeze_embeddings: bool = False
    trim_vocabulary: bool = True
    eval_every: int = 0
    dropout: float = 0.0
    dev_max_queries: int = 0
    loss: str = "pointwise"
    batch_by_question: bool = False

    def __post_init__(self) -> None:
        if self.head == "auto":
            object.__setattr__(self, "head", default_head(self.backbone))
        self.validate()
        self.head_spec()  # the head's own checks

    def question_batches(self) -> bool:
        """Whether micro-batches hold whole questions (``batch_by_question`` or listwise)."""
        return self.batch_by_question or self.loss == "listwise"

    def head_spec(self) -> HeadSpec:
        """The :class:`csir.heads.HeadSpec` of this run."""
        return HeadSpec(
            kind=self.head,
            joint_layers=self.joint_layers,
            query_max_length=self.query_max_length,
        )

    def validate(self) -> None:
        """Raise :class:`ConfigError` for a value out of range."""
        checks = [
            (bool(self.backbone), "backbone must not be empty"),
            (self.max_length >= 8, "max_length must be >= 8 tokens"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.grad_accum >= 1, "grad_accum must be >= 1"),
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (self.max_steps >= 1, "max_steps must be >= 1"),
            (
                0 <= self.warmup_steps <= self.max_steps,
                f"warmup_steps must be between 0 and max_steps ({self.max_steps})",
            ),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (
                self.precision in TRAINING_PRECISIONS,
                f"precision {self.precision!r} must be one of {', '.join(TRAINING_PRECISIONS)}",
            ),
            (self.seed >= 0, "seed must be >= 0"),
            (self.checkpoint_every >= 0, "checkpoint_every must be >= 0 (0: no checkpoints)"),
            (self.keep_checkpoints >= 1, "keep_checkpoints must be >= 1"),
            (self.num_workers >= 0, "num_workers must be >= 0"),
            (self.num_layers >= 0, "num_layers must be >= 0 (0: all layers)"),
            (
                self.num_layers == 0 or self.joint_layers <= self.num_layers,
                f"joint_layers={self.joint_layers} exceeds num_layers={self.num_layers} (the "
                "encoder keeps only num_layers layers): lower joint_layers to at most "
                f"{self.num_layers}, or raise num_layers (0: all layers)",
            ),
            (self.max_grad_norm >= 0, "max_grad_norm must be >= 0 (0: no clipping)"),
            (self.log_every >= 1, "log_every must be >= 1"),
            (self.megabatch_mult >= 1, "megabatch_mult must be >= 1 (1: no length grouping)"),
            (self.head in HEADS, f"head {self.head!r} must be 'auto' or one of {HEADS}"),
            (self.head_learning_rate >= 0, "head_learning_rate must be >= 0 (0: learning_rate)"),
            (self.eval_every >= 0, "eval_every must be >= 0 (0: at the end only)"),
            (self.dev_max_queries >= 0, "dev_max_queries must be >= 0 (0: all)"),
            (self.loss in LOSSES, f"loss {self.loss!r} must be one of {', '.join(LOSSES)}"),
            (
                not self.question_batches() or self.megabatch_mult == 1,
                "batches of whole questions (batch_by_question, loss 'listwise') cannot be "
                "length-grouped: megabatch_mult must be 1",
            ),
            (
                self.dropout == -1.0 or 0.0 <= self.dropout < 1.0,
                "dropout must be in [0, 1), or -1 for the backbone's own",
            ),
        ]
        for name in ("learning_rate", "head_learning_rate", "weight_decay", "max_grad_norm"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ConfigError(f"TrainingArgs: {name} must be a finite number, got {value}")
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"TrainingArgs: {message}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of the settings."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingArgs:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"TrainingArgs: unknown setting(s) {', '.join(unknown)}")
        return cls(**values)

    def result_settings(self) -> dict[str, Any]:
        """The settings that determine the trained weights (all but logging/checkpoint cadence)."""
        return {k: v for k, v in self.to_dict().items() if k not in _RESUMABLE_FIELDS}


def model_dir_name(backbone: str, num_layers: int = 0) -> str:
    """Folder name of a backbone under ``models/``.

    ``"e5-small-offline"`` stays as it is, a hub id has ``/`` replaced by ``__``, a local folder
    gives its own name; ``-L<n>`` is appended when only the bottom ``n`` layers are kept.

    Example:
        >>> model_dir_name("nreimers/mMiniLMv2-L6-H384-distilled-from-XLMR-Large")
        'nreimers__mMiniLMv2-L6-H384-distilled-from-XLMR-Large'
        >>> model_dir_name("e5-small-offline", 6)
        'e5-small-offline-L6'
    """
    if not backbone:
        raise ConfigError("backbone must not be empty")
    if num_layers < 0:
        raise ConfigError("num_layers must be >= 0 (0: all layers)")
    folder = Path(backbone).expanduser()
    if backbone != OFFLINE_E5 and (folder.is_dir() or backbone.startswith((".", "/", "~"))):
        name = folder.resolve().name
    else:
        name = backbone.strip("/").replace("/", "__")
    return f"{name}-L{num_layers}" if num_layers > 0 else name
