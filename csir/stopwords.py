"""Stopword lists (PyPI ``stopwordsiso``); apart from :mod:`csir.text`, so BM25 needs no NLTK."""

from __future__ import annotations

import functools

from csir.errors import ConfigError


@functools.lru_cache(maxsize=32)
def stopwords(lang: str) -> frozenset[str]:
    """Lower-cased stopwords of a language from PyPI ``stopwordsiso``.

    NLTK's stopword corpus needs a download that is not always possible; stopwords-iso covers all
    languages of the study (its English list is long: 1,298 words).

    Raises:
        ConfigError: stopwords-iso has no list for ``lang``.
    """
    import stopwordsiso

    if not stopwordsiso.has_lang(lang):
        raise ConfigError(f"stopwordsiso has no stopword list for language {lang!r}")
    return frozenset(word.lower() for word in stopwordsiso.stopwords(lang))
