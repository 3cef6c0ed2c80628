"""A minimal Standard MIDI File writer and the General MIDI numbers the scene corpus uses.

Why our own writer instead of ``mido``: the corpus needs one track with a tempo, a program change and
note-on/off events, which is about fifty lines of the format (SMF 1.0, format 0). Writing it here keeps
the corpus free of a dependency that would have to be pinned, and the bytes are ours to test.

Times are in seconds; the file uses 480 ticks per quarter note at 120 bpm (960 ticks per second), so
a note's timing is exact to about 1 ms. Channel 9 (0-based) is the General MIDI percussion channel,
where a note number selects the drum instead of a pitch.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Sequence

TICKS_PER_QUARTER = 480
MICROSECONDS_PER_QUARTER = 500_000  # 120 bpm
TICKS_PER_SECOND = TICKS_PER_QUARTER * 1_000_000 // MICROSECONDS_PER_QUARTER
PERCUSSION_CHANNEL = 9

# General MIDI programs (0-based) per instrument family; a clip draws one, so a family is more than one timbre.
GM_PROGRAMS: dict[str, tuple[int, ...]] = {
    "piano": (0, 1),            # acoustic grand, bright acoustic
    "organ": (16, 19),          # drawbar, church organ
    "guitar": (24, 25),         # nylon, steel string
    "bass": (32, 33),           # acoustic, electric finger bass
    "strings": (48, 49),        # string ensembles 1 and 2
    "brass": (56, 61),          # trumpet, brass section
    "reed": (65, 66),           # alto, tenor saxophone
    "flute": (73, 74),          # flute, recorder
    "synth lead": (80, 81),     # square, sawtooth lead
}

# General MIDI percussion key numbers per drum; a clip draws one where two exist.
GM_DRUMS: dict[str, tuple[int, ...]] = {
    "kick": (35, 36),
    "snare": (38, 40),
    "hi-hat": (42,),
    "hand clap": (39,),
    "cymbal": (49, 57),
    "tom": (45, 48),
    "cowbell": (56,),
    "tambourine": (54,),
}


@dataclass(frozen=True)
class Note:
    """One note: MIDI key, onset and duration in seconds, velocity 1-127."""

    key: int
    start: float
    duration: float
    velocity: int


def _vlq(value: int) -> bytes:
    """MIDI variable-length quantity: 7 bits per byte, high bit set on all but the last."""
    if value < 0:
        raise ValueError(f"negative delta time {value}")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


@dataclass(frozen=True)
class Part:
    """Notes played with one GM ``program`` on one ``channel`` (program is ignored on the percussion channel)."""

    program: int
    channel: int
    notes: tuple[Note, ...]


def midi_bytes(parts: Sequence[Part | tuple[int, int, Sequence[Note]]], *, tail: float = 0.5) -> bytes:
    """A format-0 Standard MIDI File playing every part.

    A part's program change is sent at its first note, so parts may share a channel one after another.

    ``tail`` seconds of silence follow the last note-off so the synthesizer renders the release.
    """
    parts = [p if isinstance(p, Part) else Part(p[0], p[1], tuple(p[2])) for p in parts]
    # (tick, order, bytes): at one tick, note-offs (0) come before program changes (1) and note-ons (2)
    events: list[tuple[int, int, bytes]] = []
    track = bytearray()
    track += _vlq(0) + b"\xff\x51\x03" + MICROSECONDS_PER_QUARTER.to_bytes(3, "big")
    for part in parts:
        if not 0 <= part.channel <= 15:
            raise ValueError(f"MIDI channel {part.channel} is outside 0-15")
        if not 0 <= part.program <= 127:
            raise ValueError(f"MIDI program {part.program} is outside 0-127")
        if part.channel != PERCUSSION_CHANNEL and part.notes:
            first = round(min(n.start for n in part.notes) * TICKS_PER_SECOND)
            events.append((first, 1, bytes((0xC0 | part.channel, part.program))))
        for n in part.notes:
            if not (0 <= n.key <= 127 and 1 <= n.velocity <= 127 and n.duration > 0 and n.start >= 0):
                raise ValueError(f"invalid note {n}")
            on = round(n.start * TICKS_PER_SECOND)
            off = max(on + 1, round((n.start + n.duration) * TICKS_PER_SECOND))
            events.append((on, 2, bytes((0x90 | part.channel, n.key, n.velocity))))
            events.append((off, 0, bytes((0x80 | part.channel, n.key, 0))))
    events.sort(key=lambda e: (e[0], e[1]))
    tick = 0
    for when, _, data in events:
        track += _vlq(when - tick) + data
        tick = when
    track += _vlq(round(tail * TICKS_PER_SECOND)) + b"\xff\x2f\x00"  # end of track
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_QUARTER)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)
