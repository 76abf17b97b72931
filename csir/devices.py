"""Device and precision names: the one rule for what a ``device`` or ``precision`` parameter may
say (checked without importing torch), and how ``"auto"`` resolves."""

from __future__ import annotations

import re

from csir.errors import ConfigError

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
#: Concrete numeric precisions of training and scoring.
PRECISIONS = ("fp32", "fp16", "bf16")
#: What a scoring ``precision`` may say: a concrete one, or ``auto`` (bf16 on GPU, fp32 on CPU).
SCORING_PRECISIONS = ("auto", *PRECISIONS)
#: What a training ``precision`` may say: a concrete one, or ``auto`` (bf16 where the hardware
#: computes it, else fp32: :func:`resolve_training_precision`).
TRAINING_PRECISIONS = ("auto", *PRECISIONS)


def check_device_name(device: str, parameter: str = "device") -> None:
    """Raise :class:`ConfigError` unless ``device`` is ``auto``, ``cpu``, ``cuda`` or
    ``cuda:<n>`` (whether a GPU is there is checked when a model is placed on it)."""
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise ConfigError(
            f"{parameter} {device!r} must be 'auto', 'cpu', 'cuda' or 'cuda:<n>' (e.g. 'cuda:1')"
        )


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` → ``"cuda"`` when a GPU is visible, else ``"cpu"``; others checked and kept.

    Raises:
        ConfigError: for a malformed name, or CUDA asked for but not available.
    """
    import torch

    check_device_name(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA device; use 'cpu'")
    return device


def native_bf16(device: str) -> bool:
    """Whether ``device`` computes bf16 in hardware: a CUDA GPU with bf16, or a CPU with
    AMX or AVX512-BF16. Elsewhere PyTorch emulates bf16: on an AVX2-only AMD EPYC a bf16 matmul
    and its backward took 25x as long as in fp32, so bf16 training there is no saving."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # torch.cpu, private
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def resolve_training_precision(precision: str, device: str) -> str:
    """``"auto"`` → ``"bf16"`` where :func:`native_bf16` holds for ``device``, else ``"fp32"``;
    a concrete precision is kept."""
    if precision != "auto":
        return precision
    return "bf16" if native_bf16(device) else "fp32"
