"""Code-switching throughput (lines/s): csir's sharded BL-CS against the authors' per-token loop.

Input: the query and passage texts of the WikiQA training pairs (natural text, as csir reads
them), in file order (query 1, passage 1, query 2, ...), cycled to ``--lines`` lines. Both
sides switch every line EN→DE with the MUSE en-de dictionary at p = ``--p``.

- **reference**: a faithful re-implementation of the authors' loop (CodeSwitchCLIR,
  ``codeswitch_clwe.py``): one process; per line Treebank tokenise, per token
  ``random.random() < p`` and a dictionary look-up (``random.choice`` among several
  translations), count content words, Treebank detokenise. NLTK as installed.
- **reference, stdlib-re tokenizer**: the same loop with csir's tokenizer/detokenizer (NLTK's
  patterns on stdlib ``re``), to separate the tokenizer's share of the speed-up.
- **csir map**: :func:`csir.codeswitch.switch_dataset` over a ``datasets.Dataset`` of the lines
  paired up as (query, passage) records and saved as an on-disk Arrow table (as the pipeline
  reads its pairs), BL-CS ``de-de`` (both sides → DE), ``num_proc`` workers; from opening the
  table to the switched Arrow table. The lexicon is normalised once
  beforehand (timed separately), as :func:`csir.codeswitch.generate_all` does for all its jobs.
- **csir generate**: :func:`csir.codeswitch.generate`, the same plus writing ``train.jsonl`` and
  ``stats.json``.

Run from the repository root::

    CSIR_DATA_DIR=/path/to/mirror python benchmarks/codeswitch_throughput.py
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def read_muse(path: Path) -> dict[str, list[str]]:
    """MUSE dictionary (``src tgt`` per line) as ``{src: [tgt, ...]}``."""
    lexicon: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) == 2:
                lexicon.setdefault(fields[0], []).append(fields[1])
    return lexicon


def reference_loop(
    lines: list[str], lexicon: dict[str, list[str]], p: float, seed: int, stopwords, tok, detok
) -> tuple[list[str], int, int]:
    """The authors' per-token loop (one process, ``random`` module, Treebank round trip)."""
    random.seed(seed)
    out = []
    switched_count = kept_count = 0
    for line in lines:
        switched = []
        for token in tok.tokenize(line):
            is_content_word = token not in stopwords
            if random.random() < p and token.lower() in lexicon:
                translations = lexicon[token.lower()]
                switched.append(
                    translations[0] if len(translations) == 1 else random.choice(translations)
                )
                switched_count += is_content_word
            else:
                switched.append(token)
                kept_count += is_content_word
        out.append(detok.detokenize(switched))
    return out, switched_count, kept_count


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the map workers)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], list[float], object]:
    """Wall-clock and CPU seconds of ``repeat`` calls, and the last result."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), cpu_seconds()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(cpu_seconds() - cpu)
    return walls, cpus, result


def summary(walls: list[float], cpus: list[float], lines: int) -> dict[str, float | list[float]]:
    best, median = min(walls), statistics.median(walls)
    return {
        "seconds": [round(t, 3) for t in walls],
        "cpu_seconds": [round(t, 3) for t in cpus],
        "best_s": round(best, 3),
        "median_s": round(median, 3),
        "median_cpu_s": round(statistics.median(cpus), 3),
        "lines_per_s_best": round(lines / best, 1),
        "lines_per_s_median": round(lines / median, 1),
    }


def record(results: dict[str, dict], key: str, entry: dict) -> None:
    """Add a csir measurement with its speed-ups over the reference (wall clock and CPU time)."""
    reference = results["reference"]
    entry["speedup_vs_reference_median"] = round(
        entry["lines_per_s_median"] / reference["lines_per_s_median"], 2
    )
    entry["cpu_time_ratio_reference_over_csir"] = round(
        reference["median_cpu_s"] / entry["median_cpu_s"], 2
    )
    results[key] = entry
    print(key, entry)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--p", type=float, default=0.5)
    parser.add_argument("--lang", default="de")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each csir variant")
    parser.add_argument("--reference-repeat", type=int, default=2)
    parser.add_argument(
        "--output", type=Path, default=REPO / "benchmarks" / "codeswitch_throughput.json"
    )
    args = parser.parse_args()

    import datasets
    import nltk
    from nltk.tokenize.treebank import TreebankWordDetokenizer, TreebankWordTokenizer

    from csir import codeswitch as cs
    from csir import io
    from csir import text as textlib
    from csir.data import training

    datasets.disable_progress_bars()
    english = list(training.iter_wikiqa("train"))
    texts = [text for record in english for text in (record["query"], record["passage"])]
    lines = [texts[i % len(texts)] for i in range(args.lines)]
    lexicon = read_muse(io.locate(f"muse/en-{args.lang}.txt"))
    stopwords = textlib.stopwords("en")
    print(f"{len(lines)} lines ({len(set(lines))} distinct), lexicon {len(lexicon)} words")

    results: dict[str, dict] = {}
    ref_walls, ref_cpus, (ref_out, ref_cs, ref_nocs) = timed(
        lambda: reference_loop(
            lines,
            lexicon,
            args.p,
            args.seed,
            stopwords,
            TreebankWordTokenizer(),
            TreebankWordDetokenizer(),
        ),
        args.reference_repeat,
    )
    results["reference"] = summary(ref_walls, ref_cpus, len(lines))
    results["reference"]["content_word_switch_ratio"] = round(ref_cs / (ref_cs + ref_nocs), 4)
    print("reference", results["reference"])

    fast_walls, fast_cpus, _ = timed(
        lambda: reference_loop(
            lines,
            lexicon,
            args.p,
            args.seed,
            stopwords,
            textlib.word_tokenizer(),
            textlib.word_detokenizer(),
        ),
        args.reference_repeat,
    )
    results["reference_stdlib_re_tokenizer"] = summary(fast_walls, fast_cpus, len(lines))
    print("reference, stdlib-re tokenizer", results["reference_stdlib_re_tokenizer"])

    n_records = len(lines) // 2
    columns = {
        "qid": [f"q{i}" for i in range(n_records)],
        "pid": [f"p{i}" for i in range(n_records)],
        "query": lines[0 : 2 * n_records : 2],
        "passage": lines[1 : 2 * n_records : 2],
        "label": [0] * n_records,
    }
    job = cs.Job("bl-cs", f"{args.lang}-{args.lang}", args.p, (args.lang,))
    # Lexicon preparation happens once per lexicon (generate_all does it before its jobs), like
    # loading the dictionary the reference gets; it is timed on its own.
    start = time.process_time()
    lexicons = {args.lang: cs.normalise_lexicon(lexicon)}
    results["csir_normalise_lexicon_once"] = {"cpu_s": round(time.process_time() - start, 3)}
    with tempfile.TemporaryDirectory() as work:
        # The pipeline reads its English pairs from an on-disk Arrow table (memory-mapped, so
        # workers get file references, not copies); loading the lines is not timed for the
        # reference either.
        source = Path(work) / "pairs"
        datasets.Dataset.from_dict(columns).save_to_disk(str(source))
        for workers in args.workers:

            def run_map(workers=workers) -> object:
                pairs = datasets.load_from_disk(str(source))
                switcher = cs.RecordSwitcher(job, args.seed, stopwords, lexicons)
                target = Path(tempfile.mkdtemp(dir=work)) / "switched.arrow"
                return cs.switch_dataset(
                    pairs, switcher, num_proc=workers, cache_file_name=str(target)
                )

            walls, cpus, _ = timed(run_map, args.repeat)
            record(results, f"csir_map_{workers}_workers", summary(walls, cpus, 2 * n_records))

            def run_generate(workers=workers) -> dict:
                pairs = datasets.load_from_disk(str(source))
                return cs.generate(
                    pairs,
                    job,
                    output_dir=tempfile.mkdtemp(dir=work),
                    seed=args.seed,
                    stopwords=stopwords,
                    lexicons=lexicons,
                    num_proc=workers,
                )

            walls, cpus, stats = timed(run_generate, args.repeat)
            entry = summary(walls, cpus, 2 * n_records)
            entry["realised_switch_ratio"] = round(
                stats["switch_ratio"]["by_language"]["all"]["ratio"], 4
            )
            record(results, f"csir_generate_{workers}_workers", entry)

    report = {
        "benchmark": "code-switching throughput, BL-CS EN->" + args.lang.upper(),
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "input": {
            "lines": len(lines),
            "distinct_lines": len(set(lines)),
            "source": "WikiQA-train query and passage texts (csir reader, detokenised), "
            "in file order, cycled",
            "lexicon": f"MUSE en-{args.lang} ({len(lexicon)} source words)",
            "p": args.p,
            "seed": args.seed,
        },
        "machine": {
            "nproc": os.cpu_count(),
            "sched_affinity": len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else None,
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "nltk": nltk.__version__,
            "datasets": datasets.__version__,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "notes": "Speed-ups compare median wall-clock lines/s of the same run; CPU-time ratios "
        "(this process plus map workers) are given too, as the machine is shared. The reference "
        "counts every non-stopword token as a content word (punctuation included, as the "
        "authors did); csir counts words only, so its realised ratio is higher.",
        "results": results,
    }
    io.write_json(args.output, report)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
