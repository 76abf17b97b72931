"""Data readers: English training pairs (:mod:`~csir.data.english_pairs`) and retrieval collections.

Submodules are imported on use, so importing :mod:`csir.data` loads nothing heavy.
"""
