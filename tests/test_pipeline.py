"""One YAML per configuration, validated before anything runs; notebook 06 runs without models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from csir import pipeline
from csir.errors import ConfigError

pytest.importorskip("yaml")

CONFIGS = sorted((REPO_ROOT / "configs").glob("*.yaml"))


def test_the_issue_configurations_exist():
    assert {"smoke", "quick", "cpu", "offline-full", "paper-mmarco"} <= {p.stem for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_configuration_passes_every_notebook_config(path: Path):
    runs = pipeline.read_config(path)
    assert list(runs) == pipeline.notebook_names()
    papermill = pytest.importorskip("papermill")
    for notebook, entries in runs.items():
        names = set(papermill.inspect_notebook(str(pipeline.NOTEBOOK_DIR / f"{notebook}.ipynb")))
        for params in entries:
            assert set(params) <= names, f"{path.name}: {notebook} has no {set(params) - names}"


def test_smoke_configuration_sets_smoke_everywhere():
    runs = pipeline.plan(REPO_ROOT / "configs" / "smoke.yaml", "/tmp/b")
    assert [r.notebook for r in runs] == pipeline.notebook_names()
    assert all(r.parameters["smoke"] is True for r in runs)
    assert runs[-1].executed == Path("/tmp/b/07_bitext_mining.ipynb")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_lists_run_a_notebook_several_times_and_selection_works(tmp_path):
    path = write(
        tmp_path,
        "defaults: {smoke: true}\n"
        "03_training:\n  - {seeds: [1, 2]}\n  - {num_layers: 6, smoke: false}\n"
        "04_evaluation: {top_k: 5}\n",
    )
    runs = pipeline.plan(path, tmp_path / "b", start="03")
    assert [r.executed.name for r in runs] == [
        "03_training.ipynb",
        "03_training-2.ipynb",
        "04_evaluation.ipynb",
        "05_significance.ipynb",
        "06_paper_figures.ipynb",
        "07_bitext_mining.ipynb",
    ]
    assert runs[0].parameters == {"smoke": True, "seeds": [1, 2]}
    assert runs[1].parameters == {"smoke": False, "num_layers": 6}
    only = pipeline.plan(path, tmp_path / "b", only=["04_evaluation", "06"])
    assert [r.notebook for r in only] == ["04_evaluation", "06_paper_figures"]
    assert pipeline.plan(path).__getitem__(0).executed.parent.name == "mine"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("07_extra: {}\n", r"mine.yaml: '07_extra' is no notebook"),
        ("04_evaluation: {top_k: 'many'}\n", r"mine.yaml: 04_evaluation: .*'top_k' must be int"),
        ("03_training:\n  - {}\n  - {colour: red}\n", r"mine.yaml: 03_training\[2\]: .*'colour'"),
        ("03_training: 5\n", r"03_training must be a mapping of parameters or a list"),
        ("- a\n- b\n", r"the top level must map notebook names"),
        ("defaults: [1]\n", r"defaults must be a mapping"),
        ("04_evaluation: {top_k: [\n", r"not valid YAML"),
    ],
)
def test_bad_configurations_name_the_file_and_the_notebook(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        pipeline.read_config(write(tmp_path, text))


def test_unknown_files_and_notebooks_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="not found; the repository has: .*smoke.yaml"):
        pipeline.read_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="unknown notebook '09'"):
        pipeline.plan(REPO_ROOT / "configs" / "smoke.yaml", only=["09"])
    assert pipeline.main([str(tmp_path / "nope.yaml")]) == 2


def test_dry_run_lists_runs(capsys):
    assert (
        pipeline.main([str(REPO_ROOT / "configs" / "smoke.yaml"), "--dry-run", "--only", "05"]) == 0
    )
    assert "05_significance ->" in capsys.readouterr().out


@pytest.mark.slow
def test_notebook_06_runs_from_cached_files_without_any_model(tmp_path):
    """The executed notebook draws every figure from hand-made files; no models folder exists."""
    pytest.importorskip("papermill")
    from test_figures import make_metrics, make_significance

    build = tmp_path / "build"
    for name in ("01_lexicon_induction", "04_evaluation", "05_significance"):
        (build / name).mkdir(parents=True)
    metrics = make_metrics()
    metrics.to_csv(build / "04_evaluation" / "metrics.csv", index=False)
    make_significance(metrics).to_csv(build / "05_significance" / "significance.csv", index=False)
    (build / "01_lexicon_induction" / "bli.csv").write_text(
        "source,method,src_lang,tgt_lang,precision_at_1,n_test_pairs\n"
        "backbone-e5,nn,en,de,0.47,100\nbackbone-e5,csls,en,de,0.48,100\n",
        encoding="utf-8",
    )
    config = write(tmp_path, "defaults: {smoke: true}\n")
    runs = pipeline.plan(config, build, only=["06"])
    assert pipeline.write_record(config, runs) == build / "pipeline.json"
    pipeline.execute(runs, log_output=False)
    assert not (build / "03_training").exists()
    out = build / "06_paper_figures"
    record = json.loads((out / "parameters.json").read_text())
    assert record["skipped"] == {}
    assert record["pipeline"]["runs"]["06_paper_figures.ipynb"]["parameters"] == {"smoke": True}
    for stem in pipeline_figures():
        assert (out / f"{stem}.pdf").is_file() and (out / f"{stem}.png").is_file()


def pipeline_figures() -> list[str]:
    from csir.paper import NAMES

    return list(NAMES.values())


def test_a_finished_pipeline_says_where_its_results_are(tmp_path):
    runs = pipeline.plan(REPO_ROOT / "configs" / "quick.yaml", tmp_path / "b")
    metrics = tmp_path / "b" / "04_evaluation" / "metrics.csv"
    metrics.parent.mkdir(parents=True)
    rows = ["model,dataset,task,query_lang,doc_lang,measure,value,n_queries"]
    for seed, value in [(1, 0.8), (2, 0.6)]:
        model = f"z/zero-shot/en-en/p=0.0/seed={seed}"
        rows.append(f"{model},xquad-r,sentence,en,de,RR@10,{value},400")
    rows.append("first-stage/bm25,xquad-r,sentence,en,de,RR@10,0.45,400")
    rows.append("first-stage/bm25,xquad-r,sentence,en,de,nDCG@10,0.5,400")
    metrics.write_text("\n".join(rows) + "\n", encoding="utf-8")
    text = pipeline.report(runs)
    assert f"04_evaluation: {metrics}" in text
    assert f"05_significance: {tmp_path / 'b' / '05_significance' / 'significance.csv'}" in text
    assert f"06_paper_figures: {tmp_path / 'b' / '06_paper_figures'}" in text
    assert f"07_bitext_mining: {tmp_path / 'b' / '07_bitext_mining' / 'mining_summary.csv'}" in text
    assert "0.700 ± 0.141" in text and "0.450 ± 0.000" in text and "0.500" not in text
    cpu = pipeline.plan(REPO_ROOT / "configs" / "cpu.yaml", tmp_path / "c")
    assert f"06_paper_figures: {REPO_ROOT / 'figures'}" in pipeline.report(cpu)
    # a second entry's "{build}/…" folder is below that configuration's build folder
    dense = tmp_path / "c" / "04_evaluation-dense" / "metrics.csv"
    assert f"04_evaluation: {dense}" in pipeline.report(cpu)


def test_build_placeholder_follows_the_build_folder(tmp_path, monkeypatch):
    from csir import config, paths

    monkeypatch.setenv("CSIR_BUILD_DIR", str(tmp_path / "elsewhere"))
    cfg = config.SignificanceConfig.from_params(
        {"evaluation_dir": "{build}/04_evaluation-dense", "output_dir": "{build}/05_x"}
    )
    assert cfg.evaluation_path() == tmp_path / "elsewhere" / "04_evaluation-dense"
    assert cfg.output_path() == tmp_path / "elsewhere" / "05_x"
    assert paths.resolve_path("{build}") == tmp_path / "elsewhere"
    assert paths.resolve_path("figures/x") == Path.cwd() / "figures" / "x"
    with pytest.raises(ConfigError, match="only placeholder is '{build}'"):
        paths.resolve_path("{Build}/04_evaluation")
    with pytest.raises(ConfigError, match="quote a path that starts with {build}"):
        pipeline.read_config(write(tmp_path, "05_significance:\n  output_dir: {build}/x\n"))
    # checked when the configuration is read, before any notebook runs
    for text, message in [
        ('05_significance:\n  output_dir: "{biuld}/x"\n', r"05_significance: .*'\{biuld\}/x'"),
        ("05_significance:\n  output_dir: {build}\n", 'quote it: "{build}/'),
        ('04_evaluation:\n  dataset_dir: "{build}/x"\n', r"\{build\} is not read here"),
    ]:
        with pytest.raises(ConfigError, match=message):
            pipeline.read_config(write(tmp_path, text))


def test_old_parameter_names_in_a_configuration_reach_notebooks_as_the_new(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text(
        "03_training:\n  data_dir: /x/02\n04_evaluation:\n  models_root: /x/03/models\n",
        encoding="utf-8",
    )
    with pytest.warns(FutureWarning) as caught:
        runs = {run.notebook: run.parameters for run in pipeline.plan(path, tmp_path / "b")}
    said = [str(warning.message) for warning in caught]
    assert any("old.yaml: 03_training: " in m and "'data_dir' is now" in m for m in said), said
    assert any("old.yaml: 04_evaluation: " in m and "'models_root' is now" in m for m in said)
    assert runs["03_training"]["data_generation_dir"] == "/x/02"
    assert runs["04_evaluation"]["training_dir"] == "/x/03"
    assert "data_dir" not in runs["03_training"] and "models_root" not in runs["04_evaluation"]


def test_outputs_in_build_moves_what_would_land_outside_and_its_readers(tmp_path):
    build = tmp_path / "b"
    runs = pipeline.plan(REPO_ROOT / "configs" / "offline-full.yaml", build, only=["05", "06"])
    moved = pipeline.outputs_in_build(runs)
    figures = [r.parameters["output_dir"] for r in moved if r.notebook == "06_paper_figures"]
    assert figures == ["{build}/06_paper_figures", "{build}/06_paper_figures-2"]
    assert all(pipeline.results_folder(r).is_relative_to(build.resolve()) for r in moved)
    # folders already below the build folder stay; a reader of a moved folder follows it
    assert moved[1].parameters == runs[1].parameters
    chain = [
        pipeline.Run("04_evaluation", {"output_dir": "elsewhere/e"}, build / "04_evaluation.ipynb"),
        pipeline.Run("05_significance", {"evaluation_dir": "elsewhere/e"}, build / "05.ipynb"),
    ]
    assert pipeline.outputs_in_build(chain)[1].parameters == {
        "evaluation_dir": "{build}/04_evaluation"
    }
