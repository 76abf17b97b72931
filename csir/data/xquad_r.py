"""XQuAD-R (LAReQA) files: one SQuAD-format JSON per language, question ids parallel across them.

The retrieval tasks themselves (question → paragraph, question → answer sentence) are built by
:mod:`csir.data.retrieval`, whose SQuAD reader reads XQuAD-R when no folder is given; this module
locates the files.
"""

from __future__ import annotations

from pathlib import Path

from csir import io, languages

#: Public location of the files (google-research-datasets/lareqa), for users with internet.
XQUAD_R_URL = (
    "https://raw.githubusercontent.com/google-research-datasets/lareqa/master/xquad-r/{lang}.json"
)
#: Languages XQuAD-R ships.
XQUAD_R_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")


def locate_xquad_r(lang: str) -> Path:
    """Path of ``xquad-r/<lang>.json``: mirror, download cache, or downloaded from its URL."""
    languages.check_language(lang, XQUAD_R_LANGUAGES, what="XQuAD-R language")
    return io.locate(f"xquad-r/{lang}.json", [XQUAD_R_URL.format(lang=lang)])
