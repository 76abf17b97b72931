"""Language codes of the study and their validation."""

from __future__ import annotations

from csir.errors import ConfigError

#: Languages whose code-switched data the models see in training (paper, §4).
SEEN = ("en", "de", "ru", "it", "nl", "ar")
#: Languages only met at test time.
UNSEEN = ("fr", "zh", "hi", "id", "ja", "pt", "es", "vi")
#: Further XQuAD-R languages, usable for evaluation only.
EXTRA = ("el", "th", "tr")
ALL = SEEN + UNSEEN + EXTRA


def check_language(code: str, allowed: tuple[str, ...] = ALL, what: str = "language") -> str:
    """Return ``code`` if it is a known ISO 639-1 code of the study, else raise ConfigError."""
    if not isinstance(code, str) or code not in allowed:
        raise ConfigError(f"unknown {what} code {code!r}; use one of: {', '.join(allowed)}")
    return code


def parse_pair(pair: str) -> tuple[str, str]:
    """Split ``"en-de"`` into ``("en", "de")`` (query language, document language), validated."""
    parts = pair.split("-") if isinstance(pair, str) else []
    if len(parts) != 2:
        raise ConfigError(f"language pair {pair!r} must look like 'en-de' (query-document)")
    return check_language(parts[0]), check_language(parts[1])
