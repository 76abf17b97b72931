"""Shared fixtures: an isolated build dir per test, and helpers for tiny inline files."""

from __future__ import annotations

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


def make_tiny_cross_encoder(folder: Path, seed: int = 0) -> Path:
    """Save a randomly initialised 2-layer, 32-wide BERT cross-encoder (one logit) with the
    offline e5 tokenizer into ``folder``; fast enough for any test that scores text."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from csir import backbones

    tokenizer = backbones.load_tokenizer(backbones.OFFLINE_E5)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=514,
        pad_token_id=tokenizer.pad_token_id,
        num_labels=1,
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory) -> Path:
    """One tiny random cross-encoder folder shared by the whole session (read-only)."""
    return make_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))
