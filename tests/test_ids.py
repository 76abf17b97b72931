"""The typed identities of training sets and systems (csir.ids) and the modules that use them."""

from __future__ import annotations

import math

import pytest

from csir import ids, languages
from csir.config import TrainingConfig
from csir.errors import ConfigError
from csir.ids import SystemId, TrainingSetId
from csir.results import parse_system
from csir.stats import split_seed, zero_shot_baselines


@pytest.mark.parametrize(
    "name, method, pair, p",
    [
        ("zero-shot/en-en/p=0.0", "zero-shot", "en-en", 0.0),
        ("bl-cs/en-de/p=0.5", "bl-cs", "en-de", 0.5),
        ("ml-cs/ml/p=0.25", "ml-cs", "ml", 0.25),
        ("wiki-cs/wiki/p=1.0", "wiki-cs", "wiki", 1.0),
    ],
)
def test_training_set_round_trip(name, method, pair, p):
    ts = TrainingSetId.parse(name)
    assert (ts.method, ts.pair, ts.p) == (method, pair, p)
    assert ts.name == name == str(ts)
    assert TrainingSetId.parse(ts.name) == ts


def test_training_set_name_is_canonical(tmp_path):
    assert TrainingSetId.parse("ml-cs/ml/p=0.50").name == "ml-cs/ml/p=0.5"
    assert TrainingSetId.parse("wiki-cs/wiki/p=1").name == "wiki-cs/wiki/p=1.0"
    assert (
        TrainingSetId("bl-cs", "en-de", 0.5).directory(tmp_path) == tmp_path / "bl-cs/en-de/p=0.5"
    )


@pytest.mark.parametrize(
    "name",
    [
        "ml-cs/ml/p=banana",
        "ml-cs/ml/p=1.5",
        "ml-cs/ml/p=-0.1",
        "ml-cs/ml/p=nan",
        "ml-cs/ml/p=inf",
        "ml-cs/ml/0.5",
        "ml-cs/ml",
        "xx-cs/ml/p=0.5",
        "bl-cs/../p=0.5",
        "bl-cs/en-de/p=0.5/extra",
        "",
    ],
)
def test_bad_training_set_names_are_refused(name):
    with pytest.raises(ConfigError, match="must look like"):
        TrainingSetId.parse(name)


def test_system_shapes():
    model = SystemId.parse("e5-small-offline/bl-cs/en-de/p=0.5/seed=2")
    assert model.backbone == "e5-small-offline" and model.seed == 2 and model.is_model
    assert model.training_set == TrainingSetId("bl-cs", "en-de", 0.5)
    assert model.without_seed().name == "e5-small-offline/bl-cs/en-de/p=0.5"
    assert SystemId.model("e5", TrainingSetId.parse("ml-cs/ml/p=0.5"), 1).name == (
        "e5/ml-cs/ml/p=0.5/seed=1"
    )

    zero = SystemId.parse("e5/zero-shot/en-en/p=0.0/seed=1")
    assert zero.is_zero_shot
    tt = zero.as_translate_test()
    assert tt.name == "e5/translate-test/en-en/p=0.0/seed=1"
    assert SystemId.parse(tt.name) == tt and not tt.is_zero_shot
    assert tt.training_set == zero.training_set  # Translate-Test runs the zero-shot model
    with pytest.raises(ConfigError, match="only a zero-shot model"):
        model.as_translate_test()

    first = SystemId.parse("first-stage/bm25")
    assert (first.backbone, first.method, first.seed, first.is_model) == (
        "first-stage",
        "bm25",
        None,
        False,
    )
    bi = SystemId.parse("bi-encoder/e5-small-offline")
    assert not bi.is_model and bi.name == "bi-encoder/e5-small-offline"
    custom = SystemId.parse("e5/custom/my-file/seed=3")
    assert custom.method == "custom" and custom.rest == ("my-file",) and custom.seed == 3
    assert custom.name == "e5/custom/my-file/seed=3" and math.isnan(custom.p)
    with pytest.raises(ConfigError, match="empty"):
        SystemId.parse("")


def test_result_columns_of_the_other_system_shapes():
    """(A model with seed: tests/test_figures.py::test_parse_system_names.)"""
    first = parse_system("first-stage/bm25")
    assert (first["backbone"], first["method"], first["train_pair"], first["system"]) == (
        "first-stage",
        "first-stage",
        "bm25",
        "first-stage/bm25",
    )
    assert math.isnan(first["p"]) and math.isnan(first["seed"])
    bi = parse_system("bi-encoder/e5")
    assert (bi["backbone"], bi["method"], bi["train_pair"]) == ("bi-encoder", "e5", "")
    tt = parse_system("e5/translate-test/en-en/p=0.0/seed=1")
    assert (tt["method"], tt["train_pair"], tt["p"], tt["seed"]) == (
        "translate-test",
        "en-en",
        0.0,
        1,
    )


def test_seeds_and_baselines_come_from_the_id():
    assert split_seed("e5/bl-cs/en-de/p=0.5/seed=2") == ("e5/bl-cs/en-de/p=0.5", 2)
    assert split_seed("first-stage/bm25") == ("first-stage/bm25", None)
    systems = [
        "e5/zero-shot/en-en/p=0.0/seed=1",
        "e5/zero-shot/en-en/p=0.0/seed=2",
        "e5/ml-cs/ml/p=0.5/seed=1",
        "e5/translate-test/en-en/p=0.0/seed=1",
        "e5-L6/zero-shot/en-en/p=0.0/seed=1",
        "e5-L6/ml-cs/ml/p=0.5/seed=1",
        "first-stage/bm25",
    ]
    assert zero_shot_baselines(systems) == {
        "e5/zero-shot/en-en/p=0.0": [
            "e5/ml-cs/ml/p=0.5",
            "e5/translate-test/en-en/p=0.0",
            "first-stage/bm25",
        ],
        "e5-L6/zero-shot/en-en/p=0.0": ["e5-L6/ml-cs/ml/p=0.5", "first-stage/bm25"],
    }


def test_training_config_names_sets_as_notebook_02_does(tmp_path):
    cfg = TrainingConfig(
        train_sets=("ml-cs/ml/p=0.50", "zero-shot/en-en/p=0"),
        data_generation_dir=str(tmp_path),
        output_dir=str(tmp_path / "out"),
        smoke=False,
    )
    assert cfg.train_sets == ("ml-cs/ml/p=0.5", "zero-shot/en-en/p=0.0")
    files = sorted(str(f.relative_to(tmp_path)) for f, _, _ in cfg.jobs())
    assert files == ["train/ml-cs/ml/p=0.5/train.jsonl", "train/zero-shot/en-en/p=0.0/train.jsonl"]
    with pytest.raises(ConfigError, match="train_sets:.*p must be"):
        TrainingConfig(train_sets=("ml-cs/ml/p=2",), smoke=False)
    with pytest.raises(ConfigError, match="twice"):
        TrainingConfig(train_sets=("ml-cs/ml/p=0.5", "ml-cs/ml/p=0.50"), smoke=False)


def test_one_vocabulary_of_methods():
    from csir import config, results
    from csir.codeswitch import jobs as generation

    assert tuple(m for m in ids.TRAINING_METHODS if m != ids.ZERO_SHOT) == ids.CS_METHODS
    assert config.DataGenerationConfig().methods == ids.TRAINING_METHODS
    assert set(results.METHOD_LABELS) == {
        ids.FIRST_STAGE,
        ids.TRANSLATE_TEST,
        *ids.TRAINING_METHODS,
    }
    assert generation.CODE_MIXED != languages.MIXED
    jobs = generation.plan_jobs(ids.TRAINING_METHODS, ["en-de"], [0.5], ["de"])
    assert [job.name for job in jobs] == [
        "zero-shot/en-en/p=0.0",
        "bl-cs/en-de/p=0.5",
        "ml-cs/ml/p=0.5",
        "wiki-cs/wiki/p=1.0",
    ]


@pytest.mark.parametrize(
    "name, message",
    [
        ("zero-shot/en-en/p=0.5", "the zero-shot set is 'zero-shot/en-en/p=0.0'"),
        ("zero-shot/en-de/p=0.0", "the zero-shot set is"),
        ("bl-cs/en-de/p=0.0", "p = 0 switches nothing"),
        ("bl-cs/xx-yy/p=0.5", "unknown language code 'xx'"),
        ("bl-cs/ml/p=0.5", "must look like 'en-de'"),
        ("bl-cs/en-en/p=0.5", "en-en switches nothing"),
        ("ml-cs/en-de/p=0.5", "ml-cs sets are named 'ml-cs/ml/p=<p>'"),
        ("wiki-cs/ml/p=1.0", "wiki-cs sets are named 'wiki-cs/wiki/p=<p>'"),
    ],
)
def test_each_method_has_the_pairs_and_p_of_notebook_02(name, message):
    with pytest.raises(ConfigError, match=message):
        TrainingSetId.parse(name)
    with pytest.raises(ConfigError, match=f"train_sets:.*{message}"):
        TrainingConfig(train_sets=(name,), smoke=False)


def test_notebook_03_checks_every_training_file_before_training(tmp_path):
    from csir.errors import CsirError

    present = tmp_path / "train/zero-shot/en-en/p=0.0/train.jsonl"
    present.parent.mkdir(parents=True)
    present.write_text("{}\n", encoding="utf-8")
    (tmp_path / "dev/en-en").mkdir(parents=True)
    (tmp_path / "dev/en-en/dev.jsonl").write_text("{}\n", encoding="utf-8")
    cfg = TrainingConfig(
        train_sets=("zero-shot/en-en/p=0.0", "ml-cs/ml/p=0.75"),
        data_generation_dir=str(tmp_path),
        smoke=False,
    )
    with pytest.raises(
        CsirError,
        match=r"ml-cs/ml/p=0\.75/train\.jsonl.*notebook 02_data_generation.*data_generation_dir",
    ):
        cfg.require_inputs()
    TrainingConfig(
        train_sets=("zero-shot/en-en/p=0.0",), data_generation_dir=str(tmp_path), smoke=False
    ).require_inputs()
    (tmp_path / "dev/en-en/dev.jsonl").unlink()
    with pytest.raises(CsirError, match="dev.jsonl"):
        TrainingConfig(
            train_sets=("zero-shot/en-en/p=0.0",), data_generation_dir=str(tmp_path), smoke=False
        ).require_inputs()
