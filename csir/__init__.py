"""csir: cross-lingual re-ranking trained on artificially code-switched data."""

__version__ = "0.1.0"
