"""BLI precision@1 with the MUSE protocol, script normalisation, and the result table."""

from __future__ import annotations

import csv

import pytest

from csir import text
from csir.lexicon import bli

GOLD = {"dog": ["hund"], "cat": ["katze", "kater"], "house": ["haus"], "gnu": ["gnu"]}


def test_precision_counts_covered_words_and_any_gold_translation():
    predictions = {"dog": "hund", "cat": "kater", "house": "hund"}
    result = bli.bli_precision(predictions, GOLD, {"dog", "cat", "house", "tree"}, {"hund"})
    assert result.n_test_words == 4
    assert result.n_evaluated == 3  # "gnu" is not in the source vocabulary
    assert result.coverage == pytest.approx(0.75)
    assert result.n_correct == 2
    assert result.precision_at_1 == pytest.approx(2 / 3)
    assert result.n_test_pairs == 4  # dog 1 + cat 2 + house 1
    assert result.n_target_reachable == 1 and result.target_reachable == pytest.approx(1 / 3)


def test_covered_word_without_prediction_is_wrong_and_empty_case_is_zero():
    result = bli.bli_precision({}, GOLD, {"dog"})
    assert (result.n_evaluated, result.n_correct, result.precision_at_1) == (1, 0, 0.0)
    nothing = bli.bli_precision({}, GOLD, set())
    assert nothing.precision_at_1 == 0.0 and nothing.coverage == 0.0
    assert nothing.target_reachable is None


def test_chinese_gold_is_normalised_to_simplified_and_counted():
    gold = {"chinese": ["漢語", "汉语"], "country": ["國家"], "dog": ["狗"]}
    normalised, changed = bli.normalize_gold(gold, "zh")
    assert normalised == {"chinese": ["汉语"], "country": ["国家"], "dog": ["狗"]}
    assert changed == 2
    assert bli.normalize_gold(gold, "ja") == (gold, 0)  # no script conversion elsewhere
    assert text.to_simplified(["國家", "dog"]) == ["国家", "dog"]


def test_evaluate_lexicon_judges_chinese_after_normalisation():
    lexicon = {"country": ["国家"], "dog": ["猫"], "chinese": ["漢語"]}
    gold = {"chinese": ["漢語"], "country": ["國家"], "dog": ["狗"]}
    result = bli.evaluate_lexicon(lexicon, gold, "zh", target_vocab=["国家", "猫", "漢語"])
    assert result.n_correct == 2 and result.n_gold_changed == 2
    assert result.n_target_reachable == 2


def test_bli_csv_has_exactly_the_agreed_columns(tmp_path):
    result = bli.bli_precision({"dog": "hund"}, GOLD, {"dog"})
    rows = [bli.result_row("backbone-e5", m, "en", "de", result) for m in ("nn", "csls")]
    table = bli.write_bli_table(rows, tmp_path)
    with open(tmp_path / "bli.csv", newline="", encoding="utf-8") as fh:
        read = list(csv.DictReader(fh))
    assert list(read[0]) == [
        "source",
        "method",
        "src_lang",
        "tgt_lang",
        "precision_at_1",
        "n_test_pairs",
    ]
    assert read[0]["source"] == "backbone-e5" and float(read[0]["precision_at_1"]) == 1.0
    assert "coverage" in table.columns and (tmp_path / "bli_details.csv").is_file()


def test_capitalised_and_decomposed_gold_is_compared_as_the_vocabulary_is_written():
    # German nouns are capitalised in BLI test dictionaries; the candidate words are not.
    gold = {"dog": ["Hund"], "Cat": ["Katze"], "coffee": ["Cafe\u0301"], "house": ["Haus"]}
    lexicon = {"dog": ["hund"], "cat": ["katze"], "coffee": ["café"], "house": ["hund"]}
    result = bli.evaluate_lexicon(lexicon, gold, "de", target_vocab=["hund", "katze", "café"])
    assert (result.n_evaluated, result.n_correct) == (4, 3)
    assert result.n_gold_changed == 4  # every gold translation was changed to compare
    assert result.n_target_reachable == 3
    normalised, _ = bli.normalize_gold({"Dog": ["Hund"], "dog": ["hund", "Köter"]}, "de")
    assert normalised == {"dog": ["hund", "köter"]}  # entries that become equal are merged
