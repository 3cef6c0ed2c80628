"""The generated CLAP scene corpus: hold-out of combinations and templates, captions that state the labels,
hard negatives and twins that change one fact, MIDI bytes, event audio, determinism and resumability."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile as sf

from audiocl.corpora import midi, scene_audio, scene_captions, scene_plan
from audiocl.corpora.mini_clap import NO_LABEL, MiniClapOptions, prepare_mini_clap, utterances_with_label
from audiocl.data.datadir import DataDir, check_data_dir

SEED = 4
SMALL = MiniClapOptions(num_train=16, num_dev=5, num_test=10, seed=SEED, nj=4)


@pytest.fixture(scope="module")
def plans():
    return {split: scene_plan.plan_split(split, n, SEED) for split, n in (("train", 800), ("dev", 60), ("test", 150))}


# ------------------------------------------------------------------------------------------ plan
def test_plan_is_deterministic_per_seed_and_prefix_stable():
    assert scene_plan.plan_split("train", 30, 1) == scene_plan.plan_split("train", 30, 1)
    assert scene_plan.plan_split("train", 30, 1) != scene_plan.plan_split("train", 30, 2)
    assert scene_plan.plan_split("test", 40, 1)[:20] == scene_plan.plan_split("test", 20, 1)


def test_no_test_or_dev_combination_is_seen_in_training(plans):
    reserved = scene_plan.held_out_pairs(SEED)
    assert reserved["test"] and reserved["dev"] and not reserved["test"] & reserved["dev"]
    train_pairs = {frozenset(p) for s in plans["train"] for p in _pairs(s)}
    train_sets = {s.types() for s in plans["train"]}
    for split in ("dev", "test"):
        for s in plans[split]:
            assert s.types() not in train_sets
            own = {frozenset(p) for p in _pairs(s)}
            assert own & reserved[split], s.utt
            assert not own & reserved["dev" if split == "test" else "test"]
    assert not train_pairs & (reserved["test"] | reserved["dev"])
    # every type is still learnable: each occurs in training
    assert {t for s in plans["train"] for t in s.types()} == set(scene_plan.all_types())
    assert {len(s.events) for s in plans["train"]} == {1, 2, 3}
    assert {len(s.events) for s in plans["test"]} == {2, 3}


def _pairs(scene):
    types = sorted(scene.types())
    return [(a, b) for i, a in enumerate(types) for b in types[i + 1:]]


def test_twins_differ_from_their_base_only_in_the_declared_respect(plans):
    test = {s.utt: s for s in plans["test"]}
    twins = [s for s in plans["test"] if s.twin_of]
    assert {t.twin_kind for t in twins} == {"order", "attribute", "count"}
    assert len(twins) == pytest.approx(len(plans["test"]) / 5, abs=2)
    for twin in twins:
        base = test[twin.twin_of]
        assert [e.detail for e in twin.events] == [e.detail for e in base.events]
        assert twin.caption_seed == base.caption_seed and twin.types() == base.types()
        a, b = base.labels()["events"], twin.labels()["events"]
        if twin.twin_kind == "order":
            assert twin.relation == "sequence" and b == a[::-1] and a != b
            continue
        assert twin.order == base.order
        diffs = [(k, x[k], y[k]) for x, y in zip(a, b) for k in x if x[k] != y[k]]
        assert len(diffs) == 1
        name = diffs[0][0]
        assert (name == "count") == (twin.twin_kind == "count")
        assert name not in scene_plan.IDENTITY.values() and name != "kind"


def test_zero_shot_label_only_when_unambiguous():
    piano = scene_plan._make_event("instrument:piano", np.random.default_rng(0))
    organ = scene_plan._make_event("instrument:organ", np.random.default_rng(1))
    snare = scene_plan._make_event("percussion:snare", np.random.default_rng(2)).with_attr("count", 3)
    one = scene_plan.Scene("u", "train", (piano, snare), (0, 1), "sequence", (0.5,) * 4, 1)
    two = scene_plan.Scene("v", "train", (piano, organ), (0, 1), "overlap", (0.5,) * 4, 1)
    assert scene_captions.zero_shot_label(one, "family") == "piano"
    assert scene_captions.zero_shot_label(one, "percussion") == "snare drum"
    assert scene_captions.zero_shot_label(one, "count") == "three times"
    assert scene_captions.zero_shot_label(one, "noise") is None
    assert scene_captions.zero_shot_label(two, "family") is None
    classes = scene_captions.zero_shot_classes()
    assert classes["family"][0] == "piano" and len(classes["family"]) == 9 and len(classes["percussion"]) == 8


def test_zero_shot_class_names_are_caption_words():
    """A class is named as the captions name it ("saxophone", "white noise"), never by an internal value
    ("reed", "white") that no caption contains."""
    classes = scene_captions.zero_shot_classes()
    assert "saxophone" in classes["family"] and "reed" not in classes["family"]
    assert classes["noise"] == ["white noise", "pink noise", "brown noise"]
    assert classes["count"] == ["once", "twice", "three times", "four times"]
    for label_set, names in classes.items():
        kinds, attr = scene_plan.ZERO_SHOT_SETS[label_set]
        kind = kinds[0]
        for value, name in zip(scene_plan.ATTRIBUTES[kind][attr], names):
            identity = scene_plan.ATTRIBUTES[kind][scene_plan.IDENTITY[kind]][0]
            event = scene_plan._make_event(f"{kind}:{identity}", np.random.default_rng(0)).with_attr(attr, value)
            scene = scene_plan.Scene("u", "train", (event,), (0,), "sequence", (0.5,) * 4, 1)
            assert any(name in c for c in scene_captions.captions_of(scene, 20)[0]), (label_set, name)


# ------------------------------------------------------------------------------------------ captions
def test_every_phrase_template_states_every_attribute_of_its_kind():
    for kind, groups in scene_captions.PHRASES.items():
        for templates in groups.values():
            for t in templates:
                covered = {scene_captions.VOCAB[s][0] for s in scene_captions.slots(t)}
                assert covered == set(scene_plan.ATTRIBUTES[kind]), (kind, t)


def test_templates_of_a_split_are_never_used_by_another():
    for table in (*scene_captions.PHRASES.values(), *scene_captions.JOINERS.values()):
        seen: dict[str, str] = {}
        for split, templates in table.items():
            for t in templates:
                assert seen.setdefault(t, split) == split, t


def test_test_captions_use_only_test_templates_and_state_the_labels(plans):
    train_captions = {c for s in plans["train"][:300] for c in scene_captions.captions_of(s)[0]}
    for split in ("train", "test"):
        for scene in plans[split][:120]:
            captions, styles = scene_captions.captions_of(scene)
            assert len(captions) == scene_captions.NUM_CAPTIONS and len(set(captions)) == len(captions)
            for caption, style in zip(captions, styles):
                group = scene_captions.JOINERS[scene_captions.joiner_group(scene)]
                assert style.joiner in group[split]
                for ev, template in zip(scene.events, style.phrases):
                    assert template in scene_captions.PHRASES[ev.kind][split]
                    for name, value in ev.attrs:
                        options = [o for slot, (attr, table) in scene_captions.VOCAB.items() if attr == name
                                   for o in table[value]]
                        assert any(o in caption for o in options), (caption, name, value)
                if split == "test":
                    assert caption not in train_captions


def test_hard_negatives_change_one_fact_in_the_same_wording(plans):
    kinds_seen = set()
    for scene in plans["train"][:200]:
        captions, styles = scene_captions.captions_of(scene)
        negatives = scene_captions.hard_negatives(scene, styles[0])
        for row in negatives:
            kinds_seen.add(row["kind"])
            assert row["caption"] != captions[0] and row["caption"] not in captions
            if row["kind"] == "order":
                assert scene.relation == "sequence" and len(scene.events) > 1
                assert _words(row["caption"]) == _words(captions[0])
        if scene.relation == "overlap":
            assert all(r["kind"] != "order" for r in negatives)
    assert kinds_seen == {"order", "count", "attribute"}


def _words(text):
    return sorted("a" if w == "an" else w for w in re.findall(r"[a-z-]+", text))


def test_an_before_vowels():
    scene = scene_plan.plan_split("train", 200, 0)
    text = " ".join(c for s in scene for c in scene_captions.captions_of(s)[0])
    assert " a upward" not in text and " a electric" not in text and " a ascending" not in text
    assert " an one" not in text


# ------------------------------------------------------------------------------------------ MIDI and audio
def test_midi_writer_bytes():
    assert midi._vlq(0) == b"\x00" and midi._vlq(0x40) == b"\x40"
    assert midi._vlq(0x80) == b"\x81\x00" and midi._vlq(0x3FFF) == b"\xff\x7f"
    data = midi.midi_bytes([(5, 0, [midi.Note(60, 0.0, 0.5, 100)])])
    assert data[:4] == b"MThd" and data[8:14] == bytes([0, 0, 0, 1, 1, 224])  # format 0, 1 track, 480 tpq
    assert data[14:18] == b"MTrk" and int.from_bytes(data[18:22], "big") == len(data) - 22
    assert bytes([0xC0, 5]) in data and bytes([0x90, 60, 100]) in data and bytes([0x80, 60, 0]) in data
    assert data.endswith(b"\xff\x2f\x00")
    drums = midi.midi_bytes([(0, midi.PERCUSSION_CHANNEL, [midi.Note(38, 0.0, 0.1, 90)])])
    assert bytes([0xC9]) not in drums and bytes([0x99, 38, 90]) in drums
    with pytest.raises(ValueError):
        midi.midi_bytes([(0, 0, [midi.Note(200, 0.0, 0.1, 90)])])


def _event(type_, **attrs):
    ev = scene_plan._make_event(type_, np.random.default_rng(11))
    for k, v in attrs.items():
        ev = ev.with_attr(k, v)
    return ev


def test_instrument_notes_follow_the_facts():
    rising = scene_audio.instrument_notes(_event("instrument:flute", pattern="rising run", register="high"))[1]
    falling = scene_audio.instrument_notes(_event("instrument:flute", pattern="falling run", register="low"))[1]
    assert [n.key for n in rising] == sorted(n.key for n in rising) and len(rising) >= 4
    assert [n.key for n in falling] == sorted((n.key for n in falling), reverse=True)
    assert max(n.key for n in falling) < min(n.key for n in rising)
    chord = scene_audio.instrument_notes(_event("instrument:piano", pattern="chord"))[1]
    assert len(chord) == 3 and len({n.start for n in chord}) == 1
    loud = scene_audio.percussion_notes(_event("percussion:snare", count=3, loudness="loud"))
    soft = scene_audio.percussion_notes(_event("percussion:snare", count=3, loudness="soft"))
    assert len(loud) == 3 and min(n.velocity for n in loud) > max(n.velocity for n in soft)
    slow = scene_audio.instrument_notes(_event("instrument:organ", pattern="repeated notes", tempo="slow"))[1]
    fast = scene_audio.instrument_notes(_event("instrument:organ", pattern="repeated notes", tempo="fast"))[1]
    assert slow[-1].start > 1.8 * fast[-1].start


def _band_energy(x, lo, hi):
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / scene_audio.SAMPLE_RATE)
    return spec[(f >= lo) & (f < hi)].sum()


def test_numpy_events_follow_the_facts():
    tilt = {}
    for colour in ("white", "pink", "brown"):
        x = scene_audio.synth_event(_event(f"noise:{colour}"))
        tilt[colour] = _band_energy(x, 50, 400) / _band_energy(x, 3000, 6000)
    assert tilt["white"] < 0.5 * tilt["pink"] < 0.5 * tilt["brown"]
    for direction in ("up", "down"):
        x = scene_audio.synth_event(_event("sweep", direction=direction))
        half = len(x) // 2
        centroid = [np.argmax(np.abs(np.fft.rfft(x[:half]))), np.argmax(np.abs(np.fft.rfft(x[half:2 * half])))]
        assert (centroid[1] > centroid[0]) == (direction == "up")
    for count in (1, 3, 4):
        x = scene_audio.synth_event(_event("beep", count=count))
        envelope = np.convolve(np.abs(x), np.ones(160) / 160, mode="same")  # 10 ms smoothing
        active = envelope > 0.3
        assert int(np.sum(active[1:] & ~active[:-1])) + int(active[0]) == count
    low = scene_audio.synth_event(_event("tone", register="low"))
    high = scene_audio.synth_event(_event("tone", register="high"))
    assert np.argmax(np.abs(np.fft.rfft(low))) / len(low) < np.argmax(np.abs(np.fft.rfft(high))) / len(high)


def test_rendering_is_deterministic_and_levels_follow_loudness():
    scene = next(s for s in scene_plan.plan_split("train", 200, 2)
                 if {e.kind for e in s.events} >= {"instrument", "speech"} or
                 {e.kind for e in s.events} >= {"percussion", "speech"})
    a, b = scene_audio.render_scene(scene), scene_audio.render_scene(scene)
    assert a.dtype == np.float32 and np.array_equal(a, b)
    loud = scene_plan.Scene("l", "train", (_event("instrument:piano", loudness="loud"),), (0,), "sequence", (0.5,) * 4, 3)
    soft = scene_plan.Scene("s", "train", (_event("instrument:piano", loudness="soft"),), (0,), "sequence", (0.5,) * 4, 3)
    ratio = np.abs(scene_audio.render_scene(loud)).max() / np.abs(scene_audio.render_scene(soft)).max()
    assert 2.5 < ratio < 6.0


def test_missing_soundfont_is_a_clear_error(tmp_path):
    from audiocl.errors import RecipeError

    with pytest.raises(RecipeError, match="soundfont .*nothing.sf2 not found.*timgm6mb-soundfont"):
        prepare_mini_clap(tmp_path, MiniClapOptions(num_train=1, soundfont=str(tmp_path / "nothing.sf2")))


# ------------------------------------------------------------------------------------------ the corpus
@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("mini_clap")
    report = prepare_mini_clap(out, SMALL)
    return out, report


def test_corpus_data_dirs_follow_the_contract(corpus):
    out, report = corpus
    assert report.rendered == {"train": 16, "dev": 5, "test": 10}
    classes = json.loads((out / "zeroshot_labels.json").read_text())
    assert set(classes) == {"family", "percussion", "noise", "count"}
    for split in ("train", "dev", "test"):
        d = out / split
        validation = check_data_dir(d)
        assert validation.ok, validation.errors
        data = DataDir.load(d)
        assert data.utt_ids == sorted(data.utt_ids) and len(data) == report.clips[split]
        captions = {r["utt"]: r["captions"] for r in map(json.loads, (d / "captions.jsonl").read_text().splitlines())}
        labels = {u: json.loads(v) for u, v in data.extra["utt2labels"].items()}
        for utt in data.utt_ids:
            assert captions[utt][0] == data.text[utt] and len(captions[utt]) == 5
            assert labels[utt]["relation"] in ("sequence", "overlap") and 1 <= len(labels[utt]["events"]) <= 3
            info = sf.info(data.wav_scp[utt])
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert abs(info.duration - data.utt2dur[utt]) < 1e-3 and 0.3 < info.duration < 8
        for label_set, names in classes.items():
            values = data.extra[f"utt2{label_set}"]
            assert set(values.values()) <= set(names) | {NO_LABEL}
            for utt, value in utterances_with_label(d, label_set).items():
                kinds, attr = scene_plan.ZERO_SHOT_SETS[label_set]
                facts = [e[attr] for e in labels[utt]["events"] if e["kind"] in kinds]
                assert len(facts) == 1
                assert value == scene_captions.class_name(label_set, facts[0])
        negatives = [json.loads(x) for x in (d / "hard_negatives.jsonl").read_text().splitlines()]
        assert negatives and {n["kind"] for n in negatives} <= {"order", "count", "attribute"}
        assert all(n["utt"] in captions and n["caption"] not in captions[n["utt"]] for n in negatives)
    pairs = [json.loads(x) for x in (out / "test" / "compa_pairs.jsonl").read_text().splitlines()]
    test = DataDir.load(out / "test")
    assert len(pairs) == 2
    for p in pairs:
        assert test.text[p["utt_a"]] == p["caption_a"] and test.text[p["utt_b"]] == p["caption_b"]
        assert p["caption_a"] != p["caption_b"] and p["kind"] in ("order", "attribute", "count")


def test_second_run_renders_nothing_and_a_lost_clip_is_rendered_again(corpus):
    out, _ = corpus
    again = prepare_mini_clap(out, SMALL)
    assert again.rendered == {"train": 0, "dev": 0, "test": 0} and sorted(again.skipped) == ["dev", "test", "train"]
    test = DataDir.load(out / "test")
    lost = test.wav_scp[test.utt_ids[3]]
    before = sf.read(lost)[0]
    (out / "test" / ".done").unlink()
    import os

    os.unlink(lost)
    third = prepare_mini_clap(out, SMALL)
    assert third.rendered == {"train": 0, "dev": 0, "test": 1} and third.skipped == ["train", "dev"]
    assert np.array_equal(sf.read(lost)[0], before)
    assert (out / "test" / ".done").is_file()


def test_cli_resolves_options_from_yaml_overrides_and_flags(corpus, tmp_path, capsys):
    from audiocl.cli.main import main

    out, _ = corpus
    preset = tmp_path / "data.yaml"
    preset.write_text("num_train: 999\nnum_dev: 5\nseed: 4\n")
    assert main(["prepare-mini-clap", "--out", str(out), "--config", str(preset), "--num-train", "16",
                 "num_test=10", "nj=2"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("already complete") == 3 and "train: 16 clips" in printed
    assert main(["prepare-mini-clap", "--out", str(out), "num_clips=3"]) == 1
    assert "num_clips" in capsys.readouterr().err
