"""Train one cross-encoder from the command line, e.g. on several GPUs with ``accelerate``::

    accelerate launch --num_processes 4 -m csir.training \\
        --train-file build/offline/02_data_generation/train/ml-cs/ml/p=0.5/train.jsonl \\
        --output-dir build/offline/03_training/models/e5-small-offline/ml-cs/ml/p=0.5/seed=1 \\
        --precision bf16 --batch-size 64 --max-steps 200000 --warmup-steps 5000 --seed 1

Every :class:`~csir.training.TrainingArgs` field is an option (``--max-length``, ``--num-layers``,
...); ``batch_size`` is per process. Notebook 03 calls the same :func:`~csir.training.train`.
"""

from __future__ import annotations

import argparse
import dataclasses

from csir.training import TrainingArgs, train


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m csir.training", description=__doc__)
    parser.add_argument("--train-file", required=True, help="JSONL written by notebook 02")
    parser.add_argument("--output-dir", required=True, help="model folder (resumes if present)")
    parser.add_argument("--force", action="store_true", help="retrain a finished run")
    for field in dataclasses.fields(TrainingArgs):
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, type=type(field.default), default=field.default)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse the options and train; prints the final model folder."""
    options = vars(_parser().parse_args(argv))
    train_file, output_dir, force = (options.pop(k) for k in ("train_file", "output_dir", "force"))
    args = TrainingArgs(**options)
    print(train(args, train_file, output_dir, force=force))


if __name__ == "__main__":
    main()
