"""Clotho, AudioCaps and ESC-50 folders in their published layouts, prepared and evaluated end to end as a
user would: ``audiocl prepare-<corpus>``, then ``audiocl clap evaluate`` with a small untrained CLAP release
(tiny CNN, the bundled MiniLM text tower). The reported metrics are checked against a computation by hand
(numpy) from the similarity matrix of the same model, so the multi-caption and zero-shot definitions of
``docs/clap.md`` are what the command reports on these layouts; malformed caption / label files are
errors that name the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audiocl.cli.main import main
from audiocl.clap import CLAP
from audiocl.data.datadir import DataDir
from audiocl.models.clap import CLAPConfig, CLAPModel
from audiocl.models.clap_io import save_clap_release
from audiocl.nn.audio_cnn import AudioCNNConfig
from audiocl.tasks.clap_eval import ENSEMBLE_TEMPLATES

CLOTHO_DEV = ("Rain on a tin roof.wav", "birds, morning.wav", "Door creak 01.wav", "footsteps on gravel.wav")
SLACK = 1e-5
"""Similarities closer than this may order differently in the command (cached text features, batched
audio) and in the hand computation (float rounding)."""
ESC50_CLASSES = ("dog", "rooster", "rain", "sea_waves", "crackling_fire", "chirping_birds", "door_wood_knock")


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """An untrained release whose batch norms hold the statistics of a few tones and noise bursts, as
    training leaves them: with the initial statistics (mean 0, variance 1 on log-mel input) every clip
    embeds close to one direction, and near-equal similarities would leave ranks to float rounding."""
    torch.manual_seed(0)
    model = CLAPModel(CLAPConfig(chunk_seconds=1.0, cnn=AudioCNNConfig(channels=[8]), embed_dim=16, proj_hidden=16))
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average over the calibration batch
    t = np.arange(16000) / 16000
    rng = np.random.default_rng(0)
    clips = [0.3 * np.sin(2 * np.pi * f * t) for f in (150, 400, 900, 2500)]
    clips += [0.1 * rng.standard_normal(t.size) for _ in range(4)]
    model.train()
    with torch.no_grad():
        model.embed_audio([torch.tensor(c, dtype=torch.float32) for c in clips])
    for m in norms:
        m.momentum = 0.1
    return save_clap_release(model.eval(), tmp_path_factory.mktemp("clap") / "release")


@pytest.fixture(scope="module")
def model(release) -> CLAP:
    return CLAP.from_pretrained(release)


def _evaluate(release: Path, data: Path, out: Path, capsys) -> tuple[dict, str]:
    capsys.readouterr()
    assert main(["clap", "evaluate", "--model", str(release), "--data", str(data), "--out", str(out),
                 "--text-cache", str(out.parent / "text_cache"), "--num-threads", "1"]) == 0
    assert (out / "similarity.png").is_file()
    return json.loads((out / "metrics.json").read_text()), capsys.readouterr().out


def _pairs(data: Path) -> tuple[list[str], list[str], np.ndarray]:
    """Audio paths, every caption (``captions.jsonl`` if there, else ``text``) and each caption's clip."""
    dd = DataDir.load(data)
    captions = {u: [dd.text[u]] for u in dd.utt_ids}
    if (data / "captions.jsonl").is_file():
        for row in map(json.loads, (data / "captions.jsonl").read_text().splitlines()):
            captions[row["utt"]] = row["captions"]
    texts = [c for u in dd.utt_ids for c in captions[u]]
    owner = np.array([i for i, u in enumerate(dd.utt_ids) for _ in captions[u]])
    return [dd.wav_scp[u] for u in dd.utt_ids], texts, owner


def _rank(values: np.ndarray, j: int, slack: float) -> int:
    """0-based rank of ``values[j]`` in descending order; a competitor within ``|slack|`` of it counts
    as below it for ``slack > 0`` and above it for ``slack < 0`` (near-ties resolved both ways)."""
    return int(np.sum(np.delete(values, j) > values[j] + slack))


def _hand_retrieval(sim: np.ndarray, owner: np.ndarray, slack: float) -> tuple[dict[str, float], np.ndarray]:
    """LAION-CLAP's definitions written out once more: t2a ranks each caption's clip among all clips;
    a2t takes a clip's best-ranked caption for R@k / median rank and, for mAP@10, sums
    (hits so far) / (rank + 1) over its captions in the top 10, divided by its number of captions.
    Returns the metrics and every rank computed."""
    t2a = np.array([_rank(sim[:, j], owner[j], slack) for j in range(sim.shape[1])])
    best, ap, a2t = [], [], []
    for i in range(sim.shape[0]):
        ranks = sorted(_rank(sim[i], j, slack) for j in np.flatnonzero(owner == i))
        a2t += ranks
        best.append(ranks[0])
        ap.append(sum((h + 1) / (r + 1) for h, r in enumerate(r for r in ranks if r < 10)) / len(ranks))
    out = {}
    for prefix, r, m in (("text_to_audio/", t2a, np.where(t2a < 10, 1 / (t2a + 1), 0.0)),
                         ("audio_to_text/", np.array(best), np.array(ap))):
        out.update({f"{prefix}R@{k}": float(np.mean(r < k)) for k in (1, 5, 10)})
        out[f"{prefix}mAP@10"] = float(np.mean(m))
        out[f"{prefix}median_rank"] = float(np.floor(np.median(r)) + 1)
    return out, np.concatenate([t2a, a2t])


def _assert_within(reported: dict, favoured: dict, against: dict) -> None:
    """Each reported number lies between the ones of near-ties resolved against and in favour of the
    relevant item (the same number when no similarity is within float rounding of another)."""
    for key in favoured:
        lo, hi = sorted((favoured[key], against[key]))
        assert lo - 1e-9 <= reported[key] <= hi + 1e-9, (key, reported[key], favoured[key], against[key])


def _check_retrieval(model: CLAP, data: Path, metrics: dict, clips: int, captions_per_clip: int) -> dict:
    paths, texts, owner = _pairs(data)
    assert (metrics["clips"], metrics["captions"]) == (clips, clips * captions_per_clip) == (len(paths), len(texts))
    sim = model.get_audio_embedding_from_filelist(paths) @ model.get_text_embedding(texts).T
    favoured, ranks_f = _hand_retrieval(sim, owner, SLACK)
    against, ranks_a = _hand_retrieval(sim, owner, -SLACK)
    assert np.mean(ranks_f != ranks_a) <= 0.1, "too many near-ties for an exact check"
    _assert_within(metrics["retrieval"], favoured, against)
    return favoured


def test_clotho_layout_prepares_and_evaluates_with_five_captions_per_clip(tmp_path, caption_layouts, release,
                                                                           model, capsys):
    root = caption_layouts.clotho(tmp_path / "clotho", {"development": CLOTHO_DEV, "evaluation": CLOTHO_DEV[:1]})
    assert main(["prepare-clotho", "--root", str(root), "--out", str(tmp_path / "data"), "--nj", "1"]) == 0
    metrics, printed = _evaluate(release, tmp_path / "data" / "development", tmp_path / "exp" / "eval_dev", capsys)
    expected = _check_retrieval(model, tmp_path / "data" / "development", metrics, clips=4, captions_per_clip=5)
    assert "development: 4 clips, 20 captions" in printed
    # 20 caption queries over 4 clips, 4 clip queries over 20 captions: a2t is not the one-caption number
    assert metrics["retrieval_chance"]["text_to_audio/R@1"] == 0.25
    assert 0 < expected["audio_to_text/mAP@10"] < 1


def test_audiocaps_layout_prepares_and_evaluates_test_and_train(tmp_path, caption_layouts, release, model, capsys):
    root = caption_layouts.audiocaps(tmp_path / "ac", test_clips=3)
    assert main(["prepare-audiocaps", "--root", str(root), "--out", str(tmp_path / "data"), "--nj", "1"]) == 0
    metrics, printed = _evaluate(release, tmp_path / "data" / "test", tmp_path / "exp" / "eval_test", capsys)
    _check_retrieval(model, tmp_path / "data" / "test", metrics, clips=3, captions_per_clip=5)
    assert "test: 3 clips, 15 captions" in printed
    # train has one caption per clip: the square (one relevant caption) definitions
    metrics, _ = _evaluate(release, tmp_path / "data" / "train", tmp_path / "exp" / "eval_train", capsys)
    _check_retrieval(model, tmp_path / "data" / "train", metrics, clips=2, captions_per_clip=1)


def _hand_zero_shot(model: CLAP, data: Path, classes: list[str], templates: tuple[str, ...],
                    slack: float) -> dict[str, float]:
    """Top-1 / top-5 of the nearest class text (normalised mean over ``templates``) by hand."""
    dd = DataDir.load(data)
    labels = dd.extra["utt2category"]
    audio = model.get_audio_embedding_from_filelist([dd.wav_scp[u] for u in dd.utt_ids])
    text = np.mean([model.get_text_embedding([t.format(c) for c in classes]) for t in templates], axis=0)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    sim = audio @ text.T
    rank = np.array([_rank(sim[i], classes.index(labels[u]), slack) for i, u in enumerate(dd.utt_ids)])
    return {"top1": float(np.mean(rank < 1)), "top5": float(np.mean(rank < 5))}


@pytest.mark.parametrize("subset, clips", [("fold1", 7), ("all", 14)])
def test_esc50_layout_zero_shot_on_fold1_and_on_all_clips(tmp_path, caption_layouts, release, model, capsys,
                                                          subset, clips):
    root = caption_layouts.esc50(tmp_path / "ESC-50", categories=ESC50_CLASSES)
    assert main(["prepare-esc50", "--root", str(root), "--out", str(tmp_path / "esc"), "--nj", "1"]) == 0
    metrics, printed = _evaluate(release, tmp_path / "esc" / subset, tmp_path / "exp" / f"eval_{subset}", capsys)
    # the output names the subset it is on (fold 1 or all clips) and the label set
    assert metrics["data_dir"].endswith(subset) and f"{subset}: {clips} clips" in printed
    assert "zero-shot category: top-1" in printed
    z = metrics["zero_shot"]["category"]
    classes = json.loads((tmp_path / "esc" / "zeroshot_labels.json").read_text())["category"]
    assert classes == [c.replace("_", " ") for c in ESC50_CLASSES]
    assert (z["clips"], z["classes"]) == (clips, 7)
    assert (z["chance_top1"], z["chance_top5"]) == pytest.approx((1 / 7, 5 / 7))
    for prefix, templates in (("", ("This is a sound of {}.",)), ("ensemble_", ENSEMBLE_TEMPLATES)):
        hand = [_hand_zero_shot(model, tmp_path / "esc" / subset, classes, templates, sign * SLACK)
                for sign in (1, -1)]
        _assert_within({k: z[prefix + k] for k in ("top1", "top5")}, *hand)


# ------------------------------------------------------------------------------------------ malformed files
def _evaluate_fails(release: Path, data: Path, tmp_path: Path, capsys) -> str:
    capsys.readouterr()
    assert main(["clap", "evaluate", "--model", str(release), "--data", str(data),
                 "--out", str(tmp_path / "eval_bad"), "--num-threads", "1"]) == 1
    return capsys.readouterr().err


def test_malformed_caption_file_is_an_error_naming_it(tmp_path, caption_layouts, release, capsys):
    root = caption_layouts.clotho(tmp_path / "clotho")
    assert main(["prepare-clotho", "--root", str(root), "--out", str(tmp_path / "data"), "--nj", "1"]) == 0
    captions = tmp_path / "data" / "development" / "captions.jsonl"
    lines = captions.read_text().splitlines()
    captions.write_text(lines[0] + "\n" + lines[1][:-5] + "\n")  # the second row cut short
    err = _evaluate_fails(release, tmp_path / "data" / "development", tmp_path, capsys)
    assert f"{captions}:2: not valid JSON" in err
    # a row whose captions are one string, not a list of them
    row = json.loads(lines[1])
    captions.write_text(lines[0] + "\n" + json.dumps({"utt": row["utt"], "captions": row["captions"][0]}) + "\n")
    err = _evaluate_fails(release, tmp_path / "data" / "development", tmp_path, capsys)
    assert f"{captions}: utterance {row['utt']}: 'captions' must be a list of strings" in err

    # a published caption CSV without its caption column is named at preparation
    ac = caption_layouts.audiocaps(tmp_path / "ac")
    rows = [line.rsplit(",", 1)[0] for line in (ac / "test.csv").read_text().splitlines()]
    (ac / "test.csv").write_text("\n".join(rows) + "\n")
    assert main(["prepare-audiocaps", "--root", str(ac), "--out", str(tmp_path / "ac_data")]) == 1
    assert f"{ac / 'test.csv'}: missing column(s) caption" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    ('{"category": ["dog", "chirping birds"', "not valid JSON"),
    ('{"category": "dog"}', "expected an object mapping each label set to a non-empty list"),
    ('["dog", "chirping birds"]', "expected an object mapping each label set to a non-empty list"),
])
def test_malformed_label_file_is_an_error_naming_it(tmp_path, caption_layouts, release, capsys, content, message):
    root = caption_layouts.esc50(tmp_path / "ESC-50")
    assert main(["prepare-esc50", "--root", str(root), "--out", str(tmp_path / "esc"), "--nj", "1"]) == 0
    labels = tmp_path / "esc" / "zeroshot_labels.json"
    labels.write_text(content)
    err = _evaluate_fails(release, tmp_path / "esc" / "fold1", tmp_path, capsys)
    assert f"{labels}: {message}" in err


def test_label_outside_the_label_set_names_the_file(tmp_path, caption_layouts, release, capsys):
    root = caption_layouts.esc50(tmp_path / "ESC-50")
    assert main(["prepare-esc50", "--root", str(root), "--out", str(tmp_path / "esc"), "--nj", "1"]) == 0
    utt2category = tmp_path / "esc" / "fold1" / "utt2category"
    utt2category.write_text(utt2category.read_text().replace("chirping birds", "cat"))
    err = _evaluate_fails(release, tmp_path / "esc" / "fold1", tmp_path, capsys)
    assert f"{utt2category}: labels ['cat'] are not in zeroshot_labels.json['category']" in err
