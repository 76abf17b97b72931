"""Translate-Test: a pair's queries and documents translated term by term into English with
notebook 01's X→EN lexicons."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from csir.data.retrieval.collection import (
    ENGLISH,
    RetrievalPair,
)
from csir.errors import CsirError

# --------------------------------------------------------------------------- Translate-Test


def translation_lexicon_path(lexicon_dir: str | Path, lang: str, source: str = "muse") -> Path:
    """Where notebook 01 writes the X→EN lexicon of ``lang``: ``<dir>/<source>/<lang>-en.tsv``."""
    from csir.lexicon.store import lexicon_path

    return lexicon_path(lexicon_dir, source, lang, ENGLISH)


#: The lexicon sources notebook 01 writes X→EN lexicons of (the others are EN→X only).
TRANSLATION_SOURCES = ("muse",)


def require_translation_lexicons(
    files: Iterable[Path], langs: Iterable[str], source: str = "muse"
) -> None:
    """One error naming every missing X→EN lexicon of Translate-Test, with the fixes that work
    here (:func:`csir.lexicon.required.require_lexicons`)."""
    from csir.lexicon.required import require_lexicons

    files, langs = list(files), list(langs)
    missing = [f"{lang}: {path}" for lang, path in zip(langs, files, strict=True)
               if not Path(path).is_file()]  # fmt: skip
    if missing and source not in TRANSLATION_SOURCES:
        raise CsirError(
            f"Translate-Test (translate_test: true) needs X→EN lexicons of lexicon_source "
            f"{source!r} that are missing ({'; '.join(missing)}), and notebook 01 writes X→EN "
            f"lexicons only from {', '.join(TRANSLATION_SOURCES)} (its {source!r} lexicons are "
            f"EN→X). Fix: set lexicon_source: {TRANSLATION_SOURCES[0]}, set translate_test: "
            "false, or put your own '<x>-en.tsv' files (one 'word<TAB>translation' per line) "
            "there"
        )
    require_lexicons(
        list(zip(langs, files, strict=True)),
        needed_by="Translate-Test (translate_test: true)",
        pattern="*-en.tsv",
        parameter="lexicon_induction_dir",
        drop="set translate_test: false, or drop the pairs (and mlir_languages) of those languages",
    )


def load_translation_lexicons(
    lexicon_dir: str | Path, languages: Iterable[str], source: str = "muse"
) -> dict[str, Mapping[str, Sequence[str]]]:
    """Load the X→EN lexicons Translate-Test needs (English needs none), normalised for their
    language (:func:`csir.codeswitch.normalise_lexicon`: Chinese keys in Simplified script).

    Raises:
        CsirError: one message naming every missing language and its expected file.
    """
    from csir.codeswitch.switch import normalise_lexicon
    from csir.lexicon.store import load_lexicon

    wanted = sorted({lang for lang in languages if lang != ENGLISH})
    paths = {lang: translation_lexicon_path(lexicon_dir, lang, source) for lang in wanted}
    require_translation_lexicons(paths.values(), paths.keys(), source)
    return {lang: normalise_lexicon(load_lexicon(path), lang) for lang, path in paths.items()}


def translate_pair(
    pair: RetrievalPair, lexicons: Mapping[str, Mapping[str, Sequence[str]]]
) -> RetrievalPair:
    """Translate-Test input: every non-English query and doc translated term by term into English.

    Uses :func:`csir.codeswitch.translate_terms` (first translation of each word the X→EN
    lexicon knows; Chinese in Simplified script, its clauses segmented into the lexicon's
    words; memoised per lexicon, so lexicons loaded once translate each text once). English
    texts stay as they are; ``query_langs``/``doc_langs`` keep the original languages and
    ``translated`` is set. ``counts`` gains ``translated_queries`` and
    ``translated_docs``.

    Args:
        pair: the pair to translate.
        lexicons: language → X→EN lexicon (``{word: [translations]}``, e.g. from
            :func:`load_translation_lexicons` or :func:`csir.lexicon.store.load_lexicon`).

    Raises:
        CsirError: a language of the pair has no lexicon (naming it and the expected file).
    """
    from csir.codeswitch.switch import normalise_lexicon, translate_terms

    if pair.translated:
        raise CsirError(f"pair {pair.name} is already translated")
    present = set(pair.query_langs.values()) | set(pair.doc_langs.values())
    missing = sorted(lang for lang in present - {ENGLISH} if lang not in lexicons)
    if missing:
        files = ", ".join(f"lexicons/muse/{lang}-{ENGLISH}.tsv" for lang in missing)
        raise CsirError(
            f"Translate-Test of {pair.name} needs an X→EN lexicon for {', '.join(missing)} "
            f"(expected file: {files} under the lexicon folder, written by notebook 01; "
            "load them with load_translation_lexicons)"
        )
    normalised = {lang: normalise_lexicon(lexicons[lang], lang) for lang in present - {ENGLISH}}

    def translate(texts: Mapping[str, str], langs: Mapping[str, str]) -> tuple[dict, int]:
        out, changed = {}, 0
        for key, text in texts.items():
            lang = langs[key]
            if lang == ENGLISH:
                out[key] = text
            else:
                out[key] = translate_terms(text, normalised[lang])
                changed += 1
        return out, changed

    queries, n_queries = translate(pair.queries, pair.query_langs)
    docs, n_docs = translate(pair.docs, pair.doc_langs)
    counts = {**pair.counts, "translated_queries": n_queries, "translated_docs": n_docs}
    return replace(pair, queries=queries, docs=docs, counts=counts, translated=True)
