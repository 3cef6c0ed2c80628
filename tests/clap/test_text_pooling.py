"""CLAP's order-aware text pooling (``model.text.pooling=attention``) on the real frozen MiniLM: one text path
for training, cache, evaluation and the API; part of the release; its own cache."""

from __future__ import annotations

import pytest
import torch

from audiocl.clap import CLAP
from audiocl.config import resolve_config
from audiocl.errors import ConfigError
from audiocl.models.clap import CLAPConfig, CLAPModel
from audiocl.models.clap_io import load_clap, save_clap_release
from audiocl.nn.audio_cnn import AudioCNNConfig
from audiocl.nn.text_tower import TextTowerConfig
from audiocl.nn.token_pooling import TokenStates
from audiocl.tasks.clap import CLAPTrainConfig, build_task, run_clap_training
from audiocl.tasks.clap_data import CaptionedSet, cached_text_features, text_tower_id
from audiocl.tasks.clap_eval import embed_captions

ORDER_PAIR = ["a piano plays a rising run, then a snare hits twice",
              "a snare hits twice, then a piano plays a rising run"]


def _model(pooling="attention", seed=0) -> CLAPModel:
    torch.manual_seed(seed)
    cfg = CLAPConfig(chunk_seconds=1.0, cnn=AudioCNNConfig(channels=[8, 16]), embed_dim=32, proj_hidden=32,
                     text=TextTowerConfig(pooling=pooling))
    model = CLAPModel(cfg)
    if pooling == "attention":
        with torch.no_grad():  # as after training: the zero-initialised parts carry weight
            for lin in (model.text_pooler.up, model.text_pooler.score_state, model.text_pooler.score_branch):
                lin.weight.normal_(0, 0.3)
    return model.eval()


@pytest.fixture(scope="module")
def model():
    return _model()


def test_a_caption_embeds_alike_alone_and_beside_longer_captions(model):
    short = "a dog barks"
    batch = [ORDER_PAIR[0], short, "a quiet organ plays a rapid treble note played again and again, followed by "
                                   "four hits on a quiet crash cymbal, then a woman speaks"]
    with torch.no_grad():
        together = model.embed_text(batch)
        alone = model.embed_text(short)
    assert (together[1] - alone[0]).abs().max() < 1e-5


def test_word_order_changes_the_feature_where_the_mean_of_the_same_states_does_not(model):
    with torch.no_grad():
        tokens = model.text_features(ORDER_PAIR[0])
        n = int(tokens.lengths[0])
        # the same token states with the words between [CLS] and [SEP] reversed
        perm = torch.cat([torch.tensor([0]), torch.arange(n - 2, 0, -1), torch.tensor([n - 1])])
        shuffled = TokenStates(tokens.values[perm], tokens.lengths)
        both = TokenStates.cat([tokens, shuffled])
        mean = _model("mean").embed_text_features(both.mean())
        assert (mean[0] - mean[1]).norm() < 1e-4  # order-blind (up to float16 summation order)
        ours = model.embed_text_features(both)
        assert (ours[0] - ours[1]).norm() > 0.02
        pair = model.embed_text(ORDER_PAIR)
        assert (pair[0] - pair[1]).norm() > 0.02


def test_untrained_pooling_starts_at_the_sentence_embedding():
    """The rest of the recipe was tuned on mean pooling: an untrained pooler gives the same text embedding
    (up to the float16 of cached token states)."""
    ours, mean = _model("attention"), _model("mean")
    ours.text_pooler = type(ours.text_pooler)(384, ours.cfg.text.pooler)  # fresh, zero-initialised parts
    ours.text_proj.load_state_dict(mean.text_proj.state_dict())
    with torch.no_grad():
        assert (ours.embed_text(ORDER_PAIR) - mean.embed_text(ORDER_PAIR)).abs().max() < 1e-4


def test_release_round_trip_restores_the_pooler(model, tmp_path):
    release = save_clap_release(model, tmp_path / "release")
    again = load_clap(release)
    assert again.cfg.text.pooling == "attention"
    state = again.state_dict()
    pooler_keys = [k for k in model.state_dict() if k.startswith("text_pooler.")]
    assert pooler_keys and all(torch.equal(model.state_dict()[k], state[k]) for k in pooler_keys)
    assert not any(k.startswith("text_encoder") for k in state)  # the frozen MiniLM stays out
    api = CLAP.from_pretrained(release)
    with torch.no_grad():
        assert (api.get_text_embedding(ORDER_PAIR, use_tensor=True) - model.embed_text(ORDER_PAIR)).abs().max() < 1e-6


def test_cached_token_states_embed_like_fresh_ones_under_their_own_key(model, tmp_path):
    texts = [ORDER_PAIR[0], "a dog barks", ORDER_PAIR[1]]
    tok_id, mean_id = text_tower_id(model.cfg), text_tower_id(_model("mean").cfg)
    assert tok_id != mean_id
    cached_text_features(texts, _model("mean").text_features, tmp_path, mean_id)
    first = cached_text_features(texts, model.text_features, tmp_path, tok_id)
    assert len(list(tmp_path.glob("text_features_*.safetensors"))) == 2  # one file per pooling kind
    again = cached_text_features(texts, model.text_features, tmp_path, tok_id)  # read back
    assert isinstance(again, TokenStates) and again.values.dtype == torch.float16
    assert torch.equal(again.values, first.values) and torch.equal(again.lengths, first.lengths)
    with torch.no_grad():
        assert (embed_captions(model, texts, tmp_path) - model.embed_text(texts)).abs().max() < 1e-6


def test_bad_captions_and_mixed_up_features_are_errors(model):
    with pytest.raises(ConfigError, match="text 1 is empty"):
        model.embed_text(["a dog", " "])
    with pytest.warns(UserWarning, match="truncated"):
        assert torch.isfinite(model.embed_text(" ".join(["word"] * 300))).all()
    with pytest.raises(ConfigError, match="pooling=mean"):
        _model("mean").embed_text_features(model.text_features("a dog"))
    with pytest.raises(ConfigError, match="text.pooling must be one of"):
        CLAPModel(CLAPConfig(text=TextTowerConfig(pooling="max")))


def test_training_updates_the_pooler_from_cached_token_states(clap_dir, tmp_path):
    cfg = resolve_config(CLAPTrainConfig, overrides=[
        f"data.train_dir={clap_dir}", "model.chunk_seconds=1.0", "model.cnn.channels=[8,16]",
        "model.embed_dim=32", "model.proj_hidden=32", "model.text.pooling=attention", "data.batch_size=8",
        "objective.hard_negatives=true", "objective.name=cwcl", "trainer.max_steps=6", "trainer.num_threads=1",
        "trainer.progress_bar=false", "trainer.checkpoint_every_n_steps=6", "schedule.warmup_steps=1"])
    task = build_task(cfg, tmp_path / "exp")
    assert isinstance(task.text_table, TokenStates)
    assert len(task.text_table) == len(CaptionedSet.load(clap_dir).all_texts())
    before = {k: v.clone() for k, v in task.model.text_pooler.state_dict().items()}
    run_clap_training(cfg, tmp_path / "exp")
    trained = load_clap(tmp_path / "exp" / "release")
    moved = [k for k, v in trained.text_pooler.state_dict().items() if not torch.equal(v, before[k])]
    assert "up.weight" in moved and "score_state.weight" in moved
