"""The GPU study's plan, packing checks and archive handling (the whole command runs as
``make gpu-dry-run`` in ``make test``)."""

from __future__ import annotations

import io as stdio
import tarfile
from pathlib import Path

import pytest

from csir import gpu_study
from csir.errors import ConfigError, InputError

REPO = Path(__file__).resolve().parent.parent


def test_jobs_go_seed_by_seed_across_entries(isolated_build):
    plan = gpu_study.read_plan(REPO / "configs" / "gpu.yaml")
    jobs = plan.jobs()
    assert len(jobs) == (9 + 2) * 3
    seeds = [seed for *_, seed in jobs]
    assert seeds == sorted(seeds)  # every model of seed 1 before any of seed 2
    first_seed = [(entry, folder.parent.name) for entry, _, folder, seed in jobs if seed == 1]
    assert [entry for entry, _ in first_seed] == [0] * 9 + [1] * 2
    assert len({folder for _, _, folder, _ in jobs}) == len(jobs)


def test_evaluation_languages_cover_pairs_mlir_and_pivot(isolated_build):
    plan = gpu_study.read_plan(REPO / "configs" / "gpu.yaml")
    langs = gpu_study.evaluation_languages(plan.evaluation)
    assert langs == sorted(["ar", "de", "en", "es", "hi", "ru", "vi", "zh"])


@pytest.mark.parametrize(
    ("section", "fix"),
    [
        ("04_evaluation:\n  translate_test: true\n", "translate_test: false"),
        ("04_evaluation:\n  translate_test: false\n  dense_backbone: xlm-roberta-base\n", "use"),
        (
            "03_training:\n  backbone: xlm-roberta-base\n04_evaluation:\n  translate_test: false\n",
            "offline backbone only",
        ),
    ],
)
def test_pack_refuses_what_the_bundle_cannot_carry(tmp_path, isolated_build, section, fix):
    config = tmp_path / "gpu-bad.yaml"
    config.write_text(section, encoding="utf-8")
    with pytest.raises(ConfigError, match=fix) as err:
        gpu_study.pack(config, tmp_path / "bundle", wheels_dir=tmp_path)
    assert "gpu-bad.yaml" in str(err.value)
    assert not (tmp_path / "bundle" / gpu_study.BUNDLE_NAME).exists()


def test_pack_asks_for_notebooks_01_02_first(tmp_path, isolated_build):
    with pytest.raises(ConfigError, match="--only 01 --only 02"):
        gpu_study.pack(REPO / "configs" / "gpu.yaml", tmp_path / "bundle", wheels_dir=tmp_path)
    assert list((tmp_path / "bundle").iterdir()) == []  # nothing half-written


def _tar_with(path: Path, name: str, *, symlink: bool = False) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        if symlink:
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
        else:
            data = b"x"
            info.size = len(data)
            tar.addfile(info, stdio.BytesIO(data))
    return path


@pytest.mark.parametrize(
    ("name", "symlink"), [("../escape.txt", False), ("/abs.txt", False), ("link", True)]
)
def test_safe_extract_refuses_paths_outside_and_links(tmp_path, name, symlink):
    archive = _tar_with(tmp_path / "bad.tar.gz", name, symlink=symlink)
    with pytest.raises(InputError, match="not a plain file"):
        gpu_study.safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_safe_extract_keeps_relative_files(tmp_path):
    archive = _tar_with(tmp_path / "ok.tar.gz", "a/b.txt")
    assert gpu_study.safe_extract(archive, tmp_path / "out") == ["a/b.txt"]
    assert (tmp_path / "out" / "a" / "b.txt").read_bytes() == b"x"


def test_block_absent_packages_makes_imports_fail(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "wordfreq", sys.modules.get("wordfreq"))
    gpu_study.block_absent_packages(["wordfreq"])
    with pytest.raises(ImportError):
        import wordfreq  # noqa: F401


def test_estimate_scales_the_measured_reference(isolated_build):
    from csir import io

    reference = io.read_json(gpu_study.REFERENCE_RECORD)
    plan = gpu_study.read_plan(REPO / "configs" / "gpu.yaml")
    same = gpu_study.estimate(plan, reference, reference["workers"])
    # calibrated on that very run: it must give back about its wall time
    assert same["total_s"] == pytest.approx(reference["elapsed_s"], rel=0.15)
    longer = gpu_study.read_plan(REPO / "configs" / "offline-full.yaml", {"translate_test": False})
    full = gpu_study.estimate(longer, reference, reference["workers"])
    assert full["models_s"] > 5 * same["models_s"]  # 2,000 steps instead of 240
    assert gpu_study.estimate(plan, reference, 1)["models_s"] > 5 * same["models_s"]
