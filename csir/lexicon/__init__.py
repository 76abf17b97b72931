"""Lexicons for code-switching: read, induce, evaluate and store bilingual word lists.

Modules (one job each):

- :mod:`~csir.lexicon.readers`: MUSE dictionaries, fastText ``.vec``, linguatools titles XML, TSV.
- :mod:`~csir.lexicon.induce`: nearest-neighbour and CSLS retrieval, chunked, CPU or GPU.
- :mod:`~csir.lexicon.wordvectors`: offline word vectors from the multilingual backbone.
- :mod:`~csir.lexicon.titles`: parallel entity titles (CLDR names offline, linguatools online).
- :mod:`~csir.lexicon.bli`: BLI precision@1 against MUSE test dictionaries.
- :mod:`~csir.lexicon.store`: lexicon TSV + JSON sidecar files and :func:`load_lexicon`.
- :mod:`~csir.lexicon.steps`: notebook 01's steps.

Only the light helpers are imported here; torch-based modules load when used.
"""

from csir.lexicon.readers import (
    WordVectors,
    read_muse_dictionary,
    read_muse_pairs,
    read_tsv_pairs,
    read_vec,
)
from csir.lexicon.store import SOURCES, lexicon_path, load_lexicon, write_lexicon

__all__ = [
    "SOURCES",
    "WordVectors",
    "lexicon_path",
    "load_lexicon",
    "read_muse_dictionary",
    "read_muse_pairs",
    "read_tsv_pairs",
    "read_vec",
    "write_lexicon",
]
