"""Notebook 03: its parameters match TrainingConfig, and it runs headless on a tiny model."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
from conftest import REPO_ROOT, char_tokenizer, make_tiny_cross_encoder

from csir.config import TrainingConfig

papermill = pytest.importorskip("papermill")

NOTEBOOK = REPO_ROOT / "notebooks" / "03_training.ipynb"


def test_parameters_cell_matches_the_config():
    params = papermill.inspect_notebook(str(NOTEBOOK))
    fields = {f.name: f.default for f in dataclasses.fields(TrainingConfig)}
    assert set(params) == set(fields)
    for name, info in params.items():
        assert info["help"], f"parameter {name} has no comment"


def test_notebook_is_output_free():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.slow
def test_notebook_trains_a_tiny_model(tmp_path: Path):
    backbone = make_tiny_cross_encoder(
        tmp_path / "tiny-bert",
        tokenizer=char_tokenizer(),
        head=False,
        hidden_size=16,
        num_hidden_layers=1,
        intermediate_size=16,
        max_position_embeddings=128,
    )
    rng = random.Random(0)
    data = tmp_path / "02"
    for name in TrainingConfig.SMOKE_TRAIN_SETS:
        folder = data / "train" / name
        folder.mkdir(parents=True)
        rows = [
            {
                "qid": f"q{i}",
                "pid": f"p{i}",
                "query": "how is ice formed?",
                "passage": " ".join(rng.choices(["ice", "cave", "water"], k=rng.randint(2, 9))),
                "label": i % 2,
                "query_lang": "en",
                "doc_lang": "en",
            }
            for i in range(12)
        ]
        (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    dev = data / "dev" / "en-en"
    dev.mkdir(parents=True)
    (dev / "dev.jsonl").write_text(
        "".join(json.dumps({**rows[i], "qid": f"d{i // 3}"}) + "\n" for i in range(6)), "utf-8"
    )
    out = tmp_path / "03"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "03_training.ipynb"),
        parameters={
            "smoke": True,
            "backbone": str(backbone),
            "data_generation_dir": str(data),
            "output_dir": str(out),
        },
        cwd=str(REPO_ROOT / "notebooks"),
        progress_bar=False,
        kernel_name="python3",
    )
    models = sorted(out.glob("models/**/model.safetensors"))
    assert len(models) == 2
    for model in models:
        info = json.loads((model.parent / "csir_training.json").read_text(encoding="utf-8"))
        assert info["finished"] and info["steps"] == 3
        assert [p["step"] for p in info["dev_curve"]] == [0, 2, 3]
        assert info["selection"] == "best dev MRR@10"
