from dataclasses import dataclass, field

import pytest

from audiocl.cli.main import main
from audiocl.config import load_config, resolve_config, save_config
from audiocl.errors import ConfigError
from audiocl.utils.io import atomic_path


@dataclass
class Inner:
    layers: int = 2
    dropout: float = 0.1


@dataclass
class Outer:
    name: str = "tiny"
    inner: Inner = field(default_factory=Inner)


def test_preset_then_override_wins(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("name: base\ninner:\n  layers: 12\n")
    cfg = resolve_config(Outer, [preset], ["inner.dropout=0.3"])
    assert (cfg.name, cfg.inner.layers, cfg.inner.dropout) == ("base", 12, 0.3)


def test_unknown_key_and_bad_type_name_the_override(tmp_path):
    with pytest.raises(ConfigError, match="inner.nope"):
        resolve_config(Outer, overrides=["inner.nope=1"])
    with pytest.raises(ConfigError, match="inner.layers"):
        resolve_config(Outer, overrides=["inner.layers=abc"])
    with pytest.raises(ConfigError, match="not found"):
        resolve_config(Outer, presets=[tmp_path / "missing.yaml"])


def test_saved_config_round_trips(tmp_path):
    cfg = resolve_config(Outer, overrides=["inner.layers=7"])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(Outer, tmp_path / "config.yaml") == cfg


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert "audiocl" in capsys.readouterr().out


def test_atomic_write_uses_umask_permissions(tmp_path):
    import os

    from audiocl.utils.io import atomic_write_text

    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
