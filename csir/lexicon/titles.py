"""Parallel entity-title lexicons for Wiki-CS: CLDR localized names offline, linguatools online.

The paper switches word n-grams found in parallel Wikipedia page titles (linguatools
``wikititles-2014``). Offline, the Unicode CLDR names of territories, languages, scripts and
currencies (PyPI ``babel``) give a smaller parallel-entity lexicon with the same shape: the CLDR
code is the entity id, the localized names in two locales are its titles. Multiword names stay
phrases (``"United States"``), because Wiki-CS replaces n-grams of up to three words, and the
original capitalisation is kept (consumers lower-case for look-up).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from csir import languages
from csir.lexicon.readers import iter_wikititles

#: CLDR name tables used as entity sources (attributes of :class:`babel.Locale`).
CLDR_KINDS = ("territories", "languages", "scripts", "currencies")


def cldr_names(lang: str, kind: str) -> dict[str, str]:
    """``{CLDR code: localized name}`` of one table (e.g. ``"territories"``) in ``lang``."""
    from babel import Locale

    languages.check_language(lang)
    if kind not in CLDR_KINDS:
        raise ValueError(f"CLDR kind {kind!r} must be one of {CLDR_KINDS}")
    return dict(getattr(Locale.parse(lang), kind))


def cldr_title_pairs(
    tgt: str, src: str = "en", kinds: Sequence[str] = CLDR_KINDS
) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """Pairs ``(src name, tgt name)`` of every CLDR entity named in both locales.

    Names that are just the code (no real localisation) are dropped.

    Returns:
        The pairs in CLDR order and counts: per kind, ``identical`` (same string on both
        sides, kept: still correct translations) and ``n_words_<k>`` (source length 1–3, 4plus).

    Example:
        >>> pairs, _ = cldr_title_pairs("de")
        >>> ("Germany", "Deutschland") in pairs
        True
    """
    pairs: list[tuple[str, str]] = []
    counts: Counter[str] = Counter()
    for kind in kinds:
        src_names, tgt_names = cldr_names(src, kind), cldr_names(tgt, kind)
        for code, name in src_names.items():
            other = tgt_names.get(code)
            if not name or not other or code in (name, other):
                continue
            pairs.append((name.strip(), other.strip()))
            counts[kind] += 1
            counts["identical"] += name.strip() == other.strip()
            length = len(name.split())
            counts[f"n_words_{length}" if length < 4 else "n_words_4plus"] += 1
    return pairs, dict(counts)


def wikititles_pairs(path: str | Path, src: str, tgt: str) -> list[tuple[str, str]]:
    """All ``(src title, tgt title)`` pairs of a linguatools ``wikititles-2014_<xx><yy>.xml``."""
    return list(iter_wikititles(path, src, tgt))
