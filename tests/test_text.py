"""Treebank tokenisation (fast copy == NLTK), splicing translations into text, stopwords."""

from __future__ import annotations

import pytest
from nltk.tokenize.treebank import TreebankWordDetokenizer, TreebankWordTokenizer

from csir import paths
from csir import stopwords as stopwordlists
from csir import text as textlib
from csir.errors import ConfigError

TRICKY = [
    "Where is Berlin?",
    "Good muffins cost $3.88\nin New York.  Please buy me\ntwo of them.\nThanks.",
    "They'll save and invest more.",
    "hi, my name can't hello,",
    'She said "I cannot go" -- and left... (really) [twice] {ok} <tag>',
    "I'm gonna do it, wanna come? Lemme see; gimme 5% & @you #tag",
    "'Tis the season, 'twas the night; more'n that, d'ye hear!",
    "CANNOT GONNA Wanna 'TIS",
    "The dogs' bones aren't here: 3,000 of them.",
    "``Quoted'' text and ''odd'' quotes, \"double\" ones.",
    "Mr. Smith went to Washington D.C. on Jan. 5.",
    "ſome long-s 'tiſ and \u212aelvin cannot",  # non-ASCII case folding
    "Unicode: Müller's café — naïve “curly” ‘quotes’ 東京 日本語",
    "",
    "   ",
    'ends with quote."',
]


@pytest.mark.parametrize("text", TRICKY)
def test_tokenize_matches_nltk(text: str):
    assert textlib.tokenize(text) == TreebankWordTokenizer().tokenize(text)


@pytest.mark.parametrize("text", TRICKY)
def test_span_tokenize_matches_nltk(text: str):
    expected = list(TreebankWordTokenizer().span_tokenize(text))
    assert textlib.word_tokenizer().span_tokenize(text) == expected


@pytest.mark.parametrize("text", TRICKY)
def test_detokenize_matches_nltk(text: str):
    tokens = TreebankWordTokenizer().tokenize(text)
    assert textlib.detokenize(tokens) == TreebankWordDetokenizer().detokenize(tokens)


def test_tokenizer_matches_nltk_on_wikiqa_texts():
    mirror = paths.data_mirror()
    folder = mirror / "english-train" / "WikiQACorpus" if mirror else None
    if folder is None or not (folder / "WikiQA-dev.txt").is_file():
        pytest.skip("WikiQA is not in the data mirror (CSIR_DATA_DIR)")
    texts: dict[str, None] = {}  # the dev split keeps this fast; all splits were checked once
    for line in (folder / "WikiQA-dev.txt").read_text(encoding="utf-8").splitlines():
        question, sentence, _ = line.split("\t")
        texts.update(dict.fromkeys((question, sentence)))
    nltk_tok, nltk_detok = TreebankWordTokenizer(), TreebankWordDetokenizer()
    for tokenised in texts:
        natural = nltk_detok.detokenize(tokenised.split())
        assert textlib.detokenize(tokenised.split()) == natural
        assert textlib.tokenize(natural) == nltk_tok.tokenize(natural)


def test_tokenized_keeps_original_characters():
    t = textlib.Tokenized.from_text('He said "hi"  to  New York (USA).')
    assert t.tokens == ("He", "said", '"', "hi", '"', "to", "New", "York", "(", "USA", ")", ".")
    assert t.splice([]) == t.text
    assert t.splice([(6, 8, "Neu-York"), (3, 4, "hallo")]) == 'He said "hallo"  to  Neu-York (USA).'


def test_splice_without_spans_falls_back_to_detokenizer():
    t = textlib.Tokenized("x", ("The", "house", "is", "red", "."), None)
    assert t.splice([(1, 2, "Haus")]) == "The Haus is red."


def test_contraction_split_and_splice():
    t = textlib.Tokenized.from_text("I don't know.")
    assert t.tokens == ("I", "do", "n't", "know", ".")
    assert t.splice([(3, 4, "weiß")]) == "I don't weiß."


def test_stopwords_and_words():
    english = stopwordlists.stopwords("en")
    assert "the" in english and "house" not in english
    assert all(word == word.lower() for word in english)
    assert "und" in stopwordlists.stopwords("de")
    with pytest.raises(ConfigError, match="no stopword list"):
        stopwordlists.stopwords("xx")
    assert textlib.is_word("house") and textlib.is_word("n't") and textlib.is_word("Müller")
    assert not textlib.is_word("?") and not textlib.is_word("1998") and not textlib.is_word("--")


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("Who won Super Bowl 50?", ["who", "won", "super", "bowl", "50"]),
        ("Don't a_b CAFE\u0301", ["don", "café"]),  # one-letter words dropped, NFC lower case
        ("पैंथर्स ने कितने", ["पैंथर्स", "ने", "कितने"]),  # vowel signs stay inside their word
        ("谁赢得", ["谁赢", "赢得"]),  # overlapping bigrams of an unspaced run
        ("A股 x", ["股"]),  # a lone character of an unspaced script stays a term
        ("Bowl五十", ["bowl", "五十"]),
    ],
)
def test_retrieval_terms(text, terms):
    from csir.text import retrieval_terms

    assert retrieval_terms(text) == terms
