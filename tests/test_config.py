import dataclasses

import pytest

from csir.config import (
    DataGenerationConfig,
    LexiconConfig,
    NotebookConfig,
    params_from_namespace,
)
from csir.errors import ConfigError
from csir.languages import parse_pair


def test_defaults_are_valid_and_lists_become_tuples():
    cfg = DataGenerationConfig.from_params({"pairs": ["en-de", "de-ru"], "smoke": True})
    assert cfg.pairs == ("en-de", "de-ru")
    assert cfg.to_dict()["pairs"] == ["en-de", "de-ru"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]


def test_unknown_parameter_is_named_with_the_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) 'langauges'.*valid names"):
        LexiconConfig.from_params({"langauges": ["de"]})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"seed": "1"}, "'seed' must be int"),
        ({"seed": True}, "'seed' must be int"),
        ({"probabilities": [0.5, "x"]}, "'probabilities' must be"),
        ({"probabilities": [0.0]}, r"must be in \(0, 1\]"),
        ({"probabilities": []}, "must not be empty"),
        ({"pairs": ["en_de"]}, "must look like 'en-de'"),
        ({"pairs": ["en-xx"]}, "unknown language code 'xx'"),
        ({"methods": ["cs"]}, "method 'cs' must be one of"),
        ({"num_proc": -1}, "num_proc"),
    ],
)
def test_bad_values_are_rejected(params, message):
    with pytest.raises(ConfigError, match=message):
        DataGenerationConfig.from_params(params)


def test_lexicon_config_rejects_english_target_and_unknown_code():
    with pytest.raises(ConfigError, match="'en' is always the source"):
        LexiconConfig.from_params({"languages": ["en"]})
    with pytest.raises(ConfigError, match="unknown language code 'klingon'"):
        LexiconConfig.from_params({"languages": ["klingon"]})


def test_int_is_accepted_where_float_is_expected():
    assert DataGenerationConfig.from_params({"probabilities": [1]}).probabilities == (1,)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CI": "true"}, True),
        ({}, False),
        ({"CI": "true", "CSIR_SMOKE": "0"}, False),
        ({"CSIR_SMOKE": "1"}, True),
    ],
)
def test_smoke_defaults_to_environment(monkeypatch, env, expected):
    for name in ("CI", "CSIR_SMOKE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert DataGenerationConfig.from_params({}).smoke is expected
    assert DataGenerationConfig.from_params({"smoke": not expected}).smoke is (not expected)


def test_params_from_namespace_keeps_literals_only():
    namespace = {
        "seed": 3,
        "pairs": ["en-de"],
        "In": [],
        "_hidden": 1,
        "DataGenerationConfig": DataGenerationConfig,
        "json": __import__("json"),
    }
    assert params_from_namespace(namespace) == {"seed": 3, "pairs": ["en-de"]}
    # Later cells define more literals and change a parameter; the config cell is run again.
    namespace.update(jobs=[1, 2], word_langs=("de",), seed=4)
    assert params_from_namespace(namespace) == {"seed": 4, "pairs": ["en-de"]}


def test_output_path_defaults_to_build_dir(isolated_build, tmp_path):
    assert LexiconConfig.from_params({}).output_path() == isolated_build / "01_lexicon_induction"
    given = LexiconConfig.from_params({"output_dir": str(tmp_path / "x")})
    assert given.output_path() == tmp_path / "x"


def test_every_notebook_config_names_its_notebook():
    for cls in NotebookConfig.__subclasses__():
        assert cls.NOTEBOOK[:2].isdigit(), cls


def test_parse_pair():
    assert parse_pair("de-ru") == ("de", "ru")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"mlir_seeds": []}, "mlir_seeds must hold at least one seed"),
        ({"mlir_seeds": [3, 3]}, r"mlir_seeds \[3, 3\] repeat a seed"),
        ({"mlir_seed": 13}, r"unknown parameter\(s\) 'mlir_seed'"),
    ],
)
def test_evaluation_config_checks_mlir_draws(params, message):
    from csir.config import EvaluationConfig

    with pytest.raises(ConfigError, match=message):
        EvaluationConfig.from_params({"smoke": False, **params})


@pytest.mark.parametrize("notebook", ["EvaluationConfig", "SignificanceConfig"])
def test_a_misspelt_measure_is_refused_before_any_work(notebook):
    from csir import config

    cls = getattr(config, notebook)
    with pytest.raises(ConfigError, match=r"measures: unknown measure 'nDGC@10'"):
        cls.from_params({"smoke": False, "measures": ["RR@10", "nDGC@10"]})
    with pytest.raises(ConfigError, match="measures: measure 'RR@10' is listed twice"):
        cls.from_params({"smoke": False, "measures": ["RR@10", "RR@10"]})


def test_smoke_mode_changes_sizes_only_not_the_first_stage():
    from csir.config import EvaluationConfig

    cfg = EvaluationConfig(candidates="dense", top_k=20, max_queries=0, smoke=True)
    assert cfg.candidates == "dense"
    assert cfg.top_k == EvaluationConfig.SMOKE_TOP_K
    assert cfg.max_queries == EvaluationConfig.SMOKE_MAX_QUERIES
