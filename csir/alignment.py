"""Notebook 07's engine: bitext mining with every encoder, to see what training did to alignment.

Encoders: the untrained backbone as a bi-encoder (system ``bi-encoder/<backbone>``) and the
encoder inside every cross-encoder of notebook 03 (its model folder name, per seed). A
cross-encoder's encoder embeds each sentence *alone* through all its layers and is mean-pooled,
as e5 was trained (a segment-cosine model with k = 0 is exactly its own bi-encoder; with k > 0 or
a classifier head the joint layers then see one segment only). Both sides get the same
``prefix`` (e5's ``"query: "`` for symmetric tasks such as bitext mining).

Tasks come from :mod:`csir.data.bitext`; scores and measures from :mod:`csir.mining`. Under
``output_dir``: ``mining.csv`` (one row per encoder, pair and scoring; trained models per seed),
``mining_summary.csv`` (mean ± sd over seeds), ``fig_mining.{pdf,png}`` (+ the CSV it plots),
``table_mining.tex`` and ``parameters.json``; ``per_encoder/<system>/`` keeps each encoder's
rows with the settings they were made with, so a rerun only mines what changed.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from csir import io, languages, mining, mining_stats, paths
from csir.config.mining import MiningConfig
from csir.data import bitext
from csir.errors import ConfigError
from csir.ids import BI_ENCODER, BL_CS, CS_METHODS, SystemId
from csir.results import METHOD_LABELS, mean_sd, parse_system, seed_mean

if TYPE_CHECKING:
    import torch

_log = logging.getLogger(__name__)

MEASURES = ("accuracy", "f1")
MEASURE_LABELS = {"accuracy": "Accuracy (P@1)", "f1": "Mining F1"}
SCORING_LABELS = {"margin": "Ratio margin", "cosine": "Cosine"}
BACKBONE_LABEL = "Backbone (untrained)"
#: The parameters an encoder's results depend on (the rest name inputs, outputs or resources).
RESULT_PARAMETERS = (
    "dataset_dir", "unit", "pairs", "dev_share", "parallel_share", "distractors", "max_sources",
    "seed", "k", "scorings", "prefix", "bucc_dir", "bucc_pairs", "bucc_dev_split",
    "bucc_test_split", "max_length",
)  # fmt: skip
FIGURE = "fig_mining"
TABLE = "table_mining.tex"
SOURCES = "mining_sources.parquet"
SIGNIFICANCE = "mining_significance.csv"


@dataclasses.dataclass(frozen=True)
class EncoderSpec:
    """One encoder: its system name, where it loads from, and whether notebook 03 trained it."""

    system: str
    path: str
    trained: bool


def load_sentence_encoder(spec: EncoderSpec, device: str = "cpu") -> tuple[torch.nn.Module, Any]:
    """The encoder (a BERT-style ``AutoModel``) and tokenizer of ``spec``, in eval mode."""
    from csir import backbones, ranker

    if not spec.trained:
        return backbones.load_encoder(spec.path, device), backbones.load_tokenizer(spec.path)
    net = ranker.load_ranker(spec.path)
    encoder = net.encoder if ranker.is_segment_model(net) else net.base_model
    return encoder.to(device).eval(), backbones.load_tokenizer(spec.path)


def encoder_label(system: str, several_backbones: bool = False) -> str:
    """The figure's name of an encoder: the backbone, or the training method (BL-CS with its
    pair, code-switching with its p), seeds pooled."""
    parsed = parse_system(system)
    if parsed["backbone"] == BI_ENCODER:
        return BACKBONE_LABEL if not several_backbones else f"{parsed['method']} (untrained)"
    method = str(parsed["method"])
    label = METHOD_LABELS.get(method, method)
    if method == BL_CS:
        label += f" {parsed['train_pair']}"
    if method in CS_METHODS and not math.isnan(float(parsed["p"])):
        label += f" p={float(parsed['p']):g}"
    return f"{parsed['backbone']} {label}" if several_backbones else label


class BitextMining:
    """Mine every pair with every encoder; tables, figure and LaTeX of the results.

    Example:
        >>> run = BitextMining(MiningConfig.from_params({"smoke": True}))  # doctest: +SKIP
        >>> rows = run.run_all()  # doctest: +SKIP
    """

    def __init__(self, cfg: MiningConfig):
        self.cfg = cfg
        self.out = cfg.output_path()
        self.tasks = self._build_tasks()
        self.encoders = self._find_encoders()
        self.written: list[str] = []
        self.timings: dict[str, float] = {}
        self.significant: pd.DataFrame | None = None

    def _build_tasks(self) -> dict[tuple[str, str], dict[str, bitext.MiningTask]]:
        """``(dataset, pair) -> {"dev": task, "test": task}``."""
        cfg = self.cfg
        dataset = Path(cfg.dataset_dir).name if cfg.dataset_dir else "xquad-r"
        tasks: dict[tuple[str, str], dict[str, bitext.MiningTask]] = {}
        for pair in cfg.pairs:
            src, tgt = languages.parse_pair(pair)
            tasks[dataset, pair] = bitext.xquad_r_tasks(
                src,
                tgt,
                unit=cfg.unit,
                folder=cfg.dataset_dir or None,
                dev_share=cfg.dev_share,
                parallel_share=cfg.parallel_share,
                distractors=cfg.distractors,
                max_sources=cfg.max_sources,
                seed=cfg.seed,
            )
        for pair in cfg.bucc_pairs:
            src, tgt = languages.parse_pair(pair)
            tasks["bucc", pair] = {
                "dev": bitext.load_bucc(cfg.bucc_dir, src, tgt, cfg.bucc_dev_split),
                "test": bitext.load_bucc(cfg.bucc_dir, src, tgt, cfg.bucc_test_split),
            }
        return tasks

    def _find_encoders(self) -> list[EncoderSpec]:
        from csir.systems import discover_models, model_name

        specs = []
        if self.cfg.backbone:
            name = SystemId(BI_ENCODER, self.cfg.backbone).name
            specs.append(EncoderSpec(name, self.cfg.backbone, trained=False))
        root = self.cfg.models_path()
        folders = (
            [paths.resolve_path(d) for d in self.cfg.model_dirs]
            if self.cfg.model_dirs
            else discover_models(root)
        )
        specs += [EncoderSpec(model_name(f, root), str(f), trained=True) for f in folders]
        if not specs:
            raise ConfigError(
                f"no encoder to mine with: backbone is empty and {root} holds no model of "
                "notebook 03; set backbone (e.g. 'e5-small-offline'), model_dirs, or "
                "training_dir to notebook 03's output_dir"
            )
        seen: dict[str, str] = {}
        for spec in specs:
            if spec.system in seen:
                raise ConfigError(
                    f"two encoders share the name {spec.system!r}: {seen[spec.system]}, "
                    f"{spec.path}; give model folders of different systems (notebook 03 names "
                    "them <backbone>/<method>/<pair>/p=<p>/seed=<s>)"
                )
            seen[spec.system] = spec.path
        return specs

    def describe(self) -> pd.DataFrame:
        """One row per task split: name, sizes and the builder's counts."""
        return pd.DataFrame(
            [
                {"task": t.name, "sources": len(t.src), "targets": len(t.tgt),
                 "gold": len(t.gold), **{k: v for k, v in t.stats.items() if k != "files"}}
                for splits in self.tasks.values()
                for t in splits.values()
            ]
        )  # fmt: skip

    def _embed(self, spec: EncoderSpec) -> dict[tuple[str, str], torch.Tensor]:
        """Every text of every task embedded once per language: ``(lang, text) -> vector``."""
        from csir import backbones
        from csir.devices import resolve_device

        texts: dict[str, set[str]] = {}
        for splits in self.tasks.values():
            for task in splits.values():
                texts.setdefault(task.src_lang, set()).update(task.src.values())
                texts.setdefault(task.tgt_lang, set()).update(task.tgt.values())
        device = resolve_device(self.cfg.device)
        model, tokenizer = load_sentence_encoder(spec, device)
        vectors: dict[tuple[str, str], torch.Tensor] = {}
        for lang, unique in texts.items():
            ordered = sorted(unique)
            embedded = backbones.encode(
                ordered,
                model=model,
                tokenizer=tokenizer,
                batch_size=self.cfg.batch_size,
                max_length=self.cfg.max_length,
                prefix=self.cfg.prefix,
            )
            vectors.update({(lang, text): embedded[i] for i, text in enumerate(ordered)})
        return vectors

    def mine_encoder(self, spec: EncoderSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
        """One encoder's result rows (every task pair × scoring) and what each test source
        contributed to them (:data:`csir.mining_stats.SOURCE_COLUMNS`)."""
        import torch

        began = time.perf_counter()
        vectors = self._embed(spec)
        rows, sources = [], []
        for (dataset, _pair), splits in self.tasks.items():
            sides = {}
            for split, task in splits.items():
                src = torch.stack([vectors[(task.src_lang, t)] for t in task.src.values()])
                tgt = torch.stack([vectors[(task.tgt_lang, t)] for t in task.tgt.values()])
                sides[split] = (src, tgt, mining.gold_rows(task.gold, task.src, task.tgt))
            test = splits["test"]
            pair = f"{test.src_lang}-{test.tgt_lang}"
            for scoring in self.cfg.scorings:
                result = mining.evaluate(
                    *sides["dev"], *sides["test"], scoring, k=self.cfg.k, device=self.cfg.device
                )
                rows.append(
                    {
                        "encoder": spec.system,
                        "dataset": dataset,
                        "unit": self.cfg.unit if dataset != "bucc" else "sentence",
                        "src_lang": test.src_lang,
                        "tgt_lang": test.tgt_lang,
                        "pair": pair,
                        **result.row(),
                    }
                )
                outcomes = dataclasses.asdict(result.outcomes)
                sources.append(
                    pd.DataFrame({"source": list(test.src), **outcomes}).assign(
                        encoder=spec.system, dataset=dataset, pair=pair, scoring=scoring
                    )
                )
        self.timings[spec.system] = round(time.perf_counter() - began, 2)
        columns = list(mining_stats.SOURCE_COLUMNS)
        return pd.DataFrame(rows), pd.concat(sources, ignore_index=True)[columns]

    def run_all(self) -> pd.DataFrame:
        """Mine with every encoder; write ``mining.csv``, ``mining_summary.csv`` and
        ``mining_sources.parquet`` (each test source's outcome per encoder)."""
        frames, sources = zip(*(self._cached_or_mined(spec) for spec in self.encoders), strict=True)
        rows = pd.concat(frames, ignore_index=True)
        self.sources = pd.concat(sources, ignore_index=True)
        with io.atomic_path(self.out / SOURCES) as tmp:
            self.sources.to_parquet(tmp, index=False)
        self.written.append(SOURCES)
        parsed = pd.DataFrame([parse_system(name) for name in rows["encoder"]])
        several = parsed.loc[parsed["backbone"] != BI_ENCODER, "backbone"].nunique() > 1
        rows.insert(1, "label", [encoder_label(e, several) for e in rows["encoder"]])
        rows.insert(2, "seed", parsed["seed"])
        self.rows = rows
        self._write_csv(rows, "mining.csv")
        self.summary = self.summarise(rows)
        self._write_csv(self.summary, "mining_summary.csv")
        return rows

    def _settings(self, spec: EncoderSpec) -> dict[str, Any]:
        """What an encoder's rows depend on: the task and scoring parameters and its weights."""
        from csir.systems import model_fingerprint

        params = {k: v for k, v in self.cfg.to_dict().items() if k in RESULT_PARAMETERS}
        weights = model_fingerprint(spec.path) if spec.trained else spec.path
        return {"encoder": spec.system, "weights": weights, **params}

    def _cached_or_mined(self, spec: EncoderSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The encoder's rows and per-source outcomes from ``per_encoder/`` when its settings
        match, else mined now and stored there (a killed run resumes with the encoders it had
        not finished)."""
        folder = self.out / "per_encoder" / spec.system
        settings = self._settings(spec)
        files = [folder / name for name in ("settings.json", "rows.csv", "sources.parquet")]
        if all(f.is_file() for f in files) and io.read_json(files[0]) == settings:
            _log.info("reusing the rows of %s", spec.system)
            sources = pd.read_parquet(files[2])
            return pd.read_csv(files[1]), sources.astype({"source": str, "pair": str})
        _log.info("mining with %s", spec.system)
        rows, sources = self.mine_encoder(spec)
        folder.mkdir(parents=True, exist_ok=True)
        files[0].unlink(missing_ok=True)  # the settings are written last: they mark it complete
        with io.atomic_write(files[1]) as fh:
            rows.to_csv(fh, index=False)
        with io.atomic_path(files[2]) as tmp:
            sources.to_parquet(tmp, index=False)
        io.write_json(files[0], settings)
        return rows, sources

    def significance(self) -> pd.DataFrame:
        """Paired bootstrap tests over the test sources (:mod:`csir.mining_stats`): every trained
        encoder against the untrained backbone, and every code-switched one against zero-shot;
        written to ``mining_significance.csv`` with each encoder's figure label."""
        cfg = self.cfg
        comparisons = mining_stats.mining_baselines(self.sources["encoder"].unique())
        table = mining_stats.compare_encoders(
            self.sources,
            comparisons,
            measures=MEASURES,
            correction=cfg.correction,
            alpha=cfg.alpha,
            n_resamples=cfg.n_resamples,
            seed=cfg.seed,
        )
        labels = dict(zip(self.rows["encoder"], self.rows["label"], strict=True))
        labels = {SystemId.parse(e).without_seed().name: label for e, label in labels.items()}
        table.insert(0, "label", table["system"].map(labels))
        table.insert(1, "baseline_label", table["baseline"].map(labels))
        self.significant = table
        self._write_csv(table, SIGNIFICANCE)
        return table

    def _marks(self, scoring: str) -> dict[tuple[str, str, str], str]:
        """``(label, pair, measure) -> marks`` of significant differences once
        :meth:`significance` ran: † against the backbone, ‡ against zero-shot."""
        if self.significant is None:
            return {}
        table = self.significant
        table = table[(table["scoring"] == scoring) & table["significant"]]
        marks: dict[tuple[str, str, str], str] = {}
        for row in table.itertuples():
            mark = "‡" if SystemId.parse(row.baseline).is_zero_shot else "†"
            key = (row.label, row.pair, row.measure)
            marks[key] = "".join(sorted(marks.get(key, "") + mark))
        return marks

    def significance_table(self, scoring: str = "margin") -> pd.DataFrame:
        """Labels × (pair, measure) of one scoring: ``delta`` against each baseline, ``*`` where
        it is significant after the correction."""
        rows = self.significant[self.significant["scoring"] == scoring]
        cells = [
            f"{d:+.3f}{'*' if sig else ''}"
            for d, sig in zip(rows["delta"], rows["significant"], strict=True)
        ]
        wide = rows.assign(cell=cells, versus="vs " + rows["baseline_label"]).pivot_table(
            index=["versus", "label"],
            columns=["pair", "measure"],
            values="cell",
            aggfunc="first",
            sort=False,
        )
        wide.columns.names = [None, None]
        return wide

    @staticmethod
    def summarise(rows: pd.DataFrame) -> pd.DataFrame:
        """Mean ± sd over seeds of accuracy and F1 per encoder label, pair and scoring."""
        long = rows.melt(
            id_vars=["label", "dataset", "pair", "scoring"],
            value_vars=list(MEASURES),
            var_name="measure",
            value_name="value",
        )
        return seed_mean(long, ["label", "dataset", "pair", "scoring", "measure"])

    def detectable(self) -> pd.DataFrame:
        """Per measure and baseline: comparisons, how many were significant, and the median
        minimum detectable effect and absolute difference (what the study could have seen)."""
        table = self.significant[~self.significant["identical"]]
        grouped = table.groupby(["measure", "baseline_label"], sort=False)
        return grouped.agg(
            comparisons=("delta", "size"),
            significant=("significant", "sum"),
            median_mde=("mde", "median"),
            median_abs_delta=("delta", lambda d: float(d.abs().median())),
        ).reset_index()

    def _write_csv(self, frame: pd.DataFrame, name: str) -> Path:
        path = self.out / name
        with io.atomic_write(path) as fh:
            frame.to_csv(fh, index=False)
        self.written.append(name)
        return path

    def table(self, scoring: str = "margin") -> pd.DataFrame:
        """Encoders × pairs of one scoring: ``accuracy / F1`` cells, mean (± sd over seeds),
        marked † / ‡ where significantly different from the backbone / zero-shot once
        :meth:`significance` ran."""
        rows = self.summary[self.summary["scoring"] == scoring]
        marks = self._marks(scoring)
        values = zip(rows["mean"], rows["sd"], rows["n_seeds"], strict=True)
        keys = zip(rows["label"], rows["pair"], rows["measure"], strict=True)
        cells = [mean_sd(*v) + marks.get(k, "") for v, k in zip(values, keys, strict=True)]
        wide = rows.assign(cell=cells).pivot_table(
            index="label", columns=["pair", "measure"], values="cell", aggfunc="first", sort=False
        )
        pairs = list(dict.fromkeys(rows["pair"]))
        columns = [(p, m) for p in pairs for m in MEASURES if (p, m) in wide.columns]
        wide = wide.loc[labels_in_order(wide.index), columns]
        wide.index.name = None
        return wide

    def write_latex(self) -> Path:
        """``table_mining.tex``: one block per scoring, accuracy and F1 per pair."""
        parts = []
        marked = (
            ""
            if self.significant is None
            else "; $^\\dagger$/$^\\ddagger$: significantly different from the untrained "
            f"backbone / zero-shot (paired bootstrap over test sources, {self.cfg.correction}, "
            f"alpha {self.cfg.alpha:g})"
        )
        for scoring in self.cfg.scorings:
            wide = self.table(scoring).map(_latex_cell)
            wide = wide.rename(columns=lambda c: {"accuracy": "Acc.", "f1": "F1"}.get(c, c))
            parts.append(
                f"% {SCORING_LABELS[scoring]} (k = {self.cfg.k}): test-split accuracy and mining "
                f"F1 at the dev split's threshold; mean $\\pm$ sd over training seeds{marked}.\n"
                + wide.fillna("–").to_latex(
                    escape=False,
                    multicolumn=True,
                    multicolumn_format="c",
                    column_format="l" + "r" * wide.shape[1],
                )
            )
        path = self.out / TABLE
        with io.atomic_write(path) as fh:
            fh.write("\n".join(parts))
        self.written.append(TABLE)
        return path

    def draw(self) -> list[Path]:
        """The figure (accuracy and F1 per pair, one bar per encoder label, sd over seeds)."""
        from csir import figures

        figures.style()
        long = self.rows.melt(
            id_vars=["label", "seed", "pair", "scoring"],
            value_vars=list(MEASURES),
            var_name="measure",
            value_name="value",
        )
        long["measure"] = long["measure"].map(MEASURE_LABELS)
        long["scoring"] = long["scoring"].map(SCORING_LABELS)
        self._write_csv(long, f"{FIGURE}.csv")
        fig = figures.mining_bars(long, labels_in_order(long["label"]))
        written = figures.save(fig, self.out, FIGURE, self.cfg.formats, self.cfg.dpi)
        self.written += [p.name for p in written]
        return written

    def write_parameters(self) -> Path:
        """``parameters.json``: the parameters, the tasks, the encoders and the time each took."""
        record = {
            "notebook": MiningConfig.NOTEBOOK,
            "parameters": self.cfg.to_dict(),
            "tasks": self.describe().to_dict(orient="records"),
            "encoders": [dataclasses.asdict(s) for s in self.encoders],
            "seconds_per_encoder": self.timings,
            "written": self.written,
        }
        path = self.out / "parameters.json"
        io.write_json(path, record)
        return path


def _latex_cell(cell: str) -> str:
    for text, latex in (("±", "$\\pm$"), ("†", "$^\\dagger$"), ("‡", "$^\\ddagger$")):
        cell = cell.replace(text, latex)
    return cell


def labels_in_order(labels: Sequence[str]) -> list[str]:
    """Encoder labels in the figures' method order: backbone, zero-shot, then code-switching."""
    order = [BACKBONE_LABEL, *METHOD_LABELS.values()]

    def rank(label: str) -> tuple[int, str]:
        hits = [i for i, name in enumerate(order) if name in label]
        return (hits[0] if hits else len(order), label)

    return sorted(dict.fromkeys(labels), key=rank)
