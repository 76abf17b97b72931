"""Typed identities of the study: a training set and a system, parsed once at the edge.

A **training set** is what notebook 02 writes and notebook 03 trains on: a method, a language
pair and a switch probability, named ``<method>/<pair>/p=<p>`` (``bl-cs/en-de/p=0.5``). A
**system** is what notebook 04 evaluates and notebooks 05–06 compare; its name is its folder
under notebook 03's ``models/`` (``e5-small-offline/bl-cs/en-de/p=0.5/seed=2``), Translate-Test of
a zero-shot model (``e5-small-offline/translate-test/en-en/p=0.0/seed=1``), a first stage
(``first-stage/bm25``) or the untrained bi-encoder (``bi-encoder/e5-small-offline``).

Every module that needs a part of such a name (method, p, seed, backbone) asks these classes;
none splits the string itself.

Example:
    >>> TrainingSetId.parse("ml-cs/ml/p=0.50").name
    'ml-cs/ml/p=0.5'
    >>> SystemId.parse("e5/bl-cs/en-de/p=0.5/seed=2").training_set.method
    'bl-cs'
    >>> SystemId.parse("e5/bl-cs/en-de/p=0.5/seed=2").without_seed().name
    'e5/bl-cs/en-de/p=0.5'
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

from csir import languages
from csir.errors import ConfigError

ZERO_SHOT = "zero-shot"
BL_CS = "bl-cs"
ML_CS = "ml-cs"
WIKI_CS = "wiki-cs"
#: Methods of a training set (notebook 02's ``train/<method>/``).
TRAINING_METHODS = (ZERO_SHOT, BL_CS, ML_CS, WIKI_CS)
#: The code-switching methods among them.
CS_METHODS = (BL_CS, ML_CS, WIKI_CS)
#: Pair names of the training sets that have no language pair.
ZERO_SHOT_PAIR, ML_PAIR, WIKI_PAIR = "en-en", "ml", "wiki"
#: Zero-shot models evaluated on term-by-term translated text (notebook 04).
TRANSLATE_TEST = "translate-test"
#: Systems that are no trained model: a first stage and the untrained bi-encoder.
FIRST_STAGE = "first-stage"
BI_ENCODER = "bi-encoder"
#: A model trained on a file outside notebook 02's layout: ``<backbone>/custom/<stem>``.
CUSTOM = "custom"

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]*")
_SEED = re.compile(r"seed=(-?\d+)")


def _plain(value: str) -> bool:
    return bool(_PLAIN.fullmatch(value)) and ".." not in value


#: Keys of every record of a training set's ``train.jsonl`` (and of the dev set's ``dev.jsonl``),
#: in file order: notebook 02 writes them, notebook 03 reads them.
RECORD_KEYS = ("qid", "pid", "query", "passage", "label", "query_lang", "doc_lang")


@dataclasses.dataclass(frozen=True, order=True)
class TrainingSetId:
    """One training set: ``method`` (see :data:`TRAINING_METHODS`), ``pair`` (``en-de`` for
    BL-CS, ``ml``, ``wiki`` or ``en-en``) and the switch probability ``p`` in [0, 1]."""

    method: str
    pair: str
    p: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", float(self.p))
        where = f"training set {self.method}/{self.pair}/p={self.p}"
        if self.method not in TRAINING_METHODS:
            raise ConfigError(
                f"{where}: method {self.method!r} must be one of {', '.join(TRAINING_METHODS)}"
            )
        if not (isinstance(self.pair, str) and _plain(self.pair)):
            raise ConfigError(
                f"{where}: the pair {self.pair!r} must be a plain name such as 'en-de', 'ml' or "
                "'wiki' (letters, digits, '.', '_', '=', '+', '-'; no '/' or '..')"
            )
        if not (math.isfinite(self.p) and 0.0 <= self.p <= 1.0):
            raise ConfigError(f"{where}: p must be a number in [0, 1]")
        self._check_method_pair(where)

    def _check_method_pair(self, where: str) -> None:
        """The pairs and p each method has in notebook 02's layout."""
        if self.method == ZERO_SHOT:
            if self.pair != ZERO_SHOT_PAIR or self.p != 0.0:
                raise ConfigError(
                    f"{where}: the zero-shot set is '{ZERO_SHOT}/{ZERO_SHOT_PAIR}/p=0.0' "
                    "(nothing is switched)"
                )
            return
        if self.p == 0.0:
            raise ConfigError(
                f"{where}: p = 0 switches nothing; use '{ZERO_SHOT}/{ZERO_SHOT_PAIR}/p=0.0'"
            )
        fixed = {ML_CS: ML_PAIR, WIKI_CS: WIKI_PAIR}
        if self.method in fixed:
            if self.pair != fixed[self.method]:
                raise ConfigError(
                    f"{where}: {self.method} sets are named "
                    f"'{self.method}/{fixed[self.method]}/p=<p>'"
                )
            return
        try:
            query_lang, doc_lang = languages.parse_pair(self.pair)
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None
        if query_lang == doc_lang == "en":
            raise ConfigError(f"{where}: en-en switches nothing; use the zero-shot set")

    @classmethod
    def parse(cls, name: str) -> TrainingSetId:
        """Read ``<method>/<pair>/p=<p>``; one ConfigError names the string and the shape."""
        parts = name.split("/") if isinstance(name, str) else []
        shape = (
            f"training set {name!r} must look like '<method>/<pair>/p=<p>' with a method in "
            f"{TRAINING_METHODS} and p in [0, 1], e.g. 'bl-cs/en-de/p=0.5' (a folder under "
            "notebook 02's train/)"
        )
        if len(parts) != 3 or not parts[2].startswith("p="):
            raise ConfigError(shape)
        try:
            p = float(parts[2][2:])
        except ValueError:
            raise ConfigError(f"{shape}: p must be a number in [0, 1]") from None
        try:
            return cls(parts[0], parts[1], p)
        except ConfigError as exc:
            raise ConfigError(f"{shape}: {exc}") from None

    @property
    def name(self) -> str:
        """``<method>/<pair>/p=<p>`` (p as Python prints the float: ``p=0.5``, ``p=1.0``)."""
        return f"{self.method}/{self.pair}/p={self.p}"

    def directory(self, root: str | Path) -> Path:
        """``<root>/<method>/<pair>/p=<p>``."""
        return Path(root) / self.method / self.pair / f"p={self.p}"

    def __str__(self) -> str:
        return self.name


@dataclasses.dataclass(frozen=True)
class SystemId:
    """One evaluated system.

    Attributes:
        backbone: the model folder's backbone name (``e5-small-offline``, ``…-L6``);
            :data:`FIRST_STAGE` or :data:`BI_ENCODER` for those systems.
        method: the training method, :data:`TRANSLATE_TEST`, :data:`CUSTOM`, the first stage's
            method (``bm25``, ``dense``) or the bi-encoder's backbone.
        training_set: the training set of a model trained on one of notebook 02's sets
            (Translate-Test: its zero-shot set), else None.
        rest: the remaining path parts of a name outside these shapes (e.g. a custom stem).
        seed: the training seed, or None (a seed-averaged system, a first stage).
    """

    backbone: str
    method: str = ""
    training_set: TrainingSetId | None = None
    rest: tuple[str, ...] = ()
    seed: int | None = None

    @classmethod
    def parse(cls, name: str) -> SystemId:
        """Read a system name (see the module docstring); any other path keeps its parts."""
        parts = [part for part in str(name).split("/") if part]
        if not parts:
            raise ConfigError(f"system name {name!r} is empty")
        seed = None
        if len(parts) > 1 and (match := _SEED.fullmatch(parts[-1])):
            seed = int(match.group(1))
            parts = parts[:-1]
        backbone, rest = parts[0], parts[1:]
        if backbone in (FIRST_STAGE, BI_ENCODER):
            return cls(backbone, "/".join(rest), None, (), seed)
        if not rest:
            return cls(backbone, "", None, (), seed)
        method = rest[0]
        if len(rest) == 3 and rest[2].startswith("p="):
            as_trained = ZERO_SHOT if method == TRANSLATE_TEST else method
            try:
                training_set = TrainingSetId.parse("/".join([as_trained, *rest[1:]]))
            except ConfigError:
                training_set = None
            if training_set is not None:
                return cls(backbone, method, training_set, (), seed)
        return cls(backbone, method, None, tuple(rest[1:]), seed)

    @classmethod
    def model(cls, backbone: str, training_set: TrainingSetId, seed: int | None) -> SystemId:
        """A model trained on one of notebook 02's sets."""
        return cls(backbone, training_set.method, training_set, (), seed)

    @property
    def name(self) -> str:
        """The system's name (its folder under ``models/`` for a trained model)."""
        if self.training_set is not None:
            ts = self.training_set
            parts = [self.backbone, self.method, ts.pair, f"p={ts.p}"]
        else:
            parts = [self.backbone, *([self.method] if self.method else []), *self.rest]
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return "/".join(parts)

    def __str__(self) -> str:
        return self.name

    @property
    def is_model(self) -> bool:
        """A trained model (or its Translate-Test), not a first stage or the bi-encoder."""
        return self.backbone not in (FIRST_STAGE, BI_ENCODER)

    @property
    def is_zero_shot(self) -> bool:
        """A model trained on the zero-shot set (not its Translate-Test)."""
        return self.is_model and self.method == ZERO_SHOT

    @property
    def p(self) -> float:
        """The training set's switch probability (NaN when there is none)."""
        return self.training_set.p if self.training_set is not None else math.nan

    @property
    def train_pair(self) -> str:
        """The training set's pair (``""`` when there is none)."""
        return self.training_set.pair if self.training_set is not None else ""

    def without_seed(self) -> SystemId:
        """The same system averaged over seeds."""
        return dataclasses.replace(self, seed=None)

    def as_translate_test(self) -> SystemId:
        """Translate-Test of this zero-shot model."""
        if not self.is_zero_shot:
            raise ConfigError(f"{self.name}: only a zero-shot model has a Translate-Test system")
        return dataclasses.replace(self, method=TRANSLATE_TEST)
