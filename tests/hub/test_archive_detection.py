"""A compressed tar whose bytes happen to hold a zip end-of-directory record is still unpacked as a tar."""

from __future__ import annotations

import io
import tarfile
import zipfile

from audiocl.hub.conversion import extract_archive
from audiocl.hub.formats import is_archive, is_zip


def test_tar_with_a_zip_signature_in_its_tail_is_a_tar(tmp_path):
    # an uncompressed member at the end of an uncompressed tar puts these bytes near the file's tail, as a
    # gzip stream of random weights can by chance
    payload = b"PK\x05\x06" + b"\0" * 18
    archive = tmp_path / "release.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("release/config.yaml")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    assert zipfile.is_zipfile(archive)  # the trap this guards against
    assert not is_zip(archive) and is_archive(archive)
    root = extract_archive(archive, tmp_path / "out")
    assert (root / "config.yaml").read_bytes() == payload


def test_a_real_zip_is_a_zip(tmp_path):
    archive = tmp_path / "release.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("release/config.yaml", "ssl_type: wav2vec2\n")
    assert is_zip(archive) and is_archive(archive)
    assert (extract_archive(archive, tmp_path / "out") / "config.yaml").is_file()
