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


def _package_modules() -> dict[str, Path]:
    """Every module of csir by dotted name (a package by its ``__init__``)."""
    modules = {}
    for path in sorted((REPO_ROOT / "csir").rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _import_time_edges(path: Path, modules: dict[str, Path]) -> set[str]:
    """csir modules that ``path`` imports when it is imported: module level, outside
    ``if TYPE_CHECKING:`` (imports inside functions run later and cannot form a cycle)."""
    import ast

    edges = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            edges.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module in modules:
            for alias in node.names:  # `from csir.data import retrieval` imports a module
                sub = f"{node.module}.{alias.name}"
                edges.add(sub if sub in modules else node.module)
    return edges


def test_the_package_has_no_import_cycles():
    modules = _package_modules()
    graph = {name: _import_time_edges(path, modules) for name, path in modules.items()}
    # A package's __init__ re-exports its submodules: an edge into a package from one of its
    # own submodules is that cycle, so it counts like any other.
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                cycle = [*path[path.index(other) :], other]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if other not in state:
                visit(other)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_the_architecture_page_names_every_module():
    page = (REPO_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([A-Za-z0-9_./]+?)/?`", page))
    missing = [
        path.relative_to(REPO_ROOT / "csir").as_posix()
        for path in sorted((REPO_ROOT / "csir").rglob("*.py"))
        if path.stem not in ("__init__", "__main__")
        and path.stem not in named
        and path.relative_to(REPO_ROOT / "csir").with_suffix("").as_posix() not in named
    ]
    assert not missing, f"docs/architecture.md does not say what these modules do: {missing}"
