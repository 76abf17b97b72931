"""Notebook parameters as frozen dataclasses that reject unknown names, wrong types, bad values.

Papermill only warns on unknown parameters; every notebook therefore turns its parameters cell
into one of these right away::

    cfg = LexiconConfig.from_params(globals_of_parameters_cell)

One module per notebook (``lexicon`` 01, ``data_generation`` 02, ``training`` 03, ``evaluation``
04, ``significance`` 05, ``figures`` 06, ``mining`` 07) on the machinery of :mod:`csir.config.base`.
"""

from csir.config.base import PARAMETER_NAMES_KEY, NotebookConfig, params_from_namespace
from csir.config.data_generation import DataGenerationConfig
from csir.config.evaluation import MLIR_LANGUAGES, EvaluationConfig
from csir.config.figures import FiguresConfig
from csir.config.lexicon import LEXICON_SOURCES, LexiconConfig
from csir.config.mining import MiningConfig
from csir.config.significance import SignificanceConfig
from csir.config.training import TrainingConfig

__all__ = [
    "LEXICON_SOURCES",
    "MLIR_LANGUAGES",
    "PARAMETER_NAMES_KEY",
    "DataGenerationConfig",
    "EvaluationConfig",
    "FiguresConfig",
    "LexiconConfig",
    "MiningConfig",
    "NotebookConfig",
    "SignificanceConfig",
    "TrainingConfig",
    "params_from_namespace",
]
