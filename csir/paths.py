"""Every folder csir uses, derived from the repository root and a few environment variables.

- ``CSIR_DATA_DIR``: a local mirror of the public data (MUSE, XQuAD-R, WikiQA, ...), laid out as
  ``<mirror>/muse/en-de.txt``, ``<mirror>/xquad-r/de.json`` and so on. Unset means "no mirror".
- ``CSIR_BUILD_DIR``: where notebooks write results (default ``<repo>/build``); a path parameter
  that starts with ``{build}/`` names a folder below it (:func:`resolve_path`).
- ``CSIR_CACHE_DIR``: downloads and converted models (default ``~/.cache/csir``).
- ``CSIR_OFFLINE``: when truthy, never try the network (also implied by ``HF_HUB_OFFLINE``).
- ``CSIR_SMOKE`` / ``CI``: default of the notebooks' ``smoke`` parameter.

Nothing here touches the file system at import time.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The start of a path parameter that names a folder below :func:`build_dir`.
BUILD_PLACEHOLDER = "{build}"

_TRUE = {"1", "true", "yes", "on"}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def data_mirror() -> Path | None:
    """The local data mirror named by ``CSIR_DATA_DIR``, or ``None`` when unset."""
    value = os.environ.get("CSIR_DATA_DIR", "").strip()
    return Path(value).expanduser().resolve() if value else None


def build_dir() -> Path:
    """Root of everything the notebooks write (``CSIR_BUILD_DIR``, default ``<repo>/build``)."""
    value = os.environ.get("CSIR_BUILD_DIR", "").strip()
    return Path(value).expanduser().resolve() if value else REPO_ROOT / "build"


def cache_dir() -> Path:
    """Downloads and converted models (``CSIR_CACHE_DIR``, default ``~/.cache/csir``)."""
    value = os.environ.get("CSIR_CACHE_DIR", "").strip()
    if value:
        return Path(value).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "csir"


def offline() -> bool:
    """True when csir must not use the network (``CSIR_OFFLINE`` or ``HF_HUB_OFFLINE``)."""
    return _env_flag("CSIR_OFFLINE") or _env_flag("HF_HUB_OFFLINE")


def smoke_default() -> bool:
    """Default of every notebook's ``smoke`` parameter: ``CSIR_SMOKE`` if set, else ``CI``."""
    if os.environ.get("CSIR_SMOKE", "").strip():
        return _env_flag("CSIR_SMOKE")
    return _env_flag("CI")


@contextlib.contextmanager
def using_build_dir(folder: str | Path) -> Iterator[None]:
    """``CSIR_BUILD_DIR`` set to ``folder`` for the block (one configuration's folder, as the
    pipeline runs its notebooks), restored afterwards."""
    previous = os.environ.get("CSIR_BUILD_DIR")
    os.environ["CSIR_BUILD_DIR"] = str(folder)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("CSIR_BUILD_DIR", None)
        else:
            os.environ["CSIR_BUILD_DIR"] = previous


def resolve_path(value: str | Path, relative_to: Path | None = None) -> Path:
    """A path parameter as an absolute path. ``{build}/x`` is ``x`` below :func:`build_dir` (in a
    pipeline run, the configuration's ``build/<config>``, wherever ``CSIR_BUILD_DIR`` puts it);
    any other value is taken as given, ``~`` expanded, relative to ``relative_to`` (default: the
    working directory, which is the repository root in the notebooks).

    Raises:
        ConfigError: a value that starts with ``{`` but not with ``{build}/`` (a misspelt
            placeholder would otherwise become a folder named after it).
    """
    text = str(value)
    if check_placeholder(text):
        return (build_dir() / text[len(BUILD_PLACEHOLDER) :].lstrip("/")).resolve()
    path = Path(text).expanduser()
    return (path if relative_to is None else relative_to / path).resolve()


def check_placeholder(value: str, allowed: bool = True) -> bool:
    """Whether the path parameter ``value`` starts with the ``{build}`` placeholder.

    Raises:
        ConfigError: a value that starts with ``{`` otherwise (a misspelt placeholder would
            become a folder named after it), or any placeholder where ``allowed`` is false.
    """
    from csir.errors import ConfigError

    given = value == BUILD_PLACEHOLDER or value.startswith(BUILD_PLACEHOLDER + "/")
    if given and not allowed:
        raise ConfigError(f"path {value!r}: {BUILD_PLACEHOLDER} is not read here; give the path")
    if not given and value.startswith("{"):
        raise ConfigError(
            f"path {value!r}: the only placeholder is {BUILD_PLACEHOLDER!r} at the start "
            f"({BUILD_PLACEHOLDER}/04_evaluation-dense: below the build folder); fix the spelling"
        )
    return given


def notebook_dir(name: str) -> Path:
    """The build folder of one notebook, e.g. ``notebook_dir("01_lexicon_induction")``."""
    return build_dir() / name
