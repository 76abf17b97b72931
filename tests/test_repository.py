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


def test_makefile_runs_every_configuration_through_the_pipeline():
    makefile = (REPO_ROOT / "Makefile").read_text()
    named = set(re.findall(r"configs/([\w-]+)\.yaml", makefile))
    assert {"smoke", "cpu", "offline-full", "paper-mmarco"} <= named
    assert all((REPO_ROOT / "configs" / f"{name}.yaml").is_file() for name in named)
    assert "-m csir.pipeline" in makefile


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
