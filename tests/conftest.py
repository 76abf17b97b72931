"""Shared fixtures: an isolated build dir per test, helpers for tiny inline files and models."""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path

import pytest

from csir import paths

REPO_ROOT = paths.REPO_ROOT


@pytest.fixture
def write_file(tmp_path: Path):
    """Write text (or bytes) to a file under tmp_path and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def isolated_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point CSIR_BUILD_DIR at a fresh folder so tests never write into the repository."""
    build = tmp_path / "build"
    monkeypatch.setenv("CSIR_BUILD_DIR", str(build))
    return build


def char_tokenizer():
    """A character-level WordPiece BERT tokenizer (lowercase letters, digits, ``?.,'``)."""
    from transformers import BertTokenizerFast

    chars = string.ascii_lowercase + string.digits + "?.,'"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *("##" + c for c in chars)]
    return BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)})


def word_tokenizer(words: Iterable[str], *, split_punctuation: bool = False):
    """A word-level BERT-style tokenizer over ``[PAD] [UNK] [CLS] [SEP]`` and ``words``.

    Words are split on whitespace (and on punctuation with ``split_punctuation``); anything not
    in ``words`` is ``[UNK]``. Single texts become ``[CLS] a [SEP]``, pairs ``[CLS] a [SEP] b
    [SEP]`` with token type 1 for the second text.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = (
        pre_tokenizers.Whitespace() if split_punctuation else pre_tokenizers.WhitespaceSplit()
    )
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def make_tiny_cross_encoder(
    folder: Path, seed: int = 0, *, tokenizer=None, head: bool = True, **config
) -> Path:
    """Save a randomly initialised 2-layer, 32-wide BERT and its tokenizer into ``folder``.

    By default a cross-encoder (one logit) with the offline e5 tokenizer, fast enough for any
    test that scores text.

    Args:
        folder: where the model and tokenizer are saved.
        seed: torch seed for the random weights.
        tokenizer: the tokenizer to save with the model (default: the offline e5 tokenizer);
            the vocabulary size and padding id follow it.
        head: ``False`` saves a bare ``BertModel`` (a backbone or bi-encoder) instead of a
            ``BertForSequenceClassification`` with one label.
        **config: ``BertConfig`` values that replace the defaults (e.g. ``hidden_size``).
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    if tokenizer is None:
        from csir import backbones

        tokenizer = backbones.load_tokenizer(backbones.OFFLINE_E5)
    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=514,
        pad_token_id=tokenizer.pad_token_id,
    )
    if head:
        settings["num_labels"] = 1
    torch.manual_seed(seed)
    model_class = BertForSequenceClassification if head else BertModel
    model = model_class(BertConfig(**{**settings, **config}))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory) -> Path:
    """One tiny random cross-encoder folder shared by the whole session (read-only)."""
    return make_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))
