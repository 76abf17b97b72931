"""The files a training run leaves in its model folder, and how they are written and read back.

``csir_training.json`` (written last: its ``finished`` marks a finished run), ``log.csv`` (one row
every ``log_every`` steps) and ``dev.csv`` (one row per dev evaluation); notebook 03 reads them
back into tables with :func:`read_logs`, :func:`read_dev_logs` and :func:`run_table`.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from csir import io
from csir.errors import CsirError

RUN_FILE = "csir_training.json"
LOG_FILE = "log.csv"
LOG_COLUMNS = (
    "step",
    "epoch",
    "loss",
    "learning_rate",
    "grad_norm",
    "examples",
    "tokens",
    "examples_per_s",
    "tokens_per_s",
    "train_seconds",
)
DEV_LOG_FILE = "dev.csv"
DEV_LOG_COLUMNS = ("step", "dev_mrr", "embedding_decay", "seconds")
MODEL_FILES = ("model.safetensors", "config.json")


def is_finished(output_dir: str | Path) -> bool:
    """True when ``output_dir`` holds a finished run: model files and ``csir_training.json``."""
    output_dir = Path(output_dir)
    if not all((output_dir / name).is_file() for name in (*MODEL_FILES, RUN_FILE)):
        return False
    try:
        return bool(io.read_json(output_dir / RUN_FILE).get("finished"))
    except (CsirError, AttributeError):
        return False


def read_log(output_dir: str | Path):
    """``log.csv`` of a run as a pandas DataFrame (one row per logged step)."""
    import pandas as pd

    return pd.read_csv(Path(output_dir) / LOG_FILE)


def _label(folder: Path, root: Path | None) -> str:
    return folder.relative_to(root).as_posix() if root else folder.as_posix()


def read_logs(model_dirs: Sequence[str | Path], root: str | Path | None = None):
    """The ``log.csv`` of several runs in one long DataFrame with a ``model`` column.

    ``model`` is the folder relative to ``root`` (when given).
    """
    import pandas as pd

    root = Path(root) if root else None
    frames = [read_log(d).assign(model=_label(Path(d), root)) for d in model_dirs]
    return pd.concat(frames, ignore_index=True)


def read_dev_logs(model_dirs: Sequence[str | Path], root: str | Path | None = None):
    """The ``dev.csv`` curves of several runs in one long DataFrame with a ``model`` column
    (runs trained without a dev set have none and are left out)."""
    import pandas as pd

    root = Path(root) if root else None
    frames = [
        pd.read_csv(Path(d) / DEV_LOG_FILE).assign(model=_label(Path(d), root))
        for d in model_dirs
        if (Path(d) / DEV_LOG_FILE).is_file()
    ]
    columns = [*DEV_LOG_COLUMNS, "model"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def run_table(model_dirs: Sequence[str | Path], root: str | Path | None = None):
    """One row per finished run from its ``csir_training.json``: steps, pairs, loss, speed."""
    import pandas as pd

    root = Path(root) if root else None
    rows = []
    for folder in map(Path, model_dirs):
        info = io.read_json(folder / RUN_FILE)
        rows.append(
            {
                "model": _label(folder, root),
                "pairs": info["train_file"]["pairs"],
                "steps": info["steps"],
                "examples_seen": info["examples_seen"],
                "final_loss": info["final_loss"],
                "head": info["args"].get("head"),
                "selected_step": info.get("selected_step"),
                "dev_mrr": info.get("dev_mrr"),
                "examples_per_s": info["examples_per_s"],
                "tokens_per_s": info["tokens_per_s"],
                "train_seconds": info["train_seconds"],
                "wall_seconds": info["wall_seconds"],
            }
        )
    return pd.DataFrame(rows)


class CsvLog:
    """Appends rows to ``log.csv``; on resume drops rows past the checkpoint (they are redone)."""

    columns: tuple[str, ...] = LOG_COLUMNS
    required: tuple[str, ...] = ("step", "loss")

    def __init__(self, path: Path, resume_step: int, enabled: bool) -> None:
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        kept: list[dict[str, str]] = []
        if path.is_file() and resume_step > 0:
            with open(path, newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    # A run killed mid-write may leave a short last row: drop it.
                    complete = all(row.get(c) not in (None, "") for c in self.required)
                    if complete and int(row["step"]) <= resume_step:
                        kept.append(row)
        with io.atomic_write(path) as fh:
            writer = csv.DictWriter(fh, self.columns, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            writer.writerows(kept)

    def append(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", newline="", encoding="utf-8") as fh:
            csv.DictWriter(fh, self.columns, lineterminator="\n").writerow(row)


class DevLog(CsvLog):
    """``dev.csv``: one row per dev evaluation (step, MRR@10, seconds)."""

    columns = DEV_LOG_COLUMNS
    required = ("step", "dev_mrr")
