"""Broken user files, organised by issue 11's classes: each is read correctly or stopped with
one error that names the file, the line and the fix. Fixtures are written by the tests."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import numpy as np
import pytest

from csir import io
from csir.errors import InputError
from csir.lexicon import readers

BOM = "\ufeff"


# --------------------------------------------------------------- inputs that read wrongly


def test_a_byte_order_mark_is_not_part_of_the_first_line(tmp_path: Path):
    path = tmp_path / "en-de.txt"
    path.write_text(BOM + "dog Hund\ncat Katze\n", encoding="utf-8")
    assert [line for _, line in io.read_lines(path)] == ["dog Hund", "cat Katze"]
    assert readers.read_muse_dictionary(path) == {"dog": ["Hund"], "cat": ["Katze"]}
    vec = tmp_path / "bom.vec"
    vec.write_text(BOM + "2 2\na 1 0\nb 0 1\n", encoding="utf-8")
    assert readers.read_vec(vec).words == ["a", "b"]  # the header parses


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_a_non_finite_vector_value_names_the_line(tmp_path: Path, value):
    path = tmp_path / "x.vec"
    path.write_text(f"3 2\na 1 0\nb {value} 1\nc 0 1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"x\.vec:3: the vector of 'b' holds a value that is not"):
        readers.read_vec(path)


def test_a_vec_file_shorter_than_its_header_is_a_cut_download(tmp_path: Path):
    path = tmp_path / "cut.vec"
    path.write_text("5 2\na 1 0\nb 0 1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"cut\.vec: the file ends after 2 of the 5 vectors"):
        readers.read_vec(path)
    # Asking for fewer words than the file holds is no cut.
    assert readers.read_vec(path, max_words=2).words == ["a", "b"]


def test_a_vec_file_cut_inside_its_last_vector_is_a_cut_download(tmp_path: Path):
    path = tmp_path / "cut.vec"
    path.write_text("3 2\na 1 0\nb 0 1\nc 0.", encoding="utf-8")  # the download stopped here
    with pytest.raises(InputError, match=r"cut\.vec:4: the file ends in the middle of a vector"):
        readers.read_vec(path)
    # The same short line with its line end is one of MUSE's corrupt lines: skipped, reported.
    path.write_text("3 2\na 1 0\nb 0 1\nc 0.\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"skipped 1 line\(s\).*lines 4"):
        assert readers.read_vec(path).words == ["a", "b"]


def test_a_vec_file_without_one_readable_row_says_what_the_header_declares(tmp_path: Path):
    path = tmp_path / "dims.vec"
    path.write_text("2 300\na 1 0\nb 0 1\n", encoding="utf-8")
    no_row = r"dims\.vec: no line holds a word and exactly 300"
    with pytest.raises(InputError, match=no_row), pytest.warns(UserWarning, match="skipped 2"):
        readers.read_vec(path)


def test_a_vec_file_longer_than_its_header_is_an_error(tmp_path: Path):
    path = tmp_path / "long.vec"
    path.write_text("2 2\na 1 0\nb 0 1\n\nc 1 1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"long\.vec:5: the file holds more than the 2 vectors"):
        readers.read_vec(path)  # 'c' was dropped without a word
    path.write_text("0 2\na 1 0\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"long\.vec:2: the file holds more than the 0 vectors"):
        readers.read_vec(path)
    # Trailing blank lines are no vectors; asking for fewer words than the header is no excess.
    path.write_text("2 2\na 1 0\nb 0 1\n\n", encoding="utf-8")
    assert readers.read_vec(path).words == ["a", "b"]
    path.write_text("3 2\na 1 0\nb 0 1\nc 1 1\n", encoding="utf-8")
    assert readers.read_vec(path, max_words=2).words == ["a", "b"]


@pytest.mark.parametrize("text", ["", "\n  \n", BOM])
def test_an_empty_muse_dictionary_is_an_error(tmp_path: Path, text):
    path = tmp_path / "en-de.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=r"en-de\.txt: the dictionary holds no 'source target'"):
        readers.read_muse_dictionary(path)


def test_a_good_vec_file_still_reads(tmp_path: Path):
    path = tmp_path / "ok.vec"
    path.write_text("2 2\na 1 0\nb 0 1\n", encoding="utf-8")
    vectors = readers.read_vec(path)
    np.testing.assert_array_equal(vectors.vectors, [[1, 0], [0, 1]])


def test_json_files_skip_a_byte_order_mark_and_refuse_nan(tmp_path: Path):
    path = tmp_path / "settings.json"
    path.write_text(BOM + '{"top_k": 2}', encoding="utf-8")
    assert io.read_json(path) == {"top_k": 2}
    path.write_text('{"alpha": NaN}', encoding="utf-8")
    with pytest.raises(InputError, match=r"settings\.json: NaN is not a JSON number"):
        io.read_json(path)


def test_a_key_repeated_in_one_json_object_is_an_error(tmp_path: Path):
    """Python's json keeps the last value: ``"label": 1, "label": 0`` read as a negative."""
    line = '{"qid": "q1", "pid": "p1", "query": "a", "passage": "b", "label": 1, "label": 0}'
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text('{"qid": "q0"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"train\.jsonl:2: the key 'label' appears twice"):
        list(io.iter_jsonl_records(jsonl))
    squad = tmp_path / "de.json"
    squad.write_text('{"version": "1", "data": [], "data": [{"title": "x"}]}', encoding="utf-8")
    with pytest.raises(InputError, match=r"de\.json: the key 'data' appears twice.*each key once"):
        io.read_json(squad)


def test_a_utf16_file_is_named_as_such(tmp_path: Path):
    path = tmp_path / "queries.tsv"
    path.write_bytes("q1\twhat is it\n".encode("utf-16"))
    with pytest.raises(InputError, match=r"queries\.tsv: the file is UTF-16.*iconv -f utf-16"):
        list(io.read_lines(path))


def test_lines_ended_by_carriage_returns_only_are_an_error_not_one_line(tmp_path: Path):
    path = tmp_path / "en-de.txt"
    path.write_bytes(b"house haus\rdog hund\rcat katze\r")
    cr_only = r"en-de\.txt:1: a carriage return \(\\r\) inside the first line.*tr '\\r' '\\n'"
    with pytest.raises(InputError, match=cr_only):
        list(io.read_lines(path))
    path.write_bytes(b"house haus\r\ndog hund\r\n")  # Windows line ends read fine
    assert [text for _, text in io.read_lines(path)] == ["house haus", "dog hund"]
    path.write_bytes(b"house haus\ndog\rhund\n")  # a stray \r later is content
    assert [text for _, text in io.read_lines(path)] == ["house haus", "dog\rhund"]


def test_a_training_line_with_a_non_finite_number_names_the_line(tmp_path: Path):
    from csir.training import iter_training_pairs

    good = (
        '{"qid": "q", "pid": "p", "query": "a?", "passage": "b.", "label": 1, '
        '"query_lang": "en", "doc_lang": "en"}'
    )
    path = tmp_path / "train.jsonl"
    path.write_text(BOM + good + "\n" + good.replace('"label": 1', '"label": Infinity') + "\n")
    with pytest.raises(InputError, match=r"train\.jsonl:2: Infinity is not a JSON number"):
        list(iter_training_pairs(path))


@pytest.mark.parametrize(
    ("key", "value"), [("qid", None), ("qid", ""), ("qid", ["q"]), ("qid", True), ("pid", None)]
)
def test_a_training_line_whose_question_id_is_not_an_id_names_the_line(tmp_path: Path, key, value):
    import json

    from csir.training import iter_training_pairs
    from csir.training.dev import read_dev_set

    record = {"qid": "q", "pid": "p", "query": "a?", "passage": "b.", "label": 1}
    record |= {"query_lang": "en", "doc_lang": "en"}
    path = tmp_path / "dev.jsonl"
    lines = [record, {**record, "pid": 2, "label": 0}, {**record, key: value}]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    # null ids were read as the question 'None': one listwise group, one dev question
    message = rf"dev\.jsonl:3: {key} must be a non-empty string or an integer"
    with pytest.raises(InputError, match=message):
        list(iter_training_pairs(path))
    with pytest.raises(InputError, match=message):
        read_dev_set(path)
    path.write_text("".join(json.dumps(r) + "\n" for r in lines[:2]), encoding="utf-8")
    assert read_dev_set(path).pids == ("p", "2")


# --------------------------------------------------------------- where files go


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_full_or_read_only_disk_is_one_error_naming_the_file(tmp_path: Path, monkeypatch, code):
    from csir.errors import CsirError

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(io.os, "replace", refuse)
    target = tmp_path / "out" / "metrics.json"
    with pytest.raises(CsirError, match=rf"cannot write {target}: {os.strerror(code)}"):
        io.write_json(target, {"a": 1})
    assert list(target.parent.iterdir()) == []  # no temporary file left behind


def test_the_next_write_removes_temporaries_of_killed_writers(tmp_path: Path):
    target = tmp_path / "metrics.csv"
    killed = tmp_path / ".metrics.csv.k1ll3d.tmp"  # what a SIGKILL mid-write leaves
    busy = tmp_path / ".metrics.csv.w0rk1n.tmp"  # a writer still at work
    other = tmp_path / ".pairs.csv.0ld0ne.tmp"  # another file's: not this write's business
    for leftover in (killed, busy, other):
        leftover.write_text("partial", encoding="utf-8")
    old = time.time() - 2 * io.STALE_TEMPORARY_S
    os.utime(killed, (old, old))
    os.utime(other, (old, old))
    with io.atomic_write(target) as fh:
        fh.write("a,b\n")
    assert target.read_text(encoding="utf-8") == "a,b\n"
    assert not killed.exists()
    assert busy.exists() and other.exists()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"dataset": "../../elsewhere"}, r"dataset '\.\./\.\./elsewhere' must be a plain name"),
        ({"dataset": "a/b"}, r"dataset 'a/b' must be a plain name"),
        ({"dataset": ""}, r"dataset '' must be a plain name"),
    ],
)
def test_a_name_parameter_cannot_leave_the_output_folder(params, message):
    from csir.config import EvaluationConfig
    from csir.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        EvaluationConfig.from_params({"smoke": False, **params})


@pytest.mark.parametrize(
    ("train_set", "message"),
    [
        ("bl-cs/../p=0.5", r"the pair '\.\.' must be a plain name"),
        ("ml-cs/ml/p=banana", r"p must be a number in \[0, 1\]"),
        ("ml-cs/ml/p=1.5", r"p must be a number in \[0, 1\]"),
        ("cs/ml/p=0.5", r"must look like '<method>/<pair>/p=<p>'"),
    ],
)
def test_a_training_set_name_is_checked_before_training(train_set, message):
    from csir.config import TrainingConfig
    from csir.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        TrainingConfig.from_params({"smoke": False, "train_sets": [train_set]})


# --------------------------------------------------------------- strings normalised alike


def test_lexicon_look_ups_match_case_and_unicode_composition_alike():
    from csir.codeswitch.switch import lookup_words, normalise_lexicon, translate_terms

    lexicon = normalise_lexicon({"Café": ["coffee"], "HAUS": ["house"]})
    assert dict(lexicon.items()) == {"café": ("coffee",), "haus": ("house",)}
    decomposed = "Cafe\u0301"  # 'e' + combining acute, as some files write it
    assert translate_terms(f"Das {decomposed} im Haus.", lexicon) == "Das coffee im house."
    assert lookup_words(["das", decomposed.upper()], lexicon) == [(1, ("coffee",))]
    # Turkish capital dotted I: Python lowers it to 'i' + a combining dot, which no 'i' matches
    turkish = normalise_lexicon({"ilk": ["first"]})
    assert lookup_words(["İlk"], turkish) == [(0, ("first",))]
    from csir.text import retrieval_terms

    assert retrieval_terms("İlk İstanbul") == ["ilk", "istanbul"]


def test_a_squad_answer_offset_that_misses_its_text_names_the_question(tmp_path: Path):
    import json

    from csir.data import retrieval

    def squad(start: int) -> dict:
        answer = {"text": "dog", "answer_start": start}
        qa = {"id": "q7", "question": "Which animal barks?", "answers": [answer]}
        return {"data": [{"paragraphs": [{"context": "A cat. A dog barks.", "qas": [qa]}]}]}

    # offsets counted in bytes or in another normalisation would mark the wrong sentence relevant
    (tmp_path / "en.json").write_text(json.dumps(squad(2)), encoding="utf-8")
    with pytest.raises(InputError, match=r"en\.json: .*'q7'.*reads 'cat', not the answer text"):
        retrieval.load_squad_collection(tmp_path, "en", "sentence")
    (tmp_path / "en.json").write_text(json.dumps(squad(9)), encoding="utf-8")
    collection = retrieval.load_squad_collection(tmp_path, "en", "sentence")
    assert list(collection.qrels["q7"]) == ["0-0-1"]


def _squad(qa: dict, **paragraph) -> dict:
    answers = {"answers": [{"text": "dog", "answer_start": 9}]}
    qa = {"id": "q7", "question": "Which animal barks?", **answers, **qa}
    return {
        "data": [{"paragraphs": [{"context": "A cat. A dog barks.", "qas": [qa], **paragraph}]}]
    }


@pytest.mark.parametrize(
    ("qa", "paragraph", "message"),
    [
        # "false" is true in Python: the question lost its relevant paragraph
        ({"is_impossible": "false"}, {}, r"'q7' has is_impossible 'false'"),
        ({"id": True}, {}, r"a question has no id"),
        ({"id": "q 7"}, {}, r"question id 'q 7' contains whitespace"),
        # said "answer_start None outside its context"
        ({"answers": {"text": "dog", "answer_start": 9}}, {}, r"'q7' has answers .*not a list"),
        ({"answers": ["dog"]}, {}, r"'q7' has answers .*not a list of objects"),
        ({"answers": [{"text": "dog", "answer_start": "9"}]}, {}, r"answer_start '9', not an int"),
        # overlapping sentences: the answer was in both, the first was marked relevant
        ({}, {"sentence_breaks": [[0, 12], [7, 19]]}, r"sentence_breaks\[1\] = \[7, 19\]"),
        ({}, {"sentence_breaks": [[7, 19], [0, 6]]}, r"sentence_breaks\[1\] = \[0, 6\]"),
        ({}, {"sentence_breaks": []}, r"sentence_breaks\[0\] = None"),  # no sentence at all
    ],
)
def test_a_squad_question_or_paragraph_of_the_wrong_shape_names_the_question(
    tmp_path: Path, qa, paragraph, message
):
    import json

    from csir.data import retrieval

    (tmp_path / "en.json").write_text(json.dumps(_squad(qa, **paragraph)), encoding="utf-8")
    with pytest.raises(InputError, match=r"en\.json: article 0 paragraph 0: .*" + message):
        retrieval.load_squad_collection(tmp_path, "en", "sentence")
    good = {"sentence_breaks": [[0, 6], [7, 19]]}
    (tmp_path / "en.json").write_text(json.dumps(_squad({"id": 7}, **good)), encoding="utf-8")
    assert retrieval.load_squad_collection(tmp_path, "en", "sentence").qrels == {"7": {"0-0-1": 1}}


def test_a_relevant_document_missing_from_the_corpus_is_an_error(tmp_path: Path):
    from csir.data import retrieval

    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\tcats\nq2\tdogs\n", encoding="utf-8")
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("d1\tA cat.\nd2\tA dog.\n", encoding="utf-8")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d1 1\nq2 0 d2 1\nq2 0 d9 1\nq2 0 d8 0\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"qrels\.txt: 1 relevant judgement\(s\) name documents"):
        retrieval.load_trec_collection(queries, corpus, qrels)
    # A non-relevant judgement of an unknown document changes no measure: left out, counted.
    qrels.write_text("q1 0 d1 1\nq2 0 d2 1\nq2 0 d8 0\n", encoding="utf-8")
    collection = retrieval.load_trec_collection(queries, corpus, qrels)
    assert collection.stats["qrels_unknown_docs"] == 1


def test_judged_queries_missing_from_the_queries_file_are_counted_and_reported(
    tmp_path: Path, caplog
):
    from csir.data import retrieval

    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\tcats\n", encoding="utf-8")
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("d1\tA cat.\nd2\tA dog.\n", encoding="utf-8")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d1 1\nq2 0 d2 1\nq3 0 d2 1\n", encoding="utf-8")
    with caplog.at_level("WARNING"):
        collection = retrieval.load_trec_collection(queries, corpus, qrels)
    assert collection.stats["qrels_unknown_queries"] == 2
    assert "2 judged queries are not in" in caplog.text  # was only counted in stats


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("queries.tsv", "q1\tcats\nq 2\tdogs\n", r"queries\.tsv:2: query id 'q 2' contains"),
        ("corpus.tsv", "d1\tA cat.\nd\u00a02\tA dog.\n", r"corpus\.tsv:2: document id .* contains"),
        ("corpus.jsonl", '{"_id": "d 1", "text": "A cat."}\n', r"corpus\.jsonl:1: document id"),
    ],
)
def test_an_id_with_whitespace_that_no_qrels_line_can_name_is_an_error(
    tmp_path: Path, name, text, message
):
    from csir.data import retrieval

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    read = retrieval.read_queries_tsv if name.startswith("queries") else retrieval.read_corpus
    with pytest.raises(InputError, match=message):
        read(path)


@pytest.mark.parametrize(
    "record",
    [
        '{"_id": null, "text": "A cat."}',
        '{"_id": true, "text": "A cat."}',
        '{"_id": 1.0, "text": "A cat."}',
        '{"_id": ["d1"], "text": "A cat."}',
        '{"_id": "d1", "title": ["Cats"], "text": "A cat."}',
        '{"_id": "d1", "title": 5, "text": "A cat."}',
    ],
)
def test_a_jsonl_document_id_or_title_of_the_wrong_type_is_an_error(tmp_path: Path, record):
    from csir.data import retrieval

    path = tmp_path / "corpus.jsonl"
    path.write_text('{"_id": 7, "title": null, "text": "A dog."}\n' + record + "\n")
    with pytest.raises(InputError, match=r"corpus\.jsonl:2: record needs an id"):
        retrieval.read_corpus(path)  # was read as the id 'None', 'True', '1.0', "['d1']"...
    path.write_text('{"_id": 7, "title": null, "text": "A dog."}\n')
    assert retrieval.read_corpus(path) == {"7": "A dog."}


# --------------------------------------------------------------- checked when the config is built


@pytest.mark.parametrize("device", ["cudax", "gpu", "cuda:", "cuda:a", "CPU", ""])
def test_one_rule_for_device_names_everywhere(device):
    from csir.config import EvaluationConfig, LexiconConfig
    from csir.errors import ConfigError
    from csir.rerank import ScoringOptions

    message = r"device .* must be 'auto', 'cpu', 'cuda' or 'cuda:<n>'"
    for build in (
        lambda: EvaluationConfig.from_params({"smoke": False, "device": device}),
        lambda: LexiconConfig.from_params({"smoke": False, "device": device}),
        lambda: ScoringOptions(device=device),
    ):
        with pytest.raises(ConfigError, match=message):
            build()
    for good in ("auto", "cpu", "cuda", "cuda:1"):
        assert EvaluationConfig.from_params({"smoke": False, "device": good}).device == good
        assert ScoringOptions(device=good).device == good


@pytest.mark.parametrize(
    ("measures", "message"),
    [
        # matched nothing that notebook 05 asks for as 'RR@10'
        (["RR@10 "], r"measures: write measure 'RR@10 ' as 'RR@10'"),
        (["RR@10", "RR(cutoff=10)"], r"measures: write measure 'RR\(cutoff=10\)' as 'RR@10'"),
        # trec_eval aborted the Python process after every run was made
        (["P@0"], r"measures: measure 'P@0' needs a cutoff of at least 1"),
    ],
)
def test_a_measure_is_written_as_the_metrics_files_write_it(measures, message):
    from csir.config import EvaluationConfig, SignificanceConfig
    from csir.errors import ConfigError

    for cls in (EvaluationConfig, SignificanceConfig):
        with pytest.raises(ConfigError, match=message):
            cls.from_params({"smoke": False, "measures": measures})
    good = ["RR@10", "nDCG(dcg='exp-log2')@10", "P(rel=2)@5", "AP"]
    assert EvaluationConfig.from_params({"smoke": False, "measures": good}).measures == tuple(good)


@pytest.mark.parametrize("measure", ["nDGC@10", "", "RR@10 ", "P@0"])
def test_notebook_06s_measure_is_checked_when_its_config_is_built(measure):
    from csir.config import FiguresConfig
    from csir.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^measure"):
        FiguresConfig.from_params({"smoke": False, "measure": measure})


@pytest.mark.parametrize(
    ("notebook", "params", "message"),
    [
        # ('en', 'en') passed ">= 2 mlir_languages" and made every MLIR pair monolingual
        ("evaluation", {"pairs": ["xx-xx"], "mlir_languages": ["en", "en"]}, r"repeat 'en'"),
        ("evaluation", {"mlir_languages": ["en", "de", "de"]}, r"mlir_languages .* repeat 'de'"),
        ("lexicon", {"languages": ["de", "de"]}, r"languages \['de', 'de'\] repeat 'de'"),
        ("data_generation", {"ml_languages": ["de", "ru", "de"]}, r"ml_languages .* repeat"),
        ("data_generation", {"pairs": ["en-de", "en-de"]}, r"pairs .* repeat 'en-de'"),
        ("data_generation", {"probabilities": [0.5, 0.50]}, r"probabilities .* repeat '0\.5'"),
        ("data_generation", {"methods": ["bl-cs", "bl-cs"]}, r"methods .* repeat 'bl-cs'"),
        # bl-cs wrote no training set at all
        ("data_generation", {"pairs": [], "methods": ["bl-cs"]}, r"pairs must not be empty"),
        # an empty backbone turned the bi-encoder off without a word
        ("evaluation", {"dense_backbone": ""}, r"dense_backbone '' must name a backbone"),
        ("evaluation", {"dense_backbone": ".."}, r"dense_backbone '\.\.' must name"),
        ("lexicon", {"backbone": " "}, r"backbone must not be empty with clwe_source"),
        # numpy refuses these seeds only when the permutation test or training starts
        ("significance", {"seed": -1}, r"seed must be >= 0"),
        ("training", {"seeds": [1, 2**32]}, r"seeds: seed 4294967296 must be below 2\*\*32"),
    ],
)
def test_a_parameter_that_would_fail_or_mislead_later_is_refused_at_once(notebook, params, message):
    from csir import config
    from csir.errors import ConfigError

    cls = {
        "lexicon": config.LexiconConfig,
        "data_generation": config.DataGenerationConfig,
        "training": config.TrainingConfig,
        "evaluation": config.EvaluationConfig,
        "significance": config.SignificanceConfig,
    }[notebook]
    with pytest.raises(ConfigError, match=message):
        cls.from_params({"smoke": False, **params})
    cls.from_params({"smoke": False})  # the defaults pass


def test_the_bi_encoder_backbone_may_be_empty_when_nothing_uses_it():
    from csir.config import EvaluationConfig

    params = {"smoke": False, "dense_backbone": "", "bi_encoder": False}
    assert EvaluationConfig.from_params(params).dense_backbone == ""


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("qrels.txt", "q1 0 d1 1_0\n", "relevance '1_0' is not an integer"),
        ("run.txt", "q1 Q0 d1 1 1_0 tag\n", "score '1_0' is not a number"),
        ("run.txt", "q1 Q0 d1 1_0 2.5 tag\n", "rank '1_0' is not an integer"),
    ],
)
def test_digit_group_underscores_are_not_numbers_in_trec_files(tmp_path: Path, name, text, message):
    """Python's int('1_0') is 10: a typo would become a relevance grade or a score."""
    from csir import runs

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    reader = runs.read_qrels if name == "qrels.txt" else runs.read_run
    with pytest.raises(InputError, match=message):
        reader(path)


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("queries.tsv", "qid\ttext"),
        ("corpus.tsv", "id\ttitle\ttext"),
        ("corpus.tsv", "docid\ttext"),
    ],
)
def test_a_column_header_line_is_not_read_as_a_query_or_document(tmp_path: Path, name, header):
    from csir.data.retrieval import read_corpus, read_queries_tsv

    path = tmp_path / name
    rows = "q1\twhat is it\n" if name == "queries.tsv" else "d1\tsome text\n"
    path.write_text(header + "\n" + rows, encoding="utf-8")
    reader = read_queries_tsv if name == "queries.tsv" else read_corpus
    with pytest.raises(InputError, match=r":1: the first line .* is a column header"):
        reader(path)
    path.write_text(rows, encoding="utf-8")
    assert len(reader(path)) == 1


# --------------------------------------------------------------- classes found in session 10


def test_a_key_repeated_in_a_yaml_configuration_is_an_error(tmp_path: Path):
    from csir import pipeline
    from csir.errors import ConfigError

    path = tmp_path / "twice.yaml"
    # the first section would otherwise be dropped without a word, and its pairs with it
    path.write_text(
        "04_evaluation:\n  pairs: [en-de]\n04_evaluation:\n  top_k: 3\n", encoding="utf-8"
    )
    again = r"(?s)twice\.yaml.*'04_evaluation' again \(first on line 1"
    with pytest.raises(ConfigError, match=again):
        pipeline.read_config(path)
    path.write_text("04_evaluation:\n  top_k: 2\n  top_k: 9\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'top_k' again \(first on line 2"):
        pipeline.read_config(path)
    # anchors and merge keys still read
    assert io.loads_yaml("a: &x {k: 1}\nb:\n  <<: *x\n  j: 2\n")["b"] == {"k": 1, "j": 2}


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("learning_rate: 2e-5", r"got str '2e-5' \(in YAML, a number in e-notation needs a dot"),
        ("seeds: [1, on]", r"no/yes/on/off unquoted are booleans"),
    ],
)
def test_yaml_1_1_pitfalls_are_explained(yaml_text, message):
    from csir.config import TrainingConfig
    from csir.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        TrainingConfig.from_params({**io.loads_yaml(yaml_text), "smoke": False})


def test_translate_test_with_a_lexicon_source_notebook_01_writes_en_to_x_only(tmp_path: Path):
    from csir.data.retrieval import load_translation_lexicons
    from csir.errors import CsirError

    (tmp_path / "clwe_csls").mkdir()
    (tmp_path / "clwe_csls" / "en-de.tsv").write_text("cat\tkatze\n", encoding="utf-8")
    with pytest.raises(CsirError, match="X→EN lexicons only from muse.*set lexicon_source: muse"):
        load_translation_lexicons(tmp_path, ["de"], "clwe_csls")
    (tmp_path / "clwe_csls" / "de-en.tsv").write_text("katze\tcat\n", encoding="utf-8")
    assert load_translation_lexicons(tmp_path, ["de"], "clwe_csls")["de"] == {"katze": ("cat",)}


def test_a_language_without_a_word_list_is_refused_before_any_lexicon_is_written():
    from csir.config import LexiconConfig
    from csir.errors import ConfigError

    with pytest.raises(ConfigError, match="wordfreq has none for th: drop th"):
        LexiconConfig.from_params({"languages": ["de", "th"], "smoke": False})
    with_vectors = {"languages": ["de", "th"], "clwe_source": "muse-vec", "smoke": False}
    assert LexiconConfig.from_params(with_vectors).languages == ("de", "th")


def test_a_gzipped_triples_file_skips_its_byte_order_mark(tmp_path: Path):
    import gzip

    from csir.data import english_pairs

    path = tmp_path / "triples.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(BOM + "what is a cat\ta cat is an animal\ta dog barks\n")
    assert list(english_pairs._open_lines(path)) == [
        (1, "what is a cat\ta cat is an animal\ta dog barks")
    ]


def test_a_trec_collection_in_an_unknown_language_code_is_refused(tmp_path: Path):
    from csir.data import retrieval
    from csir.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown language code 'German'"):
        retrieval.load_trec_collection(
            tmp_path / "q.tsv", tmp_path / "c.tsv", tmp_path / "r", lang="German"
        )


def test_bitext_mining_refuses_files_that_are_not_parallel(tmp_path: Path):
    import json

    from csir.data.bitext import xquad_r_tasks
    from csir.errors import CsirError

    def article(context, qid, question):
        qa = {
            "id": qid,
            "question": question,
            "answers": [{"text": context[:4], "answer_start": 0}],
        }
        return {"title": "t", "paragraphs": [{"context": context, "qas": [qa]}]}

    en = [
        article("Berlin is in Germany.", "q1", "Where?"),
        article("Paris is in France.", "q2", "Where?"),
    ]
    de = [
        article("Paris liegt in Frankreich.", "q2", "Wo?"),
        article("Berlin liegt in Deutschland.", "q1", "Wo?"),
    ]
    for lang, data in (("en", en), ("de", de)):
        (tmp_path / f"{lang}.json").write_text(json.dumps({"data": data}), encoding="utf-8")
    with pytest.raises(CsirError, match=r"en\.json and .*de\.json are not parallel: question 'q1'"):
        xquad_r_tasks("en", "de", unit="paragraph", folder=tmp_path)


def test_a_pyserini_jsonl_corpus_reads_its_contents(tmp_path: Path):
    from csir.data import retrieval

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"id": "d1", "contents": "A cat."}\n{"id": "d2", "contents": "A dog."}\n')
    assert retrieval.read_corpus(corpus) == {"d1": "A cat.", "d2": "A dog."}


def test_parallel_files_without_one_shared_question_id_are_an_error(tmp_path: Path):
    import json

    from csir.data.retrieval import load_pair
    from csir.errors import CsirError

    for lang in ("en", "de"):
        qa = {"id": f"q1-{lang}", "question": "Q?", "answers": [{"text": "B", "answer_start": 0}]}
        data = {"data": [{"title": "t", "paragraphs": [{"context": "B c.", "qas": [qa]}]}]}
        (tmp_path / f"{lang}.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CsirError, match=r"share no question id \(first ids: 'q1-en', 'q1-de'\)"):
        load_pair(tmp_path, "en", "de", "paragraph")


def test_every_language_code_csir_accepts_has_stopwords_for_bm25():
    from csir import languages
    from csir.stopwords import stopwords

    assert {"ro", "ko", "bn", "fi"} <= set(languages.ALL)  # XQuAD's and TyDi's
    for code in languages.ALL:
        assert stopwords(code), code
    assert languages.parse_pair("en-ro") == ("en", "ro")
