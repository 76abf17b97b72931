"""Notebook 01's steps on a tiny local mirror (MUSE dictionaries and .vec files)."""

from __future__ import annotations

import csv

import pytest

from csir.lexicon import bli, load_lexicon, steps
from csir.lexicon.store import read_sidecar

EN_VEC = "4 3\ndog 1 0 0\ncat 0 1 0\nhouse 0 0 1\ntree 1 1 0\n"
DE_VEC = "4 3\nhund 0.9 0.1 0\nkatze 0.1 0.9 0\nhaus 0 0.1 0.9\nbaum 1 1 0.1\n"


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    root = tmp_path / "mirror"
    files = {
        "muse/en-de.txt": "dog hund\ncat katze\ncat kater\ndog hund\n",
        "muse/en-fr.txt": "dog chien\n",
        "muse/de-en.txt": "hund dog\nkatze cat\n",
        "muse-test/en-de.5000-6500.txt": "dog hund\ncat katze\ncat kater\ngnu gnu\n",
        "muse-vec/wiki.multi.en.vec": EN_VEC,
        "muse-vec/wiki.multi.de.vec": DE_VEC,
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    monkeypatch.setenv("CSIR_DATA_DIR", str(root))
    monkeypatch.setenv("CSIR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CSIR_OFFLINE", "1")
    return root


def test_muse_lexicons_both_directions(mirror, tmp_path):
    out = tmp_path / "lexicons"
    summary = steps.write_muse_lexicons(["de", "fr"], out)
    assert load_lexicon(out / "muse" / "en-de.tsv") == {"dog": ["hund"], "cat": ["katze", "kater"]}
    assert read_sidecar(out / "muse" / "de-en.tsv")["method"] == "muse-ground-truth"
    assert load_lexicon(out / "muse" / "fr-en.tsv") == {"chien": ["dog"]}  # no fr-en: inverted
    assert read_sidecar(out / "muse" / "fr-en.tsv")["method"] == "inverted"
    assert list(summary["n_entries"]) == [3, 2, 1, 1]


def test_title_lexicons_from_cldr(tmp_path):
    out = tmp_path / "lexicons"
    steps.write_title_lexicons(["de"], out)
    assert "Deutschland" in load_lexicon(out / "titles" / "en-de.tsv")["Germany"]
    assert read_sidecar(out / "titles" / "en-de.tsv")["counts"]["territories"] > 200


def test_induce_and_evaluate_with_muse_vectors(mirror, tmp_path):
    out = tmp_path / "lexicons"
    results = steps.induce_and_evaluate(
        ["de"],
        out,
        clwe_source="muse-vec",
        cache_dir=tmp_path / "vec",
        backbone="unused",
        en_vocab_size=10,
        tgt_vocab_size=10,
        csls_k=2,
        center_vectors=False,
    )
    assert list(results["method"]) == ["nn", "csls"]
    assert set(results["source"]) == {"muse-vec"}
    nn = results.iloc[0]
    assert nn["n_evaluated"] == 2 and nn["n_test_words"] == 3  # "gnu" has no vector
    assert nn["precision_at_1"] == 1.0 and nn["n_test_pairs"] == 3
    assert load_lexicon(out / "clwe_nn" / "en-de.tsv")["house"] == ["haus"]
    assert read_sidecar(out / "clwe_csls" / "en-de.tsv")["parameters"]["csls_k"] == 2
    bli.write_bli_table(results.to_dict("records"), tmp_path)
    with open(tmp_path / "bli.csv", newline="", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 2
    wide = steps.bli_table(results)
    assert list(wide.columns[:2]) == ["P@1 nn", "P@1 csls"]
    summary = steps.lexicon_summary(out)
    assert set(summary["source"]) == {"clwe_nn", "clwe_csls"}


def test_vector_source_label():
    assert steps.vector_source_label("backbone", "e5-small-offline") == "backbone-e5"
    assert steps.vector_source_label("muse-vec", "x") == "muse-vec"
    assert steps.vector_source_label("backbone", "xlm-roberta-base") == "backbone-xlm-roberta-base"


def test_every_missing_muse_dictionary_is_named_before_any_lexicon_is_written(mirror, tmp_path):
    from csir.errors import CsirError

    out = tmp_path / "lexicons"
    with pytest.raises(CsirError) as info:
        steps.write_muse_lexicons(["de", "el", "th"], out)
    message = str(info.value)
    assert "el: muse/en-el.txt" in message and "th: muse/en-th.txt" in message
    assert "MUSE dictionaries for: de, fr" in message and "drop el, th from languages" in message
    assert not (out / "muse" / "en-de.tsv").exists()  # nothing written before the error


def test_every_missing_test_dictionary_is_named_before_any_language_is_induced(mirror, tmp_path):
    from csir.errors import CsirError

    out = tmp_path / "lexicons"
    with pytest.raises(CsirError, match=r"fr: muse-test/en-fr\.5000-6500\.txt") as info:
        steps.induce_and_evaluate(
            ["de", "fr"], out, clwe_source="muse-vec", cache_dir=tmp_path / "vec", backbone="x"
        )
    assert "de:" not in str(info.value)
    assert not (out / "clwe_nn" / "en-de.tsv").exists()  # de was not induced first
