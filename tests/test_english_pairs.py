"""English training pairs: WikiQA (mirror, fixture, zip download) and MS MARCO text triples."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import pytest

from csir import paths
from csir.data import english_pairs
from csir.errors import ConfigError, DataNotFoundError, InputError

WIKIQA_TXT = (
    "how are glacier caves formed ?\tA partly submerged glacier cave on Perito Moreno Glacier"
    " .\t0\n"
    "how are glacier caves formed ?\tA glacier cave is a cave formed within the ice of a glacier"
    " .\t1\n"
    "who is `` the boss '' ?\tThe boss , he said , is n't here .\t0\n"
)
WIKIQA_REF = "1 0 0 0\n1 0 3 1\n7 0 2 0\n"


@pytest.fixture
def wikiqa(write_file):
    """A tiny WikiQA split: returns a function writing .txt/.ref with optional overrides."""

    def _make(txt: str | bytes = WIKIQA_TXT, ref: str = WIKIQA_REF) -> tuple[Path, Path]:
        return write_file("w/WikiQA-train.txt", txt), write_file("w/WikiQA-train.ref", ref)

    return _make


def read(txt: Path, ref: Path, **kwargs) -> list[dict]:
    return list(english_pairs.iter_wikiqa("train", txt_path=txt, ref_path=ref, **kwargs))


# ---------------------------------------------------------------------------------------- WikiQA


def test_wikiqa_fixture_ids_labels_and_natural_text(wikiqa):
    records = read(*wikiqa())
    assert records == [
        {
            "qid": "wikiqa-train-q1",
            "pid": "wikiqa-train-q1-s0",
            "query": "how are glacier caves formed?",
            "passage": "A partly submerged glacier cave on Perito Moreno Glacier.",
            "label": 0,
        },
        {
            "qid": "wikiqa-train-q1",
            "pid": "wikiqa-train-q1-s3",
            "query": "how are glacier caves formed?",
            "passage": "A glacier cave is a cave formed within the ice of a glacier.",
            "label": 1,
        },
        {
            "qid": "wikiqa-train-q7",
            "pid": "wikiqa-train-q7-s2",
            "query": 'who is "the boss"?',
            "passage": "The boss, he said, isn't here.",
            "label": 0,
        },
    ]
    assert len(read(*wikiqa(), max_pairs=2)) == 2


@pytest.mark.parametrize(
    ("txt", "ref", "message", "where"),
    [
        ("a ?\tb .\n", "1 0 0 0\n", "expected 3 tab-separated fields", "WikiQA-train.txt:1"),
        ("a ?\tb .\t2\n", "1 0 0 2\n", "label must be 0 or 1", "WikiQA-train.txt:1"),
        ("a ?\tb .\t1\n", "1 0 0 0\n", "disagrees with WikiQA-train.ref line 1", ".txt:1"),
        ("a ?\tb .\t0\n", "1 0 x 0\n", "expected 4 integers", "WikiQA-train.ref:1"),
        ("a ?\tb .\t0\na ?\tc .\t0\n", "1 0 0 0\n", "fewer lines", "WikiQA-train.ref"),
        ("a ?\tb .\t0\n", "1 0 0 0\n1 0 1 0\n", "more lines", "WikiQA-train.ref"),
        ("a ?\t \t0\n", "1 0 0 0\n", "empty question or sentence", "WikiQA-train.txt:1"),
    ],
)
def test_wikiqa_bad_input_names_file_and_line(wikiqa, txt, ref, message, where):
    with pytest.raises(InputError, match=message) as info:
        read(*wikiqa(txt, ref))
    assert where in str(info.value)


def test_wikiqa_non_utf8(wikiqa):
    with pytest.raises(InputError, match=r"WikiQA-train.txt:2: not valid UTF-8"):
        read(*wikiqa(b"a ?\tb .\t0\ncaf\xe9 ?\tb .\t0\n", "1 0 0 0\n1 0 1 0\n"))


def test_wikiqa_missing_everywhere(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("CSIR_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("CSIR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CSIR_OFFLINE", "1")
    with pytest.raises(DataNotFoundError, match="WikiQA-dev.txt") as info:
        list(english_pairs.iter_wikiqa("dev"))
    assert "offline" in str(info.value) and "WikiQACorpus.zip" in str(info.value)
    with pytest.raises(ConfigError, match="split"):
        list(english_pairs.iter_wikiqa("validation"))


def make_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return path


def test_wikiqa_zip_is_downloaded_into_the_cache_and_extracted(tmp_path: Path, monkeypatch):
    archive = make_zip(
        tmp_path / "WikiQACorpus.zip",
        {
            "WikiQACorpus/WikiQA-train.txt": WIKIQA_TXT,
            "WikiQACorpus/WikiQA-train.ref": WIKIQA_REF,
            "WikiQACorpus/README.txt": "readme",
            "../evil.txt": "outside",
        },
    )
    monkeypatch.setenv("CSIR_DATA_DIR", str(tmp_path / "empty-mirror"))
    monkeypatch.setenv("CSIR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CSIR_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(english_pairs, "WIKIQA_URL", archive.as_uri())
    records = list(english_pairs.iter_wikiqa("train"))
    assert [r["pid"] for r in records] == [
        "wikiqa-train-q1-s0",
        "wikiqa-train-q1-s3",
        "wikiqa-train-q7-s2",
    ]
    cached = tmp_path / "cache" / "data" / "english-train" / "WikiQACorpus"
    assert (cached / "WikiQA-train.ref").read_text() == WIKIQA_REF
    assert not (tmp_path / "cache" / "data" / "evil.txt").exists()
    assert not (tmp_path / "cache" / "data" / "english-train" / "evil.txt").exists()


def test_wikiqa_bad_zip_is_data_not_found(tmp_path: Path, monkeypatch):
    bad = tmp_path / "WikiQACorpus.zip"
    bad.write_bytes(b"not a zip")
    monkeypatch.setenv("CSIR_DATA_DIR", str(tmp_path / "empty-mirror"))
    monkeypatch.setenv("CSIR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CSIR_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(english_pairs, "WIKIQA_URL", bad.as_uri())
    with pytest.raises(DataNotFoundError, match="BadZipFile"):
        english_pairs.locate_wikiqa("WikiQA-train.txt")


def mirror_has_wikiqa() -> bool:
    mirror = paths.data_mirror()
    return bool(mirror) and (mirror / english_pairs.WIKIQA_DIR / "WikiQA-train.txt").is_file()


@pytest.mark.skipif(not mirror_has_wikiqa(), reason="WikiQA is not in the data mirror")
def test_wikiqa_mirror_counts():
    records = list(english_pairs.iter_wikiqa("train"))
    assert len(records) == 20360
    assert sum(r["label"] for r in records) == 1040
    assert len({r["qid"] for r in records}) == 2118
    assert len({r["qid"] for r in records if r["label"]}) == 873
    assert len({r["pid"] for r in records}) == 20360
    assert records[0]["query"] == "how are glacier caves formed?"
    dev = list(english_pairs.iter_wikiqa("dev"))
    assert (len(dev), sum(r["label"] for r in dev), len({r["qid"] for r in dev})) == (
        2733,
        140,
        296,
    )


@pytest.mark.skipif(not mirror_has_wikiqa(), reason="WikiQA is not in the data mirror")
def test_wikiqa_dataset_is_arrow_backed(tmp_path: Path):
    ds = english_pairs.load_training_pairs("wikiqa", "dev", max_pairs=50, cache_dir=tmp_path)
    assert len(ds) == 50
    assert list(ds.features) == ["qid", "pid", "query", "passage", "label"]
    assert ds.cache_files and Path(ds.cache_files[0]["filename"]).is_relative_to(tmp_path)
    assert ds[0] == next(english_pairs.iter_wikiqa("dev"))


def test_balance_pairs_groups_a_question_wherever_its_lines_stand():
    # a file whose questions are interleaved loses none of their negatives
    rows = [
        {"qid": "q0", "label": 0},
        {"qid": "q1", "label": 0},
        {"qid": "q0", "label": 1},
        {"qid": "q1", "label": 1},
        {"qid": "q0", "label": 0},
    ]
    kept = [(r["qid"], r["label"]) for r in english_pairs.balance_pairs(rows, 4)]
    assert kept == [("q0", 0), ("q0", 1), ("q0", 0), ("q1", 0), ("q1", 1)]


def test_balance_pairs_keeps_positives_and_k_negatives_each():
    rows = [
        {"qid": "a", "label": 0}, {"qid": "a", "label": 1}, {"qid": "a", "label": 0},
        {"qid": "a", "label": 0}, {"qid": "a", "label": 0},
        {"qid": "b", "label": 0}, {"qid": "b", "label": 0},
        {"qid": "c", "label": 1}, {"qid": "c", "label": 1}, {"qid": "c", "label": 0},
    ]  # fmt: skip
    kept = list(english_pairs.balance_pairs(rows, 2))
    assert [(r["qid"], r["label"]) for r in kept] == [
        ("a", 0), ("a", 1), ("a", 0), ("c", 1), ("c", 1), ("c", 0)
    ]  # fmt: skip
    assert list(english_pairs.balance_pairs(rows, 0)) == rows
    with pytest.raises(ConfigError):
        list(english_pairs.balance_pairs(rows, -1))


@pytest.mark.skipif(not mirror_has_wikiqa(), reason="WikiQA is not in the data mirror")
def test_balanced_wikiqa_has_the_papers_ratio(tmp_path: Path):
    ds = english_pairs.load_training_pairs(
        "wikiqa", "train", negatives_per_positive=4, cache_dir=tmp_path
    )
    labels = ds["label"]
    assert (len(labels), sum(labels)) == (4432, 1040)
    assert len(set(ds["qid"])) == 873  # questions without a correct answer are dropped
    dev = english_pairs.load_training_pairs("wikiqa", "dev", cache_dir=tmp_path)
    assert len(dev) == 2733  # the dev set keeps every candidate


# -------------------------------------------------------------------------------------- MS MARCO

TRIPLES = [(f"query {i // 2}", f"positive {i // 2}", f"negative {i}") for i in range(12)]


def tsv(rows) -> str:
    return "".join("\t".join(row) + "\n" for row in rows)


def test_msmarco_tsv_one_positive_per_four_negatives(write_file):
    path = write_file("triples.train.small.tsv", tsv(TRIPLES))
    records = list(english_pairs.iter_msmarco_triples(path))
    assert len(records) == 12
    assert [r["label"] for r in records] == [1, 0, 0, 0, 0] * 2 + [1, 0]
    assert records[0]["passage"] == "positive 0" and records[1]["passage"] == "negative 1"
    assert records[0]["qid"] == records[1]["qid"] != records[2]["qid"]
    assert records[0]["qid"].startswith("msmarco-q") and records[0]["pid"].startswith("msmarco-p")
    again = list(english_pairs.iter_msmarco_triples(path))
    assert again == records  # ids are stable hashes of the text
    assert len(list(english_pairs.iter_msmarco_triples(path, max_pairs=5))) == 5
    pattern = [
        r["label"] for r in english_pairs.iter_msmarco_triples(path, negatives_per_positive=1)
    ]
    assert pattern == [1, 0] * 6


def test_msmarco_gzipped_tsv_and_jsonl(tmp_path: Path):
    gz = tmp_path / "triples.tsv.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write(tsv(TRIPLES[:3]))
    assert [r["label"] for r in english_pairs.iter_msmarco_triples(gz)] == [1, 0, 0]
    jsonl = tmp_path / "triples.jsonl"
    lines = [{"query": q, "positive": p, "negative": n} for q, p, n in TRIPLES[:3]]
    jsonl.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    assert list(english_pairs.iter_msmarco_triples(jsonl)) == list(
        english_pairs.iter_msmarco_triples(gz)
    )


def test_msmarco_jsonl_negatives_list(write_file):
    rows = [
        {"qid": 17, "query": "q", "positive": "p", "negatives": [f"n{i}" for i in range(6)]},
        {"query": "r", "positive": "p2", "negatives": ["m"]},
    ]
    path = write_file("hard.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    records = list(english_pairs.iter_msmarco_triples(path))
    assert [(r["passage"], r["label"]) for r in records] == [
        ("p", 1),
        ("n0", 0),
        ("n1", 0),
        ("n2", 0),
        ("n3", 0),
        ("p2", 1),
        ("m", 0),
    ]
    assert records[0]["qid"] == "17"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("t.tsv", "q\tp\n", r"t.tsv:1: expected 3 tab-separated fields"),
        ("t.tsv", "q\tp\tn\n\t\tn\n", r"t.tsv:2: query must be a non-empty string"),
        (
            "t.jsonl",
            '{"query": "q", "positive": "p", "negative": "n"}\n{oops\n',
            r"t.jsonl:2: invalid",
        ),
        ("t.jsonl", '["q", "p", "n"]\n', "JSON object"),
        ("t.jsonl", '{"query": "q", "positive": "p", "negatives": []}\n', "non-empty list"),
        ("t.jsonl", '{"query": "q", "positive": "p"}\n', "negative must be a non-empty string"),
    ],
)
def test_msmarco_bad_input(write_file, name, content, message):
    with pytest.raises(InputError, match=message):
        list(english_pairs.iter_msmarco_triples(write_file(name, content)))


def test_msmarco_missing_file_and_unknown_format(tmp_path: Path, write_file):
    with pytest.raises(DataNotFoundError):
        list(english_pairs.iter_msmarco_triples(tmp_path / "nope.tsv"))
    with pytest.raises(ConfigError, match="format"):
        list(english_pairs.iter_msmarco_triples(write_file("triples.csv", "a,b,c\n")))
    with pytest.raises(InputError, match="UTF-8"):
        list(english_pairs.iter_msmarco_triples(write_file("t.tsv", b"q\t\xff\tn\n")))


def test_msmarco_dataset_streams_to_arrow(write_file, tmp_path: Path):
    path = write_file("triples.tsv", tsv(TRIPLES))
    ds = english_pairs.load_training_pairs("msmarco", path=path, cache_dir=tmp_path / "hf")
    assert len(ds) == 12 and ds.features["label"].dtype == "int64"
    assert list(ds) == list(english_pairs.iter_msmarco_triples(path))
    with pytest.raises(ConfigError, match="needs the path"):
        english_pairs.load_training_pairs("msmarco")
    with pytest.raises(ConfigError, match="one of"):
        english_pairs.load_training_pairs("squad")
