"""English training pairs (``qid, pid, query, passage, label``): WikiQA and MS MARCO triples.

Readers are generators that check their input and raise :class:`~csir.errors.InputError`
naming the file and line; the ``*_dataset`` functions stream them into an on-disk
``datasets.Dataset`` (Arrow), so MS MARCO-sized inputs never sit in memory.

- **WikiQA** (Microsoft Research WikiQA, research-only licence): ``WikiQA-<split>.txt`` is tokenised
  ``question<TAB>sentence<TAB>label``; ``WikiQA-<split>.ref`` gives ``qno 0 sno label`` in the same
  line order. Ids are ``wikiqa-<split>-q<qno>`` and ``wikiqa-<split>-q<qno>-s<sno>``; texts are
  detokenised back to natural text with the Treebank detokenizer. Found in the data mirror
  (``english-train/WikiQACorpus/``), the download cache, or downloaded as the official zip.
- **MS MARCO text triples** at a path you give: TSV ``query<TAB>positive<TAB>negative`` (e.g.
  ``triples.train.small.tsv``) or JSON lines ``{"query", "positive", "negative"}`` /
  ``{"query", "positive", "negatives": [...]}``, optionally gzipped. Pairs get labels 1/0 at a
  ratio of 1 positive to ``negatives_per_positive`` (4 in the paper) negatives: with one
  negative per line, line ``i`` gives its positive when ``i % (k + 1) == 0`` and its negative
  otherwise (the rule of the sentence-transformers MS MARCO cross-encoder script the paper used);
  with a ``negatives`` list, each line gives its positive and up to ``k`` negatives. Ids are
  ``msmarco-q<hash>``/``msmarco-p<hash>`` of the text (a JSONL ``qid`` is kept). The id-only
  triples (``qidpidtriples``) are not supported.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import urllib.error
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from csir import io, paths
from csir import text as textlib
from csir.errors import ConfigError, DataNotFoundError, InputError

WIKIQA_URL = (
    "https://download.microsoft.com/download/E/5/F/E5FCFCEE-7005-4814-853D-DAA7C66507E0/"
    "WikiQACorpus.zip"
)
#: Mirror-relative folder of the WikiQA files (also their place in the download cache).
WIKIQA_DIR = "english-train/WikiQACorpus"
WIKIQA_SPLITS = ("train", "dev", "test")
SOURCES = ("wikiqa", "msmarco")
#: Bumped when the readers' output changes, so cached Arrow copies are rebuilt.
_READER_VERSION = 2  # 2: a question grouped wherever its lines stand


def _features():
    import datasets

    return datasets.Features(
        {
            "qid": datasets.Value("string"),
            "pid": datasets.Value("string"),
            "query": datasets.Value("string"),
            "passage": datasets.Value("string"),
            "label": datasets.Value("int64"),
        }
    )


# --------------------------------------------------------------------------------------- WikiQA


def locate_wikiqa(filename: str) -> Path:
    """Find a WikiQA file (e.g. ``"WikiQA-train.txt"``): mirror, cache, else the official zip.

    The zip is downloaded into the cache (``<CSIR_CACHE_DIR>/data/english-train/``) and its
    ``WikiQACorpus/`` members are extracted beside it.

    Raises:
        DataNotFoundError: naming every place looked (and the URL, unless offline).
    """
    relpath = f"{WIKIQA_DIR}/{filename}"
    try:
        return io.locate(relpath)
    except DataNotFoundError as exc:
        looked = [entry for entry in exc.looked if "no public URL" not in entry]
    if paths.offline():
        raise DataNotFoundError(relpath, [*looked, f"{WIKIQA_URL} (not tried: offline mode)"])
    try:
        _fetch_wikiqa_zip(WIKIQA_URL)
    except (urllib.error.URLError, OSError, TimeoutError, zipfile.BadZipFile) as exc:
        raise DataNotFoundError(
            relpath, [*looked, f"{WIKIQA_URL} ({type(exc).__name__}: {exc})"]
        ) from None
    cached = io.download_cache() / relpath
    if cached.is_file():
        return cached
    raise DataNotFoundError(relpath, [*looked, f"{WIKIQA_URL} (the zip holds no {filename})"])


def _fetch_wikiqa_zip(url: str) -> None:
    """Download the WikiQA zip into the cache and extract its ``WikiQACorpus/`` files."""
    root = io.download_cache() / "english-train"
    archive = root / "WikiQACorpus.zip"
    if not archive.is_file():
        io.download(url, archive)
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            name = PurePosixPath(member.filename)
            if member.is_dir() or name.is_absolute() or ".." in name.parts:
                continue
            if name.parts[0] != "WikiQACorpus":
                continue
            with zf.open(member) as src, io.atomic_write(root.joinpath(*name.parts), "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)


def iter_wikiqa(
    split: str = "train",
    *,
    max_pairs: int = 0,
    txt_path: str | Path | None = None,
    ref_path: str | Path | None = None,
) -> Iterator[dict]:
    """Yield WikiQA pairs of a split as ``{qid, pid, query, passage, label}``, in file order.

    Args:
        split: ``train``, ``dev`` or ``test``.
        max_pairs: stop after this many pairs (0: all).
        txt_path: the tokenised ``.txt`` (default: located with :func:`locate_wikiqa`).
        ref_path: the matching ``.ref`` (default: located likewise).

    Raises:
        InputError: wrong field counts, a label not in {0, 1}, ``.txt``/``.ref`` disagreeing on
            a label or on the number of lines, empty text, or bytes that are not UTF-8.
    """
    if split not in WIKIQA_SPLITS:
        raise ConfigError(f"WikiQA split {split!r} must be one of {WIKIQA_SPLITS}")
    txt = Path(txt_path) if txt_path else locate_wikiqa(f"WikiQA-{split}.txt")
    ref = Path(ref_path) if ref_path else locate_wikiqa(f"WikiQA-{split}.ref")
    detokenized: dict[str, str] = {}  # questions repeat once per candidate sentence

    def natural(tokens: str, number: int) -> str:
        if tokens not in detokenized:
            detokenized[tokens] = textlib.detokenize(tokens.split())
        if not detokenized[tokens]:
            raise InputError(txt, "empty question or sentence", line=number)
        return detokenized[tokens]

    ref_lines = io.read_lines(ref)
    for count, (number, line) in enumerate(io.read_lines(txt)):
        if max_pairs and count >= max_pairs:
            return
        ref_line = next(ref_lines, None)
        if ref_line is None:
            raise InputError(ref, f"has fewer lines than {txt.name} (which has line {number})")
        fields = line.split("\t")
        if len(fields) != 3:
            raise InputError(
                txt,
                f"expected 3 tab-separated fields (question, sentence, label), got {len(fields)}",
                line=number,
            )
        question, sentence, label = fields
        if label not in ("0", "1"):
            raise InputError(txt, f"label must be 0 or 1, got {label!r}", line=number)
        ref_number, ref_text = ref_line
        ref_fields = ref_text.split()
        if len(ref_fields) != 4 or not all(f.isdigit() for f in ref_fields):
            raise InputError(ref, "expected 4 integers 'qno 0 sno label'", line=ref_number)
        qno, _, sno, ref_label = ref_fields
        if ref_label != label:
            raise InputError(
                txt,
                f"label {label} disagrees with {ref.name} line {ref_number} ({ref_label})",
                line=number,
            )
        yield {
            "qid": f"wikiqa-{split}-q{qno}",
            "pid": f"wikiqa-{split}-q{qno}-s{sno}",
            "query": natural(question, number),
            "passage": natural(sentence, number),
            "label": int(label),
        }
    if not max_pairs and next(ref_lines, None) is not None:
        raise InputError(ref, f"has more lines than {txt.name}")


# ------------------------------------------------------------------------------------ MS MARCO


def _open_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line_number, line)`` of a plain or gzipped UTF-8 text file."""
    if path.suffix != ".gz":
        yield from io.read_lines(path)
        return
    with gzip.open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:  # a byte-order mark is skipped, as io.read_lines does for plain files
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise InputError(path, "not valid UTF-8", line=number) from None


def _text_id(prefix: str, text: str) -> str:
    return prefix + hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def _triple_format(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    last = suffixes[-1] if suffixes else ""
    if last in (".tsv", ".txt"):
        return "tsv"
    if last in (".jsonl", ".json"):
        return "jsonl"
    raise ConfigError(
        f"{path}: cannot tell the triples format from the name; use .tsv or .jsonl (optionally .gz)"
    )


def _check_text(value, path: Path, number: int, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(path, f"{what} must be a non-empty string", line=number)
    return value.strip()


def iter_msmarco_triples(
    path: str | Path, *, negatives_per_positive: int = 4, max_pairs: int = 0
) -> Iterator[dict]:
    """Yield labelled pairs from MS MARCO text triples (TSV or JSONL, optionally gzipped).

    Args:
        path: the triples file.
        negatives_per_positive: negatives per positive (the paper: 4).
        max_pairs: stop after this many pairs (0: all).

    Raises:
        DataNotFoundError: the file does not exist.
        InputError: a malformed line (named by number).
    """
    path = Path(path)
    if negatives_per_positive < 1:
        raise ConfigError("negatives_per_positive must be >= 1")
    if not path.is_file():
        raise DataNotFoundError(str(path), [f"{path} (no such file)"])
    fmt = _triple_format(path)
    period = negatives_per_positive + 1
    count = 0
    line_index = 0
    for number, line in _open_lines(path):
        if not line.strip():
            continue
        qid = None
        grouped = False
        if fmt == "tsv":
            fields = line.split("\t")
            if len(fields) != 3:
                raise InputError(
                    path,
                    f"expected 3 tab-separated fields (query, positive, negative), "
                    f"got {len(fields)}",
                    line=number,
                )
            negatives = [_check_text(fields[2], path, number, "negative")]
            query = _check_text(fields[0], path, number, "query")
            positive = _check_text(fields[1], path, number, "positive")
        else:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(path, f"invalid JSON: {exc.msg}", line=number) from None
            if not isinstance(obj, dict):
                raise InputError(path, "each line must be a JSON object", line=number)
            query = _check_text(obj.get("query"), path, number, "query")
            positive = _check_text(obj.get("positive"), path, number, "positive")
            grouped = "negatives" in obj
            if grouped:
                if not isinstance(obj["negatives"], list) or not obj["negatives"]:
                    raise InputError(path, "negatives must be a non-empty list", line=number)
                negatives = [_check_text(n, path, number, "negative") for n in obj["negatives"]]
            else:
                negatives = [_check_text(obj.get("negative"), path, number, "negative")]
            if obj.get("qid") is not None:
                qid = str(obj["qid"])
        qid = qid or _text_id("msmarco-q", query)
        if grouped:
            chosen = [(positive, 1)] + [(n, 0) for n in negatives[:negatives_per_positive]]
        elif line_index % period == 0:
            chosen = [(positive, 1)]
        else:
            chosen = [(negatives[0], 0)]
        line_index += 1
        for passage, label in chosen:
            if max_pairs and count >= max_pairs:
                return
            yield {
                "qid": qid,
                "pid": _text_id("msmarco-p", passage),
                "query": query,
                "passage": passage,
                "label": label,
            }
            count += 1


# ------------------------------------------------------------------------------------ datasets


def _stamp(*files: Path) -> str:
    """Identity of input files for the Arrow cache: path, size, modification time.

    A string, because ``datasets`` treats list-valued generator arguments as shards.
    """
    return json.dumps([[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files])


def balance_pairs(records: Iterable[dict], negatives_per_positive: int) -> Iterator[dict]:
    """The paper's ratio: per question, its positives and the first ``k`` × as many negatives.

    Questions come out in the order of their first record, each with its records in their
    order, wherever they stand in the input (WikiQA's files keep a question's lines together;
    other files need not). A question without a positive is dropped: it would only teach the
    base rate. ``negatives_per_positive=0`` keeps every record as it is.

    Example:
        >>> rows = [{"qid": "a", "label": 0}, {"qid": "a", "label": 1}, {"qid": "a", "label": 0},
        ...         {"qid": "b", "label": 0}]
        >>> [r["label"] for r in balance_pairs(rows, 1)]
        [0, 1]
    """
    if negatives_per_positive < 0:
        raise ConfigError("negatives_per_positive must be >= 0 (0 keeps every pair)")
    if negatives_per_positive == 0:
        yield from records
        return
    questions: dict[str, list[dict]] = {}
    for record in records:
        questions.setdefault(record["qid"], []).append(record)
    for group in questions.values():
        positives = sum(1 for record in group if record["label"])
        budget = negatives_per_positive * positives
        for record in group:
            if record["label"]:
                yield record
            elif budget > 0:
                budget -= 1
                yield record


def _wikiqa_generator(split, max_pairs, negatives_per_positive, txt, ref, stamp, version):
    pairs = balance_pairs(iter_wikiqa(split, txt_path=txt, ref_path=ref), negatives_per_positive)
    yield from itertools.islice(pairs, max_pairs or None)


def _msmarco_generator(path, negatives_per_positive, max_pairs, stamp, version):
    yield from iter_msmarco_triples(
        path, negatives_per_positive=negatives_per_positive, max_pairs=max_pairs
    )


def _from_generator(generator, gen_kwargs: dict, cache_dir: str | Path | None):
    import datasets

    cache = Path(cache_dir) if cache_dir else paths.cache_dir() / "datasets"
    return datasets.Dataset.from_generator(
        generator, features=_features(), cache_dir=str(cache), gen_kwargs=gen_kwargs
    )


def wikiqa_dataset(
    split: str = "train", *, max_pairs: int = 0, negatives_per_positive: int = 0, cache_dir=None
):
    """WikiQA pairs of a split as an on-disk ``datasets.Dataset`` (see :func:`iter_wikiqa`).

    ``negatives_per_positive > 0`` applies :func:`balance_pairs` before ``max_pairs``.
    """
    if split not in WIKIQA_SPLITS:
        raise ConfigError(f"WikiQA split {split!r} must be one of {WIKIQA_SPLITS}")
    txt = locate_wikiqa(f"WikiQA-{split}.txt")
    ref = locate_wikiqa(f"WikiQA-{split}.ref")
    kwargs = {
        "split": split,
        "max_pairs": max_pairs,
        "negatives_per_positive": negatives_per_positive,
        "txt": str(txt),
        "ref": str(ref),
        "stamp": _stamp(txt, ref),
        "version": _READER_VERSION,
    }
    return _from_generator(_wikiqa_generator, kwargs, cache_dir)


def msmarco_dataset(
    path: str | Path, *, negatives_per_positive: int = 4, max_pairs: int = 0, cache_dir=None
):
    """MS MARCO text-triple pairs as an on-disk ``datasets.Dataset``, streamed from the file."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(str(path), [f"{path} (no such file)"])
    _triple_format(path)
    kwargs = {
        "path": str(path),
        "negatives_per_positive": negatives_per_positive,
        "max_pairs": max_pairs,
        "stamp": _stamp(path),
        "version": _READER_VERSION,
    }
    return _from_generator(_msmarco_generator, kwargs, cache_dir)


def load_training_pairs(
    source: str = "wikiqa",
    split: str = "train",
    *,
    path: str | Path = "",
    max_pairs: int = 0,
    negatives_per_positive: int | None = None,
    cache_dir: str | Path | None = None,
):
    """English training pairs as a ``datasets.Dataset`` with ``qid, pid, query, passage, label``.

    Args:
        source: ``"wikiqa"`` (split from the mirror/cache/download) or ``"msmarco"`` (``path``).
        split: WikiQA split (ignored for MS MARCO).
        path: MS MARCO triples file.
        max_pairs: keep only the first pairs (0: all).
        negatives_per_positive: negatives kept per positive. ``None``: the source's default
            (MS MARCO 4, as in the paper; WikiQA every pair). For WikiQA, a positive count
            drops questions without a correct answer (see :func:`balance_pairs`).
        cache_dir: where ``datasets`` keeps the Arrow copy (default ``<CSIR_CACHE_DIR>/datasets``).
    """
    if source == "wikiqa":
        return wikiqa_dataset(
            split,
            max_pairs=max_pairs,
            negatives_per_positive=negatives_per_positive or 0,
            cache_dir=cache_dir,
        )
    if source == "msmarco":
        if not path:
            raise ConfigError("source 'msmarco' needs the path of a triples file (train_path)")
        return msmarco_dataset(
            path,
            negatives_per_positive=4 if negatives_per_positive is None else negatives_per_positive,
            max_pairs=max_pairs,
            cache_dir=cache_dir,
        )
    raise ConfigError(f"training source {source!r} must be one of {SOURCES}")
