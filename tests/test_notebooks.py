"""Execute the notebooks in smoke mode through papermill, each stage reading the previous one."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import REPO_ROOT

papermill = pytest.importorskip("papermill")

pytestmark = pytest.mark.slow


def run_notebook(name: str, out_dir: Path, **parameters) -> Path:
    """Run notebooks/<name>.ipynb with smoke=True and the given parameters into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / f"{name}.ipynb"
    papermill.execute_notebook(
        str(REPO_ROOT / "notebooks" / f"{name}.ipynb"),
        str(executed),
        parameters={"smoke": True, **parameters},
        cwd=str(REPO_ROOT / "notebooks"),
        progress_bar=False,
        kernel_name="python3",
    )
    return executed


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pipeline")


@pytest.fixture(scope="module")
def lexicon_run(pipeline_dir: Path) -> Path:
    out = pipeline_dir / "01"
    run_notebook("01_lexicon_induction", pipeline_dir, output_dir=str(out))
    return out


def test_01_writes_bli_table_and_lexicons(lexicon_run: Path):
    with open(lexicon_run / "bli.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows, "bli.csv is empty"
    assert list(rows[0]) == [
        "source",
        "method",
        "src_lang",
        "tgt_lang",
        "precision_at_1",
        "n_test_pairs",
    ]
    assert {r["method"] for r in rows} == {"nn", "csls"}
    for row in rows:
        assert 0.0 <= float(row["precision_at_1"]) <= 1.0
        assert int(row["n_test_pairs"]) > 0
    tsvs = sorted((lexicon_run / "lexicons").rglob("*.tsv"))
    assert tsvs, "no lexicon written"
    for tsv in tsvs:
        sidecar = json.loads(tsv.with_suffix(".json").read_text(encoding="utf-8"))
        assert sidecar["source"] == tsv.parent.name


def test_02_writes_code_switched_jsonl(lexicon_run: Path, pipeline_dir: Path):
    out = pipeline_dir / "02"
    run_notebook(
        "02_data_generation",
        pipeline_dir,
        output_dir=str(out),
        lexicon_induction_dir=str(lexicon_run),
    )
    files = sorted((out / "train").rglob("train.jsonl"))
    assert files, "no training file written"
    keys = ["qid", "pid", "query", "passage", "label", "query_lang", "doc_lang"]
    for path in files:
        first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
        assert list(first) == keys, path
        assert (path.parent / "stats.json").is_file()


def test_unknown_parameter_fails_the_notebook(pipeline_dir: Path):
    with pytest.raises(papermill.PapermillExecutionError, match="unknown parameter"):
        run_notebook("01_lexicon_induction", pipeline_dir / "bad", output_dir="", langauges=["de"])
