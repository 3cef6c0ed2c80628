"""LibriSpeech (OpenSLR resource 12): download with resume + MD5, safe extraction, Kaldi data dirs.

Layout read by :func:`prepare_librispeech` (as distributed)::

    LibriSpeech/<part>/<speaker>/<chapter>/<speaker>-<chapter>-<NNNN>.flac
    LibriSpeech/<part>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   ("UTT-ID WORDS ...")
    LibriSpeech/SPEAKERS.TXT  (optional: "ID | SEX | SUBSET | MINUTES | NAME", gives spk2gender)

Data dirs are named like Kaldi's recipe (``dev-clean`` -> ``dev_clean``). Utterance ids are the LibriSpeech
ids, speakers the real reader ids (``<speaker>``, a prefix of every id, so C-sorted files agree).
``wav.scp`` points at the flac files (soundfile reads flac; no ``flac -d |`` pipe needed).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from audiocl.errors import DataDirError, DownloadError
from audiocl.recipe.download import download_file, print_progress
from audiocl.utils.io import atomic_write_text

OPENSLR_BASE_URL = "https://www.openslr.org/resources/12"

# Published checksums, from https://www.openslr.org/resources/12/md5sum.txt (the official list of
# resource 12; the same values are pinned by e.g. PaddlePaddle DeepSpeech's librispeech.py).
LIBRISPEECH_MD5: dict[str, str] = {
    "dev-clean": "42e2234ba48799c1f50f24a7926300a1",
    "dev-other": "c8d0bcc9cca99d4f8b62fcc847357931",
    "test-clean": "32fa31d27d2e1cad72775fee3f4849a9",
    "test-other": "fb5a50374b501bb3bac4815ee91d3135",
    "train-clean-100": "2a93770f6d5c6c964bc36631d331a522",
    "train-clean-360": "c0e676e450a7ff2f54aeade5171606fa",
    "train-other-500": "d1a0fd59409feb2c614ce4d30c387708",
}
PARTS: tuple[str, ...] = tuple(LIBRISPEECH_MD5)


def data_dir_name(part: str) -> str:
    """Kaldi's naming of a LibriSpeech part as a data dir: ``train-clean-100`` -> ``train_clean_100``."""
    return part.replace("-", "_")


# Data sets made of several parts, named as in Kaldi's egs/librispeech/s5.
COMBINED_SETS: dict[str, tuple[str, ...]] = {
    "train_clean_460": ("train-clean-100", "train-clean-360"),
    "train_960": ("train-clean-100", "train-clean-360", "train-other-500"),
}


def parts_of_set(name: str) -> tuple[str, ...]:
    """The LibriSpeech parts a recipe data set is made of: ``dev_clean`` -> (dev-clean,), ``train_960`` -> 3."""
    if name in COMBINED_SETS:
        return COMBINED_SETS[name]
    part = name.replace("_", "-")
    if part not in LIBRISPEECH_MD5:
        known = sorted([data_dir_name(p) for p in LIBRISPEECH_MD5] + list(COMBINED_SETS))
        raise DataDirError(f"no LibriSpeech data set {name!r}; known: {', '.join(known)}")
    return (part,)


def parts_of_sets(names: Iterable[str]) -> list[str]:
    """All parts needed by the given data sets, each once, in order."""
    out: list[str] = []
    for name in names:
        out += [p for p in parts_of_set(name) if p not in out]
    return out


def read_md5_file(path: str | Path) -> dict[str, str]:
    """Read an ``md5sum``-format file (``HASH  NAME.tar.gz``) into ``{part: hash}``.

    Used for mirrors that repackage the archives (and by tests); the official sums are the default.
    """
    sums: dict[str, str] = {}
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 2 or len(fields[0]) != 32:
            raise DownloadError(f"{path}:{lineno}: expected 'MD5  NAME' (md5sum format), got {line!r}")
        name = fields[1].lstrip("*")
        sums[name.removesuffix(".tar.gz")] = fields[0].lower()
    return sums


def _check_parts(parts: Iterable[str], known: Iterable[str]) -> list[str]:
    parts = list(parts)
    known = set(known)
    unknown = [p for p in parts if p not in known]
    if unknown:
        raise DownloadError(f"unknown LibriSpeech part(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return parts


def download_librispeech(
    dest_dir: str | Path,
    parts: Sequence[str],
    *,
    base_url: str = OPENSLR_BASE_URL,
    checksums: dict[str, str] | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    progress: bool = True,
) -> list[Path]:
    """Download ``<base_url>/<part>.tar.gz`` for each part into ``dest_dir``, resuming and MD5-checking.

    ``checksums`` replaces the official table (a mirror with repackaged archives). Already downloaded and
    verified archives are not fetched again.
    """
    sums = LIBRISPEECH_MD5 if checksums is None else checksums
    parts = _check_parts(parts, sums)
    out = []
    for part in parts:
        url = f"{base_url.rstrip('/')}/{part}.tar.gz"
        dest = Path(dest_dir) / f"{part}.tar.gz"
        out.append(download_file(url, dest, md5=sums[part], retries=retries, timeout=timeout,
                                 progress=print_progress(part) if progress else None))
    return out


def _safe_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members = []
    for m in tar.getmembers():
        name = m.name
        if name.startswith("/") or ".." in Path(name).parts or not (m.isfile() or m.isdir()):
            raise DownloadError(f"{archive}: refusing unsafe archive member {name!r}")
        members.append(m)
    return members


def extract_librispeech(archive: str | Path, dest_dir: str | Path) -> Path:
    """Extract one archive so that ``dest_dir/LibriSpeech/<part>`` appears complete or not at all.

    Extraction goes to a temporary folder beside the target and is renamed into place at the end, so a
    killed job never leaves a half-extracted part that looks finished. Returns the ``LibriSpeech`` folder.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    part = archive.name.removesuffix(".tar.gz").removesuffix(".tgz")
    corpus = dest_dir / "LibriSpeech"
    if (corpus / part).is_dir():
        return corpus
    corpus.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".extract-{part}-", dir=dest_dir))
    try:
        try:
            with tarfile.open(archive) as tar:
                members = _safe_members(tar, archive)
                if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: the stdlib's own safety filter too
                    tar.extractall(tmp, members=members, filter="data")
                else:  # pragma: no cover
                    tar.extractall(tmp, members=members)  # noqa: S202 - members checked above
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DownloadError(f"cannot extract {archive}: {exc}") from None
        src_part = tmp / "LibriSpeech" / part
        if not src_part.is_dir():
            raise DownloadError(f"{archive} has no LibriSpeech/{part}/ folder: not a LibriSpeech archive?")
        for extra in (tmp / "LibriSpeech").iterdir():  # README.TXT, SPEAKERS.TXT, ... (same in every part)
            if extra.name != part and not (corpus / extra.name).exists():
                os.replace(extra, corpus / extra.name)
        os.replace(src_part, corpus / part)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return corpus


def _read_speakers(corpus_dir: Path) -> dict[str, str]:
    """``SPEAKERS.TXT`` -> {speaker: 'm'|'f'}; empty when the file is absent."""
    path = corpus_dir / "SPEAKERS.TXT"
    genders: dict[str, str] = {}
    if not path.is_file():
        return genders
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(";") or "|" not in line:
            continue
        fields = [f.strip() for f in line.split("|")]
        if len(fields) >= 2 and fields[0].isdigit() and fields[1].upper() in ("M", "F"):
            genders[fields[0]] = fields[1].lower()
    return genders


def prepare_part(corpus_dir: str | Path, part: str | Sequence[str], out_dir: str | Path, *,
                 durations: bool = True) -> Path:
    """Write the Kaldi data dir of one part, or of several combined (``wav.scp text utt2spk spk2utt
    [utt2dur spk2gender]``).

    Every transcript line must have its flac and every flac a transcript line; problems are collected
    and raised together as :class:`DataDirError` naming file, line and utterance. Nothing is written then.
    """
    from audiocl.data.datadir import DataDir  # the data engineer's writer: sorted, atomic files

    corpus_dir, out_dir = Path(corpus_dir), Path(out_dir)
    parts = [part] if isinstance(part, str) else list(part)
    for p in parts:
        if not (corpus_dir / p).is_dir():
            raise DataDirError(f"no LibriSpeech part folder {corpus_dir / p} (expected LibriSpeech/{p}/<spk>/<chapter>/)")
    wav_scp: dict[str, str] = {}
    text: dict[str, str] = {}
    utt2spk: dict[str, str] = {}
    problems: list[str] = []
    flacs: set[Path] = set()
    mentioned: set[str] = set()  # every id a transcript line names, good or bad
    transcripts = [t for p in parts for t in sorted((corpus_dir / p).glob("*/*/*.trans.txt"))]
    for trans in transcripts:
        chapter_dir = trans.parent
        spk, chapter = chapter_dir.parent.name, chapter_dir.name
        flacs.update(chapter_dir.glob("*.flac"))
        try:
            lines = trans.read_bytes().decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            problems.append(f"{trans}: not UTF-8 ({exc})")
            continue
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            utt, _, words = line.strip().partition(" ")
            mentioned.add(utt)
            where = f"{trans}:{lineno}: utterance {utt}"
            if not utt.startswith(f"{spk}-{chapter}-"):
                problems.append(f"{where}: id does not match its folder {spk}/{chapter}")
                continue
            if utt in text:
                problems.append(f"{where}: duplicate utterance id")
                continue
            flac = chapter_dir / f"{utt}.flac"
            if not flac.is_file():
                problems.append(f"{where}: audio file {flac} is missing")
                continue
            if not words.strip():
                problems.append(f"{where}: empty transcript")
                continue
            wav_scp[utt] = str(flac.resolve())
            text[utt] = " ".join(words.split())
            utt2spk[utt] = spk
    untranscribed = sorted(f for f in flacs if f.stem not in mentioned)
    for f in untranscribed[:20]:
        problems.append(f"{f}: no transcript line in its chapter's .trans.txt")
    if len(untranscribed) > 20:
        problems.append(f"... and {len(untranscribed) - 20} more flac files without transcript")
    where_parts = ", ".join(str(corpus_dir / p) for p in parts)
    if not text and not problems:
        problems.append(f"{where_parts}: no <spk>/<chapter>/*.trans.txt found")
    if problems:
        raise DataDirError(f"LibriSpeech {where_parts} has {len(problems)} problem(s); no data dir written",
                           problems)
    utt2dur = None
    if durations:
        import soundfile as sf

        utt2dur = {}
        for utt, path in wav_scp.items():
            try:
                utt2dur[utt] = sf.info(path).duration
            except RuntimeError as exc:
                raise DataDirError(f"utterance {utt}: cannot read {path}: {exc}") from None
    genders = _read_speakers(corpus_dir)
    spk_extra = {}
    if genders:
        spk_extra["spk2gender"] = {s: genders[s] for s in set(utt2spk.values()) if s in genders}
    DataDir(wav_scp=wav_scp, utt2spk=utt2spk, text=text, utt2dur=utt2dur, spk_extra=spk_extra).save(out_dir)
    return out_dir


def prepare_librispeech(corpus_dir: str | Path, parts: Sequence[str], out_dir: str | Path) -> dict[str, Path]:
    """Prepare data dirs ``out_dir/<part as dir name>`` for each part; returns ``{part: path}``."""
    return {part: prepare_part(corpus_dir, part, Path(out_dir) / data_dir_name(part)) for part in parts}


def prepare_librispeech_sets(corpus_dir: str | Path, sets: Sequence[str], out_dir: str | Path, *,
                             durations: bool = True) -> dict[str, Path]:
    """Prepare ``out_dir/<set>`` for recipe data sets (``dev_clean``, ``train_960``, ...); ``{set: path}``."""
    return {name: prepare_part(corpus_dir, parts_of_set(name), Path(out_dir) / name, durations=durations)
            for name in sets}


def write_md5_file(path: str | Path, sums: dict[str, str]) -> None:
    """Write ``{part: md5}`` in md5sum format (inverse of :func:`read_md5_file`)."""
    atomic_write_text(path, "".join(f"{h}  {p}.tar.gz\n" for p, h in sorted(sums.items())))
