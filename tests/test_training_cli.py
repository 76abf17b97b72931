"""``python -m csir.training``: the command line used under ``accelerate launch``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from csir.errors import ConfigError
from csir.training import __main__ as cli


def _pairs(path: Path) -> Path:
    rows = [
        {"qid": f"q{i}", "pid": f"p{i}", "query": f"question {i}", "passage": f"passage {i} text",
         "label": i % 2, "query_lang": "en", "doc_lang": "en"}
        for i in range(8)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cli_trains_a_model_with_the_given_options(tmp_path, tiny_cross_encoder, capsys):
    out = tmp_path / "model"
    cli.main(
        ["--train-file", str(_pairs(tmp_path / "train.jsonl")), "--output-dir", str(out),
         "--backbone", str(tiny_cross_encoder), "--max-steps", "2", "--batch-size", "4",
         "--max-length", "32", "--checkpoint-every", "0", "--learning-rate", "0.001"]
    )  # fmt: skip
    assert (out / "model.safetensors").is_file()
    record = json.loads((out / "csir_training.json").read_text())
    assert str(out) in capsys.readouterr().out
    assert record["steps"] == 2
    assert record["args"]["max_length"] == 32


def test_cli_rejects_bad_values(tmp_path, tiny_cross_encoder):
    with pytest.raises(ConfigError):
        cli.main(
            ["--train-file", str(_pairs(tmp_path / "t.jsonl")), "--output-dir", str(tmp_path / "m"),
             "--backbone", str(tiny_cross_encoder), "--precision", "fp8"]
        )  # fmt: skip
