"""Lexicons a notebook needs, checked before any work: one error naming every missing file.

Lexicons are files, not a list of languages: notebook 01 writes them from MUSE dictionaries found
in the data mirror, the download cache or online (:func:`csir.io.locate`), and a user may bring
their own. So a language is refused here, where its file is missing, with the fixes that work
on this machine: whether notebook 01 can make it depends on its MUSE dictionary being found.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from csir import io, paths
from csir.errors import CsirError

SOURCE_LANG = "en"


def notebook01_can_make(lang: str) -> bool:
    """Notebook 01 makes ``lang``'s lexicons from MUSE's en-``lang`` dictionary: found on disk,
    or downloadable (not offline)."""
    return io.find_local(f"muse/{SOURCE_LANG}-{lang}.txt") is not None or not paths.offline()


def languages_with_muse_dictionaries() -> list[str]:
    """Target languages of the ``muse/en-<x>.txt`` dictionaries on disk (mirror and cache)."""
    return sorted(
        {
            p.stem.split("-", 1)[1]
            for root in io.local_data_roots()
            for p in (root / "muse").glob(f"{SOURCE_LANG}-*.txt")
        }
    )


def require_lexicons(
    files: Sequence[tuple[str, Path]],
    *,
    needed_by: str,
    pattern: str,
    parameter: str,
    drop: str,
) -> None:
    """Raise one :class:`CsirError` when any of ``files`` (language, lexicon file) is missing.

    Args:
        files: every lexicon file the work needs, with its language.
        needed_by: what needs them (``"notebook 02"``).
        pattern: glob of the lexicon files in their folders (``"en-*.tsv"``, ``"*-en.tsv"``),
            whose languages the message lists.
        parameter: the parameter that points at notebook 01's output folder.
        drop: how to do without the missing languages (the first fix offered).
    """
    missing = [(lang, Path(path)) for lang, path in files if not Path(path).is_file()]
    if not missing:
        return
    langs = list(dict.fromkeys(lang for lang, _ in missing))
    held = []
    for folder in dict.fromkeys(path.parent for _, path in missing):
        codes = sorted(
            part for p in folder.glob(pattern) for part in p.stem.split("-") if part != SOURCE_LANG
        )
        held.append(f"{folder} holds lexicons for: {', '.join(codes) or 'none'}")
    makeable = [lang for lang in langs if notebook01_can_make(lang)]
    unmakeable = [lang for lang in langs if lang not in makeable]
    fixes = [drop]
    if makeable:
        fixes.append(
            f"run notebook 01 with languages including {', '.join(makeable)} and point "
            f"{parameter} at its output_dir"
        )
    if unmakeable:
        fixes.append(
            f"for {', '.join(unmakeable)} notebook 01 cannot run here (no MUSE dictionary "
            f"{', '.join(f'muse/en-{x}.txt' for x in unmakeable)} in the data mirror or download "
            "cache, and downloads are off: CSIR_OFFLINE); the data here has MUSE dictionaries "
            f"for: {', '.join(languages_with_muse_dictionaries()) or 'none'}; run notebook 01 "
            "where they can be downloaded, or put them below CSIR_DATA_DIR"
        )
    fixes.append("or put your own lexicon files (one 'word<TAB>translation' per line) there")
    listed = "; ".join(f"{lang}: {path}" for lang, path in missing)
    raise CsirError(
        f"{needed_by} needs {len(missing)} lexicon(s) that are missing: {listed}. "
        + ". ".join(held)
        + ". Fix: "
        + "; ".join(fixes)
    )
