"""Seeded, sharded generation of code-switched training files with ``datasets``.

One *job* is one training set: a method (zero-shot, BL-CS, ML-CS, Wiki-CS), a language pair and a
switch probability p. :func:`generate` runs a job over a ``datasets.Dataset`` of English pairs
(``qid, pid, query, passage, label``) with ``Dataset.map(num_proc=N, with_indices=True)`` and
writes::

    <output_dir>/train/<method>/<pair>/p=<p>/train.jsonl   keys: qid pid query passage label
                                                           query_lang doc_lang
    <output_dir>/train/<method>/<pair>/p=<p>/stats.json    counts, realised switch ratios, inputs

Pair names: ``en-de`` etc. for BL-CS, ``ml`` for ML-CS, ``wiki`` for Wiki-CS, ``en-en`` for
zero-shot (p = 0.0). Record languages: BL-CS the pair's languages; ML-CS ``"mix"`` on both sides
(tokens come from every language); Wiki-CS the language drawn for that instance on both sides.

Reproducibility: record ``i`` gets its own generator, ``random.Random`` seeded with the integer
``seed·2⁹⁶ + job_key·2⁶⁴ + i`` (``job_key``: CRC-32 of ``method|pair|p``); nothing depends on
shard order, so the same seed gives byte-identical files for any ``num_proc``. (Python
guarantees ``Random.random()`` sequences for integer seeds across versions; it is also 3× cheaper
to create per record than a NumPy generator.)

Realised switch ratio (per language): switched non-stopword words / non-stopword words of the
texts switched towards that language. For ML-CS every text is switched towards every language,
so the per-language ratios are shares that add up to the overall ratio (``"all"``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import os
import pickle
import random
import tempfile
import weakref
import zlib
from _random import Random as _BaseRandom
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csir import io, languages
from csir import stopwords as stopwordlists
from csir import text as textlib
from csir.codeswitch import switch
from csir.errors import ConfigError
from csir.ids import (
    BL_CS,
    ML_CS,
    ML_PAIR,
    TRAINING_METHODS,
    WIKI_CS,
    WIKI_PAIR,
    ZERO_SHOT,
    ZERO_SHOT_PAIR,
    TrainingSetId,
)

#: Keys of every training/dev record, in file order.
RECORD_KEYS = ("qid", "pid", "query", "passage", "label", "query_lang", "doc_lang")
#: Record language of ML-CS texts, whose tokens come from several languages within one text
#: (unlike :data:`csir.languages.MIXED`, an MLIR side whose texts are each in one language).
CODE_MIXED = "mix"
SIDES = ("query", "passage")
_STATS = "_switch_counts"
#: Live switchers by token: what forked map workers inherit instead of unpickling the tables.
_SHARED: weakref.WeakValueDictionary[str, RecordSwitcher] = weakref.WeakValueDictionary()
_TOKENS = itertools.count()
#: The encoder json.dumps(..., ensure_ascii=False) builds on every call, built once.
_JSON_LINE = json.JSONEncoder(ensure_ascii=False)


@dataclasses.dataclass(frozen=True)
class Job:
    """One training set to generate.

    Attributes:
        method: one of ``zero-shot``, ``bl-cs``, ``ml-cs``, ``wiki-cs``.
        pair: ``en-de`` style for BL-CS, ``ml``, ``wiki`` or ``en-en``.
        p: switch probability (0.0 for zero-shot).
        languages: languages switched into: BL-CS the pair's non-English languages, ML-CS and
            Wiki-CS the pool drawn from, zero-shot none.
    """

    method: str
    pair: str
    p: float
    languages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", float(self.p))
        TrainingSetId(self.method, self.pair, self.p)  # the same rules as every training set

    @property
    def training_set(self) -> TrainingSetId:
        """The identity of the set this job writes."""
        return TrainingSetId(self.method, self.pair, self.p)

    @property
    def name(self) -> str:
        """``method/pair/p=<p>``, the job's folder under ``train/``."""
        return self.training_set.name

    def directory(self, output_dir: str | Path) -> Path:
        """``<output_dir>/train/<method>/<pair>/p=<p>``."""
        return self.training_set.directory(Path(output_dir) / "train")

    def key(self) -> int:
        """Stable 32-bit key of (method, pair, p) that seeds the record generators."""
        return zlib.crc32(f"{self.method}|{self.pair}|{self.p!r}".encode())

    def record_languages(self) -> tuple[str, str]:
        """``(query_lang, doc_lang)`` written on every record (Wiki-CS: drawn per record)."""
        if self.method == BL_CS:
            return languages.parse_pair(self.pair)
        if self.method == ML_CS:
            return CODE_MIXED, CODE_MIXED
        return "en", "en"


def plan_jobs(
    methods: Sequence[str],
    pairs: Sequence[str],
    probabilities: Sequence[float],
    pool: Sequence[str],
    wiki_probability: float = 1.0,
) -> list[Job]:
    """All jobs of a configuration, in a fixed order.

    Args:
        methods: subset of :data:`csir.ids.TRAINING_METHODS`.
        pairs: BL-CS pairs (query-document), e.g. ``["en-de", "de-ru"]``.
        probabilities: switch probabilities of BL-CS and ML-CS.
        pool: languages of ML-CS and Wiki-CS.
        wiki_probability: Wiki-CS switch probability (1.0 in the paper).
    """
    jobs: list[Job] = []
    for method in methods:
        if method == ZERO_SHOT:
            jobs.append(Job(ZERO_SHOT, ZERO_SHOT_PAIR, 0.0))
        elif method == BL_CS:
            for pair in pairs:
                query_lang, doc_lang = languages.parse_pair(pair)
                switched = tuple(dict.fromkeys(x for x in (query_lang, doc_lang) if x != "en"))
                if not switched:
                    raise ConfigError(f"BL-CS pair {pair!r} has nothing to switch (use zero-shot)")
                jobs.extend(Job(BL_CS, pair, p, switched) for p in probabilities)
        elif method == ML_CS:
            jobs.extend(Job(ML_CS, ML_PAIR, p, _pool(pool)) for p in probabilities)
        elif method == WIKI_CS:
            jobs.append(Job(WIKI_CS, WIKI_PAIR, wiki_probability, _pool(pool)))
        else:
            raise ConfigError(f"method {method!r} must be one of {', '.join(TRAINING_METHODS)}")
    return jobs


def _pool(pool: Sequence[str]) -> tuple[str, ...]:
    codes = tuple(dict.fromkeys(languages.check_language(x) for x in pool))
    if not codes or "en" in codes:
        raise ConfigError(f"ML-CS/Wiki-CS languages {pool!r} must be non-empty, without 'en'")
    return codes


def lexicon_languages(jobs: Iterable[Job]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Languages whose word lexicons (BL-CS, ML-CS) and title lexicons (Wiki-CS) the jobs need."""
    words: dict[str, None] = {}
    titles: dict[str, None] = {}
    for job in jobs:
        if job.method in (BL_CS, ML_CS):
            words.update(dict.fromkeys(job.languages))
        elif job.method == WIKI_CS:
            titles.update(dict.fromkeys(job.languages))
    return tuple(words), tuple(titles)


def load_lexicons(
    root: str | Path,
    source: str,
    langs: Iterable[str],
    loader: Callable[[Path], Mapping[str, Sequence[str]]],
    src: str = "en",
) -> tuple[dict[str, Mapping[str, Sequence[str]]], dict[str, dict[str, Any]]]:
    """Load ``<root>/<source>/<src>-<lang>.tsv`` for each language with ``loader``.

    Args:
        root: notebook 01's lexicon folder.
        source: lexicon source folder, e.g. ``"muse"`` or ``"titles"``.
        langs: target languages.
        loader: reads one TSV, e.g. :func:`csir.lexicon.load_lexicon`.
        src: source language of the lexicons.

    Returns:
        ``(lexicons, info)``: language → lexicon, and language → path, entry count and the JSON
        sidecar (when present) for ``stats.json``.
    """
    lexicons: dict[str, Mapping[str, Sequence[str]]] = {}
    info: dict[str, dict[str, Any]] = {}
    for lang in langs:
        path = Path(root) / source / f"{src}-{lang}.tsv"
        lexicons[lang] = loader(path)
        sidecar = path.with_suffix(".json")
        info[lang] = {
            "path": str(path),
            "source": source,
            "n_source_entries": len(lexicons[lang]),
            "sidecar": io.read_json(sidecar) if sidecar.is_file() else None,
        }
    return lexicons, info


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
                lang: switch.normalise_lexicon(_need(lexicons, lang, "word"))
                for lang in job.languages
            }
        elif job.method == WIKI_CS:
            self.tables = {
                lang: switch.normalise_phrase_lexicon(_need(titles, lang, "title"), max_n)
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
            _STATS: [],
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
            out[_STATS].append(counts)
        return out


def _need(tables: Mapping[str, Any] | None, lang: str, kind: str) -> Any:
    if not tables or lang not in tables:
        raise ConfigError(f"no {kind} lexicon for language {lang!r} was given")
    return tables[lang]


def switch_dataset(
    pairs,
    switcher: RecordSwitcher,
    *,
    num_proc: int = 1,
    cache_file_name: str | None = None,
    batch_size: int = 500,
):
    """Apply a job to every record with ``Dataset.map`` (sharded over ``num_proc`` processes).

    Returns:
        The mapped ``datasets.Dataset``: switched ``query``/``passage``, ``query_lang``,
        ``doc_lang`` and a per-record list of switch counts.
    """
    import datasets

    features = pairs.features.copy()
    features["query_lang"] = datasets.Value("string")
    features["doc_lang"] = datasets.Value("string")
    features[_STATS] = datasets.Sequence(datasets.Value("int64"))
    fingerprint = hashlib.sha256(
        f"{pairs._fingerprint}|{switcher.job.name}|{switcher.seed}".encode()
    ).hexdigest()[:32]
    return pairs.map(
        switcher,
        batched=True,
        batch_size=batch_size,
        with_indices=True,
        num_proc=num_proc if num_proc > 1 else None,
        features=features,
        load_from_cache_file=False,
        cache_file_name=cache_file_name,
        new_fingerprint=fingerprint,
        desc=switcher.job.name,
    )


def write_jsonl_records(
    path: str | Path, batches: Iterable[dict[str, list]], on_batch: Callable | None = None
) -> tuple[int, str]:
    """Write column batches as JSON lines with :data:`RECORD_KEYS`, atomically.

    Args:
        path: the ``.jsonl`` file.
        batches: dicts of equal-length columns holding at least :data:`RECORD_KEYS`.
        on_batch: called with each batch after it is written (e.g. to add up statistics); an
            exception there leaves no file behind.

    Returns:
        ``(number of records, sha256 of the file)``.
    """
    digest = hashlib.sha256()
    count = 0
    encode = _JSON_LINE.encode  # what json.dumps(record, ensure_ascii=False) uses
    with io.atomic_write(path, "wb") as fh:
        for batch in batches:
            columns = [batch[key] for key in RECORD_KEYS]
            lines = [
                encode(dict(zip(RECORD_KEYS, values, strict=True)))
                for values in zip(*columns, strict=True)
            ]
            if lines:  # one write (and hash update) per batch: the same bytes
                data = ("\n".join(lines) + "\n").encode("utf-8")
                fh.write(data)
                digest.update(data)
                count += len(lines)
            if on_batch is not None:
                on_batch(batch)
    return count, digest.hexdigest()


def _ratio_block(counts: np.ndarray, langs: Sequence[str]) -> dict[str, dict[str, float]]:
    names = [*langs, "all"]
    block = {}
    for slot, name in enumerate(names):
        content, switched = int(counts[2 * slot]), int(counts[2 * slot + 1])
        if content or name == "all":
            block[name] = {
                "content_words": content,
                "switched": switched,
                "ratio": switch.switch_ratio(switched, content),
            }
    return block


def summarise(counts: np.ndarray, job: Job) -> dict[str, Any]:
    """Turn summed per-record counts into per-side and per-language switch ratios."""
    width = len(job.languages) + 1
    sides = counts.reshape(2, 2 * width)
    return {
        "by_side": {side: _ratio_block(sides[i], job.languages) for i, side in enumerate(SIDES)},
        "by_language": _ratio_block(sides.sum(axis=0), job.languages),
    }


def generate(
    pairs,
    job: Job,
    *,
    output_dir: str | Path,
    seed: int,
    stopwords: frozenset[str] | None = None,
    lexicons: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    titles: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    num_proc: int = 1,
    max_n: int = 3,
    info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Generate one job's ``train.jsonl`` and ``stats.json`` (both written atomically).

    Args:
        pairs: ``datasets.Dataset`` with ``qid, pid, query, passage, label`` (English).
        job: what to generate (see :func:`plan_jobs`).
        output_dir: root of ``train/``.
        seed: non-negative seed; with the job and the record index it fixes every draw.
        stopwords: English stopwords (default: :func:`csir.stopwords.stopwords` ``("en")``).
        lexicons: language → EN→language word lexicon (BL-CS, ML-CS).
        titles: language → EN→language entity-title lexicon (Wiki-CS).
        num_proc: worker processes for ``Dataset.map``; the output does not depend on it.
        max_n: longest Wiki-CS n-gram.
        info: JSON-ready extras for ``stats.json`` (lexicon files, training source, ...).

    Returns:
        The statistics written to ``stats.json``.
    """
    stopwords = stopwordlists.stopwords("en") if stopwords is None else stopwords
    switcher = RecordSwitcher(job, seed, stopwords, lexicons, titles, max_n)
    directory = job.directory(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    totals = np.zeros(4 * switcher.width, dtype=np.int64)
    labels = {"positives": 0, "negatives": 0}

    def add(batch: dict[str, list]) -> None:
        nonlocal totals
        if batch[_STATS]:
            totals = totals + np.asarray(batch[_STATS], dtype=np.int64).sum(axis=0)
        positives = sum(batch["label"])
        labels["positives"] += positives
        labels["negatives"] += len(batch["label"]) - positives

    # train.jsonl lands (by rename) only after stats.json is written, and neither on failure.
    with (
        tempfile.TemporaryDirectory(prefix=".work-", dir=directory) as work,
        io.atomic_path(directory / "train.jsonl") as pending,
    ):
        switched = switch_dataset(
            pairs, switcher, num_proc=num_proc, cache_file_name=str(Path(work) / "switched.arrow")
        )
        count, sha = write_jsonl_records(pending, switched.iter(batch_size=2000), on_batch=add)
        del switched
        stats = {
            "method": job.method,
            "pair": job.pair,
            "p": job.p,
            "seed": seed,
            "languages": list(job.languages),
            "record_languages": (
                "drawn per record" if job.method == WIKI_CS else list(job.record_languages())
            ),
            "records": count,
            **labels,
            "train_file": "train.jsonl",
            "sha256": sha,
            "switch_ratio": summarise(totals, job),
            "stopwords": {"lang": "en", "source": "stopwordsiso", "count": len(stopwords)},
            "tokenizer": "nltk Treebank (patterns on stdlib re); translations spliced into text",
            "wiki_max_ngram": max_n if job.method == WIKI_CS else None,
            **dict(info or {}),
        }
        io.write_json(directory / "stats.json", stats)
    return stats


def write_dev_set(
    pairs, output_dir: str | Path, info: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Write English dev pairs unswitched to ``<output_dir>/dev/en-en/dev.jsonl`` (+ stats.json).

    Used for model selection; records carry ``query_lang = doc_lang = "en"``.
    """
    directory = Path(output_dir) / "dev" / "en-en"
    labels = {"positives": 0, "negatives": 0}

    def batches():
        for batch in pairs.iter(batch_size=2000):
            size = len(batch["qid"])
            positives = sum(batch["label"])
            labels["positives"] += positives
            labels["negatives"] += size - positives
            yield {**batch, "query_lang": ["en"] * size, "doc_lang": ["en"] * size}

    with io.atomic_path(directory / "dev.jsonl") as pending:
        count, sha = write_jsonl_records(pending, batches())
        stats = {
            "records": count,
            **labels,
            "queries": len(set(pairs["qid"])),
            "dev_file": "dev.jsonl",
            "sha256": sha,
            **dict(info or {}),
        }
        io.write_json(directory / "stats.json", stats)
    return stats


def generate_all(
    pairs,
    jobs: Sequence[Job],
    *,
    output_dir: str | Path,
    seed: int,
    lexicons: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    titles: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    lexicon_info: Mapping[str, Any] | None = None,
    titles_info: Mapping[str, Any] | None = None,
    train_info: Mapping[str, Any] | None = None,
    num_proc: int = 1,
    max_n: int = 3,
) -> list[dict[str, Any]]:
    """Run :func:`generate` for every job; each ``stats.json`` names the lexicons it used.

    Args:
        pairs: English training pairs (``datasets.Dataset``).
        jobs: from :func:`plan_jobs`.
        output_dir: root of ``train/``.
        seed: seed of every job.
        lexicons / titles: language → lexicon, as from :func:`load_lexicons`.
        lexicon_info / titles_info: language → file info, as from :func:`load_lexicons`.
        train_info: JSON-ready description of the training pairs (source, split, limits).
        num_proc: worker processes per job.
        max_n: longest Wiki-CS n-gram.

    Returns:
        The statistics of every job, in job order.
    """
    from tqdm.auto import tqdm

    # Normalise each lexicon once, not once per job.
    lexicons = {lang: switch.normalise_lexicon(lex) for lang, lex in (lexicons or {}).items()}
    titles = {
        lang: switch.normalise_phrase_lexicon(lex, max_n) for lang, lex in (titles or {}).items()
    }
    results = []
    for job in tqdm(jobs, desc="training sets"):
        used = lexicon_info if job.method in (BL_CS, ML_CS) else titles_info
        info = {
            "lexicons": {lang: (used or {}).get(lang) for lang in job.languages},
            "train_data": dict(train_info or {}),
        }
        results.append(
            generate(
                pairs,
                job,
                output_dir=output_dir,
                seed=seed,
                lexicons=lexicons,
                titles=titles,
                num_proc=num_proc,
                max_n=max_n,
                info=info,
            )
        )
    return results
