"""The cross-encoder training loop, on a tiny random BERT with a character-level tokenizer."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import char_tokenizer, make_tiny_cross_encoder
from safetensors.torch import load_file

from csir.config import TrainingConfig
from csir.errors import ConfigError, InputError
from csir.training import (
    LOG_COLUMNS,
    RUN_FILE,
    BatchPlan,
    CheckpointError,
    TrainingArgs,
    iter_training_pairs,
    length_grouped_order,
    linear_warmup_decay,
    list_checkpoints,
    model_dir_name,
    param_groups,
    read_log,
    train,
)

WORDS = ["glacier", "cave", "ice", "formed", "water", "river", "berlin", "city", "how", "the"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # Tiny models spend their time in thread hand-offs; one thread is faster and deterministic.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide random BERT with a character-level WordPiece tokenizer."""
    return make_tiny_cross_encoder(
        tmp_path_factory.mktemp("tiny") / "tiny-bert",
        tokenizer=char_tokenizer(),
        head=False,
        intermediate_size=37,
        max_position_embeddings=64,
    )


def _record(i: int, rng: random.Random, **overrides) -> dict:
    record = {
        "qid": f"q{i // 5}",
        "pid": f"p{i}",
        "query": " ".join(rng.choices(WORDS, k=rng.randint(2, 5))) + "?",
        "passage": " ".join(rng.choices(WORDS, k=rng.randint(2, 14))) + ".",
        "label": int(i % 5 == 0),
        "query_lang": "en",
        "doc_lang": "en",
    }
    return {**record, **overrides}


@pytest.fixture(scope="module")
def train_file(tmp_path_factory) -> Path:
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    lines = [json.dumps(_record(i, rng)) for i in range(42)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _args(backbone: Path, **overrides) -> TrainingArgs:
    values = dict(
        backbone=str(backbone),
        max_length=32,
        batch_size=4,
        max_steps=8,
        warmup_steps=2,
        learning_rate=1e-3,
        log_every=2,
        checkpoint_every=0,
        megabatch_mult=2,
    )
    return TrainingArgs(**{**values, **overrides})


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


class Stop(Exception):
    pass


def _stop_at(step: int):
    def hook(current: int) -> None:
        if current == step:
            raise Stop

    return hook


# --------------------------------------------------------------------------- pure helpers


def test_schedule_matches_transformers_linear_warmup():
    from transformers import get_linear_schedule_with_warmup

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    reference = get_linear_schedule_with_warmup(optimizer, 3, 10)
    for step in range(12):
        assert linear_warmup_decay(step, 3, 10) == pytest.approx(reference.get_last_lr()[0])
        optimizer.step()
        reference.step()
    assert linear_warmup_decay(0, 3, 10) == 0.0
    assert linear_warmup_decay(3, 3, 10) == 1.0
    assert linear_warmup_decay(10, 3, 10) == 0.0
    assert linear_warmup_decay(0, 0, 10) == 1.0


def test_no_decay_group_holds_biases_and_layernorm_weights(tiny_backbone):
    from csir.backbones import load_cross_encoder

    model = load_cross_encoder(str(tiny_backbone))
    decay, no_decay = param_groups(model, 0.01)
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    decay_names = {names[id(p)] for p in decay["params"]}
    no_decay_names = {names[id(p)] for p in no_decay["params"]}
    assert decay_names.isdisjoint(no_decay_names)
    assert decay_names | no_decay_names == set(names.values())
    assert "bert.embeddings.LayerNorm.weight" in no_decay_names
    assert "bert.encoder.layer.0.attention.output.LayerNorm.weight" in no_decay_names
    assert "classifier.bias" in no_decay_names
    assert "bert.embeddings.word_embeddings.weight" in decay_names
    assert "classifier.weight" in decay_names
    assert all(n.endswith("bias") or "LayerNorm" in n for n in no_decay_names)


def test_length_grouping_is_a_seeded_permutation_that_reduces_padding():
    lengths = np.random.default_rng(1).integers(5, 200, size=1000)
    order = length_grouped_order(lengths, batch_size=8, seed=3, megabatch_mult=10)
    assert sorted(order.tolist()) == list(range(1000))
    again = length_grouped_order(lengths, batch_size=8, seed=3, megabatch_mult=10)
    assert np.array_equal(order, again)
    assert not np.array_equal(order, length_grouped_order(lengths, 8, seed=4, megabatch_mult=10))
    other_epoch = length_grouped_order(lengths, 8, seed=3, epoch=1, megabatch_mult=10)
    assert not np.array_equal(order, other_epoch)
    assert lengths[order[0]] == lengths.max()  # longest first: out-of-memory shows at once

    def padded(perm):
        return sum(lengths[perm[i : i + 8]].max() * 8 for i in range(0, len(perm), 8))

    shuffled = np.random.default_rng(3).permutation(1000)
    assert padded(order) < 0.75 * padded(shuffled)
    # megabatch_mult=1 sorts within a batch only: the batches hold the same pairs as a shuffle.
    plain = length_grouped_order(lengths, batch_size=8, seed=3, megabatch_mult=1)
    assert padded(plain) == padded(np.random.default_rng([3, 0]).permutation(1000))


def test_batch_plan_splits_the_stream_between_processes():
    plan = BatchPlan(np.arange(1, 23), batch_size=4, seed=0, megabatch_mult=2)
    assert plan.epoch_of(5) == 0 and plan.epoch_of(6) == 1  # 22 pairs: 6 batches per epoch
    single = [tuple(plan.batch(p)) for p in plan.positions(0, 12)]
    ranks = [[tuple(plan.batch(p)) for p in plan.positions(0, 6, r, 2)] for r in (0, 1)]
    assert sorted(ranks[0] + ranks[1]) == sorted(single)
    epoch0 = np.concatenate([plan.batch(p) for p in range(6)])
    assert sorted(epoch0.tolist()) == list(range(22))


def test_model_dir_name():
    assert model_dir_name("e5-small-offline") == "e5-small-offline"
    assert model_dir_name("e5-small-offline", 6) == "e5-small-offline-L6"
    assert model_dir_name("xlm-roberta-base") == "xlm-roberta-base"
    assert (
        model_dir_name("nreimers/mMiniLMv2-L6-H384-distilled-from-XLMR-Large")
        == "nreimers__mMiniLMv2-L6-H384-distilled-from-XLMR-Large"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"precision": "fp8"}, "precision 'fp8' must be one of"),
        ({"warmup_steps": 20, "max_steps": 10}, "warmup_steps must be between"),
        ({"batch_size": 0}, "batch_size"),
        ({"num_layers": -1}, "num_layers"),
    ],
)
def test_training_args_reject_bad_values(overrides, message):
    with pytest.raises(ConfigError, match=message):
        TrainingArgs(**overrides)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "a JSON object is expected"),
        (json.dumps({"query": "q", "passage": "p", "label": 1}), "missing key"),
        ("QUERY", "empty or non-text query"),
        ("PASSAGE", "empty or non-text passage"),
        ("LABEL2", "label must be 0 or 1"),
        ("LABELSTR", "label must be 0 or 1"),
        ("LABELBOOL", "label must be 0 or 1"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path, line, message):
    rng = random.Random(0)
    special = {
        "QUERY": {"query": "  "},
        "PASSAGE": {"passage": ""},
        "LABEL2": {"label": 2},
        "LABELSTR": {"label": "1"},
        "LABELBOOL": {"label": True},
    }
    if line in special:
        line = json.dumps(_record(9, rng, **special[line]))
    good = [json.dumps(_record(i, rng)) for i in range(2)]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join([good[0], "", good[1], line]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message) as info:
        list(iter_training_pairs(path))
    assert info.value.line == 4
    assert f"{path}:4" in str(info.value)


def test_empty_file_is_a_clear_error(tmp_path, tiny_backbone):
    path = tmp_path / "train.jsonl"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="no training pairs: the file is empty"):
        train(_args(tiny_backbone), path, tmp_path / "out", progress=False)


@pytest.mark.parametrize("label", [0, 1])
def test_a_file_of_one_label_is_a_clear_error(tmp_path, tiny_backbone, label):
    rng = random.Random(0)
    path = tmp_path / "train.jsonl"
    lines = [json.dumps(_record(i, rng, label=label)) for i in range(6)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for head in ("segment-cosine", "classifier"):
        with pytest.raises(InputError, match=f"all 6 training pairs have label {label}"):
            train(_args(tiny_backbone, head=head), path, tmp_path / head, progress=False)


def test_fp16_on_cpu_is_refused(tmp_path, tiny_backbone, train_file):
    with pytest.raises(ConfigError, match="fp16' needs a CUDA GPU"):
        train(_args(tiny_backbone, precision="fp16"), train_file, tmp_path / "o", progress=False)


# --------------------------------------------------------------------------- training runs


def test_resume_after_a_crash_gives_the_same_weights(tmp_path, tiny_backbone, train_file):
    args = _args(tiny_backbone, grad_accum=2, checkpoint_every=3, keep_checkpoints=2)
    full = train(args, train_file, tmp_path / "full", progress=False)

    resumed = tmp_path / "resumed"
    with pytest.raises(Stop):
        train(args, train_file, resumed, progress=False, on_step=_stop_at(7))
    assert [step for step, _ in list_checkpoints(resumed)] == [3, 6]
    assert read_log(resumed)["step"].tolist() == [2, 4, 6]
    train(args, train_file, resumed, progress=False)

    a, b = _weights(full), _weights(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (resumed / "checkpoints").exists()  # removed once finished
    log_full, log_resumed = read_log(full), read_log(resumed)
    assert log_resumed["step"].tolist() == [2, 4, 6, 8]
    for column in ("loss", "learning_rate", "grad_norm", "examples", "tokens"):
        assert log_full[column].tolist() == log_resumed[column].tolist(), column
    info = json.loads((resumed / RUN_FILE).read_text(encoding="utf-8"))
    assert [s["from_step"] for s in info["sessions"]] == [0, 6]
    # 8 steps of 2 micro-batches of 4 pairs, over 42 pairs: one short batch per epoch.
    assert info["examples_seen"] == int(log_full["examples"].sum()) == 62


@pytest.mark.parametrize("head", ["classifier", "segment-cosine"])
def test_listwise_training_batches_whole_questions_and_resumes_exactly(
    tmp_path, tiny_backbone, train_file, head
):
    args = _args(
        tiny_backbone,
        head=head,
        loss="listwise",
        megabatch_mult=1,
        batch_size=8,
        checkpoint_every=3,
        max_steps=12,
        learning_rate=1e-4,
    )
    full = train(args, train_file, tmp_path / "full", progress=False)
    resumed = tmp_path / "resumed"
    with pytest.raises(Stop):
        train(args, train_file, resumed, progress=False, on_step=_stop_at(7))
    train(args, train_file, resumed, progress=False)
    a, b = _weights(full), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # 42 pairs in questions of 5 (and one of 2), at most 8 pairs a batch: whole questions.
    groups = np.arange(42) // 5
    plan = BatchPlan(np.ones(42), 8, args.seed, groups=groups)
    log = read_log(full)
    assert int(log["examples"].sum()) == sum(len(plan.batch(p)) for p in range(12))
    assert {len(plan.batch(p)) for p in range(12)} <= {2, 5, 7}
    # One positive against four negatives of its question: the loss starts near log 5, far
    # from binary cross-entropy's log 2.
    assert abs(log["loss"].iloc[0] - math.log(5)) < 0.4
    info = json.loads((full / RUN_FILE).read_text(encoding="utf-8"))
    assert info["args"]["loss"] == "listwise"


@pytest.mark.parametrize("joint_layers", [0, 1])
def test_a_shared_query_is_encoded_once_with_the_same_logits_and_gradients(
    tmp_path, tiny_backbone, joint_layers
):
    from csir.backbones import load_tokenizer
    from csir.heads import HeadSpec
    from csir.ranker import build_ranker, pair_logits
    from csir.training.tokenized import tokenize_segment_file

    rng = random.Random(1)
    queries = ["how glacier cave formed?", "the river city?", "berlin ice water how?"]
    lines = [json.dumps(_record(i, rng, query=queries[i // 5])) for i in range(15)]
    path = tmp_path / "shared.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = HeadSpec(kind="segment-cosine", joint_layers=joint_layers)
    pairs = tokenize_segment_file(path, load_tokenizer(str(tiny_backbone)), spec, 32)
    batch = pairs.collate(np.array([0, 1, 2, 7, 3, 11, 5]))  # questions 0, 0, 0, 1, 0, 2, 1
    assert batch["query_ids"].shape[0] == 3
    assert batch["query_index"].tolist() == [0, 0, 0, 1, 0, 2, 1]
    # Every pair's own query row: what the model saw before queries were shared.
    each = dict(batch)
    index = each.pop("query_index")
    each["query_ids"], each["query_mask"] = batch["query_ids"][index], batch["query_mask"][index]

    torch.manual_seed(0)
    model = build_ranker(str(tiny_backbone), spec).double()  # summation order aside: equal
    results = []
    for b in (batch, each):
        model.zero_grad()
        logits = pair_logits(model, b)
        logits.square().sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((logits.detach(), grads))
    (shared, g_shared), (apart, g_apart) = results
    torch.testing.assert_close(shared, apart, rtol=1e-12, atol=1e-12)
    assert g_shared.keys() == g_apart.keys()
    for name in g_shared:
        torch.testing.assert_close(g_shared[name], g_apart[name], rtol=1e-9, atol=1e-12)


def test_saved_folder_loads_in_transformers_and_sentence_transformers(
    tmp_path, tiny_backbone, train_file
):
    from sentence_transformers import CrossEncoder
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = train(_args(tiny_backbone, max_steps=4), train_file, tmp_path / "model", progress=False)
    for name in ("model.safetensors", "config.json", "tokenizer.json", RUN_FILE, "log.csv"):
        assert (out / name).is_file(), name
    pairs = [("how is ice formed?", "the glacier cave."), ("berlin?", "the city river water.")]
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.num_labels == 1
    with torch.inference_mode():
        encoded = tokenizer(
            [q for q, _ in pairs], [p for _, p in pairs], padding=True, return_tensors="pt"
        )
        logits = model(**encoded).logits.squeeze(-1)
    cross = CrossEncoder(str(out), device="cpu")
    scores = cross.predict(pairs, activation_fn=torch.nn.Identity(), convert_to_tensor=True)
    torch.testing.assert_close(scores.float(), logits, rtol=1e-4, atol=1e-5)

    info = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
    assert info["finished"] and info["steps"] == 4
    assert info["train_file"]["pairs"] == 42 and info["train_file"]["positives"] == 9
    assert len(info["train_file"]["sha256"]) == 64
    assert info["examples_per_s"] > 0 and np.isfinite(info["final_loss"])

    log = read_log(out)
    assert tuple(log.columns) == LOG_COLUMNS
    assert log["step"].tolist() == [2, 4]
    assert (log["examples_per_s"] > 0).all() and (log["tokens_per_s"] > 0).all()
    assert log["learning_rate"].iloc[0] == pytest.approx(1e-3 * 0.5)  # step 2 of 2 warm-up


def test_finished_run_is_a_no_op_unless_forced(tmp_path, tiny_backbone, train_file):
    args = _args(tiny_backbone, max_steps=2)
    out = train(args, train_file, tmp_path / "run", progress=False)
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert train(args, train_file, out, progress=False) == out
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp
    with pytest.raises(ConfigError, match="other settings.*learning_rate"):
        train(_args(tiny_backbone, max_steps=2, learning_rate=5e-4), train_file, out)
    train(args, train_file, out, progress=False, force=True)
    assert (out / "model.safetensors").stat().st_mtime_ns != stamp


def test_data_loader_workers_do_not_change_the_weights(tmp_path, tiny_backbone, train_file):
    base = train(_args(tiny_backbone, max_steps=3), train_file, tmp_path / "w0", progress=False)
    args = _args(tiny_backbone, max_steps=3, num_workers=2)
    other = train(args, train_file, tmp_path / "w2", progress=False)
    a, b = _weights(base), _weights(other)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_corrupt_checkpoint_names_the_folder(tmp_path, tiny_backbone, train_file):
    args = _args(tiny_backbone, checkpoint_every=2)
    out = tmp_path / "run"
    with pytest.raises(Stop):
        train(args, train_file, out, progress=False, on_step=_stop_at(4))
    folder = list_checkpoints(out)[-1][1]
    (folder / "optimizer.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=r"step-0000004 is corrupt.*delete this folder"):
        train(args, train_file, out, progress=False)
    (folder / "trainer_state.json").unlink()
    with pytest.raises(CheckpointError, match="missing trainer_state.json"):
        train(args, train_file, out, progress=False)


def test_bf16_and_truncated_layers_train(tmp_path, tiny_backbone, train_file):
    from transformers import AutoConfig

    args = _args(tiny_backbone, max_steps=2, precision="bf16", num_layers=1)
    out = train(args, train_file, tmp_path / "bf16", progress=False)
    assert AutoConfig.from_pretrained(out).num_hidden_layers == 1
    assert np.isfinite(read_log(out)["loss"]).all()
    assert all(t.dtype == torch.float32 for t in _weights(out).values())


# --------------------------------------------------------------------------- notebook config


def test_training_config_rejects_unknown_parameter_and_bad_precision():
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) 'lr'"):
        TrainingConfig.from_params({"lr": 1e-5})
    with pytest.raises(ConfigError, match="precision 'fp64' must be one of"):
        TrainingConfig.from_params({"precision": "fp64"})
    with pytest.raises(ConfigError, match="must look like '<method>/<pair>/p=<p>'"):
        TrainingConfig.from_params({"train_sets": ["bl-cs/en-de"]})
    with pytest.raises(ConfigError, match="'max_steps' must be int"):
        TrainingConfig.from_params({"max_steps": 1.5})


def test_training_config_smoke_and_jobs(tmp_path):
    cfg = TrainingConfig.from_params(
        {
            "smoke": True,
            "output_dir": str(tmp_path / "03"),
            "data_generation_dir": str(tmp_path / "02"),
        }
    )
    assert cfg.train_sets == ("zero-shot/en-en/p=0.0", "bl-cs/en-de/p=0.5")
    assert (cfg.max_steps, cfg.batch_size, cfg.max_length) == (3, 4, 96)
    args = cfg.training_args()
    assert args.max_steps == 3 and args.warmup_steps <= 3
    jobs = cfg.jobs()
    assert jobs[1] == (
        tmp_path / "02" / "train" / "bl-cs" / "en-de" / "p=0.5" / "train.jsonl",
        tmp_path / "03" / "models" / "e5-small-offline" / "bl-cs" / "en-de" / "p=0.5" / "seed=1",
        1,
    )
    mine = str(tmp_path / "mine.jsonl")
    own = TrainingConfig.from_params(
        {"train_file": mine, "num_layers": 6, "seeds": [3, 4], "smoke": False}
    )
    assert [job[1].parts[-4:] for job in own.jobs()] == [
        ("e5-small-offline-L6", "custom", "mine", "seed=3"),
        ("e5-small-offline-L6", "custom", "mine", "seed=4"),
    ]
    assert [own.training_args(seed).seed for *_, seed in own.jobs()] == [3, 4]
    with pytest.raises(ConfigError, match="repeat a seed"):
        TrainingConfig.from_params({"seeds": [1, 1]})
    with pytest.raises(ConfigError, match="seeds must not be empty"):
        TrainingConfig.from_params({"seeds": []})


# --------------------------------------------------------------------------- real backbone


@pytest.mark.slow
def test_real_e5_small_trains_two_steps(tmp_path):
    from csir.backbones import OFFLINE_E5

    rng = random.Random(1)
    path = tmp_path / "train.jsonl"
    path.write_text(
        "\n".join(json.dumps(_record(i, rng)) for i in range(16)) + "\n", encoding="utf-8"
    )
    args = TrainingArgs(backbone=OFFLINE_E5, max_steps=2, batch_size=4, max_length=64, log_every=1)
    assert args.head == "segment-cosine"  # e5 is an embedding model: the default head
    out = train(args, path, tmp_path / "e5", progress=False)
    log = read_log(out)
    assert log["step"].tolist() == [1, 2] and np.isfinite(log["loss"]).all()
    weights = _weights(out)
    assert weights["embeddings.word_embeddings.weight"].shape == (250037, 384)
    assert (out / "csir_head.json").is_file()


# --------------------------------------------------------------------------- heads, dev selection


def _dev_file(folder: Path) -> Path:
    """Six dev questions of six candidates, one relevant each, in the training-record format."""
    rng = random.Random(5)
    lines = []
    for q in range(6):
        for c in range(6):
            record = _record(c, rng, qid=f"d{q}", pid=f"d{q}-{c}", label=int(c == q % 6))
            lines.append(json.dumps(record))
    path = folder / "dev.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("head", ["classifier", "segment-cosine"])
def test_dev_selection_keeps_the_best_step_and_resumes_exactly(
    tmp_path, tiny_backbone, train_file, head
):
    from csir.rerank import Reranker, ScoringOptions
    from csir.training import read_dev_logs
    from csir.training.dev import dev_score, read_dev_set

    dev = _dev_file(tmp_path)
    args = _args(
        tiny_backbone, head=head, eval_every=2, checkpoint_every=3, query_max_length=12,
        head_learning_rate=0.05, joint_layers=1,
    )  # fmt: skip
    full = train(args, train_file, tmp_path / "full", progress=False, dev_file=dev)
    info = json.loads((full / RUN_FILE).read_text(encoding="utf-8"))
    curve = [(p["step"], p["dev_mrr"]) for p in info["dev_curve"]]
    assert [step for step, _ in curve] == [0, 2, 4, 6, 8]
    trained = curve[1:]  # step 0 is the untrained model: recorded, never selected
    best_step, best_mrr = max(trained, key=lambda p: (p[1], -p[0]))
    assert info["selected_step"] == best_step and info["dev_mrr"] == pytest.approx(best_mrr)
    assert info["selection"] == "best dev MRR@10"
    assert not (full / "best").exists()
    # The saved model is the selected step's: scoring it again gives the recorded dev MRR.
    scores = Reranker(full, ScoringOptions(device="cpu", batch_size=8)).score(
        read_dev_set(dev).pairs()
    )
    assert dev_score(read_dev_set(dev), scores) == pytest.approx(best_mrr, abs=1e-9)
    logged = read_dev_logs([full])
    assert logged["step"].tolist() == [0, 2, 4, 6, 8]

    resumed = tmp_path / "resumed"
    with pytest.raises(Stop):
        train(args, train_file, resumed, progress=False, dev_file=dev, on_step=_stop_at(5))
    train(args, train_file, resumed, progress=False, dev_file=dev)
    again = json.loads((resumed / RUN_FILE).read_text(encoding="utf-8"))
    assert again["dev_curve"] == info["dev_curve"]
    assert again["selected_step"] == info["selected_step"]
    a, b = _weights(full), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert read_dev_logs([resumed])["step"].tolist() == [0, 2, 4, 6, 8]


def test_eval_every_without_a_dev_file_is_refused(tmp_path, tiny_backbone, train_file):
    with pytest.raises(ConfigError, match="eval_every needs a dev file"):
        train(_args(tiny_backbone, eval_every=2), train_file, tmp_path / "o", progress=False)


@pytest.mark.parametrize("head", ["classifier", "segment-cosine"])
def test_vocabulary_trimming_trains_the_same_weights(tmp_path, tiny_backbone, train_file, head):
    args = dict(head=head, max_steps=4, weight_decay=0.5, query_max_length=12, joint_layers=1)
    trimmed = train(_args(tiny_backbone, **args), train_file, tmp_path / "t", progress=False)
    full = train(
        _args(tiny_backbone, trim_vocabulary=False, **args), train_file, tmp_path / "f",
        progress=False,
    )  # fmt: skip
    a, b = _weights(trimmed), _weights(full)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-7, msg=key)
    # Rows no training text uses did decay, as AdamW decays them in the untrimmed run.
    name = [k for k in a if k.endswith("word_embeddings.weight")][0]
    start = load_file(str(tiny_backbone / "model.safetensors"))["embeddings.word_embeddings.weight"]
    assert not torch.equal(a[name][-1], start[-1])


def test_frozen_embeddings_stay_put(tmp_path, tiny_backbone, train_file):
    args = _args(tiny_backbone, head="segment-cosine", max_steps=2, freeze_embeddings=True)
    out = train(args, train_file, tmp_path / "frozen", progress=False)
    start = load_file(str(tiny_backbone / "model.safetensors"))["embeddings.word_embeddings.weight"]
    assert torch.equal(_weights(out)["embeddings.word_embeddings.weight"], start)


def test_diverging_loss_stops_with_a_clear_error(tmp_path, tiny_backbone, train_file):
    from csir.training.loop import TrainingDiverged

    args = _args(tiny_backbone, learning_rate=1e30, max_grad_norm=0.0, warmup_steps=0)
    with pytest.raises(TrainingDiverged, match="training loss became"):
        train(args, train_file, tmp_path / "nan", progress=False)
    assert not (tmp_path / "nan" / "model.safetensors").exists()
    with pytest.raises(ConfigError, match="learning_rate must be a finite number"):
        _args(tiny_backbone, learning_rate=float("inf"))


def test_row_aligned_training_sets_see_the_same_batches():
    # A code-switched file is row-aligned with its zero-shot source but has other lengths.
    rng = np.random.default_rng(0)
    english, switched = rng.integers(5, 50, 101), rng.integers(5, 80, 101)
    for seed in (1, 2):
        a = BatchPlan(english, 8, seed)
        b = BatchPlan(switched, 8, seed)
        for position in (0, 5, 12, 13, 40):
            assert a.batch(position).tolist() == b.batch(position).tolist()


def test_training_config_passes_head_and_selection_settings(tmp_path):
    cfg = TrainingConfig.from_params(
        {"joint_layers": 2, "dropout": 0.0, "smoke": False, "data_generation_dir": str(tmp_path)}
    )
    args = cfg.training_args(3)
    assert (args.head, args.joint_layers, args.dropout, args.seed) == ("segment-cosine", 2, 0.0, 3)
    assert args.eval_every == cfg.eval_every and args.precision == "auto"
    assert cfg.dev_file() == tmp_path / "dev" / "en-en" / "dev.jsonl"
    off = TrainingConfig.from_params({"select_on_dev": False, "smoke": False})
    assert off.dev_file() is None and off.training_args().eval_every == 0
    smoke = TrainingConfig.from_params({"smoke": True})
    assert smoke.eval_every == 2 and smoke.dev_max_queries == 8
    with pytest.raises(ConfigError, match="head 'cls' must be 'auto' or one of"):
        TrainingConfig.from_params({"head": "cls"})


def test_auto_precision_is_bf16_only_where_the_hardware_computes_it(monkeypatch):
    import torch

    from csir.devices import resolve_training_precision

    for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        monkeypatch.setattr(torch.cpu, name, lambda: False, raising=False)
    assert resolve_training_precision("auto", "cpu") == "fp32"  # emulated bf16: 18-22x slower
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert resolve_training_precision("auto", "cpu") == "bf16"
    assert resolve_training_precision("fp32", "cpu") == "fp32"


def test_a_run_records_the_precision_auto_resolved_to(tmp_path, tiny_backbone, train_file):
    from csir.devices import resolve_training_precision

    out = train(_args(tiny_backbone, precision="auto", max_steps=2), train_file, tmp_path / "o",
                progress=False)  # fmt: skip
    record = json.loads((out / "csir_training.json").read_text(encoding="utf-8"))
    assert record["args"]["precision"] == resolve_training_precision("auto", "cpu")
    # the same call again finds the finished run (its settings compare as resolved)
    train(_args(tiny_backbone, precision="auto", max_steps=2), train_file, out, progress=False)
