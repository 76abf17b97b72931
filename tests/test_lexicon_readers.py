"""Readers of MUSE dictionaries, .vec files, linguatools titles XML and TSV lexicons."""

from __future__ import annotations

import numpy as np
import pytest

from csir.errors import ConfigError, DataNotFoundError, InputError
from csir.lexicon import readers


def test_muse_dictionary_keeps_order_and_several_translations(write_file):
    path = write_file("en-de.txt", "the die\nthe der\ndog hund\n\nthe die\ncat\tkatze\n")
    assert readers.read_muse_pairs(path) == [
        ("the", "die"),
        ("the", "der"),
        ("dog", "hund"),
        ("the", "die"),
        ("cat", "katze"),
    ]
    assert readers.read_muse_dictionary(path) == {
        "the": ["die", "der"],
        "dog": ["hund"],
        "cat": ["katze"],
    }


@pytest.mark.parametrize("bad_line", ["lonely", "three words here"])
def test_muse_dictionary_bad_line_names_file_and_line(write_file, bad_line):
    path = write_file("en-de.txt", f"dog hund\n{bad_line}\n")
    with pytest.raises(InputError, match=r"en-de\.txt:2: expected 2 whitespace-separated") as info:
        readers.read_muse_pairs(path)
    assert info.value.line == 2
    assert "one 'source target' pair per line" in str(info.value)


def test_non_utf8_file_names_file_and_line(write_file):
    path = write_file("en-de.txt", b"dog hund\n" + "café kaffee\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"en-de\.txt:2: not valid UTF-8.*iconv"):
        readers.read_muse_pairs(path)


def test_tsv_lexicon_reads_phrases_and_rejects_lines_without_tab(write_file):
    path = write_file("en-de.tsv", "United States\tVereinigte Staaten\ndog\thund\n")
    assert readers.read_tsv_pairs(path) == [
        ("United States", "Vereinigte Staaten"),
        ("dog", "hund"),
    ]
    bad = write_file("bad.tsv", "dog\thund\ncat katze\n")
    with pytest.raises(InputError, match=r"bad\.tsv:2: expected 'source<TAB>target'"):
        readers.read_tsv_pairs(bad)
    empty_side = write_file("side.tsv", "dog\t\n")
    with pytest.raises(InputError, match=r"side\.tsv:1"):
        readers.read_tsv_pairs(empty_side)


VEC = "4 3\nthe 0.1 0.2 0.3\nof 1 0 0\nbroken 1 2\nand 0 1 0\ndog 0 0 1\n"


def test_vec_reader_skips_and_reports_a_wrong_length_line(write_file):
    path = write_file("wiki.multi.en.vec", VEC)
    with pytest.warns(
        UserWarning, match=r"skipped 1 line\(s\) without exactly 3 numbers \(lines 4\)"
    ):
        vectors = readers.read_vec(path)
    assert vectors.words == ["the", "of", "and", "dog"]
    assert vectors.vectors.dtype == np.float32
    assert vectors.vectors.shape == (4, 3)
    np.testing.assert_allclose(vectors.vectors[0], [0.1, 0.2, 0.3], rtol=1e-6)
    assert vectors.n_skipped == 1 and vectors.skipped_lines == (4,)
    assert vectors.index()["dog"] == 3


def test_vec_reader_max_words_and_duplicates(write_file):
    path = write_file("a.vec", "3 2\na 1 0\na 0 1\nb 0 1\nc 1 1\n")
    vectors = readers.read_vec(path, max_words=2)
    assert vectors.words == ["a", "b"] and vectors.duplicates == 1
    np.testing.assert_array_equal(vectors.vectors[0], [1, 0])


@pytest.mark.parametrize("header", ["", "the 0.1 0.2", "10", "10 0", "x 300"])
def test_vec_reader_bad_header_is_an_error(write_file, header):
    path = write_file("bad.vec", f"{header}\nthe 0.1 0.2\n")
    with pytest.raises(InputError, match=r"bad\.vec:1: bad header.*'n_words dim'"):
        readers.read_vec(path)


WIKITITLES = """<?xml version="1.0" encoding="UTF-8"?>
<wikipediaTitles>
  <translation id="1">
    <entry lang="de">Deutschland</entry>
    <entry lang="en">Germany</entry>
    <redirects lang="en"><redirect>Federal Republic of Germany</redirect></redirects>
  </translation>
  <translation id="2">
    <entry lang="de">Vereinigte Staaten</entry>
    <entry lang="en">United States</entry>
  </translation>
  <translation id="3">
    <entry lang="en">Only English</entry>
  </translation>
</wikipediaTitles>
"""


def test_wikititles_reader_streams_pairs_in_both_directions(write_file):
    path = write_file("wikititles-2014_deen.xml", WIKITITLES)
    assert list(readers.iter_wikititles(path, "en", "de")) == [
        ("Germany", "Deutschland"),
        ("United States", "Vereinigte Staaten"),
    ]
    assert list(readers.iter_wikititles(path, "de", "en"))[0] == ("Deutschland", "Germany")


def test_wikititles_reader_errors(write_file):
    wrong_name = write_file("titles.xml", WIKITITLES)
    with pytest.raises(InputError, match="wikititles-2014_<xx><yy>.xml"):
        list(readers.iter_wikititles(wrong_name, "en", "de"))
    path = write_file("wikititles-2014_deen.xml", WIKITITLES)
    with pytest.raises(InputError, match="holds de-en titles, not en-fr"):
        list(readers.iter_wikititles(path, "en", "fr"))
    broken = write_file(
        "wikititles-2014_esen.xml", "<root>\n<translation id='1'>\n<entry>\n</root>"
    )
    with pytest.raises(InputError, match=r"wikititles-2014_esen\.xml:4: malformed XML"):
        list(readers.iter_wikititles(broken, "en", "es"))


def test_unknown_language_code_is_rejected():
    with pytest.raises(ConfigError, match="unknown language code 'xx'"):
        readers.muse_dictionary_path("en", "xx")
    with pytest.raises(ConfigError, match="unknown language code 'klingon'"):
        readers.muse_vectors_path("klingon")
    with pytest.raises(ConfigError, match="split 'dev'"):
        readers.muse_dictionary_path("en", "de", split="dev")


def test_mirror_is_used_before_anything_else(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "muse-test").mkdir(parents=True)
    (mirror / "muse-test" / "en-de.5000-6500.txt").write_text("dog hund\n", encoding="utf-8")
    monkeypatch.setenv("CSIR_DATA_DIR", str(mirror))
    monkeypatch.setenv("CSIR_OFFLINE", "1")
    path = readers.muse_dictionary_path("en", "de", split="test")
    assert path == mirror / "muse-test" / "en-de.5000-6500.txt"


def test_missing_file_names_mirror_cache_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv("CSIR_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("CSIR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CSIR_OFFLINE", "1")
    with pytest.raises(DataNotFoundError) as info:
        readers.muse_dictionary_path("en", "de")
    message = str(info.value)
    assert str(tmp_path / "mirror" / "muse" / "en-de.txt") in message
    assert str(tmp_path / "cache" / "data" / "muse" / "en-de.txt") in message
    assert "https://dl.fbaipublicfiles.com/arrival/dictionaries/en-de.txt" in message
    with pytest.raises(DataNotFoundError, match=r"arrival/vectors/wiki\.multi\.de\.vec"):
        readers.muse_vectors_path("de")
    with pytest.raises(DataNotFoundError, match=r"wikititles-2014_deen\.xml(.|\n)*linguatools"):
        readers.wikititles_path("en", "de")
