"""Retrieval, zero-shot and CompA metrics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from audiocl.metrics.retrieval import (compa_scores, plot_similarity, retrieval_chance, retrieval_metrics,
                                       zero_shot_accuracy)


def test_single_caption_metrics_match_hand_computed_ranks():
    # rows = audio, columns = captions; the relevant caption of clip i is column i
    sim = np.array([[0.9, 0.1, 0.2],    # a2t rank of col 0: 0
                    [0.8, 0.5, 0.1],    # a2t rank of col 1: 1
                    [0.7, 0.6, 0.3]])   # a2t rank of col 2: 2
    m = retrieval_metrics(sim, ks=(1, 2))
    # t2a: caption 0 -> audio ranks [0.9, 0.8, 0.7] -> rank 0; caption 1 -> [0.1, 0.5, 0.6] -> audio 1 at rank 1;
    # caption 2 -> [0.2, 0.1, 0.3] -> audio 2 at rank 0
    assert m["text_to_audio/R@1"] == pytest.approx(2 / 3)
    assert m["text_to_audio/R@2"] == pytest.approx(1.0)
    assert m["text_to_audio/mAP@10"] == pytest.approx((1 + 1 / 2 + 1) / 3)
    assert m["text_to_audio/median_rank"] == 1.0
    assert m["text_to_audio/mean_rank"] == pytest.approx(1 + 1 / 3)
    assert m["audio_to_text/R@1"] == pytest.approx(1 / 3)
    assert m["audio_to_text/R@2"] == pytest.approx(2 / 3)
    assert m["audio_to_text/mAP@10"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert m["audio_to_text/median_rank"] == 2.0


def test_map_at_10_ignores_ranks_beyond_10():
    n = 12
    sim = np.zeros((n, n))
    sim[0, :] = np.arange(n, 0, -1)  # clip 0's caption (col 0) is first for clip 0
    sim[:, 0] = 0.0
    sim[0, 0] = -1.0                # ... now last: rank 11
    m = retrieval_metrics(sim)
    assert m["audio_to_text/R@10"] < 1.0


def test_multi_caption_definitions():
    # 2 clips, 4 captions: captions 0, 1 belong to clip 0; captions 2, 3 to clip 1
    sim = np.array([[0.1, 0.9, 0.8, 0.2],
                    [0.3, 0.4, 0.5, 0.6]])
    m = retrieval_metrics(sim, caption_owner=[0, 0, 1, 1], ks=(1,))
    # a2t clip 0: order [1, 2, 3, 0]: its captions at ranks 0 and 3 -> best 0; AP@10 = (1/1 + 2/4) / 2
    # a2t clip 1: order [3, 2, 1, 0]: ranks 0, 1 -> best 0; AP@10 = (1/1 + 2/2) / 2
    assert m["audio_to_text/R@1"] == 1.0
    assert m["audio_to_text/mAP@10"] == pytest.approx(((1 + 0.5) / 2 + 1.0) / 2)
    # t2a: caption 0 -> [0.1, 0.3] clip 0 at rank 1; caption 1 -> [0.9, 0.4] rank 0;
    # caption 2 -> [0.8, 0.5] clip 1 at rank 1; caption 3 -> [0.2, 0.6] rank 0
    assert m["text_to_audio/R@1"] == 0.5
    assert m["text_to_audio/mAP@10"] == pytest.approx((0.5 + 1 + 0.5 + 1) / 4)


def test_chance_and_zero_shot_and_compa():
    c = retrieval_chance(100)
    assert c["text_to_audio/R@10"] == pytest.approx(0.1)
    assert c["text_to_audio/R@1"] == pytest.approx(0.01)
    z = zero_shot_accuracy(np.array([[0.1, 0.9, 0.0], [0.5, 0.2, 0.3], [0.2, 0.3, 0.1]]), [1, 2, 2], ks=(1, 2))
    assert z["top1"] == pytest.approx(1 / 3)
    assert z["top2"] == pytest.approx(2 / 3)
    pairs = np.array([
        [[0.9, 0.1], [0.2, 0.8]],   # text ok, audio ok -> group
        [[0.9, 0.1], [0.95, 0.8]],  # text: a0 ok, a1 (0.8 > 0.95?) no -> text fails; audio: c0 0.9>0.95 no
        [[0.5, 0.4], [0.6, 0.7]],   # text ok (0.5>0.4, 0.7>0.6); audio: 0.5>0.6 no
    ])
    s = compa_scores(pairs)
    assert s["text"] == pytest.approx(2 / 3)
    assert s["audio"] == pytest.approx(1 / 3)
    assert s["group"] == pytest.approx(1 / 3)


def test_similarity_png(tmp_path):
    path = plot_similarity(np.random.default_rng(0).random((5, 5)), tmp_path / "sim.png")
    assert path.stat().st_size > 1000
