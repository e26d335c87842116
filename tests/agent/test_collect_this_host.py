"""The issue's "done when" on the machine running the tests: the installed `suanli-agent collect --json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from suanli.agent.collectors import REGISTRY
from suanli.agent.filesystems import LOCAL_FSTYPES, NETWORK_FSTYPES, parse_mounts
from suanli.schema import Inventory, Usage

pytestmark = pytest.mark.integration


def _console_script() -> Path:
    script = Path(sys.executable).parent / "suanli-agent"
    if not script.exists():
        pytest.skip(f"console script not installed next to {sys.executable}")
    return script


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> tuple[Inventory, Usage]:
    """One real collection of this host, in a subprocess, with an empty config file."""
    config = tmp_path_factory.mktemp("config") / "agent.toml"
    config.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SUANLI_AGENT_")}
    result = subprocess.run([str(_console_script()), "collect", "--json", "--config", str(config)],
                            capture_output=True, text=True, timeout=120, env=env, check=False)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    return Inventory.model_validate(document["inventory"]), Usage.model_validate(document["usage"])


def test_logical_cpus_equal_nproc(collected: tuple[Inventory, Usage]) -> None:
    nproc = int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)
    assert collected[0].cpu is not None and collected[0].cpu.logical_cores == nproc


def test_memory_total_equals_memtotal(collected: tuple[Inventory, Usage]) -> None:
    line = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:"))
    assert collected[0].memory is not None and collected[0].memory.total_bytes == int(line.split()[1]) * 1024


def test_root_filesystem_size_matches_statvfs(collected: tuple[Inventory, Usage]) -> None:
    root_mounts = [m for m in parse_mounts(Path("/proc/self/mounts").read_text()) if m.mountpoint == "/"]
    if root_mounts and root_mounts[-1].fstype not in LOCAL_FSTYPES | NETWORK_FSTYPES:
        pytest.skip(f'"/" is {root_mounts[-1].fstype} here (a container view), which suanli does not count')
    stat = os.statvfs("/")
    filesystems = {fs.mountpoint: fs for fs in collected[0].filesystems}
    assert "/" in filesystems
    assert filesystems["/"].size_bytes == stat.f_blocks * stat.f_frsize
    assert {fs.mountpoint for fs in collected[1].filesystems} >= {"/"}


def test_accelerators_match_what_the_host_has(collected: tuple[Inventory, Usage]) -> None:
    if "accelerators" not in REGISTRY:
        pytest.skip("no accelerators collector registered yet")
    inventory = collected[0]
    nvml = next(backend for backend in inventory.accelerator_backends if backend.name == "nvml")
    if Path("/dev/nvidiactl").exists():  # a GPU host: NVML must see its devices
        assert nvml.available and len(inventory.accelerators) == nvml.device_count > 0
    else:
        assert inventory.accelerators == []
        assert nvml.available is False and nvml.reason


def test_every_collector_reported_and_none_failed(collected: tuple[Inventory, Usage]) -> None:
    states = {status.name: status.state.value for status in collected[0].collectors}
    assert set(states) == set(REGISTRY)
    assert "error" not in states.values() and "timeout" not in states.values(), states
