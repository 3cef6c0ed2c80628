"""The facts of the mini_clap scenes: event kinds and attributes, held-out combinations, and the plan.

A *scene* is 1-3 events, either one after another (``sequence``) or at the same time (``overlap``). Each
event has a kind and attributes drawn from fixed vocabularies (``ATTRIBUTES``). One attribute of some kinds
names what the event *is* (an instrument's family, a drum, a noise colour; ``IDENTITY``); the event's
*type* is its kind plus that value (``instrument:piano``, ``percussion:snare``, ``tone``). The other
attributes (pattern, register, tempo, loudness, count, direction, voice) say *how* it sounds.

Held-out combinations: of all unordered pairs of distinct types, seeded perfect matchings (every type in the
same number of pairs) are reserved for the test split and others for dev. A training scene contains no reserved pair; every test scene contains a test
pair (and no dev pair), so no test scene's combination of types occurs in training; dev likewise with its
own pairs. Every single type still occurs in training, alone and with other types.

Twins (test only): some test scenes get a second clip that differs only in order (sequence reversed), only
in one count, or only in one non-identity attribute; these are the CompA-style pairs. Twins reuse the base
scene's random rendering draws (``detail``), so the two clips differ in nothing else.

Plans are deterministic and prefix-stable: scene ``k`` of a split depends on the seed and ``k`` only, not
on how many scenes are asked for, so a larger corpus extends a smaller one with the same seed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from audiocl.corpora.midi import GM_DRUMS, GM_PROGRAMS
from audiocl.errors import RecipeError

KINDS = ("instrument", "percussion", "noise", "tone", "sweep", "beep", "speech")
PATTERNS = ("one note", "rising run", "falling run", "chord", "repeated notes")
COUNTS = (1, 2, 3, 4)
ATTRIBUTES: dict[str, dict[str, tuple]] = {
    "instrument": {"family": tuple(GM_PROGRAMS), "pattern": PATTERNS, "register": ("low", "high"),
                   "tempo": ("slow", "fast"), "loudness": ("soft", "loud")},
    "percussion": {"drum": tuple(GM_DRUMS), "count": COUNTS, "loudness": ("soft", "loud")},
    "noise": {"colour": ("white", "pink", "brown"), "loudness": ("soft", "loud")},
    "tone": {"register": ("low", "high")},
    "sweep": {"direction": ("up", "down")},
    "beep": {"count": COUNTS, "register": ("low", "high")},
    "speech": {"voice_gender": ("male", "female")},
}
IDENTITY = {"instrument": "family", "percussion": "drum", "noise": "colour"}
COUNTED_KINDS = ("percussion", "beep")
SPLITS = ("train", "dev", "test")
RELATIONS = ("sequence", "overlap")
DETAIL_DRAWS = 8  # uniform draws per event that fix everything the facts leave open (timbre, pitch, timing)

# Perfect matchings of the 24 types reserved per held-out split (3 -> 36 of the 276 pairs for test, 2 -> 24
# for dev); events per scene per split (probabilities of 1, 2, 3).
HELD_OUT_ROUNDS = {"test": 3, "dev": 2}
EVENT_COUNT_PROBS = {"train": (0.25, 0.45, 0.30), "dev": (0.0, 0.6, 0.4), "test": (0.0, 0.6, 0.4)}
OVERLAP_SHARE = 0.4
# Test clips come in units that cycle: a base with its twin, then three single clips (2 of 5 clips in pairs).
TWIN_CYCLE = (True, False, False, False)
TWIN_KINDS = ("order", "attribute", "count")


@dataclass(frozen=True)
class Event:
    """One sound event: its kind, its attributes as sorted ``(name, value)`` pairs, and rendering draws."""

    kind: str
    attrs: tuple[tuple[str, Any], ...]
    detail: tuple[float, ...]

    def get(self, name: str) -> Any:
        return dict(self.attrs)[name]

    @property
    def type(self) -> str:
        ident = IDENTITY.get(self.kind)
        return f"{self.kind}:{self.get(ident)}" if ident else self.kind

    def facts(self) -> dict[str, Any]:
        """What ``utt2labels`` records: the kind and the attributes, in a fixed key order."""
        return {"kind": self.kind, **{k: self.get(k) for k in ATTRIBUTES[self.kind]}}

    def with_attr(self, name: str, value: Any) -> "Event":
        return replace(self, attrs=tuple(sorted({**dict(self.attrs), name: value}.items())))


@dataclass(frozen=True)
class Scene:
    """One clip: events in canonical order, the temporal order (indices into ``events``), the relation,
    the layout draws, and the caption seed (shared with a twin so both are captioned alike)."""

    utt: str
    split: str
    events: tuple[Event, ...]
    order: tuple[int, ...]
    relation: str
    layout: tuple[float, ...]
    caption_seed: int
    twin_of: str | None = None
    twin_kind: str | None = None

    def timeline(self) -> list[Event]:
        """Events in temporal order (sequence) or listing order (overlap)."""
        return [self.events[i] for i in self.order]

    def labels(self) -> dict[str, Any]:
        return {"events": [e.facts() for e in self.timeline()], "relation": self.relation}

    def types(self) -> frozenset[str]:
        return frozenset(e.type for e in self.events)


def all_types() -> list[str]:
    out = []
    for kind in KINDS:
        ident = IDENTITY.get(kind)
        out += [f"{kind}:{v}" for v in ATTRIBUTES[kind][ident]] if ident else [kind]
    return out


def held_out_pairs(seed: int) -> dict[str, frozenset[frozenset[str]]]:
    """Type pairs reserved for ``test`` and ``dev`` (disjoint); every other pair may occur in training.

    The reserved pairs are unions of random perfect matchings of the types, so every type is in exactly
    ``HELD_OUT_ROUNDS[split]`` reserved pairs: held-out scenes, built around these pairs, are balanced over
    types, and no zero-shot class of a held-out split is dominated by a few classes.
    """
    types = all_types()
    rng = np.random.default_rng([seed, 7919])
    taken: set[frozenset[str]] = set()
    out: dict[str, frozenset[frozenset[str]]] = {}
    for split in ("test", "dev"):
        chosen: set[frozenset[str]] = set()
        while len(chosen) < HELD_OUT_ROUNDS[split] * (len(types) // 2):
            perm = [types[i] for i in rng.permutation(len(types))]
            matching = {frozenset(perm[i:i + 2]) for i in range(0, len(perm) - 1, 2)}
            if not matching & (taken | chosen):
                chosen |= matching
        out[split] = frozenset(chosen)
        taken |= chosen
    return out


def _pairs_of(types: list[str]) -> set[frozenset[str]]:
    return {frozenset(p) for p in itertools.combinations(types, 2)}


def _make_event(type_: str, rng: np.random.Generator) -> Event:
    kind, _, ident_value = type_.partition(":")
    attrs = {}
    for name, values in ATTRIBUTES[kind].items():
        if name == IDENTITY.get(kind):
            attrs[name] = ident_value
        else:
            value = values[int(rng.integers(len(values)))]
            attrs[name] = int(value) if isinstance(value, (int, np.integer)) else value
    return Event(kind, tuple(sorted(attrs.items())), tuple(float(x) for x in rng.random(DETAIL_DRAWS)))


def _draw_types(split: str, reserved: dict[str, frozenset], rng: np.random.Generator, k: int) -> list[str]:
    """Types of scene ``k``: train avoids every reserved pair; dev/test start from one of their own pairs."""
    types = all_types()
    n = 1 + int(rng.choice(3, p=EVENT_COUNT_PROBS[split]))
    if split == "train":
        forbidden = reserved["test"] | reserved["dev"]
        while True:
            chosen = [types[i] for i in rng.choice(len(types), size=n, replace=False)]
            if not _pairs_of(chosen) & forbidden:
                return chosen
    own = sorted(sorted(p) for p in reserved[split])
    other = reserved["dev" if split == "test" else "test"]
    chosen = list(own[k % len(own)])
    while len(chosen) < n:
        extra = types[int(rng.integers(len(types)))]
        if extra not in chosen and not _pairs_of(chosen + [extra]) & other:
            chosen.append(extra)
    return chosen


def _make_scene(utt: str, split: str, reserved: dict[str, frozenset], rng: np.random.Generator, k: int) -> Scene:
    types = _draw_types(split, reserved, rng, k)
    events = tuple(_make_event(t, rng) for t in types)
    order = tuple(int(i) for i in rng.permutation(len(events)))
    relation = "overlap" if len(events) > 1 and rng.random() < OVERLAP_SHARE else "sequence"
    return Scene(utt, split, events, order, relation, tuple(float(x) for x in rng.random(4)),
                 int(rng.integers(2**31 - 1)))


def _other_value(values: tuple, current: Any, rng: np.random.Generator) -> Any:
    choices = [v for v in values if v != current]
    value = choices[int(rng.integers(len(choices)))]
    return int(value) if isinstance(value, (int, np.integer)) else value


def changed_scene(scene: Scene, kind: str, rng: np.random.Generator) -> Scene | None:
    """``scene`` changed only in ``kind`` (order / count / attribute), or None where that cannot apply.

    Used for twins (test clips) and for hard-negative captions alike, so both mean the same change.
    """
    if kind == "order":
        if scene.relation != "sequence" or len(scene.events) < 2:
            return None
        return replace(scene, order=tuple(reversed(scene.order)))
    if kind == "count":
        idx = [i for i, e in enumerate(scene.events) if e.kind in COUNTED_KINDS]
        if not idx:
            return None
        i = idx[int(rng.integers(len(idx)))]
        ev = scene.events[i]
        new = ev.with_attr("count", _other_value(COUNTS, ev.get("count"), rng))
    elif kind == "attribute":
        options = [(i, name) for i, e in enumerate(scene.events) for name in ATTRIBUTES[e.kind]
                   if name != IDENTITY.get(e.kind) and name != "count"]
        i, name = options[int(rng.integers(len(options)))]
        ev = scene.events[i]
        new = ev.with_attr(name, _other_value(ATTRIBUTES[ev.kind][name], ev.get(name), rng))
    else:
        raise ValueError(f"unknown change kind {kind!r}")
    return replace(scene, events=scene.events[:i] + (new,) + scene.events[i + 1:])


def plan_split(split: str, num: int, seed: int) -> list[Scene]:
    """The scenes of one split; test scenes include twins (``twin_of`` names the base clip)."""
    if split not in SPLITS:
        raise RecipeError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if num < 0:
        raise RecipeError(f"the number of {split} clips must be >= 0 (got {num})")
    reserved = held_out_pairs(seed)
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    scenes: list[Scene] = []
    unit = 0
    while len(scenes) < num:
        utt = f"{split}-{len(scenes):05d}"
        base = _make_scene(utt, split, reserved, rng, unit)
        scenes.append(base)
        wants_twin = split == "test" and TWIN_CYCLE[unit % len(TWIN_CYCLE)] and len(scenes) < num
        unit += 1
        if not wants_twin:
            continue
        twin_rng = np.random.default_rng([seed, 31, unit])
        for kind in itertools.islice(itertools.cycle(TWIN_KINDS), unit % len(TWIN_KINDS), None):
            twin = changed_scene(base, kind, twin_rng)
            if twin is not None:
                break
        scenes.append(replace(twin, utt=f"{split}-{len(scenes):05d}", twin_of=base.utt, twin_kind=kind))
    return scenes


# label set -> (event kinds that carry it, attribute)
ZERO_SHOT_SETS: dict[str, tuple[tuple[str, ...], str]] = {
    "family": (("instrument",), "family"),
    "percussion": (("percussion",), "drum"),
    "noise": (("noise",), "colour"),
    "count": (COUNTED_KINDS, "count"),
}
