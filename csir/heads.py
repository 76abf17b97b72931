"""Cross-encoder heads: how a backbone turns a (query, passage) pair into one relevance logit.

Two heads, chosen by :class:`HeadSpec`:

- ``"classifier"`` — the paper's: query and passage joined into one sequence (``[CLS] q [SEP] p``),
  a freshly initialised one-logit classifier on the first token
  (``AutoModelForSequenceClassification``). Right for language-model backbones (mMiniLMv2, mBERT,
  XLM-R); sentence-transformers ``CrossEncoder`` and ``transformers`` load it as it is.
- ``"segment-cosine"`` — for **embedding backbones** such as multilingual-e5, which were trained
  with mean pooling and never used the first token. Query (``"query: "`` + text) and passage
  (``"passage: "`` + text) pass the lower ``L - k`` layers *apart*, each with its own positions,
  exactly as the bi-encoder encodes them; the top ``k`` layers (``joint_layers``) attend over both
  segments jointly; the logit is ``scale · cos(mean(query tokens), mean(passage tokens)) + bias``.
  With ``k = 0`` the scores are a monotone map of the untrained bi-encoder's cosine, so training
  starts where a dense first stage already is, and cross-attention in the top layers is what
  training can add. Because the lower layers see one segment only, their states are computed
  once per distinct query and passage and reused for every pair (:class:`SegmentScorer`), so a
  pair costs only the top ``k`` layers.

A segment-cosine model folder is a standard ``BertModel`` folder (``config.json``,
``model.safetensors``, tokenizer files: ``AutoModel`` loads its encoder, e.g. as a bi-encoder)
plus ``csir_head.json`` (the head's settings and its two parameters). csir loads either kind with
:func:`csir.ranker.load_ranker`; no remote code is involved. This module is torch-free (configs
validate head settings cheaply); the models live in :mod:`csir.ranker`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from csir.errors import ConfigError, CsirError

CLASSIFIER = "classifier"
SEGMENT_COSINE = "segment-cosine"
HEADS = (CLASSIFIER, SEGMENT_COSINE)
HEAD_FILE = "csir_head.json"

#: Initial readout: cos 0.8 (a typical e5 similarity) maps to logit 0 at scale 20.
INITIAL_SCALE = 20.0
INITIAL_BIAS = -16.0


@dataclasses.dataclass(frozen=True)
class HeadSpec:
    """Which head a cross-encoder has, and its settings.

    Attributes:
        kind: ``"classifier"`` or ``"segment-cosine"``.
        joint_layers: segment-cosine: the top ``k`` layers that attend over query and passage
            jointly (0: none, the bi-encoder).
        query_prefix: segment-cosine: prepended to every query (e5: ``"query: "``).
        passage_prefix: segment-cosine: prepended to every passage (e5: ``"passage: "``).
        query_max_length: segment-cosine: tokens kept of a query (special tokens included);
            a passage keeps up to the run's ``max_length``.
    """

    kind: str = SEGMENT_COSINE
    joint_layers: int = 0
    query_prefix: str = "query: "
    passage_prefix: str = "passage: "
    query_max_length: int = 64

    def __post_init__(self) -> None:
        if self.kind not in HEADS:
            raise ConfigError(f"head {self.kind!r} must be one of {', '.join(HEADS)}")
        if self.joint_layers < 0:
            raise ConfigError(
                f"joint_layers must be >= 0 (0: the bi-encoder), got {self.joint_layers}"
            )
        if self.query_max_length < 4:
            raise ConfigError(f"query_max_length must be >= 4, got {self.query_max_length}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        return dataclasses.asdict(self)


def default_head(backbone: str) -> str:
    """The head a backbone gets by default: segment-cosine for e5 embedding models
    (``e5-small-offline``, ``intfloat/multilingual-e5-*``), the classifier for the rest."""
    name = Path(str(backbone)).name.lower()
    return SEGMENT_COSINE if name == "e5-small-offline" or "e5" in name.split("-") else CLASSIFIER


def read_head_spec(folder: str | Path) -> HeadSpec:
    """The head of a model folder: ``csir_head.json`` when present, else the classifier."""
    path = Path(folder) / HEAD_FILE
    if not path.is_file():
        return HeadSpec(kind=CLASSIFIER)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return HeadSpec(**data["spec"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CsirError(
            f"{path}: unreadable head description ({exc}); retrain the model (notebook 03)"
        ) from None
