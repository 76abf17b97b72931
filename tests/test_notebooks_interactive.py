"""Notebooks as a JupyterLab user runs them: every cell, then every cell again, in one kernel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO_ROOT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def _with_parameters(path: Path, parameters: dict) -> nbformat.NotebookNode:
    """The notebook with ``parameters`` appended to its parameters cell (as a user edits it)."""
    notebook = nbformat.read(path, as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += "\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in parameters.items())
    return notebook


def _run_twice(notebook: nbformat.NotebookNode, cwd: Path) -> None:
    """Execute every cell in order, then every cell again in the same kernel."""
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    with client.setup_kernel():
        for _ in range(2):
            for index, cell in enumerate(notebook.cells):
                client.execute_cell(cell, index)


@pytest.mark.slow
@pytest.mark.parametrize("notebook", ["05_significance", "06_paper_figures"])
def test_every_cell_runs_again_in_the_same_kernel(tmp_path, notebook):
    import pandas as pd
    from test_figures import make_metrics, make_significance

    folders = {n: tmp_path / n for n in ("01", "04", "05", "out")}
    for folder in folders.values():
        folder.mkdir()
    metrics = make_metrics()
    metrics.to_csv(folders["04"] / "metrics.csv", index=False)
    per_query = pd.concat(
        [metrics.assign(query_id=f"q{i}", value=metrics["value"] + 0.01 * i) for i in range(5)]
    )
    per_query.drop(columns="n_queries").to_parquet(folders["04"] / "per_query.parquet")
    make_significance(metrics).to_csv(folders["05"] / "significance.csv", index=False)
    (folders["01"] / "bli.csv").write_text(
        "source,method,src_lang,tgt_lang,precision_at_1,n_test_pairs\n"
        "backbone-e5,nn,en,de,0.47,100\nbackbone-e5,csls,en,de,0.48,100\n",
        encoding="utf-8",
    )
    parameters = {"evaluation_dir": str(folders["04"]), "output_dir": str(folders["out"])}
    if notebook == "06_paper_figures":
        parameters |= {
            "significance_dir": str(folders["05"]),
            "lexicon_induction_dir": str(folders["01"]),
        }
    _run_twice(
        _with_parameters(REPO_ROOT / "notebooks" / f"{notebook}.ipynb", parameters), REPO_ROOT
    )
    written = {p.name for p in folders["out"].iterdir()}
    expected = "significance.csv" if notebook == "05_significance" else "table_results.md"
    assert expected in written
