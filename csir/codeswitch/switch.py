"""Code-switching of one tokenised text: BL-CS, ML-CS, Wiki-CS and term-by-term Translate-Test.

Every function is pure: the lexicon(s), the stopwords and a random generator
(``random.Random`` or ``numpy.random.Generator``) come in as arguments, a list of
:class:`Replacement` comes out. :meth:`csir.text.Tokenized.splice` turns the
replacements into natural text and :func:`count_switches` into switch statistics.

Lexicons map a lower-cased source word (or phrase) to its translations; build them with
:func:`normalise_lexicon` / :func:`normalise_phrase_lexicon` from what ``load_lexicon`` returns.

Example:
    >>> import numpy as np
    >>> from csir.text import Tokenized
    >>> lex = normalise_lexicon({"house": ["Haus"]})
    >>> t = Tokenized.from_text("The house is red.")
    >>> t.splice(bilingual(t.tokens, lex, 1.0, np.random.default_rng(0), "de"))
    'The Haus is red.'
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from csir import text as textlib

#: Normalised lexicon: lower-cased source word or phrase -> translations, in lexicon order.
Lexicon = Mapping[str, Sequence[str]]
#: Source of uniform draws in [0, 1): both kinds give reproducible output for a fixed seed.
Rng = random.Random | np.random.Generator


class Replacement(NamedTuple):
    """Tokens ``start`` to ``stop - 1`` of a text are replaced by ``text`` in language ``lang``."""

    start: int
    stop: int
    text: str
    lang: str


class NormalisedLexicon(dict):
    """A lexicon already normalised by :func:`normalise_lexicon` (so it is not done twice), for
    source language ``lang`` ("" when its script needs no conversion). ``translated`` memoises
    :func:`translate_terms` (text → English), whose result depends on the text and the lexicon
    alone: corpora repeat texts across pairs and systems."""

    lang: str = ""
    target_lang: str = ""
    translated: dict[str, str]
    _longest_unspaced: int | None = None

    def longest_unspaced(self) -> int:
        """Characters of its longest key written in a script without spaces (0: none)."""
        if self._longest_unspaced is None:
            self._longest_unspaced = _longest_unspaced_key(self)
        return self._longest_unspaced


def normalise_lexicon(
    lexicon: Mapping[str, Iterable[str]], lang: str = "", target_lang: str = ""
) -> NormalisedLexicon:
    """Key by :func:`csir.text.match_key` (merging entries that differ only in case or Unicode
    composition), in source language ``lang``'s script form (:func:`csir.text.script_form`:
    Simplified Chinese for ``zh``), write the translations in ``target_lang``'s script form, and
    drop empty keys.

    Translations keep their first-seen order and lose duplicates, so "the first translation" of
    Translate-Test is the lexicon's first line for that word. Code-switching into Chinese thus
    inserts Simplified words, the script of the texts it is evaluated on (MUSE's ``en-zh`` is
    largely Traditional). A lexicon that is already a :class:`NormalisedLexicon` with the same
    script forms is returned as it is.
    """
    if isinstance(lexicon, NormalisedLexicon) and all(
        _same_form(done, wanted)
        for done, wanted in ((lexicon.lang, lang), (lexicon.target_lang, target_lang))
    ):
        return lexicon
    form, target_form = textlib.script_form(lang), textlib.script_form(target_lang)
    merged: dict[str, list[str]] = {}
    for source, targets in lexicon.items():
        key = textlib.match_key(source.strip())
        if form is not None:
            key = form(key)
        if not key:
            continue
        bucket = merged.setdefault(key, [])
        for target in targets:
            target = target.strip()
            if target_form is not None:
                target = target_form(target)
            if target and target not in bucket:
                bucket.append(target)
    out = NormalisedLexicon((key, tuple(values)) for key, values in merged.items() if values)
    out.lang, out.target_lang = lang, target_lang
    out.translated = {}
    return out


def _same_form(done: str, wanted: str) -> bool:
    """Whether text in language ``done``'s script form is already in ``wanted``'s."""
    return done == wanted or (
        textlib.script_form(done) is None and textlib.script_form(wanted) is None
    )


def _longest_unspaced_key(lexicon: Lexicon) -> int:
    return max((len(k) for k in lexicon if textlib.UNSPACED_RUN.fullmatch(k)), default=0)


def phrase_key(phrase: str) -> str:
    """Look-up key of a phrase: its Treebank tokens under :func:`csir.text.match_key`, joined by
    single spaces."""
    return " ".join(textlib.match_key(token) for token in textlib.tokenize(phrase))


class PhraseLexicon(NormalisedLexicon):
    """A lexicon keyed by :func:`phrase_key`, holding phrases of at most ``max_n`` words."""

    max_n: int = 0


def normalise_phrase_lexicon(
    lexicon: Mapping[str, Iterable[str]], max_n: int = 3, target_lang: str = ""
) -> PhraseLexicon:
    """Key a phrase lexicon (e.g. entity titles) by :func:`phrase_key`; drop phrases over ``max_n``.

    Keys are tokenised like the texts they are matched against, so ``"Bosnia & Herzegovina"``
    and the tokens of a passage meet in the same form; translations are in ``target_lang``'s
    script form (:func:`normalise_lexicon`). A :class:`PhraseLexicon` made with the same
    ``max_n`` and target script is returned as it is.
    """
    if (
        isinstance(lexicon, PhraseLexicon)
        and lexicon.max_n == max_n
        and _same_form(lexicon.target_lang, target_lang)
    ):
        return lexicon
    keyed: dict[str, list[str]] = {}
    for phrase, targets in lexicon.items():
        key = phrase_key(phrase)
        if not key or key.count(" ") + 1 > max_n:
            continue
        keyed.setdefault(key, []).extend(targets)
    normalised = normalise_lexicon(keyed, target_lang=target_lang)
    phrases = PhraseLexicon(normalised)
    phrases.lang, phrases.target_lang, phrases.translated = "", target_lang, {}
    phrases.max_n = max_n
    return phrases


def _pick(translations: Sequence[str], rng: Rng) -> str:
    """One of the translations, uniformly (a draw is made only when there are several)."""
    count = len(translations)
    if count == 1:
        return translations[0]
    return translations[min(int(rng.random() * count), count - 1)]


#: Look-up result of one text for BL-CS: (token index, translations) of in-lexicon tokens.
WordMatches = list[tuple[int, Sequence[str]]]
#: Look-up result for ML-CS: (token index, translations per language or None), known tokens.
MultiMatches = list[tuple[int, tuple[Sequence[str] | None, ...]]]
#: Look-up result for Wiki-CS: (first token, one past the last token, translations).
SpanMatches = list[tuple[int, int, Sequence[str]]]


def lookup_words(tokens: Sequence[str], lexicon: Lexicon) -> WordMatches:
    """Tokens the lexicon knows (looked up by :func:`csir.text.match_key`), with their
    translations."""
    found = []
    for index, token in enumerate(tokens):
        translations = lexicon.get(textlib.match_key(token))
        if translations:
            found.append((index, translations))
    return found


def bilingual(
    tokens: Sequence[str],
    lexicon: Lexicon,
    p: float,
    rng: Rng,
    lang: str,
    *,
    found: WordMatches | None = None,
) -> list[Replacement]:
    """BL-CS: each token, with probability ``p``, becomes its translation if the lexicon has one.

    A token outside the lexicon never switches, so draws are made for the known tokens only
    (same distribution): per known token, one uniform draw decides whether it switches, and
    one more picks among several translations (uniformly) when there are several.

    Args:
        tokens: the text's tokens.
        lexicon: normalised EN→``lang`` lexicon.
        p: switch probability in [0, 1]; 1.0 switches every token the lexicon knows.
        rng: the generator that makes the output reproducible.
        lang: language of the translations, recorded in each replacement.
        found: ``lookup_words(tokens, lexicon)`` when already computed (texts repeat).
    """
    found = lookup_words(tokens, lexicon) if found is None else found
    draw = rng.random
    return [
        Replacement(index, index + 1, _pick(translations, rng), lang)
        for index, translations in found
        if draw() < p
    ]


def lookup_multilingual(tokens: Sequence[str], lexicons: Mapping[str, Lexicon]) -> MultiMatches:
    """Tokens any lexicon knows, with their translations in each language (None if unknown)."""
    tables = list(lexicons.values())
    found = []
    for index, token in enumerate(tokens):
        key = textlib.match_key(token)
        per_language = tuple(table.get(key) or None for table in tables)
        if any(per_language):
            found.append((index, per_language))
    return found


def multilingual(
    tokens: Sequence[str],
    lexicons: Mapping[str, Lexicon],
    p: float,
    rng: Rng,
    *,
    found: MultiMatches | None = None,
) -> list[Replacement]:
    """ML-CS: each token, with probability ``p``, goes to a uniformly drawn language.

    The token is replaced when that language's lexicon has it (otherwise it stays English).
    Draws are made for tokens some lexicon knows (the others can never switch): switch or not,
    then which language, then (if several) which translation.

    Args:
        tokens: the text's tokens.
        lexicons: language code → normalised EN→language lexicon; its order fixes the draws.
        p: switch probability in [0, 1].
        rng: the generator that makes the output reproducible.
        found: ``lookup_multilingual(tokens, lexicons)`` when already computed.
    """
    langs = list(lexicons)
    last = len(langs) - 1
    found = lookup_multilingual(tokens, lexicons) if found is None else found
    draw = rng.random
    switched = []
    for index, per_language in found:
        if draw() < p:
            pick = min(int(draw() * len(langs)), last)
            translations = per_language[pick]
            if translations:
                switched.append(
                    Replacement(index, index + 1, _pick(translations, rng), langs[pick])
                )
    return switched


def lookup_phrases(
    tokens: Sequence[str],
    titles: Lexicon,
    stopwords: frozenset[str] | set[str],
    max_n: int = 3,
) -> SpanMatches:
    """Entity n-grams of a text, longest first at each position, left to right, not overlapping.

    A single token that is a stopword is never looked up (as in the authors' code); phrases
    that contain stopwords ("Bank of England") are.
    """
    keys = [textlib.match_key(token) for token in tokens]
    found = []
    index = 0
    while index < len(keys):
        step = 1
        for n in range(min(max_n, len(keys) - index), 0, -1):
            if n == 1 and keys[index] in stopwords:
                continue
            translations = titles.get(" ".join(keys[index : index + n]))
            if translations:
                found.append((index, index + n, translations))
                step = n
                break
        index += step
    return found


def wiki(
    tokens: Sequence[str],
    titles: Lexicon,
    stopwords: frozenset[str] | set[str],
    rng: Rng,
    lang: str,
    p: float = 1.0,
    max_n: int = 3,
    *,
    found: SpanMatches | None = None,
) -> list[Replacement]:
    """Wiki-CS: replace word n-grams (n ≤ ``max_n``) found in an entity-title lexicon.

    The n-grams are those of :func:`lookup_phrases` (longest first, stopwords alone skipped);
    each is replaced with probability ``p`` (no draw when ``p`` is 1.0) by one of its
    translations (uniformly).

    Args:
        tokens: the text's tokens.
        titles: lexicon keyed by :func:`phrase_key` (see :func:`normalise_phrase_lexicon`).
        stopwords: lower-cased stopwords of the text's language.
        rng: generator for the ``p`` draws and the choice among several translations.
        lang: language of the translations.
        p: probability of replacing a matched n-gram.
        max_n: longest n-gram to look up.
        found: ``lookup_phrases(tokens, titles, stopwords, max_n)`` when already computed.
    """
    found = lookup_phrases(tokens, titles, stopwords, max_n) if found is None else found
    switched = []
    for start, stop, translations in found:
        if p >= 1.0 or rng.random() < p:
            switched.append(Replacement(start, stop, _pick(translations, rng), lang))
    return switched


def translate_terms(text: str, lexicon: Lexicon) -> str:
    """Translate-Test: replace every word the X→EN lexicon knows by its first translation.

    Deterministic (no randomness). A :class:`NormalisedLexicon` of a language with a script form
    (Chinese) first brings ``text`` into that form (Simplified script). In scripts written without
    spaces (Chinese, Japanese, Thai) the Treebank tokenizer leaves clauses whole, so a token that
    is not a lexicon word has its runs in those scripts segmented by forward maximum matching
    against the lexicon's words; each match is translated and set off by spaces, and characters
    no word covers stay as they are.

    Example:
        >>> translate_terms("Das Haus ist rot.", {"haus": ("house",), "rot": ("red",)})
        'Das house ist red.'
        >>> translate_terms("黑豹的防守。", {"黑豹": ("panther",), "防守": ("defense",)})
        'panther 的 defense 。'
    """
    memo = lexicon.translated if isinstance(lexicon, NormalisedLexicon) else None
    if memo is not None and text in memo:
        return memo[text]
    form = textlib.script_form(getattr(lexicon, "lang", ""))
    tokenized = textlib.Tokenized.from_text(text if form is None else form(text))
    replacements = []
    longest: int | None = None
    for index, token in enumerate(tokenized.tokens):
        translations = lexicon.get(textlib.match_key(token))
        if translations:
            replacements.append(Replacement(index, index + 1, translations[0], "en"))
        elif textlib.UNSPACED_RUN.search(token):
            if longest is None:
                longest = (
                    lexicon.longest_unspaced()
                    if isinstance(lexicon, NormalisedLexicon)
                    else _longest_unspaced_key(lexicon)
                )
            segmented = _translate_unspaced(token, lexicon, longest)
            if segmented is not None:
                replacements.append(Replacement(index, index + 1, segmented, "en"))
    english = tokenized.splice(replacements)
    if memo is not None:
        memo[text] = english
    return english


def unspaced_runs(token: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, run)`` of each run of ``token`` in a script written without spaces, the run
    in its look-up form (:func:`csir.text.match_key`: NFC, so the characters counted are those
    of the lexicon's keys)."""
    for run in textlib.UNSPACED_RUN.finditer(token):
        yield run.start(), run.end(), textlib.match_key(run.group())


def _translate_unspaced(token: str, lexicon: Lexicon, longest: int) -> str | None:
    """``token`` with its unspaced-script runs split into the lexicon's longest words (forward
    maximum matching, words of at most ``longest`` characters) and those translated; ``None``
    when no word matched."""
    if not longest:
        return None
    pieces: list[tuple[str, bool]] = []  # (text, is a translation)
    last = 0
    for start, end, chars in unspaced_runs(token):
        pieces.append((token[last:start], False))
        i = 0
        while i < len(chars):
            for j in range(min(len(chars), i + longest), i, -1):
                translations = lexicon.get(chars[i:j])
                if translations:
                    pieces.append((translations[0], True))
                    i = j
                    break
            else:
                pieces.append((chars[i], False))
                i += 1
        last = end
    pieces.append((token[last:], False))
    if not any(translated for _, translated in pieces):
        return None
    out = ""
    previous = False
    for piece, translated in pieces:
        if not piece:
            continue
        if out and (translated or previous):
            out += " "
        out += piece
        previous = translated
    return out


def content_mask(tokens: Sequence[str], stopwords: frozenset[str] | set[str]) -> list[bool]:
    """True for tokens counted by the switch ratio: words (with a letter) that are not stopwords."""
    return [textlib.is_content_word(token, stopwords) for token in tokens]


def count_switches(
    tokens: Sequence[str],
    replacements: Iterable[Replacement],
    stopwords: frozenset[str] | set[str],
) -> tuple[int, dict[str, int]]:
    """Non-stopword words of a text, and how many of them were switched into each language.

    Returns:
        ``(n_content_words, {lang: n_switched_content_words})``.
    """
    mask = content_mask(tokens, stopwords)
    switched: dict[str, int] = {}
    for replacement in replacements:
        count = sum(mask[replacement.start : replacement.stop])
        switched[replacement.lang] = switched.get(replacement.lang, 0) + count
    return sum(mask), switched


def switch_ratio(switched: int, content_words: int) -> float:
    """Realised switch ratio: switched non-stopword words / non-stopword words (0.0 if none)."""
    return switched / content_words if content_words else 0.0
