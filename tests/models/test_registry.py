"""The one model registry: names, configs from presets / dicts, and errors that list what exists."""

import pytest

from audiocl import models
from audiocl.errors import ConfigError


def test_names_and_build_from_preset_dict_and_dataclass():
    assert {"wav2vec2", "cpc"} <= set(models.names())
    tiny = models.build("wav2vec2", "tiny")
    assert isinstance(tiny, models.Wav2Vec2ForPretraining)
    assert tiny.cfg == models.Wav2Vec2Config.preset("tiny")
    cfg = models.config_from_dict("wav2vec2", {"encoder_layers": 1, "encoder_embed_dim": 32,
                                               "encoder_ffn_dim": 64, "encoder_attention_heads": 2})
    assert cfg.encoder_layers == 1 and isinstance(cfg, models.Wav2Vec2Config)
    assert len(models.build("wav2vec2", cfg).wav2vec2.encoder.layers) == 1
    assert isinstance(models.build("cpc"), models.CPCForPretraining)


def test_errors_name_the_problem():
    with pytest.raises(ConfigError, match="available: .*wav2vec2"):
        models.build("wav2vec3")
    with pytest.raises(ConfigError, match="encoder_layerz"):
        models.config_from_dict("wav2vec2", {"encoder_layerz": 2})
    with pytest.raises(ConfigError, match="Wav2Vec2Config"):
        models.build("wav2vec2", models.CPCConfig())
    with pytest.raises(ValueError, match="already registered"):
        models.register("cpc", models.Wav2Vec2Config, models.Wav2Vec2ForPretraining)
