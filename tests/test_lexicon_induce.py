"""Nearest-neighbour and CSLS induction against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest

from csir.lexicon import induce


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute_nn(src, tgt, k):
    sims = _unit(src) @ _unit(tgt).T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def _brute_csls(src, tgt, knn, k):
    sims = _unit(src) @ _unit(tgt).T
    r_t = np.sort(sims, axis=1)[:, ::-1][:, :knn].mean(axis=1)  # each source vs targets
    r_s = np.sort(sims.T, axis=1)[:, ::-1][:, :knn].mean(axis=1)  # each target vs sources
    scores = 2 * sims - r_t[:, None] - r_s[None, :]
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    return rng.normal(size=(37, 16)).astype(np.float32), rng.normal(size=(53, 16)).astype(
        np.float32
    )


def test_nearest_neighbours_matches_brute_force(data):
    src, tgt = data
    found = induce.nearest_neighbours(src, tgt, k=3, chunk_size=5)
    order, scores = _brute_nn(src, tgt, 3)
    np.testing.assert_array_equal(found.indices, order)
    np.testing.assert_allclose(found.scores, scores, atol=1e-5)
    assert found.indices.dtype == np.int64 and found.scores.dtype == np.float32


def test_csls_matches_brute_force(data):
    src, tgt = data
    found = induce.csls(src, tgt, k=2, knn=10, chunk_size=4)
    order, scores = _brute_csls(src, tgt, 10, 2)
    np.testing.assert_array_equal(found.indices, order)
    np.testing.assert_allclose(found.scores, scores, atol=1e-5)


@pytest.mark.parametrize("method", ["nn", "csls"])
def test_chunked_equals_unchunked(data, method):
    src, tgt = data
    whole = induce.induce(src, tgt, method, k=4, chunk_size=len(src))
    for chunk in (1, 3, None):
        part = induce.induce(src, tgt, method, k=4, chunk_size=chunk)
        np.testing.assert_array_equal(part.indices, whole.indices)
        np.testing.assert_allclose(part.scores, whole.scores, atol=1e-6)
    tiny_budget = (
        induce.nearest_neighbours(src, tgt, k=4, chunk_bytes=1) if method == "nn" else None
    )
    if tiny_budget is not None:  # a budget below one row still works, one row at a time
        np.testing.assert_array_equal(tiny_budget.indices, whole.indices)


def test_csls_avoids_a_hub_that_nearest_neighbour_picks():
    # Three source words on the axes; their true translations share only half their direction
    # with them (cos 0.5); a hub (cos 0.577 to every source) wins plain nearest neighbour for
    # every source, while CSLS's r_S(hub) penalty sends each source to its own translation.
    eye = np.eye(6, dtype=np.float32)
    src = eye[:3]
    translations = 0.5 * eye[:3] + np.sqrt(0.75) * eye[3:]
    hub = (eye[0] + eye[1] + eye[2]) / np.sqrt(3)
    tgt = np.vstack([translations, hub])
    assert induce.nearest_neighbours(src, tgt).best.tolist() == [3, 3, 3]
    assert induce.csls(src, tgt, knn=3).best.tolist() == [0, 1, 2]


def test_knn_and_k_are_capped_and_bad_method_fails(data):
    src, tgt = data
    found = induce.csls(src[:3], tgt[:2], k=5, knn=10)
    assert found.indices.shape == (3, 2)
    with pytest.raises(ValueError, match="method 'cosine' must be one of"):
        induce.induce(src, tgt, "cosine")


def test_center_removes_the_mean_and_keeps_unit_rows(data):
    src, _ = data
    shifted = src + 5.0  # a shared offset, like a language-identity direction
    centred = induce.center(shifted).numpy()
    np.testing.assert_allclose(np.linalg.norm(centred, axis=1), 1.0, atol=1e-5)
    assert np.linalg.norm(_unit(shifted).mean(axis=0)) > 0.9
    assert np.linalg.norm(centred.mean(axis=0)) < 0.1


def test_resolve_device_is_the_one_rule():
    import torch

    from csir.devices import resolve_device
    from csir.errors import ConfigError

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="'cudax' must be"):
        resolve_device("cudax")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            resolve_device("cuda:0")


@pytest.mark.gpu
def test_gpu_matches_cpu(data):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    src, tgt = data
    cpu = induce.csls(src, tgt, k=3)
    gpu = induce.csls(src, tgt, k=3, device="cuda")
    np.testing.assert_array_equal(cpu.indices, gpu.indices)
