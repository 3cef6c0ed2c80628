"""IEMOCAP emotion recognition: Kaldi data dirs with ``utt2emo`` and leave-one-session-out folds.

Layout read (the release as distributed, ``IEMOCAP_full_release/``)::

    Session{1..5}/sentences/wav/<dialog>/<utt>.wav
    Session{1..5}/dialog/EmoEvaluation/<dialog>.txt    lines "[start - end]<TAB><utt><TAB><emo><TAB>[v, a, d]"
    Session{1..5}/dialog/transcriptions/<dialog>.txt   lines "<utt> [start-end]: words"   (optional)

The common 4-class protocol (SUPERB ER; "SUPERB: Speech processing Universal PERformance Benchmark"):
neutral, happy (= happy + excited merged), angry, sad; every other label (frustrated, surprised, xxx, ...)
is left out. Evaluation is leave-one-session-out: fold ``k`` trains on the other four sessions and tests
on session ``k``, so no speaker is in both (each session has its own two actors).

Written data dirs: ``all``, ``Session<k>``, ``fold<k>_train``, ``fold<k>_test`` (k = 1..5), each with
``wav.scp``, ``utt2spk`` (speaker = session + gender, e.g. ``Ses01F``), ``utt2emo``, ``text`` when
transcriptions exist, and ``utt2dur``. Utterance ids are prefixed by the speaker (Kaldi convention).
"""

from __future__ import annotations

import re
from pathlib import Path

from audiocl.errors import DataDirError

EMOTION_MAP = {"neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad"}
"""IEMOCAP label -> 4-class label (happy and excited merged, as in the SUPERB ER protocol)."""

_EVAL_LINE = re.compile(r"^\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]\s+(\S+)\s+(\S+)")
_TRANS_LINE = re.compile(r"^(\S+)\s+\[[^\]]*\]:\s*(.*)$")


def _speaker(orig_utt: str) -> str:
    """``Ses01F_impro01_M013`` -> ``Ses01M`` (the gender of the utterance's speaker is its last field)."""
    m = re.match(r"^(Ses\d\d)[FM]_.*_([FM])\d+$", orig_utt)
    if not m:
        raise DataDirError(f"IEMOCAP utterance id {orig_utt!r} does not look like SesNN[FM]_..._[FM]NNN")
    return m.group(1) + m.group(2)


def read_iemocap(root: str | Path) -> list[dict]:
    """Every 4-class utterance: ``{"utt", "spk", "session", "wav", "emo", "text"}`` (sorted by utt)."""
    root = Path(root)
    sessions = sorted(p for p in root.glob("Session[1-5]") if p.is_dir())
    if not sessions:
        raise DataDirError(f"{root}: no Session1..Session5 folders (expected the IEMOCAP_full_release layout)")
    out = []
    skipped = 0
    for sess in sessions:
        k = int(sess.name[-1])
        texts: dict[str, str] = {}
        for tf in sorted((sess / "dialog" / "transcriptions").glob("*.txt")):
            for line in tf.read_text(encoding="utf-8", errors="replace").splitlines():
                m = _TRANS_LINE.match(line.strip())
                if m:
                    texts[m.group(1)] = m.group(2).strip()
        eval_files = sorted((sess / "dialog" / "EmoEvaluation").glob("*.txt"))
        if not eval_files:
            raise DataDirError(f"{sess}/dialog/EmoEvaluation: no label files")
        for ef in eval_files:
            for lineno, line in enumerate(ef.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                m = _EVAL_LINE.match(line.strip())
                if not m:
                    continue
                orig, emo = m.group(3), m.group(4)
                if emo not in EMOTION_MAP:
                    skipped += 1
                    continue
                dialog = orig.rsplit("_", 1)[0]
                wav = sess / "sentences" / "wav" / dialog / f"{orig}.wav"
                if not wav.is_file():
                    raise DataDirError(f"{ef} line {lineno}: utterance {orig}: audio {wav} is missing")
                spk = _speaker(orig)
                out.append({"utt": f"{spk}-{orig}", "spk": spk, "session": k, "wav": str(wav.resolve()),
                            "emo": EMOTION_MAP[emo], "text": texts.get(orig)})
    if not out:
        raise DataDirError(f"{root}: no utterance with a 4-class label (neu, hap, exc, ang, sad)")
    out.sort(key=lambda r: r["utt"])
    return out


def _write(rows: list[dict], path: Path) -> None:
    from audiocl.data.datadir import DataDir

    dd = DataDir(path=None)
    dd.wav_scp = {r["utt"]: r["wav"] for r in rows}
    dd.utt2spk = {r["utt"]: r["spk"] for r in rows}
    dd.extra = {"utt2emo": {r["utt"]: r["emo"] for r in rows}}
    if all(r["text"] is not None for r in rows):
        dd.text = {r["utt"]: r["text"] for r in rows}
    dd.save(path)


def prepare_iemocap(root: str | Path, out: str | Path) -> dict[str, int]:
    """Write ``out/{all,Session<k>,fold<k>_train,fold<k>_test}``; returns utterances per data dir."""
    rows = read_iemocap(root)
    out = Path(out)
    counts: dict[str, int] = {}
    sets: dict[str, list[dict]] = {"all": rows}
    present = sorted({r["session"] for r in rows})
    for k in present:
        sets[f"Session{k}"] = [r for r in rows if r["session"] == k]
        if len(present) > 1:
            sets[f"fold{k}_train"] = [r for r in rows if r["session"] != k]
            sets[f"fold{k}_test"] = sets[f"Session{k}"]
    for name, subset in sets.items():
        _write(subset, out / name)
        counts[name] = len(subset)
    from audiocl.data.datadir_ops import compute_utt2dur

    for name in sets:
        compute_utt2dur(out / name)
    return counts
