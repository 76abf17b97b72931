"""Notebook 01's parameters cell matches LexiconConfig and the notebook is stored clean."""

from __future__ import annotations

import ast
import dataclasses
import json

import pytest
from conftest import REPO_ROOT

from csir.config import LexiconConfig

NOTEBOOK = REPO_ROOT / "notebooks" / "01_lexicon_induction.ipynb"


def test_parameters_are_exactly_the_config_fields():
    papermill = pytest.importorskip("papermill")
    parameters = papermill.inspect_notebook(str(NOTEBOOK))
    fields = {f.name for f in dataclasses.fields(LexiconConfig)}
    assert set(parameters) == fields
    defaults = {f.name: f.default for f in dataclasses.fields(LexiconConfig)}
    for name, info in parameters.items():
        assert info["help"] or name == "languages", f"parameter {name} has no comment"
        value = ast.literal_eval(info["default"])
        assert (tuple(value) if isinstance(value, list) else value) == defaults[name], name


def test_notebook_is_committed_without_outputs():
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", [])
    for cell in code:
        assert cell["outputs"] == [] and cell["execution_count"] is None
