"""LexiconConfig: new fields and smoke-mode shrinking."""

from __future__ import annotations

import pytest

from csir.config import LexiconConfig
from csir.errors import ConfigError


def test_smoke_keeps_smoke_languages_and_caps_vocabularies():
    cfg = LexiconConfig.from_params({"smoke": True})
    assert cfg.languages == ("de", "ar", "zh")
    assert cfg.en_vocab_size == cfg.tgt_vocab_size == LexiconConfig.SMOKE_VOCAB_SIZE
    # none of the smoke languages requested: the first two are kept
    assert LexiconConfig.from_params(
        {"smoke": True, "languages": ["ru", "es", "vi"]}
    ).languages == ("ru", "es")


def test_full_mode_keeps_all_thirteen_languages():
    cfg = LexiconConfig.from_params({"smoke": False})
    assert len(cfg.languages) == 13 and "en" not in cfg.languages
    assert cfg.en_vocab_size == 20000


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"clwe_source": "glove"}, "clwe_source 'glove'"),
        ({"titles_source": "wiki"}, "titles_source 'wiki'"),
        ({"csls_k": 0}, "csls_k"),
        ({"word_prefix": 1}, "'word_prefix' must be str"),
    ],
)
def test_bad_values(params, message):
    with pytest.raises(ConfigError, match=message):
        LexiconConfig.from_params({"smoke": False, **params})
