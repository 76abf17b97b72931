"""Bilingual lexicon induction (BLI) precision@1 against MUSE-format test dictionaries.

Protocol (MUSE): a test source word is evaluated if it is in the source vocabulary (coverage is
reported); it is correct if the predicted target equals any of its gold translations. Precision is
over unique evaluated source words. ``n_test_pairs`` counts the gold pairs whose source word was
evaluated (what MUSE logs as "found pairs").

MUSE's own loader also drops pairs whose *target* is outside the target vocabulary; with the small
frequency-list vocabularies used offline that would hide most misses, so it is not done here. The
share of evaluated words with at least one gold translation in the target vocabulary is reported
instead (``target_reachable``): it bounds precision from above.

Words are compared under one normalisation (:func:`normalize_word`), applied to gold sources and
targets, predictions and both vocabularies alike: Unicode NFC, lower case (BLI test dictionaries
write German nouns capitalised, the candidate vocabularies are lower-case frequency lists), and for
Chinese Simplified script: the MUSE en-zh gold is mostly Traditional, ``wordfreq`` lists
Simplified, so both are converted with OpenCC (``t2s``). ``n_gold_changed`` counts the gold
translations the normalisation changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from csir import io

#: Exact columns of ``bli.csv``.
BLI_COLUMNS = ("source", "method", "src_lang", "tgt_lang", "precision_at_1", "n_test_pairs")


@dataclasses.dataclass(frozen=True)
class BliResult:
    """Precision@1 of one lexicon against one test dictionary.

    Attributes:
        precision_at_1: correct / evaluated source words (0.0 when none is evaluated).
        n_correct: evaluated source words whose prediction is a gold translation.
        n_evaluated: unique test source words in the source vocabulary.
        n_test_words: unique source words in the test dictionary.
        n_test_pairs: gold pairs whose source word is evaluated.
        n_target_reachable: evaluated words with a gold translation in the target vocabulary.
        n_gold_changed: gold translations changed by script normalisation (Chinese).
    """

    precision_at_1: float
    n_correct: int
    n_evaluated: int
    n_test_words: int
    n_test_pairs: int
    n_target_reachable: int | None = None
    n_gold_changed: int = 0

    @property
    def coverage(self) -> float:
        """Share of test source words found in the source vocabulary."""
        return self.n_evaluated / self.n_test_words if self.n_test_words else 0.0

    @property
    def target_reachable(self) -> float | None:
        """Share of evaluated words that have a gold translation in the target vocabulary."""
        if self.n_target_reachable is None or not self.n_evaluated:
            return None
        return self.n_target_reachable / self.n_evaluated


def normalize_words(words: Iterable[str], lang: str = "") -> list[str]:
    """:func:`normalize_word` of each word."""
    from csir.text import match_key, script_form

    form = script_form(lang)
    return [match_key(w) if form is None else form(match_key(w)) for w in words]


def normalize_word(word: str, lang: str = "") -> str:
    """The form BLI compares a word of language ``lang`` in: Unicode NFC, lower case, and
    Simplified script for Chinese.

    Example:
        >>> normalize_word("Hund", "de"), normalize_word("Cafe\u0301", "fr") == "café"
        ('hund', True)
    """
    return normalize_words([word], lang)[0]


def normalize_gold(
    gold: Mapping[str, Sequence[str]], lang: str
) -> tuple[dict[str, list[str]], int]:
    """Gold sources (English) and translations (``lang``) under :func:`normalize_word`.

    Returns:
        The normalised dictionary (entries and translations that the normalisation made equal
        are merged, first one first) and how many gold translations it changed.
    """
    sources = list(gold)
    keys = normalize_words(sources)
    changed = 0
    out: dict[str, list[str]] = {}
    for src, key in zip(sources, keys, strict=True):
        raw = list(gold[src])
        targets = out.setdefault(key, [])
        for before, after in zip(raw, normalize_words(raw, lang), strict=True):
            changed += after != before
            if after not in targets:
                targets.append(after)
    return out, changed


def bli_precision(
    predictions: Mapping[str, str],
    gold: Mapping[str, Sequence[str]],
    source_vocab: Collection[str],
    target_vocab: Collection[str] | None = None,
    *,
    n_gold_changed: int = 0,
) -> BliResult:
    """Precision@1 of top-1 ``predictions`` (source → target) against ``gold``.

    Args:
        predictions: best target per source word; a covered word without one counts as wrong.
        gold: test dictionary ``{source: [translations]}`` (already script-normalised).
        source_vocab: words the induction could translate (decides coverage).
        target_vocab: optional target vocabulary, only for the ``target_reachable`` diagnostic.
        n_gold_changed: passed through into the result (from :func:`normalize_gold`).

    Example:
        >>> gold = {"dog": ["hund"], "cat": ["katze", "kater"], "gnu": ["gnu"]}
        >>> r = bli_precision({"dog": "hund", "cat": "hund"}, gold, {"dog", "cat"})
        >>> r.precision_at_1, r.coverage
        (0.5, 0.6666666666666666)
    """
    source_vocab = source_vocab if isinstance(source_vocab, (set, frozenset)) else set(source_vocab)
    if target_vocab is not None and not isinstance(target_vocab, (set, frozenset)):
        target_vocab = set(target_vocab)
    evaluated = [src for src in gold if src in source_vocab]
    correct = sum(predictions.get(src) in gold[src] for src in evaluated)
    reachable = (
        None
        if target_vocab is None
        else sum(any(t in target_vocab for t in gold[src]) for src in evaluated)
    )
    return BliResult(
        precision_at_1=correct / len(evaluated) if evaluated else 0.0,
        n_correct=correct,
        n_evaluated=len(evaluated),
        n_test_words=len(gold),
        n_test_pairs=sum(len(gold[src]) for src in evaluated),
        n_target_reachable=reachable,
        n_gold_changed=n_gold_changed,
    )


def evaluate_lexicon(
    lexicon: Mapping[str, Sequence[str]],
    gold: Mapping[str, Sequence[str]],
    tgt_lang: str,
    *,
    source_vocab: Collection[str] | None = None,
    target_vocab: Collection[str] | None = None,
) -> BliResult:
    """BLI of an induced lexicon (first translation = prediction), script-normalised.

    Args:
        lexicon: ``{source: [targets, best first]}``, e.g. from :func:`csir.lexicon.load_lexicon`.
        gold: raw test dictionary (normalised here, as everything else: :func:`normalize_word`).
        tgt_lang: target language code (``"zh"`` also converts to Simplified script).
        source_vocab: the induction's source vocabulary; default: the lexicon's source words.
        target_vocab: the induction's target vocabulary, for the reachability diagnostic.
    """
    gold_norm, changed = normalize_gold(gold, tgt_lang)
    sources = list(lexicon)
    best = normalize_words([lexicon[s][0] for s in sources], tgt_lang)
    predictions: dict[str, str] = {}
    for key, prediction in zip(normalize_words(sources), best, strict=True):
        predictions.setdefault(key, prediction)  # the first of words that normalise alike
    vocab = set(normalize_words(lexicon if source_vocab is None else source_vocab))
    targets = None if target_vocab is None else set(normalize_words(target_vocab, tgt_lang))
    return bli_precision(predictions, gold_norm, vocab, targets, n_gold_changed=changed)


def result_row(source: str, method: str, src_lang: str, tgt_lang: str, result: BliResult) -> dict:
    """One table row: the :data:`BLI_COLUMNS` followed by the diagnostics."""
    return {
        "source": source,
        "method": method,
        "src_lang": src_lang,
        "tgt_lang": tgt_lang,
        "precision_at_1": result.precision_at_1,
        "n_test_pairs": result.n_test_pairs,
        "n_evaluated": result.n_evaluated,
        "n_test_words": result.n_test_words,
        "coverage": result.coverage,
        "target_reachable": result.target_reachable,
        "n_gold_changed": result.n_gold_changed,
    }


def write_bli_table(rows: Sequence[Mapping], output_dir: str | Path) -> pd.DataFrame:
    """Write ``bli.csv`` (exactly :data:`BLI_COLUMNS`) and ``bli_details.csv`` (all columns).

    Returns:
        The full table as a DataFrame.
    """
    table = pd.DataFrame(list(rows))
    if table.empty:
        table = pd.DataFrame(columns=list(BLI_COLUMNS))
    output_dir = Path(output_dir)
    with io.atomic_write(output_dir / "bli.csv") as fh:
        table[list(BLI_COLUMNS)].to_csv(fh, index=False, lineterminator="\n")
    with io.atomic_write(output_dir / "bli_details.csv") as fh:
        table.to_csv(fh, index=False, lineterminator="\n")
    return table
