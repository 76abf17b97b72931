"""Data readers: English training pairs (:mod:`~csir.data.training`) and retrieval collections.

Submodules are imported on use, so importing :mod:`csir.data` loads nothing heavy.
"""
