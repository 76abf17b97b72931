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
    plan = gpu_study.read_plan(REPO / "configs" / "offline-full.yaml")
    jobs = plan.jobs()
    assert len(jobs) == (9 + 2) * 3
    seeds = [seed for *_, seed in jobs]
    assert seeds == sorted(seeds)  # every model of seed 1 before any of seed 2
    first_seed = [(entry, folder.parent.name) for entry, _, folder, seed in jobs if seed == 1]
    assert [entry for entry, _ in first_seed] == [0] * 9 + [1] * 2
    assert len({folder for _, _, folder, _ in jobs}) == len(jobs)


def test_evaluation_languages_cover_pairs_mlir_and_pivot(isolated_build):
    plan = gpu_study.read_plan(REPO / "configs" / "offline-full.yaml")
    langs = gpu_study.evaluation_languages(*plan.evaluations)
    assert langs == sorted(["ar", "de", "en", "es", "hi", "ru", "vi", "zh"])


def test_the_full_study_has_both_first_stages_and_translate_test(isolated_build):
    plan = gpu_study.read_plan(REPO / "configs" / "offline-full.yaml")
    assert [cfg.candidates for cfg in plan.evaluations] == ["bm25", "dense"]
    assert all(cfg.translate_test for cfg in plan.evaluations)
    # every entry writes below the build folder, where the GPU run's results come back from
    folders = [gpu_study.plan.evaluation_folder(cfg) for cfg in plan.evaluations]
    assert folders == [Path("04_evaluation"), Path("04_evaluation-dense")]
    assert plan.evaluations[1].output_path() == isolated_build / "04_evaluation-dense"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ('  - top_k: 2\n  - candidates: dense\n    output_dir: "{build}/04_evaluation"\n',
         "its own output_dir"),
        ("  - top_k: 2\n  - candidates: dense\n    output_dir: x/04_evaluation-dense\n",
         r"04_evaluation\[2\] writes into 'x/04_evaluation-dense', outside the build folder"),
        ('  - top_k: 2\n  - candidates: dense\n    output_dir: "{build}/../04_x"\n',
         r"writes into '\{build\}/../04_x', outside the build folder"),
    ],
)  # fmt: skip
def test_read_plan_refuses_shared_or_unreturned_folders(tmp_path, isolated_build, entries, message):
    config = tmp_path / "twice.yaml"
    config.write_text("04_evaluation:\n" + entries, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        gpu_study.read_plan(config)
    with pytest.raises(ConfigError, match="twice.yaml: .*" + message):  # not the staged copy
        gpu_study.pack(config, tmp_path / "bundle", wheels_dir=tmp_path)


@pytest.mark.parametrize(
    ("section", "fix"),
    [
        ("04_evaluation:\n  lexicon_induction_dir: /x\n", "remove lexicon_induction_dir"),
        ("04_evaluation:\n  candidates: dense\n  bi_encoder: false\n  dense_backbone: x/y\n", "us"),
        (
            "04_evaluation:\n  - dataset_dir: a\n  - dataset_dir: b\n"
            "    output_dir: '{build}/04_e2'\n",
            "one collection folder",
        ),
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
    # calibrated on that very run (configs/gpu.yaml): it must give back about its wall time
    assert same["total_s"] == pytest.approx(reference["elapsed_s"], rel=0.15)
    assert same["assumed"] == [] and same["translate_test_s"] == same["dense_s"] == 0
    assert gpu_study.estimate(plan, reference, 1)["models_s"] > 5 * same["models_s"]
    # the full study adds the dense first stage and Translate-Test, each an assumed cost ...
    full_plan = gpu_study.read_plan(REPO / "configs" / "offline-full.yaml")
    full = gpu_study.estimate(full_plan, reference, reference["workers"], benchmark_s=75)
    assert full["dense_s"] > 0 and full["translate_test_s"] > 0 and len(full["assumed"]) == 2
    assert full["benchmark_s"] == 75
    assert full["models_s"] > same["models_s"] + full["dense_s"]
    # ... and must fit the 8 minutes without the benchmark, 9 with it
    assert full["total_s"] - full["benchmark_s"] <= 8 * 60
    assert full["total_s"] <= 9 * 60


def _pack_one_lexicon(tmp_path: Path, lang: str, lines: str, texts: list[str]):
    """pack_lexicons of one ``<lang>-en`` lexicon: (manifest entry, translations, cut lines)."""
    from csir.gpu_study import lexicons

    root = tmp_path / "lexicons"
    (root / "muse").mkdir(parents=True, exist_ok=True)
    (root / "muse" / f"{lang}-en.tsv").write_text(lines, encoding="utf-8")
    stage = tmp_path / "stage"
    info, translated = lexicons.pack_lexicons({"muse": {lang}}, {lang: texts}, root, stage)
    cut = stage / "build" / "01_lexicon_induction" / "lexicons" / "muse" / f"{lang}-en.tsv"
    return info, translated, cut.read_text(encoding="utf-8")


def test_pack_lexicons_cuts_to_the_study_words_and_checks_translations(tmp_path):
    from csir.gpu_study import lexicons

    lines = "Haus\thouse\nhaus\thome\nrot\tred\nbaum\ttree\n"
    info, translated, cut = _pack_one_lexicon(tmp_path, "de", lines, ["Das Haus ist rot."] * 2)
    assert cut == "Haus\thouse\nhaus\thome\nrot\tred\n"
    assert info["files"]["build/01_lexicon_induction/lexicons/muse/de-en.tsv"] == {
        "lines": 3,
        "of": 4,
    }
    assert translated == ["Das house ist red."]
    with pytest.raises(gpu_study.results.CsirError, match="run notebook 01"):
        lexicons.pack_lexicons(
            {"muse": {"ar"}}, {"ar": ["x"]}, tmp_path / "lexicons", tmp_path / "stage"
        )


def test_pack_lexicons_keeps_the_words_inside_chinese_clauses(tmp_path):
    lines = "黑豹\tpanther\n防守\tdefense\n國家\tcountry\n队伍\tteam\n"
    _, translated, cut = _pack_one_lexicon(tmp_path, "zh", lines, ["黑豹队的防守。", "这个国家"])
    # the Traditional line matches the Simplified text; 队伍 occurs in no text
    assert cut == "黑豹\tpanther\n防守\tdefense\n國家\tcountry\n"
    assert translated == ["panther 队的 defense 。", "这个 country"]


def test_pack_lexicons_cuts_alike_whatever_the_longest_word_or_unicode_form(tmp_path):
    # the full lexicon's longest word (7 characters) is cut away, so the two segment with
    # different windows; decomposed kana are matched in NFC, as the keys are
    lines = "中华人民共和国\tPRC\n共和\trepublic\nが\tga\n"
    texts = ["共和国", "かか\u3099"]
    _, translated, cut = _pack_one_lexicon(tmp_path, "ja", lines, texts)
    assert cut == "共和\trepublic\nが\tga\n"
    assert translated == ["republic 国", "か ga"]


def _record(build: Path, jobs: list[str], translate_test: list[bool]) -> None:
    from csir import io

    folders = ["04_evaluation", "04_evaluation-dense"]
    io.write_json(
        build / gpu_study.RECORD_NAME,
        {
            "device": "test",
            "jobs": [{"model": m} for m in jobs],
            "skipped": [],
            "elapsed_s": 1.0,
            "evaluations": [
                {"folder": f, "translate_test": tt}
                for f, tt in zip(folders, translate_test, strict=True)
            ],
        },
    )


def test_check_results_wants_every_model_and_its_translate_test(tmp_path):
    zero = "e5-small-offline/zero-shot/en-en/p=0.0/seed=1"
    tt = "e5-small-offline/translate-test/en-en/p=0.0/seed=1"
    for folder, models in (("04_evaluation", [zero, tt]), ("04_evaluation-dense", [zero])):
        (tmp_path / folder).mkdir()
        rows = "".join(f"{m},xquad-r,sentence,en,de,RR@10,0.5,3\n" for m in models)
        (tmp_path / folder / "metrics.csv").write_text(
            "model,dataset,task,query_lang,doc_lang,measure,value,n_queries\n" + rows,
            encoding="utf-8",
        )
    _record(tmp_path, [zero], [True, False])
    assert "04_evaluation-dense: 1 systems" in gpu_study.check_results(tmp_path)
    _record(tmp_path, [zero], [True, True])
    with pytest.raises(gpu_study.results.CsirError, match="04_evaluation-dense.*translate-test"):
        gpu_study.check_results(tmp_path)


def test_check_benchmark_refuses_failed_or_missing_parts(tmp_path):
    from csir import io

    variant = {"pairs_per_s": 10.0}
    good = {
        "device": "test",
        "elapsed_s": 3.0,
        "left_out": [],
        "parts": {
            "train_b4": {"batch_size": 4, "csir_vs_trainer": 2.0},
            "score": {"variants": {"csir-seg-bf16": variant, "st-default": variant}},
        },
    }
    path = tmp_path / gpu_study.BENCHMARK_NAME
    io.write_json(path, good)
    assert "b4 2.00x" in gpu_study.check_benchmark(path)
    io.write_json(path, {**good, "left_out": ["score"]})
    with pytest.raises(gpu_study.results.CsirError, match="left out"):
        gpu_study.check_benchmark(path)
    failed = {"variants": {"st-bf16": {"error": "TypeError: dtype"}}}
    io.write_json(path, {**good, "parts": {**good["parts"], "score": failed}})
    with pytest.raises(gpu_study.results.CsirError, match="st-bf16"):
        gpu_study.check_benchmark(path)
    for dtype in ("torch.float32", None):  # model_kwargs ignored, or the dtype not recorded
        fp32 = {"variants": {"st-bf16": {**variant, "st_dtype": dtype}}}
        io.write_json(path, {**good, "parts": {**good["parts"], "score": fp32}})
        with pytest.raises(gpu_study.results.CsirError, match=f"ran in {dtype}, not bf16"):
            gpu_study.check_benchmark(path)
    with pytest.raises(gpu_study.results.CsirError, match="did not run"):
        gpu_study.check_benchmark(tmp_path / "absent.json")


def test_the_bundles_wheels_must_import_and_from_the_bundle(tmp_path, monkeypatch):
    from csir.gpu_study import runner

    site = tmp_path / "site"
    (site / "csir_fake_wheel").mkdir(parents=True)
    (site / "csir_fake_wheel" / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(runner, "WHEELS", ("csir-fake-wheel",))
    monkeypatch.setattr(runner, "WHEEL_MODULES", {"csir-fake-wheel": "csir_fake_wheel"})
    runner._check_wheels(site)
    monkeypatch.setattr(runner, "WHEELS", ("csir-fake-wheel", "yaml", "csir_absent"))
    with pytest.raises(
        gpu_study.results.CsirError,
        match=r"yaml: imported from .*, not from the bundle's .*; csir_absent: ModuleNotFound",
    ):
        runner._check_wheels(site)


def test_check_benchmark_names_a_part_stopped_while_running(tmp_path):
    from csir import io

    path = tmp_path / gpu_study.BENCHMARK_NAME
    io.write_json(path, {"device": "test", "parts": {"train_b16": {}}, "running": "score"})
    with pytest.raises(gpu_study.results.CsirError, match="score.*still running"):
        gpu_study.check_benchmark(path)


def test_the_benchmark_report_keeps_the_parents_deadline(tmp_path):
    import importlib.util
    import json
    import time

    script = REPO / "benchmarks" / "gpu_throughput.py"
    spec = importlib.util.spec_from_file_location("gpu_bench", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "report.json"
    # the budget says 100 s, but the parent's deadline (its clock began earlier) is 5 s away
    report = bench.Report(out, 100.0, {"device": "test"}, deadline=time.time() + 5)
    assert 4 < report.left() <= 5
    with report.part("train_b16", needs_s=4) as entry:
        assert entry is not None
        assert json.loads(out.read_text())["running"] == "train_b16"  # a kill here names it
    with report.part("score", needs_s=25) as entry:
        assert entry is None
    saved = json.loads(out.read_text())
    assert "running" not in saved and saved["left_out"] == ["score"]
    assert list(saved["parts"]) == ["train_b16"]


def test_scoring_runs_count_translate_test_for_zero_shot_models_only():
    models = ["e5/zero-shot/en-en/p=0.0/seed=1", "e5/bl-cs/en-de/p=0.5/seed=1"]
    # two entries of 30 units: 2 baselines each, Translate-Test in the first only
    runs = gpu_study.plan.scoring_runs([30, 30], [2, 2], models, [True, False])
    assert runs == (2 + 2 + 1) * 30 + (2 + 2) * 30
    assert gpu_study.plan.scoring_reserve_s(0.1, 600, 6) == pytest.approx(
        gpu_study.plan.SCORING_BASE_S + gpu_study.plan.SCORING_MARGIN * 10
    )


def test_simulated_schedule_holds_back_the_final_scoring():
    from csir.gpu_study.results import simulate_schedule

    names = [f"m{i}" for i in range(6)]

    def reserve(started):
        return 10.0 * len(started)  # scoring grows with the models started

    # 2 slots, jobs of 20 s from t=0: m0,m1 at 0 (need 20+10, 20+20), m2,m3 at 20, ...
    fit, end = simulate_schedule(names, [20.0] * 6, 2, 0.0, 1000.0, reserve)
    assert fit == names and end == 60.0
    # budget 100: m2 at 20 needs 20+30 <= 80, m3 at 20 needs 20+40 <= 80; m4 at 40: 20+50 > 60
    fit, end = simulate_schedule(names, [20.0] * 6, 2, 0.0, 100.0, reserve)
    assert fit == names[:4] and end == 40.0


def test_the_full_study_is_planned_to_start_every_model_in_its_budget(isolated_build):
    from csir import io

    reference = io.read_json(gpu_study.REFERENCE_RECORD)
    plan = gpu_study.read_plan(REPO / "configs" / "offline-full.yaml")
    full = gpu_study.estimate(plan, reference, 6, benchmark_s=75, budget_s=540)
    assert full["models_fit"] == len(plan.jobs())
    assert full["models_end_s"] + full["score_s"] <= 540
    # the fallback call of the README (--budget 180, no benchmark) keeps the first seeds
    short = gpu_study.estimate(plan, reference, 6, budget_s=180)
    assert 0 < short["models_fit"] < len(plan.jobs())


def _fake_plan(tmp_path, count):
    import types

    models = tmp_path / "models"
    entry = types.SimpleNamespace(models_path=lambda: models)
    plan = types.SimpleNamespace(training=[entry])
    jobs = [(0, tmp_path / "train.jsonl", models / f"m{i}", 1) for i in range(count)]
    return plan, jobs


def test_run_jobs_leaves_out_a_failed_model_and_goes_on(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from csir.gpu_study import runner

    def fake_job(entry, file, folder, seed):
        if folder.endswith("m1"):
            raise RuntimeError("CUDA error: an illegal memory access")
        return {"train_s": 0.01, "evaluate_s": 0.01}

    monkeypatch.setattr(runner, "_train_job", fake_job)
    plan, jobs = _fake_plan(tmp_path, 4)
    record = {"jobs": [], "skipped": []}
    trained, pool = runner._run_jobs(
        lambda: ThreadPoolExecutor(2), plan, jobs, record, runner._Clock(60.0), lambda s: 1.0, 2
    )
    pool.shutdown()
    assert [p.name for p in trained] == ["m0", "m2", "m3"] and "stopped" not in record
    assert record["errors"] == ["m1: RuntimeError: CUDA error: an illegal memory access"]


def test_run_jobs_replaces_workers_that_died(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from csir.gpu_study import runner

    class DiesOnce(ThreadPoolExecutor):
        """A pool whose workers died before its first job was handed over."""

        def submit(self, *args, **kwargs):
            raise BrokenProcessPool("a child process terminated abruptly")

    pools = [DiesOnce(2), ThreadPoolExecutor(2)]
    monkeypatch.setattr(runner, "_train_job", lambda *a: {"train_s": 0.01, "evaluate_s": 0.0})
    plan, jobs = _fake_plan(tmp_path, 3)
    record = {"jobs": [], "skipped": []}
    trained, pool = runner._run_jobs(
        lambda: pools.pop(0), plan, jobs, record, runner._Clock(60.0), lambda s: 1.0, 2
    )
    pool.shutdown()
    assert [p.name for p in trained] == ["m0", "m1", "m2"] and not pools
    assert record["errors"] == ["worker processes died; restarted"]


def test_run_jobs_abandons_jobs_still_running_when_only_scoring_time_is_left(tmp_path, monkeypatch):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from csir.gpu_study import runner

    release = threading.Event()

    def fake_job(entry, file, folder, seed):
        if folder.endswith("m1"):
            release.wait(10)  # a job that hangs
        return {"train_s": 0.01, "evaluate_s": 0.01}

    monkeypatch.setattr(runner, "_train_job", fake_job)
    plan, jobs = _fake_plan(tmp_path, 2)
    record = {"jobs": [], "skipped": []}
    pools = []

    def make_pool():
        pools.append(ThreadPoolExecutor(2))
        return pools[-1]

    # 3 s of budget, 2 s held for scoring: the hung job is given up after about 1 s
    trained, pool = runner._run_jobs(
        make_pool, plan, jobs, record, runner._Clock(3.0), lambda started: 2.0, 2
    )
    release.set()
    for each in pools:
        each.shutdown()
    assert [p.name for p in trained] == ["m0"] and record["stopped"] == ["m1"]
    assert len(pools) == 2 and pool is pools[1]  # fresh workers for the scoring


def test_scores_of_systems_the_run_does_not_count_are_dropped():
    import types

    import pandas as pd

    from csir.gpu_study import runner

    systems = [types.SimpleNamespace(name=n) for n in ("bm25", "model-a")]

    def frame(name):
        return pd.DataFrame({"model": [name], "value": [1.0]})

    scored = [([frame("model-a"), frame("failed-model"), frame("bm25")], {"pair": "en-en"})]
    kept = runner._in_system_order(systems, scored)
    assert [f["model"].iat[0] for f in kept[0][0]] == ["bm25", "model-a"]
    assert kept[0][1] == {"pair": "en-en"}
