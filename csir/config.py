"""Notebook parameters as frozen dataclasses that reject unknown names, wrong types, bad values.

Papermill only warns on unknown parameters; every notebook therefore turns its parameters cell
into one of these right away::

    cfg = LexiconConfig.from_params(globals_of_parameters_cell)
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from csir import languages, paths
from csir.devices import SCORING_PRECISIONS, check_device_name
from csir.errors import ConfigError
from csir.ids import CUSTOM, ML_CS, TRAINING_METHODS, WIKI_CS, TrainingSetId


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _matches(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin in (list, tuple):
        (item,) = typing.get_args(tp)[:1] or (Any,)
        return isinstance(value, (list, tuple)) and all(_matches(v, item) for v in value)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


@dataclasses.dataclass(frozen=True)
class NotebookConfig:
    """Base class: subclasses declare fields with defaults and a ``NOTEBOOK`` name."""

    NOTEBOOK: ClassVar[str] = ""

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> NotebookConfig:
        """Build the config from a mapping (e.g. the notebook's parameter variables).

        Keys starting with ``_`` are ignored; any other unknown key raises :class:`ConfigError`.
        Lists are stored as tuples so the config stays hashable and immutable.
        """
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(k for k in params if not k.startswith("_") and k not in names)
        if unknown:
            raise ConfigError(
                f"{cls.__name__}: unknown parameter(s) {', '.join(map(repr, unknown))} "
                f"for notebook {cls.NOTEBOOK}; valid names are: {', '.join(names)}"
            )
        values = {}
        for name in names:
            if name not in params:
                continue
            value = params[name]
            if not _matches(value, hints[name]):
                raise ConfigError(
                    f"{cls.__name__}: parameter {name!r} must be {_type_name(hints[name])}, "
                    f"got {type(value).__name__} {value!r}"
                )
            values[name] = tuple(value) if isinstance(value, list) else value
        return cls(**values)

    def __post_init__(self) -> None:
        if self.smoke is None:  # type: ignore[attr-defined]
            object.__setattr__(self, "smoke", paths.smoke_default())
        self.validate()

    def validate(self) -> None:
        """Subclasses check values here and raise :class:`ConfigError`."""

    def output_path(self) -> Path:
        """``output_dir`` if given, else ``<build>/<NOTEBOOK>``."""
        given = getattr(self, "output_dir", "")
        return Path(given).expanduser().resolve() if given else paths.notebook_dir(self.NOTEBOOK)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of the parameters (tuples as lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _check_measures(names: Sequence[str]) -> None:
    """``measures``: known to ir_measures, none twice, not empty (before any run is made)."""
    from csir.metrics import parse_measures

    _require(len(names) > 0, "measures must not be empty")
    try:
        parse_measures(names)
    except ConfigError as err:
        raise ConfigError(f"measures: {err}") from None


def _check_probabilities(values: tuple[float, ...]) -> None:
    _require(len(values) > 0, "probabilities must not be empty")
    for p in values:
        _require(0.0 < p <= 1.0, f"switch probability {p!r} must be in (0, 1]")


LEXICON_SOURCES = ("muse", "clwe_nn", "clwe_csls", "titles")
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]*")


def _require_folder_name(value: str, name: str) -> None:
    """``value`` becomes one folder name under an output folder: no separators, no ``..``."""
    _require(
        bool(_SAFE_NAME.fullmatch(value)) and ".." not in value,
        f"{name} {value!r} must be a plain name (letters, digits, '.', '_', '=', '+', '-'; no "
        "'/' or '..'): it names a folder under the output folder",
    )


def _layout_training_set(file: Path) -> TrainingSetId | None:
    """The training set of a file at ``…/train/<method>/<pair>/p=<p>/<file>`` (else None)."""
    parts = file.parts
    if len(parts) < 5 or parts[-5] != "train":
        return None
    try:
        return TrainingSetId.parse("/".join(parts[-4:-1]))
    except ConfigError:
        return None


def _training_set_names(names: Sequence[str]) -> tuple[str, ...]:
    """``train_sets`` checked and named as notebook 02 names its folders (``p=0.50``: ``p=0.5``)."""
    out = []
    for name in names:
        try:
            out.append(TrainingSetId.parse(name).name)
        except ConfigError as err:
            raise ConfigError(f"train_sets: {err}") from None
    _require(len(set(out)) == len(out), f"train_sets {list(names)} name a training set twice")
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class LexiconConfig(NotebookConfig):
    """Parameters of notebook 01 (lexicon induction and BLI evaluation)."""

    NOTEBOOK: ClassVar[str] = "01_lexicon_induction"
    #: Smoke mode keeps these of the requested languages (else the first two) ...
    SMOKE_LANGUAGES: ClassVar[tuple[str, ...]] = ("de", "ar", "zh")
    #: ... caps both vocabularies at this many words ...
    SMOKE_VOCAB_SIZE: ClassVar[int] = 1000
    #: ... and evaluates this many test words per language.
    SMOKE_TEST_WORDS: ClassVar[int] = 300
    CLWE_SOURCES: ClassVar[tuple[str, ...]] = ("backbone", "muse-vec")
    TITLES_SOURCES: ClassVar[tuple[str, ...]] = ("cldr", "wikititles")

    output_dir: str = ""
    languages: tuple[str, ...] = languages.SEEN[1:] + languages.UNSEEN
    test_dict_dir: str = ""
    clwe_source: str = "backbone"
    backbone: str = "e5-small-offline"
    word_prefix: str = ""
    en_vocab_size: int = 20000
    tgt_vocab_size: int = 50000
    add_test_words: bool = True
    max_test_words: int = 0
    center_vectors: bool = True
    csls_k: int = 10
    titles_source: str = "cldr"
    batch_size: int = 512
    device: str = "auto"
    smoke: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.smoke:
            kept = tuple(c for c in self.languages if c in self.SMOKE_LANGUAGES)
            object.__setattr__(self, "languages", kept or self.languages[:2])
            for name in ("en_vocab_size", "tgt_vocab_size"):
                object.__setattr__(self, name, min(getattr(self, name), self.SMOKE_VOCAB_SIZE))
            limit = self.max_test_words or self.SMOKE_TEST_WORDS
            object.__setattr__(self, "max_test_words", min(limit, self.SMOKE_TEST_WORDS))

    def validate(self) -> None:
        _require(len(self.languages) > 0, "languages must not be empty")
        for code in self.languages:
            languages.check_language(code)
            _require(code != "en", "languages lists target languages; 'en' is always the source")
        _require(self.en_vocab_size > 0 and self.tgt_vocab_size > 0, "vocabulary sizes must be > 0")
        _require(self.csls_k > 0, "csls_k must be > 0")
        _require(self.max_test_words >= 0, "max_test_words must be >= 0 (0 means all)")
        _require(self.batch_size > 0, "batch_size must be > 0")
        check_device_name(self.device)
        _require(
            self.clwe_source in self.CLWE_SOURCES,
            f"clwe_source {self.clwe_source!r} must be one of {self.CLWE_SOURCES}",
        )
        _require(
            self.titles_source in self.TITLES_SOURCES,
            f"titles_source {self.titles_source!r} must be one of {self.TITLES_SOURCES}",
        )

    def test_dict_path(self) -> Path | None:
        """Folder of MUSE-format test dictionaries: ``test_dict_dir`` or ``<mirror>/muse-test``."""
        if self.test_dict_dir:
            return Path(self.test_dict_dir).expanduser().resolve()
        mirror = paths.data_mirror()
        return mirror / "muse-test" if mirror else None


@dataclasses.dataclass(frozen=True)
class DataGenerationConfig(NotebookConfig):
    """Parameters of notebook 02 (code-switched training data)."""

    NOTEBOOK: ClassVar[str] = "02_data_generation"
    TRAIN_SOURCES: ClassVar[tuple[str, ...]] = ("wikiqa", "msmarco")
    #: Smoke mode keeps this many training pairs ...
    SMOKE_MAX_PAIRS: ClassVar[int] = 300
    #: ... and these of the requested probabilities (else the first one), in one process ...
    SMOKE_PROBABILITIES: ClassVar[tuple[float, ...]] = (0.5, 1.0)
    #: ... and, when ``pairs``/``ml_languages`` are left at their defaults, only the pairs and
    #: languages within notebook 01's smoke languages (whose lexicons a smoke run of 01 writes;
    #: else the first one). Pairs and languages chosen explicitly are kept as given.
    SMOKE_LANGUAGES: ClassVar[tuple[str, ...]] = LexiconConfig.SMOKE_LANGUAGES

    output_dir: str = ""
    lexicon_dir: str = ""
    lexicon_source: str = "muse"
    titles_source: str = "titles"
    methods: tuple[str, ...] = TRAINING_METHODS
    pairs: tuple[str, ...] = ("en-de", "en-ar", "de-ru")
    ml_languages: tuple[str, ...] = ("de", "ru", "it", "nl", "ar")
    probabilities: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    wiki_probability: float = 1.0
    max_ngram: int = 3
    train_source: str = "wikiqa"
    train_path: str = ""
    negatives_per_positive: int = 4
    max_pairs: int = 0
    num_proc: int = 0
    seed: int = 42
    smoke: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.smoke:
            limit = min(self.max_pairs or self.SMOKE_MAX_PAIRS, self.SMOKE_MAX_PAIRS)
            kept = tuple(p for p in self.probabilities if p in self.SMOKE_PROBABILITIES)
            object.__setattr__(self, "max_pairs", limit)
            object.__setattr__(self, "probabilities", kept or self.probabilities[:1])
            object.__setattr__(self, "num_proc", 1)
            allowed = {"en", *self.SMOKE_LANGUAGES}
            defaults = {f.name: f.default for f in dataclasses.fields(self)}
            if self.pairs == defaults["pairs"]:
                pairs = tuple(p for p in self.pairs if set(p.split("-")) <= allowed)
                object.__setattr__(self, "pairs", pairs or self.pairs[:1])
            if self.ml_languages == defaults["ml_languages"]:
                pool = tuple(c for c in self.ml_languages if c in allowed)
                object.__setattr__(self, "ml_languages", pool or self.ml_languages[:1])

    def workers(self) -> int:
        """Processes for ``Dataset.map``: ``num_proc``, or every core when it is 0."""
        import os

        return self.num_proc or os.cpu_count() or 1

    def validate(self) -> None:
        _require(
            self.lexicon_source in LEXICON_SOURCES,
            f"lexicon_source {self.lexicon_source!r} must be one of {LEXICON_SOURCES}",
        )
        _require(
            self.titles_source in LEXICON_SOURCES,
            f"titles_source {self.titles_source!r} must be one of {LEXICON_SOURCES}",
        )
        _require(len(self.methods) > 0, "methods must not be empty")
        for method in self.methods:
            _require(
                method in TRAINING_METHODS,
                f"method {method!r} must be one of {', '.join(TRAINING_METHODS)}",
            )
        for pair in self.pairs:
            languages.parse_pair(pair)
        for code in self.ml_languages:
            languages.check_language(code)
            _require(code != "en", "ml_languages lists languages to switch into; drop 'en'")
        _require(
            len(self.ml_languages) > 0 or not {ML_CS, WIKI_CS} & set(self.methods),
            "ml_languages must not be empty for ml-cs and wiki-cs",
        )
        for pair in self.pairs:
            _require(pair != "en-en", "pair 'en-en' switches nothing: use method 'zero-shot'")
        _check_probabilities(self.probabilities)
        _check_probabilities((self.wiki_probability,))
        _require(1 <= self.max_ngram <= 10, "max_ngram must be between 1 and 10")
        _require(
            self.train_source in self.TRAIN_SOURCES,
            f"train_source {self.train_source!r} must be one of {self.TRAIN_SOURCES}",
        )
        _require(
            self.train_source != "msmarco" or bool(self.train_path),
            "train_source 'msmarco' needs train_path (a triples .tsv or .jsonl, maybe .gz)",
        )
        _require(self.negatives_per_positive >= 0, "negatives_per_positive must be >= 0")
        _require(
            self.train_source != "msmarco" or self.negatives_per_positive >= 1,
            "train_source 'msmarco' needs negatives_per_positive >= 1",
        )
        _require(self.max_pairs >= 0, "max_pairs must be >= 0 (0 means all)")
        _require(self.num_proc >= 0, "num_proc must be >= 0 (0 means all cores)")
        _require(self.seed >= 0, "seed must be >= 0")

    def lexicon_path(self) -> Path:
        """Where notebook 01 wrote its lexicons (``lexicon_dir`` or its default build folder)."""
        if self.lexicon_dir:
            return Path(self.lexicon_dir).expanduser().resolve()
        return paths.notebook_dir(LexiconConfig.NOTEBOOK) / "lexicons"


#: XQuAD-R's languages that are seen or unseen languages of the paper (el, th, tr are extra).
MLIR_LANGUAGES = ("en", "de", "ru", "ar", "es", "zh", "hi", "vi")


@dataclasses.dataclass(frozen=True)
class EvaluationConfig(NotebookConfig):
    """Parameters of notebook 04 (re-ranking evaluation).

    Data come from a folder of SQuAD-format files (``dataset_dir``, XQuAD-R by default) or,
    when ``ir_datasets_id`` is set, from ``ir_datasets`` (one dataset per language, e.g.
    ``"mmarco/v2/{lang}/dev/small"``, the paper's protocol). Then ``task`` is not used to load
    anything: it only names the run folder (``runs/<dataset>/<task>/``) and the ``task`` column
    of the metrics, so give ``dataset`` a name such as ``"mmarco-dev-small"``; ``candidates``
    ``"scoreddocs"`` re-ranks the dataset's own first stage of the pivot language, mapped to
    every language by document id (mMARCO's English is ``msmarco-passage``, whose official BM25
    top-1000 has no scores: re-rank all of it with ``top_k = 0``).

    ``top_k`` with ``"bm25"`` candidates counts *parallel units*: BM25 ranks the pivot
    language's paragraphs, and every document of the ``top_k`` best is a candidate in every
    pair — the paragraphs themselves, or all their sentences for the ``"sentence"`` task — so
    every language re-ranks the same content with the same recall (0: every paragraph).
    Ties in a first stage are broken in a fixed pseudo-random order, never by document id.
    """

    NOTEBOOK: ClassVar[str] = "04_evaluation"
    TASKS: ClassVar[tuple[str, ...]] = ("paragraph", "sentence")
    CANDIDATES: ClassVar[tuple[str, ...]] = ("exhaustive", "bm25", "dense", "scoreddocs")
    PRECISIONS: ClassVar[tuple[str, ...]] = SCORING_PRECISIONS
    #: Smoke mode evaluates these pairs (the issue's CI set) ...
    SMOKE_PAIRS: ClassVar[tuple[str, ...]] = ("en-en", "en-de", "de-de", "en-ar", "xx-xx")
    #: ... on this many queries, re-ranking this many candidates each, with this max length ...
    SMOKE_MAX_QUERIES: ClassVar[int] = 6
    SMOKE_TOP_K: ClassVar[int] = 4
    SMOKE_MAX_LENGTH: ClassVar[int] = 128
    #: ... and mixes these languages into MLIR sets.
    SMOKE_MLIR_LANGUAGES: ClassVar[tuple[str, ...]] = ("en", "de", "ar")

    output_dir: str = ""
    dataset_dir: str = ""
    ir_datasets_id: str = ""
    dataset: str = "xquad-r"
    task: str = "paragraph"
    pairs: tuple[str, ...] = (
        "en-en", "de-de", "ru-ru", "ar-ar", "es-es", "zh-zh", "hi-hi", "vi-vi",
        "en-de", "en-ru", "en-ar", "de-ru", "ar-ru", "de-ar",
        "en-es", "en-zh", "en-hi", "en-vi", "es-zh", "de-vi", "hi-vi",
        "en-xx", "xx-en", "xx-xx",
    )  # fmt: skip
    mlir_languages: tuple[str, ...] = MLIR_LANGUAGES
    mlir_seeds: tuple[int, ...] = (13, 14, 15)
    model_dirs: tuple[str, ...] = ()
    models_root: str = ""
    candidates: str = "bm25"
    pivot_lang: str = "en"
    dense_backbone: str = "e5-small-offline"
    top_k: int = 20
    max_queries: int = 0
    query_seed: int = 7
    first_stage: bool = True
    bi_encoder: bool = True
    translate_test: bool = True
    lexicon_dir: str = ""
    lexicon_source: str = "muse"
    measures: tuple[str, ...] = ("RR@10", "nDCG@10", "R@100")
    batch_size: int = 32
    max_length: int = 0
    precision: str = "auto"
    int8: bool = False
    device: str = "auto"
    smoke: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.smoke:
            return
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        if self.pairs == defaults["pairs"]:
            object.__setattr__(self, "pairs", self.SMOKE_PAIRS)
        if self.mlir_languages == defaults["mlir_languages"]:
            object.__setattr__(self, "mlir_languages", self.SMOKE_MLIR_LANGUAGES)
        limit = min(self.max_queries or self.SMOKE_MAX_QUERIES, self.SMOKE_MAX_QUERIES)
        object.__setattr__(self, "max_queries", limit)
        object.__setattr__(self, "top_k", min(self.top_k, self.SMOKE_TOP_K))
        cap = self.SMOKE_MAX_LENGTH
        object.__setattr__(self, "max_length", min(self.max_length or cap, cap))
        if self.candidates == "dense":
            object.__setattr__(self, "candidates", "bm25")

    def validate(self) -> None:
        _require(self.task in self.TASKS, f"task {self.task!r} must be one of {self.TASKS}")
        _require_folder_name(self.dataset, "dataset")
        _require(
            self.candidates in self.CANDIDATES,
            f"candidates {self.candidates!r} must be one of {self.CANDIDATES}",
        )
        if self.ir_datasets_id:
            try:
                formatted = self.ir_datasets_id.format(lang="en")
            except (KeyError, IndexError, ValueError):
                formatted = ""
            _require(
                "{lang}" in self.ir_datasets_id and bool(formatted),
                f"ir_datasets_id {self.ir_datasets_id!r} must contain '{{lang}}' (and no other "
                "braces), the place of the language code: e.g. 'mmarco/v2/{lang}/dev/small'",
            )
        _require(
            self.candidates != "scoreddocs" or bool(self.ir_datasets_id),
            "candidates 'scoreddocs' (the dataset's own first stage) needs ir_datasets_id, "
            "e.g. 'mmarco/v2/{lang}/dev/small'; a SQuAD folder has none: use bm25",
        )
        _require(len(self.pairs) > 0, "pairs must not be empty")
        split = [languages.parse_pair(pair, mixed=True) for pair in self.pairs]
        if any(languages.MIXED in sides for sides in split):
            _require(len(self.mlir_languages) >= 2, "MLIR pairs need >= 2 mlir_languages")
        for code in self.mlir_languages:
            languages.check_language(code)
        _require(len(self.mlir_seeds) > 0, "mlir_seeds must hold at least one seed")
        _require(
            len(set(self.mlir_seeds)) == len(self.mlir_seeds),
            f"mlir_seeds {list(self.mlir_seeds)} repeat a seed",
        )
        languages.check_language(self.pivot_lang)
        _require(
            self.lexicon_source in LEXICON_SOURCES,
            f"lexicon_source {self.lexicon_source!r} must be one of {LEXICON_SOURCES}",
        )
        _check_measures(self.measures)
        _require(self.top_k >= 0, "top_k must be >= 0 (0: every candidate)")
        _require(self.max_queries >= 0, "max_queries must be >= 0 (0: all)")
        _require(self.batch_size > 0, "batch_size must be > 0")
        _require(
            self.max_length == 0 or self.max_length >= 8,
            "max_length must be 0 (each model's own training length) or >= 8",
        )
        _require(
            self.precision in self.PRECISIONS,
            f"precision {self.precision!r} must be one of {self.PRECISIONS}",
        )
        check_device_name(self.device)

    def models_path(self) -> Path:
        """Root of notebook 03's models (``models_root`` or its default build folder)."""
        if self.models_root:
            return Path(self.models_root).expanduser().resolve()
        return paths.notebook_dir("03_training") / "models"

    def lexicon_path(self) -> Path:
        """Where notebook 01 wrote its lexicons (``lexicon_dir`` or its default build folder)."""
        if self.lexicon_dir:
            return Path(self.lexicon_dir).expanduser().resolve()
        return paths.notebook_dir(LexiconConfig.NOTEBOOK) / "lexicons"


@dataclasses.dataclass(frozen=True)
class SignificanceConfig(NotebookConfig):
    """Parameters of notebook 05 (paired tests against the zero-shot baseline)."""

    NOTEBOOK: ClassVar[str] = "05_significance"
    TESTS: ClassVar[tuple[str, ...]] = ("t-test", "permutation")
    CORRECTIONS: ClassVar[tuple[str, ...]] = ("bonferroni", "holm", "none")
    #: Smoke mode draws this many random assignments in the permutation test.
    SMOKE_RESAMPLES: ClassVar[int] = 1000

    evaluation_dir: str = ""
    output_dir: str = ""
    measures: tuple[str, ...] = ("RR@10",)
    test: str = "t-test"
    correction: str = "bonferroni"
    alpha: float = 0.05
    n_resamples: int = 10000
    seed: int = 0
    smoke: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.smoke:
            object.__setattr__(self, "n_resamples", min(self.n_resamples, self.SMOKE_RESAMPLES))

    def validate(self) -> None:
        _require(self.test in self.TESTS, f"test {self.test!r} must be one of {self.TESTS}")
        _require(
            self.correction in self.CORRECTIONS,
            f"correction {self.correction!r} must be one of {self.CORRECTIONS}",
        )
        _require(0.0 < self.alpha < 1.0, "alpha must be in (0, 1)")
        _check_measures(self.measures)
        _require(self.n_resamples >= 100, "n_resamples must be >= 100")

    def evaluation_path(self) -> Path:
        """Notebook 04's output folder (``evaluation_dir`` or its default build folder)."""
        if self.evaluation_dir:
            return Path(self.evaluation_dir).expanduser().resolve()
        return paths.notebook_dir(EvaluationConfig.NOTEBOOK)


_NOTEBOOK_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}
_LITERAL_TYPES = (str, int, float, bool, list, tuple, dict, type(None))


#: Where :func:`params_from_namespace` records the parameter names in a notebook's globals.
PARAMETER_NAMES_KEY = "_csir_parameter_names"


def params_from_namespace(namespace: dict[str, Any]) -> dict[str, Any]:
    """The notebook's parameter variables: every public global holding a literal value.

    The first call runs right after the parameters cell (and papermill's injected cell), so any
    literal it finds is a parameter; a name papermill injected that the config does not know is
    then rejected by :meth:`NotebookConfig.from_params` instead of being silently ignored. The
    names found are recorded in the namespace (:data:`PARAMETER_NAMES_KEY`), so re-running the
    config cell later in JupyterLab reads the same parameters (with their current values), not
    the variables that later cells defined.
    """
    names = namespace.get(PARAMETER_NAMES_KEY)
    if names is None:
        names = [
            name
            for name, value in namespace.items()
            if not name.startswith("_")
            and name not in _NOTEBOOK_NAMES
            and isinstance(value, _LITERAL_TYPES)
        ]
        namespace[PARAMETER_NAMES_KEY] = names
    return {name: namespace[name] for name in names if name in namespace}


@dataclasses.dataclass(frozen=True)
class TrainingConfig(NotebookConfig):
    """Parameters of notebook 03 (cross-encoder fine-tuning, one model per training set)."""

    NOTEBOOK: ClassVar[str] = "03_training"
    #: Smoke mode trains only these of the requested sets (else the first one) ...
    SMOKE_TRAIN_SETS: ClassVar[tuple[str, ...]] = ("zero-shot/en-en/p=0.0", "bl-cs/en-de/p=0.5")
    #: ... for at most this many steps (1 of warm-up), pairs per batch and tokens per pair.
    SMOKE_MAX_STEPS: ClassVar[int] = 3
    #: ... evaluating on the dev set every 2 steps, with its first 8 judged questions ...
    SMOKE_EVAL_EVERY: ClassVar[int] = 2
    SMOKE_DEV_MAX_QUERIES: ClassVar[int] = 8
    SMOKE_BATCH_SIZE: ClassVar[int] = 4
    SMOKE_MAX_LENGTH: ClassVar[int] = 96

    output_dir: str = ""
    data_dir: str = ""
    train_file: str = ""
    train_sets: tuple[str, ...] = (
        "zero-shot/en-en/p=0.0",
        "bl-cs/en-de/p=0.5",
        "bl-cs/en-ar/p=0.5",
        "bl-cs/de-ru/p=0.5",
        "ml-cs/ml/p=0.5",
        "wiki-cs/wiki/p=1.0",
    )
    backbone: str = "e5-small-offline"
    num_layers: int = 0
    head: str = "auto"
    joint_layers: int = 0
    query_max_length: int = 64
    max_steps: int = 2000
    batch_size: int = 32
    grad_accum: int = 1
    learning_rate: float = 2e-5
    head_learning_rate: float = 0.01
    warmup_steps: int = 200
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    max_length: int = 256
    precision: str = "bf16"
    dropout: float = 0.0
    loss: str = "pointwise"
    batch_by_question: bool = False
    freeze_embeddings: bool = False
    trim_vocabulary: bool = True
    select_on_dev: bool = True
    eval_every: int = 100
    dev_max_queries: int = 0
    seeds: tuple[int, ...] = (1,)
    checkpoint_every: int = 500
    num_workers: int = 0
    log_every: int = 10
    force: bool = False
    smoke: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "train_sets", _training_set_names(self.train_sets))
        super().__post_init__()
        if self.smoke:
            if not self.train_file:
                kept = tuple(s for s in self.train_sets if s in self.SMOKE_TRAIN_SETS)
                object.__setattr__(self, "train_sets", kept or self.train_sets[:1])
            for name, cap in (
                ("max_steps", self.SMOKE_MAX_STEPS),
                ("eval_every", self.SMOKE_EVAL_EVERY),
                ("batch_size", self.SMOKE_BATCH_SIZE),
                ("max_length", self.SMOKE_MAX_LENGTH),
            ):
                object.__setattr__(self, name, min(getattr(self, name), cap))
            object.__setattr__(self, "warmup_steps", min(self.warmup_steps, 1))
            cap = self.SMOKE_DEV_MAX_QUERIES
            object.__setattr__(self, "dev_max_queries", min(self.dev_max_queries or cap, cap))

    def validate(self) -> None:
        _require(
            bool(self.train_file) or len(self.train_sets) > 0,
            "give train_file or at least one of train_sets",
        )
        _require(len(self.seeds) > 0, "seeds must not be empty (the paper: 1, 2, 3)")
        _require(len(set(self.seeds)) == len(self.seeds), f"seeds {self.seeds} repeat a seed")
        for seed in self.seeds:
            self.training_args(seed)  # the training library's own checks: one set of rules

    def training_args(self, seed: int | None = None):  # -> csir.training.TrainingArgs (lazy: torch)
        """The :class:`csir.training.TrainingArgs` of one seed (default: the first seed).

        Every field of this config that ``TrainingArgs`` also has is passed on by name.
        """
        from csir.training.args import TrainingArgs

        values = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(TrainingArgs)
            if f.name != "seed" and hasattr(self, f.name)
        }
        if not self.select_on_dev:
            values["eval_every"] = 0
        return TrainingArgs(**values, seed=self.seeds[0] if seed is None else seed)

    def dev_file(self) -> Path | None:
        """Notebook 02's dev set (``dev/en-en/dev.jsonl``) when selecting on it, else ``None``."""
        return self.data_path() / "dev" / "en-en" / "dev.jsonl" if self.select_on_dev else None

    def data_path(self) -> Path:
        """Notebook 02's output folder (``data_dir`` or its default build folder)."""
        if self.data_dir:
            return Path(self.data_dir).expanduser().resolve()
        return paths.notebook_dir(DataGenerationConfig.NOTEBOOK)

    def models_root(self) -> Path:
        """``<output>/models``: one folder per backbone, training set and seed below it."""
        return self.output_path() / "models"

    def jobs(self) -> list[tuple[Path, Path, int]]:
        """``(train_file, model_dir, seed)`` of every model to train: each set with each seed.

        Model folders are ``models/<backbone>/<method>/<pair>/p=<p>/seed=<seed>``; a
        ``train_file`` outside notebook 02's layout goes to ``models/<backbone>/custom/<stem>``.
        """
        from csir.training.args import model_dir_name

        base = self.models_root() / model_dir_name(self.backbone, self.num_layers)
        if self.train_file:
            file = Path(self.train_file).expanduser().resolve()
            found = _layout_training_set(file)
            folder = found.directory(base) if found else base / CUSTOM / file.stem
            folders = [(file, folder)]
        else:
            train_root = self.data_path() / "train"
            sets = [TrainingSetId.parse(name) for name in self.train_sets]
            folders = [(t.directory(train_root) / "train.jsonl", t.directory(base)) for t in sets]
        return [
            (file, folder / f"seed={seed}", seed) for seed in self.seeds for file, folder in folders
        ]


@dataclasses.dataclass(frozen=True)
class FiguresConfig(NotebookConfig):
    """Parameters of notebook 06 (paper figures and tables from cached results only)."""

    NOTEBOOK: ClassVar[str] = "06_paper_figures"
    FIGURES: ClassVar[tuple[str, ...]] = ("heatmaps", "settings", "p_ablation", "backbones", "bli")
    FORMATS: ClassVar[tuple[str, ...]] = ("pdf", "png", "svg")

    evaluation_dir: str = ""
    significance_dir: str = ""
    lexicon_run_dir: str = ""
    output_dir: str = ""
    figures: tuple[str, ...] = FIGURES
    measure: str = "RR@10"
    backbone: str = ""
    cs_system: str = ""
    main_p: float = 0.5
    wiki_p: float = 1.0
    ablation_method: str = ML_CS
    formats: tuple[str, ...] = ("pdf", "png")
    dpi: int = 300
    smoke: bool | None = None

    #: Smoke mode draws at this resolution at most.
    SMOKE_DPI: ClassVar[int] = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.smoke:
            object.__setattr__(self, "dpi", min(self.dpi, self.SMOKE_DPI))

    def validate(self) -> None:
        unknown = sorted(set(self.figures) - set(self.FIGURES))
        _require(not unknown, f"unknown figures {unknown}; choose from {self.FIGURES}")
        bad = sorted(set(self.formats) - set(self.FORMATS))
        _require(not bad, f"unknown formats {bad}; choose from {self.FORMATS}")
        _require(len(self.formats) > 0, "formats must not be empty")
        _require(0.0 < self.main_p <= 1.0 and 0.0 < self.wiki_p <= 1.0, "p must be in (0, 1]")
        _require(
            self.ablation_method in (ML_CS, WIKI_CS),
            "ablation_method must be ml-cs or wiki-cs (one model for every pair)",
        )
        _require(50 <= self.dpi <= 1200, "dpi must be in [50, 1200]")

    def _input(self, given: str, notebook: str) -> Path:
        return Path(given).expanduser().resolve() if given else paths.notebook_dir(notebook)

    def evaluation_path(self) -> Path:
        """Notebook 04's output folder."""
        return self._input(self.evaluation_dir, EvaluationConfig.NOTEBOOK)

    def significance_path(self) -> Path:
        """Notebook 05's output folder."""
        return self._input(self.significance_dir, SignificanceConfig.NOTEBOOK)

    def lexicon_run_path(self) -> Path:
        """Notebook 01's output folder (``bli.csv``)."""
        return self._input(self.lexicon_run_dir, LexiconConfig.NOTEBOOK)
