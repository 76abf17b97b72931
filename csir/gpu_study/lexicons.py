"""Translate-Test's lexicons in the bundle: notebook 01's X→EN lexicons cut to the words of the
study's texts, checked to translate every one of those texts exactly as the full lexicons do."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from csir import io
from csir.errors import ConfigError, CsirError
from csir.gpu_study.plan import EVALUATION_NOTEBOOK, LEXICON_NOTEBOOK

ENGLISH = "en"


def translate_test_sources(evaluations: Sequence[Any], config_path: Path) -> dict[str, set[str]]:
    """``{lexicon source: languages}`` the Translate-Test of ``evaluations`` needs.

    Raises:
        ConfigError: an entry reads its lexicons from ``lexicon_induction_dir`` (the GPU side
            finds them only where notebook 01 writes them, inside the bundle's build folder).
    """
    from csir.gpu_study.plan import evaluation_languages

    needed: dict[str, set[str]] = {}
    for number, cfg in enumerate(evaluations, 1):
        if not cfg.translate_test:
            continue
        if cfg.lexicon_induction_dir:
            raise ConfigError(
                f"{config_path}: {EVALUATION_NOTEBOOK}[{number}] reads lexicons from "
                f"lexicon_induction_dir {cfg.lexicon_induction_dir!r}; the GPU bundle carries "
                "notebook 01's own lexicons: remove lexicon_induction_dir"
            )
        langs = set(evaluation_languages(cfg)) - {ENGLISH}
        needed.setdefault(cfg.lexicon_source, set()).update(langs)
    return needed


def pack_lexicons(
    needed: dict[str, set[str]],
    texts_by_lang: dict[str, Iterable[str]],
    lexicon_root: Path,
    stage: Path,
) -> tuple[dict[str, Any], list[str]]:
    """Copy each needed X→EN lexicon below ``stage``, keeping the lines whose source word occurs
    in that language's texts (as a token, or inside a run of a script written without spaces),
    and check that both versions translate every text alike.

    Args:
        needed: ``{source: languages}`` (:func:`translate_test_sources`).
        texts_by_lang: every query and document text of each language the study reads.
        lexicon_root: notebook 01's ``lexicons`` folder.
        stage: the bundle's root; files go to ``build/01_lexicon_induction/lexicons/``.

    Returns:
        The manifest entry (lines kept per file, texts checked) and every translated text (the
        compact backbone must cover them too).

    Raises:
        CsirError: a trimmed lexicon translates a text differently (naming it).
    """
    from csir.codeswitch.switch import normalise_lexicon, translate_terms
    from csir.data.retrieval import translation_lexicon_path
    from csir.lexicon.store import load_lexicon
    from csir.text import match_key, script_form

    info: dict[str, Any] = {"files": {}, "texts_checked": 0}
    translated: dict[str, None] = {}
    target_root = stage / "build" / LEXICON_NOTEBOOK / "lexicons"
    for source, langs in sorted(needed.items()):
        for lang in sorted(langs):
            texts = list(dict.fromkeys(texts_by_lang[lang]))
            full_path = translation_lexicon_path(lexicon_root, lang, source)
            if not full_path.is_file():
                raise CsirError(
                    f"{full_path}: Translate-Test needs this X→EN lexicon; run notebook 01 for "
                    f"{lang!r} with source {source!r} first"
                )
            full = normalise_lexicon(load_lexicon(full_path), lang)
            words = _lookup_keys(texts, lang, full.longest_unspaced())
            form = script_form(lang) or (lambda key: key)
            lines = full_path.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = [line for line in lines if form(match_key(line.split("\t")[0].strip())) in words]
            target = translation_lexicon_path(target_root, lang, source)
            target.parent.mkdir(parents=True, exist_ok=True)
            with io.atomic_write(target) as fh:
                fh.write("".join(kept))
            sidecar = full_path.with_suffix(".json")
            if sidecar.is_file():
                shutil.copyfile(sidecar, target.with_suffix(".json"))
            cut = normalise_lexicon(load_lexicon(target), lang)
            for text in texts:
                english = translate_terms(text, full)
                if translate_terms(text, cut) != english:
                    raise CsirError(
                        f"{target}: the cut {lang}-en lexicon translates {text[:80]!r} otherwise "
                        f"than {full_path}; report this (csir.gpu_study.lexicons)"
                    )
                translated[english] = None
            info["files"][target.relative_to(stage).as_posix()] = {
                "lines": len(kept),
                "of": len(lines),
            }
            info["texts_checked"] += len(texts)
    return info, list(translated)


def _lookup_keys(texts: Iterable[str], lang: str, longest_unspaced: int) -> set[str]:
    """Every key :func:`csir.codeswitch.translate_terms` may look up in ``texts``: each token,
    and each substring of up to ``longest_unspaced`` characters of a token's runs in scripts
    written without spaces (in the language's script form)."""
    from csir.codeswitch.switch import unspaced_runs
    from csir.text import Tokenized, match_key, script_form

    form = script_form(lang)
    keys: set[str] = set()
    for text in texts:
        for token in Tokenized.from_text(text if form is None else form(text)).tokens:
            keys.add(match_key(token))
            for _, _, chars in unspaced_runs(token) if longest_unspaced else ():
                for i in range(len(chars)):
                    stop = min(len(chars), i + longest_unspaced)
                    keys.update(chars[i:j] for j in range(i + 1, stop + 1))
    return keys
