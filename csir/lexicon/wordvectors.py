"""Offline cross-lingual word vectors: frequent words encoded by the multilingual backbone.

Without MUSE's aligned fastText vectors, every word of a frequency list (PyPI ``wordfreq``) is
encoded on its own by the multilingual sentence encoder (mean-pooled, L2-normalised); the shared
multilingual space then stands in for an aligned CLWE space.

Word filter (:func:`is_vocabulary_word`): a vocabulary entry must consist of Unicode letters and
combining marks only (categories ``L*``/``M*``; marks are needed for Devanagari vowel signs, which
``str.isalpha`` rejects), start with a letter and equal its own lower-case form. This drops
numbers, punctuation, clitic fragments (``'s``), URLs and emoji that ``wordfreq`` lists.

Vectors are cached per language as ``.npy`` (``allow_pickle=False``) plus a word list and a JSON
record of how they were made; a later call with the same backbone, prefix and length limit only
encodes the words the cache lacks.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from csir import io, languages
from csir.lexicon.readers import WordVectors

#: Encodes a batch of words to an ``(n, dim)`` float32 array of unit vectors.
Encoder = Callable[[Sequence[str]], np.ndarray]

WORD_FILTER = "unicode letters/marks only, starts with a letter, lower-case"


def is_vocabulary_word(token: str) -> bool:
    """True for a lower-case token of letters and combining marks that starts with a letter."""
    if not token or not unicodedata.category(token[0]).startswith("L"):
        return False
    if token != token.lower():
        return False
    return all(unicodedata.category(c)[0] in "LM" for c in token)


def frequent_words(lang: str, n: int, *, wordlist: str = "best") -> list[str]:
    """The ``n`` most frequent words of ``lang`` (``wordfreq``) passing :func:`is_vocabulary_word`.

    Fewer than ``n`` are returned when the frequency list runs out.

    Example:
        >>> frequent_words("de", 5)  # doctest: +SKIP
        ['die', 'der', 'und', 'in', 'das']
    """
    from wordfreq import top_n_list

    languages.check_language(lang)
    fetch = max(2 * n, 100)
    while True:
        ranked = top_n_list(lang, fetch, wordlist=wordlist)
        kept = [w for w in dict.fromkeys(ranked) if is_vocabulary_word(w)]
        if len(kept) >= n or len(ranked) < fetch:
            return kept[:n]
        fetch *= 2


def backbone_encoder(
    backbone: str,
    *,
    prefix: str = "",
    batch_size: int = 512,
    max_length: int = 32,
    device: str = "cpu",
) -> Encoder:
    """An :data:`Encoder` over :func:`csir.backbones.encode`; the model is loaded once, lazily.

    Args:
        backbone: HF id, local folder, or ``"e5-small-offline"``.
        prefix: text put before every word (e5 models are trained with ``"query: "``).
        batch_size: words per forward pass.
        max_length: token limit; single words are short, so a small value saves padding.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
    """
    from csir import backbones
    from csir.devices import resolve_device

    state: dict = {}
    dev = resolve_device(str(device))

    def encode(words: Sequence[str]) -> np.ndarray:
        if "model" not in state:
            state["model"] = backbones.load_encoder(backbone, dev)
            state["tokenizer"] = backbones.load_tokenizer(backbone)
        vectors = backbones.encode(
            list(words),
            backbone,
            model=state["model"],
            tokenizer=state["tokenizer"],
            batch_size=batch_size,
            max_length=max_length,
            device=dev,
            prefix=prefix,
        )
        return vectors.numpy().astype(np.float32, copy=False)

    return encode


def _slug(text: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[-40:] or "x"
    return f"{clean}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def vector_cache_stem(
    cache_dir: str | Path, lang: str, backbone: str, prefix: str, max_length: int
) -> Path:
    """``<cache_dir>/<backbone-slug>/<lang>.<prefix+length-slug>``; files add ``.npy`` etc."""
    key = f"{prefix or 'noprefix'}-len{max_length}"
    return Path(cache_dir) / _slug(backbone) / f"{lang}.{_slug(key)}"


def cache_file(stem: Path, ext: str) -> Path:
    """``stem`` plus ``ext`` (``.npy``, ``.words.txt``, ``.json``), keeping dots in the stem."""
    return stem.with_name(stem.name + ext)


def _load_cache(stem: Path) -> tuple[list[str], np.ndarray]:
    npy, txt = cache_file(stem, ".npy"), cache_file(stem, ".words.txt")
    if not (npy.is_file() and txt.is_file()):
        return [], np.zeros((0, 0), dtype=np.float32)
    words = [line for _, line in io.read_lines(txt)]
    vectors = np.load(npy, allow_pickle=False)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):  # a stale or foreign cache
        return [], np.zeros((0, 0), dtype=np.float32)
    return words, vectors


def _save(stem: Path, words: Sequence[str], vectors: np.ndarray, meta: dict) -> None:
    with io.atomic_write(cache_file(stem, ".npy"), "wb") as fh:
        np.save(fh, vectors, allow_pickle=False)
    with io.atomic_write(cache_file(stem, ".words.txt")) as fh:
        fh.writelines(f"{w}\n" for w in words)
    io.write_json(cache_file(stem, ".json"), meta)


def encode_words(words: Sequence[str], encoder: Encoder, *, slice_size: int = 4096) -> np.ndarray:
    """Encode ``words`` in slices (so a progress bar shows), returning a float32 matrix."""
    from tqdm.auto import tqdm

    parts = [
        encoder(words[i : i + slice_size])
        for i in tqdm(
            range(0, len(words), slice_size),
            desc="encode words",
            unit="slice",
            disable=len(words) <= slice_size,
        )
    ]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 0), np.float32)


def encode_cached(
    lang: str,
    words: Sequence[str],
    *,
    cache_dir: str | Path,
    backbone: str,
    prefix: str = "",
    max_length: int = 32,
    encoder: Encoder | None = None,
    **encoder_kwargs,
) -> np.ndarray:
    """Vectors of ``words`` (in order), encoding only those missing from the language's cache.

    The cache ``<cache_dir>/<backbone>/<lang>.<prefix,max_length>.{npy,words.txt,json}`` grows
    with every new word, so frequent-word lists of any size and extra words share it.

    Args:
        lang: language code (one cache per language).
        words: words to look up; unseen ones are encoded and appended to the cache.
        cache_dir: folder of the cache files.
        backbone: names the encoder in the cache key (and builds it when ``encoder`` is None).
        prefix: text before every word; part of the cache key.
        max_length: token limit per word; part of the cache key.
        encoder: an :data:`Encoder` to use instead of :func:`backbone_encoder` (tests, custom
            models); it must match ``backbone`` and ``prefix`` for the cache to be meaningful.
        **encoder_kwargs: ``batch_size`` and ``device`` for :func:`backbone_encoder`.
    """
    stem = vector_cache_stem(cache_dir, lang, backbone, prefix, max_length)
    cached_words, cached = _load_cache(stem)
    row = {w: i for i, w in enumerate(cached_words)}
    missing = [w for w in dict.fromkeys(words) if w not in row]
    if missing:
        if encoder is None:
            encoder = backbone_encoder(
                backbone, prefix=prefix, max_length=max_length, **encoder_kwargs
            )
        new = encode_words(missing, encoder)
        cached = np.concatenate([cached, new]) if cached.size else new
        for word in missing:
            row[word] = len(row)
        cached_words = cached_words + missing
        meta = {
            "lang": lang,
            "backbone": backbone,
            "prefix": prefix,
            "max_length": max_length,
            "n_words": len(cached_words),
            "word_filter": WORD_FILTER,
        }
        _save(stem, cached_words, cached, meta)
    return cached[[row[w] for w in words]] if len(words) else cached[:0]


def cached_word_vectors(
    lang: str,
    n: int,
    *,
    extra_words: Sequence[str] = (),
    **kwargs,
) -> WordVectors:
    """Vectors of the ``n`` most frequent words of ``lang`` (plus ``extra_words``), cached.

    Args:
        lang: language code.
        n: frequent-word vocabulary size (after :func:`is_vocabulary_word` filtering).
        extra_words: words appended to the vocabulary when not already in it (e.g. the BLI test
            source words: the backbone embeds any word, unlike a fixed ``.vec`` vocabulary).
        **kwargs: ``cache_dir``, ``backbone``, ``prefix``, ``max_length``, ``encoder``,
            ``batch_size``, ``device`` as for :func:`encode_cached`.
    """
    words = frequent_words(lang, n)
    known = set(words)
    words += [w for w in dict.fromkeys(extra_words) if w not in known]
    return WordVectors(words, encode_cached(lang, words, **kwargs))
