"""Notebook 04's engine: re-rank every language pair with every system, resumably, and score it.

Data flows through files only. For each (dataset, task) the first-stage candidates of every pair
are written once as a TREC run (``runs/<dataset>/<task>/first-stage/<method>/<pair>.trec``); every
system then writes one run per pair (``runs/<dataset>/<task>/<system>/<pair>.trec``). A run file
that exists is read back instead of recomputed, so a killed evaluation resumes with only the
missing pairs. Metrics are recomputed from the runs each time (cheap) and written as

- ``metrics.csv``: ``model,dataset,task,query_lang,doc_lang,measure,value,n_queries``;
- ``per_query.parquet``: the same keys plus ``query_id`` and one value per query;
- ``pairs.csv``: the query and document counts of every pair.

Systems: the untrained backbone as a bi-encoder re-ranking the same candidates
(``bi-encoder/<backbone>``: cosine of the mean-pooled ``query:``/``passage:`` embeddings, what
every re-ranker of an embedding backbone must beat), every trained cross-encoder (named by its
folder under notebook 03's ``models/``, e.g. ``e5-small-offline/bl-cs/en-de/p=0.5/seed=42``),
the first stage alone (``first-stage/bm25``,
``first-stage/dense`` or ``first-stage/scoreddocs``) and Translate-Test (each zero-shot model on
term-by-term translated text, named with ``translate-test`` in place of ``zero-shot``).

Data: SQuAD-format folders (XQuAD-R by default), or one ``ir_datasets`` dataset per language
(``ir_datasets_id``, e.g. ``"mmarco/v2/{lang}/dev/small"``: the paper's mMARCO dev small, whose
``scoreddocs`` — the official BM25 top-1000, same ids in every language — are the
``"scoreddocs"`` candidates).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from csir import devices, io, languages, paths, runs
from csir.config import EvaluationConfig
from csir.data import candidates as candidates_lib
from csir.data import retrieval
from csir.errors import ConfigError, CsirError
from csir.ids import BI_ENCODER, FIRST_STAGE, TRANSLATE_TEST
from csir.systems import System, discover_models, model_fingerprint, plan_systems

METRIC_COLUMNS = (
    "model",
    "dataset",
    "task",
    "query_lang",
    "doc_lang",
    "measure",
    "value",
    "n_queries",
)
PER_QUERY_COLUMNS = (*METRIC_COLUMNS[:5], "query_id", "measure", "value")
#: Tokens per text of the dense first stage when ``max_length`` is 0 (each model's own).
DENSE_MAX_LENGTH = 256
#: Parameters that change a run's content: a run folder written with other values is refused.
RUN_SETTINGS = (
    "dataset",
    "dataset_dir",
    "ir_datasets_id",
    "task",
    "candidates",
    "pivot_lang",
    "dense_backbone",
    "top_k",
    "max_queries",
    "query_seed",
    "mlir_languages",
    "mlir_seeds",
    "lexicon_source",
    "max_length",
    "precision",
    "int8",
)
#: Key of ``settings.json`` holding the sha256 of every data file the runs were made from.
DATASET_FILES = "dataset_files"
#: Version of how first-stage candidates are drawn, kept in ``settings.json``: 2 = BM25 over
#: parallel units with pseudo-random ties; folders without it hold version 1 (sentences mapped by
#: paragraph, ties by id), whose runs must not mix with today's.
CANDIDATE_PROTOCOL = 2
_log = logging.getLogger(__name__)


class Evaluation:
    """Everything notebook 04 does for one configuration; each step reuses the files it finds.

    Example:
        >>> ev = Evaluation(cfg, model_dirs)  # doctest: +SKIP
        >>> ev.run_all()  # doctest: +SKIP
        >>> ev.metrics()  # doctest: +SKIP
    """

    def __init__(self, cfg: EvaluationConfig, model_dirs: Sequence[Path] | None = None):
        self.cfg = cfg
        self.out = cfg.output_path()
        root = cfg.models_path()
        if model_dirs is None:
            model_dirs = [paths.resolve_path(d) for d in cfg.model_dirs]
            if not model_dirs:
                model_dirs = discover_models(root)
        self.systems = plan_systems(
            model_dirs,
            root,
            candidates=cfg.candidates,
            first_stage=cfg.first_stage,
            translate_test=cfg.translate_test,
            bi_encoder=cfg.dense_backbone if cfg.bi_encoder else "",
        )
        self.pair_names = list(dict.fromkeys(cfg.pairs))
        self.run_root = self.out / "runs" / cfg.dataset / cfg.task
        self._load_collection = functools.lru_cache(maxsize=len(cfg.mlir_languages) + 2)(
            self._read_collection
        )
        self._lexicons: dict[str, Mapping[str, Sequence[str]]] = {}
        # ir_datasets: the pivot language's scoreddocs (selected queries, cut for "scoreddocs"
        # candidates), set when its collection is read; they fix every language's documents.
        self._pivot_run: runs.Run | None = None
        self._pivot_read = False

    # -- inputs

    def settings(self) -> dict:
        """The parameters that shape every run of this evaluation."""
        values = self.cfg.to_dict()
        return {
            **{key: values[key] for key in RUN_SETTINGS},
            "candidate_protocol": CANDIDATE_PROTOCOL,
        }

    @functools.cached_property
    def dataset_files(self) -> dict[str, str]:
        """sha256 of the SQuAD-format file of every language this evaluation reads (none for
        ``ir_datasets``, whose ids name versioned data): its runs depend on their content, not
        only on ``dataset_dir``. Raises at once when one of them is missing."""
        if self.cfg.ir_datasets_id:
            return {}
        langs = set().union(*map(self.unit_languages, self.pair_names))
        if self.cfg.candidates == "bm25":
            langs.add(self.cfg.pivot_lang)
        folder = self.cfg.dataset_dir or None
        return {lang: io.file_sha256(retrieval.squad_file(folder, lang)) for lang in sorted(langs)}

    def check_settings(self) -> None:
        """Refuse to mix runs made with other run-shaping parameters, or from other data files,
        into one folder (``settings.json``; a folder without runs yet takes the new ones)."""
        path = self.run_root / "settings.json"
        current, files = self.settings(), self.dataset_files
        if not path.is_file():
            io.write_json(path, {**current, DATASET_FILES: files})
            return
        written = io.read_json(path)
        # A setting added after the folder was written counts as its default value there, and
        # a data file it does not name (written before they were recorded) as unchanged.
        saved = {**_run_setting_defaults(), "candidate_protocol": 1, **written}
        saved_files = written.get(DATASET_FILES, {})
        changed = [f"{k}: {saved.get(k)!r} -> {current[k]!r}" for k in sorted(current)
                   if saved.get(k) != current[k]]  # fmt: skip
        changed += [
            f"{lang}.json: sha256 {saved_files[lang][:12]}… -> {sha[:12]}…"
            for lang, sha in files.items()
            if saved_files.get(lang, sha) != sha
        ]
        if changed and any(self.run_root.rglob("*.trec")):
            raise ConfigError(
                f"{path}: the runs here were made with other settings or data files "
                f"({', '.join(changed)}); use another output_dir, or delete that runs folder "
                "to recompute"
            )
        if changed or any(lang not in saved_files for lang in files):
            io.write_json(path, {**current, DATASET_FILES: {**saved_files, **files}})

    def dataset_id(self, lang: str) -> str:
        """The ``ir_datasets`` id of ``lang`` (:func:`csir.data.retrieval.ir_dataset_id`)."""
        return retrieval.ir_dataset_id(self.cfg.ir_datasets_id, lang)

    def _read_collection(self, lang: str) -> retrieval.Collection:
        """One language: a SQuAD file, or an ``ir_datasets`` dataset aligned on the pivot.

        With ``ir_datasets`` every language holds the same documents: the pivot language's
        scoreddocs candidates of the selected queries (the ``top_k`` best of each for
        ``"scoreddocs"`` candidates) plus its own judged documents. mMARCO's own scoreddocs
        differ per language (each translation has its own BM25 run), so the pivot's candidates
        are fetched from each language's docs store by id.
        """
        cfg = self.cfg
        if not cfg.ir_datasets_id:
            return retrieval.load_squad_collection(
                cfg.dataset_dir or None, lang, cfg.task, dataset=cfg.dataset
            )
        dataset_id = self.dataset_id(lang)
        if lang != cfg.pivot_lang and not self._pivot_read:
            self._load_collection(cfg.pivot_lang)
        collection, run = retrieval.load_ir_dataset(dataset_id, lang=lang, dataset=cfg.dataset)
        if lang == cfg.pivot_lang:
            self._pivot_run = None if run is None else self._cut_pivot_run(run, collection)
            self._pivot_read = True
        if self._pivot_run is None:
            return collection
        return retrieval.with_documents(collection, self._pivot_run, dataset_id)

    def _cut_pivot_run(
        self, run: runs.Run, pivot: retrieval.Collection
    ) -> dict[str, dict[str, float]]:
        """The pivot's scoreddocs of the selected queries; their ``top_k`` best for scoreddocs."""
        cfg = self.cfg
        qids = retrieval.select_queries(pivot.queries, cfg.max_queries, cfg.query_seed)
        run = {qid: run.get(qid, {}) for qid in pivot.queries if qids is None or qid in qids}
        top_k = cfg.top_k if cfg.candidates == "scoreddocs" else 0
        if not top_k:
            return run
        unscored = all(len(set(docs.values())) <= 1 for docs in run.values())
        if unscored and any(len(docs) > top_k for docs in run.values()):
            raise ConfigError(
                f"ir_datasets {self.dataset_id(cfg.pivot_lang)!r}: its scoreddocs carry no "
                "scores (a candidate set without ranks, like MS MARCO's official top-1000), so "
                f"top_k={top_k} would keep an arbitrary {top_k} of each query's candidates: set "
                "top_k = 0 to re-rank them all (the paper's protocol)"
            )
        return {qid: dict(runs.ranked(docs)[:top_k]) for qid, docs in run.items()}

    @functools.cached_property
    def selected_queries(self) -> frozenset[str] | None:
        """A seeded subset of ``max_queries`` query ids (of the pivot language), or None for all."""
        if not self.cfg.max_queries:
            return None
        queries = self._load_collection(self.cfg.pivot_lang).queries
        return retrieval.select_queries(queries, self.cfg.max_queries, self.cfg.query_seed)

    def units(self) -> list[tuple[str, int | None]]:
        """``(pair, draw)`` of every run to make per system: MoIR/CLIR pairs once (draw
        ``None``), MLIR pairs once per seed of ``mlir_seeds`` (their scores are averaged)."""
        out: list[tuple[str, int | None]] = []
        for name in self.pair_names:
            if languages.MIXED in languages.parse_pair(name, mixed=True):
                out += [(name, seed) for seed in self.cfg.mlir_seeds]
            else:
                out.append((name, None))
        return out

    def pair(self, name: str, draw: int | None = None) -> retrieval.RetrievalPair:
        """The pair ``name`` (e.g. ``"en-de"``, ``"xx-xx"``), restricted to the selected queries;
        an MLIR pair with the language draw of seed ``draw`` (default: the first of
        ``mlir_seeds``)."""
        query_lang, doc_lang = languages.parse_pair(name, mixed=True)
        if languages.MIXED in (query_lang, doc_lang):
            pool = {lang: self._load_collection(lang) for lang in self.cfg.mlir_languages}
            for lang in (query_lang, doc_lang):
                if lang != languages.MIXED and lang not in pool:
                    pool[lang] = self._load_collection(lang)
            pair = retrieval.make_mixed_pair(
                pool,
                query_lang,
                doc_lang,
                self.cfg.mlir_seeds[0] if draw is None else draw,
                mixed_languages=self.cfg.mlir_languages,
            )
        else:
            pair = retrieval.make_pair(
                self._load_collection(query_lang), self._load_collection(doc_lang)
            )
        return retrieval.restrict_queries(pair, self.selected_queries)

    def unit_languages(self, name: str) -> set[str]:
        """Every language whose texts pair ``name`` may hold (an MLIR side: ``mlir_languages``)."""
        sides = languages.parse_pair(name, mixed=True)
        pool = set(self.cfg.mlir_languages) if languages.MIXED in sides else set()
        return pool | (set(sides) - {languages.MIXED})

    def require_translation_lexicons(self, systems: Sequence[System] | None = None) -> None:
        """One error before any run is made when an X→EN lexicon that the Translate-Test runs
        still to make (of ``systems``, default all) need is missing, naming every one of them
        (Translate-Test systems come last, after every other run)."""
        chosen = {s.name for s in (self.systems if systems is None else systems)}
        chosen &= {s.name for s in self.systems if s.kind == TRANSLATE_TEST}
        pending = {unit[0] for name, unit in self.missing() if name in chosen}
        langs = sorted(
            set().union(*map(self.unit_languages, pending)) - {"en"} - set(self._lexicons)
        )
        root, source = self.cfg.lexicon_path(), self.cfg.lexicon_source
        retrieval.require_translation_lexicons(
            [retrieval.translation_lexicon_path(root, lang, source) for lang in langs],
            langs,
            source,
        )

    def lexicons_for(self, langs: Iterable[str]) -> dict[str, Mapping[str, Sequence[str]]]:
        """X→EN lexicons of notebook 01 for Translate-Test (loaded once; English needs none)."""
        needed = sorted(set(langs) - {"en"} - set(self._lexicons))
        self._lexicons.update(
            retrieval.load_translation_lexicons(
                self.cfg.lexicon_path(), needed, self.cfg.lexicon_source
            )
        )
        return self._lexicons

    # -- runs

    def run_path(self, system: str, pair: str, draw: int | None = None) -> Path:
        """``runs/<dataset>/<task>/<system>/<pair>.trec``; an MLIR draw:
        ``<pair>.seed=<draw>.trec``."""
        stem = pair if draw is None else f"{pair}.seed={draw}"
        return self.run_root / system / f"{stem}.trec"

    def _pair_run_path(self, system: str, pair: retrieval.RetrievalPair) -> Path:
        return self.run_path(system, pair.name, pair.seed)

    def first_stage(self, pair: retrieval.RetrievalPair) -> dict[str, dict[str, float]]:
        """The candidates of ``pair`` (cached as the first stage's run)."""
        path = self._pair_run_path(f"{FIRST_STAGE}/{self.cfg.candidates}", pair)
        if path.is_file():
            return runs.read_run(path)
        cfg = self.cfg
        if cfg.candidates == "exhaustive":
            run = candidates_lib.exhaustive(pair)
        elif cfg.candidates == "bm25":
            self._require_parallel_to_pivot(pair)
            run = candidates_lib.expand_units(self._pivot_bm25, pair)
        elif cfg.candidates == "scoreddocs":
            pivot, pivot_run = self._pivot_scoreddocs
            doc_langs = cfg.mlir_languages if pair.doc_lang == languages.MIXED else (pair.doc_lang,)
            run = candidates_lib.map_scoreddocs(
                pivot_run,
                pivot,
                pair,
                cfg.top_k,
                doc_datasets=[self.dataset_id(lang) for lang in doc_langs],
            )
        else:
            run = candidates_lib.dense(
                pair,
                backbone=cfg.dense_backbone,
                top_k=cfg.top_k,
                batch_size=cfg.batch_size,
                max_length=cfg.max_length or DENSE_MAX_LENGTH,
                device=devices.resolve_device(cfg.device),
            )
        # A query the first stage finds nothing for is a normal event: it has no line in the
        # TREC file, and the metrics count it as 0 (``missing="zero"``). Ties are broken in a
        # fixed pseudo-random order, so no first stage earns credit from document ids.
        run = candidates_lib.break_ties({qid: docs for qid, docs in run.items() if docs})
        runs.write_run(path, run, tag=f"{FIRST_STAGE}-{cfg.candidates}")
        return run

    def _require_parallel_to_pivot(self, pair: retrieval.RetrievalPair) -> None:
        """Refuse a pair whose files are not parallel to the pivot's: BM25 ranks the pivot's
        units and every pair takes its own documents of those units, matched by unit id."""
        pivot = self._load_collection(self.cfg.pivot_lang)
        found = retrieval.misaligned_question(pivot, pair)
        if not found:
            return
        qid, mine, theirs = found
        langs = sorted({pair.doc_langs.get(d, pair.doc_lang) for d in pair.qrels[qid]})
        files = ", ".join(str(self._load_collection(lang).source) for lang in langs)
        raise CsirError(
            f"{pair.name}: question {qid!r} is answered in unit(s) {theirs} of {files} but in "
            f"{mine} of the pivot's {pivot.source}. BM25 ranks the pivot language's units "
            "(paragraphs) and every language re-ranks its own documents of those units, matched "
            "by id, so every <lang>.json must hold the same articles and paragraphs in the same "
            "order: align the files, or use candidates 'dense' or 'exhaustive', which search "
            "each language on its own"
        )

    @functools.cached_property
    def _pivot_bm25(self) -> dict[str, dict[str, float]]:
        """BM25's top-k parallel units (paragraphs) in the pivot language, for every pair.

        Every pair's candidates are all its documents of those units: the same content in every
        language (a paragraph, or all sentences of a paragraph).
        """
        pivot = self.pair(f"{self.cfg.pivot_lang}-{self.cfg.pivot_lang}")
        units = len(set(pivot.doc_groups.values()))
        return candidates_lib.bm25_units(pivot, self.cfg.top_k or max(1, units))

    @functools.cached_property
    def _pivot_scoreddocs(self) -> tuple[retrieval.RetrievalPair, dict[str, dict[str, float]]]:
        """The pivot language's own ``scoreddocs`` (its queries only); mapped to every pair."""
        pivot = self.pair(f"{self.cfg.pivot_lang}-{self.cfg.pivot_lang}")
        if self._pivot_run is None:
            raise CsirError(
                f"ir_datasets {self.dataset_id(self.cfg.pivot_lang)!r} has no scoreddocs, so "
                "candidates 'scoreddocs' has nothing to re-rank: use candidates 'bm25' or 'dense'"
            )
        return pivot, {qid: self._pivot_run.get(qid, {}) for qid in pivot.queries}

    def system_run(
        self, system: System, pair: retrieval.RetrievalPair, scorer: Callable
    ) -> dict[str, dict[str, float]]:
        """The run of ``system`` on ``pair``: read back if present, else re-ranked and written."""
        from csir import rerank

        path = self._pair_run_path(system.name, pair)
        if path.is_file():
            return runs.read_run(path)
        candidates = self.first_stage(pair)
        if system.kind == FIRST_STAGE:
            return candidates
        if system.kind == TRANSLATE_TEST:
            langs = set(pair.query_langs.values()) | set(pair.doc_langs.values())
            pair = retrieval.translate_pair(pair, self.lexicons_for(langs))
        # top_k counts BM25's parallel units, so every candidate they bring is re-ranked.
        top_k = 0 if self.cfg.candidates in ("exhaustive", "bm25") else self.cfg.top_k
        run = rerank.rerank(scorer(), pair.queries, pair.docs, candidates, top_k=top_k)
        runs.write_run(path, run, tag=system.name.replace("/", "_"))
        return run

    def check_models(self, systems: Sequence[System] | None = None) -> list[str]:
        """Drop the runs of every model (of ``systems``, default all) whose files changed since
        they were made.

        Each model-based system's run folder holds ``model.json``, the :func:`model_fingerprint`
        its runs were made with (Translate-Test: and its lexicons', :attr:`lexicon_fingerprint`);
        a folder without it, or with other bytes (a model retrained in place, a lexicon made
        again), loses its runs, which are then made again. Returns the systems whose runs went.
        """
        dropped = []
        for system in self.systems if systems is None else systems:
            if system.model_dir is None:
                continue
            folder = self.run_root / system.name
            record = folder / "model.json"
            current = {
                "model_dir": str(system.model_dir),
                "sha256": model_fingerprint(system.model_dir),
            }
            if system.kind == TRANSLATE_TEST:
                current["lexicons"] = self.lexicon_fingerprint
            saved = io.read_json(record) if record.is_file() else None
            if saved is not None and all(
                saved.get(k) == current[k] for k in current if k != "model_dir"
            ):
                continue
            stale = sorted(folder.glob("*.trec"))
            if stale:
                _log.warning(
                    "%s: %d run(s) made with other model or lexicon files (or unrecorded ones); "
                    "making them again", system.name, len(stale),
                )  # fmt: skip
                for path in stale:
                    path.unlink()
                dropped.append(system.name)
            io.write_json(record, current)
        return dropped

    @functools.cached_property
    def lexicon_fingerprint(self) -> dict[str, str | None]:
        """sha256 of the X→EN lexicon of every language Translate-Test may translate here
        (None: no such file), which its runs depend on as much as on the model."""
        langs = set().union(*map(self.unit_languages, self.pair_names)) - {"en"}
        root, source = self.cfg.lexicon_path(), self.cfg.lexicon_source
        files = {x: retrieval.translation_lexicon_path(root, x, source) for x in sorted(langs)}
        return {x: io.file_sha256(f) if Path(f).is_file() else None for x, f in files.items()}

    def missing(self) -> list[tuple[str, tuple[str, int | None]]]:
        """(system, (pair, draw)) combinations without a run file yet."""
        return [
            (system.name, unit)
            for system in self.systems
            for unit in self.units()
            if not self.run_path(system.name, *unit).is_file()
        ]

    def add_models(self, model_dirs: Sequence[Path]) -> list[System]:
        """Add trained models (and their Translate-Test systems) to :attr:`systems`; return them.

        For a caller that evaluates each model as soon as it is trained (the GPU study).
        """
        cfg = self.cfg
        known = {system.name for system in self.systems}
        added = [
            system
            for system in plan_systems(
                model_dirs,
                cfg.models_path(),
                candidates=cfg.candidates,
                first_stage=False,
                translate_test=cfg.translate_test,
            )
            if system.name not in known
        ]
        self.systems.extend(added)
        return added

    def run_all(self, progress: bool = True) -> pd.DataFrame:
        """Make every missing run (model by model, so each model loads once), then score all."""
        self.make_runs(progress=progress)
        return self.score()

    def make_runs(self, systems: Sequence[System] | None = None, progress: bool = True) -> None:
        """Make the missing runs of ``systems`` (default: all), each system's model loaded once."""
        from tqdm.auto import tqdm

        self.check_settings()
        systems = self.systems if systems is None else systems
        self.require_translation_lexicons(systems)
        self.check_models(systems)
        chosen = {system.name for system in systems}
        todo = [(name, unit) for name, unit in self.missing() if name in chosen]
        bar = tqdm(total=len(todo), desc="runs", disable=not progress)
        for system in self.systems:
            pending = [unit for s, unit in todo if s == system.name]
            if not pending:
                continue
            scorer = _lazy_reranker(system, self.cfg)
            for name, draw in pending:
                bar.set_postfix_str(f"{system.name} {name}" + ("" if draw is None else f" {draw}"))
                self.system_run(system, self.pair(name, draw), scorer)
                bar.update()
            scorer.cache_clear()
        bar.close()

    # -- metrics

    def _per_query_of(self, pair: retrieval.RetrievalPair) -> list[pd.DataFrame]:
        """Per-query values of every system whose run of ``pair`` exists."""
        from csir import metrics

        frames = []
        for system in self.systems:
            path = self._pair_run_path(system.name, pair)
            if not path.is_file():
                continue
            # A query without any first-stage candidate is absent from the run: it counts 0.
            table = metrics.per_query(
                runs.read_run(path),
                pair.qrels,
                self.cfg.measures,
                missing="zero",
                run_name=str(path),
                qrels_name=f"qrels of {pair.name}",
            )
            frames.append(
                table.assign(
                    model=system.name,
                    dataset=self.cfg.dataset,
                    task=self.cfg.task,
                    query_lang=pair.query_lang,
                    doc_lang=pair.doc_lang,
                )
            )
        return frames

    def per_query(self) -> pd.DataFrame:
        """Per-query values of every measure for every (system, pair) whose run exists; an MLIR
        query's value is its mean over the language draws."""
        frames = [f for unit in self.units() for f in self._per_query_of(self.pair(*unit))]
        return _concat_per_query(frames)

    def pair_counts(self) -> pd.DataFrame:
        """Queries, documents and the other counts of every pair (after the query subset); one
        row per MLIR draw."""
        return retrieval.pairs_table(self.pair(*unit) for unit in self.units())

    def score(self) -> pd.DataFrame:
        """Write ``metrics.csv``, ``per_query.parquet`` and ``pairs.csv``; return the metrics.

        Each pair is built once and dropped before the next, so only one pair's text is held.
        """
        return self.write_scores([self.score_unit(unit) for unit in self.units()])

    def score_unit(self, unit: tuple[str, int | None]) -> tuple[list[pd.DataFrame], dict]:
        """Per-query values of every system on one ``(pair, draw)``, and the pair's counts."""
        pair = self.pair(*unit)
        return self._per_query_of(pair), pair.row()

    def write_scores(self, scored: Sequence[tuple[list[pd.DataFrame], dict]]) -> pd.DataFrame:
        """Write the files of :meth:`score` from :meth:`score_unit`'s results, in unit order."""
        frames = [frame for unit_frames, _ in scored for frame in unit_frames]
        counts = [row for _, row in scored]
        per_query = _concat_per_query(frames)
        keys = ["model", "dataset", "task", "query_lang", "doc_lang", "measure"]
        table = (
            per_query.groupby(keys, sort=False)["value"]
            .agg(value="mean", n_queries="size")
            .reset_index()[list(METRIC_COLUMNS)]
        )
        with io.atomic_path(self.out / "per_query.parquet") as tmp:
            per_query.to_parquet(tmp, index=False)
        with io.atomic_write(self.out / "metrics.csv") as fh:
            table.to_csv(fh, index=False, float_format="%.6f")
        with io.atomic_write(self.out / "pairs.csv") as fh:
            pd.DataFrame(counts).to_csv(fh, index=False)
        return table


def _concat_per_query(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One table of per-query values; several MLIR draws of a query become their mean."""
    if not frames:
        return pd.DataFrame(columns=list(PER_QUERY_COLUMNS))
    table = pd.concat(frames, ignore_index=True)[list(PER_QUERY_COLUMNS)]
    keys = [c for c in PER_QUERY_COLUMNS if c != "value"]
    if not table.duplicated(keys).any():
        return table
    return table.groupby(keys, sort=False)["value"].mean().reset_index()[list(PER_QUERY_COLUMNS)]


def _run_setting_defaults() -> dict:
    """The default of every run setting, as ``settings.json`` holds it."""
    defaults = {f.name: f.default for f in dataclasses.fields(EvaluationConfig)}
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items() if k in RUN_SETTINGS
    }


def _lazy_reranker(system: System, cfg: EvaluationConfig) -> Callable:
    """A cached zero-argument loader, so a system whose runs all exist never loads its model."""

    @functools.cache
    def load():
        from csir import rerank

        options = rerank.ScoringOptions(
            batch_size=cfg.batch_size,
            max_length=cfg.max_length or (DENSE_MAX_LENGTH if system.kind == BI_ENCODER else 0),
            precision=cfg.precision,
            int8=cfg.int8,
            device=cfg.device,
        )
        if system.kind == BI_ENCODER:
            return rerank.bi_encoder(system.backbone, options)
        return rerank.Reranker(system.model_dir, options)

    return load
