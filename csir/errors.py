"""Exceptions that tell the user which input is wrong, where, and how to fix it."""

from __future__ import annotations

from pathlib import Path


class CsirError(Exception):
    """Base class of every error csir raises on purpose."""


class InputError(CsirError, ValueError):
    """Bad content in an input file: names the file, the line (1-based) and the fix."""

    def __init__(self, path: str | Path, message: str, *, line: int | None = None, fix: str = ""):
        self.path = Path(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        text = f"{where}: {message}"
        if fix:
            text += f" ({fix})"
        super().__init__(text)


class DataNotFoundError(CsirError, FileNotFoundError):
    """A data file found neither in the local mirror, the download cache nor online."""

    def __init__(self, name: str, looked: list[str]):
        self.name = name
        self.looked = looked
        places = "\n  ".join(looked) if looked else "(nowhere: no place configured)"
        super().__init__(
            f"data file {name!r} was not found. Looked in:\n  {places}\n"
            "Set CSIR_DATA_DIR to a folder that holds it (the layout of the shared data mirror), "
            "or allow downloads (CSIR_OFFLINE unset) on a machine with internet."
        )


class ConfigError(CsirError, ValueError):
    """A notebook or run parameter that is unknown, of the wrong type or out of range."""
