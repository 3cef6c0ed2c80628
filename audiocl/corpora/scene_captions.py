"""Captions of mini_clap scenes: templates, paraphrase vocabularies, paraphrases and hard negatives.

A caption is one *joiner* template (how the events are put together: "{0}, then {1}", "{0} while {1}")
filled with one *phrase* template per event ("a {loud_adj} {family} plays a {tempo_adj} {register_adj}
{pattern}"). Each slot is bound to one attribute and has several paraphrases per value, so "a quick
ascending run" and "a fast rising run" state the same facts. Every phrase template mentions every
attribute of its kind, so the labels of a clip are exactly what each of its captions says.

Templates belong to one split (``train`` / ``dev`` / ``test``): captions of held-out splits use templates
never used in training. Single-event scenes only occur in training, so their joiners are train-only.

Rendering is driven by a :class:`CaptionStyle`: the joiner, the phrase template of each event and one
integer per slot. A slot's word is ``options[draw % len(options)]``, so changing one fact changes only the
words of that fact; this is what makes a hard negative "wrong only in order / count / attribute".
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

import numpy as np

from audiocl.corpora.scene_plan import ATTRIBUTES, ZERO_SHOT_SETS, Scene, changed_scene

# slot -> (attribute, {value: paraphrases}); paraphrase lists of one slot never share a phrase across values
VOCAB: dict[str, tuple[str, dict]] = {
    "family": ("family", {
        "piano": ["piano", "grand piano"], "organ": ["organ", "pipe organ"],
        "guitar": ["guitar", "acoustic guitar"], "bass": ["electric bass", "bass"],
        "strings": ["string section", "string ensemble"], "brass": ["brass section", "brass instrument"],
        "reed": ["saxophone", "sax"], "flute": ["flute", "wooden flute"],
        "synth lead": ["synth lead", "synthesizer lead", "lead synth"]}),
    "pattern": ("pattern", {
        "one note": ["single note", "lone note", "sustained note"],
        "rising run": ["rising run", "ascending run", "upward scale"],
        "falling run": ["falling run", "descending run", "downward scale"],
        "chord": ["chord", "block chord", "struck chord"],
        "repeated notes": ["repeated note", "repeating note", "note played again and again"]}),
    "register_adj": ("register", {"low": ["low", "low-pitched", "deep"], "high": ["high", "high-pitched", "treble"]}),
    "register_pp": ("register", {"low": ["in a low register", "at a low pitch", "down low"],
                                 "high": ["in a high register", "at a high pitch", "up high"]}),
    "tempo_adj": ("tempo", {"slow": ["slow", "leisurely", "unhurried"], "fast": ["fast", "quick", "rapid"]}),
    "tempo_adv": ("tempo", {"slow": ["slowly", "at a slow tempo", "at an easy pace"],
                            "fast": ["quickly", "at a fast tempo", "briskly"]}),
    "loud_adj": ("loudness", {"soft": ["soft", "quiet", "gentle"], "loud": ["loud", "forceful", "strong"]}),
    "loud_adv": ("loudness", {"soft": ["softly", "quietly", "gently"], "loud": ["loudly", "forcefully", "with force"]}),
    "drum": ("drum", {
        "kick": ["kick drum", "kick"], "snare": ["snare drum", "snare"], "hi-hat": ["hi-hat", "closed hi-hat"],
        "hand clap": ["hand clap", "clap"], "cymbal": ["cymbal", "crash cymbal"], "tom": ["tom drum", "tom-tom"],
        "cowbell": ["cowbell"], "tambourine": ["tambourine"]}),
    "count_adv": ("count", {1: ["once", "a single time"], 2: ["twice", "two times"],
                            3: ["three times", "thrice"], 4: ["four times"]}),
    "count_hits": ("count", {1: ["a single hit", "one hit"], 2: ["two hits", "a pair of hits"],
                             3: ["three hits", "three strokes"], 4: ["four hits", "four strokes"]}),
    "count_beeps": ("count", {1: ["a single beep", "one beep"], 2: ["two beeps", "a double beep"],
                              3: ["three beeps", "a triple beep"], 4: ["four beeps", "four short beeps"]}),
    "colour": ("colour", {"white": ["white noise", "hissing white noise"], "pink": ["pink noise"],
                          "brown": ["brown noise", "rumbling brown noise"]}),
    "sweep": ("direction", {"up": ["rising sweep", "upward sweep", "tone gliding up"],
                            "down": ["falling sweep", "downward sweep", "tone gliding down"]}),
    "speaker": ("voice_gender", {"male": ["a man", "a male voice", "a male speaker"],
                                 "female": ["a woman", "a female voice", "a female speaker"]}),
}

PHRASES: dict[str, dict[str, list[str]]] = {
    "instrument": {
        "train": ["a {loud_adj} {family} plays a {tempo_adj} {register_adj} {pattern}",
                  "a {tempo_adj} {register_adj} {pattern} played {loud_adv} on a {family}",
                  "a {family} {loud_adv} plays a {pattern} {register_pp}, {tempo_adv}",
                  "{loud_adv}, a {family} plays a {register_adj} {pattern} {tempo_adv}"],
        "dev": ["the {family} gives a {loud_adj}, {tempo_adj} {pattern} {register_pp}"],
        "test": ["a {register_adj} {pattern} from a {loud_adj} {family}, played {tempo_adv}",
                 "there is a {family} playing a {pattern} {register_pp}, {loud_adv} and {tempo_adv}"]},
    "percussion": {
        "train": ["a {loud_adj} {drum} hits {count_adv}", "{count_hits} on a {loud_adj} {drum}",
                  "a {drum} is struck {loud_adv} {count_adv}"],
        "dev": ["the {drum} sounds {count_adv}, {loud_adv}"],
        "test": ["{count_hits} of a {drum}, played {loud_adv}", "a {loud_adj} {drum} that strikes {count_adv}"]},
    "noise": {
        "train": ["a burst of {loud_adj} {colour}", "{loud_adj} {colour} hisses", "{colour} plays {loud_adv}"],
        "dev": ["a stretch of {colour}, {loud_adv}"],
        "test": ["some {loud_adj} {colour}", "{colour} sounding {loud_adv}"]},
    "tone": {
        "train": ["a steady {register_adj} tone", "a {register_adj} sine tone hums", "a pure tone {register_pp}"],
        "dev": ["an unchanging tone {register_pp}"],
        "test": ["a {register_adj} constant tone", "a held tone {register_pp}"]},
    "sweep": {
        "train": ["a {sweep}", "a {sweep} is heard", "there is a {sweep}"],
        "dev": ["a synthetic {sweep}"],
        "test": ["a {sweep} sounds", "an electronic {sweep}"]},
    "beep": {
        "train": ["{count_beeps} {register_pp}", "a {register_adj} beep sounds {count_adv}",
                  "{register_adj} beeping, {count_adv}"],
        "dev": ["an electronic beep {register_pp}, {count_adv}"],
        "test": ["a {register_adj} beeper goes off {count_adv}", "{count_beeps}, {register_adj} in pitch"]},
    "speech": {
        "train": ["{speaker} speaks", "{speaker} says a few words", "speech from {speaker}"],
        "dev": ["{speaker} talks briefly"],
        "test": ["{speaker} is talking", "a short phrase spoken by {speaker}"]},
}

# joiner group -> split -> templates over positions {0}, {1}, {2} (temporal order for sequences)
JOINERS: dict[str, dict[str, list[str]]] = {
    "single": {"train": ["{0}", "in this clip, {0}", "you hear this: {0}", "{0}, alone"]},
    "sequence2": {"train": ["{0}, then {1}", "{0}, followed by {1}", "first {0}, and then {1}", "{1} after {0}"],
                  "dev": ["{0}; next, {1}"],
                  "test": ["{0}, and afterwards {1}", "{1}, coming after {0}"]},
    "sequence3": {"train": ["{0}, then {1}, then {2}", "first {0}, next {1}, and finally {2}",
                            "{0}, followed by {1} and then {2}"],
                  "dev": ["{0}; next, {1}; last, {2}"],
                  "test": ["{0}, and afterwards {1}, and after that {2}",
                           "at the start {0}, in the middle {1}, at the end {2}"]},
    "overlap2": {"train": ["{0} while {1}", "{0}, and at the same time {1}", "{0} together with {1}", "{0}, as {1}"],
                 "dev": ["{0}, simultaneously with {1}"],
                 "test": ["{0} and, at once, {1}", "both at the same moment: {0} and {1}"]},
    "overlap3": {"train": ["{0}, {1} and {2} at the same time", "{0} while {1} and {2}", "together, {0}, {1} and {2}"],
                 "dev": ["{0}, {1} and {2}, all simultaneously"],
                 "test": ["all at once: {0}, {1}, {2}", "{0} layered with {1} and {2}"]},
}
NUM_CAPTIONS = 5
HARD_NEGATIVE_KINDS = ("order", "count", "attribute", "attribute")

_AN = re.compile(r"\ba (?=(?!one|uni|use|eu)[aeiou])")


def slots(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def joiner_group(scene: Scene) -> str:
    n = len(scene.events)
    return "single" if n == 1 else f"{scene.relation}{n}"


@dataclass(frozen=True)
class CaptionStyle:
    """Everything but the facts: joiner, phrase template and slot draws per (canonical) event, and the
    mention order for overlapping events."""

    joiner: str
    phrases: tuple[str, ...]
    draws: tuple[tuple[int, ...], ...]
    mention: tuple[int, ...]


def _templates(table: dict[str, list[str]], split: str) -> list[str]:
    return table.get(split) or table["train"]


def draw_style(scene: Scene, rng: np.random.Generator,
               joiners_table: dict[str, dict[str, list[str]]] = JOINERS) -> CaptionStyle:
    """A random style from the templates of ``scene.split``; draws depend on event kinds only, not facts.
    ``joiners_table`` replaces :data:`JOINERS` (a probe captioning the corpus with other joiners)."""
    joiners = _templates(joiners_table[joiner_group(scene)], scene.split)
    phrases, draws = [], []
    for ev in scene.events:
        pool = _templates(PHRASES[ev.kind], scene.split)
        template = pool[int(rng.integers(len(pool)))]
        phrases.append(template)
        draws.append(tuple(int(x) for x in rng.integers(0, 2**30, size=len(slots(template)))))
    mention = tuple(int(i) for i in rng.permutation(len(scene.events)))
    return CaptionStyle(joiners[int(rng.integers(len(joiners)))], tuple(phrases), tuple(draws), mention)


def render_phrase(template: str, kind: str, facts: dict, draws: tuple[int, ...]) -> str:
    words = {}
    for name, draw in zip(slots(template), draws):
        attribute, options = VOCAB[name]
        if attribute not in ATTRIBUTES[kind]:
            raise ValueError(f"slot {name} of {template!r} names {attribute}, which a {kind} event lacks")
        choices = options[facts[attribute]]
        words[name] = choices[draw % len(choices)]
    return template.format(**words)


def render_caption(scene: Scene, style: CaptionStyle) -> str:
    phrases = [render_phrase(t, ev.kind, dict(ev.attrs), d)
               for ev, t, d in zip(scene.events, style.phrases, style.draws)]
    positions = scene.order if scene.relation == "sequence" else style.mention
    text = style.joiner.format(*(phrases[i] for i in positions))
    return _AN.sub("an ", text)


def captions_of(scene: Scene, num: int = NUM_CAPTIONS,
                joiners_table: dict[str, dict[str, list[str]]] = JOINERS) -> tuple[list[str], list[CaptionStyle]]:
    """``num`` paraphrases (distinct where the templates allow) and their styles; the first is ``text``."""
    rng = np.random.default_rng([scene.caption_seed, 1])
    captions: list[str] = []
    styles: list[CaptionStyle] = []
    for _ in range(num * 8):
        style = draw_style(scene, rng, joiners_table)
        caption = render_caption(scene, style)
        if caption not in captions:
            captions.append(caption)
            styles.append(style)
        if len(captions) == num:
            break
    return captions, styles


def hard_negatives(scene: Scene, style: CaptionStyle) -> list[dict]:
    """Captions in ``style`` of the scene changed only in order, count or one attribute (distinct ones)."""
    rng = np.random.default_rng([scene.caption_seed, 2])
    positive = render_caption(scene, style)
    out: list[dict] = []
    for kind in HARD_NEGATIVE_KINDS:
        changed = changed_scene(scene, kind, rng)
        if changed is None:
            continue
        caption = render_caption(changed, style)
        if caption != positive and all(caption != o["caption"] for o in out):
            out.append({"utt": scene.utt, "kind": kind, "caption": caption})
    return out


# ------------------------------------------------------------------------------------------ zero-shot classes
# label set -> the vocabulary slot whose first paraphrase names its classes: a zero-shot prompt then uses the
# words the captions use ("This is a sound of saxophone.", "... of white noise."), never the corpus's internal
# value ("reed", "white"), which no caption contains
CLASS_NAME_SLOTS = {"family": "family", "percussion": "drum", "noise": "colour", "count": "count_adv"}


def class_name(label_set: str, value) -> str:
    """The name of ``value`` (an event attribute) as a class of ``label_set``."""
    return VOCAB[CLASS_NAME_SLOTS[label_set]][1][value][0]


def zero_shot_classes() -> dict[str, list[str]]:
    """Every label set's class names, in the order of the corpus's attribute values."""
    return {name: [class_name(name, v) for v in ATTRIBUTES[kinds[0]][attr]]
            for name, (kinds, attr) in ZERO_SHOT_SETS.items()}


def zero_shot_label(scene: Scene, label_set: str) -> str | None:
    """The class of ``scene`` in ``label_set`` when exactly one event carries that label, else None."""
    kinds, attr = ZERO_SHOT_SETS[label_set]
    values = [class_name(label_set, e.get(attr)) for e in scene.events if e.kind in kinds]
    return values[0] if len(values) == 1 else None
