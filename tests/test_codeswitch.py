"""BL-CS, ML-CS, Wiki-CS, Translate-Test, switch ratios and seeded, sharded, atomic generation."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from csir import codeswitch as cs
from csir.codeswitch import report
from csir.errors import ConfigError, CsirError
from csir.text import Tokenized

datasets = pytest.importorskip("datasets")

EN_DE = {"house": ["Haus"], "red": ["rot"], "big": ["groß"], "city": ["Stadt"], "The": ["das"]}
EN_RU = {"house": ["дом"], "red": ["красный"], "big": ["большой"], "city": ["город"]}
EN_IT = {"house": ["casa"], "red": ["rosso"], "big": ["grande"], "city": ["città"]}
STOP = frozenset({"the", "is", "a", "of", "in", "new"})


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def switched_text(text: str, replacements_of) -> str:
    tokenized = Tokenized.from_text(text)
    return tokenized.splice(replacements_of(tokenized.tokens))


# ------------------------------------------------------------------------------ pure functions


def test_normalise_lexicon_lowercases_and_merges():
    lex = cs.normalise_lexicon({"House": ["Haus"], "house": ["Gebäude", "Haus"], "x": [" "]})
    assert lex == {"house": ("Haus", "Gebäude")}


def test_bilingual_p1_switches_every_token_in_lexicon():
    lex = cs.normalise_lexicon(EN_DE)
    out = switched_text(
        "The BIG house is red, sir.", lambda t: cs.bilingual(t, lex, 1.0, rng(), "de")
    )
    assert out == "das groß Haus is rot, sir."


def test_bilingual_p0_switches_nothing_and_replacements_carry_language():
    lex = cs.normalise_lexicon(EN_DE)
    tokens = ["big", "house"]
    assert cs.bilingual(tokens, lex, 0.0, rng(), "de") == []
    assert cs.bilingual(tokens, lex, 1.0, rng(), "de") == [
        cs.Replacement(0, 1, "groß", "de"),
        cs.Replacement(1, 2, "Haus", "de"),
    ]


def test_bilingual_picks_among_translations_uniformly_and_reproducibly():
    lex = cs.normalise_lexicon({"house": ["Haus", "Gebäude", "Heim"]})
    tokens = ["house"] * 3000
    picks = [r.text for r in cs.bilingual(tokens, lex, 1.0, rng(1), "de")]
    counts = {word: picks.count(word) for word in ("Haus", "Gebäude", "Heim")}
    assert all(900 < n < 1100 for n in counts.values()), counts
    assert picks == [r.text for r in cs.bilingual(tokens, lex, 1.0, rng(1), "de")]


@pytest.mark.parametrize("kind", ["python", "numpy"])
def test_both_generator_kinds_work_and_rates_follow_p(kind):
    def make(seed):
        return random.Random(seed) if kind == "python" else np.random.default_rng(seed)

    lex = cs.normalise_lexicon(EN_DE)
    tokens = ["house"] * 10000
    assert abs(len(cs.bilingual(tokens, lex, 0.25, make(2), "de")) / 10000 - 0.25) < 0.02
    assert cs.bilingual(tokens[:50], lex, 0.5, make(3), "de") == cs.bilingual(
        tokens[:50], lex, 0.5, make(3), "de"
    )
    lexicons = {"de": lex, "ru": cs.normalise_lexicon(EN_RU)}
    langs = [r.lang for r in cs.multilingual(tokens, lexicons, 0.5, make(4))]
    assert abs(langs.count("de") / 10000 - 0.25) < 0.02
    assert abs(langs.count("ru") / 10000 - 0.25) < 0.02
    york = cs.wiki(["York"] * 2000, TITLES, STOP, make(5), "de", p=0.5)
    assert 900 < len(york) < 1100


def test_multilingual_draws_a_language_per_token():
    lexicons = {
        "de": cs.normalise_lexicon(EN_DE),
        "ru": cs.normalise_lexicon(EN_RU),
        "it": cs.normalise_lexicon(EN_IT),
    }
    tokens = ["house", "red", "big", "city"] * 300
    replacements = cs.multilingual(tokens, lexicons, 1.0, rng(3))
    assert len(replacements) == len(tokens)  # every language knows every token here
    langs = [r.lang for r in replacements]
    assert {lang: langs.count(lang) > 300 for lang in lexicons} == dict.fromkeys(lexicons, True)
    for r in replacements:
        assert r.text in lexicons[r.lang][tokens[r.start]]


def test_multilingual_keeps_token_when_drawn_language_lacks_it():
    lexicons = {"de": cs.normalise_lexicon({"house": ["Haus"]}), "ru": {}}
    replacements = cs.multilingual(["house"] * 2000, lexicons, 1.0, rng(4))
    assert {r.lang for r in replacements} == {"de"}
    assert 900 < len(replacements) < 1100


TITLES = cs.normalise_phrase_lexicon(
    {
        "New York": ["New York (de)"],
        "New York City": ["New York City (de)"],
        "York": ["York (de)"],
        "The": ["Die (Band)"],  # a title that is a stopword alone: never replaced
        "Bank of England": ["Bank von England"],
        "England": ["England (de)"],
        "Bosnia & Herzegovina": ["Bosnien und Herzegowina"],
        "St. Kitts & Nevis": ["St. Kitts und Nevis"],  # 4 Treebank tokens: over max_n
    }
)


def test_wiki_longest_ngram_first():
    out = switched_text(
        "I love New York City and New York and York.",
        lambda t: cs.wiki(t, TITLES, STOP, rng(), "de"),
    )
    assert out == "I love New York City (de) and New York (de) and York (de)."


def test_wiki_skips_single_stopwords_but_not_phrases_with_them():
    out = switched_text(
        "The Bank of England is in England.", lambda t: cs.wiki(t, TITLES, STOP, rng(), "de")
    )
    assert out == "The Bank von England is in England (de)."


def test_wiki_phrase_keys_are_tokenised_like_text():
    assert "bosnia & herzegovina" in TITLES and "st. kitts & nevis" not in TITLES
    out = switched_text(
        "Visit Bosnia &  Herzegovina!", lambda t: cs.wiki(t, TITLES, STOP, rng(), "de")
    )
    assert out == "Visit Bosnien und Herzegowina!"


def test_wiki_probability_below_one_skips_some_matches():
    tokens = ["York"] * 2000
    assert len(cs.wiki(tokens, TITLES, STOP, rng(5), "de", p=0.5)) in range(900, 1100)


def test_translate_terms_uses_first_translation_deterministically():
    de_en = cs.normalise_lexicon({"Haus": ["house", "home"], "rot": ["red"], "das": ["the"]})
    assert cs.translate_terms("Das Haus ist rot!", de_en) == "the house ist red!"
    assert cs.translate_terms("", de_en) == ""


def test_translate_terms_segments_chinese_into_the_lexicons_words():
    # MUSE's zh keys are largely Traditional, XQuAD-R's text Simplified: both meet in Simplified
    zh_en = cs.normalise_lexicon(
        {"黑豹": ["panther"], "防守": ["defense"], "國家": ["country"], "國": ["nation"]}, "zh"
    )
    assert "国家" in zh_en and "國家" not in zh_en
    assert zh_en.longest_unspaced() == 2
    # longest match first; uncovered characters stay; a Traditional text matches too
    assert cs.translate_terms("黑豹队的防守", zh_en) == "panther 队的 defense"
    assert cs.translate_terms("國家和國", zh_en) == "country 和 nation"
    assert cs.translate_terms("NFL的防守？", zh_en) == "NFL的 defense ？"
    assert cs.translate_terms("没有词", zh_en) == "没有词"
    # without the language, keys and text keep their script: nothing Traditional matches
    plain = cs.normalise_lexicon({"國家": ["country"]})
    assert cs.translate_terms("国家", plain) == "国家"
    assert cs.normalise_lexicon(zh_en, "zh") is zh_en


def test_code_switching_into_chinese_inserts_simplified_words():
    """MUSE's en-zh translations are largely Traditional; the evaluation texts are Simplified."""
    en_zh = cs.normalise_lexicon({"country": ["國家", "国家"], "dog": ["狗"]}, target_lang="zh")
    assert en_zh["country"] == ("国家",) and en_zh["dog"] == ("狗",)  # merged once converted
    assert cs.normalise_lexicon(en_zh, target_lang="zh") is en_zh
    assert cs.normalise_lexicon({"country": ["國家"]})["country"] == ("國家",)  # no language
    titles = cs.normalise_phrase_lexicon({"Hong Kong": ["香港特別行政區"]}, target_lang="zh")
    assert titles["hong kong"] == ("香港特别行政区",)
    switcher = cs.RecordSwitcher(
        cs.Job("bl-cs", "en-zh", 1.0, ("zh",)), 0, STOP, {"zh": {"country": ["國家"]}}
    )
    batch = switcher({"query": ["Which country?"], "passage": ["A country."]}, [0])
    assert batch["passage"][0] == "A 国家."  # BL-CS en-zh: English queries, Chinese passages


def test_count_switches_counts_non_stopword_words_only():
    tokens = ["The", "big", "house", "is", "red", ".", "1998"]
    replacements = [
        cs.Replacement(0, 1, "das", "de"),  # a stopword: not counted
        cs.Replacement(1, 2, "groß", "de"),
        cs.Replacement(2, 3, "дом", "ru"),
    ]
    content, switched = cs.count_switches(tokens, replacements, STOP)
    assert content == 3  # big, house, red
    assert switched == {"de": 1, "ru": 1}
    assert cs.switch_ratio(2, 3) == pytest.approx(2 / 3)
    assert cs.switch_ratio(0, 0) == 0.0


# ------------------------------------------------------------------------------------ planning


def test_plan_jobs_names_and_folders(tmp_path: Path):
    jobs = cs.plan_jobs(
        ["zero-shot", "bl-cs", "ml-cs", "wiki-cs"], ["en-de", "de-ru"], [0.5, 1], ["de", "ru"]
    )
    assert [job.name for job in jobs] == [
        "zero-shot/en-en/p=0.0",
        "bl-cs/en-de/p=0.5",
        "bl-cs/en-de/p=1.0",
        "bl-cs/de-ru/p=0.5",
        "bl-cs/de-ru/p=1.0",
        "ml-cs/ml/p=0.5",
        "ml-cs/ml/p=1.0",
        "wiki-cs/wiki/p=1.0",
    ]
    assert jobs[1].languages == ("de",) and jobs[3].languages == ("de", "ru")
    assert jobs[1].directory(tmp_path) == tmp_path / "train" / "bl-cs" / "en-de" / "p=0.5"
    assert cs.lexicon_languages(jobs) == (("de", "ru"), ("de", "ru"))
    # The record seeds must not change between Python runs or versions.
    assert cs.Job("bl-cs", "en-de", 0.5).key() == 1544978930
    with pytest.raises(ConfigError):
        cs.plan_jobs(["bl-cs"], ["en-en"], [0.5], ["de"])
    with pytest.raises(ConfigError):
        cs.plan_jobs(["ml-cs"], [], [0.5], ["en", "de"])


# ---------------------------------------------------------------------------------- generation

QUERIES = ["Is the big house red?", "Where is the city of New York?", "What is a house?"]
PASSAGES = [
    "The big house is red.",
    "New York City is a big city in New York.",
    "A house is where people live.",
    "Red is a colour of the house.",
]


@pytest.fixture
def pairs():
    rows = [
        {
            "qid": f"q{i % 3}",
            "pid": f"p{i}",
            "query": QUERIES[i % 3],
            "passage": PASSAGES[i % 4],
            "label": int(i % 5 == 0),
        }
        for i in range(40)
    ]
    return datasets.Dataset.from_list(rows)


LEXICONS = {"de": EN_DE, "ru": EN_RU, "it": EN_IT}
TITLE_LEXICONS = {
    "de": {"New York City": ["New York City (de)"], "house": ["Haus (Titel)"]},
    "ru": {"New York": ["Нью-Йорк"], "house": ["Дом (фильм)"]},
}


def generate(pairs, job, out, seed=1, num_proc=1):
    return cs.generate(
        pairs,
        job,
        output_dir=out,
        seed=seed,
        stopwords=STOP,
        lexicons=LEXICONS,
        titles=TITLE_LEXICONS,
        num_proc=num_proc,
    )


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_bl_cs_keeps_english_side_and_switches_the_other(pairs, tmp_path: Path):
    stats = generate(pairs, cs.Job("bl-cs", "en-de", 1.0, ("de",)), tmp_path)
    records = read(tmp_path / "train/bl-cs/en-de/p=1.0/train.jsonl")
    assert list(records[0]) == list(cs.RECORD_KEYS)
    assert [r["query"] for r in records] == [QUERIES[i % 3] for i in range(40)]
    assert records[0]["passage"] == "das groß Haus is rot."
    assert {(r["query_lang"], r["doc_lang"]) for r in records} == {("en", "de")}
    assert stats["records"] == 40 and stats["positives"] == 8 and stats["negatives"] == 32
    assert stats["switch_ratio"]["by_side"]["query"] == {
        "all": {"content_words": 0, "ratio": 0.0, "switched": 0}
    }
    on_disk = json.loads((tmp_path / "train/bl-cs/en-de/p=1.0/stats.json").read_text())
    assert on_disk["sha256"] == stats["sha256"] and on_disk["p"] == 1.0


def test_bl_cs_between_two_non_english_languages(pairs, tmp_path: Path):
    generate(pairs, cs.Job("bl-cs", "de-ru", 1.0, ("de", "ru")), tmp_path)
    first = read(tmp_path / "train/bl-cs/de-ru/p=1.0/train.jsonl")[0]
    assert first["query"] == "Is das groß Haus rot?"
    assert first["passage"] == "The большой дом is красный."
    assert (first["query_lang"], first["doc_lang"]) == ("de", "ru")


def test_realised_switch_ratio_in_stats(pairs, tmp_path: Path):
    stats = generate(pairs, cs.Job("bl-cs", "en-de", 1.0, ("de",)), tmp_path)
    # Non-stopword words of the 4 passages (each used 10 times): big house red |
    # York City big city York | house where people live | Red colour house; switched (in EN_DE):
    # big house red | City big city | house | Red house.
    expected_content = 10 * (3 + 5 + 4 + 3)
    expected_switched = 10 * (3 + 3 + 1 + 2)
    de = stats["switch_ratio"]["by_language"]["de"]
    assert (de["content_words"], de["switched"]) == (expected_content, expected_switched)
    assert de["ratio"] == pytest.approx(expected_switched / expected_content)
    assert stats["switch_ratio"]["by_language"]["all"]["ratio"] == de["ratio"]

    half = generate(pairs, cs.Job("bl-cs", "en-de", 0.5, ("de",)), tmp_path)
    assert 0 < half["switch_ratio"]["by_language"]["de"]["ratio"] < de["ratio"]


def test_ml_cs_records_are_mixed_and_shares_add_up(pairs, tmp_path: Path):
    stats = generate(pairs, cs.Job("ml-cs", "ml", 1.0, ("de", "ru", "it")), tmp_path)
    records = read(tmp_path / "train/ml-cs/ml/p=1.0/train.jsonl")
    assert {(r["query_lang"], r["doc_lang"]) for r in records} == {("mix", "mix")}
    assert all("house" not in r["passage"] for r in records)  # every lexicon knows "house"
    by_lang = stats["switch_ratio"]["by_language"]
    shares = sum(by_lang[lang]["ratio"] for lang in ("de", "ru", "it"))
    assert shares == pytest.approx(by_lang["all"]["ratio"])
    assert all(by_lang[lang]["switched"] > 0 for lang in ("de", "ru", "it"))


def test_wiki_cs_one_language_per_instance(pairs, tmp_path: Path):
    stats = generate(pairs, cs.Job("wiki-cs", "wiki", 1.0, ("de", "ru")), tmp_path)
    records = read(tmp_path / "train/wiki-cs/wiki/p=1.0/train.jsonl")
    assert {r["query_lang"] for r in records} == {"de", "ru"}
    house = {"de": "Haus (Titel)", "ru": "Дом (фильм)"}
    new_york = {
        "de": "New York City (de) is a big city in New York.",
        "ru": "Нью-Йорк City is a big city in Нью-Йорк.",
    }
    for record in records:
        lang = record["query_lang"]
        assert record["doc_lang"] == lang
        if record["qid"] == "q2":
            assert record["query"] == f"What is a {house[lang]}?"
        if record["passage"].startswith(("New York", "Нью-Йорк")):
            assert record["passage"] == new_york[lang]
    assert set(stats["switch_ratio"]["by_language"]) == {"de", "ru", "all"}


def test_zero_shot_copies_english(pairs, tmp_path: Path):
    stats = generate(pairs, cs.Job("zero-shot", "en-en", 0.0), tmp_path)
    records = read(tmp_path / "train/zero-shot/en-en/p=0.0/train.jsonl")
    assert [r["passage"] for r in records] == list(pairs["passage"])
    assert {(r["query_lang"], r["doc_lang"]) for r in records} == {("en", "en")}
    assert stats["switch_ratio"]["by_language"]["all"]["switched"] == 0


def test_same_seed_byte_identical_across_num_proc(pairs, tmp_path: Path):
    job = cs.Job("ml-cs", "ml", 0.5, ("de", "ru", "it"))
    generate(pairs, job, tmp_path / "a", seed=7, num_proc=1)
    generate(pairs, job, tmp_path / "b", seed=7, num_proc=2)
    generate(pairs, job, tmp_path / "c", seed=8, num_proc=1)
    name = "train/ml-cs/ml/p=0.5"
    a, b, c = ((tmp_path / x / name / "train.jsonl").read_bytes() for x in ("a", "b", "c"))
    assert a == b
    assert a != c
    assert (tmp_path / "a" / name / "stats.json").read_bytes() == (
        tmp_path / "b" / name / "stats.json"
    ).read_bytes()


def test_record_draws_do_not_depend_on_neighbours(pairs, tmp_path: Path):
    job = cs.Job("bl-cs", "en-de", 0.5, ("de",))
    generate(pairs, job, tmp_path / "all")
    generate(pairs.select(range(20)), job, tmp_path / "half")
    full = read(tmp_path / "all" / job.name.replace("bl-cs", "train/bl-cs") / "train.jsonl")
    half = read(tmp_path / "half" / job.name.replace("bl-cs", "train/bl-cs") / "train.jsonl")
    assert full[:20] == half


class Exploding(dict):
    """A lexicon whose look-up fails after a while, to break generation midway."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0

    def get(self, key, default=None):
        self.calls += 1
        if self.calls > 5:
            raise RuntimeError("boom")
        return super().get(key, default)


def test_failed_generation_leaves_no_partial_files(pairs, tmp_path: Path, monkeypatch):
    job = cs.Job("bl-cs", "en-de", 1.0, ("de",))
    monkeypatch.setattr("csir.codeswitch.switch.normalise_lexicon", lambda lex, **_: Exploding(lex))
    with pytest.raises(RuntimeError, match="boom"):
        generate(pairs, job, tmp_path)
    assert list(job.directory(tmp_path).iterdir()) == []


def test_failed_regeneration_keeps_previous_files(pairs, tmp_path: Path, monkeypatch):
    job = cs.Job("bl-cs", "en-de", 1.0, ("de",))
    generate(pairs, job, tmp_path)
    folder = job.directory(tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    monkeypatch.setattr("csir.codeswitch.switch.normalise_lexicon", lambda lex, **_: Exploding(lex))
    with pytest.raises(RuntimeError, match="boom"):
        generate(pairs, job, tmp_path, seed=2)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_missing_lexicon_is_a_config_error(pairs, tmp_path: Path):
    with pytest.raises(ConfigError, match="no word lexicon for language 'ar'"):
        generate(pairs, cs.Job("bl-cs", "en-ar", 0.5, ("ar",)), tmp_path)


def test_write_dev_set(pairs, tmp_path: Path):
    stats = cs.write_dev_set(pairs, tmp_path)
    records = read(tmp_path / "dev/en-en/dev.jsonl")
    assert len(records) == stats["records"] == 40 and stats["queries"] == 3
    assert list(records[0]) == list(cs.RECORD_KEYS)
    assert records[1]["passage"] == PASSAGES[1] and records[1]["doc_lang"] == "en"


def test_load_lexicons_with_injected_loader(tmp_path: Path):
    folder = tmp_path / "muse"
    folder.mkdir()
    (folder / "en-de.tsv").write_text("house\tHaus\nhouse\tGebäude\n", encoding="utf-8")
    (folder / "en-de.json").write_text('{"source": "muse"}', encoding="utf-8")

    def loader(path: Path) -> dict[str, list[str]]:
        lexicon: dict[str, list[str]] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            src, tgt = line.split("\t")
            lexicon.setdefault(src, []).append(tgt)
        return lexicon

    lexicons, info = cs.load_lexicons(tmp_path, "muse", ["de"], loader)
    assert lexicons == {"de": {"house": ["Haus", "Gebäude"]}}
    assert info["de"]["sidecar"] == {"source": "muse"} and info["de"]["n_source_entries"] == 1
    read = []
    with pytest.raises(CsirError, match=r"2 lexicon\(s\) that are missing: th: .*en-th.tsv; el:"):
        cs.load_lexicons(tmp_path, "muse", ["de", "th", "el"], lambda path: read.append(path))
    assert not read  # every file checked before the first is read


def test_generate_all_and_report_tables(pairs, tmp_path: Path):
    jobs = cs.plan_jobs(["zero-shot", "bl-cs", "ml-cs"], ["en-de"], [0.5, 1.0], ["de", "ru"])
    stats = cs.generate_all(
        pairs,
        jobs,
        output_dir=tmp_path,
        seed=3,
        lexicons=LEXICONS,
        lexicon_info={"de": {"path": "x/en-de.tsv"}},
        train_info={"source": "fixture"},
    )
    assert stats[1]["lexicons"] == {"de": {"path": "x/en-de.tsv"}}
    assert stats[1]["train_data"] == {"source": "fixture"}
    table = report.switch_ratio_table(stats)
    assert set(table["method"]) == {"bl-cs", "ml-cs"}  # zero-shot switches nothing
    assert list(table.columns) == list(report.RATIO_COLUMNS)
    assert ((table["ratio"] >= 0) & (table["ratio"] <= 1)).all()
    examples = report.example_records(tmp_path, stats)
    assert list(examples["method"]) == ["zero-shot", "bl-cs", "ml-cs"]
    assert set(examples["p"]) == {0.0, 0.5}
    assert examples.loc[0, "passage"] == PASSAGES[0]
    path = report.write_table(table, tmp_path / "ratios.csv")
    assert path.read_text(encoding="utf-8").startswith("method,pair,p,language,ratio")


# --------------------------------------------------------------------------------------- config


def test_data_generation_config_smoke_and_checks():
    from csir.config import DataGenerationConfig

    smoke = DataGenerationConfig.from_params({"smoke": True})
    assert smoke.max_pairs == 300 and smoke.probabilities == (0.5, 1.0) and smoke.workers() == 1
    assert smoke.pairs == ("en-de", "en-ar") and smoke.ml_languages == ("de", "ar")  # shrunk
    chosen = DataGenerationConfig.from_params({"smoke": True, "pairs": ["en-ar"]})
    assert chosen.pairs == ("en-ar",)  # explicit choices are kept
    full = DataGenerationConfig.from_params({"smoke": False, "num_proc": 0})
    assert full.workers() >= 1 and full.max_pairs == 0
    for params, message in [
        ({"train_source": "msmarco"}, "needs train_path"),
        ({"train_source": "squad"}, "train_source"),
        ({"ml_languages": ["en"]}, "drop 'en'"),
        ({"pairs": ["en-en"]}, "zero-shot"),
        ({"seed": -1}, "seed"),
        ({"max_ngram": 0}, "max_ngram"),
    ]:
        with pytest.raises(ConfigError, match=message):
            DataGenerationConfig.from_params({"smoke": False, **params})


def test_normalised_lexicons_are_not_normalised_twice():
    lex = cs.normalise_lexicon(EN_DE)
    assert cs.normalise_lexicon(lex) is lex
    titles = cs.normalise_phrase_lexicon({"New York": ["NY"]}, max_n=2)
    assert cs.normalise_phrase_lexicon(titles, max_n=2) is titles
    assert cs.normalise_phrase_lexicon(titles, max_n=3) is not titles
    import pickle

    again = pickle.loads(pickle.dumps(titles))
    assert again == titles and again.max_n == 2 and isinstance(again, cs.PhraseLexicon)


MESSY = [
    'He said "the big house", (not) the red city\'s -- New York City... ok?',
    "The house isn't red; a big city: 1,000 houses! ''Red'' house.",
    "New York City is a big city in New York.",
]
SEVERAL = {**EN_DE, "house": ["Haus", "Gebäude", "Heim"], "red": ["rot", "rötlich"]}


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize(
    "job",
    [
        cs.Job("bl-cs", "de-ru", 0.6, ("de", "ru")),
        cs.Job("ml-cs", "ml", 0.7, ("de", "ru", "it")),
        cs.Job("wiki-cs", "wiki", 1.0, ("de", "ru")),
        cs.Job("wiki-cs", "wiki", 0.5, ("de", "ru")),
    ],
    ids=lambda job: job.name,
)
def test_record_switcher_makes_the_draws_of_the_pure_functions(job, aligned, monkeypatch):
    """The switcher's cached fast path equals switch.* + Tokenized.splice with the record rng
    (also when tokens cannot be aligned to the text and the detokenizer renders it)."""
    lexicons = {**LEXICONS, "de": SEVERAL}
    if not aligned:
        real = Tokenized.from_text
        monkeypatch.setattr(cs.RecordSwitcher, "_prepare_words", lambda self, text, target: None)
        monkeypatch.setattr(
            Tokenized,
            "from_text",
            classmethod(lambda cls, text: cls(text, real(text).tokens, None)),
        )
    switcher = cs.RecordSwitcher(job, 3, STOP, lexicons, TITLE_LEXICONS)
    queries, passages = MESSY * 4, MESSY[1:] * 6
    out = switcher({"query": queries, "passage": passages}, list(range(12)))
    tables = {lang: cs.normalise_lexicon(lexicons[lang]) for lang in job.languages}
    titles = {lang: cs.normalise_phrase_lexicon(TITLE_LEXICONS[lang]) for lang in TITLE_LEXICONS}
    for index in range(12):
        record_rng = random.Random((3 << 96) | (job.key() << 64) | index)
        expected = []
        if job.method == "wiki-cs":
            lang = job.languages[record_rng.randrange(len(job.languages))]
            targets = (lang, lang)
        else:
            targets = job.record_languages()
        for text, target in zip((queries[index], passages[index]), targets, strict=True):
            tokenized = Tokenized.from_text(text)
            tokens = tokenized.tokens
            if job.method == "bl-cs":
                made = cs.bilingual(tokens, tables[target], job.p, record_rng, target)
            elif job.method == "ml-cs":
                made = cs.multilingual(tokens, tables, job.p, record_rng)
            else:
                made = cs.wiki(tokens, titles[target], STOP, record_rng, target, job.p)
            expected.append(tokenized.splice(made))
        assert [out["query"][index], out["passage"][index]] == expected
