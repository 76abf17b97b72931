"""Retrieval collections and the language pairs one evaluation run re-ranks.

A :class:`Collection` is one language's side of a dataset: queries, documents, relevance
judgements among *its own* documents, and a parallel id per document (``doc_groups``) shared
across languages. A :class:`RetrievalPair` puts queries of one language (or mixed) against
documents of another (or mixed), the paper's MoIR (X-X), CLIR (X-Y) and MLIR (with
:data:`MIXED` on either side) settings.

One module per job:

- :mod:`~csir.data.retrieval.collection`: the data model (:class:`Collection`,
  :class:`RetrievalPair`);
- :mod:`~csir.data.retrieval.pairs`: MoIR/CLIR/MLIR pairs from collections;
- :mod:`~csir.data.retrieval.translate_test`: pairs translated term by term into English;
- the sources below, one module each: :mod:`~csir.data.retrieval.squad`,
  :mod:`~csir.data.retrieval.trec`, :mod:`~csir.data.retrieval.irds`.

Sources:

- any folder of SQuAD-format files ``<lang>.json`` (:func:`load_squad_collection`; XQuAD-R when
  no folder is given), as question → paragraph or question → answer-sentence retrieval;
- a TREC-style triple of files (:func:`load_trec_collection`);
- ``ir_datasets`` ids such as ``mmarco/v2/de/dev/small`` (:func:`load_ir_dataset`, needs internet
  the first time).

Document ids are identical across languages where the data are parallel: paragraph ids
``"<article>-<paragraph>"``; sentence ids ``"<article>-<paragraph>-<sentence>"`` are not parallel
(sentence counts differ per language), their group (the paragraph id) is.

Example:
    >>> en = load_squad_collection(None, "en", "paragraph")  # doctest: +SKIP
    >>> de = load_squad_collection(None, "de", "paragraph")  # doctest: +SKIP
    >>> make_pair(en, de).describe()  # doctest: +SKIP
    'xquad-r/paragraph en-de (CLIR): 1190 queries, 240 docs, 1190 relevant'
"""

from csir.data.retrieval.collection import (
    ENGLISH,
    MIXED,
    TASKS,
    Collection,
    LanguageFileNotFoundError,
    RetrievalPair,
    misaligned_question,
    pairs_table,
)
from csir.data.retrieval.irds import ir_dataset_id, ir_record_text, load_ir_dataset, with_documents
from csir.data.retrieval.pairs import (
    draw_language,
    load_pair,
    make_mixed_pair,
    make_pair,
    require_parallel,
    restrict_queries,
    select_queries,
)
from csir.data.retrieval.squad import (
    available_languages,
    load_squad_collection,
    split_sentences,
    squad_file,
)
from csir.data.retrieval.translate_test import (
    load_translation_lexicons,
    require_translation_lexicons,
    translate_pair,
    translation_lexicon_path,
)
from csir.data.retrieval.trec import load_trec_collection, read_corpus, read_queries_tsv

__all__ = [
    "ENGLISH",
    "MIXED",
    "TASKS",
    "Collection",
    "LanguageFileNotFoundError",
    "RetrievalPair",
    "available_languages",
    "draw_language",
    "ir_dataset_id",
    "ir_record_text",
    "load_ir_dataset",
    "load_pair",
    "load_squad_collection",
    "load_translation_lexicons",
    "require_translation_lexicons",
    "load_trec_collection",
    "make_mixed_pair",
    "make_pair",
    "misaligned_question",
    "require_parallel",
    "pairs_table",
    "read_corpus",
    "read_queries_tsv",
    "restrict_queries",
    "select_queries",
    "split_sentences",
    "squad_file",
    "translate_pair",
    "translation_lexicon_path",
    "with_documents",
]
