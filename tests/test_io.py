import json

import pytest

from csir import io
from csir.errors import DataNotFoundError, InputError


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "out" / "file.tsv"
    with io.atomic_write(target) as fh:
        fh.write("a\tb\n")
    assert target.read_text() == "a\tb\n"
    with pytest.raises(RuntimeError), io.atomic_write(target) as fh:
        fh.write("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "a\tb\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.tsv"]


def test_atomic_write_leaves_nothing_when_new_file_fails(tmp_path):
    target = tmp_path / "new.jsonl"

    def records():
        yield {"a": 1}
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), io.atomic_write(target) as fh:
        for record in records():
            fh.write(json.dumps(record) + "\n")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path(tmp_path):
    target = tmp_path / "x.bin"
    with io.atomic_path(target) as tmp:
        tmp.write_bytes(b"123")
        assert not target.exists()
    assert target.read_bytes() == b"123"


def test_read_lines_names_the_non_utf8_line(write_file):
    path = write_file("latin1.txt", b"ok\n" + "caf\xe9\n".encode("latin-1"))
    lines = io.read_lines(path)
    assert next(lines) == (1, "ok")
    with pytest.raises(InputError, match=r"latin1.txt:2: not valid UTF-8.*iconv"):
        next(lines)


def test_jsonl_round_trip_and_bad_line(tmp_path, write_file):
    path = write_file("r.jsonl", '{"q": "ü", "n": 1}\n{"q": "b", "n": 2}\n')
    assert list(io.read_jsonl(path)) == [{"q": "ü", "n": 1}, {"q": "b", "n": 2}]
    bad = write_file("bad.jsonl", '{"a": 1}\n{"a": \n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: invalid JSON"):
        list(io.read_jsonl(bad))


def test_iter_jsonl_records_numbers_lines_and_refuses_non_objects(write_file):
    path = write_file("r.jsonl", '{"a": 1}\n\n{"a": 2}\n[3]\n')
    records = io.iter_jsonl_records(path, fix="write objects")
    assert next(records) == (1, {"a": 1}) and next(records) == (3, {"a": 2})
    with pytest.raises(InputError, match=r"r.jsonl:4: a JSON object is expected \(write objects\)"):
        next(records)


def test_read_json_names_line(write_file):
    path = write_file("bad.json", '{\n  "a": 1,\n  }\n')
    with pytest.raises(InputError, match=r"bad.json:3"):
        io.read_json(path)
    good = write_file("good.json", json.dumps({"a": [1]}))
    assert io.read_json(good) == {"a": [1]}


def test_locate_prefers_mirror_then_cache(tmp_path, monkeypatch):
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    (mirror / "muse").mkdir(parents=True)
    (mirror / "muse" / "en-de.txt").write_text("a b\n")
    (cache / "data" / "muse").mkdir(parents=True)
    (cache / "data" / "muse" / "en-fr.txt").write_text("a c\n")
    monkeypatch.setenv("CSIR_DATA_DIR", str(mirror))
    monkeypatch.setenv("CSIR_CACHE_DIR", str(cache))
    assert io.locate("muse/en-de.txt") == mirror / "muse" / "en-de.txt"
    assert io.locate("muse/en-fr.txt") == cache / "data" / "muse" / "en-fr.txt"


def test_missing_file_names_every_place_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("CSIR_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("CSIR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CSIR_OFFLINE", "1")
    url = "https://example.org/en-xx.txt"
    with pytest.raises(DataNotFoundError) as info:
        io.locate("muse/en-xx.txt", [url])
    message = str(info.value)
    assert str(tmp_path / "mirror" / "muse" / "en-xx.txt") in message
    assert str(tmp_path / "cache" / "data" / "muse" / "en-xx.txt") in message
    assert url in message and "offline" in message
    assert info.value.looked and len(info.value.looked) == 3


def test_download_failure_is_reported_not_half_written(tmp_path, monkeypatch):
    monkeypatch.delenv("CSIR_DATA_DIR", raising=False)
    monkeypatch.setenv("CSIR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CSIR_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def refuse(url, timeout):
        raise OSError("network unreachable")

    monkeypatch.setattr(io.urllib.request, "urlopen", refuse)
    with pytest.raises(DataNotFoundError, match="network unreachable"):
        io.locate("xquad-r/de.json", ["https://example.org/de.json"])
    assert not (tmp_path / "cache" / "data" / "xquad-r" / "de.json").exists()


def test_download_success_goes_to_cache(tmp_path, monkeypatch):
    import io as stdio

    monkeypatch.delenv("CSIR_DATA_DIR", raising=False)
    monkeypatch.setenv("CSIR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CSIR_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    class Response(stdio.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(io.urllib.request, "urlopen", lambda url, timeout: Response(b"x y\n"))
    path = io.locate("muse/en-de.txt", ["https://example.org/en-de.txt"])
    assert path == tmp_path / "cache" / "data" / "muse" / "en-de.txt"
    assert path.read_text() == "x y\n"


def test_xquad_r_is_found_in_the_mirror_or_named_clearly(tmp_path, monkeypatch):
    from csir.data.xquad_r import XQUAD_R_URL, locate_xquad_r
    from csir.errors import ConfigError

    mirror = tmp_path / "mirror"
    (mirror / "xquad-r").mkdir(parents=True)
    (mirror / "xquad-r" / "de.json").write_text("{}")
    monkeypatch.setenv("CSIR_DATA_DIR", str(mirror))
    monkeypatch.setenv("CSIR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CSIR_OFFLINE", "1")
    assert locate_xquad_r("de") == mirror / "xquad-r" / "de.json"
    with pytest.raises(DataNotFoundError, match="lareqa"):
        locate_xquad_r("ru")
    assert "{lang}" in XQUAD_R_URL
    with pytest.raises(ConfigError, match="unknown XQuAD-R language code 'it'"):
        locate_xquad_r("it")


def test_atomic_writes_get_the_permissions_open_would_give(tmp_path):
    """mkstemp makes 0600 files: results in a shared build folder would be unreadable to others."""
    import os
    import stat

    from csir import io as csir_io

    mask = os.umask(0o022)
    try:
        csir_io._UMASK, saved = 0o022, csir_io._UMASK
        with csir_io.atomic_write(tmp_path / "a.txt") as fh:
            fh.write("x")
        with csir_io.atomic_path(tmp_path / "b.bin") as pending:
            pending.write_bytes(b"y")
    finally:
        os.umask(mask)
        csir_io._UMASK = saved
    for name in ("a.txt", "b.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_write_json_writes_non_finite_numbers_as_null_and_reads_back(tmp_path):
    import numpy as np

    record = {
        "nan": float("nan"),
        "inf": float("inf"),
        "numpy": [np.float32("nan"), np.float64("-inf"), np.float32(0.5), np.int64(3)],
        "nested": {"tuple": (1.0, float("nan")), "list": [{"x": np.nan}]},
        "ok": 1.5,
    }
    path = tmp_path / "parameters.json"
    io.write_json(path, record)
    assert io.read_json(path) == {
        "nan": None,
        "inf": None,
        "numpy": [None, None, 0.5, 3],
        "nested": {"tuple": [1.0, None], "list": [{"x": None}]},
        "ok": 1.5,
    }
