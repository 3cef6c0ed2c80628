"""Reading and writing the one-key-per-line text files of a Kaldi data directory.

Parsing never raises on bad content: every problem becomes one message naming the file, the line number
and the key (utterance, recording or speaker), so ``validate-data`` can list *all* problems at once and
``fix-data`` can drop exactly the bad entries. Lines are decoded one by one, so a single non-UTF-8 line is
reported with its byte offset instead of making the whole file unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from audiocl.utils.io import atomic_write_text

__all__ = ["KeyedFile", "read_keyed_file", "format_keyed", "write_keyed_file", "c_sorted"]

# Out-of-order lines are reported individually up to this many per file, then counted.
MAX_ORDER_REPORTS = 5


def c_sorted(keys: Iterable[str]) -> list[str]:
    """Sort like ``LC_ALL=C sort``: by UTF-8 bytes (Python compares code points, which is the same order)."""
    return sorted(keys)


@dataclass
class KeyedFile:
    """One parsed file: first occurrence of each key, with the line it came from, plus problems found."""

    name: str
    entries: dict[str, str] = field(default_factory=dict)
    lineno: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # keys whose line(s) were unusable (bad encoding, too few fields, conflicting duplicates): key -> reason
    bad_keys: dict[str, str] = field(default_factory=dict)
    # lines that repeat an earlier key with the same value (harmless for reading, fixed by fix-data)
    duplicate_lines: int = 0
    unsorted: bool = False
    crlf: bool = False

    def where(self, key: str) -> str:
        line = self.lineno.get(key)
        return f"{self.name} line {line}" if line else self.name


def read_keyed_file(
    path: str | Path,
    *,
    min_fields: int = 2,
    max_fields: int | None = None,
    allow_empty_value: bool = False,
    key_kind: str = "utterance",
) -> KeyedFile:
    """Parse ``key value...`` lines of ``path``; the value is the rest of the line after the first blank run.

    ``min_fields``/``max_fields`` count whitespace-separated fields including the key. ``allow_empty_value``
    permits lines that hold only a key (an empty transcript in ``text``).
    """
    path = Path(path)
    kf = KeyedFile(name=path.name)
    raw = path.read_bytes()
    offset = 0
    if raw.startswith(b"\xef\xbb\xbf"):  # a Windows editor's byte-order mark would glue itself to the first key
        kf.problems.append(f"{kf.name} line 1: starts with a UTF-8 byte-order mark (BOM); fix-data removes it")
        raw = raw[3:]
        offset = 3
    prev_key: str | None = None
    order_reports = 0
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for lineno, bline in enumerate(lines, start=1):
        line_offset = offset
        offset += len(bline) + 1
        if bline.endswith(b"\r"):
            bline = bline[:-1]
            if not kf.crlf:
                kf.crlf = True
                kf.problems.append(
                    f"{kf.name} line {lineno}: Windows line ending (CR LF); Kaldi files need LF only "
                    f"(run fix-data or dos2unix)"
                )
        try:
            line = bline.decode("utf-8")
        except UnicodeDecodeError as exc:
            key = bline.split(None, 1)[0].decode("utf-8", errors="replace") if bline.split() else "?"
            kf.problems.append(
                f"{kf.name} line {lineno} (byte offset {line_offset + exc.start}): {key_kind} {key}: "
                f"not valid UTF-8 (byte 0x{bline[exc.start]:02x} at column {exc.start + 1})"
            )
            kf.bad_keys.setdefault(key, "not valid UTF-8")
            continue
        stripped = line.strip()
        if not stripped:
            kf.problems.append(f"{kf.name} line {lineno}: empty line")
            continue
        parts = stripped.split(None, 1)
        key = parts[0]
        value = parts[1] if len(parts) > 1 else ""
        # counting fields splits the whole value: only do it when the limits need more than "has a value"
        nfields = 1 + len(value.split()) if (max_fields is not None or min_fields > 2) else (2 if value else 1)
        if nfields < min_fields and not (allow_empty_value and nfields == 1):
            kf.problems.append(
                f"{kf.name} line {lineno}: {key_kind} {key}: expected at least {min_fields} fields, found {nfields}"
            )
            kf.bad_keys.setdefault(key, f"too few fields in {kf.name}")
            continue
        if max_fields is not None and nfields > max_fields:
            kf.problems.append(
                f"{kf.name} line {lineno}: {key_kind} {key}: expected at most {max_fields} fields, found {nfields}"
            )
            kf.bad_keys.setdefault(key, f"too many fields in {kf.name}")
            continue
        if prev_key is not None and key < prev_key:
            kf.unsorted = True
            if order_reports < MAX_ORDER_REPORTS:
                kf.problems.append(
                    f"{kf.name} line {lineno}: {key_kind} {key} comes after {prev_key}: file is not sorted "
                    f"(Kaldi files must be sorted with LC_ALL=C sort; fix-data sorts them)"
                )
            order_reports += 1
        prev_key = key if prev_key is None or key > prev_key else prev_key
        if key in kf.entries or key in kf.bad_keys:
            first = kf.lineno.get(key)
            if key in kf.entries and kf.entries[key] == value:
                kf.duplicate_lines += 1
                kf.problems.append(
                    f"{kf.name} line {lineno}: {key_kind} {key} is duplicated (first at line {first}, same value)"
                )
            else:
                kf.problems.append(
                    f"{kf.name} line {lineno}: {key_kind} {key} is duplicated with a different value"
                    + (f" (first at line {first})" if first else "")
                )
                kf.bad_keys[key] = f"duplicated with conflicting values in {kf.name}"
                kf.entries.pop(key, None)
            continue
        kf.entries[key] = value
        kf.lineno[key] = lineno
    if order_reports > MAX_ORDER_REPORTS:
        kf.problems.append(f"{kf.name}: {order_reports - MAX_ORDER_REPORTS} more out-of-order line(s)")
    return kf


def format_keyed(entries: Mapping[str, str]) -> str:
    """Render ``key value`` lines sorted in C order (a key with an empty value is written alone)."""
    out = []
    for key in c_sorted(entries):
        value = entries[key]
        out.append(f"{key} {value}\n" if value != "" else f"{key}\n")
    return "".join(out)


def write_keyed_file(path: str | Path, entries: Mapping[str, str]) -> None:
    """Write a keyed file atomically and sorted."""
    atomic_write_text(path, format_keyed(entries))
