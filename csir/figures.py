"""The paper's figures from the tables of :mod:`csir.results` (matplotlib + seaborn).

Every function takes a table and returns a :class:`matplotlib.figure.Figure` sized for a paper
column (3.3 in) or the full width (6.8 in); :func:`save` writes it as PDF and PNG atomically under
a deterministic name. Nothing here reads results or computes scores.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from csir.ids import ML_CS
from csir.results import METHOD_LABELS, SETTINGS

COLUMN_WIDTH = 3.3
FULL_WIDTH = 6.8
#: One colour per method, stable across figures.
METHOD_COLOURS = dict(
    zip(
        METHOD_LABELS.values(),
        ["#9e9e9e", "#4c72b0", "#8172b3", "#dd8452", "#55a868", "#c44e52"],
        strict=True,
    )
)


def style() -> None:
    """Paper style: small fonts readable at column width, no top/right spines, vector text."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="paper", style="ticks", font_scale=0.9)
    mpl.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.bbox": "tight",
            "pdf.fonttype": 42,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
        }
    )


def _figure(width: float, height: float, ncols: int = 1, **kwargs):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False, **kwargs)
    return fig, list(axes[0])


def _label_pairs(grid: pd.DataFrame) -> tuple[list[str], list[str]]:
    return [c.upper() for c in grid.index], [c.upper() for c in grid.columns]


def heatmaps(
    zero_shot: pd.DataFrame,
    code_switched: pd.DataFrame,
    significant: pd.DataFrame,
    *,
    titles: tuple[str, str],
    measure: str = "RR@10",
):
    """(a) Query × document language grids: zero-shot, code-switched, and their difference.

    ``significant`` marks difference cells with ``*`` (notebook 05's flags after correction);
    cells never evaluated stay blank.
    """
    import seaborn as sns

    diff = code_switched - zero_shot
    fig, axes = _figure(FULL_WIDTH, 2.4, ncols=3, constrained_layout=True)
    top = np.nanmax([zero_shot.to_numpy(dtype=float), code_switched.to_numpy(dtype=float)])
    rows, cols = _label_pairs(zero_shot)
    for ax, grid, title in zip(axes[:2], (zero_shot, code_switched), titles, strict=True):
        sns.heatmap(
            grid.astype(float), ax=ax, vmin=0.0, vmax=max(top, 1e-9), cmap="viridis",
            annot=True, fmt=".2f", annot_kws={"size": 6}, cbar=False, square=True,
            xticklabels=cols, yticklabels=rows,
        )  # fmt: skip
        ax.set_title(title, fontsize=8)
    marks = diff.map(lambda v: "" if pd.isna(v) else f"{v:+.2f}")
    if not significant.empty:
        flags = significant.reindex(index=diff.index, columns=diff.columns).fillna(False)
        marks = marks.where(~flags.astype(bool), marks + "*")
    limit = (
        float(np.nanmax(np.abs(diff.to_numpy(dtype=float)))) if diff.notna().any().any() else 1.0
    )
    sns.heatmap(
        diff.astype(float), ax=axes[2], vmin=-limit, vmax=limit, cmap="RdBu", center=0.0,
        annot=marks.to_numpy(), fmt="", annot_kws={"size": 6}, cbar=False, square=True,
        xticklabels=cols, yticklabels=rows,
    )  # fmt: skip
    axes[2].set_title("difference (* significant)", fontsize=8)
    for ax in axes:
        ax.set_xlabel("document language")
        ax.set_ylabel("query language")
        ax.tick_params(length=0)
    fig.suptitle(measure, fontsize=8)
    return fig


def setting_bars(table: pd.DataFrame, *, measure: str = "RR@10", title: str = ""):
    """(b) Grouped bars: one group per setting (MoIR, CLIR, MLIR), one bar per method, ± sd."""
    fig, (ax,) = _figure(COLUMN_WIDTH, 2.3)
    settings = [s for s in SETTINGS if s in set(table["setting"])]
    methods = [m for m in METHOD_LABELS if m in set(table["method"])]
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        rows = table[table["method"] == method].set_index("setting").reindex(settings)
        label = METHOD_LABELS[method]
        x = np.arange(len(settings)) + (i - (len(methods) - 1) / 2) * width
        ax.bar(
            x, rows["mean"], width, yerr=rows["sd"].where(rows["n_seeds"] > 1),
            label=label, color=METHOD_COLOURS[label], error_kw={"elinewidth": 0.6, "capsize": 1.5},
        )  # fmt: skip
    counts = table.groupby("setting")["n_pairs"].first()
    ax.set_xticks(np.arange(len(settings)), [f"{s}\n({_pairs(counts[s])})" for s in settings])
    ax.set_ylabel(measure)
    ax.set_ylim(0, None)
    ax.legend(fontsize=6, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    if title:
        ax.set_title(title, fontsize=8)
    return fig


def _pairs(n: int) -> str:
    return f"{n} pair" if n == 1 else f"{n} pairs"


def p_ablation(table: pd.DataFrame, *, method: str = ML_CS, measure: str = "RR@10"):
    """(c) The setting averages over switch probability p; p = 0 is the zero-shot model."""
    import seaborn as sns

    fig, (ax,) = _figure(COLUMN_WIDTH, 2.2)
    palette = dict(zip(SETTINGS, sns.color_palette("colorblind", len(SETTINGS)), strict=True))
    for name, rows in table.groupby("setting", sort=False):
        ax.errorbar(
            rows["p"], rows["mean"], yerr=rows["sd"].where(rows["n_seeds"] > 1),
            marker="o", markersize=3, linewidth=1, capsize=2, color=palette.get(name),
            label=f"{name} ({_pairs(rows['n_pairs'].iloc[0])})",
        )  # fmt: skip
    ax.set_xticks(sorted(table["p"].unique()))
    ax.set_xlabel(f"switch probability p of {METHOD_LABELS.get(method, method)} (0: zero-shot)")
    ax.set_ylabel(measure)
    ax.legend(fontsize=6)
    return fig


def backbone_bars(table: pd.DataFrame, *, measure: str = "RR@10"):
    """(d) Per method, the setting averages of each backbone side by side."""
    import seaborn as sns

    methods = [m for m in METHOD_LABELS if m in set(table["method"])]
    names = list(dict.fromkeys(table["backbone"]))
    colours = dict(zip(names, sns.color_palette("colorblind", len(names)), strict=True))
    fig, axes = _figure(FULL_WIDTH, 2.2, ncols=len(methods), sharey=True, constrained_layout=True)
    for ax, method in zip(axes, methods, strict=True):
        rows = table[table["method"] == method]
        settings = [s for s in SETTINGS if s in set(rows["setting"])]
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            mine = rows[rows["backbone"] == name].set_index("setting").reindex(settings)
            x = np.arange(len(settings)) + (i - (len(names) - 1) / 2) * width
            ax.bar(
                x, mine["mean"], width, yerr=mine["sd"].where(mine["n_seeds"] > 1),
                color=colours[name], label=name, error_kw={"elinewidth": 0.6, "capsize": 1.5},
            )  # fmt: skip
        ax.set_xticks(np.arange(len(settings)), settings)
        ax.set_title(METHOD_LABELS[method], fontsize=8)
    axes[0].set_ylabel(measure)
    axes[-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def bli_bars(table: pd.DataFrame):
    """(e) BLI precision@1 per target language, NN against CSLS, one panel per source."""
    import seaborn as sns

    sources = list(dict.fromkeys(table["source"]))
    fig, axes = _figure(FULL_WIDTH, 1.9, ncols=len(sources), sharey=True)
    for ax, source in zip(axes, sources, strict=True):
        rows = table[table["source"] == source]
        sns.barplot(
            data=rows, x="language", y="precision_at_1", hue="method", ax=ax,
            hue_order=["NN", "CSLS"], palette="colorblind",
        )  # fmt: skip
        ax.set_xticks(ax.get_xticks(), [t.get_text().upper() for t in ax.get_xticklabels()])
        ax.set_xlabel(f"EN → X ({source})")
        ax.set_ylabel("BLI precision@1")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=6, title=None)
    return fig


def save(
    fig, folder: str | Path, name: str, formats: Sequence[str] = ("pdf", "png"), dpi: int = 300
) -> list[Path]:
    """Write ``<folder>/<name>.<format>`` per format (temp file, then rename); close ``fig``."""
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        target = folder / f"{name}.{fmt}"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=f".{fmt}")
        os.close(fd)
        try:
            # A fixed creation date keeps the PDF bytes identical across runs.
            metadata = (
                {"CreationDate": None}
                if fmt == "pdf"
                else {"Software": None}
                if fmt == "png"
                else None
            )
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    plt.close(fig)
    return written


def mining_bars(long: pd.DataFrame, labels: Sequence[str] = ()):
    """Bitext mining (notebook 07): accuracy and F1 per pair (rows: measure, columns: scoring),
    one bar per encoder, the mean over seeds with ± sd whiskers.

    ``long`` has ``label``, ``seed``, ``pair``, ``scoring``, ``measure`` and ``value`` columns;
    ``labels`` orders the encoders (default: as they first appear).
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    measures = list(dict.fromkeys(long["measure"]))
    scorings = list(dict.fromkeys(long["scoring"]))
    labels = list(labels) or list(dict.fromkeys(long["label"]))
    pairs = list(dict.fromkeys(long["pair"]))
    width = max(FULL_WIDTH, 0.45 * len(pairs) * len(scorings) + 1.5)
    fig, axes = plt.subplots(
        len(measures), len(scorings), figsize=(width, 1.9 * len(measures)),
        squeeze=False, sharey="row",
    )  # fmt: skip
    palette = dict(zip(labels, sns.color_palette("colorblind", len(labels)), strict=True))
    for r, measure in enumerate(measures):
        for c, scoring in enumerate(scorings):
            ax = axes[r][c]
            rows = long[(long["measure"] == measure) & (long["scoring"] == scoring)]
            sns.barplot(
                data=rows, x="pair", y="value", hue="label", order=pairs, hue_order=labels,
                palette=palette, errorbar="sd", err_kws={"linewidth": 0.8}, ax=ax,
            )  # fmt: skip
            ax.set_xticks(ax.get_xticks(), [t.get_text().upper() for t in ax.get_xticklabels()])
            ax.set_xlabel("source → target" if r == len(measures) - 1 else "")
            ax.set_ylabel(measure if c == 0 else "")
            ax.set_ylim(0, 1)
            ax.set_title(scoring if r == 0 else "")
            legend = ax.get_legend()
            if legend is not None:
                legend.remove()
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=min(len(names), 4), fontsize=7,
               bbox_to_anchor=(0.5, 1.02 + 0.03 * (len(names) > 4)))  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    return fig
