"""Language codes of the study and their validation."""

from __future__ import annotations

from csir.errors import ConfigError

#: Languages whose code-switched data the models see in training (paper, §4).
SEEN = ("en", "de", "ru", "it", "nl", "ar")
#: Languages only met at test time.
UNSEEN = ("fr", "zh", "hi", "id", "ja", "pt", "es", "vi")
#: Further languages of public multilingual QA and retrieval sets, usable for evaluation: XQuAD-R's
#: el, th, tr, XQuAD's ro, (Mr.)TyDi's bn, fi, ko (each has a stopwords-iso list, so BM25 and
#: Translate-Test work). The offline data mirror holds no MUSE dictionary for them, so notebook 01
#: makes their lexicons only where one is found (downloaded from MUSE when online, or a
#: ``CSIR_DATA_DIR`` that holds ``muse/en-<x>.txt``). Where a lexicon is needed, its file is
#: checked before any work (:mod:`csir.lexicon.required`), not this list.
EXTRA = ("el", "th", "tr", "ro", "bn", "fi", "ko")
ALL = SEEN + UNSEEN + EXTRA
#: The "language" of a mixed-language side (MLIR): every query or document id in its own language.
MIXED = "xx"


def check_language(code: str, allowed: tuple[str, ...] = ALL, what: str = "language") -> str:
    """Return ``code`` if it is a known ISO 639-1 code of the study, else raise ConfigError."""
    if not isinstance(code, str) or code not in allowed:
        raise ConfigError(f"unknown {what} code {code!r}; use one of: {', '.join(allowed)}")
    return code


def parse_pair(pair: str, *, mixed: bool = False) -> tuple[str, str]:
    """Split ``"en-de"`` into ``("en", "de")`` (query language, document language), validated.

    With ``mixed=True`` either side may be :data:`MIXED` (``"xx-xx"``, ``"en-xx"``: MLIR sets).
    """
    parts = pair.split("-") if isinstance(pair, str) else []
    if len(parts) != 2:
        example = "'en-de' or 'xx-xx' (MLIR)" if mixed else "'en-de'"
        raise ConfigError(f"language pair {pair!r} must look like {example} (query-document)")
    allowed = ALL + (MIXED,) if mixed else ALL
    return check_language(parts[0], allowed), check_language(parts[1], allowed)
