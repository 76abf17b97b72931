"""Fine-tuning a multilingual encoder as a one-logit cross-encoder on (query, passage, label) JSONL.

Example:
    >>> from csir.training import TrainingArgs, train
    >>> args = TrainingArgs(backbone="e5-small-offline", max_steps=1000, batch_size=32)
    >>> data = "build/02_data_generation/train/bl-cs/en-de/p=0.5/train.jsonl"
    >>> out = "build/03_training/models/e5-small-offline/bl-cs/en-de/p=0.5/seed=1"
    >>> train(args, data, out)  # doctest: +SKIP

The English training-pair readers (WikiQA, MS MARCO) live in :mod:`csir.data.english_pairs`.
"""

from csir.devices import TRAINING_PRECISIONS as PRECISIONS
from csir.ids import RECORD_KEYS
from csir.training.args import LOSSES, TrainingArgs, model_dir_name
from csir.training.batches import BatchPlan, length_grouped_order, question_batches
from csir.training.checkpoint import CheckpointError, latest_checkpoint, list_checkpoints
from csir.training.loop import linear_warmup_decay, param_groups, train
from csir.training.run_files import (
    LOG_COLUMNS,
    LOG_FILE,
    RUN_FILE,
    is_finished,
    read_dev_logs,
    read_log,
    read_logs,
    run_table,
)
from csir.training.tokenized import TokenizedPairs, iter_training_pairs, tokenize_training_file

__all__ = [
    "LOG_COLUMNS",
    "LOG_FILE",
    "LOSSES",
    "PRECISIONS",
    "RECORD_KEYS",
    "RUN_FILE",
    "BatchPlan",
    "CheckpointError",
    "TokenizedPairs",
    "TrainingArgs",
    "is_finished",
    "iter_training_pairs",
    "latest_checkpoint",
    "length_grouped_order",
    "linear_warmup_decay",
    "list_checkpoints",
    "model_dir_name",
    "param_groups",
    "question_batches",
    "read_dev_logs",
    "read_log",
    "read_logs",
    "run_table",
    "tokenize_training_file",
    "train",
]
