"""The validation machinery of notebook parameters: :class:`NotebookConfig` (unknown names,
wrong types and bad values are refused when a config is built), the checks several notebooks
share, and :func:`params_from_namespace`, which reads a notebook's parameters cell."""

from __future__ import annotations

import dataclasses
import logging
import re
import types
import typing
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from csir import paths
from csir.errors import ConfigError

_log = logging.getLogger(__name__)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


_YAML_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _yaml_hint(value: Any, tp: Any) -> str:
    """Why a YAML file may have given ``value`` for a ``tp`` parameter (PyYAML reads YAML 1.1:
    ``no``/``yes``/``on``/``off`` unquoted are booleans, ``2e-5`` without a dot is a string)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(v, bool) for v in items) and not _matches(True, tp):
        return " (in YAML, no/yes/on/off unquoted are booleans: quote a language code such as 'no')"
    if any(isinstance(v, str) and _YAML_NUMBER.fullmatch(v) for v in items):
        return " (in YAML, a number in e-notation needs a dot to be a number: write 2.0e-5)"
    return ""


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
class Renamed:
    """The new name of a renamed parameter. ``below``: the old name held the subfolder
    ``below`` of what the new name holds (``lexicons`` of notebook 01's output folder, say)."""

    new: str
    below: str = ""

    def convert(self, old: str, value: Any) -> Any:
        """A value given under the ``old`` name, as a value of the new name."""
        if not self.below or not isinstance(value, str) or not value:
            return value
        path = Path(value).expanduser()
        if path.name != self.below:
            raise ConfigError(
                f"{old} {value!r} is now {self.new}: the folder that holds {self.below}/ (the "
                f"output_dir of the notebook that wrote it), no longer {self.below}/ itself; "
                f"{value!r} is not named {self.below!r}, so give {self.new} = the folder above "
                f"your {self.below}/ (move or link your files to <{self.new}>/{self.below}/)"
            )
        return str(path.parent)


@dataclasses.dataclass(frozen=True)
class NotebookConfig:
    """Base class: subclasses declare fields with defaults and a ``NOTEBOOK`` name."""

    NOTEBOOK: ClassVar[str] = ""
    #: Old parameter names still accepted (with a ``FutureWarning``): old name -> :class:`Renamed`.
    RENAMED: ClassVar[Mapping[str, Renamed]] = {}

    @classmethod
    def current_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` with every old name of :attr:`RENAMED` replaced by its new name.

        A notebook's parameters cell declares the new name at its default, so the new name
        given too (with another value than its default) is a conflict, not a choice.
        """
        out = dict(params)
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        for old, renamed in cls.RENAMED.items():
            if old not in out:
                continue
            value = out.pop(old)
            if out.get(renamed.new, defaults[renamed.new]) != defaults[renamed.new]:
                raise ConfigError(
                    f"{cls.__name__}: {old!r} and {renamed.new!r} are both given; {old!r} is the "
                    f"old name of {renamed.new!r}: give {renamed.new!r} alone"
                )
            out[renamed.new] = renamed.convert(old, value)
            warnings.warn(
                f"{cls.__name__}: parameter {old!r} is now {renamed.new!r} (given as "
                f"{renamed.new}={out[renamed.new]!r}); the old name will be removed",
                FutureWarning,
                stacklevel=3,
            )
        return out

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> NotebookConfig:
        """Build the config from a mapping (e.g. the notebook's parameter variables).

        Keys starting with ``_`` are ignored; old names of :attr:`RENAMED` are read as their
        new names; any other unknown key raises :class:`ConfigError`. Lists are stored as tuples
        so the config stays hashable and immutable.
        """
        params = cls.current_params(params)
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
                quote = isinstance(value, dict) and paths.BUILD_PLACEHOLDER[1:-1] in value
                raise ConfigError(
                    f"{cls.__name__}: parameter {name!r} must be {_type_name(hints[name])}, "
                    f"got {type(value).__name__} {value!r}"
                    + (f' (in YAML, quote it: "{paths.BUILD_PLACEHOLDER}/…")' if quote else "")
                    + _yaml_hint(value, hints[name])
                )
            _check_path_parameter(name, value)
            values[name] = tuple(value) if isinstance(value, list) else value
        return cls(**values)

    def __post_init__(self) -> None:
        if self.smoke is None:  # type: ignore[attr-defined]
            object.__setattr__(self, "smoke", paths.smoke_default())
        self.validate()

    def validate(self) -> None:
        """Subclasses check values here and raise :class:`ConfigError`."""

    def values(self) -> dict[str, Any]:
        """Every parameter's current value (before smoke mode changes them: see
        :meth:`report_smoke`)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def report_smoke(self, given: Mapping[str, Any]) -> None:
        """One warning naming each parameter given explicitly (not its default) that smoke mode
        changed, from ``given`` (:meth:`values` before) to its value now; none when none was."""
        changed = [
            f"{f.name} {given[f.name]!r} -> {getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if given[f.name] != f.default and getattr(self, f.name) != given[f.name]
        ]
        if changed:
            _log.warning(
                "%s: smoke mode changed what was given: %s (smoke=False keeps them)",
                type(self).__name__,
                "; ".join(changed),
            )

    def output_path(self) -> Path:
        """``output_dir`` if given (``{build}/…``: below the build folder), else
        ``<build>/<NOTEBOOK>``."""
        return notebook_output(getattr(self, "output_dir", ""), self.NOTEBOOK)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of the parameters (tuples as lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


#: Path parameters read through :func:`csir.paths.resolve_path` (``{build}/…`` allowed); other
#: ``*_dir``/``*_path`` parameters name outside data, where a placeholder is refused.
BUILD_RELATIVE = frozenset(
    {
        "output_dir",
        "lexicon_induction_dir",
        "data_generation_dir",
        "training_dir",
        "evaluation_dir",
        "significance_dir",
        "model_dirs",
        "train_file",
        "test_dict_dir",
    }
)


def _check_path_parameter(name: str, value: Any) -> None:
    """Refuse a misspelt ``{build}`` (or one where it is not read) before anything runs."""
    if name in BUILD_RELATIVE or name.endswith(("_dir", "_dirs", "_path", "_file")):
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, str):
                paths.check_placeholder(item, allowed=name in BUILD_RELATIVE)


def notebook_output(given: str, notebook: str) -> Path:
    """The output folder of an earlier notebook: ``given`` (a ``<notebook>_dir`` parameter, the
    ``output_dir`` that notebook was given; ``{build}/…`` is below the build folder) or, when
    empty, that notebook's build folder."""
    return paths.resolve_path(given) if given else paths.notebook_dir(notebook)


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def check_measures(names: Sequence[str], parameter: str = "measures") -> None:
    """``measures``: known to ir_measures, written as ir_measures writes them, with a cutoff of
    at least 1, none twice, not empty (before any run is made).

    Notebooks 04-06 find a measure's scores by its name, so ``"RR@10 "`` or ``"RR(cutoff=10)"``
    would match nothing that another notebook asks for as ``"RR@10"``.
    """
    from csir.metrics import parse_measures

    require(len(names) > 0, f"{parameter} must not be empty")
    try:
        parsed = parse_measures(names)
    except ConfigError as err:
        raise ConfigError(f"{parameter}: {err}") from None
    for name, measure in parsed.items():
        require(
            name == str(measure),
            f"{parameter}: write measure {name!r} as {str(measure)!r} (the spelling the "
            "metrics files use, and notebooks 05 and 06 look for)",
        )
        cutoff = measure.params.get("cutoff")
        # trec_eval aborts the whole process on a cutoff of 0, after every run is made.
        require(
            cutoff is None or cutoff >= 1,
            f"{parameter}: measure {name!r} needs a cutoff of at least 1 (e.g. '@10')",
        )


def require_distinct(values: Sequence[Any], name: str) -> None:
    """``values`` holds no item twice (a repeat would be done twice, or weigh twice in a draw)."""
    repeated = sorted({str(v) for v in values if list(values).count(v) > 1})
    require(not repeated, f"{name} {list(values)} repeat {', '.join(map(repr, repeated))}")


def check_probabilities(values: tuple[float, ...]) -> None:
    require(len(values) > 0, "probabilities must not be empty")
    for p in values:
        require(0.0 < p <= 1.0, f"switch probability {p!r} must be in (0, 1]")


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]*")


def require_folder_name(value: str, name: str) -> None:
    """``value`` becomes one folder name under an output folder: no separators, no ``..``."""
    require(
        bool(_SAFE_NAME.fullmatch(value)) and ".." not in value,
        f"{name} {value!r} must be a plain name (letters, digits, '.', '_', '=', '+', '-'; no "
        "'/' or '..'): it names a folder under the output folder",
    )


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
