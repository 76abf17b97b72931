"""Artificial code-switching of English training pairs (BL-CS, ML-CS, Wiki-CS) and Translate-Test.

- :mod:`~csir.codeswitch.switch`: pure per-text functions (lexicons, stopwords and a
  ``random.Random`` or ``numpy.random.Generator`` in, replacements out) and switch-ratio counting.
- :mod:`~csir.codeswitch.jobs`: the training sets to generate (method, pair, p) and their lexicons.
- :mod:`~csir.codeswitch.switcher`: the seeded switching of one job's records, batch by batch.
- :mod:`~csir.codeswitch.generation`: seeded, sharded generation of training files with
  ``datasets`` (``train/<method>/<pair>/p=<p>/train.jsonl`` + ``stats.json``).
- :mod:`~csir.codeswitch.report`: tables of realised switch ratios and example records.
"""

from csir.codeswitch.generation import (
    RECORD_KEYS,
    generate,
    generate_all,
    switch_dataset,
    write_dev_set,
    write_jsonl_records,
)
from csir.codeswitch.jobs import CODE_MIXED, Job, lexicon_languages, load_lexicons, plan_jobs
from csir.codeswitch.switch import (
    NormalisedLexicon,
    PhraseLexicon,
    Replacement,
    bilingual,
    content_mask,
    count_switches,
    multilingual,
    normalise_lexicon,
    normalise_phrase_lexicon,
    phrase_key,
    switch_ratio,
    translate_terms,
    wiki,
)
from csir.codeswitch.switcher import RecordSwitcher

__all__ = [
    "CODE_MIXED",
    "RECORD_KEYS",
    "Job",
    "NormalisedLexicon",
    "PhraseLexicon",
    "RecordSwitcher",
    "Replacement",
    "bilingual",
    "content_mask",
    "count_switches",
    "generate",
    "generate_all",
    "lexicon_languages",
    "load_lexicons",
    "multilingual",
    "normalise_lexicon",
    "normalise_phrase_lexicon",
    "phrase_key",
    "plan_jobs",
    "switch_dataset",
    "switch_ratio",
    "translate_terms",
    "wiki",
    "write_dev_set",
    "write_jsonl_records",
]
