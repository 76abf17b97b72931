"""Run the numbered notebooks with one configuration file, through papermill.

A configuration is one YAML file (``configs/<name>.yaml``) whose top-level keys are notebook names
and whose values are that notebook's parameters; a list of parameter mappings runs the notebook
once per entry (e.g. notebook 03 once per backbone). ``defaults`` holds parameters every notebook
gets unless its own entry sets them (``smoke``, which is ``False`` unless given). Notebooks the
file does not name run with their own defaults. Every run is validated against the notebook's
config class *before* anything executes, executed copies are kept as the record in
``build/<name>/`` (``03_training.ipynb``, ``03_training-2.ipynb`` for a second entry), and every
notebook writes its results below ``build/<name>/`` too (``CSIR_BUILD_DIR``). Relative paths in a
configuration are relative to the repository root, where the notebooks execute; a path that starts
with ``{build}/`` is below the configuration's build folder (``output_dir: "{build}/04_evaluation-
dense"`` for a second notebook 04 entry), wherever ``CSIR_BUILD_DIR`` puts it.

Example::

    python -m csir.pipeline configs/smoke.yaml                    # all seven notebooks
    python -m csir.pipeline configs/cpu.yaml --only 06_paper_figures
    python -m csir.pipeline configs/cpu.yaml --outputs-in-build   # figures/ left alone
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from csir import config, io, paths
from csir.errors import ConfigError

NOTEBOOK_DIR = paths.REPO_ROOT / "notebooks"
CONFIG_DIR = paths.REPO_ROOT / "configs"
#: Top-level keys of a configuration file that are not notebooks.
META_KEYS = ("description", "defaults")


@dataclasses.dataclass(frozen=True)
class Run:
    """One execution of a notebook: its name, its papermill parameters, where the copy goes."""

    notebook: str
    parameters: dict[str, Any]
    executed: Path

    @property
    def source(self) -> Path:
        """The notebook in ``notebooks/``."""
        return NOTEBOOK_DIR / f"{self.notebook}.ipynb"


def notebook_names() -> list[str]:
    """The numbered notebooks in pipeline order (``01_lexicon_induction`` … ``07_…``)."""
    return sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def config_class(notebook: str) -> type[config.NotebookConfig]:
    """The config dataclass that validates ``notebook``'s parameters."""
    for value in vars(config).values():
        if (
            isinstance(value, type)
            and issubclass(value, config.NotebookConfig)
            and notebook == value.NOTEBOOK
        ):
            return value
    raise ConfigError(f"no config class in csir.config for notebook {notebook!r}")


def read_config(path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Parse and validate a configuration: ``{notebook: [parameters of each run]}``.

    Every notebook is present (those the file does not name get ``defaults`` only); ``defaults``
    always holds ``smoke`` (``False`` unless given).

    Raises:
        ConfigError: naming the file and the notebook key for an unknown notebook, a value that is
            not a mapping (or list of mappings), or parameters the notebook's config rejects.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        known = ", ".join(sorted(p.name for p in CONFIG_DIR.glob("*.yaml")))
        raise ConfigError(f"configuration {path} not found; the repository has: {known}")
    try:
        data = io.loads_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        hint = f" (quote a path that starts with {paths.BUILD_PLACEHOLDER})" * ("{" in str(err))
        raise ConfigError(f"{path}: not valid YAML ({err}); fix the file{hint}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must map notebook names to parameters")
    names = notebook_names()
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{path}: defaults must be a mapping of parameters")
    defaults = {"smoke": False, **defaults}
    runs: dict[str, list[dict[str, Any]]] = {}
    for key, value in data.items():
        if key in META_KEYS:
            continue
        if key not in names:
            raise ConfigError(
                f"{path}: {key!r} is no notebook; use one of {', '.join(names)} "
                f"(or {', '.join(META_KEYS)})"
            )
        entries = value if isinstance(value, list) else [value]
        if not entries or not all(isinstance(e, dict) for e in entries):
            raise ConfigError(
                f"{path}: {key} must be a mapping of parameters or a list of such mappings"
            )
        runs[key] = []
        for number, params in enumerate(entries, 1):
            where = f"{key}[{number}]" if len(entries) > 1 else key
            try:
                # Old parameter names become their new names here, so notebooks get the new.
                with warnings.catch_warnings(record=True) as renamed:
                    warnings.simplefilter("always", FutureWarning)
                    current = config_class(key).current_params({**defaults, **params})
                config_class(key).from_params(current)
            except ConfigError as err:
                raise ConfigError(f"{path}: {where}: {err}") from err
            for warning in renamed:
                warnings.warn(f"{path}: {where}: {warning.message}", FutureWarning, stacklevel=2)
            runs[key].append(current)
    return {name: runs.get(name, [dict(defaults)]) for name in names}


def plan(
    config_path: str | Path,
    build: str | Path | None = None,
    *,
    only: Sequence[str] = (),
    start: str = "",
) -> list[Run]:
    """The runs of a configuration in pipeline order, restricted by ``only``/``start``.

    Args:
        config_path: the YAML file.
        build: where executed copies go (default ``<CSIR_BUILD_DIR or build>/<config stem>``).
        only: notebook names (or their number prefix, ``"06"``) to run alone.
        start: run from this notebook (name or number prefix) on.
    """
    config_path = Path(config_path)
    by_notebook = read_config(config_path)
    build = Path(build) if build else paths.build_dir() / config_path.stem
    names = notebook_names()
    chosen = [_resolve(n, names) for n in only] if only else names
    if start:
        first = names.index(_resolve(start, names))
        chosen = [n for n in chosen if names.index(n) >= first]
    runs = []
    for name in chosen:
        entries = by_notebook[name]
        for number, params in enumerate(entries, 1):
            suffix = f"-{number}" if number > 1 else ""
            runs.append(Run(name, params, build / f"{name}{suffix}.ipynb"))
    return runs


def _resolve(name: str, names: Sequence[str]) -> str:
    matches = [n for n in names if n == name or n.split("_")[0] == name]
    if len(matches) != 1:
        raise ConfigError(f"unknown notebook {name!r}; use one of {', '.join(names)}")
    return matches[0]


def execute(runs: Sequence[Run], *, log_output: bool = True) -> None:
    """Execute ``runs`` in order with papermill; results go below each copy's folder."""
    import papermill

    for run in runs:
        run.executed.parent.mkdir(parents=True, exist_ok=True)
        parameters = dict(run.parameters)
        print(f"[csir.pipeline] {run.notebook} -> {run.executed}", file=sys.stderr, flush=True)
        began = time.perf_counter()
        with paths.using_build_dir(run.executed.parent.resolve()):
            papermill.execute_notebook(
                str(run.source),
                str(run.executed),
                parameters=parameters,
                cwd=str(paths.REPO_ROOT),
                log_output=log_output,
                progress_bar=False,
                kernel_name="python3",
            )
        elapsed = time.perf_counter() - began
        print(f"[csir.pipeline] {run.notebook} done in {elapsed:.0f} s", file=sys.stderr)


def git_commit() -> str | None:
    """The repository's checked-out commit, or ``None`` outside a git checkout."""
    import subprocess

    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=paths.REPO_ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or None


def write_record(config_path: str | Path, runs: Sequence[Run]) -> Path | None:
    """``pipeline.json`` beside the executed copies: the configuration and every run's parameters.

    Notebook 06 copies it into its ``parameters.json``, so a figure names the whole run that fed it.
    """
    from csir import io

    if not runs:
        return None
    commit = git_commit()
    folder = runs[0].executed.parent
    path = folder / "pipeline.json"
    record = io.read_json(path) if path.is_file() else {"runs": {}}
    record.update(
        config=str(Path(config_path).resolve()),
        config_text=Path(config_path).read_text(encoding="utf-8"),
        commit=commit,
    )
    for run in runs:
        record["runs"][run.executed.name] = {"notebook": run.notebook, "parameters": run.parameters}
    io.write_json(path, record)
    return path


#: The file of a notebook's results that a reader opens first.
KEY_FILES = {
    "04_evaluation": "metrics.csv",
    "05_significance": "significance.csv",
    "06_paper_figures": "",
    "07_bitext_mining": "mining_summary.csv",
}


#: The parameters by which notebooks find an earlier notebook's ``output_dir``.
RESULT_DIR_PARAMETERS = (
    "lexicon_induction_dir",
    "data_generation_dir",
    "training_dir",
    "evaluation_dir",
    "significance_dir",
)


def parameter_path(value: str, build: Path) -> Path:
    """A path parameter of a run whose build folder is ``build``, as the notebook resolves it
    (relative paths from the repository root, where the notebooks execute)."""
    with paths.using_build_dir(build):
        return paths.resolve_path(value, relative_to=paths.REPO_ROOT)


def results_folder(run: Run) -> Path:
    """Where ``run`` writes its results: its ``output_dir``, else ``<build>/<notebook>/``."""
    given = run.parameters.get("output_dir")
    if not given:
        return run.executed.parent / run.notebook
    return parameter_path(given, run.executed.parent)


def outputs_in_build(runs: Sequence[Run]) -> list[Run]:
    """``runs`` with each ``output_dir`` outside the build folder (``figures/``, say) moved to
    ``{build}/<executed copy's stem>``, and each later parameter that named it following: a
    rehearsal that leaves committed files alone."""
    moved: dict[Path, str] = {}
    out = []
    for run in runs:
        build = run.executed.parent.resolve()
        params = dict(run.parameters)
        for key in RESULT_DIR_PARAMETERS:
            if params.get(key):
                params[key] = moved.get(parameter_path(params[key], build), params[key])
        given = params.get("output_dir")
        if given and not parameter_path(given, build).is_relative_to(build):
            new = f"{paths.BUILD_PLACEHOLDER}/{run.executed.stem}"
            moved[parameter_path(given, build)] = new
            params["output_dir"] = new
        out.append(dataclasses.replace(run, parameters=params))
    return out


def report(runs: Sequence[Run]) -> str:
    """Where the results of ``runs`` are, and MRR@10 per system and pair (mean over seeds) when
    notebook 04's ``metrics.csv`` is among them: printed when a pipeline finishes."""
    import pandas as pd

    from csir import stats

    lines = ["", "[csir.pipeline] results:"]
    table = ""
    for run in runs:
        if run.notebook not in KEY_FILES:
            continue
        where = results_folder(run) / KEY_FILES[run.notebook]
        lines.append(f"  {run.notebook}: {where}")
        if run.notebook == "04_evaluation" and where.is_file():
            summary = stats.seed_summary(pd.read_csv(where))
            summary = summary[summary["measure"] == "RR@10"]
            summary["pair"] = summary["query_lang"] + "-" + summary["doc_lang"]
            cells = [
                f"{m:.3f} ± {sd:.3f}" for m, sd in zip(summary["mean"], summary["sd"], strict=True)
            ]
            wide = summary.assign(cell=cells).pivot_table(
                index="system", columns="pair", values="cell", aggfunc="first", sort=False
            )
            table = f"\nMRR@10 (mean ± sd over seeds) from {where}:\n{wide.to_string()}"
    return "\n".join(lines) + table


def describe(runs: Sequence[Run]) -> str:
    """One line per run: notebook, executed copy and parameters (for ``--dry-run``)."""
    return "\n".join(f"{r.notebook} -> {r.executed}  {_flat(r.parameters)}" for r in runs)


def _flat(params: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v!r}" for k, v in params.items()) or "(notebook defaults)"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m csir.pipeline CONFIG [--only NB] [--from NB] [--dry-run]``."""
    parser = argparse.ArgumentParser(
        prog="python -m csir.pipeline", description=__doc__.split("\n")[0]
    )
    parser.add_argument("config", help="configuration YAML, e.g. configs/smoke.yaml")
    parser.add_argument("--build", default="", help="executed copies and results (build/<config>)")
    parser.add_argument("--only", action="append", default=[], help="run only this notebook")
    parser.add_argument("--from", dest="start", default="", help="start at this notebook")
    parser.add_argument("--dry-run", action="store_true", help="validate and list the runs only")
    parser.add_argument(
        "--outputs-in-build",
        action="store_true",
        help="move every output_dir outside the build folder (e.g. figures/) into it",
    )
    args = parser.parse_args(argv)
    try:
        runs = plan(args.config, args.build or None, only=args.only, start=args.start)
        if args.outputs_in_build:
            runs = outputs_in_build(runs)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(describe(runs))
        return 0
    write_record(args.config, runs)
    execute(runs)
    print(report(runs), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
