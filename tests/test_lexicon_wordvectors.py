"""Frequent-word vocabularies and the word-vector cache (fake encoder; real backbone is slow)."""

from __future__ import annotations

import numpy as np
import pytest

from csir.lexicon import wordvectors as wv


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("hund", True),
        ("straße", True),
        ("हिंदी", True),
        ("中国", True),
        ("ع", True),
        ("Berlin", False),
        ("'s", False),
        ("mp3", False),
        ("e-mail", False),
        ("", False),
        ("\u093fa", False),
    ],  # a token may not start with a combining mark
)
def test_word_filter(token, expected):
    assert wv.is_vocabulary_word(token) is expected


def test_frequent_words_are_filtered_and_ranked():
    words = wv.frequent_words("de", 300)
    assert len(words) == 300 and words[:3] == ["die", "der", "und"]
    assert all(wv.is_vocabulary_word(w) for w in words) and len(set(words)) == 300
    assert wv.frequent_words("de", 50) == words[:50]
    assert all(wv.is_vocabulary_word(w) for w in wv.frequent_words("hi", 200))


class FakeEncoder:
    """Deterministic 4-d vectors from the word's characters; counts the words it encodes."""

    def __init__(self):
        self.encoded: list[str] = []

    def __call__(self, words):
        self.encoded += list(words)
        rows = [[len(w), sum(map(ord, w)) % 7, ord(w[0]) % 5, 1.0] for w in words]
        vectors = np.asarray(rows, dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_cache_encodes_each_word_once_and_keeps_order(tmp_path):
    fake = FakeEncoder()
    kwargs = dict(cache_dir=tmp_path, backbone="fake", prefix="query: ", encoder=fake)
    first = wv.encode_cached("de", ["hund", "katze", "hund"], **kwargs)
    assert fake.encoded == ["hund", "katze"]
    assert first.shape == (3, 4) and np.array_equal(first[0], first[2])
    again = wv.encode_cached("de", ["maus", "katze"], **kwargs)
    assert fake.encoded == ["hund", "katze", "maus"]  # only the new word was encoded
    np.testing.assert_array_equal(again[1], first[1])
    stem = wv.vector_cache_stem(tmp_path, "de", "fake", "query: ", 32)
    words_file = wv.cache_file(stem, ".words.txt")
    assert words_file.read_text(encoding="utf-8") == "hund\nkatze\nmaus\n"
    np.load(wv.cache_file(stem, ".npy"), allow_pickle=False)  # plain array, no pickle
    keys = [("query: ", 32), ("", 32), ("query: ", 16), ("passage: ", 32)]
    files = {
        wv.cache_file(wv.vector_cache_stem(tmp_path, "de", "fake", p, n), ".npy") for p, n in keys
    }
    assert len(files) == len(keys)  # prefix and length limit each get their own cache


def test_cached_word_vectors_adds_extra_words(tmp_path):
    fake = FakeEncoder()
    vectors = wv.cached_word_vectors(
        "de",
        20,
        extra_words=["die", "zzzwort"],
        cache_dir=tmp_path,
        backbone="fake",
        encoder=fake,
    )
    assert len(vectors.words) == 21 and vectors.words[-1] == "zzzwort"
    assert vectors.vectors.shape == (21, 4)
    smaller = wv.cached_word_vectors("de", 10, cache_dir=tmp_path, backbone="fake", encoder=fake)
    assert len(fake.encoded) == 21  # served from the cache
    np.testing.assert_array_equal(smaller.vectors, vectors.vectors[:10])


@pytest.mark.slow
def test_backbone_word_vectors_put_translations_close(tmp_path):
    encode = wv.backbone_encoder("e5-small-offline", prefix="query: ", batch_size=8)
    en, de = encode(["dog", "house", "water"]), encode(["hund", "haus", "wasser"])
    assert en.shape == (3, 384) and np.allclose(np.linalg.norm(en, axis=1), 1, atol=1e-4)
    assert (np.argmax(en @ de.T, axis=1) == [0, 1, 2]).all()
