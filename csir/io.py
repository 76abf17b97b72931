"""File plumbing shared by every stage: atomic writes, strict UTF-8 reading, data look-up.

Data look-up order for a file named by its mirror-relative path (e.g. ``"muse/en-de.txt"``):
1. the local mirror (``CSIR_DATA_DIR``), 2. the download cache (``<CSIR_CACHE_DIR>/data``),
3. the public URLs given by the caller (skipped when offline). A file found nowhere raises
:class:`~csir.errors.DataNotFoundError` naming every place looked.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import math
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from csir import paths
from csir.errors import CsirError, DataNotFoundError, InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The process's umask, read once: mkstemp creates files readable by their owner only (0600),
#: so results written through it would be unreadable to the group that shares a build folder.
_UMASK = _umask()


def _as_created_by_open(fd: int) -> None:
    """Give a ``mkstemp`` file the permissions ``open`` would (``0666`` less the umask)."""
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o666 & ~_UMASK)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds.

    An interrupted or failing writer leaves no partial ``path`` behind.

    Example:
        >>> with atomic_write(tmp / "out.tsv") as fh:  # doctest: +SKIP
        ...     fh.write("a\\tb\\n")
    """
    binary = "b" in mode
    with (
        atomic_path(path) as pending,
        open(pending, mode, encoding=None if binary else encoding) as fh,
    ):
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for writers that want a file name (e.g. pyarrow).

    The temporary file is renamed onto ``path`` when the block succeeds and removed otherwise.
    """
    path = Path(path)
    with _disk_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        _as_created_by_open(fd)
    os.close(fd)
    try:
        with _disk_errors(path):
            yield Path(tmp_name)
            os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _remove_stale_temporaries(path)


#: errno values that mean "this place cannot take the file" rather than a bug.
_DISK_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}
#: A temporary file of a writer killed this long ago is removed by the next write of its target.
STALE_TEMPORARY_S = 3600.0


@contextlib.contextmanager
def _disk_errors(path: Path) -> Iterator[None]:
    """Turn a read-only, forbidden or full disk into one :class:`CsirError` naming ``path``."""
    try:
        yield
    except OSError as err:
        if err.errno not in _DISK_ERRNOS:
            raise
        raise CsirError(
            f"cannot write {path}: {err.strerror or err}; give an output folder you can write to "
            "(output_dir or CSIR_BUILD_DIR) on a disk with free space"
        ) from err


def _remove_stale_temporaries(path: Path) -> None:
    """Delete ``path``'s temporary files left by writers killed over an hour ago (a SIGKILL
    cannot clean up); younger ones may belong to a writer still at work."""
    now = time.time()
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            if now - leftover.stat().st_mtime > STALE_TEMPORARY_S:
                leftover.unlink()


def read_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` of a UTF-8 text file, without the line ending.

    A byte-order mark at the start of the file is not part of the first line. A byte sequence
    that is not UTF-8 raises :class:`InputError` naming the file and line.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            elif number == 1 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise InputError(
                    path,
                    "the file is UTF-16 (it starts with a UTF-16 byte-order mark)",
                    fix="re-encode it as UTF-8, e.g. iconv -f utf-16 -t utf-8",
                )
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = raw[exc.start : exc.start + 4]
                raise InputError(
                    path,
                    f"not valid UTF-8 (byte {exc.start} of the line: {bad!r})",
                    line=number,
                    fix="re-encode the file as UTF-8, e.g. iconv -f latin1 -t utf-8",
                ) from None
            text = text.rstrip("\r\n")
            if number == 1 and "\r" in text:
                # Old Mac line ends (CR only) would make the whole file one line. Only the first
                # line is checked: a stray \r inside a later field (some web corpora have them)
                # is content, not a line end.
                raise InputError(
                    path,
                    "a carriage return (\\r) inside the first line: the file's lines end with CR "
                    "only, or a field holds a raw line break",
                    line=number,
                    fix="end lines with \\n (e.g. tr '\\r' '\\n'), or remove the stray \\r",
                )
            yield number, text


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as pretty, key-sorted UTF-8 JSON, atomically.

    Non-finite numbers (NaN, ±inf, Python or numpy, at any depth of dicts, lists and tuples) are
    written as ``null``: JSON has no such numbers and :func:`read_json` refuses them.
    """
    with atomic_write(path) as fh:
        json.dump(json_safe(obj), fh, ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False)
        fh.write("\n")


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, ±inf, also numpy's) replaced by None, numpy
    scalars made Python numbers, and tuples made lists (as JSON writes them)."""
    import numpy as np

    if isinstance(obj, dict):
        return {key: json_safe(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(value) for value in obj]
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        return value if math.isfinite(value) else None
    return obj


def require_outputs(files: Sequence[str | Path], notebook: str, parameter: str) -> None:
    """One :class:`CsirError` naming ``notebook`` when any of ``files`` (its outputs) is absent.

    ``parameter`` is the reader's parameter that points at the notebook's ``output_dir``.
    """
    missing = [Path(f) for f in files if not Path(f).is_file()]
    if missing:
        names = ", ".join(f.name for f in missing)
        verb = "is" if len(missing) == 1 else "are"
        raise CsirError(
            f"missing {', '.join(map(str, missing))}: {names} {verb} written by notebook "
            f"{notebook}; run it first, or point {parameter} at its output_dir"
        )


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _NotJson(ValueError):
    """What Python's json reads but csir refuses: ``NaN``/``Infinity`` (no JSON numbers) and a
    key repeated in one object (json would keep its last value)."""


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose key repeats is refused: Python's json would keep the last value."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        repeated = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _NotJson(f"the key {repeated!r} appears twice in one object")
    return out


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses ``NaN``, ``Infinity``, ``-Infinity`` and repeated keys."""
    return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)


def loads_yaml(text: str) -> Any:
    """``yaml.safe_load`` that refuses a key repeated in one mapping (PyYAML keeps the last
    value, so a section given twice would silently lose the first). Raises ``yaml.YAMLError``
    with the repeated key's line."""
    import yaml

    class _UniqueKeyLoader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *anchor``, merged below
                continue
            key = loader.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
            except TypeError:  # an unhashable key: construct_mapping names it
                continue
            first = seen.setdefault(key, key_node.start_mark.line + 1)
            if repeated:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"found the key {key!r} again (first on line {first}): give each key once",
                    key_node.start_mark,
                )  # fmt: skip
        return loader.construct_mapping(node, deep=True)

    _UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def read_json(path: str | Path) -> Any:
    """Read a JSON file (a byte-order mark is skipped); malformed JSON, ``NaN``/``Infinity``
    (not JSON numbers) or a key repeated in one object raises :class:`InputError`."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return json.load(fh, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON: {exc.msg}", line=exc.lineno) from None
    except _NotJson as exc:
        raise InputError(
            path, str(exc), fix="write finite numbers (or null) and each key once per object"
        ) from None
    except UnicodeDecodeError:
        raise InputError(path, "not valid UTF-8", fix="re-encode the file as UTF-8") from None


def iter_jsonl_records(path: str | Path, *, fix: str = "") -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)`` for each non-blank line of a JSON-lines file.

    Raises:
        InputError: naming the file and line, for a line that is not valid JSON or not a JSON
            object (with ``fix`` as the suggested fix).
    """
    for number, line in read_lines(path):
        if not line.strip():
            continue
        try:
            record = loads_strict(line)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"invalid JSON: {exc.msg}", line=number, fix=fix) from None
        except _NotJson as exc:
            raise InputError(path, str(exc), line=number, fix=fix) from None
        if not isinstance(record, dict):
            raise InputError(path, "a JSON object is expected", line=number, fix=fix)
        yield number, record


def read_jsonl(path: str | Path) -> Iterator[dict]:
    """Yield the records (JSON objects) of a JSON-lines file, as :func:`iter_jsonl_records`."""
    for _, record in iter_jsonl_records(path):
        yield record


def download_cache() -> Path:
    """Folder where downloaded data files are kept, mirror-relative paths below it."""
    return paths.cache_dir() / "data"


def local_data_roots() -> list[Path]:
    """Where data files are found on disk, in the order :func:`locate` looks: the local mirror
    (``CSIR_DATA_DIR``, when set), then the download cache."""
    mirror = paths.data_mirror()
    return [*([mirror] if mirror is not None else []), download_cache()]


def find_local(relpath: str) -> Path | None:
    """The file at mirror-relative ``relpath`` on disk (:func:`local_data_roots`), or None;
    never downloads."""
    return next((r / relpath for r in local_data_roots() if (r / relpath).is_file()), None)


def locate(relpath: str, urls: Sequence[str] = ()) -> Path:
    """Find a data file by its mirror-relative path, downloading it when allowed.

    Args:
        relpath: path inside the mirror layout, e.g. ``"muse/en-de.txt"``.
        urls: public URLs of the same file, tried in order when it is not on disk.

    Returns:
        The local path of the file.

    Raises:
        DataNotFoundError: naming the mirror path, the cache path and every URL tried.
    """
    found = find_local(relpath)
    if found is not None:
        return found
    mirror = paths.data_mirror()
    cached = download_cache() / relpath
    looked = [
        f"{mirror / relpath} (local mirror, CSIR_DATA_DIR)"
        if mirror is not None
        else "local mirror: CSIR_DATA_DIR is not set",
        f"{cached} (download cache, CSIR_CACHE_DIR)",
    ]
    if not urls:
        looked.append("no public URL is known for this file")
    for url in urls:
        if paths.offline():
            looked.append(f"{url} (not tried: offline mode)")
            continue
        try:
            download(url, cached)
            return cached
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            looked.append(f"{url} ({type(exc).__name__}: {exc})")
    raise DataNotFoundError(relpath, looked)


def download(url: str, target: Path, timeout: float = 30.0) -> Path:
    """Stream ``url`` into ``target`` atomically (no partial file on failure)."""
    with urllib.request.urlopen(url, timeout=timeout) as response, atomic_write(target, "wb") as fh:
        shutil.copyfileobj(response, fh, length=1 << 20)
    return target
