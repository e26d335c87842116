"""Config: the shipped example loads; command line beats environment beats the TOML file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from suanli.controlplane.config import load_config
from tests.conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / "controlplane" / "suanli.example.toml"


def test_the_example_config_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.database_url == "sqlite:////var/lib/suanli/suanli.db"
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 8440)


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cp.toml"
    path.write_text('database = "sqlite:///from-file.db"\nlisten = "0.0.0.0:9000"\n')
    assert load_config(path).database_url == "sqlite:///from-file.db"
    monkeypatch.setenv("SUANLI_DATABASE", "postgresql://env/db")
    config = load_config(path)
    assert config.database_url == "postgresql://env/db" and config.listen_port == 9000
    assert load_config(path, database="sqlite:///cli.db").database_url == "sqlite:///cli.db"


def test_unknown_key_and_missing_file_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("databse = 'typo'\n")
    with pytest.raises(ValidationError):
        load_config(path)
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "absent.toml")
