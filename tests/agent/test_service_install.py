"""agent/install.sh into an image tree, and the example agent.toml: what an admin installs works."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from suanli.agent.config import load_config

INSTALL = REPO_ROOT / "agent" / "install.sh"


def install(root: Path) -> subprocess.CompletedProcess[str]:
    agent_bin = Path(sys.executable).parent / "suanli-agent"
    return subprocess.run(
        ["sh", str(INSTALL), "--root", str(root), "--bin", str(agent_bin)],
        capture_output=True, text=True, timeout=60, check=True,
    )


def test_example_config_is_valid_and_uses_the_defaults_it_documents() -> None:
    config = load_config(REPO_ROOT / "agent" / "agent.toml")
    assert config.usage_interval_s == 30.0 and config.inventory_interval_s == 900.0
    assert config.tls_verify is True and config.spool_max_bytes == 64 * 2**20
    assert str(config.state_dir) == "/var/lib/suanli-agent"


def test_install_places_unit_config_link_and_private_state_dir(tmp_path: Path) -> None:
    if shutil.which("install") is None:
        pytest.skip("coreutils `install` is missing")
    install(tmp_path)
    unit = tmp_path / "etc/systemd/system/suanli-agent.service"
    assert unit.read_text() == (REPO_ROOT / "systemd" / "suanli-agent.service").read_text()
    assert (tmp_path / "etc/suanli/agent.toml").read_text() == (REPO_ROOT / "agent/agent.toml").read_text()
    assert (tmp_path / "var/lib/suanli-agent").stat().st_mode & 0o777 == 0o700
    link = tmp_path / "usr/local/bin/suanli-agent"
    assert link.resolve() == (Path(sys.executable).parent / "suanli-agent").resolve()
    assert "u suanli-agent" in (tmp_path / "usr/lib/sysusers.d/suanli-agent.conf").read_text()


def test_reinstall_keeps_the_sites_config(tmp_path: Path) -> None:
    install(tmp_path)
    config = tmp_path / "etc/suanli/agent.toml"
    config.write_text('usage_interval_s = 60\n[location]\nprovince = "CN-SD"\n')
    result = install(tmp_path)
    assert "keeping existing" in result.stdout
    assert load_config(config).usage_interval_s == 60.0
