"""Kaldi data directories: the one import point for loading, saving, validating, fixing, splitting.

    from audiocl.data.datadir import DataDir, check_data_dir, fix_data_dir

The work is split by job: :mod:`~audiocl.data.datadir_scan` reads the files (with line numbers),
:mod:`~audiocl.data.datadir_validation` checks them against each other, :mod:`~audiocl.data.datadir_object`
holds the in-memory :class:`DataDir`, and :mod:`~audiocl.data.datadir_ops` fixes, splits and subsets
whole dirs. Files are sorted in C locale and written atomically; validation lists every problem with
the file, line number and utterance id; the speaker-prefix convention is only a warning because Kaldi
merely recommends it.
"""

from __future__ import annotations

from audiocl.data.datadir_object import DataDir
from audiocl.data.datadir_ops import FixReport, compute_utt2dur, fix_data_dir, split_data_dir, subset_data_dir
from audiocl.data.datadir_scan import RECORDING_FILES, SPEAKER_FILES, Segment, is_utterance_file
from audiocl.data.datadir_validation import ValidationReport, check_data_dir, validate_data_dir

__all__ = [
    "DataDir",
    "Segment",
    "ValidationReport",
    "check_data_dir",
    "validate_data_dir",
    "fix_data_dir",
    "split_data_dir",
    "subset_data_dir",
    "compute_utt2dur",
    "FixReport",
    "is_utterance_file",
    "SPEAKER_FILES",
    "RECORDING_FILES",
]
