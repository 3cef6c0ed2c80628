"""``mini_tts``: an offline, multi-voice English corpus synthesized with espeak-ng and flite.

Why: recipes, tests and ``make demo`` need speech with transcripts, several speakers and a prosody
label, with no download. Synthetic speech is *not* natural speech, so the corpus is built to keep
evaluation honest: ``dev`` and ``test`` use voices **and** sentences that never occur in ``train``.
The utterance-level label is a prosody *style* (speaking rate / pitch manipulation), never an
emotion.

Each utterance is ``(voice, sentence, style)``:

- voices: espeak-ng language/variant pairs and flite's 16 kHz voices (``VOICES``);
- sentences: drawn from a small seeded grammar, so every word recurs across sentences;
- styles: ``neutral``, ``fast``, ``slow``, ``high`` (sox ``tempo`` / ``pitch`` effects applied the
  same way to both engines), with a little per-utterance jitter;
- then resampled to 16 kHz mono, random gain, and white noise at 30-45 dB SNR (seeded).

Deterministic for a seed: the same ``(num_utts, seed)`` gives the same ids, texts and audio.
Resumable: each wav is written atomically and skipped on a re-run when present, and the data-dir
files are written last, so a killed run loses no finished utterance.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import soundfile as sf

from audiocl.data.datadir import DataDir
from audiocl.errors import RecipeError
from audiocl.utils.io import atomic_path

SAMPLE_RATE = 16000
STYLES = ("neutral", "fast", "slow", "high")
LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: an engine and its voice name (espeak-ng ``lang+variant`` or flite voice)."""

    speaker: str
    engine: str  # "espeak-ng" or "flite"
    name: str
    split: str  # "train", "dev" or "test": voices are held out per split


VOICES: tuple[Voice, ...] = (
    # train: 12 voices
    Voice("esp-usm1", "espeak-ng", "en-us+m1", "train"),
    Voice("esp-usf1", "espeak-ng", "en-us+f1", "train"),
    Voice("esp-usm3", "espeak-ng", "en-us+m3", "train"),
    Voice("esp-gbm2", "espeak-ng", "en-gb+m2", "train"),
    Voice("esp-gbf2", "espeak-ng", "en-gb+f2", "train"),
    Voice("esp-scm4", "espeak-ng", "en-gb-scotland+m4", "train"),
    Voice("esp-cbf5", "espeak-ng", "en-029+f5", "train"),
    Voice("esp-rpm7", "espeak-ng", "en-gb-x-rp+m7", "train"),
    Voice("esp-lnm6", "espeak-ng", "en-gb-x-gbclan+m6", "train"),
    Voice("esp-usk3", "espeak-ng", "en-us+klatt3", "train"),
    Voice("flt-kal16", "flite", "kal16", "train"),
    Voice("flt-slt", "flite", "slt", "train"),
    # dev: 3 held-out voices
    Voice("esp-usf3", "espeak-ng", "en-us+f3", "dev"),
    Voice("esp-wmm5", "espeak-ng", "en-gb-x-gbcwmd+m5", "dev"),
    Voice("flt-awb", "flite", "awb", "dev"),
    # test: 3 held-out voices
    Voice("esp-scf4", "espeak-ng", "en-gb-scotland+f4", "test"),
    Voice("esp-cbm2", "espeak-ng", "en-029+m2", "test"),
    Voice("flt-rms", "flite", "rms", "test"),
)

_DETERMINERS = ["THE", "A", "EVERY", "ONE", "THAT", "THIS"]
_ADJECTIVES = ["OLD", "YOUNG", "RED", "GREEN", "SMALL", "LARGE", "QUIET", "HAPPY", "COLD", "WARM",
               "BRIGHT", "DARK", "HEAVY", "LIGHT", "CLEVER", "TIRED", "BLUE", "STRANGE"]
_NOUNS = ["MAN", "WOMAN", "CHILD", "DOG", "CAT", "FARMER", "TEACHER", "DOCTOR", "SAILOR", "BIRD",
          "HORSE", "DRIVER", "PAINTER", "BAKER", "SOLDIER", "NEIGHBOUR", "STUDENT", "KING"]
_OBJECTS = ["BOX", "LETTER", "BOOK", "BASKET", "APPLE", "CHAIR", "WINDOW", "DOOR", "PICTURE", "COAT",
            "BOTTLE", "LAMP", "TABLE", "RIVER", "GARDEN", "BRIDGE", "WAGON", "STONE"]
_VERBS = ["CARRIED", "OPENED", "FOUND", "PAINTED", "WATCHED", "CLEANED", "MOVED", "SOLD", "BOUGHT",
          "BUILT", "LEFT", "DROPPED", "FOLLOWED", "HELPED", "NEEDED", "WANTED", "CHECKED", "COUNTED"]
_PLACES = ["TO THE MARKET", "NEAR THE STATION", "IN THE KITCHEN", "BY THE RIVER", "AT THE SCHOOL",
           "ON THE HILL", "INTO THE HOUSE", "ACROSS THE FIELD", "UNDER THE TREE", "BEHIND THE BARN",
           "OVER THE WALL", "THROUGH THE FOREST"]
_TIMES = ["THIS MORNING", "LAST NIGHT", "ON MONDAY", "AFTER DINNER", "BEFORE NOON", "EVERY DAY",
          "IN THE EVENING", "YESTERDAY", "AT SEVEN", "TWICE A WEEK"]
_ADVERBS = ["SLOWLY", "QUICKLY", "CAREFULLY", "QUIETLY", "AGAIN", "TOGETHER", "ALONE", "SUDDENLY"]


def make_sentence(rng: np.random.Generator) -> str:
    """One sentence from the grammar ``NP VERB NP [PLACE] [TIME|ADVERB]`` (5 to about 14 words)."""

    def pick(words: Sequence[str]) -> str:
        return words[int(rng.integers(len(words)))]

    def noun_phrase(nouns: Sequence[str]) -> list[str]:
        words = [pick(_DETERMINERS)]
        if rng.random() < 0.7:
            words.append(pick(_ADJECTIVES))
        words.append(pick(nouns))
        return words

    words = noun_phrase(_NOUNS) + [pick(_VERBS)] + noun_phrase(_OBJECTS)
    if rng.random() < 0.6:
        words.append(pick(_PLACES))
    tail = rng.random()
    if tail < 0.4:
        words.append(pick(_TIMES))
    elif tail < 0.6:
        words.append(pick(_ADVERBS))
    return " ".join(words)


def sentence_pools(num: Sequence[int], seed: int) -> list[list[str]]:
    """Disjoint pools of unique sentences, one per requested size (train, dev, test)."""
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    pools: list[list[str]] = []
    for size in num:
        pool: list[str] = []
        attempts = 0
        while len(pool) < size:
            attempts += 1
            if attempts > 100 * size + 1000:
                raise RecipeError(f"cannot draw {size} unique sentences from the grammar; lower --num-utts")
            sentence = make_sentence(rng)
            if sentence not in seen:
                seen.add(sentence)
                pool.append(sentence)
        pools.append(pool)
    return pools


@dataclass(frozen=True)
class UtteranceSpec:
    """Everything needed to synthesize one utterance reproducibly."""

    utt_id: str
    split: str
    voice: Voice
    text: str
    style: str
    rate_jitter: float
    pitch_jitter_cents: float
    gain: float
    snr_db: float
    noise_seed: int


def plan_corpus(num_utts: int, seed: int = 0, dev_fraction: float = 0.1, test_fraction: float = 0.1) -> list[UtteranceSpec]:
    """Assign voices, sentences and styles to ``num_utts`` utterances, holding out voices and sentences."""
    if num_utts < 10:
        raise RecipeError(f"--num-utts must be at least 10 (got {num_utts})")
    n_dev = max(1, int(round(num_utts * dev_fraction)))
    n_test = max(1, int(round(num_utts * test_fraction)))
    n_train = num_utts - n_dev - n_test
    counts = {"train": n_train, "dev": n_dev, "test": n_test}
    # About two utterances per training sentence (different voices/styles); one per held-out sentence.
    pools = dict(zip(("train", "dev", "test"),
                     sentence_pools([max(1, n_train // 2), n_dev, n_test], seed)))
    rng = np.random.default_rng(seed + 1)
    specs: list[UtteranceSpec] = []
    for split, count in counts.items():
        voices = [v for v in VOICES if v.split == split]
        pool = pools[split]
        order = rng.permutation(count)
        for k in range(count):
            voice = voices[k % len(voices)]
            text = pool[int(order[k]) % len(pool)]
            specs.append(UtteranceSpec(
                utt_id=f"{voice.speaker}-{split}{k:05d}",
                split=split,
                voice=voice,
                text=text,
                style=STYLES[int(rng.integers(len(STYLES)))],
                rate_jitter=float(rng.uniform(0.93, 1.07)),
                pitch_jitter_cents=float(rng.uniform(-60, 60)),
                gain=float(rng.uniform(0.3, 0.9)),
                snr_db=float(rng.uniform(30, 45)),
                noise_seed=int(rng.integers(2**31 - 1)),
            ))
    return specs


def _style_effects(spec: UtteranceSpec) -> list[str]:
    """sox effects realising the prosody style; the same for both engines so style != engine."""
    tempo = {"neutral": 1.0, "fast": 1.4, "slow": 0.72, "high": 1.0}[spec.style] * spec.rate_jitter
    cents = {"neutral": 0.0, "fast": 0.0, "slow": 0.0, "high": 450.0}[spec.style] + spec.pitch_jitter_cents
    return ["tempo", "-s", f"{tempo:.4f}", "pitch", f"{cents:.1f}"]


def _engine_command(voice: Voice, text: str, out: Path) -> list[str]:
    if voice.engine == "espeak-ng":
        return ["espeak-ng", "-v", voice.name, "-w", str(out), text.lower()]
    if voice.engine == "flite":
        return ["flite", "-voice", voice.name, "-t", text.lower(), "-o", str(out)]
    raise RecipeError(f"unknown synthesis engine {voice.engine!r}")


def synthesize_utterance(spec: UtteranceSpec, wav_path: Path) -> float:
    """Synthesize ``spec`` into ``wav_path`` (16 kHz mono PCM16) atomically; return its duration."""
    if wav_path.exists():
        try:
            return sf.info(str(wav_path)).duration
        except RuntimeError:
            wav_path.unlink()  # a corrupt leftover is re-made, never trusted
    with tempfile.TemporaryDirectory(prefix="mini_tts_") as tmp:
        raw = Path(tmp) / "raw.wav"
        styled = Path(tmp) / "styled.wav"
        for cmd in (_engine_command(spec.voice, spec.text, raw),
                    # -R: sox dithers when it writes 16 bits, from a random seed unless told to repeat
                    ["sox", "-R", str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(styled),
                     *_style_effects(spec), "rate", str(SAMPLE_RATE)]):
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RecipeError(f"utterance {spec.utt_id}: `{' '.join(cmd[:3])} ...` failed "
                                  f"(exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
        wav, _ = sf.read(str(styled), dtype="float32")
    wav = _trim_silence(wav)
    rng = np.random.default_rng(spec.noise_seed)
    peak = float(np.abs(wav).max()) or 1.0
    wav = wav * (spec.gain / peak)
    signal_power = float(np.mean(wav**2)) or 1e-8
    noise = rng.standard_normal(wav.shape).astype(np.float32) * np.sqrt(signal_power / 10 ** (spec.snr_db / 10))
    wav = np.clip(wav + noise, -1.0, 1.0).astype(np.float32)
    with atomic_path(wav_path) as tmp_path:
        sf.write(str(tmp_path), wav, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return len(wav) / SAMPLE_RATE


def _trim_silence(wav: np.ndarray, keep: float = 0.15, threshold: float = 1e-3) -> np.ndarray:
    """Cut long leading/trailing silence (flite pads generously), keeping ``keep`` seconds of margin."""
    active = np.flatnonzero(np.abs(wav) > threshold)
    if active.size == 0:
        return wav
    margin = int(keep * SAMPLE_RATE)
    return wav[max(0, active[0] - margin): active[-1] + margin]


def check_tools() -> None:
    """Fail early, with the fix, when a synthesis tool is missing."""
    missing = [t for t in ("espeak-ng", "flite", "sox") if shutil.which(t) is None]
    if missing:
        raise RecipeError(f"missing synthesis tools: {', '.join(missing)}; install them with "
                          f"`apt-get install espeak-ng flite sox` (make setup does)")


def prepare_mini_tts(out_dir: str | Path, num_utts: int = 600, seed: int = 0, nj: int = 2,
                     wav_dir: str | Path | None = None, progress: bool = False) -> dict[str, DataDir]:
    """Synthesize the corpus and write Kaldi data dirs ``out_dir/{train,dev,test}`` (+ ``real_smoke``).

    Audio goes to ``wav_dir`` (default ``out_dir/wav``). Returns the written data dirs by name.
    """
    check_tools()
    out_dir = Path(out_dir).absolute()
    wav_root = Path(wav_dir).absolute() if wav_dir else out_dir / "wav"
    specs = plan_corpus(num_utts, seed)
    paths = {s.utt_id: wav_root / s.split / f"{s.utt_id}.wav" for s in specs}

    iterator: Iterable = ThreadPoolExecutor(max_workers=max(1, nj)).map(
        lambda s: synthesize_utterance(s, paths[s.utt_id]), specs)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, total=len(specs), desc="synthesizing", unit="utt")
    durations = dict(zip((s.utt_id for s in specs), iterator))

    written: dict[str, DataDir] = {}
    for split in ("train", "dev", "test"):
        chosen = [s for s in specs if s.split == split]
        data = DataDir(
            path=out_dir / split,
            wav_scp={s.utt_id: str(paths[s.utt_id]) for s in chosen},
            text={s.utt_id: s.text for s in chosen},
            utt2spk={s.utt_id: s.voice.speaker for s in chosen},
            utt2dur={s.utt_id: round(durations[s.utt_id], 4) for s in chosen},
            extra={"utt2style": {s.utt_id: s.style for s in chosen}},
        )
        data.save(out_dir / split)
        written[split] = data
    if LIBRIVOX_DIR.is_dir():
        written["real_smoke"] = prepare_real_smoke(out_dir / "real_smoke")
    return written


def prepare_real_smoke(out_dir: str | Path, source: Path = LIBRIVOX_DIR) -> DataDir:
    """Data dir of the real LibriVox utterances that Debian's ``pocketsphinx-testdata`` ships.

    The transcription file has lines ``<s> words </s> (file_id)``; the recordings are 16 kHz wav.
    """
    transcription = source / "transcription"
    if not transcription.is_file():
        raise RecipeError(f"{transcription} not found: install Debian's pocketsphinx-testdata")
    wav_scp, text, utt2spk = {}, {}, {}
    for lineno, line in enumerate(transcription.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if not (line.endswith(")") and "(" in line):
            raise RecipeError(f"{transcription}:{lineno}: expected '<s> words </s> (file_id)'")
        words, file_id = line[: line.rindex("(")], line[line.rindex("(") + 1: -1]
        words = " ".join(w for w in words.split() if w not in ("<s>", "</s>")).upper()
        wav = source / f"{file_id}.wav"
        utt = f"austen-{file_id.rsplit('-', 1)[-1]}"
        wav_scp[utt], text[utt], utt2spk[utt] = str(wav), words, "austen"
    data = DataDir(path=Path(out_dir), wav_scp=wav_scp, text=text, utt2spk=utt2spk)
    data.save(Path(out_dir))
    return data
