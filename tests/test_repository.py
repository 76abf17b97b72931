"""The repository keeps its promises: notebooks output-free and parameterised, env files in sync."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from conftest import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no numbered notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name} cell {index} has outputs: make scrub"
            assert cell.get("execution_count") is None, f"{path.name} cell {index}: make scrub"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_a_parameters_cell_validated_by_a_config(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    source = "".join(tagged[0]["source"])
    assert re.search(r"^smoke = ", source, re.M), f"{path.name} lacks a smoke parameter"
    following = "".join(code[code.index(tagged[0]) + 1]["source"])
    assert "from_params" in following, f"{path.name}: validate parameters right after the cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_passed_by_makefile_exist(path: Path):
    papermill = pytest.importorskip("papermill")
    declared = set(papermill.inspect_notebook(str(path)))
    makefile = (REPO_ROOT / "Makefile").read_text()
    passed = set(re.findall(r"papermill\b.*?((?:-p \w+ \S+\s*)+)", makefile))
    names = {m for group in passed for m in re.findall(r"-p (\w+)", group)}
    assert names, "the Makefile passes no parameters?"
    assert names <= declared, f"{path.name} lacks {names - declared}"


def test_environment_yml_installs_the_pyproject_extras():
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    extras = set(pyproject["project"]["optional-dependencies"])
    env = (REPO_ROOT / "environment.yml").read_text()
    match = re.search(r"-e \.\[([^\]]+)\]", env)
    assert match, "environment.yml must install the package with pip -e .[extras]"
    assert set(match.group(1).split(",")) == extras
    assert "python=3.11" in env


def test_torch_is_pinned_to_the_local_cpu_wheel_version():
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "torch==2.13.0" in pyproject["project"]["dependencies"]


def test_ci_runs_the_readme_commands():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    readme = (REPO_ROOT / "README.md").read_text()
    for command in ("make setup", "make test"):
        assert command in ci
        assert command in readme


def test_csir_never_hardcodes_the_shared_mirror():
    offenders = [
        str(p.relative_to(REPO_ROOT))
        for p in (REPO_ROOT / "csir").rglob("*.py")
        if "../shared" in p.read_text(encoding="utf-8") or "/work/" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []


CONFIG_FILES = sorted((REPO_ROOT / "configs").glob("*/*.yaml"))


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_files_name_a_notebook_and_pass_its_config(path: Path):
    yaml = pytest.importorskip("yaml")
    papermill = pytest.importorskip("papermill")
    from csir import config

    notebook = REPO_ROOT / "notebooks" / f"{path.stem}.ipynb"
    assert notebook.is_file(), f"{path} names no notebook (expected {notebook.name})"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert set(params) <= set(papermill.inspect_notebook(str(notebook))), f"{path}: unknown keys"
    classes = [c for c in vars(config).values() if getattr(c, "NOTEBOOK", None) == path.stem]
    assert len(classes) == 1, f"no config class for {path.stem}"
    classes[0].from_params({**params, "smoke": False})
