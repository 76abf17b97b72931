"""Readers for the lexicon inputs: MUSE dictionaries, fastText ``.vec``, linguatools titles, TSV.

Every reader checks its input and raises :class:`~csir.errors.InputError` naming the file, the
line and the fix; non-UTF-8 bytes are caught by :func:`csir.io.read_lines`.

Files are found with :func:`csir.io.locate` (local mirror → download cache → public URL), so the
same call works offline with ``CSIR_DATA_DIR`` and online without it.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from csir import io, languages
from csir.errors import ConfigError, DataNotFoundError, InputError

MUSE_DICT_URL = "https://dl.fbaipublicfiles.com/arrival/dictionaries/{src}-{tgt}.txt"
MUSE_TEST_URL = "https://dl.fbaipublicfiles.com/arrival/dictionaries/{src}-{tgt}.5000-6500.txt"
MUSE_VEC_URL = "https://dl.fbaipublicfiles.com/arrival/vectors/wiki.multi.{lang}.vec"
#: linguatools publishes each pair as a separately hosted archive (Dropbox links) listed on this
#: page; there is no URL pattern to derive, so online users pass the link of their pair as ``urls``.
WIKITITLES_PAGE = "https://linguatools.org/tools/corpora/wikipedia-parallel-titles-corpora/"

_WIKITITLES_NAME = re.compile(r"wikititles-2014_([a-z]{2})([a-z]{2})\.xml$")
_MAX_REPORTED_LINES = 5


def _check_pair(src: str, tgt: str) -> None:
    languages.check_language(src)
    languages.check_language(tgt)


def muse_dictionary_path(src: str, tgt: str, split: str = "full") -> Path:
    """Locate a MUSE dictionary: ``split="full"`` (``muse/``) or ``"test"`` (5000–6500 pairs).

    Args:
        src: source language code, e.g. ``"en"``.
        tgt: target language code, e.g. ``"de"``.
        split: ``"full"`` for the ground-truth dictionary, ``"test"`` for the BLI test split.

    Raises:
        ConfigError: an unknown language code or split.
        DataNotFoundError: the file is neither in the mirror, the cache nor downloadable.
    """
    _check_pair(src, tgt)
    if split == "full":
        return io.locate(f"muse/{src}-{tgt}.txt", [MUSE_DICT_URL.format(src=src, tgt=tgt)])
    if split == "test":
        return io.locate(
            f"muse-test/{src}-{tgt}.5000-6500.txt", [MUSE_TEST_URL.format(src=src, tgt=tgt)]
        )
    raise ConfigError(f"MUSE split {split!r} must be 'full' or 'test'")


def muse_vectors_path(lang: str) -> Path:
    """Locate MUSE aligned fastText vectors ``muse-vec/wiki.multi.<lang>.vec``."""
    languages.check_language(lang)
    return io.locate(f"muse-vec/wiki.multi.{lang}.vec", [MUSE_VEC_URL.format(lang=lang)])


def read_muse_pairs(path: str | Path) -> list[tuple[str, str]]:
    """Read a MUSE dictionary (``src tgt`` per line, any whitespace) as pairs in file order.

    Blank lines are skipped. A word may occur on several lines (several translations).

    Raises:
        InputError: a line without exactly two fields, bytes that are not UTF-8, or a file
            without any pair (an empty dictionary would switch or score nothing, silently).
    """
    pairs: list[tuple[str, str]] = []
    for number, line in io.read_lines(path):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise InputError(
                path,
                f"expected 2 whitespace-separated fields (source target), got {len(fields)}: "
                f"{line[:80]!r}",
                line=number,
                fix="a MUSE dictionary holds one 'source target' pair per line",
            )
        pairs.append((fields[0], fields[1]))
    if not pairs:
        raise InputError(
            path,
            "the dictionary holds no 'source target' pair (the file is empty or blank)",
            fix="fetch the file again (an interrupted download?) or point to a non-empty one",
        )
    return pairs


def pairs_to_dict(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Group pairs into ``{source: [targets...]}``, keeping first-seen order, dropping repeats."""
    lexicon: dict[str, list[str]] = {}
    for src, tgt in pairs:
        targets = lexicon.setdefault(src, [])
        if tgt not in targets:
            targets.append(tgt)
    return lexicon


def read_muse_dictionary(path: str | Path) -> dict[str, list[str]]:
    """Read a MUSE dictionary as ``{source: [targets in file order]}``."""
    return pairs_to_dict(read_muse_pairs(path))


def read_tsv_pairs(path: str | Path) -> list[tuple[str, str]]:
    """Read a plain ``src<TAB>tgt`` lexicon (phrases may contain spaces) as pairs in file order.

    Blank lines are skipped.

    Raises:
        InputError: a line without exactly one tab, an empty side, or non-UTF-8 bytes.
    """
    pairs: list[tuple[str, str]] = []
    for number, line in io.read_lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise InputError(
                path,
                f"expected 'source<TAB>target', got {len(fields)} tab-separated field(s): "
                f"{line[:80]!r}",
                line=number,
                fix="write one translation per line as source, one tab, target",
            )
        pairs.append((fields[0].strip(), fields[1].strip()))
    return pairs


@dataclasses.dataclass(frozen=True)
class WordVectors:
    """Words and their vectors (row ``i`` of ``vectors`` belongs to ``words[i]``).

    Attributes:
        words: the vocabulary in file (frequency) order.
        vectors: float32 matrix of shape ``(len(words), dim)``.
        skipped_lines: 1-based line numbers of lines that were skipped as malformed.
        duplicates: how many repeated words were dropped (the first occurrence wins).
    """

    words: list[str]
    vectors: np.ndarray
    skipped_lines: tuple[int, ...] = ()
    duplicates: int = 0

    @property
    def n_skipped(self) -> int:
        """Number of malformed lines skipped while reading."""
        return len(self.skipped_lines)

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self.vectors.shape[1])

    def index(self) -> dict[str, int]:
        """``{word: row}`` for look-ups."""
        return {word: i for i, word in enumerate(self.words)}


def read_vec(path: str | Path, max_words: int | None = None) -> WordVectors:
    """Read fastText/MUSE text vectors: a header ``n_words dim``, then ``word v1 ... v_dim``.

    A line whose vector has the wrong number of values (MUSE's ``wiki.multi.*.vec`` files have
    such corrupt lines) or a value that is not a number is skipped, counted and reported in a
    warning with the first line numbers, as MUSE's own loader does. Repeated words keep their first
    vector.

    Args:
        path: the ``.vec`` file.
        max_words: stop after this many words (the files are frequency-sorted); ``None``: all.

    Returns:
        :class:`WordVectors` with a float32 matrix.

    Raises:
        InputError: a missing or malformed header, bytes that are not UTF-8, a value that is
            not finite (NaN, inf), a file that ends before the vectors its header declares
            (a cut download) or goes on after them, or no readable vector at all.
    """
    lines = io.read_lines(path)
    first = next(lines, None)
    header = first[1].split() if first else []
    if len(header) != 2 or not all(part.isdigit() for part in header) or int(header[1]) == 0:
        raise InputError(
            path,
            f"bad header {first[1][:80] if first else ''!r}; expected 'n_words dim'",
            line=1,
            fix="a .vec file starts with a line holding the word count and the dimension",
        )
    n_declared, dim = int(header[0]), int(header[1])
    limit = n_declared if max_words is None else min(max_words, n_declared)
    words: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[str] = set()
    skipped: list[int] = []
    duplicates = 0
    read = 0  # vector lines read, good or not
    last = 0  # number of the last line read
    for number, line in lines:
        if len(words) >= limit:
            if limit == n_declared:
                _refuse_vectors_beyond_header(path, n_declared, number, line, lines)
            break
        read += 1
        last = number
        # fastText separates with single spaces; a word may hold other (unicode) whitespace.
        parts = line.rstrip(" ").split(" ")
        if len(parts) != dim + 1 or not parts[0]:
            skipped.append(number)
            continue
        try:
            row = np.asarray(parts[1:], dtype=np.float32)
        except ValueError:
            skipped.append(number)
            continue
        if not np.isfinite(row).all():
            raise InputError(
                path,
                f"the vector of {parts[0]!r} holds a value that is not finite (NaN or inf)",
                line=number,
                fix="re-download or re-create the file; vectors must be finite numbers",
            )
        if parts[0] in seen:
            duplicates += 1
            continue
        seen.add(parts[0])
        words.append(parts[0])
        rows.append(row)
    if skipped and skipped[-1] == last and _ends_mid_line(path):
        raise InputError(
            path,
            f"the file ends in the middle of a vector (line {last:,} has no line end and not "
            f"{dim} numbers)",
            line=last,
            fix="the file was cut short (an interrupted download?): fetch it again",
        )
    if skipped:
        shown = ", ".join(map(str, skipped[:_MAX_REPORTED_LINES]))
        more = "" if len(skipped) <= _MAX_REPORTED_LINES else ", ..."
        warnings.warn(
            f"{path}: skipped {len(skipped)} line(s) without exactly {dim} numbers "
            f"(lines {shown}{more})",
            stacklevel=2,
        )
    if len(words) < limit and read < n_declared:
        raise InputError(
            path,
            f"the file ends after {read:,} of the {n_declared:,} vectors its header declares",
            fix="the file was cut short (an interrupted download?): fetch it again",
        )
    if not rows:
        raise InputError(
            path,
            f"no line holds a word and exactly {dim} numbers, as the header "
            f"{first[1][:80]!r} declares",
            fix="check that the header's dimension matches the vectors (word v1 ... v_dim, "
            "separated by single spaces)",
        )
    return WordVectors(words, np.stack(rows), tuple(skipped), duplicates)


def _refuse_vectors_beyond_header(
    path: str | Path, n_declared: int, number: int, line: str, rest: Iterator[tuple[int, str]]
) -> None:
    """Raise when a non-blank line follows the ``n_declared`` words the header declares: reading
    on would ignore the rest of the file without a word."""
    for extra, text in itertools.chain([(number, line)], rest):
        if text.strip():
            raise InputError(
                path,
                f"the file holds more than the {n_declared:,} vectors its header declares",
                line=extra,
                fix="set the header's word count (its first number) to the number of vectors, "
                "or remove the lines after them",
            )


def _ends_mid_line(path: str | Path) -> bool:
    """True when the file's last byte is not a line end: a download cut inside a line."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        if fh.tell() == 0:
            return False
        fh.seek(-1, 2)
        return fh.read(1) not in (b"\n", b"\r")


def _wikititles_languages(path: Path) -> tuple[str, str]:
    match = _WIKITITLES_NAME.search(path.name)
    if not match:
        raise InputError(
            path,
            "file name does not match 'wikititles-2014_<xx><yy>.xml'",
            fix=f"keep the original linguatools file name ({WIKITITLES_PAGE})",
        )
    return match.group(1), match.group(2)


def wikititles_path(src: str, tgt: str, urls: Sequence[str] = ()) -> Path:
    """Locate ``wikititles/wikititles-2014_<xx><yy>.xml`` for a pair (file names sort the codes).

    Args:
        src: one language of the pair.
        tgt: the other language.
        urls: download links of the unpacked XML; linguatools lists them on
            :data:`WIKITITLES_PAGE` (one hosted archive per pair, no URL pattern).
    """
    _check_pair(src, tgt)
    first, second = sorted((src, tgt))
    name = f"wikititles/wikititles-2014_{first}{second}.xml"
    try:
        return io.locate(name, urls)
    except DataNotFoundError as exc:
        hint = f"download the {first}{second} archive listed on {WIKITITLES_PAGE} and unpack it"
        raise DataNotFoundError(name, [*exc.looked, hint]) from None


def iter_wikititles(path: str | Path, src: str, tgt: str) -> Iterator[tuple[str, str]]:
    """Stream ``(src_title, tgt_title)`` pairs from a linguatools ``wikititles-2014_<xx><yy>.xml``.

    The root's children (``<translation id=...>``) each hold ``<entry lang="xx">title</entry>``
    elements; a child lacking either language is skipped. Parsed with ``iterparse`` and cleared as
    it goes, so the multi-gigabyte files stream in constant memory.

    Raises:
        InputError: a file name that does not name the pair, or malformed XML (with its line).
    """
    path = Path(path)
    pair = _wikititles_languages(path)
    _check_pair(src, tgt)
    if {src, tgt} != set(pair):
        raise InputError(
            path,
            f"file holds {pair[0]}-{pair[1]} titles, not {src}-{tgt}",
            fix="pass the file of the requested language pair",
        )
    depth = 0
    root: ET.Element | None = None
    titles: dict[str, str] = {}
    try:
        for event, element in ET.iterparse(path, events=("start", "end")):
            if event == "start":
                depth += 1
                if root is None:
                    root = element
                continue
            depth -= 1
            if element.tag == "entry" and depth >= 2:
                lang = element.get("lang")
                text = (element.text or "").strip()
                if lang and text and lang not in titles:
                    titles[lang] = text
            elif depth == 1:  # a direct child of the root: one translation unit ends
                if src in titles and tgt in titles:
                    yield titles[src], titles[tgt]
                titles = {}
                root.clear()  # drop finished units so memory stays flat
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise InputError(
            path,
            f"malformed XML: {exc}",
            line=line,
            fix="re-download the file; it must be well-formed UTF-8 XML",
        ) from None
