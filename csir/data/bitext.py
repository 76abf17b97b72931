"""Bitext-mining tasks: a source side, a target side and the gold translation pairs between them.

Two sources:

- **XQuAD-R** (or any parallel SQuAD-format folder, :func:`xquad_r_tasks`): its questions (and
  paragraphs) are translated one-to-one across languages under the same ids. A task keeps a
  seeded share of the source items' translations on the target side and mixes in non-parallel
  distractors from *other* articles, like the comparable corpora of BUCC: some sources have no
  translation at all, and the target side is mostly noise. Articles are split (seeded) into a
  dev split, which picks the mining threshold, and a test split, which is scored.
- **BUCC 2017/2018** files by path (:func:`load_bucc`): ``<id>\\t<sentence>`` per language and
  ``<src_id>\\t<tgt_id>`` gold lines, e.g. ``de-en.training.de``, ``de-en.training.en``,
  ``de-en.training.gold``.

Example:
    >>> tasks = xquad_r_tasks("de", "en", seed=0)  # doctest: +SKIP
    >>> tasks["test"].describe()  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from csir import io
from csir.errors import ConfigError, InputError

if TYPE_CHECKING:
    from csir.data.retrieval import Collection

#: What one mining item is: a question or a whole paragraph (both parallel in XQuAD-R).
UNITS = ("question", "paragraph")
#: The two splits of a task: ``dev`` chooses the threshold, ``test`` is scored.
SPLITS = ("dev", "test")


@dataclasses.dataclass(frozen=True)
class MiningTask:
    """One mining problem.

    Attributes:
        name: ``<dataset>/<unit>/<src>-<tgt>/<split>``.
        src_lang, tgt_lang: the two languages.
        src: source id → text, in a fixed order.
        tgt: target id → text, in a fixed order (translations and distractors mixed).
        gold: the ``(source id, target id)`` pairs that are translations.
        stats: counts of the builder (articles, distractors, pool sizes).
    """

    name: str
    src_lang: str
    tgt_lang: str
    src: dict[str, str]
    tgt: dict[str, str]
    gold: frozenset[tuple[str, str]]
    stats: dict[str, Any] = dataclasses.field(default_factory=dict)

    def describe(self) -> str:
        """One line: name and sizes."""
        return (
            f"{self.name}: {len(self.src)} sources, {len(self.tgt)} targets, "
            f"{len(self.gold)} gold pairs"
        )


# --------------------------------------------------------------------------- XQuAD-R


def _items(collection: Collection, unit: str) -> tuple[dict[str, str], dict]:
    """A language's items of ``unit`` (id → text) and each item's article, from its
    paragraph-task collection."""
    if unit == "paragraph":
        items = dict(collection.docs)
        paragraphs = {pid: pid for pid in items}
    else:
        # a question's paragraph is its relevant doc; unanswerable questions have none
        paragraphs = {qid: next(iter(rels)) for qid, rels in collection.qrels.items() if rels}
        items = {qid: text for qid, text in collection.queries.items() if qid in paragraphs}
    return items, {item: paragraphs[item].split("-")[0] for item in items}


def _sentences(folder: str | Path | None, lang: str) -> tuple[dict[str, str], dict]:
    from csir.data.retrieval import load_squad_collection

    collection = load_squad_collection(folder, lang, "sentence")
    return dict(collection.docs), {d: g.split("-")[0] for d, g in collection.doc_groups.items()}


def xquad_r_tasks(
    src_lang: str,
    tgt_lang: str,
    *,
    unit: str = "question",
    folder: str | Path | None = None,
    dev_share: float = 0.5,
    parallel_share: float = 0.5,
    distractors: float = 1.0,
    max_sources: int = 0,
    seed: int = 0,
) -> dict[str, MiningTask]:
    """The dev and test mining tasks of one language pair of a parallel SQuAD-format dataset.

    Articles are shuffled with ``seed`` and split: ``dev_share`` of them make the dev split, the
    rest the test split (the split is the same for every pair). In each split the source side
    holds every ``src_lang`` item of its articles (or a seeded ``max_sources`` of them); a seeded
    ``parallel_share`` of them keep their ``tgt_lang`` translation on the target side, the rest
    have none. ``distractors`` × the number of sources non-parallel ``tgt_lang`` texts from the
    *other* split's articles join the target side: items of the same unit, and for questions
    also the paragraphs' sentences (fewer when the pool is smaller; ``stats`` says how many).

    Args:
        src_lang, tgt_lang: the two languages (different).
        unit: ``"question"`` or ``"paragraph"``.
        folder: SQuAD-format folder of ``<lang>.json`` files; ``None``: XQuAD-R.
        dev_share: share of the articles in the dev split, in (0, 1).
        parallel_share: share of the sources whose translation is on the target side, (0, 1].
        distractors: distractor targets per source (>= 0).
        max_sources: sources per split at most (0: all).
        seed: seed of the article split and of every draw.

    Raises:
        ConfigError: a bad argument, or too few articles for two splits.
    """
    if unit not in UNITS:
        raise ConfigError(f"unit {unit!r} must be one of {UNITS}")
    if src_lang == tgt_lang:
        raise ConfigError(f"a mining pair needs two languages, got {src_lang}-{tgt_lang}")
    if not (0.0 < dev_share < 1.0 and 0.0 < parallel_share <= 1.0 and distractors >= 0.0):
        raise ConfigError(
            "need 0 < dev_share < 1, 0 < parallel_share <= 1 and distractors >= 0, got "
            f"{dev_share}, {parallel_share}, {distractors}"
        )
    from csir.data.retrieval import load_squad_collection, require_parallel

    sides = [load_squad_collection(folder, lang, "paragraph") for lang in (src_lang, tgt_lang)]
    require_parallel(sides)  # gold pairs and the article split match items by id
    src_items, article = _items(sides[0], unit)
    tgt_items, tgt_article = _items(sides[1], unit)
    shared = [item for item in src_items if item in tgt_items]
    pool = {item: tgt_items[item] for item in tgt_items}
    if unit == "question":
        sentences, sentence_article = _sentences(folder, tgt_lang)
        pool.update(sentences)
        tgt_article = {**tgt_article, **sentence_article}
    articles = sorted({article[item] for item in shared}, key=lambda a: (len(a), a))
    n_dev = round(dev_share * len(articles))
    if not 0 < n_dev < len(articles):
        raise ConfigError(
            f"{len(articles)} articles cannot make a dev and a test split at dev_share {dev_share}"
        )
    order = np.random.default_rng(seed).permutation(len(articles))
    by_split = {
        "dev": {articles[i] for i in order[:n_dev]},
        "test": {articles[i] for i in order[n_dev:]},
    }
    dataset = "xquad-r" if folder is None or str(folder) == "" else Path(folder).name
    tasks = {}
    for number, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, number])
        inside = by_split[split]
        sources = [item for item in shared if article[item] in inside]
        if max_sources and len(sources) > max_sources:
            keep = set(rng.choice(len(sources), max_sources, replace=False).tolist())
            sources = [item for i, item in enumerate(sources) if i in keep]
        if not sources:
            raise ConfigError(f"the {split} split of {src_lang}-{tgt_lang} has no {unit}s")
        n_parallel = max(1, round(parallel_share * len(sources)))
        parallel = [sources[i] for i in sorted(rng.choice(len(sources), n_parallel, False))]
        outside = [item for item in pool if tgt_article[item] not in inside]
        n_distractors = min(len(outside), round(distractors * len(sources)))
        chosen = [outside[i] for i in sorted(rng.choice(len(outside), n_distractors, False))]
        # distractor ids are prefixed: a paragraph of another article may share a translation's id
        targets = [(item, tgt_items[item]) for item in parallel]
        targets += [(f"x:{item}", pool[item]) for item in chosen]
        shuffled = [targets[i] for i in rng.permutation(len(targets))]
        tasks[split] = MiningTask(
            name=f"{dataset}/{unit}/{src_lang}-{tgt_lang}/{split}",
            src_lang=src_lang,
            tgt_lang=tgt_lang,
            src={item: src_items[item] for item in sources},
            tgt=dict(shuffled),
            gold=frozenset((item, item) for item in parallel),
            stats={
                "articles": len(inside),
                "distractors": n_distractors,
                "distractor_pool": len(outside),
            },
        )
    return tasks


# --------------------------------------------------------------------------- BUCC


def bucc_files(folder: str | Path, src_lang: str, tgt_lang: str, split: str) -> dict[str, Path]:
    """The three files of one BUCC split: ``src``, ``tgt`` and ``gold``.

    Looks for ``<folder>/<src>-<tgt>.<split>.<lang>`` and ``<folder>/<src>-<tgt>/…`` (the
    layout of the BUCC archives).

    Raises:
        InputError: naming the file that is missing.
    """
    stem = f"{src_lang}-{tgt_lang}.{split}"
    base = Path(folder).expanduser()
    for where in (base, base / f"{src_lang}-{tgt_lang}"):
        files = {
            "src": where / f"{stem}.{src_lang}",
            "tgt": where / f"{stem}.{tgt_lang}",
            "gold": where / f"{stem}.gold",
        }
        if files["src"].is_file():
            break
    for path in files.values():
        if not path.is_file():
            raise InputError(
                path, "BUCC file not found", fix=f"give a folder holding {stem}.<lang> and .gold"
            )
    return files


def read_bucc_sentences(path: str | Path) -> dict[str, str]:
    """One BUCC language file: ``<id>\\t<sentence>`` per line → id → sentence, in file order.

    Raises:
        InputError: naming the file and line of a line without a tab, an empty id or sentence,
            an id with whitespace, an id seen before, or a file without sentences.
    """
    path = Path(path)
    sentences: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, line in io.read_lines(path):
        if not line.strip():
            continue
        if "\t" not in line:
            raise InputError(
                path, "no tab between id and sentence", line=number, fix="write <id>\\t<sentence>"
            )
        item, text = line.split("\t", 1)
        if not item or item != item.strip() or len(item.split()) != 1:
            raise InputError(
                path, f"bad sentence id {item!r}", line=number, fix="ids are one word, no spaces"
            )
        if not text.strip():
            raise InputError(path, f"sentence {item!r} is empty", line=number)
        if item in sentences:
            raise InputError(
                path,
                f"sentence id {item!r} appears again (first on line {first_line[item]})",
                line=number,
                fix="give every sentence a unique id",
            )
        sentences[item], first_line[item] = text.strip(), number
    if not sentences:
        raise InputError(path, "no sentences", fix="give <id>\\t<sentence> lines")
    return sentences


def read_bucc_gold(
    path: str | Path, src: Mapping[str, str], tgt: Mapping[str, str]
) -> frozenset[tuple[str, str]]:
    """A BUCC gold file, ``<src_id>\\t<tgt_id>`` per line, checked against both sides' ids.

    Raises:
        InputError: naming the file and line of a line that is not two tab-separated ids, an id
            missing from its side, or a pair seen before.
    """
    path = Path(path)
    gold: dict[tuple[str, str], int] = {}
    for number, line in io.read_lines(path):
        if not line.strip():
            continue
        fields = line.strip().split("\t")
        if len(fields) != 2 or not all(fields):
            raise InputError(path, f"expected <src_id>\\t<tgt_id>, got {line!r}", line=number)
        pair = (fields[0], fields[1])
        for item, side, name in ((pair[0], src, "source"), (pair[1], tgt, "target")):
            if item not in side:
                raise InputError(
                    path,
                    f"{name} id {item!r} is not in the {name} sentence file",
                    line=number,
                    fix="use the gold file of the same pair and split",
                )
        if pair in gold:
            raise InputError(
                path, f"pair {pair} appears again (first on line {gold[pair]})", line=number
            )
        gold[pair] = number
    return frozenset(gold)


def load_bucc(folder: str | Path, src_lang: str, tgt_lang: str, split: str) -> MiningTask:
    """One split of a BUCC 2017/2018 pair (e.g. ``de``, ``en``, ``training``) by folder."""
    files = bucc_files(folder, src_lang, tgt_lang, split)
    src = read_bucc_sentences(files["src"])
    tgt = read_bucc_sentences(files["tgt"])
    return MiningTask(
        name=f"bucc/sentence/{src_lang}-{tgt_lang}/{split}",
        src_lang=src_lang,
        tgt_lang=tgt_lang,
        src=src,
        tgt=tgt,
        gold=read_bucc_gold(files["gold"], src, tgt),
        stats={"files": {k: str(v) for k, v in files.items()}},
    )
