"""Device names: the one rule for what a ``device`` parameter may say (no torch import)."""

from __future__ import annotations

import re

from csir.errors import ConfigError

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device_name(device: str, parameter: str = "device") -> None:
    """Raise :class:`ConfigError` unless ``device`` is ``auto``, ``cpu``, ``cuda`` or
    ``cuda:<n>`` (whether a GPU is there is checked when a model is placed on it)."""
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise ConfigError(
            f"{parameter} {device!r} must be 'auto', 'cpu', 'cuda' or 'cuda:<n>' (e.g. 'cuda:1')"
        )
