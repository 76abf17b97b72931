"""TREC run and qrels files: exact format, round trips, and one clear error per bad input."""

from __future__ import annotations

import numpy as np
import pytest

from csir.errors import CsirError, InputError
from csir.runs import read_qrels, read_run, write_run


def test_write_run_format_order_and_ties(tmp_path):
    run = {"q2": {"b": 1.0, "a": 1.0, "c": 3.5}, "q1": {"x": -2.0}}
    path = write_run(tmp_path / "sub" / "r.trec", run, tag="bm25")
    assert path.read_text() == (
        "q1 Q0 x 1 -2.0 bm25\nq2 Q0 c 1 3.5 bm25\nq2 Q0 a 2 1.0 bm25\nq2 Q0 b 3 1.0 bm25\n"
    )
    assert read_run(path) == {"q1": {"x": -2.0}, "q2": {"a": 1.0, "b": 1.0, "c": 3.5}}


def test_scores_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(0)
    f64 = rng.normal(scale=1e3, size=200)
    f32 = rng.normal(size=200).astype(np.float32)
    run = {
        "q64": {f"d{i}": float(v) for i, v in enumerate(f64)},
        "q32": {f"d{i}": v for i, v in enumerate(f32)},  # numpy float32 scores as a scorer returns
        "tiny": {"a": 1e-300, "b": 5e-324, "c": 1.0000000000000002},
    }
    back = read_run(write_run(tmp_path / "r.trec", run, tag="t"))
    assert back["q64"] == run["q64"]
    assert back["tiny"] == run["tiny"]
    assert all(np.float32(back["q32"][d]) == v for d, v in run["q32"].items())


def test_write_is_atomic_on_bad_score(tmp_path):
    path = write_run(tmp_path / "r.trec", {"q": {"d": 1.0}}, tag="t")
    with pytest.raises(CsirError, match="'q'.*'e'.*nan"):
        write_run(path, {"q": {"d": 1.0, "e": float("nan")}}, tag="t")
    assert read_run(path) == {"q": {"d": 1.0}}  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["r.trec"]  # no temporary left behind


@pytest.mark.parametrize(
    ("run", "tag", "match"),
    [
        ({}, "t", "empty run"),
        ({"q": {}}, "t", "no documents.*'q'"),
        ({"q 1": {"d": 1.0}}, "t", "query id 'q 1'.*whitespace"),
        ({"q": {"d\t2": 1.0}}, "t", "document id 'd\\\\t2'"),
        ({"q": {"d": 1.0}}, "my run", "run tag 'my run'"),
    ],
)
def test_write_run_refuses_what_trec_cannot_hold(tmp_path, run, tag, match):
    with pytest.raises(CsirError, match=match):
        write_run(tmp_path / "r.trec", run, tag=tag)
    assert not (tmp_path / "r.trec").exists()


@pytest.mark.parametrize(
    ("content", "line", "match"),
    [
        ("q Q0 d 1 1.0 t\nq Q0 e 2 0.5\n", 2, "5 fields instead of 6"),
        ("q Q0 d 1 high t\n", 1, "score 'high' is not a number"),
        ("q Q0 d 1 nan t\n", 1, "score 'nan' is not finite"),
        ("q Q0 d first 1.0 t\n", 1, "rank 'first' is not an integer"),
        (
            "q Q0 d 1 1.0 t\nq Q0 e 2 0.5 t\nq Q0 d 3 0.1 t\n",
            3,
            "'q', document 'd' appears twice.*line 1",
        ),
    ],
)
def test_read_run_errors_name_file_and_line(write_file, content, line, match):
    path = write_file("bad.trec", content)
    with pytest.raises(InputError, match=match) as info:
        read_run(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_read_run_accepts_tabs_and_blank_lines(write_file):
    path = write_file("r.trec", "q1\tQ0\td1\t1\t2.5\tx\n\nq1 Q0 d2 2 -1e3 x\n")
    assert read_run(path) == {"q1": {"d1": 2.5, "d2": -1000.0}}


def test_empty_or_missing_files_are_refused(write_file, tmp_path):
    for content in ("", "\n  \n"):
        with pytest.raises(InputError, match="empty file"):
            read_run(write_file("empty.trec", content))
        with pytest.raises(InputError, match="empty file"):
            read_qrels(write_file("empty.qrels", content))
    with pytest.raises(InputError, match="does not exist"):
        read_run(tmp_path / "nope.trec")


def test_read_qrels_reads_trec_qrels(tmp_path):
    path = tmp_path / "q.qrels"
    path.write_text("q1 0 d 1\nq2 0 a 2\nq2 0 b 0\n", encoding="utf-8")
    assert read_qrels(path) == {"q1": {"d": 1}, "q2": {"a": 2, "b": 0}}


@pytest.mark.parametrize(
    ("content", "line", "match"),
    [
        ("q 0 d 1\nq 0 e\n", 2, "3 fields instead of 4"),
        ("q 0 d yes\n", 1, "relevance 'yes' is not an integer"),
        ("q 0 d 1\nq 0 d 0\n", 2, "judged twice.*line 1"),
    ],
)
def test_read_qrels_errors(write_file, content, line, match):
    path = write_file("bad.qrels", content)
    with pytest.raises(InputError, match=match) as info:
        read_qrels(path)
    assert info.value.line == line
