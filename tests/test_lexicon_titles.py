"""CLDR parallel-entity titles and the wikititles wrapper."""

from __future__ import annotations

import pytest

from csir.errors import ConfigError
from csir.lexicon import titles


def test_cldr_titles_pair_english_and_german_names():
    pairs, counts = titles.cldr_title_pairs("de")
    assert ("Germany", "Deutschland") in pairs
    assert ("United States", "Vereinigte Staaten") in pairs  # multiword names stay phrases
    assert ("German", "Deutsch") in pairs  # languages
    assert counts["territories"] > 200 and counts["languages"] > 100
    assert counts["currencies"] > 100 and counts["scripts"] > 50
    assert all("\t" not in s and "\t" not in t for s, t in pairs)


def test_cldr_titles_chinese_are_simplified():
    pairs = dict(titles.cldr_title_pairs("zh")[0])
    assert pairs["Germany"] == "德国"


def test_cldr_unknown_language_and_kind():
    with pytest.raises(ConfigError, match="unknown language code 'xx'"):
        titles.cldr_title_pairs("xx")
    with pytest.raises(ValueError, match="CLDR kind 'months'"):
        titles.cldr_names("de", "months")


def test_wikititles_pairs(write_file):
    path = write_file(
        "wikititles-2014_deen.xml",
        '<r><t id="1"><entry lang="en">Germany</entry><entry lang="de">Deutschland</entry></t></r>',
    )
    assert titles.wikititles_pairs(path, "en", "de") == [("Germany", "Deutschland")]
