"""The switching of one job's records, batch by batch: the ``Dataset.map`` function of notebook 02.

Reproducibility: record ``i`` gets its own generator, ``random.Random`` seeded with the integer
``seed·2⁹⁶ + job_key·2⁶⁴ + i`` (``job_key``: CRC-32 of ``method|pair|p``); nothing depends on
shard order, so the same seed gives byte-identical files for any ``num_proc``. (Python
guarantees ``Random.random()`` sequences for integer seeds across versions; it is also 3× cheaper
to create per record than a NumPy generator.)

Per record, the counts of content words and switched words (per side, per language and in all)
travel in the column :data:`STATS_COLUMN`; :func:`csir.codeswitch.generation.summarise` turns
their sums into realised switch ratios.
"""

from __future__ import annotations

import functools
import itertools
import os
import pickle
import random
import weakref
from _random import Random as _BaseRandom
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from csir import text as textlib
from csir.codeswitch import switch
from csir.codeswitch.jobs import CODE_MIXED, Job
from csir.errors import ConfigError
from csir.ids import BL_CS, ML_CS, WIKI_CS, ZERO_SHOT

SIDES = ("query", "passage")
#: The per-record switch counts column of the mapped dataset.
STATS_COLUMN = "_switch_counts"
#: Live switchers by token: what forked map workers inherit instead of unpickling the tables.
_SHARED: weakref.WeakValueDictionary[str, RecordSwitcher] = weakref.WeakValueDictionary()
_TOKENS = itertools.count()


class RecordSwitcher:
    """The ``Dataset.map`` function of one job (batched, with indices); picklable for workers.

    Each worker keeps, per distinct text, the character spans of its switchable tokens (or
    n-grams), their translations and content-word counts (training data repeats every query
    once per candidate passage, MS MARCO repeats passages), and per distinct token its look-up,
    so only the random draws and the splicing are done per record. The draws and the rendering
    are those of :mod:`csir.codeswitch.switch` and :meth:`csir.text.Tokenized.splice`
    (``tests/test_codeswitch.py`` checks it); one generator per batch is re-seeded per record.
    """

    def __init__(
        self,
        job: Job,
        seed: int,
        stopwords: frozenset[str],
        lexicons: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        titles: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        max_n: int = 3,
        cache_size: int = 50_000,
    ) -> None:
        if seed < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}")
        self.job = job
        self.seed = int(seed)
        self.key = job.key()
        self.stopwords = frozenset(stopwords)
        self.max_n = max_n
        self.cache_size = cache_size
        self.query_lang, self.doc_lang = job.record_languages()
        self.slots = {lang: i for i, lang in enumerate(job.languages)}
        self.width = len(job.languages) + 1  # per side: each language, then "all"
        self.tables: dict[str, dict[str, tuple[str, ...]]] = {}
        if job.method in (BL_CS, ML_CS):
            self.tables = {
                lang: switch.normalise_lexicon(_need(lexicons, lang, "word"), target_lang=lang)
                for lang in job.languages
            }
        elif job.method == WIKI_CS:
            self.tables = {
                lang: switch.normalise_phrase_lexicon(
                    _need(titles, lang, "title"), max_n, target_lang=lang
                )
                for lang in job.languages
            }
        self._blob: bytes | None = None
        # Processes forked from this one (map workers) inherit the registered tables.
        self._token = f"{os.getpid()}:{next(_TOKENS)}"
        _SHARED[self._token] = self
        self._cached: Callable | None = None
        self._memo: dict[str, dict[str, tuple]] = {}
        self._tokenizer = textlib.word_tokenizer()

    def __getstate__(self) -> dict[str, Any]:
        # Workers receive this object through dill, which is slow on big dicts; one blob from
        # the C pickler, made once, makes shipping (and datasets' hashing) of lexicons cheap.
        # Forked workers find the tables they inherited under the token and skip unpickling.
        if self._blob is None:
            self._blob = pickle.dumps(self.tables, protocol=pickle.HIGHEST_PROTOCOL)
        state = dict(self.__dict__)
        state["_cached"] = None
        state["_memo"] = {}
        state["_tokenizer"] = None
        state["tables"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        owner = _SHARED.get(self._token)
        self.tables = owner.tables if owner is not None else pickle.loads(self._blob)
        self._tokenizer = textlib.word_tokenizer()

    def _prepared(self, text: str, target: str) -> tuple:
        """Content-word count and switchable spans of a text (cached per worker)."""
        if self._cached is None:
            self._cached = functools.lru_cache(maxsize=self.cache_size)(self._prepare)
        return self._cached(text, target)

    def _prepare(self, text: str, target: str) -> tuple:
        """``(n_content, matches, fallback)`` of a text switched towards ``target``.

        ``matches`` holds, per switchable token (BL-CS, ML-CS) or n-gram (Wiki-CS), in text
        order: its character span ``start, end`` in ``text``, its only translation (None if
        several), its translations (ML-CS: per language, None where unknown) and how many
        content words it covers. When the tokens cannot be aligned to the text, ``matches`` is
        None and ``fallback`` holds the :class:`~csir.text.Tokenized` text, its content-word
        mask and look-ups for :mod:`csir.codeswitch.switch` (rendered by the detokenizer).
        """
        method = self.job.method
        if method in (BL_CS, ML_CS):
            prepared = self._prepare_words(text, target)
            if prepared is not None:
                return prepared
        tokenized = textlib.Tokenized.from_text(text)
        tokens = tokenized.tokens
        # Per token (tokens repeat across texts): whether it is a content word and its
        # translations (BL-CS: in the target language; ML-CS: per language), or None.
        memo = self._memo.get(target)
        if memo is None or len(memo) > 1_000_000:
            memo = self._memo[target] = {}
        infos = []
        for token in tokens:
            info = memo.get(token)
            if info is None:
                info = memo[token] = self._token_info(token, target)
            infos.append(info)
        mask = [info[0] for info in infos]
        if method in (BL_CS, ML_CS):
            found = [(index, info[1]) for index, info in enumerate(infos) if info[1]]
            ranges = [(index, index + 1, translations) for index, translations in found]
        else:
            found = switch.lookup_phrases(tokens, self.tables[target], self.stopwords, self.max_n)
            ranges = found
        spans = tokenized.spans
        if spans is None:
            return sum(mask), None, (tokenized, mask, found)
        matches = []
        for start, stop, translations in ranges:
            covered = mask[start] if stop == start + 1 else sum(mask[start:stop])
            only = translations[0] if method != ML_CS and len(translations) == 1 else None
            matches.append((spans[start][0], spans[stop - 1][1], only, translations, int(covered)))
        return sum(mask), tuple(matches), None

    def _prepare_words(self, text: str, target: str) -> tuple | None:
        """:meth:`_prepare` of BL-CS and ML-CS in one pass over the tokens (None: unaligned)."""
        memo = self._memo.get(target)
        if memo is None or len(memo) > 1_000_000:
            memo = self._memo[target] = {}
        find = text.find
        position = 0
        n_content = 0
        matches = []
        for token in self._tokenizer.tokenize_quoted(text):
            start = find(token, position)
            if start < 0:
                return None
            position = start + len(token)
            info = memo.get(token)
            if info is None:
                info = memo[token] = self._token_info(token, target)
            content, translations, only = info
            n_content += content
            if translations:
                matches.append((start, position, only, translations, content))
        return n_content, tuple(matches), None

    def _token_info(self, token: str, target: str) -> tuple[int, Any, str | None]:
        """Content-word flag (0/1), translations (or None) and the only translation of a token."""
        key = textlib.match_key(token)
        content = textlib.is_content_word(token, self.stopwords)
        if self.job.method == BL_CS:
            translations = self.tables[target].get(key) or None
            only = translations[0] if translations and len(translations) == 1 else None
            return int(content), translations, only
        if self.job.method == ML_CS:
            per_language = tuple(table.get(key) or None for table in self.tables.values())
            return int(content), (per_language if any(per_language) else None), None
        return int(content), None, None

    def _switch(self, side: int, text: str, target: str, rng, counts: list[int]) -> str:
        """Switch one text towards ``target`` (a language, ``CODE_MIXED`` or ``"en"``: unchanged).

        Makes the same draws, in the same order, as :func:`~csir.codeswitch.switch.bilingual`,
        :func:`~csir.codeswitch.switch.multilingual` and :func:`~csir.codeswitch.switch.wiki`
        on the text's tokens, and renders like :meth:`csir.text.Tokenized.splice`.
        """
        if target == "en":
            return text
        n_content, matches, fallback = self._prepared(text, target)
        base = 2 * side * self.width
        total = base + 2 * (self.width - 1)
        if target == CODE_MIXED:
            for slot in range(self.width - 1):
                counts[base + 2 * slot] += n_content
        else:
            counts[base + 2 * self.slots[target]] += n_content
        counts[total] += n_content
        if matches is None:
            return self._switch_tokens(base, total, target, rng, counts, *fallback)
        if not matches:
            return text
        draw = rng.random
        p = self.job.p
        parts: list[str] = []
        append = parts.append
        position = 0
        all_switched = 0
        if self.job.method == ML_CS:
            n_langs = self.width - 1
            last = n_langs - 1
            per_slot = [0] * n_langs
            for start, stop, _, per_language, covered in matches:
                if draw() < p:
                    pick = int(draw() * n_langs)
                    if pick > last:
                        pick = last
                    translations = per_language[pick]
                    if translations:
                        count = len(translations)
                        if count == 1:
                            new = translations[0]
                        else:
                            choice = int(draw() * count)
                            new = translations[choice if choice < count else count - 1]
                        append(text[position:start])
                        append(new)
                        position = stop
                        per_slot[pick] += covered
                        all_switched += covered
            for slot, switched in enumerate(per_slot):
                counts[base + 2 * slot + 1] += switched
        else:
            always = self.job.method == WIKI_CS and p >= 1.0
            for start, stop, new, translations, covered in matches:
                if always or draw() < p:
                    if new is None:
                        count = len(translations)
                        choice = int(draw() * count)
                        new = translations[choice if choice < count else count - 1]
                    append(text[position:start])
                    append(new)
                    position = stop
                    all_switched += covered
            counts[base + 2 * self.slots[target] + 1] += all_switched
        counts[total + 1] += all_switched
        if not parts:
            return text
        append(text[position:])
        return "".join(parts)

    def _switch_tokens(self, base, total, target, rng, counts, tokenized, mask, found) -> str:
        """:meth:`_switch` of a text whose tokens could not be aligned to it."""
        job = self.job
        tokens = tokenized.tokens
        if job.method == BL_CS:
            replacements = switch.bilingual(
                tokens, self.tables[target], job.p, rng, target, found=found
            )
        elif job.method == ML_CS:
            replacements = switch.multilingual(tokens, self.tables, job.p, rng, found=found)
        else:
            replacements = switch.wiki(
                tokens,
                self.tables[target],
                self.stopwords,
                rng,
                target,
                job.p,
                self.max_n,
                found=found,
            )
        for start, stop, _, lang in replacements:
            switched = mask[start] if stop == start + 1 else sum(mask[start:stop])
            counts[base + 2 * self.slots[lang] + 1] += switched
            counts[total + 1] += switched
        return tokenized.splice(replacements)

    def __call__(self, batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        out: dict[str, list] = {
            "query": [],
            "passage": [],
            "query_lang": [],
            "doc_lang": [],
            STATS_COLUMN: [],
        }
        job = self.job
        # One generator per call, re-seeded per record: the same state as a new
        # random.Random(seed) (Random.seed adds nothing for int seeds but gauss_next, unused).
        rng = random.Random()
        reseed = _BaseRandom.seed
        prefix = (self.seed << 96) | (self.key << 64)
        for query, passage, index in zip(batch["query"], batch["passage"], indices, strict=True):
            counts = [0] * (4 * self.width)
            if job.method == ZERO_SHOT:
                query_lang, doc_lang = self.query_lang, self.doc_lang
            else:
                reseed(rng, prefix | index)
                if job.method == WIKI_CS:
                    drawn = job.languages[rng.randrange(len(job.languages))]
                    query_lang = doc_lang = drawn
                else:
                    query_lang, doc_lang = self.query_lang, self.doc_lang
                query = self._switch(0, query, query_lang, rng, counts)
                passage = self._switch(1, passage, doc_lang, rng, counts)
            out["query"].append(query)
            out["passage"].append(passage)
            out["query_lang"].append(query_lang)
            out["doc_lang"].append(doc_lang)
            out[STATS_COLUMN].append(counts)
        return out


def _need(tables: Mapping[str, Any] | None, lang: str, kind: str) -> Any:
    if not tables or lang not in tables:
        raise ConfigError(f"no {kind} lexicon for language {lang!r} was given")
    return tables[lang]
