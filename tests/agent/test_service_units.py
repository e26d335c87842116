"""The systemd units: `systemd-analyze verify` passes, the agreed hardening is there and commented."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

UNITS = REPO_ROOT / "systemd"
AGENT_UNIT = UNITS / "suanli-agent.service"
CONTROLPLANE_UNIT = UNITS / "suanli-controlplane.service"
# Where agent/install.sh links the console scripts; the units start them from there.
INSTALLED_BIN = "/usr/local/bin/"


def directives(unit: Path) -> dict[str, list[str]]:
    """Key -> values of every `Key=value` line (comments and sections left out)."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_agent_unit_has_the_agreed_service_settings_and_hardening() -> None:
    unit = directives(AGENT_UNIT)
    expected = {
        "Type": "notify",
        "Restart": "on-failure",
        "StateDirectory": "suanli-agent",
        "ConfigurationDirectory": "suanli",
        "User": "suanli-agent",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
    }
    for key, value in expected.items():
        assert unit.get(key) == [value], key
    assert "@system-service" in unit["SystemCallFilter"]
    assert unit["ProtectHome"][0] in ("yes", "read-only")
    assert int(unit["WatchdogSec"][0]) > 0
    assert "PrivateDevices" not in unit  # NVML needs /dev/nvidia*
    assert "2" in unit["RestartPreventExitStatus"][0].split()  # the agent's configuration-error exit


def test_every_setting_line_of_the_units_is_commented() -> None:
    for unit in (AGENT_UNIT, CONTROLPLANE_UNIT):
        lines = unit.read_text().splitlines()
        service = lines.index("[Service]")
        for number, line in enumerate(lines[service + 1 :], start=service + 1):
            if line.startswith("["):
                break  # [Install] needs no comment
            if not line or line.startswith("#"):
                continue
            above = lines[number - 1]
            # a setting is explained by the comment above it, or belongs to a commented group of settings
            assert above.startswith("#") or "=" in above, f"{unit.name}:{number + 1} {line!r} has no comment"


def _verifiable_copy(unit: Path, tmp_path: Path) -> Path:
    """The unit with its ExecStart pointed at this environment's console script.

    `systemd-analyze verify` checks that ExecStart's binary exists; /usr/local/bin/suanli-agent only
    exists after install.sh ran, so the copy points at the same script in this virtualenv.
    """
    text = unit.read_text()
    assert INSTALLED_BIN in text
    bin_dir = Path(sys.executable).parent
    copy = tmp_path / unit.name
    copy.write_text(text.replace(INSTALLED_BIN, f"{bin_dir}/"))
    return copy


@pytest.mark.parametrize("unit", [AGENT_UNIT, CONTROLPLANE_UNIT], ids=lambda unit: unit.name)
def test_units_pass_systemd_analyze_verify(unit: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is missing: install the Debian package `systemd` to run this check")
    executable = Path(sys.executable).parent / ("suanli-agent" if "agent" in unit.name else "suanli")
    if not executable.exists():
        pytest.skip(f"{executable.name} console script is not installed in this environment")
    result = subprocess.run(
        [analyze, "verify", str(_verifiable_copy(unit, tmp_path))], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "suanli" not in result.stderr, result.stderr  # warnings about our unit fail too


def test_recorded_security_score_is_for_the_agent_unit() -> None:
    recorded = (REPO_ROOT / "agent" / "SECURITY-SCORE.txt").read_text()
    assert "Overall exposure level for suanli-agent.service" in recorded
