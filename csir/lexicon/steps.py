"""Notebook 01's steps, one function per cell: MUSE copies, titles, CLWE induction, BLI.

Every function takes explicit arguments (folders, languages, sizes) and writes under the folder
it is given, so the notebook stays a list of calls and tests can run each step on tiny inputs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from csir.config import LexiconConfig
from csir.devices import resolve_device
from csir.errors import CsirError, DataNotFoundError
from csir.lexicon import bli, induce, readers, required, store, titles, wordvectors
from csir.lexicon.readers import WordVectors

SOURCE_LANG = "en"


def _require_all(found: Mapping[str, Any], what: str, parameter: str) -> None:
    """One error naming every language of ``found`` whose value is a DataNotFoundError."""
    missing = {lang: err for lang, err in found.items() if isinstance(err, DataNotFoundError)}
    if not missing:
        return
    listed = "; ".join(
        f"{lang}: {err.name} (looked in: {', '.join(err.looked)})" for lang, err in missing.items()
    )
    raise CsirError(
        f"notebook 01 needs {what} that were not found for {len(missing)} language(s): {listed}. "
        "The data mirror and download cache have MUSE dictionaries for: "
        f"{', '.join(required.languages_with_muse_dictionaries()) or 'none'}. Fix: drop "
        f"{', '.join(missing)} from {parameter}; or allow downloads (CSIR_OFFLINE unset) on a "
        "machine with internet; or put the files below CSIR_DATA_DIR (the paths above)"
    )


def require_muse_dictionaries(languages: Sequence[str]) -> None:
    """Every en→x MUSE dictionary of ``languages`` is found (mirror, cache or download), or one
    error names all that are not (before any lexicon is written)."""
    found: dict[str, Path | DataNotFoundError] = {}
    for lang in languages:
        try:
            found[lang] = readers.muse_dictionary_path(SOURCE_LANG, lang)
        except DataNotFoundError as err:
            found[lang] = err
    _require_all(found, "MUSE dictionaries", "languages")


def write_muse_lexicons(languages: Sequence[str], lexicon_dir: str | Path) -> pd.DataFrame:
    """Copy MUSE ground-truth dictionaries en→x and x→en into ``<lexicon_dir>/muse/``.

    x→en comes from MUSE's own ``<x>-en`` dictionary where one is found (mirror, cache or
    download), else from inverting en→x (recorded in the sidecar's ``method``).

    Returns:
        One row per written file with its counts.
    """
    require_muse_dictionaries(languages)
    rows = []
    for lang in languages:
        pairs = readers.read_muse_pairs(readers.muse_dictionary_path(SOURCE_LANG, lang))
        meta = store.write_lexicon(
            store.lexicon_path(lexicon_dir, "muse", SOURCE_LANG, lang),
            pairs,
            source="muse",
            method="muse-ground-truth",
            parameters={"file": f"muse/{SOURCE_LANG}-{lang}.txt"},
        )
        rows.append({"lexicon": f"muse/{SOURCE_LANG}-{lang}", **meta["counts"]})
        try:
            back = readers.read_muse_pairs(readers.muse_dictionary_path(lang, SOURCE_LANG))
            method, origin = "muse-ground-truth", f"muse/{lang}-{SOURCE_LANG}.txt"
        except DataNotFoundError:
            back = [(tgt, src) for src, tgt in pairs]
            method, origin = "inverted", f"muse/{SOURCE_LANG}-{lang}.txt (inverted)"
        meta = store.write_lexicon(
            store.lexicon_path(lexicon_dir, "muse", lang, SOURCE_LANG),
            back,
            source="muse",
            method=method,
            parameters={"file": origin},
        )
        rows.append({"lexicon": f"muse/{lang}-{SOURCE_LANG} ({method})", **meta["counts"]})
    return pd.DataFrame(rows)


def write_title_lexicons(
    languages: Sequence[str],
    lexicon_dir: str | Path,
    *,
    titles_source: str = "cldr",
) -> pd.DataFrame:
    """Write en→x entity-title lexicons into ``<lexicon_dir>/titles/``.

    Args:
        titles_source: ``"cldr"`` (offline, babel) or ``"wikititles"`` (linguatools XML files,
            found as ``wikititles/wikititles-2014_<xx><yy>.xml`` in the mirror or cache).
    """
    rows = []
    for lang in languages:
        if titles_source == "cldr":
            pairs, counts = titles.cldr_title_pairs(lang, SOURCE_LANG)
            params = {"titles_source": "cldr", "kinds": list(titles.CLDR_KINDS)}
        elif titles_source == "wikititles":
            path = readers.wikititles_path(SOURCE_LANG, lang)
            pairs, counts = titles.wikititles_pairs(path, SOURCE_LANG, lang), {}
            params = {"titles_source": "wikititles", "file": path.name}
        else:
            raise ValueError(f"titles_source {titles_source!r} must be 'cldr' or 'wikititles'")
        meta = store.write_lexicon(
            store.lexicon_path(lexicon_dir, "titles", SOURCE_LANG, lang),
            pairs,
            source="titles",
            method=titles_source,
            parameters=params,
            counts=counts,
        )
        rows.append({"lexicon": f"titles/{SOURCE_LANG}-{lang}", **meta["counts"]})
    return pd.DataFrame(rows)


def vector_source_label(clwe_source: str, backbone: str) -> str:
    """Name of the embedding source in the BLI table: ``muse-vec`` or ``backbone-<name>``."""
    if clwe_source == "muse-vec":
        return "muse-vec"
    short = "e5" if "e5" in backbone.lower() else Path(backbone).name or backbone
    return f"backbone-{short}"


def load_vectors(
    lang: str,
    n_words: int,
    *,
    clwe_source: str,
    cache_dir: str | Path,
    backbone: str,
    prefix: str = "",
    extra_words: Sequence[str] = (),
    encoder: wordvectors.Encoder | None = None,
    batch_size: int = 512,
    device: str = "cpu",
) -> WordVectors:
    """Word vectors of ``lang``: MUSE ``.vec`` (``clwe_source="muse-vec"``) or the backbone.

    ``extra_words`` are added to a backbone vocabulary (a ``.vec`` vocabulary is fixed);
    ``encoder`` is reused across calls instead of loading the backbone for each.
    """
    if clwe_source == "muse-vec":
        return readers.read_vec(readers.muse_vectors_path(lang), max_words=n_words)
    if clwe_source == "backbone":
        return wordvectors.cached_word_vectors(
            lang,
            n_words,
            extra_words=extra_words,
            cache_dir=cache_dir,
            backbone=backbone,
            prefix=prefix,
            encoder=encoder,
            batch_size=batch_size,
            device=device,
        )
    raise ValueError(f"clwe_source {clwe_source!r} must be 'backbone' or 'muse-vec'")


def test_dictionary(
    lang: str, test_dict_dir: str | Path | None, max_words: int = 0
) -> dict[str, list[str]]:
    """The en→``lang`` BLI test dictionary from ``test_dict_dir``, else mirror/cache/URL.

    ``max_words`` > 0 keeps the first that many source words (in file order; smoke runs).
    """
    if test_dict_dir:
        path = Path(test_dict_dir) / f"{SOURCE_LANG}-{lang}.5000-6500.txt"
        if not path.is_file():
            raise DataNotFoundError(path.name, [f"{path} (test_dict_dir)"])
    else:
        path = readers.muse_dictionary_path(SOURCE_LANG, lang, split="test")
    gold = readers.read_muse_dictionary(path)
    return dict(list(gold.items())[:max_words]) if max_words > 0 else gold


def induce_and_evaluate(
    languages: Sequence[str],
    lexicon_dir: str | Path,
    *,
    clwe_source: str = "backbone",
    cache_dir: str | Path,
    backbone: str,
    prefix: str = "",
    en_vocab_size: int = 20000,
    tgt_vocab_size: int = 20000,
    add_test_words: bool = True,
    max_test_words: int = 0,
    center_vectors: bool = True,
    csls_k: int = 10,
    batch_size: int = 512,
    device: str = "cpu",
    test_dict_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Induce en→x lexicons by NN and CSLS, write them, and score them by BLI precision@1.

    For every English vocabulary word the best target word is written to
    ``<lexicon_dir>/clwe_nn/en-<x>.tsv`` and ``clwe_csls/en-<x>.tsv``; the BLI test words are
    judged from those very lexicons.

    Args:
        languages: target languages.
        lexicon_dir: root of the lexicon folders.
        clwe_source: ``"backbone"`` (offline word vectors) or ``"muse-vec"`` (MUSE ``.vec``).
        cache_dir: word-vector cache of the backbone source.
        backbone: backbone name for the ``"backbone"`` source.
        prefix: text before every word when encoding (e.g. ``"query: "``).
        en_vocab_size: English frequent words translated.
        tgt_vocab_size: target frequent words, the candidates.
        add_test_words: also translate the test source words missing from the English frequent
            words (backbone source only): coverage is then 100% and the target vocabulary alone
            bounds precision (see ``target_reachable``).
        max_test_words: evaluate only the first that many test words (0: all).
        center_vectors: centre each language's vectors on their mean before retrieval
            (:func:`csir.lexicon.induce.center`).
        csls_k: neighbourhood size of CSLS.
        batch_size: words per forward pass of the backbone.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` for encoding and retrieval.
        test_dict_dir: folder of ``en-<x>.5000-6500.txt``; empty: mirror, cache or MUSE URL.

    Returns:
        One row per language and method: :data:`csir.lexicon.bli.BLI_COLUMNS` plus coverage,
        target reachability, normalised Chinese gold entries, ``copy_baseline`` (precision@1 of
        "translating" every word by itself: MUSE test dictionaries hold many identical pairs),
        vocabulary sizes and seconds.
    """
    golds: dict[str, Any] = {}
    for lang in languages:  # every test dictionary before the first language is induced
        try:
            golds[lang] = test_dictionary(lang, test_dict_dir, max_test_words)
        except DataNotFoundError as err:
            golds[lang] = err
    _require_all(
        golds,
        "BLI test dictionaries (en-<x>.5000-6500.txt: test_dict_dir, else the data)",
        "languages",
    )
    dev = resolve_device(str(device))
    encoder = None
    if clwe_source == "backbone":  # one lazily loaded model for all languages
        encoder = wordvectors.backbone_encoder(
            backbone, prefix=prefix, batch_size=batch_size, device=dev
        )
    common = dict(
        clwe_source=clwe_source,
        cache_dir=cache_dir,
        backbone=backbone,
        prefix=prefix,
        encoder=encoder,
        batch_size=batch_size,
        device=dev,
    )
    label = vector_source_label(clwe_source, backbone)
    rows = []
    for lang in tqdm(languages, desc="languages", unit="lang"):
        gold = golds[lang]
        start = time.perf_counter()
        extra = list(gold) if add_test_words else []
        en = load_vectors(SOURCE_LANG, en_vocab_size, extra_words=extra, **common)
        tgt = load_vectors(lang, tgt_vocab_size, **common)
        vector_seconds = time.perf_counter() - start
        src_space, tgt_space = en.vectors, tgt.vectors
        if center_vectors:
            src_space, tgt_space = induce.center(src_space), induce.center(tgt_space)
        for method in induce.METHODS:
            start = time.perf_counter()
            found = induce.induce(src_space, tgt_space, method, knn=csls_k, device=dev)
            pairs = [(w, tgt.words[i]) for w, i in zip(en.words, found.best.tolist(), strict=True)]
            source = f"clwe_{method}"
            store.write_lexicon(
                store.lexicon_path(lexicon_dir, source, SOURCE_LANG, lang),
                pairs,
                source=source,
                method=method,
                parameters={
                    "vectors": label,
                    "prefix": prefix,
                    "csls_k": csls_k,
                    "center_vectors": center_vectors,
                    "backbone": backbone if clwe_source == "backbone" else None,
                    "en_vocab_size": len(en.words),
                    "tgt_vocab_size": len(tgt.words),
                    "add_test_words": add_test_words and clwe_source == "backbone",
                },
                counts={
                    "mean_score": float(np.mean(found.scores[:, 0])) if pairs else 0.0,
                    "n_identical": sum(s == t for s, t in pairs),
                },
            )
            result = bli.evaluate_lexicon(
                {w: [t] for w, t in pairs}, gold, lang, target_vocab=tgt.words
            )
            row = bli.result_row(label, method, SOURCE_LANG, lang, result)
            copies = bli.evaluate_lexicon({w: [w] for w, _ in pairs}, gold, lang)
            row.update(
                copy_baseline=copies.precision_at_1,
                en_vocab=len(en.words),
                tgt_vocab=len(tgt.words),
                vectors_s=round(vector_seconds, 1),
                induce_s=round(time.perf_counter() - start, 2),
            )
            rows.append(row)
    return pd.DataFrame(rows)


def run_clwe(cfg: LexiconConfig) -> pd.DataFrame:
    """:func:`induce_and_evaluate` with notebook 01's parameters, writing under its output folder.

    Word vectors are cached in ``<output>/wordvectors``, lexicons go to ``<output>/lexicons``.
    """
    out = cfg.output_path()
    return induce_and_evaluate(
        cfg.languages,
        out / "lexicons",
        clwe_source=cfg.clwe_source,
        cache_dir=out / "wordvectors",
        backbone=cfg.backbone,
        prefix=cfg.word_prefix,
        en_vocab_size=cfg.en_vocab_size,
        tgt_vocab_size=cfg.tgt_vocab_size,
        add_test_words=cfg.add_test_words,
        max_test_words=cfg.max_test_words,
        center_vectors=cfg.center_vectors,
        csls_k=cfg.csls_k,
        batch_size=cfg.batch_size,
        device=cfg.device,
        test_dict_dir=cfg.test_dict_dir or None,
    )


def bli_table(results: pd.DataFrame) -> pd.DataFrame:
    """Wide view: precision@1 per target language (rows) and method (columns), plus coverage."""
    wide = results.pivot_table(
        index="tgt_lang", columns="method", values="precision_at_1", sort=False
    )
    wide.columns = [f"P@1 {m}" for m in wide.columns]
    extra = results.groupby("tgt_lang", sort=False)[
        ["coverage", "target_reachable", "copy_baseline", "n_evaluated", "n_gold_changed"]
    ].first()
    return wide.join(extra).round(3)


def lexicon_summary(lexicon_dir: str | Path) -> pd.DataFrame:
    """Counts of every lexicon written under ``lexicon_dir`` (from the JSON sidecars)."""
    rows = []
    for tsv in sorted(Path(lexicon_dir).glob("*/*.tsv")):
        meta = store.read_sidecar(tsv)
        rows.append(
            {
                "source": tsv.parent.name,
                "pair": tsv.stem,
                "method": meta["method"],
                **{k: v for k, v in meta["counts"].items() if k.startswith("n_")},
            }
        )
    return pd.DataFrame(rows)
