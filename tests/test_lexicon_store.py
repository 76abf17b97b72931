"""Lexicon TSV + sidecar files, the loader, and atomic writing."""

from __future__ import annotations

import json

import pytest

from csir.errors import ConfigError, InputError
from csir.lexicon import lexicon_path, load_lexicon, write_lexicon
from csir.lexicon.store import read_sidecar


def test_write_and_load_round_trip_with_sidecar(tmp_path):
    path = lexicon_path(tmp_path, "muse", "en", "de")
    assert path == tmp_path / "muse" / "en-de.tsv"
    pairs = [("the", "die"), ("the", "der"), ("the", "die"), ("United States", "USA")]
    meta = write_lexicon(
        path,
        pairs,
        source="muse",
        method="muse-ground-truth",
        parameters={"file": "muse/en-de.txt"},
        counts={"extra": 1},
    )
    assert path.read_text(encoding="utf-8") == "the\tdie\nthe\tder\nUnited States\tUSA\n"
    assert load_lexicon(path) == {"the": ["die", "der"], "United States": ["USA"]}
    sidecar = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert sidecar == meta == read_sidecar(path)
    assert sidecar["counts"] == {
        "extra": 1,
        "n_entries": 3,
        "n_source_words": 2,
        "n_target_words": 3,
    }
    assert sidecar["source"] == "muse" and sidecar["parameters"] == {"file": "muse/en-de.txt"}


def test_empty_lexicon_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "clwe_nn" / "en-de.tsv"
    write_lexicon(path, [], source="clwe_nn", method="nn")
    with pytest.raises(InputError, match=r"en-de\.tsv: the lexicon is empty \(re-run notebook 01"):
        load_lexicon(path)
    with pytest.raises(FileNotFoundError, match="run notebook 01"):
        load_lexicon(tmp_path / "missing.tsv")


def test_unknown_source_and_unstorable_pairs_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="lexicon source 'wiki' must be one of"):
        lexicon_path(tmp_path, "wiki", "en", "de")
    with pytest.raises(ValueError, match="tab or newline"):
        write_lexicon(tmp_path / "x.tsv", [("a\tb", "c")], source="muse", method="m")


def test_interrupted_write_leaves_no_file(tmp_path):
    path = tmp_path / "titles" / "en-de.tsv"

    def pairs():
        yield ("Germany", "Deutschland")
        raise KeyboardInterrupt  # the user stops the run half-way

    with pytest.raises(KeyboardInterrupt):
        write_lexicon(path, pairs(), source="titles", method="cldr")
    assert not path.exists() and not path.with_suffix(".json").exists()

    write_lexicon(path, [("Germany", "Deutschland")], source="titles", method="cldr")
    original = path.read_text(encoding="utf-8")
    # the second line cannot be encoded, so the write fails after the first line went out
    with pytest.raises(UnicodeEncodeError):
        write_lexicon(
            path, [("France", "Frankreich"), ("bad", "\ud800")], source="titles", method="cldr"
        )
    assert path.read_text(encoding="utf-8") == original  # the old file survives intact
    assert sorted(p.name for p in path.parent.iterdir()) == ["en-de.json", "en-de.tsv"]
