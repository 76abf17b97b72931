"""Training checkpoints without pickle: safetensors for tensors, JSON for everything else.

A checkpoint is a folder ``<output_dir>/checkpoints/step-<NNNNNNN>/`` holding

- ``model_state.safetensors``: the model's weights (not named ``model.safetensors``, so a glob
  for finished models never finds checkpoints),
- ``optimizer.safetensors`` + ``optimizer.json``: AdamW's moment tensors and its param groups,
- ``scheduler.json``, ``scaler.json`` (fp16 only),
- ``rng_state_<rank>.safetensors`` + ``rng_state_<rank>.json``: torch (CPU and CUDA), numpy and
  Python random states of each process,
- ``trainer_state.json``: step, data position, counters and the run's settings, written last.

It is written into ``.step-<NNNNNNN>.tmp`` and renamed into place, so a folder named
``step-*`` is complete unless someone damaged it; a damaged one raises
:class:`CheckpointError` naming the folder and telling to delete it.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from csir import io
from csir.errors import CsirError

CHECKPOINTS = "checkpoints"
MODEL_FILE = "model_state.safetensors"
STATE_FILE = "trainer_state.json"
_NAME = re.compile(r"^step-(\d+)$")
_REQUIRED = (MODEL_FILE, "optimizer.safetensors", "optimizer.json", "scheduler.json", STATE_FILE)


class CheckpointError(CsirError):
    """A checkpoint folder that cannot be loaded."""

    def __init__(self, folder: Path, problem: str) -> None:
        self.folder = folder
        super().__init__(
            f"checkpoint {folder} is corrupt or incomplete ({problem}); delete this folder to "
            "resume from the previous checkpoint (or delete the whole output folder to start over)"
        )


def checkpoint_name(step: int) -> str:
    """Folder name of the checkpoint after ``step`` optimizer steps."""
    return f"step-{step:07d}"


def list_checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    """``(step, folder)`` of every checkpoint under ``<output_dir>/checkpoints``, oldest first."""
    root = Path(output_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The checkpoint with the most steps, or ``None``."""
    found = list_checkpoints(output_dir)
    return found[-1][1] if found else None


# --------------------------------------------------------------------------- state <-> files


def _optimizer_to_files(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    layout: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for index, entries in state["state"].items():
        scalars = {}
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[key] = value
        layout["state"][str(index)] = {
            "tensors": sorted(k for k, v in entries.items() if isinstance(v, torch.Tensor)),
            "scalars": scalars,
        }
    return tensors, layout


def _optimizer_from_files(tensors: dict[str, torch.Tensor], layout: dict[str, Any]) -> dict:
    state = {}
    for index, entry in layout["state"].items():
        values = {key: tensors[f"{index}.{key}"] for key in entry["tensors"]}
        values.update(entry["scalars"])
        state[int(index)] = values
    return {"state": state, "param_groups": layout["param_groups"]}


def _rng_to_files() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i in range(torch.cuda.device_count()):
            tensors[f"torch_cuda_{i}"] = torch.cuda.get_rng_state(i)
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["numpy_keys"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss = random.getstate()
    meta = {
        "numpy": [kind, int(pos), int(has_gauss), float(cached)],
        "python": [version, list(internal), gauss],
    }
    return tensors, meta


def _rng_from_files(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch_cpu"])
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            if f"torch_cuda_{i}" in tensors:
                torch.cuda.set_rng_state(tensors[f"torch_cuda_{i}"], i)
    kind, pos, has_gauss, cached = meta["numpy"]
    keys = tensors["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state((kind, keys, pos, has_gauss, cached))
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- save / load


def save_checkpoint(
    accelerator: Any,
    output_dir: Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    trainer_state: dict[str, Any],
    keep: int,
) -> Path:
    """Write the checkpoint after ``step`` steps atomically; keep only the ``keep`` latest.

    Every process writes its own RNG state; the main process writes the rest and renames the
    temporary folder into place. Call it on every process.
    """
    root = Path(output_dir) / CHECKPOINTS
    final = root / checkpoint_name(step)
    tmp = root / f".{final.name}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    rank = accelerator.process_index
    rng_tensors, rng_meta = _rng_to_files()
    save_file(rng_tensors, str(tmp / f"rng_state_{rank}.safetensors"))
    _write_json(tmp / f"rng_state_{rank}.json", rng_meta)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_model(accelerator.unwrap_model(model), str(tmp / MODEL_FILE))
        tensors, layout = _optimizer_to_files(optimizer.state_dict())
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        _write_json(tmp / "optimizer.json", layout)
        _write_json(tmp / "scheduler.json", scheduler.state_dict())
        if accelerator.scaler is not None:
            _write_json(tmp / "scaler.json", accelerator.scaler.state_dict())
        io.write_json(tmp / STATE_FILE, {**trainer_state, "step": step})
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        for _, old in list_checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def read_trainer_state(folder: Path) -> dict[str, Any]:
    """The ``trainer_state.json`` of a checkpoint, checking that the folder is complete.

    Raises:
        CheckpointError: when a required file is missing or the state is not valid JSON.
    """
    missing = [name for name in _REQUIRED if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(folder, f"missing {', '.join(missing)}")
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(folder, f"{STATE_FILE} unreadable: {exc}") from None
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise CheckpointError(folder, f"{STATE_FILE} has no step")
    return state


def load_checkpoint(
    folder: Path,
    accelerator: Any,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> dict[str, Any]:
    """Restore model, optimizer, scheduler, scaler and this process's RNG from ``folder``.

    Returns:
        The trainer state saved with it (``step``, data position, counters, settings).

    Raises:
        CheckpointError: naming the folder when any part is missing or unreadable.
    """
    state = read_trainer_state(folder)
    try:
        missing, unexpected = load_model(
            accelerator.unwrap_model(model), str(folder / MODEL_FILE), strict=False
        )
        if missing or unexpected:
            raise ValueError(f"weights do not match the model: missing {sorted(missing)[:3]}")
        layout = json.loads((folder / "optimizer.json").read_text(encoding="utf-8"))
        tensors = load_file(str(folder / "optimizer.safetensors"))
        optimizer.load_state_dict(_optimizer_from_files(tensors, layout))
        scheduler.load_state_dict(json.loads((folder / "scheduler.json").read_text("utf-8")))
        if accelerator.scaler is not None:
            scaler_file = folder / "scaler.json"
            accelerator.scaler.load_state_dict(json.loads(scaler_file.read_text("utf-8")))
        rank = accelerator.process_index
        rng_file = folder / f"rng_state_{rank}.safetensors"
        if rng_file.is_file():
            meta = json.loads((folder / f"rng_state_{rank}.json").read_text("utf-8"))
            _rng_from_files(load_file(str(rng_file)), meta)
        else:  # more processes than when saved: derive a distinct, reproducible state
            torch.manual_seed(state["step"] * 1_000_003 + rank)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure here means a damaged checkpoint
        raise CheckpointError(folder, f"{type(exc).__name__}: {exc}") from None
    return state
