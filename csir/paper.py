"""Notebook 06's engine: read cached results, draw the paper's figures, write the tables.

Inputs are files only — notebook 01's ``bli.csv``, notebook 04's ``metrics.csv`` and notebook 05's
``significance.csv`` — so the figures never load a model. A missing file raises one error naming
the notebook that writes it; results that lack what a figure needs (e.g. no second backbone) raise
:class:`MissingResults`, which :meth:`PaperFigures.draw` records as a skipped figure with its
reason. Outputs, under deterministic names in ``output_dir``:

- ``fig_a_heatmaps``, ``fig_b_settings``, ``fig_c_p_ablation``, ``fig_d_backbones``, ``fig_e_bli``
  (``.pdf``/``.png``), each with the CSV of the numbers it plots;
- ``table_b_settings.tex`` (the setting averages of the main backbone);
- ``parameters.json``: this notebook's parameters, every input's path and sha256, notebook 04's run
  settings, the pipeline record of the configuration when there is one, and what was skipped.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from csir import figures, io, results
from csir.config import FiguresConfig
from csir.errors import CsirError

_log = logging.getLogger(__name__)


class MissingResults(CsirError):
    """The cached results hold too little for one figure (it is skipped, not faked)."""


#: Figure key → output name.
NAMES = {
    "heatmaps": "fig_a_heatmaps",
    "settings": "fig_b_settings",
    "p_ablation": "fig_c_p_ablation",
    "backbones": "fig_d_backbones",
    "bli": "fig_e_bli",
}


class PaperFigures:
    """Draws the figures of one configuration's cached results (see the module docstring)."""

    def __init__(self, cfg: FiguresConfig):
        self.cfg = cfg
        self.out = cfg.output_path()
        self.inputs: dict[str, Path] = {}
        self.written: dict[str, list[str]] = {}
        self.skipped: dict[str, str] = {}
        figures.style()

    # -- inputs

    def _read(self, path: Path, notebook: str, parameter: str) -> pd.DataFrame:
        io.require_outputs([path], notebook, parameter)
        self.inputs[str(path)] = path
        return pd.read_csv(path)

    @functools.cached_property
    def rows(self) -> pd.DataFrame:
        """Notebook 04's metrics of the chosen measure, with parsed system columns."""
        metrics = self._read(
            self.cfg.evaluation_path() / "metrics.csv", "04_evaluation", "evaluation_dir"
        )
        return results.annotate(metrics, self.cfg.measure)

    @functools.cached_property
    def significance(self) -> pd.DataFrame:
        """Notebook 05's comparisons with the zero-shot baseline; refuses a ``measure`` that
        notebook 05 did not test (no figure may read 'not significant' where nothing was tested)."""
        table = self._read(
            self.cfg.significance_path() / "significance.csv", "05_significance", "significance_dir"
        )
        results.require_tested_measure(table, self.cfg.measure)
        return table

    @functools.cached_property
    def bli(self) -> pd.DataFrame:
        """Notebook 01's BLI precision@1 table."""
        return self._read(
            self.cfg.lexicon_induction_path() / "bli.csv",
            "01_lexicon_induction",
            "lexicon_induction_dir",
        )

    @functools.cached_property
    def backbone(self) -> str:
        """``cfg.backbone`` or the backbone with the most evaluated systems."""
        names = results.backbones(self.rows)
        if not names:
            raise MissingResults("no model with a zero-shot baseline in metrics.csv")
        if self.cfg.backbone and self.cfg.backbone not in names:
            raise CsirError(
                f"backbone {self.cfg.backbone!r} has no zero-shot model in metrics.csv; "
                f"evaluated: {', '.join(names)}"
            )
        return self.cfg.backbone or names[0]

    @functools.cached_property
    def scores(self) -> pd.DataFrame:
        """:func:`results.method_scores` of every backbone."""
        return results.method_scores(self.rows, main_p=self.cfg.main_p, wiki_p=self.cfg.wiki_p)

    # -- figures

    def draw(self, key: str):
        """Draw and save one figure (and its data/table); returns the figure, or None if skipped.

        Missing input files raise; results too thin for the figure are recorded in ``skipped``.
        """
        if key not in NAMES:
            raise CsirError(f"unknown figure {key!r}; choose from {', '.join(NAMES)}")
        if key not in self.cfg.figures:
            self.skipped[key] = "not in the figures parameter"
            return None
        try:
            fig, data = getattr(self, f"_{key}")()
        except MissingResults as err:
            self.skipped[key] = str(err)
            _log.warning("skipped %s: %s", NAMES[key], err)
            return None
        name = NAMES[key]
        paths = figures.save(fig, self.out, name, self.cfg.formats, self.cfg.dpi)
        with io.atomic_write(self.out / f"{name}.csv") as fh:
            data.to_csv(fh, index=False, float_format="%.6g")
        self.written[key] = [p.name for p in paths] + [f"{name}.csv"]
        return fig

    def _heatmaps(self):
        rows = self.rows
        try:
            baseline = results.zero_shot_system(rows, self.backbone)
            system = self.cfg.cs_system or results.best_code_switched(rows, self.backbone, baseline)
        except CsirError as err:
            raise MissingResults(str(err)) from err
        zero, cs = results.language_grid(rows, baseline), results.language_grid(rows, system)
        cs = cs.reindex(index=zero.index, columns=zero.columns)
        flags = results.significance_grid(self.significance, system, baseline, self.cfg.measure)
        titles = (_short(baseline), _short(system))
        fig = figures.heatmaps(zero, cs, flags, titles=titles, measure=self.cfg.measure)
        data = _long_grid(zero, "zero_shot").merge(_long_grid(cs, "code_switched"), how="outer")
        data["difference"] = data["code_switched"] - data["zero_shot"]
        data["significant"] = [
            bool(flags.loc[q, d]) if q in flags.index and d in flags.columns else False
            for q, d in zip(data["query_lang"], data["doc_lang"], strict=True)
        ]
        return fig, data.assign(zero_shot_system=baseline, code_switched_system=system)

    def _settings(self):
        table = results.setting_averages(self.scores)
        mine = table[table["backbone"] == self.backbone]
        fig = figures.setting_bars(mine, measure=self.cfg.measure, title=self.backbone)
        with io.atomic_write(self.out / "table_b_settings.tex") as fh:
            fh.write(results.settings_latex(table, self.backbone, self.cfg.measure))
        self.written.setdefault("tables", []).append("table_b_settings.tex")
        return fig, table

    def _p_ablation(self):
        try:
            table = results.p_ablation(self.rows, self.backbone, self.cfg.ablation_method)
        except CsirError as err:
            raise MissingResults(str(err)) from err
        fig = figures.p_ablation(table, method=self.cfg.ablation_method, measure=self.cfg.measure)
        return fig, table.assign(backbone=self.backbone, method=self.cfg.ablation_method)

    def _backbones(self):
        try:
            table = results.backbone_comparison(self.scores)
        except CsirError as err:
            raise MissingResults(str(err)) from err
        return figures.backbone_bars(table, measure=self.cfg.measure), table

    def _bli(self):
        table = results.bli_table(self.bli)
        if table.empty:
            raise MissingResults("bli.csv has no EN→X rows")
        return figures.bli_bars(table), table

    def results_table(self) -> pd.DataFrame:
        """:func:`results.results_table` of every system and pair, written as
        ``table_results.md`` and ``table_results.csv``."""
        rows = self.rows
        lacking = [c for c in ("mde", "correction") if c not in self.significance]
        if lacking:
            raise CsirError(
                f"significance.csv lacks {' and '.join(lacking)} (an older notebook 05): "
                "run notebook 05 again"
            )
        table = results.results_table(rows, self.significance, self.cfg.measure)
        measure = self.cfg.measure
        if self.significance.empty:  # nothing was compared with zero-shot
            caption = f"{measure}, mean ± sd over seeds (notebook 05 had nothing to compare).\n\n"
        else:
            correction = results.used_correction(self.significance, measure)
            legend = results.CORRECTION_NAMES.get(correction, f"after the {correction} correction")
            level = "uncorrected" if correction == "none" else "corrected"
            caption = (
                f"{measure}, mean ± sd over seeds; (Δ†): system − zero-shot model on per-query "
                f"scores averaged over seeds, † significant {legend}; last "
                f"row: median minimum detectable effect (80 % power, {level} level).\n\n"
            )
        with io.atomic_write(self.out / "table_results.md") as fh:
            fh.write(caption + results.markdown_table(table))
        with io.atomic_write(self.out / "table_results.csv") as fh:
            table.to_csv(fh)
        self.written.setdefault("tables", []).extend(["table_results.md", "table_results.csv"])
        return table

    # -- record

    def write_parameters(self, extra: dict[str, Any] | None = None) -> Path:
        """``parameters.json``: what was drawn from which files with which settings."""
        record: dict[str, Any] = {
            "notebook": FiguresConfig.NOTEBOOK,
            "parameters": self.cfg.to_dict(),
            "backbone": self.__dict__.get("backbone"),
            "inputs": {str(p): {"sha256": io.file_sha256(p)} for p in sorted(self.inputs.values())},
            "written": self.written,
            "skipped": self.skipped,
            **(extra or {}),
        }
        settings = sorted(self.cfg.evaluation_path().glob("runs/*/*/settings.json"))
        record["evaluation_settings"] = {
            str(p.parent.relative_to(self.cfg.evaluation_path())): io.read_json(p) for p in settings
        }
        pipeline = self.cfg.evaluation_path().parent / "pipeline.json"
        if pipeline.is_file():
            record["pipeline"] = io.read_json(pipeline)
        path = self.out / "parameters.json"
        io.write_json(path, record)
        return path


def _short(system: str) -> str:
    """A system name without its backbone, for titles (``ml-cs/ml/p=0.5``)."""
    return system.split("/", 1)[1] if "/" in system else system


def _long_grid(grid: pd.DataFrame, column: str) -> pd.DataFrame:
    return grid.stack(future_stack=True).rename(column).reset_index().dropna(subset=[column])
