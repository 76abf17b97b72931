"""SQuAD-format files (``<lang>.json``; XQuAD-R when no folder is given) as question → paragraph
or question → answer-sentence collections."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from csir import io
from csir.data.retrieval.collection import (
    TASKS,
    Collection,
    LanguageFileNotFoundError,
)
from csir.data.xquad_r import locate_xquad_r
from csir.errors import ConfigError, InputError
from csir.runs import Qrels

# --------------------------------------------------------------------------- SQuAD-format files


def available_languages(folder: str | Path) -> tuple[str, ...]:
    """Language codes of the ``<lang>.json`` files in a folder, sorted."""
    return tuple(sorted(p.stem for p in Path(folder).glob("*.json") if p.is_file()))


def squad_file(folder: str | Path | None, lang: str) -> Path:
    """The ``<lang>.json`` of a folder, or XQuAD-R's (mirror → cache → download) for ``None``/"".

    Raises:
        LanguageFileNotFoundError: the folder has no such file; the message lists its languages.
        ConfigError: ``folder`` is None and ``lang`` is not an XQuAD-R language.
    """
    if folder is None or str(folder) == "":
        return locate_xquad_r(lang)
    folder = Path(folder)
    if not folder.is_dir():
        raise LanguageFileNotFoundError(
            f"{folder}: no such folder of SQuAD-format <lang>.json files; give an existing "
            "folder, or None for XQuAD-R"
        )
    path = folder / f"{lang}.json"
    if not path.is_file():
        have = available_languages(folder)
        raise LanguageFileNotFoundError(
            f"{path}: the folder has no file for language {lang!r}; it has: "
            f"{', '.join(have) if have else '(no <lang>.json files)'}. Pick one of those "
            f"languages or add {lang}.json (SQuAD format) to the folder"
        )
    return path


_SENTENCE_END = re.compile(r"(?<=[.!?;。！？।؟።])\s+|(?<=[。！？])")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``, by punctuation (the fallback splitter).

    Splits after ``. ! ? ;`` and the Devanagari, Arabic and CJK full stops when whitespace
    follows, and after CJK full stops always. Whitespace between sentences belongs to none.
    Thai (no sentence punctuation) stays one sentence per paragraph.
    """
    spans = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.start() > start:
            spans.append((start, match.start()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return [(s, e) for s, e in _strip_spans(text, spans) if e > s]


def _strip_spans(text: str, spans: Iterable[tuple[int, int]]) -> Iterable[tuple[int, int]]:
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        yield s, e


def _paragraph_sentences(
    path: Path, where: str, paragraph: Mapping[str, Any], context: str
) -> tuple[list[tuple[int, int]], list[str], str]:
    """Sentence spans, texts and the method used: breaks, located sentences, or the regex."""
    breaks = paragraph.get("sentence_breaks")
    sentences = paragraph.get("sentences")
    if breaks is not None:
        spans = []
        # An empty list or overlapping spans would leave an answer in no sentence or in two,
        # and mark the wrong one relevant.
        items = breaks if isinstance(breaks, list) and breaks else [None]
        for index, item in enumerate(items):
            if (
                not isinstance(item, list | tuple)
                or len(item) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in item)
                or not (spans[-1][1] if spans else 0) <= item[0] <= item[1] <= len(context)
            ):
                raise InputError(
                    path,
                    f"{where}: sentence_breaks[{index}] = {item!r} is not a [start, end] pair "
                    f"inside the context ({len(context)} characters) after the previous one",
                    fix="fix or remove sentence_breaks (sentences are then split by punctuation)",
                )
            spans.append((item[0], item[1]))
        if isinstance(sentences, list) and len(sentences) == len(spans):
            texts = [str(s) for s in sentences]
        else:
            texts = [context[s:e] for s, e in spans]
        return spans, texts, "sentence_breaks"
    if isinstance(sentences, list) and sentences:
        spans, position = [], 0
        for index, sentence in enumerate(sentences):
            start = context.find(str(sentence).strip(), position)
            if start < 0 or not str(sentence).strip():
                raise InputError(
                    path,
                    f"{where}: sentences[{index}] is not found in the context after character "
                    f"{position}",
                    fix="give sentence_breaks, or sentences that are verbatim parts of the context",
                )
            end = start + len(str(sentence).strip())
            spans.append((start, end))
            position = end
        return spans, [str(s) for s in sentences], "sentences"
    spans = split_sentences(context)
    return spans, [context[s:e] for s, e in spans], "punctuation"


def _sentence_of(spans: Sequence[tuple[int, int]], offset: int) -> tuple[int | None, bool]:
    """Index of the sentence holding ``offset`` (else the next one), and whether it held it."""
    for index, (start, end) in enumerate(spans):
        if start <= offset < end:
            return index, True
    following = [i for i, (start, _) in enumerate(spans) if start >= offset]
    return (following[0] if following else None), False


def load_squad_collection(
    folder: str | Path | None, lang: str, task: str, dataset: str = ""
) -> Collection:
    """Load one language of a SQuAD-format dataset as a retrieval collection.

    Paragraph task: the docs are the paragraphs (ids ``"<article>-<paragraph>"``, 0-based), the
    relevant doc of a question is the paragraph that holds it (unless ``is_impossible``).
    Sentence task: the docs are the paragraphs' sentences (ids
    ``"<article>-<paragraph>-<sentence>"``, group = the paragraph id); relevant are the
    sentences whose span contains an answer's ``answer_start`` (the next sentence when the
    offset falls between sentences). Spans come from ``sentence_breaks``, else from locating
    ``sentences`` in the context, else from :func:`split_sentences`; ``stats["sentence_split"]``
    says which was used.

    Args:
        folder: folder of ``<lang>.json`` files; ``None`` or ``""`` for XQuAD-R.
        lang: language code (the file's stem).
        task: ``"paragraph"`` or ``"sentence"``.
        dataset: name for reports; defaults to ``"xquad-r"`` or the folder name.

    Raises:
        ConfigError: unknown task.
        LanguageFileNotFoundError: the folder lacks ``<lang>.json`` (lists what it has).
        InputError: malformed JSON or structure, an empty question, a duplicate id or one
            with whitespace, answers that are not a list of objects, a non-integer
            ``answer_start`` or one that does not point at its text, a non-boolean
            ``is_impossible``, or ``sentence_breaks`` that are empty, out of order or overlap
            (naming the file and the question id).
    """
    if task not in TASKS:
        raise ConfigError(f"task {task!r} must be one of {TASKS}")
    path = squad_file(folder, lang)
    dataset = dataset or ("xquad-r" if folder is None or str(folder) == "" else Path(folder).name)
    raw = io.read_json(path)
    articles = raw.get("data") if isinstance(raw, dict) else None
    if not isinstance(articles, list):
        raise InputError(
            path,
            'not SQuAD format: the top level must be an object with a "data" list of articles',
            fix="give a SQuAD v1.1/v2.0-style JSON file",
        )

    queries: dict[str, str] = {}
    docs: dict[str, str] = {}
    qrels: Qrels = {}
    groups: dict[str, str] = {}
    methods: set[str] = set()
    stats = {"articles": len(articles), "paragraphs": 0, "questions_without_answer": 0}
    if task == "sentence":
        stats.update(answers_between_sentences=0, answers_after_last_sentence=0)
    for a, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise InputError(path, f'article {a}: no "paragraphs" list', fix="fix the article")
        for p, paragraph in enumerate(paragraphs):
            where = f"article {a} paragraph {p}"
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            qas = paragraph.get("qas", []) if isinstance(paragraph, dict) else None
            if not isinstance(context, str) or not context.strip():
                raise InputError(path, f"{where}: empty or missing context", fix="give its text")
            if not isinstance(qas, list):
                raise InputError(path, f'{where}: "qas" is not a list', fix="fix the paragraph")
            stats["paragraphs"] += 1
            paragraph_id = f"{a}-{p}"
            if task == "paragraph":
                docs[paragraph_id] = context
                groups[paragraph_id] = paragraph_id
                spans: list[tuple[int, int]] = []
            else:
                spans, texts, method = _paragraph_sentences(path, where, paragraph, context)
                methods.add(method)
                for s, text in enumerate(texts):
                    if text.strip():
                        docs[f"{paragraph_id}-{s}"] = text
                        groups[f"{paragraph_id}-{s}"] = paragraph_id
            for qa in qas:
                qid, question, answers = _question(path, where, qa, context)
                if qid in queries:
                    raise InputError(
                        path,
                        f"{where}: question id {qid!r} appears twice",
                        fix="give every question a unique id",
                    )
                queries[qid] = question
                if not answers:
                    stats["questions_without_answer"] += 1
                if task == "paragraph":
                    if not qa.get("is_impossible", False):
                        qrels[qid] = {paragraph_id: 1}
                    continue
                relevant: dict[str, int] = {}
                for offset in answers:
                    index, inside = _sentence_of(spans, offset)
                    if index is None:
                        stats["answers_after_last_sentence"] += 1
                        continue
                    if not inside:
                        stats["answers_between_sentences"] += 1
                    docid = f"{paragraph_id}-{index}"
                    if docid in docs:
                        relevant[docid] = 1
                if relevant:
                    qrels[qid] = relevant
    if not queries:
        raise InputError(path, "no questions found", fix="give a file with at least one question")
    if task == "sentence":
        stats["sentence_split"] = "+".join(sorted(methods))
    return Collection(
        dataset=dataset,
        task=task,
        lang=lang,
        queries=queries,
        docs=docs,
        qrels=qrels,
        doc_groups=groups,
        source=str(path),
        stats=stats,
    )


def _question(path: Path, where: str, qa: Any, context: str) -> tuple[str, str, list[int]]:
    """Validated ``(id, question, answer offsets)`` of one SQuAD ``qas`` entry."""
    if (
        not isinstance(qa, dict)
        or not isinstance(qa.get("id"), str | int)
        or isinstance(qa["id"], bool)
        or qa["id"] == ""
    ):
        raise InputError(path, f"{where}: a question has no id", fix='give each question an "id"')
    qid = str(qa["id"])
    if any(ch.isspace() for ch in qid):
        raise InputError(
            path,
            f"{where}: question id {qid!r} contains whitespace, which TREC run files cannot hold",
            fix="rename the question (e.g. replace spaces by '_')",
        )
    if not isinstance(qa.get("is_impossible", False), bool):
        # "false" (a string) is true in Python: the question would lose its relevant paragraph.
        raise InputError(
            path,
            f"{where}: question {qid!r} has is_impossible {qa['is_impossible']!r}",
            fix="write is_impossible as JSON true or false, or leave it out",
        )
    question = qa.get("question")
    if not isinstance(question, str) or not question.strip():
        raise InputError(
            path,
            f"{where}: question {qid!r} is empty",
            fix="give the question its text or remove it from the file",
        )
    answers = qa.get("answers") or []
    if not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
        raise InputError(
            path,
            f"{where}: question {qid!r} has answers {answers!r:.80}, not a list of objects",
            fix='write "answers": [{"text": ..., "answer_start": ...}, ...]',
        )
    offsets = []
    for answer in answers:
        start = answer.get("answer_start")
        if not isinstance(start, int) or isinstance(start, bool):
            raise InputError(
                path,
                f"{where}: question {qid!r} has answer_start {start!r}, not an integer",
                fix="answer_start is the answer's character offset in the context, e.g. 42",
            )
        if not 0 <= start < len(context):
            raise InputError(
                path,
                f"{where}: question {qid!r} has answer_start {start!r} outside its context "
                f"({len(context)} characters)",
                fix="fix the answer offset",
            )
        text = answer.get("text")
        if isinstance(text, str) and text and context[start : start + len(text)] != text:
            # Offsets counted in another unit (bytes, normalised text) would silently mark
            # the wrong sentence relevant.
            raise InputError(
                path,
                f"{where}: question {qid!r}: the context at answer_start {start} reads "
                f"{context[start : start + len(text)]!r}, not the answer text {text!r}",
                fix="answer_start must count characters of the context as written (Python str "
                "indices, not bytes)",
            )
        offsets.append(start)
    return qid, question.strip(), offsets
