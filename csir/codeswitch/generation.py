"""Seeded, sharded generation of code-switched training files with ``datasets``.

:func:`generate` runs one job (:mod:`csir.codeswitch.jobs`) over a ``datasets.Dataset`` of English
pairs (``qid, pid, query, passage, label``) with ``Dataset.map(num_proc=N, with_indices=True)``
and the job's :class:`~csir.codeswitch.switcher.RecordSwitcher`, and writes::

    <output_dir>/train/<method>/<pair>/p=<p>/train.jsonl   keys: qid pid query passage label
                                                           query_lang doc_lang
    <output_dir>/train/<method>/<pair>/p=<p>/stats.json    counts, realised switch ratios, inputs

Realised switch ratio (per language): switched non-stopword words / non-stopword words of the
texts switched towards that language. For ML-CS every text is switched towards every language,
so the per-language ratios are shares that add up to the overall ratio (``"all"``).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csir import io
from csir import stopwords as stopwordlists
from csir.codeswitch import switch
from csir.codeswitch.jobs import Job
from csir.codeswitch.switcher import SIDES, STATS_COLUMN, RecordSwitcher
from csir.ids import BL_CS, ML_CS, RECORD_KEYS, WIKI_CS

#: The encoder json.dumps(..., ensure_ascii=False) builds on every call, built once.
_JSON_LINE = json.JSONEncoder(ensure_ascii=False)


def switch_dataset(
    pairs,
    switcher: RecordSwitcher,
    *,
    num_proc: int = 1,
    cache_file_name: str | None = None,
    batch_size: int = 500,
):
    """Apply a job to every record with ``Dataset.map`` (sharded over ``num_proc`` processes).

    Returns:
        The mapped ``datasets.Dataset``: switched ``query``/``passage``, ``query_lang``,
        ``doc_lang`` and a per-record list of switch counts.
    """
    import datasets

    features = pairs.features.copy()
    features["query_lang"] = datasets.Value("string")
    features["doc_lang"] = datasets.Value("string")
    features[STATS_COLUMN] = datasets.Sequence(datasets.Value("int64"))
    fingerprint = hashlib.sha256(
        f"{pairs._fingerprint}|{switcher.job.name}|{switcher.seed}".encode()
    ).hexdigest()[:32]
    return pairs.map(
        switcher,
        batched=True,
        batch_size=batch_size,
        with_indices=True,
        num_proc=num_proc if num_proc > 1 else None,
        features=features,
        load_from_cache_file=False,
        cache_file_name=cache_file_name,
        new_fingerprint=fingerprint,
        desc=switcher.job.name,
    )


def write_jsonl_records(
    path: str | Path, batches: Iterable[dict[str, list]], on_batch: Callable | None = None
) -> tuple[int, str]:
    """Write column batches as JSON lines with :data:`RECORD_KEYS`, atomically.

    Args:
        path: the ``.jsonl`` file.
        batches: dicts of equal-length columns holding at least :data:`RECORD_KEYS`.
        on_batch: called with each batch after it is written (e.g. to add up statistics); an
            exception there leaves no file behind.

    Returns:
        ``(number of records, sha256 of the file)``.
    """
    digest = hashlib.sha256()
    count = 0
    encode = _JSON_LINE.encode  # what json.dumps(record, ensure_ascii=False) uses
    with io.atomic_write(path, "wb") as fh:
        for batch in batches:
            columns = [batch[key] for key in RECORD_KEYS]
            lines = [
                encode(dict(zip(RECORD_KEYS, values, strict=True)))
                for values in zip(*columns, strict=True)
            ]
            if lines:  # one write (and hash update) per batch: the same bytes
                data = ("\n".join(lines) + "\n").encode("utf-8")
                fh.write(data)
                digest.update(data)
                count += len(lines)
            if on_batch is not None:
                on_batch(batch)
    return count, digest.hexdigest()


def _ratio_block(counts: np.ndarray, langs: Sequence[str]) -> dict[str, dict[str, float]]:
    names = [*langs, "all"]
    block = {}
    for slot, name in enumerate(names):
        content, switched = int(counts[2 * slot]), int(counts[2 * slot + 1])
        if content or name == "all":
            block[name] = {
                "content_words": content,
                "switched": switched,
                "ratio": switch.switch_ratio(switched, content),
            }
    return block


def summarise(counts: np.ndarray, job: Job) -> dict[str, Any]:
    """Turn summed per-record counts into per-side and per-language switch ratios."""
    width = len(job.languages) + 1
    sides = counts.reshape(2, 2 * width)
    return {
        "by_side": {side: _ratio_block(sides[i], job.languages) for i, side in enumerate(SIDES)},
        "by_language": _ratio_block(sides.sum(axis=0), job.languages),
    }


def generate(
    pairs,
    job: Job,
    *,
    output_dir: str | Path,
    seed: int,
    stopwords: frozenset[str] | None = None,
    lexicons: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    titles: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    num_proc: int = 1,
    max_n: int = 3,
    info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Generate one job's ``train.jsonl`` and ``stats.json`` (both written atomically).

    Args:
        pairs: ``datasets.Dataset`` with ``qid, pid, query, passage, label`` (English).
        job: what to generate (see :func:`plan_jobs`).
        output_dir: root of ``train/``.
        seed: non-negative seed; with the job and the record index it fixes every draw.
        stopwords: English stopwords (default: :func:`csir.stopwords.stopwords` ``("en")``).
        lexicons: language → EN→language word lexicon (BL-CS, ML-CS).
        titles: language → EN→language entity-title lexicon (Wiki-CS).
        num_proc: worker processes for ``Dataset.map``; the output does not depend on it.
        max_n: longest Wiki-CS n-gram.
        info: JSON-ready extras for ``stats.json`` (lexicon files, training source, ...).

    Returns:
        The statistics written to ``stats.json``.
    """
    stopwords = stopwordlists.stopwords("en") if stopwords is None else stopwords
    switcher = RecordSwitcher(job, seed, stopwords, lexicons, titles, max_n)
    directory = job.directory(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    totals = np.zeros(4 * switcher.width, dtype=np.int64)
    labels = {"positives": 0, "negatives": 0}

    def add(batch: dict[str, list]) -> None:
        nonlocal totals
        if batch[STATS_COLUMN]:
            totals = totals + np.asarray(batch[STATS_COLUMN], dtype=np.int64).sum(axis=0)
        positives = sum(batch["label"])
        labels["positives"] += positives
        labels["negatives"] += len(batch["label"]) - positives

    # train.jsonl lands (by rename) only after stats.json is written, and neither on failure.
    with (
        tempfile.TemporaryDirectory(prefix=".work-", dir=directory) as work,
        io.atomic_path(directory / "train.jsonl") as pending,
    ):
        switched = switch_dataset(
            pairs, switcher, num_proc=num_proc, cache_file_name=str(Path(work) / "switched.arrow")
        )
        count, sha = write_jsonl_records(pending, switched.iter(batch_size=2000), on_batch=add)
        del switched
        stats = {
            "method": job.method,
            "pair": job.pair,
            "p": job.p,
            "seed": seed,
            "languages": list(job.languages),
            "record_languages": (
                "drawn per record" if job.method == WIKI_CS else list(job.record_languages())
            ),
            "records": count,
            **labels,
            "train_file": "train.jsonl",
            "sha256": sha,
            "switch_ratio": summarise(totals, job),
            "stopwords": {"lang": "en", "source": "stopwordsiso", "count": len(stopwords)},
            "tokenizer": "nltk Treebank (patterns on stdlib re); translations spliced into text",
            "wiki_max_ngram": max_n if job.method == WIKI_CS else None,
            **dict(info or {}),
        }
        io.write_json(directory / "stats.json", stats)
    return stats


def write_dev_set(
    pairs, output_dir: str | Path, info: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Write English dev pairs unswitched to ``<output_dir>/dev/en-en/dev.jsonl`` (+ stats.json).

    Used for model selection; records carry ``query_lang = doc_lang = "en"``.
    """
    directory = Path(output_dir) / "dev" / "en-en"
    labels = {"positives": 0, "negatives": 0}

    def batches():
        for batch in pairs.iter(batch_size=2000):
            size = len(batch["qid"])
            positives = sum(batch["label"])
            labels["positives"] += positives
            labels["negatives"] += size - positives
            yield {**batch, "query_lang": ["en"] * size, "doc_lang": ["en"] * size}

    with io.atomic_path(directory / "dev.jsonl") as pending:
        count, sha = write_jsonl_records(pending, batches())
        stats = {
            "records": count,
            **labels,
            "queries": len(set(pairs["qid"])),
            "dev_file": "dev.jsonl",
            "sha256": sha,
            **dict(info or {}),
        }
        io.write_json(directory / "stats.json", stats)
    return stats


def generate_all(
    pairs,
    jobs: Sequence[Job],
    *,
    output_dir: str | Path,
    seed: int,
    lexicons: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    titles: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    lexicon_info: Mapping[str, Any] | None = None,
    titles_info: Mapping[str, Any] | None = None,
    train_info: Mapping[str, Any] | None = None,
    num_proc: int = 1,
    max_n: int = 3,
) -> list[dict[str, Any]]:
    """Run :func:`generate` for every job; each ``stats.json`` names the lexicons it used.

    Args:
        pairs: English training pairs (``datasets.Dataset``).
        jobs: from :func:`plan_jobs`.
        output_dir: root of ``train/``.
        seed: seed of every job.
        lexicons / titles: language → lexicon, as from :func:`load_lexicons`.
        lexicon_info / titles_info: language → file info, as from :func:`load_lexicons`.
        train_info: JSON-ready description of the training pairs (source, split, limits).
        num_proc: worker processes per job.
        max_n: longest Wiki-CS n-gram.

    Returns:
        The statistics of every job, in job order.
    """
    from tqdm.auto import tqdm

    # Normalise each lexicon once, not once per job; translations in their language's script.
    lexicons = {
        lang: switch.normalise_lexicon(lex, target_lang=lang)
        for lang, lex in (lexicons or {}).items()
    }
    titles = {
        lang: switch.normalise_phrase_lexicon(lex, max_n, target_lang=lang)
        for lang, lex in (titles or {}).items()
    }
    results = []
    for job in tqdm(jobs, desc="training sets"):
        used = lexicon_info if job.method in (BL_CS, ML_CS) else titles_info
        info = {
            "lexicons": {lang: (used or {}).get(lang) for lang in job.languages},
            "train_data": dict(train_info or {}),
        }
        results.append(
            generate(
                pairs,
                job,
                output_dir=output_dir,
                seed=seed,
                lexicons=lexicons,
                titles=titles,
                num_proc=num_proc,
                max_n=max_n,
                info=info,
            )
        )
    return results
