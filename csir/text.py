"""Word tokenisation (NLTK Treebank) for code-switching (stopwords: :mod:`csir.stopwords`).

The tokenizer and detokenizer are NLTK's Treebank classes with their own patterns compiled by the
standard :mod:`re` engine instead of NLTK's timeout-guarded ``regex`` wrapper, and the tokenizer
skips a rule when the characters it needs are absent from the text. Both give the same output as
NLTK (``tests/test_text.py`` checks it on tricky strings and on every WikiQA text) at 3-5× the
speed, which matters because every training text is tokenised.

Code-switched text is rendered by splicing translations into the original string at the token
spans (:meth:`Tokenized.splice`), so everything that is not switched keeps its original
characters; the Treebank detokenizer is the fallback when spans cannot be aligned.

Example:
    >>> t = Tokenized.from_text("Where is Berlin?")
    >>> t.tokens
    ('Where', 'is', 'Berlin', '?')
    >>> t.splice([(2, 3, "Bärlin")])
    'Where is Bärlin?'
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Sequence

import regex
from nltk.tokenize.treebank import TreebankWordDetokenizer, TreebankWordTokenizer

# Flags that mean the same in `regex` and `re`; `regex`'s VERSION0/UNICODE bits are defaults in re.
_PORTABLE_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE | re.ASCII
_QUOTES = re.compile(r"``|'{2}|\"")
_SEPARATOR_PAIRS = (",,", ",:", ":,", "::")


def _std(pattern) -> re.Pattern:
    """The same pattern compiled by the standard ``re`` engine."""
    if isinstance(pattern, re.Pattern):
        return pattern
    return re.compile(pattern.pattern, pattern.flags & _PORTABLE_FLAGS)


def _literals(patterns: Sequence[re.Pattern]) -> tuple[str, ...] | None:
    """Lower-case literal text that each ``(?i)`` contraction pattern needs, or None.

    ``\\b``, lookaheads, comments and groups only constrain *where* the literal matches, so the
    literal occurring in the lower-cased text is a necessary condition for a match.
    """
    literals = []
    for pattern in patterns:
        source = pattern.pattern
        if not source.startswith("(?i)"):
            return None
        literal = source[4:].replace("(?#X)", "").replace(r"(?=\s)", "").replace(r"\b", "")
        literal = literal.replace("(", "").replace(")", "")
        if not literal or re.search(r"[\\\[\]{}*+?|^$.]", literal):
            return None
        literals.append(literal.lower())
    return tuple(literals)


def _spaced_class(rule: tuple, expected: str) -> str | None:
    """The characters of a ``(re.compile(expected), " \\g<0> ")`` rule, None if it is another."""
    pattern, substitution = rule
    if pattern.pattern != expected or pattern.flags & ~re.UNICODE or substitution != r" \g<0> ":
        return None
    return re.sub(r"\\(.)", r"\1", expected[1:-1])


class FastTreebankWordTokenizer(TreebankWordTokenizer):
    """NLTK's :class:`TreebankWordTokenizer` on stdlib ``re``, skipping rules that cannot match.

    Each skip tests a necessary condition for the rule to match the text *as it is at that step*,
    so the output equals NLTK's.
    """

    def __init__(self) -> None:
        base = TreebankWordTokenizer
        self.STARTING_QUOTES = [(_std(p), s) for p, s in base.STARTING_QUOTES]
        self.PUNCTUATION = [(_std(p), s) for p, s in base.PUNCTUATION]
        self.PARENS_BRACKETS = (_std(base.PARENS_BRACKETS[0]), base.PARENS_BRACKETS[1])
        self.CONVERT_PARENTHESES = [(_std(p), s) for p, s in base.CONVERT_PARENTHESES]
        self.DOUBLE_DASHES = (_std(base.DOUBLE_DASHES[0]), base.DOUBLE_DASHES[1])
        self.ENDING_QUOTES = [(_std(p), s) for p, s in base.ENDING_QUOTES]
        self.CONTRACTIONS2 = [_std(p) for p in base.CONTRACTIONS2]
        self.CONTRACTIONS3 = [_std(p) for p in base.CONTRACTIONS3]
        self._contraction_literals = _literals(self.CONTRACTIONS2 + self.CONTRACTIONS3)
        # Rules that only put spaces around single characters of a class: done by str.replace.
        self._symbols = _spaced_class(self.PUNCTUATION[3], "[;@#$%&]")
        self._brackets = _spaced_class(self.PARENS_BRACKETS, r"[\]\[\(\)\{\}\<\>]")
        self._marks = _spaced_class(self.PUNCTUATION[5], "[?!]")
        self._contraction_screen = re.compile(
            "|".join(re.escape(literal) for literal in self._contraction_literals or ())
        )
        rule, substitution = self.PUNCTUATION[4]
        self._final_period = (
            rule.pattern == r"""([^\.])(\.)([\]\)}>"\']*)\s*$"""
            and not rule.flags & re.MULTILINE
            and substitution == r"\1 \2\3 "
        )
        # ``([:,])([^\d])`` → `` \1 \2``: per separator, with a lookahead and a literal
        # replacement (no per-match template expansion), when no separator follows another.
        self._separators = None
        rule, substitution = self.PUNCTUATION[0]
        if rule.pattern == r"([:,])([^\d])" and substitution == r" \1 \2":
            self._separators = tuple(
                (character, re.compile(re.escape(character) + r"(?=[^\d])", rule.flags))
                for character in ",:"
            )
        # The fast path mirrors NLTK's rule order; it is used only when the rule lists have the
        # shapes it was written for, otherwise NLTK's own method runs (on the re patterns).
        self._fast = (
            len(self.STARTING_QUOTES) == 3
            and len(self.PUNCTUATION) == 7
            and len(self.ENDING_QUOTES) == 4
            and self._contraction_literals is not None
        )

    def tokenize(
        self, text: str, convert_parentheses: bool = False, return_str: bool = False
    ) -> list[str]:
        """Split ``text`` into Treebank tokens (same result as NLTK's tokenizer)."""
        if not self._fast or convert_parentheses or return_str:
            return super().tokenize(text, convert_parentheses, return_str)
        if '"' in text or "''" in text or "``" in text:
            for regexp, substitution in self.STARTING_QUOTES:
                text = regexp.sub(substitution, text)
        punct = self.PUNCTUATION
        if ":" in text or "," in text:
            if self._separators is None or any(pair in text for pair in _SEPARATOR_PAIRS):
                text = punct[0][0].sub(punct[0][1], text)
            else:  # no separator follows another: the same as spacing each not before a digit
                for character, regexp in self._separators:
                    if character in text:
                        text = regexp.sub(f" {character} ", text)
            text = punct[1][0].sub(punct[1][1], text)
        if "..." in text:
            text = punct[2][0].sub(punct[2][1], text)
        text = self._spaced(text, self._symbols, punct[3])
        if text.endswith(".") and self._final_period:
            # The rule's only possible match is the final period (what follows any other one
            # is not all closing brackets/quotes and spaces); it needs a non-period before it.
            if len(text) > 1 and text[-2] != ".":
                text = text[:-1] + " . "
        elif "." in text:
            text = punct[4][0].sub(punct[4][1], text)
        if "?" in text or "!" in text:
            text = self._spaced(text, self._marks, punct[5])
        if "'" in text:
            text = punct[6][0].sub(punct[6][1], text)
        text = self._spaced(text, self._brackets, self.PARENS_BRACKETS)
        if "--" in text:
            text = self.DOUBLE_DASHES[0].sub(self.DOUBLE_DASHES[1], text)
        text = " " + text + " "
        ending = self.ENDING_QUOTES
        if '"' in text or "''" in text:
            text = ending[0][0].sub(ending[0][1], text)
            text = ending[1][0].sub(ending[1][1], text)
        if "'" in text:
            text = ending[2][0].sub(ending[2][1], text)
            text = ending[3][0].sub(ending[3][1], text)
        # Case-insensitive matching folds some non-ASCII letters (e.g. U+017F to "s"), so the
        # literal screen is exact for ASCII text only.
        if not text.isascii() or self._has_contraction(text.lower()):
            for regexp in self.CONTRACTIONS2:
                text = regexp.sub(r" \1 \2 ", text)
            for regexp in self.CONTRACTIONS3:
                text = regexp.sub(r" \1 \2 ", text)
        return text.split()

    @staticmethod
    def _spaced(text: str, characters: str | None, rule: tuple) -> str:
        """Apply a ``[chars]`` → `` \\g<0> `` rule: str.replace per character present (same
        result, as each character is matched alone and the spaces added match none), else the
        rule's regex."""
        if characters is None:
            return rule[0].sub(rule[1], text)
        for character in characters:
            if character in text:
                text = text.replace(character, f" {character} ")
        return text

    def _has_contraction(self, lowered: str) -> bool:
        return self._contraction_screen.search(lowered) is not None

    def tokenize_quoted(self, text: str) -> list[str]:
        """Treebank tokens with quotes as they appear in ``text`` (not rewritten to ````/``''``)."""
        tokens = self.tokenize(text)
        if '"' in text or "''" in text:
            matched = iter([m.group() for m in _QUOTES.finditer(text)])
            tokens = [next(matched) if tok in ('"', "``", "''") else tok for tok in tokens]
        return tokens

    def tokenize_aligned(self, text: str) -> tuple[list[str], list[tuple[int, int]]]:
        """Tokens as they appear in ``text`` (quotes not rewritten) and their character spans.

        Raises:
            ValueError: a token cannot be found in the text.
        """
        tokens = self.tokenize_quoted(text)
        spans = []
        position = 0
        find = text.find
        for token in tokens:
            start = find(token, position)
            if start < 0:
                raise ValueError(f"token {token!r} not found in {text!r}")
            position = start + len(token)
            spans.append((start, position))
        return tokens, spans

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the tokens in ``text`` (as NLTK's ``span_tokenize``)."""
        return self.tokenize_aligned(text)[1]


class FastTreebankWordDetokenizer(TreebankWordDetokenizer):
    """NLTK's :class:`TreebankWordDetokenizer` with its patterns compiled by stdlib ``re``."""

    def __init__(self) -> None:
        base = TreebankWordDetokenizer
        self.CONTRACTIONS2 = [_std(p) for p in base.CONTRACTIONS2]
        self.CONTRACTIONS3 = [_std(p) for p in base.CONTRACTIONS3]
        self.ENDING_QUOTES = [(_std(p), s) for p, s in base.ENDING_QUOTES]
        self.DOUBLE_DASHES = (_std(base.DOUBLE_DASHES[0]), base.DOUBLE_DASHES[1])
        self.CONVERT_PARENTHESES = [(_std(p), s) for p, s in base.CONVERT_PARENTHESES]
        self.PARENS_BRACKETS = [(_std(p), s) for p, s in base.PARENS_BRACKETS]
        self.PUNCTUATION = [(_std(p), s) for p, s in base.PUNCTUATION]
        self.STARTING_QUOTES = [(_std(p), s) for p, s in base.STARTING_QUOTES]


@functools.lru_cache(maxsize=1)
def word_tokenizer() -> FastTreebankWordTokenizer:
    """The shared Treebank word tokenizer (built on first use)."""
    return FastTreebankWordTokenizer()


@functools.lru_cache(maxsize=1)
def word_detokenizer() -> FastTreebankWordDetokenizer:
    """The shared Treebank detokenizer (built on first use)."""
    return FastTreebankWordDetokenizer()


def match_key(word: str) -> str:
    """The form in which words are matched against lexicons and gold words everywhere in csir:
    Unicode NFC, lower case (one normalisation on both sides of every string comparison).
    Turkish and Azerbaijani capital dotted I lowers to ``i`` (Python's ``lower`` gives ``i``
    plus a combining dot above, which no lexicon's ``i`` matches).

    Example:
        >>> match_key("Cafe\u0301") == match_key("CAFÉ") == "café"
        True
        >>> match_key("İstanbul")
        'istanbul'
    """
    import unicodedata

    return unicodedata.normalize("NFC", word).lower().replace("i\u0307", "i")


#: Runs of characters in scripts written without spaces between words (Thai, Japanese kana, Han):
#: the Treebank tokenizer leaves a whole clause as one token there, so Translate-Test segments
#: these runs by the lexicon's own words (:func:`csir.codeswitch.translate_terms`).
UNSPACED_RUN = re.compile(
    "[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]+"
)


#: A word for retrieval: letters with their combining marks, and digits. ``\w`` has no marks,
#: so bm25s's ``\w\w+`` cuts Devanagari and Thai words at every vowel sign.
_TERM = regex.compile(r"[\p{L}\p{M}\p{N}]+")


def retrieval_terms(text: str) -> list[str]:
    """The terms a lexical retriever (BM25) indexes for ``text``, in order.

    Words are runs of letters, combining marks and digits in :func:`match_key` form; words of
    one character are dropped, as bm25s's ``\\w\\w+`` does. Runs of scripts written without
    spaces (:data:`UNSPACED_RUN`: Han, kana, Thai) have no word boundaries to find, so they become
    overlapping character bigrams (a lone character stays a term), the standard indexing of such
    text (Lucene's CJK analyser).

    Example:
        >>> retrieval_terms("Who won Super Bowl 50? 谁赢得了比赛")
        ['who', 'won', 'super', 'bowl', '50', '谁赢', '赢得', '得了', '了比', '比赛']
    """
    terms: list[str] = []

    def spaced(part: str) -> None:
        if len(part) >= 2:
            terms.append(part)

    for word in _TERM.findall(match_key(text)):
        start = 0
        for run in UNSPACED_RUN.finditer(word):
            spaced(word[start : run.start()])
            chars = run.group()
            terms.extend(chars[i : i + 2] for i in range(max(1, len(chars) - 1)))
            start = run.end()
        spaced(word[start:])
    return terms


@functools.lru_cache(maxsize=1)
def _traditional_to_simplified():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(texts: Iterable[str]) -> list[str]:
    """Chinese texts in Simplified script (other characters pass through; OpenCC's ``t2s``).

    Example:
        >>> to_simplified(["國家", "dog"])
        ['国家', 'dog']
    """
    converter = _traditional_to_simplified()
    return [converter.convert(t) for t in texts]


def script_form(lang: str) -> Callable[[str], str] | None:
    """What words and texts of ``lang`` become, beyond :func:`match_key`, before lexicon look-ups
    compare them: Simplified script for Chinese (MUSE's ``zh`` dictionaries are largely
    Traditional, XQuAD-R's Chinese is Simplified); ``None`` for every other language."""
    if lang != "zh":
        return None
    return lambda text: to_simplified([text])[0]


def tokenize(text: str) -> list[str]:
    """Treebank word tokens of ``text``, e.g. ``"isn't it?"`` → ``['is', "n't", 'it', '?']``."""
    return word_tokenizer().tokenize(text)


def detokenize(tokens: Iterable[str]) -> str:
    """Natural text from Treebank tokens: ``['Hello', ',', 'world', '!']`` → ``"Hello, world!"``."""
    return word_detokenizer().detokenize(list(tokens))


def is_word(token: str) -> bool:
    """True when the token has a letter (punctuation and plain numbers are not words)."""
    return token.isalpha() or any(ch.isalpha() for ch in token)


def is_content_word(token: str, stopwords: frozenset[str] | set[str]) -> bool:
    """True for tokens the switch ratio counts: words (with a letter) that are not stopwords."""
    return is_word(token) and token.lower() not in stopwords


@dataclasses.dataclass(frozen=True)
class Tokenized:
    """A text with its Treebank tokens and their character spans.

    Attributes:
        text: the original text.
        tokens: Treebank tokens (quotes as in the text, not as ````/``''``).
        spans: ``(start, end)`` of each token in ``text``; ``None`` if they could not be aligned.
    """

    text: str
    tokens: tuple[str, ...]
    spans: tuple[tuple[int, int], ...] | None

    @classmethod
    def from_text(cls, text: str) -> Tokenized:
        """Tokenise ``text`` and align the tokens to it."""
        try:
            tokens, spans = word_tokenizer().tokenize_aligned(text)
        except ValueError:  # a token the tokenizer rewrote beyond recognition: no spans
            return cls(text, tuple(tokenize(text)), None)
        return cls(text, tuple(tokens), tuple(spans))

    def splice(self, replacements: Iterable[Sequence]) -> str:
        """The text with token ranges replaced, everything else kept as it was.

        Args:
            replacements: ``(start, stop, new_text, ...)`` items (extra fields are ignored):
                tokens ``start`` to ``stop - 1`` become ``new_text``. Ranges must not overlap.

        Returns:
            Natural text: the original characters outside the replaced ranges.
        """
        ordered = sorted(replacements, key=lambda r: r[0])
        if not ordered:
            return self.text
        if self.spans is None:
            tokens = list(self.tokens)
            for start, stop, new, *_ in reversed(ordered):
                tokens[start:stop] = [new]
            return detokenize(tokens)
        parts: list[str] = []
        position = 0
        for start, stop, new, *_ in ordered:
            parts.append(self.text[position : self.spans[start][0]])
            parts.append(new)
            position = self.spans[stop - 1][1]
        parts.append(self.text[position:])
        return "".join(parts)
