"""`audiocl extract` on a file system that runs out of space: a named error, no partial output, earlier files intact."""

from __future__ import annotations

import errno

from audiocl.cli.main import main


def test_full_disk_is_named_and_leaves_no_partial_output(tmp_path, small_fs, data_dir_builder, capsys, monkeypatch):
    dd = data_dir_builder(tmp_path / "train", num_spk=2, per_spk=4, seed=0)
    out = (small_fs if small_fs is not None else tmp_path) / "feats"
    out.mkdir()
    (out / "earlier.txt").write_text("an earlier output\n")
    if small_fs is None:  # no tmpfs here: make kaldiio's write fail as a full disk does
        import kaldiio

        def full(*a, **k):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(kaldiio, "save_ark", full)
    else:  # leave almost nothing free on the 2 MiB file system
        (small_fs / "ballast").write_bytes(b"\0" * (2 * 2**20 - 24 * 1024))
    rc = main(["extract", str(dd), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "not enough disk space for features" in err and str(out) in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["earlier.txt"]
    assert (out / "earlier.txt").read_text() == "an earlier output\n"
