"""Retrieval collections and pairs: SQuAD and TREC loaders, MoIR/CLIR/MLIR, Translate-Test."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from csir.data import retrieval
from csir.data.retrieval import MIXED, Collection, RetrievalPair
from csir.errors import ConfigError, CsirError, InputError

# --------------------------------------------------------------------------- inline fixtures

# Two articles; paragraph "0-0" has two sentences, "0-1" one, "1-0" two. Texts carry the
# language code so tests can tell which language a pair shows.
_SENTENCES = {
    "0-0": ["Alpha one is here.", "Alpha two answers."],
    "0-1": ["Beta stands alone."],
    "1-0": ["Gamma opens.", "Gamma closes with the answer."],
}
_QUESTIONS = {  # qid -> (paragraph, sentence index holding the answer)
    "q1": ("0-0", 1),
    "q2": ("0-1", 0),
    "q3": ("1-0", 1),
    "q4": ("1-0", 0),
}


def squad(lang: str, qids=tuple(_QUESTIONS), *, breaks: bool = True, sentences: bool = True):
    """A SQuAD-format dict in 'language' ``lang`` holding the questions ``qids``."""
    articles = []
    for a in range(2):
        paragraphs = []
        for p in range(2 if a == 0 else 1):
            pid = f"{a}-{p}"
            texts = [f"{s[:-1]} [{lang}]{s[-1]}" for s in _SENTENCES[pid]]
            context = " ".join(texts)
            spans, start = [], 0
            for text in texts:
                spans.append([start, start + len(text)])
                start += len(text) + 1
            qas = []
            for qid in qids:
                where, sentence = _QUESTIONS[qid]
                if where == pid:
                    answer_start = spans[sentence][0] + 2
                    qas.append(
                        {
                            "id": qid,
                            "question": f"question {qid} [{lang}]?",
                            "answers": [
                                {"answer_start": answer_start, "text": context[answer_start]}
                            ],
                        }
                    )
            paragraph = {"context": context, "qas": qas}
            if breaks:
                paragraph["sentence_breaks"] = spans
            if sentences:
                paragraph["sentences"] = texts
            paragraphs.append(paragraph)
        articles.append({"title": f"T{a}", "paragraphs": paragraphs})
    return {"version": "1.1", "data": articles}


def write_squad(folder: Path, lang: str, data: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{lang}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """en, de and ru files; de lacks q1 and ru lacks q4 (different id subsets)."""
    root = tmp_path / "squad"
    write_squad(root, "en", squad("en"))
    write_squad(root, "de", squad("de", ("q2", "q3", "q4")))
    write_squad(root, "ru", squad("ru", ("q1", "q2", "q3")))
    return root


# --------------------------------------------------------------------------- SQuAD collections


def test_paragraph_collection(folder):
    en = retrieval.load_squad_collection(folder, "en", "paragraph")
    assert en.dataset == "squad" and en.task == "paragraph" and en.lang == "en"
    assert list(en.docs) == ["0-0", "0-1", "1-0"]
    assert en.doc_groups == {d: d for d in en.docs}
    assert en.qrels == {"q1": {"0-0": 1}, "q2": {"0-1": 1}, "q3": {"1-0": 1}, "q4": {"1-0": 1}}
    assert en.queries["q3"] == "question q3 [en]?"
    assert en.source.endswith("en.json")
    assert "4 queries" in en.describe()


@pytest.mark.parametrize(
    ("breaks", "sentences", "method"),
    [(True, True, "sentence_breaks"), (False, True, "sentences"), (False, False, "punctuation")],
)
def test_sentence_relevance_follows_answer_start(tmp_path, breaks, sentences, method):
    write_squad(tmp_path, "en", squad("en", breaks=breaks, sentences=sentences))
    en = retrieval.load_squad_collection(tmp_path, "en", "sentence", dataset="toy")
    assert en.stats["sentence_split"] == method
    assert sorted(en.docs) == ["0-0-0", "0-0-1", "0-1-0", "1-0-0", "1-0-1"]
    assert en.docs["1-0-1"] == "Gamma closes with the answer [en]."
    assert en.doc_groups["1-0-1"] == "1-0" and en.doc_groups["0-1-0"] == "0-1"
    assert en.qrels == {
        "q1": {"0-0-1": 1},
        "q2": {"0-1-0": 1},
        "q3": {"1-0-1": 1},
        "q4": {"1-0-0": 1},
    }


def test_answer_between_sentences_goes_to_the_next_and_is_counted(tmp_path):
    context = "First part.   Second part."
    data = {
        "data": [
            {
                "paragraphs": [
                    {
                        "context": context,
                        "sentence_breaks": [[0, 11], [14, 26]],
                        "qas": [
                            {
                                "id": "x",
                                "question": "where?",
                                "answers": [{"answer_start": 12, "text": context[12]}],
                            }
                        ],
                    }
                ]
            }
        ]
    }
    write_squad(tmp_path, "en", data)
    en = retrieval.load_squad_collection(tmp_path, "en", "sentence")
    assert en.qrels == {"x": {"0-0-1": 1}}
    assert en.stats["answers_between_sentences"] == 1


def test_split_sentences_fallback():
    text = "Hallo Welt. Wie geht's?  Gut!"
    assert [text[s:e] for s, e in retrieval.split_sentences(text)] == [
        "Hallo Welt.",
        "Wie geht's?",
        "Gut!",
    ]
    zh = "北京是首都。上海很大。"
    assert [zh[s:e] for s, e in retrieval.split_sentences(zh)] == ["北京是首都。", "上海很大。"]


def test_missing_language_lists_what_the_folder_has(folder):
    with pytest.raises(retrieval.LanguageFileNotFoundError) as info:
        retrieval.load_squad_collection(folder, "zh", "paragraph")
    message = str(info.value)
    assert "zh.json" in message and "de, en, ru" in message and "add zh.json" in message
    assert isinstance(info.value, CsirError) and isinstance(info.value, FileNotFoundError)


def test_missing_folder_is_one_clear_error(tmp_path):
    with pytest.raises(retrieval.LanguageFileNotFoundError, match="no such folder"):
        retrieval.load_squad_collection(tmp_path / "nope", "en", "paragraph")


def test_empty_question_names_file_and_id(tmp_path):
    data = squad("en")
    data["data"][1]["paragraphs"][0]["qas"][0]["question"] = "   "
    path = write_squad(tmp_path, "en", data)
    with pytest.raises(InputError) as info:
        retrieval.load_squad_collection(tmp_path, "en", "paragraph")
    assert str(path) in str(info.value) and "'q3'" in str(info.value)
    assert "empty" in str(info.value)


def test_malformed_json_names_the_file(tmp_path):
    path = tmp_path / "en.json"
    path.write_text('{"data": [', encoding="utf-8")
    with pytest.raises(InputError) as info:
        retrieval.load_squad_collection(tmp_path, "en", "paragraph")
    assert str(path) in str(info.value) and "invalid JSON" in str(info.value)


def test_not_squad_and_duplicate_ids_and_bad_offsets(tmp_path):
    write_squad(tmp_path, "en", {"paragraphs": []})
    with pytest.raises(InputError, match="SQuAD format"):
        retrieval.load_squad_collection(tmp_path, "en", "paragraph")
    data = squad("en")
    data["data"][1]["paragraphs"][0]["qas"][1]["id"] = "q3"
    write_squad(tmp_path, "en", data)
    with pytest.raises(InputError, match="'q3' appears twice"):
        retrieval.load_squad_collection(tmp_path, "en", "paragraph")
    data = squad("en")
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 10_000
    write_squad(tmp_path, "en", data)
    with pytest.raises(InputError, match="'q1' has answer_start 10000"):
        retrieval.load_squad_collection(tmp_path, "en", "sentence")


def test_unknown_task_is_a_config_error(folder):
    with pytest.raises(ConfigError, match="task"):
        retrieval.load_squad_collection(folder, "en", "passage")


# --------------------------------------------------------------------------- MoIR / CLIR


def test_clir_pair_uses_the_common_question_ids(folder):
    en = retrieval.load_squad_collection(folder, "en", "paragraph")
    de = retrieval.load_squad_collection(folder, "de", "paragraph")
    pair = retrieval.make_pair(en, de)
    assert (pair.name, pair.setting) == ("en-de", "CLIR")
    assert list(pair.queries) == ["q2", "q3", "q4"]
    assert pair.queries["q2"] == "question q2 [en]?"
    assert pair.docs["0-1"].endswith("[de].")
    assert pair.qrels == {"q2": {"0-1": 1}, "q3": {"1-0": 1}, "q4": {"1-0": 1}}
    assert set(pair.query_langs.values()) == {"en"} and set(pair.doc_langs.values()) == {"de"}
    assert pair.counts == {
        "queries_in_query_lang": 4,
        "queries_in_doc_lang": 3,
        "queries_common": 3,
        "queries_without_relevant": 0,
        "queries": 3,
        "docs": 3,
        "relevant": 3,
    }
    assert "en-de (CLIR): 3 queries, 3 docs" in pair.describe()


def test_queries_without_a_relevant_doc_are_dropped_and_counted(tmp_path):
    data = squad("de")
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"] = []  # q1: unanswerable in de
    write_squad(tmp_path, "de", data)
    write_squad(tmp_path, "en", squad("en"))
    en = retrieval.load_squad_collection(tmp_path, "en", "sentence")
    de = retrieval.load_squad_collection(tmp_path, "de", "sentence")
    assert de.stats["questions_without_answer"] == 1
    pair = retrieval.make_pair(en, de)
    assert "q1" not in pair.queries and len(pair.queries) == 3
    assert pair.counts["queries_common"] == 4
    assert pair.counts["queries_without_relevant"] == 1


def test_moir_pair_and_mismatched_sides(folder):
    en_p = retrieval.load_squad_collection(folder, "en", "paragraph")
    en_s = retrieval.load_squad_collection(folder, "en", "sentence")
    pair = retrieval.make_pair(en_p, en_p)
    assert (pair.name, pair.setting, len(pair.queries)) == ("en-en", "MoIR", 4)
    with pytest.raises(CsirError, match="same dataset"):
        retrieval.make_pair(en_p, en_s)


def test_load_pair_reads_only_its_two_files(folder):
    (folder / "el.json").write_text("{broken", encoding="utf-8")
    pair = retrieval.load_pair(folder, "ru", "de", "sentence")
    assert pair.name == "ru-de" and list(pair.queries) == ["q2", "q3"]
    with pytest.raises(InputError, match="el.json"):
        retrieval.load_pair(folder, MIXED, MIXED, "paragraph", seed=1)
    mixed = retrieval.load_pair(folder, "en", MIXED, "paragraph", languages=["de", "ru"], seed=1)
    assert mixed.name == "en-xx" and set(mixed.doc_langs.values()) <= {"de", "ru"}
    assert set(mixed.query_langs.values()) == {"en"}


# --------------------------------------------------------------------------- MLIR


@pytest.fixture
def many(tmp_path: Path) -> dict[str, Collection]:
    """Three parallel languages with 40 paragraphs of 2 sentences and one question each."""
    collections = {}
    for lang in ("ar", "de", "en"):
        paragraphs = []
        for p in range(40):
            texts = [f"S{p}a [{lang}].", f"S{p}b [{lang}]."]
            context = " ".join(texts)
            paragraphs.append(
                {
                    "context": context,
                    "sentence_breaks": [[0, len(texts[0])], [len(texts[0]) + 1, len(context)]],
                    "qas": [
                        {
                            "id": f"q{p}",
                            "question": f"Q{p} [{lang}]",
                            "answers": [{"answer_start": len(texts[0]) + 1, "text": texts[1][0]}],
                        }
                    ],
                }
            )
        write_squad(tmp_path / "many", lang, {"data": [{"paragraphs": paragraphs}]})
    for lang in ("ar", "de", "en"):
        collections[lang] = retrieval.load_squad_collection(tmp_path / "many", lang, "sentence")
    return collections


def test_mlir_is_deterministic_per_seed(many):
    first = retrieval.make_mixed_pair(many, MIXED, MIXED, seed=3)
    again = retrieval.make_mixed_pair(many, MIXED, MIXED, seed=3)
    other = retrieval.make_mixed_pair(many, MIXED, MIXED, seed=4)
    assert (first.name, first.setting, first.seed) == ("xx-xx", "MLIR", 3)
    assert first.query_langs == again.query_langs and first.doc_langs == again.doc_langs
    assert first.queries == again.queries and first.docs == again.docs
    assert first.query_langs != other.query_langs and first.doc_langs != other.doc_langs
    assert set(first.query_langs.values()) == {"ar", "de", "en"}
    # The draw depends only on (seed, id): fewer loaded queries do not change the others.
    assert first.query_langs["q7"] == retrieval.draw_language(3, "q", "q7", ["en", "de", "ar"])


def test_mlir_texts_and_relevance_come_from_the_drawn_languages(many):
    pair = retrieval.make_mixed_pair(many, MIXED, MIXED, seed=11)
    for qid, text in pair.queries.items():
        assert text.endswith(f"[{pair.query_langs[qid]}]")
    by_group: dict[str, set[str]] = {}
    for docid, text in pair.docs.items():
        assert text.endswith(f"[{pair.doc_langs[docid]}].")
        by_group.setdefault(pair.doc_groups[docid], set()).add(pair.doc_langs[docid])
    assert len(by_group) == 40 and all(len(langs) == 1 for langs in by_group.values())
    assert len(pair.docs) == 80
    for qid, rels in pair.qrels.items():
        (docid,) = rels
        assert docid == f"0-{qid[1:]}-1"
    counts = pair.counts
    assert counts["queries"] == 40 and counts["docs"] == 80 and counts["relevant"] == 40
    assert sum(counts[f"queries_{x}"] for x in many) == 40
    assert sum(counts[f"docs_{x}"] for x in many) == 80


def test_mlir_one_fixed_side(many):
    en_xx = retrieval.make_mixed_pair(many, "en", MIXED, seed=5)
    assert en_xx.name == "en-xx" and en_xx.setting == "MLIR"
    assert set(en_xx.query_langs.values()) == {"en"} and len(set(en_xx.doc_langs.values())) > 1
    xx_en = retrieval.make_mixed_pair(many, MIXED, "en", seed=5)
    assert set(xx_en.doc_langs.values()) == {"en"} and len(xx_en.queries) == 40
    only_others = retrieval.make_mixed_pair(many, "en", MIXED, seed=5, mixed_languages=["ar", "de"])
    assert set(only_others.doc_langs.values()) == {"ar", "de"}
    with pytest.raises(ConfigError, match="'fr'"):
        retrieval.make_mixed_pair(many, "fr", MIXED, seed=5)


def test_mlir_with_different_id_subsets(folder):
    collections = {
        lang: retrieval.load_squad_collection(folder, lang, "paragraph")
        for lang in ("en", "de", "ru")
    }
    pair = retrieval.make_mixed_pair(collections, MIXED, "de", seed=0)
    # Every question id is drawn among the languages that hold it; de judges q2-q4 only.
    assert set(pair.queries) == {"q2", "q3", "q4"}
    assert pair.counts["queries_in_query_lang"] == 4
    assert pair.counts["queries_without_relevant"] == 1
    for qid in pair.queries:
        assert qid in collections[pair.query_langs[qid]].queries


def test_paragraph_mlir_keeps_parallel_ids(folder):
    collections = {
        lang: retrieval.load_squad_collection(folder, lang, "paragraph") for lang in ("en", "de")
    }
    pair = retrieval.make_mixed_pair(collections, "en", MIXED, seed=2)
    assert sorted(pair.docs) == ["0-0", "0-1", "1-0"]


# --------------------------------------------------------------------------- Translate-Test


def test_translate_pair(folder):
    de = retrieval.load_squad_collection(folder, "de", "paragraph")
    en = retrieval.load_squad_collection(folder, "en", "paragraph")
    pair = retrieval.make_pair(de, en)
    lexicon = {"question": ["query"], "Alpha": ["ALPHA"], "[": ["<"]}
    translated = retrieval.translate_pair(pair, {"de": lexicon})
    assert translated.translated and not pair.translated
    assert translated.name == "de-en" and "[translate-test]" in translated.describe()
    assert translated.queries["q2"] == "query q2 <de]?"
    assert translated.docs == pair.docs  # English documents stay
    assert translated.query_langs == pair.query_langs
    assert translated.counts["translated_queries"] == 3
    assert translated.counts["translated_docs"] == 0
    with pytest.raises(CsirError, match="already translated"):
        retrieval.translate_pair(translated, {"de": lexicon})
    both = retrieval.translate_pair(retrieval.make_pair(de, de), {"de": lexicon})
    assert both.docs["0-0"] == "ALPHA one is here <de]. ALPHA two answers <de]."
    assert both.counts["translated_docs"] == 3 and set(both.doc_langs.values()) == {"de"}
    # a lexicon loaded once memoises its translations across pairs (and models)
    from csir.codeswitch.switch import normalise_lexicon

    loaded = normalise_lexicon(lexicon, "de")
    assert retrieval.translate_pair(pair, {"de": loaded}).queries == translated.queries
    assert loaded.translated[pair.queries["q2"]] == "query q2 <de]?"
    loaded.translated[pair.queries["q2"]] = "from the memo"
    again = retrieval.translate_pair(retrieval.make_pair(de, de), {"de": loaded})
    assert again.queries["q2"] == "from the memo" and again.docs == both.docs


def test_translate_pair_missing_lexicon_names_language_and_file(folder):
    de = retrieval.load_squad_collection(folder, "de", "paragraph")
    ru = retrieval.load_squad_collection(folder, "ru", "paragraph")
    with pytest.raises(CsirError) as info:
        retrieval.translate_pair(retrieval.make_pair(de, ru), {"de": {"a": ["b"]}})
    assert "ru" in str(info.value) and "lexicons/muse/ru-en.tsv" in str(info.value)


def test_load_translation_lexicons(tmp_path):
    from csir.lexicon.store import write_lexicon

    root = tmp_path / "lexicons"
    write_lexicon(
        retrieval.translation_lexicon_path(root, "de"),
        [("Haus", "house"), ("rot", "red")],
        source="muse",
        method="test",
    )
    lexicons = retrieval.load_translation_lexicons(root, ["en", "de"])
    assert lexicons == {"de": {"haus": ("house",), "rot": ("red",)}}  # normalised for German
    assert lexicons["de"].lang == "de"
    with pytest.raises(CsirError) as info:
        retrieval.load_translation_lexicons(root, ["de", "ru", "zh"])
    message = str(info.value)
    assert str(root / "muse" / "ru-en.tsv") in message and "zh-en.tsv" in message


# --------------------------------------------------------------------------- TREC files


@pytest.fixture
def trec(write_file):
    queries = write_file(
        "trec/queries.tsv", "q1\twhat is a cat\nq2\tdog food\n\nq3\tno judgements\n"
    )
    corpus = write_file(
        "trec/corpus.tsv", "d1\tCats\tA cat is a small animal.\nd2\tDog food is tasty.\n"
    )
    qrels = write_file("trec/qrels.txt", "q1 0 d1 1\nq2 0 d2 2\nq2 0 d1 0\nq9 0 d1 1\nq1 0 d7 0\n")
    return queries, corpus, qrels


def test_trec_collection(trec):
    collection = retrieval.load_trec_collection(*trec, lang="en", dataset="toy")
    assert collection.dataset == "toy" and collection.task == "trec"
    assert collection.docs == {"d1": "Cats A cat is a small animal.", "d2": "Dog food is tasty."}
    assert collection.queries["q3"] == "no judgements"
    assert collection.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2, "d1": 0}}
    assert collection.stats == {"qrels_unknown_queries": 1, "qrels_unknown_docs": 1}
    pair = retrieval.make_pair(collection, collection)
    assert pair.counts["queries_without_relevant"] == 1 and list(pair.queries) == ["q1", "q2"]


def test_jsonl_corpus(write_file):
    corpus = write_file(
        "c.jsonl",
        '{"_id": "a", "title": "T", "text": "body"}\n\n{"doc_id": 7, "text": "seven"}\n'
        '{"id": "b", "text": "bee", "title": null}\n',
    )
    assert retrieval.read_corpus(corpus) == {"a": "T body", "7": "seven", "b": "bee"}


@pytest.mark.parametrize(
    ("name", "content", "reader", "line", "words"),
    [
        ("q.tsv", "q1\tok\nq2 no tab\n", "read_queries_tsv", 2, "2 tab-separated"),
        ("q.tsv", "q1\tok\nq1\tagain\n", "read_queries_tsv", 2, "repeated"),
        ("q.tsv", "q1\t  \n", "read_queries_tsv", 1, "empty"),
        ("c.tsv", "d1\ttext\nd2\ta\tb\tc\n", "read_corpus", 2, "2 or 3"),
        ("c.tsv", "d1\t\t \n", "read_corpus", 1, "no text"),
        ("c.jsonl", '{"_id": "a", "text": "x"}\n{"text": "y"}\n', "read_corpus", 2, "needs an id"),
        ("c.jsonl", '{"_id": "a", "text": "x"}\n{"_id": \n', "read_corpus", 2, "invalid JSON"),
    ],
)
def test_trec_errors_name_file_and_line(write_file, name, content, reader, line, words):
    path = write_file(name, content)
    with pytest.raises(InputError) as info:
        getattr(retrieval, reader)(path)
    assert info.value.line == line and info.value.path == path
    assert f"{path}:{line}" in str(info.value) and words in str(info.value)


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [("q1 0 d1 1\nq1 0 d2\n", 2, "3 fields instead of 4"), ("q1 0 d1 yes\n", 1, "not an integer")],
)
def test_bad_qrels_name_file_and_line(write_file, trec, content, line, words):
    queries, corpus, _ = trec
    path = write_file("r.txt", content)
    with pytest.raises(InputError) as info:
        retrieval.load_trec_collection(queries, corpus, path)
    assert info.value.line == line and info.value.path == path
    assert f"{path}:{line}" in str(info.value) and words in str(info.value)


def test_trec_files_that_do_not_belong_together(write_file, trec):
    queries, corpus, _ = trec
    qrels = write_file("other-qrels.txt", "x1 0 d1 1\n")
    with pytest.raises(InputError, match="belong together"):
        retrieval.load_trec_collection(queries, corpus, qrels)


# --------------------------------------------------------------------------- ir_datasets


@pytest.fixture
def local_ir_dataset(tmp_path, monkeypatch):
    """A real ir_datasets dataset over local files, registered under a fresh name."""
    import ir_datasets
    from ir_datasets.formats import TrecQrels, TrecScoredDocs, TsvDocs, TsvQueries
    from ir_datasets.util import LocalDownload

    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "ird-home"))
    root = tmp_path / "ird"
    root.mkdir()
    (root / "docs.tsv").write_text(
        "p1\tBerlin ist die Hauptstadt.\np2\tKatzen schlafen viel.\np3\tHunde bellen.\n"
        "p4\tUngenutzt.\n",
        encoding="utf-8",
    )
    (root / "queries.tsv").write_text(
        "1\tHauptstadt Deutschland\n2\tHaustiere\n3\tohne Urteil\n", encoding="utf-8"
    )
    (root / "qrels").write_text("1 0 p1 1\n2 0 p2 1\n", encoding="utf-8")
    (root / "run").write_text("1 Q0 p1 1 12.5 bm25\n1 Q0 p3 2 3.0 bm25\n2 Q0 p3 1 4.0 bm25\n")
    name = f"csir-test/{uuid.uuid4().hex}"
    ir_datasets.registry.register(
        name,
        ir_datasets.Dataset(
            TsvDocs(LocalDownload(root / "docs.tsv")),
            TsvQueries(LocalDownload(root / "queries.tsv")),
            TrecQrels(LocalDownload(root / "qrels"), {1: "relevant"}),
            TrecScoredDocs(LocalDownload(root / "run")),
        ),
    )
    return name


def test_load_ir_dataset_fetches_only_candidates_and_judged_docs(local_ir_dataset):
    collection, run = retrieval.load_ir_dataset(local_ir_dataset, lang="de", dataset="toy")
    assert collection.dataset == "toy" and collection.task == local_ir_dataset
    assert collection.queries == {"1": "Hauptstadt Deutschland", "2": "Haustiere"}
    assert collection.qrels == {"1": {"p1": 1}, "2": {"p2": 1}}
    assert sorted(collection.docs) == ["p1", "p2", "p3"]  # p4: neither judged nor retrieved
    assert collection.docs["p3"] == "Hunde bellen."
    assert run == {"1": {"p1": 12.5, "p3": 3.0}, "2": {"p3": 4.0}}
    small, small_run = retrieval.load_ir_dataset(local_ir_dataset, lang="de", max_queries=1)
    assert list(small.queries) == ["1"] and list(small_run) == ["1"]
    assert sorted(small.docs) == ["p1", "p3"]


def test_ir_dataset_pairs_share_the_dataset_name(local_ir_dataset):
    de, _ = retrieval.load_ir_dataset(local_ir_dataset, lang="de", dataset="toy")
    en = Collection(**{**de.__dict__, "lang": "en", "task": "other/en"})
    assert retrieval.make_pair(en, de).name == "en-de"


# --------------------------------------------------------------------------- reports


def test_pairs_table(folder):
    en = retrieval.load_squad_collection(folder, "en", "paragraph")
    de = retrieval.load_squad_collection(folder, "de", "paragraph")
    table = retrieval.pairs_table([retrieval.make_pair(en, de), retrieval.make_pair(en, en)])
    assert list(table["pair"]) == ["en-de", "en-en"]
    assert list(table["setting"]) == ["CLIR", "MoIR"]
    assert list(table["queries"]) == [3, 4]


def test_setting_names():
    base = dict(
        dataset="d",
        task="t",
        queries={},
        docs={},
        qrels={},
        query_langs={},
        doc_langs={},
        doc_groups={},
        counts={},
    )
    assert RetrievalPair(query_lang="de", doc_lang="de", **base).setting == "MoIR"
    assert RetrievalPair(query_lang="de", doc_lang="ar", **base).setting == "CLIR"
    assert RetrievalPair(query_lang="xx", doc_lang="en", **base).setting == "MLIR"


# --------------------------------------------------------------------------- the real mirror

_MIRROR = os.environ.get("CSIR_DATA_DIR", "")
_LAREQA_SENTENCES = {  # the lareqa README / data MANIFEST
    "ar": 1222,
    "de": 1276,
    "el": 1234,
    "en": 1180,
    "es": 1215,
    "hi": 1244,
    "ru": 1219,
    "th": 852,
    "tr": 1167,
    "vi": 1209,
    "zh": 1196,
}


# The languages of a parallel dataset: same paragraphs, same question ids in the same places.


def _question_paragraphs(collection: Collection) -> dict[str, str]:
    """qid → the paragraph (group) of its relevant doc(s)."""
    return {
        qid: collection.doc_groups[next(iter(rels))]
        for qid, rels in collection.qrels.items()
        if rels
    }


def check_parallel(collections: dict[str, Collection]) -> None:
    """Raise when the languages are not parallel: same paragraphs, same question ids in each.

    Raises:
        CsirError: naming the first language and question or paragraph that differs.
    """
    names = sorted(collections)
    if not names:
        return
    reference = collections[names[0]]
    groups = set(reference.doc_groups.values())
    placed = _question_paragraphs(reference)
    for lang in names[1:]:
        other = collections[lang]
        other_groups = set(other.doc_groups.values())
        if other_groups != groups:
            diff = sorted(groups ^ other_groups)[:3]
            raise CsirError(
                f"{other.source}: paragraphs differ from {reference.source} (e.g. {diff})"
            )
        if set(other.queries) != set(reference.queries):
            diff = sorted(set(other.queries) ^ set(reference.queries))[:3]
            raise CsirError(
                f"{other.source}: question ids differ from {reference.source} (e.g. {diff})"
            )
        for qid, paragraph in _question_paragraphs(other).items():
            if placed.get(qid, paragraph) != paragraph:
                raise CsirError(
                    f"{other.source}: question {qid!r} is in paragraph {paragraph}, but in "
                    f"{placed[qid]} in {reference.source}"
                )


@pytest.mark.skipif(
    not _MIRROR or not (Path(_MIRROR) / "xquad-r" / "en.json").is_file(),
    reason="needs the XQuAD-R mirror (CSIR_DATA_DIR)",
)
def test_real_xquad_r_is_parallel_with_lareqa_counts():
    from csir.data import xquad_r

    langs = xquad_r.XQUAD_R_LANGUAGES
    paragraphs = {lang: retrieval.load_squad_collection(None, lang, "paragraph") for lang in langs}
    sentences = {lang: retrieval.load_squad_collection(None, lang, "sentence") for lang in langs}
    check_parallel(paragraphs)  # raises unless parallel
    check_parallel(sentences)
    for lang in xquad_r.XQUAD_R_LANGUAGES:
        assert len(paragraphs[lang].docs) == 240 and len(paragraphs[lang].queries) == 1190
        assert len(sentences[lang].docs) == _LAREQA_SENTENCES[lang], lang
        assert sentences[lang].stats["sentence_split"] == "sentence_breaks"
        assert len(sentences[lang].qrels) == 1190
    assert list(paragraphs["de"].queries) == list(paragraphs["en"].queries)
    pair = retrieval.make_pair(sentences["en"], sentences["zh"])
    assert pair.counts["queries"] == 1190 and pair.counts["queries_without_relevant"] == 0


def test_check_parallel_reports_the_first_difference(folder, tmp_path):
    load = retrieval.load_squad_collection
    en, de = load(folder, "en", "paragraph"), load(folder, "de", "paragraph")
    check_parallel({"en": en, "en2": load(folder, "en", "paragraph")})
    with pytest.raises(CsirError, match="question ids differ"):
        check_parallel({"en": en, "de": de})
    moved = squad("fr")
    question = moved["data"][0]["paragraphs"][0]["qas"].pop()
    target = moved["data"][1]["paragraphs"][0]
    question["answers"] = [{"text": target["context"][:3], "answer_start": 0}]  # valid there
    target["qas"].append(question)
    write_squad(tmp_path / "moved", "fr", moved)
    with pytest.raises(CsirError, match="'q1' is in paragraph 1-0"):
        check_parallel({"en": en, "fr": load(tmp_path / "moved", "fr", "paragraph")})
