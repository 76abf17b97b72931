"""Notebook parameters as frozen dataclasses that reject unknown names, wrong types, bad values.

Papermill only warns on unknown parameters; every notebook therefore turns its parameters cell
into one of these right away::

    cfg = LexiconConfig.from_params(globals_of_parameters_cell)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from csir import languages, paths
from csir.errors import ConfigError


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
                f"{cls.__name__}: unknown parameter(s) {', '.join(map(repr, unknown))} for notebook "
                f"{cls.NOTEBOOK}; valid names are: {', '.join(names)}"
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


def _check_probabilities(values: tuple[float, ...]) -> None:
    _require(len(values) > 0, "probabilities must not be empty")
    for p in values:
        _require(0.0 < p <= 1.0, f"switch probability {p!r} must be in (0, 1]")


LEXICON_SOURCES = ("muse", "clwe_nn", "clwe_csls", "titles")
CS_METHODS = ("zero-shot", "bl-cs", "ml-cs", "wiki-cs")


@dataclasses.dataclass(frozen=True)
class LexiconConfig(NotebookConfig):
    """Parameters of notebook 01 (lexicon induction and BLI evaluation)."""

    NOTEBOOK: ClassVar[str] = "01_lexicon_induction"

    output_dir: str = ""
    languages: tuple[str, ...] = languages.SEEN[1:] + languages.UNSEEN
    test_dict_dir: str = ""
    backbone: str = "e5-small-offline"
    en_vocab_size: int = 20000
    tgt_vocab_size: int = 20000
    csls_k: int = 10
    batch_size: int = 512
    device: str = "auto"
    smoke: bool | None = None

    def validate(self) -> None:
        _require(len(self.languages) > 0, "languages must not be empty")
        for code in self.languages:
            languages.check_language(code)
            _require(code != "en", "languages lists target languages; 'en' is always the source")
        _require(self.en_vocab_size > 0 and self.tgt_vocab_size > 0, "vocabulary sizes must be > 0")
        _require(self.csls_k > 0, "csls_k must be > 0")
        _require(self.batch_size > 0, "batch_size must be > 0")
        _require(self.device in ("auto", "cpu") or self.device.startswith("cuda"),
                 f"device {self.device!r} must be 'auto', 'cpu' or 'cuda[:N]'")

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

    output_dir: str = ""
    lexicon_dir: str = ""
    lexicon_source: str = "muse"
    titles_source: str = "titles"
    methods: tuple[str, ...] = CS_METHODS
    pairs: tuple[str, ...] = ("en-de", "en-ar", "de-ru")
    ml_languages: tuple[str, ...] = ("de", "ru", "it", "nl", "ar")
    probabilities: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    wiki_probability: float = 1.0
    train_source: str = "wikiqa"
    max_pairs: int = 0
    num_proc: int = 0
    seed: int = 42
    smoke: bool | None = None

    def validate(self) -> None:
        _require(self.lexicon_source in LEXICON_SOURCES,
                 f"lexicon_source {self.lexicon_source!r} must be one of {LEXICON_SOURCES}")
        _require(self.titles_source in LEXICON_SOURCES,
                 f"titles_source {self.titles_source!r} must be one of {LEXICON_SOURCES}")
        _require(len(self.methods) > 0, "methods must not be empty")
        for method in self.methods:
            _require(method in CS_METHODS, f"method {method!r} must be one of {CS_METHODS}")
        for pair in self.pairs:
            languages.parse_pair(pair)
        for code in self.ml_languages:
            languages.check_language(code)
        _check_probabilities(self.probabilities)
        _check_probabilities((self.wiki_probability,))
        _require(self.max_pairs >= 0, "max_pairs must be >= 0 (0 means all)")
        _require(self.num_proc >= 0, "num_proc must be >= 0 (0 means all cores)")

    def lexicon_path(self) -> Path:
        """Where notebook 01 wrote its lexicons (``lexicon_dir`` or its default build folder)."""
        if self.lexicon_dir:
            return Path(self.lexicon_dir).expanduser().resolve()
        return paths.notebook_dir(LexiconConfig.NOTEBOOK) / "lexicons"


_NOTEBOOK_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}
_LITERAL_TYPES = (str, int, float, bool, list, tuple, dict, type(None))


def params_from_namespace(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The notebook's parameter variables: every public global holding a literal value.

    Run right after the parameters cell (and papermill's injected cell), so any literal it finds
    is a parameter; a name papermill injected that the config does not know is then rejected
    by :meth:`NotebookConfig.from_params` instead of being silently ignored.
    """
    return {
        name: value
        for name, value in namespace.items()
        if not name.startswith("_")
        and name not in _NOTEBOOK_NAMES
        and isinstance(value, _LITERAL_TYPES)
    }
