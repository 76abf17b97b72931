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
