"""Audio of mini_clap scenes: each event rendered alone, levelled by its loudness, then laid out and mixed.

- Instruments and GM percussion: MIDI written by :mod:`audiocl.corpora.midi`, rendered by ``fluidsynth``
  from the TimGM6mb soundfont. All MIDI events of a clip go into *one* file, each in its own time slot and
  channel, so a clip costs one fluidsynth start (~0.1 s) and each event is still cut out alone. Output is
  float (``-O float``): fluidsynth dithers 16-bit output with a fresh random sequence per run, float output
  is bit-identical across runs. Reverb and chorus are off, so nothing of one slot leaks into the next.
- Noises (white / pink / brown), tones, sweeps and beeps are synthesized in numpy from the event's seeded
  draws: no process start, and exactly reproducible (sox's noise generators are seeded per process).
- Speech: ``espeak-ng`` with male or female voice variants, resampled to 16 kHz.

Each event is peak-normalised to its loudness level (loud / soft, or a middle level for kinds without a
loudness attribute), so "loud" and "soft" mean the same across instruments whose samples differ in level.
A sequence places events one after another with short gaps; an overlap starts them within half a second.
A -70 dB noise floor keeps silent stretches from being exactly zero.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from audiocl.corpora.midi import GM_DRUMS, GM_PROGRAMS, PERCUSSION_CHANNEL, Note, midi_bytes
from audiocl.corpora.scene_plan import Event, Scene
from audiocl.data.audio import resample
from audiocl.errors import RecipeError

SAMPLE_RATE = 16000
SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
PEAK = {"loud": 0.5, "soft": 0.125, None: 0.28}  # -12 dB between loud and soft
SLOT_SECONDS = 4.0  # each MIDI event's slot in the clip's one MIDI file: event plus release
RELEASE_SECONDS = 0.5
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11, 12, 14, 16)
PHRASES_SPOKEN = ("hello there", "good morning everyone", "please come in", "the door is open", "see you later",
                  "thank you very much", "it is time to go", "look at this", "where are the keys", "that sounds good")
VOICE_VARIANTS = {"male": ("m1", "m2", "m3", "m4", "m7"), "female": ("f1", "f2", "f3", "f4", "f5")}


def check_tools(soundfont: Path = SOUNDFONT) -> None:
    """Fail early, with the fix, when a renderer or the soundfont is missing."""
    missing = [t for t in ("fluidsynth", "espeak-ng") if shutil.which(t) is None]
    if missing:
        raise RecipeError(f"missing tools: {', '.join(missing)}; install them with `apt-get install fluidsynth "
                          f"espeak-ng timgm6mb-soundfont` (make setup does)")
    if not Path(soundfont).is_file():
        raise RecipeError(f"soundfont {soundfont} not found; install Debian's timgm6mb-soundfont or pass --soundfont")


# ---------------------------------------------------------------------------- MIDI events
def _pick(options: tuple, u: float):
    return options[min(int(u * len(options)), len(options) - 1)]


def instrument_notes(ev: Event) -> tuple[int, list[Note]]:
    """GM program and notes of an instrument event; ``detail`` fixes program, pitch, timing, velocity."""
    u = ev.detail
    program = _pick(GM_PROGRAMS[ev.get("family")], u[0])
    base = (43 if ev.get("register") == "low" else 72) + int(u[1] * 8)
    step = (0.30 + 0.06 * u[2]) if ev.get("tempo") == "slow" else (0.13 + 0.03 * u[2])
    velocity = (100 + int(u[3] * 25)) if ev.get("loudness") == "loud" else (36 + int(u[3] * 16))
    pattern = ev.get("pattern")
    if pattern in ("one note", "chord"):
        length = step * 4
        keys = [base] if pattern == "one note" else [base, base + (4 if u[5] < 0.5 else 3), base + 7]
        return program, [Note(k, 0.0, length, velocity) for k in keys]
    n = 4 + int(u[4] * 2)
    if pattern == "repeated notes":
        return program, [Note(base, i * step, step * 0.8, velocity) for i in range(n)]
    degrees = MAJOR_SCALE[:n] if pattern == "rising run" else MAJOR_SCALE[:n][::-1]
    return program, [Note(base + d, i * step, step * 0.95, velocity) for i, d in enumerate(degrees)]


def percussion_notes(ev: Event) -> list[Note]:
    u = ev.detail
    key = _pick(GM_DRUMS[ev.get("drum")], u[0])
    interval = 0.26 + 0.08 * u[2]
    velocity = (100 + int(u[3] * 25)) if ev.get("loudness") == "loud" else (36 + int(u[3] * 16))
    return [Note(key, i * interval, 0.1, velocity) for i in range(ev.get("count"))]


def render_midi_events(events: list[Event], soundfont: Path, workdir: Path) -> list[np.ndarray]:
    """Render MIDI events in one fluidsynth call, one slot and channel each; mono float32 per event."""
    parts, ends = [], []
    channels = iter(c for c in range(16) if c != PERCUSSION_CHANNEL)
    for slot, ev in enumerate(events):
        offset = slot * SLOT_SECONDS
        if ev.kind == "percussion":
            program, channel, notes = 0, PERCUSSION_CHANNEL, percussion_notes(ev)
        else:
            (program, notes), channel = instrument_notes(ev), next(channels)
        parts.append((program, channel, [Note(n.key, n.start + offset, n.duration, n.velocity) for n in notes]))
        ends.append(max(n.start + n.duration for n in notes))
    mid, wav = workdir / "events.mid", workdir / "events.wav"
    mid.write_bytes(midi_bytes(parts))
    cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-O", "float", "-r", str(SAMPLE_RATE),
           "-F", str(wav), str(soundfont), str(mid)]
    # fluidsynth initialises SDL audio at start; SDL probing ALSA/PulseAudio waits ~0.2 s for nothing here
    env = {**os.environ, "SDL_AUDIODRIVER": "dummy"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not wav.is_file():
        raise RecipeError(f"fluidsynth failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    audio, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    out = []
    for slot, end in enumerate(ends):
        start = int(slot * SLOT_SECONDS * sr)
        out.append(_trim(audio[start:start + int((end + RELEASE_SECONDS) * sr)]))
    return out


# ---------------------------------------------------------------------------- numpy events
def _fade(x: np.ndarray, seconds: float = 0.01) -> np.ndarray:
    n = min(int(seconds * SAMPLE_RATE), len(x) // 2)
    if n:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


def coloured_noise(colour: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f power) or brown (1/f^2 power) noise by shaping a white spectrum."""
    white = rng.standard_normal(n)
    if colour == "white":
        return white.astype(np.float32)
    spec = np.fft.rfft(white)
    freqs = np.maximum(np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE), 20.0)
    spec *= freqs ** (-0.5 if colour == "pink" else -1.0)
    return np.fft.irfft(spec, n).astype(np.float32)


def synth_event(ev: Event) -> np.ndarray:
    """Noise, tone, sweep or beep samples of ``ev`` (seeded by its draws)."""
    u = ev.detail
    sr = SAMPLE_RATE
    if ev.kind == "noise":
        rng = np.random.default_rng(int(u[6] * 2**31))
        return _fade(coloured_noise(ev.get("colour"), int((1.0 + 0.4 * u[0]) * sr), rng), 0.02)
    if ev.kind == "tone":
        freq = (180 + 80 * u[1]) if ev.get("register") == "low" else (1400 + 600 * u[1])
        t = np.arange(int((0.9 + 0.4 * u[0]) * sr)) / sr
        return _fade(np.sin(2 * np.pi * freq * t).astype(np.float32), 0.02)
    if ev.kind == "sweep":
        n = int((1.0 + 0.3 * u[0]) * sr)
        lo, hi = 220 + 60 * u[1], 2800 + 600 * u[2]
        freqs = np.geomspace(lo, hi, n) if ev.get("direction") == "up" else np.geomspace(hi, lo, n)
        return _fade(np.sin(2 * np.pi * np.cumsum(freqs) / sr).astype(np.float32), 0.02)
    if ev.kind == "beep":
        freq = (440 + 100 * u[1]) if ev.get("register") == "low" else (2000 + 400 * u[1])
        on, off = int((0.09 + 0.02 * u[2]) * sr), int((0.12 + 0.04 * u[4]) * sr)
        beep = _fade(np.sin(2 * np.pi * freq * np.arange(on) / sr).astype(np.float32), 0.005)
        one = np.concatenate([beep, np.zeros(off, np.float32)])
        return np.tile(one, ev.get("count"))[: len(one) * ev.get("count") - off]
    raise ValueError(f"{ev.kind} events are not synthesized in numpy")


def speech_event(ev: Event, workdir: Path) -> np.ndarray:
    u = ev.detail
    voice = "en-us+" + _pick(VOICE_VARIANTS[ev.get("voice_gender")], u[1])
    out = workdir / "speech.wav"
    cmd = ["espeak-ng", "-v", voice, "-s", str(145 + int(30 * u[2])), "-w", str(out), _pick(PHRASES_SPOKEN, u[0])]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RecipeError(f"espeak-ng failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    wav, sr = sf.read(str(out), dtype="float32", always_2d=True)
    return _trim(resample(wav.mean(axis=1), sr, SAMPLE_RATE))


def _trim(x: np.ndarray, rel_db: float = -50.0) -> np.ndarray:
    """Cut leading/trailing samples quieter than ``rel_db`` below the peak (release tails, padding)."""
    peak = float(np.abs(x).max(initial=0.0))
    if peak == 0.0:
        return x
    active = np.flatnonzero(np.abs(x) > peak * 10 ** (rel_db / 20))
    return x[active[0]: active[-1] + 1]


# ---------------------------------------------------------------------------- scenes
def render_events(scene: Scene, soundfont: Path) -> list[np.ndarray]:
    """Every event of ``scene`` (canonical order), levelled to its loudness."""
    out: dict[int, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="mini_clap_") as tmp:
        midi = [i for i, e in enumerate(scene.events) if e.kind in ("instrument", "percussion")]
        if midi:
            for i, audio in zip(midi, render_midi_events([scene.events[i] for i in midi], soundfont, Path(tmp))):
                out[i] = audio
        for i, ev in enumerate(scene.events):
            if ev.kind == "speech":
                out[i] = speech_event(ev, Path(tmp))
            elif i not in out:
                out[i] = synth_event(ev)
    levelled = []
    for i, ev in enumerate(scene.events):
        x = out[i]
        peak = float(np.abs(x).max(initial=0.0))
        if peak == 0.0 or len(x) == 0:
            raise RecipeError(f"clip {scene.utt}: event {ev.type} rendered silent")
        loudness = dict(ev.attrs).get("loudness")
        gain_db = 3.0 * (ev.detail[7] - 0.5)
        levelled.append((x * (PEAK[loudness] * 10 ** (gain_db / 20) / peak)).astype(np.float32))
    return levelled


def mix_scene(scene: Scene, events: list[np.ndarray]) -> np.ndarray:
    """Lay the events out (sequence: one after another; overlap: together) and mix them."""
    sr = SAMPLE_RATE
    starts: dict[int, int] = {}
    cursor = int((0.1 + 0.2 * scene.layout[0]) * sr)
    for pos, i in enumerate(scene.order):
        if scene.relation == "sequence":
            starts[i] = cursor
            cursor += len(events[i]) + int((0.15 + 0.25 * scene.layout[1 + pos % 3]) * sr)
        else:
            starts[i] = cursor + int(0.5 * sr * (scene.layout[1 + pos % 3] if pos else 0.0))
    total = max(starts[i] + len(events[i]) for i in starts) + int(0.2 * sr)
    mix = np.zeros(total, np.float32)
    for i, x in enumerate(events):
        mix[starts[i]: starts[i] + len(x)] += x
    peak = float(np.abs(mix).max())
    if peak > 0.95:
        mix *= 0.95 / peak
    floor = np.random.default_rng(scene.caption_seed).standard_normal(total).astype(np.float32)
    return np.clip(mix + floor * 10 ** (-70 / 20), -1.0, 1.0)


def render_scene(scene: Scene, soundfont: Path = SOUNDFONT) -> np.ndarray:
    """The clip of ``scene``: 16 kHz mono float32."""
    return mix_scene(scene, render_events(scene, soundfont))
