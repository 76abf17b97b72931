"""Lexicon files: ``<root>/<source>/<src>-<tgt>.tsv`` plus a JSON sidecar, and their loader.

A lexicon TSV holds one translation per line (``src<TAB>tgt``; a word with several translations
has several lines). The sidecar ``<src>-<tgt>.json`` records where it came from::

    {"source": "clwe_csls", "method": "csls", "parameters": {...},
     "counts": {"n_entries": 19873, "n_source_words": 19873, ...}}

Notebook 02 reads these by the fixed source names in :data:`SOURCES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from csir import io
from csir.errors import ConfigError, InputError
from csir.lexicon.readers import pairs_to_dict, read_tsv_pairs

#: Lexicon sources written by notebook 01 (folder names under ``<output>/lexicons/``).
SOURCES = ("muse", "clwe_nn", "clwe_csls", "titles")


def lexicon_path(root: str | Path, source: str, src: str, tgt: str) -> Path:
    """``<root>/<source>/<src>-<tgt>.tsv`` for a known source name."""
    if source not in SOURCES:
        raise ConfigError(f"lexicon source {source!r} must be one of {SOURCES}")
    return Path(root) / source / f"{src}-{tgt}.tsv"


def sidecar_path(path: str | Path) -> Path:
    """The JSON sidecar beside a lexicon TSV (``en-de.tsv`` → ``en-de.json``)."""
    return Path(path).with_suffix(".json")


def _dedupe(pairs: Iterable[tuple[str, str]], path: Path) -> list[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    unique: list[tuple[str, str]] = []
    for src, tgt in pairs:
        src, tgt = src.strip(), tgt.strip()
        if not src or not tgt or any(c in "\t\n\r" for c in src + tgt):
            raise ValueError(f"{path}: cannot store pair {(src, tgt)!r} (empty, tab or newline)")
        if (src, tgt) not in seen:
            seen.add((src, tgt))
            unique.append((src, tgt))
    return unique


def write_lexicon(
    path: str | Path,
    pairs: Iterable[tuple[str, str]],
    *,
    source: str,
    method: str,
    parameters: Mapping[str, Any] | None = None,
    counts: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write pairs (deduplicated, first-seen order) as TSV plus sidecar, both atomically.

    Args:
        path: the ``.tsv`` to write (see :func:`lexicon_path`).
        pairs: ``(source_word, target_word)`` pairs; phrases may contain spaces.
        source: lexicon source name, e.g. ``"clwe_csls"``.
        method: how the pairs were made, e.g. ``"csls"`` or ``"muse-ground-truth"``.
        parameters: JSON-ready settings that produced the lexicon.
        counts: extra JSON-ready counts; ``n_entries`` and ``n_source_words`` are added.

    Returns:
        The sidecar dict that was written.
    """
    path = Path(path)
    unique = _dedupe(pairs, path)
    with io.atomic_write(path) as fh:
        for src, tgt in unique:
            fh.write(f"{src}\t{tgt}\n")
    meta = {
        "source": source,
        "method": method,
        "parameters": dict(parameters or {}),
        "counts": {
            **dict(counts or {}),
            "n_entries": len(unique),
            "n_source_words": len({src for src, _ in unique}),
            "n_target_words": len({tgt for _, tgt in unique}),
        },
    }
    io.write_json(sidecar_path(path), meta)
    return meta


def load_lexicon(path: str | Path) -> dict[str, list[str]]:
    """Load a lexicon TSV as ``{source: [targets in file order]}``.

    Raises:
        InputError: the file is empty or malformed (naming the line), or not UTF-8.
        FileNotFoundError: the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such lexicon; run notebook 01 (lexicon induction) to write it"
        )
    lexicon = pairs_to_dict(read_tsv_pairs(path))
    if not lexicon:
        raise InputError(
            path,
            "the lexicon is empty",
            fix="re-run notebook 01 for this pair, or point to a non-empty src<TAB>tgt file",
        )
    return lexicon


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Read the JSON sidecar of a lexicon TSV."""
    return io.read_json(sidecar_path(path))
