"""Code-switching throughput (lines/s): csir's sharded BL-CS against the authors' per-token loop.

Input: the query and passage texts of the WikiQA training pairs (natural text, as csir reads
them), in file order (query 1, passage 1, query 2, ...), cycled to ``--lines`` lines. Every
line is switched EN→DE with the MUSE en-de dictionary at p = ``--p``.

- **reference**: a faithful re-implementation of the authors' loop (CodeSwitchCLIR,
  ``codeswitch_clwe.py``): one process; per line Treebank tokenise, per token
  ``random.random() < p`` and a dictionary look-up (``random.choice`` among several
  translations), count content words, Treebank detokenise. NLTK as installed.
- **reference, stdlib-re tokenizer**: the same loop with csir's tokenizer/detokenizer (NLTK's
  patterns on stdlib ``re``), to show the tokenizer's share of the speed-up (measured once).
- **csir map**: :func:`csir.codeswitch.switch_dataset` with ``num_proc`` workers over the lines
  paired up as (query, passage) records in an on-disk Arrow table (as the pipeline reads its
  pairs), BL-CS ``de-de`` (both sides → DE); from opening the table to the switched Arrow table.
  The lexicon is normalised once beforehand (timed separately), as
  :func:`csir.codeswitch.generate_all` does for all its jobs.
- **csir generate**: :func:`csir.codeswitch.generate`, the same plus writing ``train.jsonl`` and
  ``stats.json``.

The machine may be shared, so the variants are interleaved: each round runs the reference and
then every csir variant, and speed-ups are per round (median over rounds reported).

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
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(fn: Callable[[], object]) -> tuple[float, float, object]:
    """Wall-clock seconds, CPU seconds and result of one call."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = fn()
    return time.perf_counter() - wall, cpu_seconds() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--p", type=float, default=0.5)
    parser.add_argument("--lang", default="de")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument(
        "--output", type=Path, default=REPO / "benchmarks" / "codeswitch_throughput.json"
    )
    args = parser.parse_args()

    import datasets
    import nltk
    from nltk.tokenize.treebank import TreebankWordDetokenizer, TreebankWordTokenizer

    from csir import codeswitch as cs
    from csir import io
    from csir import stopwords as stopwordlists
    from csir import text as textlib
    from csir.data import english_pairs

    datasets.disable_progress_bars()
    english = list(english_pairs.iter_wikiqa("train"))
    texts = [text for record in english for text in (record["query"], record["passage"])]
    lines = [texts[i % len(texts)] for i in range(args.lines)]
    n_records = len(lines) // 2
    lexicon = read_muse(io.locate(f"muse/en-{args.lang}.txt"))
    stopwords = stopwordlists.stopwords("en")
    print(f"{len(lines)} lines ({len(set(lines))} distinct), lexicon {len(lexicon)} words")

    start = time.process_time()
    lexicons = {args.lang: cs.normalise_lexicon(lexicon)}
    normalise_cpu = time.process_time() - start
    job = cs.Job("bl-cs", f"{args.lang}-{args.lang}", args.p, (args.lang,))
    columns = {
        "qid": [f"q{i}" for i in range(n_records)],
        "pid": [f"p{i}" for i in range(n_records)],
        "query": lines[0 : 2 * n_records : 2],
        "passage": lines[1 : 2 * n_records : 2],
        "label": [0] * n_records,
    }

    def reference(tok, detok) -> Callable[[], object]:
        return lambda: reference_loop(lines, lexicon, args.p, args.seed, stopwords, tok, detok)

    rounds: list[dict] = []
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "pairs"
        datasets.Dataset.from_dict(columns).save_to_disk(str(source))

        def csir_map(workers: int) -> object:
            pairs = datasets.load_from_disk(str(source))
            switcher = cs.RecordSwitcher(job, args.seed, stopwords, lexicons)
            target = Path(tempfile.mkdtemp(dir=work)) / "switched.arrow"
            return cs.switch_dataset(pairs, switcher, num_proc=workers, cache_file_name=str(target))

        def csir_generate(workers: int) -> dict:
            return cs.generate(
                datasets.load_from_disk(str(source)),
                job,
                output_dir=tempfile.mkdtemp(dir=work),
                seed=args.seed,
                stopwords=stopwords,
                lexicons=lexicons,
                num_proc=workers,
            )

        wall, cpu, _ = measure(reference(textlib.word_tokenizer(), textlib.word_detokenizer()))
        stdlib_reference = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}
        for number in range(args.rounds):
            entry: dict = {"load_average_1min_before": round(os.getloadavg()[0], 2)}
            wall, cpu, (_, switched, kept) = measure(
                reference(TreebankWordTokenizer(), TreebankWordDetokenizer())
            )
            entry["reference"] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}
            ratios["reference"] = switched / (switched + kept)
            for workers in args.workers:
                for name, fn in (("map", csir_map), ("generate", csir_generate)):
                    wall, cpu, result = measure(lambda fn=fn, workers=workers: fn(workers))
                    entry[f"csir_{name}_{workers}_workers"] = {
                        "wall_s": round(wall, 3),
                        "cpu_s": round(cpu, 3),
                        "speedup": round(entry["reference"]["wall_s"] / wall, 2),
                    }
                    if name == "generate":
                        ratios["csir"] = result["switch_ratio"]["by_language"]["all"]["ratio"]
            rounds.append(entry)
            print(f"round {number + 1}", entry)

    variants = [key for key in rounds[0] if key.startswith(("reference", "csir"))]
    summary = {}
    for key in variants:
        walls = [r[key]["wall_s"] for r in rounds]
        median = statistics.median(walls)
        summary[key] = {
            "median_wall_s": round(median, 3),
            "median_cpu_s": round(statistics.median(r[key]["cpu_s"] for r in rounds), 3),
            "lines_per_s": round(len(lines) / median, 1),
        }
        if key != "reference":
            speedups = [r[key]["speedup"] for r in rounds]
            summary[key]["median_speedup_vs_reference"] = round(statistics.median(speedups), 2)
            summary[key]["best_round_speedup"] = max(speedups)
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
        },
        "summary": summary,
        "reference_stdlib_re_tokenizer_once": stdlib_reference,
        "csir_normalise_lexicon_once_cpu_s": round(normalise_cpu, 3),
        "realised_switch_ratio": {
            "reference_non_stopword_tokens": round(ratios["reference"], 4),
            "csir_non_stopword_words": round(ratios["csir"], 4),
        },
        "rounds": rounds,
        "notes": "Speed-up = reference wall time / csir wall time within the same round. CPU "
        "seconds count this process plus the map workers. The reference counts every "
        "non-stopword token (punctuation included, as the authors did); csir counts words only.",
    }
    io.write_json(args.output, report)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
